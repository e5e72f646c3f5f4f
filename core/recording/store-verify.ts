// Offline verification of a policy's store chain (GET .../policies/{name}/chain/entries), pure,
// run by the read API's verify endpoint and by `guarita verify --policy` alike: every link signed by
// a store key and linked to its predecessor from the tombstone's cut (or genesis), every record
// intact, signed by its chain's key and referenced by its link, and the anchored head on the chain.
// Exports (GET .../export) are verified by export-verify.ts's ExportVerifier, the one
// algorithm for them (streaming, as an auditor runs it on a file).
import { createHash, type JsonWebKey, type KeyObject } from 'node:crypto';
import {
  canonicalJson, contentIntact, GENESIS, importPublicKey, isLeafRecord, storeKeyLineProblem, verifyHashSignature, type ChainPosition,
} from './index.ts';
import { checkChainCheckpoint, checkpointVerifier } from './chain-checkpoint.ts';
import { ChainTree } from './chain-tree.ts';
import type { NoteVerifier } from './checkpoint.ts';
import { storeChainId, verifyTombstone } from './store-chain.ts';
import type { PolicyEntryLine, SessionRecord, StoreLink, Tombstone } from './store-types.ts';

export interface VerifyReport {
  ok: boolean;
  problems: string[];
  /** Links (policy) or records (export) verified. */
  count: number;
  head?: ChainPosition;
}

function recordHashOk(record: SessionRecord): boolean {
  const { hash, sig: _sig, ...linked } = record;
  return createHash('sha256').update(canonicalJson(linked)).digest('hex') === hash;
}

type Entry = Extract<PolicyEntryLine, { type: 'entry' }>;
interface ChainKey { key: KeyObject; verifier: NoteVerifier }
interface PolicyMaterial { storeKeys: Map<string, KeyObject>; storeJwks: Map<string, JsonWebKey>; chainKeys: Map<string, ChainKey>; tombstone?: Tombstone; entries: Entry[]; problems: string[] }

function collect(lines: Iterable<PolicyEntryLine>): PolicyMaterial {
  const m: PolicyMaterial = { storeKeys: new Map(), storeJwks: new Map(), chainKeys: new Map(), entries: [], problems: [] };
  for (const l of lines) {
    if (l.type === 'storeKey') {
      // One id, one key: the key's thumbprint (as in export-verify.ts); a line that is not is left out, and said.
      const problem = storeKeyLineProblem(l);
      if (problem !== undefined) {
        m.problems.push(`store key line: ${problem}`);
        continue;
      }
      m.storeKeys.set(l.keyId, importPublicKey(l.publicJwk));
      m.storeJwks.set(l.keyId, l.publicJwk);
    } else if (l.type === 'chainKey') {
      m.chainKeys.set(l.chainId, { key: importPublicKey(l.publicJwk), verifier: checkpointVerifier(l.publicJwk, l.keyId) });
    } else if (l.type === 'tombstone') {
      m.tombstone = l.tombstone;
    } else {
      m.entries.push(l);
    }
  }
  return m;
}

/**
 * A stored record: referenced by its link, intact, and authentic: a format 1 record by its own
 * signature; a format 2 record by the sidecar checkpoints stored after it (chainCheckpoints: the
 * record's chain must have a verified checkpoint at or beyond its seq; the checkpoints themselves
 * are checked against the records in chainProblems).
 */
function entryProblem(e: Entry, chainKeys: Map<string, ChainKey>, covered: Map<string, number>): string | undefined {
  const { link, record } = e;
  if (link.type !== 'store.record') return undefined;
  const where = `store link seq ${link.seq}`;
  if (record === undefined) return `${where}: its record is missing`;
  if (link.source?.chainId !== record.chainId || link.source.seq !== record.seq || link.source.hash !== record.hash) return `${where}: does not reference the record stored with it`;
  if (!recordHashOk(record)) return `${where}: record ${record.chainId}#${record.seq} was altered (content does not match its hash)`;
  const problem = authenticityProblem(record, chainKeys.get(record.chainId), covered);
  return problem === undefined ? undefined : `${where}: record ${record.chainId}#${record.seq} ${problem}`;
}

function authenticityProblem(record: SessionRecord, key: ChainKey | undefined, covered: Map<string, number>): string | undefined {
  if (key === undefined) return 'has no public key for its chain';
  if (isLeafRecord(record)) return (covered.get(record.chainId) ?? 0) >= record.seq ? undefined : 'is not covered by a stored checkpoint of its chain';
  return verifyHashSignature(key.key, record.hash, record.sig) ? undefined : 'signature does not verify';
}

/**
 * Sidecar checkpoints stored in this policy: each verified against its chain's records as stored in
 * this policy's entries when they are all here (the chain's records from seq 1, no other policy,
 * no retention cut), else for its signature only; returns per chain the highest size covered.
 */
