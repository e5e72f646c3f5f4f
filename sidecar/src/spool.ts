// The durable session spool: an append-only, hash-chained, signed record log on the pod's spool
// volume. A record is acknowledged (its append() resolves) once it is kept as its durability asks:
// `Synced` after write + fdatasync, `Written` after the write (in the kernel's page cache, which
// outlives the process), with the fdatasync following within SYNC_DELAY_MS. Records leave the
// spool only after they are synced and the operator has stored them durably (ack). Concurrent
// appends are group-committed: one write, and at most one fdatasync, for everything queued meanwhile.
//
// Files: identity.json (chain id and the Ed25519 private key, so a restarted process continues the
// same chain), acked.json (the operator's acknowledged position), seg-<first seq>.jsonl (records,
// one JSON per line). After a crash, a torn tail of the last segment is cut at the last complete,
// verifying record; such records were never acknowledged to anyone.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync, readdirSync, readFileSync, renameSync, statfsSync, writeFileSync, existsSync, unlinkSync, truncateSync } from 'node:fs';
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ChainWriter, GENESIS, exportPrivateJwk, generateSigningKey, importPublicKey, importSigningKey, verifyLink,
  type ChainPosition, type SessionEvent, type SignedRecord, type SigningKey,
} from '../../core/recording/index.ts';
import { errorMessage, type Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { JsonWebKey } from 'node:crypto';
import type { AccessPolicySpec } from '../../crds/types.ts';

export type SpoolRecord = SignedRecord<SessionEvent>;

/** When an append counts as kept: AccessPolicy spec.recording.durability. */
export type Durability = NonNullable<NonNullable<AccessPolicySpec['recording']>['durability']>;

/** How long a `Written` record may wait for its fdatasync (the node-crash window). */
export const SYNC_DELAY_MS = 10;

export class SpoolError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SpoolError';
  }
}

export interface SpoolOptions {
  dir: string;
  /** `<namespace>/<pod>`: a new chain is `<prefix>/<random>`. */
  chainPrefix: string;
  /** Roll to a new segment file beyond this size. */
  segmentBytes?: number;
  /** Unshipped records kept in memory for the shipper (beyond it, they are read back from disk). */
  memoryBytes?: number;
  /** Refuse appends when the volume has less free space than this. */
  minFreeBytes?: number;
  logger?: Logger;
  metrics?: Metrics;
  /** Test hook: throw from here to simulate a failing volume. */
  faults?: { beforeWrite?(): void; beforeSync?(): void };
}

interface Segment { start: number; end: number; file: string; size: number }
interface Pending { record: SpoolRecord; line: string; durability: Durability; resolve(r: SpoolRecord): void; reject(e: Error): void }
interface Identity { chainId: string; privateJwk: JsonWebKey }

/** Rough in-memory weight of a record, for the memory bound. */
function weight(r: SpoolRecord): number {
  return 1536 + 2 * ((r.command?.length ?? 0) + (r.result?.sample?.length ?? 0) + (r.reason?.length ?? 0));
}

const SEGMENT = /^seg-(\d{12})\.jsonl$/;
const segmentName = (start: number): string => `seg-${String(start).padStart(12, '0')}.jsonl`;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * writeAtomic without blocking the event loop: acknowledgements arrive while requests are being
 * served, and two synchronous fsyncs there stalled every connection for milliseconds.
 */
async function writeAtomicAsync(dir: string, name: string, content: string): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

