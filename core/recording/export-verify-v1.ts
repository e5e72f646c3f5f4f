// Verification of exports in format 1 (before issue 19: chain key lines and records signed one by
// one), kept so every export ever made still verifies: every record's hash and signature with its
// chain's key, and, in file order, every record linked to the one before it in its chain, with holes
// only where retention (the key line's `removed` ranges) accounts for them. The first record of a
// chain in the file may start mid-chain (a --since window); after it nothing may be missing,
// reordered or duplicated. Format 2 exports: export-verify.ts.
import type { KeyObject } from 'node:crypto';
import { GENESIS, importPublicKey, verifyLink, type ChainPosition, type LinkProblem } from './index.ts';
import { removedHashAt } from './store-chain.ts';
import type { RemovedRange, SessionRecord } from './store-types.ts';
import { ProblemList, unreadableLine } from './verify-problems.ts';

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

export function about(r: Partial<SessionRecord> | undefined): Partial<BadRecord> {
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
  /**
   * Format 2: the runs of consecutive seqs the file holds. More than one: the export's scope (a
   * session, a policy, a window) left out the records between them, which the file does not show.
   */
  runs?: number;
}

export interface ExportVerdict {
  ok: boolean;
  lines: number;
  records: number;
  chains: ChainSummary[];
  /** The first KEPT_PROBLEMS problems found. */
  problems: BadRecord[];
  /** Problems found after those, counted, not kept. */
  moreProblems?: number;
  /** The problem at the earliest line of the file (problems naming no line come first in format 1, last in format 2). */
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
export class LegacyExportVerifier {
  readonly #chains = new Map<string, ExportChain>();
  readonly #problems = new ProblemList(0);
  #lines = 0;
  #records = 0;
  #from: string | undefined;
  #to: string | undefined;

  add(line: number, value: unknown): void {
    this.#lines++;
    if (value === undefined) return this.#bad({ line, problem: 'the line is not valid JSON: the file was altered or truncated' });
    try {
      return this.#line(line, value);
    } catch (err) {
      // A line no writer makes (nested past the stack's depth, members of unexpected types) fails
      // the file, named, rather than stopping the verifier ("could not verify" reads as a tool error).
      const r = isRecord(value) ? value : undefined;
      const c = r === undefined ? undefined : this.#chains.get(r.chainId);
      if (c !== undefined) c.broken = true;
      return this.#bad({ line, ...about(r), problem: unreadableLine(err) });
    }
  }

  #line(line: number, value: unknown): void {
    if (isKeyLine(value)) return this.#key(line, value);
    if (isRecord(value)) return this.#record(line, value);
    return this.#bad({ line, problem: 'the line is neither a chain key nor a record' });
  }

  #bad(b: BadRecord): void {
    this.#problems.add(b);
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
    // Format 1 exports predate format 2 records, which carry no signature: only a format 2 export's
    // checkpoints prove them. Accepted here, anyone could write a file of them (a downgrade).
    if ((r as { v?: unknown }).v !== undefined) {
      c.broken = true;
      return this.#bad({ line, ...about(r), problem: `it is a format 2 record (v=${JSON.stringify((r as { v?: unknown }).v)}, proven only by its chain's checkpoints) in a format 1 export, which carries none: nothing proves it (a downgraded or forged file); export again to get a format 2 file` });
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

  /** `extra`: problems of the whole file found outside (--anchor given to a format 1 file). */
  finish(extra: readonly BadRecord[] = []): ExportVerdict {
    if (this.#lines === 0) this.#bad({ problem: 'the file holds no export lines: nothing to verify' });
    else if (this.#records === 0) this.#bad({ problem: 'the file holds chain keys but no records: nothing to verify' });
    for (const b of extra) this.#problems.addLast(b);
    return {
      ...this.#problems.verdict(), lines: this.#lines, records: this.#records,
      chains: [...this.#chains.values()].map((c) => c.summary),
      ...(this.#from === undefined || this.#to === undefined ? {} : { timeRange: { from: this.#from, to: this.#to } }),
    };
  }
}

