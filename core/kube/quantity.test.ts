// Exact Kubernetes quantities: every spelling the apiserver accepts or writes back reads to the
// same value, and anything else is unreadable (never equal).
import { describe, expect, it } from '@jest/globals';
import { MAX_EXPONENT, MAX_QUANTITY_LENGTH, parseQuantity, sameQuantity } from './quantity.ts';

/** The value as a reduced fraction string, for readable expectations. */
function value(text: string): string | undefined {
  const q = parseQuantity(text);
  if (q === undefined) return undefined;
  const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
  const g = gcd(q.numerator < 0n ? -q.numerator : q.numerator, q.denominator) || 1n;
  const [n, d] = [q.numerator / g, q.denominator / g];
  return d === 1n ? String(n) : `${n}/${d}`;
}

describe('parseQuantity: the apimachinery grammar, exactly', () => {
  it.each([
    ['0', '0'], ['1', '1'], ['007', '7'], ['+5', '5'], ['-5', '-5'], ['-0', '0'],
    ['0.5', '1/2'], ['.5', '1/2'], ['1.', '1'], ['1.25', '5/4'], ['0.1', '1/10'],
    ['1n', '1/1000000000'], ['1u', '1/1000000'], ['500m', '1/2'], ['50m', '1/20'], ['1k', '1000'],
    ['1M', '1000000'], ['1G', '1000000000'], ['1T', '1000000000000'], ['1P', '1000000000000000'], ['1E', '1000000000000000000'],
    ['1Ki', '1024'], ['1Mi', '1048576'], ['256Mi', '268435456'], ['1Gi', '1073741824'], ['1.5Gi', '1610612736'],
    ['1Ti', String(1024n ** 4n)], ['1Pi', String(1024n ** 5n)], ['1Ei', String(1024n ** 6n)], ['0.5Ki', '512'],
    ['1e3', '1000'], ['1E3', '1000'], ['1e+3', '1000'], ['1e-3', '1/1000'], ['1.5e3', '1500'], ['12e6', '12000000'], ['1e0', '1'],
    ['-1.5Gi', '-1610612736'], ['9223372036854775807', '9223372036854775807'],
  ])('%s is %s', (text, expected) => {
    expect(value(text)).toBe(expected);
  });

  it.each([
    '', '.', '+', '-', 'Mi', 'm', '1 Mi', ' 1', '1 ', '1mi', '1MI', '1KI', '1K', '1ki', '1i', '1e', '1E+', '1e3.5', '1e3Mi', '1Mi3',
    '1..5', '1.5.5', '++1', '--1', '0x10', '1_000', '1,5', 'NaN', 'Infinity', '１', '1٢', '1\n', '1Mii', '1Gb', '1b', '1mm',
  ])('%j is not a quantity', (text) => {
    expect(parseQuantity(text)).toBeUndefined();
  });

  it('bounds the input length and the exponent (no huge BigInt from a pod\'s field)', () => {
    expect(parseQuantity('1'.repeat(MAX_QUANTITY_LENGTH))).toBeDefined();
    expect(parseQuantity('1'.repeat(MAX_QUANTITY_LENGTH + 1))).toBeUndefined();
    expect(parseQuantity(`1e${MAX_EXPONENT}`)).toBeDefined();
    expect(parseQuantity(`1e-${MAX_EXPONENT}`)).toBeDefined();
    expect(parseQuantity(`1e${MAX_EXPONENT + 1}`)).toBeUndefined();
    expect(parseQuantity('1e999999999')).toBeUndefined();
    expect(parseQuantity('1e-999999999')).toBeUndefined();
  });
});

describe('sameQuantity: the canonical forms the apiserver writes back', () => {
  it.each([
    ['0.5', '500m'], ['268435456', '256Mi'], ['1.5Gi', '1536Mi'], ['1e3', '1k'], ['1E3', '1k'], ['1E', '1000P'],
    ['0.05', '50m'], ['64Mi', '67108864'], ['256Mi', '0.25Gi'], ['1024Ki', '1Mi'], ['1000m', '1'], ['0', '0m'], ['0', '-0'],
    ['1e-9', '1n'], ['+1', '1'], ['.5', '0.5'], ['1.', '1'], ['100M', '1e8'], ['2Gi', '2147483648'],
  ])('%s equals %s', (a, b) => {
    expect(sameQuantity(a, b)).toBe(true);
    expect(sameQuantity(b, a)).toBe(true);
  });

  it.each([
    ['1E', '1E3'], ['256Mi', '256M'], ['4Mi', '256Mi'], ['1Ki', '1k'], ['500m', '5'], ['1m', '1M'], ['1', '-1'],
    ['268435456', '268435457'], ['1n', '1u'], ['0.1', '0.10000000001'],
  ])('%s differs from %s', (a, b) => {
    expect(sameQuantity(a, b)).toBe(false);
  });

  it('is never true for an unreadable or absent quantity, even on both sides', () => {
    expect(sameQuantity('1K', '1K')).toBe(false);
    expect(sameQuantity('bad', 'bad')).toBe(false);
    expect(sameQuantity(undefined, undefined)).toBe(false);
    expect(sameQuantity(256, '256')).toBe(false);
    expect(sameQuantity('256', 256)).toBe(false);
    expect(sameQuantity(null, '0')).toBe(false);
    expect(sameQuantity({}, '0')).toBe(false);
  });
});
