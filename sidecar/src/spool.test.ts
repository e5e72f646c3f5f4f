import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { appendFileSync, copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainTree } from '../../core/recording/chain-tree.ts';
import { checkChainCheckpoint, checkpointVerifier } from '../../core/recording/chain-checkpoint.ts';
import { parseCheckpoint } from '../../core/recording/checkpoint.ts';
import { exportPrivateJwk, generateSigningKey, importPublicKey, SignedChainWriter, verifyLink, type ChainPosition, type SessionEvent } from '../../core/recording/index.ts';
import { createLogger } from './log.ts';
import { Metrics } from './metrics.ts';
import { GROUP_BYTES, GROUP_RECORDS, readSegmentText, Spool, SpoolError, SYNC_DELAY_MS, type SpoolRecord } from './spool.ts';
import { QUIET_SYNCS_TO_LOOP } from './sync-placement.ts';

const dirs: string[] = [];
/**
 * Waits for background work (a Written record's sync SYNC_DELAY_MS after its append, the volume
 * probe at most once a second) to have done what `done` checks, no sooner than `earliestMs`: a
 * fixed sleep with a margin failed on a loaded machine, whose timers and thread pool run late.
 * Fails naming `what` after 10 s.
 */
async function afterBackground(what: string, earliestMs: number, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  await new Promise((r) => setTimeout(r, earliestMs));
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not done within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const afterBackgroundSync = (what: string, done: () => boolean | Promise<boolean>): Promise<void> => afterBackground(what, SYNC_DELAY_MS, done);
/** The volume probe that clears a failure runs at most once a second. */
const afterProbe = (spool: Spool): Promise<void> => afterBackground('the volume probe to clear the failure', 1000, () => spool.health().ok);

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'spool-test-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function event(n: number): SessionEvent {
  return {
    type: 'command', time: new Date(0).toISOString(), namespace: 'ns', pod: 'pod', policy: 'p', target: 't', protocol: 'http',
    sessionId: 's1', subject: 'agent', subjectKind: 'User', groups: ['support'], command: `GET /customers/${n}`, decision: 'allow',
  };
}

type Line = SpoolRecord | { checkpoint: string } | { segment: { start: number; prev: string; frontier: string[] } };

function lines(dir: string): Line[] {
  return readdirSync(dir).filter((n) => n.startsWith('seg-')).sort()
    .flatMap((n) => readSegmentText(join(dir, n)).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line));
}

function readAll(dir: string): SpoolRecord[] {
  return lines(dir).filter((l): l is SpoolRecord => 'seq' in l);
}

/**
 * The spool's files as an auditor would check them: the records link from the first segment's
 * header, and every checkpoint line is signed by the chain key over the tree of the records before it.
 */
function verify(spool: Spool, _records?: SpoolRecord[]): { ok: boolean; count: number; checkpoints: number; problem?: string } {
  const pub = importPublicKey(spool.key.publicJwk);
  const verifier = checkpointVerifier(spool.key.publicJwk, spool.key.keyId);
  let tree: ChainTree | undefined;
  let position: ChainPosition | undefined;
  let count = 0;
  let checkpoints = 0;
  for (const l of lines(spool.dir)) {
    if ('segment' in l) {
      tree ??= ChainTree.resume(l.segment.start - 1, l.segment.frontier);
      position ??= { seq: l.segment.start - 1, head: l.segment.prev };
    } else if ('checkpoint' in l) {
      const bad = checkChainCheckpoint(l.checkpoint, { origin: spool.chainId, size: tree!.size, root: tree!.root(), verifier });
      if (bad !== undefined) return { ok: false, count, checkpoints, problem: bad.detail };
      checkpoints++;
    } else {
      const problem = verifyLink(l, { ...position!, chainId: spool.chainId }, pub);
      if (problem !== undefined) return { ok: false, count, checkpoints, problem: `seq ${l.seq}: ${problem}` };
      tree!.append(l.hash);
      position = { seq: l.seq, head: l.hash };
      count++;
    }
  }
  return { ok: true, count, checkpoints };
}

/** The spool's files as a kill -9 leaves them (the page cache outlives the process), in a new directory. */
function crashCopy(dir: string): string {
  const copy = tempDir();
  for (const name of readdirSync(dir)) if (!name.startsWith('.')) copyFileSync(join(dir, name), join(copy, name));
  return copy;
}

