// guarita policy eval --k8s: the example Kubernetes API policy judged as the sidecar judges it
// (the same decision core, the apiserver's request attributes), for policy CI.
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { fakeIo } from '../../test/fake-io.ts';
import { run } from './policy.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const POLICY = join(ROOT, 'examples/lgpd-orders/accesspolicy-kubernetes.yaml');
const WHO = ['--subject', 'system:serviceaccount:lgpd-orders:support-agent', '--purpose', 'customer-support'];

async function evalK8s(spec: string, extra: string[] = []): Promise<{ code: number; decision: Record<string, unknown>; stderr: string }> {
  const io = fakeIo({ stdin: '' });
  const code = await run(['eval', '--policy', POLICY, '--k8s', spec, ...WHO, ...extra], io);
  const out = io.out().trim();
  return { code, decision: out === '' ? {} : JSON.parse(out) as Record<string, unknown>, stderr: io.err() };
}

describe('guarita policy eval --k8s (examples/lgpd-orders/accesspolicy-kubernetes.yaml)', () => {
  it.each([
    ['get pods -n orders-data', 'allow', 'troubleshoot'],
    ['watch pods -n lgpd-orders', 'allow', 'troubleshoot'],
    ['get pods/log -n orders-data orders-db-7c9d8-x2x', 'allow', 'troubleshoot'],
    ['list deployments.apps -n orders-data', 'allow', 'troubleshoot'],
    ['get secrets -n orders-data orders-db-credentials', 'deny', 'no-secrets'],
    ['list secrets -n lgpd-orders', 'deny', 'no-secrets'],
    ['create pods/exec -n orders-data orders-db-7c9d8-x2x', 'requireApproval', 'exec-orders-db-needs-dpo'],
    ['get pods/exec -n orders-data orders-db-7c9d8-x2x', 'requireApproval', 'exec-orders-db-needs-dpo'],
    ['delete pods -n orders-data orders-db-7c9d8-x2x', 'deny', 'no-deletes'],
    ['deletecollection pods -n orders-data', 'deny', 'no-deletes'],
    ['get --raw /version', 'allow', 'discovery'],
    ['get --raw /apis/apps/v1', 'allow', 'discovery'],
  ] as const)('%s → %s (%s)', async (spec, decision, rule) => {
    const r = await evalK8s(spec);
    expect(r.code).toBe(0);
    expect(r.decision).toMatchObject({ decision, rule });
  });

  it('denies what no rule names: another namespace, another resource, an unknown group, a list across namespaces', async () => {
    for (const spec of ['get pods -n kube-system', 'get configmaps -n orders-data', 'list things.nope.example.com -n orders-data', 'list pods']) {
      const r = await evalK8s(spec);
      expect(r.decision).toMatchObject({ decision: 'deny', rule: null, code: 'NoMatchingRule' });
    }
  });

  it('names the request in the reason without the object name', async () => {
    const r = await evalK8s('delete pods -n orders-data customer-59083016633');
    expect(String(r.decision.reason)).toContain('"kubectl delete pods -n orders-data" is denied by rule "no-deletes"');
    expect(String(r.decision.reason)).not.toContain('59083016633');
  });

  it('checks --expect, and refuses a request it cannot read with the form to use', async () => {
    expect((await evalK8s('delete pods -n orders-data x', ['--expect', 'deny'])).code).toBe(0);
    expect((await evalK8s('get pods -n orders-data', ['--expect', 'deny'])).code).toBe(1);
    const bad = await evalK8s('fetch pods');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--k8s: "fetch" is not a request verb/);
    const two = await evalK8s('get pods a b');
    expect(two.stderr).toMatch(/more than one name/);
  });
});