function chainCheckpoints(m: PolicyMaterial, problems: string[]): Map<string, number> {
  const covered = new Map<string, number>();
  const trees = new ChainTrees(m.tombstone === undefined);
  for (const e of m.entries) {
    if (e.record !== undefined) trees.add(e.record);
    const cp = e.link.type === 'store.checkpoint' ? e.link.checkpoint : undefined;
    if (cp === undefined) continue;
    const key = m.chainKeys.get(cp.chainId);
    const root = trees.rootAt(cp.chainId, cp.size) ?? Buffer.from(cp.root, 'hex');
    const bad = key === undefined ? { detail: `no public key for chain ${cp.chainId}` } : checkChainCheckpoint(e.chainCheckpoint, { origin: cp.chainId, size: cp.size, root, verifier: key.verifier });
    if (bad !== undefined) problems.push(`store link seq ${e.link.seq}: checkpoint of ${cp.chainId} at size ${cp.size}: ${bad.detail}`);
    else covered.set(cp.chainId, Math.max(covered.get(cp.chainId) ?? 0, cp.size));
  }
  return covered;
}

/**
 * The trees of the sidecar chains whose every record since seq 1 is in these entries (a chain
 * recording under one policy, no retention cut): their checkpoints are checked against the records'
 * root; for the others, the checkpoint's own root stands and only its signature is checked here.
 */
class ChainTrees {
  readonly #fromGenesis: boolean;
  readonly #trees = new Map<string, ChainTree | undefined>();

  constructor(fromGenesis: boolean) {
    this.#fromGenesis = fromGenesis;
  }

  add(record: SessionRecord): void {
    if (!this.#trees.has(record.chainId)) this.#trees.set(record.chainId, this.#fromGenesis && record.seq === 1 ? ChainTree.empty() : undefined);
    const tree = this.#trees.get(record.chainId);
    if (tree === undefined) return;
    if (tree.size + 1 === record.seq) tree.append(record.hash);
    else this.#trees.set(record.chainId, undefined);
  }

  rootAt(chainId: string, size: number): Buffer | undefined {
    const tree = this.#trees.get(chainId);
    return tree !== undefined && tree.size === size ? tree.root() : undefined;
  }
}

function anchorProblem(anchor: { head: string; records: number }, from: ChainPosition, links: readonly StoreLink[]): string | undefined {
  const last = links[links.length - 1];
  const headSeq = last?.seq ?? from.seq;
  if (anchor.records > headSeq) return `anchored head (${anchor.records} records) is ahead of the store (${headSeq}): records were removed from the store`;
  if (anchor.records < from.seq) return undefined;
  const at = anchor.records === from.seq ? from.head : links.find((l) => l.seq === anchor.records)?.hash;
  if (at !== anchor.head) return `anchored head ${anchor.head.slice(0, 12)}… at ${anchor.records} records is not on the store chain: the store was altered`;
  return undefined;
}

function linkProblem(link: StoreLink, pos: ChainPosition, chainId: string, key: KeyObject | undefined): string | undefined {
  if (link.chainId !== chainId) return 'belongs to another chain';
  if (link.seq !== pos.seq + 1) return `sequence gap (expected ${pos.seq + 1}): links were removed or reordered`;
  if (link.prev !== pos.head) return 'prev does not match the preceding link (a link was removed, inserted or reordered)';
  if (!contentIntact(link)) return 'content does not match its hash (the link was altered)';
  if (isLeafRecord(link) || link.sig === '') return undefined;
  if (key === undefined) return `signed by unknown store key ${link.keyId}`;
  return verifyHashSignature(key, link.hash, link.sig) ? undefined : 'signature does not verify';
}

/** A store log's links with their store checkpoints (format 2), as the policy entries carry them. */
export interface StoreLogEntry { link: StoreLink; checkpoint?: string }

/**
 * A store chain checked link by link (the store's open checks its logs with it, so an entry written
 * on the volume by anyone but the operator is found where it starts): each link hash-chained from
 * `from`, its content its hash, a format 1 signed link signed, a format 2 store checkpoint the
 * store log's Merkle root at its size signed by the key its link names. `from.frontier` (a
 * tombstone's) resumes the tree after a retention cut.
 */
export class StoreLogChecker {
  readonly #keys: (keyId: string) => KeyObject | undefined;
  readonly #jwks: ReadonlyMap<string, JsonWebKey>;
  readonly #chainId: string;
  readonly #tree: ChainTree | undefined;
  #pos: ChainPosition;
  #covered = true;

  constructor(keys: (keyId: string) => KeyObject | undefined, from: ChainPosition & { frontier?: string[] }, chainId: string, storeJwks: ReadonlyMap<string, JsonWebKey>) {
    this.#keys = keys;
    this.#jwks = storeJwks;
    this.#chainId = chainId;
    this.#tree = storeTreeFrom(from);
    this.#pos = { seq: from.seq, head: from.head };
  }

