// The tamper-evident chain: every record carries the SHA-256 of its predecessor and a signature
// over its own hash. Changing, removing, inserting or reordering a record breaks a link that an
// auditor can point at. Pure: no I/O, shared by sidecar (writer), operator and CLI (verifiers).
import { createHash, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { signHash, verifyHashSignature, type SigningKey } from './keys.ts';

export const GENESIS = '0'.repeat(64);

/** What a chain link adds to any payload. */
export interface ChainFields { chainId: string; seq: number; prev: string; keyId: string }
export type Linked<T> = T & ChainFields;
export type SignedRecord<T> = Linked<T> & { hash: string; sig: string };

export function hashOf<T extends object>(linked: Linked<T>): string {
  return createHash('sha256').update(canonicalJson(linked)).digest('hex');
}

function stripSignature<T extends object>(record: SignedRecord<T>): Linked<T> {
  const { hash: _hash, sig: _sig, ...linked } = record;
  return linked as unknown as Linked<T>;
}

export interface ChainPosition { seq: number; head: string }

/** Appends payloads to one chain. The caller persists each record before acknowledging anything. */
export class ChainWriter<T extends object> {
  readonly chainId: string;
  readonly #key: SigningKey;
  #position: ChainPosition;

  constructor(chainId: string, key: SigningKey, resumeFrom: ChainPosition = { seq: 0, head: GENESIS }) {
    this.chainId = chainId;
    this.#key = key;
    this.#position = resumeFrom;
  }

  get position(): ChainPosition { return { ...this.#position }; }

  append(payload: T): SignedRecord<T> {
    const linked = { ...payload, chainId: this.chainId, seq: this.#position.seq + 1, prev: this.#position.head, keyId: this.#key.keyId } as Linked<T>;
    const hash = hashOf(linked);
    const record = { ...linked, hash, sig: signHash(this.#key, hash) } as SignedRecord<T>;
    this.#position = { seq: record.seq, head: hash };
    return record;
  }
}

export type LinkProblem = 'hash-mismatch' | 'bad-signature' | 'broken-link' | 'sequence-gap' | 'wrong-chain' | 'unknown-key';

export interface LinkFailure { ok: false; index: number; seq: number | undefined; problem: LinkProblem; detail: string }
export interface ChainVerified { ok: true; count: number; position: ChainPosition }

/** Checks one record against the expected predecessor position. */
export function verifyLink<T extends object>(record: SignedRecord<T>, expected: ChainPosition & { chainId?: string }, publicKey: KeyObject | undefined): LinkProblem | undefined {
  if (expected.chainId !== undefined && record.chainId !== expected.chainId) return 'wrong-chain';
  if (record.seq !== expected.seq + 1) return 'sequence-gap';
  if (record.prev !== expected.head) return 'broken-link';
  if (hashOf(stripSignature(record)) !== record.hash) return 'hash-mismatch';
  if (publicKey === undefined) return 'unknown-key';
  if (!verifyHashSignature(publicKey, record.hash, record.sig)) return 'bad-signature';
  return undefined;
}

const DETAILS: Record<LinkProblem, string> = {
  'hash-mismatch': 'content does not match its hash (the record was altered)',
  'bad-signature': 'signature does not verify with the registered key',
  'broken-link': 'prev does not match the preceding record\'s hash (a record was removed, inserted or reordered)',
  'sequence-gap': 'sequence number is not the successor of the previous record (missing or reordered records)',
  'wrong-chain': 'record belongs to another chain',
  'unknown-key': 'no registered public key for this record\'s keyId',
};

/** Verifies a run of records of one chain, starting after `from` (genesis by default). */
export function verifyRecords<T extends object>(
  records: readonly SignedRecord<T>[],
  keys: (keyId: string) => KeyObject | undefined,
  from: ChainPosition & { chainId?: string } = { seq: 0, head: GENESIS },
): ChainVerified | LinkFailure {
  let position: ChainPosition = { seq: from.seq, head: from.head };
  const chainId = from.chainId ?? records[0]?.chainId;
  for (const [index, record] of records.entries()) {
    const problem = verifyLink(record, { ...position, chainId }, keys(record.keyId));
    if (problem !== undefined) return { ok: false, index, seq: record.seq, problem, detail: DETAILS[problem] };
    position = { seq: record.seq, head: record.hash };
  }
  return { ok: true, count: records.length, position };
}

export function describeFailure(f: LinkFailure): string {
  return `record #${f.index + 1} (seq ${f.seq ?? '?'}): ${f.problem}: ${f.detail}`;
}
