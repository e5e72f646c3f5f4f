// Round 5 review: invisible characters inside identifiers. A reader sees `529.982.247-25` while the
// text holds a left-to-right mark, a word joiner, a variation selector, a tag character or a
// private-use character between its digits; the decoded view dropped only zero-width spaces and
// joiners, U+2060, U+FEFF and the soft hyphen, so every other invisible character hid the
// identifier from every target (PostgreSQL cells, HTTP bodies, Kubernetes answers, SSH output).
// Attacked here in every position (before the first character, between every pair, after, several
// in a row), with fullwidth digits and look-alike separators, as themselves and as escapes, in
// text, JSON, cells and streams cut at every position, and through the byte pre-scan; look-alikes
// (versions, UUIDs, broken check digits) with the same characters stay as they are.
import { describe, expect, it } from '@jest/globals';
import { ATTACK_IDENTIFIERS as IDENTIFIERS, exposes, placements } from './corpus.ts';
import { compileMasker } from './index.ts';
import { INVISIBLE, mayStartInvisible } from './invisible.ts';

const masker = compileMasker({});
const session = () => masker.newSession();
const maskText = (t: string): string => session().maskText(t);

/** One of each invisible class the review listed, and the ends of each range. */
const INVISIBLES: readonly string[] = [
  '\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u2060', '\u2061', '\u2062', '\u2063', '\u2064', '\ufeff', '\u00ad', '\u034f',
  '\u180e', '\u180b', '\ufe00', '\ufe0f', '\u{e0100}', '\u{e01ef}', '\u{e0000}', '\u{e0001}', '\u{e0041}', '\u{e007f}',
  '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u061c', '\u3164', '\uffa0', '\u115f',
  '\u17b4', '\ufff9', '\ue000', '\uf8ff', '\u{f0000}', '\u{ffffd}', '\u{100000}', '\u{10fffd}', '\u{1bca0}', '\u{1d173}',
  // Control characters (round 6): a terminal, a browser or an editor prints none of them. ESC, the C1 CSI and the
  // backspace start or are more than a character to a terminal: terminal-attacks.test.ts.
  '\u0001', '\u0007', '\u000e', '\u001a', '\u001c', '\u001f', '\u007f', '\u0080', '\u0085', '\u009a', '\u009c', '\u009f',
];