function writeAtomic(dir: string, name: string, content: string): void {
  const tmp = join(dir, `.${name}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  fsyncDir(dir);
}

function loadIdentity(dir: string, chainPrefix: string): { identity: Identity; key: SigningKey; created: boolean } {
  const file = join(dir, 'identity.json');
  if (existsSync(file)) {
    const identity = JSON.parse(readFileSync(file, 'utf8')) as Identity;
    return { identity, key: importSigningKey(identity.privateJwk), created: false };
  }
  const key = generateSigningKey();
  const identity: Identity = { chainId: `${chainPrefix}/${randomBytes(6).toString('hex')}`, privateJwk: exportPrivateJwk(key) };
  writeAtomic(dir, 'identity.json', JSON.stringify(identity));
  return { identity, key, created: true };
}

interface Recovered { segments: Segment[]; last: ChainPosition | undefined; records: SpoolRecord[] }

/** Reads one segment's records after `expected`; cuts (or refuses) a bad tail. */
function recoverSegment(file: string, isLast: boolean, expected: ChainPosition, check: (r: SpoolRecord, e: ChainPosition) => string | undefined, log: Logger | undefined): { records: SpoolRecord[]; size: number } {
  const content = readFileSync(file);
  const records: SpoolRecord[] = [];
  let offset = 0;
  let position = expected;
  while (offset < content.length) {
    const nl = content.indexOf(0x0a, offset);
    const record = nl < 0 ? undefined : parseRecord(content.subarray(offset, nl).toString('utf8'));
    const problem = record === undefined ? 'incomplete or unreadable line' : check(record, position);
    if (problem !== undefined) {
      if (!isLast) throw new SpoolError(`spool segment ${file} is corrupt at byte ${offset} (${problem}) and is not the last segment: refusing to continue the chain`);
      log?.warn({ segment: file, offset, problem }, 'cutting the torn tail of the spool (records never acknowledged)');
      truncateSync(file, offset);
      break;
    }
    records.push(record!);
    position = { seq: record!.seq, head: record!.hash };
    offset = nl + 1;
  }
  return { records, size: offset };
}

/** Reads every segment, verifying the chain; cuts a torn tail of the last segment. */
function recoverSegments(dir: string, chainId: string, key: SigningKey, acked: ChainPosition, log: Logger | undefined): Recovered {
  const names = readdirSync(dir).filter((n) => SEGMENT.test(n)).sort();
  const publicKey = importPublicKey(key.publicJwk);
  const check = (r: SpoolRecord, e: ChainPosition): string | undefined => linkProblem(r, e, chainId, publicKey);
  const segments: Segment[] = [];
  const records: SpoolRecord[] = [];
  let position: ChainPosition | undefined;
  for (const [i, name] of names.entries()) {
    const file = join(dir, name);
    const start = Number(SEGMENT.exec(name)?.[1]);
    const expected = position ?? (start === acked.seq + 1 ? acked : { seq: start - 1, head: '' });
    const got = recoverSegment(file, i === names.length - 1, expected, check, log);
    records.push(...got.records);
    const last = got.records.at(-1);
    if (last !== undefined) position = { seq: last.seq, head: last.hash };
    segments.push({ start, end: position?.seq ?? start - 1, file, size: got.size });
  }
  return { segments, last: position, records };
}

function parseRecord(line: string): SpoolRecord | undefined {
  try {
    return JSON.parse(line) as SpoolRecord;
  } catch {
    return undefined;
  }
}

function linkProblem(record: SpoolRecord, expected: ChainPosition, chainId: string, publicKey: ReturnType<typeof importPublicKey>): string | undefined {
  // The first record of a segment after deleted (acked) ones has no known predecessor hash to check.
  const withHead = expected.head === '' ? { ...expected, head: record.prev } : expected;
  return verifyLink(record, { ...withHead, chainId }, publicKey);
}

export class Spool {
  readonly chainId: string;
  readonly key: SigningKey;
  readonly dir: string;
  readonly #opts: Required<Pick<SpoolOptions, 'segmentBytes' | 'memoryBytes' | 'minFreeBytes'>> & SpoolOptions;
  #writer: ChainWriter<SessionEvent>;
  /** Last record on stable storage: what may be shipped (the operator must never get a record a node crash could take back). */
  #durable: ChainPosition;
  /** Last record written to the segment file (>= #durable). */
  #written: ChainPosition;
  #syncTimer: NodeJS.Timeout | undefined;
  /** The background fdatasync in flight. It runs beside writes, not under the lock: appends never wait for the disk in Written mode. */
  #syncing: Promise<void> | undefined;
  #acked: ChainPosition;
  #segments: Segment[];
  #current: { fh: FileHandle; seg: Segment } | undefined;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #lock: Promise<unknown> = Promise.resolve();
  #memory: SpoolRecord[] = [];
  #memoryBytes = 0;
  #listeners = new Set<() => void>();
  #failure: string | undefined;
  #freeCheckedAt = 0;
  #probedAt = 0;
  #closed = false;

  private constructor(opts: SpoolOptions, identity: Identity, key: SigningKey, acked: ChainPosition, recovered: Recovered) {
    this.#opts = { segmentBytes: 8 * 1024 * 1024, memoryBytes: 8 * 1024 * 1024, minFreeBytes: 1024 * 1024, ...opts };
    this.dir = opts.dir;
    this.chainId = identity.chainId;
    this.key = key;
    this.#acked = acked;
    this.#durable = recovered.last !== undefined && recovered.last.seq >= acked.seq ? recovered.last : acked;
    this.#written = this.#durable;
    this.#writer = new ChainWriter<SessionEvent>(this.chainId, key, this.#durable);
    this.#segments = recovered.segments;
    for (const r of recovered.records) if (r.seq > acked.seq) this.#remember(r);
    opts.metrics?.spoolPending.set(this.pendingCount);
  }

  /** Opens (or creates) the spool in `dir`, recovering the chain position after a restart or crash. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const { identity, key, created } = loadIdentity(opts.dir, opts.chainPrefix);
    const ackedFile = join(opts.dir, 'acked.json');
    const acked = existsSync(ackedFile) ? (JSON.parse(readFileSync(ackedFile, 'utf8')) as ChainPosition) : { seq: 0, head: GENESIS };
    const recovered = recoverSegments(opts.dir, identity.chainId, key, acked, opts.logger);
    const spool = new Spool(opts, identity, key, acked, recovered);
    await spool.#reopenLast();
    opts.logger?.info({ chainId: spool.chainId, seq: spool.position.seq, acked: acked.seq, newChain: created }, 'spool open');
    return spool;
  }

  /** The last record on stable storage. */
  get position(): ChainPosition { return { ...this.#durable }; }
  get acked(): ChainPosition { return { ...this.#acked }; }
  get pendingCount(): number { return this.#durable.seq - this.#acked.seq; }

  /** Whether appends can be expected to succeed (the last write worked and the volume has room). */
  health(): { ok: true } | { ok: false; message: string } {
    if (this.#closed) return { ok: false, message: 'the session spool is closed (shutting down)' };
    const now = Date.now();
    if (this.#failure !== undefined && !this.#probe(now)) return { ok: false, message: `the session spool cannot be written: ${this.#failure}` };
    if (now - this.#freeCheckedAt > 1000) {
      this.#freeCheckedAt = now;
      try {
        const fs = statfsSync(this.dir);
        if (fs.bavail * fs.bsize < this.#opts.minFreeBytes) return { ok: false, message: `the session spool volume is full (${fs.bavail * fs.bsize} bytes free)` };
      } catch (err) {
        return { ok: false, message: `the session spool is not accessible: ${errorMessage(err)}` };
      }
    }
    return { ok: true };
  }

  /** After a failed write: at most once a second, checks whether the volume takes writes again. */
  #probe(now: number): boolean {
    if (now - this.#probedAt < 1000) return false;
    this.#probedAt = now;
    try {
      this.#opts.faults?.beforeWrite?.();
      const fd = openSync(join(this.dir, '.probe'), 'w', 0o600);
      try {
        writeFileSync(fd, String(now));
        this.#opts.faults?.beforeSync?.();
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.#failure = undefined;
      return true;
    } catch (err) {
      this.#failure = errorMessage(err);
      return false;
    }
  }

  /** Subscribes to durable appends (the shipper wakes up on them). */
  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Appends one event; resolves with the signed record once it is kept as `durability` asks. */
  append(event: SessionEvent, durability: Durability = 'Synced'): Promise<SpoolRecord> {
    if (this.#closed) return Promise.reject(new SpoolError('the session spool is closed'));
    const record = this.#writer.append(event);
    return new Promise<SpoolRecord>((resolve, reject) => {
      this.#queue.push({ record, line: `${JSON.stringify(record)}\n`, durability, resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#flushing !== undefined) return;
    this.#flushing = this.#flushLoop().finally(() => {
      this.#flushing = undefined;
      // Appends made while the loop was finishing.
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #flushLoop(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      const started = performance.now();
      const sync = batch.some((p) => p.durability === 'Synced');
      try {
        await this.#exclusive(() => this.#write(batch, sync));
        this.#failure = undefined;
        this.#opts.metrics?.spoolAppend.observe((performance.now() - started) / 1000);
        for (const p of batch) p.resolve(p.record);
        if (sync) this.#notify();
        else this.#scheduleSync();
      } catch (err) {
        this.#failBatch(batch, err);
      }
    }
  }

  #notify(): void {
    for (const l of this.#listeners) l();
  }

  /** The fdatasync that `Written` records were promised within SYNC_DELAY_MS. */
  #scheduleSync(): void {
    if (this.#syncTimer !== undefined) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      this.#syncWritten().then(() => this.#notify(), (err: unknown) => this.#syncFailed(err));
    }, SYNC_DELAY_MS);
  }

  /** Syncs everything written so far (a sync already in flight may not cover the latest writes). */
  async #syncWritten(): Promise<void> {
    while (this.#syncing !== undefined) await this.#syncing;
    const upTo = this.#written;
    const current = this.#current;
    if (upTo.seq <= this.#durable.seq || current === undefined) return;
    this.#syncing = (async () => {
      this.#opts.faults?.beforeSync?.();
      // Covers every write completed before it starts, so at least up to `upTo`.
      await current.fh.datasync();
      if (upTo.seq > this.#durable.seq) this.#durable = upTo;
      this.#opts.metrics?.spoolPending.set(this.pendingCount);
    })().finally(() => { this.#syncing = undefined; });
    await this.#syncing;
  }

  #syncFailed(err: unknown): void {
    // The answers of these records are out already; after a failed fsync the kernel may have
    // dropped their pages, so nothing further is answered until a probe write succeeds.
    this.#failure = errorMessage(err);
    this.#opts.metrics?.spoolFailures.inc(this.#written.seq - this.#durable.seq);
    this.#opts.logger?.error({ err: this.#failure, unsynced: this.#written.seq - this.#durable.seq }, 'spool fdatasync failed: records already answered may be lost if the node crashes; refusing requests until the volume recovers');
    // Try again without waiting for another append: these records cannot ship until synced.
    if (!this.#closed) setTimeout(() => this.#scheduleSync(), 1000).unref();
  }

  #failBatch(batch: Pending[], err: unknown): void {
    // Everything queued meanwhile was chained onto the failed records: it fails too, and the
    // chain continues from the last durable record.
    const failed = [...batch, ...this.#queue.splice(0)];
    this.#writer = new ChainWriter<SessionEvent>(this.chainId, this.key, this.#written);
    this.#failure = errorMessage(err);
    this.#opts.metrics?.spoolFailures.inc(failed.length);
    this.#opts.logger?.error({ err: this.#failure, records: failed.length }, 'spool write failed: the commands concerned fail');
    const error = new SpoolError(`the session spool cannot be written (${this.#failure}); recording is mandatory, so the command fails`, { cause: err });
    for (const p of failed) p.reject(error);
  }

  /**
   * One write for the batch, on the event loop: a page-cache write of a few KiB costs less than
   * the thread-pool round trip an asynchronous write takes. The fdatasync (when `sync`) does not
   * block the loop. A failed write or sync is cut back off the file and fails the whole batch.
   */
  async #write(batch: Pending[], sync: boolean): Promise<void> {
    const first = batch[0]!.record;
    const last = batch.at(-1)!.record;
    const current = await this.#segmentFor(first.seq);
    const buf = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
    const before = current.seg.size;
    try {
      this.#writeAll(current.fh, buf);
      if (sync) {
        this.#opts.faults?.beforeSync?.();
        await current.fh.datasync();
      }
    } catch (err) {
      await current.fh.truncate(before).catch(() => undefined);
      throw err;
    }
    current.seg.size += buf.length;
    current.seg.end = last.seq;
    this.#written = { seq: last.seq, head: last.hash };
    if (sync) this.#durable = this.#written;
    for (const p of batch) this.#remember(p.record);
    this.#opts.metrics?.spoolPending.set(this.pendingCount);
  }

  #writeAll(fh: FileHandle, buf: Buffer): void {
    this.#opts.faults?.beforeWrite?.();
    let offset = 0;
    while (offset < buf.length) offset += writeSync(fh.fd, buf, offset, buf.length - offset, null);
  }

  #remember(record: SpoolRecord): void {
    this.#memory.push(record);
    this.#memoryBytes += weight(record);
    while (this.#memoryBytes > this.#opts.memoryBytes && this.#memory.length > 1) {
      const dropped = this.#memory.shift()!;
      this.#memoryBytes -= weight(dropped);
    }
  }

  async #segmentFor(seq: number): Promise<{ fh: FileHandle; seg: Segment }> {
    if (this.#current !== undefined && this.#current.seg.size < this.#opts.segmentBytes) return this.#current;
    if (this.#current !== undefined) {
      // Written records in the segment being left get their sync now: later syncs cover only the new file.
      await this.#syncWritten();
      await this.#current.fh.close();
    }
    const seg: Segment = { start: seq, end: seq - 1, file: join(this.dir, segmentName(seq)), size: 0 };
    const fh = await open(seg.file, 'a', 0o600);
    fsyncDir(this.dir);
    this.#segments.push(seg);
    this.#current = { fh, seg };
    return this.#current;
  }

  async #reopenLast(): Promise<void> {
    const last = this.#segments.at(-1);
    if (last === undefined || last.size >= this.#opts.segmentBytes) return;
    this.#current = { fh: await open(last.file, 'a', 0o600), seg: last };
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /** Records after `seq` (exclusive), in order, bounded by count and bytes (at least one record). */
  async readAfter(seq: number, maxRecords: number, maxBytes: number): Promise<SpoolRecord[]> {
    const upTo = this.#durable.seq;
    if (seq >= upTo) return [];
    const firstInMemory = this.#memory[0]?.seq ?? Number.POSITIVE_INFINITY;
    const source = seq + 1 >= firstInMemory ? this.#memory.filter((r) => r.seq > seq && r.seq <= upTo) : await this.#readFromDisk(seq, upTo, maxRecords);
    const out: SpoolRecord[] = [];
    let bytes = 0;
    for (const r of source) {
      const size = JSON.stringify(r).length;
      if (out.length > 0 && (out.length >= maxRecords || bytes + size > maxBytes)) break;
      out.push(r);
      bytes += size;
    }
    return out;
  }

  async #readFromDisk(seq: number, upTo: number, maxRecords: number): Promise<SpoolRecord[]> {
    const out: SpoolRecord[] = [];
    for (const seg of this.#segments) {
      if (seg.end <= seq || out.length >= maxRecords) continue;
      const content = (await readFile(seg.file)).subarray(0, seg.size).toString('utf8');
      for (const line of content.split('\n')) {
        const r = line === '' ? undefined : parseRecord(line);
        if (r !== undefined && r.seq > seq && r.seq <= upTo) out.push(r);
      }
    }
    return out;
  }

  /** The operator stored everything up to `position`: forget it and delete whole segments. */
  async ack(position: ChainPosition): Promise<void> {
    if (position.seq <= this.#acked.seq) return;
    if (position.seq > this.#durable.seq) throw new SpoolError(`ack for seq ${position.seq} beyond the spool's last record ${this.#durable.seq}`);
    const known = this.#memory.find((r) => r.seq === position.seq);
    if (known !== undefined && known.hash !== position.head) throw new SpoolError(`the operator acknowledged seq ${position.seq} with hash ${position.head}, but the spool has ${known.hash} (fork)`);
    await this.#exclusive(async () => {
      // Another acknowledgement may have moved further while this one waited for the lock.
      if (position.seq <= this.#acked.seq) return;
      await writeAtomicAsync(this.dir, 'acked.json', JSON.stringify(position));
      this.#acked = { ...position };
      await this.#dropAcked();
    });
    this.#memory = this.#memory.filter((r) => r.seq > position.seq);
    this.#memoryBytes = this.#memory.reduce((n, r) => n + weight(r), 0);
    this.#opts.metrics?.spoolPending.set(this.pendingCount);
  }

  async #dropAcked(): Promise<void> {
    const keep: Segment[] = [];
    for (const seg of this.#segments) {
      const fullyAcked = seg.size > 0 && seg.end <= this.#acked.seq;
      if (!fullyAcked) {
        keep.push(seg);
        continue;
      }
      if (this.#current?.seg === seg) {
        while (this.#syncing !== undefined) await this.#syncing.catch(() => undefined);
        await this.#current.fh.close();
        this.#current = undefined;
      }
      await unlink(seg.file).catch(() => undefined);
    }
    this.#segments = keep;
  }

  /**
   * Waits for queued appends and syncs every written record now, without the SYNC_DELAY_MS wait:
   * `Written` records count as pending (shippable) only once synced, so a final flush that did
   * not settle first could see nothing pending while the last answers were still unsynced.
   */
  async settle(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
    await this.#syncWritten();
    this.#notify();
  }

  /** Waits for queued appends, then closes the segment file. Later appends are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#flushing !== undefined) await this.#flushing;
    this.#closed = true;
    clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    await this.#exclusive(async () => {
      await this.#syncWritten().catch((err: unknown) => this.#syncFailed(err));
      await this.#current?.fh.close();
      this.#current = undefined;
    });
  }
}

/** Deletes a spool directory's files (tests). */
export function wipeSpool(dir: string): void {
  for (const name of readdirSync(dir)) unlinkSync(join(dir, name));
}
