// Issue 18, item 14, on the PostgreSQL listener (sidecar/src/approvals.ts serves both protocols):
// N concurrent psql retries of a just-approved COPY through the real sidecar, with approvals
// decided by the DPO with kubectl through the real webhook and operator. Exactly one retry runs;
// every other one is answered like a new held command, naming one new ApprovalRequest.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { k } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(120_000);

let s: PgScenario;
let support: string;

interface Ar { metadata: { name: string }; spec: { command: { text: string } }; status?: { phase?: string } }

async function requests(): Promise<Ar[]> {
  return (JSON.parse(await k(['get', 'approvalrequests', '-n', s.namespace, '-o', 'json'])) as { items: Ar[] }).items;
}

async function phase(name: string, want: string): Promise<void> {
  await eventually(`${name} ${want}`, async () => ((await requests()).find((r) => r.metadata.name === name)?.status?.phase === want ? true : undefined), 20_000, 100);
}

beforeAll(async () => {
  s = await startPgScenario({ operator: true, webhook: true, approvalWait: '3s' });
  await k(['apply', '-f', '-'], 'admin', JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'approver', namespace: s.namespace }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'dpo-approvers', namespace: s.namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approver' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
    ],
  }));
  support = await s.token('support-agent');
}, 180_000);

afterAll(async () => {
  await s?.stop();
}, 60_000);

describe('concurrent retries of an approved COPY (psql)', () => {
  it.each([2, 4, 16])('%i retries: one runs, every other is held on one new ApprovalRequest', async (n) => {
    const sql = `COPY (SELECT id, status FROM orders WHERE id <= ${n}) TO STDOUT`;
    const held = await s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    const name = /ApprovalRequest (\S+?)[\s,:;]/.exec(held.stderr)?.[1];
    if (name === undefined) throw new Error(`not held: ${held.stderr}`);
    expect(held.code).not.toBe(0);
    await k(['patch', 'approvalrequest', name, '-n', s.namespace, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason: `concurrency ${n}` } }])], 'dana');
    await phase(name, 'Approved');

    const runs = await Promise.all(Array.from({ length: n }, () => s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 60_000 })));
    const ran = runs.filter((r) => r.code === 0);
    expect(ran).toHaveLength(1);
    expect(ran[0]?.stdout.trim().split('\n')).toHaveLength(n);
    const others = runs.filter((r) => r.code !== 0);
    for (const r of others) {
      expect(r.stderr).toMatch(/ERROR: .*held for approval: ApprovalRequest/);
      expect(r.stderr).not.toMatch(/could not be obtained|kept changing/);
    }
    const next = new Set(others.map((r) => /ERROR: .*ApprovalRequest (\S+) awaits/.exec(r.stderr)?.[1]));
    expect(next.size).toBe(1);
    expect([...next][0]).not.toBe(name);
    await phase(name, 'Consumed');
  });
});
