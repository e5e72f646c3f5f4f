// guarita check on the real local apiserver with the real chart installed (helm), the real
// admission webhook registered for the agents' namespace and the real operator reconciling its
// policies. Each planted fault (namespace not opted in, credentials Secret missing or lacking a
// key, certificate expiring, Deployment not ready, policy invalid or not reconciled, the operator's
// Lease unheld, webhook down) fails its check with the fix,
// and check exits 1; the healthy installation passes every check and exits 0.
//
// The harness runs kube-apiserver and etcd only: no kubelet runs the chart's pods and no
// controller-manager writes Deployment status. So the test writes what they would: the Deployments'
// status (ready replicas) and the webhook's TLS Secret (the webhook pod fills it at its first
// start). The webhook and the operator that answer are the real processes of startGuaritaSystem;
// the chart's operator points its Lease at the one that process holds (operator.extraEnv).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { kubeconfigPath } from '../../e2e/harness/state.ts';
import { createCa, mintServingCert } from '../../e2e/harness/certs.ts';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { k } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { CHART_DIR, helm, REQUIRED_VALUES } from '../../charts/guarita/tests/helm.ts';
import { runCli, type CliResult } from './run-cli.ts';

const id = randomBytes(3).toString('hex');
const release = `chk-${id}`;
const releaseNs = `chk-sys-${id}`;
const fullname = `${release}-guarita`;
const unlabelled = `chk-plain-${id}`;
let sys: GuaritaSystem;

interface Check { section: string; title: string; ok: boolean; detail?: string; fix?: string[] }

async function check(...args: string[]): Promise<{ result: CliResult; checks: Check[] }> {
  const result = await runCli(['check', '--guarita-namespace', releaseNs, '-o', 'json', ...args], { env: { KUBECONFIG: kubeconfigPath('admin') } });
  const parsed = JSON.parse(result.out || '{"checks":[]}') as { checks: Check[] };
  return { result, checks: parsed.checks };
}

const failed = (checks: Check[]): Check[] => checks.filter((c) => !c.ok);

/** What the deployment controller would write once the pods are (or are not) ready. */
async function setReady(name: string, ready: boolean): Promise<void> {
  const replicas = Number(await k(['-n', releaseNs, 'get', 'deployment', name, '-o', 'jsonpath={.spec.replicas}']));
  const readyReplicas = ready ? replicas : 0;
  await k(['-n', releaseNs, 'patch', 'deployment', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { replicas, readyReplicas, updatedReplicas: replicas, availableReplicas: readyReplicas } })]);
}

async function putWebhookCert(validDays: number): Promise<void> {
  const ca = await createCa('chk-webhook-ca');
  const cert = await mintServingCert(ca, { validDays, dnsNames: [`${fullname}-webhook.${releaseNs}.svc`] });
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  await k(['-n', releaseNs, 'patch', 'secret', `${fullname}-webhook-tls`, '--type=merge', '-p', JSON.stringify({ data: { 'tls.crt': b64(cert.certPem), 'tls.key': b64(cert.keyPem), 'ca.crt': b64(ca.certPem) } })]);
}

