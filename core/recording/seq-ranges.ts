// Ascending, disjoint ranges of record seqs ([from, to], inclusive), as an export's manifest lists
// the records it holds and as the verifier collects those it verified. Comparing the two is one
// merge pass over both lists: a filtered export of interleaved sessions has about one range per
// record, so anything quadratic in ranges lets a genuine file stall the verifier (review 27).

export type SeqRange = [number, number];

/**
 * Adds `seq`, larger than every seq added before, to `ranges`: it extends the last range or starts
 * one. A seq not larger is refused (thrown, which the verifier reports on the line): the ranges
 * would stop being ascending, and missingRanges would scan them once per range of the other list
 * (review 29: refused proof lines fed it such seqs, 108 s for a 45 MB file).
 */
export function addSeen(ranges: SeqRange[], seq: number): void {
  const last = ranges[ranges.length - 1];
  if (last !== undefined && !(seq > last[1])) throw new RangeError(`seq ${seq} does not follow seq ${last[1]} already verified of its chain`);
  if (last !== undefined && last[1] + 1 === seq) last[1] = seq;
  else ranges.push([seq, seq]);
}

/**
 * The parts of `want` not covered by `have`, as ranges. Both must be ascending and disjoint
 * (rangesProblem): each range of `have` is passed once, bar those overlapping several of `want`,
 * so the work is linear in the two lengths.
 */
export function missingRanges(want: readonly SeqRange[], have: readonly SeqRange[]): SeqRange[] {
  // Checked, not assumed: unsorted input would make the merge quadratic (review 29), so it throws.
  ascending(want);
  ascending(have);
  const out: SeqRange[] = [];
  let j = 0;
  for (const [a, b] of want) {
    // Ranges of `have` ending before this one starts end before every later one too.
    while (j < have.length && (have[j] as SeqRange)[1] < a) j++;
    let at = a;
    for (let k = j; k < have.length && (have[k] as SeqRange)[0] <= b; k++) {
      const [c, d] = have[k] as SeqRange;
      if (c > at) out.push([at, c - 1]);
      at = Math.max(at, d + 1);
    }
    if (at <= b) out.push([at, b]);
  }
  return out;
}

/** Throws unless `ranges` are ascending and disjoint (rangesProblem): one pass. */
function ascending(ranges: readonly SeqRange[]): void {
  const problem = rangesProblem(ranges);
  if (problem !== undefined) throw new RangeError(`seq ranges out of order: ${problem}`);
}

/** Why `ranges` (from a file) is not a list of ascending, disjoint seq ranges, or undefined when it is. */
export function rangesProblem(ranges: unknown): string | undefined {
  if (!Array.isArray(ranges)) return 'its ranges are not a list';
  let after = 0;
  for (const [i, r] of ranges.entries()) {
    if (!Array.isArray(r) || r.length !== 2 || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1])) return `range ${i + 1} is not a pair of whole numbers`;
    const [a, b] = r as SeqRange;
    if (a <= after || b < a) return `range ${i + 1} [${a}, ${b}] does not follow the one before it (ranges are ascending, disjoint, from 1)`;
    after = b;
  }
  return undefined;
}
