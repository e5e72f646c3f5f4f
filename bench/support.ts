// Shared by the benchmark suites: percentiles, process memory, the "no inspection" pass-through
// proxy and the bare Node process that serve as baselines for the sidecar's own figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';

/** `sorted` ascending; nearest-rank percentile. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export function median(xs: readonly number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

/** GUARITA_BENCH_SIDECAR_NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) reaches the sidecar process, for profiling. */
/**
 * A baseline and the measured side alternated `rounds` times: the medians of each side, and the
 * median of each round's measured ÷ baseline, so a machine that drifts during the run (another
 * tenant, CPU frequency) moves both sides of a round alike.
 */
export async function alternated(rounds: number, baseline: () => Promise<number>, measured: () => Promise<number>): Promise<{ baseline: number; measured: number; ratio: number }> {
  const b: number[] = [];
  const m: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const base = await baseline();
    const value = await measured();
    b.push(base);
    m.push(value);
    ratios.push(value / base);
  }
  return { baseline: median(b), measured: median(m), ratio: median(ratios) };
}

export function sidecarNodeOptions(): Record<string, string> {
  const o = process.env.GUARITA_BENCH_SIDECAR_NODE_OPTIONS;
  return o === undefined || o === '' ? {} : { NODE_OPTIONS: o };
}

/** Linux's USER_HZ: /proc reports CPU times in these ticks. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) used so far by a process and every descendant still alive (from
 * /proc): a supervised component runs under a watchdog shell, PgBouncer under runuser.
 */
export function processTreeCpuSeconds(rootPid: number): number {
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the command name (which may hold spaces): state, ppid, ... utime (14th), stime (15th).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parents.set(Number(entry), Number(fields[1]));
    ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]));
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parents.get(p)) if (p === rootPid) return true;
    return false;
  };
  let total = 0;
  for (const [pid, t] of ticks) if (inTree(pid)) total += t;
  return total / CLOCK_TICKS_PER_SECOND;
}

/** CPU seconds (user + system) of this process so far. */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export function rssMB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? Number.NaN) / 1024;
}

export interface PassThrough { port: number; close(): Promise<void> }

/**
 * A TCP proxy that only copies bytes (Node streams, Nagle off, as the sidecar's sockets): what any
 * Node process in the data path costs before it inspects anything.
 */
export async function startPassThrough(upstreamPort: number, upstreamHost = '127.0.0.1'): Promise<PassThrough> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, upstreamHost);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const BARE_SERVER = `
const http = require('node:http');
http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

/** A bare Node HTTP server on the same binary: time from spawn to listening, and its idle RSS after `idleMs`. */
export async function bareNodeBaseline(idleMs = 1000): Promise<{ startMs: number; rssMB: number }> {
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, ['-e', BARE_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.stdout?.once('data', () => resolve());
    });
    const startMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, idleMs));
    return { startMs, rssMB: rssMB(child.pid ?? 0) };
  } finally {
    child.kill('SIGKILL');
  }
}
