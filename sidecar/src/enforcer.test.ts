import { describe, expect, it, jest } from '@jest/globals';
import { isoNow } from './enforcer.ts';

describe('isoNow (a record\'s time, kept for the millisecond it names)', () => {
  it('is new Date().toISOString() of the current millisecond, also across millisecond boundaries', () => {
    let changes = 0;
    let previous = '';
    for (let i = 0; i < 20_000 && changes < 5; i++) {
      const before = Date.now();
      const text = isoNow();
      const after = Date.now();
      const ms = Date.parse(text);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
      expect(text).toBe(new Date(ms).toISOString());
      if (text !== previous) changes++;
      previous = text;
    }
    expect(changes).toBeGreaterThan(1);
  });

  it('follows the clock when it moves back or jumps (a reused text is never another millisecond\'s)', () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 2, 3, 4, 5, 678) });
    try {
      expect(isoNow()).toBe('2026-01-02T03:04:05.678Z');
      jest.setSystemTime(Date.UTC(2025, 11, 31, 23, 59, 59, 999));
      expect(isoNow()).toBe('2025-12-31T23:59:59.999Z');
      jest.setSystemTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
      expect(isoNow()).toBe('2026-01-02T03:04:05.678Z');
      jest.setSystemTime(Date.UTC(2026, 0, 2, 3, 4, 5, 679));
      expect(isoNow()).toBe('2026-01-02T03:04:05.679Z');
    } finally {
      jest.useRealTimers();
    }
  });
});
