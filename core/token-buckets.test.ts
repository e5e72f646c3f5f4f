// Token buckets: the burst, the refill with time, and the bound on keys.
import { describe, expect, it } from '@jest/globals';
import { TokenBuckets } from './token-buckets.ts';

describe('TokenBuckets', () => {
  it('allows the burst, then one per refill interval, per key', () => {
    const b = new TokenBuckets({ burst: 3, perMinute: 60 });
    const t = 1_000_000;
    expect([1, 2, 3, 4].map(() => b.take('a', t))).toEqual([true, true, true, false]);
    expect(b.take('b', t)).toBe(true);
    expect(b.waitMs('a', t)).toBe(1000);
    expect(b.take('a', t + 999)).toBe(false);
    expect(b.take('a', t + 2000)).toBe(true);
    // Never more than the burst, however long the pause.
    expect([1, 2, 3, 4].map(() => b.take('a', t + 3_600_000))).toEqual([true, true, true, false]);
  });

  it('stays bounded in keys: full buckets are forgotten first, a forgotten key starts full, never above', () => {
    const b = new TokenBuckets({ burst: 2, perMinute: 1 }, 100);
    const t = 5_000;
    for (let i = 0; i < 1000; i++) b.take(`conn-${i}`, t);
    expect(b.take('conn-999', t)).toBe(true);
    expect(b.take('conn-999', t)).toBe(false);
  });

  it('with no refill, an exhausted key stays exhausted', () => {
    const b = new TokenBuckets({ burst: 1, perMinute: 0 });
    expect(b.take('x', 0)).toBe(true);
    expect(b.take('x', 10 ** 12)).toBe(false);
    expect(b.waitMs('x', 0)).toBe(Number.POSITIVE_INFINITY);
  });
});