/** A logger whose JSON lines are kept, and metrics, to check what recovery reports. */
function observed(): { logger: ReturnType<typeof createLogger>; logs: Record<string, unknown>[]; metrics: Metrics } {
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({ write(chunk: Buffer, _enc, done) { logs.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  return { logger: createLogger({ level: 'info', destination }), logs, metrics: new Metrics() };
}

async function counter(metrics: Metrics, name: string): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return Number(metric?.values[0]?.value ?? 0);
}

const checkpointSizes = (dir: string): number[] => lines(dir).flatMap((l) => ('checkpoint' in l ? [parseCheckpoint(l.checkpoint).checkpoint.size] : []));

/** Long enough that no window deadline passes during a test: the test decides when windows close. */
const NO_DEADLINE = { checkpointWindowMs: 3_600_000 };

describe('Spool signing windows', () => {
  it('answers each group without a signature, then signs one checkpoint over all the window\'s groups', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    for (let i = 1; i <= 5; i++) await spool.append(event(i)); // five groups of one record, each synced
    expect(spool.position.seq).toBe(5);
    expect(checkpointSizes(dir)).toEqual([]); // answered and durable; the window is still open
    await spool.settle();
    expect(checkpointSizes(dir)).toEqual([5]);
    expect(verify(spool)).toEqual({ ok: true, count: 5, checkpoints: 1 });
    await spool.close();
  });

  it('closes a window at its deadline without any other trigger', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', checkpointWindowMs: 20 });
    let notified = 0;
    spool.onAppend(() => { notified++; });
    await Promise.all([1, 2, 3].map((n) => spool.append(event(n), 'Written')));
    await spool.append(event(4));
    for (let waited = 0; checkpointSizes(dir).length === 0 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(checkpointSizes(dir)).toEqual([4]);
    // Its line is synced and the shipper told, without a read from it.
    for (let waited = 0; notified < 2 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    const batch = await spool.readAfter(0, 100, 1 << 20);
    expect(batch.records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(parseCheckpoint(batch.checkpoint!).checkpoint.size).toBe(4);
    await spool.close();
    expect(checkpointSizes(dir)).toEqual([4]); // nothing left to sign at close
  });

  it.each([
    ['in memory', {}],
    ['read back from disk', { memoryBytes: 1 }],
  ])('ships only records ending at a checkpoint, and has the window signed when nothing signed is left (%s)', async (_where, extra) => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE, ...extra });
    for (let i = 1; i <= 3; i++) await spool.append(event(i));
    await spool.settle();
    await spool.append(event(4));
    await spool.append(event(5));
    const verifier = checkpointVerifier(spool.key.publicJwk, spool.key.keyId);
    const tree = ChainTree.empty();
    const first = await spool.readAfter(0, 100, 1 << 20);
    expect(first.records.map((r) => r.seq)).toEqual([1, 2, 3]);
    for (const r of first.records) tree.append(r.hash);
    expect(checkChainCheckpoint(first.checkpoint, { origin: spool.chainId, size: 3, root: tree.root(), verifier })).toBeUndefined();
    expect(checkpointSizes(dir)).toEqual([3]);
    // Nothing signed after 3: the read signs the open window (4, 5) rather than return nothing.
    const second = await spool.readAfter(3, 100, 1 << 20);
    expect(second.records.map((r) => r.seq)).toEqual([4, 5]);
    for (const r of second.records) tree.append(r.hash);
    expect(checkChainCheckpoint(second.checkpoint, { origin: spool.chainId, size: 5, root: tree.root(), verifier })).toBeUndefined();
    expect(checkpointSizes(dir)).toEqual([3, 5]);
    expect(await spool.readAfter(5, 100, 1 << 20)).toEqual({ records: [], lines: [], checkpoint: undefined });
    await spool.close();
  });

  it('never lets one checkpoint cover more than the byte cap (one ingest batch)', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    const big = (n: number): SessionEvent => ({ ...event(n), command: `GET /customers/${n}?q=${'x'.repeat(300 * 1024)}` });
    await Promise.all(Array.from({ length: 10 }, (_, i) => spool.append(big(i))));
    for (let i = 10; i < 20; i++) await spool.append(big(i));
    await spool.settle();
    const records = readAll(dir);
    const sizes = checkpointSizes(dir);
    expect(sizes.at(-1)).toBe(20);
    let from = 0;
    for (const size of sizes) {
      const chars = records.slice(from, size).reduce((n, r) => n + JSON.stringify(r).length + 1, 0);
      expect(chars).toBeLessThanOrEqual(GROUP_BYTES);
      from = size;
    }
    expect(verify(spool)).toMatchObject({ ok: true, count: 20 });
    await spool.close();
  });
});

/** The shared disk's occasional slow fdatasync must not decide which path a test exercises. */
const ANY_SYNC_SPEED = { slowSyncMs: Number.POSITIVE_INFINITY };
/** The loop idle during every thread-pool sync (one appender; a loaded test machine would read as busy at times). */
const IDLE_LOOP = (): number => 0;

