// Generated test corpus: valid identifiers of every type in every format the detectors claim, and look-alikes
// (same shape, checksum/range/prefix invalid, or missing the context their type requires).
// Check digits are computed here by reference implementations written independently of checksums.ts (from the
// published descriptions: RFB for CPF/CNPJ, DENATRAN for CNH, CAIXA for PIS, TSE for título, DATASUS for CNS,
// ISO/IEC 7812 for Luhn), so the corpus checks the detectors instead of mirroring them.
// A look-alike must be invalid for every type that could claim its shape: a mutated CPF that happens to be a valid
// PIS is not a look-alike, and is skipped.
import { shownReversed } from './bidi.ts';
import { ESCAPE_SEQUENCE_SOURCE, INVISIBLE } from './invisible.ts';
import type { DetectorName, Masker } from './types.ts';

export interface Sample {
  type: DetectorName;
  format: string;
  value: string;
  /** Masked only next to a keyword (CEP, dates of birth, bare PIS, bare landlines). */
  needsContext: boolean;
}

export interface Corpus {
  valid: Sample[];
  lookAlikes: Sample[];
}

/** The keyword a human would write before the value. */
export const KEYWORDS: Record<DetectorName, string> = {
  cpf: 'CPF', cnpj: 'CNPJ', cnh: 'CNH', pis: 'PIS/PASEP', tituloEleitor: 'Título de eleitor', cns: 'Cartão SUS', renavam: 'RENAVAM',
  cep: 'CEP', phone: 'Telefone', email: 'E-mail', card: 'Cartão de crédito', ip: 'Acesso de', birthDate: 'Data de nascimento',
};

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness (mulberry32)

