// The exact reading of a JSON number token, shared by every JSON path: JsonStream (HTTP JSON bodies,
// PostgreSQL json/jsonb cells) reads the token's text, maskJsonValue (Kubernetes) reads String(v).
// Integers are serialised as doubles and decimals as often as as integers: Python's json.dumps of a
// float and pandas write `52998224725.0`, PostgreSQL's jsonb keeps a numeric's scale
// (`52998224725.00`), Java's Double.toString writes `5.2998224725E10`, printf %e `5.2998224725e+10`.
// A reader sees the identifier in each (round 9 review, finding 1), so each is scanned like the
// integer it denotes. The reading works on the decimal digits, never through a float: a double
// rounds integers beyond 2^53 (16- to 19-digit cards).
import type { LeftContext, MaskOps, Rule } from './internal.ts';

/** JSON's number grammar (RFC 8259 section 6): sign, integer part, fraction, exponent. */
const GRAMMAR = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?)([0-9]+))?$/;
const ZEROS = /^0*$/;
/** Integers with this many digits or more are content-scanned (CPFs, phones and cards serialised as numbers). */
export const MIN_SCANNED_DIGITS = 8;
/**
 * The longest integer a token is expanded to (`1e999999999` is not materialised). As long as the longest number
 * token jsonStream reads (TOKEN_CAP): a longer one is not JSON anyone sends and is read as text instead.
 */
export const MAX_INTEGER_DIGITS = 4096;

/**
 * What a number token denotes: an integer (its digits without leading zeros, '0' for zero, and its sign), a
 * fraction, or `unreadable`: not JSON's grammar (`529.982.247-25`, `1.2.3`, `052998224725`, what a lenient or broken
 * writer sends) or an integer longer than MAX_INTEGER_DIGITS.
 */
export type JsonNumber = { kind: 'integer'; negative: boolean; digits: string } | { kind: 'fraction' } | { kind: 'unreadable' };

const FRACTION: JsonNumber = { kind: 'fraction' };
const UNREADABLE: JsonNumber = { kind: 'unreadable' };

export function readJsonNumber(token: string): JsonNumber {
  const m = GRAMMAR.exec(token);
  return m === null ? UNREADABLE : fromParts(m[1] === '-', m[2] ?? '', m[3] ?? '', m[4] ?? '', m[5] ?? '');
}

function fromParts(negative: boolean, int: string, frac: string, expSign: string, expDigits: string): JsonNumber {
  const all = int + frac;
  const significant = all.replace(/^0+/, '');
  if (significant === '') return { kind: 'integer', negative: false, digits: '0' }; // 0, -0, 0.000e5
  const exp = exponent(expSign, expDigits);
  // Where the decimal point falls in the significant digits once the exponent has moved it.
  const digits = exp === null ? (expSign === '-' ? FRACTION : UNREADABLE) : integerPart(significant, int.length + exp - (all.length - significant.length));
  return typeof digits === 'string' ? { kind: 'integer', negative, digits } : digits;
}

/** The digits of significant[0, point) followed by zeros up to `point`, when everything after the point is zero. */
function integerPart(significant: string, point: number): string | JsonNumber {
  if (point <= 0) return FRACTION;
  if (point > MAX_INTEGER_DIGITS) return UNREADABLE;
  if (point >= significant.length) return significant + '0'.repeat(point - significant.length);
  return ZEROS.test(significant.slice(point)) ? significant.slice(0, point) : FRACTION;
}

/** The exponent's value, or null when it moves the point further than any integer we expand (leading zeros allowed: `E+010`). */
function exponent(sign: string, digits: string): number | null {
  const d = digits.replace(/^0+/, '');
  if (d.length > 6) return null;
  const v = d === '' ? 0 : Number(d);
  return sign === '-' ? -v : v;
}

/**
 * What a number token becomes (the content of the JSON string that replaces it), or null to keep the token:
 *  - under a name rule, masked whole: an integer as its digits (so `52998224725.0` gets the mask `52998224725` gets);
 *  - an integer of MIN_SCANNED_DIGITS digits or more, scanned like bare digits; negative ones too (maskText reads
 *    `-52998224725` as the CPF), the mask keeping the sign;
 *  - an unreadable token scanned as the text it is (fails closed: `529.982.247-25` written unquoted is still a CPF);
 *  - fractions and short integers are kept.
 * `left` is the document before the token (json-context.ts): `{"contato":1133334444}` is read after its keyword.
 */
export function maskNumberToken(ops: MaskOps, token: string, rule: Rule | null, left?: LeftContext): string | null {
  const n = readJsonNumber(token);
  if (rule !== null) return ops.maskWhole(n.kind === 'integer' ? `${n.negative ? '-' : ''}${n.digits}` : token, rule);
  if (n.kind === 'fraction') return null;
  if (n.kind === 'unreadable') return changed(token, ops.maskText(token, left));
  if (n.digits.length < MIN_SCANNED_DIGITS) return null;
  const m = changed(n.digits, ops.maskText(n.digits, left));
  return m !== null && n.negative ? `-${m}` : m;
}

function changed(before: string, after: string): string | null {
  return after === before ? null : after;
}
