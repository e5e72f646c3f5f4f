// The residue pass (residue.ts): a mask changes what its neighbours show, and the engine reads its own output again
// next to its masks. Two forms of the class, found by the round 12d property tests:
// - a mask ends a word: `joao.silva@exemplo.com529.982.247-25` is no e-mail while digits follow its TLD, and shows one
//   once the CPF is `***.***.***-25`;
// - what a mask keeps joins its neighbour: in `(11) 111.444.777-35 91234-5678` the CPF wins the overlap with the phone
//   `35 91234-5678` (a hit hides what starts inside it), and its kept `35` shows the phone again.
// Each form in every style, in text, streams cut anywhere, JSON, cells, UTF-16 read as UTF-8 and escaped spellings; and
// a property test gluing identifiers, halves and decoys to each other: masking again changes nothing, and the stream
// writes what the whole text gives.
import { describe, expect, it } from '@jest/globals';
import { Rng } from './corpus.ts';
import { compileMasker } from './index.ts';
import { loudMasks, spansAfter, type MaskSpan } from './residue.ts';
import type { MaskingSpec, MaskSession } from './types.ts';

const KEY = { hashKey: Buffer.alloc(32, 7) };
const session = (spec: MaskingSpec = {}): MaskSession => compileMasker(spec, KEY).newSession();
const maskText = (t: string, spec: MaskingSpec = {}): string => session(spec).maskText(t);

/** The text pushed in pieces of `n` characters (and the rest of the pieces cut at random with `next`). */
function streamed(s: MaskSession, t: string, n: number): string {
  const st = s.textStream();
  let out = '';
  for (let i = 0; i < t.length; i += n) out += st.push(t.slice(i, i + n));
  return out + st.end();
}

/** `raw` masks to `masked`, which masking again leaves as it is. */
function masksTo(raw: string, masked: string, spec: MaskingSpec = {}): void {
  expect(maskText(raw, spec)).toBe(masked);
  expect(maskText(masked, spec)).toBe(masked);
}

describe('a mask ends a word: the neighbour it shows is masked', () => {
  it.each([
    ['an e-mail glued before a CPF', 'joao.silva@exemplo.com529.982.247-25', 'j***@e***.com***.***.***-25'],
    ['an e-mail glued before a phone with its parenthesis', 'joao.silva@exemplo.com(11) 91234-5678', 'j***@e***.com(**) *****-5678'],
    ['an e-mail glued before a CNPJ', 'joao.silva@exemplo.com11.222.333/0001-81', 'j***@e***.com**.***.***/****-81'],
    ['digit groups before a CPF', '111 444 777 35 529.982.247-25', '*** *** *** 35 ***.***.***-25'],
    ['in a sentence', 'contato: joao.silva@exemplo.com529.982.247-25 fim', 'contato: j***@e***.com***.***.***-25 fim'],
  ])('%s', (_name, raw, masked) => masksTo(raw, masked));
});

describe("what a mask keeps joins its neighbour: the identifier they make is masked", () => {
  it.each([
    ["a CPF's check digits and a phone", '(11) 111.444.777-35 91234-5678', '(11) ***.***.***-** *****-5678'],
    ["a CNPJ's check digits and a phone (DDD 81)", '11.222.333/0001-81 91234-5678', '**.***.***/****-** *****-5678'],
    ['in a sentence', 'cliente 111.444.777-35 91234-5678 ligou', 'cliente ***.***.***-** *****-5678 ligou'],
  ])('%s', (_name, raw, masked) => masksTo(raw, masked));
});

/**
 * The report's inputs, and what no style may leave in their output. Only the partial style keeps the check digits
 * that make `35 91234-5678` a phone: with the others `91234-5678` stands alone, a number without its area code, which
 * the engine never reads as a phone (README "Detectors"), on the input's screen as on the output's.
 */
const CASES: readonly (readonly [string, RegExp])[] = [
  ['joao.silva@exemplo.com529.982.247-25', /joao|silva|529\.982/],
  ['joao.silva@exemplo.com(11) 91234-5678', /joao|silva|91234/],
  ['(11) 111.444.777-35 91234-5678', /444\.777/],
  ['11.222.333/0001-81 91234-5678', /222\.333/],
];

