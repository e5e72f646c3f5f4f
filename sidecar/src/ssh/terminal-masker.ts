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
import type { MaskSession, TextStreamMasker } from '../core-types.ts';

/** Longest partial word kept back waiting for whitespace; longer runs go to the masker (which keeps its own tail). */
const MAX_PARTIAL = 1024;

// Terminal escape sequences (colours, cursor moves, erases, titles, hyperlinks) go to the masker as
// they are: the engine reads text as a terminal shows it (core/masking/invisible.ts), so
// `590\e[31m.830.166-33` and `590\e[K.830.166-33` are the CPF the screen shows (issue 23 review,
// round 6), and the sequences outside an identifier come out in place. It also reads what is inside
// them, and drops them whole at any length (core/masking/sequences.ts, round 12c): an identifier in a
// title or a hyperlink's URL is masked in place, and one a DCS or a long OSC splits is seen whole. So
// a sequence still open where the text would be cut (at whitespace: a title, a DCS string and a CSI's
// intermediates may hold spaces) is kept back with the partial word, in its 7-bit and 8-bit (C1)
// forms, up to MAX_HELD_SEQUENCE characters: an idle flush never splits one the masker must read whole.

/** ESC, and the 8-bit CSI, DCS, SOS, OSC, PM and APC: what opens a sequence. */
const opensSequence = (c: number): boolean => c === 0x1b || c === 0x90 || c === 0x98 || c === 0x9b || (c >= 0x9d && c <= 0x9f);
/** Longest sequence kept back whole (the engine's own bounds are 24 CSI parameter bytes and 80 OSC characters). */
const MAX_HELD_SEQUENCE = 256;
/**
 * A sequence from its introducer: a CSI (parameters, intermediates, final), a control string up to its terminator
 * (BEL, ST as ESC and a backslash or U+009C) or to what aborts it (ESC, CAN, SUB), or ESC, intermediates and a final. The match
 * ends where the sequence ends, or at the text's end while it is still arriving; the groups hold how it ended.
 */
// eslint-disable-next-line no-control-regex -- escape sequences are what is matched
const SEQUENCE = /(?:\u001b\[|\u009b)[0-?]*[ -/]*([@-~])?|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d-\u009f])[^\u0007\u001b\u009c\u0018\u001a]*(?:([\u0007\u009c]|\u001b\\)|\u001b$)?|\u001b[ -/]*([0-~])?/y;

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

/**
 * Where to cut `text` (at most `cut`) so that no escape sequence is split, nor the word it is glued to: a sequence kept
 * back (heldSequence) takes the word before it along (`529.982\e[1 ` then `q.247-25`: the sequence's space is no word
 * boundary to the screen), unless that makes the partial word longer than MAX_PARTIAL (then from the sequence on).
 */
function unterminatedEscape(text: string, cut: number): number {
  for (;;) {
    const esc = heldSequence(text, cut);
    if (esc < 0) return cut;
    const word = lastWhitespace(text, esc) + 1;
    if (text.length - word > MAX_PARTIAL) return esc;
    cut = word;
  }
}

/**
 * The start of the last sequence opened before `cut` when it runs past the cut or is still arriving, within
 * MAX_HELD_SEQUENCE characters; -1 when there is none.
 */
function heldSequence(text: string, cut: number): number {
  const esc = lastIntroducer(text, cut);
  if (esc < 0) return -1;
  const { end, ended } = sequenceEnd(text, esc);
  const open = end > cut || (end === text.length && !ended);
  return open && end - esc <= MAX_HELD_SEQUENCE ? esc : -1;
}

/** The last character that opens a sequence in [cut − MAX_HELD_SEQUENCE, cut), or -1. */
function lastIntroducer(text: string, cut: number): number {
  const from = Math.max(0, cut - MAX_HELD_SEQUENCE);
  for (let i = cut - 1; i >= from; i--) if (opensSequence(text.charCodeAt(i))) return i;
  return -1;
}

/** Where the sequence opened at `esc` ends, and whether it ended there (else it reaches the text's end, arriving). */
function sequenceEnd(text: string, esc: number): { end: number; ended: boolean } {
  SEQUENCE.lastIndex = esc;
  const m = SEQUENCE.exec(text);
  if (m === null) return { end: esc + 1, ended: false };
  return { end: esc + m[0].length, ended: m[1] !== undefined || m[2] !== undefined || m[3] !== undefined };
}

/** The last whitespace before `before` (space, tab, newline, carriage return, form feed, vertical tab), or -1. */
function lastWhitespace(text: string, before = text.length): number {
  for (let i = before - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13)) return i;
  }
  return -1;
}
