// The terminal screen.ts drives: cells by row and column, the cursor, the modes that change what a write does, and
// what the model cannot know (round 15 review). A real terminal has a width and a height this text does not tell: a
// cursor moved past the right margin stops there (`\e[9999C\e[9999D` lands in column 0), a long line wraps (a carriage
// return then goes to the start of the wrapped row), a cursor moved past the bottom stops there, and an absolute row
// (`\e[5;1H`) is counted from a top the text never saw. Where the screen depends on those, the model does not guess:
// it marks itself unknown, and a character written while it is unknown makes the whole screen unknown (screenOf
// returns null; the screen check then writes every letter and digit as `*`). A sequence the model does not run is
// unknown the same way, unless it is known to leave the cells and the cursor alone (a colour, a mode such as the
// cursor's visibility, a character set). Clearing the whole screen (ED 2, RIS) leaves nothing the unknown could
// move text over, so it makes the model known again.

/** One line's written cells: column -> the view index that wrote it (CONTINUATION: the second cell of a wide one). */
export type Line = Map<number, number>;
export const CONTINUATION = -2;

const BS = 0x08;
const HT = 0x09;
const LF = 0x0a;
const VT = 0x0b;
const FF = 0x0c;
const CR = 0x0d;
const TAB_STOP = 8;
/**
 * The narrowest screen the model assumes (the classic default): a cursor that has reached this column may have stopped
 * at the right margin, or its line wrapped, on a real one. A narrower terminal is out of reach (docs/security-model.md).
 */
const MIN_WIDTH = 80;
/** A repeat (REP) writes at most this many cells: no screen is wider. */
const MAX_REPEAT = 4096;

export class Terminal {
  readonly lines = new Map<number, Line>();
  row = 0;
  cursor = 0;
  /** Cells written, moved or erased (screenOf's work budget). */
  work = 0;
  /** A write now could land where the model cannot tell (see the header). */
  unknown = false;
  /** A write on this row could land where the model cannot tell (the cursor went back on a row that may have wrapped). */
  #unknownRow: number | null = null;
  /** A write happened while unknown: the screen is not the model's. */
  failed = false;
  /** The cursor moved up (or to an absolute row): a line feed's column then matters (screenOf reads it both ways). */
  movedUp = false;
  readonly #lfKeepsColumn: boolean;
  #insert = false;
  #last = -1;
  #saved: [number, number] = [0, 0];
  /**
   * Rows where a move took the cursor to MIN_WIDTH or past it (it may have stopped at the margin), or that hold a
   * character whose width terminals disagree on: where any move back lands is unknown.
   */
  readonly #unsure = new Set<number>();
  /**
   * Rows printed to MIN_WIDTH or past it: they may have wrapped, and a carriage return or a jump back lands at the start
   * of the wrapped row. One cell back (a backspace) stays on it (out of reach: at the very wrap point, where the width
   * decides; docs/security-model.md).
   */
  readonly #wrapped = new Set<number>();
  /** A move down went past every written row: it may have stopped at the bottom. */
  #pastBottom = false;
  /** The lowest row written, and whether anything was written since the screen was last cleared. */
  #maxRow = 0;
  #written = false;

  constructor(lfKeepsColumn: boolean) {
    this.#lfKeepsColumn = lfKeepsColumn;
  }

  get line(): Line {
    let line = this.lines.get(this.row);
    if (line === undefined) {
      line = new Map();
      this.lines.set(this.row, line);
      this.#maxRow = Math.max(this.#maxRow, this.row);
    }
    return line;
  }

