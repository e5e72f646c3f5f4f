// Round 5 review of the spool's pre-sized segments (8921018, bb384fe): segments zero-filled ahead
// of their data, whose data ends at the first NUL byte; Synced groups taking the lock at once and
// syncing through fs.fdatasync callbacks. spool-recovery-attacks.test.ts kills a spool once, inside
// one 8 MiB segment. Here the kill -9 lands at any turn of the event loop across segment rolls
// (segments of a few KiB: a roll every few groups, so kills fall inside zero fills, closes and
// cuts of the previous segment), and the spool is resumed and killed again several times in a row,
// with other segment sizes at each start, records that hold U+0000 and multi-byte text, and
// shipping with acknowledgements (segments deleted) in between. After every kill: every answered
// record is recovered with its hash and shipped after the acknowledged position, the chain
// continues, no segment file is left that is only zeros or holds a NUL inside its data, and the
// shipper never reads past a segment's data.
import { afterEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionEvent } from '../../core/recording/index.ts';
import { readSegmentText, Spool, type Durability, type SpoolRecord } from './spool.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'spool-presized-attack-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Commands as agents send them: plain, with U+0000 (SQL, HTTP bodies, terminal output), multi-byte, long. */
const COMMANDS = [
  (n: number) => `GET /customers/${n}`,
  (n: number) => `SELECT '\u0000${n}\u0000' -- nul`,
  (n: number) => `echo ção€😀 ${n}\u0000\u0001\u001b[2J`,
  (n: number) => `INSERT INTO t VALUES ('${'x'.repeat(1500)}${n}')`,
];

function event(n: number, kind: number): SessionEvent {
  return {
    type: 'command', time: new Date(0).toISOString(), namespace: 'ns', pod: 'pod', policy: 'p', target: 't', protocol: 'http',
    sessionId: 's1', subject: 'agent', subjectKind: 'User', groups: ['support'], command: COMMANDS[kind % COMMANDS.length]!(n), decision: 'allow',
  };
}

type Op = { kind: 'append'; n: number; durability: Durability; command: number } | { kind: 'burst'; n: number; durability: Durability } | { kind: 'ship'; maxRecords: number };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), n: fc.integer({ min: 1, max: 4 }), durability: fc.constantFrom<Durability>('Synced', 'Written'), command: fc.nat(3) }),
  fc.record({ kind: fc.constant('burst' as const), n: fc.integer({ min: 2, max: 40 }), durability: fc.constantFrom<Durability>('Synced', 'Written') }),
  fc.record({ kind: fc.constant('ship' as const), maxRecords: fc.integer({ min: 1, max: 50 }) }),
);
const cycle = fc.record({
  segmentBytes: fc.constantFrom(1024, 2048, 4096, 16_384),
  ops: fc.array(op, { maxLength: 6 }),
  inFlight: fc.integer({ min: 1, max: 30 }),
  inFlightDurability: fc.constantFrom<Durability>('Synced', 'Written'),
  turns: fc.nat(12),
});

/** The files as a kill -9 leaves them (the page cache outlives the process; writes are whole from JS's view). */
function killCopy(dir: string): string {
  const copy = tempDir();
  for (const name of readdirSync(dir)) if (!name.startsWith('.')) writeFileSync(join(copy, name), readFileSync(join(dir, name)));
  return copy;
}

/** Every segment's data is NUL-free up to where it ends, and no segment is zeros alone (an orphan of a fill). */
function expectSegmentsSound(dir: string): void {
  for (const name of readdirSync(dir).filter((n) => n.startsWith('seg-'))) {
    const content = readFileSync(join(dir, name));
    const text = readSegmentText(join(dir, name));
    expect({ name, empty: text.length === 0 }).toEqual({ name, empty: false });
    // After the data: zeros only (the open segment's tail), never more data.
    const end = Buffer.byteLength(text);
    expect({ name, strayAfterData: content.subarray(end).some((b) => b !== 0) }).toEqual({ name, strayAfterData: false });
  }
}

