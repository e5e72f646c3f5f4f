// Install order and opt-in without surprises, on the harness apiserver with the real chart (the
// pinned helm) and the real webhook process:
// - `helm install` before the agents' namespace exists: the chart creates it (create: true),
//   opted in, with the sidecar Role and the operator's CA, and keeps it on uninstall; without
//   create it names the missing namespace and the fix instead of failing on a Role;
// - a namespace opted in by label alone (the chart knows nothing of it): the label is refused,
//   naming the helm upgrade (round 10: the webhook may list pods only in listed namespaces); in a
//   namespace created already labelled, the webhook, run with the
//   settings the installed chart gave its Deployment, refuses the agent pod with the exact
//   `helm upgrade`; the test runs that command as printed, and the pod is then admitted with the
//   sidecar (the webhook restarted with the upgraded Deployment's settings, as a rollout does).
//
// Like install.int.test.ts, the release renders no webhook configurations (the apiserver is shared
// and the chart's Deployment has no kubelet to run it); the webhook process is registered by URL,
// scoped to this test's namespaces.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCommand } from '../../../e2e/harness/exec.ts';
import { binDir, REPO_ROOT } from '../../../e2e/harness/paths.ts';
import { kubeconfigPath, kubectl, loadHarnessState } from '../../../e2e/harness/state.ts';
import { loadExample, toYaml } from '../../../e2e/support/examples.ts';
import { registerWebhooks, startWebhookProcess, unregisterWebhooks, webhookIdentity, type WebhookProcess } from '../../../webhook/test/cluster.ts';
import { CHART_DIR, helm, REQUIRED_VALUES } from './helm.ts';

const id = randomBytes(3).toString('hex');
const release = `guarita-optin-${id}`;
const ns = `optin-system-${id}`;
const created = `optin-created-${id}`;
const labelled = `optin-labelled-${id}`;
const born = `optin-born-${id}`;
const missing = `optin-missing-${id}`;
const scope = { 'guarita.io/test-scope': `optin-${id}` };
const configuration = `guarita-optin-${id}`;
const admin = { user: 'admin' } as const;
const kubeconfig = kubeconfigPath('admin');

const base = ['--namespace', ns, '--create-namespace', '--skip-crds', '-f', REQUIRED_VALUES, '--set', 'webhook.configurations.create=false'];
let webhook: WebhookProcess | undefined;

async function ok(args: string[], input?: string): Promise<string> {
  const result = await kubectl(args, { ...admin, ...(input === undefined ? {} : { input }) });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** The settings the installed chart gave the webhook Deployment that this test's process needs. */
async function chartWebhookEnv(): Promise<Record<string, string>> {
  const deployment = JSON.parse(await ok(['get', 'deployment', `${release}-webhook`, '-n', ns, '-o', 'json'])) as { spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } };
  const env = deployment.spec.template.spec.containers[0]?.env ?? [];
  const wanted = ['GUARITA_SIDECAR_NAMESPACES', 'GUARITA_HELM_RELEASE', 'GUARITA_HELM_CHART'];
  return Object.fromEntries(env.filter((e) => wanted.includes(e.name) && e.value !== undefined).map((e) => [e.name, e.value ?? '']));
}

async function startChartWebhook(): Promise<WebhookProcess> {
  const dir = join(loadHarnessState().runDir, `optin-${id}`);
  mkdirSync(dir, { recursive: true });
  const identity = await webhookIdentity(ns, configuration, `${configuration}-tls`, dir);
  return startWebhookProcess({ namespace: ns, configurationName: configuration, kubeconfig: identity, name: `webhook-optin-${id}`, env: { GUARITA_WEBHOOK_TLS_SECRET: `${configuration}-tls`, ...await chartWebhookEnv() } });
}

/** The example's agent pod as the support-agent service account, in `namespace`. */
function agentPod(namespace: string, name: string): string {
  const [pod] = loadExample('agent-pod.yaml', { namespace });
  if (pod === undefined) throw new Error('examples/lgpd-orders/agent-pod.yaml is empty');
  return toYaml([{ ...pod, metadata: { ...pod.metadata, name }, spec: { ...(pod.spec as object), serviceAccountName: 'support-agent' } }]);
}

/** The pod the example's agent Job creates (its template), in `namespace`. */
function jobPod(namespace: string): string {
  const [job] = loadExample('agent-job.yaml', { namespace });
  const template = (job?.spec as { template?: { metadata?: object; spec?: object } } | undefined)?.template;
  if (template === undefined) throw new Error('examples/lgpd-orders/agent-job.yaml has no pod template');
  return toYaml([{ apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, name: 'support-agent-early', namespace }, spec: template.spec }]);
}

