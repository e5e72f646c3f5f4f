// Round 12 review of the masking engine, the fixes (the review's own tests: masking-round12-attacks.test.ts). Each
// finding is tested as a class, on every path that reads it:
// 1. No bound on what a JSON reader reads past: any amount of whitespace (spaces, tabs, CR LF, BOMs, and their escapes
//    in a JSON string) before a document or after its brace, in a JSON string (jsonStream whole and chunked, maskJson,
//    maskCell, the byte pre-scan) and on a text line (maskText, text streams in every chunk size, indentation and SSE
//    `data:` included); strings of blanks longer than the string buffer; all at linear cost (a work counter, not a clock).
// 2. Every Unicode Nd character is read as its digit: the supplementary runs generated from `/\p{Nd}/u` over the whole
//    code space, each digit of each run in a CPF, on the text, JSON and cell paths and in the pre-scan; their escapes.
// 3. maskJson and jsonStream read a document alike at any depth up to MAX_JSON_DEPTH; past it, maskJson and the
//    Kubernetes response masker refuse (JsonDepthError), bounded, never a stack overflow.
import { describe, expect, it } from '@jest/globals';
import { maskKubernetesValue } from '../policy/kubernetes-response.ts';
import { DIGIT_RUNS, SUPPLEMENTARY_DIGIT_RUNS } from './digits.ts';
import { compileMasker, JsonDepthError, MAX_JSON_DEPTH, nestsDeeperThan, utf8JsonKeysMayBeNamed } from './index.ts';
import { mayOpenJsonLine } from './json-lines.ts';
import { lookAheadWork, STRING_BUFFER } from './json.ts';

const RG = '12.345.678-9';
const NAME = 'Joao da Silva';
const masker = compileMasker({ fields: [{ names: ['rg'] }, { names: ['nome'] }] });
const session = () => masker.newSession();
const inner = JSON.stringify({ rg: RG, nome: NAME });
const leaks = (out: string): boolean => out.includes(RG) || out.includes(NAME) || out.includes('12345678');
const named = (k: string): boolean => k === 'rg' || k === 'nome';

function chunked(s: { push(c: string): string; end(): string }, t: string, size: number): string {
  let out = '';
  for (let i = 0; i < t.length; i += size) out += s.push(t.slice(i, i + size));
  return out + s.end();
}
const streamJson = (t: string, size = t.length) => chunked(session().jsonStream(), t, Math.max(1, size));
const streamText = (t: string, size = t.length) => chunked(session().textStream(), t, Math.max(1, size));

