// What a terminal shows of a text, cell by cell, and where each cell comes from (round 15). The engine's readings
// (decode.ts, sequences.ts, bidi.ts, utf16.ts) each undo one thing a reader does; a terminal does several at once and
// in its own order: it runs the escape sequences a decoder has just written (`\e\u009c` is ESC then ST once `\u009c`
// is decoded), lets a backspace or a carriage return write visible text over earlier text on the same line
// (`111 444 777529.982.247-25\r.166-33cpf ` shows `.166-33cpf 529.982.247-25`), and hides what a string sequence
// opened after an identifier holds. Gluing whole identifiers to controls and escapes in the engine's property test
// found such compositions no single reading covers (docs/security-model.md, round 14 "found, not fixed").
//
// So the engine also reads its output as a terminal shows it (engine.ts: Session's screen check): the screen of the
// text, of the text once its escapes are decoded, and of the screen with its escaped controls read as nothing. A cell
// maps back to the source characters that wrote it, so what it finds there is masked in the source (each letter and
// digit of the hit, and every escape that spelled one, written as `*`), however the cells of one hit are scattered in
// the source by carriage returns and backspaces.
//
// The parser is the DEC/ECMA-48 one terminals share (xterm, VTE, Windows Terminal, alacritty): C0 controls inside an
// escape sequence or a CSI are executed (a backspace there still moves the cursor) and do not end it; CAN and SUB abort
// it; ESC starts another; a C1 control ends it and acts; a control string (OSC, DCS, SOS, PM, APC) swallows everything
// up to its terminator (BEL for OSC, ST as U+009C or ESC `\`), an abort, or another ESC.
import { INVISIBLE } from './invisible.ts';
import { BEL, C1_CSI, C1_OSC, C1_ST, C1_STRINGS, ESC, OPENS_STRING } from './sequences.ts';
import { CONTINUATION, Terminal } from './terminal.ts';

/** A view of a source text: its characters, and for each the source range [at, end) it was read from. */
export interface SourceView {
  text: string;
  at: Int32Array;
  end: Int32Array;
}

/**
 * The lines a terminal shows, joined by `\n`, with the source range each character's cell shows: -1 for a blank cell
 * or a line's end.
 */
export type ScreenView = SourceView;

const CAN = 0x18;
const SUB = 0x1a;
const DEL = 0x7f;
/** A CSI's parameters with no private marker (`?`, `>`, `=`, `<`): numbers and `;`. */
const PLAIN_PARAMS = /^[0-9;]*$/;

/** The parser's states: text, after ESC (and its intermediates), inside a CSI, inside a control string. */
const GROUND = 0;
const ESCAPE = 1;
const IN_CSI = 2;
const IN_STRING = 3;

const isC1 = (c: number): boolean => c >= 0x80 && c <= 0x9f;

/**
 * How much a text may make the terminal do, per character of it (and a floor for short texts): cells written, moved
 * or erased. A text that asks for more (`\e[4096b` after every character, a flood of insertions on a long line) is no
 * screen output a reader follows; the screen check then fails closed (Session.screenChecked).
 */
const WORK_PER_CHARACTER = 16;
const WORK_FLOOR = 65_536;
/** Blank cells between two written ones are read as at most this many spaces: more separate as much. */
const MAX_BLANKS = 16;

/**
 * The CSIs the model runs, by final byte: cursor back, forward (CUF, HPR), to a column (CHA, HPA), to a position (CUP,
 * HVP), up, down (CUD, VPR), to a row (VPA), to the next or previous line's start, tab stops forward and back, erase
 * in line and in display, erase, delete and insert characters, insert and delete lines, scroll up and down, repeat the
 * last character, save and restore the cursor, and the insert mode (SM / RM 4). `n` is the first parameter (at least 1).
 */
