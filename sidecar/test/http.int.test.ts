// The sidecar's HTTP path end to end on the harness: the real sidecar process, the real
// apiserver (live AccessPolicy, ApprovalRequests, TokenReview), the real IdP's JWTs, a real HTTP
// upstream, the real operator (ingest, approval phases) and the real admission webhook (review
// stamping), with approvals granted and denied by `kubectl patch` as the DPO users.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, kubectl, loadHarnessState, requireIdp } from '../../e2e/harness/state.ts';
import {
  apply, eventually, getObject, installCrds, k, operatorFixture, startOperator, suffix, waitServing, type OperatorProcess,
} from '../../operator/test/support.ts';
import { registerWebhooks, startWebhookProcess, unregisterWebhooks, webhookIdentity, type WebhookProcess } from '../../webhook/test/cluster.ts';
import {
  agentRequest, httpPolicy, mountCredentials, RAW_PERSONAL, sidecarFixture, startSidecarProcess, startUpstream,
  type SidecarFixture, type SidecarProcess, type Upstream,
} from './support.ts';

const id = suffix();
const ns = `sc-http-${id}`;
const opNs = `sc-op-${id}`;
const whNs = `sc-wh-${id}`;
const configuration = `guarita-sc-${id}`;
const scope = { 'guarita.io/test-scope': `sc-${id}` };
const POLICY = 'customers-api';
const PURPOSE = 'customer-support';

let op: OperatorProcess;
let webhook: WebhookProcess;
let upstream: Upstream;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let listenPort: number;
let token: string;

function url(path: string): string {
  return `${sidecar.url(POLICY)}${path}`;
}

async function policy(over: Record<string, unknown> = {}): Promise<void> {
  await apply([httpPolicy(ns, POLICY, { endpoint: upstream.url, issuer: requireIdp().issuer, listenPort, over })]);
}

beforeAll(async () => {
  await installCrds();
  upstream = await startUpstream();
  const opFx = await operatorFixture(opNs);
  await k(['create', 'namespace', whNs]);
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'guarita.io/injection': 'enabled', ...scope } } }]);
  const whKubeconfig = await webhookIdentity(whNs, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  [webhook, op] = await Promise.all([
    startWebhookProcess({ namespace: whNs, configurationName: configuration, kubeconfig: whKubeconfig }),
    startOperator({ ...opFx, watchNamespaces: [ns] }),
  ]);
  await registerWebhooks(configuration, whNs, webhook.url, scope);
  await waitServing(op);
  // Reviewers may patch ApprovalRequests (RBAC); whether a review counts is the webhook's and operator's decision.
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reviewers', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests', 'accesspolicies'], verbs: ['get', 'list', 'watch', 'patch', 'update'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reviewers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reviewers' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
  ]);
  fx = await sidecarFixture(ns);
  // The target's Secret exists in the cluster (the webhook checks) and is mounted into the sidecar only.
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } }]);
  mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
  [listenPort = 0] = await freePorts(1);
  await policy();
  sidecar = await startSidecarProcess(fx, { targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }], operatorUrl: op.url });
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
}, 180_000);

afterAll(async () => {
  await sidecar?.stop();
  await unregisterWebhooks(configuration).catch(() => undefined);
  await Promise.all([op?.stop(), webhook?.stop(), upstream?.close()]);
});

describe('allowed, denied, masked', () => {
  it('forwards an allowed request with the target credential, never the agent token or purpose', async () => {
    const res = await agentRequest(url('/customers/2'), { token, purpose: PURPOSE });
    expect(res.status).toBe(200);
    const seen = upstream.seen.at(-1);
    expect(seen?.url).toBe('/customers/2');
    expect(seen?.headers.authorization).toBe('Bearer upstream-service-token');
    expect(seen?.headers['x-guarita-purpose']).toBeUndefined();
    expect(JSON.stringify(seen?.headers)).not.toContain(token);
  });

  it('denies with 403 naming the rule', async () => {
    const before = upstream.seen.length;
    const res = await agentRequest(url('/customers/2'), { token, purpose: PURPOSE, method: 'DELETE' });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: 'Forbidden', rule: 'deny-deletes', code: 'RuleDenied' });
    expect(upstream.seen.length).toBe(before);
  });

  it('denies what no rule allows, and refuses a missing token, an undeclared purpose and a non-member', async () => {
    expect((await agentRequest(url('/admin/users'), { token, purpose: PURPOSE })).json()).toMatchObject({ code: 'NoMatchingRule' });
    const missing = await agentRequest(url('/customers/2'), { purpose: PURPOSE });
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toContain('Bearer');
    const undeclared = await agentRequest(url('/customers/2'), { token });
    expect(undeclared.status).toBe(403);
    expect(undeclared.json().message).toContain('no purpose declared');
    const wrongPurpose = await agentRequest(url('/customers/2'), { token, purpose: 'marketing' });
    expect(wrongPurpose.status).toBe(403);
    const outsider = await agentRequest(url('/customers/2'), { token: await getToken({ clientId: 'outsider', audience: 'guarita' }), purpose: PURPOSE });
    expect(outsider.status).toBe(403);
    expect(outsider.json().message).toContain('not among the policy\'s subjects');
  });

  it('masks CPF and e-mail inside nested JSON streamed in small chunks', async () => {
    const res = await agentRequest(url('/customers'), { token, purpose: PURPOSE });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBeUndefined();
    for (const raw of RAW_PERSONAL) expect(res.text).not.toContain(raw);
    const body = res.json() as { items: { nome: string; documento: { cpf: string }; contato: { email: string; notas: string[] } }[] };
    expect(body.items).toHaveLength(3);
    expect(body.items[0]?.nome).toBe('Larissa Oliveira');
    expect(body.items[0]?.documento.cpf).not.toBe('590.830.166-33');
    expect(body.items[0]?.contato.notas[1]).not.toContain('390.996.030-88');
    const metrics = await sidecar.metrics();
    expect(metrics).toMatch(/guarita_sidecar_masked_values_total\{target="customers-api",type="cpf"\} [1-9]/);
    expect(metrics).toMatch(/guarita_sidecar_masked_values_total\{target="customers-api",type="email"\} [1-9]/);
  });

  it('decodes gzip and other charsets to mask them, and leaves binary types alone', async () => {
    const gz = await agentRequest(url('/orders/gzip'), { token, purpose: PURPOSE, headers: { 'accept-encoding': 'gzip' } });
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBeUndefined();
    expect(gz.text).not.toContain('590.830.166-33');
    expect(gz.json()).toMatchObject({ order: 7 });
    const latin = await agentRequest(url('/orders/report.txt'), { token, purpose: PURPOSE });
    expect(latin.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(latin.text).toContain('Relatório');
    expect(latin.text).not.toContain('590.830.166-33');
    const bin = await agentRequest(url('/orders/label.bin'), { token, purpose: PURPOSE });
    expect(bin.status).toBe(200);
    expect(bin.headers['content-length']).toBe('8');
  });
});
