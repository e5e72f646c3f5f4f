// The API against the real apiserver: CRDs install, examples apply, invalid resources are
// rejected naming the field, ApprovalRequest fields are immutable, and kubectl explains and lists.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { kubectl } from '../e2e/harness/state.ts';
import { loadExample, toYaml, type Manifest } from '../e2e/support/examples.ts';
import { examplePolicy, invalidPolicies } from './testdata/invalid-policies.ts';

const ns = `crds-${randomBytes(4).toString('hex')}`;
const admin = { user: 'admin' } as const;

async function apply(docs: Manifest[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return kubectl(['apply', '-f', '-'], { ...admin, input: toYaml(docs) });
}

function approvalRequest(name: string): Manifest {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name, namespace: ns },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'exports-need-dpo', requester: { username: 'support-agent', groups: ['support'], kind: 'User' },
      purpose: 'customer-support', target: { name: 'orders-db', protocol: 'postgres' },
      command: { text: 'COPY customers TO STDOUT', preview: 'COPY customers TO STDOUT', sha256: 'a'.repeat(64) },
      podRef: { name: 'support-agent' }, sessionId: 's-1', expiresAt: '2030-01-01T00:00:00Z', reviews: [],
    },
  };
}

beforeAll(async () => {
  const crds = await kubectl(['apply', '-f', join(import.meta.dirname)], admin);
  expect(crds.stderr).toBe('');
  const established = await kubectl(['wait', '--for=condition=Established', 'crd/accesspolicies.guarita.io', 'crd/approvalrequests.guarita.io', '--timeout=30s'], admin);
  expect(established.code).toBe(0);
  expect((await kubectl(['create', 'namespace', ns], admin)).code).toBe(0);
});

describe('CRDs on the real apiserver', () => {
  const files = readdirSync(join(import.meta.dirname, '../examples/lgpd-orders')).filter((f) => f.endsWith('.yaml') && f !== 'namespace.yaml' && f !== 'kustomization.yaml');

  it.each(files)('applies the example %s', async (file) => {
    const result = await apply(loadExample(file, { namespace: ns }));
    expect(result).toMatchObject({ code: 0, stderr: '' });
  });

  it.each(invalidPolicies.map((c) => [c.name, c] as const))('rejects an AccessPolicy with %s, naming the field', async (_name, c) => {
    const doc = examplePolicy();
    doc.metadata = { name: `invalid-${randomBytes(3).toString('hex')}`, namespace: ns };
    c.mutate(doc);
    const result = await apply([doc]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(c.field);
  });

  it('keeps ApprovalRequest spec immutable and reviews append-only', async () => {
    expect((await apply([approvalRequest('held-export')])).code).toBe(0);
    const patch = (ops: unknown[]): Promise<{ code: number; stderr: string }> =>
      kubectl(['patch', 'approvalrequest', 'held-export', '-n', ns, '--type=json', '-p', JSON.stringify(ops)], admin);

    const rewrite = await patch([{ op: 'replace', path: '/spec/command/text', value: 'DROP TABLE customers' }]);
    expect(rewrite.code).not.toBe(0);
    expect(rewrite.stderr).toContain('spec.command: Invalid value: "object": command is immutable');

    const requester = await patch([{ op: 'replace', path: '/spec/requester/username', value: 'someone-else' }]);
    expect(requester.stderr).toContain('requester is immutable');

    expect((await patch([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason: 'ticket 1' } }])).code).toBe(0);
    const erase = await patch([{ op: 'remove', path: '/spec/reviews/0' }]);
    expect(erase.stderr).toContain('spec.reviews: Invalid value: "array": reviews are append-only');

    const badDecision = await patch([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Maybe', reason: 'x' } }]);
    expect(badDecision.stderr).toContain('spec.reviews[1].decision: Unsupported value: "Maybe"');
  });

  it('explains fields with their descriptions', async () => {
    const result = await kubectl(['explain', 'accesspolicy.spec.rules'], admin);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Ordered rules; first match decides; no match denies.');
    expect(result.stdout).toMatch(/action\s+<string> -required-/);
    const approval = await kubectl(['explain', 'approvalrequest.spec.reviews'], admin);
    expect(approval.stdout).toContain('/spec/reviews/-');
  });

  it('lists with printer columns, short names and the guarita category', async () => {
    const policies = await kubectl(['get', 'apol', '-n', ns], admin);
    expect(policies.stdout.split('\n')[0]).toMatch(/^NAME\s+TARGET\s+PROTOCOL\s+RULES\s+READY\s+SESSIONS\s+AGE$/);
    expect(policies.stdout).toMatch(/orders-db\s+orders-db\s+postgres/);
    const requests = await kubectl(['get', 'areq', '-n', ns], admin);
    expect(requests.stdout.split('\n')[0]).toMatch(/^NAME\s+REQUESTER\s+COMMAND\s+PHASE\s+AGE$/);
    expect(requests.stdout).toMatch(/held-export\s+support-agent\s+COPY customers TO STDOUT/);
    const category = await kubectl(['get', 'guarita', '-n', ns, '-o', 'name'], admin);
    expect(category.stdout).toContain('accesspolicy.guarita.io/orders-db');
    expect(category.stdout).toContain('approvalrequest.guarita.io/held-export');
  });
});