beforeAll(async () => {
  sys = await startGuaritaSystem('chk');
  const opNs = await leaseNamespace();
  await k(['create', 'namespace', releaseNs]);
  await k(['create', 'namespace', unlabelled]);
  const install = await helm(['install', release, CHART_DIR, '--namespace', releaseNs, '--skip-crds', '-f', REQUIRED_VALUES,
    '--set', 'webhook.configurations.create=false',
    '--set', `sidecar.rbac.namespaces[0].namespace=${sys.ns}`,
    '--set', 'operator.extraEnv[0].name=GUARITA_NAMESPACE', '--set', `operator.extraEnv[0].value=${opNs}`,
    '--set', 'operator.extraEnv[1].name=GUARITA_LEASE_NAME', '--set', 'operator.extraEnv[1].value=guarita-operator-leader',
  ], { kubeconfig: kubeconfigPath('admin'), timeoutMs: 120_000 });
  if (install.code !== 0) throw new Error(`helm install failed: ${install.stderr}`);
  await setReady(`${fullname}-webhook`, true);
  await setReady(`${fullname}-operator`, true);
  await putWebhookCert(365);
  await k(['-n', sys.ns, 'create', 'secret', 'generic', 'orders-db', '--from-literal=username=agent', '--from-literal=password=pw']);
  await apply([accessPolicy(sys.ns, 'orders-db', { target: { name: 'orders-db', protocol: 'postgres', endpoint: 'orders-db.example.svc:5432', listenPort: 15432, credentialsSecretRef: { name: 'orders-db' } } })]);
  await eventually('the operator marks the policy Ready', async () => {
    const out = await k(['-n', sys.ns, 'get', 'accesspolicy', 'orders-db', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    return out.trim() === 'True' ? true : undefined;
  });
}, 240_000);

/** The namespace of the Lease the harness operator holds (its own namespace, where it runs). */
async function leaseNamespace(): Promise<string> {
  const out = await k(['get', 'lease', '-A', '--field-selector', 'metadata.name=guarita-operator-leader', '-o', 'jsonpath={range .items[*]}{.metadata.namespace} {.spec.holderIdentity}{"\\n"}{end}']);
  const identity = (await sys.op.status()).identity;
  const line = out.split('\n').find((l) => l.endsWith(` ${identity}`));
  if (line === undefined) throw new Error(`no Lease held by ${identity}:\n${out}`);
  return line.split(' ')[0] ?? '';
}

afterAll(async () => {
  await helm(['uninstall', release, '--namespace', releaseNs], { kubeconfig: kubeconfigPath('admin'), timeoutMs: 120_000 });
  await k(['delete', 'namespace', releaseNs, unlabelled, '--wait=false']).catch(() => undefined);
  await sys.stop();
}, 180_000);

describe('guarita check', () => {
  it('passes every check of a healthy installation and exits 0, as a checklist for people too', async () => {
    const { result, checks } = await check('-n', sys.ns);
    expect(failed(checks)).toEqual([]);
    expect(result.code).toBe(0);
    expect(checks.map((c) => c.title)).toEqual(expect.arrayContaining([
      'accesspolicies.guarita.io installed and serving v1alpha1', 'webhook Deployment ready', 'operator Deployment ready',
      `apiserver reaches the injection webhook (dry-run pod in ${sys.ns})`, 'sidecar RBAC present', 'operator CA ConfigMap present',
      'AccessPolicy orders-db Ready', 'Secret orders-db of orders-db present with username, password',
    ]));
    expect(checks.find((c) => c.title.startsWith('apiserver reaches'))?.detail).toBe('the proxy was injected into the dry-run pod');
    // Nothing was created by the dry run.
    expect(await k(['-n', sys.ns, 'get', 'pods', '-o', 'name'])).toBe('');
    // A KUBECONFIG list, merged as kubectl merges it (a missing first entry is skipped).
    const text = await runCli(['check', '-n', sys.ns, '--guarita-namespace', releaseNs], { env: { KUBECONFIG: `/nonexistent/config:${kubeconfigPath('admin')}` } });
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/✔ AccessPolicy orders-db Ready[\s\S]*Status: ✔ all \d+ checks passed/);
  });

  it('guarita version reports the installed operator and webhook from their Deployments', async () => {
    const r = await runCli(['version', '--guarita-namespace', releaseNs], { env: { KUBECONFIG: kubeconfigPath('admin') } });
    expect(r.code).toBe(0);
    const app = (parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string }).appVersion;
    expect(r.out.split('\n').filter((l) => l.startsWith('Server: ')).sort()).toEqual([
      `Server: operator ${app} (${releaseNs}/${fullname}-operator, ghcr.io/guarita/guarita:${app})`,
      `Server: webhook ${app} (${releaseNs}/${fullname}-webhook, ghcr.io/guarita/guarita:${app})`,
    ]);
  });

  it('a namespace not opted in: the label to set, and no sidecar RBAC: the helm upgrade', async () => {
    const { result, checks } = await check('-n', unlabelled);
    expect(result.code).toBe(1);
    expect(failed(checks)).toEqual(expect.arrayContaining([
      expect.objectContaining({ title: 'opted in (guarita.io/injection=enabled)', fix: [`kubectl label namespace ${unlabelled} guarita.io/injection=enabled --overwrite`] }),
      expect.objectContaining({ title: 'sidecar RBAC present', fix: [expect.stringContaining(`helm upgrade ${release} oci://ghcr.io/guarita/charts/guarita -n ${releaseNs} --reuse-values --set 'sidecar.rbac.namespaces[N].namespace=${unlabelled}'`)] }),
      expect.objectContaining({ title: 'at least one AccessPolicy' }),
    ]));
  });

  it('a credentials Secret missing, then lacking a key: the command that creates or completes it', async () => {
    await k(['-n', sys.ns, 'delete', 'secret', 'orders-db']);
    try {
      const missing = await check('-n', sys.ns);
      expect(missing.result.code).toBe(1);
      expect(failed(missing.checks)).toEqual([expect.objectContaining({
        title: 'Secret orders-db of orders-db present with username, password', detail: expect.stringMatching(/^not found/),
        fix: [`kubectl -n ${sys.ns} create secret generic orders-db --from-literal=username=... --from-literal=password=...`],
      })]);
      await k(['-n', sys.ns, 'create', 'secret', 'generic', 'orders-db', '--from-literal=username=agent']);
      const partial = await check('-n', sys.ns);
      expect(failed(partial.checks)).toEqual([expect.objectContaining({ detail: 'missing password (has username)', fix: [expect.stringContaining(`kubectl -n ${sys.ns} patch secret orders-db`)] })]);
    } finally {
      await k(['-n', sys.ns, 'delete', 'secret', 'orders-db', '--ignore-not-found']);
      await k(['-n', sys.ns, 'create', 'secret', 'generic', 'orders-db', '--from-literal=username=agent', '--from-literal=password=pw']);
    }
  });

  it('a certificate expiring within --cert-min-remaining: how to renew it', async () => {
    await putWebhookCert(1 / 24);
    try {
      const { result, checks } = await check('-n', sys.ns);
      expect(result.code).toBe(1);
      expect(failed(checks)).toEqual([expect.objectContaining({
        section: 'Certificates', detail: expect.stringMatching(/^expiring soon: expires .* \(in \d+m\)$/),
        fix: [expect.stringContaining(`kubectl -n ${releaseNs} logs deploy/${fullname}-webhook`), expect.stringContaining(`kubectl -n ${releaseNs} rollout restart deploy/${fullname}-webhook (it renews at start`)],
      })]);
      expect((await check('-n', sys.ns, '--cert-min-remaining', '30m')).result.code).toBe(0);
    } finally {
      await putWebhookCert(365);
    }
  });

  it('a Deployment not ready: rollout status, the pods and the logs to read', async () => {
    await setReady(`${fullname}-operator`, false);
    try {
      const { checks } = await check('-n', sys.ns);
      expect(failed(checks)).toEqual([expect.objectContaining({ title: 'operator Deployment ready', fix: expect.arrayContaining([`kubectl -n ${releaseNs} rollout status deploy/${fullname}-operator`]) })]);
    } finally {
      await setReady(`${fullname}-operator`, true);
    }
  });

  it('a policy the operator refuses: Ready False with its reason, and what to run', async () => {
    // The schema and the webhook admit it; compiling it (as the operator does) fails: a table
    // glob with two dots.
    await apply([accessPolicy(sys.ns, 'bad-table', {
      podSelector: { matchLabels: { app: 'other-agent' } },
      target: { name: 'bad-table', protocol: 'postgres', endpoint: 'orders-db.example.svc:5432', listenPort: 15433 },
      rules: [{ name: 'no-audit', action: 'deny', match: { sql: { tables: ['db.audit.log'] } } }, { name: 'allow-the-rest', action: 'allow' }],
    })]);
    try {
      const { result, checks } = await eventually('the operator marks bad-table not Ready', async () => {
        const r = await check('-n', sys.ns);
        return r.checks.some((c) => c.title === 'AccessPolicy bad-table Ready' && c.detail !== undefined && !c.detail.startsWith('no Ready condition')) ? r : undefined;
      });
      expect(result.code).toBe(1);
      expect(failed(checks)).toEqual([expect.objectContaining({
        title: 'AccessPolicy bad-table Ready', detail: expect.stringMatching(/^CompileFailed: .*rules\[0\]\.match\.sql\.tables\[0\].*at most one dot/),
        fix: [`kubectl -n ${sys.ns} describe accesspolicy bad-table`, expect.stringContaining('guarita policy validate')],
      })]);
    } finally {
      await k(['-n', sys.ns, 'delete', 'accesspolicy', 'bad-table']);
    }
  });

  it('the operator stopped: a policy change not reconciled, the Lease unheld; then the webhook down: the apiserver cannot call it', async () => {
    await sys.op.stop();
    await k(['-n', sys.ns, 'patch', 'accesspolicy', 'orders-db', '--type=merge', '-p', JSON.stringify({ spec: { purposes: [{ name: 'customer-support' }, { name: 'billing' }] } })]);
    const stale = await check('-n', sys.ns);
    expect(failed(stale.checks)).toEqual(expect.arrayContaining([expect.objectContaining({ title: 'AccessPolicy orders-db Ready', detail: expect.stringMatching(/the operator has not reconciled the last change$/) })]));
    await eventually('check reports the store Lease unheld', async () => (failed((await check('-n', sys.ns)).checks).some((c) => c.title.startsWith('operator holds its store Lease')) ? true : undefined), 60_000, 1000);
    await sys.webhook.stop();
    const { result, checks } = await check('-n', sys.ns);
    expect(result.code).toBe(1);
    const down = failed(checks);
    expect(down).toEqual(expect.arrayContaining([
      expect.objectContaining({ title: `apiserver reaches the injection webhook (dry-run pod in ${sys.ns})`, detail: expect.stringMatching(/failed calling webhook/), fix: expect.arrayContaining([`kubectl -n ${releaseNs} get endpoints ${fullname}-webhook (no endpoints: the webhook pods are not ready)`]) }),
    ]));
  });
});
