// Round 12b review, finding 2, against the real operator and apiserver: an approved command whose
// upstream answer the sidecar never read (the approval.consumed record's result.outcomeUnknown)
// lands in the ApprovalRequest as status.execution.outcome Unknown (the CRD accepts it), with no
// row count, where it was Failed before. No admission webhook runs here (reviews are pre-stamped).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { adminApi, apply, createNamespaces, getObject } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { sidecarClient } from '../../e2e/support/sidecar-client.ts';
import { FIXTURE_ISSUER } from '../../webhook/test/fixtures.ts';

jest.setTimeout(120_000);

const id = suffix();
const opNs = `op-unk-${id}`;
const ns = `shop-unk-${id}`;
let op: OperatorProcess;

interface ArObj { metadata: { resourceVersion: string }; status?: { phase?: string; execution?: Record<string, unknown> } }

const stamp = (reviewer: string): Record<string, unknown> => ({ decision: 'Approved', reason: `ticket by ${reviewer}`, reviewer, reviewerGroups: ['dpo'], time: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });

beforeAll(async () => {
  await installCrds();
  const fx = await operatorFixture(opNs);
  await createNamespaces(ns);
  await apply([accessPolicy(ns, 'orders-db')]);
  op = await startOperator({ ...fx, watchNamespaces: [ns], env: { GUARITA_RESYNC_PERIOD: '10m' } });
  await waitServing(op);
}, 120_000);

afterAll(async () => {
  await op?.stop();
});

describe('an approved command whose outcome was never read', () => {
  it('is status.execution.outcome Unknown, with why and no rows (not Failed)', async () => {
    const name = 'unknown-outcome';
    await apply([{
      apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name, namespace: ns },
      spec: {
        policyRef: { name: 'orders-db' }, rule: 'exports-need-dpo', requester: { username: 'agent-1', groups: ['support'], kind: 'User', issuer: FIXTURE_ISSUER, claims: { sub: 'agent-1' } }, purpose: 'customer-support',
        target: { name: 'orders-db', protocol: 'postgres' },
        command: { text: 'COPY customers TO STDOUT', preview: 'COPY customers TO STDOUT', sha256: 'c'.repeat(64) },
        podRef: { name: 'agent-pod' }, sessionId: 'session-9', expiresAt: new Date(Date.now() + 15 * 60_000).toISOString().replace(/\.\d+Z$/, 'Z'), reviews: [stamp('dana'), stamp('dave')],
      },
    }]);
    const approved = await eventually('Approved', async () => {
      const ar = await getObject<ArObj>('approvalrequest', ns, name);
      return ar.status?.phase === 'Approved' ? ar : undefined;
    });
    await adminApi().mergePatch(`/apis/guarita.io/v1alpha1/namespaces/${ns}/approvalrequests/${name}/status`, { metadata: { resourceVersion: approved.metadata.resourceVersion }, status: { phase: 'Consumed', consumedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } });
    const sc = await sidecarClient(ns);
    expect((await sc.register(op.url)).status).toBe(201);
    const error = 'the agent left (client disconnected); the server\'s outcome was not read: no answer within 30000 ms, nor within 2000 ms of a CancelRequest';
    const records = sc.next(1, { type: 'approval.consumed', approvalRequest: name, command: 'COPY customers TO STDOUT', durationMs: 32_000, result: { bytes: 0, outcomeUnknown: true, error } });
    expect((await sc.send(op.url, records)).status).toBe(200);
    const done = await eventually('execution recorded', async () => {
      const ar = await getObject<ArObj>('approvalrequest', ns, name);
      return ar.status?.execution === undefined ? undefined : ar;
    });
    expect(done.status?.execution).toMatchObject({ outcome: 'Unknown', error, bytes: 0, recordSequence: 1 });
    expect(done.status?.execution).not.toHaveProperty('rows');
  });
});
