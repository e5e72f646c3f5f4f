// Ingest verification of one sidecar batch against what is durably stored for its chain. Pure:
// the store supplies the stored position, hashes and the chain's Merkle tree; this decides what to
// store, what to skip (a re-sent batch) and what to reject (gap, fork, bad hash, a checkpoint that
// is missing, malformed, for another chain or size, not over these records, or not signed by the
// chain's key; a format 1 record's bad signature). Format 2 records cost a hash each and the batch
// ONE signature verification (its checkpoint's). Nothing of a rejected batch is stored, so the
// decision covers the whole batch before anything is written.
import { hash as oneShotHash, type KeyObject } from 'node:crypto';
import { recordCanonicalText } from './record-text.ts';
import { contentIntact, isLeafRecord, verifyHashSignature, type ChainPosition } from './index.ts';
import { checkChainCheckpoint } from './chain-checkpoint.ts';
import type { ChainTree } from './chain-tree.ts';
import { checkpointTime, type NoteVerifier } from './checkpoint.ts';
import { isRealInstant } from './record-time.ts';
import type { AppendResult, ChainState, RecordProblem, SessionRecord } from './store-types.ts';

export interface BatchPlan {
  fresh: SessionRecord[];
  /**
   * Each fresh record's RFC 8785 canonical JSON without `hash` and `sig` (what its hash was checked
   * over), in the order of `fresh`: the store writes the record from it (jsonWithHash) instead of
   * serializing the record again.
   */
  freshTexts: string[];
  duplicates: number;
  position: ChainPosition;
  /** The chain's tree after the fresh records (undefined: unchanged, or unknown for a format 1 chain). */
  tree: ChainTree | undefined;
  /** The verified checkpoint to store with the fresh records (absent when there is none to store). */
  checkpoint?: { note: string; size: number; root: string };
}

