// Session ingest throughput, beside its baseline in the same run:
//   ingest.rawAppendRecordsPerSec   the same JSON bytes appended to one file, fdatasync per batch (the floor any durable store pays)
//   ingest.recordsPerSec            FileStore.append: chain verification (SHA-256 per record, the Merkle root, ONE Ed25519
//                                   verification of the batch's checkpoint), store links, one signed store checkpoint per
//                                   policy and group, segment append, fdatasync before the answer; one sidecar, batches of 500
//   ingest.concurrentRecordsPerSec  the same with 8 sidecars at once (group commit shares the fsyncs)
//   ingest.apiRecordsPerSec         through the ingest HTTP handler (JSON parse, schema, auth cached) into the store
//   ingest.verifyOnlyRecordsPerSec  the verification alone (no I/O), to show where the time goes
//   ingest.commitP50Ms / P99Ms      per-batch latency of FileStore.append (batches of 500)
// Each run first sends 8 batches to the same file, store or app before its clock starts (WARM_UP_BATCHES): the
// figures are the steady state of a long-running operator.
// and, with the harness (started here unless $GUARITA_HARNESS_STATE points at a running one):
//   operator.thousandPoliciesReadyS the real operator process, started against 1000 existing AccessPolicies, until all are Ready
//
//   node bench/ingest.ts [--quick] [--no-operator] [--operator-only]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { generateSigningKey, GENESIS, importPublicKey } from '../core/recording/index.ts';
import { checkpointVerifier } from '../core/recording/chain-checkpoint.ts';
import { ChainTree } from '../core/recording/chain-tree.ts';
import { apiPath } from '../crds/definitions.ts';
import { KubeAuth } from '../operator/src/auth/kube-auth.ts';
import { EvidenceSources } from '../operator/src/auth/evidence-source.ts';
import { EventRecorder } from '../operator/src/events.ts';
import { registerIngest } from '../operator/src/ingest/plugin.ts';
import { AJV_OPTIONS } from '../operator/src/ingest/schemas.ts';
import type { KubeApi } from '../operator/src/kube/client.ts';
import { createMetrics } from '../operator/src/metrics.ts';
import { checkBatch } from '../core/recording/batch-check.ts';
import { FileStore } from '../operator/src/store/file-store.ts';
import { fakeSidecar, type FakeSidecar } from '../e2e/support/store-testkit.ts';
import type { SessionRecord } from '../operator/src/store/types.ts';

const BATCH = 500;
/**
 * Batches each measured run sends before its clock starts, to the same store (the same app, for the
 * API): the operator is a long-running process, so what is measured is its steady state (code
 * compiled, the policies' directories and segments open), not the JIT's first pass over the ingest
 * path and the first segments' directory fsyncs, which a --quick run of 10 batches measured mostly.
 */
const WARM_UP_BATCHES = 8;
const quietLog = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };

interface Batch { records: SessionRecord[]; checkpoint: string }
interface Workload { sc: FakeSidecar; batches: Batch[] }

/** Batches as a sidecar ships them: 500 records and the signed checkpoint at the last one. */
function workload(namespace: string, batches: number): Workload {
  const sc = fakeSidecar(namespace);
  return { sc, batches: Array.from({ length: batches }, (_, b) => sc.batch(BATCH, (i) => ({ sessionId: `s-${b}`, policy: i % 4 === 0 ? 'customers-api' : 'orders-db' }))) };
}

async function openStore(dir: string): Promise<FileStore> {
  return FileStore.open({ dir, key: generateSigningKey(), segmentMaxBytes: 64 * 1024 * 1024, segmentMaxAgeMs: 3600_000, log: quietLog });
}

/** The workload's batches after the first `warm` (sent before the clock starts). */
const measured = (w: Workload, warm: number): Batch[] => w.batches.slice(warm);

async function rawAppend(w: Workload, dir: string, warm: number): Promise<number> {
  const fh = await open(join(dir, 'raw.jsonl'), 'a');
  const write = async (batches: readonly Batch[]): Promise<void> => {
    for (const batch of batches) {
      await fh.write(Buffer.from(batch.records.map((r) => `${JSON.stringify(r)}\n`).join('')));
      await fh.datasync();
    }
  };
  await write(w.batches.slice(0, warm));
  const t0 = performance.now();
  await write(measured(w, warm));
  const s = (performance.now() - t0) / 1000;
  await fh.close();
  return (measured(w, warm).length * BATCH) / s;
}

/** Appends each batch in turn, failing on the first refusal. */
async function appendAll(store: FileStore, w: Workload, batches: readonly Batch[]): Promise<void> {
  for (const batch of batches) {
    const res = await store.append(w.sc.chainId, batch.records, batch.checkpoint);
    if (!res.ok) throw new Error(res.message);
  }
}

