// The session spool on this machine's disk, one append at a time (what one client waits for per
// command): a Synced append (hash, one checkpoint signature for the group, write, fdatasync) beside a
// raw write + fdatasync of the same bytes, and a Written append (the sync follows off the request
// path). Then many connections at once (spool.concurrentRecordsPerSec, Written): appends made while
// a group is written share the next group's one checkpoint signature (spool.signaturesPerRecord
// says how many checkpoints a record cost; before issue 19 it was 1).
//   node bench/spool.ts [--quick]
import { closeSync, fdatasyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
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
  const text = readdirSync(dir).filter((n) => n.startsWith('seg-')).map((n) => readFileSync(join(dir, n), 'utf8')).join('');
  const checkpoints = text.split('\n').filter((l) => l.startsWith('{"checkpoint"')).length;
  return { rps: (clients * perClient) / s, signaturesPerRecord: checkpoints / (clients * perClient) };
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
    const raw = rawFdatasync(dir, bytes, count);
    const many = await concurrent(mkdtempSync(join(dir, 'concurrent-')), 64, opts.quick ? 50 : 200);
    return {
      'spool.concurrentRecordsPerSec': many.rps,
      'spool.signaturesPerRecord': many.signaturesPerRecord,
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
