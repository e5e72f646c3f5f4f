// The file store's group-commit writer: one queue, one commit at a time. Every batch of records
// waiting when a commit starts is written in that commit, all touched files fdatasync'd (and new
// directory entries fsync'd), and only then are the batches acknowledged and the index updated.
// Exclusive jobs (a retention cut, close) run alone between commits. After an I/O error memory
// and disk may be out of step, so the writer refuses everything until the process restarts.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { kubeTime } from '../../../core/duration.ts';
import { fsyncDir, mkdirDurable, writeAll } from './fs-util.ts';
import { encodeEntry, encodeHeader, segmentName, SEGMENT_FORMAT } from './segment.ts';
import type { ChainMem, PolicyState, Segment } from './state.ts';
import { newSegment, type StoreIndex } from './store-index.ts';
import type { SessionRecord, StoreHooks, StoreLink } from './types.ts';

export interface WriterOptions {
  index: StoreIndex;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  now: () => number;
  hooks?: StoreHooks;
}

interface RecordJob { kind: 'records'; chain: ChainMem; records: SessionRecord[]; resolve: () => void; reject: (e: unknown) => void }
interface ExclusiveJob { kind: 'exclusive'; run: () => Promise<void>; resolve: () => void; reject: (e: unknown) => void }
type Job = RecordJob | ExclusiveJob;

interface PendingWrite { policy: PolicyState; segment: Segment; link: StoreLink; record?: SessionRecord; offset: number; length: number }

/** Buffers staged for one flush: per segment, and the directories that gained entries. */
interface Staging { now: number; pending: Map<Segment, Buffer[]>; dirs: Set<string>; writes: PendingWrite[] }

export class GroupWriter {
  readonly #opts: WriterOptions;
  readonly #queue: Job[] = [];
  #draining = false;
  #failed: Error | undefined;

  constructor(opts: WriterOptions) {
    this.#opts = opts;
  }

  /** The I/O error that stopped the writer, if any. */
  get failure(): Error | undefined { return this.#failed; }

  /** Stores records already checked against `chain`, in the next commit group; resolves once durable. */
  appendRecords(chain: ChainMem, records: SessionRecord[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ kind: 'records', chain, records, resolve, reject });
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

  /** Writes one store link (a tombstone's) durably and indexes it: only inside `exclusive`. */
  async writeLink(policy: PolicyState, link: StoreLink, now: number): Promise<void> {
    const staging: Staging = { now, pending: new Map(), dirs: new Set(), writes: [] };
    await this.#stage(staging, policy, link, undefined);
    await this.#flush(staging.pending, staging.dirs);
    for (const w of staging.writes) this.#opts.index.indexEntry(w.policy, w.segment, w.link, undefined, w.offset, w.length);
  }

  /** Ends the policy's active segment: the next entry opens a new one. */
  async seal(p: PolicyState): Promise<void> {
    const a = p.active;
    delete p.active;
    if (a?.fh !== undefined) {
      const fh = a.fh;
      delete a.fh;
      await fh.close();
    }
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
    const header = encodeHeader({ format: SEGMENT_FORMAT, namespace: policy.namespace, policy: policy.policy, firstSeq: seg.firstSeq, createdAt: kubeTime(s.now) });
    s.pending.set(seg, [header]);
    seg.bytes = header.length;
    s.dirs.add(segDir);
    policy.segments.push(seg);
    policy.active = seg;
    return seg;
  }

  async #segmentFor(policy: PolicyState, link: StoreLink, size: number, s: Staging): Promise<Segment> {
    const a = policy.active;
    // Not empty: it holds an earlier link (committed, or staged in this group).
    const full = a !== undefined && link.seq > a.firstSeq && (a.bytes + size > this.#opts.segmentMaxBytes || s.now - a.createdAt > this.#opts.segmentMaxAgeMs);
    if (a !== undefined && !full) return a;
    return this.#newSegment(policy, link, s);
  }

  async #stage(s: Staging, policy: PolicyState, link: StoreLink, record: SessionRecord | undefined): Promise<void> {
    const buf = encodeEntry(link, record);
    const seg = await this.#segmentFor(policy, link, buf.length, s);
    const list = s.pending.get(seg) ?? [];
    list.push(buf);
    s.pending.set(seg, list);
    s.writes.push({ policy, segment: seg, link, ...(record === undefined ? {} : { record }), offset: seg.bytes, length: buf.length - 1 });
    seg.bytes += buf.length;
  }

  async #commit(jobs: RecordJob[]): Promise<void> {
    const now = this.#opts.now();
    const time = new Date(now).toISOString();
    const staging: Staging = { now, pending: new Map(), dirs: new Set(), writes: [] };
    const links: { policy: PolicyState; link: StoreLink; record: SessionRecord }[] = [];
    const last = new Map<PolicyState, StoreLink>();
    for (const job of jobs) {
      for (const record of job.records) {
        const policy = this.#opts.index.policyFor(record.namespace, record.policy);
        const link = policy.chain.linkRecord(record, time);
        links.push({ policy, link, record });
        last.set(policy, link);
      }
    }
    // One signature per policy and commit group: the checkpoint covers every link before it.
    for (const [policy, link] of last) policy.chain.sign(link);
    for (const { policy, link, record } of links) await this.#stage(staging, policy, link, record);
    const fsyncSeconds = await this.#flush(staging.pending, staging.dirs);
    for (const w of staging.writes) this.#opts.index.indexEntry(w.policy, w.segment, w.link, w.record, w.offset, w.length);
    for (const job of jobs) {
      const last = job.records[job.records.length - 1];
      if (last !== undefined) Object.assign(job.chain.state, { seq: last.seq, head: last.hash });
    }
    this.#opts.hooks?.committed?.(staging.writes.length, fsyncSeconds);
  }

  /** Writes staged buffers, fdatasyncs the files and fsyncs new directory entries; returns fsync seconds. */
  async #flush(pending: Map<Segment, Buffer[]>, dirs: Set<string>): Promise<number> {
    const touched = [...pending.entries()];
    await Promise.all(touched.map(async ([seg, bufs]) => {
      seg.fh ??= await open(seg.path, 'a', 0o640);
      await writeAll(seg.fh, Buffer.concat(bufs));
    }));
    const t0 = process.hrtime.bigint();
    await Promise.all([...touched.map(([seg]) => seg.fh?.datasync()), ...[...dirs].map((d) => fsyncDir(d))]);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await this.#closeSealed(touched.map(([seg]) => seg));
    return seconds;
  }

  /** Closes the file handles of segments that are no longer their policy's active one. */
  async #closeSealed(segments: Segment[]): Promise<void> {
    const owners = new Set(segments.map((s) => s.owner));
    for (const owner of owners) {
      const policy = this.#opts.index.policies.get(owner);
      for (const seg of policy?.segments ?? []) {
        if (policy?.active === seg || seg.fh === undefined) continue;
        const fh = seg.fh;
        delete seg.fh;
        await fh.close();
      }
    }
  }
}
