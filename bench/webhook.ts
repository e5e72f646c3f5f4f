// The admission webhook under load. Two parts:
// 1. The injection handler over HTTPS on loopback: 16 concurrent connections (autocannon,
//    webhook.p50Ms/p99Ms, millisecond resolution) and one request at a time (webhook.sequential*,
//    sub-millisecond), each beside a baseline route that parses the same AdmissionReview and
//    allows it without work: the difference is what injection costs on top of TLS + HTTP + JSON.
//    The servers run in a worker thread, so the load generator never shares their event loop.
// 2. Pod creation through the harness kube-apiserver, which calls the webhook over TLS by URL:
//    in an opted-in namespace (injected) versus one without the label (never calls the webhook).
//    Uses the harness named by $GUARITA_HARNESS_STATE, or starts one (kube only).
// Alone: `bash scripts/run.sh node bench/webhook.ts [--quick]`.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import fastify from 'fastify';
import { Client } from 'undici';
import { pino } from 'pino';
import type { AccessPolicy } from '../crds/types.ts';
import { startHarness, type Harness } from '../e2e/harness/index.ts';
import { HARNESS_STATE_ENV, kubeConfigFor, kubeconfigPath, loadHarnessState, type HarnessState } from '../e2e/harness/state.ts';
import { runChecked } from '../e2e/harness/exec.ts';
import { startWebhook } from '../webhook/src/app.ts';
import { loadConfig } from '../webhook/src/config.ts';
import { webhookConfigurations } from '../webhook/src/configurations.ts';
import type { WebhookContext } from '../webhook/src/context.ts';
import { decideInjection } from '../webhook/src/inject.ts';
import { KubeClient } from '../webhook/src/kube.ts';
import { maskingCheck } from '../webhook/src/masking-check.ts';
import { createMetrics } from '../webhook/src/metrics.ts';
import { StaticPolicies } from '../webhook/src/policy-cache.ts';
import { buildServer, quietLogging } from '../webhook/src/server.ts';
import { createCa, issueServing } from '../webhook/src/tls-certs.ts';
import { admissionReview, examplePod, examplePolicy, OPTED_IN, TEST_INJECTOR } from '../webhook/test/fixtures.ts';

interface CannonResult { latency: { p50: number; p99: number; p97_5: number; average: number }; requests: { average: number }; errors: number; non2xx: number }
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;
const WORKER_ROLE = 'guarita-webhook-bench-server';

/** The example policies plus 48 others in the namespace that do not select the agent (a busy namespace). */
function namespacePolicies(): AccessPolicy[] {
  const fillers = Array.from({ length: 48 }, (_, i) => {
    const p = examplePolicy('accesspolicy.yaml');
    p.metadata.name = `other-${i}`;
    p.spec.podSelector = { matchLabels: { app: `other-${i}` } };
    p.spec.target = { ...p.spec.target, name: `other-${i}`, listenPort: 20000 + i };
    return p;
  });
  return [examplePolicy('accesspolicy.yaml'), examplePolicy('accesspolicy-http.yaml'), ...fillers];
}

async function selfSigned(): Promise<{ certPem: string; keyPem: string }> {
  const now = new Date();
  const ca = await createCa(86_400_000, now);
  return issueServing(ca, { dnsNames: ['localhost'], ips: ['127.0.0.1'], caValidityMs: 86_400_000, certValidityMs: 86_400_000, renewFraction: 1 / 3 }, now);
}

async function cannon(url: string, body: string, seconds: number): Promise<CannonResult> {
  const connections = 16;
  await autocannon({ url, method: 'POST', body, headers: { 'content-type': 'application/json' }, connections, duration: 1 });
  const res = await autocannon({ url, method: 'POST', body, headers: { 'content-type': 'application/json' }, connections, duration: seconds });
  if (res.errors > 0 || res.non2xx > 0) throw new Error(`${url}: ${res.errors} errors, ${res.non2xx} non-2xx responses`);
  return res;
}

/** Percentile (µs) of the pure injection decision for the example pod, after a warm-up. */
function pureDecisionMicros(samples: number, percentile: number): number {
  const policies = namespacePolicies();
  const pod = examplePod();
  const decide = (): unknown => decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
  for (let i = 0; i < 2000; i++) decide();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    decide();
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length * (percentile / 100))] ?? 0;
}

