// Verification of a policy's store chain (GET .../policies/{name}/chain/entries) as `guarita verify
// --policy` reports it: the operator's own algorithm (verifyPolicyEntries, store-verify.ts) decides;
// on failure a walk in chain order names the first bad record, with its session, time and command,
// which is what an auditor looks at first. Pure.
import { createHash, type KeyObject } from 'node:crypto';
import { canonicalJson, contentIntact, GENESIS, importPublicKey, verifyHashSignature, type ChainPosition } from './index.ts';
import { storeChainId } from './store-chain.ts';
import type { PolicyEntryLine, SessionRecord, StoreLink, Tombstone } from './store-types.ts';
import { verifyPolicyEntries } from './store-verify.ts';
import { about, type BadRecord } from './export-verify-v1.ts';

/** AccessPolicy status.chain: the anchored store link hash, its size, the store log's root there (format 2 stores), and when. */
export interface Anchor { head: string; records: number; root?: string; anchoredAt?: string }

export type AnchorState =
  /** status.chain names a link of the store chain, at or before its head. */
  | 'matched'
  /** No status.chain yet (the operator anchors periodically). */
  | 'missing'
  /** The AccessPolicy no longer exists: nothing outside the operator vouches for the head. */
  | 'policy-gone'
  /** The anchor predates the last retention cut, so it cannot be compared. */
  | 'before-cut'
  | 'mismatch';

export interface PolicyVerdict {
  ok: boolean;
  namespace: string;
  policy: string;
  chainId: string;
  /** Store links verified (records and retention cuts). */
  links: number;
  records: number;
  chains: number;
  /** Where the chain starts: genesis, or the last retention cut (tombstone). */
  from: ChainPosition;
  head?: ChainPosition;
  anchor?: Anchor;
  anchorState: AnchorState;
  /** Store links newer than the anchor (anchoring is periodic): verified, not yet anchored. */
  unanchored: number;
  problems: string[];
  firstBad?: BadRecord;
}

interface Entry { link: StoreLink; record?: SessionRecord }

interface Material { storeKeys: Map<string, KeyObject>; chainKeys: Map<string, KeyObject>; tombstone?: Tombstone; entries: Entry[] }

function material(lines: readonly PolicyEntryLine[]): Material {
  const m: Material = { storeKeys: new Map(), chainKeys: new Map(), entries: [] };
  for (const l of lines) {
    if (l.type === 'storeKey') m.storeKeys.set(l.keyId, importPublicKey(l.publicJwk));
    else if (l.type === 'chainKey') m.chainKeys.set(l.chainId, importPublicKey(l.publicJwk));
    else if (l.type === 'tombstone') m.tombstone = l.tombstone;
    else m.entries.push({ link: l.link, ...(l.record === undefined ? {} : { record: l.record }) });
  }
  return m;
}

function recordHashOk(r: SessionRecord): boolean {
  const { hash, sig: _sig, ...linked } = r;
  return createHash('sha256').update(canonicalJson(linked)).digest('hex') === hash;
}

function linkContentProblem(link: StoreLink, key: KeyObject | undefined): string | undefined {
  if (!contentIntact(link)) return 'the store link was altered (its content does not match its hash)';
  // Format 2 links carry no signature: a store checkpoint covers them (verifyPolicyEntries checks it).
  if (link.sig === undefined || link.sig === '') return undefined;
  if (key === undefined) return `the store link is signed by an unknown store key ${link.keyId}`;
  return verifyHashSignature(key, link.hash, link.sig) ? undefined : 'the store link\'s signature does not verify';
}

function recordProblem(e: Entry, chainKeys: Map<string, KeyObject>): string | undefined {
  const { link, record } = e;
  if (link.type !== 'store.record') return undefined;
  if (record === undefined) return 'its record is missing from the store';
  if (link.source?.chainId !== record.chainId || link.source.seq !== record.seq || link.source.hash !== record.hash) return 'the record stored here is not the one its store link references: it was replaced';
  if (!recordHashOk(record)) return 'the record was altered (its content does not match its hash)';
  return recordSignatureProblem(record, chainKeys.get(record.chainId));
}

function recordSignatureProblem(record: SessionRecord, key: KeyObject | undefined): string | undefined {
  if (key === undefined) return `no public key for its sidecar chain ${record.chainId}`;
  // Format 2 records carry no signature: their chain's checkpoints prove them (verifyPolicyEntries checks them).
  if ((record as { v?: unknown }).v === 2) return undefined;
  return typeof record.sig === 'string' && verifyHashSignature(key, record.hash, record.sig) ? undefined : 'the record\'s signature does not verify with its sidecar\'s key: altered or forged';
}

function badEntry(e: Entry | undefined, problem: string): BadRecord {
  const src = e?.link.source;
  return {
    problem,
    ...(e === undefined ? {} : { link: e.link.seq }),
    ...(src === undefined ? {} : { chainId: src.chainId, seq: src.seq }),
    ...about(e?.record),
  };
}

function seqOf(entries: readonly Entry[], chainId: string): number | undefined {
  return entries.find((e) => e.record?.chainId === chainId)?.record?.seq;
}

/** The record a deleted store link most likely held: a one-record gap in a neighbour's sidecar chain. */
function missingBetween(entries: readonly Entry[], i: number): Partial<BadRecord> {
  const before = entries.slice(0, i).reverse();
  const after = entries.slice(i);
  const neighbours = [before[0]?.record?.chainId, after[0]?.record?.chainId].filter((c): c is string => c !== undefined);
  for (const chainId of new Set(neighbours)) {
    const last = seqOf(before, chainId);
    if (last !== undefined && seqOf(after, chainId) === last + 2) return { chainId, seq: last + 1 };
  }
  return {};
}

