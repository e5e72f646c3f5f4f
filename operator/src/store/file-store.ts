// The embedded default store: append-only segment files on a volume (docs/recording.md).
//
//   <dir>/STORE                                   format marker
//   <dir>/keys/<keyId>.jwk                        public store keys (every key that ever signed links)
//   <dir>/chains/<ns>/<sha256(chainId)>.json      sidecar chain registrations
//   <dir>/policies/<ns>/<policy>/segments/*.seg   store entries, JSONL (segment.ts)
//   <dir>/policies/<ns>/<policy>/tombstone.json   cumulative signed retention tombstone
//   <dir>/quarantine/                             bytes cut from a torn or inconsistent tail on reopen
//
// Writes go through one group-commit writer: every batch waiting when a commit starts is written,
// all touched files fdatasync'd (and new directory entries fsync'd), and only then are the batches
// acknowledged and the in-memory index updated. One process owns the directory (the leader).
import { createHash, type KeyObject } from 'node:crypto';
import { open, readFile, rename, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GENESIS, importPublicKey, type ChainPosition, type SigningKey } from '../../../core/recording/index.ts';
import { kubeTime } from '../../../core/duration.ts';
import { checkBatch } from './batch-check.ts';
import { fsyncDir, listDir, mkdirDurable, readRange, writeAll, writeFileDurable } from './fs-util.ts';
import { planRecovery, type LoadedPolicy } from './recovery.ts';
import { buildTombstone, expiredPrefix } from './retention.ts';
import { encodeEntry, encodeHeader, parseSegment, segmentFirstSeq, segmentName, SEGMENT_FORMAT, type ParsedSegment } from './segment.ts';
import { addToSummary, countRecord, emptyCounters, matchesSession, newSummary } from './sessions.ts';
import { kindOf, newChainMem, policyKey, type ChainMem, type PolicyState, type RecordRef, type Segment, type SessionEntry } from './state.ts';
import { isRemoved, mergeRanges, signTombstone, StoreChain, storeChainId, verifyTombstone } from './store-chain.ts';
import type {
  AppendResult, ChainRegistration, ChainState, ExportFilter, ExportLine, PolicyChainInfo, PolicyEntryLine, PolicyHead,
  RetentionFor, RetentionOutcome, SessionFilter, SessionRecord, SessionStore, SessionSummary, StoreKeyInfo, StoreLink, Tombstone,
} from './types.ts';

export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface StoreHooks {
  /** Bytes moved to quarantine when reopening (torn or inconsistent tail). */
  quarantined?(namespace: string, policy: string, bytes: number, reason: string): void;
  /** A commit group: records stored and the seconds its fsyncs took. */
  committed?(records: number, fsyncSeconds: number): void;
  /** The store stopped accepting writes after an I/O error (the process should restart). */
  failed?(err: Error): void;
}

export interface FileStoreOptions {
  dir: string;
  key: SigningKey;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  log: StoreLogger;
  hooks?: StoreHooks;
  now?: () => number;
}

interface RecordJob { kind: 'records'; chain: ChainMem; records: SessionRecord[]; resolve: () => void; reject: (e: unknown) => void }
interface ExclusiveJob { kind: 'exclusive'; run: () => Promise<void>; resolve: () => void; reject: (e: unknown) => void }
type Job = RecordJob | ExclusiveJob;

interface PendingWrite { policy: PolicyState; segment: Segment; link: StoreLink; record?: SessionRecord; offset: number; length: number }

