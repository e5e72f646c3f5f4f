// The keyword context a JSON value is read with (round 10b review, finding 1). Identifiers such as a bare 10-digit
// landline, an 8-digit CEP or a date of birth are masked only after their keyword (context.ts). Read as text, the
// line `{"campo":"cep","valor":"01310-100"}` gives the value its keyword; read as JSON, each value alone did not. So
// both JSON maskers (JsonStream on text, maskJsonValue on parsed values) give every string, key and number the
// document before it as left context, in one canonical spelling both can produce alike: structural characters
// without whitespace, strings as their decoded text in quotes, other scalars as `0` (a number or literal names no
// keyword). That spelling holds everything the raw line holds, but whitespace and escapes, in fewer characters: the
// keyword window (CONTEXT_WINDOW) reaches at least as far back as it did in the raw line, so a value is read with
// every keyword the text reading gave it (json-context.test.ts checks that over the corpus).
// Cheap on every token: pieces are kept by reference in a ring and joined only when a value is read with them.
import { CONTEXT_WINDOW } from './context.ts';

/** Pieces kept: each is at least one character but for empty strings, which come between two quotes. */
const RING = 128;

/** The document before the current token, in the canonical spelling; `text` is its last CONTEXT_WINDOW characters. */
export class JsonContext {
  readonly #pieces: string[] = Array<string>(RING).fill('');
  #n = 0;

  constructor(initial = '') {
    if (initial !== '') this.add(initial.slice(-CONTEXT_WINDOW));
  }

  /** A structural character, a string's quote, `0` for a number or literal. */
  add(piece: string): void {
    this.#pieces[this.#n++ % RING] = piece;
  }

  /** A string's decoded text (its last CONTEXT_WINDOW characters are all a keyword window sees), between add('"')s. */
  addText(decoded: string): void {
    this.add(decoded.length > CONTEXT_WINDOW ? decoded.slice(-CONTEXT_WINDOW) : decoded);
  }

  get text(): string {
    let s = '';
    for (let k = this.#n - 1; k >= 0 && k >= this.#n - RING && s.length < CONTEXT_WINDOW; k--) s = (this.#pieces[k % RING] ?? '') + s;
    return s.length > CONTEXT_WINDOW ? s.slice(-CONTEXT_WINDOW) : s;
  }

  clear(): void {
    this.#n = 0;
  }
}