describe('Spool Synced groups synced on the event loop (one appender at a time)', () => {
  it('syncs on the loop once appends come one at a time, with the same durability, answers and chain', async () => {
    const dir = tempDir();
    const where: string[] = [];
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE, ...ANY_SYNC_SPEED, faults: { beforeSync: (w) => { where.push(w ?? 'background'); }, loopActiveMs: IDLE_LOOP } });
    const records: SpoolRecord[] = [];
    for (let n = 1; n <= QUIET_SYNCS_TO_LOOP + 4; n++) {
      records.push(await spool.append(event(n)));
      // Answered means synced, on either path.
      expect(spool.position).toEqual({ seq: n, head: records.at(-1)!.hash });
    }
    expect(where.slice(0, QUIET_SYNCS_TO_LOOP)).toEqual(Array(QUIET_SYNCS_TO_LOOP).fill('pool'));
    expect(where.slice(QUIET_SYNCS_TO_LOOP)).toEqual(['loop', 'loop', 'loop', 'loop']);
    // Concurrent appends still group-commit (one write and one sync for the queued ones).
    await Promise.all([1, 2, 3, 4].map((n) => spool.append(event(100 + n))));
    await spool.settle();
    expect(verify(spool)).toMatchObject({ ok: true, count: QUIET_SYNCS_TO_LOOP + 8 });
    await spool.close();
  });

  it('stays on the thread pool while the loop has other work during the syncs (what a loop sync would hold back), though appends come one at a time', async () => {
    const dir = tempDir();
    const where: string[] = [];
    // The busy phase is measured (a spinning loop reads busy on any machine); the idle one is told.
    let busy = true;
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE, ...ANY_SYNC_SPEED, faults: { beforeSync: (w) => { where.push(w ?? 'background'); }, loopActiveMs: (measured) => (busy ? measured : 0) } });
    // Other connections' work: the loop never waits idle for the sync's completion.
    const spin = (): void => {
      const until = performance.now() + 0.3;
      while (performance.now() < until) { /* a request being decided and masked */ }
      if (busy) setImmediate(spin);
    };
    setImmediate(spin);
    for (let n = 1; n <= QUIET_SYNCS_TO_LOOP * 2; n++) await spool.append(event(n));
    busy = false;
    expect(where).toEqual(Array(QUIET_SYNCS_TO_LOOP * 2).fill('pool'));
    // The loop idle again: one appender at a time moves to the loop as before.
    for (let n = 1; n <= QUIET_SYNCS_TO_LOOP + 2; n++) await spool.append(event(100 + n));
    expect(where.slice(-2)).toEqual(['loop', 'loop']);
    await spool.close();
    expect(verify(spool)).toMatchObject({ ok: true, count: QUIET_SYNCS_TO_LOOP * 3 + 2 });
  });

  it('a failed sync on the loop fails its group like one on the thread pool, and the chain continues from the last durable record', async () => {
    const dir = tempDir();
    let failing = false;
    const where: string[] = [];
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE, ...ANY_SYNC_SPEED, faults: { beforeSync: (w) => { where.push(w ?? 'background'); if (failing) throw new Error('EIO: i/o error'); }, loopActiveMs: IDLE_LOOP } });
    for (let n = 1; n <= QUIET_SYNCS_TO_LOOP + 1; n++) await spool.append(event(n));
    expect(where.at(-1)).toBe('loop');
    const durable = spool.position;
    failing = true;
    await expect(spool.append(event(99))).rejects.toBeInstanceOf(SpoolError);
    expect(where.at(-1)).toBe('loop');
    expect(spool.health()).toMatchObject({ ok: false, message: expect.stringContaining('EIO') });
    expect(spool.position).toEqual(durable);
    failing = false;
    await afterProbe(spool);
    expect(spool.health()).toEqual({ ok: true });
    // Back on the thread pool after the failure; the failed record's line was cut off the file.
    expect(await spool.append(event(100))).toMatchObject({ seq: durable.seq + 1, prev: durable.head });
    expect(where.at(-1)).toBe('pool');
    await spool.settle();
    expect(verify(spool)).toMatchObject({ ok: true, count: durable.seq + 1 });
    await spool.close();
  });
});

