// jsonStream's tokeniser against the implementation it replaced (kept below, verbatim from 93f8bd0: the
// version before round 6's fast paths): byte-identical output over generated JSON with Brazilian identifiers (formatted and bare,
// inside strings, as numbers, under keys with name rules), escapes, unicode, whitespace, NDJSON, broken tails, and
// every chunking of the same text. Numbers are the one thing both read through the same code since round 9
// (json-number.ts: `52998224725.0` and `5.2998224725E10` are the integer they denote, json-number.test.ts), so the
// reference's #maskNumber calls it too, and the generator writes numbers in those spellings. Since round 10 a
// changed string is re-escaped as it was written (escapeLike) and a string holding a JSON document is masked as JSON
// (json.ts): the reference does both through the same functions, and both tokenisers get the session's own MaskOps.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Rng } from './corpus.ts';
import { compileMasker } from './index.ts';
import type { Session } from './engine.ts';
import { escapeLike, JsonStream, opensJson } from './json.ts';
import { maskNumberToken } from './json-number.ts';
import type { MaskOps, Rule } from './internal.ts';
import type { StreamMasker } from './types.ts';

const STRING_BUFFER = 8192;
const RULED_CAP = 65536;
const TOKEN_CAP = 4096;
function dedupe(key: string, seen: Set<string>, taken: (k: string) => boolean): string {
  let k = key;
  for (let n = 2; seen.has(k) || taken(k); n++) k = `${key}#${n}`;
  seen.add(k);
  return k;
}

/** Minimal JSON string escaping: quote, backslash and control characters. */
// eslint-disable-next-line no-control-regex -- JSON strings must escape control characters
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

