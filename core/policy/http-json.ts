// Request bodies as HTTP policies judge them (match.http.jsonBody). A JSON body is judged only if
// every upstream reads it the same way: strict RFC 8259 JSON in UTF-8, without a byte-order mark,
// and without an object key twice — JSON.parse keeps the last of two equal keys, while gjson,
// several streaming parsers and some validators read the first; and ASP.NET binds names
// case-insensitively, so "action" and "Action" are one field to it. A body under another label
// is read as lenient readers read it (a byte-order mark, UTF-16/32, any leading whitespace, the
// JSON5 dialect) only to tell whether it could be JSON; if it could, it must be that strict JSON too.

import { TextDecoder } from 'node:util';
import JSON5 from 'json5';

export type JsonBodyReading =
  | { ok: true; json: unknown }
  | { ok: false; problem: string };

interface ObjectFrame { keys: Map<string, string>; expectKey: boolean; path: string; key?: string }

/**
 * A key (or value) as readers that ignore case compare it: ASP.NET lower-cases, and Go's
 * encoding/json matches struct fields by Unicode simple case folding, which also takes the long s
 * (`ſ`, U+017F) for `s` and the Kelvin sign for `k`. Upper-casing first folds those; it also folds
 * a few characters no reader folds (ß to ss), which only judges more keys as one.
 */
export function foldCase(text: string): string {
  return text.toUpperCase().toLowerCase();
}

/** Walks valid JSON text, tracking the keys of each open object. */
class KeyScanner {
  readonly #text: string;
  readonly #objects: ObjectFrame[] = [];
  /** For each open array, how many objects were open when it opened. */
  readonly #arrays: number[] = [];

  constructor(text: string) {
    this.#text = text;
  }

  /** Is the innermost open container an object? */
  #inObject(): boolean {
    return this.#objects.length > 0 && this.#arrays.at(-1) !== this.#objects.length;
  }

  /** The string at `i`: a key seen twice is returned as its path; `next` is where scanning resumes. */
  #string(i: number): { next: number; repeated?: string } {
    let end = i + 1;
    while (this.#text[end] !== '"') end += this.#text[end] === '\\' ? 2 : 1;
    const top = this.#objects.at(-1);
    if (top === undefined || !top.expectKey || !this.#inObject()) return { next: end };
    const key = JSON.parse(this.#text.slice(i, end + 1)) as string;
    const seen = top.keys.get(foldCase(key));
    if (seen !== undefined) return { next: end, repeated: `${top.path}${top.path === '' ? '' : '.'}${seen === key ? key : `${seen}/${key}`}` };
    top.keys.set(foldCase(key), key);
    top.key = key;
    top.expectKey = false;
    return { next: end };
  }

  #open(): void {
    const parent = this.#objects.at(-1);
    const path = parent === undefined ? '' : `${parent.path}${parent.path === '' ? '' : '.'}${parent.key ?? ''}`;
    this.#objects.push({ keys: new Map(), expectKey: true, path });
  }

  #punctuation(c: string | undefined): void {
    if (c === '{') this.#open();
    else if (c === '}') this.#objects.pop();
    else if (c === '[') this.#arrays.push(this.#objects.length);
    else if (c === ']') this.#arrays.pop();
    else if (c === ',' && this.#inObject()) {
      const top = this.#objects.at(-1);
      if (top !== undefined) top.expectKey = true;
    }
  }

  firstRepeated(): string | undefined {
    for (let i = 0; i < this.#text.length; i++) {
      const c = this.#text[i];
      if (c !== '"') {
        this.#punctuation(c);
        continue;
      }
      const s = this.#string(i);
      if (s.repeated !== undefined) return s.repeated;
      i = s.next;
    }
    return undefined;
  }
}

/** The first key an object repeats (exactly or ignoring case), as a dot path; undefined when none. Expects valid JSON. */
export function repeatedKey(text: string): string | undefined {
  return new KeyScanner(text).firstRepeated();
}

