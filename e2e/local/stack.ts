// Guarita's whole product on the local control plane, without a kubelet: CRDs, the operator and
// the webhook as real processes with least-privilege service accounts, the LGPD example retargeted
// at the harness's PostgreSQL and IdP, the agent Pod created through the apiserver (so the webhook
// injects it), and the sidecar started from the stored pod spec exactly as the injected container
// would run. The three processes run the production build (dist/, what the image carries at /app).
// Used by the local end-to-end test and by `npm run demo`.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProduction, builtEntry, DIST_DIR } from '../harness/build.ts';
import { freePorts } from '../harness/ports.ts';
import { kubectl, loadHarnessState, postgresConnection, psql, requireIdp, requirePostgres } from '../harness/state.ts';
import { logTail, supervise, waitUntilReady, type Supervised } from '../harness/supervisor.ts';
import { loadExample, toYaml, type Manifest } from '../support/examples.ts';
import { adminApi, apply } from '../support/kube-apply.ts';
import { installCrds } from '../support/kubectl.ts';
import { operatorIdentity, servingCert, startOperator, type OperatorProcess } from '../support/operator-process.ts';
import { registerWebhooks, startWebhookProcess, unregisterWebhooks, webhookIdentity, type WebhookProcess } from '../../webhook/test/cluster.ts';
import { SIDECAR_RULES } from '../../sidecar/test/support.ts';
import { collect, type Ran } from './agent.ts';
import { startCustomersApi, type CustomersApi } from './customers-api.ts';
import { containerOf, materialiseContainer, type Pod } from './kubelet.ts';

const REPO = join(import.meta.dirname, '../..');
const SEED = join(REPO, 'examples/lgpd-orders/seed.sql');


export interface StackOptions {
  /** Agent namespace (default: lgpd-orders-<random>). */
  namespace?: string;
  /** Namespace of the operator and webhook (default: guarita-system-<random>). */
  systemNamespace?: string;
  approvalWait?: string;
  /**
   * pod (default): agent-pod.yaml, and policies with the OIDC identity of examples/lgpd-orders-oidc
   * (the scenario's agents present IdP tokens). job: the pod of agent-job.yaml, and the policies'
   * own service-account identity, as examples/lgpd-orders applies them on a cluster. kubectl-job:
   * the same with the pod of agent-kubectl-job.yaml (its policy and credentials: `beforeAgent`);
   * ssh-job, with the pod of agent-ssh-job.yaml (the same).
   */
  agent?: AgentKind;
  /** Runs after the example is applied, before the agent pod is created (more policies, their Secrets). */
  beforeAgent?: (namespace: string) => Promise<void>;
  progress?: (message: string) => void;
}

export type AgentKind = 'pod' | 'job' | 'kubectl-job' | 'ssh-job';

/** The example file of each Job agent (its pod template is created as a Pod). */
const JOB_FILES: Partial<Record<AgentKind, string>> = { job: 'agent-job.yaml', 'kubectl-job': 'agent-kubectl-job.yaml', 'ssh-job': 'agent-ssh-job.yaml' };

export interface SidecarHandle { proc: Supervised; adminUrl: string; log(lines?: number): string; stop(): Promise<void> }

export interface Stack {
  id: string;
  namespace: string;
  systemNamespace: string;
  operator: OperatorProcess;
  webhook: WebhookProcess;
  customersApi: CustomersApi;
  pod: Pod;
  sidecar: SidecarHandle;
  /** Environment of the agent container, as the webhook rewrote it (PGHOST, ORDERS_DB_URL, ...). */
  agentEnv: Record<string, string>;
  issuer: string;
  stop(): Promise<void>;
}

function stepper(progress: (m: string) => void): <T>(what: string, run: () => Promise<T>) => Promise<T> {
  return async (what, run) => {
    const started = Date.now();
    progress(`${what} ...`);
    const result = await run();
    progress(`${what}: done in ${Date.now() - started} ms`);
    return result;
  };
}