describe('1. a JSON document is read as one after any amount of whitespace', () => {
  const COUNTS = [65, 70, 1000, 10_000];
  const UNITS: [string, string][] = [['spaces', ' '], ['tabs', '\t'], ['CR LF', '\r\n'], ['newlines', '\n'], ['mixed', ' \t\r\n']];

  describe('in a JSON string (an event payload, a ConfigMap file, a json cell)', () => {
    const forms = (blanks: string): [string, string][] => [
      ['before the brace', blanks + inner],
      ['after the brace', `{${blanks}${inner.slice(1)}`],
      ['after an array\'s bracket', `[${blanks}${inner}]`],
      ['before and after, a BOM first', `\ufeff${blanks}{${blanks}${inner.slice(1)}`],
    ];
    for (const n of COUNTS) {
      for (const [unit, u] of UNITS) {
        it(`${n} × ${unit}: jsonStream (whole, 7- and 4096-character chunks), maskJson, maskCell and the pre-scan`, () => {
          for (const [where, payload] of forms(u.repeat(Math.ceil(n / u.length)))) {
            expect(JSON.parse(payload.replace(/^\ufeff/, ''))).toBeTruthy(); // what any reader gets: a document
            const body = JSON.stringify({ evento: 'cadastro', payload });
            for (const size of [body.length, 7, 4096]) expect([where, size, leaks(streamJson(body, size))]).toEqual([where, size, false]);
            expect([where, leaks(JSON.stringify(session().maskJson(JSON.parse(body))))]).toEqual([where, false]);
            expect([where, leaks(session().maskCell('evento', body))]).toEqual([where, false]);
            const bytes = Buffer.from(body);
            expect([where, utf8JsonKeysMayBeNamed(bytes, named), session().cellMayChange('evento', bytes)]).toEqual([where, true, true]);
          }
        });
      }
    }

    it('whitespace written as escapes (\\n, \\u0020, \\t) of any length: the pre-scan\'s cut head never splits one', () => {
      for (const esc of ['\\n', '\\u0020', '\\t', '\\r\\n']) {
        for (const n of [65, 169, 170, 171, 2000]) {
          const body = `{"payload":"${esc.repeat(n)}${JSON.stringify(inner).slice(1, -1)}"}`;
          expect(leaks(streamJson(body))).toBe(false);
          expect(leaks(streamJson(body, 5))).toBe(false);
          expect(leaks(JSON.stringify(session().maskJson(JSON.parse(body))))).toBe(false);
          expect(utf8JsonKeysMayBeNamed(Buffer.from(body), named)).toBe(true);
          // No digit anywhere: only the key reading can say the body may change (the sidecar's fast path).
          const nameOnly = `{"payload":"${esc.repeat(n)}{\\"nome\\":\\"Joao\\"}"}`;
          expect([esc, n, session().textMayChange(Buffer.from(nameOnly)), streamJson(nameOnly).includes('Joao')]).toEqual([esc, n, true, false]);
        }
      }
    });

    it('a string of blanks longer than the string buffer: a document after it is read as JSON, text after it as text', () => {
      const blanks = ' '.repeat(STRING_BUFFER + 1808);
      const doc = JSON.stringify({ payload: blanks + inner });
      expect(leaks(streamJson(doc))).toBe(false);
      expect(leaks(streamJson(doc, 1000))).toBe(false);
      expect(leaks(JSON.stringify(session().maskJson(JSON.parse(doc))))).toBe(false);
      // Not a document after all: read as the text reading reads it (no quotes gained, the CPF masked, the rest kept).
      for (const tail of ['cpf 529.982.247-25 fim', '52998224725', '[52998224725, 1]', '{oops 529.982.247-25']) {
        const text = JSON.stringify({ obs: `${blanks}${tail}` });
        const want = JSON.stringify({ obs: session().maskText(`${blanks}${tail}`) });
        expect([tail, streamJson(text)]).toEqual([tail, want]);
        expect([tail, streamJson(text, 999)]).toEqual([tail, want]);
      }
      const bracket = JSON.stringify({ obs: `[${blanks}52998224725]` });
      expect(streamJson(bracket)).toBe(JSON.stringify({ obs: `[${blanks}*********25]` }));
    });
  });

  describe('on a text line (NDJSON, kubectl logs, SSH, text cells): maskText and text streams in any chunks agree', () => {
    const line = (lead: string, afterBrace: string) => `${lead}{${afterBrace}"rg":"${RG}","nome":"${NAME}"}\n`;
    const texts = (b: string): [string, string][] => [
      ['blanks after the brace', `inicio\n${line('', b)}fim\n`],
      ['indentation before the brace', `inicio\n${line(b.replace(/[\r\n]/g, ' '), '')}fim\n`],
      ['indentation with BOMs', `inicio\n${line(`\ufeff${b.replace(/[\r\n]/g, '\t')}\ufeff`, '')}fim\n`],
      ['an SSE data: field with blanks after it', `event: x\ndata:${b.replace(/[\r\n]/g, ' ')}${line('', '')}\n`],
      ['indentation, data:, blanks, brace, blanks', `${line(`${b.replace(/[\r\n]/g, ' ')}data:${b.replace(/[\r\n]/g, ' ')}`, b)}`],
      ['the first line of the text', line(b.replace(/[\r\n]/g, ' '), b)],
    ];
    for (const n of [65, 170, 1000, 10_000]) {
      it(`${n} blanks`, () => {
        for (const [where, text] of texts(' \t'.repeat(n / 2 + 1))) {
          const whole = session().maskText(text);
          expect([where, leaks(whole)]).toEqual([where, false]);
          for (const size of [1, 5, 7, 64, 161, 4096]) {
            if (size === 1 && n > 1000) continue; // (a million pushes: the 5-character chunks cover the same path)
            expect([where, size, streamText(text, size)]).toEqual([where, size, whole]);
          }
          expect([where, session().textMayChange(Buffer.from(text))]).toEqual([where, true]);
        }
      });
    }

    it('lines that only look like an opening stay text, streamed or whole: `[` then blanks then a number, text after blanks', () => {
      for (const n of [65, 170, 5000]) {
        const b = ' '.repeat(n);
        for (const text of [`x\n[${b}52998224725, 1]\n`, `x\n${b}texto 529.982.247-25\n`, `x\n{${b}oops 529.982.247-25\n`, `data:${b}[${b}1]\n`, `{${b}`]) {
          const whole = session().maskText(text);
          expect(whole).not.toContain('529.982.247-25');
          expect(whole).not.toContain('52998224725');
          for (const size of [3, 50, 161, 4096]) expect([n, size, streamText(text, size)]).toEqual([n, size, whole]);
        }
      }
    });
  });

  describe('at linear cost (a work counter: characters the look-aheads examined, not a clock)', () => {
    const work = (run: () => void): number => {
      const before = lookAheadWork.chars;
      run();
      return lookAheadWork.chars - before;
    };
    const inputs: [string, (n: number) => string, number][] = [
      ['a line of blanks', (n) => `\n${' '.repeat(n)}x`, 5],
      ['a brace then blanks, never a key', (n) => `{${' '.repeat(n)}`, 5],
      ['many indented lines', (n) => `\n${' '.repeat(100)}{x`.repeat(n / 103), 5],
      ['blanks then data: per line', (n) => `${' '.repeat(50)}data:${' '.repeat(50)}\n`.repeat(n / 106), 5],
      ['a line of braces and blanks', (n) => '{ '.repeat(n / 2), 3],
      ['blank lines', (n) => '\n'.repeat(n), 1],
    ];
    it.each(inputs)('%s: streamed in small chunks and whole, the work grows with the input, not its square', (_what, make, size) => {
      const cost = (n: number): number => work(() => {
        const t = make(n);
        streamText(t, size);
        session().maskText(t);
        streamJson(JSON.stringify({ s: t }), 64);
      });
      const [small, large] = [cost(20_000), cost(80_000)];
      expect(large / small).toBeLessThan(4 * 1.25);
      expect(large).toBeLessThan(400 * 80_000);
    });

    it('the line-opening pattern is linear: a million blanks without a brace (the old pattern took minutes on 200,000)', () => {
      expect(mayOpenJsonLine(`x\n${' '.repeat(1_000_000)}x`)).toBe(false);
      expect(mayOpenJsonLine(`${' \t'.repeat(500_000)}data:${' '.repeat(500_000)}x`)).toBe(false);
    });
  });
});