export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  digits(n: number): number[] {
    return Array.from({ length: n }, () => this.int(10));
  }

  pick<T>(xs: readonly T[]): T {
    const x = xs[this.int(xs.length)];
    if (x === undefined) throw new Error('empty list');
    return x;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reference check digits

const sum = (xs: number[], ws: number[]): number => xs.reduce((acc, x, i) => acc + x * (ws[i] ?? 0), 0);
const range = (from: number, to: number): number[] => {
  const step = from <= to ? 1 : -1;
  return Array.from({ length: Math.abs(to - from) + 1 }, (_, i) => from + i * step);
};
const toDigits = (s: string): number[] => [...s].map((c) => c.charCodeAt(0) - 48);
const str = (xs: number[]): string => xs.join('');

/** Receita Federal: DV = 11 − (Σ mod 11), 10 and 11 become 0. */
function cpfDvs(base: number[]): number[] {
  const dv1 = 11 - (sum(base, range(10, 2)) % 11);
  const d1 = dv1 >= 10 ? 0 : dv1;
  const dv2 = 11 - (sum([...base, d1], range(11, 2)) % 11);
  return [d1, dv2 >= 10 ? 0 : dv2];
}

export function refCpf(s: string): boolean {
  const d = toDigits(s);
  return /^[0-9]{11}$/.test(s) && new Set(d).size > 1 && str(cpfDvs(d.slice(0, 9))) === s.slice(9);
}

/** Weights 2..9 repeating from the right; character value = ASCII − 48. */
function cnpjDv(chars: number[]): number {
  const ws = chars.map((_, i) => 2 + ((chars.length - 1 - i) % 8));
  const r = sum(chars, ws) % 11;
  return r < 2 ? 0 : 11 - r;
}

export function refCnpj(s: string): boolean {
  if (!/^[0-9A-Z]{12}[0-9]{2}$/.test(s) || new Set(s).size === 1) return false;
  const v = toDigits(s);
  const d1 = cnpjDv(v.slice(0, 12));
  return d1 === v[12] && cnpjDv([...v.slice(0, 12), d1]) === v[13];
}

/** CNH as documented with ascending weights: DV1 = 11 − Σd·(2..10) mod 11; DV2 over DV1 and the base, weights 2..11. */
function cnhDvs(base: number[]): number[] {
  const a = 11 - (sum(base, range(2, 10)) % 11);
  const d1 = a >= 10 ? 0 : a;
  const b = 11 - (sum([d1, ...base], range(2, 11)) % 11);
  return [d1, b >= 10 ? 0 : b];
}

export function refCnh(s: string): boolean {
  const d = toDigits(s);
  return /^[0-9]{11}$/.test(s) && new Set(d).size > 1 && str(cnhDvs(d.slice(0, 9))) === s.slice(9);
}

function pisDv(base: number[]): number {
  const r = 11 - (sum(base, [3, 2, 9, 8, 7, 6, 5, 4, 3, 2]) % 11);
  return r >= 10 ? 0 : r;
}

export function refPis(s: string): boolean {
  const d = toDigits(s);
  return /^[0-9]{11}$/.test(s) && new Set(d).size > 1 && pisDv(d.slice(0, 10)) === d[10];
}

/** TSE: remainder 10 → 0; remainder 0 in SP (01) and MG (02) → 1. */
function tituloDvs(seq: number[], uf: number[], spmgRule: boolean): number[] {
  const fix = (r: number): number => (r === 10 ? 0 : r === 0 && spmgRule ? 1 : r);
  const d1 = fix(sum(seq, range(2, 9)) % 11);
  return [d1, fix(sum([...uf, d1], [7, 8, 9]) % 11)];
}

export function refTitulo(s: string): boolean {
  if (!/^[0-9]{12}$/.test(s)) return false;
  const d = toDigits(s);
  const uf = Number(s.slice(8, 10));
  if (uf < 1 || uf > 28 || new Set(d).size === 1) return false;
  const seq = d.slice(0, 8);
  const ufd = d.slice(8, 10);
  return [false, uf <= 2].some((rule) => str(tituloDvs(seq, ufd, rule)) === s.slice(10));
}

export function refCns(s: string): boolean {
  if (!/^[12789][0-9]{14}$/.test(s)) return false;
  if ((s[0] === '1' || s[0] === '2') && !/^[0-9]{11}00[01]/.test(s)) return false;
  return sum(toDigits(s), range(15, 1)) % 11 === 0;
}

/** DENATRAN: weights 3,2,9..2 over the first ten digits, DV = (Σ·10) mod 11, 10 → 0; 9-digit numbers padded with 00. */
export function refRenavam(s: string): boolean {
  const p = s.length === 9 ? `00${s}` : s;
  if (!/^[0-9]{11}$/.test(p) || new Set(s).size === 1) return false;
  const rest = (sum(toDigits(p.slice(0, 10)), [3, 2, 9, 8, 7, 6, 5, 4, 3, 2]) * 10) % 11;
  return (rest === 10 ? 0 : rest) === Number(p[10]);
}

export function refLuhn(s: string): boolean {
  const total = [...s].reverse().map(Number).reduce((acc, d, i) => acc + (i % 2 === 1 ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d), 0);
  return total % 10 === 0;
}

const DDDS = [11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45, 46,
  47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87,
  88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99];
const NOT_DDD = [10, 20, 23, 25, 26, 29, 30, 36, 39, 40, 50, 52, 56, 57, 58, 59, 60, 70, 72, 76, 78, 80, 90];

function refMobile(s: string): boolean {
  return /^[0-9]{2}9[0-9]{8}$/.test(s) && DDDS.includes(Number(s.slice(0, 2)));
}

function refLandline(s: string): boolean {
  return /^[0-9]{2}[2-5][0-9]{7}$/.test(s) && DDDS.includes(Number(s.slice(0, 2)));
}

const CARD_PREFIXES: readonly [string, number][] = [
  ['4', 16], ['4', 13], ['4', 19], ['51', 16], ['55', 16], ['2221', 16], ['2720', 16], ['34', 15], ['37', 15], ['36', 14],
  ['301', 14], ['6011', 16], ['65', 16], ['3528', 16], ['62', 16], ['5067', 16], ['509', 16], ['606282', 16], ['384100', 16],
];

function refCardPrefix(s: string): boolean {
  return CARD_PREFIXES.some(([p, n]) => s.startsWith(p) && s.length === n) || (/^(4|6[0-9]{3}|5[0-9]{3}|3[0-9]{3})/.test(s) && s.length >= 13);
}

/** Could any detector claim this digit string (by any rule, keyword or not)? Used to vet look-alikes. */
const ANY_VALID: readonly ((d: string) => boolean)[] = [
  refCpf, refCnpj, refCnh, refPis, refTitulo, refCns, refRenavam, refMobile, refLandline,
  (d) => d.startsWith('55') && (refMobile(d.slice(2)) || refLandline(d.slice(2))),
  (d) => d.length >= 13 && refLuhn(d) && refCardPrefix(d),
];

export function anyValidDigits(d: string): boolean {
  return ANY_VALID.some((f) => f(d));
}

// ---------------------------------------------------------------------------------------------------------------
// Formats

type Fmt = (d: string) => string;

const cut = (d: string, ...sizes: number[]): string[] => {
  const parts: string[] = [];
  let i = 0;
  for (const n of sizes) {
    parts.push(d.slice(i, i + n));
    i += n;
  }
  return parts;
};

const FORMATS: Partial<Record<DetectorName, Record<string, Fmt>>> = {
  cpf: {
    formatted: (d) => { const [a, b, c, e] = cut(d, 3, 3, 3, 2); return `${a}.${b}.${c}-${e}`; },
    bare: (d) => d,
    dash: (d) => `${d.slice(0, 9)}-${d.slice(9)}`,
  },
  cnpj: {
    formatted: (d) => { const [a, b, c, e, f] = cut(d, 2, 3, 3, 4, 2); return `${a}.${b}.${c}/${e}-${f}`; },
    bare: (d) => d,
  },
  cnh: { bare: (d) => d, spaced: (d) => cut(d, 3, 3, 3, 2).join(' ') },
  pis: { formatted: (d) => { const [a, b, c, e] = cut(d, 3, 5, 2, 1); return `${a}.${b}.${c}-${e}`; } },
  tituloEleitor: { bare: (d) => d, spaced: (d) => cut(d, 4, 4, 4).join(' '), dotted: (d) => cut(d, 4, 4, 4).join('.') },
  cns: { bare: (d) => d, spaced: (d) => cut(d, 3, 4, 4, 4).join(' ') },
  card: {
    bare: (d) => d,
    spaced: (d) => (d.length === 15 ? cut(d, 4, 6, 5) : d.length === 14 ? cut(d, 4, 6, 4) : cut(d, 4, 4, 4, 4, 3)).filter((x) => x !== '').join(' '),
    dashed: (d) => (d.length === 15 ? cut(d, 4, 6, 5) : d.length === 14 ? cut(d, 4, 6, 4) : cut(d, 4, 4, 4, 4, 3)).filter((x) => x !== '').join('-'),
  },
};

const CONTEXT_FORMATS: Partial<Record<DetectorName, Record<string, Fmt>>> = {
  pis: { bare: (d) => d },
  renavam: { bare: (d) => d, mask: (d) => `${d.slice(0, 10)}-${d.slice(10)}` },
  cep: { formatted: (d) => `${d.slice(0, 5)}-${d.slice(5)}`, dotted: (d) => `${d.slice(0, 2)}.${d.slice(2, 5)}-${d.slice(5)}`, bare: (d) => d },
};

/** National number (DDD + subscriber) → written forms. */
const PHONE_FORMATS: Record<string, Fmt> = {
  intlParens: (n) => `+55 (${n.slice(0, 2)}) ${n.slice(2, n.length - 4)}-${n.slice(-4)}`,
  intlSpaced: (n) => `+55 ${n.slice(0, 2)} ${n.slice(2, n.length - 4)}-${n.slice(-4)}`,
  intlBare: (n) => `+55${n}`,
  parens: (n) => `(${n.slice(0, 2)}) ${n.slice(2, n.length - 4)}-${n.slice(-4)}`,
  parensTight: (n) => `(${n.slice(0, 2)})${n.slice(2, n.length - 4)}-${n.slice(-4)}`,
  trunk: (n) => `(0${n.slice(0, 2)}) ${n.slice(2, n.length - 4)}-${n.slice(-4)}`,
  spaced: (n) => `${n.slice(0, 2)} ${n.slice(2, n.length - 4)}-${n.slice(-4)}`,
  country: (n) => `55${n}`,
};

// ---------------------------------------------------------------------------------------------------------------
// Valid values

function genCpf(r: Rng): string {
  const base = r.digits(9);
  return str([...base, ...cpfDvs(base)]);
}

function genCnpj(r: Rng, alnum: boolean): string {
  const chars = alnum ? '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ' : '0123456789';
  const base = Array.from({ length: 12 }, () => r.pick([...chars]));
  if (alnum && !base.some((c) => c >= 'A')) base[3] = 'K';
  const v = toDigits(base.join(''));
  const d1 = cnpjDv(v);
  return base.join('') + String(d1) + String(cnpjDv([...v, d1]));
}

function genCnh(r: Rng): string {
  const base = r.digits(9);
  return str([...base, ...cnhDvs(base)]);
}

function genPis(r: Rng): string {
  const base = r.digits(10);
  return str([...base, pisDv(base)]);
}

function genRenavam(r: Rng): string {
  const base = r.digits(10);
  const rest = (sum(base, [3, 2, 9, 8, 7, 6, 5, 4, 3, 2]) * 10) % 11;
  return str([...base, rest === 10 ? 0 : rest]);
}

function genTitulo(r: Rng): string {
  const seq = r.digits(8);
  const uf = String(1 + r.int(28)).padStart(2, '0');
  return str(seq) + uf + str(tituloDvs(seq, toDigits(uf), Number(uf) <= 2));
}

function genCns(r: Rng): string {
  if (r.int(2) === 0) {
    const pis = [1 + r.int(2), ...r.digits(10)];
    const s = sum(pis, range(15, 5));
    const dv = (11 - (s % 11)) % 11;
    if (dv !== 10) return `${str(pis)}000${dv}`;
    return `${str(pis)}001${(11 - ((s + 2) % 11)) % 11}`;
  }
  for (;;) {
    const body = [7 + r.int(3), ...r.digits(13)];
    const dv = (11 - (sum(body, range(15, 2)) % 11)) % 11;
    if (dv <= 9) return str([...body, dv]);
  }
}

function genCard(r: Rng): string {
  const [prefix, len] = r.pick(CARD_PREFIXES);
  const body = prefix + str(r.digits(len - prefix.length - 1));
  for (let c = 0; c < 10; c++) if (refLuhn(body + String(c))) return body + String(c);
  throw new Error('unreachable');
}

function genMobile(r: Rng): string {
  return `${r.pick(DDDS)}9${str(r.digits(8))}`;
}

function genLandline(r: Rng): string {
  return `${r.pick(DDDS)}${2 + r.int(4)}${str(r.digits(7))}`;
}

function genCep(r: Rng): string {
  return str([1 + r.int(9), ...r.digits(7)]);
}

const LOCALS = ['joao.silva', 'maria', 'ana_paula', 'pedro+compras', 'c.souza-lima', 'contato', 'joão.araújo', 'u1234'];
const DOMAINS = ['gmail.com', 'empresa.com.br', 'mail.exemplo.org', 'uol.com.br', 'sub.dominio.gov.br', 'açaí.com.br'];

function genEmail(r: Rng): string {
  return `${r.pick(LOCALS)}${r.int(100)}@${r.pick(DOMAINS)}`;
}

function genIpv4(r: Rng): string {
  return [1 + r.int(223), r.int(256), r.int(256), 1 + r.int(254)].join('.');
}

function genIpv6(r: Rng, form: number): string {
  const g = (): string => r.int(65536).toString(16);
  if (form === 0) return ['2001', 'db8', g(), g(), g(), g(), g(), g()].join(':');
  if (form === 1) return `fe80::${g()}:${g()}`;
  if (form === 2) return `2804:14c:${g()}::${g()}`;
  return `::ffff:${genIpv4(r)}`;
}

function genDate(r: Rng): [number, number, number] {
  return [1 + r.int(28), 1 + r.int(12), 1930 + r.int(80)];
}

const pad = (n: number): string => String(n).padStart(2, '0');

const DATE_FORMATS: Record<string, (d: [number, number, number]) => string> = {
  slash: ([d, m, y]) => `${pad(d)}/${pad(m)}/${y}`,
  dash: ([d, m, y]) => `${pad(d)}-${pad(m)}-${y}`,
  dot: ([d, m, y]) => `${pad(d)}.${pad(m)}.${y}`,
  iso: ([d, m, y]) => `${y}-${pad(m)}-${pad(d)}`,
  short: ([d, m, y]) => `${d}/${m}/${y}`,
  compact: ([d, m, y]) => `${pad(d)}${pad(m)}${y}`,
};

/** Draws until the value is claimed by exactly the intended type among the types of its shape. */
function unique(r: Rng, gen: (r: Rng) => string, ok: (d: string) => boolean): string {
  for (;;) {
    const v = gen(r);
    if (ok(v)) return v;
  }
}

const only = (valid: (d: string) => boolean, ...others: ((d: string) => boolean)[]) => (d: string): boolean => valid(d) && !others.some((f) => f(d));

function digitGenerators(): [DetectorName, (r: Rng, format: string) => string][] {
  return [
    ['cpf', (r) => unique(r, genCpf, only(refCpf))],
    ['cnpj', (r, f) => unique(r, (x) => genCnpj(x, f.startsWith('alnum')), only(refCnpj, (d) => refLuhn(d) && refCardPrefix(d)))],
    ['cnh', (r) => unique(r, genCnh, only(refCnh, refCpf))],
    ['pis', (r) => unique(r, genPis, only(refPis, refCpf, refCnh, refMobile))],
    ['tituloEleitor', (r) => unique(r, genTitulo, only(refTitulo, (d) => refLandline(d.slice(2)) && d.startsWith('55')))],
    ['cns', (r) => unique(r, genCns, only(refCns))],
    ['renavam', (r) => unique(r, genRenavam, only(refRenavam, refCpf, refCnh, refMobile))],
    ['card', (r) => unique(r, genCard, only((d) => refLuhn(d), refCnpj, refCns, (d) => d.startsWith('55') && (refMobile(d.slice(2)) || refLandline(d.slice(2)))))],
    ['cep', (r) => genCep(r)],
  ];
}

const formatName = (type: DetectorName, format: string, value: string): string =>
  type === 'cnpj' ? `${format}-${/[A-Z]/.test(value) ? 'alnum' : 'numeric'}` : format;

function addDigitSamples(r: Rng, per: number, out: Sample[]): void {
  const jobs: [DetectorName, (r: Rng, f: string) => string, string, Fmt, boolean][] = [];
  for (const [type, gen] of digitGenerators()) {
    for (const [format, fmt] of Object.entries(FORMATS[type] ?? {})) jobs.push([type, gen, format, fmt, type === 'cep']);
    for (const [format, fmt] of Object.entries(CONTEXT_FORMATS[type] ?? {})) jobs.push([type, gen, format, fmt, true]);
  }
  for (const [type, gen, format, fmt, needsContext] of jobs) {
    for (let i = 0; i < per; i++) {
      // CNPJ: alternate alphanumeric and numeric bodies.
      const value = gen(r, i % 2 === 0 ? 'alnum' : 'numeric');
      out.push({ type, format: formatName(type, format, value), value: fmt(value), needsContext });
    }
  }
}

function addPhoneSamples(r: Rng, per: number, out: Sample[]): void {
  for (const [format, fmt] of Object.entries(PHONE_FORMATS)) {
    for (let i = 0; i < per; i++) {
      const n = unique(r, i % 2 === 0 ? genMobile : genLandline, (x) => format !== 'country' || !refTitulo(`55${x}`));
      out.push({ type: 'phone', format: `${format}-${n.length === 11 ? 'mobile' : 'landline'}`, value: fmt(n), needsContext: false });
    }
  }
  for (let i = 0; i < per; i++) {
    out.push({ type: 'phone', format: 'bare-mobile', value: unique(r, genMobile, only(refMobile, refCpf, refCnh)), needsContext: false });
    out.push({ type: 'phone', format: 'bare-landline', value: genLandline(r), needsContext: true });
  }
}

function addOtherSamples(r: Rng, per: number, out: Sample[]): void {
  for (let i = 0; i < per; i++) {
    out.push({ type: 'email', format: 'address', value: genEmail(r), needsContext: false });
    out.push({ type: 'ip', format: 'ipv4', value: genIpv4(r), needsContext: false });
    for (let f = 0; f < 4; f++) out.push({ type: 'ip', format: `ipv6-${f}`, value: genIpv6(r, f), needsContext: false });
    for (const [format, fmt] of Object.entries(DATE_FORMATS)) out.push({ type: 'birthDate', format, value: fmt(genDate(r)), needsContext: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Look-alikes

/** Changes the last digit until no type of the same shape validates; null when that is impossible. */
function breakCheckDigit(formatted: string): string | null {
  const last = formatted.search(/[0-9](?=[^0-9]*$)/);
  if (last < 0) return null;
  for (let k = 1; k <= 9; k++) {
    const d = String((Number(formatted[last]) + k) % 10);
    const candidate = formatted.slice(0, last) + d + formatted.slice(last + 1);
    if (!anyValidDigits(candidate.replace(/[^0-9A-Z]/g, ''))) return candidate;
  }
  return null;
}

const BAD_EMAILS = ['joao.silva@localhost', 'maria@empresa', 'icon@2x.png', '@joao', 'ana@@gmail.com', 'user@dominio.c0m', 'x@-bad-.com'];
const BAD_IPS = ['256.10.10.1', '10.0.0.999', '1.2.3.4.5', '12:30:45', '00:1A:2B:3C:4D:5E', '1:2:3:4:5:6:7:8:9', '2001:db8::1::2', 'std::vector'];
const BAD_DATES = ['31/02/1985', '12/13/1985', '00/01/1990', '1985-02-30', '29/02/1987', '32.01.1970'];
const BAD_CEPS = ['00123-456', '00.123-456', '00999999', '01310-1000', '013101000', '0131-0100'];

const NO_CHECKSUM = new Set<DetectorName>(['email', 'ip', 'birthDate', 'cep']);

function lookAlikes(valid: Sample[], r: Rng): Sample[] {
  const out: Sample[] = [];
  for (const s of valid.filter((x) => !NO_CHECKSUM.has(x.type))) {
    const bad = s.type === 'phone' ? badPhone(s.value, r) : breakCheckDigit(s.value);
    if (bad !== null) out.push({ ...s, value: bad });
  }
  for (const v of BAD_EMAILS) out.push({ type: 'email', format: 'invalid', value: v, needsContext: false });
  for (const v of BAD_IPS) out.push({ type: 'ip', format: 'invalid', value: v, needsContext: false });
  for (const v of BAD_DATES) out.push({ type: 'birthDate', format: 'invalid', value: v, needsContext: true });
  for (const v of BAD_CEPS) out.push({ type: 'cep', format: 'invalid', value: v, needsContext: true });
  return out;
}

/** Same layout with an area code that does not exist. */
function badPhone(value: string, r: Rng): string | null {
  const m = /^(\+55[ .\u202f-]?\(?|55[ .-]?|\(0?|0|\(?)([0-9]{2})/.exec(value);
  if (m === null) return null;
  const ddd = String(r.pick(NOT_DDD));
  const candidate = value.slice(0, m[1]?.length ?? 0) + ddd + value.slice(m[0].length);
  return anyValidDigits(candidate.replace(/[^0-9]/g, '')) ? null : candidate;
}

/** The corpus: `per` valid values per type and format, and their look-alikes. Deterministic for a seed. */
export function generateCorpus(seed = 20260715, per = 6): Corpus {
  const r = new Rng(seed);
  const valid: Sample[] = [];
  addDigitSamples(r, per, valid);
  addPhoneSamples(r, per, valid);
  addOtherSamples(r, per, valid);
  return { valid, lookAlikes: lookAlikes(valid, r) };
}

/** Free-text sentences around a value: with its keyword, and (when it needs none) without. */
export function textTemplates(s: Sample): string[] {
  const kw = KEYWORDS[s.type];
  const withKeyword = [`${kw}: ${s.value}.`, `Cliente informou ${kw.toLowerCase()} ${s.value} no cadastro`];
  return s.needsContext ? withKeyword : [...withKeyword, `Registro ${s.value} atualizado.`, s.value];
}

// ---------------------------------------------------------------------------------------------------------------
// Printed layouts (issue 18 item 12): every identifier as people, forms, spreadsheets and documents print it, with
// the separators that PostgreSQL text and HTTP bodies carry (no-break and thin spaces, typographic dashes, fullwidth
// forms), and text that looks numeric but is no identifier (dates, versions, amounts, codes) to bound false positives.

/** Typographic look-alikes of the ASCII separators, and fullwidth digits (see fold.ts). */
export const LOOK_ALIKES = {
  nbsp: '\u00a0', narrowNbsp: '\u202f', thinSpace: '\u2009', figureSpace: '\u2007', ideographicSpace: '\u3000',
  enDash: '\u2013', minus: '\u2212', nonBreakingHyphen: '\u2011', fullwidthDot: '\uff0e', fullwidthSlash: '\uff0f',
} as const;

const fullwidthDigits = (s: string): string => s.replace(/[0-9]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
/** The same grouping with separators taken in turn from `seps` (mixed layouts). */
const joinWith = (parts: string[], seps: readonly string[]): string => parts.reduce((acc, p, i) => (i === 0 ? p : acc + (seps[(i - 1) % seps.length] ?? ' ') + p), '');

/** Layouts per type: name → digits (or CNPJ characters) → printed form. Keyword-only types are in LAYOUTS_WITH_KEYWORD. */
const LAYOUTS: Partial<Record<DetectorName, Record<string, Fmt>>> = {
  cpf: {
    canonical: (d) => joinWith(cut(d, 3, 3, 3, 2), ['.', '.', '-']),
    bare: (d) => d,
    nineDashTwo: (d) => `${d.slice(0, 9)}-${d.slice(9)}`,
    spaced: (d) => cut(d, 3, 3, 3, 2).join(' '),
    dots: (d) => cut(d, 3, 3, 3, 2).join('.'),
    dashes: (d) => cut(d, 3, 3, 3, 2).join('-'),
    spacedDash: (d) => joinWith(cut(d, 3, 3, 3, 2), [' ', ' ', '-']),
    dotsSlash: (d) => joinWith(cut(d, 3, 3, 3, 2), ['.', '.', '/']),
    nbsp: (d) => cut(d, 3, 3, 3, 2).join(LOOK_ALIKES.nbsp),
    narrowNbsp: (d) => cut(d, 3, 3, 3, 2).join(LOOK_ALIKES.narrowNbsp),
    thinSpace: (d) => cut(d, 3, 3, 3, 2).join(LOOK_ALIKES.thinSpace),
    enDash: (d) => joinWith(cut(d, 3, 3, 3, 2), ['.', '.', LOOK_ALIKES.enDash]),
    minus: (d) => joinWith(cut(d, 3, 3, 3, 2), ['.', '.', LOOK_ALIKES.minus]),
    fullwidth: (d) => fullwidthDigits(joinWith(cut(d, 3, 3, 3, 2), ['.', '.', '-'])),
    fullwidthPunct: (d) => joinWith(cut(d, 3, 3, 3, 2), [LOOK_ALIKES.fullwidthDot, LOOK_ALIKES.fullwidthDot, '-']),
  },
  cnpj: {
    canonical: (d) => joinWith(cut(d, 2, 3, 3, 4, 2), ['.', '.', '/', '-']),
    bare: (d) => d,
    spaced: (d) => cut(d, 2, 3, 3, 4, 2).join(' '),
    noDots: (d) => `${d.slice(0, 8)}/${d.slice(8, 12)}-${d.slice(12)}`,
    dotsNoSlash: (d) => joinWith(cut(d, 2, 3, 3, 4, 2), ['.', '.', '.', '-']),
    noDash: (d) => joinWith(cut(d, 2, 3, 3, 6), ['.', '.', '/']),
    nbsp: (d) => joinWith(cut(d, 2, 3, 3, 4, 2), ['.', '.', '/', LOOK_ALIKES.nonBreakingHyphen]),
    fullwidth: (d) => fullwidthDigits(joinWith(cut(d, 2, 3, 3, 4, 2), ['.', '.', LOOK_ALIKES.fullwidthSlash, '-'])),
  },
  cns: {
    bare: (d) => d,
    card: (d) => cut(d, 3, 4, 4, 4).join(' '),
    dots: (d) => cut(d, 3, 4, 4, 4).join('.'),
    dashes: (d) => cut(d, 3, 4, 4, 4).join('-'),
    mixed: (d) => joinWith(cut(d, 3, 4, 4, 4), [' ', '.', '-']),
    nbsp: (d) => cut(d, 3, 4, 4, 4).join(LOOK_ALIKES.nbsp),
    narrowNbsp: (d) => cut(d, 3, 4, 4, 4).join(LOOK_ALIKES.narrowNbsp),
    thinSpace: (d) => cut(d, 3, 4, 4, 4).join(LOOK_ALIKES.thinSpace),
    figureSpace: (d) => cut(d, 3, 4, 4, 4).join(LOOK_ALIKES.figureSpace),
    ideographicSpace: (d) => cut(d, 3, 4, 4, 4).join(LOOK_ALIKES.ideographicSpace),
    fullwidth: (d) => fullwidthDigits(cut(d, 3, 4, 4, 4).join(' ')),
  },
  pis: {
    canonical: (d) => joinWith(cut(d, 3, 5, 2, 1), ['.', '.', '-']),
    spaced: (d) => cut(d, 3, 5, 2, 1).join(' '),
    dashes: (d) => cut(d, 3, 5, 2, 1).join('-'),
    dots: (d) => cut(d, 3, 5, 2, 1).join('.'),
    noLastSep: (d) => joinWith(cut(d, 3, 5, 3), ['.', '.']),
    nbsp: (d) => joinWith(cut(d, 3, 5, 2, 1), [LOOK_ALIKES.nbsp, LOOK_ALIKES.nbsp, '-']),
    enDash: (d) => joinWith(cut(d, 3, 5, 2, 1), ['.', '.', LOOK_ALIKES.enDash]),
  },
  tituloEleitor: {
    bare: (d) => d,
    spaced: (d) => cut(d, 4, 4, 4).join(' '),
    dots: (d) => cut(d, 4, 4, 4).join('.'),
    dashes: (d) => cut(d, 4, 4, 4).join('-'),
    nbsp: (d) => cut(d, 4, 4, 4).join(LOOK_ALIKES.nbsp),
    fullwidth: (d) => fullwidthDigits(cut(d, 4, 4, 4).join(' ')),
  },
  cnh: {
    bare: (d) => d,
    spaced: (d) => cut(d, 3, 3, 3, 2).join(' '),
    cpfMask: (d) => joinWith(cut(d, 3, 3, 3, 2), ['.', '.', '-']),
    dashes: (d) => cut(d, 3, 3, 3, 2).join('-'),
    nbsp: (d) => cut(d, 3, 3, 3, 2).join(LOOK_ALIKES.nbsp),
  },
};

const LAYOUTS_WITH_KEYWORD: Partial<Record<DetectorName, Record<string, Fmt>>> = {
  pis: { bare: (d) => d },
  renavam: {
    bare: (d) => d,
    mask: (d) => `${d.slice(0, 10)}-${d.slice(10)}`,
    enDash: (d) => `${d.slice(0, 10)}${LOOK_ALIKES.enDash}${d.slice(10)}`,
    fullwidth: (d) => fullwidthDigits(d),
  },
  cep: {
    canonical: (d) => `${d.slice(0, 5)}-${d.slice(5)}`,
    dotted: (d) => `${d.slice(0, 2)}.${d.slice(2, 5)}-${d.slice(5)}`,
    bare: (d) => d,
    spaced: (d) => `${d.slice(0, 5)} ${d.slice(5)}`,
    nbsp: (d) => `${d.slice(0, 5)}${LOOK_ALIKES.nbsp}${d.slice(5)}`,
    enDash: (d) => `${d.slice(0, 5)}${LOOK_ALIKES.enDash}${d.slice(5)}`,
    fullwidth: (d) => fullwidthDigits(`${d.slice(0, 5)}-${d.slice(5)}`),
  },
};

/** Mobile (DDD + 9 + 8 digits) layouts; the `landline` ones take DDD + 8 digits. */
const PHONE_LAYOUTS: Record<string, Fmt> = {
  parens: (n) => `(${n.slice(0, 2)}) ${n.slice(2, -4)}-${n.slice(-4)}`,
  parensTight: (n) => `(${n.slice(0, 2)})${n.slice(2, -4)}-${n.slice(-4)}`,
  intlSpaced: (n) => `+55 ${n.slice(0, 2)} ${n.slice(2, -4)}-${n.slice(-4)}`,
  intlParensNineApart: (n) => (n.length === 11 ? `+55 (${n.slice(0, 2)}) 9 ${n.slice(3, 7)}-${n.slice(7)}` : `+55 (${n.slice(0, 2)}) ${n.slice(2, 6)}-${n.slice(6)}`),
  intlAllSpaces: (n) => `+55 ${n.slice(0, 2)} ${n.slice(2, -4)} ${n.slice(-4)}`,
  intlDashes: (n) => `+55-${n.slice(0, 2)}-${n.slice(2, -4)}-${n.slice(-4)}`,
  intlDots: (n) => `+55.${n.slice(0, 2)}.${n.slice(2, -4)}.${n.slice(-4)}`,
  intlBare: (n) => `+55${n}`,
  countryNoPlus: (n) => `55 ${n.slice(0, 2)} ${n.slice(2)}`,
  trunk: (n) => `0${n.slice(0, 2)} ${n.slice(2, -4)} ${n.slice(-4)}`,
  trunkParens: (n) => `(0${n.slice(0, 2)}) ${n.slice(2, -4)}-${n.slice(-4)}`,
  nbsp: (n) => `(${n.slice(0, 2)})${LOOK_ALIKES.nbsp}${n.slice(2, -4)}-${n.slice(-4)}`,
  narrowNbsp: (n) => `+55${LOOK_ALIKES.narrowNbsp}${n.slice(0, 2)}${LOOK_ALIKES.narrowNbsp}${n.slice(2, -4)}-${n.slice(-4)}`,
  enDash: (n) => `(${n.slice(0, 2)}) ${n.slice(2, -4)}${LOOK_ALIKES.enDash}${n.slice(-4)}`,
  fullwidth: (n) => `\uff08${fullwidthDigits(n.slice(0, 2))}\uff09 ${fullwidthDigits(n.slice(2, -4))}-${fullwidthDigits(n.slice(-4))}`,
};

const EMAIL_LAYOUTS: Record<string, (local: string, domain: string) => string> = {
  plain: (l, d) => `${l}@${d}`,
  upper: (l, d) => `${l}@${d}`.toUpperCase(),
  angle: (l, d) => `<${l}@${d}>`,
  mailto: (l, d) => `mailto:${l}@${d}`,
  fullwidthAt: (l, d) => `${l}\uff20${d}`,
  fullwidthAll: (l, d) => [...`${l}@${d}`].map((c) => (c >= '!' && c <= '~' ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join(''),
};

/**
 * Escapes a reader resolves (decode.ts), applied to a printed layout: every non-alphanumeric character of the value
 * percent-encoded (URLs, forms), spaces as '+' (forms), HTML decimal and named references, JavaScript \u escapes left
 * in plain text, JSON's two-character escapes left in plain text (`\/` as PHP's json_encode writes every slash; a
 * `\n` or `\t` glued before the value, as a JSON string's line break before it), and invisible characters (zero-width
 * space, soft hyphen between every two characters, word joiner).
 */
export const ENCODINGS: Readonly<Record<string, (printed: string) => string>> = {
  percent: (v) => v.replace(/[^A-Za-z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`),
  formPlus: (v) => v.replace(/ /g, '+'),
  htmlDecimal: (v) => v.replace(/[^A-Za-z0-9]/g, (c) => `&#${c.charCodeAt(0)};`),
  htmlNamed: (v) => v.replace(/[.@/ -]/g, (c) => ({ '.': '&period;', '@': '&commat;', '/': '&sol;', ' ': '&nbsp;', '-': '&hyphen;' })[c] ?? c),
  jsEscape: (v) => v.replace(/[^A-Za-z0-9]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  jsonSlash: (v) => v.replace(/\//g, '\\/'),
  jsonLineBreak: (v) => `\\n${v}`,
  jsonTab: (v) => `\\t${v}`,
  zeroWidth: (v) => [...v].join('\u200b'),
  softHyphen: (v) => [...v].join('\u00ad'),
  wordJoiner: (v) => v.replace(/(?<=[0-9])(?=[0-9]{4}(?![0-9]))/g, '\u2060'),
  // Percent-encoded UTF-8 of the look-alikes the layouts fold (round 10): a browser's form or URL encoding of a value
  // pasted with no-break spaces, typographic dashes, one-dot leaders, fullwidth digits or a zero-width space.
  percentLookAlikes: (v) => percentUtf8(v.replace(/ /g, '\u00a0').replace(/-/g, '\u2013').replace(/\./g, '\u2024')),
  percentFullwidth: (v) => percentUtf8(v.replace(/[0-9]/g, (d) => String.fromCharCode(d.charCodeAt(0) + 0xfee0))),
  // (Beside each separator: one between every character of an e-mail address is ten characters per character, past
  // the stream lookahead, README "Streams".)
  percentZeroWidth: (v) => percentUtf8(v.replace(/[ .@/-]/g, (c) => `\u200b${c}`)),
};

/** Every character but ASCII letters and digits percent-encoded, as UTF-8 bytes. */
function percentUtf8(v: string): string {
  return [...v].map((c) => (/[A-Za-z0-9]/.test(c) ? c : [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''))).join('');
}

/** The layouts each encoding is applied to (one spaced or separated form per type). */
const ENCODED_LAYOUTS: readonly [DetectorName, string][] = [
  ['cpf', 'canonical'], ['cpf', 'spaced'], ['cpf', 'dotsSlash'], ['cnpj', 'canonical'], ['cns', 'card'], ['pis', 'canonical'], ['tituloEleitor', 'spaced'],
  ['cnh', 'spaced'], ['phone', 'intlSpaced'], ['email', 'plain'],
];

/**
 * Text that looks numeric and is no identifier: it must come back unchanged (bounded false positives). Versions with
 * four parts that are valid IPv4 addresses are a known over-mask (README "Detectors") and are not listed.
 */
export const NEGATIVES: readonly string[] = [
  // dates and times
  '2026-07-15', '15/07/2026', '15.07.2026', '2026-07-15T14:32:00Z', '2026-07-15 14:32:00.123456-03', '14:32:00', '20260715',
  // versions, build numbers, OIDs
  'versão 1.2.3', 'v10.0.12', 'node 24.3.0', 'PostgreSQL 17.2 (Debian 17.2-1.pgdg120+1)', 'build 2026.07.15.1402', '1.3.6.1.4.1.311',
  // amounts and quantities
  'R$ 1.234.567,89', 'R$ 12.345,00', 'US$ 1,234,567.89', '1 234 567,89 €', `1${LOOK_ALIKES.nbsp}234${LOOK_ALIKES.nbsp}567,89`, '99,9%', '3.14159265358979',
  'saldo 123.456.789,00', 'total 1.234.567.890,12',
  // codes that are not personal identifiers
  'pedido 123456', 'NF-e 35260712345678000199550010000012341000012345', 'NCM 8471.30.12', 'CFOP 5.102', 'agência 1234-5 conta 12345-6',
  'processo 0001234-56.2024.8.26.0100', 'ISBN 978-85-359-0277-8', 'UUID 123e4567-e89b-12d3-a456-426614174000',
  'sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'porta 5432', 'pid 123456789',
  // short groups that are prefixes of layouts
  '123 4567', '123 4567 8901', '1234 5678', '12.345', '12-34-56',
  // identifiers glued to a word that does not name them are part of that word (a product code, a reference)
  'hotel52998224725', 'SKU52998224725', 'ref52998224725', 'excel11912345678',
  // escapes around numbers that are no identifier (decode.ts)
  'https://api.exemplo.com.br/v1/pedidos?page=2&size=20&sort=id%2Cdesc', 'q=1%2B1%3D2', 'valor=R%24%201.234%2C56', 'ids=1+2+3+4',
  'desconto de 100%25', 'Tom &amp; Jerry &#169; 2026', 'linha 1\u000alinha 2', 'pedido\u0020123456',
];

export interface LayoutSample extends Sample {
  /** The same identifier without its layout: what must not survive masking. */
  digits: string;
}

function addLayouts(r: Rng, per: number, table: Partial<Record<DetectorName, Record<string, Fmt>>>, needsContext: boolean, out: LayoutSample[]): void {
  const gens = new Map(digitGenerators());
  for (const [type, layouts] of Object.entries(table) as [DetectorName, Record<string, Fmt>][]) {
    const gen = gens.get(type);
    if (gen === undefined) throw new Error(`no generator for ${type}`);
    for (const [format, fmt] of Object.entries(layouts)) {
      for (let i = 0; i < per; i++) {
        const digits = gen(r, i % 2 === 0 ? 'alnum' : 'numeric');
        out.push({ type, format: formatName(type, format, digits), value: fmt(digits), needsContext: needsContext || type === 'cep', digits });
      }
    }
  }
}

function addPhoneLayouts(r: Rng, per: number, out: LayoutSample[]): void {
  for (const [format, fmt] of Object.entries(PHONE_LAYOUTS)) {
    for (let i = 0; i < per; i++) {
      const n = i % 2 === 0 ? genMobile(r) : genLandline(r);
      out.push({ type: 'phone', format: `${format}-${n.length === 11 ? 'mobile' : 'landline'}`, value: fmt(n), needsContext: false, digits: n });
    }
  }
}

function addEmailLayouts(r: Rng, per: number, out: LayoutSample[]): void {
  for (const [format, fmt] of Object.entries(EMAIL_LAYOUTS)) {
    for (let i = 0; i < per; i++) {
      const [local = 'x', domain = 'x.com'] = genEmail(r).split('@');
      out.push({ type: 'email', format, value: fmt(local, domain), needsContext: false, digits: `${local}@${domain}` });
    }
  }
}

/** Each encoding applied to the first value of each layout in ENCODED_LAYOUTS (formats `<layout>+<encoding>`). */
function addEncodedLayouts(out: LayoutSample[]): void {
  for (const [type, layout] of ENCODED_LAYOUTS) {
    const base = out.find((s) => s.type === type && s.format.replace(/-(alnum|numeric|mobile|landline)$/, '') === layout);
    if (base === undefined) throw new Error(`no ${type}/${layout} sample to encode`);
    for (const [encoding, encode] of Object.entries(ENCODINGS)) {
      const value = encode(base.value);
      if (value !== base.value) out.push({ ...base, format: `${base.format}+${encoding}`, value });
    }
  }
}

/** Every identifier × printed layout: `per` values each, and a look-alike with a broken check digit per value. */
export function layoutCorpus(seed = 20261204, per = 3): { valid: LayoutSample[]; lookAlikes: LayoutSample[] } {
  const r = new Rng(seed);
  const valid: LayoutSample[] = [];
  addLayouts(r, per, LAYOUTS, false, valid);
  addLayouts(r, per, LAYOUTS_WITH_KEYWORD, true, valid);
  addPhoneLayouts(r, per, valid);
  addEmailLayouts(r, per, valid);
  addEncodedLayouts(valid);
  const lookAlikes: LayoutSample[] = [];
  // Fullwidth digits are left out: breakCheckDigit edits ASCII digits.
  for (const s of valid.filter((x) => x.type !== 'email' && x.type !== 'cep' && !/[\uff10-\uff19]/.test(x.value) && !x.format.includes('+'))) {
    const bad = s.type === 'phone' ? badPhone(s.value, r) : breakCheckDigit(s.value);
    if (bad !== null) lookAlikes.push({ ...s, value: bad });
  }
  for (const [type, layout] of ENCODED_LAYOUTS) {
    const bad = lookAlikes.find((s) => s.type === type && s.format.replace(/-(alnum|numeric|mobile|landline)$/, '') === layout);
    if (bad === undefined) continue;
    for (const [encoding, encode] of Object.entries(ENCODINGS)) lookAlikes.push({ ...bad, format: `${bad.format}+${encoding}`, value: encode(bad.value) });
  }
  return { valid, lookAlikes };
}

/** Chunk sizes that cut a text at every kind of boundary (single characters, primes, buffer edges). */
export const CHUNK_SIZES: readonly number[] = [1, 2, 3, 5, 7, 13, 64, 255, 256, 257, 1000, 4096];

/**
 * The chunk sizes at which streaming `doc` through a text stream gives another output, or other
 * per-detector counts, than masking it whole (empty when streaming changes nothing).
 */
export function streamingMismatches(masker: Masker, doc: string, sizes: readonly number[] = CHUNK_SIZES): number[] {
  const reference = masker.newSession();
  const expected = reference.maskText(doc);
  const counts = JSON.stringify(reference.counts());
  return sizes.filter((size) => {
    const session = masker.newSession();
    const stream = session.textStream();
    let out = '';
    for (let i = 0; i < doc.length; i += size) out += stream.push(doc.slice(i, i + size));
    out += stream.end();
    return out !== expected || JSON.stringify(session.counts()) !== counts;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Attack placements: a character or sequence a reader does not see, put everywhere in an identifier
// (invisible-attacks.test.ts, terminal-attacks.test.ts)

const ESCAPE_SEQUENCES = new RegExp(ESCAPE_SEQUENCE_SOURCE, 'g');

/**
 * What a screen shows of `text`, as the tests read it: a right-to-left override's run reversed (to its pop or the line's
 * end), escape sequences and control characters not printed, a backspace taking back the character before it.
 */
export function onScreen(text: string): string {
  return text
    .replace(/\u202e([^\u202c\n]*)\u202c?/g, (_m, run: string) => shownReversed(run))
    .replace(ESCAPE_SEQUENCES, '')
    // eslint-disable-next-line no-control-regex -- a backspace and what it takes back
    .replace(/.\u0008/g, '')
    // eslint-disable-next-line no-control-regex -- what a terminal does not print is what is removed
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '');
}

/** Identifiers of every numeric family and an e-mail, each with what its partial mask keeps. */
export const ATTACK_IDENTIFIERS: readonly (readonly [value: string, kept: string])[] = [
  ['529.982.247-25', '25'], ['52998224725', '25'], ['11.222.333/0001-81', '81'], ['(11) 91234-5678', '5678'],
  ['+55 11 91234-5678', '5678'], ['4111 1111 1111 1111', '1111'], ['762 3763 4591 2761', '61'], ['joao.silva@exemplo.com.br', '.br'],
];

/** The value with `inv` before its first character, between every pair, or after its last. */
export function placements(value: string, inv: string): string[] {
  const chars = [...value];
  return [
    inv + value,
    value + inv,
    chars.join(inv),
    chars.join(inv + inv + inv),
    inv + chars.join(inv) + inv,
    ...chars.slice(1).map((_, i) => chars.slice(0, i + 1).join('') + inv + chars.slice(i + 1).join('')),
  ];
}

/** No run of the value's digits (or its local part) long enough to read it: what a masked value leaves. */
export function exposes(out: string, value: string): boolean {
  const visible = [...out.replace(ESCAPE_SEQUENCES, '')].filter((c) => !INVISIBLE.test(c)).join('');
  const digits = value.replace(/[^0-9]/g, '');
  if (digits.length >= 8) return visible.replace(/[^0-9*]/g, '').includes(digits.slice(0, 6));
  return visible.includes(value.split('@')[0] ?? value);
}