async function seedDatabase(): Promise<void> {
  const result = await psql(['-v', 'ON_ERROR_STOP=1', '-q', '-f', SEED], { user: 'guarita_admin' });
  if (result.code !== 0) throw new Error(`loading seed.sql failed: ${result.stderr}`);
}

function peopleRbac(ns: string): Manifest[] {
  const binding = (name: string, role: string, group: string): Manifest => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
  });
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'guarita-approver', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
    binding('dpo-approves', 'guarita-approver', 'dpo'),
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'guarita-auditor', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['sessions', 'accesspolicies'], verbs: ['get', 'list'] }] },
    binding('auditors-read-sessions', 'guarita-auditor', 'auditors'),
  ];
}

function sidecarRbac(ns: string, sa: string): Manifest[] {
  const subjects = [{ kind: 'ServiceAccount', name: sa, namespace: ns }];
  const tokenReview = `guarita-sidecar-tokenreview-${ns}`;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'guarita-sidecar', namespace: ns }, rules: SIDECAR_RULES },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'guarita-sidecar', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'guarita-sidecar' }, subjects },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: tokenReview }, rules: [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: tokenReview }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: tokenReview }, subjects },
  ];
}

/** The example, moved into `ns`, pointed at the harness PostgreSQL/IdP and the local customers API. */
async function exampleManifests(ns: string, scope: Record<string, string>, customersApiUrl: string, agent: AgentKind): Promise<Manifest[]> {
  const pg = requirePostgres();
  const [pgPort = 0, httpPort = 0] = await freePorts(2);
  const o = { namespace: ns, ...(agent === 'pod' ? { issuer: requireIdp().issuer } : {}), postgresEndpoint: `127.0.0.1:${pg.port}`, httpEndpoint: customersApiUrl };
  // namespace.yaml also holds orders-data (the database's, not opted in): here the harness serves the data.
  const namespace = loadExample('namespace.yaml', o).filter((d) => (d.metadata?.labels as Record<string, string> | undefined)?.['guarita.io/injection'] !== undefined).map((d) => ({ ...d, metadata: { ...d.metadata, labels: { ...(d.metadata?.labels as object), ...scope } } }));
  const secret = loadExample('orders-db-credentials.yaml', o).map((d) => ({ ...d, stringData: { username: 'orders_app', password: postgresConnection('orders_app').password } }));
  const policies = [...loadExample('accesspolicy.yaml', o), ...loadExample('accesspolicy-http.yaml', o)].map((d) => {
    const spec = structuredClone(d.spec) as { target: { protocol: string; listenPort: number } };
    spec.target.listenPort = spec.target.protocol === 'postgres' ? pgPort : httpPort;
    return { ...d, spec };
  });
  return [...namespace, ...secret, ...policies];
}

/** What kube-controller-manager's root-CA publisher puts into every namespace. */
function rootCaConfigMap(ns: string): Manifest {
  const kube = loadHarnessState().kube;
  if (kube === undefined) throw new Error('the harness runs without the control plane');
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: ns }, data: { 'ca.crt': readFileSync(kube.caFile, 'utf8') } };
}

/** The pod the example's agent Job would create (no Job controller here): its template, as a Pod. */
function jobPod(ns: string, file = 'agent-job.yaml'): Manifest {
  const [job] = loadExample(file, { namespace: ns });
  const template = (job?.spec as { template?: { metadata?: Record<string, unknown>; spec?: object } } | undefined)?.template;
  if (job === undefined || template === undefined) throw new Error(`examples/lgpd-orders/${file} has no pod template`);
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, name: `${String(job.metadata?.name)}-job`, namespace: ns }, spec: template.spec };
}

