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

const BS = 0x08;
const HT = 0x09;
const LF = 0x0a;
const VT = 0x0b;
const FF = 0x0c;
const CR = 0x0d;
const CAN = 0x18;
const SUB = 0x1a;
const DEL = 0x7f;
const TAB_STOP = 8;
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
/** A repeat (REP) writes at most this many cells: no screen is wider. */
const MAX_REPEAT = 4096;
/** Blank cells between two written ones are read as at most this many spaces: more separate as much. */
const MAX_BLANKS = 16;

/** One line's written cells: column -> the view index that wrote it. Sparse: a cursor moved far costs nothing. */
type Line = Map<number, number>;

/**
 * The cells of the terminal's lines (by row; sparse, so a cursor moved a billion cells or rows away costs nothing),
 * its cursor and saved cursor, the last character written (REP repeats it), and the work done so far.
 */
class Terminal {
  readonly lines = new Map<number, Line>();
  row = 0;
  cursor = 0;
  work = 0;
  #last = -1;
  #saved: [number, number] = [0, 0];

  get line(): Line {
    let line = this.lines.get(this.row);
    if (line === undefined) {
      line = new Map();
      this.lines.set(this.row, line);
    }
    return line;
  }

  /** A C0 control outside a string: the cursor moves; nothing is written. */
  execute(c: number): void {
    if (c === BS) this.back(1);
    else if (c === CR) this.cursor = 0;
    else if (c === LF || c === VT || c === FF) this.down(1);
    else if (c === HT) this.tab(1);
  }

  put(viewIndex: number): void {
    this.line.set(this.cursor++, viewIndex);
    this.#last = viewIndex;
    this.work++;
  }

