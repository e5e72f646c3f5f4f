// Integration-test support for the operator: CRDs, namespaces, the operator's least-privilege
// identity (the RBAC docs/recording.md asks the chart for), serving certificates from the run's
// CA, the REAL operator process (node operator/src/main.ts under the harness watchdog), and a
// fake sidecar that talks to it over HTTPS with projected-style service-account tokens.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { loadCaFiles, mintServingCert, writePemFiles } from '../../e2e/harness/certs.ts';
import { freePorts } from '../../e2e/harness/ports.ts';
import { kubeConfigFor, loadHarnessState, requireKube, type TestUser } from '../../e2e/harness/state.ts';
import { logTail, supervise, waitUntilReady, type Supervised } from '../../e2e/harness/supervisor.ts';
import { isNotFound, KubeClient } from '../src/kube/client.ts';
import type { ExportLine, SessionRecord } from '../src/store/types.ts';
import { fakeSidecar, type FakeSidecar } from '../../e2e/support/store-testkit.ts';
import { k, REPO } from '../../e2e/support/kubectl.ts';
import { harnessUsernameMappings } from '../../e2e/support/username-mappings.ts';
export { installCrds, k, REPO, suffix } from '../../e2e/support/kubectl.ts';

export function adminApi(): KubeClient {
  return new KubeClient(kubeConfigFor('admin'));
}

export async function apply(docs: unknown[], user: TestUser = 'admin'): Promise<void> {
  await k(['apply', '--server-side', '--force-conflicts', '-f', '-'], user, docs.map((d) => stringify(d)).join('---\n'));
}

export async function createNamespaces(...names: string[]): Promise<void> {
  await apply(names.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })));
}

/** Polls until `check` returns a value (not undefined) or the timeout passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000, intervalMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  const why = last instanceof Error ? `: ${last.message}` : '';
  throw new Error(`timed out waiting for ${what}${why}`);
}

// ---- the operator's identity --------------------------------------------------------------------

/** The ClusterRole the operator needs: exactly what charts/guarita/templates/operator/rbac.yaml grants. */
export const OPERATOR_CLUSTER_RULES = [
  { apiGroups: ['guarita.io'], resources: ['accesspolicies', 'approvalrequests'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['guarita.io'], resources: ['accesspolicies/status', 'approvalrequests/status'], verbs: ['patch'] },
  { apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['delete'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  { apiGroups: [''], resources: ['namespaces', 'pods'], verbs: ['get'] },
];

/** In the operator's namespace: its Lease and the store-key Secret (by name, as the chart does). */
export const OPERATOR_NAMESPACE_RULES = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['guarita-operator-leader'], verbs: ['get', 'update'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
  { apiGroups: [''], resources: ['secrets'], resourceNames: ['guarita-store-key'], verbs: ['get'] },
];

export async function serviceAccountToken(namespace: string, sa: string, audience?: string, seconds = 3600): Promise<string> {
  const res = await adminApi().create<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: seconds, ...(audience === undefined ? {} : { audiences: [audience] }) },
  });
  return res.status.token;
}

export async function createServiceAccount(namespace: string, name: string): Promise<void> {
  await apply([{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } }]);
}

/** Labels a namespace opted in, as an administrator does (docs/webhook.md). */
export async function optInNamespace(namespace: string): Promise<void> {
  await adminApi().mergePatch(`/api/v1/namespaces/${namespace}`, { metadata: { labels: { 'guarita.io/injection': 'enabled' } } });
}

export interface PodShape {
  /** Stamp the injector's status annotation (default true). */
  injected?: boolean;
  /** Add a guarita-proxy container (default true). */
  proxy?: boolean;
  /** Extra volumeMounts of the agent container (e.g. guarita-spool: the item 4 attack). */
  agentMounts?: string[];
  /** Pod labels (the fallback through a live webhook needs a policy's podSelector to match). */
  labels?: Record<string, string>;
}

/**
 * The Pod object an ingest token is bound to, shaped as the webhook leaves an injected pod (the
 * guarita.io/status annotation, a guarita-proxy container) unless `shape` says otherwise. There is
 * no kubelet: the pod stays Pending and the test process plays its proxy. Where a live webhook
 * guards the namespace (scenarios with `webhook: true`) it refuses such a hand-made "injected" pod,
 * so the pod is created as an agent asks (guarita.io/inject: "true") and the webhook injects it.
 * Created once per name; returns its UID.
 */