async function createAgentPod(ns: string, agent: AgentKind): Promise<Pod> {
  const jobFile = JOB_FILES[agent];
  const [example] = jobFile !== undefined ? [jobPod(ns, jobFile)] : loadExample('agent-pod.yaml', { namespace: ns });
  if (example === undefined) throw new Error('examples/lgpd-orders/agent-pod.yaml is empty');
  const pod = { ...example, spec: { ...(example.spec as object), serviceAccountName: 'support-agent' } };
  const created = await kubectl(['create', '-f', '-', '-o', 'json'], { user: 'admin', input: toYaml([pod]) });
  if (created.code !== 0) throw new Error(`creating the agent pod failed: ${created.stderr}`);
  return JSON.parse(created.stdout) as Pod;
}

async function startSidecarFromPod(pod: Pod, root: string): Promise<SidecarHandle> {
  const running = await materialiseContainer(adminApi(), pod, 'guarita-proxy', root);
  // The image's /app is the production build (Dockerfile: COPY --from=build /app/dist/ ./).
  const [command, ...args] = running.command.map((part) => part.replace(/^\/app\//, `${DIST_DIR}/`));
  if (command !== 'node') throw new Error(`the injected proxy runs ${String(command)}, expected node`);
  const kube = loadHarnessState().kube;
  if (kube === undefined) throw new Error('the harness runs without the control plane');
  // The in-cluster address a pod would get from the kubelet, here the local apiserver; the sidecar
  // authenticates with the bound token and CA from its projected volume, like in a real pod.
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...running.env, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(kube.apiserverUrl).port, GUARITA_OPERATOR_CA_FILE: kube.caFile };
  const logs = join(loadHarnessState().runDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const name = `guarita-proxy-${pod.metadata.namespace}`;
  const proc = supervise({ name, command: process.execPath, args: ['--disable-warning=ExperimentalWarning', ...args], env, cwd: REPO, logFile: join(logs, `${name}.log`), graceSeconds: 20 });
  const adminUrl = `http://127.0.0.1:${env.GUARITA_ADMIN_PORT ?? '15090'}`;
  await waitUntilReady(proc, 'ready (/readyz)', async () => (await fetch(`${adminUrl}/readyz`)).status === 200, { timeoutMs: 60_000, intervalMs: 200 });
  return { proc, adminUrl, log: (lines = 120) => logTail(proc.logFile, lines), stop: () => proc.stop() };
}

function agentEnvironment(pod: Pod): Record<string, string> {
  // The example's agent container, or the kubectl Job's only one.
  const agent = pod.spec.containers.find((c) => c.name === 'agent') ?? containerOf(pod, pod.spec.containers[0]?.name ?? 'agent');
  return Object.fromEntries((agent.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value ?? '']));
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const id = randomBytes(3).toString('hex');
  const ns = opts.namespace ?? `lgpd-orders-${id}`;
  const systemNs = opts.systemNamespace ?? `guarita-system-${id}`;
  const scope = { 'guarita.io/stack': id };
  const step = stepper(opts.progress ?? ((m) => process.stderr.write(`[stack] ${m}\n`)));
  const dir = join(loadHarnessState().runDir, `stack-${id}`);
  mkdirSync(dir, { recursive: true });
  const configurationName = `guarita-webhook-${id}`;

  await step('installing CRDs and seeding the orders database', () => Promise.all([installCrds(), seedDatabase(), apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: systemNs } }])]));
  await step('building the image\'s JavaScript (tsc -p tsconfig.build.json)', () => buildProduction());
  const operator = await step('starting the operator', async () => startOperator({
    namespace: systemNs, kubeconfig: await operatorIdentity(systemNs, dir), dataDir: join(dir, 'operator-store'), cert: await servingCert(dir), watchNamespaces: [ns], name: `operator-${id}`,
    entry: builtEntry('operator'),
  }));
  const [adminPort = 0] = await freePorts(1);
  const webhook = await step('starting the admission webhook', async () => startWebhookProcess({
    namespace: systemNs, configurationName, name: `webhook-${id}`, entry: builtEntry('webhook'),
    kubeconfig: await webhookIdentity(systemNs, configurationName, `guarita-webhook-tls-${id}`, dir),
    env: { GUARITA_WEBHOOK_TLS_SECRET: `guarita-webhook-tls-${id}`, GUARITA_SIDECAR_IMAGE: 'guarita:local', GUARITA_OPERATOR_URL: operator.url, GUARITA_SIDECAR_ADMIN_PORT: String(adminPort), GUARITA_SIDECAR_APPROVAL_WAIT: opts.approvalWait ?? '30s', GUARITA_LOG_LEVEL: 'info' },
  }));
  await step('registering the webhook configurations (the webhook patches in its CA)', async () => {
    await registerWebhooks(configurationName, systemNs, webhook.url, scope);
  });
  const customersApi = await step('starting the customers API', () => startCustomersApi(postgresConnection('guarita_admin')));
  await step(`applying the LGPD example in namespace ${ns}`, async () => {
    await apply(await exampleManifests(ns, scope, customersApi.url, opts.agent ?? 'pod'));
    await apply([...sidecarRbac(ns, 'support-agent'), ...peopleRbac(ns), rootCaConfigMap(ns)]);
    await opts.beforeAgent?.(ns);
  });
  const pod = await step('creating the agent pod (the webhook injects the sidecar)', () => createAgentPod(ns, opts.agent ?? 'pod'));
  const sidecar = await step('starting the injected sidecar from the stored pod spec', () => startSidecarFromPod(pod, join(dir, 'pod')));

  const stop = async (): Promise<void> => {
    await Promise.allSettled([sidecar.stop(), customersApi.close()]);
    await unregisterWebhooks(configurationName).catch(() => undefined);
    await Promise.allSettled([webhook.stop(), operator.stop()]);
  };
  return { id, namespace: ns, systemNamespace: systemNs, operator, webhook, customersApi, pod, sidecar, agentEnv: agentEnvironment(pod), issuer: requireIdp().issuer, stop };
}

