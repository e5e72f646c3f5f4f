// Round 5 review: UTF-8 text under a label that is not UTF-8. An answer labelled latin1,
// windows-1252, iso-8859-*, koi8-r (any single-byte label), a double-byte one (Shift_JIS, GBK,
// Big5, EUC) or UTF-16, whose bytes are UTF-8 with an identifier printed with non-ASCII separators
// or digits (no-break spaces, U+202F, U+2011/U+2013 dashes, minus, fullwidth forms, Arabic-Indic or
// Mathematical digits, invisible characters), decoded to mojibake (`590Â 830Â 166Â 33`) no pattern matched, and went out unmasked.
// MaskingPipeline now reads the bytes as UTF-8 too (other-readings.ts) and refuses such a body;
// identifiers with ASCII separators are still masked in place, genuine latin1 (é as the byte 0xE9),
// koi8-r and Shift_JIS text is masked as before, and no mask or count is doubled. Every label alias,
// every separator class, bodies cut at every position and fed one byte at a time.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../../../core/masking/index.ts';
import type { Masker } from '../../../core/masking/types.ts';
import { MaskingPipeline, textDecoderFor } from './body.ts';

const masker = compileMasker({});

/** WHATWG labels of every single-byte encoding (several aliases each), the double-byte ones and UTF-16. */
const SINGLE_BYTE_LABELS = [
  'l1', 'ascii', 'us-ascii', 'latin1', 'iso-8859-1', 'iso8859-1', 'iso_8859-1', 'iso-ir-100', 'csisolatin1', 'ibm819', 'cp819', 'cp1252', 'x-cp1252', 'windows-1252',
  'ansi_x3.4-1968', 'l2', 'latin2', 'iso-8859-2', 'l3', 'iso-8859-3', 'l4', 'iso-8859-4', 'cyrillic', 'iso-8859-5', 'arabic', 'iso-8859-6', 'asmo-708',
  'greek', 'iso-8859-7', 'elot_928', 'hebrew', 'iso-8859-8', 'visual', 'iso-8859-8-i', 'logical', 'l6', 'iso-8859-10', 'iso-8859-13', 'iso-8859-14',
  'l9', 'iso-8859-15', 'iso-8859-16', 'koi8-r', 'koi', 'koi8', 'cskoi8r', 'koi8-u', 'koi8-ru', 'macintosh', 'mac', 'x-mac-roman', 'x-mac-cyrillic',
  'x-mac-ukrainian', 'ibm866', 'cp866', '866', 'dos-874', 'windows-874', 'tis-620', 'iso-8859-11', 'cp1250', 'windows-1250', 'x-cp1250', 'cp1251',
  'windows-1251', 'x-cp1251', 'cp1253', 'windows-1253', 'x-cp1253', 'cp1254', 'windows-1254', 'iso-8859-9', 'latin5', 'l5', 'cp1255', 'windows-1255',
  'cp1256', 'windows-1256', 'cp1257', 'windows-1257', 'cp1258', 'windows-1258',
];
const DOUBLE_BYTE_LABELS = ['shift_jis', 'sjis', 'windows-31j', 'euc-jp', 'euc-kr', 'ks_c_5601-1987', 'big5', 'big5-hkscs', 'gbk', 'gb2312', 'x-gbk', 'gb18030'];
const UTF16_LABELS = ['utf-16', 'utf-16le', 'utf-16be'];