beforeAll(async () => {
  await ok(['apply', '-f', join(CHART_DIR, 'crds')]);
  await ok(['wait', '--for=condition=Established', 'crd/accesspolicies.guarita.io', 'crd/approvalrequests.guarita.io', '--timeout=30s']);
}, 60_000);

afterAll(async () => {
  await webhook?.stop();
  await unregisterWebhooks(configuration).catch(() => undefined);
  await helm(['uninstall', release, '--namespace', ns], { kubeconfig, timeoutMs: 120_000 });
  await kubectl(['delete', 'namespace', created, labelled, born, '--ignore-not-found', '--wait=false'], admin);
}, 180_000);

describe('helm install before the agents\' namespace exists', () => {
  it('names a listed namespace that does not exist, and the fix', async () => {
    const result = await helm(['install', `${release}-x`, CHART_DIR, ...base, '--set', `sidecar.rbac.namespaces[0].namespace=${missing}`], { kubeconfig, timeoutMs: 120_000 });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`sidecar.rbac.namespaces[0].namespace: namespace ${missing} does not exist, so its sidecar Role cannot be created. Create it first (kubectl create namespace ${missing}), or set sidecar.rbac.namespaces[0].create=true`);
    expect((await kubectl(['get', 'namespace', missing], admin)).code).not.toBe(0);
  }, 120_000);

  it('creates it with create: true, opted in, with the sidecar Role and the operator\'s CA', async () => {
    const result = await helm(['install', release, CHART_DIR, ...base,
      '--set', `sidecar.rbac.namespaces[0].namespace=${created}`, '--set', 'sidecar.rbac.namespaces[0].serviceAccounts[0]=support-agent', '--set', 'sidecar.rbac.namespaces[0].create=true'], { kubeconfig, timeoutMs: 120_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const namespace = JSON.parse(await ok(['get', 'namespace', created, '-o', 'json'])) as { metadata: { labels: Record<string, string>; annotations: Record<string, string> } };
    expect(namespace.metadata.labels['guarita.io/injection']).toBe('enabled');
    expect(namespace.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    expect((await ok(['get', 'role,rolebinding,configmap', '-n', created, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name'])).split('\n').filter(Boolean).sort()).toEqual([
      `configmap/${release}-operator-ca`, `role.rbac.authorization.k8s.io/${release}-sidecar`, `role.rbac.authorization.k8s.io/${release}-webhook-pods`,
      `rolebinding.rbac.authorization.k8s.io/${release}-sidecar`, `rolebinding.rbac.authorization.k8s.io/${release}-webhook-pods`,
    ]);
  }, 120_000);

  it('upgrades in place (the namespace is the release\'s; an existing one it does not own is left alone)', async () => {
    await ok(['create', 'namespace', labelled]);
    // --set-json: `--set namespaces[1]...` with --reuse-values would replace the list with [null, {...}].
    const result = await helm(['upgrade', release, CHART_DIR, '--namespace', ns, '--reuse-values', '--skip-crds',
      '--set-json', `sidecar.rbac.namespaces=[{"namespace":"${created}","serviceAccounts":["support-agent"],"create":true},{"namespace":"${labelled}","create":true}]`], { kubeconfig, timeoutMs: 120_000 });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(await ok(['get', 'namespace', created, '-o', 'jsonpath={.metadata.labels.guarita\\.io/injection}'])).toBe('enabled');
    // Not taken over: no Helm ownership, no label put on it.
    expect(await ok(['get', 'namespace', labelled, '-o', 'jsonpath={.metadata.annotations}'])).not.toContain('meta.helm.sh/release-name');
    expect(await ok(['get', 'namespace', labelled, '-o', 'jsonpath={.metadata.labels}'])).not.toContain('guarita.io/injection');
    // Back to the one entry for the next test (--set-json replaces the list).
    const back = await helm(['upgrade', release, CHART_DIR, '--namespace', ns, '--reuse-values', '--skip-crds', '--set-json', `sidecar.rbac.namespaces=[{"namespace":"${created}","serviceAccounts":["support-agent"],"create":true}]`], { kubeconfig, timeoutMs: 120_000 });
    expect(back).toMatchObject({ code: 0, stderr: '' });
    expect((await kubectl(['get', 'role', `${release}-sidecar`, '-n', labelled], admin)).code).not.toBe(0);
  }, 240_000);
});

describe('a namespace opted in by label alone', () => {
  it('refuses the label on a namespace the chart does not list (the webhook may list pods only in listed ones), naming the helm upgrade', async () => {
    webhook = await startChartWebhook();
    await registerWebhooks(configuration, ns, webhook.url, scope);
    const label = await kubectl(['label', 'namespace', labelled, 'guarita.io/injection=enabled', ...Object.entries(scope).map(([k, v]) => `${k}=${v}`)], admin);
    expect(label.code).not.toBe(0);
    expect(label.stderr).toContain(`namespace ${labelled} is not in the chart's sidecar.rbac.namespaces: the webhook may list pods`);
    expect(/^\s*(helm upgrade .*)$/m.exec(label.stderr)?.[1]).toBe(`helm upgrade ${release} charts/guarita -n ${ns} --reuse-values --set-json 'sidecar.rbac.namespaces=[{"create":true,"namespace":"${created}","serviceAccounts":["support-agent"]},{"namespace":"${labelled}"}]'`);
    expect(await ok(['get', 'namespace', labelled, '-o', 'jsonpath={.metadata.labels}'])).not.toContain('guarita.io/injection');
  }, 120_000);

  it('gets the agent pods of a namespace created with the label refused with the helm upgrade to run, then admitted once it ran', async () => {
    // Created already labelled (as examples/lgpd-orders/namespace.yaml is applied): no label change to judge.
    await ok(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: born, labels: { 'guarita.io/injection': 'enabled', ...scope } } }));
    await ok(['create', 'serviceaccount', 'support-agent', '-n', born]);
    // The example Job's pod created before its AccessPolicy (apply order, or a slow policy): refused,
    // never started without the sidecar; the Job controller would create it again.
    const early = await kubectl(['create', '-f', '-'], { ...admin, input: jobPod(born) });
    expect(early.code).not.toBe(0);
    expect(early.stderr).toContain(`it carries guarita.io/inject: "true" but no AccessPolicy in namespace ${born} selects it`);
    const example = [...loadExample('orders-db-credentials.yaml', { namespace: born }), ...loadExample('accesspolicy.yaml', { namespace: born })];
    await ok(['apply', '-f', '-'], toYaml(example));

    const refused = await kubectl(['create', '-f', '-'], { ...admin, input: agentPod(born, 'agent-1') });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`namespace ${born} is opted in (guarita.io/injection=enabled) but Guarita's sidecar has no RBAC and no operator CA there`);
    const command = /^\s*(helm upgrade .*)$/m.exec(refused.stderr)?.[1] ?? '';
    expect(command).toBe(`helm upgrade ${release} charts/guarita -n ${ns} --reuse-values --set-json 'sidecar.rbac.namespaces=[{"create":true,"namespace":"${created}","serviceAccounts":["support-agent"]},{"namespace":"${born}","serviceAccounts":["support-agent"]}]'`);

    // As printed, from the repository (charts/guarita), with the pinned helm first on PATH.
    const ran = await runCommand('bash', ['-c', command], { cwd: REPO_ROOT, timeoutMs: 120_000, env: { ...process.env, PATH: `${binDir()}:${process.env.PATH ?? ''}`, KUBECONFIG: kubeconfig, HELM_CACHE_HOME: '/tmp/guarita-helm/cache', HELM_CONFIG_HOME: '/tmp/guarita-helm/config', HELM_DATA_HOME: '/tmp/guarita-helm/data' } });
    expect(ran).toMatchObject({ code: 0, stderr: '' });
    expect((await ok(['get', 'role,configmap', '-n', born, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name'])).split('\n').filter(Boolean).sort()).toEqual([`configmap/${release}-operator-ca`, `role.rbac.authorization.k8s.io/${release}-sidecar`, `role.rbac.authorization.k8s.io/${release}-webhook-pods`]);

    await webhook?.stop();
    webhook = await startChartWebhook();
    await registerWebhooks(configuration, ns, webhook.url, scope);
    const admitted = await kubectl(['create', '-f', '-', '-o', 'jsonpath={.spec.initContainers[0].name}'], { ...admin, input: agentPod(born, 'agent-2') });
    expect(admitted).toMatchObject({ code: 0, stdout: 'guarita-proxy' });

    // The default service account of the namespace is still not the sidecar's: refused, naming it.
    const other = await kubectl(['create', '-f', '-'], { ...admin, input: agentPod(born, 'agent-3').replace('serviceAccountName: support-agent', 'serviceAccountName: default') });
    expect(other.stderr).toContain(`service account default is not among the sidecar's service accounts of namespace ${born}`);
  }, 240_000);

  it('keeps the namespace the chart created when the release is uninstalled', async () => {
    const result = await helm(['uninstall', release, '--namespace', ns], { kubeconfig, timeoutMs: 120_000 });
    expect(result.code).toBe(0);
    expect(await ok(['get', 'namespace', created, '-o', 'jsonpath={.status.phase}'])).toBe('Active');
  }, 120_000);
});
