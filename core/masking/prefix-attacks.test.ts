// Issue 19 round 4 review: a command record past 64 KiB keeps a masked prefix (prefix.ts) instead of
// masking the whole text. Attacked with every way an identifier can straddle a place where masking
// stops or is cut: the output bound, the input bound, and (the break found) the 16 KiB chunks the
// first version fed a stream masker, which misses escaped candidates longer than its 264-character
// holdback (README "Streams"): a \u-, %- or &#-escaped e-mail address across a chunk boundary was
// recorded as is. The record must always be a prefix of maskText of the whole text.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from './index.ts';
import { maskedPrefix } from './prefix.ts';

const escapeU = (s: string): string => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
const escapePct = (s: string): string => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
const escapeHtml = (s: string): string => [...s].map((c) => `&#${c.charCodeAt(0)};`).join('');
const zeroWidth = (s: string): string => [...s].join('\u200b');

const EMAIL = 'maria.aparecida.dos.santos.oliveira@exemplo.com.br';
const CPF = '529.982.247-25';
const CNPJ = '11.222.333/0001-81';

/** Identifier forms the masker detects, with a fragment of each that must never reach a record. */
const FORMS: readonly (readonly [string, string, string])[] = [
  ['e-mail, \\u-escaped', escapeU(EMAIL), escapeU('maria.apa')],
  ['e-mail, percent-encoded', escapePct(EMAIL), escapePct('maria.apa')],
  ['e-mail, HTML references', escapeHtml(EMAIL), escapeHtml('maria.apa')],
  ['e-mail, long plain address', `${'a'.repeat(30)}.${'b'.repeat(30)}@${'c'.repeat(60)}.example.com.br`, 'a'.repeat(12)],
  ['CPF, \\u-escaped', escapeU(CPF), escapeU('529.982')],
  ['CPF, zero-width spaces', zeroWidth(CPF), zeroWidth('529.982')],
  ['CPF, HTML references', escapeHtml(CPF), escapeHtml('529.982')],
  ['CNPJ, plain', CNPJ, '11.222.333'],
];

describe('maskedPrefix is a prefix of maskText of the whole text, wherever an identifier falls', () => {
  for (const style of ['redact', 'partial'] as const) {
    const masker = compileMasker({ detectors: ['cpf', 'cnpj', 'email', 'phone'], style });
    it.each(FORMS.map(([what, id, fragment]) => [what, id, fragment] as const))(`${style}: %s across the 16 KiB marks, the output bound and the input bound`, (_what, id, fragment) => {
      const bound = 65_536;
      const inputBound = 4 * bound;
      const marks = [16_384, 32_768, 49_152, bound, inputBound];
      for (const mark of marks) {
        for (let off = -id.length - 12; off <= 12; off += Math.max(1, Math.floor(id.length / 9))) {
          const text = `SELECT E'${'x'.repeat(Math.max(0, mark + off - 9))} ${id} ${'y'.repeat(mark === inputBound ? 1000 : 80_000)}'`;
          const whole = masker.newSession().maskText(text);
          expect(whole.includes(fragment)).toBe(false);
          const got = maskedPrefix(masker.newSession(), text, bound, inputBound);
          expect(Buffer.byteLength(got.text)).toBeLessThanOrEqual(bound);
          expect(got.text.includes(fragment)).toBe(false);
          expect(whole.startsWith(got.text)).toBe(true);
        }
      }
    });
  }

  it('a text longer than the input bound, dense with escaped addresses around the bound: nothing of one in the record', () => {
    const masker = compileMasker({ detectors: ['email'], style: 'redact' });
    const unit = `${escapeU(EMAIL)} `;
    for (let shift = 0; shift < unit.length; shift += 37) {
      const text = `${'z'.repeat(shift)}${unit.repeat(Math.ceil(300_000 / unit.length))}`;
      const got = maskedPrefix(masker.newSession(), text, 65_536, 262_144);
      expect(got.truncated).toBe(true);
      expect(got.text.includes('\\u')).toBe(false);
      expect(masker.newSession().maskText(text).startsWith(got.text)).toBe(true);
    }
  });
});