function sequenceBreak(entries: readonly Entry[], i: number, expected: number): BadRecord {
  const e = entries[i];
  const seq = e?.link.seq ?? 0;
  const displaced = entries.findIndex((x, j) => j > i && x.link.seq === expected);
  if (displaced >= 0) {
    return badEntry(entries[displaced], `store links were swapped or reordered: link #${expected} is stored after link #${seq}`);
  }
  if (seq < expected) return badEntry(e, `store link #${seq} appears again after link #${expected - 1}: a link was duplicated`);
  const next = e?.link.source === undefined ? '' : ` (the next stored record is ${e.link.source.chainId}#${e.link.source.seq})`;
  // What the deleted link held is gone: name it by its place, never with its neighbour's content.
  return { problem: `store link${seq - expected > 1 ? `s #${expected}..#${seq - 1} are` : ` #${expected} is`} missing: deleted from the store${next}`, link: expected, ...missingBetween(entries, i) };
}

/** Walks the chain in order and names the first bad record (only called once verification failed). */
export function locateFirstBreak(namespace: string, policy: string, lines: readonly PolicyEntryLine[]): BadRecord | undefined {
  const m = material(lines);
  const chainId = storeChainId(namespace, policy);
  let pos: ChainPosition = m.tombstone?.cut ?? { seq: 0, head: GENESIS };
  for (const [i, e] of m.entries.entries()) {
    const { link } = e;
    if (link.chainId !== chainId) return badEntry(e, `the store link belongs to another chain (${link.chainId})`);
    if (link.seq !== pos.seq + 1) return sequenceBreak(m.entries, i, pos.seq + 1);
    if (link.prev !== pos.head) return badEntry(e, `the store link does not link to link #${pos.seq} (prev differs): a link was replaced or inserted`);
    const problem = linkContentProblem(link, m.storeKeys.get(link.keyId)) ?? recordProblem(e, m.chainKeys);
    if (problem !== undefined) return badEntry(e, problem);
    pos = { seq: link.seq, head: link.hash };
  }
  return undefined;
}

function anchorState(anchor: Anchor | undefined, policyExists: boolean, from: ChainPosition): AnchorState {
  if (!policyExists) return 'policy-gone';
  if (anchor === undefined) return 'missing';
  if (anchor.records < from.seq) return 'before-cut';
  return 'matched';
}

/** The anchor is ahead of the store: links after the store's end were removed. */
function truncation(entries: readonly Entry[], anchor: Anchor, from: ChainPosition): BadRecord | undefined {
  const last = entries[entries.length - 1]?.link.seq ?? from.seq;
  if (anchor.records <= last) return undefined;
  const n = anchor.records - last;
  return { link: last + 1, problem: `the newest ${n === 1 ? 'store link (#' + String(last + 1) + ') is' : `${n} store links (#${last + 1}..#${anchor.records}) are`} missing: AccessPolicy status.chain anchors ${anchor.records} links, the store ends at #${last}` };
}

/** The newest link carries no signature: whatever follows the last signed checkpoint is unproven. */
function unsignedHead(entries: readonly Entry[]): BadRecord | undefined {
  const last = entries[entries.length - 1];
  if (last === undefined || last.link.sig !== '') return undefined;
  return badEntry(last, `the newest store link (#${last.link.seq}) is not signed: links after the last signed checkpoint were cut off or appended without the store key`);
}

/**
 * Verifies a policy's store chain against its anchor (AccessPolicy status.chain, read from the
 * apiserver). An anchor older than the store head is normal (anchoring is periodic): the links up
 * to it must match it, the newer ones are verified by signature and reported as not yet anchored.
 */
export function verifyPolicy(namespace: string, policy: string, lines: readonly PolicyEntryLine[], anchor: Anchor | undefined, policyExists = true): PolicyVerdict {
  const report = verifyPolicyEntries(namespace, policy, lines, anchor);
  const m = material(lines);
  const from = m.tombstone?.cut ?? { seq: 0, head: GENESIS };
  // verifyPolicyEntries words every anchor comparison failure "anchored head ...".
  const state = report.problems.some((p) => p.startsWith('anchored head')) ? 'mismatch' : anchorState(anchor, policyExists, from);
  const firstBad = report.ok ? undefined : firstBadOf(namespace, policy, lines, m, anchor, from);
  return {
    ok: report.ok, namespace, policy, chainId: storeChainId(namespace, policy),
    links: report.count,
    records: m.entries.filter((e) => e.link.type === 'store.record').length,
    chains: m.chainKeys.size,
    from,
    ...(report.head === undefined ? {} : { head: report.head }),
    ...(anchor === undefined ? {} : { anchor }),
    anchorState: state,
    unanchored: unanchored(m.entries, anchor, state, from),
    problems: report.problems,
    ...(firstBad === undefined ? {} : { firstBad }),
  };
}

function firstBadOf(namespace: string, policy: string, lines: readonly PolicyEntryLine[], m: Material, anchor: Anchor | undefined, from: ChainPosition): BadRecord | undefined {
  return locateFirstBreak(namespace, policy, lines) ?? (anchor === undefined ? undefined : truncation(m.entries, anchor, from)) ?? unsignedHead(m.entries);
}

function unanchored(entries: readonly Entry[], anchor: Anchor | undefined, state: AnchorState, from: ChainPosition): number {
  if (anchor === undefined || state !== 'matched') return 0;
  const last = entries[entries.length - 1]?.link.seq ?? from.seq;
  return Math.max(0, last - anchor.records);
}
