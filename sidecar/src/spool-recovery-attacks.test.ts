// Adversarial review of the spool's signing windows and recovery (issue 19, round 2): records are
// answered before any checkpoint covers them, recovery keeps and signs an unsigned tail, the
// shipper sends only records ending at a durable checkpoint. Each test is a class of attack on
// that: tail records that hash right but do not belong, checkpoints out of place, corruption below
// what the operator already holds, acknowledgements the spool never shipped, bursts against the
// window cap, and every order of Written/Synced appends against the loop/pool sync placement
// (with kill -9 at any turn). Commit groups per event-loop turn are attacked in spool-attacks.test.ts.
import { afterEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { ChainTree } from '../../core/recording/chain-tree.ts';
import { checkChainCheckpoint, checkpointVerifier } from '../../core/recording/chain-checkpoint.ts';
import { parseCheckpoint } from '../../core/recording/checkpoint.ts';
import { canonicalJsonWithout } from '../../core/recording/canonical.ts';
import type { SessionEvent } from '../../core/recording/index.ts';
import { createLogger } from './log.ts';
import { Metrics } from './metrics.ts';
import { GROUP_BYTES, GROUP_RECORDS, readSegmentText, Spool, SpoolError, type Durability, type SpoolRecord } from './spool.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'spool-recovery-attack-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function event(n: number, command = `GET /customers/${n}`): SessionEvent {
  return {
    type: 'command', time: new Date(0).toISOString(), namespace: 'ns', pod: 'pod', policy: 'p', target: 't', protocol: 'http',
    sessionId: 's1', subject: 'agent', subjectKind: 'User', groups: ['support'], command, decision: 'allow',
  };
}

const NO_DEADLINE = { checkpointWindowMs: 3_600_000 };

function segmentFile(dir: string): string {
  return join(dir, readdirSync(dir).filter((n) => n.startsWith('seg-')).sort().at(-1)!);
}

function segmentLines(dir: string): string[] {
  return readSegmentText(segmentFile(dir)).split('\n').filter((x) => x !== '');
}

const checkpointSizes = (dir: string): number[] => readdirSync(dir).filter((n) => n.startsWith('seg-')).sort()
  .flatMap((n) => readSegmentText(join(dir, n)).split('\n').filter((l) => l.startsWith('{"checkpoint"')))
  .map((l) => parseCheckpoint((JSON.parse(l) as { checkpoint: string }).checkpoint).checkpoint.size);

/** A record line changed and re-hashed, as someone who can write the volume would (the hash matches the new content). */
function rehashed(line: string, change: (r: Record<string, unknown>) => void): string {
  const r = JSON.parse(line) as Record<string, unknown>;
  change(r);
  r.hash = createHash('sha256').update(canonicalJsonWithout(r, ['hash', 'sig'])).digest('hex');
  return JSON.stringify(r);
}

/** Records 1 (signed) and 2..4 (answered, durable, window open), as a kill -9 leaves them. Lines: header, r1, cp(1), r2, r3, r4. */
async function crashedWithOpenWindow(): Promise<{ dir: string; records: SpoolRecord[] }> {
  const dir = tempDir();
  const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
  const records = [await spool.append(event(1))];
  await spool.settle();
  for (let i = 2; i <= 4; i++) records.push(await spool.append(event(i)));
  // What is on file now is what a kill -9 leaves (the page cache outlives the process): keep it, let close() sign a copy we throw away.
  const copy = tempDir();
  for (const name of readdirSync(dir)) if (!name.startsWith('.')) writeFileSync(join(copy, name), readFileSync(join(dir, name)));
  await spool.close();
  expect(segmentLines(copy)).toHaveLength(6);
  return { dir: copy, records };
}

describe('recovery keeps only a tail the operator would take', () => {
  // Each tampered line is the LAST record (seq 4): its hash matches its new content and nothing
  // after it has to link to it, so only the identity checks stand between it and a signature.
  it.each([
    ['another keyId', (r: Record<string, unknown>) => { r.keyId = 'ffffffffffffffff'; }],
    ['no format (v removed: a format 1 record needs a signature)', (r: Record<string, unknown>) => { delete r.v; }],
    ['format 1', (r: Record<string, unknown>) => { r.v = 1; }],
    ['an unknown format', (r: Record<string, unknown>) => { r.v = 3; }],
    ['another chain id', (r: Record<string, unknown>) => { r.chainId = `${String(r.chainId)}x`; }],
    // Ingest refuses a record naming another namespace or pod than the chain's registration (this pod's).
    ['another namespace', (r: Record<string, unknown>) => { r.namespace = 'other-ns'; }],
    ['another pod', (r: Record<string, unknown>) => { r.pod = 'other-pod'; }],
    ['no namespace', (r: Record<string, unknown>) => { delete r.namespace; }],
    ['the pod as a number', (r: Record<string, unknown>) => { r.pod = 7; }],
    ['a seq off by one', (r: Record<string, unknown>) => { r.seq = 5; }],
    ['a prev of another record', (r: Record<string, unknown>) => { r.prev = 'a'.repeat(64); }],
  ])('a tail record re-hashed with %s is cut, never signed at open', async (_what, change) => {
    const { dir, records } = await crashedWithOpenWindow();
    const l = segmentLines(dir);
    l[5] = rehashed(l[5]!, change);
    writeFileSync(segmentFile(dir), `${l.join('\n')}\n`);
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    expect(reopened.position).toEqual({ seq: 3, head: records[2]!.hash });
    expect(checkpointSizes(dir)).toEqual([1, 3]);
    const batch = await reopened.readAfter(0, 100, 1 << 20);
    expect(batch.records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(batch.records.every((r) => r.keyId === reopened.key.keyId && r.v === 2)).toBe(true);
    await reopened.close();
  });

  it('a record of an earlier window replayed into the tail is cut (seq and prev do not follow)', async () => {
    const { dir, records } = await crashedWithOpenWindow();
    const l = segmentLines(dir);
    writeFileSync(segmentFile(dir), `${[...l, l[1]!].join('\n')}\n`);
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    expect(reopened.position).toEqual({ seq: 4, head: records[3]!.hash });
    expect(checkpointSizes(dir)).toEqual([1, 4]);
    await reopened.close();
  });

  it('a genuine checkpoint line (size 1) copied into the middle of the tail is cut with what follows', async () => {
    const { dir, records } = await crashedWithOpenWindow();
    const l = segmentLines(dir);
    l.splice(4, 0, l[2]!);
    writeFileSync(segmentFile(dir), `${l.join('\n')}\n`);
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    expect(reopened.position).toEqual({ seq: 2, head: records[1]!.hash });
    expect(checkpointSizes(dir)).toEqual([1, 2]);
    await reopened.close();
  });

  it('a checkpoint over the tail signed by another key is cut', async () => {
    const { dir, records } = await crashedWithOpenWindow();
    const other = await Spool.open({ dir: tempDir(), chainPrefix: 'ns/pod', ...NO_DEADLINE });
    for (let i = 1; i <= 4; i++) await other.append(event(i));
    await other.settle();
    const foreign = segmentLines(other.dir).filter((x) => x.startsWith('{"checkpoint"')).at(-1)!;
    await other.close();
    writeFileSync(segmentFile(dir), `${[...segmentLines(dir), foreign].join('\n')}\n`);
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    expect(reopened.position).toEqual({ seq: 4, head: records[3]!.hash });
    const verifier = checkpointVerifier(reopened.key.publicJwk, reopened.key.keyId);
    const batch = await reopened.readAfter(0, 100, 1 << 20);
    const tree = ChainTree.empty();
    for (const r of batch.records) tree.append(r.hash);
    expect(checkChainCheckpoint(batch.checkpoint, { origin: reopened.chainId, size: 4, root: tree.root(), verifier })).toBeUndefined();
    await reopened.close();
  });
});

describe('recovery below what the operator already holds', () => {
  /** Records 1..4 signed, synced and acknowledged up to 3; then more appended and the spool closed. */
  async function acknowledged(): Promise<{ dir: string; records: SpoolRecord[] }> {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    const records: SpoolRecord[] = [];
    for (let i = 1; i <= 4; i++) records.push(await spool.append(event(i)));
    const batch = await spool.readAfter(0, 100, 1 << 20);
    expect(batch.records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    await spool.ack({ seq: 3, head: records[2]!.hash });
    for (let i = 5; i <= 6; i++) records.push(await spool.append(event(i)));
    await spool.close();
    return { dir, records };
  }

  it('refuses to start rather than resume behind the acknowledged position (the next record would fork what the operator stored)', async () => {
    const { dir } = await acknowledged();
    const l = segmentLines(dir);
    const at = l.findIndex((x) => x.includes('"seq":2,'));
    l[at] = l[at]!.replace('GET /customers/2', 'GET /customers/7');
    writeFileSync(segmentFile(dir), `${l.join('\n')}\n`);
    await expect(Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE })).rejects.toThrow(SpoolError);
    await expect(Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE })).rejects.toThrow(/acknowledged/);
  });

  it('refuses to start when the record at the acknowledged position is not the one acknowledged', async () => {
    const { dir, records } = await acknowledged();
    writeFileSync(join(dir, 'acked.json'), JSON.stringify({ seq: 3, head: records[1]!.hash }));
    await expect(Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE })).rejects.toThrow(/acknowledged/);
  });

  it('an intact spool with an acknowledged position resumes after it', async () => {
    const { dir, records } = await acknowledged();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    expect(reopened.acked).toEqual({ seq: 3, head: records[2]!.hash });
    expect(reopened.position).toEqual({ seq: 6, head: records[5]!.hash });
    expect((await reopened.readAfter(3, 100, 1 << 20)).records.map((r) => r.seq)).toEqual([4, 5, 6]);
    await reopened.close();
  });
});

