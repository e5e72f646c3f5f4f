// Round 11b re-review (adversarial) of the NUL-interleaved (UTF-16) masking: docs/security-model.md,
// "Round 11 review: NUL-interleaved (UTF-16) text". Probes; the failing ones are findings.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from './index.ts';

const masker = compileMasker({});
const LINE = 'cliente cpf 590.830.166-33 email maria.souza@example.com\n';
const le = (t: string): Buffer => Buffer.from(t, 'utf16le');
const be = (t: string): Buffer => Buffer.from(t, 'utf16le').swap16();

describe('engine: NUL-interleaved text', () => {
  it('control: UTF-16LE and BE read as UTF-8 are masked', () => {
    for (const b of [le(LINE), be(LINE)]) {
      const out = masker.newSession().maskText(b.toString('utf8'));
      expect(out.replaceAll('\0', '')).not.toContain('590.830.166-33');
      expect(out.replaceAll('\0', '')).not.toContain('maria.souza@example.com');
    }
  });

  it('a stream of UTF-16LE cut at odd offsets (mid code unit), one byte at a time', () => {
    const text = le(`${'x'.repeat(3)} ${LINE}`).toString('utf8');
    for (const step of [1, 3, 7]) {
      const s = masker.newSession().textStream();
      let out = '';
      for (let i = 0; i < text.length; i += step) out += s.push(text.slice(i, i + step));
      out += s.end();
      expect(out.replaceAll('\0', '')).not.toContain('590.830.166-33');
    }
  });

  it('plain text, then UTF-16 text in one stream (the holdback doubles only once a NUL is in hand)', () => {
    const head = 'a'.repeat(300);
    const tail = le(`cpf 590.830.166-33 email maria.souza@example.com tail`).toString('utf8');
    for (const cut of [280, 290, 299, 300, 301, 310, 320, 330]) {
      const all = head + tail;
      const s = masker.newSession().textStream();
      const out = s.push(all.slice(0, cut)) + s.push(all.slice(cut)) + s.end();
      expect(out.replaceAll('\0', '')).not.toContain('590.830.166-33');
      expect(out.replaceAll('\0', '')).not.toContain('maria.souza@example.com');
    }
  });

  it('surrogate pairs before the identifier (an emoji in UTF-16LE is not UTF-8: U+FFFD read as a separator)', () => {
    const b = le('😀 cpf 590.830.166-33');
    const out = masker.newSession().maskText(new TextDecoder('utf-8').decode(b));
    expect(out.replaceAll('\0', '')).not.toContain('590.830.166-33');
  });
});
