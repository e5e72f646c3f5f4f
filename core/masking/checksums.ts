// Check-digit algorithms of Brazilian identifiers, payment cards and address formats.
// Inputs are the identifier's characters without punctuation; every function works on char codes
// and allocates nothing, because the scanner calls them on every candidate.

const ZERO = 48;

function dig(s: string, i: number): number {
  return s.charCodeAt(i) - ZERO;
}

export function isAllDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return s.length > 0;
}

/** True when every character is the same ('00000000000' passes most mod-11 schemes). */
export function isRepeated(s: string): boolean {
  const c = s.charCodeAt(0);
  for (let i = 1; i < s.length; i++) {
    if (s.charCodeAt(i) !== c) return false;
  }
  return true;
}

/** CPF check digit over the first n (9 or 10) digits, weights n+1..2: DV = (10·Σ mod 11) mod 10. */
export function cpfDigit(s: string, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += dig(s, i) * (n + 1 - i);
  return ((sum * 10) % 11) % 10;
}

export function isCpf(s: string): boolean {
  return s.length === 11 && isAllDigits(s) && !isRepeated(s) && cpfDigit(s, 9) === dig(s, 9) && cpfDigit(s, 10) === dig(s, 10);
}

const CNPJ_WEIGHTS = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];

/** CNPJ check digit over the first n (12 or 13) characters; value = ASCII − 48, so '0'..'9' = 0..9 and 'A' = 17. */
export function cnpjDigit(s: string, n: number): number {
  let sum = 0;
  const off = 13 - n;
  for (let i = 0; i < n; i++) sum += (s.charCodeAt(i) - ZERO) * (CNPJ_WEIGHTS[off + i] ?? 0);
  const r = sum % 11;
  return r < 2 ? 0 : 11 - r;
}

function isCnpjBodyChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90);
}

/** 14 characters: 12 of [0-9A-Z] (alphanumeric CNPJ, IN RFB 2.229/2024) and two numeric check digits. */
export function isCnpj(s: string): boolean {
  if (s.length !== 14 || isRepeated(s)) return false;
  for (let i = 0; i < 12; i++) {
    if (!isCnpjBodyChar(s.charCodeAt(i))) return false;
  }
  const d12 = dig(s, 12);
  const d13 = dig(s, 13);
  return d12 >= 0 && d12 <= 9 && d13 >= 0 && d13 <= 9 && cnpjDigit(s, 12) === d12 && cnpjDigit(s, 13) === d13;
}

/** CNH (DENATRAN): DV1 = Σd·(9..1) mod 11 (≥10 → 0, discount 2); DV2 = Σd·(1..9) mod 11 − discount. Returns dv1·10+dv2. */
export function cnhDigits(s: string): number {
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < 9; i++) {
    const d = dig(s, i);
    s1 += d * (9 - i);
    s2 += d * (i + 1);
  }
  let dv1 = s1 % 11;
  let discount = 0;
  if (dv1 >= 10) {
    dv1 = 0;
    discount = 2;
  }
  let dv2 = (s2 % 11) - discount;
  if (dv2 < 0) dv2 += 11;
  if (dv2 >= 10) dv2 = 0;
  return dv1 * 10 + dv2;
}

export function isCnh(s: string): boolean {
  return s.length === 11 && isAllDigits(s) && !isRepeated(s) && cnhDigits(s) === dig(s, 9) * 10 + dig(s, 10);
}

const PIS_WEIGHTS = [3, 2, 9, 8, 7, 6, 5, 4, 3, 2];

/** PIS/PASEP/NIT: weights 3,2,9..2; DV = 11 − (Σ mod 11), 10 and 11 → 0. */
export function pisDigit(s: string): number {
  let sum = 0;
  for (let i = 0; i < 10; i++) sum += dig(s, i) * (PIS_WEIGHTS[i] ?? 0);
  const r = 11 - (sum % 11);
  return r >= 10 ? 0 : r;
}

export function isPis(s: string): boolean {
  return s.length === 11 && isAllDigits(s) && !isRepeated(s) && pisDigit(s) === dig(s, 10);
}

/**
 * RENAVAM (vehicle register, DENATRAN): 11 digits, the 9-digit numbers issued before 2013 left-padded with 00.
 * DV = (10·Σd·(3,2,9..2)) mod 11, 10 → 0 — the PIS weights, and the same digit (10·Σ ≡ −Σ mod 11), so only a
 * keyword or a column name tells a RENAVAM from a PIS.
 */
