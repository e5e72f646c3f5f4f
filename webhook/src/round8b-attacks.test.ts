// Round 8b review of the round 8 fixes (a619c41), the pure half of findings C and D (the
// integration half, through kubectl and the apiserver, with findings A and B, is
// webhook/test/round8b-attacks.int.test.ts; report docs/security-model.md). Each test
// states what SHOULD happen; the "finding" tests fail on the code under review. Round 8b fixes:
// C as decided (the injector gives the proxy a limit that holds the spool; the guard refuses one
// below it), D as decided (CPU and memory are the pod author's, on the proxy and the pod alike).
import { describe, expect, it } from '@jest/globals';
import { parseQuantity } from '../../core/kube/quantity.ts';
import { decideInjection } from './inject.ts';
import type { Pod } from './kube-types.ts';
import { podViolations, type GuardConfig } from './pod-guard.ts';
import type { SidecarConfig } from './sidecar.ts';
import { examplePod, examplePolicy, OPTED_IN, TEST_INJECTOR, TEST_SIDECAR } from '../test/fixtures.ts';

const policies = [examplePolicy('accesspolicy.yaml')];
const sidecar: SidecarConfig = { ...TEST_SIDECAR, spoolSizeLimit: '256Mi', spoolMaxBytes: 255 * 1024 * 1024 };
const cfg: GuardConfig = { sidecar, allowedCsiDrivers: [] };

function injected(change: (pod: Pod) => void = () => undefined): Pod {
  const pod = examplePod();
  change(pod);
  const d = decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: { ...TEST_INJECTOR, sidecar } });
  if (d.action !== 'inject') throw new Error(d.action);
  return d.pod;
}

/** The kubelet's pod ephemeral-storage limit: the containers' and restartable init containers' limits summed (0 without one). */
function podLimit(pod: Pod): number {
  const limits = [...pod.spec.containers, ...(pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')]
    .map((c) => parseQuantity(String((c.resources as { limits?: Record<string, string> } | undefined)?.limits?.['ephemeral-storage'] ?? '0'))!);
  return limits.reduce((sum, q) => sum + Number(q.numerator / q.denominator), 0);
}

function setProxyResources(pod: Pod, resources: unknown): void {
  pod.spec.initContainers![0]!.resources = resources;
}

describe('C: the kubelet\'s pod ephemeral-storage limit is the sum of every container\'s', () => {
  it('a proxy ephemeral-storage limit that holds the spool (sizeLimit + 64Mi) is admitted; one below it is refused with the fix', () => {
    const holds = injected();
    setProxyResources(holds, { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '1Gi' } });
    expect(podViolations(holds, policies, cfg)).toEqual([]);
    const below = injected();
    setProxyResources(below, { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '300Mi' } });
    expect(podViolations(below, policies, cfg).join('\n')).toContain('guarita-proxy.resources.limits.ephemeral-storage is "300Mi", below the spool\'s sizeLimit 256Mi plus 64Mi for the proxy\'s logs (320Mi)');
  });

  it('finding: an agent ephemeral-storage limit below the spool sizeLimit gets the proxy a limit that holds the spool, and the injected pod is admitted', () => {
    const pod = injected((p) => { p.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': '1Mi' } }; });
    expect(podViolations(pod, policies, cfg)).toEqual([]);
    expect(podLimit(pod)).toBeGreaterThanOrEqual((256 + 64) * 1024 * 1024);
  });

  it('finding: the same pod with the proxy\'s limit removed (a forged "already injected" pod) is refused', () => {
    const pod = injected((p) => { p.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': '1Mi' } }; });
    setProxyResources(pod, { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });
    expect(podViolations(pod, policies, cfg).join('\n')).toContain('guarita-proxy.resources.limits.ephemeral-storage is not set');
  });
});

describe('D: pod-level resources (spec.resources) bound the proxy', () => {
  // Decided (round 8b): the proxy's memory and CPU are the pod author's business, on the proxy
  // and at the pod level alike (they bound only this pod's own proxy; the spool survives a
  // restart, answered records are written before their answers). Consistent both ways.
  it('a proxy memory limit below the injector\'s is admitted, like a pod-level one', () => {
    const pod = injected();
    setProxyResources(pod, { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '64Mi' } });
    expect(podViolations(pod, policies, cfg)).toEqual([]);
  });

  it('a pod-level memory and CPU limit below the proxy\'s own is admitted', () => {
    const pod = injected((p) => { (p.spec as Record<string, unknown>).resources = { limits: { memory: '64Mi', cpu: '50m' } }; });
    expect(podViolations(pod, policies, cfg)).toEqual([]);
  });

  it('what may still not reach the proxy: devices, hugepages and claims, with or without pod-level resources', () => {
    for (const resources of [
      { requests: { cpu: '50m', memory: '64Mi', 'nvidia.com/gpu': '1' }, limits: { memory: '256Mi', 'nvidia.com/gpu': '1' } },
      { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', 'hugepages-2Mi': '64Mi' } },
      { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' }, claims: [{ name: 'gpu' }] },
    ]) {
      const pod = injected((p) => { (p.spec as Record<string, unknown>).resources = { limits: { memory: '1Gi' } }; });
      setProxyResources(pod, resources);
      expect(podViolations(pod, policies, cfg).join('\n')).toMatch(/guarita-proxy\.resources\.(limits|requests|claims).* is set/);
    }
  });
});
