// What `guarita verify` checks, as pure functions over the material the operator hands out:
//
//   - an export file (JSONL, streamed): every record's hash and signature with its chain's key,
//     and, in file order, every record linked to the one before it in its chain, with holes only
//     where retention (the key line's `removed` ranges) accounts for them. The first record of a
//     chain in the file may start mid-chain (a --since window); after it nothing may be missing,
//     reordered or duplicated.
//   - a policy's store chain (GET .../policies/{name}/chain/entries): the operator's own
//     algorithm (verifyPolicyEntries, core/recording/store-verify.ts) decides; on failure a walk in
//     chain order names the first bad record, with its session, time and command.
//
// Both report the first bad record in chain/file order, which is what an auditor looks at first.
import { createHash, type KeyObject } from 'node:crypto';
import {
  canonicalJson, GENESIS, hashOf, importPublicKey, verifyHashSignature, verifyLink, type ChainPosition, type Linked, type LinkProblem,
} from '../../core/recording/index.ts';
import { removedHashAt, storeChainId } from '../../core/recording/store-chain.ts';
import type { PolicyEntryLine, RemovedRange, SessionRecord, StoreLink, Tombstone } from '../../core/recording/store-types.ts';
import { verifyPolicyEntries } from '../../core/recording/store-verify.ts';

/** One bad record (or line, or store link), named so a person can find it. */
export interface BadRecord {
  problem: string;
  /** Line in the export file. */
  line?: number;
  /** Store-chain link (policy verification). */
  link?: number;
  chainId?: string;
  seq?: number;
  sessionId?: string;
  time?: string;
  type?: string;
  command?: string;
}

export function recordName(b: Pick<BadRecord, 'chainId' | 'seq'>): string {
  return `${b.chainId ?? '?'}#${b.seq ?? '?'}`;
}

function about(r: Partial<SessionRecord> | undefined): Partial<BadRecord> {
  if (r === undefined) return {};
  const out: Partial<BadRecord> = {};
  if (typeof r.chainId === 'string') out.chainId = r.chainId;
  if (typeof r.seq === 'number') out.seq = r.seq;
  if (typeof r.sessionId === 'string') out.sessionId = r.sessionId;
  if (typeof r.time === 'string') out.time = r.time;
  if (typeof r.type === 'string') out.type = r.type;
  if (typeof r.command === 'string') out.command = r.command;
  return out;
}

const LINK_DETAILS: Record<LinkProblem, string> = {
  'hash-mismatch': 'its content does not match its hash: the record was altered',
  'bad-signature': 'its signature does not verify with its chain\'s key: the record was altered or forged',
  'broken-link': 'it does not link to the record before it (prev differs): a record was removed, inserted or replaced',
  'sequence-gap': 'its sequence number is not the successor of the record before it',
  'wrong-chain': 'it belongs to another chain',
  'unknown-key': 'it was signed with a key the export does not list for its chain',
};

// ---- export files ---------------------------------------------------------------------------------

export interface ChainSummary {
  chainId: string;
  pod: string;
  records: number;
  first?: number;
  last?: number;
  /** The first record in the file is not the chain's first (the export window started later). */
  startsMidChain: boolean;
  /** Records skipped because retention removed them (key line `removed`). */
  retentionHoles: number;
}

export interface ExportVerdict {
  ok: boolean;
  lines: number;
  records: number;
  chains: ChainSummary[];
  problems: BadRecord[];
  firstBad?: BadRecord;
  timeRange?: { from: string; to: string };
}

interface ExportChain {
  summary: ChainSummary;
  key: KeyObject | undefined;
  keyId: string;
  removed: RemovedRange[];
  pos?: ChainPosition;
  broken: boolean;
  /** Holes reported as deletions; a record of one turning up later makes it a reordering. */
  holes: { from: number; to: number; bad: BadRecord; after: number }[];
}

type KeyLine = { type: 'key'; chainId: string; keyId: string; publicJwk: Record<string, unknown>; pod?: string; removed?: RemovedRange[] };

