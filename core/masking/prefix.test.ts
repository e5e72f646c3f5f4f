import { describe, expect, it } from '@jest/globals';
import { compileMasker } from './index.ts';
import { maskedPrefix, utf8Prefix } from './prefix.ts';

describe('maskedPrefix: a bounded prefix of maskText without masking the whole text', () => {
  const masker = compileMasker({ detectors: ['cpf', 'email'], style: 'redact' });
  const cpf = '529.982.247-25';

  it('is a prefix of maskText of the whole text, at every position of a CPF around the bound and the 16 KiB input chunks', () => {
    for (const bound of [1000, 16 * 1024, 20_000]) {
      for (const at of [bound - 30, bound - 14, bound - 5, bound, bound + 3, 16 * 1024 - 7, 16 * 1024 + 250, 16 * 1024 - 270]) {
        for (let d = 0; d < 16; d++) {
          const text = `${'x'.repeat(Math.max(0, at + d))} ${cpf} ${'y'.repeat(40_000)}`;
          const whole = masker.newSession().maskText(text);
          const got = maskedPrefix(masker.newSession(), text, bound, 4 * bound);
          expect(got.truncated).toBe(true);
          expect(whole.startsWith(got.text)).toBe(true);
          expect(Buffer.byteLength(got.text)).toBeLessThanOrEqual(bound);
          expect(/\d/.test(got.text)).toBe(false);
        }
      }
    }
  });

  it('a text within the bound is maskText of it (not truncated); past the input bound, what was emitted is kept', () => {
    const short = `a ${cpf} b`;
    expect(maskedPrefix(masker.newSession(), short, 1000, 4000)).toEqual({ text: masker.newSession().maskText(short), truncated: false });
    // Masking shortens addresses to a few characters: the input bound stops the work first.
    const addresses = Array.from({ length: 5000 }, (_, i) => `${'a'.repeat(60)}${i}@example.com`).join(' ');
    const got = maskedPrefix(masker.newSession(), addresses, 10_000, 40_000);
    expect(got.truncated).toBe(true);
    expect(masker.newSession().maskText(addresses).startsWith(got.text)).toBe(true);
    expect(got.text.length).toBeLessThan(10_000);
  });

  it('utf8Prefix never cuts a character or a surrogate pair', () => {
    for (const unit of ['é', '€', '😀']) {
      for (let bound = 1; bound < 12; bound++) {
        const text = `ab${unit.repeat(8)}`;
        const cut = utf8Prefix(text, bound);
        expect(text.startsWith(cut.text)).toBe(true);
        expect(Buffer.byteLength(cut.text)).toBeLessThanOrEqual(bound);
        expect(Buffer.byteLength(cut.text)).toBeGreaterThan(bound - Buffer.byteLength(unit));
        expect(cut.truncated).toBe(Buffer.byteLength(text) > bound);
      }
    }
  });
});