describe('acknowledgements the spool never shipped', () => {
  it('refuses an ack beyond the last record, and one naming a hash the spool does not have, signed or not', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    const one = await spool.append(event(1));
    await spool.settle();
    const two = await spool.append(event(2)); // durable, not signed: never shipped
    await expect(spool.ack({ seq: 3, head: two.hash })).rejects.toThrow(/beyond/);
    await expect(spool.ack({ seq: 2, head: one.hash })).rejects.toThrow(/fork/);
    await expect(spool.ack({ seq: 1, head: two.hash })).rejects.toThrow(/fork/);
    expect(spool.acked.seq).toBe(0);
    // Only the signed record ships; the unsigned one waits for its window.
    expect((await spool.readAfter(0, 100, 1 << 20)).records.map((r) => r.seq)).toEqual([1]);
    await spool.close();
  });
});

describe('the shipper sends exactly what a checkpoint covers, whatever the order of appends, reads and acks', () => {
  type Op = { kind: 'append'; n: number; durability: Durability; multibyte: boolean } | { kind: 'burst'; n: number; durability: Durability } | { kind: 'ship'; maxRecords: number } | { kind: 'settle' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('append' as const), n: fc.integer({ min: 1, max: 3 }), durability: fc.constantFrom<Durability>('Synced', 'Written'), multibyte: fc.boolean() }),
    fc.record({ kind: fc.constant('burst' as const), n: fc.integer({ min: 2, max: 300 }), durability: fc.constantFrom<Durability>('Synced', 'Written') }),
    fc.record({ kind: fc.constant('ship' as const), maxRecords: fc.integer({ min: 1, max: 600 }) }),
    fc.constant({ kind: 'settle' as const }),
  );

  /** Drives one spool through the operations, checking each answer and each batch as it comes. */
  class Driver {
    readonly all: SpoolRecord[] = [];
    readonly #tree = ChainTree.empty();
    n = 0;
    readonly spool: Spool;
    /** Where each fdatasync ran, as the spool's fault hook saw it start. */
    readonly syncs: readonly string[];
    constructor(spool: Spool, syncs: readonly string[]) {
      this.spool = spool;
      this.syncs = syncs;
    }

    async append(durability: Durability, command?: string): Promise<void> {
      const record = await this.spool.append(event(++this.n, command), durability);
      // A Synced record is answered only once a sync covered it (the durable position moves only after an fdatasync).
      if (durability === 'Synced') {
        expect(this.spool.position.seq).toBeGreaterThanOrEqual(record.seq);
        expect(this.syncs.some((e) => e === 'loop' || e === 'pool')).toBe(true);
      }
      this.all[record.seq - 1] = record;
    }

    async ship(maxRecords: number): Promise<void> {
      const { spool } = this;
      const batch = await spool.readAfter(spool.acked.seq, maxRecords, 1 << 20);
      if (batch.records.length === 0) return;
      expect(batch.records.map((r) => r.seq)).toEqual(batch.records.map((_, i) => spool.acked.seq + 1 + i));
      for (const r of batch.records) expect(r).toEqual(this.all[r.seq - 1]);
      const last = batch.records.at(-1)!;
      expect(parseCheckpoint(batch.checkpoint!).checkpoint.size).toBe(last.seq);
      while (this.#tree.size < last.seq) this.#tree.append(this.all[this.#tree.size]!.hash);
      const verifier = checkpointVerifier(spool.key.publicJwk, spool.key.keyId);
      expect(checkChainCheckpoint(batch.checkpoint, { origin: spool.chainId, size: last.seq, root: this.#tree.root(), verifier })).toBeUndefined();
      await spool.ack({ seq: last.seq, head: last.hash });
    }

    async run(o: Op): Promise<void> {
      if (o.kind === 'append') {
        for (let i = 0; i < o.n; i++) await this.append(o.durability, o.multibyte ? `SELECT '${'€'.repeat(200_000)}'` : undefined);
      } else if (o.kind === 'burst') {
        await Promise.all(Array.from({ length: o.n }, () => this.append(o.durability)));
      } else if (o.kind === 'settle') {
        await this.spool.settle();
      } else {
        await this.ship(o.maxRecords);
      }
    }
  }

  /** One checkpoint's records fit one ingest batch: at most GROUP_RECORDS records and GROUP_BYTES bytes of lines after the checkpoint before it. */
  function expectWindowsWithinCaps(dir: string, appended: number): void {
    const records = readdirSync(dir).filter((x) => x.startsWith('seg-')).sort()
      .flatMap((x) => readSegmentText(join(dir, x)).split('\n').filter((l) => l.startsWith('{') && !l.startsWith('{"checkpoint"') && !l.startsWith('{"segment"')));
    const sizes = checkpointSizes(dir);
    expect(sizes.at(-1) ?? 0).toBe(appended);
    const first = appended - records.length; // acknowledged segments are gone
    let from = 0;
    for (const size of sizes) {
      expect(size - from).toBeLessThanOrEqual(GROUP_RECORDS);
      const bytes = records.slice(Math.max(0, from - first), size - first).reduce((b, l) => b + Buffer.byteLength(l) + 1, 0);
      if (from >= first) expect(bytes).toBeLessThanOrEqual(GROUP_BYTES);
      from = size;
    }
  }

  it('every batch: contiguous after the ack, its checkpoint at its last record over the whole tree; every window within the caps (in bytes); every Synced answer after a sync', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      const syncs: string[] = [];
      const spool = await Spool.open({ dir: tempDir(), chainPrefix: 'ns/pod', checkpointWindowMs: 5, faults: { beforeSync: (where) => { syncs.push(where ?? 'background'); } } });
      const driver = new Driver(spool, syncs);
      for (const o of ops) await driver.run(o);
      await spool.close();
      expectWindowsWithinCaps(spool.dir, driver.n);
    }), { numRuns: 20 });
  }, 120_000);

  it('a kill -9 at any turn of the event loop (what the page cache holds then) loses no answered record: recovered, signed, shipped as answered', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 6 }), fc.integer({ min: 1, max: 40 }), fc.constantFrom<Durability>('Synced', 'Written'), fc.nat(6), async (ops, inFlight, durability, turns) => {
      const syncs: string[] = [];
      const spool = await Spool.open({ dir: tempDir(), chainPrefix: 'ns/pod', checkpointWindowMs: 5, faults: { beforeSync: (where) => { syncs.push(where ?? 'background'); } } });
      const driver = new Driver(spool, syncs);
      for (const o of ops) await driver.run(o);
      const answered = new Map<number, string>(driver.all.map((r) => [r.seq, r.hash]));
      const burst = Array.from({ length: inFlight }, (_, i) => spool.append(event(10_000 + i), durability).then((r) => { answered.set(r.seq, r.hash); }));
      for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r));
      // The kill: the files as they are now (writes are whole from JS's view), and what had been answered by then.
      const seen = new Map(answered);
      const copy = tempDir();
      for (const name of readdirSync(spool.dir)) if (!name.startsWith('.')) writeFileSync(join(copy, name), readFileSync(join(spool.dir, name)));
      await Promise.all(burst);
      await spool.close();
      const reopened = await Spool.open({ dir: copy, chainPrefix: 'ns/pod', ...NO_DEADLINE });
      const top = Math.max(0, ...seen.keys());
      expect(reopened.position.seq).toBeGreaterThanOrEqual(top);
      const shipped: SpoolRecord[] = [];
      for (let batch = await reopened.readAfter(reopened.acked.seq, 1000, 1 << 30); batch.records.length > 0; batch = await reopened.readAfter(batch.records.at(-1)!.seq, 1000, 1 << 30)) {
        expect(parseCheckpoint(batch.checkpoint!).checkpoint.size).toBe(batch.records.at(-1)!.seq);
        shipped.push(...batch.records);
      }
      for (const r of shipped) if (seen.has(r.seq)) expect(r.hash).toBe(seen.get(r.seq));
      for (const seq of seen.keys()) if (seq > reopened.acked.seq) expect(shipped.some((r) => r.seq === seq)).toBe(true);
      await reopened.close();
    }), { numRuns: 30 });
  }, 120_000);

  it('a burst of multi-byte records is cut into windows by bytes, not UTF-16 units', async () => {
    const spool = await Spool.open({ dir: tempDir(), chainPrefix: 'ns/pod', ...NO_DEADLINE });
    await Promise.all(Array.from({ length: 6 }, (_, i) => spool.append(event(i, `SELECT 'João ${'ç€'.repeat(100_000)}'`))));
    await spool.settle();
    expect(checkpointSizes(spool.dir).length).toBeGreaterThan(1);
    await spool.close();
    expectWindowsWithinCaps(spool.dir, 6);
  });
});

