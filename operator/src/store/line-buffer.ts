// The bytes of one commit group's lines, encoded to UTF-8 once: a line's size (which decides its
// segment and is indexed with it) is what encoding it wrote, not a separate Buffer.byteLength pass
// over the same text. Each segment then gathers its lines' byte ranges into the buffer it writes.
// Per commit group, never shared across one: the writer commits one group at a time.

/** Byte ranges of the lines staged for one segment, in order ([start, end, start, end, ...]), and their total length. */
export interface StagedRanges { ranges: number[]; bytes: number }

const INITIAL_BYTES = 256 * 1024;
/** A buffer grown past this by an exceptional group (huge records) is not kept for the next one. */
const MAX_KEPT_BYTES = 16 * 1024 * 1024;

/** Reused from group to group (reset): it grows to the size of a busy group once, not per group. */
export class LineBuffer {
  #buf = Buffer.allocUnsafe(INITIAL_BYTES);
  #used = 0;

  /** Forgets the lines encoded so far: only once every buffer gathered from them is written. */
  reset(): void {
    this.#used = 0;
    if (this.#buf.length > MAX_KEPT_BYTES) this.#buf = Buffer.allocUnsafe(INITIAL_BYTES);
  }

  /** Encodes `line` after the lines before it; returns its size in bytes (it ends at `end`). */
  encode(line: string): number {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: with this much room, write() never truncates.
    this.#reserve(line.length * 3);
    const size = this.#buf.write(line, this.#used);
    this.#used += size;
    return size;
  }

  /** Where the lines encoded so far end. */
  get end(): number { return this.#used; }

  /** The bytes of `staged`'s lines, in order, as one buffer of their own (the lines may be reset or grown while it is written). */
  gather(staged: StagedRanges): Buffer {
    const out = Buffer.allocUnsafe(staged.bytes);
    let at = 0;
    for (let i = 0; i < staged.ranges.length; i += 2) at += this.#buf.copy(out, at, staged.ranges[i], staged.ranges[i + 1]);
    if (at !== staged.bytes) throw new Error(`staged ${staged.bytes} bytes but gathered ${at}`);
    return out;
  }

  #reserve(bytes: number): void {
    if (this.#used + bytes <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#used + bytes));
    this.#buf.copy(grown, 0, 0, this.#used);
    this.#buf = grown;
  }
}

/** Adds the line of `size` bytes that ends at `end` to a segment's ranges. */
export function stageRange(staged: StagedRanges, end: number, size: number): void {
  staged.ranges.push(end - size, end);
  staged.bytes += size;
}
