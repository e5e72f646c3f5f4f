// HTTP path benchmark: straight to an upstream vs through the real sidecar process
// (node sidecar/src/main.ts: OIDC token verified by jose, live AccessPolicy from the harness
// apiserver, JSON masking of CPF and e-mail in every response, every exchange signed and recorded
// to the spool), same upstream, same run. The upstream runs in its own process.
//   - latency: one connection, p50 and p99, direct and proxied; the difference is what the sidecar adds;
//   - latency at a fixed 1,000 req/s, open loop (as Istio measures), from each request's due time;
//   - throughput: 32 connections, requests/s proxied ÷ direct (alternated in rounds, medians), and
//     proxied ÷ a byte-copying Node proxy (http.vsPassThrough, alternated the same way);
//   - the same latency and throughput with spec.recording.durability Written;
//   - the sidecar's start time (spawn → /readyz) and resident memory idle and under load, beside a
//     bare Node HTTP server on the same binary.
//   node bench/http.ts [--quick]   (uses $GUARITA_HARNESS_STATE, or starts a harness)
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { buildProduction, builtEntry } from '../e2e/harness/build.ts';
import { freePorts } from '../e2e/harness/ports.ts';
import { ensureHarness } from '../e2e/harness/index.ts';
import { getToken, requireIdp } from '../e2e/harness/state.ts';
import { apply } from '../e2e/support/kube-apply.ts';
import { installCrds } from '../e2e/support/kubectl.ts';
import { httpPolicy, mountCredentials, NO_OPERATOR, sidecarFixture, startSidecarProcess, type SidecarProcess } from '../sidecar/test/support.ts';
import { alternated, bareNodeBaseline, median, percentile, processTreeCpuSeconds, rssMB, sidecarNodeOptions, startPassThrough } from './support.ts';

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

/** One client, one request at a time, for `seconds`: latency percentiles in ms (sub-ms precision). */
/** One connection, one request at a time, for `seconds`: each request's round trip in ms. */
async function latencySamples(url: string, seconds: number, headers?: Record<string, string>): Promise<number[]> {
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
  return samples;
}