/**
 * Runs a container of the stored agent pod as the kubelet would: its command, environment and
 * volumes materialised under the same root as the sidecar's (so they share the pod's emptyDirs: the
 * proxy's CA, the ssh_config it publishes), mount paths named inside its script moved there too.
 * `env` adds to (or replaces) the container's environment, for what differs on this machine;
 * `files` replaces files of its volumes (by their path in the container) after they are materialised.
 */
export async function runAgentContainer(s: Stack, container: string, env: Record<string, string> = {}, files: Record<string, string> = {}): Promise<Ran> {
  const root = join(loadHarnessState().runDir, `stack-${s.id}`, 'pod');
  const agent = await materialiseContainer(adminApi(), s.pod, container, root);
  for (const [path, content] of Object.entries(files)) {
    const mount = Object.keys(agent.mounts).find((m) => path.startsWith(`${m}/`));
    if (mount === undefined) throw new Error(`${path} is in no volume of container ${container}`);
    writeFileSync(join(agent.mounts[mount] ?? '', path.slice(mount.length)), content, { mode: 0o600 });
  }
  const command = agent.command.map((part) => Object.entries(agent.mounts).reduce((text, [path, local]) => text.replaceAll(path, local), part));
  const [file = 'sh', ...args] = command;
  return collect(spawn(file, args, { env: { PATH: process.env.PATH ?? '', HOME: root, ...agent.env, ...env }, cwd: root }), '');
}

/** The operator's store directory, for the tampering step of the scenario. */
export function storeDir(stack: Stack): string {
  return join(loadHarnessState().runDir, `stack-${stack.id}`, 'operator-store');
}

export function seedCpfs(): string[] {
  return [...readFileSync(SEED, 'utf8').matchAll(/'(\d{3}\.\d{3}\.\d{3}-\d{2})'/g)].map((m) => m[1] ?? '');
}

export function seedEmails(): string[] {
  return [...readFileSync(SEED, 'utf8').matchAll(/'([a-z.]+\d+@exemplo\.com\.br)'/g)].map((m) => m[1] ?? '');
}