describe('Spool recovery of an open window', () => {
  /** Records 1 (signed) and 2..4 (answered, durable, window still open) as a kill -9 leaves them. */
  async function crashedWithOpenWindow(): Promise<{ dir: string; records: SpoolRecord[]; chainId: string; keyId: string; firstNote: string }> {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    const records = [await spool.append(event(1))];
    await spool.settle();
    for (let i = 2; i <= 4; i++) records.push(await spool.append(event(i)));
    expect(checkpointSizes(dir)).toEqual([1]);
    const copy = crashCopy(dir);
    const firstNote = lines(copy).flatMap((l) => ('checkpoint' in l ? [l.checkpoint] : []))[0]!;
    await spool.close();
    return { dir: copy, records, chainId: spool.chainId, keyId: spool.key.keyId, firstNote };
  }

  it('keeps the unsigned records that verify and signs a checkpoint over them at open', async () => {
    const { dir, records, chainId, firstNote } = await crashedWithOpenWindow();
    const { logger, logs, metrics } = observed();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', logger, metrics, ...NO_DEADLINE });
    expect(reopened.chainId).toBe(chainId);
    expect(reopened.position).toEqual({ seq: 4, head: records[3]!.hash });
    expect(checkpointSizes(dir)).toEqual([1, 4]);
    expect(verify(reopened)).toEqual({ ok: true, count: 4, checkpoints: 2 });
    const times = lines(dir).flatMap((l) => ('checkpoint' in l ? [Date.parse(parseCheckpoint(l.checkpoint).checkpoint.time!)] : []));
    expect(times[1]).toBeGreaterThanOrEqual(Date.parse(parseCheckpoint(firstNote).checkpoint.time!));
    expect(logs.find((l) => l.msg === 'signed a checkpoint over the unsigned records recovered from the spool')).toMatchObject({ records: 3, fromSeq: 2, toSeq: 4 });
    expect(await counter(metrics, 'guarita_sidecar_spool_recovery_cuts_total')).toBe(0);
    const batch = await reopened.readAfter(0, 100, 1 << 20);
    expect(batch.records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(parseCheckpoint(batch.checkpoint!).checkpoint.size).toBe(4);
    expect(await reopened.append(event(5))).toMatchObject({ seq: 5, prev: records[3]!.hash });
    await reopened.close();
  });

  // The last segment's lines: 0 header, 1 record 1, 2 checkpoint(1), 3..5 records 2..4 (the open window).
  it.each([
    ['altered content', (l: string[]) => { l[4] = l[4]!.replace('GET /customers/3', 'GET /customers/999'); }, 'record seq 3: hash-mismatch', 2],
    ['a record removed', (l: string[]) => { l.splice(4, 1); }, 'record seq 4: sequence-gap', 2],
    ['records reordered', (l: string[]) => { [l[4], l[5]] = [l[5]!, l[4]!]; }, 'record seq 4: sequence-gap', 2],
    ['a record of another chain', (l: string[]) => { l[5] = l[5]!.replace(/"chainId":"[^"]+"/, '"chainId":"ns/pod/ffffffffffff"'); }, 'record seq 4: wrong-chain', 3],
    ['a torn last line', (l: string[]) => { l[5] = l[5]!.slice(0, 40); }, 'incomplete or unreadable line', 3],
  ])('cuts the unsigned tail from %s, logs what and where, and counts it', async (_what, tamper, problem, keptSeq) => {
    const { dir, records } = await crashedWithOpenWindow();
    const segment = join(dir, readdirSync(dir).find((n) => n.startsWith('seg-'))!);
    const l = readSegmentText(segment).split('\n').filter((x) => x !== '');
    expect(l).toHaveLength(6);
    tamper(l);
    writeFileSync(segment, `${l.join('\n')}${problem.startsWith('incomplete') ? '' : '\n'}`);
    const { logger, logs, metrics } = observed();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', logger, metrics, ...NO_DEADLINE });
    expect(reopened.position).toEqual({ seq: keptSeq, head: records[keptSeq - 1]!.hash });
    expect(logs.find((x) => x.msg === 'cutting the spool at a torn or non-verifying line (with everything after it)')).toMatchObject({ segment, problem: expect.stringContaining(problem), keptSeq, offset: expect.any(Number) });
    expect(await counter(metrics, 'guarita_sidecar_spool_recovery_cuts_total')).toBe(1);
    expect(verify(reopened)).toMatchObject({ ok: true, count: keptSeq });
    expect(await reopened.append(event(9))).toMatchObject({ seq: keptSeq + 1, prev: records[keptSeq - 1]!.hash });
    await reopened.close();
  });

  it('refuses an earlier segment that ends without a checkpoint over its records', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 600, ...NO_DEADLINE });
    for (let n = 1; n <= 4; n++) await spool.append(event(n));
    await spool.close();
    const segments = readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();
    expect(segments.length).toBeGreaterThan(1);
    const first = join(dir, segments[0]!);
    writeFileSync(first, readSegmentText(first).split('\n').filter((x) => x !== '' && !x.startsWith('{"checkpoint"')).map((x) => `${x}\n`).join(''));
    await expect(Spool.open({ dir, chainPrefix: 'ns/pod' })).rejects.toThrow(/without a checkpoint over its records/);
  });

  it('a failed checkpoint write leaves the window unsigned on file, and it is signed once the volume takes writes', async () => {
    const dir = tempDir();
    let failing = false;
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE, faults: { beforeWrite: () => { if (failing) throw new Error('ENOSPC: no space left on device'); } } });
    const one = await spool.append(event(1));
    failing = true;
    await expect(spool.readAfter(0, 100, 1 << 20)).rejects.toThrow(/ENOSPC/);
    expect(checkpointSizes(dir)).toEqual([]);
    expect(verify(spool)).toEqual({ ok: true, count: 1, checkpoints: 0 });
    failing = false;
    const batch = await spool.readAfter(0, 100, 1 << 20);
    expect(batch.records).toEqual([one]);
    expect(checkpointSizes(dir)).toEqual([1]);
    await spool.close();
  });
});

