// JSON masking: by key (name rules) and by value (content detectors), at any depth.
//  - maskJsonValue walks a parsed value;
//  - JsonStream tokenises JSON text in arbitrary chunks, copies unchanged bytes through untouched and rewrites only
//    the tokens it masks. It buffers one token at a time: strings up to STRING_BUFFER characters (longer string
//    values are masked as a text stream), values under a name rule up to RULED_CAP (longer ones are redacted).
// Decisions (README: "JSON"):
//  - a key's name rule masks its string and number values whole; arrays inherit the rule, objects do not;
//  - keys themselves are content-scanned (maps keyed by CPF or e-mail); two keys masked alike get '#2', '#3', ...;
//  - integers with 8+ digits are content-scanned like bare digits (CPFs, phones and cards are often serialised as
//    numbers), however the number is written (`52998224725.0`, `5.2998224725E10`: json-number.ts reads every path's
//    numbers alike); a masked number becomes a string, since masks are not numbers;
//  - null and booleans are never masked;
//  - a string whose masked value changed is re-encoded with minimal escaping; unchanged tokens keep their bytes;
//  - text that is not JSON (after a syntax error) is masked as plain text from that point on, so NDJSON and
//    PostgreSQL array literals are still masked;
//  - a string value that holds a JSON document (a ConfigMap's `clientes.json`, kubectl's last-applied-configuration
//    annotation, an event's `payload`) is masked as the JSON it is, key rules and number reading included (round 10
//    review, finding 1), then re-escaped as the string was (`\/`, `\u00e9`); up to MAX_NESTED levels, each level
//    reading its string once (the string itself is bounded: STRING_BUFFER, or streamed);
//  - every string, key and number is read with the document before it as left context (json-context.ts), so a value
//    that needs its keyword (`{"campo":"cep","valor":"01310-100"}`) is masked as the text reading of the line masks it
//    (round 10b review, finding 1);
//  - no bound on what a JSON reader reads past: a document is one after any amount of whitespace (opensJson), and
//    both maskers read a document alike at any depth, maskJsonValue up to MAX_JSON_DEPTH and refusing past it (round
//    12 review, findings 1 and 3).
import { CONTEXT_WINDOW } from './context.ts';
import type { MaskOps, Rule } from './internal.ts';
import { JsonContext } from './json-context.ts';
import { MAX_INTEGER_DIGITS, maskNumberToken } from './json-number.ts';
import type { StreamMasker } from './types.ts';

/** maskJsonValue recurses this deep; deeper values are serialised without recursion and read by a JsonStream. */
const MAX_DEPTH = 256;
/**
 * maskJsonValue refuses a value nested deeper than this (JsonDepthError) rather than masking it (round 12 review,
 * finding 3: at ~5,000 levels it overflowed the stack): its callers walk the value recursively too (the Kubernetes
 * response masker's secret redaction overflowed near 1,500 levels, JSON.stringify near 5,000). No API object nests
 * near this deep; jsonStream, which never recurses, reads any depth.
 */
export const MAX_JSON_DEPTH = 512;
export const STRING_BUFFER = 8192;
export const RULED_CAP = 65536;
/** Numbers and literals longer than this are not JSON anyone sends; the rest of the input is masked as text. */
const TOKEN_CAP = MAX_INTEGER_DIGITS;

