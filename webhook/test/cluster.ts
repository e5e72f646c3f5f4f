// Integration-test helpers on the harness apiserver: CRDs, namespaces, a least-privilege
// identity for the webhook, the real webhook process, and its configurations on loopback.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { stringify } from 'yaml';
import { freePorts } from '../../e2e/harness/ports.ts';
import { kubectl, kubeConfigFor, loadHarnessState, requireKube, type TestUser } from '../../e2e/harness/state.ts';
import { logTail, supervise, waitUntilReady, type Supervised } from '../../e2e/harness/supervisor.ts';
import { KubeClient } from '../src/kube.ts';
import { webhookConfigurations } from '../src/configurations.ts';
import { TEST_SIDECAR } from './fixtures.ts';
import { k, REPO } from '../../e2e/support/kubectl.ts';
import { harnessUsernameMappings } from '../../e2e/support/username-mappings.ts';
export { installCrds, k, kFails, REPO, suffix } from '../../e2e/support/kubectl.ts';

export function adminApi(): KubeClient {
  return new KubeClient(kubeConfigFor('admin'));
}

export async function applyJson(obj: unknown, user: TestUser = 'admin'): Promise<string> {
  return k(['apply', '--server-side', '--force-conflicts', '-f', '-'], user, JSON.stringify(obj));
}

export async function createNamespace(name: string, labels: Record<string, string>): Promise<void> {
  await applyJson({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

/**
 * The ServiceAccount the webhook runs as, with the RBAC docs/webhook.md asks the chart for, and a
 * kubeconfig holding a TokenRequest token: the webhook never runs as admin in these tests.
 */
export async function webhookIdentity(namespace: string, configurationName: string, secretName: string, dir: string): Promise<string> {
  const sa = 'guarita-webhook';
  const name = `${configurationName}-${namespace}`;
  await applyJson({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace } });
  await applyJson({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name },
    rules: [
      { apiGroups: ['guarita.io'], resources: ['accesspolicies'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['namespaces', 'secrets'], verbs: ['get'] },
      // A namespace being opted in: its pods are judged first.
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      // AccessPolicy answers say no more than the requester may read.
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], resourceNames: [configurationName], verbs: ['get', 'patch'] },
    ],
  });
  await applyJson({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace }] });
  await applyJson({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'guarita-webhook-tls', namespace },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['create'] }, { apiGroups: [''], resources: ['secrets'], resourceNames: [secretName], verbs: ['get', 'update'] }],
  });
  await applyJson({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'guarita-webhook-tls', namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'guarita-webhook-tls' }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace }] });
  const token = await adminApi().create<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200 } });
  const kube = requireKube();
  const file = join(dir, `${namespace}.kubeconfig`);
  writeFileSync(file, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'webhook',
    clusters: [{ name: 'harness', cluster: { server: kube.apiserverUrl, 'certificate-authority': kube.caFile } }],
    users: [{ name: 'webhook', user: { token: token.status.token } }],
    contexts: [{ name: 'webhook', context: { cluster: 'harness', user: 'webhook', namespace } }],
  }), { mode: 0o600 });
  return file;
}

