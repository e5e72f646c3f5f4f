// Masking styles: redact (type tag), partial (one layout per type), hash (keyed HMAC) and surrogate
// (format-preserving, valid check digits, derived from the HMAC so it is stable too).
import { createHash, hash } from 'node:crypto';
import {
  cnhDigits, cnpjDigit, cnsSum, cpfDigit, DDD_LIST, isIpv4, isPlausibleDate, isRepeated, luhnSum, phoneKind, pisDigit, tituloDigits,
} from './checksums.ts';
import type { DetectorName, MaskStyle } from './types.ts';

const TAGS: Record<DetectorName, string> = {
  cpf: 'CPF', cnpj: 'CNPJ', cnh: 'CNH', pis: 'PIS', tituloEleitor: 'TITULO_ELEITOR', cns: 'CNS', renavam: 'RENAVAM', cep: 'CEP',
  phone: 'PHONE', email: 'EMAIL', card: 'CARD', ip: 'IP', birthDate: 'BIRTH_DATE',
};

/** `[CPF]`, `[EMAIL]`, `[<CUSTOM NAME>]`, `[REDACTED]` for untyped field rules. */
export function redactTag(type: string, detector: DetectorName | null): string {
  if (detector !== null) return `[${TAGS[detector]}]`;
  return type === 'field' ? '[REDACTED]' : `[${type.toUpperCase()}]`;
}

// ---------------------------------------------------------------------------------------------------------------
// Partial

/** Letters and digits (any script) are masked; punctuation and spaces keep the value's shape. */
const ASCII_ALNUM = new Uint8Array(128);
for (let c = 0; c < 128; c++) ASCII_ALNUM[c] = /[0-9A-Za-z]/.test(String.fromCharCode(c)) ? 1 : 0;

function isMaskable(c: number): boolean {
  if (c < 128) return ASCII_ALNUM[c] === 1;
  return c >= 0xc0 && !(c >= 0x2000 && c <= 0x206f) && !(c >= 0x3000 && c <= 0x303f) && c !== 0xfeff;
}

function countMaskable(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (isMaskable(s.charCodeAt(i))) n++;
  return n;
}

/** A value must keep at least this many letters/digits masked, or it is masked whole (short or malformed values). */
const MIN_MASKED = 6;
const STARS = '*'.repeat(64);

function stars(n: number): string {
  return n <= 64 ? STARS.slice(0, n) : '*'.repeat(n);
}

/** Every letter/digit becomes '*'; punctuation and spaces stay. */
function starAll(s: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    if (isMaskable(s.charCodeAt(i))) continue;
    out += stars(i - from) + (s[i] ?? '');
    from = i + 1;
  }
  return out + stars(s.length - from);
}

/** Index where the last n letters/digits begin, or -1 when fewer than n + MIN_MASKED exist. */
function tailStart(s: string, n: number): number {
  let seen = 0;
  let i = s.length;
  while (i > 0 && seen < n) if (isMaskable(s.charCodeAt(--i))) seen++;
  if (seen < n) return -1;
  let rest = 0;
  for (let j = 0; j < i && rest < MIN_MASKED; j++) if (isMaskable(s.charCodeAt(j))) rest++;
  return rest >= MIN_MASKED ? i : -1;
}

function keepLast(s: string, n: number): string {
  const i = tailStart(s, n);
  return i < 0 ? starAll(s) : starAll(s.slice(0, i)) + s.slice(i);
}

function keepFirst(s: string, n: number): string {
  if (countMaskable(s) - n < MIN_MASKED) return starAll(s);
  let seen = 0;
  let i = 0;
  while (i < s.length && seen < n) if (isMaskable(s.charCodeAt(i++))) seen++;
  return s.slice(0, i) + starAll(s.slice(i));
}

