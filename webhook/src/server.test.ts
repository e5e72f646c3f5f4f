import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { ApprovalRequest } from '../../crds/types.ts';
import type { WebhookContext } from './context.ts';
import { decideInjection } from './inject.ts';
import { applyPatch, type PatchOp } from './json-patch.ts';
import type { AdmissionResponse, AdmissionReview, Pod } from './kube-types.ts';
import { maskingCheck } from './masking-check.ts';
import { createMetrics } from './metrics.ts';
import { StaticPolicies } from './policy-cache.ts';
import { buildServer, clientRefusal, type WebhookServer } from './server.ts';
import { createCa, issueServing } from './tls-certs.ts';
import { admissionReview, APPROVALS_GVR, approvalRequest, examplePod, examplePolicy, FIXTURE_ISSUER, OPTED_IN, POLICIES_GVR, TEST_INJECTOR } from '../test/fixtures.ts';

let server: WebhookServer;
/** What the webhook logged (info and above), parsed. */
const logLines: Record<string, unknown>[] = [];
const policies = [examplePolicy('accesspolicy.yaml'), examplePolicy('accesspolicy-http.yaml')];
const ctx: WebhookContext = {
  injector: TEST_INJECTOR, missingSecret: 'reject', usernameMappings: [{ issuer: FIXTURE_ISSUER, claim: 'sub', prefix: '' }], operatorUsername: 'system:serviceaccount:guarita-system:guarita-operator',
  policies: new StaticPolicies(policies),
  allowedCsiDrivers: [],
  lookups: {
    existingSecrets: (_ns, names) => Promise.resolve(new Set(names.filter((n) => n === 'orders-db-credentials'))),
    namespaceLabels: () => Promise.resolve({ 'guarita.io/injection': 'enabled' }),
    // The requester may read what a namespace admin may; "mallory" nothing.
    userMay: (user) => Promise.resolve(user.username !== 'mallory'),
  },
  metrics: createMetrics(false), log: pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) }), maskingCheck, now: () => new Date(),
};

beforeAll(async () => {
  const now = new Date();
  const ca = await createCa(86_400_000, now);
  const pair = await issueServing(ca, { dnsNames: ['localhost'], ips: ['127.0.0.1'], caValidityMs: 86_400_000, certValidityMs: 86_400_000, renewFraction: 1 / 3 }, now);
  server = await buildServer(ctx, pair, () => true, { mode: 'none' });
});

afterAll(async () => {
  await server.app.close();
});

async function post(path: string, review: unknown): Promise<AdmissionResponse> {
  const res = await server.app.inject({ method: 'POST', url: path, payload: review as object });
  expect(res.statusCode).toBe(200);
  const body = res.json<AdmissionReview>();
  expect(body.response?.uid).toBe((review as AdmissionReview).request?.uid);
  return body.response as AdmissionResponse;
}

function patchOf(res: AdmissionResponse): PatchOp[] {
  expect(res.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(res.patch ?? '', 'base64').toString('utf8')) as PatchOp[];
}