describe('every style, every path', () => {
  const STYLES: readonly MaskingSpec[] = [{ style: 'partial' }, { style: 'redact' }, { style: 'hash' }, { style: 'surrogate' }];

  it.each(STYLES.flatMap((spec) => CASES.map(([raw, secret]) => [spec.style, raw, secret] as const)))('%s: %s', (style, raw, secret) => {
    const spec: MaskingSpec = { style };
    const out = maskText(raw, spec);
    expect(out).not.toMatch(secret);
    // A stream cut anywhere writes what the whole text gives, and so does text around it.
    for (const n of [1, 2, 3, 7, 13]) expect(streamed(session(spec), raw, n)).toBe(out);
    const padded = `${'lorem ipsum '.repeat(60)}${raw}${' dolor sit'.repeat(60)}`;
    const paddedOut = maskText(padded, spec);
    expect(paddedOut).not.toMatch(secret);
    for (const n of [5, 64, 257]) expect(streamed(session(spec), padded, n)).toBe(paddedOut);
    // A JSON value, a cell and a JSON document in a cell.
    expect(JSON.stringify(session(spec).maskJson({ obs: raw }))).not.toMatch(secret);
    expect(session(spec).maskCell('obs', raw)).not.toMatch(secret);
    const js = session(spec).jsonStream();
    expect(js.push(JSON.stringify({ obs: raw, n: 1 })) + js.end()).not.toMatch(secret);
    if (style === 'partial' || style === 'redact') expect(maskText(out, spec)).toBe(out);
  });

  it('counts the neighbour it masks', () => {
    const s = session();
    s.maskText('(11) 111.444.777-35 91234-5678');
    expect(s.counts()).toEqual({ cpf: 1, phone: 1 });
    const t = session();
    t.maskText('joao.silva@exemplo.com529.982.247-25');
    expect(t.counts()).toEqual({ cpf: 1, email: 1 });
  });

  it('never masks a mask again: a surrogate next to text stays the value the masker chose', () => {
    const s = session({ style: 'surrogate' });
    const once = s.maskText('cpf 529.982.247-25 ok');
    expect(once).not.toContain('529.982.247-25');
    // The same surrogate, whatever is around it (the residue pass reads a keyed value as `*`).
    const inner = /cpf (\S+) ok/.exec(once)?.[1] ?? '';
    expect(session({ style: 'surrogate' }).maskText('joao.silva@exemplo.com529.982.247-25')).toContain(inner);
  });

  it('UTF-16 read as UTF-8, and escaped spellings', () => {
    const wide = (t: string): string => [...t].map((c) => `${c}\0`).join('');
    const out = maskText(wide('(11) 111.444.777-35 91234-5678'));
    expect(out.replaceAll('\0', '')).not.toMatch(/91234/);
    expect(maskText(out)).toBe(out);
    expect(maskText('joao.silva%40exemplo.com529.982.247-25')).not.toMatch(/joao|529\.982/);
    expect(maskText('joao.silva&#64;exemplo.com529.982.247-25')).not.toMatch(/joao|529\.982/);
    expect(maskText('(11) 111.444.777-35\u00a091234\u20135678')).not.toMatch(/91234/);
  });
});

describe('a chain: each mask frees the next identifier (one pass per link, no bound on the passes)', () => {
  const redact: MaskingSpec = { style: 'redact' };

  it.each([
    ['tel ' + '(11) 91234-5678'.repeat(6) + ' ok', `tel ${'[PHONE]'.repeat(6)} ok`],
    [Array(6).fill('(11) 91234-5678').join('-'), Array(6).fill('[PHONE]').join('-')],
    [Array(40).fill('(11) 91234-5678').join('.'), Array(40).fill('[PHONE]').join('.')],
  ])('redact: %j', (raw, masked) => {
    masksTo(raw, masked, redact);
  });

  it('a stream cut anywhere masks the chain as the whole text does', () => {
    const raw = `${'a '.repeat(18)}${'(11) 91234-5678'.repeat(60)}${' dolor sit'.repeat(100)}`;
    const whole = maskText(raw, redact);
    expect(whole).not.toContain('91234');
    for (const n of [1, 7, 64, 500]) expect(streamed(session(redact), raw, n)).toBe(whole);
  });
});

describe('a mask changes which keyword a number after it reads', () => {
  it.each([
    // A shorter mask brings an earlier keyword within the 48-character window of a CEP.
    ['partial', 'cep x.dob@exemplo.com ok ok 01310-100'],
    ['partial', 'cep joao.silva.santos.oliveira@exemplo.com.br ok 01310-100'],
    // A redact label is a keyword.
    ['redact', 'cep 01310-100 ok ok ok ok ok ok ok ok ok ok ok ok ok 04538-133'],
    ['redact', 'nascimento: 12/03/1985; irmao: ok ok ok ok ok ok ok 15/04/1990'],
    ['hash', 'cep 01310-100 ok ok ok ok ok ok ok ok ok ok ok ok ok 04538-133'],
  ] as const)('%s: %j is masked to a fixed point', (style, raw) => {
    const out = maskText(raw, { style });
    if (style !== 'hash') expect(maskText(out, { style })).toBe(out);
    for (const n of [1, 5, 17]) expect(streamed(session({ style }), raw, n)).toBe(out);
  });

  it("what a masked e-mail held (its 'dob') no longer names the number after it", () => {
    expect(maskText('cep x.dob@exemplo.com ok ok 01310-100')).toBe('cep x***@e***.com ok ok 01***-***');
  });

  it('only on its own line', () => {
    expect(maskText('cep x.dob@exemplo.com\n01310-100')).toBe('cep x***@e***.com\n01310-100');
  });
});

