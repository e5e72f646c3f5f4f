// Masks one direction of a terminal stream (a channel's stdout, stderr or the agent's stdin) with
// the policy's streaming masker, and decides when held-back text may be shown. The streaming
// masker holds back a tail (an identifier may continue in the next chunk) and emits only in large
// pieces, which would hide a shell prompt until more output came. So text is fed to it up to the
// last whitespace only (a partial word stays here), and when the stream goes idle the masker is
// flushed: what it held ends at a word boundary, so no identifier is cut by the flush. A word
// without whitespace after it is shown when the next whitespace arrives or the stream ends.
// A word longer than MAX_PARTIAL (minified JSON, a CSV line with `;`, a URL list) goes to the
// masker unfinished; the masker still holds back its lookahead (STREAM_LOOKAHEAD characters: a
// candidate starting there may still grow), and the idle flush leaves it there until the word ends
// (round 9 review: flushed, an identifier cut by a pause in block-buffered output went out in two
// unmasked halves). No delay makes such a flush safe: the producer chooses the pause.
// Residual risk (docs/ssh.md): an identifier containing spaces (a phone number "(11) 98765-4321")
// printed slowly, pausing longer than the idle delay at the space, is masked in two halves.
import { StringDecoder } from 'node:string_decoder';
import { ESCAPE_SEQUENCE_SOURCE } from '../../../core/masking/index.ts';
import type { MaskSession, TextStreamMasker } from '../core-types.ts';

/** Longest partial word kept back waiting for whitespace; longer runs go to the masker (which keeps its own tail). */
const MAX_PARTIAL = 1024;

// Terminal escape sequences (colours, cursor moves, erases, titles, hyperlinks) go to the masker as
// they are: the engine reads text as a terminal shows it (core/masking/invisible.ts), so
// `590\e[31m.830.166-33` and `590\e[K.830.166-33` are the CPF the screen shows (issue 23 review,
// round 6), and the sequences outside an identifier come out in place. A sequence still arriving
// is kept back with the partial word, so the masker never reads half of one.
const ESCAPE = new RegExp(ESCAPE_SEQUENCE_SOURCE, 'y');
/** The start of a sequence that may still complete: what follows ESC to the end of the text, within the engine's bounds. */
// eslint-disable-next-line no-control-regex -- escape sequences are what is matched
const ARRIVING = /\u001b(?:\[[0-?]{0,24}[ -/]{0,4}|\][^\u0007\u001b]{0,80}\u001b?|[ -/]{0,4})$/y;

export class TerminalMasker {
  readonly #session: MaskSession;
  readonly #decoder = new StringDecoder('utf8');
  #stream: TextStreamMasker;
  /** Text not yet given to the masker: a word that may continue. */
  #partial = '';
  /** What the masker was given ends inside a word (one longer than MAX_PARTIAL): a flush would be final there. */
  #midWord = false;

  constructor(session: MaskSession) {
    this.#session = session;
    this.#stream = session.textStream();
  }

  /** Masks what can be decided now; returns the text to show (maybe empty). */
  push(chunk: Buffer): string {
    const text = this.#partial + this.#decoder.write(chunk);
    let cut = lastWhitespace(text) + 1;
    const long = text.length - cut > MAX_PARTIAL;
    if (long) cut = text.length;
    cut = unterminatedEscape(text, cut);
    this.#partial = text.slice(cut);
    if (cut === 0) return '';
    this.#midWord = long;
    return this.#stream.push(text.slice(0, cut));
  }

  /**
   * The stream went idle: show what the masker holds when it ends at a word boundary. Inside a long word it keeps
   * its lookahead (what it emits on push was decided with it), shown at the word's end.
   */
  flushIdle(): string {
    if (this.#midWord) return '';
    // Flushed, not ended: what comes next continues the same text (a keyword or an override before the pause counts).
    return this.#stream.flush();
  }

  /** The stream ended: everything, the partial word included. */
  end(): string {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    const out = this.#stream.push(rest) + this.#stream.end();
    this.#stream = this.#session.textStream();
    this.#midWord = false;
    return out;
  }
}

/** Where to cut `text` so that no escape sequence is split, the one still arriving included (at most `cut`). */
function unterminatedEscape(text: string, cut: number): number {
  const esc = text.lastIndexOf('\u001b', cut - 1);
  if (esc < 0) return cut;
  ARRIVING.lastIndex = esc;
  if (ARRIVING.test(text)) return esc;
  ESCAPE.lastIndex = esc;
  const m = ESCAPE.exec(text);
  return m !== null && esc + m[0].length > cut ? esc : cut;
}

function lastWhitespace(text: string): number {
  for (let i = text.length - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    // space, tab, newline, carriage return, form feed, vertical tab
    if (c === 32 || (c >= 9 && c <= 13)) return i;
  }
  return -1;
}
