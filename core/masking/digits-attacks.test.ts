// Round 5 review: identifiers printed in other scripts' decimal digits. A CPF in Arabic-Indic
// (٥٢٩.٩٨٢.٢٤٧-٢٥), Extended Arabic-Indic, Devanagari, Bengali, Thai... or Mathematical bold digits
// (𝟓𝟐𝟗...) reads as the number it is (to a person, and to int() in Python or Character.digit in
// Java) and passed every target unmasked; the byte pre-scan let such a cell through as "no
// candidate" (no ASCII digit). digits.ts folds them into ASCII digits; this attacks it with every
// run of ten Unicode has in the BMP, every Mathematical style, mixed scripts, invisible characters
// between them, JSON, cells, streams cut at every position and the pre-scan.
import { describe, expect, it } from '@jest/globals';
import { DIGIT_RUNS, SUPPLEMENTARY_DIGIT_RUNS } from './digits.ts';
import { compileMasker } from './index.ts';

const masker = compileMasker({});
const maskText = (t: string): string => masker.newSession().maskText(t);
const inRun = (zero: number) => (t: string): string => t.replace(/[0-9]/g, (d) => String.fromCodePoint(zero + Number(d)));
// Every supplementary run (Mathematical, Segmented, Adlam, Osmanya...: round 12 review, finding 2).
const SUPPLEMENTARY_ZEROS = SUPPLEMENTARY_DIGIT_RUNS;

const IDENTIFIERS: readonly (readonly [string, string])[] = [
  ['CPF 529.982.247-25 ok', 'CPF ***.***.***-25 ok'],
  ['doc 52998224725 ok', 'doc *********25 ok'],
  ['CNPJ 11.222.333/0001-81 ok', 'CNPJ **.***.***/****-81 ok'],
  ['tel (11) 91234-5678 ok', 'tel (**) *****-5678 ok'],
  ['cartão 4111 1111 1111 1111 ok', 'cartão **** **** **** 1111 ok'],
];

describe('other scripts\' decimal digits are read as the ASCII digits they are', () => {
  it('DIGIT_RUNS is every run of Unicode Nd in the BMP but ASCII and fullwidth', () => {
    const zeros: number[] = [];
    for (let c = 0x80; c < 0x10000; c++) if (/\p{Nd}/u.test(String.fromCharCode(c)) && !/\p{Nd}/u.test(String.fromCharCode(c - 1))) zeros.push(c);
    expect(DIGIT_RUNS).toEqual(zeros.filter((z) => z !== 0xff10));
  });

  it('SUPPLEMENTARY_DIGIT_RUNS is every run of Unicode Nd outside the BMP (round 12 review, finding 2)', () => {
    const zeros: number[] = [];
    for (let c = 0x10000; c <= 0x10ffff; c++) if (/\p{Nd}/u.test(String.fromCodePoint(c)) && !/\p{Nd}/u.test(String.fromCodePoint(c - 1))) zeros.push(c);
    // Runs that touch (the Mathematical styles) are split every ten.
    const runs = zeros.flatMap((z) => {
      const out: number[] = [];
      for (let c = z; /\p{Nd}/u.test(String.fromCodePoint(c)); c += 10) out.push(c);
      return out;
    });
    expect(SUPPLEMENTARY_DIGIT_RUNS).toEqual(runs);
  });

  it.each([...DIGIT_RUNS, ...SUPPLEMENTARY_ZEROS].map((z) => [z.toString(16), z] as const))('digits from U+%s: every family masked, the check digits kept as ASCII', (_name, zero) => {
    const write = inRun(zero);
    for (const [text, masked] of IDENTIFIERS) {
      const input = text.replace(/[0-9][0-9 ./()-]*[0-9]/, (m) => write(m));
      expect([input, maskText(input)]).toEqual([input, masked]);
      expect([input, masker.newSession().textMayChange(Buffer.from(input, 'utf8'))]).toEqual([input, true]);
    }
  });

  it('mixed scripts, with invisible characters and look-alike separators between them, in JSON, cells and streams', () => {
    const mixed = `CPF ${inRun(0x660)('529')}\u200e.${inRun(0x966)('98')}2\u2013${inRun(0x1d7ce)('247')}\u00a0${inRun(0xe50)('25')} fim`;
    expect(maskText(mixed).replace(/[^0-9]/g, '')).toBe('25');
    const s = masker.newSession();
    expect(s.maskJson({ a: mixed })).toEqual({ a: maskText(mixed) });
    expect(s.maskCell('obs', mixed)).toBe(maskText(mixed));
    const text = `${'a '.repeat(300)}${mixed}${' b'.repeat(300)}`;
    const whole = maskText(text);
    for (let cut = 0; cut <= text.length; cut += 7) {
      const st = masker.newSession().textStream();
      expect(st.push(text.slice(0, cut)) + st.push(text.slice(cut)) + st.end()).toBe(whole);
    }
  });

  it('look-alikes stay as they are: broken check digits, versions, amounts, plain numbers in text', () => {
    for (const zero of [0x660, 0x6f0, 0x966, 0xe50, 0x1d7ce]) {
      const write = inRun(zero);
      for (const t of [`CPF ${write('529.982.247-26')}`, `v${write('1.2.3')}`, `total ${write('1.234,56')}`, `pedido ${write('4711')} de ${write('2026')}`]) expect(maskText(t)).toBe(t);
    }
  });

  it('the pre-scan still says no for text without any digit, accented or not, and yes for one digit of any script', () => {
    const s = masker.newSession();
    for (const t of ['sem números aqui, ação é ótima', 'مرحبا بالعالم', 'नमस्ते दुनिया', '𝐀𝐁𝐂 bold letters', '\u{1d7cd}']) expect([t, s.textMayChange(Buffer.from(t, 'utf8'))]).toEqual([t, false]);
    for (const z of [...DIGIT_RUNS, ...SUPPLEMENTARY_ZEROS]) for (let d = 0; d < 10; d++) expect(s.textMayChange(Buffer.from(`x${String.fromCodePoint(z + d)}`, 'utf8'))).toBe(true);
    // A sequence cut by the end of the range is not read past it.
    const three = Buffer.from('\u0966', 'utf8');
    expect(s.textMayChange(three, 0, 2)).toBe(false);
  });
});
