// The real webhook process (node webhook/src/main.ts, least-privilege ServiceAccount token,
// self-managed TLS) behind the harness kube-apiserver, which calls it over TLS by URL. Every
// assertion is on what the apiserver stored or answered.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadCaFiles, mintServingCert } from '../../e2e/harness/certs.ts';
import type { ApprovalRequest } from '../../crds/types.ts';
import { KubeRest } from '../../core/kube/rest.ts';
import { kubectl, kubeConfigFor, loadHarnessState, requireKube } from '../../e2e/harness/state.ts';
import { diff } from '../src/json-patch.ts';
import type { AdmissionReview } from '../src/kube-types.ts';
import type { Pod } from '../src/kube-types.ts';
import {
  adminApi, applyJson, createNamespace, installCrds, k, kFails, registerWebhooks, startWebhookProcess, suffix,
  unregisterWebhooks, webhookIdentity, type WebhookProcess,
} from './cluster.ts';
import { decideInjection } from '../src/inject.ts';
import { approvalRequest, examplePod, examplePolicy, exampleYaml, jobPod, OPTED_IN, TEST_INJECTOR, TEST_SIDECAR } from './fixtures.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-it-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `lgpd-${id}`;
const plain = `plain-${id}`;
let webhook: WebhookProcess;

async function createPod(pod: Pod): Promise<Pod> {
  return JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(pod))) as Pod;
}

async function storedPod(namespace: string, name: string): Promise<Pod> {
  return JSON.parse(await k(['-n', namespace, 'get', 'pod', name, '-o', 'json'])) as Pod;
}

function envOf(pod: Pod, container: string): Record<string, string | undefined> {
  const c = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((x) => x.name === container);
  return Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));
}

async function review(name: string, user: 'dana' | 'dave' | 'carl' | 'eve' | 'alice', value: Record<string, unknown>): Promise<{ ok: boolean; out: string }> {
  const args = ['-n', ns, 'patch', 'approvalrequest', name, '--type=json', '-o', 'json', '-p', JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value }])];
  try {
    return { ok: true, out: await k(args, user) };
  } catch (err) {
    return { ok: false, out: err instanceof Error ? err.message : String(err) };
  }
}