describe('1b. other look-ahead bounds on escapes: HTML character references with leading zeros', () => {
  // A browser reads `&#0000000053;` as `5` (the numeric reference takes any number of digits); the engine's references
  // were bounded at 7 decimal and 6 hex digits, zeros included.
  const plain = compileMasker({});
  it.each([
    ['decimal', (c: string) => `&#${'0'.repeat(12)}${c.charCodeAt(0)};`],
    ['hex', (c: string) => `&#x${'0'.repeat(12)}${c.charCodeAt(0).toString(16)};`],
    ['hex, upper X, 1,000 zeros', (c: string) => `&#X${'0'.repeat(1000)}${c.charCodeAt(0).toString(16)};`],
  ])('%s: a CPF written in them is masked, and their count of digits past the zeros stays bounded', (_what, ref) => {
    const written = '529.982.247-25'.replace(/[0-9]/g, ref);
    const out = plain.newSession().maskText(`cpf ${written} ok`);
    expect(out).not.toContain(written);
    expect(out).toMatch(/\*\*\*/);
    expect(plain.newSession().maskText(`a &#${'0'.repeat(5)}12345678; b`)).toBe(`a &#${'0'.repeat(5)}12345678; b`);
  });
});

describe('2. every Unicode decimal digit (Nd) is read as its digit, on every path', () => {
  /** Every run of Nd as Unicode in this Node has it: its zero, scanned over the whole code space. */
  const ndZeros = (from: number, to: number): number[] => {
    const zeros: number[] = [];
    for (let c = from; c <= to; c++) {
      if (/\p{Nd}/u.test(String.fromCodePoint(c)) && (zeros.length === 0 || c - (zeros.at(-1) ?? 0) >= 10)) zeros.push(c);
    }
    return zeros;
  };
  const ALL = ndZeros(0x80, 0x10ffff);

  it('digits.ts lists every run: the BMP ones (fullwidth folded apart) and every supplementary one', () => {
    expect([...DIGIT_RUNS, 0xff10].sort((a, b) => a - b)).toEqual(ALL.filter((z) => z < 0x10000));
    expect(SUPPLEMENTARY_DIGIT_RUNS).toEqual(ALL.filter((z) => z >= 0x10000));
    for (const z of ALL) for (let d = 0; d < 10; d++) expect(/\p{Nd}/u.test(String.fromCodePoint(z + d))).toBe(true);
  });

  // 123.456.789-09 holds every digit 0–9: each code point of each run is in it.
  const CPF = '123.456.789-09';
  const spell = (zero: number, s: string) => [...s].map((c) => (c >= '0' && c <= '9' ? String.fromCodePoint(zero + Number(c)) : c)).join('');
  const plain = compileMasker({});
  it.each(ALL.map((z) => [z.toString(16).toUpperCase(), z] as const))('U+%s…: a CPF in its digits is masked by text, stream, JSON, cell and pre-scan', (_hex, zero) => {
    const cpf = spell(zero, CPF);
    const text = `cliente Joao cpf ${cpf} ok`;
    const s = plain.newSession();
    expect([cpf, s.maskText(text)]).toEqual([cpf, 'cliente Joao cpf ***.***.***-09 ok']);
    expect(chunked(plain.newSession().textStream(), text, 3)).toBe(s.maskText(text));
    expect(chunked(plain.newSession().jsonStream(), JSON.stringify({ obs: text }), 5)).toBe(JSON.stringify({ obs: 'cliente Joao cpf ***.***.***-09 ok' }));
    expect(plain.newSession().maskJson({ obs: [text] })).toEqual({ obs: ['cliente Joao cpf ***.***.***-09 ok'] });
    expect(plain.newSession().maskCell('obs', cpf)).toBe('***.***.***-09');
    for (let d = 0; d < 10; d++) {
      const one = Buffer.from(`x${String.fromCodePoint(zero + d)}`);
      expect([zero + d, s.textMayChange(one), s.cellMayChange('obs', one)]).toEqual([zero + d, true, true]);
    }
  });

  it('their escapes: surrogate-pair \\u escapes, percent-encoded UTF-8, character references (hex and decimal)', () => {
    for (const zero of [0x1fbf0, 0x1e950, 0x104a0, 0x11066, 0x1d7ce]) {
      const pair = (c: string) => c.split('').map((u) => `\\u${u.charCodeAt(0).toString(16)}`).join('');
      const forms = [
        (c: string) => pair(c),
        (c: string) => encodeURIComponent(c),
        (c: string) => `&#x${(c.codePointAt(0) ?? 0).toString(16)};`,
        (c: string) => `&#${c.codePointAt(0) ?? 0};`,
      ];
      for (const form of forms) {
        const written = [...spell(zero, CPF)].map((c) => (c.length === 2 ? form(c) : c)).join('');
        const out = plain.newSession().maskText(`cpf ${written} ok`);
        expect([written, out.includes(written)]).toEqual([written, false]);
        expect(plain.newSession().textMayChange(Buffer.from(written))).toBe(true);
      }
    }
  });

  it('the pre-scan still says no for supplementary characters that are no digit, and reads no sequence past its end', () => {
    const s = plain.newSession();
    for (const t of ['emoji 😀🥰🤔 ok', '\u{1fbef}\u{1fbfa}', '\u{1049f}\u{104aa}', '\u{1d7cd}', '𝐀𝐁𝐂']) expect([t, s.textMayChange(Buffer.from(t))]).toEqual([t, false]);
    const seg = Buffer.from('\u{1fbf5}');
    expect(s.textMayChange(seg, 0, 3)).toBe(false);
    expect(s.textMayChange(seg, 0, 4)).toBe(true);
  });
});

