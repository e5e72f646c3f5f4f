// The example (examples/lgpd-orders, as `kubectl apply -k` renders it) against the real apiserver
// of the harness: every object is accepted (a server-side dry run, so the AccessPolicies pass the
// CRD's schema and CEL rules, the Job and Deployments their validation), in namespaces of this
// test's own (the example's two namespace names replaced).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { CHART_DIR } from '../../charts/guarita/tests/helm.ts';
import { binDir } from '../harness/paths.ts';
import { kubectl } from '../harness/state.ts';
import { AGENTS_NAMESPACE, DATA_NAMESPACE, kustomize } from './manifests.ts';

const id = randomBytes(3).toString('hex');
const agents = `kind-agents-${id}`;
const data = `kind-data-${id}`;
const admin = { user: 'admin' } as const;

beforeAll(async () => {
  expect((await kubectl(['apply', '-f', join(CHART_DIR, 'crds')], admin)).code).toBe(0);
  expect((await kubectl(['wait', '--for=condition=Established', 'crd/accesspolicies.guarita.io', '--timeout=30s'], admin)).code).toBe(0);
}, 60_000);

describe('the example on the apiserver', () => {
  it('is accepted whole', async () => {
    const text = (await kustomize(join(binDir(), 'kubectl'))).map((o) => stringify(o)).join('---\n')
      .replaceAll(AGENTS_NAMESPACE, agents).replaceAll(DATA_NAMESPACE, data);
    const docs = text.split('---\n');
    const namespaces = docs.filter((d) => d.startsWith('apiVersion: v1\nkind: Namespace\n'));
    expect(namespaces).toHaveLength(2);
    expect((await kubectl(['apply', '-f', '-'], { ...admin, input: namespaces.join('---\n') })).code).toBe(0);
    const rest = docs.filter((d) => !namespaces.includes(d)).join('---\n');
    const result = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { ...admin, input: rest });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    // Other targets of the agent (accesspolicy-kubernetes.yaml and its credentials...) add theirs.
    expect(result.stdout.split('\n').filter(Boolean).map((n) => n.replace(/-[a-z0-9]{10}$/, '-HASH'))).toEqual(expect.arrayContaining([
      'accesspolicy.guarita.io/customers-api', 'accesspolicy.guarita.io/orders-db',
      'configmap/customers-api-content', 'configmap/orders-db-init-HASH',
      'deployment.apps/customers-api', 'deployment.apps/orders-db', 'job.batch/support-agent', 'job.batch/support-agent-kubectl',
      'accesspolicy.guarita.io/kubernetes-api', 'secret/kubernetes-api-credentials',
      'accesspolicy.guarita.io/orders-host', 'secret/orders-host-ssh-credentials', 'job.batch/support-agent-ssh',
      'configmap/orders-host-files', 'secret/orders-host-server', 'deployment.apps/orders-host', 'service/orders-host',
      'secret/orders-db-credentials', 'secret/orders-db-server',
      'service/customers-api', 'service/orders-db', 'serviceaccount/support-agent',
    ]));
  }, 60_000);
});