function escapeJson(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  // eslint-disable-next-line no-control-regex -- as above
  return s.replace(/["\\\u0000-\u001f]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

// Tokeniser states.
const VALUE = 0;
const KEY = 1;
const COLON = 2;
const AFTER = 3;
const STRING = 4;
const NUMBER = 5;
const LITERAL = 6;

interface Frame {
  obj: boolean;
  /** Arrays: the rule their elements inherit. Objects: the rule of the current key. */
  rule: Rule | null;
  /** Nothing inside yet: the closer may come next. */
  empty: boolean;
  /** Masked keys of this object, to keep them distinct. */
  keys: Set<string> | null;
}

const NON_WHITESPACE = /[^ \t\r\n\ufeff]/g;
const NUMBER_CHARS = /[^0-9eE.+-]/g;
const LITERAL_CHARS = /[^a-z]/g;
const LITERALS = new Set(['true', 'false', 'null']);

/** What a value starting with this ASCII character is: 1 string, 2 object/array, 3 ']', 4 number, 5 literal. */
const VALUE_START = new Uint8Array(128);
VALUE_START[34] = 1;
VALUE_START[123] = 2;
VALUE_START[91] = 2;
VALUE_START[93] = 3;
for (const c of '-0123456789') VALUE_START[c.charCodeAt(0)] = 4;
for (const c of 'tfn') VALUE_START[c.charCodeAt(0)] = 5;

/** Streamed JSON (one value, or several separated by whitespace as in NDJSON) in arbitrary chunks. */
class JsonStreamBefore implements StreamMasker {
  readonly #ops: MaskOps;
  readonly #stack: Frame[] = [];
  #state = VALUE;
  #buf = '';
  #out: string[] = [];
  #copyFrom = 0;
  #text: StreamMasker | null = null;
  // The token in progress: where it starts in the current buffer (-1: in an earlier one, its bytes in #raw).
  #tokStart = -1;
  #raw = '';
  #acc = '';
  #isKey = false;
  #rule: Rule | null = null;
  #escaped = false;
  #overflow = false;
  #stream: StreamMasker | null = null;
  #stall = 0;
  #backslash = -1;

  constructor(ops: MaskOps) {
    this.#ops = ops;
  }

  push(chunk: string): string {
    if (this.#text !== null) return this.#text.push(chunk);
    this.#run(this.#buf + chunk, false);
    return this.#drain();
  }

  end(): string {
    if (this.#text === null) {
      this.#run(this.#buf, true);
      this.#finishToken();
    }
    const tail = this.#text !== null ? this.#text.end() : '';
    return this.#drain() + tail;
  }

  #drain(): string {
    const s = this.#out.length === 1 ? (this.#out[0] ?? '') : this.#out.join('');
    this.#out = [];
    return s;
  }

  #run(b: string, final: boolean): void {
    this.#copyFrom = 0;
    this.#backslash = -1;
    let i = 0;
    while (i < b.length && this.#text === null) {
      const j = this.#step(b, i, final);
      if (j < 0) {
        i = this.#stall; // an escape sequence cut by the chunk boundary: wait for the rest
        break;
      }
      i = j;
    }
    if (this.#text !== null) return;
    this.#buf = b.slice(i);
    this.#flushRun(b, i);
    if (this.#text !== null) this.#buf = '';
  }

  /** End of a chunk: emit the unchanged bytes, and keep the raw head of an unfinished token. */
  #flushRun(b: string, i: number): void {
    const inToken = this.#state >= STRING && this.#stream === null;
    if (!inToken) {
      this.#out.push(b.slice(this.#copyFrom, i));
      return;
    }
    if (this.#tokStart >= 0) {
      this.#out.push(b.slice(this.#copyFrom, this.#tokStart));
      this.#raw = b.slice(this.#tokStart, i);
      this.#tokStart = -1;
    } else if (!this.#overflow) {
      this.#raw += b.slice(0, i); // (an overflowing ruled value is replaced whole: its bytes are not needed)
    }
    if (this.#state !== STRING && this.#raw.length > TOKEN_CAP) this.#giveUp();
  }

  /** A number or literal longer than any real one: not JSON we can tokenise with bounded memory; mask as text. */
  #giveUp(): void {
    this.#text = this.#ops.textStream();
    this.#out.push(this.#text.push(this.#raw));
    this.#raw = '';
  }

  #step(b: string, i: number, final: boolean): number {
    switch (this.#state) {
      case STRING: return this.#string(b, i, final);
      case NUMBER: return this.#scanToken(b, i, NUMBER_CHARS, final);
      case LITERAL: return this.#scanToken(b, i, LITERAL_CHARS, final);
      default: return this.#structural(b, i);
    }
  }

  #structural(b: string, i: number): number {
    let k = i;
    let c = b.charCodeAt(k);
    if (c <= 32 || c === 0xfeff) {
      NON_WHITESPACE.lastIndex = i;
      const m = NON_WHITESPACE.exec(b);
      if (m === null) return b.length;
      k = m.index;
      c = b.charCodeAt(k);
    }
    switch (this.#state) {
      case VALUE: return this.#value(b, k, c);
      case KEY: return this.#key(b, k, c);
      case COLON: return c === 58 ? this.#to(VALUE, k + 1) : this.#fail(b, k);
      default: return this.#after(b, k, c);
    }
  }

  #to(state: number, i: number): number {
    this.#state = state;
    return i;
  }

  #top(): Frame | undefined {
    return this.#stack[this.#stack.length - 1];
  }

  #valueRule(): Rule | null {
    return this.#top()?.rule ?? null;
  }

  #value(b: string, i: number, c: number): number {
    const top = this.#top();
    if (top !== undefined) top.empty = false;
    switch (VALUE_START[c] ?? 0) {
      case 1: return this.#startString(i, false, this.#valueRule());
      case 2: return this.#open(c === 123, this.#valueRule(), i);
      case 3: return top !== undefined && !top.obj ? this.#close(b, i, c) : this.#fail(b, i);
      case 4: return this.#startToken(NUMBER, i);
      case 5: return this.#startToken(LITERAL, i);
      default: return this.#fail(b, i);
    }
  }

  #key(b: string, i: number, c: number): number {
    if (c === 34) return this.#startString(i, true, null);
    const top = this.#top();
    if (c === 125 && top?.empty === true) return this.#close(b, i, c);
    return this.#fail(b, i);
  }

  #after(b: string, i: number, c: number): number {
    const top = this.#top();
    if (top === undefined) return this.#to(VALUE, i); // another top-level value (NDJSON)
    if (c === 44) return this.#to(top.obj ? KEY : VALUE, i + 1);
    if ((c === 125 && top.obj) || (c === 93 && !top.obj)) return this.#close(b, i, c);
    return this.#fail(b, i);
  }

  #open(obj: boolean, rule: Rule | null, i: number): number {
    this.#stack.push({ obj, rule: obj ? null : rule, empty: true, keys: null });
    return this.#to(obj ? KEY : VALUE, i + 1);
  }

  #close(b: string, i: number, c: number): number {
    const top = this.#top();
    if (top === undefined || top.obj !== (c === 125)) return this.#fail(b, i);
    this.#stack.pop();
    return this.#to(AFTER, i + 1);
  }

  #startToken(state: number, i: number): number {
    this.#tokStart = i;
    this.#raw = '';
    this.#acc = '';
    this.#rule = null;
    return this.#to(state, i);
  }

  #startString(i: number, isKey: boolean, rule: Rule | null): number {
    this.#startToken(STRING, i);
    this.#isKey = isKey;
    this.#rule = rule;
    this.#escaped = false;
    this.#overflow = false;
    return i + 1;
  }

  /** Numbers and literals: runs of their characters. */
  #scanToken(b: string, i: number, stop: RegExp, final: boolean): number {
    stop.lastIndex = i;
    const m = stop.exec(b);
    const end = m === null ? b.length : m.index;
    if (m === null && !final) return end;
    return this.#endToken(b, end);
  }

  /** The token's complete raw text, ending at `end` in the current buffer. */
  #tokenRaw(b: string, end: number): string {
    return this.#tokStart >= 0 ? b.slice(this.#tokStart, end) : this.#raw + b.slice(0, end);
  }

  #endToken(b: string, end: number): number {
    const raw = this.#tokenRaw(b, end);
    if (this.#state === LITERAL && !LITERALS.has(raw)) return this.#failToken(b);
    const replacement = this.#state === NUMBER ? this.#maskNumber(raw) : null;
    this.#emitToken(b, end, replacement);
    return this.#to(AFTER, end);
  }

  #maskNumber(raw: string): string | null {
    const m = maskNumberToken(this.#ops, raw, this.#valueRule()); // round 9: the shared reading (see the header)
    return m === null ? null : `"${escapeJson(m)}"`;
  }

  /** Unchanged tokens stay in the copy region (or come from #raw); changed ones replace their bytes. */
  #emitToken(b: string, end: number, replacement: string | null): void {
    const start = this.#tokStart;
    this.#tokStart = -1;
    this.#rule = null;
    if (replacement === null) {
      if (start < 0) this.#out.push(this.#raw);
      return;
    }
    if (start >= 0) this.#out.push(b.slice(this.#copyFrom, start));
    this.#out.push(replacement);
    this.#copyFrom = end;
  }

  #string(b: string, i: number, final: boolean): number {
    const q = b.indexOf('"', i);
    const j = Math.min(q === -1 ? b.length : q, this.#nextBackslash(b, i));
    if (j > i) this.#append(b, b.slice(i, j), j);
    if (j === b.length) return j;
    if (j === q) return this.#endString(b, j + 1);
    return this.#escape(b, j, final);
  }

  /** The next backslash at or after i in the current buffer (b.length if none), found once per buffer region. */
  #nextBackslash(b: string, i: number): number {
    if (this.#backslash < i) {
      const k = b.indexOf('\\', i);
      this.#backslash = k === -1 ? b.length : k;
    }
    return this.#backslash;
  }

  #escape(b: string, j: number, final: boolean): number {
    this.#escaped = true;
    const e = b[j + 1];
    if (e === undefined) return this.#stallAt(b, j, final);
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      this.#append(b, simple, j + 2);
      return j + 2;
    }
    if (e !== 'u') {
      this.#append(b, e, j + 2); // not JSON; keep the character
      return j + 2;
    }
    if (j + 6 > b.length) return this.#stallAt(b, j, final);
    const code = Number.parseInt(b.slice(j + 2, j + 6), 16);
    this.#append(b, Number.isNaN(code) ? b.slice(j + 2, j + 6) : String.fromCharCode(code), j + 6);
    return j + 6;
  }

  #stallAt(b: string, j: number, final: boolean): number {
    if (final) {
      this.#append(b, b.slice(j + 1), b.length); // a cut escape at the very end: keep its characters
      return b.length;
    }
    this.#stall = j;
    return -1;
  }

  /** Adds decoded characters of the current string; switches long strings to streaming. */
  #append(b: string, s: string, at: number): void {
    if (this.#stream !== null) {
      this.#out.push(escapeJson(this.#stream.push(s)));
      this.#copyFrom = at;
      return;
    }
    if (this.#overflow) return;
    this.#acc += s;
    if (this.#acc.length > (this.#rule !== null ? RULED_CAP : STRING_BUFFER)) this.#tooLong(b, at);
  }

  #tooLong(b: string, at: number): void {
    if (this.#rule !== null) {
      this.#overflow = true;
      this.#acc = '';
      return;
    }
    if (this.#isKey) this.#keyRule(null);
    if (this.#tokStart >= 0) this.#out.push(b.slice(this.#copyFrom, this.#tokStart));
    this.#tokStart = -1;
    this.#raw = '';
    this.#stream = this.#ops.textStream();
    this.#out.push(`"${escapeJson(this.#stream.push(this.#acc))}`);
    this.#acc = '';
    this.#copyFrom = at;
  }

  #keyRule(rule: Rule | null): void {
    const top = this.#top();
    if (top !== undefined) top.rule = rule;
  }

  #endString(b: string, end: number): number {
    const isKey = this.#isKey;
    if (this.#stream !== null) {
      this.#out.push(`${escapeJson(this.#stream.end())}"`);
      this.#stream = null;
      this.#copyFrom = end;
    } else {
      const masked = isKey ? this.#maskKey(this.#acc) : this.#maskString(this.#acc);
      const nested = !isKey && this.#rule === null && opensJson(this.#acc) === true;
      const replacement = masked === this.#acc ? null : `"${this.#escaped || nested ? escapeLike(this.#tokenRaw(b, end), masked) : masked}"`;
      this.#emitToken(b, end, replacement);
    }
    this.#acc = '';
    this.#tokStart = -1;
    return this.#to(isKey ? COLON : AFTER, end);
  }

  #maskString(s: string): string {
    const rule = this.#rule;
    if (rule === null && opensJson(s) === true) {
      const nested = new JsonStream(this.#ops, 1);
      return nested.push(s) + nested.end();
    }
    if (rule === null) return this.#ops.maskText(s);
    if (this.#overflow) return this.#ops.maskWhole('-', { ...rule, style: 'redact' });
    return this.#ops.maskWhole(s, rule);
  }

  #maskKey(key: string): string {
    this.#keyRule(this.#ops.ruleFor(key));
    const masked = this.#ops.maskText(key);
    if (masked === key) return key;
    const top = this.#top();
    if (top === undefined) return masked;
    top.keys ??= new Set();
    return dedupe(masked, top.keys, () => false);
  }

  /** end(): a token cut by the end of input is finished as it is. */
  #finishToken(): void {
    if (this.#state === NUMBER || this.#state === LITERAL) {
      this.#endToken('', 0);
      return;
    }
    if (this.#state === STRING) {
      if (this.#stream !== null) this.#out.push(escapeJson(this.#stream.end()));
      else this.#out.push(this.#raw.length > 0 ? this.#unfinishedString() : '');
      this.#stream = null;
    }
    this.#state = AFTER;
  }

  #unfinishedString(): string {
    const masked = this.#isKey ? this.#ops.maskText(this.#acc) : this.#maskString(this.#acc);
    return masked === this.#acc ? this.#raw : `"${escapeJson(masked)}`;
  }

  #failToken(b: string): number {
    const start = this.#tokStart >= 0 ? this.#tokStart : 0;
    const prefix = this.#tokStart >= 0 ? '' : this.#raw;
    this.#tokStart = -1;
    return this.#fallback(b, start, prefix);
  }

  #fail(b: string, i: number): number {
    return this.#fallback(b, i, '');
  }

  /** Not JSON from here on: mask the rest as plain text. */
  #fallback(b: string, start: number, prefix: string): number {
    this.#out.push(b.slice(this.#copyFrom, start));
    this.#text = this.#ops.textStream(b.slice(Math.max(0, start - 80), start));
    this.#out.push(this.#text.push(prefix + b.slice(start)));
    this.#buf = '';
    return b.length;
  }
}

