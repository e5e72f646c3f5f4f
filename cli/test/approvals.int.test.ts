// approvals list / approve / deny against the real apiserver, as real test users with RBAC.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { kubectl, kubeconfigPath } from '../../e2e/harness/state.ts';
import { toYaml } from '../../e2e/support/examples.ts';
import { main } from '../src/main.ts';
import { fakeIo } from './fake-io.ts';

const ns = `cli-approvals-${randomBytes(4).toString('hex')}`;
const admin = { user: 'admin' } as const;

function request(name: string): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name, namespace: ns },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'exports-need-dpo', requester: { username: 'support-agent', groups: ['support'], kind: 'User' },
      purpose: 'customer-support', target: { name: 'orders-db', protocol: 'postgres' },
      command: { text: 'COPY customers TO STDOUT', preview: 'COPY customers TO STDOUT', sha256: 'b'.repeat(64) },
      podRef: { name: 'support-agent' }, sessionId: 's-1', expiresAt: '2030-01-01T00:00:00Z', reviews: [],
    },
  };
}

async function cli(user: 'dana' | 'eve', args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIo({ env: { KUBECONFIG: kubeconfigPath(user) } });
  let code: number;
  try {
    code = await main([...args, '-n', ns], io);
  } catch (err) {
    io.stderr.write(err instanceof Error ? err.message : String(err));
    code = 1;
  }
  return { code, out: io.out(), err: io.err() };
}

beforeAll(async () => {
  expect((await kubectl(['apply', '-f', join(import.meta.dirname, '../../crds')], admin)).code).toBe(0);
  expect((await kubectl(['create', 'namespace', ns], admin)).code).toBe(0);
  const rbac = [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'approver', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'dpo-approvers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approver' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
    request('export-1'), request('export-2'),
  ];
  expect((await kubectl(['apply', '-f', '-'], { ...admin, input: toYaml(rbac) })).code).toBe(0);
});

describe('guarita approvals / approve / deny', () => {
  it('lists pending requests for an approver', async () => {
    const result = await cli('dana', ['approvals', 'list', '--pending']);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^NAME\s+REQUESTER\s+PURPOSE\s+POLICY\/RULE\s+COMMAND\s+PHASE\s+AGE/);
    expect(result.out).toMatch(/export-1\s+support-agent\s+customer-support\s+orders-db\/exports-need-dpo\s+COPY customers TO STDOUT\s+Pending/);
  });

  it('approves with the same patch kubectl would send, showing what is approved first', async () => {
    const result = await cli('dana', ['approve', 'export-1', '--reason', 'ticket 4711']);
    expect(result).toMatchObject({ code: 0 });
    expect(result.err).toContain('command:   COPY customers TO STDOUT');
    const stored = JSON.parse((await kubectl(['get', 'areq', 'export-1', '-n', ns, '-o', 'json'], admin)).stdout);
    expect(stored.spec.reviews).toEqual([expect.objectContaining({ decision: 'Approved', reason: 'ticket 4711' })]);
  });

  it('denies and requires a reason', async () => {
    await expect(cli('dana', ['deny', 'export-2'])).resolves.toMatchObject({ code: 1, err: expect.stringContaining('--reason is required') });
    expect((await cli('dana', ['deny', 'export-2', '--reason', 'not justified'])).code).toBe(0);
    const stored = JSON.parse((await kubectl(['get', 'areq', 'export-2', '-n', ns, '-o', 'json'], admin)).stdout);
    expect(stored.spec.reviews).toEqual([expect.objectContaining({ decision: 'Denied', reason: 'not justified' })]);
  });

  it('tells a user without RBAC that they are not authorized', async () => {
    const result = await cli('eve', ['approve', 'export-1', '--reason', 'x']);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/reading ApprovalRequest .*export-1: not authorized: .*"eve" cannot get resource "approvalrequests"/);
  });

  it('runs as a real command with --help showing the kubectl equivalent', () => {
    const bin = join(import.meta.dirname, '../bin/guarita');
    const result = spawnSync(bin, ['approve', '--help'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`kubectl patch approvalrequest NAME -n NAMESPACE --type=json -p '[{"op":"add","path":"/spec/reviews/-"`);
  });
});
