// What a policy's anchored head (AccessPolicy status.chain) says about its stored log, at open.
// Pure. The anchor is written by whoever holds `accesspolicies/status`; the log's seals by the
// operator's current key are written by whoever holds the store-key Secret. A mismatch between the
// two means one of them was altered, and only the log can be checked on its own (recovery.ts):
// this module names the mismatch so it is reported, never acted on alone.
import type { ChainPosition } from '../../../core/recording/index.ts';
import type { LoadedEntry } from './recovery.ts';
import type { AnchoredHead } from './types.ts';

export type AnchorVerdict =
  | { kind: 'none' }
  /** The log holds the anchored link: it vouches for the log up to `seq`. */
  | { kind: 'match'; seq: number }
  /** The log holds a link of the anchored size with another hash: the anchor or that link was altered. */
  | { kind: 'different'; anchored: AnchoredHead; found: string }
  /** The anchored size is past the stored log: the anchor was altered, or the log's tail removed. */
  | { kind: 'beyond'; anchored: AnchoredHead; last: number }
  /** The anchored size is below the retention cut: the links it names are gone, nothing to compare. */
  | { kind: 'before-cut'; anchored: AnchoredHead; cut: number };

/** `from`: where the stored links start (the genesis, or the tombstone's cut). */
export function anchorVerdict(entries: readonly LoadedEntry[], from: ChainPosition, anchored: AnchoredHead | undefined): AnchorVerdict {
  if (anchored === undefined) return { kind: 'none' };
  if (anchored.records < from.seq) return { kind: 'before-cut', anchored, cut: from.seq };
  const found = anchored.records === from.seq ? from.head : entries.find((e) => e.link.seq === anchored.records)?.link.hash;
  if (found === undefined) return { kind: 'beyond', anchored, last: entries.at(-1)?.link.seq ?? from.seq };
  return found === anchored.head ? { kind: 'match', seq: anchored.records } : { kind: 'different', anchored, found };
}

const short = (h: string): string => `${h.slice(0, 12)}…`;

/** The warning for a verdict that is not a match (undefined for none and match). */
export function verdictProblem(v: AnchorVerdict): string | undefined {
  switch (v.kind) {
    case 'different':
      return `AccessPolicy status.chain names store link #${v.anchored.records} with head ${short(v.anchored.head)}, but the stored link #${v.anchored.records} is ${short(v.found)}: the anchor was overwritten (accesspolicies/status) or the log altered (the volume)`;
    case 'beyond':
      return `AccessPolicy status.chain names store link #${v.anchored.records} (head ${short(v.anchored.head)}), but the stored log ends at #${v.last}: the log's tail was removed (the volume) or the anchor overwritten (accesspolicies/status)`;
    case 'before-cut':
      return `AccessPolicy status.chain names store link #${v.anchored.records}, below the retention cut at #${v.cut}: it cannot be checked against the log`;
    default:
      return undefined;
  }
}
