// HTTP path benchmark: autocannon straight to an upstream vs through the real sidecar process
// (node sidecar/src/main.ts: OIDC token verified by jose, live AccessPolicy from the harness
// apiserver, JSON masking of CPF and e-mail in every response, every exchange signed and fsync'd
// to the spool), same upstream, same run. The upstream runs in its own process.
//   - latency: one connection, p50 and p99, direct and proxied; the difference is what the sidecar adds;
//   - throughput: 32 connections, requests/s proxied ÷ direct;
//   - the sidecar's start time (spawn → /readyz) and resident memory idle and under load.
//   node bench/http.ts [--quick]   (uses $GUARITA_HARNESS_STATE, or starts a harness)
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { freePorts } from '../e2e/harness/ports.ts';
import { ensureHarness } from '../e2e/harness/index.ts';
import { getToken, requireIdp } from '../e2e/harness/state.ts';
import { apply, installCrds } from '../operator/test/support.ts';
import { httpPolicy, mountCredentials, sidecarFixture, startSidecarProcess, type SidecarProcess } from '../sidecar/test/support.ts';

interface CannonResult {
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
}
type Cannon = (opts: { url: string; connections: number; duration: number; headers?: Record<string, string>; pipelining?: number }) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const UPSTREAM = `
const http = require('node:http');
const body = JSON.stringify({ id: 1, nome: 'Larissa Oliveira', documento: { cpf: '590.830.166-33' }, contato: { email: 'larissa.oliveira1@exemplo.com.br', telefone: '+55 71 91791-2186' }, pedidos: [{ id: 10, status: 'paid', total_cents: 12990 }, { id: 11, status: 'open', total_cents: 4590 }] });
const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); });
server.keepAliveTimeout = 65000;
server.listen(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

function startUpstreamProcess(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', UPSTREAM, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', () => resolve(child));
  });
}

/** GUARITA_BENCH_SIDECAR_NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) reaches the sidecar process, for profiling. */
export function sidecarNodeOptions(): Record<string, string> {
  const o = process.env.GUARITA_BENCH_SIDECAR_NODE_OPTIONS;
  return o === undefined || o === '' ? {} : { NODE_OPTIONS: o };
}

function rssMB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? Number.NaN) / 1024;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** One client, one request at a time, for `seconds`: latency percentiles in ms (sub-ms precision). */
async function latency(url: string, seconds: number, headers?: Record<string, string>): Promise<{ p50: number; p99: number }> {
  const dispatcher = new Agent({ connections: 1 });
  const samples: number[] = [];
  const end = performance.now() + seconds * 1000;
  try {
    while (performance.now() < end) {
      const t0 = performance.now();
      const res = await request(url, { dispatcher, ...(headers === undefined ? {} : { headers }) });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`);
      samples.push(performance.now() - t0);
    }
  } finally {
    await dispatcher.close();
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function run(url: string, connections: number, duration: number, headers?: Record<string, string>): Promise<CannonResult> {
  const result = await autocannon({ url, connections, duration, ...(headers === undefined ? {} : { headers }) });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  return result;
}


async function startSidecar(upstreamUrl: string, listenPort: number): Promise<{ sidecar: SidecarProcess; startMs: number }> {
  const ns = `bench-http-${process.pid}`;
  await installCrds();
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, 'customers-api', { token: 'upstream-service-token' });
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'customers-api-credentials', namespace: ns }, stringData: { token: 'upstream-service-token' } },
    httpPolicy(ns, 'customers-api', { endpoint: upstreamUrl, issuer: requireIdp().issuer, listenPort }),
  ]);
  const t0 = performance.now();
  // No operator in this run: records stay in the spool (fsync'd per request all the same).
  const sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: 'customers-api', target: 'customers-api', protocol: 'http', listenPort }],
    operatorUrl: 'https://127.0.0.1:9', env: { GUARITA_LOG_LEVEL: 'warn', ...sidecarNodeOptions() },
  });
  return { sidecar, startMs: performance.now() - t0 };
}

async function measure(quick: boolean, upstreamUrl: string, sidecar: SidecarProcess, startMs: number): Promise<Record<string, number>> {
  const token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  const headers = { authorization: `Bearer ${token}`, 'x-guarita-purpose': 'customer-support' };
  const proxyUrl = `${sidecar.url('customers-api')}/customers/1`;
  const directUrl = `${upstreamUrl}/customers/1`;
  const pid = await sidecar.pid();
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdleMB = rssMB(pid);
  const latencySeconds = quick ? 3 : 10;
  const loadSeconds = quick ? 3 : 10;
  await run(proxyUrl, 8, 2, headers); // warm-up: JIT, session cache, undici pool
  const directLatency = await latency(directUrl, latencySeconds);
  const proxyLatency = await latency(proxyUrl, latencySeconds, headers);
  const directLoad = await run(directUrl, 32, loadSeconds);
  let rssLoadMB = 0;
  const sampler = setInterval(() => { rssLoadMB = Math.max(rssLoadMB, rssMB(pid)); }, 200);
  const proxyLoad = await run(proxyUrl, 32, loadSeconds, headers).finally(() => clearInterval(sampler));
  return {
    'http.directP50Ms': directLatency.p50,
    'http.proxyP50Ms': proxyLatency.p50,
    'http.addedP50Ms': proxyLatency.p50 - directLatency.p50,
    'http.addedP99Ms': proxyLatency.p99 - directLatency.p99,
    'http.directRps': directLoad.requests.average,
    'http.proxyRps': proxyLoad.requests.average,
    'http.throughputRatio': proxyLoad.requests.average / directLoad.requests.average,
    'sidecar.rssIdleMB': rssIdleMB,
    'sidecar.rssLoadMB': rssLoadMB,
    'sidecar.startMs': startMs,
  };
}

export async function benchHttp(opts: { quick: boolean }): Promise<Record<string, number>> {
  const harness = await ensureHarness(['kube', 'idp']);
  const [upstreamPort = 0, listenPort = 0] = await freePorts(2);
  const upstream = await startUpstreamProcess(upstreamPort);
  let sidecar: SidecarProcess | undefined;
  try {
    const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
    const started = await startSidecar(upstreamUrl, listenPort);
    sidecar = started.sidecar;
    return await measure(opts.quick, upstreamUrl, sidecar, started.startMs);
  } finally {
    await sidecar?.stop();
    upstream.kill('SIGTERM');
    await harness?.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const results = await benchHttp({ quick: values.quick });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
