// Injection for ssh targets (issue 23): agent containers get <NAME>_URL and <NAME>_SSH_CONFIG and
// mount, read-only, the directory where the proxy publishes its host key (known_hosts, ssh_config);
// the target's key and known_hosts are mounted into the proxy only; the pod guard accepts the pod.
import { describe, expect, it } from '@jest/globals';
import type { Container, Pod } from './kube-types.ts';
import { podViolations, type GuardConfig } from './pod-guard.ts';
import { examplePolicy, injectedExamplePod, proxyContainer, TEST_SIDECAR } from '../test/fixtures.ts';

const policies = [examplePolicy('accesspolicy.yaml'), examplePolicy('accesspolicy-ssh.yaml')];
const cfg: GuardConfig = { sidecar: TEST_SIDECAR, allowedCsiDrivers: [] };

const injectedPod = (): Pod => injectedExamplePod(policies);
const proxy = proxyContainer;
const agent = (pod: Pod): Container => pod.spec.containers[0] as Container;

describe('ssh targets', () => {
  it('gives agents the endpoint and the ssh_config, and a read-only mount of the published host key', () => {
    const pod = injectedPod();
    const env = Object.fromEntries((agent(pod).env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ ORDERS_HOST_URL: 'ssh://127.0.0.1:12222', ORDERS_HOST_SSH_CONFIG: '/var/run/guarita/ssh/orders-host/ssh_config' });
    expect(agent(pod).volumeMounts).toEqual(expect.arrayContaining([{ name: 'guarita-agent-ssh', mountPath: '/var/run/guarita/ssh', readOnly: true }]));
    expect(proxy(pod).env).toEqual(expect.arrayContaining([{ name: 'GUARITA_SSH_DIR', value: '/var/run/guarita/ssh' }]));
    expect(proxy(pod).volumeMounts).toEqual(expect.arrayContaining([{ name: 'guarita-agent-ssh', mountPath: '/var/run/guarita/ssh' }]));
    expect(pod.spec.volumes).toEqual(expect.arrayContaining([{ name: 'guarita-agent-ssh', emptyDir: {} }]));
  });

  it('mounts the upstream key and known_hosts into the proxy only', () => {
    const pod = injectedPod();
    const secretVolumes = (pod.spec.volumes ?? []).filter((v) => JSON.stringify(v).includes('orders-host-ssh-credentials')).map((v) => v.name);
    expect(secretVolumes).toEqual(['guarita-target-orders-host']);
    expect(JSON.stringify(agent(pod))).not.toContain('guarita-target-orders-host');
    expect(proxy(pod).volumeMounts).toEqual(expect.arrayContaining([{ name: 'guarita-target-orders-host', mountPath: '/var/run/guarita/targets/orders-host', readOnly: true }]));
  });

  it('the pod guard accepts the injected pod, and refuses an agent that mounts the host-key directory writable', () => {
    const pod = injectedPod();
    expect(podViolations(pod, policies, cfg)).toEqual([]);
    const writable = injectedPod();
    writable.spec.containers[0]?.volumeMounts?.forEach((m) => { if (m.name === 'guarita-agent-ssh') delete m.readOnly; });
    expect(podViolations(writable, policies, cfg).join('\n')).toMatch(/mounts volume guarita-agent-ssh/);
  });
});
