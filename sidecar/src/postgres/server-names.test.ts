import { describe, expect, it } from '@jest/globals';
import { serverKey, ServerNames, SERVER_NAME_BYTES } from './server-names.ts';

describe('names as the server keys them (first 63 bytes)', () => {
  const long = 'p'.repeat(70);
  const prefix = 'p'.repeat(SERVER_NAME_BYTES);

  it('keys a name by its first 63 UTF-8 bytes, short and ASCII names as themselves', () => {
    expect(serverKey('s1')).toBe('s1');
    expect(serverKey('')).toBe('');
    expect(serverKey(long)).toBe(serverKey(prefix));
    expect(serverKey(`${prefix}x`)).toBe(serverKey(`${prefix}y`));
    expect(serverKey(`${'p'.repeat(62)}x`)).not.toBe(serverKey(`${'p'.repeat(62)}y`));
    // A multi-byte character across byte 63 is cut as the server's strlcpy cuts it (bytes, not characters).
    expect(serverKey(`${'p'.repeat(62)}éa`)).toBe(serverKey(`${'p'.repeat(62)}éb`));
    expect(serverKey(`${'p'.repeat(62)}é`)).toBe(serverKey(`${'p'.repeat(62)}è`));
  });

  it('never takes two names the server keeps apart for one (keys are one-to-one with the bytes)', () => {
    // "é" is C3 A9 in UTF-8; "Ã©" (U+00C3 U+00A9) is other bytes and another statement to the server.
    expect(serverKey('é')).not.toBe(serverKey('Ã©'));
    expect(serverKey('\u0001')).not.toBe(serverKey('\u0101'));
    expect(serverKey('a\u0000')).not.toBe(serverKey('a'));
  });

  it('finds a filed statement under any name the server takes for it', () => {
    const names = new ServerNames<{ name: string }>();
    names.set(long, { name: long });
    expect(names.get(prefix)?.name).toBe(long);
    expect(names.has(`${prefix}zz`)).toBe(true);
    names.set(`${prefix}alias`, { name: 'alias' });
    expect(names.size).toBe(1);
    expect(names.get(long)?.name).toBe('alias');
    names.delete(prefix);
    expect(names.size).toBe(0);
  });
});
