// The pre-scan (prescan.ts) against the full detector: on the whole detector corpus, the layout
// corpus and the negatives, as text, as cells with and without name rules, and as JSON cells, for
// every detector alone and all together, it never says "nothing to mask" where maskText or maskCell
// changes the value. Fuzzed text without the characters it looks for is never masked. And it
// says no for the ordinary text it exists for (names, words, dates written in words).
import { describe, expect, it } from '@jest/globals';
import { ENCODINGS, generateCorpus, layoutCorpus, NEGATIVES, Rng, textTemplates, type Sample } from './corpus.ts';
import { compileMasker, DETECTOR_NAMES, type Masker, type MaskingSpec } from './index.ts';
import { stringHoldsJson } from './json.ts';
import { utf8JsonKeysMayBeNamed, utf8MayBeJson, utf8MayHoldCandidate, utf8Prescan } from './prescan.ts';

const KEY = new Uint8Array(32).fill(9);

/** Every text of both corpora in its templates, every encoding of the layout samples, the negatives, and JSON documents holding them. */
function texts(): string[] {
  const corpus = generateCorpus();
  const layouts = layoutCorpus();
  const samples: Sample[] = [...corpus.valid, ...corpus.lookAlikes, ...layouts.valid, ...layouts.lookAlikes];
  const out = new Set<string>(NEGATIVES);
  for (const s of samples) {
    for (const t of textTemplates(s)) out.add(t);
    for (const encode of Object.values(ENCODINGS)) out.add(encode(s.value));
  }
  for (const s of samples.slice(0, 400)) {
    out.add(JSON.stringify({ [s.type]: s.value }));
    out.add(JSON.stringify([{ contato: s.value, nome: 'Ana' }]));
    out.add(JSON.stringify({ cpf: 'não informado' }));
  }
  return [...out];
}

const ALL = texts();

const SPECS: Array<[string, MaskingSpec]> = [
  ['all detectors', {}],
  ['hash style', { style: 'hash' }],
  ...DETECTOR_NAMES.map((d): [string, MaskingSpec] => [`${d} alone`, { detectors: [d] }]),
  ['no e-mail', { detectors: DETECTOR_NAMES.filter((d) => d !== 'email') }],
  ['a custom pattern', { detectors: ['email'], customPatterns: [{ name: 'ticket', pattern: 'TCK-[A-Z]+' }] }],
  ['user field rules', { detectors: ['cpf'], fields: [{ names: ['segredo'] }] }],
  ['disabled', { enabled: false }],
];

function masker(spec: MaskingSpec): Masker {
  return compileMasker(spec, { hashKey: KEY });
}

const CELL_NAMES = [undefined, 'notes', 'cpf', 'email', 'segredo', 'dados_json'];

describe('pre-scan soundness against the full detector', () => {
  it.each(SPECS)('%s: never "nothing to mask" where maskText or maskCell changes the value', (_name, spec) => {
    const m = masker(spec);
    const missed: string[] = [];
    for (const t of ALL) {
      const bytes = Buffer.from(t, 'utf8');
      const session = m.newSession();
      if (session.maskText(t) !== t && !session.textMayChange(bytes)) missed.push(`text ${JSON.stringify(t)}`);
      for (const name of CELL_NAMES) {
        if (session.maskCell(name, t) !== t && !session.cellMayChange(name, bytes)) missed.push(`cell ${name ?? '-'} ${JSON.stringify(t)}`);
      }
      // Inside a larger buffer (a DataRow): the range is what counts.
      const framed = Buffer.concat([Buffer.from('12@&'), bytes, Buffer.from('@9')]);
      if (session.maskText(t) !== t && !session.textMayChange(framed, 4, 4 + bytes.length)) missed.push(`range ${JSON.stringify(t)}`);
    }
    expect(missed).toEqual([]);
  });

  it('the corpus is not vacuous: most of its texts are masked, and the pre-scan lets ordinary text through', () => {
    const session = masker({}).newSession();
    expect(ALL.filter((t) => session.maskText(t) !== t).length).toBeGreaterThan(2000);
    for (const plain of ['Ana Ferreira', 'Rua das Flores', 'pago', 'São Paulo — centro', 'ação', 'ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ', '']) {
      expect([plain, session.textMayChange(Buffer.from(plain))]).toEqual([plain, false]);
    }
    expect(session.cellMayChange('nome', Buffer.from('Ana Ferreira'))).toBe(false);
    expect(session.cellMayChange('cpf', Buffer.from('Ana Ferreira'))).toBe(true);
    expect(session.cellMayChange('nome', Buffer.from('{"a":1}'))).toBe(true);
    expect(masker({ detectors: ['cpf'] }).newSession().textMayChange(Buffer.from('a@b.com &commat;'))).toBe(false);
    expect(masker({ detectors: ['email'] }).newSession().textMayChange(Buffer.from('x&commat;y'))).toBe(true);
    expect(masker({ enabled: false }).newSession().textMayChange(Buffer.from('529.982.247-25'))).toBe(false);
  });

  it('fuzz: text built from everything but the characters it looks for is never masked', () => {
    // Fullwidth letters and punctuation, look-alike separators, invisible characters, escape starters without digits.
    const alphabet = [...'abcdefxyzABCDEFXYZ .,-/:;()+%\\#$!?*_=\n\t', '\u00a0', '\u202f', '\u2013', '\u2212', '\u00b7', '\u200b', '\u00ad', '\ufeff',
      '\uff06', '\uff05', '\uff21', '\uff41', '\uff0e', '\uff0d', '\uff3c', 'ç', 'ã', 'é', '\u{1F600}', 'uXYZ', 'xQQ', 'commat;', 'period;', 'nbsp;'];
    const r = new Rng(20261205);
    const session = masker({ customPatterns: [] }).newSession();
    const changed: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      let t = '';
      const len = 1 + r.int(40);
      for (let i = 0; i < len; i++) t += alphabet[r.int(alphabet.length)] ?? '';
      const bytes = Buffer.from(t);
      expect(session.textMayChange(bytes)).toBe(false);
      if (session.maskText(t) !== t) changed.push(t);
    }
    expect(changed).toEqual([]);
  });

  it('the byte test reads fullwidth digits and at-signs, and only them, as candidates', () => {
    const p = utf8Prescan({ numeric: true, email: true });
    expect(utf8MayHoldCandidate(p, Buffer.from('\uff15'))).toBe(true);
    expect(utf8MayHoldCandidate(p, Buffer.from('\uff20'))).toBe(true);
    expect(utf8MayHoldCandidate(p, Buffer.from('\uff21\uff0e\uff3c'))).toBe(false);
    // A sequence cut by the end of the range is no character.
    expect(utf8MayHoldCandidate(p, Buffer.from('\uff15'), 0, 2)).toBe(false);
    expect(utf8MayHoldCandidate(utf8Prescan({ numeric: false, email: true }), Buffer.from('\uff15'))).toBe(false);
    expect(utf8MayHoldCandidate(utf8Prescan({ numeric: true, email: false }), Buffer.from('\uff20@&'))).toBe(false);
    expect(utf8MayBeJson(Buffer.from(' \u00a0{"a":1}'))).toBe(true);
    expect(utf8MayBeJson(Buffer.from('a{'))).toBe(false);
    expect(utf8MayBeJson(Buffer.alloc(0))).toBe(false);
  });
});