  /** REP: the last character written, `n` times more. */
  repeat(n: number): void {
    if (this.#last < 0) return;
    for (let k = Math.min(n, MAX_REPEAT); k > 0; k--) this.put(this.#last);
  }

  back(n: number): void {
    this.cursor = Math.max(0, this.cursor - n);
  }

  /** `n` tab stops forward (HT, CHT), or back when negative (CBT). */
  tab(n: number): void {
    const stop = Math.floor(this.cursor / TAB_STOP);
    this.cursor = Math.max(0, n > 0 ? (stop + n) * TAB_STOP : (Math.ceil(this.cursor / TAB_STOP) + n) * TAB_STOP);
  }

  down(n: number): void {
    this.row += n;
    this.cursor = 0;
  }

  up(n: number): void {
    this.row = Math.max(0, this.row - n);
  }

  /** ESC 7 / ESC 8 (and CSI s / CSI u): the cursor saved, and put back where it was. */
  save(): void {
    this.#saved = [this.row, this.cursor];
  }

  restore(): void {
    [this.row, this.cursor] = this.#saved;
  }

  /**
   * A CSI that moves the cursor or changes cells (CSI_ACTIONS). A line's number in an absolute position (CUP, VPA)
   * depends on where the text starts on the screen: only its column is taken.
   */
  csi(params: string, final: number): void {
    const args = params.split(';').map((p) => Number.parseInt(p, 10));
    CSI_ACTIONS[String.fromCharCode(final)]?.(this, Math.max(1, args[0] || 1), args);
  }

  /** The cells of this line in columns [a, b) erased (they show blank). */
  blank(a: number, b: number): void {
    const line = this.line;
    this.work += line.size;
    for (const col of [...line.keys()]) if (col >= a && col < b) line.delete(col);
  }

  /** EL: 0 from the cursor to the line's end, 1 from its start to the cursor, 2 all of it. */
  eraseInLine(mode: number): void {
    if (mode === 0) this.blank(this.cursor, Infinity);
    else this.blank(0, mode === 1 ? this.cursor + 1 : Infinity);
  }

  /** ED: 0 from the cursor to the screen's end, 1 from its start to the cursor, 2 and 3 all of it. */
  eraseInDisplay(mode: number): void {
    this.eraseInLine(mode === 0 || mode === 1 ? mode : 2);
    this.work += this.lines.size;
    for (const row of [...this.lines.keys()]) if (mode >= 2 || (mode === 0 ? row > this.row : row < this.row)) this.lines.delete(row);
  }

  /** DCH (`n` < 0: the cells at the cursor deleted, the rest moved left) and ICH (`n` > 0: blanks inserted). */
  shift(n: number): void {
    const line = this.line;
    this.work += line.size;
    const moved: Line = new Map();
    for (const [col, k] of line) {
      if (col < this.cursor) moved.set(col, k);
      else if (n > 0 || col >= this.cursor - n) moved.set(col + n, k);
    }
    this.lines.set(this.row, moved);
  }
}

/**
 * The CSIs that move the cursor or change cells, by final byte: cursor back, forward (CUF, HPR), to a column (CHA, HPA,
 * CUP's column), up, down (CUD, VPR), to the next or previous line's start, tab stops forward and back, erase in line
 * and in display, erase, delete and insert characters, repeat the last one, save and restore the cursor. `n` is the
 * first parameter (at least 1).
 */
const CSI_ACTIONS: Readonly<Record<string, (t: Terminal, n: number, args: readonly number[]) => void>> = {
  D: (t, n) => t.back(n),
  C: (t, n) => void (t.cursor += n),
  a: (t, n) => void (t.cursor += n),
  G: (t, n) => void (t.cursor = n - 1),
  '`': (t, n) => void (t.cursor = n - 1),
  H: (t, _n, args) => void (t.cursor = Math.max(1, args[1] || 1) - 1),
  f: (t, _n, args) => void (t.cursor = Math.max(1, args[1] || 1) - 1),
  A: (t, n) => t.up(n),
  B: (t, n) => void (t.row += n),
  e: (t, n) => void (t.row += n),
  E: (t, n) => t.down(n),
  F: (t, n) => {
    t.up(n);
    t.cursor = 0;
  },
  I: (t, n) => t.tab(n),
  Z: (t, n) => t.tab(-n),
  K: (t, _n, args) => t.eraseInLine(args[0] || 0),
  J: (t, _n, args) => t.eraseInDisplay(args[0] || 0),
  X: (t, n) => t.blank(t.cursor, t.cursor + n),
  P: (t, n) => t.shift(-n),
  '@': (t, n) => t.shift(n),
  b: (t, n) => t.repeat(n),
  s: (t) => t.save(),
  u: (t) => t.restore(),
};

/** ESC and a final byte that move the cursor: save and restore it (DECSC, DECRC), index, next line, reverse index. */
const ESC_ACTIONS: Readonly<Record<string, (t: Terminal) => void>> = {
  '7': (t) => t.save(),
  '8': (t) => t.restore(),
  D: (t) => void (t.row += 1),
  E: (t) => t.down(1),
  M: (t) => t.up(1),
};

/** What a terminal shows of `v` (a view of a source text): its lines and each cell's source range. */
export function screenOf(v: SourceView): ScreenView | null {
  const parser = new Parser(v.text);
  const budget = WORK_FLOOR + WORK_PER_CHARACTER * v.text.length;
  for (let i = 0; i < v.text.length; ) {
    i = parser.step(i);
    if (parser.term.work > budget) return null;
  }
  return linesOf(parser.term, v);
}

/** The DEC parser's states over a view's text, writing into a Terminal. */
class Parser {
  readonly term = new Terminal();
  readonly #t: string;
  #state = GROUND;
  #osc = false;
  #intermediates = false;
  #params = '';

  constructor(t: string) {
    this.#t = t;
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
    this.#intermediates = false;
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
    else if (!isC1(c)) return this.#print(i, c);
    return i + 1;
  }

  /** A character: one cell (a surrogate pair too); what takes none (format characters, private use) is not written. */
  #print(i: number, c: number): number {
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < this.#t.length ? 2 : 1;
    if (!INVISIBLE.test(this.#t.slice(i, i + pair))) this.term.put(i);
    return i + pair;
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
      this.#intermediates = true;
      return;
    }
    this.#state = GROUND;
    if (this.#intermediates) return;
    if (c === 0x5b) this.#enter(IN_CSI);
    else if (c === 0x5d || OPENS_STRING.has(c)) this.#openString(c === 0x5d);
    else ESC_ACTIONS[String.fromCharCode(c)]?.(this.term);
  }

  #csiByte(c: number): void {
    if (c <= 0x2f) this.#intermediates = true;
    else if (c <= 0x3f) this.#params += String.fromCharCode(c);
    else {
      this.#state = GROUND;
      // A private or malformed CSI (`\e[?25l`, an intermediate) is a mode or a query: no cursor move here.
      if (!this.#intermediates && PLAIN_PARAMS.test(this.#params)) this.term.csi(this.#params, c);
    }
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