function partialEmail(s: string): string {
  const at = s.lastIndexOf('@');
  const dot = s.lastIndexOf('.');
  if (at <= 0 || dot < at + 2) return keepFirst(s, 1);
  return `${s[0] ?? ''}***@${s[at + 1] ?? ''}***${s.slice(dot)}`;
}

function partialIp(s: string): string {
  if (isIpv4(s)) {
    const [a, b] = s.split('.');
    return `${a ?? ''}.${b ?? ''}.*.*`;
  }
  const groups = expandIpv6(s);
  if (groups === null) return starAll(s);
  return `${groups[0] ?? '0'}:${groups[1] ?? '0'}:*:*:*:*:*:*`;
}

const YEAR = /(?<![0-9])(?:1[89][0-9]{2}|20[0-9]{2})(?![0-9])/;

function partialDate(s: string): string {
  if (/^[0-9]{8}$/.test(s)) {
    const dmy = isPlausibleDate(Number(s.slice(4)), Number(s.slice(2, 4)), Number(s.slice(0, 2)));
    return dmy ? `****${s.slice(4)}` : `${s.slice(0, 4)}****`;
  }
  const m = YEAR.exec(s);
  if (m === null) return starAll(s);
  return starAll(s.slice(0, m.index)) + m[0] + starAll(s.slice(m.index + 4));
}

/**
 * One layout per type, whatever the input format (README: "Partial layouts"). Identifiers keep their last two
 * characters (the check digits, which follow from the others and so reveal the least), cards and phones their last
 * four, CEP its first two (the region), dates their year, e-mail its first letters and top-level domain, IP its
 * first 16 (v4) or 32 (v6) bits. Untyped values keep only their punctuation.
 */
export function partial(detector: DetectorName | null, s: string): string {
  if (detector === null || !(SHAPES[detector]?.test(s) ?? true)) return starAll(s);
  return PARTIAL[detector](s);
}

/** A value under a name rule that does not look like its type ('não informado' as a phone) is masked whole. */
const NUMERIC_SHAPE = /^[\s0-9.()/+-]*$/;
const SHAPES: Partial<Record<DetectorName, RegExp>> = {
  cpf: NUMERIC_SHAPE, cnh: NUMERIC_SHAPE, pis: NUMERIC_SHAPE, tituloEleitor: NUMERIC_SHAPE, cns: NUMERIC_SHAPE, renavam: NUMERIC_SHAPE,
  card: NUMERIC_SHAPE, phone: NUMERIC_SHAPE, cep: NUMERIC_SHAPE, cnpj: /^[\s0-9A-Z./-]*$/,
};

const lastTwo = (s: string): string => keepLast(s, 2);
const lastFour = (s: string): string => keepLast(s, 4);

/** The partial layout of each type (README: "Partial layouts"). */
export const PARTIAL: Readonly<Record<DetectorName, (s: string) => string>> = {
  cpf: lastTwo, cnpj: lastTwo, cnh: lastTwo, pis: lastTwo, tituloEleitor: lastTwo, cns: lastTwo, renavam: lastTwo,
  card: lastFour, phone: lastFour, cep: (s) => keepFirst(s, 2), email: partialEmail, ip: partialIp, birthDate: partialDate,
};

// ---------------------------------------------------------------------------------------------------------------
// Normalisation (hash and surrogate input): formatted and bare forms of one value give one hash.

function digits(s: string): string {
  return s.replace(/[^0-9]/g, '');
}

/** Splits a phone's digits into what precedes the national number (country code 55, trunk 0) and the national number. */
export function splitPhone(d: string): { prefix: string; national: string } {
  let i = 0;
  if (d.startsWith('55') && d.length >= 12) i = 2;
  if (d.charCodeAt(i) === 48) i++;
  return { prefix: d.slice(0, i), national: d.slice(i) };
}

function normalizePhone(s: string): string {
  return `55${splitPhone(digits(s)).national}`;
}