describe('Spool', () => {
  it('appends a verifiable chain durably and group-commits concurrent appends', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    expect(spool.chainId).toMatch(/^ns\/pod\/[0-9a-f]{12}$/);
    const records = await Promise.all(Array.from({ length: 50 }, (_, i) => spool.append(event(i))));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(records.every((r) => r.v === 2 && !('sig' in r))).toBe(true);
    await spool.settle();
    // One signed checkpoint per signing window (here one: 50 records), not one signature per record or per group.
    expect(verify(spool, readAll(dir))).toEqual({ ok: true, count: 50, checkpoints: 1 });
    expect(spool.pendingCount).toBe(50);
    await spool.close();
  });

  it('continues the same chain after a restart, with the persisted key', async () => {
    const dir = tempDir();
    const first = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    await first.append(event(1));
    await first.append(event(2));
    await first.close();
    const second = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    expect(second.chainId).toBe(first.chainId);
    expect(second.key.keyId).toBe(first.key.keyId);
    expect(second.position.seq).toBe(2);
    await second.append(event(3));
    expect(verify(second, readAll(dir))).toMatchObject({ ok: true, count: 3 });
    await second.close();
  });

  it('never dates a checkpoint before the last one, even when the clock stepped back across a restart', async () => {
    const dir = tempDir();
    const first = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    await first.append(event(1));
    await first.close();
    const timeOf = (note: string): number => Date.parse(parseCheckpoint(note).checkpoint.time ?? '');
    const notes = (): string[] => lines(dir).flatMap((l) => ('checkpoint' in l ? [l.checkpoint] : []));
    const before = timeOf(notes().at(-1)!);
    const realNow = Date.now;
    Date.now = () => before - 3_600_000; // the node's clock stepped back an hour
    try {
      const second = await Spool.open({ dir, chainPrefix: 'ns/pod' });
      await second.append(event(2));
      await second.close();
    } finally {
      Date.now = realNow;
    }
    const after = notes().map(timeOf);
    expect(after).toHaveLength(2);
    expect(after[1]).toBeGreaterThanOrEqual(before);
  });

  it('cuts a torn tail left by a crash (never acknowledged) and continues the chain', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    await spool.append(event(1));
    await spool.append(event(2));
    const segment = readdirSync(dir).find((n) => n.startsWith('seg-'))!;
    appendFileSync(join(dir, segment), '{"type":"command","seq":3,"trunc');
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    expect(reopened.position.seq).toBe(2);
    await reopened.append(event(3));
    expect(verify(reopened, readAll(dir))).toMatchObject({ ok: true, count: 3 });
  });

  it('refuses to continue past corruption in an earlier segment', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 200 });
    for (let i = 0; i < 4; i++) await spool.append(event(i));
    await spool.close();
    const segments = readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();
    expect(segments.length).toBeGreaterThan(1);
    const first = join(dir, segments[0]!);
    writeFileSync(first, readSegmentText(first).replace('GET /customers/0', 'GET /customers/9'));
    await expect(Spool.open({ dir, chainPrefix: 'ns/pod' })).rejects.toThrow(/corrupt/);
  });

  it('forgets acknowledged records and deletes whole segments', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 300 });
    const records: SpoolRecord[] = [];
    for (let i = 0; i < 6; i++) records.push(await spool.append(event(i)));
    await spool.settle(); // the open window (record 6) signed
    const before = readdirSync(dir).filter((n) => n.startsWith('seg-')).length;
    await spool.ack({ seq: 4, head: records[3]!.hash });
    expect(spool.pendingCount).toBe(2);
    expect(readdirSync(dir).filter((n) => n.startsWith('seg-')).length).toBeLessThan(before);
    expect((await spool.readAfter(4, 100, 1 << 20)).records.map((r) => r.seq)).toEqual([5, 6]);
    await expect(spool.ack({ seq: 5, head: 'f'.repeat(64) })).rejects.toThrow(/fork/);
    await spool.close();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 300 });
    expect(reopened.acked.seq).toBe(4);
    expect(reopened.position.seq).toBe(6);
    const batch = await reopened.readAfter(4, 100, 1 << 20);
    expect(batch.records.map((r) => r.seq)).toEqual([5, 6]);
    expect(parseCheckpoint(batch.checkpoint!).checkpoint.size).toBe(6);
  });

  it('resumes the chain and its tree when everything was delivered (the last segment stays)', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 300 });
    const acked: SpoolRecord[] = [];
    for (let i = 0; i < 5; i++) acked.push(await spool.append(event(i)));
    await spool.ack({ seq: 5, head: acked[4]!.hash });
    expect(readdirSync(dir).filter((n) => n.startsWith('seg-'))).toHaveLength(1);
    await spool.close();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 300 });
    const b = await reopened.append(event(6));
    expect(b).toMatchObject({ seq: 6, prev: acked[4]!.hash });
    // The checkpoint after the restart is over the whole tree (leaves 1..6), though 1..4 are gone.
    const tree = ChainTree.empty();
    for (const r of [...acked, b]) tree.append(r.hash);
    const { checkpoint } = await reopened.readAfter(5, 100, 1 << 20);
    expect(parseCheckpoint(checkpoint!).checkpoint).toMatchObject({ origin: reopened.chainId, size: 6, rootHash: tree.root() });
    await reopened.close();
  });

  it('caps commit groups so one always fits a batch, and batches end at a checkpoint', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    await Promise.all(Array.from({ length: GROUP_RECORDS * 2 + 10 }, (_, i) => spool.append(event(i))));
    await spool.settle();
    const sizes = lines(dir).flatMap((l) => ('checkpoint' in l ? [parseCheckpoint(l.checkpoint).checkpoint.size] : []));
    // Whatever the groups were, no checkpoint covers more than GROUP_RECORDS records after the one before it.
    expect(sizes).toEqual([GROUP_RECORDS, GROUP_RECORDS * 2, GROUP_RECORDS * 2 + 10]);
    // Fewer records asked than a group holds: the whole first group comes, with its checkpoint.
    const small = await spool.readAfter(0, 10, 1 << 20);
    expect(small.records).toHaveLength(sizes[0]!);
    expect(parseCheckpoint(small.checkpoint!).checkpoint.size).toBe(sizes[0]);
    // More: as many whole groups as fit.
    const big = await spool.readAfter(0, sizes[1]! + 1, 1 << 30);
    expect(big.records.at(-1)!.seq).toBe(sizes[1]);
    expect(verify(spool)).toMatchObject({ ok: true, count: GROUP_RECORDS * 2 + 10 });
    await spool.close();
  });

  it('reads batches back from disk, with their checkpoints, when the records left memory', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', memoryBytes: 1, segmentBytes: 400 });
    for (let i = 0; i < 6; i++) await spool.append(event(i));
    const batch = await spool.readAfter(0, 4, 1 << 20);
    expect(batch.records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(parseCheckpoint(batch.checkpoint!).checkpoint).toMatchObject({ origin: spool.chainId, size: 4 });
    const tree = ChainTree.empty();
    for (const r of batch.records) tree.append(r.hash);
    expect(checkChainCheckpoint(batch.checkpoint, { origin: spool.chainId, size: 4, root: tree.root(), verifier: checkpointVerifier(spool.key.publicJwk, spool.key.keyId) })).toBeUndefined();
    await spool.close();
  });

  it('cuts a record that does not verify, and a checkpoint that does not match the records before it', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    const one = await spool.append(event(1));
    const two = await spool.append(event(2));
    await spool.close();
    const segment = join(dir, readdirSync(dir).find((n) => n.startsWith('seg-'))!);
    const intact = readSegmentText(segment);
    const [header, r1, r2, c2] = intact.split('\n');
    expect('checkpoint' in (JSON.parse(c2!) as object)).toBe(true);
    // A record line re-numbered (its hash no longer matches its content): cut, the chain resumes before it.
    appendFileSync(segment, `${r2!.replace('"seq":2', '"seq":3')}\n`);
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    expect(reopened.position).toEqual({ seq: 2, head: two.hash });
    await reopened.close();
    // A checkpoint line whose size is not the tree's: cut with everything after it; record 1 before
    // it verifies (hash, link, seq) and is kept, under a checkpoint signed at open.
    const forged = JSON.parse(c2!) as { checkpoint: string };
    writeFileSync(segment, `${header}\n${r1}\n${JSON.stringify({ ...forged, checkpoint: forged.checkpoint.replace(/^(.*\n)2\n/, '$11\n') })}\n${r2}\n`);
    const cut = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    expect(cut.position).toEqual({ seq: 1, head: one.hash });
    expect(verify(cut)).toMatchObject({ ok: true, count: 1, checkpoints: 1 });
    await cut.close();
  });

  it('retires a fully shipped spool of an older sidecar, and refuses one with unshipped records', async () => {
    const dir = tempDir();
    const key = generateSigningKey();
    const old = new SignedChainWriter<SessionEvent>('ns/pod/old', key);
    const records = [old.append(event(1)), old.append(event(2))];
    writeFileSync(join(dir, 'identity.json'), JSON.stringify({ chainId: 'ns/pod/old', privateJwk: exportPrivateJwk(key) }));
    writeFileSync(join(dir, 'seg-000000000001.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    writeFileSync(join(dir, 'acked.json'), JSON.stringify({ seq: 1, head: records[0]!.hash }));
    await expect(Spool.open({ dir, chainPrefix: 'ns/pod' })).rejects.toThrow(/older sidecar \(format 1\) and holds 1 records the operator has not stored/);
    writeFileSync(join(dir, 'acked.json'), JSON.stringify({ seq: 2, head: records[1]!.hash }));
    const fresh = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    expect(fresh.chainId).not.toBe('ns/pod/old');
    expect(await fresh.append(event(3))).toMatchObject({ seq: 1, v: 2 });
    await fresh.close();
  });

  it('fails the appends of a failed write, and the chain continues from the last durable record', async () => {
    const dir = tempDir();
    let failing = false;
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', faults: { beforeWrite: () => { if (failing) throw new Error('ENOSPC: no space left on device'); } } });
    await spool.append(event(1));
    failing = true;
    await expect(spool.append(event(2))).rejects.toBeInstanceOf(SpoolError);
    expect(spool.health()).toMatchObject({ ok: false, message: expect.stringContaining('ENOSPC') });
    failing = false;
    // The volume takes writes again: the next probe (at most once a second) clears the failure.
    await afterProbe(spool);
    expect(spool.health()).toEqual({ ok: true });
    const next = await spool.append(event(3));
    expect(next.seq).toBe(2);
    expect(verify(spool, readAll(dir))).toMatchObject({ ok: true, count: 2 });
    await spool.close();
  });

  describe('durability Written', () => {
    it('answers after the write, syncs within SYNC_DELAY_MS, and ships only what is synced', async () => {
      const dir = tempDir();
      let syncs = 0;
      // No window deadline during the test: only the records' syncs are counted.
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE, faults: { beforeSync: () => { syncs++; } } });
      let notified = 0;
      spool.onAppend(() => { notified++; });
      const records = await Promise.all([1, 2, 3].map((n) => spool.append(event(n), 'Written')));
      // Answered from the page cache: on file, not yet synced, not yet offered to the shipper.
      expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(verify(spool, readAll(dir))).toMatchObject({ ok: true, count: 3 });
      expect(syncs).toBe(0);
      expect(spool.position.seq).toBe(0);
      expect(await spool.readAfter(0, 100, 1 << 20)).toEqual({ records: [], lines: [], checkpoint: undefined });
      await afterBackgroundSync('the three records shipped', () => spool.position.seq === 3);
      expect(syncs).toBe(1);
      expect(notified).toBe(1);
      expect(spool.position).toEqual({ seq: 3, head: records[2]!.hash });
      expect((await spool.readAfter(0, 100, 1 << 20)).records.map((r) => r.seq)).toEqual([1, 2, 3]);
      await spool.close();
    });

    it('settle() syncs Written records at once, so a final flush counts them as pending (shutdown)', async () => {
      const dir = tempDir();
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
      const queued = [1, 2].map((n) => spool.append(event(n), 'Written'));
      expect(spool.pendingCount).toBe(0);
      await spool.settle();
      // No SYNC_DELAY_MS wait: both queued appends are written and synced when settle() returns.
      expect(spool.pendingCount).toBe(2);
      expect((await Promise.all(queued)).map((r) => r.seq)).toEqual([1, 2]);
      await spool.close();
    });

    it('a Synced append syncs the Written records before it in the same fdatasync', async () => {
      const dir = tempDir();
      let syncs = 0;
      // No window deadline during the test: only the records' syncs are counted.
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE, faults: { beforeSync: () => { syncs++; } } });
      // The Written record's delayed sync (SYNC_DELAY_MS) must not fire before the Synced append
      // does on a loaded machine: timers are the test's; file I/O and immediates stay real.
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance', 'Date', 'hrtime'] });
      try {
        await spool.append(event(1), 'Written');
        const strict = await spool.append(event(2), 'Synced');
        expect(syncs).toBe(1);
        expect(spool.position).toEqual({ seq: 2, head: strict.hash });
        await jest.advanceTimersByTimeAsync(SYNC_DELAY_MS + 40);
        expect(syncs).toBe(1); // the timer found nothing left to sync
      } finally {
        jest.useRealTimers();
      }
      await spool.close();
    });

    it('close() syncs what was only written; a reopened spool continues after it', async () => {
      const dir = tempDir();
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
      await spool.append(event(1), 'Written');
      const last = await spool.append(event(2), 'Written');
      await spool.close();
      expect(spool.position).toEqual({ seq: 2, head: last.hash });
      const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod' });
      expect(reopened.position.seq).toBe(2);
      expect(await reopened.append(event(3), 'Written')).toMatchObject({ seq: 3, prev: last.hash });
      await reopened.close();
    });

    it('a failed background sync refuses further requests until the volume recovers', async () => {
      const dir = tempDir();
      let failing = true;
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', faults: { beforeSync: () => { if (failing) throw new Error('EIO: i/o error'); } } });
      await spool.append(event(1), 'Written');
      await afterBackgroundSync('the spool unhealthy', () => !spool.health().ok);
      expect(spool.health()).toMatchObject({ ok: false, message: expect.stringContaining('EIO') });
      expect(spool.position.seq).toBe(0);
      // A Synced append while the volume still fails is refused, and nothing is shipped.
      await expect(spool.append(event(2), 'Synced')).rejects.toBeInstanceOf(SpoolError);
      failing = false;
      await afterProbe(spool);
      expect(spool.health()).toEqual({ ok: true });
      const next = await spool.append(event(3), 'Synced');
      expect(next.seq).toBe(2);
      expect(spool.position.seq).toBe(2);
      expect(verify(spool, readAll(dir))).toMatchObject({ ok: true, count: 2 });
      await spool.close();
    });

    it('rolls segments without losing the sync of the segment it leaves', async () => {
      const dir = tempDir();
      let syncs = 0;
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 600, faults: { beforeSync: () => { syncs++; } } });
      for (let n = 1; n <= 6; n++) await spool.append(event(n), 'Written');
      expect(readdirSync(dir).filter((n) => n.startsWith('seg-')).length).toBeGreaterThan(1);
      expect(syncs).toBeGreaterThan(0);
      await spool.close();
      expect(verify(spool, readAll(dir))).toMatchObject({ ok: true, count: 6 });
    });
  });
});