async function shipAll(spool: Spool, answered: ReadonlyMap<number, string>): Promise<SpoolRecord[]> {
  const shipped: SpoolRecord[] = [];
  for (let batch = await spool.readAfter(spool.acked.seq, 1000, 1 << 30); batch.records.length > 0; batch = await spool.readAfter(batch.records.at(-1)!.seq, 1000, 1 << 30)) {
    shipped.push(...batch.records);
  }
  for (const r of shipped) if (answered.has(r.seq)) expect({ seq: r.seq, hash: r.hash }).toEqual({ seq: r.seq, hash: answered.get(r.seq) });
  for (const seq of answered.keys()) if (seq > spool.acked.seq) expect({ seq, shipped: shipped.some((r) => r.seq === seq) }).toEqual({ seq, shipped: true });
  // Whatever was shipped is whole records of the chain, in order, each following the last.
  for (let i = 1; i < shipped.length; i++) expect(shipped[i]!.prev).toBe(shipped[i - 1]!.hash);
  return shipped;
}

type Cycle = typeof cycle extends fc.Arbitrary<infer T> ? T : never;
const stats = { kills: 0, multiSegment: 0, killedInFill: 0, killedInFlight: 0 };
/** Record numbers (command text) across cycles. */
let counter = 0;

async function runOp(spool: Spool, o: Op, answered: Map<number, string>): Promise<void> {
  if (o.kind === 'append') {
    for (let i = 0; i < o.n; i++) {
      const r = await spool.append(event(++counter, o.command), o.durability);
      answered.set(r.seq, r.hash);
    }
  } else if (o.kind === 'burst') {
    const rs = await Promise.all(Array.from({ length: o.n }, (_, i) => spool.append(event(++counter, i), o.durability)));
    for (const r of rs) answered.set(r.seq, r.hash);
  } else {
    const last = (await spool.readAfter(spool.acked.seq, o.maxRecords, 1 << 20)).records.at(-1);
    if (last !== undefined) await spool.ack({ seq: last.seq, head: last.hash });
  }
}

/**
 * One life of the spool in `dir`: opened (checked against what was answered before the last
 * kill), driven, then killed at a turn with appends in flight. Returns the killed copy's directory
 * and what had been answered at the kill.
 */
async function life(dir: string, c: Cycle, before: ReadonlyMap<number, string>): Promise<{ dir: string; answered: Map<number, string> }> {
  const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: c.segmentBytes, checkpointWindowMs: 5 });
  // Resumed: everything answered before the last kill is there and ships.
  expect(spool.position.seq).toBeGreaterThanOrEqual(Math.max(0, ...before.keys()));
  await shipAll(spool, before);
  expectSegmentsSound(dir);
  const answered = new Map(before);
  for (const o of c.ops) await runOp(spool, o, answered);
  const inFlight = Array.from({ length: c.inFlight }, (_, i) => spool.append(event(++counter, i), c.inFlightDurability).then((r) => { answered.set(r.seq, r.hash); }));
  for (let t = 0; t < c.turns; t++) await new Promise((r) => setImmediate(r));
  // The kill: what was answered up to now must be on file now.
  const killed = new Map(answered);
  const copy = killCopy(dir);
  const segments = readdirSync(copy).filter((x) => x.startsWith('seg-'));
  stats.kills++;
  if (segments.length > 1) stats.multiSegment++;
  // A kill mid-fill leaves a segment of zeros alone: recovery removes it (checked at the next open).
  if (segments.some((x) => readSegmentText(join(copy, x)) === '')) stats.killedInFill++;
  if (killed.size < answered.size + c.inFlight) stats.killedInFlight++;
  await Promise.all(inFlight);
  await spool.close();
  return { dir: copy, answered: killed };
}

describe('pre-sized segments under kill -9 across segment rolls and resumes', () => {
  it('kills at any turn, resumed with another segment size, again and again: no answered record lost, no zero-only or NUL-cut segment, the chain continues', async () => {
    await fc.assert(fc.asyncProperty(fc.array(cycle, { minLength: 2, maxLength: 4 }), async (cycles) => {
      let state = { dir: tempDir(), answered: new Map<number, string>() };
      for (const c of cycles) state = await life(state.dir, c, state.answered);
      const { dir, answered } = state;
      const last = await Spool.open({ dir, chainPrefix: 'ns/pod', checkpointWindowMs: 5 });
      expect(last.position.seq).toBeGreaterThanOrEqual(Math.max(0, ...answered.keys()));
      const shipped = await shipAll(last, answered);
      const next = await last.append(event(++counter, 0));
      expect(next.seq).toBe(last.position.seq);
      if (shipped.length > 0) expect(next.seq).toBeGreaterThan(shipped.at(-1)!.seq);
      await last.close();
      expectSegmentsSound(dir);
    }), { numRuns: 25, seed: 20261205 });
    // The kills landed where they are meant to: with several segments, inside a new segment's zero
    // fill (a file of zeros alone, removed at recovery), and with appends still in flight.
    expect(stats.multiSegment).toBeGreaterThan(10);
    expect(stats.killedInFill).toBeGreaterThan(0);
    expect(stats.killedInFlight).toBeGreaterThan(10);
  }, 240_000);
});

