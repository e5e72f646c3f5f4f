// The durable session spool: an append-only, hash-chained Merkle log of records on the pod's spool
// volume. A record is acknowledged (its append() resolves) once it is kept as its durability asks:
// `Synced` after write + fdatasync, `Written` after the write (in the kernel's page cache, which
// outlives the process), with the fdatasync following within SYNC_DELAY_MS. Records leave the
// spool only after they are synced and the operator has stored them durably (ack). Concurrent
// appends are group-committed: one write, at most one fdatasync and ONE Ed25519 signature (a
// checkpoint over the chain's Merkle tree, docs/recording.md) for everything queued meanwhile
// (at most GROUP_RECORDS records / GROUP_BYTES bytes per group, so a group always fits a batch).
//
// Files: identity.json (format, chain id and the Ed25519 private key, so a restarted process
// continues the same chain), acked.json (the operator's acknowledged position), seg-<first seq>.jsonl:
// a header line (the tree's frontier and the chain head before the segment's first record), then per
// commit group its records and one checkpoint line (the signed note; the tree after it is recomputed
// from the header and the records, so a group of one record costs one short line more). After a crash, a torn tail of the last segment is cut after its last complete, verifying
// checkpoint; the records after it were never acknowledged to anyone.
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, ftruncateSync, openSync, writeSync, readdirSync, readFileSync, renameSync, statfsSync, writeFileSync, existsSync, unlinkSync, truncateSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  ChainWriter, GENESIS, exportPrivateJwk, generateSigningKey, importPublicKey, importSigningKey, verifyLink,
  type ChainPosition, type LeafRecord, type SessionEvent, type SigningKey,
} from '../../core/recording/index.ts';
import { ChainTree } from '../../core/recording/chain-tree.ts';
import { checkChainCheckpoint, checkpointVerifier, signChainCheckpoint } from '../../core/recording/chain-checkpoint.ts';
import { parseCheckpoint } from '../../core/recording/checkpoint.ts';
import { SPOOL_GROUP_BYTES, SPOOL_SEGMENT_BYTES } from '../../core/recording/spool-budget.ts';
import { errorMessage, type Logger } from './log.ts';
import { overlapOf, SyncPlacement } from './sync-placement.ts';
import type { Metrics } from './metrics.ts';
import type { JsonWebKey } from 'node:crypto';
import type { AccessPolicySpec } from '../../crds/types.ts';

export type SpoolRecord = LeafRecord<SessionEvent>;

/**
 * What the shipper sends: records ending at a checkpoint, and that checkpoint (signed note).
 * `lines[i]` is records[i] as JSON, as the spool wrote it (canonical JSON, hash last), so the batch
 * body is made without serializing each record again.
 */
export interface SpoolBatch { records: SpoolRecord[]; lines: string[]; checkpoint: string | undefined }

/**
 * A record's JSON line as written or read, beside it (never in a WeakMap keyed by the record: its
 * ephemeron entries cost the garbage collector ~2 µs per record on the append path); a record the
 * spool did not write or read as text has none and is serialized.
 */
const lineOf = (r: SpoolRecord, line: string | undefined): string => line ?? JSON.stringify(r);

/**
 * The records one checkpoint covers (and so one commit group) are capped so that they always fit
 * one ingest batch: the shipper sends whole signed windows.
 */
export const GROUP_RECORDS = 256;
export const GROUP_BYTES = SPOOL_GROUP_BYTES;
/**
 * How long the first record of a signing window waits for its checkpoint. It bounds how late a
 * record can ship (the shipper sends only records ending at a checkpoint; when it has nothing
 * signed to send it has the window signed at once) and costs at most 1000 / 50 = 20 signatures a
 * second below the cap (~1 ms of CPU). The operator anchors every 15 s: 50 ms is invisible there.
 */
export const CHECKPOINT_WINDOW_MS = 50;
const SPOOL_FORMAT = 'guarita-spool/v2';

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
  /**
   * Bytes the spool's files may take at most (GUARITA_SPOOL_MAX_BYTES; the injector sets it below
   * the emptyDir's sizeLimit). kubelet does not make a full emptyDir refuse writes (ENOSPC): it
   * evicts the pod once the volume's usage exceeds sizeLimit, losing every unshipped record. So
   * the spool refuses to open a segment that could take it past this budget and fails the group
   * closed instead, with a message naming the budget, until shipped segments free room.
   */
  maxBytes?: number;
  /** How long a signing window stays open (default CHECKPOINT_WINDOW_MS). */
  checkpointWindowMs?: number;
  /** A Synced group's sync this long (ms) keeps syncs off the event loop (default SLOW_SYNC_MS, sync-placement.ts). */
  slowSyncMs?: number;
  logger?: Logger;
  metrics?: Metrics;
  /**
   * Test hooks: throw from before* to simulate a failing volume; loopActiveMs replaces the event
   * loop's measured busy time during a thread-pool sync (a loaded test machine reads as busy).
   */
  faults?: { beforeWrite?(): void; beforeSync?(where?: 'loop' | 'pool'): void; beforePresize?(): void; loopActiveMs?(measured: number): number };
}

/**
 * `size`: the segment's logical end (its bytes of data). `presized`: the length the open segment's
 * file was zero-filled to ahead of its data (0: not pre-sized, it grows with each write).
 */
interface Segment { start: number; end: number; file: string; size: number; presized: number }
/** How an append learns its outcome: a promise's resolvers. */
interface Settlement { resolve(r: SpoolRecord): void; reject(e: Error): void }
/** `json`: the record's JSON line; `line`: it with its newline, as written. */
interface Pending { record: SpoolRecord; json: string; line: string; durability: Durability; settle: Settlement }
interface Identity { format?: string; chainId: string; privateJwk: JsonWebKey }
/** A signed checkpoint line: the note over the tree of every record before it. */
interface CheckpointLine { checkpoint: string }
interface HeaderLine { segment: { format: string; start: number; prev: string; frontier: string[] } }

/** Rough in-memory weight of a record (and its line), for the memory bound. */
function weight(r: SpoolRecord, line: string | undefined): number {
  return 1536 + (line?.length ?? 0) + 2 * ((r.command?.length ?? 0) + (r.result?.sample?.length ?? 0) + (r.reason?.length ?? 0));
}

const SEGMENT = /^seg-(\d{12})\.jsonl$/;
const segmentName = (start: number): string => `seg-${String(start).padStart(12, '0')}.jsonl`;

/**
 * Pre-sizing. The open segment is zero-filled to segmentBytes ahead of its data and synced before
 * its first group: an fdatasync after a write inside the file then flushes the data pages only,
 * where one after an append also commits the file's new size to the journal (a write + fdatasync of
 * ~700 bytes: 89-122 µs wall / 35-44 µs CPU pre-sized against 129-318 µs / 55-73 µs appending, on
 * this ext4 volume; PostgreSQL pre-allocates its WAL segments for the same reason). Zeros, not a
 * sparse ftruncate (145-179 µs): writing into a hole allocates blocks at the sync, and a full volume
 * fails the fill, before any record, rather than a later write. A segment's data therefore ends at
 * its first NUL byte: a record, header or checkpoint line never holds one (JSON escapes U+0000 as
 * \u0000, spool-recovery-attacks.test.ts proves it). A segment left for the next one, and the open
 * one at close, is cut to its data.
 */