describe('webhook server', () => {
  it('answers a pod CREATE with a JSON Patch that injects the sidecar, dry run or not', async () => {
    for (const dryRun of [false, true]) {
      const pod = examplePod();
      const res = await post('/mutate/pods', admissionReview({ operation: 'CREATE', namespace: 'lgpd-orders', object: pod, dryRun }));
      expect(res.allowed).toBe(true);
      const injected = applyPatch(pod, patchOf(res));
      expect(injected.spec.initContainers?.[0]?.name).toBe('guarita-proxy');
      expect(res.auditAnnotations).toEqual({ policies: 'customers-api,orders-db' });
    }
  });

  it('leaves pods alone that do not qualify, without a patch, saying why (audit annotation)', async () => {
    const pod = examplePod();
    pod.metadata.annotations = { 'guarita.io/inject': 'false' };
    const res = await post('/mutate/pods', admissionReview({ operation: 'CREATE', namespace: 'lgpd-orders', object: pod }));
    expect(res).toEqual({ uid: expect.any(String), allowed: true, auditAnnotations: { 'injection-skipped': 'opted-out' } });
  });

  it('reports every skip reason as an audit annotation and one info log line, and none when it injects (issue 20, item 6)', async () => {
    const optedOut = examplePod();
    optedOut.metadata.annotations = { 'guarita.io/inject': 'false' };
    const injectedPod = examplePod();
    const first = await post('/mutate/pods', admissionReview({ operation: 'CREATE', namespace: 'lgpd-orders', object: injectedPod }));
    expect(first.auditAnnotations).toEqual({ policies: 'customers-api,orders-db' });
    const cases: [string, string, Pod, string][] = [
      ['opted-out', 'lgpd-orders', optedOut, 'pod opted out'],
      ['no-matching-policy', 'no-policies-here', examplePod(), 'no AccessPolicy in no-policies-here'],
      ['excluded-namespace', 'guarita-system', examplePod(), 'namespace guarita-system is never injected'],
      // The apiserver's reinvocation of an already injected pod: nothing left to change.
      ['already-injected', 'lgpd-orders', applyPatch(injectedPod, patchOf(first)), 'already injected'],
    ];
    for (const [reason, namespace, pod, detail] of cases) {
      const review = admissionReview({ operation: 'CREATE', namespace, name: `pod-${reason}`, object: pod });
      logLines.length = 0;
      const res = await post('/mutate/pods', review);
      expect(res).toEqual({ uid: review.request?.uid, allowed: true, auditAnnotations: { 'injection-skipped': reason } });
      const lines = logLines.filter((l) => l.msg === 'pod not injected');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 30, uid: review.request?.uid, namespace, name: `pod-${reason}`, reason, detail: expect.stringContaining(detail) });
    }
  });

  it('rejects a pod that mounts a target\'s credentials into an agent container', async () => {
    const pod: Pod = examplePod();
    pod.spec.containers[0]!.envFrom = [{ secretRef: { name: 'orders-db-credentials' } }];
    const res = await post('/validate/pods', admissionReview({ operation: 'CREATE', namespace: 'lgpd-orders', object: pod }));
    expect(res.allowed).toBe(false);
    expect(res.status?.message).toContain('container agent reads Secret orders-db-credentials (envFrom)');
  });

  it('judges pods/resize: the proxy\'s resources are frozen, agents resize, no oldObject is refused, other subresources too', async () => {
    const d = decideInjection({ pod: examplePod(), namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
    if (d.action !== 'inject') throw new Error(d.action);
    const old = d.pod;
    const resize = (object: Pod, oldObject?: Pod, subResource = 'resize'): AdmissionReview => admissionReview({ operation: 'UPDATE', subResource, namespace: 'lgpd-orders', object, ...(oldObject === undefined ? {} : { oldObject }) });
    const agentResized = structuredClone(old);
    agentResized.spec.containers[0]!.resources = { requests: { cpu: '1' }, limits: { cpu: '1' } };
    expect((await post('/validate/pods', resize(agentResized, old))).allowed).toBe(true);
    const proxyResized = structuredClone(old);
    proxyResized.spec.initContainers![0]!.resources = { requests: { cpu: '1m', memory: '8Mi' }, limits: { memory: '8Mi' } };
    const refused = await post('/validate/pods', resize(proxyResized, old));
    expect(refused.allowed).toBe(false);
    // The admission comparison leaves requests and CPU/memory limits to mutators; an update may not change them.
    expect(refused.status?.message).toContain('guarita: container guarita-proxy cannot change after admission (guarita-proxy.resources.requests.cpu is "1m", it was "50m")');
    expect((await post('/validate/pods', resize(agentResized))).status?.message).toContain('request.oldObject is missing or not an object');
    expect((await post('/validate/pods', resize(agentResized, old, 'status'))).status?.message).toContain('subresource pods/status is not judged by this webhook');
  });

  it('judges pods/status writes with the label rules of a pod update (round 8b, finding A)', async () => {
    const d = decideInjection({ pod: examplePod(), namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
    if (d.action !== 'inject') throw new Error(d.action);
    const status = (object: Pod, oldObject: Pod, operation: 'UPDATE' | 'CREATE' = 'UPDATE', subResource = 'status'): AdmissionReview => admissionReview({ operation, subResource, namespace: 'lgpd-orders', object, oldObject });
    // A pod with the proxy relabelled out of its AccessPolicy.
    const relabelled = structuredClone(d.pod);
    relabelled.metadata.labels = { app: 'billing-agent' };
    const out = await post('/validate/pods/status', status(relabelled, d.pod));
    expect(out).toMatchObject({ allowed: false, status: { message: expect.stringContaining('the new labels change which AccessPolicies select this pod (customers-api, orders-db before, none after)') } });
    expect(out.status?.message).toContain('(the labels and annotations were written through pods/status)');
    // A pod without the proxy: the opt-out removed, or inject: "true" added over it.
    const optedOut = examplePod();
    optedOut.metadata.labels = { ...optedOut.metadata.labels, 'guarita.io/inject': 'false' };
    const optedIn = structuredClone(optedOut);
    delete optedIn.metadata.labels!['guarita.io/inject'];
    expect((await post('/validate/pods/status', status(optedIn, optedOut))).status?.message).toContain('the new labels or annotations make this pod one the injector governs');
    const annotated = structuredClone(optedOut);
    annotated.metadata.annotations = { 'guarita.io/inject': 'true' };
    delete annotated.metadata.labels!['guarita.io/inject'];
    expect((await post('/validate/pods/status', status(annotated, optedOut))).allowed).toBe(false);
    // Status and unrelated metadata pass; other operations and subresources are refused (not registered).
    const phase = structuredClone(d.pod);
    phase.status = { phase: 'Running' };
    phase.metadata.annotations = { ...phase.metadata.annotations, 'example.com/x': 'y' };
    expect((await post('/validate/pods/status', status(phase, d.pod))).allowed).toBe(true);
    expect((await post('/validate/pods/status', status(phase, d.pod, 'UPDATE', ''))).status?.message).toContain('UPDATE on pods/ is not judged by this webhook');
    expect((await post('/validate/pods/status', status(phase, d.pod, 'CREATE'))).allowed).toBe(false);
    expect((await post('/validate/pods/status', admissionReview({ operation: 'UPDATE', subResource: 'status', namespace: 'lgpd-orders', object: phase }))).status?.message).toContain('request.oldObject is missing or not an object');
  });

  it('refuses a Binding that carries a guarita.io/ annotation, on pods/binding and the legacy bindings (round 8b, finding B)', async () => {
    const binding = (annotations: Record<string, string> | undefined, resource: string, subResource?: string): AdmissionReview => admissionReview({
      operation: 'CREATE', namespace: 'lgpd-orders', resource: { group: '', version: 'v1', resource }, ...(subResource === undefined ? {} : { subResource }),
      object: { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'agent', ...(annotations === undefined ? {} : { annotations }) }, target: { kind: 'Node', name: 'n1' } },
    });
    for (const [resource, sub] of [['pods', 'binding'], ['bindings', undefined]] as const) {
      for (const key of ['guarita.io/inject', 'guarita.io/status', 'guarita.io/policies', 'guarita.io/anything']) {
        const res = await post('/validate/bindings', binding({ [key]: 'true', 'example.com/x': 'y' }, resource, sub));
        expect(res).toMatchObject({ allowed: false, status: { message: expect.stringContaining(`guarita: a Binding may not set ${key}`) } });
      }
      // What the scheduler sends (no guarita.io/ annotation; a prefix look-alike is another key).
      const scheduler: (Record<string, string> | undefined)[] = [undefined, {}, { 'example.com/guarita.io/inject': 'true', 'guarita.iox/inject': 'true', 'Guarita.io/inject': 'true' }];
      for (const annotations of scheduler) {
        expect((await post('/validate/bindings', binding(annotations, resource, sub))).allowed).toBe(true);
      }
    }
  });

  it('refuses a Binding that carries labels other than the apiserver\'s topology labels (from 1.35 written over the pod\'s; round 8c, finding E)', async () => {
    const binding = (labels: Record<string, string> | undefined, resource: string, subResource?: string, annotations?: Record<string, string>): AdmissionReview => admissionReview({
      operation: 'CREATE', namespace: 'lgpd-orders', resource: { group: '', version: 'v1', resource }, ...(subResource === undefined ? {} : { subResource }),
      object: { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'agent', ...(labels === undefined ? {} : { labels }), ...(annotations === undefined ? {} : { annotations }) }, target: { kind: 'Node', name: 'n1' } },
    });
    const topology = { 'topology.kubernetes.io/zone': 'z1', 'topology.kubernetes.io/region': 'r1', 'topology.k8s.io/zone': 'z1', 'topology.k8s.io/region': 'r1' };
    for (const [resource, sub] of [['pods', 'binding'], ['bindings', undefined]] as const) {
      // Any other key, whatever it looks like: the selection and governance labels, look-alikes of
      // the topology keys (case, prefix, suffix), and an empty-valued label.
      for (const key of ['app', 'guarita.io/inject', 'pod-template-hash', 'Topology.kubernetes.io/zone', 'topology.kubernetes.io/zone2', 'topology.kubernetes.io/hostname', 'kubernetes.io/hostname', 'example.com/topology.kubernetes.io/zone', 'topology.k8s.io/rack']) {
        const res = await post('/validate/bindings', binding({ ...topology, [key]: '' }, resource, sub));
        expect(res).toMatchObject({ allowed: false, status: { message: expect.stringContaining(`guarita: a Binding may not set ${key} (labels: from Kubernetes 1.35 the apiserver writes a Binding's labels over the pod's`) } });
        expect(res.status?.message).not.toContain('topology.kubernetes.io/region');
      }
      // Annotations and labels together: both named.
      const both = await post('/validate/bindings', binding({ app: 'billing-agent' }, resource, sub, { 'guarita.io/inject': 'true' }));
      expect(both.status?.message).toContain('a Binding may not set guarita.io/inject (annotations: the apiserver merges a Binding\'s annotations into the pod); app (labels:');
      // What the scheduler sends, with what the apiserver adds: no labels, or the topology labels only.
      const scheduler: (Record<string, string> | undefined)[] = [undefined, {}, topology, { 'topology.kubernetes.io/zone': 'z1' }];
      for (const labels of scheduler) {
        expect((await post('/validate/bindings', binding(labels, resource, sub))).allowed).toBe(true);
      }
    }
  });

  it('judges a namespace opt-in written through namespaces/status or namespaces/finalize like one of the namespace (round 8c, finding H)', async () => {
    const ns = (labels: Record<string, string>): unknown => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'late', labels } });
    const update = (subResource: string | undefined, labels: Record<string, string>, oldLabels: Record<string, string>): AdmissionReview => admissionReview({
      operation: 'UPDATE', name: 'late', resource: { group: '', version: 'v1', resource: 'namespaces' }, ...(subResource === undefined ? {} : { subResource }),
      object: ns(labels), oldObject: ns(oldLabels),
    });
    // This context cannot list pods: a judged opt-in is refused saying so, an unjudged one allowed.
    for (const sub of [undefined, 'status', 'finalize', 'anything-new']) {
      const res = await post('/validate/namespaces', update(sub, { 'guarita.io/injection': 'enabled' }, {}));
      expect(res).toMatchObject({ allowed: false, status: { message: expect.stringContaining('guarita: namespace late cannot be opted in to injection: this webhook cannot list its pods to judge them') } });
      expect((await post('/validate/namespaces', update(sub, { 'guarita.io/injection': 'enabled', a: 'b' }, { 'guarita.io/injection': 'enabled' }))).allowed).toBe(true);
      expect((await post('/validate/namespaces', update(sub, { 'guarita.io/injection': 'disabled' }, {}))).allowed).toBe(true);
    }
  });

  it('stamps reviews and rejects forged reviewers', async () => {
    const old = approvalRequest('lgpd-orders', 'export-1');
    const next: ApprovalRequest = structuredClone(old);
    next.spec.reviews = [{ decision: 'Approved', reason: 'ok' }];
    const dana = { username: 'dana', groups: ['dpo', 'system:authenticated'] };
    const stamped = await post('/mutate/approvalrequests', admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, namespace: 'lgpd-orders', object: next, oldObject: old, userInfo: dana }));
    const stored = applyPatch(next, patchOf(stamped));
    expect(stored.spec.reviews?.[0]?.reviewer).toBe('dana');
    const ok = await post('/validate/approvalrequests', admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, namespace: 'lgpd-orders', object: stored, oldObject: old, userInfo: dana }));
    expect(ok.allowed).toBe(true);
    const forged = structuredClone(stored);
    forged.spec.reviews![0]!.reviewer = 'dave';
    const res = await post('/validate/approvalrequests', admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, namespace: 'lgpd-orders', object: forged, oldObject: old, userInfo: dana }));
    expect(res.allowed).toBe(false);
    expect(res.status?.message).toContain('spec.reviews[0].reviewer: "dave" is not the authenticated user "dana"');
  });

  it('lets only the operator decide an ApprovalRequest\'s phase through the status subresource', async () => {
    const old = approvalRequest('lgpd-orders', 'export-1');
    old.status = { phase: 'Pending', approvals: 0, required: 1 };
    const next: ApprovalRequest = structuredClone(old);
    next.status = { ...old.status, phase: 'Approved' };
    const review = (username: string): AdmissionReview => admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, subResource: 'status', namespace: 'lgpd-orders', object: next, oldObject: old, userInfo: { username } });
    const agent = await post('/validate/approvalrequests/status', review('system:serviceaccount:lgpd-orders:support-agent'));
    expect(agent).toMatchObject({ allowed: false, status: { code: 403, message: expect.stringContaining('guarita: status.phase: Pending → Approved: only the operator decides phases') } });
    expect((await post('/validate/approvalrequests/status', review('system:serviceaccount:guarita-system:guarita-operator'))).allowed).toBe(true);
    // The main resource is the other webhook's: this one answers only status writes.
    const main = admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, namespace: 'lgpd-orders', object: next, oldObject: old, userInfo: { username: 'eve' } });
    expect((await post('/validate/approvalrequests/status', main)).allowed).toBe(true);
  });

  it('rejects an AccessPolicy naming a missing Secret, with the field', async () => {
    const policy = examplePolicy('accesspolicy.yaml');
    policy.spec.target.credentialsSecretRef = { name: 'nope' };
    const res = await post('/validate/accesspolicies', admissionReview({ operation: 'CREATE', resource: POLICIES_GVR, namespace: 'lgpd-orders', object: policy }));
    expect(res.allowed).toBe(false);
    expect(res.status).toMatchObject({ code: 422, message: 'AccessPolicy orders-db is invalid: spec.target.credentialsSecretRef.name: Secret nope does not exist in namespace lgpd-orders; create it first (the sidecar cannot start without it)' });
  });

  it('names the problem when a review carries the wrong object or no oldObject (never a raw TypeError)', async () => {
    const approval = approvalRequest('lgpd-orders', 'export-1');
    const cases: [string, AdmissionReview, string][] = [
      ['/validate/pods', admissionReview({ operation: 'CREATE', namespace: 'lgpd-orders', object: approval }), 'request.object is of kind ApprovalRequest, not a Pod'],
      ['/mutate/pods', admissionReview({ operation: 'CREATE', namespace: 'lgpd-orders', object: { metadata: {}, spec: {} } }), 'request.object.spec.containers is not a list'],
      ['/validate/pods', admissionReview({ operation: 'CREATE', namespace: 'lgpd-orders', object: { metadata: {}, spec: { containers: [{ name: 'a', volumeMounts: 'x' }] } } }), 'request.object.spec.containers[0].volumeMounts is not a list'],
      ['/validate/pods', admissionReview({ operation: 'UPDATE', namespace: 'lgpd-orders', object: examplePod() }), 'request.oldObject is missing or not an object'],
      ['/validate/approvalrequests', admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, namespace: 'lgpd-orders', object: approval }), 'request.oldObject is missing: an UPDATE of an ApprovalRequest is judged against the stored object'],
      ['/mutate/approvalrequests', admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, namespace: 'lgpd-orders', object: approval }), 'request.oldObject is missing'],
      ['/validate/approvalrequests', admissionReview({ operation: 'CREATE', resource: APPROVALS_GVR, namespace: 'lgpd-orders', object: examplePod() }), 'request.object is of kind Pod, not an ApprovalRequest'],
      ['/validate/accesspolicies', admissionReview({ operation: 'CREATE', resource: POLICIES_GVR, namespace: 'lgpd-orders', object: examplePod() }), 'request.object is not an AccessPolicy'],
    ];
    for (const [path, review, message] of cases) {
      const res = await post(path, review);
      expect({ path, allowed: res.allowed }).toEqual({ path, allowed: false });
      expect(res.status?.code).toBeLessThan(500);
      expect(res.status?.message).toContain(message);
    }
  });

  it('tells a requester who may not read Secrets the same thing whether they exist or not', async () => {
    const answer = async (secret: string): Promise<string> => {
      const policy = examplePolicy('accesspolicy.yaml');
      policy.spec.target.credentialsSecretRef = { name: secret };
      const res = await post('/validate/accesspolicies', admissionReview({ operation: 'CREATE', resource: POLICIES_GVR, namespace: 'lgpd-orders', object: policy, userInfo: { username: 'mallory' } }));
      return JSON.stringify({ ...res, uid: '' }).replaceAll(secret, '<S>');
    };
    expect(await answer('orders-db-credentials')).toBe(await answer('made-up'));
  });

  it('judges client certificates: none, refused, or a name outside the list', () => {
    const auth = { mode: 'certificate' as const, caPem: '', names: ['kube-apiserver-admission'] };
    expect(clientRefusal({ authorized: false, getPeerCertificate: () => ({}) as never }, auth)).toContain('no client certificate was presented');
    expect(clientRefusal({ authorized: false, authorizationError: new Error('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), getPeerCertificate: () => ({ subject: { CN: 'x' } }) as never }, auth)).toContain('the client certificate was refused (Error: UNABLE_TO_VERIFY_LEAF_SIGNATURE)');
    expect(clientRefusal({ authorized: true, getPeerCertificate: () => ({ subject: { CN: 'intruder' }, subjectaltname: 'DNS:intruder' }) as never }, auth)).toContain('client certificate intruder is not among GUARITA_WEBHOOK_CLIENT_NAMES');
    expect(clientRefusal({ authorized: true, getPeerCertificate: () => ({ subject: { CN: 'x' }, subjectaltname: 'DNS:kube-apiserver-admission' }) as never }, auth)).toBeUndefined();
    expect(clientRefusal({}, { mode: 'none' })).toBeUndefined();
  });

  it('refuses a body that is not an AdmissionReview and reports health', async () => {
    const bad = await server.app.inject({ method: 'POST', url: '/mutate/pods', payload: { hello: 'world' } });
    expect(bad.statusCode).toBe(400);
    expect((await server.app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });
});