describe('records with NUL bytes at segment boundaries', () => {
  it('a record of U+0000 only, as the first and last of each segment, survives rolls, kills and resumes byte for byte', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 1024, checkpointWindowMs: 5 });
    const records: SpoolRecord[] = [];
    for (let i = 0; i < 40; i++) {
      const e = event(i, 0);
      e.command = '\u0000'.repeat(1 + (i * 37) % 400);
      records.push(await spool.append(e, i % 2 === 0 ? 'Synced' : 'Written'));
    }
    expect(readdirSync(dir).filter((x) => x.startsWith('seg-')).length).toBeGreaterThan(5);
    const copy = killCopy(dir);
    await spool.close();
    const reopened = await Spool.open({ dir: copy, chainPrefix: 'ns/pod', segmentBytes: 1024, checkpointWindowMs: 5 });
    expect(reopened.position.seq).toBe(40);
    const batch = await reopened.readAfter(0, 1000, 1 << 30);
    expect(batch.records.map((r) => (r as unknown as { command: string }).command)).toEqual(records.map((r) => (r as unknown as { command: string }).command));
    expect(batch.records.map((r) => r.hash)).toEqual(records.map((r) => r.hash));
    await reopened.close();
  });
});

describe('a Synced answer only after an fdatasync of the segment that holds its line', () => {
  /** Where each record's line ends, by hash: its segment file and the byte after its newline. */
  function lineEnds(dir: string): Map<string, { file: string; end: number }> {
    const out = new Map<string, { file: string; end: number }>();
    for (const name of readdirSync(dir).filter((x) => x.startsWith('seg-'))) {
      const text = readSegmentText(join(dir, name));
      let at = 0;
      for (const line of text.split('\n')) {
        at += Buffer.byteLength(line) + 1;
        const hash = /"hash":"([0-9a-f]{64})"/.exec(line)?.[1];
        if (hash !== undefined && line.includes('"seq"')) out.set(hash, { file: name, end: at });
      }
    }
    return out;
  }

  it('across segment rolls and zero fills, synced on the loop or the thread pool: each Synced record was on file before a sync of its segment began, before it was answered', async () => {
    let syncedAnswers = 0;
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 1, max: 30 }), fc.constantFrom<Durability>('Synced', 'Written')), { minLength: 1, maxLength: 10 }), fc.constantFrom(1024, 2048, 8192), async (bursts, segmentBytes) => {
      const dir = tempDir();
      // What each sync covers at least: the data of the newest segment (the open one) when it began.
      const synced = new Map<string, number>();
      const beforeSync = (): void => {
        const newest = readdirSync(dir).filter((x) => x.startsWith('seg-')).sort().at(-1);
        if (newest === undefined) return;
        const size = Buffer.byteLength(readSegmentText(join(dir, newest)));
        synced.set(newest, Math.max(size, synced.get(newest) ?? 0));
      };
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes, checkpointWindowMs: 5, faults: { beforeSync } });
      for (const [n, durability] of bursts) {
        await Promise.all(Array.from({ length: n }, (_, i) => spool.append(event(++counter, i), durability).then((r) => {
          if (durability !== 'Synced') return;
          const where = lineEnds(dir).get(r.hash);
          expect({ seq: r.seq, onFile: where !== undefined }).toEqual({ seq: r.seq, onFile: true });
          expect({ seq: r.seq, covered: (synced.get(where!.file) ?? 0) >= where!.end }).toEqual({ seq: r.seq, covered: true });
          syncedAnswers++;
        })));
      }
      await spool.close();
    }), { numRuns: 20, seed: 20261205 });
    expect(syncedAnswers).toBeGreaterThan(100);
  }, 120_000);
});