/** A logger whose JSON lines are kept, and metrics, to check what recovery reports. */
function observed(): { logger: ReturnType<typeof createLogger>; logs: Record<string, unknown>[]; metrics: Metrics } {
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({ write(chunk: Buffer, _enc, done) { logs.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  return { logger: createLogger({ level: 'info', destination }), logs, metrics: new Metrics() };
}

async function recoveryCuts(metrics: Metrics): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'guarita_sidecar_spool_recovery_cuts_total');
  return Number(metric?.values[0]?.value ?? 0);
}

/** The spool's files as they are now (what a kill -9 leaves: the page cache outlives the process), in a new directory. */
function killCopy(dir: string): string {
  const copy = tempDir();
  for (const name of readdirSync(dir)) if (!name.startsWith('.')) writeFileSync(join(copy, name), readFileSync(join(dir, name)));
  return copy;
}

const CUT_MESSAGE = 'cutting the spool at a torn or non-verifying line (with everything after it)';
const SEGMENT_BYTES = 64 * 1024;

describe('pre-sized segments: the data ends at the first NUL byte, whatever a crash left after it', () => {
  it('no line the spool writes holds a NUL byte, whatever the record holds (JSON escapes U+0000): every record with one recovers after a kill', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: SEGMENT_BYTES, ...NO_DEADLINE });
    const nul = ['\u0000', 'a\u0000b', '\u0000'.repeat(300), 'SELECT \'x\u0000\' -- é\u0000€', '\\u0000 \u0000\n\u0000'];
    const records: SpoolRecord[] = [];
    for (const [i, text] of nul.entries()) {
      records.push(await spool.append({ ...event(i, text), reason: text, result: { rows: 1, sample: text, error: text } }, i % 2 === 0 ? 'Synced' : 'Written'));
    }
    await spool.settle();
    records.push(await spool.append(event(99, 'after the checkpoint \u0000')));
    const file = segmentFile(dir);
    const content = readFileSync(file);
    // Open and pre-sized: segmentBytes long, its data up to the first NUL, zeros after it.
    expect(content.length).toBe(SEGMENT_BYTES);
    const data = readSegmentText(file);
    expect(content.indexOf(0)).toBe(Buffer.byteLength(data));
    expect(content.subarray(Buffer.byteLength(data)).every((b) => b === 0)).toBe(true);
    const onFile = data.split('\n').filter((l) => l !== '');
    expect(onFile.filter((l) => l.startsWith('{"checkpoint"'))).toHaveLength(1);
    expect(onFile.filter((l) => l.includes('"seq"')).map((l) => (JSON.parse(l) as SpoolRecord).command)).toEqual(records.map((r) => r.command));
    const copy = killCopy(dir);
    await spool.close();
    const { logger, logs, metrics } = observed();
    const reopened = await Spool.open({ dir: copy, chainPrefix: 'ns/pod', segmentBytes: SEGMENT_BYTES, logger, metrics, ...NO_DEADLINE });
    // A zero tail is the end of the data, not damage: nothing cut, nothing counted.
    expect(reopened.position).toEqual({ seq: records.length, head: records.at(-1)!.hash });
    expect(logs.filter((l) => l.msg === CUT_MESSAGE)).toEqual([]);
    expect(await recoveryCuts(metrics)).toBe(0);
    const batch = await reopened.readAfter(0, 1000, 1 << 30);
    expect(batch.records).toEqual(records);
    await reopened.close();
  });

  it('the open segment is zero-filled to segmentBytes; segments left for the next one and the last one at close are cut to their data', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 4096, ...NO_DEADLINE });
    for (let i = 0; i < 40; i++) await spool.append(event(i), i % 3 === 0 ? 'Written' : 'Synced');
    const names = readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();
    expect(names.length).toBeGreaterThan(2);
    for (const name of names.slice(0, -1)) {
      const content = readFileSync(join(dir, name));
      expect(content.indexOf(0)).toBe(-1);
      expect(content.length).toBe(Buffer.byteLength(readSegmentText(join(dir, name))));
    }
    // A group may run past segmentBytes (the segment rolls at the next one).
    const open = join(dir, names.at(-1)!);
    expect(readFileSync(open).length).toBe(Math.max(4096, Buffer.byteLength(readSegmentText(open))));
    await spool.close();
    const last = join(dir, names.at(-1)!);
    expect(readFileSync(last).indexOf(0)).toBe(-1);
    expect(readFileSync(last).length).toBe(Buffer.byteLength(readSegmentText(last)));
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: SEGMENT_BYTES, ...NO_DEADLINE });
    expect(reopened.position.seq).toBe(40);
    // Reopened: pre-sized again.
    expect(readFileSync(last).length).toBe(SEGMENT_BYTES);
    await reopened.close();
  });

  it('a kill -9 mid-group (a torn line, then zeros): the torn line is cut, the answered records kept, the segment pre-sized again', async () => {
    const { dir, records } = await crashedWithOpenWindow();
    const file = segmentFile(dir);
    const content = readFileSync(file);
    const end = content.indexOf(0);
    expect(end).toBeGreaterThan(0);
    // A group's write the kill cut short: the start of a record line inside the zero tail.
    Buffer.from('{"chainId":"ns/pod/x","command":"GET /customers/5"').copy(content, end);
    writeFileSync(file, content);
    const { logger, logs, metrics } = observed();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', logger, metrics, ...NO_DEADLINE });
    expect(reopened.position).toEqual({ seq: 4, head: records[3]!.hash });
    expect(logs.find((l) => l.msg === CUT_MESSAGE)).toMatchObject({ segment: file, offset: end, problem: 'incomplete or unreadable line', keptSeq: 4 });
    expect(await recoveryCuts(metrics)).toBe(1);
    expect(await reopened.append(event(5))).toMatchObject({ seq: 5, prev: records[3]!.hash });
    expect(segmentLines(dir).filter((l) => l.includes('"seq"')).map((l) => (JSON.parse(l) as SpoolRecord).seq)).toEqual([1, 2, 3, 4, 5]);
    await reopened.close();
  });

  it('zeros, then data (a node crash kept a later page, not an earlier one): cut at the first NUL, logged and counted, the stale bytes gone', async () => {
    const { dir, records } = await crashedWithOpenWindow();
    const file = segmentFile(dir);
    const content = readFileSync(file);
    const end = content.indexOf(0);
    // Complete, valid-looking lines a page later: what was written after the unsynced page (records never synced).
    const stale = Buffer.from(`${segmentLines(dir).slice(3).join('\n')}\n`);
    stale.copy(content, end + 4096);
    writeFileSync(file, content);
    const { logger, logs, metrics } = observed();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', logger, metrics, ...NO_DEADLINE });
    expect(reopened.position).toEqual({ seq: 4, head: records[3]!.hash });
    expect(logs.find((l) => l.msg === CUT_MESSAGE)).toMatchObject({ segment: file, offset: end, problem: expect.stringContaining(`non-zero bytes after the NUL byte at ${end}`) as unknown, keptSeq: 4 });
    expect(await recoveryCuts(metrics)).toBe(1);
    // Pre-sized again with zeros: nothing of the stale bytes is left to be read as data later.
    const after = readFileSync(file);
    expect(after.subarray(after.indexOf(0)).every((b) => b === 0)).toBe(true);
    expect(await reopened.append(event(5))).toMatchObject({ seq: 5, prev: records[3]!.hash });
    await reopened.close();
    expect(segmentLines(dir).filter((l) => l.includes('"seq"'))).toHaveLength(5);
  });

  it('zeros then data below what the operator acknowledged, or in a segment that is not the last, is refused and left as it is', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 2048, ...NO_DEADLINE });
    for (let i = 1; i <= 12; i++) await spool.append(event(i));
    await spool.close();
    const names = readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();
    expect(names.length).toBeGreaterThan(1);
    const first = join(dir, names[0]!);
    const intact = readFileSync(first);
    // A page of the closed first segment lost: zeros where its middle was, its end intact.
    const holed = Buffer.from(intact);
    holed.fill(0, 200, 400);
    writeFileSync(first, holed);
    await expect(Spool.open({ dir, chainPrefix: 'ns/pod' })).rejects.toThrow(/seg-000000000001\.jsonl is corrupt at byte \d+ \(incomplete or unreadable line, and non-zero bytes after the NUL byte at 200 .*\) and is not the last segment/);
    expect(readFileSync(first)).toEqual(holed);
    // The same in the last segment, below the acknowledged position: refused too (cutting would fork the operator's chain).
    writeFileSync(first, intact);
    const last = join(dir, names.at(-1)!);
    const lastContent = readFileSync(last);
    const lastRecords = readSegmentText(last).split('\n').filter((l) => l.includes('"seq"')).map((l) => JSON.parse(l) as SpoolRecord);
    writeFileSync(join(dir, 'acked.json'), JSON.stringify({ seq: lastRecords.at(-1)!.seq, head: lastRecords.at(-1)!.hash }));
    const lastHoled = Buffer.from(lastContent);
    lastHoled.fill(0, lastContent.indexOf('\n') + 1, lastContent.indexOf('\n') + 30);
    writeFileSync(last, lastHoled);
    await expect(Spool.open({ dir, chainPrefix: 'ns/pod' })).rejects.toThrow(/non-zero bytes after the NUL byte.*before seq \d+ the operator acknowledged/);
    expect(readFileSync(last)).toEqual(lastHoled);
  });

  it('a closed segment whose cut to its data did not reach the disk (a zero tail) still reads as closed', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 2048, ...NO_DEADLINE });
    const records: SpoolRecord[] = [];
    for (let i = 1; i <= 12; i++) records.push(await spool.append(event(i)));
    await spool.close();
    const names = readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();
    for (const name of names) writeFileSync(join(dir, name), Buffer.concat([readFileSync(join(dir, name)), Buffer.alloc(5000)]));
    const { logger, logs, metrics } = observed();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 2048, logger, metrics, ...NO_DEADLINE });
    expect(reopened.position).toEqual({ seq: 12, head: records[11]!.hash });
    expect(logs.filter((l) => l.msg === CUT_MESSAGE)).toEqual([]);
    expect(await recoveryCuts(metrics)).toBe(0);
    const shipped = await reopened.readAfter(0, 1000, 1 << 30);
    expect(shipped.records).toEqual(records);
    await reopened.close();
  });

  it('a segment an older sidecar appended (no zero tail) and one pre-sized to another length both recover, and are pre-sized to this one', async () => {
    for (const tail of [0, 1 << 20]) {
      const dir = tempDir();
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
      const records: SpoolRecord[] = [];
      for (let i = 1; i <= 3; i++) records.push(await spool.append(event(i), 'Written'));
      await spool.settle();
      records.push(await spool.append(event(4)));
      const file = segmentFile(dir);
      // The older layout: just the lines (tail 0), or a zero tail of another size than this spool's.
      writeFileSync(file, Buffer.concat([Buffer.from(readSegmentText(file)), Buffer.alloc(tail)]));
      const copy = killCopy(dir);
      await spool.close();
      const { logger, logs, metrics } = observed();
      const reopened = await Spool.open({ dir: copy, chainPrefix: 'ns/pod', segmentBytes: SEGMENT_BYTES, logger, metrics, ...NO_DEADLINE });
      expect(reopened.position).toEqual({ seq: 4, head: records[3]!.hash });
      expect(logs.filter((l) => l.msg === CUT_MESSAGE)).toEqual([]);
      expect(readFileSync(segmentFile(copy)).length).toBe(SEGMENT_BYTES);
      expect(await reopened.append(event(5))).toMatchObject({ seq: 5 });
      await reopened.close();
      expect(segmentLines(copy).filter((l) => l.includes('"seq"'))).toHaveLength(5);
    }
  });

  it('a volume that cannot take a new segment\'s zero fill (full) fails the group closed, names the fix, leaves no file; the next append after it recovers', async () => {
    const dir = tempDir();
    let full = false;
    const { logger, logs } = observed();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 2048, logger, ...NO_DEADLINE, faults: { beforePresize: () => { if (full) throw new Error('ENOSPC: no space left on device, write'); } } });
    const records: SpoolRecord[] = [];
    while (readdirSync(dir).filter((n) => n.startsWith('seg-')).length < 2) records.push(await spool.append(event(records.length + 1)));
    const segments = (): string[] => readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();
    // Append until one rolls to a new segment, the volume full by then.
    let before: string[];
    let refused: unknown;
    for (;;) {
      full = true;
      before = segments();
      const outcome = await spool.append(event(records.length + 1), 'Synced').catch((err: unknown) => err as Error);
      if (outcome instanceof Error) {
        refused = outcome;
        break;
      }
      records.push(outcome);
      full = false;
    }
    expect(refused).toBeInstanceOf(SpoolError);
    expect((refused as Error).message).toMatch(/zero-filling the new spool segment .*seg-\d{12}\.jsonl to 2048 bytes failed: ENOSPC.*needs that much free space per open segment/);
    expect(logs.find((l) => l.msg === 'spool write failed: the commands concerned fail')).toMatchObject({ err: expect.stringContaining('ENOSPC') as unknown });
    // No file for the segment that could not be made; the chain is where the last kept record left it.
    expect(segments()).toEqual(before);
    expect(await spool.append(event(999)).catch((err: unknown) => err)).toBeInstanceOf(SpoolError);
    full = false;
    const after = await spool.append(event(1000));
    expect(after).toMatchObject({ seq: records.length + 1, prev: records.at(-1)!.hash });
    records.push(after);
    await spool.close();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 2048, ...NO_DEADLINE });
    expect((await reopened.readAfter(0, 1000, 1 << 30)).records).toEqual(records);
    await reopened.close();
  });

  it('a full volume when the reopened segment is zero-filled: logged, the segment grows with its writes, nothing lost', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    const records = [await spool.append(event(1)), await spool.append(event(2))];
    await spool.close();
    const { logger, logs } = observed();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', logger, ...NO_DEADLINE, faults: { beforePresize: () => { throw new Error('ENOSPC: no space left on device, write'); } } });
    expect(logs.find((l) => l.msg === 'zero-filling the reopened spool segment failed: it grows with each write instead (syncs cost more)')).toMatchObject({ err: expect.stringContaining('ENOSPC') as unknown });
    const file = segmentFile(dir);
    expect(readFileSync(file).indexOf(0)).toBe(-1);
    records.push(await reopened.append(event(3)));
    expect(readFileSync(file).length).toBe(Buffer.byteLength(readSegmentText(file)));
    await reopened.close();
    const again = await Spool.open({ dir, chainPrefix: 'ns/pod', ...NO_DEADLINE });
    expect((await again.readAfter(0, 1000, 1 << 30)).records).toEqual(records);
    await again.close();
  });
});
