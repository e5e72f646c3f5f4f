// What a mask leaves in place (round 12d). A hit's span in the original can hold characters that carry structure for
// some reader rather than text for the identifier: a terminal escape sequence's framing (ESC and its introducer, a
// CSI's final byte, an ESC sequence's final, BEL, ST, the 8-bit C1 forms, CAN and SUB), a control a reading dropped
// alone (SO/SI, a backspace) and the bidi controls that set the direction of what follows. Writing the mask over the
// whole span rewrote them: sequences.ts's kept reading reads framing as spaces, a decoy identifier written with spaces
// read across a BEL, the BEL came back as a space, the title ran on to a later BEL and hid the visible text that
// separated the two halves of a real identifier, so masking wrote a CPF onto the screen (round 12d review, finding 1).
// Each reading records those characters' source ranges (decode.ts, sequences.ts, utf16.ts) and the mask is written
// around them (piecesOf): they are copied as they were, the identifier's characters between them get the mask. The
// framing comes from one unbounded parse of the text shared by every reading (sequences.ts), so a terminator one
// reading dropped with a sequence it matched, and another reads as ending a string opened before the span, stays.
// A closed sequence lying whole inside a span goes with the mask, content and all (a raw reader must not see what it
// holds, and nothing it frames lies outside it), but in the kept reading, whose masks are written inside sequences,
// and when its ESC is what ends a string opened before it. A character a backspace took back (the erasing reading) is
// written as one `*`, so the backspace still takes back one cell and never reaches what is before the span. Where the
// mask is not one character per view character (redact, hash, an e-mail's partial), the first piece gets it whole
// and a piece after framing or a backspace one `*` per character: left empty, what the framing hid or the backspace
// took back would be the text before the span (a title's end moved over visible text joins what was on either side).

/** Kept as it was, and what follows it is read through it: a sequence's framing, a terminal control, a backspace. */
export const FRAME = 0;
/** A character a backspace took back: written as one `*`. */
export const BLANK = 1;
/** A bidi control: kept as it was; it changes how what follows is shown, not what the screen holds. */
export const MARK = 2;
export type StructureKind = typeof FRAME | typeof BLANK | typeof MARK;

const NO_EXTENT = [-1, -1] as const;

/** Ranges [from, to) of an original text, disjoint, sorted by `from` once built (sorted()). */
export class Structure {
  readonly from: number[] = [];
  readonly to: number[] = [];
  readonly kind: StructureKind[] = [];
  /**
   * Where a range is framing of a closed sequence, that sequence's source span, else -1: a mask whose span holds the
   * whole sequence takes it whole (its content too: a raw reader must not see it), as nothing it frames lies outside.
   */
  readonly extentFrom: number[] = [];
  readonly extentTo: number[] = [];
  #ordered = true;

  get size(): number {
    return this.from.length;
  }

  add(from: number, to: number, kind: StructureKind = FRAME, extent: readonly [number, number] = NO_EXTENT): void {
    const last = this.from.at(-1);
    if (last !== undefined && from < last) this.#ordered = false;
    this.from.push(from);
    this.to.push(to);
    this.kind.push(kind);
    this.extentFrom.push(extent[0]);
    this.extentTo.push(extent[1]);
  }

  /** Whether range `i` is framing of a closed sequence lying whole inside [a, b). */
  closedInside(i: number, a: number, b: number): boolean {
    const from = this.extentFrom[i] ?? -1;
    return from >= a && (this.extentTo[i] ?? Infinity) <= b;
  }

  fromAt(i: number): number {
    return this.from[i] ?? 0;
  }

  toAt(i: number): number {
    return this.to[i] ?? 0;
  }

  kindAt(i: number): StructureKind {
    return this.kind[i] ?? FRAME;
  }

  /** Adds range `i` to `out`, moved to [from, to) (and its extent by `f`) when given. */
  copyTo(out: Structure, i: number, from = this.fromAt(i), to = this.toAt(i), f?: (a: number, b: number) => readonly [number, number]): void {
    const e: readonly [number, number] = [this.extentFrom[i] ?? -1, this.extentTo[i] ?? -1];
    out.add(from, to, this.kindAt(i), f !== undefined && e[0] >= 0 ? f(e[0], e[1]) : e);
  }

