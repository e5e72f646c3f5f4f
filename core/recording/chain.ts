// The tamper-evident chain: every record carries the SHA-256 of its predecessor (`prev`) and of
// itself (`hash`), and is a leaf of the chain's Merkle log (leaf index seq - 1, leaf data the 32
// bytes of `hash`, chain-tree.ts). Format 2 records (`v: 2`) carry no signature: the writer signs
// one checkpoint (chain id, tree size, root) per commit group, which covers every record before it.
// Format 1 records (no `v`) carry an Ed25519 signature each and still verify as before. Changing,
// removing, inserting or reordering a record breaks a link or a root that an auditor can point at.
// Pure: no I/O, shared by sidecar (writer), operator and CLI (verifiers).
import { hash as oneShotHash, type KeyObject } from 'node:crypto';
import { canonicalJson, canonicalJsonWithout } from './canonical.ts';
import { signHash, verifyHashSignature, type SigningKey } from './keys.ts';
import { recordCanonicalText } from './record-text.ts';

export const GENESIS = '0'.repeat(64);

/** The record format this writer produces: leaves of a Merkle log, no per-record signature. */
export const RECORD_FORMAT = 2;

/** What a chain link adds to any payload. */
export interface ChainFields { chainId: string; seq: number; prev: string; keyId: string }
export type Linked<T> = T & ChainFields;
/** Format 1: one Ed25519 signature per record (what older sidecars write). */
export type SignedRecord<T> = Linked<T> & { hash: string; sig: string };
/** Format 2: a leaf of the chain's Merkle log, covered by a signed checkpoint instead of a signature. */
export type LeafRecord<T> = Linked<T> & { v: typeof RECORD_FORMAT; hash: string; sig?: undefined };
/** A record of either format: `v === 2` decides. */
export type ChainRecord<T> = SignedRecord<T> | LeafRecord<T>;

export function isLeafRecord<T>(record: ChainRecord<T>): record is LeafRecord<T> {
  return (record as { v?: unknown }).v === RECORD_FORMAT;
}

export function hashOf<T extends object>(linked: Linked<T>): string {
  return oneShotHash('sha256', canonicalJson(linked), 'hex');
}

const NOT_HASHED = ['hash', 'sig'] as const;

/** Whether the record's content still hashes to its `hash` (either format); no copy of the record is made. */
export function contentIntact<T extends object>(record: ChainRecord<T>): boolean {
  return oneShotHash('sha256', canonicalJsonWithout(record as Record<string, unknown>, NOT_HASHED), 'hex') === record.hash;
}

export interface ChainPosition { seq: number; head: string }

/**
 * Appends payloads to one chain as format 2 records (hash-linked leaves, no signature: the caller
 * signs checkpoints over the chain's Merkle tree, chain-tree.ts). The caller persists each record
 * before acknowledging anything.
 */
export class ChainWriter<T extends object> {
  readonly chainId: string;
  readonly #keyId: string;
  #position: ChainPosition;

  constructor(chainId: string, key: Pick<SigningKey, 'keyId'>, resumeFrom: ChainPosition = { seq: 0, head: GENESIS }) {
    this.chainId = chainId;
    this.#keyId = key.keyId;
    this.#position = resumeFrom;
  }

  get position(): ChainPosition { return { ...this.#position }; }

  append(payload: T): LeafRecord<T> {
    return this.appendWithLine(payload).record;
  }

  /**
   * Appends and also returns the record's JSON line (no newline): its canonical JSON with `hash`
   * added last, the text its hash was just computed over, so a writer does not serialize the record
   * a second time. Parsed, the line is the record (JSON.parse ignores member order). The record is
   * built with one copy of the payload and hashed from its known members in their fixed order
   * (record-text.ts; any other member goes through canonical.ts, same text).
   */
  appendWithLine(payload: T): { record: LeafRecord<T>; line: string } {
    const record = { ...payload, chainId: this.chainId, seq: this.#position.seq + 1, prev: this.#position.head, keyId: this.#keyId, v: RECORD_FORMAT } as Linked<T> & { hash?: string };
    const text = recordCanonicalText(record);
    const hash = oneShotHash('sha256', text, 'hex');
    record.hash = hash;
    this.#position = { seq: record.seq, head: hash };
    // `text` is at least '{}'; a record always has members, so the hash follows a comma.
    return { record: record as unknown as LeafRecord<T>, line: `${text.slice(0, -1)},"hash":"${hash}"}` };
  }
}

/**
 * The format 1 writer (one Ed25519 signature per record), as sidecars before issue 19 wrote
 * chains: kept so compatibility tests and fixtures can produce old records.
 */
export class SignedChainWriter<T extends object> {
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

/**
 * Checks one record against the expected predecessor position: chain, sequence, link and hash, and
 * for a format 1 record its signature. A format 2 record's authenticity is its checkpoint's
 * signature over the tree root, which the caller checks once for a run of records.
 */
export function verifyLink<T extends object>(record: ChainRecord<T>, expected: ChainPosition & { chainId?: string }, publicKey: KeyObject | undefined): LinkProblem | undefined {
  if (expected.chainId !== undefined && record.chainId !== expected.chainId) return 'wrong-chain';
  if (record.seq !== expected.seq + 1) return 'sequence-gap';
  if (record.prev !== expected.head) return 'broken-link';
  if (!contentIntact(record)) return 'hash-mismatch';
  if (isLeafRecord(record)) return undefined;
  if (publicKey === undefined) return 'unknown-key';
  if (typeof record.sig !== 'string' || !verifyHashSignature(publicKey, record.hash, record.sig)) return 'bad-signature';
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
  records: readonly ChainRecord<T>[],
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