/** Worker side: the webhook server and the baseline server, in their own thread (autocannon must not share their event loop). */
async function serveInWorker(): Promise<void> {
  const pair = await selfSigned();
  const log = pino({ level: 'silent' });
  const ctx: WebhookContext = {
    injector: TEST_INJECTOR, missingSecret: 'reject', usernameMappings: [], policies: new StaticPolicies(namespacePolicies()),
    allowedCsiDrivers: [],
    lookups: { existingSecrets: () => Promise.resolve(new Set()), namespaceLabels: () => Promise.resolve(undefined), userMay: () => Promise.resolve(true) },
    metrics: createMetrics(false), log, maskingCheck, now: () => new Date(),
  };
  // The handlers' cost; the client-certificate check is per request and not measured here.
  const server = await buildServer(ctx, pair, () => true, { mode: 'none' });
  const baseline = fastify({ ...quietLogging(log), bodyLimit: 16 * 1024 * 1024, https: { cert: pair.certPem, key: pair.keyPem } });
  baseline.post('/allow', (req) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: (req.body as { request: { uid: string } }).request.uid, allowed: true } }));
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  await baseline.listen({ host: '127.0.0.1', port: 0 });
  parentPort?.once('message', () => void Promise.all([server.app.close(), baseline.close()]).then(() => process.exit(0)));
  parentPort?.postMessage({ webhook: (server.app.server.address() as AddressInfo).port, baseline: (baseline.server.address() as AddressInfo).port });
}

/** One connection, one request at a time (how the apiserver calls for a single pod): sub-millisecond percentiles. */
async function sequential(origin: string, path: string, body: string, count: number): Promise<{ p50: number; p99: number }> {
  const client = new Client(origin, { connect: { rejectUnauthorized: false } });
  try {
    const send = async (): Promise<void> => {
      const res = await client.request({ method: 'POST', path, body, headers: { 'content-type': 'application/json' } });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode}`);
    };
    for (let i = 0; i < 200; i++) await send();
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await send();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return { p50: times[Math.floor(count / 2)] ?? 0, p99: times[Math.floor(count * 0.99)] ?? 0 };
  } finally {
    await client.close();
  }
}

async function benchHandler(quick: boolean): Promise<Record<string, number>> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: WORKER_ROLE } });
  const ports = await new Promise<{ webhook: number; baseline: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  try {
    const body = JSON.stringify(admissionReview({ operation: 'CREATE', namespace: 'lgpd-orders', object: examplePod() }));
    const seconds = quick ? 3 : 10;
    const inject = await cannon(`https://127.0.0.1:${ports.webhook}/mutate/pods`, body, seconds);
    const base = await cannon(`https://127.0.0.1:${ports.baseline}/allow`, body, seconds);
    const count = quick ? 1000 : 5000;
    const one = await sequential(`https://127.0.0.1:${ports.webhook}`, '/mutate/pods', body, count);
    const oneBase = await sequential(`https://127.0.0.1:${ports.baseline}`, '/allow', body, count);
    return {
      'webhook.sequentialP50Ms': one.p50,
      'webhook.sequentialP99Ms': one.p99,
      'webhook.sequentialBaselineP50Ms': oneBase.p50,
      'webhook.sequentialBaselineP99Ms': oneBase.p99,
      'webhook.p50Ms': inject.latency.p50,
      'webhook.p99Ms': inject.latency.p99,
      'webhook.requestsPerSec': inject.requests.average,
      'webhook.baselineP50Ms': base.latency.p50,
      'webhook.baselineP99Ms': base.latency.p99,
      'webhook.baselineRequestsPerSec': base.requests.average,
      'webhook.decideP50Micros': pureDecisionMicros(quick ? 5000 : 50000, 50),
      'webhook.decideP99Micros': pureDecisionMicros(quick ? 5000 : 50000, 99),
    };
  } finally {
    worker.postMessage('stop');
    await new Promise((r) => worker.once('exit', r));
  }
}

async function harnessState(): Promise<{ state: HarnessState; owned: Harness | undefined }> {
  const file = process.env[HARNESS_STATE_ENV];
  if (file !== undefined && file !== '') return { state: loadHarnessState(file), owned: undefined };
  const owned = await startHarness({ components: ['kube'] });
  return { state: owned.state, owned };
}

