// Masks one direction of a terminal stream (a channel's stdout, stderr or the agent's stdin) with
// the policy's streaming masker, and decides when held-back text may be shown. The streaming
// masker holds back a tail (an identifier may continue in the next chunk) and emits only in large
// pieces, which would hide a shell prompt until more output came. So text is fed to it up to the
// last whitespace only (a partial word stays here), and when the stream goes idle the masker is
// flushed: what it held ends at a word boundary, so no identifier is cut by the flush. A word
// without whitespace after it is shown when the next whitespace arrives or the stream ends.
// Residual risk (docs/ssh.md): an identifier containing spaces (a phone number "(11) 98765-4321")
// printed slowly, pausing longer than the idle delay at the space, is masked in two halves.
import { StringDecoder } from 'node:string_decoder';
import type { MaskSession, StreamMasker } from '../core-types.ts';

/** Longest partial word kept back waiting for whitespace; longer runs go to the masker (which keeps its own tail). */
const MAX_PARTIAL = 1024;

// Terminal escape sequences (CSI, OSC, two-character ESC sequences). Colours (SGR) are dropped:
// `grep --color` wraps a match in them, and `\e[1m590.830.166-33` or `590\e[31m.830.166-33` is
// not an identifier to the masker while the terminal shows one (issue 23 review). Other sequences
// (cursor movement, titles) are kept but shown to the masker as a NUL, a boundary it does not
// mask, and put back in order in what it returns.
// eslint-disable-next-line no-control-regex -- escape sequences are what is matched
const ESCAPE = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)|[ -/]*[0-~])|\u0000/g;
// eslint-disable-next-line no-control-regex -- escape sequences are what is matched
const SGR = /^\u001b\[[0-9;:]*m$/;
/** Longest escape sequence waited for across chunks; a longer unterminated one is text. */
const MAX_ESCAPE = 4096;

export class TerminalMasker {
  readonly #session: MaskSession;
  readonly #decoder = new StringDecoder('utf8');
  #stream: StreamMasker;
  /** Text not yet given to the masker: a word that may continue. */
  #partial = '';
  /** Whether the masker holds text given since the last flush. */
  #fed = false;
  /** Escape sequences (and literal NULs) given to the masker as NULs, in order, not yet shown. */
  readonly #held: string[] = [];

  constructor(session: MaskSession) {
    this.#session = session;
    this.#stream = session.textStream();
  }

  /** Masks what can be decided now; returns the text to show (maybe empty). */
  push(chunk: Buffer): string {
    const text = this.#partial + this.#decoder.write(chunk);
    let cut = lastWhitespace(text) + 1;
    if (text.length - cut > MAX_PARTIAL) cut = text.length;
    cut = unterminatedEscape(text, cut);
    this.#partial = text.slice(cut);
    if (cut === 0) return '';
    this.#fed = true;
    return this.#restore(this.#stream.push(this.#hide(text.slice(0, cut))));
  }

  /** Escape sequences out of the text the masker sees: colours dropped, the rest held as NULs. */
  #hide(text: string): string {
    return text.replace(ESCAPE, (seq) => {
      if (SGR.test(seq)) return '';
      this.#held.push(seq);
      return '\u0000';
    });
  }

  /** The held sequences back in place of the NULs the masker returned. */
  #restore(masked: string): string {
    return masked.includes('\u0000') ? masked.replaceAll('\u0000', () => this.#held.shift() ?? '') : masked;
  }

  /** The stream went idle: show what the masker holds (it ends at a word boundary). */
  flushIdle(): string {
    if (!this.#fed) return '';
    this.#fed = false;
    const out = this.#restore(this.#stream.end());
    this.#stream = this.#session.textStream();
    return out;
  }

  /** The stream ended: everything, the partial word included. */
  end(): string {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    const out = this.#restore(this.#stream.push(this.#hide(rest)) + this.#stream.end());
    this.#stream = this.#session.textStream();
    this.#fed = false;
    return out;
  }
}

/** Where to cut `text` so that an escape sequence still arriving is not split (at most `cut`). */
function unterminatedEscape(text: string, cut: number): number {
  const esc = text.lastIndexOf('\u001b', cut - 1);
  if (esc < 0 || cut - esc > MAX_ESCAPE) return cut;
  ESCAPE.lastIndex = esc;
  const m = ESCAPE.exec(text);
  ESCAPE.lastIndex = 0;
  // Complete (and ending before the cut) or not an escape we know: cut where planned.
  if (m?.index === esc && esc + m[0].length <= cut) return cut;
  return m?.index === esc || text.length - esc < MAX_ESCAPE ? esc : cut;
}

function lastWhitespace(text: string): number {
  for (let i = text.length - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    // space, tab, newline, carriage return, form feed, vertical tab
    if (c === 32 || (c >= 9 && c <= 13)) return i;
  }
  return -1;
}
