// Round 11 review, finding 2: UTF-16 text read as UTF-8. Every byte of ASCII-range UTF-16 is under 0x80, so a
// BOM-less UTF-16LE export is valid UTF-8 with a NUL after every character (`5\09\00\0.\0...`), and the engine kept
// NUL as a boundary: no identifier was found, while iconv, Excel, editors and Python show the CPF whole, and a terminal
// (which prints nothing for NUL) too. utf16.ts reads such text with its NULs dropped and writes masks back interleaved.
// Attacked here: both byte orders, with and without a byte-order mark, every identifier family, custom patterns (RG)
// and name rules, code units of two ASCII bytes (en dash, narrow no-break space, Devanagari digits), escapes inside
// UTF-16, lone NULs, mixed UTF-8 and UTF-16, JSON, cells, streams cut at every position, and the byte pre-scan.
import { describe, expect, it } from '@jest/globals';
import { ATTACK_IDENTIFIERS as IDENTIFIERS, CHUNK_SIZES, exposes, generateCorpus, placements, Rng, streamingMismatches, textTemplates } from './corpus.ts';
import { compileMasker } from './index.ts';
import type { MaskingSpec } from './types.ts';
import { composeViews, nulView, reencodeSpan } from './utf16.ts';

const masker = compileMasker({});
const maskText = (t: string, m = masker): string => m.newSession().maskText(t);

type Order = 'le' | 'be';
const ORDERS: readonly Order[] = ['le', 'be'];

/** `text` encoded as UTF-16 in `order` and read back as UTF-8 (what a lenient decoder shows: FF/FE bytes as U+FFFD). */
function asUtf8(text: string, order: Order, bom = false): string {
  const bytes = Buffer.from((bom ? '\ufeff' : '') + text, 'utf16le');
  if (order === 'be') bytes.swap16();
  return bytes.toString('utf8');
}

/** What a UTF-16 reader sees of the masked text, once it is encoded as UTF-8 again (what the sidecar sends). */
function asUtf16(masked: string, order: Order): string {
  const bytes = Buffer.from(masked, 'utf8');
  const even = bytes.length % 2 === 0 ? bytes : bytes.subarray(0, bytes.length - 1);
  return order === 'le' ? even.toString('utf16le') : Buffer.from(even).swap16().toString('utf16le');
}

/** The interleaved spelling with NUL after (le) or before (be) every UTF-16 unit, as a string (no bytes involved). */
const interleave = (t: string, order: Order): string => [...t].map((c) => (order === 'le' ? `${c}\0` : `\0${c}`)).join('');

const LINE = 'cliente cpf 590.830.166-33 email maria.souza@example.com tel (11) 91234-5678\n';

