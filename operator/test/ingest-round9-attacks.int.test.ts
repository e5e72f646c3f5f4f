// Round 9 adversarial review, through the real operator process and the real apiserver: evidence
// attributed to an AccessPolicy that does not govern the pod that sent it.
//
// The webhook stamps an injected pod with `guarita.io/policies`: the AccessPolicies whose
// podSelector selected it (docs/injection-contract.md). The operator reads that Pod on every
// registration (auth/evidence-source.ts) and binds each chain to its namespace and pod, and the
// store refuses records whose namespace or pod is not the chain's (batch-check.ts identityProblem),
// but a record's `policy` is taken as the sidecar writes it. A proxy governed by policy A (its key:
// a compromised proxy) files commands under policy B of its namespace: they enter B's store log, B's
// AccessPolicy status counters and anchored head, and `guarita verify --policy B` reads them as B's
// evidence, verified and anchored. The same gap lets one proxy name thousands of made-up policies
// (operator/src/store/policy-fanout-round9-attacks.test.ts). Each test FAILED on the code it was
// written against. Fixed: the ingest refuses a record whose policy does not govern the sending pod
// (422 wrong-policy, core/recording/batch-check.ts checkPolicies, core/kube/evidence-source.ts
// governingPolicies).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { optInNamespace, podBoundToken } from '../../e2e/support/bound-pods.ts';
import { adminApi, apply, createNamespaces, createServiceAccount, getObject, grantSessionReaders, userToken } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { call } from '../../e2e/support/operator-api.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { fakeSidecar } from '../../e2e/support/store-testkit.ts';
import { eventually } from '../../e2e/support/wait.ts';

jest.setTimeout(120_000);

const id = suffix();
const opNs = `op-r9-${id}`;
const ns = `shop-r9-${id}`;
let op: OperatorProcess;

interface PolicyObj { status?: { sessions?: { total: number }; chain?: { head: string; records: number } } }

beforeAll(async () => {
  await installCrds();
  const fx = await operatorFixture(opNs);
  await createNamespaces(ns);
  await apply([accessPolicy(ns, 'orders-db'), accessPolicy(ns, 'payments-db')]);
  await grantSessionReaders(ns, { kind: 'Group', name: 'auditors' });
  op = await startOperator({ ...fx, watchNamespaces: [ns] });
  await waitServing(op);
});

afterAll(async () => {
  await op?.stop();
});

/** An injected proxy's Pod as the webhook leaves it when only `policies` selected it, and an ingest token bound to it. */
async function proxyGovernedBy(pod: string, policies: string[]): Promise<string> {
  await createServiceAccount(ns, 'agent');
  await optInNamespace(ns);
  const volumes = [{ name: 'guarita-spool', emptyDir: {} }, { name: 'guarita-tokens', emptyDir: {} }];
  const created = await adminApi().create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: pod, namespace: ns, labels: { app: 'support-agent' }, annotations: { 'guarita.io/status': 'injected', 'guarita.io/policies': policies.join(',') } },
    spec: {
      serviceAccountName: 'agent', automountServiceAccountToken: false, volumes,
      containers: [
        { name: 'agent', image: 'registry.invalid/agent:test' },
        { name: 'guarita-proxy', image: 'registry.invalid/guarita:test', volumeMounts: volumes.map((v) => ({ name: v.name, mountPath: `/var/run/guarita/${v.name}` })) },
      ],
    },
  });
  return podBoundToken(ns, 'agent', pod, created.metadata.uid, 'guarita-operator');
}

describe('records filed under a policy that does not govern the sending pod', () => {
  it('a proxy injected for orders-db cannot store commands in payments-db\'s evidence (its store log, status and anchor)', async () => {
    const token = await proxyGovernedBy('orders-agent', ['orders-db']);
    const sc = fakeSidecar(ns, 'orders-agent');
    const reg = await call(op.url, 'POST', '/v1/chains', token, { chainId: sc.chainId, namespace: ns, pod: sc.pod, publicJwk: sc.key.publicJwk });
    expect(reg.status).toBe(201);
    // Its own policy: accepted, as it should be.
    const own = sc.batch(1, { policy: 'orders-db', sessionId: 'r9-own' });
    expect((await call(op.url, 'POST', `/v1/chains/${encodeURIComponent(sc.chainId)}/records`, token, own)).status).toBe(200);
    // Commands "under payments-db", a policy whose podSelector never chose this pod.
    const foreign = sc.batch(3, { policy: 'payments-db', sessionId: 'r9-foreign', target: 'payments-db', command: 'SELECT card_number FROM cards' });
    const res = await call(op.url, 'POST', `/v1/chains/${encodeURIComponent(sc.chainId)}/records`, token, foreign);
    let filed: { status: number; entries?: number; anchoredTotal?: number } = { status: res.status };
    if (res.status === 200) {
      // Where they went: payments-db's store log (read API) and AccessPolicy status.
      const chain = await call<{ records: number; head: string }>(op.url, 'GET', `/v1/namespaces/${ns}/policies/payments-db/chain`, userToken('audrey'));
      const anchored = await eventually('payments-db anchored', async () => {
        const p = await getObject<PolicyObj>('accesspolicy', ns, 'payments-db');
        return p.status?.chain?.head === chain.body.head ? p : undefined;
      });
      filed = { status: res.status, entries: chain.body.records, anchoredTotal: anchored.status?.sessions?.total ?? 0 };
    }
    // Refused (4xx naming the policy), and nothing of it counted for payments-db.
    expect(filed).toEqual({ status: expect.any(Number) as unknown as number });
    expect(filed.status).toBeGreaterThanOrEqual(400);
    // Fixed (round 9): 422 wrong-policy naming the record and the governing policy; payments-db
    // holds nothing, and the proxy's own chain did not move.
    expect(res.body).toMatchObject({ problem: 'wrong-policy', index: 0, seq: 2, message: expect.stringMatching(/"payments-db".*governed by orders-db/) as unknown as string });
    expect((await call(op.url, 'GET', `/v1/namespaces/${ns}/policies/payments-db/chain`, userToken('audrey'))).status).toBe(404);
    expect((await call<{ seq: number }>(op.url, 'GET', `/v1/chains/${encodeURIComponent(sc.chainId)}`, token)).body.seq).toBe(1);
  });
});