function normalizeDate(s: string): string {
  const p = s.split(/[^0-9]+/).filter((x) => x !== '');
  if (p.length < 3) return s.trim();
  const [a = '', b = '', c = ''] = p;
  return a.length === 4 ? `${a}-${b.padStart(2, '0')}-${c.padStart(2, '0')}` : `${c}-${b.padStart(2, '0')}-${a.padStart(2, '0')}`;
}

const digitsOrTrimmed = (s: string): string => {
  const d = digits(s);
  return d === '' ? s.trim() : d;
};

const NORMALIZE: Readonly<Record<DetectorName, (s: string) => string>> = {
  cpf: digitsOrTrimmed, cnh: digitsOrTrimmed, pis: digitsOrTrimmed, tituloEleitor: digitsOrTrimmed, cns: digitsOrTrimmed,
  renavam: (s) => { // 9-digit numbers issued before 2013 are the same numbers with 00 in front
    const d = digitsOrTrimmed(s);
    return /^[0-9]{9}$/.test(d) ? `00${d}` : d;
  },
  card: digitsOrTrimmed, cep: digitsOrTrimmed,
  cnpj: (s) => s.toUpperCase().replace(/[^0-9A-Z]/g, ''),
  phone: normalizePhone,
  email: (s) => s.trim().toLowerCase(),
  ip: (s) => (isIpv4(s) ? s : (expandIpv6(s)?.join(':') ?? s.trim().toLowerCase())),
  birthDate: normalizeDate,
};

/** The canonical text hashed for a value: formatted and bare forms of one identifier give one hash. */
export function normalize(detector: DetectorName | null, s: string): string {
  return detector === null ? s : NORMALIZE[detector](s);
}

function v4TailToHex(text: string): string {
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4 === null) return text;
  const [a = 0, b = 0, c = 0, d = 0] = v4.slice(1).map(Number);
  return `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** The eight groups of an IPv6 address, lower-case without leading zeros; null when it is not one. */
export function expandIpv6(s: string): string[] | null {
  const text = v4TailToHex(s.toLowerCase());
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...(Array(Math.max(fill, 0)).fill('0') as string[]), ...t];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  return all.map((g) => g.replace(/^0+(?=.)/, ''));
}

// ---------------------------------------------------------------------------------------------------------------
// Keyed hashing

/**
 * HMAC-SHA-256 (RFC 2104) computed as two one-shot SHA-256 calls over preallocated pad buffers: no key setup and no
 * hash objects per value (values are short; longer messages take the streaming path).
 */
export class Hmac {
  readonly #inner: Buffer;
  readonly #outer: Buffer;
  readonly #ipad: Buffer;
  readonly #opad: Buffer;

  constructor(key: Uint8Array) {
    let k = Buffer.from(key);
    if (k.length > 64) k = createHash('sha256').update(k).digest();
    this.#ipad = Buffer.alloc(64, 0x36);
    this.#opad = Buffer.alloc(64, 0x5c);
    for (let i = 0; i < k.length; i++) {
      this.#ipad[i] = (this.#ipad[i] ?? 0) ^ (k[i] ?? 0);
      this.#opad[i] = (this.#opad[i] ?? 0) ^ (k[i] ?? 0);
    }
    this.#inner = Buffer.alloc(64 + SHORT_MESSAGE);
    this.#ipad.copy(this.#inner, 0);
    this.#outer = Buffer.alloc(64 + 32);
    this.#opad.copy(this.#outer, 0);
  }

  digest(message: string): Buffer {
    const n = Buffer.byteLength(message, 'utf8');
    let innerHash: Buffer;
    if (n <= SHORT_MESSAGE) {
      this.#inner.write(message, 64, 'utf8');
      innerHash = hash('sha256', this.#inner.subarray(0, 64 + n), 'buffer');
    } else {
      innerHash = createHash('sha256').update(this.#ipad).update(message, 'utf8').digest();
    }
    innerHash.copy(this.#outer, 64);
    return hash('sha256', this.#outer, 'buffer');
  }
}

const SHORT_MESSAGE = 1024;

/** `<type>:hmac:<first 16 hex of HMAC-SHA-256(key, type ‖ 0x00 ‖ normalised value)>`. */
export function hashToken(hmac: Hmac, type: string, detector: DetectorName | null, s: string): string {
  return `${type}:hmac:${hmac.digest(`${type}\u0000${normalize(detector, s)}`).toString('hex', 0, 8)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Surrogates

/** Deterministic pseudo-random digits from HMAC(key, 'surrogate' ‖ type ‖ value), extended by counter. */
class DigitSource {
  #buf: Buffer;
  #pos = 0;
  #round = 0;
  readonly #hmac: Hmac;
  readonly #seed: string;

  constructor(hmac: Hmac, seed: string) {
    this.#hmac = hmac;
    this.#seed = seed;
    this.#buf = hmac.digest(seed);
  }

  byte(): number {
    if (this.#pos >= this.#buf.length) {
      this.#round++;
      this.#buf = this.#hmac.digest(`${this.#seed}\u0000${this.#round}`);
      this.#pos = 0;
    }
    return this.#buf[this.#pos++] ?? 0;
  }

  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.byte() % 10);
    return s;
  }
}