async function kubectlApply(state: HarnessState, objects: unknown[]): Promise<void> {
  const kube = state.kube;
  if (kube === undefined) throw new Error('harness without kube');
  await runChecked(kube.kubectlPath, ['--kubeconfig', kubeconfigPath('admin', state), 'apply', '--server-side', '--force-conflicts', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n') });
}

async function timeCreates(api: KubeClient, namespace: string, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const pod = examplePod(namespace, `bench-${i}`);
    const t0 = performance.now();
    await api.create(`/api/v1/namespaces/${namespace}/pods`, pod);
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b);
}

/** Self-managed TLS patches the caBundle into the configurations within a reconcile. */
async function untilTrusted(api: KubeClient, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const config = await api.get<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(`/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${name}`);
    if (config?.webhooks.every((w) => (w.clientConfig.caBundle ?? '') !== '') === true) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name}: caBundle not set within 30 s`);
}

/** The caBundle is patched within a reconcile: retry a first create until the apiserver trusts the webhook. */
async function untilAdmitted(api: KubeClient, namespace: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (let i = 0; ; i++) {
    try {
      await api.create(`/api/v1/namespaces/${namespace}/pods`, examplePod(namespace, `warmup-${i}`));
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const median = (sorted: number[]): number => sorted[Math.floor(sorted.length / 2)] ?? 0;

async function benchPodCreate(quick: boolean): Promise<Record<string, number>> {
  const { state, owned } = await harnessState();
  const id = randomBytes(3).toString('hex');
  const system = `guarita-bench-${id}`;
  const name = `guarita-webhook-bench-${id}`;
  const scope = { 'guarita.io/test-scope': `bench-${id}` };
  const withNs = `bench-with-${id}`;
  const withoutNs = `bench-without-${id}`;
  const kube = state.kube;
  if (kube === undefined) throw new Error('harness without kube');
  const crds = new URL('../crds/', import.meta.url).pathname;
  await runChecked(kube.kubectlPath, ['--kubeconfig', kubeconfigPath('admin', state), 'apply', '--server-side', '--force-conflicts', '-f', crds]);
  await runChecked(kube.kubectlPath, ['--kubeconfig', kubeconfigPath('admin', state), 'wait', '--for=condition=Established', 'crd/accesspolicies.guarita.io']);
  await kubectlApply(state, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: system } }]);
  const config = loadConfig([], {
    GUARITA_NAMESPACE: system, GUARITA_SIDECAR_IMAGE: 'ghcr.io/guarita/guarita:bench', GUARITA_WEBHOOK_HOST: '127.0.0.1', GUARITA_WEBHOOK_PORT: '0',
    GUARITA_WEBHOOK_METRICS_PORT: '0', GUARITA_WEBHOOK_CERT_HOSTS: '127.0.0.1', GUARITA_WEBHOOK_CONFIGURATION: name, GUARITA_LOG_LEVEL: 'warn', GUARITA_WEBHOOK_TLS_CHECK_INTERVAL: '1s',
    // As installed: only the apiserver's client certificate is answered (its verification is part of the figure).
    GUARITA_WEBHOOK_CLIENT_CA_FILE: kube.webhookClientCaFile ?? '',
  });
  const webhook = await startWebhook(config, { kubeConfig: kubeConfigFor('admin', state), log: pino({ level: 'warn' }, pino.destination(2)), defaultMetrics: false });
  try {
    await kubectlApply(state, webhookConfigurations({ name, namespace: system, endpoint: { url: webhook.url }, scopeLabels: scope }));
    await kubectlApply(state, [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: withNs, labels: { ...OPTED_IN, ...scope } } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: withoutNs, labels: scope } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'orders-db-credentials', namespace: withNs }, stringData: { username: 'u', password: 'p' } },
    ]);
    const api = new KubeClient(kubeConfigFor('admin', state));
    await untilTrusted(api, name);
    await kubectlApply(state, [examplePolicy('accesspolicy.yaml', withNs), examplePolicy('accesspolicy-http.yaml', withNs)]);
    await untilAdmitted(api, withNs);
    const n = quick ? 30 : 200;
    const without = await timeCreates(api, withoutNs, n);
    const withInjection = await timeCreates(api, withNs, n);
    return {
      'webhook.podCreateWithMs': median(withInjection),
      'webhook.podCreateWithoutMs': median(without),
      'webhook.podCreateWithP99Ms': withInjection[Math.floor(n * 0.99)] ?? 0,
      'webhook.podCreateWithoutP99Ms': without[Math.floor(n * 0.99)] ?? 0,
    };
  } finally {
    await runChecked(kube.kubectlPath, ['--kubeconfig', kubeconfigPath('admin', state), 'delete', '--ignore-not-found', `mutatingwebhookconfiguration/${name}`, `validatingwebhookconfiguration/${name}`]).catch(() => undefined);
    await webhook.stop();
    await owned?.stop();
  }
}

export async function benchWebhook(opts: { quick: boolean }): Promise<Record<string, number>> {
  const handler = await benchHandler(opts.quick);
  const create = await benchPodCreate(opts.quick);
  return { ...handler, ...create };
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === WORKER_ROLE) await serveInWorker();
else if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const results = await benchWebhook({ quick: values.quick });
  const rows = Object.entries(results).map(([k, v]) => `| ${k} | ${v >= 100 ? v.toFixed(0) : v.toFixed(2)} |`);
  process.stdout.write(['| metric | value |', '| --- | --- |', ...rows].join('\n') + '\n');
}