describe('UTF-16 text (ASCII range) read as UTF-8 is masked as a UTF-16 reader sees it', () => {
  it.each(ORDERS.flatMap((o) => [[o, false], [o, true]] as const))('%s, byte-order mark %s: masked, and the mask reads in UTF-16', (order, bom) => {
    const session = masker.newSession();
    const out = session.maskText(asUtf8(LINE, order, bom));
    // A lenient decoder already turned the mark into two U+FFFD (three bytes each): the text after it stays aligned.
    const read = asUtf16(bom ? out.slice(2) : out, order);
    expect(read).toBe('cliente cpf ***.***.***-33 email m***@e***.com tel (**) *****-5678\n');
    expect(session.counts()).toEqual({ cpf: 1, email: 1, phone: 1 });
  });

  it('a byte-order mark read as two U+FFFD stays before the text, unmasked and unmoved', () => {
    for (const order of ORDERS) {
      const out = maskText(asUtf8(LINE, order, true));
      expect(out.startsWith('\ufffd\ufffd')).toBe(true);
    }
  });

  it.each(ORDERS)('%s: every identifier family, in every sentence of the detector corpus, as the engine masks it in UTF-8', (order) => {
    const { valid } = generateCorpus(20261206, 2);
    const wrong: string[] = [];
    for (const sample of valid) {
      for (const text of textTemplates(sample)) {
        const plain = maskText(text);
        if (plain === text) continue;
        const out = maskText(interleave(text, order));
        if (out.replaceAll('\0', '') !== plain) wrong.push(`${sample.type} ${JSON.stringify(text)} → ${JSON.stringify(out.replaceAll('\0', ''))}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the attack identifiers (CPF, CNPJ, phones, card, CNS, e-mail) are masked in both orders, and keep what their mask keeps', () => {
    const leaks: string[] = [];
    for (const [value, kept] of IDENTIFIERS) {
      for (const order of ORDERS) {
        const out = maskText(interleave(`Cliente: ${value} fim`, order));
        const read = out.replaceAll('\0', '');
        if (exposes(read, value) || !read.includes('*') || !read.includes(kept)) leaks.push(`${order} ${value} → ${JSON.stringify(read)}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('an RG (a custom pattern: no public check digit) and a name under a field rule', () => {
    const spec: MaskingSpec = { customPatterns: [{ name: 'rg', pattern: '[0-9]{2}\\.[0-9]{3}\\.[0-9]{3}-[0-9Xx]' }], fields: [{ names: ['nome'] }] };
    const m = compileMasker(spec);
    for (const order of ORDERS) {
      const session = m.newSession();
      const out = session.maskText(interleave('rg 12.345.678-9 ok', order));
      expect(out.replaceAll('\0', '')).toBe('rg [RG] ok');
      expect(out).toBe(interleave('rg [RG] ok', order));
      // A name rule masks the whole value, whatever its encoding: in a cell, in a JSON value, in a JSON stream.
      const name = interleave('Maria Aparecida Souza', order);
      expect(session.maskCell('nome', name).replaceAll('\0', '')).toBe('***** ********* *****');
      expect((session.maskJson({ nome: name }) as { nome: string }).nome.replaceAll('\0', '')).toBe('***** ********* *****');
      const js = session.jsonStream();
      const streamed = JSON.parse(js.push(JSON.stringify({ nome: name })) + js.end()) as { nome: string };
      expect(streamed.nome.replaceAll('\0', '')).toBe('***** ********* *****');
    }
  });

  it('in JSON: a string value holding UTF-16 text (NUL escaped as \\u0000 on the wire), as a value and as a stream', () => {
    for (const order of ORDERS) {
      const value = { data: { 'clientes.csv': interleave(LINE, order) } };
      const masked = masker.newSession().maskJson(value) as typeof value;
      expect(masked.data['clientes.csv'].replaceAll('\0', '')).toBe('cliente cpf ***.***.***-33 email m***@e***.com tel (**) *****-5678\n');
      const js = masker.newSession().jsonStream();
      const wire = JSON.stringify(value);
      expect(wire).toContain('\\u0000');
      const out = JSON.parse(js.push(wire) + js.end()) as typeof value;
      expect(out).toEqual(masked);
    }
  });
});

describe('other NUL-interleaved encodings', () => {
  /** `text` as UTF-32 in `order`, read as UTF-8; and the masked text read back the same way. */
  const utf32 = (text: string, order: Order): string =>
    Buffer.concat([...text].map((c) => {
      const b = Buffer.alloc(4);
      if (order === 'le') b.writeUInt32LE(c.codePointAt(0) ?? 0);
      else b.writeUInt32BE(c.codePointAt(0) ?? 0);
      return b;
    })).toString('utf8');
  const fromUtf32 = (masked: string, order: Order): string => {
    const b = Buffer.from(masked, 'utf8');
    let out = '';
    for (let i = 0; i + 4 <= b.length; i += 4) out += String.fromCharCode((order === 'le' ? b.readUInt32LE(i) : b.readUInt32BE(i)) & 0xffff);
    return b.length % 4 === 0 ? out : `${out}<misaligned>`;
  };

  it.each(ORDERS)('UTF-32%s (three NULs beside each character): masked, and the masks written in UTF-32', (order) => {
    const out = maskText(utf32(LINE, order));
    expect(fromUtf32(out, order)).toBe(maskText(LINE));
  });
});

describe('code units of two ASCII bytes, escapes and look-alikes inside UTF-16', () => {
  // Each masked as the engine masks the same text in UTF-8 (masks are rendered from the folded text: an en dash is
  // written '-'), and written back as UTF-16.
  const cases: readonly [name: string, text: string][] = [
    ['an en dash (U+2013: 13 20)', 'cpf 590.830.166\u201333'],
    ['narrow no-break spaces (U+202F: 2F 20)', 'cpf 590\u202f830\u202f166\u202f33'],
    ['a minus sign (U+2212: 12 22)', 'cpf 590.830.166\u221233'],
    ['a zero-width space (U+200B: 0B 20) inside', 'cpf 590.830\u200b.166-33'],
    ['Devanagari digits (U+0966..: 66 09)', 'cpf \u096b\u096f\u0966.\u096e\u0969\u0966.\u0967\u096c\u096c-\u0969\u0969'],
    ['Arabic-Indic digits (U+0660..: 60 06), bare', 'cpf \u0665\u0669\u0660\u0668\u0663\u0660\u0661\u0666\u0666\u0663\u0663'],
    ['Arabic-Indic digits, then a line end', 'cpf \u0665\u0669\u0660\u0668\u0663\u0660\u0661\u0666\u0666\u0663\u0663\n'],
    ['a percent-encoded e-mail', 'to=maria.souza%40example.com'],
    ['an HTML reference', 'maria.souza&#64;example.com'],
    ['a \\u escape', 'cpf 590\\u002e830.166-33'],
    ['a colour inside (ESC [ 3 1 m)', 'cpf 590\u001b[31m.830.166-33'],
    ['a backspace written over a digit', 'cpf 590.830.166-3X\b3'],
    ['a phone with an en dash', 'tel (11) 91234\u20135678'],
    ['a CNPJ with a fraction slash (U+2044: 44 20)', 'cnpj 11.222.333\u20440001-81'],
  ];

  it.each(cases)('%s', (_name, text) => {
    const shown = maskText(text);
    expect(shown).not.toBe(text);
    for (const order of ORDERS) {
      const out = maskText(asUtf8(text, order));
      expect([order, asUtf16(out, order)]).toEqual([order, shown]);
    }
  });

  it('a U+FFFD (a Latin-1 byte such as a no-break space, A0 00, rejected by UTF-8) between digit groups is a separator', () => {
    const text = 'cpf 590\u00a0830\u00a0166\u00a033';
    for (const order of ORDERS) {
      const utf8 = asUtf8(text, order);
      expect(utf8).toContain('\ufffd');
      expect(maskText(utf8).replace(/\0/g, '')).toBe('cpf *** *** *** 33');
    }
  });
});

describe('NUL outside UTF-16', () => {
  it('a lone NUL between words stays a boundary: what it separated is masked as before, and what it joins on a screen too', () => {
    expect(maskText('abc\u000052998224725')).toBe('abc\u0000*********25');
    expect(maskText('cpf\u0000529.982.247-25 fim')).toBe('cpf\u0000***.***.***-25 fim');
    expect(maskText('nome\u0000Maria\u0000cpf 52998224725\u0000')).toBe('nome\u0000Maria\u0000cpf *********25\u0000');
    // No identifier appears out of two words a NUL separates: the text around stays byte for byte.
    expect(maskText('versao\u00001.2.3\u0000build 2026')).toBe('versao\u00001.2.3\u0000build 2026');
  });

  it('a NUL inside an identifier (a terminal prints nothing for it) is read through: every position, several in a row', () => {
    const leaks: string[] = [];
    for (const [value] of IDENTIFIERS) {
      for (const form of placements(value, '\0')) {
        const out = maskText(`Cliente: ${form} fim`);
        if (exposes(out.replaceAll('\0', ''), value) || !out.includes('*')) leaks.push(JSON.stringify(form));
      }
    }
    expect(leaks).toEqual([]);
  });

  it('mixed: a UTF-8 line, then UTF-16 text in the same string (kubectl create configmap --from-file of two files)', () => {
    const text = `cabecalho cpf 529.982.247-25\n${asUtf8(LINE, 'le')}rodape maria.souza@example.com\n`;
    const out = maskText(text);
    expect(out.replaceAll('\0', '')).toBe('cabecalho cpf ***.***.***-25\ncliente cpf ***.***.***-33 email m***@e***.com tel (**) *****-5678\nrodape m***@e***.com\n');
  });

  it('look-alikes stay unchanged in UTF-16 as in UTF-8 (versions, dates without keyword, broken check digits)', () => {
    for (const text of ['v1.2.3.4 build 2026-07-15', 'pedido 590.830.166-34 ok', 'uuid 123e4567-e89b-12d3-a456-426614174000', 'total R$ 1.234,56']) {
      for (const order of ORDERS) {
        const spelled = interleave(text, order);
        expect(maskText(spelled) === spelled).toBe(maskText(text) === text);
      }
    }
  });
});

describe('streams: an identifier in UTF-16 split across chunk boundaries', () => {
  it.each(ORDERS)('%s: streamed at every chunk size, the output and counts equal maskText of the whole', (order) => {
    const doc = asUtf8(LINE.repeat(12), order);
    expect(streamingMismatches(masker, doc)).toEqual([]);
  });

  it.each(ORDERS)('%s: cut at every position of a line, the two halves stream to the masked line', (order) => {
    const doc = asUtf8(LINE, order);
    const expected = maskText(doc);
    const wrong: number[] = [];
    for (let cut = 1; cut < doc.length; cut++) {
      const stream = masker.newSession().textStream();
      const out = stream.push(doc.slice(0, cut)) + stream.push(doc.slice(cut)) + stream.end();
      if (out !== expected) wrong.push(cut);
    }
    expect(wrong).toEqual([]);
  });

  it('a long e-mail address (254 characters: 508 in UTF-16) is seen whole across chunks', () => {
    const local = `${'a'.repeat(60)}.${'b'.repeat(3)}`;
    const address = `${local}@${'c'.repeat(60)}.${'d'.repeat(60)}.${'e'.repeat(60)}.com`;
    const doc = asUtf8(`${'x '.repeat(300)}to ${address} fim\n`, 'le');
    const expected = maskText(doc);
    expect(expected.replaceAll('\0', '')).not.toContain(local);
    expect(streamingMismatches(masker, doc, CHUNK_SIZES)).toEqual([]);
  });

  it('a keyword in UTF-16 far before a CEP (left context doubled): the stream masks as maskText does', () => {
    const doc = asUtf8(`${'linha sem nada '.repeat(40)}\ncep: ${'  '.repeat(10)}01310-100 fim\n`, 'be');
    expect(maskText(doc).replaceAll('\0', '')).toContain('01***-***');
    expect(streamingMismatches(masker, doc)).toEqual([]);
  });
});

describe('property: a NUL-interleaved rendering of any text the engine masks is masked at least as much', () => {
  const PIECES = [
    'cpf', 'CPF:', '529.982.247-25', '52998224725', '11.222.333/0001-81', '(11) 91234-5678', '+55 11 91234-5678', 'joao@exemplo.com.br',
    '4111 1111 1111 1111', 'cep', '01310-100', 'nasc', '12/03/1985', 'v1.2.3', '192.168.0.1', ' ', ' ', '\n', ',', ';', 'x', 'Maria', '%40', '&#64;',
    '590.830.166-34', '2026-07-15', 'tel', '11912345678', '\u2013', '\u00a0',
  ];

  it('2,000 random texts from identifier pieces: in both orders, the interleaved output with its NULs dropped masks every character the UTF-8 output masks', () => {
    const r = new Rng(20261206);
    const wrong: string[] = [];
    for (let n = 0; n < 2000; n++) {
      const parts: string[] = [];
      for (let k = 1 + r.int(8); k > 0; k--) parts.push(PIECES[r.int(PIECES.length)] ?? '');
      const text = parts.join(r.int(2) === 0 ? ' ' : '');
      const plain = maskText(text);
      for (const order of ORDERS) {
        const read = maskText(interleave(text, order)).replaceAll('\0', '');
        if (!coversMasked(text, plain, read)) wrong.push(`${order} ${JSON.stringify(text)}: ${JSON.stringify(plain)} vs ${JSON.stringify(read)}`);
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
  });
});

/**
 * Whether `read` (the interleaved masking, NULs dropped) hides at least what `plain` (the UTF-8 masking of `text`)
 * hides: equal, or no digit run or e-mail local part `plain` removed is readable in `read`.
 */
function coversMasked(text: string, plain: string, read: string): boolean {
  if (read === plain) return true;
  const removed = text.match(/[0-9][0-9 .\-/()+]{6,}[0-9]|[A-Za-z0-9._]+@/g) ?? [];
  return removed.every((v) => plain.includes(v) || !read.includes(v));
}

describe('the view and the written mask', () => {
  it('nulView maps every view character back to its character and NUL; composeViews keeps the map through an inner view', () => {
    const s = interleave('ab%40c', 'le');
    const v = nulView(s, 'le');
    expect(v.text).toBe('ab%40c');
    expect([...v.at]).toEqual([0, 2, 4, 6, 8, 10, 12]);
    expect([...v.end]).toEqual([2, 4, 6, 8, 10, 12, 12]);
    const inner = { text: 'ab@c', at: Int32Array.from([0, 1, 2, 5, 6]), end: Int32Array.from([1, 2, 5, 6, 6]) };
    const c = composeViews(v, inner);
    expect([...c.at]).toEqual([0, 2, 4, 10, 12]);
    expect([...c.end]).toEqual([2, 4, 10, 12, 12]);
    const be = nulView(interleave('ab', 'be'), 'be');
    expect([...be.at]).toEqual([0, 2, 4]);
    expect([...be.end]).toEqual([2, 4, 4]);
  });

  it('reencodeSpan writes the mask in the reading\'s byte order, units of two ASCII bytes as those bytes, others as *', () => {
    expect(reencodeSpan('5\u00009\u0000', '**', 'le')).toBe('*\u0000*\u0000');
    expect(reencodeSpan('\u00005\u00009', '**', 'be')).toBe('\u0000*\u0000*');
    expect(reencodeSpan('j\u0000%\u00004\u00000\u0000g\u0000', 'j***@g', 'le')).toBe(interleave('j***%40g', 'le'));
    expect(reencodeSpan('5\u00009\u0000', '-\u2013\u00e9', 'le')).toBe('-\u0000\u0013 *\u0000');
    expect(reencodeSpan('5\u00009\u0000', '-\u2013', 'be')).toBe('\u0000- \u0013');
    // A lone NUL inside an identifier (no reading took it as UTF-16): the mask as it is.
    expect(reencodeSpan('59\u000083', '****', null)).toBe('****');
  });
});

describe('the byte pre-scan', () => {
  it('says "may change" for UTF-16 text whose digits are Devanagari (two ASCII bytes, no ASCII digit), and the text is masked', () => {
    const bytes = Buffer.from('cpf \u096b\u096f\u0966.\u096e\u0969\u0966.\u0967\u096c\u096c-\u0969\u0969\n', 'utf16le');
    const session = masker.newSession();
    expect(bytes.every((b) => b < 0x30 || b > 0x39)).toBe(true);
    expect(session.textMayChange(bytes)).toBe(true);
    expect(session.maskText(bytes.toString('utf8'))).not.toBe(bytes.toString('utf8'));
  });

  it('text without NUL pays nothing new: the same output as before for the chunk sizes of the corpus', () => {
    expect(CHUNK_SIZES.length).toBeGreaterThan(0);
    expect(maskText('cpf 529.982.247-25')).toBe('cpf ***.***.***-25');
  });
});