export function isRenavam(s: string): boolean {
  const d = s.length === 9 ? `00${s}` : s;
  return d.length === 11 && isAllDigits(d) && !isRepeated(s) && pisDigit(d) === dig(d, 10);
}

/**
 * Título de Eleitor: 8-digit sequence, state code 01–28, DV1 = Σd·(2..9) mod 11, DV2 = (uf·(7,8) + DV1·9) mod 11,
 * remainder 10 → 0. For SP (01) and MG (02) the TSE rule turns remainder 0 into DV 1; some issuers and validators
 * (validate-docbr) do not apply it, so both are accepted there. Returns true when the last two digits match.
 */
export function isTitulo(s: string): boolean {
  if (s.length !== 12 || !isAllDigits(s) || isRepeated(s)) return false;
  const uf = dig(s, 8) * 10 + dig(s, 9);
  if (uf < 1 || uf > 28) return false;
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += dig(s, i) * (i + 2);
  const dv1 = dig(s, 10);
  if (!tituloRemainderOk(sum % 11, dv1, uf)) return false;
  const r2 = (dig(s, 8) * 7 + dig(s, 9) * 8 + dv1 * 9) % 11;
  return tituloRemainderOk(r2, dig(s, 11), uf);
}

function tituloRemainderOk(r: number, dv: number, uf: number): boolean {
  if (r === 10) return dv === 0;
  if (r === 0 && uf <= 2) return dv === 0 || dv === 1;
  return dv === r;
}

/** Check digits of a título for the given 8-digit sequence and 2-digit state code (without the SP/MG variant). */
export function tituloDigits(seq8: string, uf2: string): string {
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += dig(seq8, i) * (i + 2);
  const dv1 = sum % 11 === 10 ? 0 : sum % 11;
  const r2 = (dig(uf2, 0) * 7 + dig(uf2, 1) * 8 + dv1 * 9) % 11;
  return `${dv1}${r2 === 10 ? 0 : r2}`;
}

/**
 * CNS (Cartão Nacional de Saúde): 15 digits, Σd·(15..1) ≡ 0 (mod 11). Definitive numbers (first digit 1 or 2) are
 * built from an 11-digit PIS followed by 000 or 001 and one check digit, which is also enforced.
 */
export function isCns(s: string): boolean {
  if (s.length !== 15 || !isAllDigits(s)) return false;
  const first = s.charCodeAt(0);
  if (first === 49 || first === 50) {
    if (s.charCodeAt(11) !== 48 || s.charCodeAt(12) !== 48 || (s.charCodeAt(13) !== 48 && s.charCodeAt(13) !== 49)) return false;
  } else if (first < 55) {
    return false;
  }
  return cnsSum(s, 15) % 11 === 0;
}

export function cnsSum(s: string, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += dig(s, i) * (15 - i);
  return sum;
}

/** Luhn (mod 10) over a digit string. */
export function luhnValid(s: string): boolean {
  return luhnSum(s, 0) % 10 === 0;
}