const STORE_FORMAT = 'guarita-store/v1';
const DNS = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function chainFile(dir: string, namespace: string, chainId: string): string {
  return join(dir, 'chains', namespace, `${createHash('sha256').update(chainId).digest('hex')}.json`);
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class FileStore implements SessionStore {
  readonly #opts: FileStoreOptions;
  readonly #now: () => number;
  readonly #keys = new Map<string, KeyObject>();
  readonly #chains = new Map<string, ChainMem>();
  readonly #policies = new Map<string, PolicyState>();
  readonly #sessions = new Map<string, Map<string, SessionEntry>>();
  readonly #queue: Job[] = [];
  #draining = false;
  #failed: Error | undefined;
  #closed = false;

  private constructor(opts: FileStoreOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  static async open(opts: FileStoreOptions): Promise<FileStore> {
    const store = new FileStore(opts);
    await store.#load();
    return store;
  }

  get failure(): Error | undefined { return this.#failed; }

  // ---- opening -------------------------------------------------------------------------------

  async #load(): Promise<void> {
    const { dir } = this.#opts;
    await mkdirDurable(dir);
    await this.#marker();
    await this.#loadKeys();
    await this.#loadChains();
    const loaded = await this.#loadPolicies();
    await this.#recover(loaded);
  }

  async #marker(): Promise<void> {
    const file = join(this.#opts.dir, 'STORE');
    try {
      const v = JSON.parse(await readFile(file, 'utf8')) as { format?: string };
      if (v.format !== STORE_FORMAT) throw new Error(`${file}: unsupported store format ${String(v.format)} (this operator reads ${STORE_FORMAT})`);
    } catch (err) {
      if (!isEnoent(err)) throw err;
      await writeFileDurable(file, `${JSON.stringify({ format: STORE_FORMAT, createdAt: kubeTime(this.#now()) })}\n`);
    }
  }

  async #loadKeys(): Promise<void> {
    const keysDir = join(this.#opts.dir, 'keys');
    await mkdirDurable(keysDir);
    const own = join(keysDir, `${this.#opts.key.keyId}.jwk`);
    const names = await listDir(keysDir);
    if (!names.includes(`${this.#opts.key.keyId}.jwk`)) await writeFileDurable(own, `${JSON.stringify(this.#opts.key.publicJwk)}\n`, 0o644);
    for (const name of await listDir(keysDir)) {
      if (!name.endsWith('.jwk')) continue;
      const jwk = JSON.parse(await readFile(join(keysDir, name), 'utf8')) as Parameters<typeof importPublicKey>[0];
      this.#keys.set(name.slice(0, -4), importPublicKey(jwk));
    }
  }

  async #loadChains(): Promise<void> {
    const base = join(this.#opts.dir, 'chains');
    for (const ns of await listDir(base)) {
      for (const name of await listDir(join(base, ns))) {
        if (!name.endsWith('.json')) continue;
        const reg = JSON.parse(await readFile(join(base, ns, name), 'utf8')) as ChainRegistration;
        this.#chains.set(reg.chainId, newChainMem({ ...reg, seq: 0, head: GENESIS }, importPublicKey(reg.publicJwk)));
      }
    }
  }

  async #loadPolicies(): Promise<Map<string, { policy: PolicyState; parsed: ParsedSegment[]; names: string[] }>> {
    const base = join(this.#opts.dir, 'policies');
    const out = new Map<string, { policy: PolicyState; parsed: ParsedSegment[]; names: string[] }>();
    for (const ns of await listDir(base)) {
      for (const name of await listDir(join(base, ns))) {
        const loaded = await this.#loadPolicy(ns, name);
        out.set(loaded.policy.key, loaded);
      }
    }
    return out;
  }

  async #readTombstone(namespace: string, policy: string, dir: string): Promise<Tombstone | undefined> {
    let t: Tombstone;
    try {
      t = JSON.parse(await readFile(join(dir, 'tombstone.json'), 'utf8')) as Tombstone;
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
    const problem = verifyTombstone(t, this.#keys.get(t.keyId));
    if (problem !== undefined || t.namespace !== namespace || t.policy !== policy) {
      throw new Error(`${join(dir, 'tombstone.json')}: ${problem ?? 'tombstone names another policy'}: the store was altered; refusing to open it (move the file away only after investigating)`);
    }
    return t;
  }

  async #loadPolicy(namespace: string, name: string): Promise<{ policy: PolicyState; parsed: ParsedSegment[]; names: string[] }> {
    const dir = join(this.#opts.dir, 'policies', namespace, name);
    const tombstone = await this.#readTombstone(namespace, name, dir);
    const from: ChainPosition = tombstone?.cut ?? { seq: 0, head: GENESIS };
    const segDir = join(dir, 'segments');
    const names = (await listDir(segDir)).filter((n) => segmentFirstSeq(n) !== undefined).sort();
    const parsed: ParsedSegment[] = [];
    const kept: string[] = [];
    for (const n of names) {
      const p = parseSegment(await readFile(join(segDir, n)));
      const last = p.entries[p.entries.length - 1]?.link.seq;
      if (last !== undefined && last <= from.seq) {
        // A retention cut that crashed after writing its tombstone: finish it.
        await unlink(join(segDir, n));
        continue;
      }
      parsed.push(p);
      kept.push(n);
    }
    const policy: PolicyState = {
      key: policyKey(namespace, name), namespace, policy: name, dir, segments: [],
      chain: new StoreChain(namespace, name, this.#opts.key, from),
      ...(tombstone === undefined ? {} : { tombstone }),
      counters: { ...emptyCounters(), ...(tombstone?.removedCounts ?? {}) }, version: 1,
    };
    return { policy, parsed, names: kept };
  }

  async #recover(loaded: Map<string, { policy: PolicyState; parsed: ParsedSegment[]; names: string[] }>): Promise<void> {
    const inputs: LoadedPolicy[] = [...loaded.values()].map(({ policy, parsed }) => ({
      key: policy.key,
      entries: parsed.flatMap((p) => p.entries),
      from: policy.chain.position,
      removed: policy.tombstone?.chains ?? {},
    }));
    const plan = planRecovery(inputs);
    for (const { policy, parsed, names } of loaded.values()) {
      const keep = plan.keep.get(policy.key) ?? Number.POSITIVE_INFINITY;
      await this.#rebuildPolicy(policy, parsed, names, keep, plan.reasons.get(policy.key));
      this.#policies.set(policy.key, policy);
    }
    for (const chain of this.#chains.values()) {
      const pos = plan.positions.get(chain.state.chainId);
      if (pos !== undefined) Object.assign(chain.state, pos);
      chain.removed = mergeRanges([...this.#policies.values()].map((p) => p.tombstone?.chains[chain.state.chainId] ?? []));
    }
  }

  async #rebuildPolicy(policy: PolicyState, parsed: ParsedSegment[], names: string[], keep: number, reason: string | undefined): Promise<void> {
    let remaining = keep;
    for (const [i, p] of parsed.entries()) {
      const take = Math.min(remaining, p.entries.length);
      remaining -= take;
      await this.#rebuildSegment(policy, p, names[i] ?? '', take, reason);
    }
    const last = policy.segments[policy.segments.length - 1];
    if (last !== undefined) {
      policy.active = last;
      policy.chain = new StoreChain(policy.namespace, policy.policy, this.#opts.key, { seq: last.lastSeq, head: last.lastHash });
    }
  }

  async #rebuildSegment(policy: PolicyState, p: ParsedSegment, name: string, take: number, reason: string | undefined): Promise<void> {
    const path = join(policy.dir, 'segments', name);
    if (take === 0 || p.header === undefined) {
      // Nothing acknowledged lives here: a segment opened by the commit group a crash cut short.
      await this.#quarantine(policy, path, 0, p.totalBytes, reason ?? 'segment without a complete header or entry');
      return;
    }
    const cutAt = take < p.entries.length ? (p.entries[take]?.offset ?? p.validBytes) : p.validBytes;
    if (cutAt < p.totalBytes) await this.#quarantine(policy, path, cutAt, p.totalBytes, reason ?? 'torn tail (a write cut short by a crash)');
    const seg = this.#segment(policy, name, path, Date.parse(p.header.createdAt));
    seg.bytes = cutAt;
    for (const e of p.entries.slice(0, take)) this.#indexEntry(policy, seg, e.link, e.record, e.offset, e.length);
    policy.segments.push(seg);
  }

  #segment(policy: PolicyState, name: string, path: string, createdAt: number): Segment {
    const firstSeq = segmentFirstSeq(name) ?? policy.chain.position.seq + 1;
    const pos = policy.chain.position;
    return { name, path, firstSeq, lastSeq: firstSeq - 1, lastHash: pos.head, bytes: 0, maxTime: 0, createdAt, refs: [], keyIds: new Set(), owner: policy.key };
  }

  async #quarantine(policy: PolicyState, path: string, from: number, to: number, reason: string): Promise<void> {
    const qdir = join(this.#opts.dir, 'quarantine');
    await mkdirDurable(qdir);
    const target = join(qdir, `${kubeTime(this.#now()).replace(/:/g, '')}-${policy.namespace}-${policy.policy}-${path.split('/').pop() ?? 'segment'}-at-${from}`);
    if (from === 0) {
      await rename(path, target);
    } else {
      const bytes = await readRange(path, from, to - from);
      await writeFileDurable(target, bytes, 0o640);
      await truncate(path, from);
      const fh = await open(path, 'r+');
      try { await fh.sync(); } finally { await fh.close(); }
    }
    await fsyncDir(join(policy.dir, 'segments'));
    await fsyncDir(qdir);
    this.#opts.log.warn({ policy: policy.key, segment: path, bytes: to - from, quarantine: target, reason }, 'store: moved an unacknowledged or inconsistent tail to quarantine');
    this.#opts.hooks?.quarantined?.(policy.namespace, policy.policy, to - from, reason);
  }

  // ---- index ---------------------------------------------------------------------------------

  #indexEntry(policy: PolicyState, seg: Segment, link: StoreLink, record: SessionRecord | undefined, offset: number, length: number): void {
    seg.keyIds.add(link.keyId);
    policy.version++;
    seg.lastSeq = link.seq;
    seg.lastHash = link.hash;
    seg.maxTime = Math.max(seg.maxTime, Date.parse(link.time));
    if (record === undefined) return;
    const ref: RecordRef = {
      segment: seg, offset, length, namespace: policy.namespace, policy: policy.policy, chainId: record.chainId,
      seq: record.seq, hash: record.hash, sessionId: record.sessionId, time: Date.parse(record.time), kind: kindOf(record),
    };
    seg.refs.push(ref);
    countRecord(policy.counters, record);
    this.#chains.get(record.chainId)?.refs.set(record.seq, ref);
    this.#indexSession(ref, record);
  }

  #indexSession(ref: RecordRef, record: SessionRecord): void {
    let byId = this.#sessions.get(ref.namespace);
    if (byId === undefined) {
      byId = new Map();
      this.#sessions.set(ref.namespace, byId);
    }
    let entry = byId.get(record.sessionId);
    if (entry === undefined) {
      entry = { summary: newSummary(record), refs: [] };
      byId.set(record.sessionId, entry);
    }
    entry.refs.push(ref);
    addToSummary(entry.summary, record);
  }

  #policyFor(namespace: string, name: string): PolicyState {
    const key = policyKey(namespace, name);
    let p = this.#policies.get(key);
    if (p === undefined) {
      if (!DNS.test(namespace) || !DNS.test(name)) throw new Error(`invalid namespace/policy name ${key}`);
      p = {
        key, namespace, policy: name, dir: join(this.#opts.dir, 'policies', namespace, name), segments: [],
        chain: new StoreChain(namespace, name, this.#opts.key), counters: emptyCounters(), version: 1,
      };
      this.#policies.set(key, p);
    }
    return p;
  }

  // ---- chains --------------------------------------------------------------------------------

  async registerChain(reg: ChainRegistration): Promise<{ outcome: 'created' | 'exists' | 'conflict'; chain: ChainState }> {
    this.#assertWritable();
    const existing = this.#chains.get(reg.chainId);
    if (existing !== undefined) return { outcome: existing.state.keyId === reg.keyId ? 'exists' : 'conflict', chain: { ...existing.state } };
    const publicKey = importPublicKey(reg.publicJwk);
    const file = chainFile(this.#opts.dir, reg.namespace, reg.chainId);
    await mkdirDurable(join(this.#opts.dir, 'chains', reg.namespace));
    const again = this.#chains.get(reg.chainId);
    if (again !== undefined) return { outcome: again.state.keyId === reg.keyId ? 'exists' : 'conflict', chain: { ...again.state } };
    const mem = newChainMem({ ...reg, seq: 0, head: GENESIS }, publicKey);
    this.#chains.set(reg.chainId, mem);
    try {
      await writeFileDurable(file, `${JSON.stringify(reg)}\n`);
    } catch (err) {
      this.#chains.delete(reg.chainId);
      throw err;
    }
    return { outcome: 'created', chain: { ...mem.state } };
  }

  getChain(chainId: string): ChainState | undefined {
    const c = this.#chains.get(chainId);
    return c === undefined ? undefined : { ...c.state };
  }

  listChains(namespace: string): ChainState[] {
    return [...this.#chains.values()].filter((c) => c.state.namespace === namespace).map((c) => ({ ...c.state }));
  }

  // ---- ingest --------------------------------------------------------------------------------

  append(chainId: string, records: readonly SessionRecord[]): Promise<AppendResult> {
    const chain = this.#chains.get(chainId);
    if (chain === undefined) return Promise.reject(new Error(`chain ${chainId} is not registered`));
    return chain.mutex.run(() => this.#appendLocked(chain, records));
  }

  async #appendLocked(chain: ChainMem, records: readonly SessionRecord[]): Promise<AppendResult> {
    this.#assertWritable();
    const plan = checkBatch(chain.state, records, chain.publicKey, {
      hash: (seq) => chain.refs.get(seq)?.hash,
      removed: (seq) => isRemoved(chain.removed, seq),
    });
    if ('ok' in plan) return plan;
    if (plan.fresh.length > 0) {
      await new Promise<void>((resolve, reject) => {
        this.#queue.push({ kind: 'records', chain, records: plan.fresh, resolve, reject });
        this.#drain();
      });
    }
    return { ok: true, seq: chain.state.seq, head: chain.state.head, stored: plan.fresh.length, duplicates: plan.duplicates };
  }

  #assertWritable(): void {
    if (this.#closed) throw new Error('store is closed');
    if (this.#failed !== undefined) throw new Error(`store failed earlier and accepts no writes until the operator restarts: ${this.#failed.message}`);
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
  async #newSegment(policy: PolicyState, first: StoreLink, now: number, pending: Map<Segment, Buffer[]>, dirs: Set<string>): Promise<Segment> {
    const segDir = join(policy.dir, 'segments');
    if (policy.segments.length === 0) await mkdirDurable(segDir);
    const name = segmentName(first.seq);
    const seg = this.#segment(policy, name, join(segDir, name), now);
    seg.lastHash = first.prev;
    const header = encodeHeader({ format: SEGMENT_FORMAT, namespace: policy.namespace, policy: policy.policy, firstSeq: seg.firstSeq, createdAt: kubeTime(now) });
    pending.set(seg, [header]);
    seg.bytes = header.length;
    dirs.add(segDir);
    policy.segments.push(seg);
    policy.active = seg;
    return seg;
  }

  async #segmentFor(policy: PolicyState, link: StoreLink, now: number, size: number, pending: Map<Segment, Buffer[]>, dirs: Set<string>): Promise<Segment> {
    const a = policy.active;
    // Not empty: it holds an earlier link (committed, or staged in this group).
    const full = a !== undefined && link.seq > a.firstSeq && (a.bytes + size > this.#opts.segmentMaxBytes || now - a.createdAt > this.#opts.segmentMaxAgeMs);
    if (a !== undefined && !full) return a;
    return this.#newSegment(policy, link, now, pending, dirs);
  }

  async #stage(writes: PendingWrite[], policy: PolicyState, link: StoreLink, record: SessionRecord | undefined, ctx: { now: number; pending: Map<Segment, Buffer[]>; dirs: Set<string> }): Promise<void> {
    const buf = encodeEntry(link, record);
    const seg = await this.#segmentFor(policy, link, ctx.now, buf.length, ctx.pending, ctx.dirs);
    const list = ctx.pending.get(seg) ?? [];
    list.push(buf);
    ctx.pending.set(seg, list);
    writes.push({ policy, segment: seg, link, ...(record === undefined ? {} : { record }), offset: seg.bytes, length: buf.length - 1 });
    seg.bytes += buf.length;
  }

  async #commit(jobs: RecordJob[]): Promise<void> {
    const now = this.#now();
    const time = new Date(now).toISOString();
    const ctx = { now, pending: new Map<Segment, Buffer[]>(), dirs: new Set<string>() };
    const writes: PendingWrite[] = [];
    const links: { policy: PolicyState; link: StoreLink; record: SessionRecord }[] = [];
    const last = new Map<PolicyState, StoreLink>();
    for (const job of jobs) {
      for (const record of job.records) {
        const policy = this.#policyFor(record.namespace, record.policy);
        const link = policy.chain.linkRecord(record, time);
        links.push({ policy, link, record });
        last.set(policy, link);
      }
    }
    // One signature per policy and commit group: the checkpoint covers every link before it.
    for (const [policy, link] of last) policy.chain.sign(link);
    for (const { policy, link, record } of links) await this.#stage(writes, policy, link, record, ctx);
    const fsyncSeconds = await this.#flush(ctx.pending, ctx.dirs);
    for (const w of writes) this.#indexEntry(w.policy, w.segment, w.link, w.record, w.offset, w.length);
    for (const job of jobs) {
      const last = job.records[job.records.length - 1];
      if (last !== undefined) Object.assign(job.chain.state, { seq: last.seq, head: last.hash });
    }
    this.#opts.hooks?.committed?.(writes.length, fsyncSeconds);
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
      const policy = this.#policies.get(owner);
      for (const seg of policy?.segments ?? []) {
        if (policy?.active === seg || seg.fh === undefined) continue;
        const fh = seg.fh;
        delete seg.fh;
        await fh.close();
      }
    }
  }

  // ---- reading -------------------------------------------------------------------------------

  listSessions(namespace: string, filter: SessionFilter): SessionSummary[] {
    const byId = this.#sessions.get(namespace);
    if (byId === undefined) return [];
    return [...byId.values()].map((e) => ({ ...e.summary })).filter((s) => matchesSession(s, filter)).sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  }

  async #readRecord(ref: RecordRef): Promise<SessionRecord | undefined> {
    try {
      const buf = await readRange(ref.segment.path, ref.offset, ref.length);
      return (JSON.parse(buf.toString('utf8')) as { r?: SessionRecord }).r;
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
  }

  async sessionRecords(namespace: string, sessionId: string): Promise<SessionRecord[] | undefined> {
    const entry = this.#sessions.get(namespace)?.get(sessionId);
    if (entry === undefined) return undefined;
    const refs = [...entry.refs].sort((a, b) => (a.chainId === b.chainId ? a.seq - b.seq : a.chainId < b.chainId ? -1 : 1));
    const out: SessionRecord[] = [];
    for (const ref of refs) {
      const r = await this.#readRecord(ref);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  async *exportLines(namespace: string, filter: ExportFilter): AsyncIterable<ExportLine> {
    const chains = [...this.#chains.values()].filter((c) => c.state.namespace === namespace).sort((a, b) => (a.state.chainId < b.state.chainId ? -1 : 1));
    const selected = chains.map((c) => ({ c, refs: [...c.refs.values()].filter((r) => this.#exported(r, filter)).sort((a, b) => a.seq - b.seq) }));
    for (const { c, refs } of selected) {
      if (refs.length === 0 && filter.policy !== undefined) continue;
      const s = c.state;
      yield { type: 'key', chainId: s.chainId, keyId: s.keyId, publicJwk: s.publicJwk, pod: s.pod, ...(c.removed.length > 0 ? { removed: c.removed.map((r): [number, number, string] => [r[0], r[1], r[2]]) } : {}) };
    }
    for (const { refs } of selected) {
      for (const ref of refs) {
        const r = await this.#readRecord(ref);
        if (r !== undefined) yield r;
      }
    }
  }

  #exported(ref: RecordRef, f: ExportFilter): boolean {
    if (f.policy !== undefined && ref.policy !== f.policy) return false;
    if (f.since !== undefined && ref.time < f.since) return false;
    if (f.until !== undefined && ref.time >= f.until) return false;
    return true;
  }

  policyHeads(): PolicyHead[] {
    return [...this.#policies.values()].map((p) => ({
      namespace: p.namespace, policy: p.policy, records: p.chain.position.seq, head: p.chain.position.head,
      counters: { ...p.counters }, version: p.version,
    }));
  }

  #keyInfo(keyId: string): StoreKeyInfo | undefined {
    const k = this.#keys.get(keyId);
    return k === undefined ? undefined : { keyId, publicJwk: k.export({ format: 'jwk' }) };
  }

  policyChain(namespace: string, policy: string): PolicyChainInfo | undefined {
    const p = this.#policies.get(policyKey(namespace, policy));
    if (p === undefined) return undefined;
    const own = this.#opts.key;
    const keyIds = new Set([...p.segments.flatMap((s) => [...s.keyIds]), ...(p.tombstone === undefined ? [] : [p.tombstone.keyId])]);
    return {
      namespace, policy, chainId: storeChainId(namespace, policy), head: p.chain.position.head, records: p.chain.position.seq,
      storeKey: { keyId: own.keyId, publicJwk: own.publicJwk },
      storeKeys: [...keyIds].flatMap((id) => this.#keyInfo(id) ?? []),
      ...(p.tombstone === undefined ? {} : { tombstone: p.tombstone }),
      segments: p.segments.length,
    };
  }

  #entryPreamble(p: PolicyState, info: PolicyChainInfo): PolicyEntryLine[] {
    const lines: PolicyEntryLine[] = info.storeKeys.map((k) => ({ type: 'storeKey', keyId: k.keyId, publicJwk: k.publicJwk }));
    const chainIds = new Set(p.segments.flatMap((s) => s.refs.map((r) => r.chainId)));
    for (const id of [...chainIds].sort()) {
      const c = this.#chains.get(id)?.state;
      if (c !== undefined) lines.push({ type: 'chainKey', chainId: id, keyId: c.keyId, publicJwk: c.publicJwk });
    }
    if (p.tombstone !== undefined) lines.push({ type: 'tombstone', tombstone: p.tombstone });
    return lines;
  }

  async #readSegment(seg: Segment): Promise<ParsedSegment | undefined> {
    try {
      return parseSegment((await readFile(seg.path)).subarray(0, seg.bytes));
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
  }

  async *policyEntries(namespace: string, policy: string): AsyncIterable<PolicyEntryLine> {
    const info = this.policyChain(namespace, policy);
    const p = this.#policies.get(policyKey(namespace, policy));
    if (info === undefined || p === undefined) return;
    yield* this.#entryPreamble(p, info);
    for (const seg of [...p.segments]) {
      const parsed = await this.#readSegment(seg);
      for (const e of parsed?.entries ?? []) yield { type: 'entry', link: e.link, ...(e.record === undefined ? {} : { record: e.record }) };
    }
  }

  // ---- retention -----------------------------------------------------------------------------

  async applyRetention(retentionFor: RetentionFor, now: number): Promise<RetentionOutcome[]> {
    const outcomes: RetentionOutcome[] = [];
    for (const p of [...this.#policies.values()]) {
      const cutoff = now - retentionFor(p.namespace, p.policy);
      if (expiredPrefix(p.segments, cutoff).length === 0) continue;
      await new Promise<void>((resolve, reject) => {
        this.#queue.push({ kind: 'exclusive', run: async () => {
          // Decided again inside the writer: an append may have landed in the active segment meanwhile.
          const expired = expiredPrefix(p.segments, cutoff);
          if (expired.length > 0) outcomes.push(await this.#cut(p, expired, now));
        }, resolve, reject });
        this.#drain();
      });
    }
    return outcomes;
  }

  async #cut(p: PolicyState, expired: Segment[], now: number): Promise<RetentionOutcome> {
    const tombstone = signTombstone(buildTombstone({ namespace: p.namespace, policy: p.policy, previous: p.tombstone, expired, now }), this.#opts.key);
    if (p.active !== undefined && expired.includes(p.active)) await this.#seal(p);
    // The cut itself becomes a link of the store chain, so the anchored head covers it.
    const pending = new Map<Segment, Buffer[]>();
    const dirs = new Set<string>();
    const writes: PendingWrite[] = [];
    await this.#stage(writes, p, p.chain.linkTombstone(tombstone, new Date(now).toISOString()), undefined, { now, pending, dirs });
    await this.#flush(pending, dirs);
    for (const w of writes) this.#indexEntry(w.policy, w.segment, w.link, undefined, w.offset, w.length);
    await writeFileDurable(join(p.dir, 'tombstone.json'), `${JSON.stringify(tombstone)}\n`);
    for (const seg of expired) await unlink(seg.path).catch((err: unknown) => { if (!isEnoent(err)) throw err; });
    await fsyncDir(join(p.dir, 'segments'));
    this.#forget(p, expired, tombstone);
    this.#opts.log.info({ policy: p.key, segments: expired.map((s) => s.name), cut: tombstone.cut }, 'retention: removed expired segments');
    return { namespace: p.namespace, policy: p.policy, segmentsRemoved: expired.map((s) => s.name), recordsRemoved: expired.reduce((n, s) => n + s.refs.length, 0), cut: tombstone.cut };
  }

  async #seal(p: PolicyState): Promise<void> {
    const a = p.active;
    delete p.active;
    if (a?.fh !== undefined) {
      const fh = a.fh;
      delete a.fh;
      await fh.close();
    }
  }

  #forget(p: PolicyState, expired: Segment[], tombstone: Tombstone): void {
    p.segments = p.segments.slice(expired.length);
    p.tombstone = tombstone;
    p.version++;
    for (const ref of expired.flatMap((s) => s.refs)) {
      const chain = this.#chains.get(ref.chainId);
      chain?.refs.delete(ref.seq);
      const entry = this.#sessions.get(ref.namespace)?.get(ref.sessionId);
      if (entry === undefined) continue;
      entry.refs = entry.refs.filter((r) => r !== ref);
      entry.summary.truncated = true;
      if (entry.refs.length === 0) this.#sessions.get(ref.namespace)?.delete(ref.sessionId);
    }
    for (const chainId of Object.keys(tombstone.chains)) {
      const chain = this.#chains.get(chainId);
      if (chain !== undefined) chain.removed = mergeRanges([...this.#policies.values()].map((q) => q.tombstone?.chains[chainId] ?? []));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await new Promise<void>((resolve) => {
      this.#queue.push({ kind: 'exclusive', run: () => Promise.resolve(), resolve, reject: () => resolve() });
      this.#drain();
    });
    this.#closed = true;
    for (const p of this.#policies.values()) await this.#seal(p);
  }
}
