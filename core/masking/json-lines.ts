// Text whose lines open JSON documents: NDJSON and JSON Lines under a text label, server-sent events (`data: {...}`),
// JSON log lines (`kubectl logs`, `cat app.log` over SSH), JSON served as text/html or sniffed from octet-stream, a
// pretty-printed document in a log. Read as text, such a line loses what only the JSON reading gives: the name rules
// (the policy's `fields`, a CPF with a typo under `cpf`) and the exact reading of number tokens (round 10 review,
// finding 1). Each line that opens a JSON object or array (after indentation, or after an SSE `data:` field name) is
// read by a JSON stream until that document ends at a line's end (pretty-printed documents span lines; an SSE field
// ends with its line); everything else goes to one text stream, which keeps its context across the JSON lines.
// A byte-order mark before the opening is read past as indentation (round 10b review, finding 4): a file written
// "UTF-8 with BOM" (.NET, PowerShell 5, Excel) starts with one, and so does every file after the first in `cat *.jsonl`;
// the HTTP pipeline drops it while decoding, the other text paths keep it (it stays in the output, as text).
// Bounded: the text held here is at most a line's opening (OPENING_HOLD characters); the JSON stream has its own bounds.
import { JsonStream, opensJson } from './json.ts';
import type { TextStreamMasker } from './types.ts';

/** A line's opening before a JSON document: indentation (byte-order marks too), an SSE `data:` field name. Group 1 holds `data:`. */
const OPENING = /\n[ \t\ufeff]*(data:)?[ \t]*[{[]/g;
const FIRST_OPENING = /[ \t\ufeff]*(data:)?[ \t]*[{[]/y;
/** The end of a text that may still become an opening with the next chunk. */
const PARTIAL_OPENING = /(?:^|\n)[ \t\ufeff]*(?:d(?:a(?:t(?:a(?::[ \t]*)?)?)?)?)?$/;
/** The longest line opening held back to decide (opensJson looks through 64 spaces after the brace). */
const OPENING_HOLD = 160;

interface Opening {
  /** Where the line starts (after its '\n'). */
  line: number;
  /** The brace or bracket. */
  brace: number;
  sse: boolean;
}

export class JsonLinesStream implements TextStreamMasker {
  readonly #text: TextStreamMasker;
  readonly #json: () => JsonStream;
  /** Input not routed yet: the start of a line that may open a JSON document, or JSON input between lines. */
  #pending = '';
  /** #pending starts at the start of a line. */
  #lineStart = true;
  #doc: JsonStream | null = null;
  /** The document came in an SSE `data:` field: it ends with its line. */
  #sse = false;

  constructor(text: TextStreamMasker, json: () => JsonStream) {
    this.#text = text;
    this.#json = json;
  }

  push(chunk: string): string {
    this.#pending += chunk;
    return this.#route(false);
  }

  end(): string {
    const out = this.#route(true);
    return out + this.#endDoc() + this.#text.end();
  }

  /** Everything held is emitted; a document open now is finished as it is (what follows is read as text). */
  flush(): string {
    const out = this.#route(false);
    if (this.#doc !== null) return out + this.#endDoc(false);
    const rest = this.#pending;
    this.#pending = '';
    this.#lineStart = rest === '' ? this.#lineStart : rest.endsWith('\n');
    return out + this.#text.push(rest) + this.#text.flush();
  }

  #route(final: boolean): string {
    let out = '';
    while (this.#pending !== '') {
      const before = this.#pending.length;
      out += this.#doc !== null ? this.#inDoc() : this.#inText(final);
      if (this.#doc === null && this.#pending.length === before) break; // holding an undecided opening
    }
    return out;
  }

  /** Text up to the next line that opens a JSON document (which starts one), holding an opening still undecided. */
  #inText(final: boolean): string {
    const p = this.#pending;
    for (let o = this.#nextOpening(p, 0); o !== null; o = this.#nextOpening(p, o.brace + 1)) {
      const opens = opensJson(p, o.brace);
      if (opens === null && !final && p.length - o.line <= OPENING_HOLD) return this.#toText(p, o.line);
      if (opens !== true) continue;
      const out = this.#toText(p, o.brace) + this.#text.flush();
      this.#doc = this.#json();
      this.#sse = o.sse;
      return out;
    }
    return this.#toText(p, final ? p.length : this.#heldFrom(p));
  }

  /** The first line opening at or after `from`: at 0 only when #pending starts a line. */
  #nextOpening(p: string, from: number): Opening | null {
    if (from === 0 && this.#lineStart) {
      FIRST_OPENING.lastIndex = 0;
      const m = FIRST_OPENING.exec(p);
      if (m !== null) return { line: 0, brace: m[0].length - 1, sse: m[1] !== undefined };
    }
    OPENING.lastIndex = Math.max(0, from - 1);
    const m = OPENING.exec(p);
    return m === null ? null : { line: m.index + 1, brace: m.index + m[0].length - 1, sse: m[1] !== undefined };
  }

  /** Where the end of `p` that may still open a document starts (p.length when none). */
  #heldFrom(p: string): number {
    const tail = p.slice(-OPENING_HOLD);
    const m = PARTIAL_OPENING.exec(tail);
    if (m === null) return p.length;
    const at = p.length - tail.length + m.index + (tail[m.index] === '\n' ? 1 : 0);
    return at === 0 && !this.#lineStart ? p.length : at;
  }

  /** Gives p[0, to) to the text stream; the rest stays pending. */
  #toText(p: string, to: number): string {
    if (to === 0) return '';
    this.#pending = p.slice(to);
    this.#lineStart = p.charCodeAt(to - 1) === 10;
    return this.#text.push(p.slice(0, to));
  }

  /** JSON input line by line, until the document ends at a line's end. */
  #inDoc(): string {
    const doc = this.#doc;
    if (doc === null) return '';
    const p = this.#pending;
    const nl = p.indexOf('\n');
    if (nl === -1) {
      this.#pending = '';
      return doc.push(p);
    }
    this.#pending = p.slice(nl + 1);
    const out = doc.push(p.slice(0, nl + 1));
    return this.#sse || doc.betweenValues ? out + this.#endDoc() : out;
  }

  #endDoc(atLineStart = true): string {
    const doc = this.#doc;
    if (doc === null) return '';
    this.#doc = null;
    this.#lineStart = atLineStart;
    return doc.end();
  }
}

/** Whether `s` has a line that may open a JSON document (JsonLinesStream decides exactly). */
export function mayOpenJsonLine(s: string): boolean {
  FIRST_OPENING.lastIndex = 0;
  if (FIRST_OPENING.test(s)) return true;
  OPENING.lastIndex = 0;
  return s.includes('\n') && OPENING.test(s);
}