const CSI_ACTIONS: Readonly<Record<string, (t: Terminal, n: number, args: readonly number[]) => void>> = {
  D: (t, n) => t.back(n),
  C: (t, n) => t.forward(n),
  a: (t, n) => t.forward(n),
  G: (t, n) => t.column(n - 1),
  '`': (t, n) => t.column(n - 1),
  H: (t, n, args) => position(t, n, args),
  f: (t, n, args) => position(t, n, args),
  A: (t, n) => t.up(n),
  B: (t, n) => t.down(n, false, true),
  e: (t, n) => t.down(n, false, true),
  d: (t, n) => t.absoluteRow(n),
  E: (t, n) => t.down(n, true, true),
  F: (t, n) => {
    t.up(n);
    t.column(0);
  },
  I: (t, n) => t.tab(n),
  Z: (t, n) => t.tab(-n),
  K: (t, _n, args) => t.eraseInLine(args[0] || 0),
  J: (t, _n, args) => t.eraseInDisplay(args[0] || 0),
  X: (t, n) => t.blank(t.cursor, t.cursor + n),
  P: (t, n) => t.shift(-n),
  '@': (t, n) => t.shift(n),
  L: (t, n) => t.shiftLines(n),
  M: (t, n) => t.shiftLines(-n),
  S: (t, n) => t.scroll(n),
  T: (t, n) => t.scroll(-n),
  b: (t, n) => t.repeat(n),
  s: (t) => t.save(),
  u: (t) => t.restore(),
  h: (t, _n, args) => modes(t, args, true),
  l: (t, _n, args) => modes(t, args, false),
};

/** CUP / HVP: a row and a column. */
function position(t: Terminal, row: number, args: readonly number[]): void {
  t.absoluteRow(row);
  t.column(Math.max(1, args[1] || 1) - 1);
}

/** SM / RM: the insert mode (4) is run; the others (keyboard lock, local echo, new line mode: read both ways) move nothing. */
function modes(t: Terminal, args: readonly number[], on: boolean): void {
  if (args.includes(4)) t.insertMode(on);
}

// What real terminals run that moves text or the cursor in ways the model does not (xterm's control sequences, VTE's
// and Windows Terminal's subsets): the model is unknown after them. Anything else the model does not run, a terminal
// ignores or runs without moving a cell (colours, queries, keyboard and mouse modes, titles, character sets).
/** CSI finals: set tab stops' clearing (TBC), the scrolling margins (DECSTBM, which homes the cursor), tab control. */
const CSI_UNKNOWN = new Set(['g', 'r', 'W']);
/** CSI intermediates and final: shift left and right (SL, SR), soft reset, insert and delete columns, rectangle copy, fill and erase. */
const CSI_UNKNOWN_WITH_INTERMEDIATES = new Set([' @', ' A', '!p', "'}", "'~", '$v', '$x', '$z', '${', '*x']);
/**
 * Private modes (`\e[?…h/l`): 132 columns (clears, homes), origin mode, autowrap, reverse wraparound (a backspace
 * goes to the line above), the alternate screens and their saved cursor, left and right margins, no clear on a width
 * change.
 */
const PRIVATE_UNKNOWN = new Set([3, 6, 7, 45, 47, 69, 95, 1047, 1048, 1049]);

/** ESC and a final byte the model runs: save and restore the cursor (DECSC, DECRC), index, next line, reverse index, full reset. */
const ESC_ACTIONS: Readonly<Record<string, (t: Terminal) => void>> = {
  '7': (t) => t.save(),
  '8': (t) => t.restore(),
  D: (t) => t.index(false),
  E: (t) => t.index(true),
  M: (t) => t.up(1),
  c: (t) => t.reset(),
};
/** ESC finals: set a tab stop (HTS), back and forward index (DECBI, DECFI: they shift the line at a margin), memory lock. */
const ESC_UNKNOWN = new Set(['H', '6', '9', 'l', 'm'].map((c) => c.charCodeAt(0)));

/**
 * What terminals show of a code point: 0 cells (a combining mark), 2 (East Asian wide and fullwidth), or 1; `unsure`
 * where terminals disagree (emoji and pictographs: xterm and VTE take two cells, xterm.js one).
 */
