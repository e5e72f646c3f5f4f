// Reopening the store after a crash. Acknowledged batches were fsync'd before the answer, and the
// writer commits groups one after another, so only the last, unacknowledged group can be partly on
// disk: as torn lines at segment tails, or as a sidecar chain with a hole (a batch spread over
// several policies' segments, some written, some not). Pure: decides, per policy, how many entries
// form the consistent prefix; the store moves everything after it into quarantine.
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { contentIntact, GENESIS, type ChainPosition } from '../../../core/recording/index.ts';
import { StoreLogChecker } from '../../../core/recording/store-verify.ts';
import { anchorVerdict, type AnchorVerdict } from './anchor-verdict.ts';
import type { AnchoredHead, RemovedRange, SessionRecord, StoreCheckpoint, StoreLink } from './types.ts';

export interface LoadedEntry {
  link: StoreLink;
  record?: SessionRecord;
  /** Format 2: the store checkpoint sealing a commit group (on its last line of the policy). */
  storeCheckpoint?: StoreCheckpoint;
}

/** Whether the entry ends a commit group: a store checkpoint (format 2) or a signed link (format 1). */
export function isCheckpointEntry(e: LoadedEntry): boolean {
  return e.storeCheckpoint !== undefined || (typeof e.link.sig === 'string' && e.link.sig !== '');
}

export interface LoadedPolicy {
  key: string;
  /** Entries of all segments, in order. */
  entries: LoadedEntry[];
  /** Store-chain position the entries continue from (genesis, or the tombstone's cut). */
  from: ChainPosition;
  /** Removed sidecar-record ranges from this policy's tombstone. */
  removed: Record<string, RemovedRange[]>;
  /** Checks each entry in order as written by the operator (entryChecker); absent: links' order only. */
  check?: (e: LoadedEntry) => string | undefined;
}

/** The keys and position a policy's log is checked with (entryChecker). */
export interface CheckerBase {
  keys: (keyId: string) => KeyObject | undefined; jwks: ReadonlyMap<string, JsonWebKey>; currentKeyId: string;
  from: ChainPosition & { frontier?: string[] }; chainId: string;
}

/**
 * What only the operator can have written, entry by entry: each link's content is its hash, each
 * record's content its hash, each commit group's store checkpoint the store log's root signed by
 * the store key its link names; up to `vouchedTo` (a link something outside the volume vouches
 * for: the anchored head in AccessPolicy status.chain, or a seal by the current key, whose root
 * covers every link before it) any key in keys/ may have sealed; after it only the operator's
 * current key (the Secret's) seals, or the key that sealed the vouched link until the current one
 * has sealed (a rotation between the anchor and this start). Keys in keys/ are on the volume: they
 * verify what is vouched for, never what comes after it. An entry that fails is where the log stops
 * being the operator's: recovery moves it and what follows to quarantine.
 */
export function entryChecker(o: CheckerBase & { vouchedTo?: number }): (e: LoadedEntry) => string | undefined {
  const log = new StoreLogChecker(o.keys, o.from, o.chainId, o.jwks);
  const vouchedTo = o.vouchedTo ?? 0;
  // The keys that may seal after the vouched link: the current one, and the vouched link's until the current one seals.
  let sealers = new Set([o.currentKeyId]);
  const afterVouch = (e: LoadedEntry): string | undefined => {
    if (e.link.seq === vouchedTo) sealers = new Set([o.currentKeyId, e.link.keyId]);
    if (e.link.seq <= vouchedTo || !isCheckpointEntry(e)) return undefined;
    if (!sealers.has(e.link.keyId)) return `link seq ${e.link.seq}, after the last link vouched for (the anchored head, or a seal by the operator's key), is sealed by store key ${e.link.keyId}, not by the operator's key (${o.currentKeyId}): not written by this operator`;
    if (e.link.keyId === o.currentKeyId) sealers = new Set([o.currentKeyId]);
    return undefined;
  };
  return (e) => {
    if (e.record !== undefined && !contentIntact(e.record)) return `the record at link seq ${e.link.seq} does not match its hash (altered on the volume)`;
    return log.add(e.link, e.storeCheckpoint?.note) ?? afterVouch(e);
  };
}

/**
 * The last link the operator's current key (the Secret's, which a volume's writer does not hold)
 * sealed in the part of the log that verifies with every key in keys/: its signed root covers every
 * link before it, whoever sealed those. 0 when every seal is the current key's (nothing to vouch
 * for beyond what the strict check accepts anyway, and no second pass over the log).
 */
export function ownSealedThrough(o: CheckerBase & { entries: readonly LoadedEntry[] }): number {
  if (o.entries.every((e) => !isCheckpointEntry(e) || e.link.keyId === o.currentKeyId)) return 0;
  const trusting = entryChecker({ ...o, vouchedTo: Number.POSITIVE_INFINITY });
  const { length } = consistentPrefix({ key: '', entries: [...o.entries], from: o.from, removed: {}, check: trusting });
  let seq = 0;
  for (const e of o.entries.slice(0, length)) if (isCheckpointEntry(e) && e.link.keyId === o.currentKeyId) seq = e.link.seq;
  return seq;
}

/**
 * A policy's checker and what its anchor says about the log. Two things outside the volume vouch
 * for a link: an anchor that matches it, and a seal by the current key (its signed root covers
 * every link before it). The later of the two is the vouch point: a matching anchor never vouches
 * for less than the current key's seal does, or a status writer could pick a genuine but earlier
 * position (any earlier status.chain) and have the seals of keys rotated out since quarantined.
 * An anchor that does not match, or none, vouches for nothing: it is written by whoever holds
 * `accesspolicies/status`, a weaker privilege than the volume's, so a mismatch alone is never a
 * reason to withdraw the log; what no one outside the volume vouches for is quarantined as before.
 */