function latencyPercentiles(samples: number[]): { p50: number; p99: number } {
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function latency(url: string, seconds: number, headers?: Record<string, string>): Promise<{ p50: number; p99: number }> {
  return latencyPercentiles(await latencySamples(url, seconds, headers));
}

/**
 * One-connection latency straight to the upstream and through the sidecar, alternated in `rounds`
 * and pooled per side: the added p50 and p99 compare minutes the machine spent alike, not the
 * suite's first against a later one.
 */
async function latencyBeside(rounds: number, seconds: number, directUrl: string, proxyUrl: string, headers: Record<string, string>): Promise<{ direct: { p50: number; p99: number }; proxy: { p50: number; p99: number } }> {
  const direct: number[] = [];
  const proxy: number[] = [];
  for (let i = 0; i < rounds; i++) {
    direct.push(...await latencySamples(directUrl, seconds / rounds));
    proxy.push(...await latencySamples(proxyUrl, seconds / rounds, headers));
  }
  return { direct: latencyPercentiles(direct), proxy: latencyPercentiles(proxy) };
}

async function run(url: string, connections: number, duration: number, headers?: Record<string, string>): Promise<CannonResult> {
  const result = await autocannon({ url, connections, duration, ...(headers === undefined ? {} : { headers }) });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  return result;
}


/** V8 heap used and reserved, and external memory, in MB, from the sidecar's Prometheus process metrics. */
function heapFigures(metrics: string): { used: number; total: number; external: number } {
  const mb = (name: string): number => Number(new RegExp(`^guarita_sidecar_${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN) / 2 ** 20;
  return { used: mb('nodejs_heap_size_used_bytes'), total: mb('nodejs_heap_size_total_bytes'), external: mb('nodejs_external_memory_bytes') };
}

/** How often a starting sidecar's /readyz is probed: the resolution of `sidecar.startMs`. */
const READY_PROBE_MS = 5;

interface Started { sidecar: SidecarProcess; startMs: number; setDurability(d: 'Synced' | 'Written'): Promise<void> }

/** `entry` undefined runs the TypeScript sources (startSidecarProcess's default). */
async function startSidecar(upstreamUrl: string, listenPort: number, entry: string | undefined, name: string): Promise<Started> {
  const ns = `bench-http-${name}-${process.pid}`;
  await installCrds();
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, 'customers-api', { token: 'upstream-service-token' });
  const policy = (durability: 'Synced' | 'Written'): Record<string, unknown> => httpPolicy(ns, 'customers-api', {
    endpoint: upstreamUrl, issuer: requireIdp().issuer, listenPort, over: { recording: { maxBytes: 4096, durability } },
  });
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'customers-api-credentials', namespace: ns }, stringData: { token: 'upstream-service-token' } },
    policy('Synced'),
  ]);
  // No operator in this run: records stay in the spool (recorded per request all the same).
  const sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: 'customers-api', target: 'customers-api', protocol: 'http', listenPort }],
    operatorUrl: NO_OPERATOR, env: { GUARITA_LOG_LEVEL: 'warn', ...sidecarNodeOptions() }, ...(entry === undefined ? {} : { entry }),
    // Probed every 100 ms (the tests' default), a start would read up to 100 ms late.
    readyIntervalMs: READY_PROBE_MS,
  });
  // From the spawn to the first ready answer, as bareNodeBaseline times its server: the test
  // fixture's own API calls before the spawn (the pod's policies annotation) are not the sidecar's.
  const startMs = performance.now() - sidecar.spawnedAt;
  return {
    sidecar, startMs,
    setDurability: async (d) => {
      await apply([policy(d)]);
      // The watch delivers the change in milliseconds (bench/revocation.ts); leave it ample time.
      await new Promise((r) => setTimeout(r, 1000));
    },
  };
}

/**
 * Open loop at `rps` for `seconds` (wrk2-style): requests leave on schedule whether or not earlier
 * ones returned, and each latency counts from its due time, so a stall is not hidden.
 */
async function fixedRate(url: string, rps: number, seconds: number, headers?: Record<string, string>): Promise<{ p50: number; p99: number }> {
  const dispatcher = new Agent({ connections: 64 });
  const samples: number[] = [];
  const inflight: Promise<void>[] = [];
  const interval = 1000 / rps;
  const start = performance.now() + 20;
  try {
    for (let i = 0; i < rps * seconds; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
      // Timers fire at millisecond granularity, so a request may leave up to 1 ms early: then its
      // latency counts from when it left; a late one counts from when it was due.
      const from = Math.min(due, performance.now());
      inflight.push(request(url, { dispatcher, ...(headers === undefined ? {} : { headers }) }).then(async (res) => {
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`);
        samples.push(performance.now() - from);
      }));
    }
    await Promise.all(inflight);
  } finally {
    await dispatcher.close();
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function measure(quick: boolean, upstreamUrl: string, started: Started): Promise<Record<string, number>> {
  const { sidecar } = started;
  const token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  const headers = { authorization: `Bearer ${token}`, 'x-guarita-purpose': 'customer-support' };
  const proxyUrl = `${sidecar.url('customers-api')}/customers/1`;
  const directUrl = `${upstreamUrl}/customers/1`;
  const pid = await sidecar.pid();
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdleMB = rssMB(pid);
  // Where the idle RSS is: V8's heap (used and reserved) and memory outside it (buffers, WASM), from the sidecar's own process metrics.
  const idleHeap = heapFigures(await sidecar.metrics());
  const bare = await bareNodeBaseline();
  const seconds = quick ? 3 : 10;
  await run(proxyUrl, 8, 2, headers); // warm-up: JIT, session cache, undici pool
  // Direct and proxied alternated in rounds, `seconds` split between them; --quick too, in
  // shorter rounds, since one round of each side reads the machine's drift as the ratio.
  const rounds = 3;
  const { direct: directLatency, proxy: proxyLatency } = await latencyBeside(rounds, seconds, directUrl, proxyUrl, headers);
  const directFixed = await fixedRate(directUrl, 1000, seconds);
  const proxyFixed = await fixedRate(proxyUrl, 1000, seconds, headers);
  let rssLoadMB = 0;
  const sampler = setInterval(() => { rssLoadMB = Math.max(rssLoadMB, rssMB(pid)); }, 200);
  const each = Math.max(1, Math.round(seconds / rounds));
  const load = await alternated(rounds, async () => (await run(directUrl, 32, each)).requests.average, async () => (await run(proxyUrl, 32, each, headers)).requests.average)
    .finally(() => clearInterval(sampler));
  const pass = await startPassThrough(Number(new URL(upstreamUrl).port));
  const passUrl = `http://127.0.0.1:${pass.port}/customers/1`;
  const passLatency = await latency(passUrl, seconds);
  // Issue 19's yardstick: Guarita against a Node process that only copies bytes, alternated the
  // same way, so the ratio says what inspection, masking and recording cost over any Node proxy.
  const passRun = async (): Promise<number> => (await run(passUrl, 32, each)).requests.average;
  // The sidecar's CPU (user + system, all its threads, from /proc) per request in its saturation
  // rounds: what bounds the ratio on a machine whose cores the load generator and upstream share.
  const cpuPerRequest = { Synced: [] as number[], Written: [] as number[] };
  const proxiedRun = (samples: number[]) => async (): Promise<number> => {
    const before = processTreeCpuSeconds(pid);
    const result = await run(proxyUrl, 32, each, headers);
    samples.push(((processTreeCpuSeconds(pid) - before) * 1e6) / result.requests.total);
    return result.requests.average;
  };
  let vsPass: Awaited<ReturnType<typeof alternated>>;
  let writtenLatency: Awaited<ReturnType<typeof latencyBeside>>;
  let writtenVsPass: Awaited<ReturnType<typeof alternated>>;
  try {
    vsPass = await alternated(rounds, passRun, proxiedRun(cpuPerRequest.Synced));
    await started.setDurability('Written');
    writtenLatency = await latencyBeside(rounds, seconds, directUrl, proxyUrl, headers);
    // Alternated with the pass-through in rounds too (medians), like Synced: one lone run at the
    // end of the suite read as Written being slower than Synced on a machine whose load drifts.
    writtenVsPass = await alternated(rounds, passRun, proxiedRun(cpuPerRequest.Written));
  } finally {
    await pass.close();
  }
  await started.setDurability('Synced');
  return {
    'http.directP50Ms': directLatency.p50,
    'http.proxyP50Ms': proxyLatency.p50,
    'http.addedP50Ms': proxyLatency.p50 - directLatency.p50,
    'http.directP99Ms': directLatency.p99,
    'http.proxyP99Ms': proxyLatency.p99,
    'http.addedP99Ms': proxyLatency.p99 - directLatency.p99,
    'http.fixedRate.directP50Ms': directFixed.p50,
    'http.fixedRate.proxyP50Ms': proxyFixed.p50,
    'http.fixedRate.addedP50Ms': proxyFixed.p50 - directFixed.p50,
    'http.fixedRate.directP99Ms': directFixed.p99,
    'http.fixedRate.proxyP99Ms': proxyFixed.p99,
    'http.fixedRate.addedP99Ms': proxyFixed.p99 - directFixed.p99,
    'http.directRps': load.baseline,
    'http.proxyRps': load.measured,
    'http.throughputRatio': load.ratio,
    'http.passThroughP50Ms': passLatency.p50,
    'http.passThroughP99Ms': passLatency.p99,
    'http.passThroughRps': vsPass.baseline,
    'http.passThroughRatio': vsPass.baseline / load.baseline,
    'http.vsPassThrough': vsPass.ratio,
    'http.sidecarCpuUsPerRequest': median(cpuPerRequest.Synced),
    // Written's one-connection rounds have their own direct rounds beside them.
    'http.written.directP50Ms': writtenLatency.direct.p50,
    'http.written.directP99Ms': writtenLatency.direct.p99,
    'http.written.proxyP50Ms': writtenLatency.proxy.p50,
    'http.written.addedP50Ms': writtenLatency.proxy.p50 - writtenLatency.direct.p50,
    'http.written.proxyP99Ms': writtenLatency.proxy.p99,
    'http.written.addedP99Ms': writtenLatency.proxy.p99 - writtenLatency.direct.p99,
    'http.written.proxyRps': writtenVsPass.measured,
    'http.written.throughputRatio': writtenVsPass.measured / load.baseline,
    'http.written.vsPassThrough': writtenVsPass.ratio,
    'http.written.sidecarCpuUsPerRequest': median(cpuPerRequest.Written),
    // The pass-through's own rounds beside Written (the baseline of http.written.vsPassThrough).
    'http.written.passThroughRps': writtenVsPass.baseline,
    'sidecar.rssIdleMB': rssIdleMB,
    'sidecar.idleHeapUsedMB': idleHeap.used,
    'sidecar.idleHeapTotalMB': idleHeap.total,
    'sidecar.idleExternalMB': idleHeap.external,
    'sidecar.rssLoadMB': rssLoadMB,
    'node.bareRssMB': bare.rssMB,
    'node.bareStartMs': bare.startMs,
  };
}

/**
 * Starts of the built sidecar, each stopped once ready: one start swings by tens of milliseconds
 * with whatever else the machine runs, so `sidecar.startMs` is the median of these and the
 * measured sidecar's own start.
 */
async function coldStarts(upstreamUrl: string, listenPort: number, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = await startSidecar(upstreamUrl, listenPort, builtEntry('sidecar'), `start${i}`);
    times.push(started.startMs);
    await started.sidecar.stop();
  }
  return times;
}