describe('a long JSON string read as a stream keeps its key as context in both passes', () => {
  it('jsonStream, maskJson and masking again agree', () => {
    const value = ['renavam', `11.222.333/0001-81joao.silva@exemplo.com 12056737894${' lorem'.repeat(1400)}`];
    const doc = JSON.stringify(value);
    const js = (d: string): string => {
      const st = session().jsonStream();
      return st.push(d) + st.end();
    };
    const once = js(doc);
    expect(once.slice(0, 60)).toBe('["renavam","**.***.***/****-***@e***.com *********94 lorem l');
    expect(js(once)).toBe(once);
    expect(JSON.stringify(session().maskJson(value))).toBe(once);
  });
});

describe('many masks at once (no argument spread over them)', () => {
  it.each([
    ['a JSON log line, then 140,000 CPFs (the stream path)', `{"level":"info"}\n${'cliente 529.982.247-25\n'.repeat(140_000)}`],
    ['140,000 glued e-mails and CPFs (the residue pass)', 'x@y.com529.982.247-25;'.repeat(140_000)],
  ])('%s', (_name, raw) => {
    const out = maskText(raw);
    expect(out).not.toContain('529.982');
    expect(out.length).toBeGreaterThan(raw.length / 2);
  });

  it('one push of 140,000 CPFs into a stream', () => {
    const st = session().textStream();
    const out = st.push('529.982.247-25 '.repeat(140_000)) + st.end();
    expect(out).toBe('***.***.***-25 '.repeat(140_000));
  });
});