function widthOf(cp: number): { width: number; unsure: boolean } {
  if (COMBINING.test(String.fromCodePoint(cp))) return { width: 0, unsure: false };
  if (WIDE.some(([a, b]) => cp >= a && cp <= b)) return { width: 2, unsure: false };
  return { width: 1, unsure: (cp >= 0x1f000 && cp <= 0x1faff) || (cp >= 0x2600 && cp <= 0x27bf) };
}
const COMBINING = /^\p{M}$/u;
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf],
  [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe30, 0xfe4f], [0xff00, 0xff60], [0xffe0, 0xffe6], [0x20000, 0x3fffd],
];

/**
 * What a terminal shows of `v` (a view of a source text): its lines and each cell's source range, read with a line
 * feed going to the line's start (a terminal's usual output processing) and, where the cursor moves up, also keeping
 * its column (raw output). Null when the screen is not the model's to tell (terminal.ts: a write where the model is
 * unknown) or past the work budget.
 */
export function screenOf(v: SourceView): ScreenView[] | null {
  const first = run(v, false);
  if (first === null) return null;
  if (!first.movedUp) return [linesOf(first, v)];
  const second = run(v, true);
  return second === null ? null : [linesOf(first, v), linesOf(second, v)];
}

function run(v: SourceView, lfKeepsColumn: boolean): Terminal | null {
  const parser = new Parser(v.text, new Terminal(lfKeepsColumn));
  const budget = WORK_FLOOR + WORK_PER_CHARACTER * v.text.length;
  for (let i = 0; i < v.text.length; ) {
    i = parser.step(i);
    if (parser.term.work > budget || parser.term.failed) return null;
  }
  return parser.term;
}

/** The DEC parser's states over a view's text, driving a Terminal. */
class Parser {
  readonly term: Terminal;
  readonly #t: string;
  #state = GROUND;
  #osc = false;
  #intermediates = '';
  #params = '';

  constructor(t: string, term: Terminal) {
    this.#t = t;
    this.term = term;
  }

  /** Reads the character at `i`; returns where the next one starts. */
  step(i: number): number {
    const c = this.#t.charCodeAt(i);
    if (this.#state === GROUND) return this.#ground(i, c);
    if (this.#state === IN_STRING) return this.#inString(i, c);
    if (c === CAN || c === SUB) this.#state = GROUND;
    else if (c === ESC) this.#enter(ESCAPE);
    else if (c < 0x20) this.term.execute(c);
    else if (c >= 0x80) return this.#ground(i, c);
    else if (c === DEL) return i + 1;
    else if (this.#state === ESCAPE) this.#escapeByte(c);
    else this.#csiByte(c);
    return i + 1;
  }

  #enter(state: number): void {
    this.#state = state;
    this.#intermediates = '';
    this.#params = '';
  }

  #openString(osc: boolean): void {
    this.#state = IN_STRING;
    this.#osc = osc;
  }

  #ground(i: number, c: number): number {
    this.#state = GROUND;
    if (c === ESC) this.#enter(ESCAPE);
    else if (c === C1_CSI) this.#enter(IN_CSI);
    else if (c === C1_OSC || C1_STRINGS.has(c)) this.#openString(c === C1_OSC);
    else if (c < 0x20 || c === DEL) this.term.execute(c);
    else if (!isC1(c)) return this.#print(i);
    return i + 1;
  }

