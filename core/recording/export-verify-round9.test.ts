// Round 9 (evidence path, finding 1): `guarita verify --file` compared checkpoint times only between
// adjacent sizes and skipped a pair when either was undated, so an undated checkpoint between two
// dated ones hid any rollback across it (a checkpoint of size 24 dated 2020 after one of size 8
// dated 2026 verified). Each dated checkpoint is now compared with the latest time of every dated
// checkpoint of a smaller size. Stores that mix dated and undated checkpoints (older sidecars) keep
// verifying when their dated ones go forward.
import { describe, expect, it } from '@jest/globals';
import { parseCheckpoint, signCheckpoint } from './checkpoint.ts';
import { type ExportVerdict } from './export-verify.ts';
import { exportOf, feedExport, testStore, writeChain, type TestChain } from '../../e2e/support/export-testkit.ts';

type Line = Record<string, unknown>;
const NS = 'ns-a';
const store = testStore(NS, 'orders-db');

function verify(lines: readonly unknown[]): ExportVerdict {
  const verdict = feedExport(lines, {}, 'bytes');
  expect(feedExport(lines, {}, 'text')).toEqual(verdict);
  return verdict;
}

/** The chain's export with each checkpoint re-signed (by the chain's own key) at the time `times` gives its size: undefined for none. */
function withTimes(chain: TestChain, times: Record<number, string | undefined>): Line[] {
  const lines = exportOf(store, [chain]).map((l) => structuredClone(l) as Line);
  for (const [i, l] of lines.entries()) {
    if (l.type !== 'checkpoint' || !((l.size as number) in times)) continue;
    const { time: _old, ...cp } = parseCheckpoint(l.note as string).checkpoint;
    const time = times[l.size as number];
    lines[i] = { ...l, note: signCheckpoint(time === undefined ? cp : { ...cp, time }, chain.key) };
  }
  return lines;
}

const sizesOf = (lines: readonly Line[]): number[] => lines.filter((l) => l.type === 'checkpoint').map((l) => l.size as number);

describe('checkpoint times across undated checkpoints', () => {
  const A = writeChain(NS, 24, { group: 6 });

  it('the export carries every checkpoint (the premise)', () => {
    expect(sizesOf(withTimes(A, {}))).toEqual([6, 12, 18, 24]);
    expect(verify(withTimes(A, {})).ok).toBe(true);
  });

  it.each<[string, Record<number, string | undefined>, number]>([
    ['one undated between', { 18: undefined, 24: '2020-01-01T00:00:00Z' }, 24],
    ['two undated between', { 12: undefined, 18: undefined, 24: '2020-01-01T00:00:00Z' }, 24],
    ['the rollback right after the undated one', { 12: undefined, 18: '2020-01-01T00:00:00Z', 24: '2026-11-01T00:00:24Z' }, 18],
    ['behind the latest of several dated ones, not the nearest', { 12: '2026-12-01T00:00:00Z', 18: undefined, 24: '2026-11-15T00:00:00Z' }, 24],
    ['a millisecond back across an undated one', { 6: '2026-11-01T00:00:06.001Z', 12: undefined, 18: undefined, 24: '2026-11-01T00:00:06Z' }, 24],
    ['adjacent, as before', { 18: '2026-11-01T00:00:18Z', 24: '2026-11-01T00:00:17Z' }, 24],
  ])('refuses a checkpoint dated before a smaller one: %s', (_what, times, size) => {
    const v = verify(withTimes(A, times));
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.problem)).toContainEqual(expect.stringMatching(new RegExp(`checkpoint of size ${size} was signed before .*a rollback or a forged time`)));
  });

  it.each<[string, Record<number, string | undefined>]>([
    ['all undated (an old sidecar)', { 6: undefined, 12: undefined, 18: undefined, 24: undefined }],
    ['dated ones going forward around undated ones', { 12: undefined, 18: undefined }],
    ['undated first, then dated', { 6: undefined, 12: undefined }],
    ['dated, then undated at the end', { 18: undefined, 24: undefined }],
    ['equal times across an undated one', { 6: '2026-11-01T00:00:00Z', 12: undefined, 18: '2026-11-01T00:00:00Z', 24: '2026-11-01T00:00:00Z' }],
  ])('still verifies a mixed chain whose dated checkpoints go forward: %s', (_what, times) => {
    const v = verify(withTimes(A, times));
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
  });
});
