// The session store behind a small interface: the embedded segment-file store implements it today;
// a shared PostgreSQL backend (docs/recording.md, "Shared backend") can implement the same methods
// so several operator replicas serve ingest at once. Everything above this interface (ingest and
// read APIs, anchoring, retention scheduling) is backend-agnostic.
import type { ChainPosition } from '../../../core/recording/index.ts';
import type {
  AppendResult, ChainRegistration, ChainState, PolicyCounters, PolicyEntryLine, SessionRecord, SessionSummary, StoreKeyInfo, Tombstone,
} from '../../../core/recording/store-types.ts';
import type { ExportV2Line, StoreProof } from '../../../core/recording/export-format.ts';

// Re-exported: the store's modules and the operator keep importing them from here.
export type { ExportLine, PolicyCounters, PolicyEntryLine, RemovedRange, SessionRecord, SessionSummary, StoreCheckpoint, StoredChainCheckpoint, StoreKeyInfo, StoreLink, StoreLinkPayload, Tombstone } from '../../../core/recording/store-types.ts';

// The ingest wire types (registration, chain position, the outcome of a batch and its problems)
// live in core/recording/store-types.ts with the batch verification; re-exported here.
export type { AppendResult, ChainRegistration, ChainState, RecordProblem } from '../../../core/recording/store-types.ts';

/** Head of a policy's store chain (the operator's own chain over everything stored for the policy). */
export interface PolicyHead {
  namespace: string;
  policy: string;
  /** Store-chain position: seq = links since genesis (records, checkpoints and tombstone links), head = newest link hash. */
  records: number;
  head: string;
  /**
   * The newest store checkpoint (format 2), durable: its size, the store log's root and the link
   * hash at that size, and the signed note. Anchoring writes this position, never one a commit
   * group in flight has not made durable yet.
   */
  checkpoint?: { size: number; root: string; note: string; head: string };
  counters: PolicyCounters;
  /** Bumped on every change, so anchoring writes only what changed. */
  version: number;
}

/** A policy's store-log head as AccessPolicy status.chain anchors it. */
/** status.chain's position: the link hash at `records`, and for a store log (format 2) its tree's root there. */
export interface AnchoredHead { head: string; records: number; root?: string }

export interface SessionFilter { policy?: string; subject?: string; since?: number }
export interface ExportFilter { policy?: string; sessionId?: string; since?: number; until?: number }

export interface PolicyChainInfo {
  namespace: string;
  policy: string;
  chainId: string;
  head: string;
  records: number;
  storeKey: StoreKeyInfo;
  /** Every key that signed a link still stored (after a key rotation there are several). */
  storeKeys: StoreKeyInfo[];
  tombstone?: Tombstone;
  segments: number;
}

export interface RetentionOutcome {
  namespace: string;
  policy: string;
  segmentsRemoved: string[];
  recordsRemoved: number;
  cut: ChainPosition;
}

export type RetentionFor = (namespace: string, policy: string) => number;

export interface SessionStore {
  /** Registers a sidecar chain; `conflict` when the chainId exists with another key. */
  registerChain(reg: ChainRegistration): Promise<{ outcome: 'created' | 'exists' | 'conflict'; chain: ChainState }>;
  getChain(chainId: string): ChainState | undefined;
  listChains(namespace: string): ChainState[];
  /**
   * Verifies and durably stores a batch (fsync'd before it resolves ok): its records and the
   * sidecar's signed checkpoint at the batch's last record (required when any record is format 2).
   */
  append(chainId: string, records: readonly SessionRecord[], checkpoint?: string): Promise<AppendResult>;
  listSessions(namespace: string, filter: SessionFilter): SessionSummary[];
  sessionRecords(namespace: string, sessionId: string): Promise<SessionRecord[] | undefined>;
  /** A verifiable export (format guarita-export/v2); `anchored` gives AccessPolicy status.chain per policy. */
  exportLines(namespace: string, filter: ExportFilter, anchored?: (policy: string) => AnchoredHead | undefined): AsyncIterable<ExportV2Line | SessionRecord>;
  policyHeads(): PolicyHead[];
  policyChain(namespace: string, policy: string): PolicyChainInfo | undefined;
  /** The store chain with its records, for offline verification (JSONL lines). */
  policyEntries(namespace: string, policy: string): AsyncIterable<PolicyEntryLine>;
  /** The policy's store log grown from size `from` to its store checkpoint of size `to` (store-reads.ts storeProof); a string says why not. */
  storeProof(namespace: string, policy: string, from: number, to: number): Promise<StoreProof | string>;
  applyRetention(retentionFor: RetentionFor, now: number): Promise<RetentionOutcome[]>;
  close(): Promise<void>;
}

/** Where the file store logs (pino in the operator). */
export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Callbacks the operator turns into metrics and a restart. */
export interface StoreHooks {
  /** Bytes moved to quarantine when reopening (torn or inconsistent tail). */
  quarantined?(namespace: string, policy: string, bytes: number, reason: string): void;
  /** A commit group: records stored and the seconds its fsyncs took. */
  committed?(records: number, fsyncSeconds: number): void;
  /** The store stopped accepting writes after an I/O error (the process should restart). */
  failed?(err: Error): void;
}