export async function agentPod(namespace: string, sa: string, name: string, shape: PodShape = {}): Promise<string> {
  const api = adminApi();
  try {
    return (await api.get<{ metadata: { uid: string } }>(`/api/v1/namespaces/${namespace}/pods/${name}`)).metadata.uid;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    return await handMadePod(namespace, sa, name, shape);
  } catch (err) {
    const genuineWanted = shape.injected !== false && shape.proxy !== false;
    if (!(genuineWanted && err instanceof Error && /admission webhook/.test(err.message))) throw err;
  }
  return webhookInjectedPod(namespace, sa, name, shape.labels ?? {});
}

async function webhookInjectedPod(namespace: string, sa: string, name: string, labels: Record<string, string>): Promise<string> {
  const injected = await adminApi().create<{ metadata: { uid: string; annotations?: Record<string, string> } }>(`/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels, annotations: { 'guarita.io/inject': 'true' } },
    spec: { serviceAccountName: sa, containers: [{ name: 'agent', image: 'registry.invalid/agent:test' }] },
  });
  if (injected.metadata.annotations?.['guarita.io/status'] !== 'injected') throw new Error(`pod ${namespace}/${name}: the live webhook refused a hand-made injected pod but did not inject it either`);
  return injected.metadata.uid;
}

async function handMadePod(namespace: string, sa: string, name: string, shape: PodShape): Promise<string> {
  const volumes = [{ name: 'guarita-spool', emptyDir: {} }, { name: 'guarita-tokens', emptyDir: {} }];
  const proxy = { name: 'guarita-proxy', image: 'registry.invalid/guarita:test', volumeMounts: volumes.map((v) => ({ name: v.name, mountPath: `/var/run/guarita/${v.name}` })) };
  const agent = { name: 'agent', image: 'registry.invalid/agent:test', volumeMounts: (shape.agentMounts ?? []).map((n) => ({ name: n, mountPath: `/mnt/${n}` })) };
  const pod = await adminApi().create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels: shape.labels ?? {}, annotations: shape.injected === false ? {} : { 'guarita.io/status': 'injected' } },
    spec: { serviceAccountName: sa, automountServiceAccountToken: false, volumes, containers: [agent, ...(shape.proxy === false ? [] : [proxy])] },
  });
  return pod.metadata.uid;
}

/** A TokenRequest bound to a Pod, as the kubelet projects it (TokenReview then names the pod in user.extra). */
export async function podBoundToken(namespace: string, sa: string, pod: string, uid: string, audience: string, seconds = 3600): Promise<string> {
  const res = await adminApi().create<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
    spec: { expirationSeconds: seconds, audiences: [audience], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid } },
  });
  return res.status.token;
}

/**
 * What a genuine injected proxy holds: its namespace opted in, its Pod (with the proxy), and an
 * operator-audience token bound to that Pod. The operator accepts evidence only from such tokens.
 */
export async function injectedProxyToken(namespace: string, sa: string, pod: string, seconds = 3600, labels: Record<string, string> = { app: sa }): Promise<{ token: string; uid: string }> {
  await createServiceAccount(namespace, sa);
  await optInNamespace(namespace);
  const uid = await agentPod(namespace, sa, pod, { labels });
  return { token: await podBoundToken(namespace, sa, pod, uid, 'guarita-operator', seconds), uid };
}

/** ServiceAccount + RBAC + a kubeconfig with a TokenRequest token: the operator never runs as admin here. */
export async function operatorIdentity(namespace: string, dir: string): Promise<string> {
  const sa = 'guarita-operator';
  const name = `guarita-operator-${namespace}`;
  await createServiceAccount(namespace, sa);
  const subjects = [{ kind: 'ServiceAccount', name: sa, namespace }];
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: OPERATOR_CLUSTER_RULES },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'guarita-operator', namespace }, rules: OPERATOR_NAMESPACE_RULES },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'guarita-operator', namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'guarita-operator' }, subjects },
  ]);
  const token = await serviceAccountToken(namespace, sa, undefined, 7200);
  const kube = requireKube();
  const file = join(dir, 'operator.kubeconfig');
  writeFileSync(file, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'operator',
    clusters: [{ name: 'harness', cluster: { server: kube.apiserverUrl, 'certificate-authority': kube.caFile } }],
    users: [{ name: 'operator', user: { token } }],
    contexts: [{ name: 'operator', context: { cluster: 'harness', user: 'operator', namespace } }],
  }), { mode: 0o600 });
  return file;
}

export async function servingCert(dir: string): Promise<{ certFile: string; keyFile: string }> {
  const kube = requireKube();
  const ca = await loadCaFiles({ certFile: kube.caFile, keyFile: kube.caKeyFile });
  return writePemFiles(dir, 'operator', await mintServingCert(ca, { commonName: 'guarita-operator', ips: ['127.0.0.1'], dnsNames: ['localhost'] }));
}

// ---- the operator process -----------------------------------------------------------------------

export interface OperatorEnv {
  /** Namespace of the Lease and store-key Secret. */
  namespace: string;
  kubeconfig: string;
  dataDir: string;
  cert: { certFile: string; keyFile: string };
  watchNamespaces: string[];
  name?: string;
  env?: Record<string, string>;
  /** The main module to run: the TypeScript source (default), or the production build's (e2e/harness/build.ts). */
  entry?: string;
}

export interface OperatorStatus { identity: string; leader: boolean; serving: boolean; holder?: string; pid: number }

export interface OperatorProcess {
  proc: Supervised;
  url: string;
  metricsUrl: string;
  status(): Promise<OperatorStatus>;
  metrics(): Promise<string>;
  /** SIGKILL the operator's node process (no cleanup of any kind). */
  kill9(): Promise<void>;
  stop(): Promise<void>;
  log(): string;
}

const plain = new Agent();

async function getJson<T>(url: string): Promise<T> {
  const res = await request(url, { dispatcher: plain, headersTimeout: 3000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${text}`);
  return JSON.parse(text) as T;
}

