// The REAL operator process for integration tests (node operator/src/main.ts under the harness
// watchdog): its least-privilege identity (the RBAC docs/recording.md asks the chart for), a
// serving certificate from the run's CA, starting it and waiting until it leads and serves.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { loadCaFiles, mintServingCert, writePemFiles } from '../harness/certs.ts';
import { freePorts } from '../harness/ports.ts';
import { loadHarnessState, requireKube } from '../harness/state.ts';
import { logTail, supervise, waitUntilReady, type Supervised } from '../harness/supervisor.ts';
import { apply, createNamespaces, createServiceAccount, serviceAccountToken } from './kube-apply.ts';
import { REPO } from './kubectl.ts';
import { harnessUsernameMappings } from './username-mappings.ts';
import { eventually } from './wait.ts';

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