  /** Checks the next link (and the store checkpoint it carries); the problem, or undefined. */
  add(link: StoreLink, checkpoint: string | undefined): string | undefined {
    const problem = linkProblem(link, this.#pos, this.#chainId, this.#keys(link.keyId)) ?? sealProblem(link, checkpoint, this.#chainId, this.#tree, this.#jwks);
    if (problem !== undefined) return `link seq ${link.seq}: ${problem}`;
    this.#pos = { seq: link.seq, head: link.hash };
    this.#covered = checkpoint !== undefined || (!isLeafRecord(link) && link.sig !== '');
    return undefined;
  }

  get position(): ChainPosition {
    return this.#pos;
  }

  /** Whether the newest link is covered by a signature (a store checkpoint, or a signed format 1 link). */
  get covered(): boolean {
    return this.#covered;
  }
}

/**
 * A store chain: every link hash-chained from `from`, and covered by a signature: a format 1 link
 * by the next signed link (the newest must be signed), a format 2 link by the next store checkpoint
 * (the store log's Merkle root at that size, signed by the store key its link names; the newest
 * link must carry one). `from.frontier` (a tombstone's) resumes the tree after a retention cut.
 */
export function verifyStoreLinks(
  links: readonly (StoreLink | StoreLogEntry)[], keys: (keyId: string) => KeyObject | undefined, from: ChainPosition & { frontier?: string[] }, chainId: string,
  storeJwks: ReadonlyMap<string, JsonWebKey> = new Map(),
): { ok: true; position: ChainPosition } | { ok: false; problem: string } {
  const checker = new StoreLogChecker(keys, from, chainId, storeJwks);
  for (const item of links) {
    const { link, checkpoint } = 'link' in item ? item : { link: item, checkpoint: undefined };
    const problem = checker.add(link, checkpoint);
    if (problem !== undefined) return { ok: false, problem };
  }
  if (!checker.covered) return { ok: false, problem: `the newest link (seq ${checker.position.seq}) is not covered by a signed store checkpoint: links after the last checkpoint cannot be trusted` };
  return { ok: true, position: checker.position };
}

function storeTreeFrom(from: ChainPosition & { frontier?: string[] }): ChainTree | undefined {
  if (from.frontier !== undefined) return ChainTree.resume(from.seq, from.frontier);
  return from.seq === 0 ? ChainTree.empty() : undefined;
}

/** Appends the link to the store tree and checks the store checkpoint it carries, if any. */
function sealProblem(link: StoreLink, checkpoint: string | undefined, chainId: string, tree: ChainTree | undefined, storeJwks: ReadonlyMap<string, JsonWebKey>): string | undefined {
  tree?.append(link.hash);
  if (checkpoint === undefined) return undefined;
  if (tree === undefined) return 'a store checkpoint after a retention cut without a tree frontier cannot be checked';
  const bad = storeCheckpointProblem(checkpoint, chainId, tree, link.keyId, storeJwks.get(link.keyId));
  return bad === undefined ? undefined : `store checkpoint: ${bad}`;
}

/** The store checkpoint against the store tree, signed by the store key its link names (not any key listed). */
function storeCheckpointProblem(note: string, chainId: string, tree: ChainTree, keyId: string, jwk: JsonWebKey | undefined): string | undefined {
  if (jwk === undefined) return `its link names store key ${keyId}, which is not a known store key`;
  const bad = checkChainCheckpoint(note, { origin: chainId, size: tree.size, root: tree.root(), verifier: checkpointVerifier(jwk, keyId) });
  return bad === undefined ? undefined : `${bad.problem}: ${bad.detail}`;
}

function tombstoneProblems(m: PolicyMaterial): string[] {
  if (m.tombstone === undefined) return [];
  const bad = verifyTombstone(m.tombstone, m.storeKeys.get(m.tombstone.keyId));
  return bad === undefined ? [] : [bad];
}

/** Verifies a policy's store chain and records; `anchor` is AccessPolicy status.chain. */
export function verifyPolicyEntries(namespace: string, policy: string, lines: Iterable<PolicyEntryLine>, anchor?: { head: string; records: number }): VerifyReport {
  const m = collect(lines);
  const problems: string[] = [...m.problems, ...tombstoneProblems(m)];
  const from: ChainPosition & { frontier?: string[] } = m.tombstone?.cut ?? { seq: 0, head: GENESIS };
  const links = m.entries.map((e) => e.link);
  const chain = verifyStoreLinks(m.entries, (id) => m.storeKeys.get(id), from, storeChainId(namespace, policy), m.storeJwks);
  if (!chain.ok) problems.push(`store chain: ${chain.problem}`);
  const covered = chainCheckpoints(m, problems);
  for (const e of m.entries) {
    const p = entryProblem(e, m.chainKeys, covered);
    if (p !== undefined) problems.push(p);
  }
  const a = anchor === undefined ? undefined : anchorProblem(anchor, from, links);
  if (a !== undefined) problems.push(a);
  const head = chain.ok ? chain.position : undefined;
  return { ok: problems.length === 0, problems, count: links.length, ...(head === undefined ? {} : { head }) };
}