  /** A C0 control outside a string: the cursor moves; nothing is written. VT and FF keep the column, as LF may. */
  execute(c: number): void {
    if (c === BS) this.back(1);
    else if (c === CR) this.column(0);
    else if (c === LF) this.index(!this.#lfKeepsColumn);
    else if (c === VT || c === FF) this.index(false);
    else if (c === HT) this.tab(1);
  }

  /** The view index `k` written at the cursor, `width` cells wide (1 or 2); `unsure`: terminals disagree on the width. */
  put(k: number, width: number, unsure = false): void {
    if (this.unknown || this.row === this.#unknownRow) this.failed = true;
    this.#written = true;
    if (this.#insert) this.shift(width);
    const line = this.line;
    // Writing over half of a wide character erases its other half.
    if (line.get(this.cursor) === CONTINUATION) line.delete(this.cursor - 1);
    if (line.get(this.cursor + width) === CONTINUATION) line.delete(this.cursor + width);
    line.set(this.cursor, k);
    if (width === 2) line.set(this.cursor + 1, CONTINUATION);
    this.cursor += width;
    this.#last = k;
    this.work += width;
    if (unsure) this.#unsure.add(this.row);
    if (this.cursor >= MIN_WIDTH) this.#wrapped.add(this.row);
  }

  /** REP: the last character written, `n` times more. */
  repeat(n: number): void {
    if (this.#last < 0) return;
    for (let k = Math.min(n, MAX_REPEAT); k > 0; k--) this.put(this.#last, 1);
  }

  back(n: number): void {
    this.column(this.cursor - n, n === 1);
  }

  forward(n: number): void {
    this.column(this.cursor + n);
  }

  /**
   * The cursor to column `c` of its row (`oneBack`: a backspace's single cell). Back on a row where the cursor may have
   * stopped at the margin, or (further than one cell) on one that may have wrapped, is unknown.
   */
  column(c: number, oneBack = false): void {
    const to = Math.max(0, c);
    if (to < this.cursor && (this.#unsure.has(this.row) || (!oneBack && this.#wrapped.has(this.row)))) this.#unknownRow = this.row;
    const forward = to > this.cursor;
    this.cursor = to;
    if (forward) this.#reached();
  }

  /** `n` tab stops forward (HT, CHT), or back when negative (CBT). */
  tab(n: number): void {
    const stop = n > 0 ? Math.floor(this.cursor / TAB_STOP) + n : Math.ceil(this.cursor / TAB_STOP) + n;
    this.column(stop * TAB_STOP);
  }

  /** Down `n` rows, to the line's start or in the same column; past every written row a CSI may stop at the bottom. */
  down(n: number, toStart: boolean, mayStop = false): void {
    this.row += n;
    if (toStart) this.cursor = 0;
    if (mayStop && this.row > this.#maxRow) this.#pastBottom = true;
    this.#reached();
  }

  /** LF, VT, FF, IND, NEL: one row down (at the bottom the screen scrolls: the same in the model's rows). */
  index(toStart: boolean): void {
    this.down(1, toStart);
  }

  /**
   * Up `n` rows: unknown if a row may have wrapped (it is more than one row of the screen), a move may have stopped at
   * the bottom, or this one at the top (above the text's first row).
   */
  up(n: number): void {
    this.movedUp = true;
    if (this.#unsure.size > 0 || this.#wrapped.size > 0 || this.#pastBottom || this.row - n < 0) this.unknown = true;
    this.row -= n;
  }

  /** An absolute row (CUP, HVP, VPA): counted from a top the text never saw, unless nothing is on the screen. */
  absoluteRow(n: number): void {
    this.movedUp = true;
    if (this.#written) this.unknown = true;
    this.row = n - 1;
  }

  /** ESC 7 / ESC 8 (and CSI s / CSI u): the cursor saved, and put back where it was. */
  save(): void {
    this.#saved = [this.row, this.cursor];
  }

  restore(): void {
    const [row, cursor] = this.#saved;
    if (row < this.row) this.up(this.row - row);
    this.row = row;
    this.column(cursor);
  }

  /** IRM: writes insert (what is after the cursor moves right) instead of replacing. */
  insertMode(on: boolean): void {
    this.#insert = on;
  }

  /** What the model does not run and cannot show: a write after it could land anywhere. */
  unmodelled(): void {
    this.unknown = true;
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

  /** ED: 0 from the cursor to the screen's end, 1 from its start to the cursor, 2 and 3 all of it (nothing left: known again). */
  eraseInDisplay(mode: number): void {
    this.work += this.lines.size;
    if (mode >= 2) {
      this.#clear();
      return;
    }
    this.eraseInLine(mode);
    for (const row of [...this.lines.keys()]) if (mode === 0 ? row > this.row : row < this.row) this.lines.delete(row);
  }

  /** RIS: the terminal as it starts, empty, the cursor home. */
  reset(): void {
    this.#clear();
    this.row = 0;
    this.cursor = 0;
    this.#insert = false;
  }

  #clear(): void {
    this.lines.clear();
    this.#unsure.clear();
    this.#wrapped.clear();
    this.#pastBottom = false;
    this.#written = false;
    this.#unknownRow = null;
    this.unknown = false;
  }

  /** DCH (`n` < 0: the cells at the cursor deleted, the rest moved left) and ICH (`n` > 0: blanks inserted). */
  shift(n: number): void {
    this.lines.set(this.row, shifted(this.line, this.cursor, n));
    this.work += this.line.size;
  }

  /** IL (`n` > 0: blank lines inserted at the cursor's row) and DL (`n` < 0: its lines deleted, those below moved up). */
  shiftLines(n: number): void {
    this.work += this.lines.size;
    const moved = shifted(this.lines, this.row, n);
    this.lines.clear();
    for (const [row, line] of moved) this.lines.set(row, line);
  }

  /** SU (`n` > 0) and SD (`n` < 0): the text moves up or down under the cursor, which stays on its row of the screen. */
  scroll(n: number): void {
    if (n < 0) this.up(-n);
    else this.row += n;
  }

  #reached(): void {
    if (this.cursor >= MIN_WIDTH) this.#unsure.add(this.row);
  }
}

/** `byPosition` (a line's cells, or the lines) with those from `at` moved `n` places (n < 0: those in [at, at - n) deleted). */
function shifted<T>(byPosition: ReadonlyMap<number, T>, at: number, n: number): Map<number, T> {
  const moved = new Map<number, T>();
  for (const [position, value] of byPosition) {
    if (position < at) moved.set(position, value);
    else if (n > 0 || position >= at - n) moved.set(position + n, value);
  }
  return moved;
}
