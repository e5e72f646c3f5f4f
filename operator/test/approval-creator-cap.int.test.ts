// The cap on Pending ApprovalRequests binds the pod that creates them (round 11 follow-up), through
// the real apiserver, admission webhook and operator. The agent shares its pod's service account
// and may create ApprovalRequests itself; writing a new spec.requester into each, it stayed under
// the per-requester cap and flooded its namespace's approvers. The webhook now stamps the creating
// pod from the apiserver's userInfo (a token bound to the pod names it), and the operator caps
// Pending requests per pod (--max-pending-approvals-per-pod, default 50) as well.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { requireKube } from '../../e2e/harness/state.ts';
import { adminApi, apply, createServiceAccount, eventsFor } from '../../e2e/support/kube-apply.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { approvalRequest } from '../../webhook/test/fixtures.ts';
import { KubeClient } from '../src/kube/client.ts';

jest.setTimeout(240_000);

const CAP = 50;
let sys: GuaritaSystem;

interface Ar { metadata: { name: string; annotations?: Record<string, string> }; status?: { phase?: string; message?: string } }

/** An agent's pod (no AccessPolicy selects it: nothing to inject). There is no kubelet: it stays Pending, and the test holds its token. */
async function pod(ns: string, name: string): Promise<string> {
  const created = await adminApi().create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns },
    spec: { serviceAccountName: 'agent', automountServiceAccountToken: false, containers: [{ name: 'agent', image: 'registry.invalid/agent:test' }] },
  });
  return created.metadata.uid;
}

/** The agent's credential as the kubelet projects it: a TokenRequest bound to its pod (apiserver audience). */
async function podClient(ns: string, pod: string, uid: string): Promise<KubeClient> {
  const res = await adminApi().create<{ status: { token: string } }>(`/api/v1/namespaces/${ns}/serviceaccounts/agent/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid } },
  });
  const kube = requireKube();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'harness', server: kube.apiserverUrl, caFile: kube.caFile, skipTLSVerify: false }],
    users: [{ name: pod, token: res.status.token }], contexts: [{ name: pod, cluster: 'harness', user: pod, namespace: ns }], currentContext: pod,
  });
  return new KubeClient(kc);
}

const path = (ns: string, name = ''): string => `/apis/guarita.io/v1alpha1/namespaces/${ns}/approvalrequests${name === '' ? '' : `/${name}`}`;

/** A request naming `requester` (a new name each time: the dodge), optionally with the stamp the agent would like. */
function request(ns: string, name: string, requester: string, annotations?: Record<string, string>): Record<string, unknown> {
  const r = approvalRequest(ns, name, { requester });
  return { ...r, metadata: { ...r.metadata, ...(annotations === undefined ? {} : { annotations }) } };
}

beforeAll(async () => {
  sys = await startGuaritaSystem('capcr');
  await createServiceAccount(sys.ns, 'agent');
  // What the chart grants an agent's service account on ApprovalRequests (charts/guarita: the sidecar's Role).
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'agent-approvals', namespace: sys.ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'create'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'agent-approvals', namespace: sys.ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'agent-approvals' }, subjects: [{ kind: 'ServiceAccount', name: 'agent', namespace: sys.ns }] },
  ]);
});

afterAll(async () => {
  await sys?.stop();
});

describe('the per-pod cap on Pending ApprovalRequests, through the apiserver, the webhook and the operator', () => {
  it('stamps the creating pod over the agent\'s own value, and expires the request past the per-pod cap though each names another requester', async () => {
    const ns = sys.ns;
    const agent7 = await podClient(ns, 'agent-7', await pod(ns, 'agent-7'));
    const agent8 = await podClient(ns, 'agent-8', await pod(ns, 'agent-8'));
    const names = Array.from({ length: CAP + 1 }, (_, i) => `renamed-${String(i).padStart(3, '0')}`);
    // The first claims to come from the other pod: the webhook writes the truth over it.
    await agent7.create(path(ns), request(ns, names[0] ?? '', 'agent-000', { 'guarita.io/created-by-pod': `${ns}/agent-8`, 'guarita.io/created-by': 'dana' }));
    for (const name of names.slice(1)) await agent7.create(path(ns), request(ns, name, name.replace('renamed', 'agent')));
    const first = await adminApi().get<Ar>(path(ns, names[0]));
    expect(first.metadata.annotations).toMatchObject({ 'guarita.io/created-by': `system:serviceaccount:${ns}:agent`, 'guarita.io/created-by-pod': `${ns}/agent-7` });

    const decided = await eventually('every request decided', async () => {
      const list = await adminApi().list<Ar>(path(ns));
      const mine = list.items.filter((r) => r.metadata.name.startsWith('renamed-'));
      return mine.length === names.length && mine.every((r) => r.status?.phase !== undefined) ? mine : undefined;
    }, 120_000);
    const phases = decided.map((r) => r.status?.phase);
    expect([phases.filter((p) => p === 'Pending').length, phases.filter((p) => p === 'Expired').length]).toEqual([CAP, 1]);
    // The last one in the line (creation time, then name) is the one over the cap, and says which cap.
    const over = decided.find((r) => r.status?.phase === 'Expired');
    expect(over?.metadata.name).toBe(names[CAP]);
    expect(over?.status?.message).toContain(`not put before approvers: pod ${ns}/agent-7, which created it, already has`);
    expect(over?.status?.message).toContain(`the limit per creating pod (or user outside a pod) is ${CAP} whatever requester each names (--max-pending-approvals-per-pod / GUARITA_MAX_PENDING_APPROVALS_PER_POD)`);
    await eventually('TooManyPending for it', async () => (await eventsFor(ns, names[CAP] ?? '')).find((e) => e.reason === 'TooManyPending'));

    // Another pod of the same service account has its own line.
    await agent8.create(path(ns), request(ns, 'other-pod', 'agent-x'));
    const other = await eventually('the other pod\'s request decided', async () => {
      const r = await adminApi().get<Ar>(path(ns, 'other-pod'));
      return r.status?.phase === undefined ? undefined : r;
    });
    expect(other.status?.phase).toBe('Pending');
    expect(other.metadata.annotations?.['guarita.io/created-by-pod']).toBe(`${ns}/agent-8`);
  });

  it('keeps the stamp immutable after CREATE, even for a cluster admin', async () => {
    const ns = sys.ns;
    const target = path(ns, 'renamed-001');
    const move = adminApi().mergePatch(target, { metadata: { annotations: { 'guarita.io/created-by-pod': `${ns}/agent-9` } } });
    await expect(move).rejects.toThrow(/metadata\.annotations\["guarita\.io\/created-by-pod"\]: is immutable/);
    const drop = adminApi().mergePatch(target, { metadata: { annotations: { 'guarita.io/created-by-pod': null } } });
    await expect(drop).rejects.toThrow(/metadata\.annotations\["guarita\.io\/created-by-pod"\]: is immutable/);
    // Other annotations still change.
    await adminApi().mergePatch(target, { metadata: { annotations: { 'example.com/ticket': '42' } } });
    expect((await adminApi().get<Ar>(target)).metadata.annotations).toMatchObject({ 'guarita.io/created-by-pod': `${ns}/agent-7`, 'example.com/ticket': '42' });
  });
});