// Round 10b review, finding 3: whether a JSON string holds a document is one question (json.ts stringHoldsJson),
// asked by the JSON masker on the decoded string and by the byte pre-scan on the string's head decoded the same way.
describe('the pre-scan reads a JSON string as a document exactly when the JSON masker does', () => {
  const m = compileMasker({ fields: [{ names: ['nome'] }] });
  const none = (): boolean => false;
  /** With no key named, the key scan says yes only for a string it reads as a document (or one that does not end). */
  const readsDocument = (raw: string): boolean => utf8JsonKeysMayBeNamed(Buffer.from(`{"p":"${raw}"}`), none);

  it.each([
    ['\\n'], ['\\t'], ['\\r\\n'], ['\\r'], [' \\n\\t '], ['\\u0020'], ['\\u000a'], ['\\u000A'], ['\\u0009'], ['\\u000d\\u000a'], ['\\n\\n\\n'],
  ])('a document after the escaped whitespace %s: both read it, and a body with a named key inside is never forwarded as it is', (lead) => {
    for (const [open, close] of [['{', '}'], ['\\u007b', '\\u007d'], ['\\u007B', '}']]) {
      const raw = `${lead}${open}\\"nome\\":\\"Joao Silva\\"${close}`;
      const body = `{"evento":"cadastro","payload":"${raw}"}`;
      const s = m.newSession().jsonStream();
      expect([raw, (s.push(body) + s.end()).includes('Joao Silva')]).toEqual([raw, false]);
      expect([raw, readsDocument(raw), stringHoldsJson(JSON.parse(`"${raw}"`) as string)]).toEqual([raw, true, true]);
      expect([raw, m.newSession().textMayChange(Buffer.from(`${body}\n`))]).toEqual([raw, true]);
    }
  });

  it('an escaped backslash, a letter escape, or text before the brace is no document to either', () => {
    for (const raw of ['\\\\n{\\"nome\\":\\"a\\"}', '\\u0041{\\"nome\\":\\"a\\"}', 'x\\n{\\"nome\\":\\"a\\"}', '\\n{nome}', '\\n[INFO]', ' '.repeat(70) + 'x{\\"a\\":1}']) {
      expect([raw, readsDocument(raw), stringHoldsJson(JSON.parse(`"${raw}"`) as string)]).toEqual([raw, false, false]);
    }
  });

  it('a byte-order mark, or any amount of whitespace, before the brace or after it: a document to both (round 12, finding 1)', () => {
    const blanks = (n: number, unit: string) => unit.repeat(n);
    for (const n of [65, 70, 170, 171, 1000, 10_000]) {
      for (const unit of [' ', '\\n', '\\u0020', '\\t\\r\\n']) {
        for (const raw of [`${blanks(n, unit)}{\\"a\\":1}`, `{${blanks(n, unit)}\\"a\\":1}`, `\\ufeff${blanks(n, unit)}[${blanks(n, unit)}\\"a\\"]`, `\ufeff{\\"a\\":1}`]) {
          expect([n, unit, readsDocument(raw), stringHoldsJson(JSON.parse(`"${raw}"`) as string)]).toEqual([n, unit, true, true]);
        }
      }
    }
  });

  it('agrees with the masker\'s predicate on 20000 random string contents built from escapes, blanks and braces', () => {
    const pieces = ['\\n', '\\t', '\\r', '\\u0020', '\\u000a', '\\u007b', '\\u005b', '\\u007d', '\\u0022', '\\"', '\\\\', '\\/', ' ', '\t', '{', '[', ']', '}', 'a', 'é', '\\u00e9', ':', ','];
    const r = new Rng(20261206);
    const failures: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      let raw = '';
      for (let i = 1 + r.int(12); i > 0; i--) raw += r.pick(pieces);
      const decoded = JSON.parse(`"${raw.replace(/\t/g, '\\t')}"`) as string;
      if (readsDocument(raw) !== stringHoldsJson(decoded)) failures.push(raw);
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });
});
