// What the operator's store and its readers share: the stored record, the operator's store-chain
// links and tombstones, and the lines of the read API's exports and policy entries. Pure types,
// here so that the CLI (guarita verify, export, replay, sessions) and the operator agree on one
// definition without either importing the other's src/.
import type { JsonWebKey } from 'node:crypto';
import type { ChainPosition, ChainRecord } from './index.ts';
import type { ChainCheckpointProblem } from './chain-checkpoint.ts';
import type { Vouched } from './store-chain.ts';
import type { SessionEvent } from './session-event.ts';

/** A sidecar record as stored: format 2 (a leaf covered by a checkpoint) or format 1 (signed). */
export type SessionRecord = ChainRecord<SessionEvent>;

/** Per-policy counters kept in AccessPolicy status.sessions (cumulative, across retention cuts). */
export interface PolicyCounters {
  total: number;
  denied: number;
  approvalsRequested: number;
  lastSessionTime?: string;
}

export interface StoreKeyInfo { keyId: string; publicJwk: JsonWebKey }

export interface SessionSummary {
  sessionId: string;
  policy: string;
  target: string;
  subject: string;
  purpose?: string;
  start: string;
  end?: string;
  last: string;
  commands: number;
  denied: number;
  approvals: number;
  records: number;
  chainId: string;
  /** Some of its records were removed by retention. */
  truncated?: boolean;
}

/** One JSONL line of an export: a chain key (with the ranges retention removed) or a record. */
export type ExportLine =
  | { type: 'key'; chainId: string; keyId: string; publicJwk: JsonWebKey; pod: string; removed?: RemovedRange[] }
  | SessionRecord;

/** [fromSeq, toSeq, hash of the record at toSeq]: records of a sidecar chain removed by retention. */
export type RemovedRange = [number, number, string];

/** The operator's signed statement that a retention cut removed everything up to `cut`. */
export interface Tombstone {
  format: 'guarita-tombstone/v1';
  namespace: string;
  policy: string;
  chainId: string;
  /**
   * The last removed store link: verification of the remaining links starts from here; for a
   * format 2 store log also the tree's frontier at cut.seq, so its checkpoints verify after the cut.
   */
  cut: ChainPosition & { frontier?: string[] };
  removedLinks: number;
  removedRecords: number;
  removedCounts: Omit<PolicyCounters, 'lastSessionTime'>;
  removedSegments: string[];
  /** Per sidecar chain, the removed record ranges (with the hash of each range's last record). */
  chains: Record<string, RemovedRange[]>;
  cutAt: string;
  /** Hash of the tombstone this one supersedes (tombstones are cumulative). */
  previous?: string;
  keyId: string;
  hash: string;
  sig: string;
}

export type PolicyEntryLine =
  | { type: 'storeKey'; keyId: string; publicJwk: JsonWebKey }
  | { type: 'chainKey'; chainId: string; keyId: string; publicJwk: JsonWebKey }
  | { type: 'tombstone'; tombstone: Tombstone }
  /**
   * One store entry: its link, the record it stores (store.record), the sidecar's signed note it
   * stores (store.checkpoint: `chainCheckpoint`), and on the last link of a commit group the store
   * log's signed checkpoint (`checkpoint`, format 2 links).
   */
  | { type: 'entry'; link: StoreLink; record?: SessionRecord; chainCheckpoint?: string; checkpoint?: string };

/** What a store link says: one stored record, one stored sidecar checkpoint, or one retention cut. */
export interface StoreLinkPayload {
  type: 'store.record' | 'store.checkpoint' | 'store.tombstone';
  namespace: string;
  policy: string;
  /** Operator clock at ingest: retention counts from here, not from the sidecar's clock. */
  time: string;
  source?: { chainId: string; seq: number; hash: string };
  /** store.checkpoint: the sidecar checkpoint stored with this link (its note is the line's `c.note`). */
  checkpoint?: { chainId: string; size: number; root: string };
  cut?: { seq: number; head: string; tombstone: string };
}

/**
 * A link of a policy's store log: format 2 (`v: 2`, no `sig`; a leaf of the store log's Merkle
 * tree, covered by the store checkpoint of its commit group) or format 1 (`sig` "" or, on the last
 * link of a commit group, the store key's signature).
 */
export type StoreLink = ChainRecord<StoreLinkPayload>;

/** A sidecar checkpoint as the store keeps it (segment line field `c`). */
export interface StoredChainCheckpoint {
  /** The sidecar's signed note, as received. */
  note: string;
  /** The chain tree's compact range at the checkpoint's size (hex), so the operator resumes the tree. */
  frontier: string[];
}

/** The store log's checkpoint on the last line of each policy and commit group (fields `sc`, `sf`). */
export interface StoreCheckpoint {
  /** Signed note: origin store/<ns>/<policy>, size = that link's seq, root of the store log. */
  note: string;
  frontier: string[];
}

/** A sidecar chain as registered through POST /v1/chains (docs/ingest-contract.md). */
export interface ChainRegistration {
  chainId: string;
  namespace: string;
  pod: string;
  publicJwk: JsonWebKey;
  keyId: string;
  /** The authenticated service account that registered it. */
  registeredBy: string;
  registeredAt: string;
  /** The store key's signature over the registration (store-chain.ts vouchRegistration), set by the store. */
  vouched?: Vouched;
}

export interface ChainState extends ChainRegistration, ChainPosition {}

/** Outcome of an append, mapped 1:1 onto the ingest API's answers. */
export type AppendResult =
  | { ok: true; seq: number; head: string; stored: number; duplicates: number }
  | { ok: false; status: 409; problem: 'gap'; expectedSeq: number; message: string }
  | { ok: false; status: 409; problem: 'fork'; seq: number; message: string }
  | { ok: false; status: 422; problem: RecordProblem; index: number; seq: number | undefined; message: string };

export type RecordProblem =
  | 'hash-mismatch' | 'bad-signature' | 'unknown-key' | 'wrong-chain' | 'wrong-namespace' | 'wrong-pod' | 'not-ordered'
  /** Format 2 records came without the checkpoint covering them. */
  | 'checkpoint-missing'
  /** The checkpoint is dated before the chain's newest stored one. */
  | 'checkpoint-time'
  /** A record's time names no instant (month 13, hour 25): it would pass every time filter. */
  | 'bad-time'
  /** A format 1 record after format 2 records of the same chain. */
  | 'downgrade'
  /** A record's policy is not one governing the sending pod (ingest, before the store). */
  | 'wrong-policy'
  | ChainCheckpointProblem;

