// The file store's in-memory index and the one place that changes it: keys, chain registrations
// and positions, each policy's segments and store chain, and the per-session summaries the read
// API lists. The opener fills it from disk, the writer adds what a commit made durable, retention
// drops what a cut removed; the read side only reads it.
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { isLeafRecord, type SigningKey } from '../../../core/recording/index.ts';
import { checkpointTime, parseCheckpoint } from '../../../core/recording/checkpoint.ts';
import { segmentFirstSeq, type EntryExtras } from './segment.ts';
import { addToSummary, countRecord, emptyCounters, newSummary, summaryBounds } from './sessions.ts';
import { kindOf, policyKey, type ChainMem, type PolicyState, type RecordRef, type Segment, type SessionEntry } from './state.ts';
import { mergeRanges, StoreChain } from '../../../core/recording/store-chain.ts';
import type { RemovedRange, SessionRecord, StoreLink, Tombstone } from './types.ts';

const DNS = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The later of a chain's newest checkpoint time and the time `stored`'s note carries (either may be absent). */
function laterTime(newest: string | undefined, stored: EntryExtras['chainCheckpoint']): string | undefined {
  const time = stored === undefined ? undefined : checkpointTime(stored.note);
  if (newest === undefined) return time;
  return time !== undefined && Date.parse(time) > Date.parse(newest) ? time : newest;
}

export class StoreIndex {
  readonly dir: string;
  readonly key: SigningKey;
  readonly keys = new Map<string, KeyObject>();
  /** The same store keys as JWKs (store checkpoints are verified as signed notes). */
  readonly jwks = new Map<string, JsonWebKey>();
  readonly chains = new Map<string, ChainMem>();
  readonly policies = new Map<string, PolicyState>();
  readonly sessions = new Map<string, Map<string, SessionEntry>>();

  constructor(dir: string, key: SigningKey) {
    this.dir = dir;
    this.key = key;
  }

  /** The last link time parsed: the links of a commit group share one. */
  #lastLinkTime = { text: '', ms: Number.NaN };

  #linkTime(text: string): number {
    if (text !== this.#lastLinkTime.text) this.#lastLinkTime = { text, ms: Date.parse(text) };
    return this.#lastLinkTime.ms;
  }

  /** The policy's state, created (empty, not yet on disk) on its first record. */
  policyFor(namespace: string, name: string): PolicyState {
    const key = policyKey(namespace, name);
    let p = this.policies.get(key);
    if (p === undefined) {
      if (!DNS.test(namespace) || !DNS.test(name)) throw new Error(`invalid namespace/policy name ${key}`);
      p = {
        key, namespace, policy: name, dir: join(this.dir, 'policies', namespace, name), segments: [],
        chain: new StoreChain(namespace, name, this.key), counters: emptyCounters(), version: 1,
      };
      this.policies.set(key, p);
    }
    return p;
  }

  /** Where the stored record `seq` of a chain is (its namespace and policy), if still stored. */
  recordAt(chain: ChainMem, seq: number): RecordRef | undefined {
    return chain.refs.get(seq);
  }