  /** A character: its cells (a surrogate pair is one character); what takes none (format characters, private use, combining marks) is not written. */
  #print(i: number): number {
    const cp = this.#t.codePointAt(i) ?? 0;
    const units = cp > 0xffff ? 2 : 1;
    const { width, unsure } = widthOf(cp);
    if (width > 0 && !INVISIBLE.test(this.#t.slice(i, i + units))) this.term.put(i, width, unsure);
    return i + units;
  }

  /** Inside a control string: up to its terminator (BEL for OSC, ST), an abort, or another ESC. */
  #inString(i: number, c: number): number {
    if (c === C1_ST || (this.#osc && c === BEL) || c === CAN || c === SUB) this.#state = GROUND;
    else if (c === ESC && this.#t.charCodeAt(i + 1) === 0x5c) {
      this.#state = GROUND;
      return i + 2;
    } else if (c === ESC) this.#enter(ESCAPE);
    return i + 1;
  }

  #escapeByte(c: number): void {
    if (c <= 0x2f) {
      this.#intermediates += String.fromCharCode(c);
      return;
    }
    this.#state = GROUND;
    if (this.#intermediates !== '') this.#escWithIntermediates(c);
    else if (c === 0x5b) this.#enter(IN_CSI);
    else if (c === 0x5d || OPENS_STRING.has(c)) this.#openString(c === 0x5d);
    else {
      const action = ESC_ACTIONS[String.fromCharCode(c)];
      if (action !== undefined) action(this.term);
      else if (ESC_UNKNOWN.has(c)) this.term.unmodelled();
    }
  }

  /** Double-width and double-height lines (`\e#3` to `\e#6`) change where a column is; character sets (`\e(B`) nothing. */
  #escWithIntermediates(c: number): void {
    if (this.#intermediates === '#' && c >= 0x33 && c <= 0x36) this.term.unmodelled();
  }

  #csiByte(c: number): void {
    if (c <= 0x2f) this.#intermediates += String.fromCharCode(c);
    else if (c <= 0x3f) this.#params += String.fromCharCode(c);
    else {
      this.#state = GROUND;
      this.#dispatchCsi(String.fromCharCode(c));
    }
  }

  /** A CSI the model runs, one that moves what the model cannot tell (unknown), or one that moves nothing. */
  #dispatchCsi(final: string): void {
    const params = this.#params;
    if (this.#intermediates !== '') {
      if (CSI_UNKNOWN_WITH_INTERMEDIATES.has(this.#intermediates + final)) this.term.unmodelled();
    } else if (params.startsWith('?')) {
      const modes = params.slice(1).split(';').map(Number);
      if ((final === 'h' || final === 'l') && modes.some((m) => PRIVATE_UNKNOWN.has(m))) this.term.unmodelled();
    } else if (PLAIN_PARAMS.test(params)) this.#runCsi(final, params);
    // Else `>` `=` `<` before the parameters: queries and key modifier settings, which move nothing.
  }

  #runCsi(final: string, params: string): void {
    const action = CSI_ACTIONS[final];
    const args = params.split(';').map((p) => Number.parseInt(p, 10));
    if (action !== undefined) action(this.term, Math.max(1, args[0] || 1), args);
    else if (CSI_UNKNOWN.has(final)) this.term.unmodelled();
  }
}

/** The terminal's lines top to bottom, each cell left to right, a long run of blank cells read as MAX_BLANKS spaces. */
function linesOf(term: Terminal, v: SourceView): ScreenView {
  const rows = [...term.lines.entries()].sort((x, y) => x[0] - y[0]);
  // At most two code units per cell (a surrogate pair), MAX_BLANKS before each, and a line feed between lines.
  const size = rows.reduce((n, [, line]) => n + (2 + MAX_BLANKS) * line.size + 1, 0);
  const at = new Int32Array(size);
  const end = new Int32Array(size);
  let text = '';
  const cell = (ch: string, a: number, b: number): void => {
    for (let u = 0; u < ch.length; u++) {
      at[text.length + u] = a;
      end[text.length + u] = b;
    }
    text += ch;
  };
  for (const [n, [, line]] of rows.entries()) {
    if (n > 0) cell('\n', -1, -1);
    let next = 0;
    for (const [col, k] of [...line.entries()].sort((x, y) => x[0] - y[0])) {
      // A wide character's second cell is its own: nothing more to read there.
      if (k === CONTINUATION) {
        next = col + 1;
        continue;
      }
      for (let b = Math.min(col - next, MAX_BLANKS); b > 0; b--) cell(' ', -1, -1);
      const pair = (v.text.charCodeAt(k) & 0xfc00) === 0xd800 ? 2 : 1;
      cell(v.text.slice(k, k + pair), v.at[k] ?? -1, v.end[k + pair - 1] ?? -1);
      next = col + 1;
    }
  }
  return { text, at: at.subarray(0, text.length), end: end.subarray(0, text.length) };
}

/**
 * An escape of a control as a screen shows it, text: `\u001b`, `\x07`, `\b`, `&#27;`, `&#x9c;`, `%1B`, `%C2%9C`. A
 * reader of the screen who does not run them reads them as nothing (the property test's "screen" reader); a character
 * reference without its `;` is read as text there (the engine's own reading of the screen decodes it as HTML does).
 */
/** The hex digit pairs of every C0 and C1 control and DEL. */
const ANY_CONTROL_HEX = String.raw`(?:[01][0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])`;
const CONTROL_ESCAPE = new RegExp(
  String.raw`\\u00${ANY_CONTROL_HEX}|\\x${ANY_CONTROL_HEX}|\\b|&#[xX]0*(?:[0-9a-fA-F]|${ANY_CONTROL_HEX});|&#0*(?:[0-9]|[12][0-9]|3[01]|12[7-9]|1[3-5][0-9]);|%(?:[01][0-9a-fA-F]|7[fF])|%[cC]2%[89][0-9a-fA-F]`,
  'g',
);

/** `screen` with its escapes of controls read as nothing, or null when it holds none. */
export function withoutControlEscapes(screen: ScreenView | null): ScreenView | null {
  if (screen === null) return null;
  CONTROL_ESCAPE.lastIndex = 0;
  if (!CONTROL_ESCAPE.test(screen.text)) return null;
  const at = new Int32Array(screen.text.length);
  const end = new Int32Array(screen.text.length);
  let text = '';
  let pos = 0;
  const keep = (to: number): void => {
    at.set(screen.at.subarray(pos, to), text.length);
    end.set(screen.end.subarray(pos, to), text.length);
    text += screen.text.slice(pos, to);
  };
  CONTROL_ESCAPE.lastIndex = 0;
  for (let m = CONTROL_ESCAPE.exec(screen.text); m !== null; m = CONTROL_ESCAPE.exec(screen.text)) {
    keep(m.index);
    pos = m.index + m[0].length;
  }
  keep(screen.text.length);
  return { text, at: at.subarray(0, text.length), end: end.subarray(0, text.length) };
}

/** What follows ESC in a colour (SGR) sequence, the one sequence a terminal runs without moving its cursor. */
const NOT_A_COLOUR = String.raw`(?!\[[0-9;:]*m)`;
/** C0 and C1 controls but NUL, tab, line feed, carriage return and ESC, as the hex digit pairs of their escapes. */
const CONTROL_HEX = String.raw`(?:0[1-8bBcCeEfF]|1[0-9ac-fAC-F]|7[fF]|[89][0-9a-fA-F])`;
/**
 * Text a terminal may show otherwise than it stores it: a control it runs (a backspace, a carriage return that is no
 * line end, ESC but before a colour, a C1 control, CAN, SUB, BEL and the other C0 controls but NUL, tab and line
 * feed), as itself or written as an escape a reader decodes. Text without one is shown as the engine's readings read
 * it (a colour's sequence is dropped whole by the first reading), and is not read again as a screen.
 */
const RUNS_ON_SCREEN = new RegExp(
  [
    String.raw`[\x01-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]`,
    String.raw`\r(?!\n)`,
    `\x1b${NOT_A_COLOUR}`,
    String.raw`\\(?:b|r(?!\\n)|u00${CONTROL_HEX}|x${CONTROL_HEX})`,
    String.raw`(?:\\u001[bB]|\\x1[bB]|%1[bB]|&#0*27;|&#[xX]0*1[bB];|&#0*27(?![0-9;])|&#[xX]0*1[bB](?![0-9a-fA-F;]))${NOT_A_COLOUR}`,
    String.raw`&#[xX]0*(?:[1-8bcefBCEF]|1[0-9ac-fAC-F]|7[fF]|[89][0-9a-fA-F])(?![0-9a-fA-F])`,
    String.raw`&#0*(?:[1-8]|1[124-9]|2[0-689]|3[01]|12[7-9]|1[3-5][0-9])(?![0-9])`,
    String.raw`%(?:0[1-8bBcCeEfF]|1[0-9ac-fAC-F]|7[fF]|[cC]2%[89][0-9a-fA-F])`,
  ].join('|'),
);

export const mayRunOnScreen = (text: string): boolean => RUNS_ON_SCREEN.test(text);
