// Kubernetes API path benchmark: the harness apiserver straight vs through the real sidecar
// process (node sidecar/src/main.ts: the agent's service-account token verified by TokenReview
// once per session, the live AccessPolicy, request attributes read from the URL, JSON masking of
// the ConfigMap's CPF and e-mail, every request signed and recorded to the spool), same
// apiserver, same run, alternated in rounds so drift moves both sides alike.
//   - k8s.getAddedP50Ms: a kubectl-style GET of one ConfigMap, one connection, p50 proxied − direct;
//   - k8s.listThroughputRatio: lists of 50 ConfigMaps, 8 connections, requests/s proxied ÷ direct.
//   node bench/kubernetes.ts [--quick]   (uses $GUARITA_HARNESS_STATE, or starts a harness)
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { ensureHarness } from '../e2e/harness/index.ts';
import { freePorts } from '../e2e/harness/ports.ts';
import { requireKube } from '../e2e/harness/state.ts';
import { apply, createServiceAccount, serviceAccountToken } from '../e2e/support/kube-apply.ts';
import { installCrds } from '../e2e/support/kubectl.ts';
import { mountCredentials, NO_OPERATOR, sidecarFixture, startSidecarProcess, type SidecarProcess } from '../sidecar/test/support.ts';
import { alternated, percentile, sidecarNodeOptions } from './support.ts';

const PURPOSE = 'troubleshooting';
const NOTE = 'cliente Larissa Oliveira, CPF 590.830.166-33, e-mail larissa.oliveira1@exemplo.com.br';

interface Side { base: string; dispatcher: Agent; headers: Record<string, string> }

/** One connection, one request at a time, for `seconds`: the p50 in ms. */
async function getP50(side: Side, path: string, seconds: number): Promise<number> {
  const samples: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    const res = await request(`${side.base}${path}`, { dispatcher: side.dispatcher, headers: side.headers });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`${side.base}${path}: HTTP ${res.statusCode}`);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return percentile(samples, 50);
}

/** `connections` clients in a closed loop for `seconds`: requests per second. */
async function rps(side: Side, path: string, connections: number, seconds: number): Promise<number> {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const res = await request(`${side.base}${path}`, { dispatcher: side.dispatcher, headers: side.headers });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${side.base}${path}: HTTP ${res.statusCode}`);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  return done / ((performance.now() - t0) / 1000);
}

async function setUp(): Promise<{ ns: string; direct: Side; proxied: Side; sidecar: SidecarProcess }> {
  const kube = requireKube();
  const ns = `bench-k8s-${process.pid}`;
  await installCrds();
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  await createServiceAccount(ns, 'bench-reader');
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'bench-reader', namespace: ns }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'bench-reader', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'bench-reader' }, subjects: [{ kind: 'ServiceAccount', name: 'bench-reader', namespace: ns }] },
    ...Array.from({ length: 50 }, (_, i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `notes-${i}`, namespace: ns, annotations: { owner: 'larissa.oliveira1@exemplo.com.br' } }, data: { note: NOTE, n: String(i) } })),
  ]);
  const readerToken = await serviceAccountToken(ns, 'bench-reader', undefined, 7200);
  const [listenPort = 0] = await freePorts(1);
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cluster-credentials', namespace: ns }, stringData: { token: readerToken } },
    {
      apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'cluster', namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: 'support-agent' } },
        target: { name: 'cluster', protocol: 'kubernetes', endpoint: kube.apiserverUrl, listenPort, credentialsSecretRef: { name: 'cluster-credentials' } },
        identity: { serviceAccounts: { audiences: ['guarita'] } },
        subjects: [{ kind: 'ServiceAccount', name: 'support-agent', namespace: ns }],
        purposes: [{ name: PURPOSE }],
        rules: [
          { name: 'no-secrets', match: { kubernetes: { resources: ['secrets'] } }, action: 'deny' },
          { name: 'read-configmaps', match: { kubernetes: { verbs: ['get', 'list'], resources: ['configmaps'], namespaces: [ns] } }, action: 'allow' },
        ],
        masking: { style: 'partial' },
      },
    },
  ]);
  const fx = await sidecarFixture(ns);
  const ca = readFileSync(kube.caFile, 'utf8');
  mountCredentials(fx, 'cluster', { token: readerToken, 'ca.crt': ca });
  const caDir = join(fx.dir, 'kube');
  mkdirSync(caDir);
  // No operator in this run: records stay in the spool (recorded per request all the same).
  const sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: 'cluster', target: 'cluster', protocol: 'kubernetes', listenPort }],
    operatorUrl: NO_OPERATOR, env: { GUARITA_LOG_LEVEL: 'warn', GUARITA_KUBE_CA_DIR: caDir, ...sidecarNodeOptions() },
  });
  const agentToken = await serviceAccountToken(ns, 'support-agent', 'guarita', 7200);
  const accept = { accept: 'application/json' };
  return {
    ns, sidecar,
    direct: { base: kube.apiserverUrl, dispatcher: new Agent({ connect: { ca } }), headers: { ...accept, authorization: `Bearer ${readerToken}` } },
    proxied: {
      base: `https://127.0.0.1:${listenPort}`, dispatcher: new Agent({ connect: { ca: readFileSync(join(caDir, 'cluster', 'ca.crt'), 'utf8') } }),
      headers: { ...accept, authorization: `Bearer ${agentToken}`, 'x-guarita-purpose': PURPOSE },
    },
  };
}

export async function benchKubernetes(opts: { quick: boolean }): Promise<Record<string, number>> {
  const { ns, direct, proxied, sidecar } = await setUp();
  const get = `/api/v1/namespaces/${ns}/configmaps/notes-0`;
  const list = `/api/v1/namespaces/${ns}/configmaps?limit=500`;
  const rounds = opts.quick ? 3 : 5;
  const seconds = opts.quick ? 1 : 3;
  try {
    // Warm both paths (connections, the session's TokenReview, the apiserver's caches).
    await getP50(direct, get, 0.3);
    await getP50(proxied, get, 0.3);
    const latency = await alternated(rounds, () => getP50(direct, get, seconds), () => getP50(proxied, get, seconds));
    const throughput = await alternated(rounds, () => rps(direct, list, 8, seconds), () => rps(proxied, list, 8, seconds));
    return {
      'k8s.directGetP50Ms': latency.baseline, 'k8s.proxyGetP50Ms': latency.measured, 'k8s.getAddedP50Ms': latency.measured - latency.baseline,
      'k8s.directListRps': throughput.baseline, 'k8s.proxyListRps': throughput.measured, 'k8s.listThroughputRatio': throughput.ratio,
    };
  } finally {
    await Promise.all([direct.dispatcher.close(), proxied.dispatcher.close()]);
    await sidecar.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const harness = await ensureHarness();
  try {
    process.stdout.write(`${JSON.stringify(await benchKubernetes({ quick: values.quick }), null, 2)}\n`);
  } finally {
    await harness?.stop();
  }
}