export interface WebhookProcess {
  proc: Supervised;
  port: number;
  metricsPort: number;
  url: string;
  stop(): Promise<void>;
  log(): string;
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface WebhookProcessOptions {
  namespace: string;
  configurationName: string;
  kubeconfig: string;
  env?: Record<string, string>;
  name?: string;
  /**
   * `namespace:name` of the operator's ServiceAccount, the only identity that may decide
   * ApprovalRequest phases (status writes). Default: the webhook's, `<namespace>:guarita-operator`.
   * Tests that run the real operator in a namespace of its own must pass it.
   */
  operatorServiceAccount?: string;
  /** The main module to run: the TypeScript source (default), or the production build's (e2e/harness/build.ts). */
  entry?: string;
}

/**
 * The webhook requires the apiserver's client certificate (the harness apiserver presents one,
 * e2e/harness/apiserver.ts). A harness started before it did has no CA to give: then the
 * endpoints are left open, as GUARITA_WEBHOOK_CLIENT_AUTH=none does.
 */
export function clientAuthEnv(): Record<string, string> {
  const ca = requireKube().webhookClientCaFile;
  return ca === undefined ? { GUARITA_WEBHOOK_CLIENT_AUTH: 'none' } : { GUARITA_WEBHOOK_CLIENT_AUTH: 'certificate', GUARITA_WEBHOOK_CLIENT_CA_FILE: ca };
}

/** Runs `node webhook/src/main.ts` under the harness watchdog, configured only through its environment. */
export async function startWebhookProcess(o: WebhookProcessOptions): Promise<WebhookProcess> {
  const [port = 0, metricsPort = 0] = await freePorts(2);
  const logs = join(loadHarnessState().runDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const proc = supervise({
    name: o.name ?? `webhook-${o.namespace}`,
    command: process.execPath,
    args: ['--disable-warning=ExperimentalWarning', o.entry ?? join(REPO, 'webhook/src/main.ts')],
    logFile: join(logs, `${o.name ?? 'webhook'}-${o.namespace}-${port}.log`),
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      GUARITA_NAMESPACE: o.namespace,
      GUARITA_KUBECONFIG: o.kubeconfig,
      GUARITA_WEBHOOK_HOST: '127.0.0.1',
      GUARITA_WEBHOOK_PORT: String(port),
      GUARITA_WEBHOOK_METRICS_PORT: String(metricsPort),
      GUARITA_WEBHOOK_CERT_HOSTS: '127.0.0.1,localhost',
      GUARITA_WEBHOOK_CONFIGURATION: o.configurationName,
      GUARITA_WEBHOOK_TLS_CHECK_INTERVAL: '1s',
      GUARITA_SIDECAR_IMAGE: TEST_SIDECAR.image,
      GUARITA_LOG_LEVEL: 'debug',
      GUARITA_OIDC_USERNAME_MAPPINGS: harnessUsernameMappings(),
      ...clientAuthEnv(),
      ...(o.operatorServiceAccount === undefined ? {} : { GUARITA_OPERATOR_SERVICE_ACCOUNT: o.operatorServiceAccount }),
      ...o.env,
    },
  });
  const url = `https://127.0.0.1:${port}`;
  await waitUntilReady(proc, 'ready (/readyz)', async () => (await getStatus(`${url}/readyz`)) === 200, { timeoutMs: 60_000, intervalMs: 200 });
  return { proc, port, metricsPort, url, stop: () => proc.stop(), log: () => logTail(proc.logFile, 200) };
}

/**
 * The webhook configurations pointing at a loopback URL, scoped to namespaces labelled for this test.
 * Returns once the webhook (self-managed TLS) has patched its CA into every webhook: until then the
 * apiserver cannot call it, and with failurePolicy Fail every write in scope would be refused.
 */
export async function registerWebhooks(configurationName: string, namespace: string, url: string, scopeLabels: Record<string, string>): Promise<void> {
  for (const obj of webhookConfigurations({ name: configurationName, namespace, endpoint: { url }, scopeLabels })) await applyJson(obj);
  await waitFor('the webhook\'s caBundle on every webhook', async () => ((await caBundles(configurationName)).every((b) => b.includes('BEGIN CERTIFICATE')) ? true : undefined));
}

export async function unregisterWebhooks(configurationName: string): Promise<void> {
  await kubectl(['delete', '--ignore-not-found', `mutatingwebhookconfiguration/${configurationName}`, `validatingwebhookconfiguration/${configurationName}`], { user: 'admin' });
}

interface WebhookConfigJson { webhooks: { name: string; clientConfig: { caBundle?: string } }[] }

/** The PEM bundles the apiserver trusts for each webhook of the two configurations. */
export async function caBundles(configurationName: string): Promise<string[]> {
  const api = adminApi();
  const configs = await Promise.all(['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']
    .map((kind) => api.get<WebhookConfigJson>(`/apis/admissionregistration.k8s.io/v1/${kind}/${configurationName}`)));
  return configs.flatMap((c) => (c?.webhooks ?? []).map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8')));
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}