/** UTF-8 bodies whose identifier only reads as one in UTF-8: every separator class, digits, invisible characters. */
const cpf = (sep: string): string => `590${sep}830${sep}166${sep}33`;
const HIDDEN: Record<string, string> = {
  'no-break space': `CPF ${cpf('\u00a0')} ok`,
  'narrow no-break space': `CPF ${cpf('\u202f')} ok`,
  'non-breaking hyphen': `CPF 590.830.166\u201133 ok`,
  'en dash': `CPF 590.830.166\u201333 ok`,
  'minus sign': `CPF 590.830.166\u221233 ok`,
  'thin space': `CPF ${cpf('\u2009')} ok`,
  'ideographic space': `CPF ${cpf('\u3000')} ok`,
  'fullwidth digits': 'CPF ５９０.８３０.１６６-３３ ok',
  'Arabic-Indic digits': 'CPF ٥٩٠.٨٣٠.١٦٦-٣٣ ok',
  'Mathematical bold digits': 'CPF 𝟓𝟗𝟎.𝟖𝟑𝟎.𝟏𝟔𝟔-𝟑𝟑 ok',
  'fullwidth dot and slash (CNPJ)': 'CNPJ 11．222．333／0001-81 ok',
  'left-to-right marks': `CPF ${cpf('\u200e')} ok`,
  'word joiners in a bare CPF': `doc ${[...'59083016633'].join('\u2060')} ok`,
  'no-break spaces in a phone': 'tel (11)\u00a091234\u20115678 ok',
  'fullwidth @': 'e-mail joao.silva＠exemplo.com.br ok',
  'CEP after its keyword, with an en dash': 'endereço: CEP 01310\u2013100 ok',
};

function run(label: string, body: Buffer, cuts: readonly number[] | 'bytes', m: Masker = masker): { out?: string; refused?: string; counts: Record<string, number> } {
  const decoder = textDecoderFor(label);
  if (typeof decoder === 'string') throw new Error(decoder);
  const session = m.newSession();
  const pipeline = new MaskingPipeline(session, 'text', decoder, 1 << 20);
  const pieces: Buffer[] = [];
  const points = cuts === 'bytes' ? Array.from({ length: body.length }, (_, i) => i + 1) : [...cuts, body.length];
  try {
    let from = 0;
    for (const cut of points) {
      pieces.push(pipeline.push(body.subarray(from, cut)));
      from = cut;
    }
    pieces.push(pipeline.end());
  } catch (err) {
    return { refused: (err as Error).message, counts: session.counts() };
  }
  return { out: Buffer.concat(pieces).toString('utf8'), counts: session.counts() };
}

/** Every way to cut the body in two, and one byte at a time. */
const chunkings = (body: Buffer): (readonly number[] | 'bytes')[] => [[], 'bytes', ...Array.from({ length: body.length - 1 }, (_, i) => [i + 1])];

describe('UTF-8 text under a single-byte label: refused when an identifier reads only as UTF-8', () => {
  it.each(SINGLE_BYTE_LABELS)('charset=%s: every separator class, cut anywhere, refused naming the charset', (label) => {
    const passed: string[] = [];
    for (const [what, text] of Object.entries(HIDDEN)) {
      const body = Buffer.from(text, 'utf8');
      for (const cuts of chunkings(body)) {
        const r = run(label, body, cuts);
        if (r.refused === undefined || !/labelled charset [\w-]+, but its bytes are also UTF-8 text/.test(r.refused)) passed.push(`${what} ${JSON.stringify(cuts)}: ${r.out ?? r.refused}`);
      }
    }
    expect(passed).toEqual([]);
  });

  it('the identifier far from the start, past the first non-ASCII byte, and cut exactly at it', () => {
    const bodies = [
      `${'a'.repeat(5000)} CPF ${cpf('\u00a0')} ${'b'.repeat(5000)}`,
      `${'x '.repeat(3000)}590\u00a0830\u00a0166\u00a033`,
      `José ${'y'.repeat(2000)} ${cpf('\u202f')}`,
      `${'z'.repeat(1100)}ção ${'w'.repeat(1100)} 590.830.166\u201333`,
    ].map((t) => Buffer.from(t, 'utf8'));
    for (const body of bodies) {
      const first = body.findIndex((b) => b >= 0x80);
      for (const at of [first - 1, first, first + 1, first + 2, body.length - 3]) expect(run('latin1', body, [at]).refused).toMatch(/windows-1252/);
      expect(run('latin1', body, 'bytes').refused).toMatch(/windows-1252/);
    }
  });

  it('as JSON: characters in strings are refused; \\u escapes (ASCII) are masked in place', () => {
    const json = (s: string): Buffer => Buffer.from(JSON.stringify({ cliente: 'Ana', nota: s }), 'utf8');
    const decoder = textDecoderFor('latin1');
    if (typeof decoder === 'string') throw new Error(decoder);
    const refused = new MaskingPipeline(masker.newSession(), 'json', decoder, 1 << 20);
    expect(() => Buffer.concat([refused.push(json(`CPF ${cpf('\u00a0')}`)), refused.end()])).toThrow(/windows-1252/);
    const escaped = Buffer.from(`{"nota":"CPF ${cpf('\\u00a0')} e ${cpf('\\u200e')}"}`, 'latin1');
    const session = masker.newSession();
    const masked = new MaskingPipeline(session, 'json', textDecoderFor('latin1') as never, 1 << 20);
    const out = Buffer.concat([masked.push(escaped), masked.end()]).toString('utf8');
    expect(out).not.toMatch(/590|830|166/);
    expect(session.counts()).toEqual({ cpf: 2 });
  });
});

