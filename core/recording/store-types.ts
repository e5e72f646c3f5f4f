// What the operator's store and its readers share: the stored record, the operator's store-chain
// links and tombstones, and the lines of the read API's exports and policy entries. Pure types,
// here so that the CLI (guarita verify, export, replay, sessions) and the operator agree on one
// definition without either importing the other's src/.
import type { JsonWebKey } from 'node:crypto';
import type { ChainPosition, SignedRecord } from './index.ts';
import type { SessionEvent } from './session-event.ts';

export type SessionRecord = SignedRecord<SessionEvent>;

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
  /** The last removed store link: verification of the remaining links starts from here. */
  cut: ChainPosition;
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
  | { type: 'entry'; link: StoreLink; record?: SessionRecord };

/** What a store link says: one stored record, or one retention cut. */
export interface StoreLinkPayload {
  type: 'store.record' | 'store.tombstone';
  namespace: string;
  policy: string;
  /** Operator clock at ingest: retention counts from here, not from the sidecar's clock. */
  time: string;
  source?: { chainId: string; seq: number; hash: string };
  cut?: { seq: number; head: string; tombstone: string };
}

export type StoreLink = SignedRecord<StoreLinkPayload>;
