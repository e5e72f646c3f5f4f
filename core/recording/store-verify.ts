// Offline verification of a policy's store chain (GET .../policies/{name}/chain/entries), pure,
// run by the read API's verify endpoint and by `guarita verify --policy` alike: every link signed by
// a store key and linked to its predecessor from the tombstone's cut (or genesis), every record
// intact, signed by its chain's key and referenced by its link, and the anchored head on the chain.
// Exports (GET .../export) are verified by cli/src/chain-verify.ts's ExportVerifier, the one
// algorithm for them (streaming, as an auditor runs it on a file).
import { createHash, type KeyObject } from 'node:crypto';
import {
  canonicalJson, GENESIS, hashOf, importPublicKey, verifyHashSignature, type ChainPosition, type Linked,
} from './index.ts';
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

interface PolicyMaterial { storeKeys: Map<string, KeyObject>; chainKeys: Map<string, KeyObject>; tombstone?: Tombstone; entries: { link: StoreLink; record?: SessionRecord }[] }

function collect(lines: Iterable<PolicyEntryLine>): PolicyMaterial {
  const m: PolicyMaterial = { storeKeys: new Map(), chainKeys: new Map(), entries: [] };
  for (const l of lines) {
    if (l.type === 'storeKey') m.storeKeys.set(l.keyId, importPublicKey(l.publicJwk));
    else if (l.type === 'chainKey') m.chainKeys.set(l.chainId, importPublicKey(l.publicJwk));
    else if (l.type === 'tombstone') m.tombstone = l.tombstone;
    else m.entries.push(l);
  }
  return m;
}

function entryProblem(e: { link: StoreLink; record?: SessionRecord }, chainKeys: Map<string, KeyObject>): string | undefined {
  const { link, record } = e;
  if (link.type !== 'store.record') return undefined;
  const where = `store link seq ${link.seq}`;
  if (record === undefined) return `${where}: its record is missing`;
  if (link.source?.chainId !== record.chainId || link.source.seq !== record.seq || link.source.hash !== record.hash) return `${where}: does not reference the record stored with it`;
  if (!recordHashOk(record)) return `${where}: record ${record.chainId}#${record.seq} was altered (content does not match its hash)`;
  const key = chainKeys.get(record.chainId);
  if (key === undefined) return `${where}: no public key for chain ${record.chainId}`;
  if (!verifyHashSignature(key, record.hash, record.sig)) return `${where}: record ${record.chainId}#${record.seq} signature does not verify`;
  return undefined;
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
  const { hash, sig: _sig, ...linked } = link;
  if (hashOf(linked as Linked<object>) !== hash) return 'content does not match its hash (the link was altered)';
  if (link.sig === '') return undefined;
  if (key === undefined) return `signed by unknown store key ${link.keyId}`;
  return verifyHashSignature(key, hash, link.sig) ? undefined : 'signature does not verify';
}

/**
 * A store chain: every link hash-chained from `from`, signed links (checkpoints) verified, and the
 * newest link signed, so no link is trusted without a signature covering it.
 */
export function verifyStoreLinks(links: readonly StoreLink[], keys: (keyId: string) => KeyObject | undefined, from: ChainPosition, chainId: string): { ok: true; position: ChainPosition } | { ok: false; problem: string } {
  let pos = from;
  for (const link of links) {
    const problem = linkProblem(link, pos, chainId, keys(link.keyId));
    if (problem !== undefined) return { ok: false, problem: `link seq ${link.seq}: ${problem}` };
    pos = { seq: link.seq, head: link.hash };
  }
  const last = links[links.length - 1];
  if (last !== undefined && last.sig === '') return { ok: false, problem: `the newest link (seq ${last.seq}) is not signed: links after the last checkpoint cannot be trusted` };
  return { ok: true, position: pos };
}

function tombstoneProblems(m: PolicyMaterial): string[] {
  if (m.tombstone === undefined) return [];
  const bad = verifyTombstone(m.tombstone, m.storeKeys.get(m.tombstone.keyId));
  return bad === undefined ? [] : [bad];
}

/** Verifies a policy's store chain and records; `anchor` is AccessPolicy status.chain. */
export function verifyPolicyEntries(namespace: string, policy: string, lines: Iterable<PolicyEntryLine>, anchor?: { head: string; records: number }): VerifyReport {
  const m = collect(lines);
  const problems: string[] = tombstoneProblems(m);
  const from: ChainPosition = m.tombstone?.cut ?? { seq: 0, head: GENESIS };
  const links = m.entries.map((e) => e.link);
  const chain = verifyStoreLinks(links, (id) => m.storeKeys.get(id), from, storeChainId(namespace, policy));
  if (!chain.ok) problems.push(`store chain: ${chain.problem}`);
  for (const e of m.entries) {
    const p = entryProblem(e, m.chainKeys);
    if (p !== undefined) problems.push(p);
  }
  const a = anchor === undefined ? undefined : anchorProblem(anchor, from, links);
  if (a !== undefined) problems.push(a);
  const head = chain.ok ? chain.position : undefined;
  return { ok: problems.length === 0, problems, count: links.length, ...(head === undefined ? {} : { head }) };
}