  /** The ranges sorted by start (the erasing reading adds a taken-back character after the controls behind it). */
  sorted(): Structure {
    if (this.#ordered) return this;
    const order = this.from.map((_, i) => i).sort((x, y) => this.fromAt(x) - this.fromAt(y));
    const out = new Structure();
    for (const i of order) this.copyTo(out, i);
    return out;
  }

  /** Each range moved by `f` (from a view's text to the text it was read from: utf16.ts composeViews). */
  mapped(f: (from: number, to: number) => readonly [number, number]): Structure {
    const out = new Structure();
    for (let i = 0; i < this.size; i++) {
      const [a, b] = f(this.fromAt(i), this.toAt(i));
      this.copyTo(out, i, a, b, f);
    }
    return out.sorted();
  }

  /** The index of the first range ending after `a` (size when none does). */
  firstEndingAfter(a: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.toAt(mid) <= a) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Both sets' ranges, sorted (each sorted, and disjoint from the other's: they come from different characters). */
export function mergedStructure(x: Structure | undefined, y: Structure): Structure {
  if (x === undefined || x.size === 0) return y;
  const out = new Structure();
  let i = 0;
  let j = 0;
  while (i < x.size || j < y.size) {
    if (j >= y.size || (i < x.size && x.fromAt(i) <= y.fromAt(j))) x.copyTo(out, i++);
    else y.copyTo(out, j++);
  }
  return out;
}

/**
 * Both sets' ranges, sorted, where they may overlap (two parses of the same text: sequences.ts): overlapping ranges
 * become one, FRAME when either is, and without an extent unless both parses agree (a mask then leaves it in place).
 */
export function unionStructure(x: Structure, y: Structure): Structure {
  const out = new Structure();
  let i = 0;
  let j = 0;
  while (i < x.size || j < y.size) {
    const fromX = j >= y.size || (i < x.size && x.fromAt(i) <= y.fromAt(j));
    const src = fromX ? x : y;
    const k = fromX ? i++ : j++;
    const last = out.size - 1;
    if (last >= 0 && src.fromAt(k) < out.toAt(last)) joinLast(out, src, k);
    else src.copyTo(out, k);
  }
  return out;
}

/** Range `k` of `src` joined to the last range of `out`, which it overlaps. */
function joinLast(out: Structure, src: Structure, k: number): void {
  const last = out.size - 1;
  const same = out.fromAt(last) === src.fromAt(k) && out.toAt(last) === src.toAt(k) && out.extentFrom[last] === src.extentFrom[k] && out.extentTo[last] === src.extentTo[k];
  out.to[last] = Math.max(out.toAt(last), src.toAt(k));
  if (src.kindAt(k) === FRAME) out.kind[last] = FRAME;
  if (same) return;
  out.extentFrom[last] = -1;
  out.extentTo[last] = -1;
}

/** `x`'s ranges that lie inside none of `spans` (both sorted; `spans` disjoint). */
export function structureOutside(x: Structure | undefined, spans: Structure): Structure | undefined {
  if (x === undefined || spans.size === 0) return x;
  const out = new Structure();
  let j = 0;
  for (let i = 0; i < x.size; i++) {
    const a = x.fromAt(i);
    while (j < spans.size && spans.toAt(j) <= a) j++;
    if (j < spans.size && spans.fromAt(j) <= a) continue;
    x.copyTo(out, i);
  }
  return out;
}

/**
 * One part of a hit's span: `mask` gets the mask of the view characters [lo, hi) (with what the reading dropped
 * between them), `frame` and `mark` are copied as they were, `blank` is written as one `*`.
 */
export interface Piece {
  from: number;
  to: number;
  kind: 'mask' | 'frame' | 'blank' | 'mark';
  lo: number;
  hi: number;
}

const PIECE_KIND = ['frame', 'blank', 'mark'] as const;

/** A view's map: the original span [at[i], end[i]) of each view character. */
export interface ViewMap {
  at: ArrayLike<number>;
  end: ArrayLike<number>;
}

/**
 * The pieces of the span [a, b) of the hit on view characters [start, stop), around the structure ranges inside it,
 * or null when it holds none (the mask replaces the whole span). A view character whose source lies in a range (the
 * kept reading's framing) is kept with it and gets no mask.
 */
export function piecesOf(st: Structure | undefined, map: ViewMap, start: number, stop: number, span: readonly [number, number], keepAll: boolean): Piece[] | null {
  const [a, b] = span;
  if (st === undefined) return null;
  const k = st.firstEndingAfter(a);
  if (k >= st.size || st.fromAt(k) >= b) return null;
  return new Splitter(st, k, span, start, keepAll).split(map, stop);
}

/** piecesOf's walk: the view characters in order, each structure range met closing the mask piece before it. */
class Splitter {
  readonly #st: Structure;
  readonly #a: number;
  readonly #b: number;
  /** The kept reading: its masks leave every sequence's framing, the closed ones inside the span too. */
  readonly #keepAll: boolean;
  readonly #pieces: Piece[] = [];
  /** The next structure range, where the current piece starts in the original, and its first view character. */
  #k: number;
  #pos: number;
  #lo: number;