async function storeSequential(w: Workload, dir: string, warm: number): Promise<{ rps: number; latencies: number[] }> {
  const store = await openStore(dir);
  await store.registerChain(w.sc.registration());
  await appendAll(store, w, w.batches.slice(0, warm));
  const latencies: number[] = [];
  const t0 = performance.now();
  for (const batch of measured(w, warm)) {
    const b0 = performance.now();
    const res = await store.append(w.sc.chainId, batch.records, batch.checkpoint);
    if (!res.ok) throw new Error(res.message);
    latencies.push(performance.now() - b0);
  }
  const s = (performance.now() - t0) / 1000;
  await store.close();
  return { rps: (latencies.length * BATCH) / s, latencies: latencies.sort((a, b) => a - b) };
}

async function storeConcurrent(ws: Workload[], dir: string, warm: number): Promise<number> {
  const store = await openStore(dir);
  for (const w of ws) await store.registerChain(w.sc.registration());
  for (const w of ws) await appendAll(store, w, w.batches.slice(0, warm));
  const t0 = performance.now();
  await Promise.all(ws.map((w) => appendAll(store, w, measured(w, warm))));
  const s = (performance.now() - t0) / 1000;
  await store.close();
  return (ws.reduce((n, w) => n + measured(w, warm).length, 0) * BATCH) / s;
}

function verifyOnly(w: Workload): number {
  const key = importPublicKey(w.sc.key.publicJwk);
  const verifier = checkpointVerifier(w.sc.key.publicJwk, w.sc.key.keyId);
  const t0 = performance.now();
  let state = { ...w.sc.registration(), seq: 0, head: GENESIS };
  let tree = ChainTree.empty();
  for (const batch of w.batches) {
    const plan = checkBatch(state, batch.records, key, { hash: () => undefined, removed: () => false }, { checkpoint: batch.checkpoint, tree, verifier });
    if ('ok' in plan) throw new Error(plan.message);
    state = { ...state, ...plan.position };
    tree = plan.tree ?? tree;
  }
  return (w.batches.length * BATCH) / ((performance.now() - t0) / 1000);
}

/**
 * A KubeApi whose TokenReview always authenticates the bench's service account, bound to an injected
 * pod of an opted-in namespace (both cached after the first call anyway, as in the operator).
 */
function fakeApi(namespace: string, pod: string): KubeApi {
  const fail = (): Promise<never> => Promise.reject(new Error('not in the bench'));
  const extra = { 'authentication.kubernetes.io/pod-name': [pod], 'authentication.kubernetes.io/pod-uid': ['bench-uid'] };
  const objects: Record<string, unknown> = {
    [`/api/v1/namespaces/${namespace}`]: { metadata: { labels: { 'guarita.io/injection': 'enabled' } } },
    // Injected for the two policies the workload's records name (the operator takes records only under those).
    [`/api/v1/namespaces/${namespace}/pods/${pod}`]: { metadata: { uid: 'bench-uid', annotations: { 'guarita.io/status': 'injected', 'guarita.io/policies': 'orders-db,customers-api' } }, spec: { containers: [{ name: 'agent' }, { name: 'guarita-proxy' }] } },
  };
  return {
    create: <T>(path: string) => Promise.resolve((path.includes('tokenreviews') ? { status: { authenticated: true, audiences: ['guarita-operator'], user: { username: `system:serviceaccount:${namespace}:agent`, groups: [], extra } } } : {}) as T),
    get: <T>(path: string) => (objects[path] === undefined ? fail() : Promise.resolve(objects[path] as T)), list: fail, replace: fail, mergePatch: fail, remove: fail, watch: fail,
  };
}

async function throughApi(w: Workload, dir: string, warm: number): Promise<number> {
  const store = await openStore(dir);
  const api = fakeApi(w.sc.namespace, w.sc.pod);
  const app = Fastify({ bodyLimit: 16 * 1024 * 1024, ajv: { customOptions: AJV_OPTIONS } });
  registerIngest(app, {
    store: () => store, auth: new KubeAuth(api), sources: new EvidenceSources(api), audience: 'guarita-operator', metrics: createMetrics(false),
    events: new EventRecorder(api, { component: 'bench', instance: 'bench', log: quietLog }), log: quietLog, maxBatchRecords: 5000,
    eventTarget: (namespace, _p, pod) => ({ apiVersion: 'v1', kind: 'Pod', name: pod, namespace }),
  });
  await app.ready();
  const headers = { authorization: 'Bearer bench', 'content-type': 'application/json' };
  const reg = await app.inject({ method: 'POST', url: '/v1/chains', headers, payload: { chainId: w.sc.chainId, namespace: w.sc.namespace, pod: w.sc.pod, publicJwk: w.sc.key.publicJwk } });
  if (reg.statusCode !== 201) throw new Error(`register: ${reg.statusCode} ${reg.body}`);
  // Bytes, as a sidecar's body arrives from its socket (encoding the JSON text is the client's cost, not the operator's).
  const bodies = w.batches.map((batch) => Buffer.from(JSON.stringify(batch)));
  const send = async (payloads: readonly Buffer[]): Promise<void> => {
    for (const payload of payloads) {
      const res = await app.inject({ method: 'POST', url: `/v1/chains/${encodeURIComponent(w.sc.chainId)}/records`, headers, payload });
      if (res.statusCode !== 200) throw new Error(`records: ${res.statusCode} ${res.body}`);
    }
  };
  await send(bodies.slice(0, warm));
  const t0 = performance.now();
  await send(bodies.slice(warm));
  const s = (performance.now() - t0) / 1000;
  await app.close();
  await store.close();
  return ((bodies.length - warm) * BATCH) / s;
}