/** The same sidecar run from its TypeScript sources (Node strips the types): start and idle memory only. */
async function fromSources(upstreamUrl: string, listenPort: number): Promise<Record<string, number>> {
  const started = await startSidecar(upstreamUrl, listenPort, undefined, 'source');
  try {
    await new Promise((r) => setTimeout(r, 1000));
    return { 'sidecar.sourceStartMs': started.startMs, 'sidecar.sourceRssIdleMB': rssMB(await started.sidecar.pid()) };
  } finally {
    await started.sidecar.stop();
  }
}

export async function benchHttp(opts: { quick: boolean }): Promise<Record<string, number>> {
  const harness = await ensureHarness(['kube', 'idp']);
  const [upstreamPort = 0, listenPort = 0, sourceListenPort = 0] = await freePorts(3);
  const upstream = await startUpstreamProcess(upstreamPort);
  let sidecar: SidecarProcess | undefined;
  try {
    const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
    // What the image runs (dist/, emitted by tsc), measured throughout; the sources only for start and memory.
    await buildProduction();
    const source = await fromSources(upstreamUrl, sourceListenPort);
    const earlierStarts = await coldStarts(upstreamUrl, listenPort, opts.quick ? 2 : 4);
    const started = await startSidecar(upstreamUrl, listenPort, builtEntry('sidecar'), 'build');
    sidecar = started.sidecar;
    const measured = await measure(opts.quick, upstreamUrl, started);
    return { ...source, ...measured, 'sidecar.startMs': median([...earlierStarts, started.startMs]) };
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