function isRecord(v: unknown): v is SessionRecord {
  const r = v as Partial<SessionRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.chainId === 'string' && typeof r.seq === 'number' && Number.isInteger(r.seq) && r.seq > 0;
}

function isKeyLine(v: unknown): v is KeyLine {
  const k = v as Partial<KeyLine> | null;
  return typeof k === 'object' && k !== null && k.type === 'key' && typeof k.chainId === 'string' && typeof k.keyId === 'string' && typeof k.publicJwk === 'object';
}

/** Retention removed every record from `from` to `to` (inclusive) of the chain. */
function coveredByRetention(removed: readonly RemovedRange[], from: number, to: number): boolean {
  return removed.some((r) => r[0] <= from && r[1] >= to);
}

/** Streaming verifier of an export file: feed it every line in order, then call finish(). */
export class ExportVerifier {
  readonly #chains = new Map<string, ExportChain>();
  readonly #problems: BadRecord[] = [];
  #lines = 0;
  #records = 0;
  #from: string | undefined;
  #to: string | undefined;

  add(line: number, value: unknown): void {
    this.#lines++;
    if (value === undefined) return this.#bad({ line, problem: 'the line is not valid JSON: the file was altered or truncated' });
    if (isKeyLine(value)) return this.#key(line, value);
    if (isRecord(value)) return this.#record(line, value);
    return this.#bad({ line, problem: 'the line is neither a chain key nor a record' });
  }