const ZERO_CHUNK = 64 * 1024;

/** Writes zeros over [from, to) of `fh` on the thread pool (one writev per 64 MiB), then fdatasyncs. */
async function zeroFill(fh: FileHandle, from: number, to: number): Promise<void> {
  const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, Math.max(0, to - from)));
  let at = from;
  while (at < to) {
    const chunks: Buffer[] = [];
    for (let planned = at; planned < to && chunks.length < 1024; planned += ZERO_CHUNK) chunks.push(zeros.subarray(0, Math.min(ZERO_CHUNK, to - planned)));
    const { bytesWritten } = await fh.writev(chunks, at);
    if (bytesWritten <= 0) throw new SpoolError(`zero-filling ${to - at} bytes at offset ${at} wrote nothing`);
    at += bytesWritten;
  }
  await fh.datasync();
}

/** `fn()` as a promise, its synchronous throw a rejection (what `.then(fn)` would give). */
function runNow<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** fdatasync on libuv's thread pool, settled from its completion callback. */
function datasyncOnPool(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasync(fd, (err) => {
      if (err === null) resolve();
      else reject(err);
    });
  });
}

/** Where a segment's data ends: its first NUL byte (the zero tail of a pre-sized segment), else its length. */
function dataEnd(content: Buffer): number {
  const nul = content.indexOf(0);
  return nul < 0 ? content.length : nul;
}

/** Whether `content` holds a non-zero byte at or after `from` (compared 64 KiB at a time, natively). */
function nonZeroAfter(content: Buffer, from: number): boolean {
  const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, Math.max(0, content.length - from)));
  for (let at = from; at < content.length; at += ZERO_CHUNK) {
    const part = content.subarray(at, Math.min(content.length, at + ZERO_CHUNK));
    if (!part.equals(zeros.subarray(0, part.length))) return true;
  }
  return false;
}

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

/**
 * A spool written by a sidecar before issue 19 (format 1: one signature per record, no tree): the
 * tree of its chain cannot be resumed without the records already shipped and deleted. With
 * nothing left to ship it is retired and a new chain starts; with unshipped records it is refused
 * (losing them silently is not an option).
 */
function retireLegacy(dir: string, acked: number, log: Logger | undefined): void {
  const names = readdirSync(dir).filter((n) => SEGMENT.test(n));
  const lastSeq = names.flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n')).reduce((max, line) => Math.max(max, parseRecord(line)?.seq ?? 0), 0);
  if (lastSeq > acked) {
    throw new SpoolError(`the spool in ${dir} was written by an older sidecar (format 1) and holds ${lastSeq - acked} records the operator has not stored: run the previous sidecar image until they are shipped (spoolPending 0 in /readyz), then this one`);
  }
  for (const n of [...names, 'acked.json', 'identity.json']) if (existsSync(join(dir, n))) unlinkSync(join(dir, n));
  fsyncDir(dir);
  log?.warn({ dir, shippedRecords: acked }, 'retired a fully shipped spool of an older sidecar (format 1); a new chain starts');
}

function loadIdentity(dir: string, chainPrefix: string, log: Logger | undefined): { identity: Identity; key: SigningKey; created: boolean } {
  const file = join(dir, 'identity.json');
  if (existsSync(file)) {
    const identity = JSON.parse(readFileSync(file, 'utf8')) as Identity;
    if (identity.format === SPOOL_FORMAT) return { identity, key: importSigningKey(identity.privateJwk), created: false };
    const ackedFile = join(dir, 'acked.json');
    retireLegacy(dir, existsSync(ackedFile) ? (JSON.parse(readFileSync(ackedFile, 'utf8')) as ChainPosition).seq : 0, log);
  }
  const key = generateSigningKey();
  const identity: Identity = { format: SPOOL_FORMAT, chainId: `${chainPrefix}/${randomBytes(6).toString('hex')}`, privateJwk: exportPrivateJwk(key) };
  writeAtomic(dir, 'identity.json', JSON.stringify(identity));
  return { identity, key, created: true };
}

interface Recovered {
  segments: Segment[];
  /** Chain position and tree after the last complete commit group (undefined: no segment). */
  last: { position: ChainPosition; tree: ChainTree } | undefined;
  records: SpoolRecord[];
  /** Signed notes by tree size. */
  checkpoints: Map<number, string>;
  /** Tree size of the newest checkpoint on disk (records after it: an unsigned tail, signed at open). */
  signed: number;
}

type SpoolLine = { kind: 'record'; record: SpoolRecord } | { kind: 'checkpoint'; line: CheckpointLine } | { kind: 'header'; header: HeaderLine['segment'] };

function parseLine(text: string): SpoolLine | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Partial<CheckpointLine & HeaderLine & SpoolRecord>;
  if (typeof o.checkpoint === 'string') return { kind: 'checkpoint', line: o as CheckpointLine };
  if (o.segment !== undefined && typeof o.segment === 'object') return { kind: 'header', header: o.segment };
  if (typeof o.seq === 'number' && typeof o.hash === 'string') return { kind: 'record', record: o as SpoolRecord };
  return undefined;
}

function parseRecord(text: string): SpoolRecord | undefined {
  const l = parseLine(text);
  return l?.kind === 'record' ? l.record : undefined;
}

interface SegmentScan {
  records: SpoolRecord[];
  checkpoints: Map<number, string>;
  /** Byte length of the verified prefix. */
  size: number;
  /** Where the chain and tree stand after the verified prefix (undefined: not even a header). */
  end: { position: ChainPosition; tree: ChainTree } | undefined;
  /** Tree size of the last verified checkpoint in the segment (0: none). */
  signed: number;
  problem?: { offset: number; what: string };
}

/**
 * Reads one segment: its header (where the chain and tree stand before it), then records, each
 * kept once it verifies alone (its content hashes to its `hash`, `prev` is the record before it,
 * `seq` follows: what ingest checks), and checkpoint lines, each kept once it verifies against the
 * tree of the records before it (size, root, signature by the chain key). Records after the last
 * checkpoint are the unsigned tail of a signing window (the caller decides whether one may stand
 * there). Stops at the first problem; `scan.size` is the byte length of the verified prefix.
 */
class SegmentScanner {
  readonly scan: SegmentScan = { records: [], checkpoints: new Map(), size: 0, end: undefined, signed: 0 };
  readonly #chainId: string;
  readonly #keyId: string;
  readonly #publicKey: ReturnType<typeof importPublicKey>;
  readonly #verifier: ReturnType<typeof checkpointVerifier>;
  readonly #expected: ChainPosition | undefined;
  readonly #owner: Owner | undefined;
  #position: ChainPosition | undefined;
  #tree: ChainTree | undefined;

  constructor(chainId: string, key: SigningKey, expected: ChainPosition | undefined, owner: Owner | undefined) {
    this.#chainId = chainId;
    this.#owner = owner;
    this.#keyId = key.keyId;
    this.#publicKey = importPublicKey(key.publicJwk);
    this.#verifier = checkpointVerifier(key.publicJwk, key.keyId);
    this.#expected = expected;
  }

