// Injection for kubernetes targets (issue 22): agent containers get KUBECONFIG (env and a
// read-only projected file: the pod annotation through the downward API, and the agent's own
// token) and the proxy's serving CA (read-only emptyDir the proxy writes); the target's
// credential is mounted into the proxy only; the pod guard still accepts exactly this pod.
import { describe, expect, it } from '@jest/globals';
import { decideInjection } from './inject.ts';
import type { Container, Pod } from './kube-types.ts';
import { podViolations, type GuardConfig } from './pod-guard.ts';
import { examplePolicy, injectedExamplePod, OPTED_IN, proxyContainer, TEST_INJECTOR, TEST_SIDECAR } from '../test/fixtures.ts';

const policies = [examplePolicy('accesspolicy.yaml'), examplePolicy('accesspolicy-kubernetes.yaml')];
const cfg: GuardConfig = { sidecar: TEST_SIDECAR, allowedCsiDrivers: [] };

const injectedPod = (): Pod => injectedExamplePod(policies);
const proxy = proxyContainer;
const agent = (pod: Pod): Container => pod.spec.containers[0] as Container;

describe('kubernetes targets', () => {
  it('gives agents KUBECONFIG and the read-only mounts it names, and the proxy the CA directory', () => {
    const pod = injectedPod();
    const env = Object.fromEntries((agent(pod).env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ KUBECONFIG: '/var/run/guarita/kubeconfig/config', KUBERNETES_API_URL: 'https://127.0.0.1:16443' });
    expect(agent(pod).volumeMounts).toEqual(expect.arrayContaining([
      { name: 'guarita-agent-kube-ca', mountPath: '/var/run/guarita/kube', readOnly: true },
      { name: 'guarita-agent-kubeconfig', mountPath: '/var/run/guarita/kubeconfig', readOnly: true },
    ]));
    expect(proxy(pod).env).toEqual(expect.arrayContaining([{ name: 'GUARITA_KUBE_CA_DIR', value: '/var/run/guarita/kube' }]));
    expect(proxy(pod).volumeMounts).toEqual(expect.arrayContaining([{ name: 'guarita-agent-kube-ca', mountPath: '/var/run/guarita/kube' }]));
  });

  it('writes a KUBECONFIG with one context per purpose, the proxy CA, the agent token file, and no cluster credential', () => {
    const pod = injectedPod();
    const config = JSON.parse(pod.metadata.annotations?.['guarita.io/kubeconfig'] ?? '{}') as Record<string, unknown>;
    expect(config).toMatchObject({
      'current-context': 'kubernetes-api-customer-support',
      clusters: [{ name: 'kubernetes-api-customer-support', cluster: { server: 'https://127.0.0.1:16443/guarita-purpose/customer-support', 'certificate-authority': '/var/run/guarita/kube/kubernetes-api/ca.crt' } }],
      users: [{ name: 'agent', user: { tokenFile: '/var/run/guarita/kubeconfig/token' } }],
      contexts: [{ name: 'kubernetes-api-customer-support', context: { cluster: 'kubernetes-api-customer-support', user: 'agent', namespace: 'lgpd-orders' } }],
    });
    const kubeconfigVolume = pod.spec.volumes?.find((v) => v.name === 'guarita-agent-kubeconfig');
    expect(kubeconfigVolume?.projected?.sources).toEqual([
      { downwardAPI: { items: [{ path: 'config', fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['guarita.io/kubeconfig']" } }] } },
      { serviceAccountToken: { path: 'token', audience: 'guarita', expirationSeconds: 3600 } },
    ]);
    // The target's credential Secret is projected into the proxy's volume, mounted by the proxy alone.
    const credentials = pod.spec.volumes?.find((v) => v.name === 'guarita-target-kubernetes-api');
    expect(JSON.stringify(credentials)).toContain('kubernetes-api-credentials');
    expect(agent(pod).volumeMounts?.some((m) => m.name === 'guarita-target-kubernetes-api')).toBe(false);
  });

  it('the pod guard accepts the injected pod, and refuses an agent that mounts the CA directory writable', () => {
    const pod = injectedPod();
    expect(podViolations(pod, policies, cfg)).toEqual([]);
    const writable = structuredClone(pod);
    const mount = agent(writable).volumeMounts?.find((m) => m.name === 'guarita-agent-kube-ca');
    if (mount !== undefined) mount.readOnly = false;
    expect(podViolations(writable, policies, cfg).join('\n')).toMatch(/mounts volume guarita-agent-kube-ca/);
  });

  it('is idempotent: injecting the injected pod again changes nothing', () => {
    const pod = injectedPod();
    const again = decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
    expect(again.action).toBe('skip');
  });
});