describe('what keeps working under single-byte labels', () => {
  it('a JSON value masked whole by its name rule is not refused for what the text reading of it would find', () => {
    const body = Buffer.from(JSON.stringify({ nome: 'José', cpf: `590\u00a0830\u00a0166\u00a033`, email: 'joão＠exemplo.com' }), 'utf8');
    for (const cuts of chunkings(body)) {
      const decoder = textDecoderFor('latin1');
      if (typeof decoder === 'string') throw new Error(decoder);
      const session = masker.newSession();
      const pipeline = new MaskingPipeline(session, 'json', decoder, 1 << 20);
      const from = Array.isArray(cuts) ? (cuts[0] ?? body.length) : 1;
      const out = Buffer.concat([pipeline.push(body.subarray(0, from)), pipeline.push(body.subarray(from)), pipeline.end()]).toString('utf8');
      expect(out).not.toMatch(/590|830|166|jo/);
      expect(session.counts()).toEqual({ cpf: 1, email: 1 });
    }
  });

  it.each(SINGLE_BYTE_LABELS)('charset=%s: UTF-8 text with ASCII separators is masked in place, counted once, cut anywhere', (label) => {
    const body = Buffer.from('José, Atenção: CPF 590.830.166-33, tel (11) 91234-5678, joao@exemplo.com ✓', 'utf8');
    for (const cuts of chunkings(body)) {
      const r = run(label, body, cuts);
      expect({ cuts, refused: r.refused }).toEqual({ cuts, refused: undefined });
      expect(r.out).toContain('***.***.***-33');
      expect(r.out).not.toMatch(/590|91234|joao@/);
      expect(r.counts).toEqual({ cpf: 1, phone: 1, email: 1 });
    }
  });

  it('genuine latin1 (é as 0xE9, no-break spaces as 0xA0) is masked as before, also its no-break-space CPF', () => {
    const body = Buffer.from(`José Conceição, CPF ${cpf('\u00a0')}, outro 590.830.166-33, R$\u00a01.234,56 ©`, 'latin1');
    for (const label of ['latin1', 'iso-8859-1', 'windows-1252', 'l1', 'cp1252', 'iso-8859-15']) {
      for (const cuts of chunkings(body)) {
        const r = run(label, body, cuts);
        // The mask is rendered from the folded text (fold.ts): the no-break spaces inside it are spaces.
        expect(r.out).toBe('José Conceição, CPF *** *** *** 33, outro ***.***.***-33, R$\u00a01.234,56 ©');
        expect(r.counts).toEqual({ cpf: 2 });
      }
    }
  });

  it('genuine koi8-r, windows-1251, iso-8859-8 and Shift_JIS text with identifiers is masked, not refused', () => {
    const koi8 = Buffer.concat([Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4]), Buffer.from(' CPF 590.830.166-33 ', 'latin1'), Buffer.from([0xcd, 0xc9, 0xd2])]);
    const cp1251 = Buffer.concat([Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2, 0xa0]), Buffer.from('590.830.166-33', 'latin1')]);
    const hebrew = Buffer.concat([Buffer.from([0xf9, 0xec, 0xe5, 0xed, 0x20]), Buffer.from('tel (11) 91234-5678', 'latin1')]);
    // Shift_JIS: 顧客 (8C DA 8B 71), then a CPF in fullwidth digits (82 4F..82 58) with ASCII dots and dash.
    const fw = (d: string): number[] => [...d].flatMap((c) => (c >= '0' && c <= '9' ? [0x82, 0x4f + Number(c)] : [c.charCodeAt(0)]));
    const sjis = Buffer.from([0x8c, 0xda, 0x8b, 0x71, 0x20, ...fw('590.830.166-33'), 0x20, ...Buffer.from('e 590.830.166-33', 'latin1')]);
    for (const [label, body] of [['koi8-r', koi8], ['windows-1251', cp1251], ['iso-8859-8', hebrew], ['shift_jis', sjis]] as const) {
      for (const cuts of chunkings(body)) {
        const r = run(label, body, cuts);
        expect({ label, cuts, refused: r.refused }).toEqual({ label, cuts, refused: undefined });
        expect(r.out).not.toMatch(/590|91234|５９０/);
      }
    }
  });

  it('a surrogate or hash style (masks that are valid identifiers, or all digits) and custom patterns are not read back as identifiers', () => {
    const key = Buffer.alloc(32, 7);
    const body = Buffer.from('José CPF 590.830.166-33 pedido-4711 ok', 'utf8');
    for (const m of [compileMasker({ style: 'surrogate' }, { hashKey: key }), compileMasker({ style: 'hash' }, { hashKey: key }),
      compileMasker({ customPatterns: [{ name: 'pedido', pattern: '(?i)pedido-[0-9]+' }, { name: 'sigla', pattern: '[A-Z]{3}' }] })]) {
      for (const cuts of chunkings(body)) {
        const r = run('latin1', body, cuts, m);
        expect({ cuts, refused: r.refused }).toEqual({ cuts, refused: undefined });
        expect(r.out).not.toContain('590.830.166-33');
      }
    }
  });
});