  /** Takes one line (`end`: the offset after its newline); a problem stops the scan. */
  line(line: SpoolLine | undefined, offset: number, end: number): string | undefined {
    if (line === undefined) return 'incomplete or unreadable line';
    if (line.kind === 'header') return offset === 0 ? this.#header(line.header, end) : 'a segment header in the middle of a segment';
    if (this.#position === undefined || this.#tree === undefined) return 'no segment header';
    return line.kind === 'record' ? this.#record(line.record, this.#position, this.#tree, end) : this.#checkpoint(line.line, this.#position, this.#tree, end);
  }

  #header(h: HeaderLine['segment'], end: number): string | undefined {
    if (h.format !== SPOOL_FORMAT) return `unexpected segment header (format ${String(h.format)})`;
    const e = this.#expected;
    if (e !== undefined && (h.start !== e.seq + 1 || h.prev !== e.head)) return `segment starts at seq ${h.start} after ${String(h.prev).slice(0, 12)}…, the previous segment ends at seq ${e.seq}`;
    try {
      this.#tree = ChainTree.resume(h.start - 1, h.frontier);
    } catch (err) {
      return errorMessage(err);
    }
    this.#position = { seq: h.start - 1, head: h.prev };
    // Segments are closed with a checkpoint: everything before this one's first record is signed.
    this.scan.signed = h.start - 1;
    this.#commit(end);
    return undefined;
  }

