// The session spool on this machine's disk, one append at a time (what one client waits for per
// command): a Synced append (hash, write, fdatasync; no signature: checkpoints are signed per
// window, off the answer's path) beside a raw write + fdatasync of the same bytes, and a Written
// append (the sync follows off the request path). spool.oneClientSignaturesPerRecord: checkpoints
// per record of that one-at-a-time phase (a window closes 50 ms after its first record; one per
// group, so one per record here, before signing windows). Then many connections at once
// (spool.concurrentRecordsPerSec, Written): spool.signaturesPerRecord says how many checkpoints a
// record cost there (1 before issue 19, one per group after item 1, 1/256 with signing windows).
// spool.poolHandoffMicros / spool.poolRoundTripMicros: what handing one operation to libuv's thread
// pool costs the event loop (the call's own time) and takes end to end (an fstat: no disk work), the
// price of every fdatasync the spool runs off the loop. On this Firecracker VM the hand-off wakes a
// pool thread on the other vCPU (a futex wake, an inter-processor interrupt), 20-60 µs of the loop's
// time per sync: more than a Written record's whole append.
//   node bench/spool.ts [--quick]
import { closeSync, fdatasyncSync, fstat, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SessionEvent } from '../core/recording/index.ts';
import { Spool } from '../sidecar/src/spool.ts';
import { percentile } from './support.ts';

function event(n: number): SessionEvent {
  return {
    type: 'command', time: new Date().toISOString(), namespace: 'bench', pod: 'agent-0', policy: 'orders-db', target: 'orders-db', protocol: 'postgres',
    sessionId: 'bench-session', subject: 'support-agent', subjectKind: 'User', groups: ['support'], purpose: 'customer-support',
    command: `SELECT abalance FROM pgbench_accounts WHERE aid = ${n};`, commandSha256: '0'.repeat(64), decision: 'allow', rule: 'read-orders',
    result: { rows: 1, sample: 'abalance\n0' }, masked: {}, durationMs: 0,
  };
}

async function appendLatencies(spool: Spool, count: number, durability: 'Synced' | 'Written'): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await spool.append(event(i), durability);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

/** `clients` connections each appending one record after another (Written): records per second, and checkpoints per record. */
async function concurrent(dir: string, clients: number, perClient: number): Promise<{ rps: number; signaturesPerRecord: number }> {
  const spool = await Spool.open({ dir, chainPrefix: 'bench/agent-1' });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; i < perClient; i++) await spool.append(event(c * perClient + i), 'Written');
  }));
  const s = (performance.now() - t0) / 1000;
  await spool.close();
  return { rps: (clients * perClient) / s, signaturesPerRecord: checkpointsPerRecord(dir, clients * perClient) };
}

/** Checkpoint lines in a spool directory per record written. */
function checkpointsPerRecord(dir: string, records: number): number {
  const text = readdirSync(dir).filter((n) => n.startsWith('seg-')).map((n) => readFileSync(join(dir, n), 'utf8')).join('');
  return text.split('\n').filter((l) => l.startsWith('{"checkpoint"')).length / records;
}

function rawFdatasync(dir: string, bytes: number, count: number): number[] {
  const fd = openSync(join(dir, 'raw.jsonl'), 'a', 0o600);
  const line = Buffer.from(`${'x'.repeat(bytes - 1)}\n`);
  const out: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      writeSync(fd, line);
      fdatasyncSync(fd);
      out.push(performance.now() - t);
    }
  } finally {
    closeSync(fd);
  }
  return out.sort((a, b) => a - b);
}

/** Medians over `count` fstat calls, one at a time: the loop's time inside the call, and the call to its callback (µs). */
async function poolHandoff(dir: string, count: number): Promise<{ submit: number; roundTrip: number }> {
  const fd = openSync(join(dir, 'handoff'), 'w', 0o600);
  const submit: number[] = [];
  const roundTrip: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => {
        const t = performance.now();
        fstat(fd, (err) => {
          roundTrip.push((performance.now() - t) * 1000);
          if (err === null) resolve();
          else reject(err);
        });
        submit.push((performance.now() - t) * 1000);
      });
      // The next hand-off from a new loop turn, as the spool's syncs come.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    closeSync(fd);
  }
  return { submit: percentile(submit.sort((a, b) => a - b), 50), roundTrip: percentile(roundTrip.sort((a, b) => a - b), 50) };
}

export async function benchSpool(opts: { quick: boolean }): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'guarita-bench-spool-'));
  const count = opts.quick ? 500 : 3000;
  try {
    const spool = await Spool.open({ dir, chainPrefix: 'bench/agent-0' });
    await appendLatencies(spool, 50, 'Synced'); // warm-up
    const synced = await appendLatencies(spool, count, 'Synced');
    const written = await appendLatencies(spool, count, 'Written');
    const bytes = Buffer.byteLength(JSON.stringify(await spool.append(event(0)))) + 1;
    await spool.close();
    const oneClient = checkpointsPerRecord(dir, 50 + 2 * count + 1);
    const raw = rawFdatasync(dir, bytes, count);
    const many = await concurrent(mkdtempSync(join(dir, 'concurrent-')), 64, opts.quick ? 50 : 200);
    const handoff = await poolHandoff(dir, opts.quick ? 500 : 2000);
    return {
      'spool.poolHandoffMicros': handoff.submit,
      'spool.poolRoundTripMicros': handoff.roundTrip,
      'spool.concurrentRecordsPerSec': many.rps,
      'spool.signaturesPerRecord': many.signaturesPerRecord,
      'spool.oneClientSignaturesPerRecord': oneClient,
      'spool.syncedAppendP50Ms': percentile(synced, 50),
      'spool.syncedAppendP99Ms': percentile(synced, 99),
      'spool.writtenAppendP50Ms': percentile(written, 50),
      'spool.writtenAppendP99Ms': percentile(written, 99),
      'spool.rawFdatasyncP50Ms': percentile(raw, 50),
      'spool.rawFdatasyncP99Ms': percentile(raw, 99),
      'spool.recordBytes': bytes,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  process.stdout.write(`${JSON.stringify(await benchSpool({ quick: values.quick }), null, 2)}\n`);
}