describe('double-byte labels', () => {
  it.each(DOUBLE_BYTE_LABELS)('charset=%s: UTF-8 separators and digits the decoder swallows or rejects are refused, cut anywhere', (label) => {
    const passed: string[] = [];
    for (const [what, text] of Object.entries(HIDDEN)) {
      const body = Buffer.from(text, 'utf8');
      for (const cuts of [[], 'bytes', [5], [8], [9], [10], [body.length - 4]] as const) {
        const r = run(label, body, cuts);
        if (r.refused === undefined) passed.push(`${what} ${JSON.stringify(cuts)}: ${r.out}`);
        // The GBK decoder of Node throws on some one-byte chunks itself: refused all the same.
      }
    }
    expect(passed).toEqual([]);
  });
});

describe('UTF-16 labels: the bytes read as UTF-8 are checked as well as read as ASCII', () => {
  it.each(UTF16_LABELS)('charset=%s: UTF-8 no-break spaces, dashes and fullwidth digits are refused', (label) => {
    for (const text of Object.values(HIDDEN)) {
      const body = Buffer.from(`${text} `, 'utf8');
      for (const cuts of [[], 'bytes', [7]] as const) expect(run(label, body, cuts).refused).toMatch(/read as ASCII or UTF-8 carry identifiers/);
    }
  });

  it('genuine UTF-16 text with those separators is masked, not refused', () => {
    const text = `Cliente: CPF ${cpf('\u00a0')}, ５９０.８３０.１６６-３３ e 590.830.166\u201333 ok`;
    for (const [label, body] of [['utf-16le', Buffer.from(text, 'utf16le')], ['utf-16be', Buffer.from(text, 'utf16le').swap16()]] as const) {
      for (const cuts of [[], 'bytes', [3], [11]] as const) {
        const r = run(label, body, cuts);
        expect(r.refused).toBeUndefined();
        expect(r.counts).toEqual({ cpf: 3 });
      }
    }
  });
});

