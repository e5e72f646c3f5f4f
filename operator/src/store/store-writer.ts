// The file store's group-commit writer: one queue, one commit at a time. Every batch of records
// waiting when a commit starts is written in that commit (each batch's sidecar checkpoint as a
// store.checkpoint entry after its records, and per policy ONE signed store checkpoint on the
// group's last line), all touched files fdatasync'd (and new directory entries fsync'd), and only
// then are the batches acknowledged and the index updated.
// Exclusive jobs (a retention cut, close) run alone between commits. After an I/O error memory
// and disk may be out of step, so the writer refuses everything until the process restarts.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { kubeTime } from '../../../core/duration.ts';
import { fsyncDir, mkdirDurable, writeAll } from './fs-util.ts';
import { jsonWithHash } from '../../../core/recording/batch-check.ts';
import { LineBuffer, stageRange, type StagedRanges } from './line-buffer.ts';
import { entryLine, headerLine, segmentName, SEGMENT_FORMAT, type EntryExtras } from './segment.ts';
import type { ChainMem, PolicyState, Segment } from './state.ts';
import { newSegment, type StoreIndex } from './store-index.ts';
import type { SessionRecord, StoreHooks, StoreLink } from './types.ts';

export interface WriterOptions {
  index: StoreIndex;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  now: () => number;
  hooks?: StoreHooks;
  /** Segment files kept open at most (least recently written closed first, reopened on the next write). */
  maxOpenSegments?: number;
}

/**
 * Open segment handles kept at most by default. Each policy's active segment used to stay open for
 * the life of the process, so one file descriptor per policy ever written: enough policies (a
 * sender naming many) reached the process's limit, and EMFILE stops the writer for every chain.
 * Reopening a segment to append costs one open(2) beside the fdatasync every commit does anyway.
 */
export const MAX_OPEN_SEGMENTS = 128;

/** A verified sidecar checkpoint to store with a batch (frontier: the chain tree's at its size). */
export interface CheckpointToStore { note: string; size: number; root: string; frontier: string[] }

interface RecordJob {
  kind: 'records'; chain: ChainMem; records: SessionRecord[];
  /** Each record's canonical JSON without hash and sig, as the batch check hashed it (batch-check.ts freshTexts). */
  texts: readonly string[] | undefined;
  checkpoint: CheckpointToStore | undefined; resolve: () => void; reject: (e: unknown) => void;
}
interface ExclusiveJob { kind: 'exclusive'; run: () => Promise<void>; resolve: () => void; reject: (e: unknown) => void }
type Job = RecordJob | ExclusiveJob;

interface PendingWrite { policy: PolicyState; segment: Segment; link: StoreLink; record?: SessionRecord; extras: EntryExtras; offset: number; length: number }

/** An entry to write; `linkText`/`recordText`: their canonical JSON without hash and sig when the writer has it (the line is made from it). */
interface StagedEntry { policy: PolicyState; link: StoreLink; linkText?: string; record?: SessionRecord; recordText?: string | undefined; extras: EntryExtras }

/** Lines staged for one flush: encoded once (lines), their byte ranges per segment, and the directories that gained entries. */
interface Staging { now: number; lines: LineBuffer; pending: Map<Segment, StagedRanges>; dirs: Set<string>; writes: PendingWrite[] }

/** One signature per policy and commit group: the store checkpoint on its last entry covers every link before it. */
function seal(entries: readonly StagedEntry[], time: Date): void {
  const last = new Map<PolicyState, StagedEntry>();
  for (const e of entries) last.set(e.policy, e);
  for (const [policy, e] of last) {
    const storeCheckpoint = policy.chain.seal(e.link, time);
    if (storeCheckpoint !== undefined) e.extras.storeCheckpoint = storeCheckpoint;
  }
}

