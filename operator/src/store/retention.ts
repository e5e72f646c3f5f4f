// Retention as whole-segment deletion. Pure parts: which segments of a policy have expired, and
// the cumulative tombstone that records what their deletion removes.
import { kubeTime } from '../../../core/duration.ts';
import { addRemoved, storeChainId } from '../../../core/recording/store-chain.ts';
import { KIND_APPROVAL, KIND_COMMAND, KIND_DENIED, type Segment } from './state.ts';
import type { PolicyCounters, RemovedRange, Tombstone } from './types.ts';

/** Segments are deleted oldest first and only as a prefix, so the cut is one chain position. */
export function expiredPrefix(segments: readonly Segment[], cutoff: number): Segment[] {
  const out: Segment[] = [];
  for (const s of segments) {
    const newest = s.lastSeq >= s.firstSeq ? s.maxTime : s.createdAt;
    if (newest >= cutoff) break;
    out.push(s);
  }
  return out;
}

function countRemoved(into: PolicyCounters, segments: readonly Segment[]): number {
  let records = 0;
  for (const s of segments) {
    for (const ref of s.refs) {
      records++;
      if (ref.kind === KIND_COMMAND || ref.kind === KIND_DENIED) into.total++;
      if (ref.kind === KIND_DENIED) into.denied++;
      if (ref.kind === KIND_APPROVAL) into.approvalsRequested++;
      if (into.lastSessionTime === undefined || ref.time > Date.parse(into.lastSessionTime)) into.lastSessionTime = new Date(ref.time).toISOString();
    }
  }
  return records;
}

function removedChains(previous: Record<string, RemovedRange[]>, segments: readonly Segment[]): Record<string, RemovedRange[]> {
  const chains: Record<string, RemovedRange[]> = {};
  for (const [id, ranges] of Object.entries(previous)) chains[id] = ranges.map((r): RemovedRange => [r[0], r[1], r[2]]);
  const refs = segments.flatMap((s) => s.refs).sort((a, b) => (a.chainId === b.chainId ? a.seq - b.seq : a.chainId < b.chainId ? -1 : 1));
  for (const ref of refs) {
    const list = chains[ref.chainId] ?? [];
    addRemoved(list, ref.seq, ref.hash);
    chains[ref.chainId] = list;
  }
  return chains;
}

const MAX_SEGMENT_NAMES = 1000;

export interface CutInput {
  namespace: string;
  policy: string;
  previous: Tombstone | undefined;
  expired: readonly Segment[];
  now: number;
  /** The store log's tree frontier at the cut (format 2), so its checkpoints verify after it. */
  frontier?: string[];
}

/** The unsigned cumulative tombstone after deleting `expired` (a non-empty prefix of the segments). */
export function buildTombstone(input: CutInput): Omit<Tombstone, 'keyId' | 'hash' | 'sig'> {
  const { previous, expired } = input;
  const last = expired[expired.length - 1];
  if (last === undefined) throw new Error('buildTombstone: nothing expired');
  if (previous === undefined) return { ...cumulative(input, last, EMPTY) };
  return { ...cumulative(input, last, previous), previous: previous.hash };
}

type Previous = Pick<Tombstone, 'removedCounts' | 'removedLinks' | 'removedRecords' | 'removedSegments' | 'chains'> & { hash?: string };
const EMPTY: Previous = { removedCounts: { total: 0, denied: 0, approvalsRequested: 0 }, removedLinks: 0, removedRecords: 0, removedSegments: [], chains: {} };

function cumulative(input: CutInput, last: Segment, previous: Previous): Omit<Tombstone, 'keyId' | 'hash' | 'sig' | 'previous'> {
  const { expired } = input;
  const removedCounts: PolicyCounters = { ...previous.removedCounts };
  const records = countRemoved(removedCounts, expired);
  const links = expired.reduce((n, s) => n + Math.max(0, s.lastSeq - s.firstSeq + 1), 0);
  return {
    format: 'guarita-tombstone/v1',
    namespace: input.namespace, policy: input.policy, chainId: storeChainId(input.namespace, input.policy),
    // An empty segment's lastSeq/lastHash is the position it was opened at, so this holds for it too.
    cut: { seq: last.lastSeq, head: last.lastHash, ...(input.frontier === undefined ? {} : { frontier: input.frontier }) },
    removedLinks: previous.removedLinks + links,
    removedRecords: previous.removedRecords + records,
    removedCounts,
    removedSegments: [...previous.removedSegments, ...expired.map((s) => s.name)].slice(-MAX_SEGMENT_NAMES),
    chains: removedChains(previous.chains, expired),
    cutAt: kubeTime(input.now),
  };
}