describe('re-review (14c): chains in long texts, spelled keyword windows, glued keywords, kept digits and ::', () => {
  const wide = (t: string): string => [...t].map((c) => `${c}\0`).join('');

  it('a chain of 1,000 links after 50,000 masks: every link masked, the stream agreeing (each pass reads a piece)', () => {
    const raw = `${'cpf 529.982.247-25 '.repeat(50_000)}tel ${'(11) 91234-5678'.repeat(1000)} ok`;
    const out = maskText(raw, { style: 'redact' });
    expect(out).not.toContain('91234');
    expect(out.endsWith(`tel ${'[PHONE]'.repeat(1000)} ok`)).toBe(true);
    expect(streamed(session({ style: 'redact' }), raw, 65_536)).toBe(out);
  });

  it.each([
    ['UTF-16 read as UTF-8', wide('cep b.tel@x.com ok ok ok ok ok ok ok ok ok ok 01310-100')],
    ['UTF-16, a landline', wide('tel b.cep@x.com ok ok ok ok ok ok ok ok ok ok 1133334444')],
    ['\\u0020 escapes', 'cep b.tel@x.com\\u0020ok\\u0020ok\\u0020ok\\u0020ok\\u0020ok\\u0020ok\\u0020ok\\u002001310-100'],
    ['&nbsp; references', 'cep b.tel@x.com&nbsp;ok&nbsp;ok&nbsp;ok&nbsp;ok&nbsp;ok&nbsp;ok&nbsp;ok&nbsp;01310-100'],
    ['a keyword glued before an alphanumeric CNPJ', 'cepABCDEFGH000195 ok ok ok 01310-100'],
    ['the same before a landline', 'telABCDEFGH000195 ok ok ok 1133334444'],
    ["a CPF's kept digits and ::", '529.982.247-25::'],
    ["a phone's kept digits and ::", 'tel (11) 91234-5678::'],
    ["a CNPJ's kept digits and ::", 'x 11.222.333/0001-81:: y'],
    [':: and the kept first digit of an e-mail', 'ok ::35joao.silva@exemplo.com ok'],
  ])('%s: masked to a fixed point in the partial and redact styles', (_name, raw) => {
    for (const style of ['partial', 'redact'] as const) {
      const out = maskText(raw, { style });
      expect(maskText(out, { style })).toBe(out);
    }
  });

  it('the exact outputs of two of them', () => {
    expect(maskText('cepABCDEFGH000195 ok ok ok 01310-100')).toBe('cep************95 ok ok ok 01***-***');
    expect(maskText('529.982.247-25::')).toBe('***.***.***-25:0:*:*:*:*:*:*');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The property: identifiers of every type, their halves and decoys glued to each other and to filler.

/** A seeded generator (corpus.ts), so a failure names its seed. */
function random(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

const PARTS: readonly string[] = [
  '529.982.247-25', '52998224725', '111.444.777-35', '111 444 777 35', '590.830.166-33', '529.982', '.247-25', '35',
  '(11) 91234-5678', '11 91234-5678', '+55 11 91234-5678', '91234-5678', '11.222.333/0001-81', '0001-81',
  'joao.silva@exemplo.com', 'mva@exemplo.com', 'x@y.com', '@exemplo.com.br', '4111 1111 1111 1111', '4111111111111111',
  '192.168.10.20', '2001:db8::1', '762 3763 4591 2761', '120.56737.89-4', '01310-100', '12/03/1985',
  'cpf ', 'tel ', 'cep ', 'nascimento ', ' ', '', '-', '.', '/', 'X', 'joao', '@', '(', ')', '\n', ',',
];

function gluedText(next: () => number): string {
  const n = 2 + Math.floor(next() * 8);
  let t = '';
  for (let i = 0; i < n; i++) t += PARTS[Math.floor(next() * PARTS.length)] ?? '';
  return t;
}

describe('property: identifiers glued to each other', () => {
  it.each([['partial', {}], ['redact', { style: 'redact' }]] as const)('%s: masking again changes nothing, streams cut anywhere agree', (_name, spec) => {
    const failures: string[] = [];
    for (let seed = 1; seed <= 3000 && failures.length < 5; seed++) {
      const next = random(seed);
      const raw = gluedText(next);
      const out = maskText(raw, spec);
      const again = maskText(out, spec);
      if (again !== out) failures.push(`seed ${seed}: ${JSON.stringify(raw)} -> ${JSON.stringify(out)} -> ${JSON.stringify(again)}`);
      const n = 1 + Math.floor(next() * 9);
      const st = streamed(session(spec), raw, n);
      if (st !== out) failures.push(`seed ${seed} stream ${n}: ${JSON.stringify(raw)} -> ${JSON.stringify(st)}, whole ${JSON.stringify(out)}`);
      const cell = session(spec).maskCell(undefined, raw);
      if (maskText(cell, spec) !== cell) failures.push(`seed ${seed} cell: ${JSON.stringify(raw)} -> ${JSON.stringify(cell)}`);
      const value = (session(spec).maskJson({ v: raw }) as { v: string }).v;
      if (maskText(value, spec) !== value) failures.push(`seed ${seed} json: ${JSON.stringify(raw)} -> ${JSON.stringify(value)}`);
    }
    expect(failures).toEqual([]);
  });

  it('in UTF-16 read as UTF-8', () => {
    const failures: string[] = [];
    for (let seed = 7001; seed <= 7600 && failures.length < 5; seed++) {
      const wide = [...gluedText(random(seed))].map((c) => `${c}\0`).join('');
      const out = maskText(wide);
      if (maskText(out) !== out) failures.push(`seed ${seed}: ${JSON.stringify(wide)} -> ${JSON.stringify(out)} -> ${JSON.stringify(maskText(out))}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('residue.ts: which masks are read around, and where masks go', () => {
  const at = (text: string, mask: string): MaskSpan => ({ start: text.indexOf(mask), end: text.indexOf(mask) + mask.length, opaque: false, context: false });

  it.each([
    ['CPF ***.***.***-25 tel', true],
    ['***.***.***-25', true],
    ['"***.***.***-25",', true],
    ['[***.***.***-25]', true],
    ['com***.***.***-25', false],
    ['35 ***.***.***-25', false],
    ['***.***.***-25 91234', false],
    ['***.***.***-25(11)', false],
    ['***.***.***-25\u00a0x', false],
    ['***.***.***-25  x', false],
    ['***.***.***-25.', false],
  ] as const)('%j: quiet %s', (text, quiet) => {
    expect(loudMasks(text, [at(text, '***.***.***-25')], true, true).length === 0).toBe(quiet);
  });

  it('the text still to come, and left context before position 0, are never quiet', () => {
    const text = '***.***.***-25';
    expect(loudMasks(text, [at(text, text)], true, false)).toHaveLength(1);
    expect(loudMasks(text, [at(text, text)], false, true)).toHaveLength(1);
  });

  it('spansAfter moves masks past a write and joins those it overlaps', () => {
    // 'ab[MASK1]cd[MASK2]ef' -> a write over [8, 12) (the end of MASK1 and 'cd') grows by 3.
    const old: MaskSpan[] = [{ start: 2, end: 9, opaque: false, context: false }, { start: 11, end: 18, opaque: true, context: false }];
    const writes = [{ a: 8, b: 11, oa: 8, ob: 14, opaque: false, context: true }];
    expect(spansAfter(old, writes, 11, 3)).toEqual([{ start: 2, end: 14, opaque: false, context: true }, { start: 14, end: 21, opaque: true, context: false }]);
  });
});
