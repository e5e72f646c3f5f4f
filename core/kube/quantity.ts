// Kubernetes resource quantities ("500m", "256Mi", "1e3"), read exactly, to compare two spellings
// of one value. The apiserver re-emits every quantity in canonical form ("0.5" → "500m",
// "268435456" → "256Mi", "1.5Gi" → "1536Mi", "1e3" → "1k"), so a value the injector wrote can come
// back spelled differently; comparing the strings would refuse genuine pods, skipping them lets a
// forged one through. Pure.
//
// The grammar is apimachinery's (k8s.io/apimachinery/pkg/api/resource/quantity.go):
//   <quantity> ::= <sign>? <number> <suffix>
//   <number>   ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//   <suffix>   ::= Ki | Mi | Gi | Ti | Pi | Ei                (binary SI, powers of 1024)
//                | n | u | m | "" | k | M | G | T | P | E   (decimal SI, powers of 1000)
//                | e <sign>? <digits> | E <sign>? <digits>   (decimal exponent; "1E" alone is exa)
// Values are BigInt rationals: no float rounding, so "0.1" is 1/10 and 1.5Gi is 1610612736.
// @kubernetes/client-node's quantityToScalar is not usable here: it returns floats for "", n, u
// and m (0.1 + 0.2 style rounding), throws on fractions with a larger suffix ("1.5Gi", which the
// apiserver accepts), and knows no decimal exponents ("1e3").
//
// Anything outside the grammar, longer than MAX_QUANTITY_LENGTH or with an exponent beyond
// MAX_EXPONENT is unreadable (undefined), and unreadable quantities are never equal to anything:
// a security comparison fails closed. The bounds keep a pod's quantity from making us build a
// 10^1000000000 BigInt; the apiserver caps quantities at 2^63-1 and rounds them up to nano units
// (10^-9) before anyone reads them, far inside both bounds.

/** A quantity's exact value: numerator / denominator, the denominator positive (not reduced). */
export interface QuantityValue { numerator: bigint; denominator: bigint }

/** Longer than any quantity the apiserver emits (int64 digits, nine decimals, a suffix). */
export const MAX_QUANTITY_LENGTH = 64;
/** Largest |exponent| accepted in "1e<exponent>": the apiserver's range is 10^-9 to 2^63 (~10^19). */
export const MAX_EXPONENT = 64;

const BINARY_SI: Readonly<Record<string, bigint>> = { Ki: 1n, Mi: 2n, Gi: 3n, Ti: 4n, Pi: 5n, Ei: 6n };
const DECIMAL_SI: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

// sign, whole digits, fraction digits, suffix. The exponent alternative comes before the single
// letters so "1E3" is 1000 and "1E" is exa.
const QUANTITY = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE]?)$/;

/** 10^exponent as a rational. */
function powerOfTen(exponent: number): QuantityValue {
  return exponent >= 0 ? { numerator: 10n ** BigInt(exponent), denominator: 1n } : { numerator: 1n, denominator: 10n ** BigInt(-exponent) };
}

/** What the suffix multiplies the number by, or undefined when its exponent is out of bounds. */
function multiplier(suffix: string): QuantityValue | undefined {
  const binary = BINARY_SI[suffix];
  if (binary !== undefined) return { numerator: 1024n ** binary, denominator: 1n };
  const decimal = DECIMAL_SI[suffix];
  if (decimal !== undefined) return powerOfTen(decimal);
  const exponent = Number(suffix.slice(1));
  return Number.isInteger(exponent) && Math.abs(exponent) <= MAX_EXPONENT ? powerOfTen(exponent) : undefined;
}

/** Sign, whole digits, fraction digits and suffix, when the text has the grammar's shape and some digit. */
function parts(text: string): [string, string, string, string] | undefined {
  const m = text.length > MAX_QUANTITY_LENGTH ? null : QUANTITY.exec(text);
  if (m === null) return undefined;
  const [, sign = '', whole = '', fraction = '', suffix = ''] = m;
  return whole === '' && fraction === '' ? undefined : [sign, whole, fraction, suffix]; // "", ".", "+", "Mi": no digits
}

/** The exact value of a Kubernetes quantity, or undefined when it is not one (or is out of bounds). */
export function parseQuantity(text: string): QuantityValue | undefined {
  const p = parts(text);
  if (p === undefined) return undefined;
  const [sign, whole, fraction, suffix] = p;
  const scale = multiplier(suffix);
  if (scale === undefined) return undefined;
  const digits = BigInt(`${whole}${fraction}`) * (sign === '-' ? -1n : 1n);
  return { numerator: digits * scale.numerator, denominator: 10n ** BigInt(fraction.length) * scale.denominator };
}

/**
 * Whether two quantities are the same value ("268435456" and "256Mi", "0.5" and "500m"). Anything
 * that is not a readable quantity string, on either side, is different from everything.
 */
export function sameQuantity(a: unknown, b: unknown): boolean {
  const x = typeof a === 'string' ? parseQuantity(a) : undefined;
  const y = typeof b === 'string' ? parseQuantity(b) : undefined;
  return x !== undefined && y !== undefined && x.numerator * y.denominator === y.numerator * x.denominator;
}