  #bad(b: BadRecord): void {
    this.#problems.push(b);
  }

  #key(line: number, k: KeyLine): void {
    const known = this.#chains.get(k.chainId);
    if (known !== undefined) {
      if (known.keyId !== k.keyId) this.#bad({ line, chainId: k.chainId, problem: `a second key line for chain ${k.chainId} names another key` });
      return;
    }
    let key: KeyObject | undefined;
    try {
      key = importPublicKey(k.publicJwk);
    } catch (err) {
      this.#bad({ line, chainId: k.chainId, problem: `the key line's public key is unusable (${err instanceof Error ? err.message : String(err)})` });
    }
    this.#chains.set(k.chainId, {
      summary: { chainId: k.chainId, pod: k.pod ?? '', records: 0, startsMidChain: false, retentionHoles: 0 },
      key, keyId: k.keyId, removed: Array.isArray(k.removed) ? k.removed : [], broken: false, holes: [],
    });
  }

  #record(line: number, r: SessionRecord): void {
    this.#records++;
    this.#span(r.time);
    const c = this.#chains.get(r.chainId);
    if (c === undefined) return this.#bad({ line, ...about(r), problem: 'no key line for its chain (the file lost its key lines, or the record does not belong here)' });
    if (c.broken) return this.#reorderedLater(c, r, line);
    const expected = this.#expected(c, r, line);
    if (expected === undefined) {
      c.broken = true;
      return undefined;
    }
    const problem = verifyLink(r, { ...expected, chainId: r.chainId }, r.keyId === c.keyId ? c.key : undefined);
    if (problem !== undefined) {
      c.broken = true;
      return this.#bad({ line, ...about(r), problem: LINK_DETAILS[problem] });
    }
    c.pos = { seq: r.seq, head: r.hash };
    c.summary.records++;
    c.summary.first ??= r.seq;
    c.summary.last = r.seq;
    return undefined;
  }

  #span(time: unknown): void {
    if (typeof time !== 'string') return;
    if (this.#from === undefined || time < this.#from) this.#from = time;
    if (this.#to === undefined || time > this.#to) this.#to = time;
  }

  /** Where the record must link from, or undefined after reporting why it cannot be in this place. */
  #expected(c: ExportChain, r: SessionRecord, line: number): ChainPosition | undefined {
    if (c.pos === undefined) return this.#start(c, r);
    if (r.seq <= c.pos.seq) {
      this.#bad({ line, ...about(r), problem: `it appears after ${r.chainId}#${c.pos.seq} in the file: records were reordered or duplicated` });
      return undefined;
    }
    if (r.seq === c.pos.seq + 1) return c.pos;
    const from = c.pos.seq + 1;
    const to = r.seq - 1;
    const resume = removedHashAt(c.removed, to);
    if (resume !== undefined && coveredByRetention(c.removed, from, to)) {
      c.summary.retentionHoles += to - from + 1;
      return { seq: to, head: resume };
    }
    const bad: BadRecord = {
      line, chainId: r.chainId, seq: from,
      problem: `${from === to ? 'it is' : `records ${from}..${to} are`} missing: deleted from the file (${r.chainId}#${r.seq} follows ${r.chainId}#${c.pos.seq}, and no retention cut accounts for the gap)`,
    };
    c.holes.push({ from, to, bad, after: r.seq });
    this.#bad(bad);
    return undefined;
  }

  #start(c: ExportChain, r: SessionRecord): ChainPosition {
    if (r.seq === 1) return { seq: 0, head: GENESIS };
    const resume = removedHashAt(c.removed, r.seq - 1);
    if (resume !== undefined && coveredByRetention(c.removed, 1, r.seq - 1)) {
      c.summary.retentionHoles += r.seq - 1;
      return { seq: r.seq - 1, head: resume };
    }
    // The export window starts inside the chain: this record's predecessor is not in the file.
    c.summary.startsMidChain = true;
    return { seq: r.seq - 1, head: r.prev };
  }

  /** A record reported missing turns up later: it was moved, not deleted. */
  #reorderedLater(c: ExportChain, r: SessionRecord, line: number): void {
    const hole = c.holes.find((h) => h.from <= r.seq && r.seq <= h.to);
    if (hole === undefined) return;
    Object.assign(hole.bad, about(r), { problem: `it appears in the file after ${r.chainId}#${hole.after} (line ${line}): records were swapped or reordered` });
  }

  finish(): ExportVerdict {
    if (this.#lines === 0) this.#bad({ problem: 'the file holds no export lines: nothing to verify' });
    else if (this.#records === 0) this.#bad({ problem: 'the file holds chain keys but no records: nothing to verify' });
    const first = [...this.#problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0))[0];
    return {
      ok: this.#problems.length === 0, lines: this.#lines, records: this.#records,
      chains: [...this.#chains.values()].map((c) => c.summary),
      problems: this.#problems,
      ...(first === undefined ? {} : { firstBad: first }),
      ...(this.#from === undefined || this.#to === undefined ? {} : { timeRange: { from: this.#from, to: this.#to } }),
    };
  }
}

// ---- a policy's store chain -------------------------------------------------------------------------

export interface Anchor { head: string; records: number; anchoredAt?: string }

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
  const { hash, sig: _sig, ...linked } = link;
  if (hashOf(linked as Linked<object>) !== hash) return 'the store link was altered (its content does not match its hash)';
  if (link.sig === '') return undefined;
  if (key === undefined) return `the store link is signed by an unknown store key ${link.keyId}`;
  return verifyHashSignature(key, hash, link.sig) ? undefined : 'the store link\'s signature does not verify';
}

function recordProblem(e: Entry, chainKeys: Map<string, KeyObject>): string | undefined {
  const { link, record } = e;
  if (link.type !== 'store.record') return undefined;
  if (record === undefined) return 'its record is missing from the store';
  if (link.source?.chainId !== record.chainId || link.source.seq !== record.seq || link.source.hash !== record.hash) return 'the record stored here is not the one its store link references: it was replaced';
  if (!recordHashOk(record)) return 'the record was altered (its content does not match its hash)';
  const key = chainKeys.get(record.chainId);
  if (key === undefined) return `no public key for its sidecar chain ${record.chainId}`;
  return verifyHashSignature(key, record.hash, record.sig) ? undefined : 'the record\'s signature does not verify with its sidecar\'s key: altered or forged';
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
