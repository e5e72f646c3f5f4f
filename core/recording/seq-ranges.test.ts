// The seq ranges the export verifier compares (manifest against records verified): the parts one
// misses of the other, in one pass (review 27: the pairwise scan took 40 s for 64k ranges).
import { describe, expect, it } from '@jest/globals';
import { addSeen, missingRanges, rangesProblem, type SeqRange } from './seq-ranges.ts';

describe('missingRanges', () => {
  const cases: [string, SeqRange[], SeqRange[], SeqRange[]][] = [
    ['nothing wanted', [], [[1, 5]], []],
    ['nothing held', [[1, 3], [7, 7]], [], [[1, 3], [7, 7]]],
    ['exactly held', [[1, 3], [5, 9]], [[1, 3], [5, 9]], []],
    ['a hole in the middle', [[1, 10]], [[1, 3], [6, 10]], [[4, 5]]],
    ['the first and the last missing', [[1, 10]], [[2, 9]], [[1, 1], [10, 10]]],
    ['one held range spanning several wanted', [[1, 2], [4, 5], [7, 8]], [[1, 8]], []],
    ['one wanted range spanning several held', [[1, 9]], [[1, 1], [3, 3], [5, 5], [7, 9]], [[2, 2], [4, 4], [6, 6]]],
    ['held ranges before, between and after', [[5, 6], [10, 12]], [[1, 2], [7, 8], [12, 20]], [[5, 6], [10, 11]]],
    ['a held range overlapping two wanted', [[1, 4], [6, 9]], [[3, 7]], [[1, 2], [8, 9]]],
  ];

  it.each(cases)('%s', (_name, want, have, missing) => {
    expect(missingRanges(want, have)).toEqual(missing);
  });

  it('agrees with a seq-by-seq count on interleaved ranges', () => {
    const want: SeqRange[] = [];
    const have: SeqRange[] = [];
    for (let s = 1; s <= 300; s++) {
      if (s % 3 !== 0) addSeen(want, s);
      if (s % 5 !== 0) addSeen(have, s);
    }
    const expected: SeqRange[] = [];
    for (let s = 1; s <= 300; s++) if (s % 3 !== 0 && s % 5 === 0) expected.push([s, s]);
    expect(missingRanges(want, have)).toEqual(expected);
  });

  /** `ranges` behind a proxy that counts reads of its elements (for...of and indexing alike). */
  function counted(ranges: SeqRange[]): { list: SeqRange[]; reads: () => number } {
    let reads = 0;
    const list = new Proxy(ranges, { get: (t, k, r) => { if (typeof k === 'string' && /^[0-9]+$/.test(k)) reads++; return Reflect.get(t, k, r) as unknown; } });
    return { list, reads: () => reads };
  }

  it('reads each range a bounded number of times: linear in both lists, not their product', () => {
    // Interleaved single-seq ranges, as a session-filtered export of interleaved sessions has. The
    // pairwise scan reads `have` once per range of `want`: 3,000 x 3,000 = 9,000,000 reads.
    const want: SeqRange[] = [];
    const have: SeqRange[] = [];
    for (let i = 0; i < 3000; i++) {
      want.push([3 * i + 1, 3 * i + 1]);
      have.push([3 * i + 2, 3 * i + 2]);
    }
    const w = counted(want);
    const h = counted(have);
    expect(missingRanges(w.list, h.list)).toHaveLength(3000);
    expect(w.reads() + h.reads()).toBeLessThanOrEqual(4 * 6000);
  });
});

describe('review 29: ranges out of order are refused, not scanned', () => {
  /** `ranges` behind a proxy that counts reads of its elements. */
  function counted(ranges: SeqRange[]): { list: SeqRange[]; reads: () => number } {
    let reads = 0;
    const list = new Proxy(ranges, { get: (t, k, r) => { if (typeof k === 'string' && /^[0-9]+$/.test(k)) reads++; return Reflect.get(t, k, r) as unknown; } });
    return { list, reads: () => reads };
  }

  it('addSeen refuses a seq not larger than the last one added', () => {
    const seen: SeqRange[] = [];
    addSeen(seen, 1);
    addSeen(seen, 5);
    expect(() => addSeen(seen, 5)).toThrow(/seq 5 does not follow seq 5/);
    expect(() => addSeen(seen, 1)).toThrow(/seq 1 does not follow seq 5/);
    expect(() => addSeen(seen, Number.NaN)).toThrow(RangeError);
    expect(seen).toEqual([[1, 1], [5, 5]]);
  });

  it('missingRanges throws on the shape refused proof lines made, after reads linear in the lists', () => {
    // The manifest's 3,000 single-seq ranges against [1, 9000] then 3,000 copies of [1, 1]: the
    // merge's skip loop stopped on [1, 9000] and the inner loop scanned every copy for each
    // manifest range, 9,000,000 reads.
    const want: SeqRange[] = Array.from({ length: 3000 }, (_, i): SeqRange => [3 * i + 1, 3 * i + 1]);
    const have: SeqRange[] = [[1, 9000], ...Array.from({ length: 3000 }, (): SeqRange => [1, 1])];
    const w = counted(want);
    const h = counted(have);
    expect(() => missingRanges(w.list, h.list)).toThrow(/out of order/);
    expect(() => missingRanges(h.list, w.list)).toThrow(/out of order/);
    expect(w.reads() + h.reads()).toBeLessThanOrEqual(2 * (3000 + 3001));
  });
});

describe('rangesProblem (a manifest\'s ranges, from the file)', () => {
  it('accepts ascending, disjoint ranges, adjacent ones included', () => {
    expect(rangesProblem([[1, 3], [4, 4], [9, 12]])).toBeUndefined();
    expect(rangesProblem([])).toBeUndefined();
  });

  it.each([
    ['not a list', { a: 1 }, /not a list/],
    ['a range that is not a pair', [[1, 2, 3]], /range 1 is not a pair/],
    ['a seq that is not a whole number', [[1, 2.5]], /range 1 is not a pair/],
    ['a range backwards', [[5, 2]], /range 1 \[5, 2\] does not follow/],
    ['overlapping ranges', [[1, 5], [5, 8]], /range 2 \[5, 8\] does not follow/],
    ['ranges out of order', [[10, 12], [1, 3]], /range 2 \[1, 3\]/],
    ['seq 0', [[0, 3]], /range 1 \[0, 3\]/],
  ])('refuses %s', (_name, ranges, problem) => {
    expect(rangesProblem(ranges)).toMatch(problem);
  });
});