const hex = (c: string): string => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase()}`;

describe('invisible characters inside identifiers are skipped, the identifier masked whole', () => {
  it.each(INVISIBLES.map((c) => [hex(c), c] as const))('%s in every position of every family, in text', (_name, inv) => {
    const leaks: string[] = [];
    for (const [value, kept] of IDENTIFIERS) {
      for (const form of placements(value, inv)) {
        const text = `Cliente: ${form} fim`;
        const out = maskText(text);
        // After a right-to-left override the reader sees the run reversed, and so is its mask written (what it keeps
        // reads in order on the screen, reversed in the text): bidi-attacks.test.ts checks it as shown.
        const keeps = inv === '\u202e' || out.replace(/[^\x20-\x7e]/g, '').includes(kept);
        if (exposes(out, value) || !out.includes('*') || !keeps) leaks.push(JSON.stringify(form));
      }
    }
    expect(leaks).toEqual([]);
  });

  it('mayStartInvisible (the fast tables\' hand-written test) agrees with the set on every code unit and every lead surrogate', () => {
    const wrong: string[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      if (mayStartInvisible(c) !== INVISIBLE.test(String.fromCharCode(c))) wrong.push(hex(String.fromCharCode(c)));
    }
    for (let h = 0xd800; h <= 0xdbff; h++) {
      let starts = false;
      for (let l = 0xdc00; l <= 0xdfff && !starts; l++) starts = INVISIBLE.test(String.fromCharCode(h, l));
      if (mayStartInvisible(h) !== starts) wrong.push(`lead ${h.toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  // A bidi control sets how what follows it is shown: a mask leaves it where it was (structure.ts, round 12d), the
  // other invisible characters go with the mask.
  const BIDI_CONTROL = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

  it('every code point the review listed, and each range end, between the groups of a CPF', () => {
    const ranges: [number, number][] = [[0x200b, 0x200f], [0x2060, 0x2064], [0xfe00, 0xfe0f], [0xe0100, 0xe01ef], [0xe0000, 0xe007f], [0x202a, 0x202e],
      [0x2066, 0x2069], [0xe000, 0xf8ff], [0xf0000, 0xffffd], [0x100000, 0x10fffd]];
    const singles = [0xfeff, 0x00ad, 0x034f, 0x180e];
    const leaks: string[] = [];
    for (const cp of [...singles, ...ranges.flatMap(([a, b]) => (b - a > 64 ? [a, a + 1, (a + b) >> 1, b - 1, b] : Array.from({ length: b - a + 1 }, (_, i) => a + i)))]) {
      const c = String.fromCodePoint(cp);
      const masked = BIDI_CONTROL.test(c) ? `CPF ***${c}.***${c}.***${c}-25` : 'CPF ***.***.***-25';
      if (maskText(`CPF 529${c}.982${c}.247${c}-25`) !== masked) leaks.push(hex(c));
    }
    expect(leaks).toEqual([]);
  });

  it('combined with fullwidth digits and look-alike separators, and mixed invisible classes in a row', () => {
    const out = maskText('CPF ５\u200e２\u2063９\u202f９\u{e0041}８\ufe0f２\u2011２\u2066４７\u2069\u2013２\ue123５ ok');
    // Only the check digits are left to read (the mask is rendered from the folded text: ASCII).
    expect(out.replace(/[^0-9０-９]/g, '')).toBe('25');
    expect(out).toMatch(/^CPF \*.*25 ok$/);
    const mixed = '\u200e\u2066\u{e0020}\ufe0f\u00ad';
    expect(maskText(`tel (11)${mixed} 9${mixed}1234${mixed}-5678`)).not.toMatch(/91234|1234-5678/);
    // The e-mail's mask is shorter than what it covers: the bidi controls it leaves follow it, in order.
    expect(maskText(`e-mail joao${mixed}@${mixed}exemplo${mixed}.com`)).toBe('e-mail j***@e***.com\u200e\u2066\u200e\u2066\u200e\u2066');
    expect(maskText(`tel (11)${mixed} 9${mixed}1234${mixed}-5678`)).toBe('tel (**)\u200e\u2066 *\u200e\u2066****\u200e\u2066-5678');
  });

  it('written as escapes a reader decodes (\\u, &#, &#x) the invisible characters are dropped too (bidi controls kept as written)', () => {
    expect(maskText('CPF 529\\u200e982\\u2063247\\ufe0f25 ok')).toBe('CPF ***\\u200e******25 ok');
    expect(maskText('CPF 529&#8206;982&#x2063;247&#xFEFF;25 ok')).toBe('CPF ***&#8206;******25 ok');
    expect(maskText('CPF 529\\u2063982\\u2063247\\ufe0f25 ok')).toBe('CPF *********25 ok');
    expect(maskText('CPF 529.982\\u202e.247-25 ok')).toBe('CPF ***.***\\u202e.***-25 ok');
  });

  it('in JSON values (as characters and as \\u escapes), keys, numbers beside them, cells and JSON cells', () => {
    const s = session();
    expect(s.maskJson({ nota: 'CPF 529\u200e.982\u2064.247\u{e0041}-25', lista: ['tel (11) 9\u2060\u202c1234-5678'] })).toEqual({ nota: 'CPF ***\u200e.***.***-25', lista: ['tel (**) *\u202c****-5678'] });
    expect(s.maskCell('observacao', '529\ufe0f.982\ufe0f.247\ufe0f-25')).toBe('***.***.***-25');
    expect(s.maskCell('observacao', '{"doc":"529\\u200e.982\\u2066.247\\u2069-25"}')).toBe('{"doc":"***\\u200e.***\\u2066.***\\u2069-25"}');
    const js = s.jsonStream();
    const doc = '{"a":"529\\u202a.982\\u202c.247\\uDB40\\uDC41-25","b":"ok"}';
    let out = '';
    for (const ch of doc) out += js.push(ch);
    out += js.end();
    expect(JSON.parse(out)).toEqual({ a: '***\u202a.***\u202c.***-25', b: 'ok' });
  });

  it('streams cut at every position give maskText of the whole', () => {
    const text = `${'a '.repeat(200)}CPF 5\u200e2\u{e0041}9.9\u20638\ue0002.247\ufe0f-25 e ${'b '.repeat(200)}(11)\u2066 91234\u2069-5678 fim`;
    const whole = maskText(text);
    expect(whole).not.toMatch(/91234|\.982/);
    for (let cut = 0; cut <= text.length; cut += 1) {
      const st = session().textStream();
      const out = st.push(text.slice(0, cut)) + st.push(text.slice(cut)) + st.end();
      if (out !== whole) throw new Error(`cut at ${cut}: ${JSON.stringify(out)}`);
    }
    const st = session().textStream();
    let one = '';
    for (const ch of text) one += st.push(ch);
    expect(one + st.end()).toBe(whole);
  });

  it('the byte pre-scan never lets such a text or cell pass as "no candidate"', () => {
    const s = session();
    for (const inv of INVISIBLES) {
      const forms = IDENTIFIERS.flatMap(([value]) => placements(value, inv).slice(0, 4)).filter((form) => s.maskText(form) !== form);
      expect(forms.length).toBeGreaterThan(IDENTIFIERS.length);
      for (const form of forms) {
        const bytes = Buffer.from(form, 'utf8');
        expect([form, s.textMayChange(bytes), s.cellMayChange('x', bytes)]).toEqual([form, true, true]);
      }
      const fw = `５${inv}２${inv}９.９８２.２４７-２５`;
      expect([hex(inv), s.textMayChange(Buffer.from(fw, 'utf8'))]).toEqual([hex(inv), true]);
    }
  });
});

describe('look-alikes with the same characters stay as they are', () => {
  it.each(INVISIBLES.map((c) => [hex(c), c] as const))('%s inside versions, UUIDs, dates without keywords, amounts and broken check digits', (_name, inv) => {
    const samples = [
      `v1${inv}.2${inv}.3`, `release 2026${inv}.07${inv}.15`, `req 0b41a661-de77${inv}-2570-4002-f9475489c022`, `CPF 529${inv}.982.247-26`,
      `total R$ 1${inv}.234,56`, `cartão 4111 1111 1111 111${inv}2`, `pedido 12345${inv}6789`, `emoji 👍${inv}🏽 texto`,
    ];
    for (const t of samples) expect(maskText(t)).toBe(t);
  });

  it('text with invisible characters but no identifier comes back byte for byte (emoji sequences, bidi text, tags)', () => {
    const texts = ['❤️ obrigado 👨‍👩‍👧 🏴󠁧󠁢󠁳󠁣󠁴󠁿', '\u202bשלום\u202c and \u2067مرحبا\u2069', 'a\u00adb\u200bc\ue000d'];
    for (const t of texts) expect(maskText(t)).toBe(t);
  });
});