  constructor(st: Structure, k: number, [a, b]: readonly [number, number], start: number, keepAll: boolean) {
    this.#st = st;
    this.#k = k;
    this.#pos = a;
    this.#a = a;
    this.#b = b;
    this.#lo = start;
    this.#keepAll = keepAll;
  }

  split(map: ViewMap, stop: number): Piece[] {
    for (let i = this.#lo; i < stop; i++) {
      this.#rangesUpTo(map.at[i] ?? this.#b, i);
      // A view character read from a range (framing) is kept with it.
      if ((map.end[i] ?? this.#b) <= this.#pos) this.#lo = i + 1;
    }
    this.#maskUpTo(this.#b, stop);
    return this.#pieces;
  }

  /** The ranges starting at or before `src` (the source of view character `i`), each after the mask before it. */
  #rangesUpTo(src: number, i: number): void {
    const st = this.#st;
    for (; this.#k < st.size && st.fromAt(this.#k) <= src && st.fromAt(this.#k) < this.#b; this.#k++) {
      if (!this.#keepAll && st.closedInside(this.#k, this.#a, this.#b)) continue;
      const from = Math.max(st.fromAt(this.#k), this.#pos);
      this.#maskUpTo(from, i);
      this.#pos = Math.min(this.#b, Math.max(this.#pos, st.toAt(this.#k)));
      this.#pieces.push({ from, to: this.#pos, kind: PIECE_KIND[st.kindAt(this.#k)], lo: i, hi: i });
    }
  }

  /** Closes the mask piece at `to` in the original, view characters up to `hi`. */
  #maskUpTo(to: number, hi: number): void {
    if (to > this.#pos || hi > this.#lo) this.#pieces.push({ from: this.#pos, to, kind: 'mask', lo: this.#lo, hi });
    this.#pos = to;
    this.#lo = hi;
  }
}

/**
 * What each mask piece gets of `mask` (rendered from the hit's `length` view characters from `start`): its own
 * characters where the mask is one per view character (partial, surrogate), else the first piece holding view
 * characters gets it whole, and a later one after framing or a backspace one `*` per character (see above), none
 * when the mask is removed.
 */
export function maskSlices(pieces: readonly Piece[], mask: string, start: number, length: number): string[] {
  const aligned = mask.length === length;
  let given = false;
  let framed = false;
  return pieces.map((p) => {
    framed ||= p.kind === 'frame' || p.kind === 'blank';
    if (p.kind !== 'mask' || p.hi === p.lo) return '';
    if (aligned) return mask.slice(p.lo - start, p.hi - start);
    if (given) return framed && mask !== '' ? '*'.repeat(p.hi - p.lo) : '';
    given = true;
    return mask;
  });
}
