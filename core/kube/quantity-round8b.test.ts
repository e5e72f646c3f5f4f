// Round 8b review of core/kube/quantity.ts against apimachinery's parser
// (k8s.io/apimachinery/pkg/api/resource/quantity.go, suffix.go) and what the harness apiserver
// (v1.34.4) stores. The webhook never reads the author's spelling: it reads what the apiserver
// re-serialises, which is the original text when ParseQuantity's fast path finds it "canonical"
// (scale%3 == 0, no trailing 000, no leading 0 digit; or a BinarySI value not divisible by 8)
// and the canonical form otherwise (rounded up to nano units on the slow path).
//
// Result: this class HELD. Every form below that the apiserver stores reads, in quantity.ts, either
// to apimachinery's value or to nothing (unreadable: never equal, the comparison fails closed).
// These tests pin that; they pass on the current code. The one place the two readers disagree is
// apimachinery's exponent wrap: suffix.go interpret() returns int32(strconv.ParseInt(exp)), so
// "1e4294967299" is 10^3 to the apiserver and kubelet, and the apiserver STORES it verbatim (fast
// path); quantity.ts finds it unreadable (|exponent| > MAX_EXPONENT) and refuses: fail closed.
import { describe, expect, it } from '@jest/globals';
import { parseQuantity, sameQuantity } from './quantity.ts';

/** The value as a reduced fraction string. */
function value(text: string): string | undefined {
  const q = parseQuantity(text);
  if (q === undefined) return undefined;
  const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
  const g = gcd(q.numerator < 0n ? -q.numerator : q.numerator, q.denominator) || 1n;
  const [n, d] = [q.numerator / g, q.denominator / g];
  return d === 1n ? String(n) : `${n}/${d}`;
}

// [what the author wrote, what the 1.34.4 apiserver stored (emptyDir.sizeLimit), its value to apimachinery]
const STORED: readonly [string, string, string][] = [
  ['+1', '+1', '1'],
  ['.5', '500m', '1/2'],
  ['5.', '5.', '5'],
  ['1E', '1E', '1000000000000000000'],
  ['1E+3', '1E+3', '1000'],
  ['1e-3', '1e-3', '1/1000'],
  ['2.68435456e8', '2.68435456e8', '268435456'],
  ['+268435456', '+268435456', '268435456'],
  ['0000268435456', '0000268435456', '268435456'],
  [' 256Mi', '256Mi', '268435456'], // JSON unmarshalling trims spaces before the webhook sees it
  ['256Mi ', '256Mi', '268435456'],
  ['1Ki ', '1Ki', '1024'],
  ['1.Gi', '1.Gi', '1073741824'],
  ['.25Gi', '256Mi', '268435456'],
  ['0.5Mi', '512Ki', '524288'],
  ['0.0000000001', '1n', '1/1000000000'], // rounded UP to nano units, then re-spelled
  ['268435455.9999999999', '268435456', '268435456'], // rounded up to exactly 256Mi: the webhook sees 256Mi
  ['9223372036854775808', '9223372036854775808', '9223372036854775808'],
  ['1e19', '10e18', '10000000000000000000'],
  ['1e64', '10e63', String(10n ** 64n)],
  ['1e65', '100e63', String(10n ** 65n)],
];

describe('quantity.ts reads what the apiserver stores as apimachinery does', () => {
  it.each(STORED)('%j is stored as %j, worth %s', (_written, stored, expected) => {
    expect(value(stored)).toBe(expected);
  });

  it('the forms of 256Mi the apiserver stores are all the injector\'s 256Mi, and no other value is', () => {
    for (const [, stored, expected] of STORED) expect(sameQuantity(stored, '256Mi')).toBe(expected === '268435456');
  });
});

describe('where apimachinery reads an exponent modulo 2^32, quantity.ts reads nothing (fail closed)', () => {
  // Stored verbatim by the 1.34.4 apiserver (probe: emptyDir.sizeLimit "1e4294967299" came back as written).
  it.each([
    ['1e4294967299', '1000'], // int32(4294967299) = 3
    ['1e4294967296', '1'], // int32(2^32) = 0
    ['2.68435456e4294967304', '268435456'], // 256Mi to the kubelet, and the apiserver keeps the text
  ])('%s (%s to the kubelet) is unreadable, so never the injector\'s value', (stored) => {
    expect(parseQuantity(stored)).toBeUndefined();
    expect(sameQuantity(stored, '256Mi')).toBe(false);
    expect(sameQuantity(stored, stored)).toBe(false);
  });
});

describe('spellings the apiserver refuses are unreadable here too', () => {
  it.each(['1e', '0x10', '256mi', '1K', '1.5e3k', '', '.', '+', 'Mi', '1 Mi', '1_000'])('%j', (text) => {
    expect(parseQuantity(text)).toBeUndefined();
  });
});
