// The residue pass's bookkeeping: where the masks sit in a pass's output, and which parts of that output a next pass
// must read. A mask changes what its neighbours look like: it ends a word (`joao.silva@exemplo.com529.982.247-25` shows
// the e-mail once the CPF after it is `***.***.***-25`), and the partial style's kept characters join what follows
// (`(11) 111.444.777-35 91234-5678`: the CPF wins the overlap, and its kept `35` makes `35 91234-5678` a phone that no
// candidate of the first pass was, since a hit hides what starts inside it), and it changes which keyword a number
// after it reads (a shorter mask brings an earlier keyword within reach, a masked e-mail's `dob` is gone, `[CEP]` is
// one). The engine reads its own output again next to the masks it wrote, until nothing new is found (README "The
// residue pass").
//
// Each pass masks at least one character no mask covered, so the passes end; a chain can take one pass per link (phones
// glued one after another, each freed by the mask before it: `(11) 91234-5678(11) 91234-5678…` in the redact style).
// Each later pass reads only next to the masks the one before wrote, on the part of the text around them
// (passRange, spansAfterPart), so a chain costs what its text costs.

/** A mask in a pass's output: [start, end), and whether its text must not be read as text (a keyed style's value). */
export interface MaskSpan {
  start: number;
  end: number;
  /**
   * A surrogate is a valid identifier of its type and a hash token can hold digit runs: both are values the masker
   * chose, read as `*` by the next pass (a reader may still see digits there; a mask is never masked again).
   */
  opaque: boolean;
  /**
   * It may change the keyword a candidate after it reads (context.ts): its length differs from what it replaced, or
   * either holds a keyword. A number up to CONTEXT_WINDOW after it on its line is read again.
   */
  context: boolean;
}

/** Where one write of a pass put a hit: its span [a, b) in the pass's input, [oa, ob) in its output. */
export interface Write {
  a: number;
  b: number;
  oa: number;
  ob: number;
  opaque: boolean;
  context: boolean;
}

/** Characters no built-in candidate holds and no layout reads through: a mask between them changes no neighbour. */
const HARD = new Set([...',"<>[]\n\t'].map((c) => c.charCodeAt(0)));
/** Past one space, what can still continue a layout that crosses it: digits, `(`, `)`, `+`, a mask's `*`, escapes. */
const CONTINUES = new Set([...'0123456789()+*%&\\'].map((c) => c.charCodeAt(0)));
const SPACE = 0x20;

/**
 * True when the text on one side of a mask cannot take part in a hit with it: nothing there (the text's real edge), a
 * character in HARD, or one space and then something no layout continues with (a letter, most punctuation). A new hit
 * must hold characters outside the mask next to it (within the two-character lookaround of the boundary rules); a
 * space then a letter ends every numeric layout, and no e-mail holds a space. The common case (`CPF 529.982.247-25 tel`)
 * is decided here without reading the text again.
 */
function quietSide(text: string, at: number, step: 1 | -1, edgeKnown: boolean): boolean {
  if (at < 0 || at >= text.length) return edgeKnown;
  const c = text.charCodeAt(at);
  if (HARD.has(c)) return true;
  if (c !== SPACE) return false;
  const next = at + step;
  if (next < 0 || next >= text.length) return edgeKnown;
  const d = text.charCodeAt(next);
  return d > SPACE && d < 0x7f && !CONTINUES.has(d);
}

/**
 * The masks whose neighbours a next pass must read: not quiet on both sides (quietSide). `start` / `end`: position 0 /
 * the text's end are the text's real edges (nothing before / nothing still to come).
 */
export function loudMasks(text: string, spans: readonly MaskSpan[], start: boolean, end: boolean): MaskSpan[] {
  return spans.filter((s) => !(quietSide(text, s.start - 1, -1, start) && quietSide(text, s.end, 1, end)));
}

/** `text` as the next pass reads it: the characters of opaque masks read as `*` (same length: positions hold). */
export function readableText(text: string, spans: readonly MaskSpan[]): string {
  if (!spans.some((s) => s.opaque)) return text;
  let out = '';
  let pos = 0;
  for (const s of spans) {
    if (!s.opaque) continue;
    out += text.slice(pos, s.start) + '*'.repeat(s.end - s.start);
    pos = s.end;
  }
  return out + text.slice(pos);
}

/**
 * The ranges where a hit the masks in `spans` made visible may start, within [from, limit), merged: `before` a mask (a
 * hit ending in it or at its start) to `after` its end (a hit starting in it or just after it).
 */
export function startWindows(spans: readonly MaskSpan[], from: number, limit: number, before: number, after: number): [number, number][] {
  return mergedRanges(spans.map((s) => [Math.max(from, s.start - before), Math.min(limit, s.end + after)]));
}