beforeAll(async () => {
  await installCrds();
  await createNamespace(system, {});
  const kubeconfig = await webhookIdentity(system, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  webhook = await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig });
  await registerWebhooks(configuration, system, webhook.url, scope);
  // Self-managed TLS: the webhook patches its CA into every webhook of both configurations.
  await createNamespace(ns, { 'guarita.io/injection': 'enabled', ...scope });
  await createNamespace(plain, { ...scope });
  const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
  secret.metadata.namespace = ns;
  await applyJson(secret);
  await applyJson(examplePolicy('accesspolicy.yaml', ns));
  await applyJson(examplePolicy('accesspolicy-http.yaml', ns));
  // Reviewers may patch ApprovalRequests (RBAC); who may APPROVE is the webhook's decision.
  await applyJson({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reviewers', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'patch', 'update'] }] });
  await applyJson({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reviewers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reviewers' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }] });
}, 120_000);

afterAll(async () => {
  await unregisterWebhooks(configuration);
  await webhook?.stop();
});

describe('pod injection through the apiserver', () => {
  function expectSidecar(pod: Pod): void {
    const proxy = pod.spec.initContainers?.[0];
    expect(proxy).toMatchObject({
      // Its targets' V8 flags (a PostgreSQL database) on the command line: it starts once, without re-executing itself.
      name: 'guarita-proxy', image: TEST_SIDECAR.image, restartPolicy: 'Always', command: ['node', '--liftoff-only', '--max-semi-space-size=16', '/app/sidecar/src/main.js'],
      securityContext: { runAsNonRoot: true, runAsUser: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      startupProbe: expect.objectContaining({ exec: expect.any(Object) }),
    });
    expect(proxy?.volumeMounts?.map((m) => m.name)).toEqual(['guarita-spool', 'guarita-tokens', 'guarita-target-orders-db']);
    expect(proxy?.env).toContainEqual({ name: 'MALLOC_ARENA_MAX', value: '2' });
  }

  function expectVolumes(pod: Pod): void {
    expect(pod.spec.containers[0]?.volumeMounts ?? []).not.toContainEqual(expect.objectContaining({ name: expect.stringMatching(/^guarita-/) }));
    const volumes = Object.fromEntries((pod.spec.volumes ?? []).map((v) => [v.name, v]));
    expect(volumes['guarita-tokens']).toMatchObject({ projected: { sources: [{ serviceAccountToken: { path: 'operator', audience: 'guarita-operator', expirationSeconds: 3600 } }, expect.anything(), expect.anything()] } });
    expect(volumes['guarita-target-orders-db']).toMatchObject({ projected: { sources: [{ secret: { name: 'orders-db-credentials' } }] } });
  }

  it('stores a Pod created in an opted-in namespace with the native sidecar, endpoints and sidecar-only credentials', async () => {
    await createPod(examplePod(ns, 'agent-1'));
    const pod = await storedPod(ns, 'agent-1');
    expectSidecar(pod);
    expectVolumes(pod);
    expect(envOf(pod, 'agent')).toMatchObject({
      ORDERS_DB_URL: 'postgresql://127.0.0.1:15432/orders', CUSTOMERS_API_URL: 'http://127.0.0.1:18080',
      PGHOST: '127.0.0.1', PGPORT: '15432', PGSSLMODE: 'disable', GUARITA_ADMIN_URL: 'http://127.0.0.1:15090',
    });
    expect(JSON.parse(envOf(pod, 'guarita-proxy').GUARITA_TARGETS ?? '')).toEqual([
      { policy: 'customers-api', target: 'customers-api', protocol: 'http', listenPort: 18080 },
      { policy: 'orders-db', target: 'orders-db', protocol: 'postgres', listenPort: 15432 },
    ]);
    expect(pod.metadata.annotations).toMatchObject({ 'guarita.io/status': 'injected', 'guarita.io/policies': 'customers-api,orders-db' });
  });

  it('injects the pod of a Job as a native sidecar (the Job can complete); the Job template itself is not mutated', async () => {
    const job = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify({
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'nightly-report', namespace: ns },
      spec: { template: { metadata: { labels: { app: 'support-agent' } }, spec: { restartPolicy: 'Never', containers: [{ name: 'agent', image: 'postgres:17-alpine', command: ['psql', '-c', 'select 1'] }] } } },
    }))) as { metadata: { uid: string }; spec: { template: { spec: Pod['spec'] } } };
    expect(job.spec.template.spec.initContainers).toBeUndefined();
    const pod = jobPod(ns, 'nightly-report');
    pod.metadata.ownerReferences = [{ apiVersion: 'batch/v1', kind: 'Job', name: 'nightly-report', uid: job.metadata.uid, controller: true }];
    await createPod(pod);
    const stored = await storedPod(ns, pod.metadata.name ?? '');
    expect(stored.spec.restartPolicy).toBe('Never');
    expect(stored.spec.initContainers?.[0]).toMatchObject({ name: 'guarita-proxy', restartPolicy: 'Always' });
    expect(stored.spec.containers.map((c) => c.name)).toEqual(['agent']);
  });

  it('leaves pods untouched in a namespace without the label, and pods that opt out', async () => {
    await createPod(examplePod(plain, 'agent-plain'));
    const optedOut = examplePod(ns, 'agent-optout');
    optedOut.metadata.annotations = { 'guarita.io/inject': 'false' };
    await createPod(optedOut);
    const optedOutByLabel = examplePod(ns, 'agent-optout-label');
    optedOutByLabel.metadata.labels = { ...optedOutByLabel.metadata.labels, 'guarita.io/inject': 'false' };
    await createPod(optedOutByLabel);
    for (const [namespace, name] of [[plain, 'agent-plain'], [ns, 'agent-optout'], [ns, 'agent-optout-label']] as const) {
      const pod = await storedPod(namespace, name);
      expect(pod.spec.initContainers).toBeUndefined();
      expect(pod.spec.containers.map((c) => c.name)).toEqual(['agent']);
      expect(pod.metadata.annotations?.['guarita.io/status']).toBeUndefined();
    }
  });

  it('refuses a pod that insists on the sidecar (guarita.io/inject: "true") when no AccessPolicy selects it', async () => {
    const pod = examplePod(ns, 'agent-unmatched');
    pod.metadata.labels = { app: 'billing-agent' };
    pod.metadata.annotations = { 'guarita.io/inject': 'true' };
    const err = await kFails(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    expect(err).toContain('admission webhook "inject.pods.guarita.io" denied the request: guarita cannot inject this pod: it carries guarita.io/inject: "true" but no AccessPolicy');
  });

  it('does not inject twice: an injected pod passing admission again (and a server dry run) keeps one sidecar', async () => {
    const first = await storedPod(ns, 'agent-1');
    const again: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'agent-1-again', namespace: ns, labels: first.metadata.labels, annotations: first.metadata.annotations }, spec: first.spec };
    delete again.spec.nodeName;
    const created = await createPod(again);
    expect(created.spec.initContainers?.filter((c) => c.name === 'guarita-proxy')).toHaveLength(1);
    expect(created.spec.initContainers).toEqual(first.spec.initContainers);
    expect(created.spec.containers).toEqual(first.spec.containers);
    expect(created.spec.volumes).toEqual(first.spec.volumes);
    const dry = JSON.parse(await k(['create', '--dry-run=server', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(examplePod(ns, 'agent-dry')))) as Pod;
    expect(dry.spec.initContainers?.[0]?.name).toBe('guarita-proxy');
    expect(await kFails(['-n', ns, 'get', 'pod', 'agent-dry'])).toContain('NotFound');
  });

  it('rejects a pod that mounts a governed credentials Secret into an agent container, with the reason', async () => {
    const pod = examplePod(ns, 'agent-leak');
    pod.spec.volumes = [{ name: 'creds', secret: { secretName: 'orders-db-credentials' } }];
    pod.spec.containers[0]!.volumeMounts = [{ name: 'creds', mountPath: '/creds', readOnly: true }];
    const err = await kFails(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    expect(err).toContain('admission webhook "validate.pods.guarita.io" denied the request');
    expect(err).toContain('container agent reads Secret orders-db-credentials (volume creds), the credentials of target orders-db (AccessPolicy orders-db)');
    const optedOut = examplePod(ns, 'agent-leak-optout');
    optedOut.metadata.annotations = { 'guarita.io/inject': 'false' };
    optedOut.spec.containers[0]!.env = [{ name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'orders-db-credentials', key: 'password' } } }];
    expect(await kFails(['create', '-f', '-'], 'admin', JSON.stringify(optedOut))).toContain('(env PGPASSWORD)');
  });

  it('produces a fallback (sidecarMode: container) pod the apiserver accepts', async () => {
    const d = decideInjection({ pod: examplePod(plain, 'fallback'), namespace: { name: plain, labels: OPTED_IN }, policies: [examplePolicy('accesspolicy.yaml', plain)], config: { ...TEST_INJECTOR, sidecar: { ...TEST_SIDECAR, mode: 'container' } } });
    if (d.action !== 'inject') throw new Error(d.action);
    const dry = JSON.parse(await k(['create', '--dry-run=server', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(d.pod))) as Pod;
    expect(dry.spec.containers.map((c) => c.name)).toEqual(['guarita-proxy', 'agent']);
    expect(dry.spec.containers[0]?.lifecycle).toBeDefined();
  });

  it('refuses exec into the proxy, which holds the credentials', async () => {
    const err = await kFails(['-n', ns, 'exec', 'agent-1', '-c', 'guarita-proxy', '--', 'cat', '/var/run/guarita/targets/orders-db/password']);
    expect(err).toContain('exec into guarita-proxy is not allowed');
  });
});

describe('AccessPolicy validation through the apiserver', () => {
  it('names the field of every problem the schema cannot see', async () => {
    const bad = examplePolicy('accesspolicy.yaml', ns);
    bad.metadata.name = 'orders-db-bad';
    bad.spec.target = { ...bad.spec.target, name: 'orders-replica', listenPort: 18080, credentialsSecretRef: { name: 'no-such-secret' } };
    bad.spec.masking = { ...bad.spec.masking, customPatterns: [{ name: 'ticket', pattern: '(?<=T-)\\d+' }] };
    const err = await kFails(['apply', '-f', '-'], 'admin', JSON.stringify(bad));
    expect(err).toContain('admission webhook "validate.accesspolicies.guarita.io" denied the request: AccessPolicy orders-db-bad is invalid');
    expect(err).toContain('spec.masking.customPatterns[0].pattern');
    expect(err).toContain('spec.target.listenPort: port 18080 is already used by AccessPolicy customers-api');
    expect(err).toContain('spec.target.credentialsSecretRef.name: Secret no-such-secret does not exist');
  });
});

describe('ApprovalRequest reviews through the apiserver', () => {
  async function createRequest(name: string, opts: { requester?: string; expiresAt?: Date } = {}): Promise<void> {
    await applyJson(approvalRequest(ns, name, opts));
  }

  it('stamps a real approver\'s review with their username, groups and time', async () => {
    await createRequest('export-ok');
    const res = await review('export-ok', 'dana', { decision: 'Approved', reason: 'ticket 42' });
    expect(res.ok).toBe(true);
    const stored = JSON.parse(await k(['-n', ns, 'get', 'approvalrequest', 'export-ok', '-o', 'json'])) as ApprovalRequest;
    expect(stored.spec.reviews).toEqual([{ decision: 'Approved', reason: 'ticket 42', reviewer: 'dana', reviewerGroups: ['dpo', 'system:authenticated'], reviewerUid: 'uid-dana', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) }]);
  });

  it('rejects a forged reviewer', async () => {
    await createRequest('export-forged');
    const res = await review('export-forged', 'carl', { decision: 'Approved', reason: 'looks fine', reviewer: 'dana' });
    expect(res.ok).toBe(false);
    expect(res.out).toContain('spec.reviews[0].reviewer: "dana" is not the authenticated user "carl"');
    const groups = await review('export-forged', 'eve', { decision: 'Approved', reason: 'x', reviewerGroups: ['dpo'] });
    expect(groups.out).toContain('reviewerGroups: differs from the authenticated user\'s groups');
  });

  it('rejects a self-approval, even by a member of the approver group', async () => {
    await createRequest('export-self', { requester: 'dana' });
    const res = await review('export-self', 'dana', { decision: 'Approved', reason: 'mine' });
    expect(res.ok).toBe(false);
    expect(res.out).toContain('"dana" is the requester of this command and cannot review it');
  });

  it('rejects a self-approval under another case or compatibility form of the requester\'s name (one IdP account, two spellings)', async () => {
    for (const [name, requester] of [['export-self-case', 'Dana'], ['export-self-fullwidth', 'ｄａｎａ']] as const) {
      await createRequest(name, { requester });
      const res = await review(name, 'dana', { decision: 'Approved', reason: 'mine' });
      expect(res.ok).toBe(false);
      expect(res.out).toContain('"dana" is the requester of this command and cannot review it');
    }
  });

  it('rejects reviewers outside the approver groups, decisions after a denial and after expiry', async () => {
    await createRequest('export-rules');
    expect((await review('export-rules', 'carl', { decision: 'Approved', reason: 'x' })).out).toContain('user "carl" is not in an approver group of rule exports-need-dpo');
    expect((await review('export-rules', 'dave', { decision: 'Denied', reason: 'no export today' })).ok).toBe(true);
    expect((await review('export-rules', 'dana', { decision: 'Approved', reason: 'overrule' })).out).toContain('already denied');
    await createRequest('export-expired', { expiresAt: new Date(Date.now() - 60_000) });
    expect((await review('export-expired', 'dana', { decision: 'Approved', reason: 'late' })).out).toContain('expired at');
  });

  it('refuses a request created with reviews, and edits of existing reviews', async () => {
    const preApproved = approvalRequest(ns, 'export-preapproved');
    preApproved.spec.reviews = [{ decision: 'Approved', reason: 'self-service' }];
    expect(await kFails(['create', '-f', '-'], 'admin', JSON.stringify(preApproved))).toContain('must be empty when the request is created');
    const edit = await kFails(['-n', ns, 'patch', 'approvalrequest', 'export-ok', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/reviews/0/decision', value: 'Denied' }])], 'dave');
    expect(edit).toMatch(/append-only/);
  });
});

describe('ApprovalRequest status through the apiserver', () => {
  // The agent pod's service account with the sidecar's Role (the chart's, plus get on status), and
  // the operator's service account: the webhook's default, guarita-operator in its own namespace.
  const agentSa = 'support-agent';
  const operatorSa = `system:serviceaccount:${system}:guarita-operator`;
  let agentToken: string;
  let operatorToken: string;

  interface Result { ok: boolean; out: string }

  async function token(namespace: string, sa: string, pod?: { name: string; uid: string }): Promise<string> {
    const spec = { expirationSeconds: 3600, ...(pod === undefined ? {} : { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', ...pod } }) };
    const res = await adminApi().create<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec });
    return res.status.token;
  }

  /** A merge patch of the status subresource, as `as` (a bearer token, or `--as` impersonation by admin). */
  async function patchStatus(name: string, status: Record<string, unknown>, as: { token: string } | { impersonate: string } | 'admin', resourceVersion?: string): Promise<Result> {
    const body = { ...(resourceVersion === undefined ? {} : { metadata: { resourceVersion } }), status };
    const who = as === 'admin' ? [] : 'token' in as ? ['--token', as.token] : ['--as', as.impersonate];
    const res = await kubectl([...who, '-n', ns, 'patch', 'approvalrequest', name, '--subresource=status', '--type=merge', '-o', 'json', '-p', JSON.stringify(body)], { user: 'admin' });
    return { ok: res.code === 0, out: res.code === 0 ? res.stdout : res.stderr };
  }

  async function stored(name: string): Promise<ApprovalRequest> {
    return JSON.parse(await k(['-n', ns, 'get', 'approvalrequest', name, '-o', 'json'])) as ApprovalRequest;
  }

  const denied = 'admission webhook "status.approvalrequests.guarita.io" denied the request: guarita: ';
  const pending = { phase: 'Pending', approvals: 0, required: 1, reviews: [], message: 'waiting for 1 more approval(s) from dpo' };
  const approved = { phase: 'Approved', approvals: 1, required: 1, reviews: [{ reviewer: 'dana', decision: 'Approved', reason: 'ticket 42', time: '2025-01-01T10:00:00Z' }], decidedAt: '2025-01-01T10:00:01Z', message: 'approved by dana' };

  /** A request the operator has put in Pending. */
  async function pendingRequest(name: string, podRef?: { name: string; uid?: string }): Promise<void> {
    const req = approvalRequest(ns, name);
    if (podRef !== undefined) req.spec.podRef = podRef;
    await applyJson(req);
    expect((await patchStatus(name, pending, { token: operatorToken })).out).toContain('"phase": "Pending"');
  }

  beforeAll(async () => {
    await applyJson({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'guarita-operator', namespace: system } });
    await applyJson({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${configuration}-operator` }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests/status'], verbs: ['get', 'patch'] }] });
    await applyJson({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${configuration}-operator` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${configuration}-operator` }, subjects: [{ kind: 'ServiceAccount', name: 'guarita-operator', namespace: system }] });
    await applyJson({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: agentSa, namespace: ns } });
    await applyJson({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'guarita-sidecar', namespace: ns },
      rules: [
        { apiGroups: ['guarita.io'], resources: ['accesspolicies'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'create'] },
        { apiGroups: ['guarita.io'], resources: ['approvalrequests/status'], verbs: ['get', 'patch'] },
      ],
    });
    await applyJson({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'guarita-sidecar', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'guarita-sidecar' }, subjects: [{ kind: 'ServiceAccount', name: agentSa, namespace: ns }] });
    [agentToken, operatorToken] = await Promise.all([token(ns, agentSa), token(system, 'guarita-operator')]);
  });

  it('refuses self-approval: the agent\'s service account cannot set phase Approved on a Pending request', async () => {
    await pendingRequest('status-self');
    const res = await patchStatus('status-self', { phase: 'Approved', approvals: 1 }, { token: agentToken });
    expect(res.ok).toBe(false);
    expect(res.out).toContain(`${denied}status.phase: Pending → Approved: only the operator decides phases; a sidecar may only consume an approval (Approved → Consumed)`);
    expect((await stored('status-self')).status).toMatchObject({ phase: 'Pending', approvals: 0 });
  });

  it('lets the operator approve, the sidecar consume once (guarded by resourceVersion), and nobody reopen it', async () => {
    await pendingRequest('status-flow');
    expect((await patchStatus('status-flow', approved, { token: operatorToken })).ok).toBe(true);
    const before = await stored('status-flow');
    expect(before.status).toMatchObject({ phase: 'Approved', approvals: 1 });
    // What the sidecar sends (sidecar/src/approvals.ts, #claim).
    const consume = { phase: 'Consumed', consumedAt: new Date().toISOString(), message: 'Consumed by pod support-agent (session session-1); running the command' };
    const res = await patchStatus('status-flow', consume, { token: agentToken }, before.metadata.resourceVersion);
    expect(res.out).toContain('"phase": "Consumed"');
    expect((await stored('status-flow')).status).toMatchObject({ phase: 'Consumed', approvals: 1, decidedAt: approved.decidedAt, consumedAt: expect.any(String) });
    const reopen = await patchStatus('status-flow', { phase: 'Approved', consumedAt: null }, { token: agentToken });
    expect(reopen.out).toContain(`${denied}status.phase: Consumed → Approved: only the operator decides phases`);
    const byOperator = await patchStatus('status-flow', { phase: 'Approved', consumedAt: null }, { token: operatorToken });
    expect(byOperator.out).toContain(`${denied}status.phase: the request is Consumed, a final phase: nobody moves it to Approved, not even the operator`);
    // The operator may still record the execution on a consumed request.
    expect((await patchStatus('status-flow', { execution: { startedAt: consume.consumedAt, outcome: 'Succeeded', rows: 3 } }, { token: operatorToken })).ok).toBe(true);
    expect((await stored('status-flow')).status?.phase).toBe('Consumed');
  });

  it('refuses a consumption that rewrites the operator\'s counts, naming the fields', async () => {
    await pendingRequest('status-forged');
    expect((await patchStatus('status-forged', approved, { token: operatorToken })).ok).toBe(true);
    const res = await patchStatus('status-forged', { phase: 'Consumed', consumedAt: new Date().toISOString(), required: 2, decidedAt: null }, { token: agentToken });
    expect(res.out).toContain('status.decidedAt: cannot change when consuming an approval');
    expect(res.out).toContain('status.required: cannot change when consuming an approval');
  });

  it('treats an admin like any identity other than the operator: no phase decisions; break-glass goes through the operator\'s service account', async () => {
    await pendingRequest('status-admin');
    const res = await patchStatus('status-admin', { phase: 'Approved' }, 'admin');
    expect(res.out).toContain(`${denied}status: "admin" may not write the status of an ApprovalRequest: phase decisions belong to the operator's service account ("${operatorSa}", GUARITA_OPERATOR_SERVICE_ACCOUNT)`);
    const breakGlass = await patchStatus('status-admin', { phase: 'Denied', decidedAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), message: 'denied by the security team (incident 7)' }, { impersonate: operatorSa });
    expect(breakGlass.ok).toBe(true);
    expect((await stored('status-admin')).status?.phase).toBe('Denied');
  });

  it('binds consumption to the pod holding the request when the token is bound to a pod', async () => {
    const pod = examplePod(ns, 'support-agent-pod');
    pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
    pod.spec.serviceAccountName = agentSa;
    const created = await createPod(pod);
    const podToken = await token(ns, agentSa, { name: 'support-agent-pod', uid: created.metadata.uid ?? '' });
    await pendingRequest('status-other-pod', { name: 'another-pod' });
    await pendingRequest('status-own-pod', { name: 'support-agent-pod', uid: created.metadata.uid ?? '' });
    for (const name of ['status-other-pod', 'status-own-pod']) expect((await patchStatus(name, approved, { token: operatorToken })).ok).toBe(true);
    const consume = { phase: 'Consumed', consumedAt: new Date().toISOString() };
    const other = await patchStatus('status-other-pod', consume, { token: podToken });
    expect(other.out).toContain(`${denied}status: the token of "system:serviceaccount:${ns}:${agentSa}" is bound to pod support-agent-pod, but this request is held by pod another-pod`);
    expect((await patchStatus('status-own-pod', consume, { token: podToken })).ok).toBe(true);
  });
});

/**
 * Another vendor's mutating webhook, named to run after Guarita's: it adds a collector container
 * and puts a mesh init container in front of every init container. Guarita's reinvocation must
 * give the new containers the endpoints and put the proxy back in front.
 */
async function startMeshWebhook(): Promise<{ server: Server; url: string; caBundle: string }> {
  const kube = requireKube();
  const cert = await mintServingCert(await loadCaFiles({ certFile: kube.caFile, keyFile: kube.caKeyFile }));
  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview;
      const pod = review.request?.object as Pod;
      const desired = structuredClone(pod);
      if (!desired.spec.containers.some((c) => c.name === 'otel-collector')) desired.spec.containers.push({ name: 'otel-collector', image: 'otel/collector:1' });
      if (!(desired.spec.initContainers ?? []).some((c) => c.name === 'mesh-init')) desired.spec.initContainers = [{ name: 'mesh-init', image: 'mesh/init:1' }, ...(desired.spec.initContainers ?? [])];
      const patch = diff(pod, desired);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request?.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/mutate`, caBundle: Buffer.from(readFileSync(kube.caFile)).toString('base64') };
}

describe('ordering with other mutating webhooks', () => {
  const meshNs = `mesh-${id}`;
  const meshConfig = `zz-mesh-${id}`;
  let mesh: Awaited<ReturnType<typeof startMeshWebhook>> | undefined;

  beforeAll(async () => {
    mesh = await startMeshWebhook();
    await createNamespace(meshNs, { 'guarita.io/injection': 'enabled', ...scope, 'mesh-test': id });
    const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
    secret.metadata.namespace = meshNs;
    await applyJson(secret);
    await applyJson(examplePolicy('accesspolicy.yaml', meshNs));
    await applyJson({
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: meshConfig },
      webhooks: [{
        name: 'inject.mesh.example.com', clientConfig: { url: mesh.url, caBundle: mesh.caBundle }, admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail',
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }], namespaceSelector: { matchLabels: { 'mesh-test': id } },
      }],
    });
  });

  afterAll(async () => {
    await new KubeRest(kubeConfigFor('admin'), 5000).send('DELETE', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${meshConfig}`);
    await new Promise((resolve) => mesh?.server.close(resolve));
  });

  it('reinvocation gives containers added by a later webhook the endpoints and keeps the proxy first', async () => {
    const pod = examplePod(meshNs, 'meshed-agent');
    pod.spec.initContainers = [{ name: 'migrate', image: 'migrate:1' }];
    await createPod(pod);
    const stored = await storedPod(meshNs, 'meshed-agent');
    expect(stored.spec.initContainers?.map((c) => c.name)).toEqual(['guarita-proxy', 'mesh-init', 'migrate']);
    expect(stored.spec.containers.map((c) => c.name)).toEqual(['agent', 'otel-collector']);
    for (const name of ['agent', 'otel-collector', 'mesh-init', 'migrate']) expect(envOf(stored, name).ORDERS_DB_URL).toBe('postgresql://127.0.0.1:15432/orders');
    expect(stored.spec.initContainers?.filter((c) => c.name === 'guarita-proxy')).toHaveLength(1);
  });
});
