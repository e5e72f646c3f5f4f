// Request bodies as HTTP policies judge them (match.http.jsonBody). A JSON body is judged only if
// every upstream reads it the same way: strict RFC 8259 JSON in UTF-8, without a byte-order mark,
// and without an object key twice — JSON.parse keeps the last of two equal keys, while gjson,
// several streaming parsers and some validators read the first; and ASP.NET binds names
// case-insensitively, so "action" and "Action" are one field to it.

export type JsonBodyReading =
  | { ok: true; json: unknown }
  | { ok: false; problem: string };

interface ObjectFrame { keys: Map<string, string>; expectKey: boolean; path: string; key?: string }

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
    const seen = top.keys.get(key.toLowerCase());
    if (seen !== undefined) return { next: end, repeated: `${top.path}${top.path === '' ? '' : '.'}${seen === key ? key : `${seen}/${key}`}` };
    top.keys.set(key.toLowerCase(), key);
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
  return { ok: true, json };
}

/**
 * The JSON a buffered request body is judged as. A body labelled JSON must be strict JSON; a body
 * under another label that is a JSON object or array is judged as JSON too (many handlers decode
 * the body whatever its Content-Type), and refused when it repeats a key. Anything else is not JSON
 * (json undefined).
 */
export function readJsonBody(data: Buffer, labelledJson: boolean): JsonBodyReading {
  if (data.length === 0) return { ok: true, json: undefined };
  if (labelledJson) return strict(data);
  const first = data.toString('latin1', 0, Math.min(data.length, 64)).trimStart()[0];
  if (first !== '{' && first !== '[') return { ok: true, json: undefined };
  const reading = strict(data);
  return reading.ok || reading.problem.startsWith('key ') ? reading : { ok: true, json: undefined };
}