  #record(record: SpoolRecord, position: ChainPosition, tree: ChainTree, end: number): string | undefined {
    const problem = verifyLink(record, { ...position, chainId: this.#chainId }, this.#publicKey);
    if (problem !== undefined) return `record seq ${String(record.seq)}: ${problem}`;
    // verifyLink leaves keyId to the caller; ingest refuses a record naming another key, so a tail
    // record re-hashed with one must not be signed at open (it would block the shipper for good).
    if (record.keyId !== this.#keyId) return `record seq ${record.seq}: keyId ${JSON.stringify(String(record.keyId).slice(0, 64))} is not the chain key's`;
    // Likewise a record naming another namespace or pod than this one, which the shipper registers the chain for.
    const owner = this.#owner;
    if (owner !== undefined && (record.namespace !== owner.namespace || record.pod !== owner.pod)) {
      return `record seq ${record.seq}: namespace/pod ${JSON.stringify(`${String(record.namespace)}/${String(record.pod)}`.slice(0, 128))} is not this pod's (${owner.namespace}/${owner.pod})`;
    }
    tree.append(record.hash);
    this.#position = { seq: record.seq, head: record.hash };
    this.scan.records.push(record);
    this.#commit(end);
    return undefined;
  }

  #checkpoint(line: CheckpointLine, position: ChainPosition, tree: ChainTree, end: number): string | undefined {
    const bad = checkChainCheckpoint(line.checkpoint, { origin: this.#chainId, size: position.seq, root: tree.root(), verifier: this.#verifier });
    if (bad !== undefined) return `checkpoint at seq ${position.seq}: ${bad.problem}: ${bad.detail}`;
    this.scan.checkpoints.set(position.seq, line.checkpoint);
    this.scan.signed = position.seq;
    this.#commit(end);
    return undefined;
  }

  #commit(end: number): void {
    this.scan.size = end;
    this.scan.end = { position: this.#position!, tree: this.#tree! };
  }
}

/** The namespace and pod every record of this spool names (the pod's own: the spool is its emptyDir). */
interface Owner { namespace: string; pod: string }

/** The owner a chain prefix `<namespace>/<pod>` names (undefined: not of that form, nothing checked). */
function ownerOf(chainPrefix: string): Owner | undefined {
  const slash = chainPrefix.indexOf('/');
  if (slash <= 0 || slash === chainPrefix.length - 1 || chainPrefix.includes('/', slash + 1)) return undefined;
  return { namespace: chainPrefix.slice(0, slash), pod: chainPrefix.slice(slash + 1) };
}

function scanSegment(content: Buffer, chainId: string, key: SigningKey, expected: ChainPosition | undefined, owner: Owner | undefined): SegmentScan {
  const scanner = new SegmentScanner(chainId, key, expected, owner);
  let offset = 0;
  while (offset < content.length) {
    const nl = content.indexOf(0x0a, offset);
    const problem = scanner.line(nl < 0 ? undefined : parseLine(content.subarray(offset, nl).toString('utf8')), offset, nl + 1);
    if (problem !== undefined) return { ...scanner.scan, problem: { offset: scanner.scan.size, what: problem } };
    offset = nl + 1;
  }
  return scanner.scan;
}

/**
 * The newest time among the recovered checkpoints: after a restart, checkpoint times continue from
 * it even when the clock stepped back meanwhile (guarita verify reads a larger checkpoint dated
 * before a smaller one as a rollback).
 */
function latestCheckpointTime(notes: ReadonlyMap<number, string>): number {
  let latest = 0;
  for (const note of notes.values()) {
    const time = Date.parse(parseCheckpoint(note).checkpoint.time ?? '');
    if (Number.isFinite(time)) latest = Math.max(latest, time);
  }
  return latest;
}

/**
 * Cuts the last segment at its first torn or non-verifying line, with everything after it. Torn:
 * records never answered; not verifying: altered, and neither can be chained on nor would the
 * operator take it. Logged with what and where, and counted.
 */
function cutAt(file: string, length: number, scan: SegmentScan, log: Logger | undefined, metrics: Metrics | undefined): void {
  log?.warn({ segment: file, offset: scan.size, cutBytes: length - scan.size, problem: scan.problem?.what, keptSeq: scan.end?.position.seq }, 'cutting the spool at a torn or non-verifying line (with everything after it)');
  metrics?.spoolRecoveryCuts.inc();
  truncateSync(file, scan.size);
}

/**
 * A cut below what the operator acknowledged would continue the chain from an earlier record and
 * fork what it stored: refused, the file left as it is for inspection.
 */
function refuseCutBelow(acked: ChainPosition, file: string, scan: SegmentScan): void {
  const kept = scan.end?.position.seq ?? 0;
  if (kept < acked.seq) throw new SpoolError(`spool segment ${file} is corrupt at byte ${scan.problem?.offset} (${scan.problem?.what}), before seq ${acked.seq} the operator acknowledged (it verifies up to seq ${kept}): refusing to continue the chain; move the spool away to start a new chain`);
}

/**
 * Scans a segment file's data: up to its first NUL byte (the zero tail of a pre-sized segment, or
 * none in one an older sidecar appended). Zeros followed by data are a problem at the first NUL.
 */
function scanSegmentFile(content: Buffer, chainId: string, key: SigningKey, expected: ChainPosition | undefined, owner: Owner | undefined): SegmentScan {
  const data = dataEnd(content);
  const scan = scanSegment(content.subarray(0, data), chainId, key, expected, owner);
  if (data < content.length && nonZeroAfter(content, data)) {
    // Zeros, then data: a node crash kept a later page of the file but not an earlier one. Every
    // answered Synced record and every synced line lies before the first page never synced, so
    // what follows the zeros is unsynced `Written` data at most, never ahead of the first NUL.
    const stray = `non-zero bytes after the NUL byte at ${data} (pages written after a part never synced: unsynced records at most)`;
    scan.problem = { offset: scan.size, what: scan.problem === undefined ? stray : `${scan.problem.what}, and ${stray}` };
  }
  return scan;
}

/**
 * After a segment's scan: a problem in the last segment is cut with everything after it (one in
 * another segment, or below the acknowledged position, refused); a bare zero tail (the open
 * segment at a kill, or a closed one whose cut at close did not reach the disk) is cut to the
 * data, silently: the open segment is zero-filled again at resume.
 */
function repairSegment(file: string, length: number, scan: SegmentScan, isLast: boolean, acked: ChainPosition, log: Logger | undefined, metrics: Metrics | undefined): void {
  if (scan.problem !== undefined) {
    if (!isLast) throw new SpoolError(`spool segment ${file} is corrupt at byte ${scan.problem.offset} (${scan.problem.what}) and is not the last segment: refusing to continue the chain`);
    refuseCutBelow(acked, file, scan);
    cutAt(file, length, scan, log, metrics);
  } else if (scan.size < length) {
    truncateSync(file, scan.size);
  }
}

/**
 * Reads every segment, verifying the chain and its checkpoints. In the last segment, a torn or
 * non-verifying line is cut with everything after it (logged, counted), and complete records that
 * verify after the last checkpoint are kept (the caller signs a checkpoint over them). Anywhere
 * else a problem, or records left without a checkpoint, stop the sidecar: the chain cannot continue.
 */
function recoverSegments(dir: string, chainId: string, key: SigningKey, acked: ChainPosition, owner: Owner | undefined, log: Logger | undefined, metrics: Metrics | undefined): Recovered {
  const names = readdirSync(dir).filter((n) => SEGMENT.test(n)).sort();
  const out: Recovered = { segments: [], last: undefined, records: [], checkpoints: new Map(), signed: 0 };
  for (const [i, name] of names.entries()) {
    const file = join(dir, name);
    const start = Number(SEGMENT.exec(name)?.[1]);
    const content = readFileSync(file);
    const scan = scanSegmentFile(content, chainId, key, out.last?.position, owner);
    const isLast = i === names.length - 1;
    repairSegment(file, content.length, scan, isLast, acked, log, metrics);
    if (scan.end === undefined) {
      // Not even a complete header: the first write into this segment was cut short.
      unlinkSync(file);
      continue;
    }
    if (!isLast && scan.signed !== scan.end.position.seq) {
      // A segment is closed with a checkpoint over its last record (synced) before the next one is created.
      throw new SpoolError(`spool segment ${file} ends at seq ${scan.end.position.seq} without a checkpoint over its records (the last covers seq ${scan.signed}) and is not the last segment: refusing to continue the chain`);
    }
    out.records.push(...scan.records);
    for (const [size, note] of scan.checkpoints) out.checkpoints.set(size, note);
    out.signed = scan.signed;
    out.last = scan.end;
    out.segments.push({ start, end: scan.end.position.seq, file, size: scan.size, presized: 0 });
  }
  return out;
}

export class Spool {
  readonly chainId: string;
  readonly key: SigningKey;
  readonly dir: string;
  readonly #opts: Required<Pick<SpoolOptions, 'segmentBytes' | 'memoryBytes' | 'minFreeBytes'>> & SpoolOptions;
  #writer: ChainWriter<SessionEvent>;
  /** The chain's Merkle tree up to #written (leaves appended when a group is written; its root computed only to sign). */
  #tree: ChainTree;
  /** Signed checkpoints (by tree size) of records not yet acknowledged, for the shipper. */
  #checkpoints = new Map<number, string>();
  /** Tree size of the last checkpoint line written: records after it form the open signing window. */
  #signed = 0;
  /** UTF-8 bytes of the record lines in the open window (the 1 MiB cap, counted as groups count it). */
  #unsignedBytes = 0;
  /** Tree size of the last checkpoint line on stable storage: the shipper's limit. */
  #durableSigned = 0;
  /** The open window's deadline (CHECKPOINT_WINDOW_MS after its first record), or its cap reached. */
  #windowTimer: NodeJS.Timeout | undefined;
  #windowImmediate: NodeJS.Immediate | undefined;
  readonly #placement: SyncPlacement;
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
  /** The flush of this turn's appends, at the end of the event loop's poll phase (see append). */
  #flushImmediate: NodeJS.Immediate | undefined;
  readonly #flushAtTurnEnd = (): void => {
    this.#flushImmediate = undefined;
    this.#kick();
  };
  #lock: Promise<unknown> = Promise.resolve();
  /** Lock holders queued or running: with none, a group may be written at once, without taking the lock (no await in between). */
  #lockHolders = 0;
  readonly #releaseLock = (): void => {
    this.#lockHolders--;
  };
  #memory: SpoolRecord[] = [];
  /** #memory[i]'s JSON line (undefined: a recovered record, serialized when shipped). */
  #memoryLines: (string | undefined)[] = [];
  #memoryBytes = 0;
  #listeners = new Set<() => void>();
  #failure: string | undefined;
  /** The time of the last checkpoint signed: checkpoint times never go back (a wall-clock step back would otherwise read as a rollback to `guarita verify`). */
  #lastCheckpointAt = 0;
  #freeCheckedAt = 0;
  #probedAt = 0;
  #closed = false;

  private constructor(opts: SpoolOptions, identity: Identity, key: SigningKey, acked: ChainPosition, recovered: Recovered) {
    this.#opts = { segmentBytes: SPOOL_SEGMENT_BYTES, memoryBytes: 8 * 1024 * 1024, minFreeBytes: 1024 * 1024, ...opts };
    this.dir = opts.dir;
    this.#placement = new SyncPlacement(opts.slowSyncMs);
    this.chainId = identity.chainId;
    this.key = key;
    this.#acked = acked;
    const resumed = resumePoint(opts.dir, acked, recovered);
    this.#durable = resumed.position;
    this.#tree = resumed.tree;
    this.#written = this.#durable;
    this.#writer = new ChainWriter<SessionEvent>(this.chainId, key, this.#durable);
    this.#segments = recovered.segments;
    for (const r of recovered.records) if (r.seq > acked.seq) this.#remember(r, undefined);
    for (const [size, note] of recovered.checkpoints) if (size > acked.seq) this.#checkpoints.set(size, note);
    this.#lastCheckpointAt = latestCheckpointTime(recovered.checkpoints);
    this.#signed = Math.min(recovered.signed, this.#tree.size);
    opts.metrics?.spoolPending.set(this.pendingCount);
  }

  /** Opens (or creates) the spool in `dir`, recovering the chain position after a restart or crash. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const { identity, key, created } = loadIdentity(opts.dir, opts.chainPrefix, opts.logger);
    const ackedFile = join(opts.dir, 'acked.json');
    const acked = existsSync(ackedFile) ? (JSON.parse(readFileSync(ackedFile, 'utf8')) as ChainPosition) : { seq: 0, head: GENESIS };
    const recovered = recoverSegments(opts.dir, identity.chainId, key, acked, ownerOf(opts.chainPrefix), opts.logger, opts.metrics);
    const spool = new Spool(opts, identity, key, acked, recovered);
    await spool.#resume();
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
    // A full open segment and no room for the next: the next append fails (a probe write would pass).
    if (this.#current === undefined || this.#current.seg.size >= this.#opts.segmentBytes) {
      const problem = this.#budgetProblem();
      if (problem !== undefined) return { ok: false, message: problem };
    }
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

  /**
   * Appends one event; resolves with the chained record once it is kept as `durability` asks.
   *
   * The group is flushed at the end of this turn of the event loop (setImmediate runs after the
   * poll phase), not at the next microtask: the answers of all the connections whose data one
   * epoll wake-up delivered are recorded by one write(2) (and, Synced, one fdatasync) instead of
   * one each. An answer waits for the rest of the turn's callbacks, microseconds.
   */
  append(event: SessionEvent, durability: Durability = 'Synced'): Promise<SpoolRecord> {
    if (this.#closed) return Promise.reject(new SpoolError('the session spool is closed'));
    const { record, line } = this.#writer.appendWithLine(event);
    const settle = Promise.withResolvers<SpoolRecord>();
    this.#queue.push({ record, json: line, line: `${line}\n`, durability, settle });
    if (this.#flushing === undefined) this.#flushImmediate ??= setImmediate(this.#flushAtTurnEnd);
    return settle.promise;
  }

  /** Flushes the queue now: the groups that can be written at once are, the rest by the flush loop. */
  #kick(): void {
    if (this.#flushImmediate !== undefined) {
      clearImmediate(this.#flushImmediate);
      this.#flushImmediate = undefined;
    }
    if (this.#flushing !== undefined) return;
    while (this.#queue.length > 0 && this.#writeGroupNow()) { /* next group */ }
    if (this.#queue.length === 0) return;
    this.#flushing = this.#flushLoop().finally(() => {
      this.#flushing = undefined;
      // Appends made while the loop was finishing.
      if (this.#queue.length > 0) this.#kick();
    });
  }

  /**
   * The next commit group: its length and whether the open window is signed first. A group never
   * overfills the open signing window (one checkpoint's records fit one ingest batch). When the
   * window is full and records are queued (a backlog), its checkpoint is signed before the next
   * group: once per GROUP_RECORDS records at most.
   */
  #nextGroup(): { length: number; signFirst: boolean; sync: boolean } {
    let length = groupLength(this.#queue, GROUP_RECORDS - (this.#tree.size - this.#signed), GROUP_BYTES - this.#unsignedBytes);
    const signFirst = length === 0;
    if (signFirst) length = groupLength(this.#queue, GROUP_RECORDS, GROUP_BYTES);
    let sync = false;
    for (let i = 0; i < length && !sync; i++) sync = this.#queue[i]!.durability === 'Synced';
    return { length, signFirst, sync };
  }

  /**
   * Writes the next group at once when nothing needs waiting for: no lock holder (an ack, a
   * checkpoint, another group) queued or running, an open segment with room, and no fdatasync to
   * wait for (only `Written` records). The same write, checks and failure handling as the flush
   * loop's, without its promises: the common `Written` case. False (nothing taken) otherwise.
   */
  #writeGroupNow(): boolean {
    const current = this.#current;
    if (this.#lockHolders > 0 || current === undefined || current.seg.size >= this.#opts.segmentBytes) return false;
    const { length, signFirst, sync } = this.#nextGroup();
    if (sync) return false;
    const batch = this.#queue.splice(0, length);
    const started = performance.now();
    try {
      if (signFirst) this.#writeCheckpoint();
      this.#writeGroup(current, batch);
    } catch (err) {
      this.#failBatch(batch, err);
      return true;
    }
    this.#groupKept(batch, started, false);
    return true;
  }

  async #flushLoop(): Promise<void> {
    while (this.#queue.length > 0) {
      if (this.#writeGroupNow()) continue;
      const { length, signFirst, sync } = this.#nextGroup();
      const batch = this.#queue.splice(0, length);
      const started = performance.now();
      try {
        await this.#exclusive(async () => {
          if (signFirst) this.#writeCheckpoint();
          await this.#write(batch, sync);
        });
      } catch (err) {
        this.#failBatch(batch, err);
        continue;
      }
      this.#groupKept(batch, started, sync);
    }
  }

  /** A group is kept as asked: answer its appends, then the sync `Written` records were promised and the window's deadline. */
  #groupKept(batch: readonly Pending[], started: number, synced: boolean): void {
    this.#failure = undefined;
    this.#opts.metrics?.spoolAppend.observe((performance.now() - started) / 1000);
    for (const p of batch) p.settle.resolve(p.record);
    if (synced) this.#notify();
    else this.#scheduleSync();
    this.#windowAfterWrite();
  }

  /**
   * After a group: the open window is signed when it reaches its cap (on the next turn of the
   * event loop, after the group's answers went out), else CHECKPOINT_WINDOW_MS after its first record.
   */
  #windowAfterWrite(): void {
    if (this.#tree.size <= this.#signed) return;
    if (this.#tree.size - this.#signed >= GROUP_RECORDS || this.#unsignedBytes >= GROUP_BYTES) {
      this.#windowImmediate ??= setImmediate(() => this.#signWindow());
      return;
    }
    this.#windowTimer ??= setTimeout(() => this.#signWindow(), this.#opts.checkpointWindowMs ?? CHECKPOINT_WINDOW_MS);
  }

  #stopWindow(): void {
    clearTimeout(this.#windowTimer);
    clearImmediate(this.#windowImmediate);
    this.#windowTimer = undefined;
    this.#windowImmediate = undefined;
  }

  /** Signs the open window (off the answers' path) and has the checkpoint line synced within SYNC_DELAY_MS. */
  #signWindow(): void {
    this.#stopWindow();
    if (this.#closed) return;
    this.#exclusive(() => this.#writeCheckpoint()).then(() => this.#scheduleSync(), (err: unknown) => this.#checkpointFailed(err));
  }

  #checkpointFailed(err: unknown): void {
    // The window's records are answered and on file; without a checkpoint they cannot ship. The
    // volume is failing: refuse requests until a probe write succeeds, and try again.
    this.#failure = errorMessage(err);
    this.#opts.logger?.error({ err: this.#failure, unsigned: this.#tree.size - this.#signed }, 'writing the spool checkpoint failed: the records stay unsigned on file (signed again on the next try or at restart); refusing requests until the volume recovers');
    if (!this.#closed) setTimeout(() => this.#signWindow(), 1000).unref();
  }

  /**
   * Signs one checkpoint over the whole tree (the chain's records up to #written) and writes its
   * line after them. Run under the lock (file order: the line follows exactly the records it
   * covers). A failed write is cut back off the file and throws; nothing is signed then.
   */
  #writeCheckpoint(): void {
    const current = this.#current;
    const size = this.#tree.size;
    if (size <= this.#signed || current === undefined) return;
    this.#stopWindow();
    this.#lastCheckpointAt = Math.max(Date.now(), this.#lastCheckpointAt);
    const note = signChainCheckpoint(this.chainId, size, this.#tree.root(), this.key, new Date(this.#lastCheckpointAt));
    const buf = Buffer.from(`${JSON.stringify({ checkpoint: note })}\n`, 'utf8');
    this.#appendOrCut(current, buf);
    current.seg.size += buf.length;
    this.#signed = size;
    this.#unsignedBytes = 0;
    this.#checkpoints.set(size, note);
  }

  #notify(): void {
    for (const l of this.#listeners) l();
  }

  /** The fdatasync that `Written` records were promised within SYNC_DELAY_MS. */
  #scheduleSync(): void {
    // After close() nothing is left to sync (it synced under the lock); a window signed just
    // before it must not leave a timer behind.
    if (this.#syncTimer !== undefined || this.#closed) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      this.#syncWritten().then(() => this.#notify(), (err: unknown) => this.#syncFailed(err));
    }, SYNC_DELAY_MS);
  }

  /** Syncs everything written so far (a sync already in flight may not cover the latest writes). */
  async #syncWritten(): Promise<void> {
    while (this.#syncing !== undefined) await this.#syncing;
    const upTo = this.#written;
    const signed = this.#signed;
    const current = this.#current;
    if ((upTo.seq <= this.#durable.seq && signed <= this.#durableSigned) || current === undefined) return;
    this.#syncing = (async () => {
      this.#opts.faults?.beforeSync?.();
      // Covers every write completed before it starts, so at least up to `upTo` and `signed`.
      await current.fh.datasync();
      this.#synced(upTo, signed);
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
    // chain continues from the last written record (the tree was not advanced by the failed write).
    const failed = [...batch, ...this.#queue.splice(0)];
    this.#writer = new ChainWriter<SessionEvent>(this.chainId, this.key, this.#written);
    this.#failure = errorMessage(err);
    this.#opts.metrics?.spoolFailures.inc(failed.length);
    this.#opts.logger?.error({ err: this.#failure, records: failed.length }, 'spool write failed: the commands concerned fail');
    const error = new SpoolError(`the session spool cannot be written (${this.#failure}); recording is mandatory, so the command fails`, { cause: err });
    for (const p of failed) p.settle.reject(error);
  }

  /**
   * One write for the group, on the event loop: a page-cache write of a few KiB costs less than
   * the thread-pool round trip an asynchronous write takes. No signature here: the group's
   * records join the open signing window (their leaves go into the tree; the root is computed
   * only when the window is signed). The fdatasync (when `sync`) does not block the loop and
   * also makes every checkpoint line before it durable. A failed write or sync is cut back off
   * the file, leaves the tree as it was and fails the whole group.
   */
  async #write(batch: Pending[], sync: boolean): Promise<void> {
    // The open segment with room, without an await (a promise and a turn of microtasks per group).
    const current = this.#current !== undefined && this.#current.seg.size < this.#opts.segmentBytes ? this.#current : await this.#segmentFor(batch[0]!.record.seq);
    if (!sync) {
      this.#writeGroup(current, batch);
      return;
    }
    const before = current.seg.size;
    const signed = this.#signed;
    const { buf, headerBytes } = this.#groupBytes(current, batch);
    try {
      this.#writeAll(current, buf);
      await this.#syncGroup(current.fh);
    } catch (err) {
      this.#cutBack(current, before);
      throw err;
    }
    this.#groupWritten(current, batch, buf.length, headerBytes);
    this.#synced(this.#written, signed);
    this.#opts.metrics?.spoolPending.set(this.pendingCount);
  }

  /** One page-cache write of a group (no sync), synchronously; a failed write is cut back off the file and throws, the tree left as it was. */
  #writeGroup(current: { fh: FileHandle; seg: Segment }, batch: readonly Pending[]): void {
    const { buf, headerBytes } = this.#groupBytes(current, batch);
    this.#appendOrCut(current, buf);
    this.#groupWritten(current, batch, buf.length, headerBytes);
  }

  /** Writes `buf` at the end of the open segment; a failed write is cut back off the file (the segment's size is left to the caller) and throws. */
  #appendOrCut(current: { fh: FileHandle; seg: Segment }, buf: Buffer): void {
    const before = current.seg.size;
    try {
      this.#writeAll(current, buf);
    } catch (err) {
      this.#cutBack(current, before);
      throw err;
    }
  }

  /**
   * A failed write or sync: its bytes are cut back off the file (the next group is written over
   * them anyway), and a pre-sized segment's zero tail restored (a sparse one: the fill's pages
   * went with the cut). A failing cut is left to the next recovery, which cuts the torn line.
   */
  #cutBack(current: { fh: FileHandle; seg: Segment }, before: number): void {
    try {
      ftruncateSync(current.fh.fd, before);
      if (current.seg.presized > before) ftruncateSync(current.fh.fd, current.seg.presized);
    } catch { /* the next recovery cuts the torn line */ }
  }

  /** A group's bytes: its records' lines, after the segment's header line when it is the segment's first. */
  #groupBytes(current: { seg: Segment }, batch: readonly Pending[]): { buf: Buffer; headerBytes: number } {
    const header = current.seg.size === 0 ? this.#headerLine(batch[0]!.record) : '';
    let text = header;
    for (const p of batch) text += p.line;
    // The header is ASCII: its length is its byte count.
    return { buf: Buffer.from(text, 'utf8'), headerBytes: header.length };
  }

  /** After a group's write: where the segment, the chain and the open window stand; its leaves join the tree. */
  #groupWritten(current: { seg: Segment }, batch: readonly Pending[], bytes: number, headerBytes: number): void {
    const last = batch.at(-1)!.record;
    current.seg.size += bytes;
    current.seg.end = last.seq;
    // Bytes, not UTF-16 units: a window of multi-byte text (accented names, '€') must still fit one batch.
    this.#unsignedBytes += bytes - headerBytes;
    this.#written = { seq: last.seq, head: last.hash };
    for (const p of batch) {
      this.#tree.append(p.record.hash);
      this.#remember(p.record, p.json);
    }
    // No spoolPending here: pending counts synced records, which a write alone does not change.
  }

