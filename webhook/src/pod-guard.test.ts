import { describe, expect, it } from '@jest/globals';
import { decideInjection } from './inject.ts';
import type { Pod } from './kube-types.ts';
import { connectViolation, ephemeralViolations, podViolations } from './pod-guard.ts';
import { examplePod, examplePolicy, OPTED_IN, TEST_INJECTOR, TEST_SIDECAR } from '../test/fixtures.ts';

const policies = [examplePolicy('accesspolicy.yaml'), examplePolicy('accesspolicy-http.yaml')];

function injectedPod(): Pod {
  const d = decideInjection({ pod: examplePod(), namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
  if (d.action !== 'inject') throw new Error(d.action);
  return d.pod;
}

describe('pod guard', () => {
  it('accepts an injected pod: the credentials reach the genuine proxy only', () => {
    expect(podViolations(injectedPod(), policies, TEST_SIDECAR.image)).toEqual([]);
  });

  it('rejects an agent container that mounts, envFroms or references a governed Secret', () => {
    const pod = examplePod();
    pod.spec.volumes = [{ name: 'creds', secret: { secretName: 'orders-db-credentials' } }];
    pod.spec.containers[0]!.volumeMounts = [{ name: 'creds', mountPath: '/creds' }];
    pod.spec.containers[0]!.envFrom = [{ secretRef: { name: 'orders-db-credentials' } }];
    pod.spec.containers[0]!.env = [{ name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'orders-db-credentials', key: 'password' } } }];
    const v = podViolations(pod, policies, TEST_SIDECAR.image);
    expect(v).toHaveLength(3);
    expect(v[0]).toBe('container agent reads Secret orders-db-credentials (volume creds), the credentials of target orders-db (AccessPolicy orders-db); only the injected guarita-proxy container may read it: remove the mount or reference (agents reach the target through the proxy, see <TARGET>_URL)');
    expect(v[1]).toContain('(envFrom)');
    expect(v[2]).toContain('(env PGPASSWORD)');
  });

  it('rejects a look-alike proxy that mounts the credentials', () => {
    const pod = injectedPod();
    pod.spec.initContainers![0]!.env!.push({ name: 'NODE_OPTIONS', value: '--import /evil.js' });
    expect(podViolations(pod, policies, TEST_SIDECAR.image)[0]).toMatch(/^container guarita-proxy reads Secret orders-db-credentials \(volume guarita-target-orders-db\)/);
    const other = injectedPod();
    other.spec.initContainers![0]!.image = 'busybox';
    expect(podViolations(other, policies, TEST_SIDECAR.image)).toHaveLength(1);
  });

  it('rejects debug containers that target the proxy or mount its volumes', () => {
    const old = injectedPod();
    const pod = structuredClone(old);
    pod.spec.ephemeralContainers = [
      { name: 'debugger', image: 'busybox', targetContainerName: 'guarita-proxy' },
      { name: 'snoop', image: 'busybox', volumeMounts: [{ name: 'guarita-target-orders-db', mountPath: '/x' }] },
      { name: 'fine', image: 'busybox', targetContainerName: 'agent' },
    ];
    const v = ephemeralViolations(pod, old, policies);
    expect(v[0]).toBe('ephemeral container debugger targets guarita-proxy, whose files hold target credentials; target an agent container instead');
    expect(v[1]).toBe('ephemeral container snoop mounts guarita-target-orders-db, which belongs to guarita-proxy');
    expect(v.some((m) => m.includes('fine'))).toBe(false);
  });

  it('rejects exec and attach into the proxy only', () => {
    expect(connectViolation('exec', { container: 'guarita-proxy' })).toContain('exec into guarita-proxy is not allowed');
    expect(connectViolation('exec', { container: 'agent' })).toBeUndefined();
  });
});