function setProp(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function dedupe(key: string, seen: Set<string>, taken: (k: string) => boolean): string {
  let k = key;
  for (let n = 2; seen.has(k) || taken(k); n++) k = `${key}#${n}`;
  seen.add(k);
  return k;
}

/** A parsed value nested deeper than MAX_JSON_DEPTH: not masked, so whoever asked must refuse it (fail closed). */
export class JsonDepthError extends Error {
  constructor() {
    super(`the JSON value nests deeper than ${MAX_JSON_DEPTH} levels (MAX_JSON_DEPTH) and cannot be masked; it is refused rather than passed unmasked`);
    this.name = 'JsonDepthError';
  }
}

/**
 * Whether a parsed value has arrays or objects nested more than `limit` levels deep; without recursion, each member
 * looked at once, stopping at the first too deep.
 */
export function nestsDeeperThan(v: unknown, limit: number): boolean {
  const stack: [object, number][] = typeof v === 'object' && v !== null ? [[v, 1]] : [];
  for (let e = stack.pop(); e !== undefined; e = stack.pop()) {
    const [x, level] = e;
    if (level > limit) return true;
    const members: unknown[] = Array.isArray(x) ? x : Object.values(x);
    for (const c of members) if (typeof c === 'object' && c !== null) stack.push([c, level + 1]);
  }
  return false;
}

/** A parsed value masked; throws JsonDepthError for one nested deeper than MAX_JSON_DEPTH. */
export function maskJsonValue(ops: MaskOps, v: unknown): unknown {
  return walk(ops, v, null, 0, new JsonContext());
}

/** JSON documents inside JSON strings are read as JSON this many levels deep; deeper ones as text. */
const MAX_NESTED = 3;
/** JSON whitespace, and the byte-order mark JsonStream also reads as whitespace (a file saved "UTF-8 with BOM"). */
const JSON_SPACE = new Set([32, 9, 10, 13, 0xfeff]);
/** What may follow an opening `{` (a key, or the end) or `[` (a value that is not a bare number or literal: `[INFO]`, `[1]` stay text). */
const AFTER_BRACE = new Set([34, 125]);
const AFTER_BRACKET = new Set([34, 91, 93, 123]);

/**
 * Whether `s` from `i` opens a JSON object or array (after JSON whitespace): `{` then `"` or `}`, `[` then `"`, `[`,
 * `{` or `]`. True, false, or null when `s` ends before it can tell. Any amount of whitespace is looked through, as a
 * JSON reader does (round 12 review, finding 1: past 64 blanks a padded document was read as text, without its name
 * rules); one pass over it, so the test stays linear.
 */
export function opensJson(s: string, i = 0): boolean | null {
  const k = afterSpace(s, i);
  const open = s.charCodeAt(k);
  if (open !== 123 && open !== 91) return k >= s.length ? null : false;
  const next = afterSpace(s, k + 1);
  if (next >= s.length) return null;
  return (open === 123 ? AFTER_BRACE : AFTER_BRACKET).has(s.charCodeAt(next));
}

/**
 * Characters the look-aheads that decide whether text is a JSON document examined (afterSpace, and json-lines.ts's
 * routing): the linear-cost tests read it (masking-round12-fixes.test.ts); one addition per call.
 */
export const lookAheadWork = { chars: 0 };

/** The first position at or after `k` that is not JSON whitespace (s.length when none). */
function afterSpace(s: string, k: number): number {
  let j = k;
  while (JSON_SPACE.has(s.charCodeAt(j))) j++;
  lookAheadWork.chars += j - k + 1;
  return j;
}

/** Whether a string value `level` strings deep is read as the JSON document it holds. */
function holdsJson(s: string, level: number): boolean {
  return level < MAX_NESTED && opensJson(s) === true;
}

/**
 * Whether the head of a string too long to hold (STRING_BUFFER) is streamed as the JSON document it may hold: also
 * when the head is all whitespace (and perhaps a brace) and cannot tell. Fails closed: a JSON stream that meets text
 * reads the rest as text (#fallback), so nothing the text reading masks is lost.
 */
function mayHoldJson(head: string, level: number): boolean {
  return level < MAX_NESTED && opensJson(head) !== false;
}

/**
 * Whether a JSON string of the outermost document, as decoded, is read as the JSON document it holds: the one test
 * both JSON maskers ask, and the byte pre-scan too (prescan.ts, on the string's head decoded by decodeJsonString), so
 * the sidecar's fast path reads a string exactly as the masker does (round 10b review, finding 3).
 */
export function stringHoldsJson(decoded: string): boolean {
  return holdsJson(decoded, 0);
}

/** A string value that holds a JSON document, masked as JSON over its own text (its formatting kept). */
function maskNested(ops: MaskOps, s: string, level: number, left: string): string {
  const js = new JsonStream(ops, level + 1, left);
  return js.push(s) + js.end();
}

function walk(ops: MaskOps, v: unknown, rule: Rule | null, depth: number, ctx: JsonContext): unknown {
  if (typeof v === 'string') return walkString(ops, v, rule, ctx);
  if (typeof v === 'number') return maskNumber(ops, v, rule, ctx);
  if (typeof v !== 'object' || v === null) {
    ctx.add('0');
    return v;
  }
  if (depth > MAX_DEPTH) return maskDeep(ops, v, rule, depth, ctx);
  if (Array.isArray(v)) return walkArray(ops, v, rule, depth + 1, ctx);
  return walkObject(ops, v as Record<string, unknown>, depth + 1, ctx);
}

function walkString(ops: MaskOps, v: string, rule: Rule | null, ctx: JsonContext): string {
  ctx.add('"');
  const masked = rule !== null ? ops.maskWhole(v, rule) : holdsJson(v, 0) ? maskNested(ops, v, 0, ctx.text) : ops.maskText(v, ctx);
  ctx.addText(v);
  ctx.add('"');
  return masked;
}

/** A parsed number, read through its shortest decimal form (String(v)) as jsonStream reads a token. */
function maskNumber(ops: MaskOps, v: number, rule: Rule | null, ctx: JsonContext): unknown {
  const masked = maskNumberToken(ops, String(v), rule, ctx) ?? v;
  ctx.add('0');
  return masked;
}

function walkArray(ops: MaskOps, a: unknown[], rule: Rule | null, depth: number, ctx: JsonContext): unknown[] {
  ctx.add('[');
  const out = a.map((x: unknown, i) => {
    if (i > 0) ctx.add(',');
    return walk(ops, x, rule, depth, ctx);
  });
  ctx.add(']');
  return out;
}

function walkObject(ops: MaskOps, o: Record<string, unknown>, depth: number, ctx: JsonContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let seen: Set<string> | null = null;
  ctx.add('{');
  for (const [i, k] of Object.keys(o).entries()) {
    if (i > 0) ctx.add(',');
    ctx.add('"');
    let nk = ops.maskText(k, ctx);
    ctx.addText(k);
    ctx.add('"');
    ctx.add(':');
    if (nk !== k) {
      seen ??= new Set();
      nk = dedupe(nk, seen, (x) => Object.hasOwn(out, x));
    }
    setProp(out, nk, walk(ops, o[k], ops.ruleFor(k), depth, ctx));
  }
  ctx.add('}');
  return out;
}

/**
 * Very deep values go through the (iterative) stream masker instead of recursion, with the rule they inherit (an array
 * under a ruled key: round 12 review, finding 3) and the document before them as context.
 */
function maskDeep(ops: MaskOps, v: object, rule: Rule | null, depth: number, ctx: JsonContext): unknown {
  const js = new JsonStream(ops, 0, ctx.text, { rule });
  const out = JSON.parse(js.push(serialise(v, MAX_JSON_DEPTH - depth)) + js.end()) as unknown;
  ctx.add('0');
  return out;
}

/** An array or object being serialised: its members (an object's own keys that JSON.stringify writes) and the next one. */
interface Open {
  values: unknown[];
  keys: string[] | null;
  next: number;
}

/**
 * JSON.stringify(v) without recursion (JSON.stringify overflows the stack near 5,000 levels), for parsed values;
 * throws JsonDepthError past `levels` levels, so the work stays bounded by the limit, not by the value.
 */
function serialise(v: object, levels: number): string {
  const out: string[] = [];
  const stack: Open[] = [];
  const enter = (x: unknown): void => {
    if (typeof x !== 'object' || x === null) {
      out.push(JSON.stringify(x) ?? 'null'); // (undefined in an array: null, as JSON.stringify writes it)
      return;
    }
    if (stack.length >= levels) throw new JsonDepthError();
    out.push(Array.isArray(x) ? '[' : '{');
    stack.push(openValue(x));
  };
  enter(v);
  for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
    if (top.next === top.values.length) {
      out.push(top.keys === null ? ']' : '}');
      stack.pop();
      continue;
    }
    if (top.next > 0) out.push(',');
    if (top.keys !== null) out.push(`${JSON.stringify(top.keys[top.next])}:`);
    enter(top.values[top.next++]);
  }
  return out.join('');
}