/** Writes `generated` into the letter/digit positions of `original`, keeping its punctuation. */
function reformat(original: string, generated: string): string {
  if (countMaskable(original) !== generated.length) return generated;
  let out = '';
  let k = 0;
  for (let i = 0; i < original.length; i++) {
    out += isMaskable(original.charCodeAt(i)) ? (generated[k++] ?? '') : (original[i] ?? '');
  }
  return out;
}

function nonRepeated(r: DigitSource, n: number): string {
  let base = r.digits(n);
  while (isRepeated(base)) base = r.digits(n);
  return base;
}

function surrogateCpf(r: DigitSource): string {
  const base = nonRepeated(r, 9);
  const ten = base + String(cpfDigit(base, 9));
  return ten + String(cpfDigit(ten, 10));
}

function surrogateCnpj(r: DigitSource, original: string): string {
  const src = original.replace(/[^0-9A-Za-z]/g, '');
  let base = '';
  for (let i = 0; i < 12; i++) {
    const c = src.charCodeAt(i);
    base += c >= 65 ? String.fromCharCode(65 + (r.byte() % 26)) : String(r.byte() % 10);
  }
  if (isRepeated(base)) base = `1${base.slice(1)}`;
  const thirteen = base + String(cnpjDigit(base, 12));
  return thirteen + String(cnpjDigit(thirteen, 13));
}

function surrogateCnh(r: DigitSource): string {
  const base = nonRepeated(r, 9);
  return base + String(cnhDigits(base)).padStart(2, '0');
}

function surrogatePis(r: DigitSource): string {
  const base = nonRepeated(r, 10);
  return base + String(pisDigit(base));
}

function surrogateTitulo(r: DigitSource): string {
  const seq = r.digits(8);
  const uf = String(1 + (r.byte() % 28)).padStart(2, '0');
  return seq + uf + tituloDigits(seq, uf);
}

function surrogateCns(r: DigitSource): string {
  let body = String(7 + (r.byte() % 3)) + r.digits(13);
  for (;;) {
    const check = (11 - (cnsSum(body, 14) % 11)) % 11;
    if (check <= 9) return body + String(check);
    body = body.slice(0, 13) + String((Number(body[13]) + 1) % 10);
  }
}

function surrogateCard(r: DigitSource, original: string): string {
  const d = digits(original);
  if (d.length < 13 || d.length > 19) return '';
  const body = d.slice(0, 6) + r.digits(d.length - 7);
  return body + String((10 - (luhnSum(body, 1) % 10)) % 10);
}

