// The creator stamp through the webhook's HTTP routes, as the apiserver calls them at CREATE: the
// mutating route answers with the stamp, the validating route refuses any other (round 11
// follow-up: the per-pod cap on Pending ApprovalRequests counts this stamp).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { ApprovalRequest } from '../../../crds/types.ts';
import type { WebhookContext } from '../context.ts';
import { applyPatch, type PatchOp } from '../json-patch.ts';
import type { AdmissionResponse, AdmissionReview, UserInfo } from '../kube-types.ts';
import { maskingCheck } from '../masking-check.ts';
import { createMetrics } from '../metrics.ts';
import { StaticPolicies } from '../policy-cache.ts';
import { buildServer, type WebhookServer } from '../server.ts';
import { createCa, issueServing } from '../tls-certs.ts';
import { admissionReview, APPROVALS_GVR, approvalRequest, examplePolicy, FIXTURE_ISSUER, TEST_INJECTOR } from '../../test/fixtures.ts';

let server: WebhookServer;
const ctx: WebhookContext = {
  injector: TEST_INJECTOR, missingSecret: 'reject', usernameMappings: [{ issuer: FIXTURE_ISSUER, claim: 'sub', prefix: '' }], operatorUsername: 'system:serviceaccount:guarita-system:guarita-operator',
  policies: new StaticPolicies([examplePolicy('accesspolicy.yaml')]), allowedCsiDrivers: [],
  lookups: { existingSecrets: () => Promise.resolve(new Set()), namespaceLabels: () => Promise.resolve({}), userMay: () => Promise.resolve(true) },
  metrics: createMetrics(false), log: pino({ level: 'silent' }), maskingCheck, now: () => new Date(),
};
const agent: UserInfo = { username: 'system:serviceaccount:lgpd-orders:support-agent', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/pod-name': ['agent-7'] } };

beforeAll(async () => {
  const now = new Date();
  const ca = await createCa(86_400_000, now);
  const pair = await issueServing(ca, { dnsNames: ['localhost'], ips: ['127.0.0.1'], caValidityMs: 86_400_000, certValidityMs: 86_400_000, renewFraction: 1 / 3 }, now);
  server = await buildServer(ctx, pair, () => true, { mode: 'none' });
});

afterAll(async () => {
  await server.app.close();
});

async function post(path: string, object: ApprovalRequest, userInfo: UserInfo, extra: { oldObject?: ApprovalRequest; subResource?: string } = {}): Promise<AdmissionResponse> {
  const review = admissionReview({ operation: extra.oldObject === undefined ? 'CREATE' : 'UPDATE', resource: APPROVALS_GVR, namespace: 'lgpd-orders', object, userInfo, ...extra });
  const res = await server.app.inject({ method: 'POST', url: path, payload: review as object });
  expect(res.statusCode).toBe(200);
  return res.json<AdmissionReview>().response as AdmissionResponse;
}

const patchOf = (res: AdmissionResponse): PatchOp[] => JSON.parse(Buffer.from(res.patch ?? '', 'base64').toString('utf8')) as PatchOp[];

describe('ApprovalRequest CREATE through the routes', () => {
  it('stamps the creator over the client\'s values, and the validating route accepts the stamped object', async () => {
    const sent = approvalRequest('lgpd-orders', 'export-1');
    sent.metadata.annotations = { 'guarita.io/created-by': 'dana', 'guarita.io/created-by-pod': 'lgpd-orders/someone-else' };
    const mutated = await post('/mutate/approvalrequests', sent, agent);
    expect(mutated).toMatchObject({ allowed: true, patchType: 'JSONPatch', auditAnnotations: { creator: agent.username } });
    const stored = applyPatch(sent, patchOf(mutated));
    expect(stored.metadata.annotations).toEqual({ 'guarita.io/created-by': agent.username, 'guarita.io/created-by-pod': 'lgpd-orders/agent-7' });
    expect((await post('/validate/approvalrequests', stored, agent)).allowed).toBe(true);
  });

  it('refuses at the validating route what the mutating route did not stamp, naming the field', async () => {
    const res = await post('/validate/approvalrequests', approvalRequest('lgpd-orders', 'export-2'), agent);
    expect(res.allowed).toBe(false);
    expect(res.status?.message).toContain('metadata.annotations["guarita.io/created-by"]: missing: the mutating webhook stamp.approvalrequests.guarita.io did not stamp the creator');
    const forged = approvalRequest('lgpd-orders', 'export-3');
    forged.metadata.annotations = { 'guarita.io/created-by': agent.username ?? '', 'guarita.io/created-by-pod': 'lgpd-orders/agent-8' };
    expect((await post('/validate/approvalrequests', forged, agent)).status?.message).toContain('metadata.annotations["guarita.io/created-by-pod"]: "lgpd-orders/agent-8" is not the creator the apiserver authenticated ("lgpd-orders/agent-7")');
  });

  it('refuses at the mutating route a token that names no single pod', async () => {
    const res = await post('/mutate/approvalrequests', approvalRequest('lgpd-orders', 'export-4'), { ...agent, extra: { 'authentication.kubernetes.io/pod-name': ['a', 'b'] } });
    expect(res).toMatchObject({ allowed: false, status: { message: expect.stringContaining('names no single pod') } });
  });

  it('refuses an UPDATE that rewrites the stamp, and does not stamp again at UPDATE', async () => {
    const old = approvalRequest('lgpd-orders', 'export-5');
    old.metadata.annotations = { 'guarita.io/created-by': agent.username ?? '', 'guarita.io/created-by-pod': 'lgpd-orders/agent-7' };
    const next = structuredClone(old);
    next.metadata.annotations = { 'guarita.io/created-by': 'dana' };
    const mutated = await post('/mutate/approvalrequests', next, { username: 'dana' }, { oldObject: old });
    expect(mutated.patch).toBeUndefined();
    const res = await post('/validate/approvalrequests', next, { username: 'dana' }, { oldObject: old });
    expect(res.allowed).toBe(false);
    expect(res.status?.message).toContain('metadata.annotations["guarita.io/created-by"]: is immutable');
    expect(res.status?.message).toContain('metadata.annotations["guarita.io/created-by-pod"]: is immutable');
  });
});
