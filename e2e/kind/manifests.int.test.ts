// The kind scenario's objects against the real apiserver of the harness: every object is accepted
// (a server-side dry run, so the AccessPolicy passes the CRD's schema and CEL rules and the Job its
// validation), in namespaces of this test's own.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { CHART_DIR } from '../../charts/guarita/tests/helm.ts';
import { kubectl } from '../harness/state.ts';
import { toYaml } from '../support/examples.ts';
import { agentJob, scenarioObjects, type ScenarioNames } from './manifests.ts';

// helm and kubectl are real processes; a loaded machine makes them slow.

const id = randomBytes(3).toString('hex');
const names: ScenarioNames = { agents: `kind-agents-${id}`, data: `kind-data-${id}` };
const admin = { user: 'admin' } as const;

beforeAll(async () => {
  expect((await kubectl(['apply', '-f', join(CHART_DIR, 'crds')], admin)).code).toBe(0);
  expect((await kubectl(['wait', '--for=condition=Established', 'crd/accesspolicies.guarita.io', '--timeout=30s'], admin)).code).toBe(0);
}, 60_000);

describe('kind scenario objects on the apiserver', () => {
  it('are all accepted', async () => {
    const objects = scenarioObjects(names);
    const namespaces = objects.filter((o) => o.kind === 'Namespace');
    expect((await kubectl(['apply', '-f', '-'], { ...admin, input: toYaml(namespaces) })).code).toBe(0);
    const rest = [...objects.filter((o) => o.kind !== 'Namespace'), agentJob(names)];
    const result = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { ...admin, input: toYaml(rest) });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'accesspolicy.guarita.io/orders-db', 'configmap/orders-seed', 'deployment.apps/orders-db', 'job.batch/support-agent',
      'secret/orders-db-credentials', 'secret/orders-db-server', 'service/orders-db', 'serviceaccount/support-agent',
    ]);
  }, 60_000);
});
