// Ingest verification of one sidecar batch against what is durably stored for its chain. Pure:
// the store supplies the stored position and hashes; this decides what to store, what to skip
// (a re-sent batch) and what to reject (gap, fork, bad hash or signature). Nothing of a rejected
// batch is stored, so the decision covers the whole batch before anything is written.
import type { KeyObject } from 'node:crypto';
import { hashOf, verifyLink, type ChainPosition, type Linked } from '../../../core/recording/index.ts';
import type { AppendResult, ChainState, RecordProblem, SessionRecord } from './types.ts';

export interface BatchPlan {
  fresh: SessionRecord[];
  duplicates: number;
  position: ChainPosition;
}

type Failure = Extract<AppendResult, { ok: false }>;

/** What the store holds at a sequence number of the chain. */
export interface Stored {
  hash(seq: number): string | undefined;
  /** Retention already deleted it. */
  removed(seq: number): boolean;
}

const PROBLEM_TEXT: Record<RecordProblem, string> = {
  'hash-mismatch': 'content does not match its hash (the record was altered)',
  'bad-signature': 'signature does not verify with the key this chain registered',
  'unknown-key': 'keyId is not the key this chain registered',
  'wrong-chain': 'record belongs to another chain',
  'wrong-namespace': 'record namespace is not the namespace this chain was registered for',
  'wrong-pod': 'record pod is not the pod this chain was registered for',
  'not-ordered': 'records of a batch must have consecutive sequence numbers',
};

function invalid(problem: RecordProblem, index: number, record: SessionRecord): Failure {
  return { ok: false, status: 422, problem, index, seq: record.seq, message: `record #${index + 1} (seq ${record.seq}): ${problem}: ${PROBLEM_TEXT[problem]}` };
}

function gap(expectedSeq: number, got: number): Failure {
  return { ok: false, status: 409, problem: 'gap', expectedSeq, message: `sequence gap: expected seq ${expectedSeq}, got ${got}; resend from seq ${expectedSeq}` };
}

function fork(seq: number, why: string): Failure {
  return { ok: false, status: 409, problem: 'fork', seq, message: `fork at seq ${seq}: ${why}` };
}

function identityProblem(chain: ChainState, record: SessionRecord): RecordProblem | undefined {
  if (record.chainId !== chain.chainId) return 'wrong-chain';
  if (record.namespace !== chain.namespace) return 'wrong-namespace';
  if (record.pod !== chain.pod) return 'wrong-pod';
  if (record.keyId !== chain.keyId) return 'unknown-key';
  return undefined;
}

function contentHash(record: SessionRecord): string {
  const { hash: _hash, sig: _sig, ...linked } = record;
  return hashOf(linked as Linked<object>);
}

function checkDuplicate(record: SessionRecord, index: number, stored: Stored): Failure | undefined {
  if (contentHash(record) !== record.hash) return invalid('hash-mismatch', index, record);
  if (stored.removed(record.seq)) return undefined;
  const have = stored.hash(record.seq);
  if (have === undefined) return fork(record.seq, 'the store has no record at this sequence number');
  if (have !== record.hash) return fork(record.seq, `a different record (hash ${have.slice(0, 12)}…) is already stored at this sequence number`);
  return undefined;
}

function checkFresh(record: SessionRecord, index: number, position: ChainPosition, key: KeyObject): Failure | undefined {
  if (record.seq !== position.seq + 1) return gap(position.seq + 1, record.seq);
  const problem = verifyLink(record, { ...position, chainId: record.chainId }, key);
  if (problem === undefined) return undefined;
  if (problem === 'broken-link') return fork(record.seq, `prev does not match the stored head at seq ${position.seq}`);
  if (problem === 'sequence-gap') return gap(position.seq + 1, record.seq);
  return invalid(problem, index, record);
}

function ordered(records: readonly SessionRecord[]): Failure | undefined {
  for (let i = 1; i < records.length; i++) {
    const prev = records[i - 1];
    const cur = records[i];
    if (prev !== undefined && cur !== undefined && cur.seq !== prev.seq + 1) {
      return cur.seq > prev.seq + 1 ? gap(prev.seq + 1, cur.seq) : invalid('not-ordered', i, cur);
    }
  }
  return undefined;
}

/** Decides a batch: what is new, what was already stored, or why it is refused. */
export function checkBatch(chain: ChainState, records: readonly SessionRecord[], key: KeyObject, stored: Stored): BatchPlan | Failure {
  const order = ordered(records);
  if (order !== undefined) return order;
  let position: ChainPosition = { seq: chain.seq, head: chain.head };
  const fresh: SessionRecord[] = [];
  let duplicates = 0;
  for (const [index, record] of records.entries()) {
    const problem = identityProblem(chain, record);
    if (problem !== undefined) return invalid(problem, index, record);
    const failure = record.seq <= chain.seq ? checkDuplicate(record, index, stored) : checkFresh(record, index, position, key);
    if (failure !== undefined) return failure;
    if (record.seq <= chain.seq) {
      duplicates++;
    } else {
      fresh.push(record);
      position = { seq: record.seq, head: record.hash };
    }
  }
  return { fresh, duplicates, position };
}