const IDS = [
  '529.982.247-25', '52998224725', '111.444.777-35', '11144477735', '11.222.333/0001-81', '11222333000181', '(11) 91234-5678',
  '+55 71 91791-2186', '11912345678', 'larissa.oliveira1@exemplo.com.br', 'a@b.co', '01310-100', '01310100', '123.456.789-00',
  '4111 1111 1111 1111', '192.168.0.1', '2001:db8::1', '５２９９８２２４７２５', 'x＠y.com', '529.982.247-2', '1234567', 'PED-1234',
];
const KEYS = ['cpf', 'CPF', 'documento', 'email', 'e-mail', 'telefone', 'celular', 'cnpj', 'cep', 'nome', 'id', 'obs', 'status', 'dados', '52998224725', 'a@b.co', '__proto__', 'total_cents', 'x'];
const WORDS = ['ligar', 'CPF', 'é', 'ção', '日本', '😀', 'tab\t', 'nl\n', 'q"', 'bs\\', '/', '\u0000', '\u001f', '\u2028', 'caf\u00e9', ' ', ''];

type J = string | number | boolean | null | J[] | { pairs: [string, J][] } | { num: string };
const str = fc.array(fc.oneof(fc.constantFrom(...IDS), fc.constantFrom(...WORDS), fc.string({ maxLength: 6 })), { maxLength: 5 }).map((a) => a.join(' '));
/** Number tokens as serialisers write them: integers with a fraction or exponent, zeros, fractions. */
const SPELLED = ['52998224725.0', '5.2998224725E10', '5.2998224725e+10', '529982247250e-1', '-52998224725.00', '1.1222333000181E13', '0.0', '-0', '-0.0e-5', '1E400', '5.2998224725E-10', '12.5'];
const num = fc.oneof(
  fc.constantFrom(52998224725, 11144477735, 11222333000181, 11912345678, 1310100, 10, 0, -52998224725, 12990, 52998224725.5, 1e21),
  fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(...SPELLED).map((n) => ({ num: n })),
);
const { v: value } = fc.letrec<{ v: J; arr: J[]; obj: { pairs: [string, J][] } }>((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, str, num, fc.constantFrom(true, false, null), tie('arr'), tie('obj')),
  arr: fc.array(tie('v'), { maxLength: 4 }),
  obj: fc.record({ pairs: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), str), tie('v')), { maxLength: 5 }) }),
}));