const writable = (x: unknown): boolean => x !== undefined && typeof x !== 'function' && typeof x !== 'symbol';

function openValue(x: object): Open {
  if (Array.isArray(x)) return { values: x as unknown[], keys: null, next: 0 };
  const o = x as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => writable(o[k]));
  return { values: keys.map((k) => o[k]), keys, next: 0 };
}

/** Minimal JSON string escaping: quote, backslash and control characters. */
// eslint-disable-next-line no-control-regex -- JSON strings must escape control characters
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

export function escapeJson(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  // eslint-disable-next-line no-control-regex -- as above
  return s.replace(/["\\\u0000-\u001f]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `\/` itself, not `\\/` (an escaped backslash before a slash). */
const ESCAPED_SLASH = /(?<!\\)(?:\\\\)*\\\//;
const ESCAPED_NON_ASCII = /(?<!\\)(?:\\\\)*\\u(?:00[89a-fA-F]|0[1-9a-fA-F]|[1-9a-fA-F])[0-9a-fA-F]{2}/;
const NON_ASCII = /[\u0080-\uffff]/g;
const HAS_NON_ASCII = /[\u0080-\uffff]/;

/**
 * `s` escaped as the raw string token `raw` was: slashes as `\/` where it escaped them (PHP's json_encode), non-ASCII
 * characters as `\uXXXX` where it was written in ASCII only (Python's json.dumps, ensure_ascii): a masked string keeps
 * its writer's escaping, so a client comparing or re-reading it reads the same kind of text.
 */
export function escapeLike(raw: string, s: string): string {
  let out = escapeJson(s);
  if (ESCAPED_SLASH.test(raw)) out = out.replaceAll('/', '\\/');
  if (ESCAPED_NON_ASCII.test(raw) && !HAS_NON_ASCII.test(raw)) out = out.replace(NON_ASCII, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * The text of a JSON string's raw content (between its quotes), decoded as JsonStream decodes it (#escape): the
 * simple escapes, `\uXXXX`, any other escaped character as itself, an escape cut by the end kept as its characters.
 */
export function decodeJsonString(raw: string): string {
  let out = '';
  let from = 0;
  for (let j = raw.indexOf('\\'); j !== -1; j = raw.indexOf('\\', from)) {
    out += raw.slice(from, j);
    const e = raw[j + 1];
    if (e === undefined || (e === 'u' && j + 6 > raw.length)) return out + raw.slice(j + 1);
    if (e === 'u') {
      const code = Number.parseInt(raw.slice(j + 2, j + 6), 16);
      out += Number.isNaN(code) ? raw.slice(j + 2, j + 6) : String.fromCharCode(code);
      from = j + 6;
    } else {
      out += SIMPLE_ESCAPES[e] ?? e;
      from = j + 2;
    }
  }
  return out + raw.slice(from);
}

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
export class JsonStream implements StreamMasker {
  readonly #ops: MaskOps;
  readonly #stack: Frame[] = [];
  /** The innermost open array or object (the stack's last frame), kept apart: read on every token. */
  #topFrame: Frame | undefined = undefined;
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
  /** The string in hand held a JSON document, masked as one: it is re-escaped as it was written. */
  #nested = false;
  #overflow = false;
  #stream: StreamMasker | null = null;
  #stall = 0;
  #backslash = -1;
  /** How many JSON strings this document is inside (maskUnnamed). */
  readonly #level: number;
  /** The document before the current token, the left context its values are read with (json-context.ts). */
  readonly #ctx: JsonContext;
  /** The last characters of a string read without #acc (streamed, or an overflowing ruled value): its context. */
  #tail = '';
  /** A top-level value was read: the next one (NDJSON) starts a context of its own, as its line does. */
  #started = false;

  /** The rule the top-level value inherits (maskDeep: a deep array under a ruled key), as an array's elements do. */
  readonly #outerRule: Rule | null;
  /**
   * Started before its input showed a document (opensJson could not tell yet: a string or line of blanks longer than
   * its hold): until the input opens one as opensJson reads it, what comes is read as text (#opensDocument).
   */
  #untilDocument: boolean;

  /**
   * `left`: the context before the document (that of the string holding it, for a nested one); `rule`: #outerRule;
   * `untilDocument`: #untilDocument.
   */
  constructor(ops: MaskOps, level = 0, left = '', opts: { rule?: Rule | null; untilDocument?: boolean } = {}) {
    this.#ops = ops;
    this.#level = level;
    this.#ctx = new JsonContext(left);
    this.#outerRule = opts.rule ?? null;
    this.#untilDocument = opts.untilDocument ?? false;
  }

  /** Between top-level values (or reading the rest as text): what comes next starts a new line of NDJSON. */
  get betweenValues(): boolean {
    return this.#text !== null || (this.#topFrame === undefined && (this.#state === AFTER || this.#state === VALUE));
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
      case COLON: return c === 58 ? this.#colon(k) : this.#fail(b, k);
      default: return this.#after(b, k, c);
    }
  }

  #colon(k: number): number {
    this.#ctx.add(':');
    return this.#to(VALUE, k + 1);
  }

  #to(state: number, i: number): number {
    this.#state = state;
    return i;
  }

  #top(): Frame | undefined {
    return this.#topFrame;
  }

  #valueRule(): Rule | null {
    const top = this.#top();
    return top === undefined ? this.#outerRule : top.rule;
  }

  #value(b: string, i: number, c: number): number {
    const top = this.#top();
    if (!this.#enterValue(top, c)) return this.#fail(b, i);
    switch (VALUE_START[c] ?? 0) {
      case 1: return this.#startString(i, false, this.#valueRule());
      case 2: return this.#open(c === 123, this.#valueRule(), i);
      case 3: return top !== undefined && !top.obj ? this.#close(b, i, c) : this.#fail(b, i);
      case 4: return this.#startToken(NUMBER, i);
      case 5: return this.#startToken(LITERAL, i);
      default: return this.#fail(b, i);
    }
  }

  /** A value starting with `c` is entered; false when the input, not yet a document, does not open one (#untilDocument). */
  #enterValue(top: Frame | undefined, c: number): boolean {
    if (this.#untilDocument && !this.#opensDocument(top, c)) return false;
    if (top !== undefined) top.empty = false;
    else this.#topLevel();
    return true;
  }

  /** Whether value character `c` keeps the input a document as opensJson reads one: `{`, or `[` and then `"`, `[`, `{`, `]`. */
  #opensDocument(top: Frame | undefined, c: number): boolean {
    if (top === undefined) {
      this.#untilDocument = c === 91; // ('{' must be followed by a key or '}': #key decides)
      return c === 123 || c === 91;
    }
    this.#untilDocument = false;
    return AFTER_BRACKET.has(c);
  }

  /** A top-level value starts: after the first, the context starts over (each NDJSON value is a line of its own). */
  #topLevel(): void {
    if (this.#started) this.#ctx.clear();
    this.#started = true;
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
    if (c === 44) {
      this.#ctx.add(',');
      return this.#to(top.obj ? KEY : VALUE, i + 1);
    }
    if ((c === 125 && top.obj) || (c === 93 && !top.obj)) return this.#close(b, i, c);
    return this.#fail(b, i);
  }

  #open(obj: boolean, rule: Rule | null, i: number): number {
    const frame: Frame = { obj, rule: obj ? null : rule, empty: true, keys: null };
    this.#stack.push(frame);
    this.#topFrame = frame;
    this.#ctx.add(obj ? '{' : '[');
    return this.#to(obj ? KEY : VALUE, i + 1);
  }

  #close(b: string, i: number, c: number): number {
    const top = this.#top();
    if (top === undefined || top.obj !== (c === 125)) return this.#fail(b, i);
    this.#stack.pop();
    this.#topFrame = this.#stack[this.#stack.length - 1];
    this.#ctx.add(c === 125 ? '}' : ']');
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
    this.#nested = false;
    this.#overflow = false;
    this.#tail = '';
    this.#ctx.add('"');
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
    this.#ctx.add('0');
    this.#emitToken(b, end, replacement);
    return this.#to(AFTER, end);
  }

  #maskNumber(raw: string): string | null {
    const m = maskNumberToken(this.#ops, raw, this.#valueRule(), this.#ctx);
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
    if (j === q && this.#wholeInHand(j - i)) {
      this.#acc = b.slice(i, j); // the common case: a whole string without escapes, in hand, under its buffer bound
      return this.#endString(b, j + 1);
    }
    if (j > i) this.#append(b, b.slice(i, j), j);
    if (j === b.length) return j;
    if (j === q) return this.#endString(b, j + 1);
    return this.#escape(b, j, final);
  }

  /** Whether the rest of the string, `length` characters up to its closing quote, is all of it and #append would keep it as is. */
  #wholeInHand(length: number): boolean {
    return this.#acc === '' && this.#stream === null && !this.#overflow && length <= (this.#rule !== null ? RULED_CAP : STRING_BUFFER);
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
      this.#keepTail(s);
      this.#out.push(escapeJson(this.#stream.push(s)));
      this.#copyFrom = at;
      return;
    }
    if (this.#overflow) {
      this.#keepTail(s);
      return;
    }
    this.#acc += s;
    if (this.#acc.length > (this.#rule !== null ? RULED_CAP : STRING_BUFFER)) this.#tooLong(b, at);
  }

  /** The end of a string read without #acc, for the context (amortised like JsonContext). */
  #keepTail(s: string): void {
    this.#tail += s;
    if (this.#tail.length > 2 * CONTEXT_WINDOW) this.#tail = this.#tail.slice(-CONTEXT_WINDOW);
  }

  #tooLong(b: string, at: number): void {
    this.#tail = this.#acc.slice(-CONTEXT_WINDOW);
    if (this.#rule !== null) {
      this.#overflow = true;
      this.#acc = '';
      return;
    }
    if (this.#isKey) this.#keyRule(null);
    if (this.#tokStart >= 0) this.#out.push(b.slice(this.#copyFrom, this.#tokStart));
    this.#tokStart = -1;
    this.#raw = '';
    // A long JSON document in the string is streamed as JSON; anything else as text.
    const left = this.#ctx.text;
    this.#stream = !this.#isKey && mayHoldJson(this.#acc, this.#level) ? new JsonStream(this.#ops, this.#level + 1, left, { untilDocument: true }) : this.#ops.textStream(left);
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
      const replacement = masked === this.#acc ? null : `"${this.#reescape(masked, b, end)}"`;
      this.#emitToken(b, end, replacement);
    }
    this.#ctx.addText(this.#tail !== '' ? this.#tail : this.#acc); // (#tail is set only for a string read without #acc)
    this.#ctx.add('"');
    this.#acc = '';
    this.#tokStart = -1;
    return this.#to(isKey ? COLON : AFTER, end);
  }

  /**
   * A changed string's new token content, escaped as the string was written (escapeLike: `\/`, ASCII-only); a string
   * written without escapes needs none unless it held a JSON document (whose masked numbers gain quotes).
   */
  #reescape(masked: string, b: string, end: number): string {
    if (!this.#escaped && !this.#nested) return masked;
    this.#nested = false;
    return escapeLike(this.#tokenRaw(b, end), masked);
  }

  #maskString(s: string): string {
    const rule = this.#rule;
    if (rule === null && holdsJson(s, this.#level)) {
      this.#nested = true;
      return maskNested(this.#ops, s, this.#level, this.#ctx.text);
    }
    if (rule === null) return this.#ops.maskText(s, this.#ctx);
    if (this.#overflow) return this.#ops.maskWhole('-', { ...rule, style: 'redact' });
    return this.#ops.maskWhole(s, rule);
  }

  #maskKey(key: string): string {
    this.#keyRule(this.#ops.ruleFor(key));
    const masked = this.#ops.maskText(key, this.#ctx);
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
    const masked = this.#isKey ? this.#ops.maskText(this.#acc, this.#ctx) : this.#maskString(this.#acc);
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
