import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { CACHEABLE_SQL_LENGTH, TextCache, textDigest } from './text-cache.ts';

describe('TextCache', () => {
  it('keeps at most its capacity, whatever is inserted', () => {
    const cache = new TextCache<number>(8);
    for (let i = 0; i < 1000; i++) {
      cache.set(`k${i}`, i);
      expect(cache.size).toBeLessThanOrEqual(8);
    }
    expect(cache.get('k999')).toBe(999);
    expect(cache.get('k0')).toBeUndefined();
  });

  it('keeps what is used while newer entries push others out', () => {
    const cache = new TextCache<string>(8);
    cache.set('hot', 'h');
    for (let i = 0; i < 100; i++) {
      cache.set(`cold${i}`, 'c');
      expect(cache.get('hot')).toBe('h');
    }
    expect(cache.get('cold0')).toBeUndefined();
  });

  it('promotes a value found in the old generation, and a set replaces it there too', () => {
    const cache = new TextCache<number>(4);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3); // a, b now old
    expect(cache.get('a')).toBe(1); // promoted
    cache.set('b', 20);
    expect(cache.get('b')).toBe(20);
    expect(cache.size).toBeLessThanOrEqual(4);
  });

  it('does not keep texts beyond CACHEABLE_SQL_LENGTH', () => {
    const cache = new TextCache<number>(4);
    const long = 'x'.repeat(CACHEABLE_SQL_LENGTH + 1);
    cache.set(long, 1);
    expect(cache.get(long)).toBeUndefined();
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('textDigest is the SHA-256 of the text, whichever was asked last', () => {
    const sha = (t: string): string => createHash('sha256').update(t).digest('base64');
    const a = `SELECT 1 /* ${'a'.repeat(5000)} */`;
    const b = `SELECT 1 /* ${'a'.repeat(4999)}b */`;
    for (const t of [a, b, a, a, `${a.slice(0, -1)}/`, b]) expect(textDigest(t)).toBe(sha(t));
    // Equal content in another string is the same text.
    expect(textDigest(a.split('').join(''))).toBe(sha(a));
  });
});