function surrogatePhone(r: DigitSource, original: string): string {
  const { prefix, national } = splitPhone(digits(original));
  const kind = phoneKind(national);
  if (kind === null) return '';
  const ddd = String(DDD_LIST[r.byte() % DDD_LIST.length] ?? 11);
  const subscriber = kind === 'mobile' ? `9${r.digits(8)}` : String(2 + (r.byte() % 4)) + r.digits(7);
  return prefix + ddd + subscriber;
}

/** Keeps the year (ages stay right for analysts) and the layout; draws day 1–28 and month. */
function surrogateDate(r: DigitSource, original: string): string {
  const mm = String(1 + (r.byte() % 12)).padStart(2, '0');
  const dd = String(1 + (r.byte() % 28)).padStart(2, '0');
  if (/^[0-9]{8}$/.test(original)) {
    const dmy = isPlausibleDate(Number(original.slice(4)), Number(original.slice(2, 4)), Number(original.slice(0, 2)));
    return dmy ? dd + mm + original.slice(4) : original.slice(0, 4) + mm + dd;
  }
  const parts = original.split(/([^0-9]+)/);
  const numeric = parts.filter((_, i) => i % 2 === 0);
  if (numeric.length < 3) return '';
  const ymd = (numeric[0] ?? '').length === 4;
  const dayIdx = ymd ? 4 : 0;
  parts[2] = mm;
  parts[dayIdx] = dd;
  return parts.join('');
}

function hex(r: DigitSource, bytes: number): string {
  let s = '';
  for (let i = 0; i < bytes; i++) s += r.byte().toString(16).padStart(2, '0');
  return s;
}

function surrogateIp(r: DigitSource, original: string): string {
  if (isIpv4(original)) return `10.${r.byte()}.${r.byte()}.${1 + (r.byte() % 254)}`;
  const groups = [`fd${hex(r, 1)}`];
  for (let i = 0; i < 7; i++) groups.push(hex(r, 2).replace(/^0+(?=.)/, ''));
  return groups.join(':');
}

type SurrogateFn = (r: DigitSource, original: string) => string;

const SURROGATES: Record<DetectorName, SurrogateFn> = {
  cpf: surrogateCpf,
  cnpj: surrogateCnpj,
  cnh: surrogateCnh,
  pis: surrogatePis,
  tituloEleitor: surrogateTitulo,
  cns: surrogateCns,
  renavam: surrogatePis, // the same check digit (checksums.ts: isRenavam)
  cep: (r) => String(1 + (r.byte() % 9)) + r.digits(7),
  phone: surrogatePhone,
  email: (r) => `u${hex(r, 5)}@example.com`,
  card: surrogateCard,
  ip: surrogateIp,
  birthDate: surrogateDate,
};

/**
 * A value of the same type and format with valid check digits, derived from the HMAC of the normalised value (so
 * it is stable and joins like a hash). Untyped values, and values too malformed to rebuild, get the hash token.
 */
export function surrogate(hmac: Hmac, type: string, detector: DetectorName | null, s: string): string {
  if (detector === null) return hashToken(hmac, type, detector, s);
  const r = new DigitSource(hmac, `surrogate\u0000${type}\u0000${normalize(detector, s)}`);
  const generated = SURROGATES[detector](r, s);
  if (generated === '') return hashToken(hmac, type, detector, s);
  return detector === 'email' || detector === 'ip' ? generated : reformat(s, generated);
}

/** Renders one masked value in the given style. */
export function render(style: MaskStyle, hmac: Hmac | null, type: string, detector: DetectorName | null, s: string): string {
  switch (style) {
    case 'redact': return redactTag(type, detector);
    case 'partial': return partial(detector, s);
    case 'hash': return hmac === null ? redactTag(type, detector) : hashToken(hmac, type, detector, s);
    case 'surrogate': return hmac === null ? redactTag(type, detector) : surrogate(hmac, type, detector, s);
  }
}
