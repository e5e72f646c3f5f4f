// The session spool on this machine's disk, one append at a time (what one client waits for per
// command): a Synced append (sign, write, fdatasync) beside a raw write + fdatasync of the same
// bytes, and a Written append (sign, write; the sync follows off the request path).
//   node bench/spool.ts [--quick]
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
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
    return {
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
