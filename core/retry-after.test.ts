import { describe, expect, it } from '@jest/globals';
import { retryAfterSeconds } from './retry-after.ts';

describe('retryAfterSeconds', () => {
  it('reads delta-seconds, spaces around them allowed', () => {
    expect(retryAfterSeconds('0')).toBe(0);
    expect(retryAfterSeconds(' 2 ')).toBe(2);
    expect(retryAfterSeconds('9'.repeat(400))).toBe(Number.POSITIVE_INFINITY);
  });

  it('anything else is not a number of seconds', () => {
    for (const value of [undefined, '', 'soon', '3abc', '-1', '1.5', 'Wed, 21 Oct 2026 07:28:00 GMT']) expect(retryAfterSeconds(value)).toBeUndefined();
  });
});