/** The chain's tree and checkpoint key, and the checkpoint the batch carries. */
export interface BatchProof {
  checkpoint: unknown;
  /** The chain's tree at the stored position; undefined when the store cannot rebuild it. */
  tree: ChainTree | undefined;
  verifier: NoteVerifier;
  /**
   * The time of the chain's newest stored checkpoint: a checkpoint for a larger tree dated before
   * it is refused (a verifier reads it as a rollback or a forged time, and would refuse every export
   * holding the chain).
   */
  newestTime?: string;
  /**
   * The size of the chain's newest stored checkpoint (0: none): a batch's checkpoint is stored only
   * when it is larger, and then the time rules apply to it whether or not the batch has fresh records.
   */
  storedSize?: number;
  /**
   * The chain already holds format 2 records: a format 1 record after them is a downgrade (records
   * no checkpoint needs to cover, so the chain's tail could end with no stored checkpoint).
   */
  formatTwo?: boolean;
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
  'checkpoint-missing': 'format 2 records (v: 2) come with the signed checkpoint at the batch\'s last record ({records, checkpoint})',
  'bad-checkpoint': 'the checkpoint is not a well-formed signed note',
  'checkpoint-origin': 'the checkpoint names another chain',
  'checkpoint-size': 'the checkpoint is not for the tree size the batch ends at',
  'root-mismatch': 'the checkpoint\'s root is not the root of the chain\'s records',
  'checkpoint-signature': 'the checkpoint is not signed by the key this chain registered',
  'checkpoint-time': 'the checkpoint is dated before the chain\'s newest stored checkpoint',
  'bad-time': 'time is not a real instant: RFC 3339 (Z or ±hh:mm) of a calendar date and clock time that exist, e.g. 2026-11-01T12:00:00Z',
  'downgrade': 'a format 1 record (v absent, signed alone) after format 2 records of the same chain: a chain that writes format 2 keeps writing it; send v: 2 records with their checkpoint',
  'wrong-policy': 'policy is not one of the AccessPolicies governing the sending pod (its guarita.io/policies annotation): a proxy records only under the policies it was injected for',
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

function checkDuplicate(record: SessionRecord, index: number, stored: Stored): Failure | undefined {
  if (!contentIntact(record)) return invalid('hash-mismatch', index, record);
  if (stored.removed(record.seq)) return undefined;
  const have = stored.hash(record.seq);
  if (have === undefined) return fork(record.seq, 'the store has no record at this sequence number');
  if (have !== record.hash) return fork(record.seq, `a different record (hash ${have.slice(0, 12)}…) is already stored at this sequence number`);
  return undefined;
}

/**
 * chain.ts verifyLink for the next record of the chain (its chainId is already checked), in the same
 * order (sequence, link, content hash, a format 1 record's signature), keeping the canonical JSON
 * its hash is checked over: the record's text on success.
 */
function checkFresh(record: SessionRecord, index: number, position: ChainPosition, key: KeyObject, formatTwo: boolean): Failure | string {
  if (record.seq !== position.seq + 1) return gap(position.seq + 1, record.seq);
  if (record.prev !== position.head) return fork(record.seq, `prev does not match the stored head at seq ${position.seq}`);
  const text = recordCanonicalText(record);
  if (oneShotHash('sha256', text, 'hex') !== record.hash) return invalid('hash-mismatch', index, record);
  // A time of the right form that names no instant (month 13, hour 25) parses to NaN, which every
  // since/until bound compares false with: the record would pass every time filter.
  if (!isRealInstant(record.time)) return invalid('bad-time', index, record);
  if (isLeafRecord(record)) return text;
  if (formatTwo) return invalid('downgrade', index, record);
  if (typeof record.sig !== 'string' || !verifyHashSignature(key, record.hash, record.sig)) return invalid('bad-signature', index, record);
  return text;
}

/**
 * The JSON of a record (or store link) from its canonical text without `hash` and `sig` (what its
 * hash is over, as checkFresh returns it): the same members as JSON.stringify(record), since
 * canonical JSON leaves out what JSON.stringify leaves out, with `hash` and `sig` last. Readers
 * parse it; its member order means nothing.
 */
export function jsonWithHash(text: string, record: { hash: string; sig?: string | undefined }): string {
  const sig = record.sig === undefined ? '' : `,"sig":${JSON.stringify(record.sig)}`;
  return `${text.length > 2 ? `${text.slice(0, -1)},` : '{'}"hash":${JSON.stringify(record.hash)}${sig}}`;
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

/** Thrown when the store cannot check a format 2 batch (the chain's tree is unknown): answered 503, not blamed on the sidecar. */
export class TreeUnknownError extends Error {}

function checkpointFailure(problem: RecordProblem, detail: string, records: readonly SessionRecord[]): Failure {
  const index = records.length - 1;
  const seq = records[index]?.seq;
  return { ok: false, status: 422, problem, index, seq, message: `checkpoint at the batch's last record (seq ${seq ?? '?'}): ${problem}: ${detail}` };
}

/**
 * The batch's checkpoint against the tree the records make: for the fresh records appended to the
 * chain's tree (their root must be the checkpoint's), or for a re-sent batch against the stored tree
 * when it ends where the store ends. One signature verification either way.
 */
function checkProof(chain: ChainState, records: readonly SessionRecord[], fresh: readonly SessionRecord[], proof: BatchProof): Failure | Pick<BatchPlan, 'tree' | 'checkpoint'> {
  if (!records.some((r) => isLeafRecord(r))) return { tree: appendAll(proof.tree, fresh) };
  if (proof.checkpoint === undefined) return checkpointFailure('checkpoint-missing', PROBLEM_TEXT['checkpoint-missing'], records);
  if (proof.tree === undefined) throw new TreeUnknownError(`the operator cannot rebuild the Merkle tree of chain ${chain.chainId} (its first records were removed by retention before checkpoints were stored): batches of format 2 records cannot be checked`);
  const size = records[records.length - 1]!.seq;
  const tree = appendAll(proof.tree, fresh)!;
  if (fresh.length === 0 && tree.size !== size) return { tree: undefined };
  const bad = checkChainCheckpoint(proof.checkpoint, { origin: chain.chainId, size, root: tree.root(), verifier: proof.verifier });
  if (bad !== undefined) return checkpointFailure(bad.problem, bad.detail, records);
  return checkpointToKeep(proof, records, tree, fresh.length === 0 ? undefined : tree);
}

/**
 * The verified checkpoint of a batch ending at `tree`'s size, to store unless the store holds one
 * as large already. Every checkpoint that will be stored obeys the time rules, a re-sent batch's
 * too (it is kept when the store lacks a checkpoint that large): else a re-sent batch stored one
 * dated back, or undated after dated ones.
 */
function checkpointToKeep(proof: BatchProof, records: readonly SessionRecord[], tree: ChainTree, treeAfter: ChainTree | undefined): Failure | Pick<BatchPlan, 'tree' | 'checkpoint'> {
  const note = proof.checkpoint as string;
  if (tree.size <= (proof.storedSize ?? 0)) return { tree: treeAfter };
  const backwards = timeGoingBack(note, proof.newestTime);
  if (backwards !== undefined) return checkpointFailure('checkpoint-time', backwards, records);
  return { tree: treeAfter, checkpoint: { note, size: tree.size, root: tree.rootHex() } };
}

/** Why the checkpoint's time is before the newest stored one's; undefined when it is not (or either has none). */
function timeGoingBack(note: string, newestTime: string | undefined): string | undefined {
  const time = checkpointTime(note);
  if (newestTime === undefined) return undefined;
  if (time === undefined) return `the checkpoint carries no time, after checkpoints dated up to ${newestTime}: a chain that dates its checkpoints keeps dating them`;
  if (Date.parse(time) >= Date.parse(newestTime)) return undefined;
  return `the checkpoint is dated ${time}, before the chain's newest stored checkpoint (${newestTime}): a chain's checkpoints do not go back in time (the sidecar's clock, or a forged time)`;
}

function appendAll(tree: ChainTree | undefined, records: readonly SessionRecord[]): ChainTree | undefined {
  if (tree === undefined) return undefined;
  const next = tree.clone();
  for (const r of records) next.append(r.hash);
  return next;
}

/**
 * The first record whose policy is not one of `allowed` (the policies governing the sending pod),
 * as a refusal of the whole batch; undefined when every record's is. Without it a proxy files its
 * records under any policy of its namespace (or under made-up names, each a new store log).
 */
export function checkPolicies(records: readonly SessionRecord[], allowed: readonly string[]): Failure | undefined {
  const index = records.findIndex((r) => !allowed.includes(r.policy));
  const record = records[index];
  if (record === undefined) return undefined;
  const governing = allowed.length === 0 ? 'none (the pod has no guarita.io/policies annotation)' : allowed.join(', ');
  const failure = invalid('wrong-policy', index, record);
  return { ...failure, message: `${failure.message}; it names ${JSON.stringify(record.policy)}, the pod is governed by ${governing}: write each record under the policy whose target it went to, or recreate the pod so the webhook injects it for that policy` };
}

/** Decides a batch: what is new, what was already stored, or why it is refused. */
export function checkBatch(chain: ChainState, records: readonly SessionRecord[], key: KeyObject, stored: Stored, proof: BatchProof): BatchPlan | Failure {
  const order = ordered(records);
  if (order !== undefined) return order;
  let position: ChainPosition = { seq: chain.seq, head: chain.head };
  const fresh: SessionRecord[] = [];
  const freshTexts: string[] = [];
  let duplicates = 0;
  let formatTwo = proof.formatTwo === true;
  for (let index = 0; index < records.length; index++) {
    const record = records[index]!;
    const problem = identityProblem(chain, record);
    if (problem !== undefined) return invalid(problem, index, record);
    if (record.seq <= chain.seq) {
      const failure = checkDuplicate(record, index, stored);
      if (failure !== undefined) return failure;
      duplicates++;
    } else {
      const text = checkFresh(record, index, position, key, formatTwo);
      if (typeof text !== 'string') return text;
      formatTwo ||= isLeafRecord(record);
      fresh.push(record);
      freshTexts.push(text);
      position = { seq: record.seq, head: record.hash };
    }
  }
  const proved = checkProof(chain, records, fresh, proof);
  if ('ok' in proved) return proved;
  return { fresh, freshTexts, duplicates, position, ...proved };
}
