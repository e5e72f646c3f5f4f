import { describe, expect, it } from '@jest/globals';
import { backoff, backoffCeiling } from './backoff.ts';

describe('backoff (full jitter)', () => {
  const opts = { baseMs: 100, capMs: 10_000 };

  it('draws from the whole window [0, min(cap, base * 2 ** attempt)]', () => {
    // random() = 0 waits nothing: full jitter, not equal jitter (which never waits less than half).
    expect(backoff(0, { ...opts, random: () => 0 })).toBe(0);
    expect(backoff(3, { ...opts, random: () => 0 })).toBe(0);
    expect(backoff(3, { ...opts, random: () => 0.25 })).toBe(200);
    expect(backoff(3, { ...opts, random: () => 0.5 })).toBe(400);
    expect(backoff(3, { ...opts, random: () => 0.999_999 })).toBe(800);
    expect(backoff(3, { ...opts, random: () => 1 })).toBe(800);
  });

  it('grows by doubling from base and stops at cap', () => {
    const top = (a: number): number => backoff(a, { ...opts, random: () => 1 });
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map(top)).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    expect(backoffCeiling(1_000_000, opts)).toBe(10_000);
    expect(backoff(1_000_000, { ...opts, random: () => 0.5 })).toBe(5000);
  });

  it('spreads the draws uniformly over the window (a seeded source)', () => {
    let seed = 42;
    // mulberry32: a deterministic source, so the histogram below is the same on every run.
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const buckets = [0, 0, 0, 0];
    const n = 40_000;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const d = backoff(2, { ...opts, random });
      lo = Math.min(lo, d);
      hi = Math.max(hi, d);
      const q = Math.min(3, Math.floor(d / 100));
      buckets[q] = (buckets[q] ?? 0) + 1;
    }
    expect(lo).toBe(0);
    expect(hi).toBe(400);
    // Equal jitter would leave the lower half empty; full jitter fills each quarter with ~25%.
    for (const b of buckets) expect(Math.abs(b / n - 0.25)).toBeLessThan(0.02);
  });

  it('refuses bad input naming the field and the fix', () => {
    expect(() => backoff(-1, opts)).toThrow(/attempt is -1; it must be a whole number >= 0/);
    expect(() => backoff(1.5, opts)).toThrow(/attempt is 1.5/);
    expect(() => backoff(0, { baseMs: 0, capMs: 10 })).toThrow(/baseMs is 0; it must be a finite number of milliseconds > 0/);
    expect(() => backoff(0, { baseMs: 100, capMs: -1 })).toThrow(/capMs is -1; it must be a finite number of milliseconds >= 0/);
    expect(backoff(5, { baseMs: 100, capMs: 50, random: () => 1 })).toBe(50);
    expect(() => backoff(0, { baseMs: 100, capMs: Number.POSITIVE_INFINITY })).toThrow(/capMs is Infinity/);
    expect(() => backoff(0, { ...opts, random: () => Number.NaN })).toThrow(/random\(\) returned NaN/);
    expect(() => backoff(0, { ...opts, random: () => 2 })).toThrow(/random\(\) returned 2/);
  });
});