describe('3. maskJson reads a document as jsonStream does at any depth, and refuses past MAX_JSON_DEPTH', () => {
  const deepText = (d: number, leaf: string) => '{"rg":' + '['.repeat(d) + leaf + ']'.repeat(d) + '}';
  const deep = (d: number, leaf: string) => JSON.parse(deepText(d, leaf)) as unknown;
  const flat = (v: unknown) => JSON.stringify(v).replaceAll(/[.-]/g, '');

  it.each([255, 256, 257, 258, 300, MAX_JSON_DEPTH - 2])('depth %i: an array under a ruled key is masked, as jsonStream masks it', (d) => {
    const v = deep(d, `"${RG}", 52998224725, {"nome":"${NAME}","obs":"cpf 529.982.247-25"}, "\\n{\\"nome\\":\\"${NAME}\\"}"`);
    const out = session().maskJson(v);
    expect(flat(out)).not.toContain('12345678');
    expect(JSON.stringify(out)).not.toContain(NAME);
    expect(out).toEqual(JSON.parse(streamJson(JSON.stringify(v))));
  });

  it('an object deeper than 256 levels keeps its own rules and its members\' values as JSON.stringify writes them', () => {
    const v = JSON.parse('{"a":' + '{"b":'.repeat(300) + `{"rg":"${RG}","n":1.5,"z":null,"t":true,"__proto__":{"nome":"${NAME}"}}` + '}'.repeat(300) + '}') as unknown;
    const out = session().maskJson(v);
    expect(JSON.stringify(out)).not.toContain(RG);
    expect(JSON.stringify(out)).not.toContain(NAME);
    expect(out).toEqual(JSON.parse(streamJson(JSON.stringify(v))));
    // Members JSON.stringify leaves out (undefined) or writes as null, deep down: the same.
    const odd = { a: JSON.parse('['.repeat(300) + '1' + ']'.repeat(300)) as unknown[] };
    let inner: unknown[] = odd.a;
    while (Array.isArray(inner[0])) inner = inner[0] as unknown[];
    inner.push(undefined, Number.NaN, { u: undefined, f: () => 1, s: 'ok' });
    expect(JSON.stringify(session().maskJson(odd))).toBe(JSON.stringify(odd));
  });

  it.each([MAX_JSON_DEPTH + 1, 5000, 100_000])('depth %i: maskJson and the Kubernetes response masker throw JsonDepthError, not a stack overflow', (d) => {
    const v = deep(d, `"${RG}"`);
    expect(() => session().maskJson(v)).toThrow(JsonDepthError);
    const cr = { apiVersion: 'clientes.example.com/v1', kind: 'Cliente', metadata: { name: 'c1' }, spec: { titular: v } };
    expect(() => maskKubernetesValue(cr, session(), { secrets: false, revealSecretData: false })).toThrow(JsonDepthError);
    expect(() => maskKubernetesValue({ kind: 'List', items: [cr] }, session(), { secrets: false, revealSecretData: false, apiserverAnswer: false })).toThrow(/nests deeper than 512 levels/);
    // jsonStream never recurses: it masks any depth.
    expect(flat(streamJson(deepText(d, `"${RG}"`)))).not.toContain('12345678');
  });

  it('nestsDeeperThan counts levels of arrays and objects exactly, without recursion', () => {
    expect(nestsDeeperThan('x', 0)).toBe(false);
    expect(nestsDeeperThan({}, 0)).toBe(true);
    expect(nestsDeeperThan({}, 1)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: [] }] }, 3)).toBe(true);
    expect(nestsDeeperThan({ a: [1, { b: [] }] }, 4)).toBe(false);
    expect(nestsDeeperThan(JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)), MAX_JSON_DEPTH)).toBe(true);
    const cr = { kind: 'Cliente', spec: JSON.parse('['.repeat(MAX_JSON_DEPTH - 2) + ']'.repeat(MAX_JSON_DEPTH - 2)) as unknown };
    expect(() => maskKubernetesValue(cr, session(), { secrets: false, revealSecretData: false })).not.toThrow();
  });
});