/** JSON text for a value, with whitespace and escaping choices (\uXXXX for any character, \/) drawn from r. */
/** A JSON string literal for s, with escaping choices (\uXXXX for any character, \/) drawn from r. */
function quote(s: string, r: Rng): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] ?? '';
    const k = Math.floor(r.next() * 8);
    if (k === 0) out += `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`; // also lone surrogate halves
    else if (ch === '"' || ch === '\\' || ch.charCodeAt(0) < 0x20) out += JSON.stringify(ch).slice(1, -1);
    else out += k === 1 && ch === '/' ? '\\/' : ch;
  }
  return `${out}"`;
}

/** JSON text for a value, with whitespace and escaping choices drawn from r. */
function toText(v: J, r: Rng): string {
  const ws = (): string => [' ', '', '', '\n  ', '\t', '\r\n'][Math.floor(r.next() * 6)] ?? '';
  if (typeof v === 'string') return quote(v, r);
  if (typeof v === 'number') return JSON.stringify(v);
  if (v === null || typeof v === 'boolean') return String(v);
  if ('num' in v) return v.num;
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => toText(x, r)).join(`${ws()},${ws()}`)}${ws()}]`;
  return `{${ws()}${v.pairs.map(([k, x]) => `${quote(k, r)}${ws()}:${ws()}${toText(x, r)}`).join(`${ws()},${ws()}`)}${ws()}}`;
}

const maskers = [
  compileMasker({}),
  compileMasker({ style: 'partial', fields: [{ names: ['cpf', 'documento'], detector: 'cpf' }, { names: ['email'], detector: 'email' }, { names: ['nome', 'dados'] }] }),
  compileMasker({ style: 'hash', styles: { phone: 'redact' }, customPatterns: [{ name: 'pedido', pattern: 'PED-[0-9]{4}' }] }, { hashKey: new Uint8Array(32).fill(7) }),
  compileMasker({ detectors: ['email'] }),
];

/**
 * The session's MaskOps without the left context (round 10b: JsonStream reads each value after the document before it,
 * json-context.ts), which the reference predates: this file compares the tokenisers; the context is compared between
 * JsonStream and maskJsonValue over random documents in random chunks (json.test.ts) and against the text reading
 * (json-context.test.ts).
 */
function withoutContext(ops: MaskOps): MaskOps {
  return { ...ops, maskText: (text) => ops.maskText(text), textStream: () => ops.textStream() };
}

function run(make: (ops: MaskOps) => StreamMasker, masker: (typeof maskers)[number], text: string, cuts: number[]): { out: string; counts: unknown } {
  const session = masker.newSession();
  const s = make(withoutContext((session as Session).jsonOps));
  let out = '';
  let at = 0;
  for (const c of [...cuts, text.length]) {
    const to = Math.max(at, c);
    out += s.push(text.slice(at, to));
    at = to;
  }
  return { out: out + s.end(), counts: session.counts() };
}

const TAILS = ['', ' garbage 529.982.247-25', '}', '"unterminated 52998224725', '"cut \\u00', '\\', 'tru', ', 52998224725'];

describe('jsonStream against the tokeniser it replaced', () => {
  it('gives byte-identical output and the same masking counts for generated documents, whole and in any chunks', () => {
    fc.assert(fc.property(value, fc.nat(2 ** 31 - 1), fc.nat(3), fc.nat(TAILS.length - 1), fc.array(fc.nat(), { maxLength: 8 }), (v, seed, form, tail, rawCuts) => {
      const r = new Rng(seed);
      let text = toText(v, r);
      if (form === 1) text = `${text}\n${toText(v, r)}\n`; // NDJSON
      if (form === 2) text = `\ufeff ${text}`;
      text += TAILS[tail] ?? '';
      const cuts = rawCuts.map((c) => c % (text.length + 1)).sort((a, b) => a - b);
      for (const masker of maskers) {
        expect(run((ops) => new JsonStream(ops), masker, text, [])).toEqual(run((ops) => new JsonStreamBefore(ops), masker, text, []));
        expect(run((ops) => new JsonStream(ops), masker, text, cuts)).toEqual(run((ops) => new JsonStreamBefore(ops), masker, text, cuts));
      }
    }), { numRuns: 1500 });
  });

  it('agrees on long strings and ruled values around the buffer bounds, with and without escapes', () => {
    const docs: string[] = [];
    for (const n of [STRING_BUFFER - 1, STRING_BUFFER, STRING_BUFFER + 1, RULED_CAP, RULED_CAP + 1]) {
      for (const fill of ['x', '\\n', 'é']) {
        const s = fill.repeat(n / fill.length);
        docs.push(`{"obs":"${s} 529.982.247-25"}`, `{"cpf":"${s}"}`, `["${s}", "${s.slice(1)}"]`, `{"${s}":1}`);
      }
    }
    const cases = docs.flatMap((d) => maskers.slice(0, 2).flatMap((masker) => [[], [1], [STRING_BUFFER], [d.length - 2]].map((cuts) => ({ d, masker, cuts }))));
    for (const { d, masker, cuts } of cases) {
      expect(run((ops) => new JsonStream(ops), masker, d, cuts)).toEqual(run((ops) => new JsonStreamBefore(ops), masker, d, cuts));
    }
  });
});