export async function startOperator(o: OperatorEnv): Promise<OperatorProcess> {
  const [port = 0, metricsPort = 0] = await freePorts(2);
  const logs = join(loadHarnessState().runDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const name = o.name ?? `operator-${o.namespace}`;
  const proc = supervise({
    name, command: process.execPath,
    args: ['--disable-warning=ExperimentalWarning', o.entry ?? join(REPO, 'operator/src/main.ts')],
    logFile: join(logs, `${name}-${port}.log`), cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp',
      KUBECONFIG: o.kubeconfig,
      GUARITA_NAMESPACE: o.namespace,
      GUARITA_IDENTITY: `${name}-${port}`,
      GUARITA_WATCH_NAMESPACES: o.watchNamespaces.join(','),
      GUARITA_LISTEN: `127.0.0.1:${port}`,
      GUARITA_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      GUARITA_TLS_CERT_FILE: o.cert.certFile,
      GUARITA_TLS_KEY_FILE: o.cert.keyFile,
      GUARITA_DATA_DIR: o.dataDir,
      GUARITA_LEASE_DURATION: '4s', GUARITA_RENEW_DEADLINE: '3s', GUARITA_RETRY_PERIOD: '500ms',
      GUARITA_ANCHOR_INTERVAL: '500ms',
      GUARITA_EVENT_REPEAT_INTERVAL: '0s',
      GUARITA_LOG_LEVEL: 'debug',
      GUARITA_OIDC_USERNAME_MAPPINGS: harnessUsernameMappings(),
      ...o.env,
    },
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  const handle: OperatorProcess = {
    proc, url: `https://127.0.0.1:${port}`, metricsUrl,
    status: () => getJson<OperatorStatus>(`${metricsUrl}/status`),
    metrics: async () => (await request(`${metricsUrl}/metrics`, { dispatcher: plain })).body.text(),
    kill9: async () => {
      const { pid } = await handle.status();
      process.kill(pid, 'SIGKILL');
      await eventually('the killed operator to be gone', () => Promise.resolve(proc.exit === undefined ? undefined : true), 10_000, 50);
    },
    stop: () => proc.stop(),
    log: () => logTail(proc.logFile, 80),
  };
  await waitUntilReady(proc, 'metrics port answers', async () => (await handle.status()).identity !== '', { timeoutMs: 30_000 });
  return handle;
}

export async function waitServing(op: OperatorProcess, timeoutMs = 30_000): Promise<void> {
  await waitUntilReady(op.proc, 'leader with the store open', async () => (await op.status()).serving, { timeoutMs });
}

/** A test fixture: the operator's namespace, identity, cert and data dir. */
export interface OperatorFixture { namespace: string; kubeconfig: string; cert: { certFile: string; keyFile: string }; dataDir: string; dir: string }

export async function operatorFixture(namespace: string): Promise<OperatorFixture> {
  const dir = mkdtempSync(join(tmpdir(), `guarita-op-${namespace}-`));
  await createNamespaces(namespace);
  const kubeconfig = await operatorIdentity(namespace, dir);
  const cert = await servingCert(dir);
  const dataDir = join(dir, 'data');
  return { namespace, kubeconfig, cert, dataDir, dir };
}

// ---- clients of the operator's APIs -------------------------------------------------------------

let tlsAgent: Agent | undefined;
function apiAgent(): Agent {
  tlsAgent ??= new Agent({ connect: { ca: readFileSync(requireKube().caFile, 'utf8') } });
  return tlsAgent;
}

export interface HttpResult<T = Record<string, unknown>> { status: number; body: T; headers: Record<string, string | string[] | undefined>; text: string }

export async function call<T = Record<string, unknown>>(base: string, method: 'GET' | 'POST', path: string, token: string | undefined, body?: unknown): Promise<HttpResult<T>> {
  const res = await request(`${base}${path}`, {
    method, dispatcher: apiAgent(),
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    headersTimeout: 30_000, bodyTimeout: 30_000,
  });
  const text = await res.body.text();
  let parsed: unknown;
  try { parsed = text === '' ? {} : JSON.parse(text); } catch { parsed = {}; }
  return { status: res.statusCode, body: parsed as T, headers: res.headers, text };
}

export function parseJsonl<T = ExportLine>(text: string): T[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}

/** A fake sidecar: real signed chain, SA token bound to the operator's audience and to an injected Pod object. */
export interface SidecarClient extends FakeSidecar {
  token: string;
  register(base: string): Promise<HttpResult>;
  send(base: string, records: SessionRecord[]): Promise<HttpResult>;
  position(base: string): Promise<HttpResult>;
}

export async function sidecarClient(namespace: string, sa = 'agent', pod?: string): Promise<SidecarClient> {
  const sc = fakeSidecar(namespace, pod);
  const { token } = await injectedProxyToken(namespace, sa, sc.pod);
  const path = `/v1/chains/${encodeURIComponent(sc.chainId)}`;
  return {
    ...sc, token,
    register: (base) => call(base, 'POST', '/v1/chains', token, { chainId: sc.chainId, namespace, pod: sc.pod, publicJwk: sc.key.publicJwk }),
    send: (base, records) => call(base, 'POST', `${path}/records`, token, { records }),
    position: (base) => call(base, 'GET', path, token),
  };
}

export function userToken(user: TestUser): string {
  return requireKube().tokens[user];
}

/** Lets `group` (or a user) read recordings in `namespace`: the Role the docs recommend for auditors. */
export async function grantSessionReaders(namespace: string, subject: { kind: 'Group' | 'User'; name: string }): Promise<void> {
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'guarita-session-reader', namespace }, rules: [{ apiGroups: ['guarita.io'], resources: ['sessions'], verbs: ['get', 'list'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `guarita-session-reader-${subject.name}`, namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'guarita-session-reader' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', ...subject }] },
  ]);
}

// ---- resources ------------------------------------------------------------------------------------

export function accessPolicy(namespace: string, name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name, namespace },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name, protocol: 'postgres', endpoint: 'orders-db.example.svc:5432', listenPort: 15432 },
      identity: { oidc: { issuer: 'https://idp.example.com', audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: 'customer-support' }],
      rules: [
        { name: 'exports-need-dpo', match: { sql: { traits: ['copyExport'] } }, action: 'requireApproval', approval: { approverGroups: ['dpo'], minApprovals: 2, ttl: '15m' } },
        { name: 'allow-the-rest', action: 'allow' },
      ],
      ...over,
    },
  };
}

export async function getObject<T = Record<string, unknown>>(kind: string, namespace: string, name: string): Promise<T> {
  return JSON.parse(await k(['get', kind, name, '-n', namespace, '-o', 'json'])) as T;
}

export async function eventsFor(namespace: string, name: string): Promise<{ reason: string; message: string; type: string }[]> {
  const out = JSON.parse(await k(['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${name}`, '-o', 'json'])) as { items: { reason: string; message: string; type: string }[] };
  return out.items;
}