// ---- the real operator against 1000 policies --------------------------------------------------------

async function withHarness<T>(fn: () => Promise<T>): Promise<T> {
  const { HARNESS_STATE_ENV, writeHarnessState } = await import('../e2e/harness/state.ts');
  const existing = process.env[HARNESS_STATE_ENV];
  if (existing !== undefined && existing !== '') return fn();
  const { startHarness } = await import('../e2e/harness/index.ts');
  const harness = await startHarness({ components: ['kube'] });
  try {
    const file = join(harness.state.runDir, 'state.json');
    writeHarnessState(file, harness.state);
    process.env[HARNESS_STATE_ENV] = file;
    return await fn();
  } finally {
    delete process.env[HARNESS_STATE_ENV];
    await harness.stop();
  }
}

async function thousandPolicies(count: number): Promise<number> {
  // Loaded on demand: the live-cluster helpers are needed only by this part of the benchmark.
  const [{ accessPolicy }, { adminApi, createNamespaces }, { installCrds }, { operatorFixture, startOperator }, { eventually }] = await Promise.all([
    import('../e2e/support/access-policy.ts'), import('../e2e/support/kube-apply.ts'), import('../e2e/support/kubectl.ts'),
    import('../e2e/support/operator-process.ts'), import('../e2e/support/wait.ts'),
  ]);
  const id = randomBytes(3).toString('hex');
  const ns = `bench-policies-${id}`;
  await installCrds();
  const fx = await operatorFixture(`bench-op-${id}`);
  await createNamespaces(ns);
  const api = adminApi();
  const queue = Array.from({ length: count }, (_, i) => accessPolicy(ns, `policy-${i}`));
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) await api.create(apiPath('accesspolicies', ns), p);
  }));
  const t0 = performance.now();
  const op = await startOperator({ ...fx, watchNamespaces: [ns], name: 'bench-operator', env: { GUARITA_LOG_LEVEL: 'warn' } });
  try {
    await eventually(`${count} policies Ready`, async () => {
      const list = await api.list<{ status?: { conditions?: { type: string; status: string }[] } }>(apiPath('accesspolicies', ns));
      const ready = list.items.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
      return ready === count ? true : undefined;
    }, 600_000, 250);
    return (performance.now() - t0) / 1000;
  } finally {
    await op.stop();
    await api.close();
    rmSync(fx.dir, { recursive: true, force: true });
  }
}

export async function benchIngest(opts: { quick: boolean; operator?: boolean; ingest?: boolean }): Promise<Record<string, number>> {
  const results = opts.ingest === false ? {} : await benchStore(opts.quick);
  if (opts.operator !== false) results['operator.thousandPoliciesReadyS'] = await withHarness(() => thousandPolicies(1000));
  return results;
}

async function benchStore(quick: boolean): Promise<Record<string, number>> {
  // --quick: 20 batches (10,000 records), enough that one scheduling hiccup on a shared machine is not a fifth of the window.
  const batches = quick ? 20 : 60;
  const dir = mkdtempSync(join(tmpdir(), 'guarita-bench-ingest-'));
  try {
    const single = workload('bench', WARM_UP_BATCHES + batches);
    const raw = await rawAppend(single, dir, WARM_UP_BATCHES);
    const seq = await storeSequential(single, join(dir, 'seq'), WARM_UP_BATCHES);
    // Eight chains: one batch each before the clock (their first segments), then the rest at once.
    const conc = await storeConcurrent(Array.from({ length: 8 }, () => workload('bench', 1 + Math.max(2, Math.floor(batches / 4)))), join(dir, 'conc'), 1);
    const viaApi = await throughApi(workload('bench', WARM_UP_BATCHES + batches), join(dir, 'api'), WARM_UP_BATCHES);
    const verify = verifyOnly(workload('bench', batches));
    return {
      'ingest.recordsPerSec': seq.rps,
      'ingest.rawAppendRecordsPerSec': raw,
      'ingest.concurrentRecordsPerSec': conc,
      'ingest.apiRecordsPerSec': viaApi,
      'ingest.verifyOnlyRecordsPerSec': verify,
      'ingest.commitP50Ms': seq.latencies[Math.floor(seq.latencies.length / 2)] ?? 0,
      'ingest.commitP99Ms': seq.latencies[Math.floor(seq.latencies.length * 0.99)] ?? 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, 'no-operator': { type: 'boolean', default: false }, 'operator-only': { type: 'boolean', default: false } } });
  const results = await benchIngest({ quick: values.quick, operator: !values['no-operator'], ingest: !values['operator-only'] });
  const rows = Object.entries(results).map(([k, v]) => `| ${k} | ${v >= 100 ? v.toFixed(0) : v.toFixed(2)} |`);
  process.stdout.write(`${['| metric | value |', '| --- | --- |', ...rows].join('\n')}\n`);
}