  /** A Synced group's fdatasync, on the loop or the thread pool (sync-placement.ts says which and why). */
  async #syncGroup(fh: FileHandle): Promise<void> {
    try {
      if (this.#placement.nextOnLoop()) {
        this.#opts.faults?.beforeSync?.('loop');
        const started = performance.now();
        fdatasyncSync(fh.fd);
        this.#placement.loopSyncDone(performance.now() - started);
        return;
      }
      this.#opts.faults?.beforeSync?.('pool');
      const queued = this.#queue.length;
      const loop = performance.eventLoopUtilization();
      const started = performance.now();
      // fs.fdatasync's callback, not FileHandle.datasync(): the same syscall on the thread pool
      // without the handle's reference counting and its extra promises (profiled on this path).
      await datasyncOnPool(fh.fd);
      const ms = performance.now() - started;
      const active = performance.eventLoopUtilization(loop).active;
      this.#placement.poolSyncDone(overlapOf(this.#queue.length > queued, this.#opts.faults?.loopActiveMs?.(active) ?? active, ms), ms);
    } catch (err) {
      this.#placement.failed();
      throw err;
    }
  }

  /** A new segment's first line: where the chain and its tree stand before `first`. */
  #headerLine(first: SpoolRecord): string {
    return `${JSON.stringify({ segment: { format: SPOOL_FORMAT, start: first.seq, prev: first.prev, frontier: this.#tree.frontier() } })}\n`;
  }

  /** An fdatasync covered the records up to `upTo` and the checkpoint lines up to tree size `signed`. */
  #synced(upTo: ChainPosition, signed: number): void {
    if (upTo.seq > this.#durable.seq) this.#durable = upTo;
    if (signed > this.#durableSigned) this.#durableSigned = signed;
  }

  /** Writes `buf` at the segment's logical end (inside its zero tail when pre-sized); the caller advances `seg.size`. */
  #writeAll(current: { fh: FileHandle; seg: Segment }, buf: Buffer): void {
    this.#opts.faults?.beforeWrite?.();
    const at = current.seg.size;
    let offset = 0;
    while (offset < buf.length) offset += writeSync(current.fh.fd, buf, offset, buf.length - offset, at + offset);
  }

  #remember(record: SpoolRecord, line: string | undefined): void {
    this.#memory.push(record);
    this.#memoryLines.push(line);
    this.#memoryBytes += weight(record, line);
    while (this.#memoryBytes > this.#opts.memoryBytes && this.#memory.length > 1) {
      const dropped = this.#memory.shift()!;
      this.#memoryBytes -= weight(dropped, this.#memoryLines.shift());
      // Read back from disk with its records when the shipper gets there.
      this.#checkpoints.delete(dropped.seq);
    }
  }

  async #segmentFor(seq: number): Promise<{ fh: FileHandle; seg: Segment }> {
    if (this.#current !== undefined && this.#current.seg.size < this.#opts.segmentBytes) return this.#current;
    this.#checkBudget();
    if (this.#current !== undefined) {
      // A segment closes with a checkpoint over its last record (recovery refuses an earlier
      // segment without one), and Written records in it get their sync now: later syncs cover
      // only the new file.
      this.#writeCheckpoint();
      await this.#syncWritten();
      await this.#closeSegment(this.#current);
      this.#current = undefined;
    }
    const seg: Segment = { start: seq, end: seq - 1, file: join(this.dir, segmentName(seq)), size: 0, presized: 0 };
    const fh = await open(seg.file, 'w+', 0o600);
    try {
      this.#opts.faults?.beforePresize?.();
      await zeroFill(fh, 0, this.#opts.segmentBytes);
    } catch (err) {
      // Fails closed like a failed write: the group fails (logged there with this message) and
      // the next append tries a new segment again; nothing of the chain was in this file.
      await fh.close().catch(() => undefined);
      await unlink(seg.file).catch(() => undefined);
      throw new SpoolError(`zero-filling the new spool segment ${seg.file} to ${this.#opts.segmentBytes} bytes failed: ${errorMessage(err)}; the spool volume needs that much free space per open segment`, { cause: err });
    }
    seg.presized = this.#opts.segmentBytes;
    fsyncDir(this.dir);
    this.#segments.push(seg);
    this.#current = { fh, seg };
    return this.#current;
  }

  /**
   * Whether a new segment fits the size budget: the closed segments awaiting shipment (the full
   * open one is about to be closed at its data) and a new one pre-sized to segmentBytes, plus the
   * group that may run past its end (GROUP_BYTES). Throws, failing the group closed, when not.
   */
  #checkBudget(): void {
    const problem = this.#budgetProblem();
    if (problem !== undefined) throw new SpoolError(problem);
  }

  #budgetProblem(): string | undefined {
    const max = this.#opts.maxBytes;
    if (max === undefined) return undefined;
    const held = this.#segments.reduce((n, seg) => n + seg.size, 0);
    const next = this.#opts.segmentBytes + GROUP_BYTES;
    if (held + next <= max) return undefined;
    return `the session spool has reached its size budget (GUARITA_SPOOL_MAX_BYTES=${max}): ${held} bytes of records await shipment to the operator and a new segment needs ${next}; `
      + 'records are refused until the operator acknowledges shipped ones (check that the operator is reachable: guarita_sidecar_spool_pending_records, the shipper\'s log), or give the spool more room (the chart\'s sidecar.spoolSizeLimit)';
  }

  /**
   * A segment left for the next one, or the open one at close: its zero tail is cut so the file
   * holds its data only (not synced: a tail the crash kept is cut by recovery), then it is closed.
   */
  async #closeSegment(current: { fh: FileHandle; seg: Segment }): Promise<void> {
    if (current.seg.presized > current.seg.size) {
      try {
        await current.fh.truncate(current.seg.size);
        current.seg.presized = 0;
      } catch (err) {
        this.#opts.logger?.warn({ segment: current.seg.file, size: current.seg.size, err: errorMessage(err) }, 'cutting a spool segment\'s zero tail failed: the next start cuts it');
      }
    }
    await current.fh.close();
  }

  /**
   * After recovery: reopens the last segment, signs a checkpoint over the unsigned tail of records
   * recovery kept (times stay monotonic: #lastCheckpointAt is the newest recovered one), and syncs,
   * so what a kill -9 left in the page cache is on stable storage before anything ships or chains on it.
   */
  async #resume(): Promise<void> {
    const last = this.#segments.at(-1);
    if (last === undefined) return;
    const current = { fh: await open(last.file, 'r+'), seg: last };
    this.#current = current;
    const unsigned = this.#tree.size - this.#signed;
    if (unsigned > 0) {
      this.#writeCheckpoint();
      this.#opts.logger?.info({ records: unsigned, fromSeq: this.#tree.size - unsigned + 1, toSeq: this.#tree.size }, 'signed a checkpoint over the unsigned records recovered from the spool');
    }
    await this.#presizeResumed(current);
    await current.fh.datasync();
    this.#durableSigned = this.#signed;
  }

  /**
   * The reopened segment (recovery cut it to its data: one of this version, or of an older one
   * that appended) is zero-filled up to segmentBytes again. A failed fill (a full volume) is cut
   * back and logged: the segment grows with its writes as before, and a write the volume refuses
   * fails its group.
   */
  async #presizeResumed(current: { fh: FileHandle; seg: Segment }): Promise<void> {
    const { seg } = current;
    if (seg.size >= this.#opts.segmentBytes) return;
    try {
      this.#opts.faults?.beforePresize?.();
      await zeroFill(current.fh, seg.size, this.#opts.segmentBytes);
      seg.presized = this.#opts.segmentBytes;
    } catch (err) {
      await current.fh.truncate(seg.size).catch(() => undefined);
      this.#opts.logger?.warn({ segment: seg.file, bytes: this.#opts.segmentBytes - seg.size, err: errorMessage(err) }, 'zero-filling the reopened spool segment failed: it grows with each write instead (syncs cost more)');
    }
  }

  #exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    // With no holder queued or running the lock is free (its last release ran): fn starts now,
    // not a microtask later (every Synced group takes the lock).
    const free = this.#lockHolders === 0;
    this.#lockHolders++;
    const run = free ? runNow(fn) : this.#lock.then(fn, fn);
    this.#lock = run.then(this.#releaseLock, this.#releaseLock);
    return run;
  }

  /** Flushes what is queued (a turn's appends not yet flushed included) and waits for the flush loop. */
  async #drain(): Promise<void> {
    do {
      this.#kick();
      while (this.#flushing !== undefined) await this.#flushing;
    } while (this.#queue.length > 0);
  }

  /**
   * Records after `seq` (exclusive), in order, ending at a checkpoint, with that checkpoint:
   * bounded by count and bytes, but at least one whole commit group (groups are capped to fit).
   */
  async readAfter(seq: number, maxRecords: number, maxBytes: number): Promise<SpoolBatch> {
    if (this.#durableSigned <= seq && this.#durable.seq > seq && !this.#closed) {
      // Nothing signed to ship yet, but durable records wait: sign the open window now rather
      // than leave the shipper idle until its deadline.
      await this.#exclusive(() => this.#writeCheckpoint());
      await this.#syncWritten();
    }
    // Only records ending at a checkpoint on stable storage leave (a node crash cannot take back
    // what the operator holds).
    const upTo = this.#durableSigned;
    if (seq >= upTo) return { records: [], lines: [], checkpoint: undefined };
    const firstInMemory = this.#memory[0]?.seq ?? Number.POSITIVE_INFINITY;
    const { records, lines, checkpoints: notes } = seq + 1 >= firstInMemory
      ? this.#fromMemory(seq, upTo)
      : await this.#readFromDisk(seq, upTo, maxRecords + GROUP_RECORDS);
    return wholeGroups(records, lines, notes, maxRecords, maxBytes);
  }

  /** The records in memory after `seq` up to `upTo`, with their lines and the checkpoints. */
  #fromMemory(seq: number, upTo: number): DiskRead {
    const out: DiskRead = { records: [], lines: [], checkpoints: this.#checkpoints };
    for (const [i, r] of this.#memory.entries()) {
      if (r.seq <= seq || r.seq > upTo) continue;
      out.records.push(r);
      out.lines.push(this.#memoryLines[i]);
    }
    return out;
  }

  async #readFromDisk(seq: number, upTo: number, maxRecords: number): Promise<DiskRead> {
    const out: DiskRead = { records: [], lines: [], checkpoints: new Map() };
    for (const seg of this.#segments) {
      if (seg.end <= seq || out.records.length >= maxRecords) continue;
      collectLines(await readData(seg.file, seg.size), seq, upTo, out);
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
    const kept = this.#memory.findIndex((r) => r.seq > position.seq);
    const forgotten = kept < 0 ? this.#memory.length : kept;
    this.#memory.splice(0, forgotten);
    this.#memoryLines.splice(0, forgotten);
    for (const size of this.#checkpoints.keys()) if (size <= position.seq) this.#checkpoints.delete(size);
    this.#memoryBytes = this.#memory.reduce((n, r, i) => n + weight(r, this.#memoryLines[i]), 0);
    this.#opts.metrics?.spoolPending.set(this.pendingCount);
  }

  async #dropAcked(): Promise<void> {
    const keep: Segment[] = [];
    const lastSegment = this.#segments.at(-1);
    for (const seg of this.#segments) {
      // The last segment stays, acknowledged or not: it holds where the chain's tree stands.
      const fullyAcked = seg.size > 0 && seg.end <= this.#acked.seq && seg !== lastSegment;
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
    await this.#drain();
    await this.#exclusive(() => this.#writeCheckpoint());
    await this.#syncWritten();
    this.#notify();
  }

  /** Waits for queued appends, then closes the segment file. Later appends are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#drain();
    this.#closed = true;
    clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    this.#stopWindow();
    await this.#exclusive(async () => {
      try {
        this.#writeCheckpoint();
      } catch (err) {
        this.#opts.logger?.error({ err: errorMessage(err), unsigned: this.#tree.size - this.#signed }, 'writing the spool checkpoint at close failed: the next start signs the records recovered after the last one');
      }
      await this.#syncWritten().catch((err: unknown) => this.#syncFailed(err));
      if (this.#current !== undefined) await this.#closeSegment(this.#current);
      this.#current = undefined;
    });
  }
}

interface DiskRead { records: SpoolRecord[]; lines: (string | undefined)[]; checkpoints: Map<number, string> }

/** A segment's first `size` bytes (its data: the open segment's zero tail is not read). */
async function readData(file: string, size: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, at, size - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return buf.subarray(0, at).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Where the chain and its tree stand after recovery. */
function resumePoint(dir: string, acked: ChainPosition, recovered: Recovered): { position: ChainPosition; tree: ChainTree } {
  if (recovered.last !== undefined) {
    // The chain continues after the record the operator acknowledged, never before or beside it.
    const last = recovered.last.position;
    if (last.seq < acked.seq) throw new SpoolError(`the spool in ${dir} ends at seq ${last.seq}, before seq ${acked.seq} the operator acknowledged: continuing would fork what it stored; move the spool away to start a new chain`);
    const head = last.seq === acked.seq ? last.head : recovered.records.find((r) => r.seq === acked.seq)?.hash;
    if (head !== undefined && head !== acked.head) throw new SpoolError(`the spool in ${dir} holds ${head.slice(0, 12)}… at seq ${acked.seq}, not ${String(acked.head).slice(0, 12)}… the operator acknowledged (fork): move the spool away to start a new chain`);
    return recovered.last;
  }
  // The last segment is never deleted (its header holds the tree's frontier, its records the rest).
  if (acked.seq > 0) throw new SpoolError(`the spool in ${dir} has an acknowledged position (seq ${acked.seq}) but no segment to resume the chain's tree from: it was altered; move it away to start a new chain`);
  return { position: acked, tree: ChainTree.empty() };
}

/** The records of a batch: whole signing windows while within the limits, at least one window. */
function wholeGroups(records: readonly SpoolRecord[], recordLines: readonly (string | undefined)[], checkpoints: ReadonlyMap<number, string>, maxRecords: number, maxBytes: number): SpoolBatch {
  let end = 0;
  let bytes = 0;
  const lines: string[] = [];
  for (const [i, r] of records.entries()) {
    const line = lineOf(r, recordLines[i]);
    bytes += Buffer.byteLength(line);
    if (end > 0 && (i + 1 > maxRecords || bytes > maxBytes)) break;
    lines.push(line);
    if (checkpoints.has(r.seq)) end = i + 1;
  }
  const out = records.slice(0, end);
  return { records: out, lines: lines.slice(0, end), checkpoint: out.length === 0 ? undefined : checkpoints.get(out.at(-1)!.seq) };
}

/** One segment's records and checkpoints after `seq`, up to `upTo`, into `out`. */
function collectLines(content: string, seq: number, upTo: number, out: DiskRead): void {
  let at = 0;
  const wanted = (): boolean => at > seq && at <= upTo;
  for (const text of content.split('\n')) {
    const line = text === '' ? undefined : parseLine(text);
    if (line?.kind === 'record') {
      at = line.record.seq;
      if (wanted()) {
        out.records.push(line.record);
        out.lines.push(text);
      }
    } else if (line?.kind === 'checkpoint') {
      if (wanted()) out.checkpoints.set(at, line.line.checkpoint);
    }
  }
}

/**
 * How many queued appends form the next commit group within `records` and `bytes` (what is left
 * of the open signing window): 0 when not even the first fits a window that already holds records.
 * A window with room for everything takes at least one (a single record beyond the byte cap).
 */
function groupLength(queue: readonly Pending[], records: number, bytes: number): number {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: while the units are within a third of the room no
  // line is measured (a typical group never is); past it, every line of the group is, exactly.
  let units = 0;
  let total = -1;
  for (const [i, p] of queue.entries()) {
    units += p.line.length;
    if (total >= 0) total += Buffer.byteLength(p.line);
    else if (units * 3 > bytes) total = utf8Bytes(queue, i + 1);
    if (i >= records || total > bytes) return i === 0 && records === GROUP_RECORDS && bytes === GROUP_BYTES ? 1 : i;
  }
  return queue.length;
}

function utf8Bytes(queue: readonly Pending[], count: number): number {
  let n = 0;
  for (let k = 0; k < count; k++) n += Buffer.byteLength(queue[k]!.line);
  return n;
}

/**
 * A segment file's data as text: up to its first NUL byte (the open segment's zero tail, or one
 * a crash left). What tools and tests that read spool files must read instead of the whole file.
 */
export function readSegmentText(file: string): string {
  const content = readFileSync(file);
  return content.subarray(0, dataEnd(content)).toString('utf8');
}

/** Deletes a spool directory's files (tests). */
export function wipeSpool(dir: string): void {
  for (const name of readdirSync(dir)) unlinkSync(join(dir, name));
}
