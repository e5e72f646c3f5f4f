// In-memory index of the file store, rebuilt from the segments when the store opens: where each
// record lives, each chain's durable position, each policy's store chain and counters, and the
// per-session summaries the read API lists.
import type { KeyObject } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Mutex } from './fs-util.ts';
import type { SummaryBounds } from './sessions.ts';
import { checkpointVerifier } from '../../../core/recording/chain-checkpoint.ts';
import type { ChainTree } from '../../../core/recording/chain-tree.ts';
import type { NoteVerifier } from '../../../core/recording/checkpoint.ts';
import type { StoreChain } from '../../../core/recording/store-chain.ts';
import type { ChainState, PolicyCounters, RemovedRange, SessionRecord, SessionSummary, Tombstone } from './types.ts';

export const KIND_OTHER = 0;
export const KIND_COMMAND = 1;
export const KIND_DENIED = 2;
export const KIND_APPROVAL = 3;

export function kindOf(r: SessionRecord): number {
  if (r.type === 'command') return r.decision === 'deny' ? KIND_DENIED : KIND_COMMAND;
  return r.type === 'approval.requested' ? KIND_APPROVAL : KIND_OTHER;
}

export interface Segment {
  name: string;
  path: string;
  firstSeq: number;
  /** Last store-link seq and hash in the segment (firstSeq - 1 while it holds none). */
  lastSeq: number;
  lastHash: string;
  bytes: number;
  /** Newest link time (operator clock, ms): retention deletes the segment once this is old enough. */
  maxTime: number;
  createdAt: number;
  refs: RecordRef[];
  /** Store keys that signed links in this segment. */
  keyIds: Set<string>;
  /** Key of the owning policy. */
  owner: string;
  fh?: FileHandle;
}

export interface RecordRef {
  segment: Segment;
  offset: number;
  length: number;
  namespace: string;
  policy: string;
  chainId: string;
  seq: number;
  hash: string;
  sessionId: string;
  /** Record time (sidecar clock, ms), for export filters and lastSessionTime. */
  time: number;
  kind: number;
}

export interface PolicyState {
  key: string;
  namespace: string;
  policy: string;
  dir: string;
  segments: Segment[];
  /** The segment new entries go to; undefined until the next append creates one. */
  active?: Segment;
  chain: StoreChain;
  /**
   * The last link indexed: durable (indexed after its commit group's fdatasync, or read back at
   * open). `chain.position` runs ahead of it while a group is staged and synced, so what the store
   * reports as a policy's head (anchors, the read API) comes from here.
   */
  durable?: { seq: number; head: string };
  /** The newest store checkpoint (format 2 policies): what anchoring writes to AccessPolicy status. */
  checkpoint?: { size: number; root: string; note: string; head: string };
  tombstone?: Tombstone;
  counters: PolicyCounters;
  version: number;
}

/** Where a stored sidecar checkpoint is (its store.checkpoint entry), for exports. */
export interface CheckpointRef { size: number; root: string; segment: Segment; offset: number; length: number }

export interface ChainMem {
  state: ChainState;
  publicKey: KeyObject;
  /** Verifies the chain's checkpoints (signed notes under its keyId). */
  verifier: NoteVerifier;
  /** The chain's Merkle tree at state.seq; undefined while unknown (see store-open.ts). */
  tree: ChainTree | undefined;
  /** Stored checkpoints, by size ascending; the newest with the frontier the tree resumes from. */
  checkpoints: CheckpointRef[];
  newest?: { size: number; frontier: string[] };
  /** The latest time any stored checkpoint of the chain carries (a later one may not be dated before it, nor undated). */
  newestTime?: string;
  /** The chain holds (or held) format 2 records: a format 1 record after them is a downgrade (batch-check.ts). */
  formatTwo?: boolean;
  /**
   * formatTwo is on disk beside the chain's registration (FORMAT_TWO_MARK): retention may remove
   * every record that showed it, and a restart would then forget it (round 9b review).
   */
  formatTwoMarked?: boolean;
  refs: Map<number, RecordRef>;
  removed: RemovedRange[];
  mutex: Mutex;
}

export interface SessionEntry {
  summary: SessionSummary;
  /** summary.start and summary.last parsed (sessions.ts addToSummary keeps them). */
  bounds: SummaryBounds;
  refs: RecordRef[];
}

export function policyKey(namespace: string, policy: string): string {
  return `${namespace}/${policy}`;
}

export function newChainMem(state: ChainState, publicKey: KeyObject, tree: ChainTree | undefined): ChainMem {
  return { state, publicKey, verifier: checkpointVerifier(state.publicJwk, state.keyId), tree, checkpoints: [], refs: new Map(), removed: [], mutex: new Mutex() };
}

/** Suffix of the file beside a chain's registration that says the chain writes format 2 (see ChainMem.formatTwoMarked). */
export const FORMAT_TWO_MARK = '.format2';

