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
// No bound on what a JSON reader reads past (round 12 review, finding 1): indentation of any length before the brace
// (emitted as text, the line's state kept: #line), whitespace of any length after it (an opening still undecided
// when the hold fills is read as JSON: the JSON stream reads text that is not JSON as text, so this fails closed).
import { JsonStream, lookAheadWork, opensJson } from './json.ts';
import type { TextStreamMasker } from './types.ts';

/**
 * A line's opening before a JSON document: indentation (byte-order marks too), an SSE `data:` field name. Group 1 holds
 * `data:`. No two quantifiers may take the same blank (`[ \t\ufeff]*(data:)?[ \t]*` did: quadratic on a line of blanks).
 */
const OPENING = /\n[ \t\ufeff]*(?:(data:)[ \t]*)?[{[]/g;
const FIRST_OPENING = /[ \t\ufeff]*(?:(data:)[ \t]*)?[{[]/y;
/** The rest of an opening whose `data:` was already given to the text stream. */
const AFTER_DATA = /[ \t]*[{[]/y;
/** A line's start so far, by what it can still become: indentation only, or indentation and `data:` and blanks. */
const INDENTATION = /^[ \t\ufeff]*$/;
const DATA_FIELD = /^[ \t\ufeff]*data:[ \t]*$/;
const BLANKS = /^[ \t]*$/;
/** The end of a text that may still become an opening with the next chunk. */
const PARTIAL_OPENING = /(?:^|\n)[ \t\ufeff]*(?:d(?:a(?:t(?:a(?::[ \t]*)?)?)?)?)?$/;
/** The longest line opening held back to decide; an opening undecided past it is read as JSON. */
const OPENING_HOLD = 160;

/** Where #pending starts in its line: 0 past anything that can open a document, 1 at its start or after indentation, 2 after `data:`. */
type LineState = 0 | 1 | 2;

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
  /** Where #pending starts in its line (LineState): a line's opening given to the text stream in parts is still one. */
  #line: LineState = 1;
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
    this.#advanceLine(rest);
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
    lookAheadWork.chars += p.length; // (what this pass's regular expressions may look at)
    for (let o = this.#nextOpening(p, 0); o !== null; o = this.#nextOpening(p, o.brace + 1)) {
      const opens = opensJson(p, o.brace);
      if (opens === null && !final && p.length - o.line <= OPENING_HOLD) return this.#toText(p, o.line);
      if (opens === false) continue; // (undecided past the hold, or at the end: read as JSON)
      const out = this.#toText(p, o.brace) + this.#text.flush();
      this.#doc = this.#json();
      this.#sse = o.sse;
      return out;
    }
    return this.#toText(p, final ? p.length : this.#heldFrom(p));
  }

  /** The first line opening at or after `from`: at 0 only when #pending may continue one (#line). */
  #nextOpening(p: string, from: number): Opening | null {
    const first = from === 0 ? this.#firstOpening(p) : null;
    if (first !== null) return first;
    OPENING.lastIndex = Math.max(0, from - 1);
    const m = OPENING.exec(p);
    return m === null ? null : { line: m.index + 1, brace: m.index + m[0].length - 1, sse: m[1] !== undefined };
  }

  /** The opening #pending starts with, continuing the line its text so far began (#line). */
  #firstOpening(p: string): Opening | null {
    if (this.#line === 0) return null;
    const re = this.#line === 1 ? FIRST_OPENING : AFTER_DATA;
    re.lastIndex = 0;
    const m = re.exec(p);
    return m === null ? null : { line: 0, brace: m[0].length - 1, sse: this.#line === 2 || m[1] !== undefined };
  }

  /** Where the end of `p` that may still open a document starts (p.length when none). */
  #heldFrom(p: string): number {
    const tail = p.slice(-OPENING_HOLD);
    const m = PARTIAL_OPENING.exec(tail);
    if (m === null) return p.length;
    const at = p.length - tail.length + m.index + (tail[m.index] === '\n' ? 1 : 0);
    return at === 0 && this.#line === 0 ? p.length : at;
  }

  /** Gives p[0, to) to the text stream; the rest stays pending. */
  #toText(p: string, to: number): string {
    if (to === 0) return '';
    this.#pending = p.slice(to);
    const emitted = p.slice(0, to);
    this.#advanceLine(emitted);
    return this.#text.push(emitted);
  }

  /**
   * #line after `emitted` went to the text stream: a line's indentation (and `data:`) may go in parts, each part longer
   * than the hold (round 12 review, finding 1: 200 blanks before the brace in 5-character chunks read the line as text).
   * Each character is looked at once (the last line of each part), so this stays linear.
   */
  #advanceLine(emitted: string): void {
    if (emitted === '') return;
    const nl = emitted.lastIndexOf('\n');
    const from: LineState = nl === -1 ? this.#line : 1;
    const rest = nl === -1 ? emitted : emitted.slice(nl + 1);
    this.#line = nextLineState(from, rest);
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
    this.#line = atLineStart ? 1 : 0;
    return doc.end();
  }
}

/** Where a line in state `from` is once `text` (no newline in it) follows. */
function nextLineState(from: LineState, text: string): LineState {
  if (from === 1 && INDENTATION.test(text)) return 1;
  if (from === 1 && DATA_FIELD.test(text)) return 2;
  return from === 2 && BLANKS.test(text) ? 2 : 0;
}

/** Whether `s` has a line that may open a JSON document (JsonLinesStream decides exactly). */
export function mayOpenJsonLine(s: string): boolean {
  FIRST_OPENING.lastIndex = 0;
  if (FIRST_OPENING.test(s)) return true;
  OPENING.lastIndex = 0;
  return s.includes('\n') && OPENING.test(s);
}