export function policyChecker(o: CheckerBase & { entries: readonly LoadedEntry[]; anchored?: AnchoredHead | undefined }): { check: (e: LoadedEntry) => string | undefined; verdict: AnchorVerdict } {
  const verdict = anchorVerdict(o.entries, o.from, o.anchored);
  const vouchedTo = Math.max(verdict.kind === 'match' ? verdict.seq : 0, ownSealedThrough(o));
  return { check: entryChecker({ ...o, vouchedTo }), verdict };
}

export interface RecoveryPlan {
  /** Per policy key: how many entries to keep (absent: keep all). */
  keep: Map<string, number>;
  /** Per policy key: why entries were dropped. */
  reasons: Map<string, string>;
  positions: Map<string, ChainPosition>;
}

/**
 * Every commit group ends each policy's run of links with a signed checkpoint, so an acknowledged
 * state always ends on one: backing off to the last checkpoint before `n` only drops entries of
 * the unfinished group.
 */
export function checkpointBefore(p: LoadedPolicy, n: number): number {
  for (let i = Math.min(n, p.entries.length); i > 0; i--) {
    const e = p.entries[i - 1];
    if (e !== undefined && isCheckpointEntry(e)) return i;
  }
  return 0;
}

/** Length of the prefix whose links follow each other (seq and prev) and ends on a checkpoint. */
export function consistentPrefix(p: LoadedPolicy): { length: number; reason?: string } {
  let pos = p.from;
  for (const [i, e] of p.entries.entries()) {
    if (e.link.seq !== pos.seq + 1 || e.link.prev !== pos.head) {
      return { length: checkpointBefore(p, i), reason: `store chain breaks at link seq ${e.link.seq} (expected seq ${pos.seq + 1} after ${pos.head.slice(0, 12)}…)` };
    }
    if (e.record !== undefined && e.link.source?.hash !== e.record.hash) {
      return { length: checkpointBefore(p, i), reason: `link seq ${e.link.seq} does not reference the record stored with it` };
    }
    const altered = p.check?.(e);
    if (altered !== undefined) return { length: checkpointBefore(p, i), reason: `the store was altered: ${altered}` };
    pos = { seq: e.link.seq, head: e.link.hash };
  }
  const length = checkpointBefore(p, p.entries.length);
  return length === p.entries.length ? { length } : { length, reason: 'entries after the last signed checkpoint (a commit group cut short by a crash)' };
}

type Interval = [number, number, string];

function chainIntervals(policies: readonly LoadedPolicy[], keep: Map<string, number>): Map<string, Interval[]> {
  const byChain = new Map<string, Interval[]>();
  const add = (chainId: string, iv: Interval): void => {
    const list = byChain.get(chainId) ?? [];
    list.push(iv);
    byChain.set(chainId, list);
  };
  for (const p of policies) {
    for (const [chainId, ranges] of Object.entries(p.removed)) ranges.forEach((r) => add(chainId, [r[0], r[1], r[2]]));
    const n = keep.get(p.key) ?? p.entries.length;
    for (const e of p.entries.slice(0, n)) if (e.record !== undefined) add(e.record.chainId, [e.record.seq, e.record.seq, e.record.hash]);
  }
  return byChain;
}

/** The contiguous prefix of a chain from seq 1: its position. */
export function contiguousPosition(intervals: Interval[]): ChainPosition {
  intervals.sort((a, b) => a[0] - b[0]);
  let pos: ChainPosition = { seq: 0, head: GENESIS };
  for (const [from, to, hash] of intervals) {
    if (from > pos.seq + 1) break;
    if (to > pos.seq) pos = { seq: to, head: hash };
  }
  return pos;
}

function firstBeyond(p: LoadedPolicy, n: number, positions: Map<string, ChainPosition>): number | undefined {
  for (let i = 0; i < n; i++) {
    const r = p.entries[i]?.record;
    if (r !== undefined && r.seq > (positions.get(r.chainId)?.seq ?? 0)) return i;
  }
  return undefined;
}

/** Decides what survives: each policy's consistent prefix, minus records past a hole in their sidecar chain. */
export function planRecovery(policies: readonly LoadedPolicy[]): RecoveryPlan {
  const keep = new Map<string, number>();
  const reasons = new Map<string, string>();
  for (const p of policies) {
    const prefix = consistentPrefix(p);
    if (prefix.reason === undefined) continue;
    keep.set(p.key, prefix.length);
    reasons.set(p.key, prefix.reason);
  }
  for (;;) {
    const positions = new Map<string, ChainPosition>();
    for (const [chainId, ivs] of chainIntervals(policies, keep)) positions.set(chainId, contiguousPosition(ivs));
    if (!cutBeyondHoles(policies, positions, keep, reasons)) return { keep, reasons, positions };
  }
}

/** Cuts each policy before its first record that lies past a hole in its chain; true when anything changed. */
function cutBeyondHoles(policies: readonly LoadedPolicy[], positions: Map<string, ChainPosition>, keep: Map<string, number>, reasons: Map<string, string>): boolean {
  let changed = false;
  for (const p of policies) {
    const beyond = firstBeyond(p, keep.get(p.key) ?? p.entries.length, positions);
    if (beyond === undefined) continue;
    const cut = checkpointBefore(p, beyond);
    const r = p.entries[beyond]?.record;
    keep.set(p.key, cut);
    reasons.set(p.key, `record ${r?.chainId ?? ''}#${r?.seq ?? ''} follows a hole in its chain (an unacknowledged batch cut short by a crash)`);
    changed = true;
  }
  return changed;
}