export class GroupWriter {
  readonly #opts: WriterOptions;
  readonly #queue: Job[] = [];
  #draining = false;
  #failed: Error | undefined;
  /** Every group's lines are encoded here (one group at a time: #flush copies them out before the next). */
  readonly #lines = new LineBuffer();
  /** Segments with an open handle, least recently written first (a Set keeps insertion order). */
  readonly #open = new Set<Segment>();
  readonly #maxOpen: number;

  constructor(opts: WriterOptions) {
    this.#opts = opts;
    this.#maxOpen = Math.max(1, opts.maxOpenSegments ?? MAX_OPEN_SEGMENTS);
  }

  /** The I/O error that stopped the writer, if any. */
  get failure(): Error | undefined { return this.#failed; }

  /** Stores records already checked against `chain` (and their checkpoint), in the next commit group; resolves once durable. */
  appendRecords(chain: ChainMem, records: SessionRecord[], checkpoint?: CheckpointToStore, texts?: readonly string[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ kind: 'records', chain, records, texts, checkpoint, resolve, reject });
      this.#drain();
    });
  }

  /** Runs `run` alone in the writer, between commit groups. */
  exclusive(run: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ kind: 'exclusive', run, resolve, reject });
      this.#drain();
    });
  }

  /** Writes one store link (a tombstone's) durably, sealed by a store checkpoint, and indexes it: only inside `exclusive`. */
  async writeLink(policy: PolicyState, link: StoreLink, now: number, extras: EntryExtras = {}): Promise<void> {
    const staging = this.#newStaging(now);
    const storeCheckpoint = policy.chain.seal(link, new Date(now));
    await this.#stage(staging, { policy, link, extras: { ...extras, ...(storeCheckpoint === undefined ? {} : { storeCheckpoint }) } });
    await this.#flush(staging);
    for (const w of staging.writes) this.#opts.index.indexEntry(w.policy, w.segment, w.link, undefined, w.offset, w.length, w.extras);
  }

  /** Ends the policy's active segment: the next entry opens a new one. */
  async seal(p: PolicyState): Promise<void> {
    const a = p.active;
    delete p.active;
    if (a !== undefined) await this.#closeSegment(a);
  }

  async #closeSegment(seg: Segment): Promise<void> {
    this.#open.delete(seg);
    const fh = seg.fh;
    if (fh === undefined) return;
    delete seg.fh;
    await fh.close();
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    void this.#drainLoop().finally(() => {
      this.#draining = false;
      if (this.#queue.length > 0) this.#drain();
    });
  }

  async #runGroup(group: Job[]): Promise<void> {
    if (this.#failed !== undefined) throw this.#failed;
    const first = group[0];
    if (first?.kind === 'exclusive') await first.run();
    else await this.#commit(group as RecordJob[]);
  }

  async #drainLoop(): Promise<void> {
    while (this.#queue.length > 0) {
      const group: Job[] = this.#queue[0]?.kind === 'exclusive' ? this.#queue.splice(0, 1) : this.#takeRecordJobs();
      try {
        await this.#runGroup(group);
        group.forEach((j) => j.resolve());
      } catch (err) {
        // An I/O error leaves memory and disk out of step: refuse further writes; a restart recovers from disk.
        this.#failed ??= err instanceof Error ? err : new Error(String(err));
        this.#opts.hooks?.failed?.(this.#failed);
        group.forEach((j) => j.reject(err));
      }
    }
  }

  #newStaging(now: number): Staging {
    this.#lines.reset();
    return { now, lines: this.#lines, pending: new Map(), dirs: new Set(), writes: [] };
  }

  #takeRecordJobs(): RecordJob[] {
    const idx = this.#queue.findIndex((j) => j.kind === 'exclusive');
    return this.#queue.splice(0, idx < 0 ? this.#queue.length : idx) as RecordJob[];
  }

  /** A new segment starting with `first` (the link about to be staged). */
  async #newSegment(policy: PolicyState, first: StoreLink, s: Staging): Promise<Segment> {
    const segDir = join(policy.dir, 'segments');
    if (policy.segments.length === 0) await mkdirDurable(segDir);
    const name = segmentName(first.seq);
    const seg = newSegment(policy, name, join(segDir, name), s.now);
    seg.lastHash = first.prev;
    const header = headerLine({ format: SEGMENT_FORMAT, namespace: policy.namespace, policy: policy.policy, firstSeq: seg.firstSeq, createdAt: kubeTime(s.now) });
    const staged: StagedRanges = { ranges: [], bytes: 0 };
    seg.bytes = s.lines.encode(header);
    stageRange(staged, s.lines.end, seg.bytes);
    s.pending.set(seg, staged);
    s.dirs.add(segDir);
    policy.segments.push(seg);
    policy.active = seg;
    return seg;
  }

  /** The policy's active segment if `link`'s line of `size` bytes still goes there, else undefined (a new segment). */
  #activeFor(policy: PolicyState, link: StoreLink, size: number, s: Staging): Segment | undefined {
    const a = policy.active;
    // Not empty: it holds an earlier link (committed, or staged in this group).
    const full = a !== undefined && link.seq > a.firstSeq && (a.bytes + size > this.#opts.segmentMaxBytes || s.now - a.createdAt > this.#opts.segmentMaxAgeMs);
    return a !== undefined && !full ? a : undefined;
  }

  /**
   * Stages an entry's line. Synchronous unless the line opens a new segment (its directory may have
   * to be created): then the returned promise resolves once it is staged. A group stages a thousand
   * entries, and a promise per entry cost more than staging it.
   */
  #stage(s: Staging, e: StagedEntry): Promise<void> | undefined {
    const linkJson = e.linkText === undefined ? JSON.stringify(e.link) : jsonWithHash(e.linkText, e.link);
    const recordJson = e.record === undefined ? undefined : e.recordText === undefined ? JSON.stringify(e.record) : jsonWithHash(e.recordText, e.record);
    const line = entryLine(linkJson, recordJson, e.extras);
    // Encoded once; its segment is known after (the size decides a rollover; a new segment's header
    // is encoded after the line but staged before it).
    const size = s.lines.encode(line);
    const end = s.lines.end;
    const active = this.#activeFor(e.policy, e.link, size, s);
    if (active !== undefined) {
      this.#place(s, e, active, end, size);
      return undefined;
    }
    return this.#newSegment(e.policy, e.link, s).then((seg) => this.#place(s, e, seg, end, size));
  }

  /** Adds the line of `size` bytes ending at `end` to `seg`'s staged bytes, and the write to index once durable. */
  #place(s: Staging, e: StagedEntry, seg: Segment, end: number, size: number): void {
    let staged = s.pending.get(seg);
    if (staged === undefined) {
      staged = { ranges: [], bytes: 0 };
      s.pending.set(seg, staged);
    }
    stageRange(staged, end, size);
    const write: PendingWrite = { policy: e.policy, segment: seg, link: e.link, extras: e.extras, offset: seg.bytes, length: size - 1 };
    if (e.record !== undefined) write.record = e.record;
    s.writes.push(write);
    seg.bytes += size;
  }

  /**
   * The store entries of one batch: its records' links, then its checkpoint's in every policy the
   * batch touched, so each policy's entries hold a checkpoint covering each of its records (a
   * policy verifies alone, and its export carries what proves its records).
   */
  #entriesOf(job: RecordJob, time: string, out: StagedEntry[]): void {
    const touched = new Set<PolicyState>();
    let policy: PolicyState | undefined;
    for (let i = 0; i < job.records.length; i++) {
      const record = job.records[i]!;
      // Consecutive records mostly share a policy: look it up only when it changes.
      if (policy === undefined || policy.namespace !== record.namespace || policy.policy !== record.policy) {
        policy = this.#opts.index.policyFor(record.namespace, record.policy);
        touched.add(policy);
      }
      const { link, text } = policy.chain.linkRecordWithText(record, time);
      out.push({ policy, link, linkText: text, record, recordText: job.texts?.[i], extras: {} });
    }
    const cp = job.checkpoint;
    if (cp === undefined) return;
    const at = touched.size === 0 ? this.#opts.index.recordAt(job.chain, cp.size) : undefined;
    if (at !== undefined) touched.add(this.#opts.index.policyFor(at.namespace, at.policy));
    for (const policy of touched) {
      const link = policy.chain.linkCheckpoint({ chainId: job.chain.state.chainId, size: cp.size, root: cp.root }, time);
      out.push({ policy, link, extras: { chainCheckpoint: { note: cp.note, frontier: cp.frontier } } });
    }
  }

  async #commit(jobs: RecordJob[]): Promise<void> {
    const now = this.#opts.now();
    const time = new Date(now).toISOString();
    const staging = this.#newStaging(now);
    const entries: StagedEntry[] = [];
    for (const job of jobs) this.#entriesOf(job, time, entries);
    seal(entries, new Date(now));
    for (const e of entries) {
      const opening = this.#stage(staging, e);
      if (opening !== undefined) await opening;
    }
    const fsyncSeconds = await this.#flush(staging);
    for (const w of staging.writes) this.#opts.index.indexEntry(w.policy, w.segment, w.link, w.record, w.offset, w.length, w.extras);
    for (const job of jobs) {
      const last = job.records[job.records.length - 1];
      if (last !== undefined) Object.assign(job.chain.state, { seq: last.seq, head: last.hash });
    }
    this.#opts.hooks?.committed?.(staging.writes.filter((w) => w.record !== undefined).length, fsyncSeconds);
  }

  /**
   * Writes staged buffers, fdatasyncs the files and fsyncs new directory entries; returns fsync
   * seconds. At most #maxOpen segments are open at once: a group touching more is written in slices,
   * each synced before the least recently written handles are closed.
   */
  async #flush({ lines, pending, dirs }: Staging): Promise<number> {
    const touched = [...pending.entries()];
    let seconds = 0;
    for (let i = 0; i < touched.length; i += this.#maxOpen) {
      const slice = touched.slice(i, i + this.#maxOpen);
      await Promise.all(slice.map(async ([seg, staged]) => {
        // The segment's lines as #stage encoded them, copied out in order (no second encoding).
        const buf = lines.gather(staged);
        seg.fh ??= await open(seg.path, 'a', 0o640);
        this.#open.delete(seg);
        this.#open.add(seg);
        await writeAll(seg.fh, buf);
      }));
      const t0 = process.hrtime.bigint();
      await Promise.all(slice.map(async ([seg]) => seg.fh?.datasync()));
      seconds += Number(process.hrtime.bigint() - t0) / 1e9;
      await this.#evict();
    }
    const t1 = process.hrtime.bigint();
    await Promise.all([...dirs].map((d) => fsyncDir(d)));
    seconds += Number(process.hrtime.bigint() - t1) / 1e9;
    await this.#closeSealed(touched.map(([seg]) => seg));
    return seconds;
  }

  /** Closes the least recently written handles beyond #maxOpen (their writes are synced already). */
  async #evict(): Promise<void> {
    for (const seg of this.#open) {
      if (this.#open.size <= this.#maxOpen) return;
      await this.#closeSegment(seg);
    }
  }

  /** Closes the file handles of segments that are no longer their policy's active one. */
  async #closeSealed(segments: Segment[]): Promise<void> {
    const owners = new Set(segments.map((s) => s.owner));
    for (const owner of owners) {
      const policy = this.#opts.index.policies.get(owner);
      for (const seg of policy?.segments ?? []) {
        if (policy?.active !== seg && seg.fh !== undefined) await this.#closeSegment(seg);
      }
    }
  }
}