function strict(data: Buffer): JsonBodyReading {
  if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) return { ok: false, problem: 'it starts with a byte-order mark' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return { ok: false, problem: 'it is not UTF-8' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `it is not strict JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  const repeated = repeatedKey(text);
  if (repeated !== undefined) return { ok: false, problem: `key ${repeated} appears twice (upstreams keep either one; some ignore case)` };
  const inexact = inexactInteger(text);
  if (inexact !== undefined) return { ok: false, problem: `the number ${inexact} is beyond what the policy engine reads exactly (2^53), while upstreams reading 64-bit or big integers read it whole; send it as a string` };
  return { ok: true, json };
}

/** Sixteen digits in a row: the only texts that may hold an integer JSON.parse cannot hold exactly. */
const LONG_DIGITS = /\d{16}/;

/**
 * The first integer literal of valid JSON text that JSON.parse rounds (beyond 2^53: a rule on
 * customer_id 1234567890123456789 would read ...800 while Python, Go's int64 and Jackson read it
 * whole); undefined when none. Read through JSON.parse's source text, only when the text has a
 * run of sixteen digits at all.
 */
function inexactInteger(text: string): string | undefined {
  if (!LONG_DIGITS.test(text)) return undefined;
  let found: string | undefined;
  JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
    const source = context?.source;
    if (found === undefined && typeof value === 'number' && source !== undefined && /^-?\d+$/.test(source) && !Number.isSafeInteger(value)) found = source;
    return value;
  });
  return found;
}

/** The encodings a lenient JSON reader may take a body in. */
type JsonEncoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'utf-32le' | 'utf-32be';

const BOMS: readonly (readonly [JsonEncoding, readonly number[]])[] = [
  // UTF-32LE's mark starts with UTF-16LE's: it is tried first.
  ['utf-32be', [0x00, 0x00, 0xfe, 0xff]], ['utf-32le', [0xff, 0xfe, 0x00, 0x00]],
  ['utf-16be', [0xfe, 0xff]], ['utf-16le', [0xff, 0xfe]], ['utf-8', [0xef, 0xbb, 0xbf]],
];

/** The encoding of a body without a byte-order mark, told by where its first NULs are (json.detect_encoding). */
function byNuls(b: Buffer): JsonEncoding {
  if (b.length >= 4) {
    if (b[0] === 0) return b[1] === 0 ? 'utf-32be' : 'utf-16be';
    if (b[1] === 0) return b[2] === 0 && b[3] === 0 ? 'utf-32le' : 'utf-16le';
  } else if (b.length === 2) {
    if (b[0] === 0) return 'utf-16be';
    if (b[1] === 0) return 'utf-16le';
  }
  return 'utf-8';
}

/**
 * The encoding a lenient JSON reader decodes a body in, and the length of its byte-order mark:
 * as Python's json.loads(bytes) does (json.detect_encoding, behind Flask's get_json and
 * Starlette's request.json()): a UTF-8, UTF-16 or UTF-32 mark, else the NUL pattern of the first
 * bytes (JSON starts with ASCII, so UTF-16 and UTF-32 show NULs there).
 */
export function jsonEncoding(data: Buffer): { encoding: JsonEncoding; bom: number } {
  for (const [encoding, mark] of BOMS) {
    if (mark.every((byte, i) => data[i] === byte)) return { encoding, bom: mark.length };
  }
  return { encoding: byNuls(data), bom: 0 };
}

/** Code units read per step while looking for the first significant character. */
const SCAN_CHUNK = 4096;

/** The text of `data` from `start` to `end` in `encoding` (whole code units; UTF-8 through a streaming decoder). */
function decodeUnits(data: Buffer, start: number, end: number, encoding: JsonEncoding, utf8: TextDecoder): string {
  const part = data.subarray(start, end);
  if (encoding === 'utf-8') return utf8.decode(part, { stream: end < data.length });
  if (encoding === 'utf-16le') return part.toString('utf16le');
  if (encoding === 'utf-16be') return Buffer.from(part).swap16().toString('utf16le');
  let text = '';
  for (let i = 0; i + 4 <= part.length; i += 4) {
    const cp = encoding === 'utf-32le' ? part.readUInt32LE(i) : part.readUInt32BE(i);
    text += cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\ufffd';
  }
  return text;
}

/**
 * The first character of a body that is not whitespace, as a lenient reader decodes it (undefined
 * when there is none). Whitespace is any Unicode white space, not only JSON's four: Json.NET and
 * JSON5 readers skip more, and skipping more only judges more bodies. Linear, in steps: a body of
 * whitespace is read once, and a body that starts with text is barely read.
 */
export function firstSignificant(data: Buffer): string | undefined {
  const { encoding, bom } = jsonEncoding(data);
  // Most bodies (forms, text, JSON itself) start with a visible ASCII character: no decoding.
  const head = data[0] ?? 0;
  if (encoding === 'utf-8' && bom === 0 && head > 0x20 && head < 0x7f) return String.fromCharCode(head);
  const unit = encoding.startsWith('utf-32') ? 4 : encoding.startsWith('utf-16') ? 2 : 1;
  const utf8 = new TextDecoder('utf-8');
  for (let at = bom; at < data.length; at += SCAN_CHUNK * unit) {
    const text = decodeUnits(data, at, Math.min(data.length, at + SCAN_CHUNK * unit), encoding, utf8);
    const found = /\S/u.exec(text);
    if (found !== null) return found[0];
  }
  return undefined;
}

/** The body as a lenient reader decodes it (json.detect_encoding; invalid UTF-8 replaced, as Go's encoding/json does). */
function lenientText(data: Buffer): string {
  const { encoding, bom } = jsonEncoding(data);
  return decodeUnits(data, bom, data.length, encoding, new TextDecoder('utf-8'));
}

/** Where `text`'s first value starts: past white space and JSON5 comments (Json.NET skips them too). */
function valueStart(text: string): number {
  let at = 0;
  for (;;) {
    const ws = /\S/u.exec(text.slice(at));
    if (ws === null) return text.length;
    at += ws.index;
    if (text.startsWith('//', at)) at = text.includes('\n', at) ? text.indexOf('\n', at) + 1 : text.length;
    else if (text.startsWith('/*', at)) at = text.includes('*/', at + 2) ? text.indexOf('*/', at + 2) + 2 : text.length;
    else return at;
  }
}

/** The last index of the string opening at `i` (quote `q`, backslash escapes). */
function stringEnd(text: string, i: number, q: string): number {
  let j = i + 1;
  while (j < text.length && text[j] !== q) j += text[j] === '\\' ? 2 : 1;
  return j;
}

/** Where scanning resumes after the string or comment at `i` (its last index), or undefined when none starts there. */
function skipped(text: string, i: number): number | undefined {
  const c = text[i];
  if (c === '"' || c === "'") return stringEnd(text, i, c);
  const next = text[i + 1];
  if (c !== '/' || (next !== '/' && next !== '*')) return undefined;
  const close = next === '/' ? '\n' : '*/';
  const found = text.indexOf(close, i + 2);
  return found < 0 ? text.length : found + close.length - 1;
}

/** The closing index of the object or array opening at `start` (strings and comments skipped), or -1. */
function valueEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const past = skipped(text, i);
    if (past !== undefined) {
      i = past;
      continue;
    }
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if ((c === '}' || c === ']') && --depth === 0) return i;
  }
  return -1;
}

function json5Reads(text: string): boolean {
  try {
    JSON5.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether some lenient reader takes a body as a JSON object or array: decoded as lenient readers
 * decode it, its first value (past white space and comments) is an object or array JSON5 reads —
 * the whole body, or only that first value, as Go's json.Decoder and gin's ShouldBindJSON read
 * `{"action":"export"} trailing` — JSON5 accepting what Python's json (NaN, Infinity, repeated
 * keys), Json.NET (comments, single quotes, unquoted keys, trailing commas) and JSON5 readers
 * accept beyond RFC 8259. Text no such reader takes (`[INFO] an order was exported`, `{name} was
 * exported`) is no JSON to any upstream.
 */
export function lenientlyJson(data: Buffer): boolean {
  const text = lenientText(data);
  const start = valueStart(text);
  if (text[start] !== '{' && text[start] !== '[') return false;
  if (json5Reads(text)) return true;
  const end = valueEnd(text, start);
  return end > start && json5Reads(text.slice(start, end + 1));
}

/** Whether a body's first significant character (a byte-order mark, encoding, white space and comments aside) may open JSON. */
function mayOpenJson(data: Buffer): boolean {
  const first = firstSignificant(data);
  if (first === '{' || first === '[') return true;
  return first === '/' && lenientlyJson(data);
}

/** Why a body that a lenient reader takes as JSON is not judged as one (strict's problem, named). */
function unlabelledProblem(data: Buffer, problem: string): string {
  const { encoding, bom } = jsonEncoding(data);
  const read = encoding === 'utf-8' ? (bom > 0 ? 'after its byte-order mark ' : '') : `decoded as ${encoding.toUpperCase()} `;
  return `it starts like JSON ({ or [ ${read}after any whitespace), which handlers that decode any body read as JSON whatever its Content-Type, but ${problem}`;
}

/**
 * The JSON a buffered request body is judged as. A body labelled JSON must be strict JSON. A body
 * under another label (or none) is judged as JSON when a lenient reader could take it as JSON:
 * its first significant character, after a byte-order mark, in UTF-16 or UTF-32 when its NULs say
 * so, and after any amount of whitespace, is { or [ (many handlers decode the body whatever its
 * Content-Type: Flask's get_json(force=True), FastAPI without a Content-Type). Such a body must
 * then be strict JSON too, or it is refused when a lenient reader takes it as JSON (lenientlyJson):
 * never left unjudged as "not JSON". Anything else is not JSON (json undefined).
 */
export function readJsonBody(data: Buffer, labelledJson: boolean): JsonBodyReading {
  if (data.length === 0) return { ok: true, json: undefined };
  if (labelledJson) return strict(data);
  if (!mayOpenJson(data)) return { ok: true, json: undefined };
  const reading = strict(data);
  if (reading.ok) return reading;
  return lenientlyJson(data) ? { ok: false, problem: unlabelledProblem(data, reading.problem) } : { ok: true, json: undefined };
}

/**
 * Whether a Content-Type is one frameworks bind as JSON, parameters and case aside:
 * application/json, text/json (ASP.NET Core), any `+json` suffix (application/problem+json,
 * application/+json), and the `x-json`, `json-seq` kinds some readers accept. A body under such a
 * label must be strict JSON, whatever it starts with; erring towards JSON only judges more bodies.
 */
const JSON_LABEL = /^\s*(?:application|text)\/(?:[\w.+-]*[+.-])?json\b/i;

export function isJsonLabel(contentType: string | undefined): boolean {
  return contentType !== undefined && JSON_LABEL.test(contentType);
}