/** Luhn sum; `shift` = 1 when a check digit will be appended after s. */
export function luhnSum(s: string, shift: number): number {
  let sum = 0;
  for (let i = s.length - 1, k = shift; i >= 0; i--, k++) {
    let d = dig(s, i);
    if ((k & 1) === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum;
}

/** [prefix low, prefix high, digits in prefix, min length, max length] of the card ranges we recognise. */
const CARD_RANGES: readonly (readonly [number, number, number, number, number])[] = [
  [4, 4, 1, 13, 19], // Visa (13, 16, 19), Elo 4xxxxx ranges
  [51, 55, 2, 16, 16], // Mastercard
  [2221, 2720, 4, 16, 16], // Mastercard 2-series
  [34, 34, 2, 15, 15], // American Express
  [37, 37, 2, 15, 15],
  [300, 305, 3, 14, 19], // Diners Club
  [36, 36, 2, 14, 19],
  [38, 39, 2, 14, 19],
  [6011, 6011, 4, 16, 19], // Discover
  [644, 649, 3, 16, 19],
  [65, 65, 2, 16, 19], // Discover, Elo 65xxxx
  [3528, 3589, 4, 16, 19], // JCB
  [62, 62, 2, 16, 19], // UnionPay, Elo 6277, 6362, 6363
  [5018, 5018, 4, 13, 19], // Maestro
  [5020, 5020, 4, 13, 19],
  [5038, 5038, 4, 13, 19],
  [5893, 5893, 4, 13, 19],
  [6304, 6304, 4, 13, 19],
  [6759, 6759, 4, 13, 19],
  [6761, 6763, 4, 13, 19],
  [5041, 5041, 4, 16, 16], // Elo
  [5066, 5067, 4, 16, 16],
  [509, 509, 3, 16, 16],
  [6062, 6062, 4, 16, 19], // Hipercard 606282
  [3841, 3841, 4, 16, 19], // Hipercard 3841xx
];

/** Known issuer prefix for the length (brands used in Brazil plus the international ones). */
export function isKnownCardPrefix(s: string): boolean {
  const len = s.length;
  let p6 = 0;
  for (let i = 0; i < 6; i++) p6 = p6 * 10 + dig(s, i);
  for (const [lo, hi, n, min, max] of CARD_RANGES) {
    const p = Math.floor(p6 / POW10[6 - n]!);
    if (len >= min && len <= max && p >= lo && p <= hi) return true;
  }
  return false;
}

const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000];

export function isCard(s: string): boolean {
  return s.length >= 13 && s.length <= 19 && isAllDigits(s) && !isRepeated(s) && isKnownCardPrefix(s) && luhnValid(s);
}

/** Brazilian area codes (DDD) in service, per ANATEL's numbering plan. */
const DDD = new Set([
  11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45, 46, 47,
  48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87,
  88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
]);

export const DDD_LIST: readonly number[] = [...DDD];

export function isDdd(n: number): boolean {
  return DDD.has(n);
}

/**
 * A national phone number without the country code: DDD + 9 + 8 digits (mobile) or DDD + [2-5] + 7 digits
 * (landline). Returns 'mobile', 'landline' or null.
 */
export function phoneKind(s: string): 'mobile' | 'landline' | null {
  if (!isDdd(dig(s, 0) * 10 + dig(s, 1)) || !isAllDigits(s)) return null;
  const c = dig(s, 2);
  if (s.length === 11) return c === 9 ? 'mobile' : null;
  if (s.length === 10) return c >= 2 && c <= 5 ? 'landline' : null;
  return null;
}

/** Dotted quad, each part 0–255 without leading zeros. */
export function isIpv4(s: string): boolean {
  let parts = 0;
  let start = 0;
  for (let i = 0; i <= s.length; i++) {
    if (i < s.length && s.charCodeAt(i) !== 46) continue;
    if (!ipv4PartOk(s, start, i)) return false;
    parts++;
    start = i + 1;
  }
  return parts === 4;
}

function ipv4PartOk(s: string, a: number, b: number): boolean {
  const len = b - a;
  if (len < 1 || len > 3 || (len > 1 && s.charCodeAt(a) === 48)) return false;
  let v = 0;
  for (let i = a; i < b; i++) {
    const d = dig(s, i);
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  return v <= 255;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** Counts the 16-bit groups of one side of '::' (an embedded IPv4 tail counts 2); -1 when malformed. */
function ipv6Groups(s: string, allowV4Tail: boolean): number {
  if (s === '') return 0;
  const parts = s.split(':');
  let groups = 0;
  for (let i = 0; i < parts.length; i++) {
    const n = ipv6PartGroups(parts[i] ?? '', allowV4Tail && i === parts.length - 1);
    if (n < 0) return -1;
    groups += n;
  }
  return groups;
}

function ipv6PartGroups(p: string, last: boolean): number {
  if (last && p.includes('.')) return isIpv4(p) ? 2 : -1;
  if (p.length < 1 || p.length > 4) return -1;
  for (let i = 0; i < p.length; i++) if (!isHex(p.charCodeAt(i))) return -1;
  return 1;
}

/** RFC 4291 text form, with '::' compression and an optional dotted-quad tail; no zone index. */
export function isIpv6(s: string): boolean {
  if (s.length < 2 || s.length > 45) return false;
  const dbl = s.indexOf('::');
  if (dbl === -1) return ipv6Groups(s, true) === 8;
  if (s.indexOf('::', dbl + 1) !== -1) return false;
  const head = ipv6Groups(s.slice(0, dbl), false);
  const tail = ipv6Groups(s.slice(dbl + 2), true);
  return head >= 0 && tail >= 0 && head + tail <= 7;
}

const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A calendar date with a plausible birth year (1880–2099). */
export function isPlausibleDate(y: number, m: number, d: number): boolean {
  if (y < 1880 || y > 2099 || m < 1 || m > 12 || d < 1) return false;
  return d <= daysInMonth(y, m);
}

function daysInMonth(y: number, m: number): number {
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return m === 2 && !leap ? 28 : (MONTH_DAYS[m - 1] ?? 0);
}