describe('Spool commit groups per turn of the event loop', () => {
  /**
   * Appends made by separate callbacks of one turn, as socket reads of one epoll wake-up are:
   * immediates queued together run in one check phase (the spool's flush, queued during it, runs on
   * the next turn). Not timers: Node reads the clock as it queues each one, and under load a
   * millisecond boundary between them split the four into two turns (two groups).
   */
  function appendInSeparateCallbacks(spool: Spool, ns: number[], durability: 'Written' | 'Synced'): Promise<SpoolRecord[]> {
    return new Promise((resolve, reject) => {
      const answers: Promise<SpoolRecord>[] = [];
      for (const n of ns) setImmediate(() => { answers.push(spool.append(event(n), durability)); if (answers.length === ns.length) Promise.all(answers).then(resolve, reject); });
    });
  }

  it.each(['Written', 'Synced'] as const)('records the appends of separate callbacks of one turn with one write (%s), in order, each answered once kept', async (durability) => {
    const dir = tempDir();
    let writes = 0;
    let syncs = 0;
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE, faults: { beforeWrite: () => { writes++; }, beforeSync: () => { syncs++; } } });
    const records = await appendInSeparateCallbacks(spool, [1, 2, 3, 4], durability);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(records.map((r) => r.command)).toEqual([1, 2, 3, 4].map((n) => `GET /customers/${n}`));
    expect(writes).toBe(1);
    if (durability === 'Synced') {
      expect(syncs).toBe(1);
      expect(spool.position.seq).toBe(4);
    }
    await spool.close();
    expect(verify(spool)).toMatchObject({ ok: true, count: 4 });
  });

  it('a failed write of a Written group (written at once, without the flush loop) fails every append of the group and those queued after it; the chain continues from the last written record', async () => {
    const dir = tempDir();
    let failing = false;
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE, faults: { beforeWrite: () => { if (failing) throw new Error('EIO: i/o error'); } } });
    const first = await spool.append(event(1), 'Written');
    failing = true;
    const outcomes = await Promise.allSettled([2, 3, 4].map((n) => spool.append(event(n), 'Written')));
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const o of outcomes) expect((o as PromiseRejectedResult).reason).toBeInstanceOf(SpoolError);
    expect(spool.health()).toMatchObject({ ok: false, message: expect.stringContaining('EIO') });
    failing = false;
    await afterProbe(spool);
    expect(spool.health()).toEqual({ ok: true });
    expect(await spool.append(event(5), 'Written')).toMatchObject({ seq: 2, prev: first.hash });
    await spool.close();
    expect(readAll(dir).map((r) => r.command)).toEqual(['GET /customers/1', 'GET /customers/5']);
    expect(verify(spool)).toMatchObject({ ok: true, count: 2 });
  });

  it('close() and settle() record the appends of the current turn before they return (none is refused or left unsigned)', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    const settled = [1, 2].map((n) => spool.append(event(n), 'Written'));
    await spool.settle();
    expect(spool.pendingCount).toBe(2);
    const closing = [3, 4].map((n) => spool.append(event(n), 'Written'));
    await spool.close();
    expect((await Promise.all([...settled, ...closing])).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(checkpointSizes(dir).at(-1)).toBe(4);
    expect(verify(spool)).toMatchObject({ ok: true, count: 4 });
    await expect(spool.append(event(5), 'Written')).rejects.toBeInstanceOf(SpoolError);
  });

  it('a Written group appended while an ack holds the lock waits for it: the chain on file stays whole and in order', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', checkpointWindowMs: 1 });
    const first = await spool.append(event(1), 'Synced');
    await spool.settle();
    // The ack writes acked.json under the lock (two fsyncs); the appends of this turn queue behind it.
    const acking = spool.ack({ seq: first.seq, head: first.hash });
    const during = await Promise.all([2, 3, 4].map((n) => spool.append(event(n), 'Written')));
    await acking;
    expect(during.map((r) => r.seq)).toEqual([2, 3, 4]);
    await spool.close();
    expect(readAll(dir).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(verify(spool)).toMatchObject({ ok: true, count: 4 });
  });
});

describe('Spool pending gauge', () => {
  it('guarita_sidecar_spool_pending_records follows synced records: a Synced answer counts at once, a Written one once its sync ran, an ack takes them off', async () => {
    const metrics = new Metrics();
    const pending = (): Promise<number> => counter(metrics, 'guarita_sidecar_spool_pending_records');
    const spool = await Spool.open({ dir: tempDir(), chainPrefix: 'ns/pod', ...NO_DEADLINE, metrics });
    await spool.append(event(1), 'Synced');
    expect(await pending()).toBe(1);
    const written = await spool.append(event(2), 'Written');
    expect(await pending()).toBe(1);
    await afterBackgroundSync('two records pending', async () => (await pending()) === 2);
    expect(await pending()).toBe(2);
    await spool.settle();
    await spool.ack({ seq: written.seq, head: written.hash });
    expect(await pending()).toBe(0);
    await spool.close();
  });
});