describe('the reverse: latin1 bytes under a UTF-8 label (or none) are also read as windows-1252', () => {
  const latin1 = (t: string): Buffer => Buffer.from(t, 'latin1');
  const cp1252 = (t: string): Buffer => Buffer.from([...t].map((c) => (c === '\u2013' ? 0x96 : c === '\u2014' ? 0x97 : c.charCodeAt(0))));
  const HIDDEN_LATIN1: Record<string, Buffer> = {
    'no-break space 0xA0': latin1(`Atenção: CPF ${cpf('\u00a0')} ok`),
    'en dash 0x96': cp1252('José CPF 590.830.166\u201333 ok'),
    'middle dot 0xB7': latin1('CPF 590\u00b7830\u00b7166-33 ok'),
    'soft hyphen 0xAD': latin1(`doc ${[...'59083016633'].join('\u00ad')} ok`),
    'no-break spaces in a phone': latin1('tel (11)\u00a091234-5678 ok'),
  };

  it.each(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'UTF-8'])('charset=%s: refused naming why, cut anywhere', (label) => {
    const passed: string[] = [];
    for (const [what, body] of Object.entries(HIDDEN_LATIN1)) {
      for (const cuts of chunkings(body)) {
        const r = run(label.toLowerCase(), body, cuts);
        if (r.refused === undefined || !/labelled UTF-8 but is not valid UTF-8.*windows-1252/.test(r.refused)) passed.push(`${what} ${JSON.stringify(cuts)}: ${r.out ?? r.refused}`);
      }
    }
    expect(passed).toEqual([]);
  });

  it('far into a long body, the first rejected byte inside the identifier', () => {
    const prefix = Buffer.from(`${'ação '.repeat(2000)}CPF 590`, 'utf8');
    const body = Buffer.concat([prefix, latin1(`\u00a0830\u00a0166\u00a033 ${'fim '.repeat(500)}`)]);
    for (const at of [prefix.length - 4, prefix.length - 1, prefix.length, prefix.length + 1, prefix.length + 4]) expect(run('utf-8', body, [at]).refused).toMatch(/windows-1252/);
    expect(run('utf-8', body, 'bytes').refused).toMatch(/windows-1252/);
  });

  it('latin1 with ASCII separators, and valid UTF-8 holding U+FFFD, are masked in place, counted once', () => {
    for (const body of [latin1('José, CPF 590.830.166-33 e tel (11) 91234-5678 ©'), Buffer.from('caractere \ufffd inválido, CPF 590.830.166-33 e tel (11) 91234-5678', 'utf8')]) {
      for (const cuts of chunkings(body)) {
        const r = run('utf-8', body, cuts);
        expect({ cuts, refused: r.refused }).toEqual({ cuts, refused: undefined });
        expect(r.counts).toEqual({ cpf: 1, phone: 1 });
      }
    }
  });
});

describe('the bytes kept before the check starts', () => {
  const every = (size: number, length: number): number[] => Array.from({ length: Math.ceil(length / size) - 1 }, (_, i) => (i + 1) * size);
  it.each([1, 7, 1000, 4095, 4096, 4097, 9000])('chunks of %i bytes: the identifier reaching the first byte the readings differ on is found, however far in', (size) => {
    const cases: [string, Buffer][] = [
      ['latin1', Buffer.concat([Buffer.from(`${'pedido 123 ok '.repeat(1500)}CPF 590`, 'utf8'), Buffer.from('\u00a0830\u00a0166\u00a033 fim', 'utf8')])],
      ['utf-8', Buffer.concat([Buffer.from(`${'ação 123 ok '.repeat(1500)}CPF 590`, 'utf8'), Buffer.from('\u00a0830\u00a0166\u00a033 fim', 'latin1')])],
      ['koi8-r', Buffer.concat([Buffer.from(`${'x'.repeat(20_000)} 5`, 'utf8'), Buffer.from('９０.８３０.１６６-３３', 'utf8')])],
    ];
    for (const [label, body] of cases) expect({ label, refused: run(label, body, every(size, body.length)).refused !== undefined }).toEqual({ label, refused: true });
  });
});