  /** Indexes one durable entry of `seg` (a store link, and the record or checkpoints it carries if any). */
  indexEntry(policy: PolicyState, seg: Segment, link: StoreLink, record: SessionRecord | undefined, offset: number, length: number, extras: EntryExtras = {}): void {
    seg.keyIds.add(link.keyId);
    policy.version++;
    policy.durable = { seq: link.seq, head: link.hash };
    seg.lastSeq = link.seq;
    seg.lastHash = link.hash;
    seg.maxTime = Math.max(seg.maxTime, this.#linkTime(link.time));
    if (extras.storeCheckpoint !== undefined) {
      policy.checkpoint = { size: link.seq, root: parseCheckpoint(extras.storeCheckpoint.note).checkpoint.rootHash.toString('hex'), note: extras.storeCheckpoint.note, head: link.hash };
    }
    if (link.type === 'store.checkpoint') this.#indexCheckpoint(seg, link, extras, offset, length);
    if (record === undefined) return;
    const ref: RecordRef = {
      segment: seg, offset, length, namespace: policy.namespace, policy: policy.policy, chainId: record.chainId,
      seq: record.seq, hash: record.hash, sessionId: record.sessionId, time: Date.parse(record.time), kind: kindOf(record),
    };
    seg.refs.push(ref);
    countRecord(policy.counters, record, ref.time);
    const chain = this.chains.get(record.chainId);
    chain?.refs.set(record.seq, ref);
    if (chain !== undefined && isLeafRecord(record)) chain.formatTwo = true;
    this.#indexSession(ref, record);
  }

  #indexCheckpoint(seg: Segment, link: StoreLink, extras: EntryExtras, offset: number, length: number): void {
    const cp = link.checkpoint;
    const chain = this.chains.get(cp?.chainId ?? '');
    if (cp === undefined || chain === undefined) return;
    const newest = chain.checkpoints.at(-1)?.size ?? 0;
    // One copy per policy the batch touched: the index keeps the first.
    const stored = extras.chainCheckpoint;
    // Only format 2 batches store checkpoints: the chain writes format 2 even once its records expire.
    chain.formatTwo = true;
    if (newest < cp.size) {
      chain.checkpoints.push({ size: cp.size, root: cp.root, segment: seg, offset, length });
      chain.newestTime = laterTime(chain.newestTime, stored);
    }
    if (stored !== undefined && cp.size >= newest) chain.newest = { size: cp.size, frontier: stored.frontier };
  }

  #indexSession(ref: RecordRef, record: SessionRecord): void {
    let byId = this.sessions.get(ref.namespace);
    if (byId === undefined) {
      byId = new Map();
      this.sessions.set(ref.namespace, byId);
    }
    let entry = byId.get(record.sessionId);
    if (entry === undefined) {
      const summary = newSummary(record);
      entry = { summary, bounds: summaryBounds(summary), refs: [] };
      byId.set(record.sessionId, entry);
    }
    entry.refs.push(ref);
    addToSummary(entry.summary, entry.bounds, record, ref.time);
  }

  /** Ranges of `chainId` removed by retention, across every policy's tombstone. */
  removedRanges(chainId: string): RemovedRange[] {
    return mergeRanges([...this.policies.values()].map((p) => p.tombstone?.chains[chainId] ?? []));
  }

  /** Drops the expired prefix of a policy's segments after a retention cut (under `tombstone`). */
  forgetExpired(p: PolicyState, expired: Segment[], tombstone: Tombstone): void {
    p.segments = p.segments.slice(expired.length);
    p.tombstone = tombstone;
    p.version++;
    const gone = new Set(expired);
    for (const chain of this.chains.values()) chain.checkpoints = chain.checkpoints.filter((c) => !gone.has(c.segment));
    for (const ref of expired.flatMap((s) => s.refs)) {
      const chain = this.chains.get(ref.chainId);
      chain?.refs.delete(ref.seq);
      const entry = this.sessions.get(ref.namespace)?.get(ref.sessionId);
      if (entry === undefined) continue;
      entry.refs = entry.refs.filter((r) => r !== ref);
      entry.summary.truncated = true;
      if (entry.refs.length === 0) this.sessions.get(ref.namespace)?.delete(ref.sessionId);
    }
    for (const chainId of Object.keys(tombstone.chains)) {
      const chain = this.chains.get(chainId);
      if (chain !== undefined) chain.removed = this.removedRanges(chainId);
    }
  }
}

/** A segment's in-memory state, empty: entries are added by StoreIndex.indexEntry. */
export function newSegment(policy: PolicyState, name: string, path: string, createdAt: number): Segment {
  const firstSeq = segmentFirstSeq(name) ?? policy.chain.position.seq + 1;
  const pos = policy.chain.position;
  return { name, path, firstSeq, lastSeq: firstSeq - 1, lastHash: pos.head, bytes: 0, maxTime: 0, createdAt, refs: [], keyIds: new Set(), owner: policy.key };
}

export function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}