/**
 * Where a number whose keyword a mask in `spans` may have changed (`context`) starts, within [from, limit): from the
 * mask's end to `reach` past it, on its line (a keyword reads only its own line: context.ts), merged.
 */
export function keywordWindows(text: string, spans: readonly MaskSpan[], from: number, limit: number, reach: number): [number, number][] {
  return mergedRanges(spans.filter((s) => s.context).map((s) => [Math.max(from, s.end), Math.min(limit, lineEnd(text, s.end, s.end + reach))]));
}

/** The end of the line `at` is on, at most `max`. */
function lineEnd(text: string, at: number, max: number): number {
  const stop = Math.min(max, text.length);
  for (let i = at; i < stop; i++) if (text.charCodeAt(i) === NEWLINE) return i;
  return max;
}

const NEWLINE = 0x0a;

/** Ranges sorted by start, the empty ones dropped, overlapping or touching ones joined. */
function mergedRanges(ranges: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [lo, hi] of ranges.sort((x, y) => x[0] - y[0])) {
    if (lo >= hi) continue;
    const last = out.at(-1);
    if (last !== undefined && lo <= last[1]) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** `ranges` (sorted, disjoint) without what `taken` (sorted, disjoint) covers. */
export function withoutRanges(ranges: readonly [number, number][], taken: readonly [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let k = 0;
  for (const [a, b] of ranges) {
    let lo = a;
    while (k < taken.length && (taken[k] as [number, number])[1] <= lo) k++;
    for (let j = k; j < taken.length && lo < b; j++) {
      const [ta, tb] = taken[j] as [number, number];
      if (ta >= b) break;
      if (ta > lo) out.push([lo, ta]);
      lo = Math.max(lo, tb);
    }
    if (lo < b) out.push([lo, b]);
  }
  return out;
}

/** The index of the first mask (sorted, disjoint) for which `before` is false (it holds for a prefix of them). */
function firstNotBefore(spans: readonly MaskSpan[], before: (s: MaskSpan) => boolean): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(spans[mid] as MaskSpan)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The index of the first mask (sorted, disjoint) ending after `at`. */
function firstEndingAfter(spans: readonly MaskSpan[], at: number): number {
  return firstNotBefore(spans, (s) => s.end <= at);
}

/** The characters of text[lo, hi) no mask covers (what a new hit would have to hold besides masks). */
export function outsideMasks(text: string, spans: readonly MaskSpan[], lo: number, hi: number): string {
  let out = '';
  let pos = lo;
  for (let i = firstEndingAfter(spans, lo); i < spans.length; i++) {
    const s = spans[i] as MaskSpan;
    if (s.start >= hi) break;
    if (s.start > pos) out += text.slice(pos, s.start);
    pos = Math.max(pos, s.end);
  }
  return pos < hi ? out + text.slice(pos, hi) : out;
}

/** True when [a, b) lies inside one mask: the mask itself (a custom pattern may match `[CPF]`), never masked again. */
export function insideOneMask(spans: readonly MaskSpan[], a: number, b: number): boolean {
  const s = spans[firstEndingAfter(spans, a)];
  return s !== undefined && s.start <= a && b <= s.end;
}

/** The masks (sorted, disjoint) that overlap one of `writes` (sorted) in the output: what a pass changed. */
export function touchedBy(spans: readonly MaskSpan[], writes: readonly Write[]): MaskSpan[] {
  const out: MaskSpan[] = [];
  for (const w of writes) {
    for (let i = firstEndingAfter(spans, w.oa); i < spans.length; i++) {
      const s = spans[i] as MaskSpan;
      if (s.start >= w.ob) break;
      if (out.at(-1) !== s) out.push(s);
    }
  }
  return out;
}

/**
 * The masks after a pass that wrote `writes` (in order) over [from, end) of its input (`shift` longer than the input
 * from `end` on): each old mask moved to where its text went, joined to the writes it overlaps (a mask written over
 * part of an earlier one makes them one), in order. Masks before the first write, or after `end` when nothing moved,
 * are the same objects: a pass in a long text touches few.
 */
export function spansAfter(old: readonly MaskSpan[], writes: readonly Write[], end: number, shift: number): MaskSpan[] {
  const firstA = writes[0]?.a ?? Number.POSITIVE_INFINITY;
  // `before`: the writes wholly before the current position (old masks are sorted, so it only moves forward).
  let before = 0;
  const moved = (x: number): number => {
    if (x >= end) return x + shift;
    while (before < writes.length && (writes[before] as Write).b <= x) before++;
    const last = writes[before - 1];
    return last === undefined ? x : x - last.b + last.ob;
  };
  const kept: MaskSpan[] = [];
  let first = 0;
  const within = (s: MaskSpan): MaskSpan => {
    while (first < writes.length && (writes[first] as Write).b <= s.start) first++;
    let k = first;
    while (k < writes.length && (writes[k] as Write).a < s.end) k++;
    return k === first ? { ...s, start: moved(s.start), end: moved(s.end) } : joined(s, writes.slice(first, k), moved);
  };
  for (const s of old) {
    if (s.end <= firstA) kept.push(s);
    else if (s.start >= end) kept.push(shift === 0 ? s : { ...s, start: s.start + shift, end: s.end + shift });
    else kept.push(within(s));
  }
  return joinOverlapping(mergeByStart(kept, writes.map((w) => ({ start: w.oa, end: w.ob, opaque: w.opaque, context: w.context }))));
}

/** An old mask and the writes over it (in order) as one mask of the output. */
function joined(s: MaskSpan, over: readonly Write[], moved: (x: number) => number): MaskSpan {
  const a = over[0] as Write;
  const z = over.at(-1) as Write;
  return {
    start: s.start < a.a ? moved(s.start) : a.oa,
    end: s.end > z.b ? moved(s.end) : z.ob,
    opaque: s.opaque || over.some((w) => w.opaque),
    context: s.context || over.some((w) => w.context),
  };
}

/** Two lists of masks, each sorted by start, as one. */
function mergeByStart(x: readonly MaskSpan[], y: readonly MaskSpan[]): MaskSpan[] {
  const out: MaskSpan[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    const a = x[i];
    const b = y[j];
    if (b === undefined || (a !== undefined && (a.start < b.start || (a.start === b.start && a.end <= b.end)))) {
      out.push(a as MaskSpan);
      i++;
    } else {
      out.push(b);
      j++;
    }
  }
  return out;
}

/**
 * Sorted masks with the overlapping ones joined (a joined mask is opaque, or changes context, if any part did).
 * Touching masks stay two (`[CPF][PHONE]`): a hit across both is not inside one mask.
 */
function joinOverlapping(spans: readonly MaskSpan[]): MaskSpan[] {
  const out: MaskSpan[] = [];
  for (const s of spans) {
    const last = out.at(-1);
    if (last !== undefined && s.start < last.end) {
      out[out.length - 1] = { start: last.start, end: Math.max(last.end, s.end), opaque: last.opaque || s.opaque, context: last.context || s.context };
    } else out.push(s);
  }
  return out;
}

/** The index of the first mask (sorted, disjoint) starting at or after `at`. */
function firstStartingAt(spans: readonly MaskSpan[], at: number): number {
  return firstNotBefore(spans, (s) => s.start < at);
}

/**
 * spansAfter for a pass that read and wrote only [a, b) of the text (passRange): the masks before it are kept as they
 * are, those after it moved by `shift`, only those within it worked through. A chain's passes each touch a few masks
 * of a long text.
 */
export function spansAfterPart(spans: readonly MaskSpan[], a: number, b: number, writes: readonly Write[], end: number, shift: number): MaskSpan[] {
  const i = firstEndingAfter(spans, a);
  const j = Math.max(i, firstStartingAt(spans, b));
  const after = spans.slice(j);
  return spans.slice(0, i).concat(spansAfter(spans.slice(i, j), writes, end, shift), shift === 0 ? after : shifted(after, shift));
}

/** The masks in [lo, hi) of a text, moved by `-lo` and clipped to it. */
export function spansIn(spans: readonly MaskSpan[], lo: number, hi: number): MaskSpan[] {
  const out: MaskSpan[] = [];
  for (let i = firstEndingAfter(spans, lo); i < spans.length; i++) {
    const s = spans[i] as MaskSpan;
    if (s.start >= hi) break;
    out.push({ ...s, start: Math.max(s.start, lo) - lo, end: Math.min(s.end, hi) - lo });
  }
  return out;
}

/**
 * The part of a text a residue pass reads and may change, [a, b): from the left context of the first window (LEFT
 * before a match's length before the first mask it reads around) to the lookahead of the last (`after` past the last
 * mask, then a match's length). A chain's next link is next to its last: later passes read a few hundred characters.
 */
export function passRange(around: readonly MaskSpan[], length: number, from: number, reach: { before: number; after: number; left: number; hold: number }): [number, number] {
  const lo = around[0]?.start ?? 0;
  const hi = around.at(-1)?.end ?? length;
  return [Math.max(0, Math.max(from, lo - reach.before) - reach.left), Math.min(length, hi + reach.after + reach.hold)];
}

/** `spans` moved by `by`. */
export function shifted(spans: readonly MaskSpan[], by: number): MaskSpan[] {
  return by === 0 ? [...spans] : spans.map((s) => ({ ...s, start: s.start + by, end: s.end + by }));
}
