// Round 9, A (sidecar half): the proxy never connects upstream to its own pod. In a pod, the
// kubelet's /etc/hosts maps the pod's hostname to the pod IP; a target named like it reached an
// agent container listening there, with the target's credentials. The real sidecar process with
// GUARITA_POD_IPS (the downward API's status.podIPs) holding the address its HTTP upstream's name
// resolves to is refused with the message; the same sidecar and upstream without the variable (a
// process outside a pod) work. The upstream is on loopback here, so `localhost` stands for the pod's
// hostname (both are /etc/hosts lines answering with an address of the pod).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { agentRequest, httpPolicy, mountCredentials, NO_OPERATOR, sidecarFixture, startRecordingUpstream, startSidecarProcess, type RecordingUpstream, type SidecarProcess } from './support.ts';

jest.setTimeout(120_000);

const id = suffix();
const PURPOSE = 'customer-support';
let upstream: RecordingUpstream;
let token: string;
const sidecars: SidecarProcess[] = [];

/** A namespace with an HTTP AccessPolicy whose endpoint names the upstream `localhost`, and its sidecar with `env`. */
async function sidecarWith(name: string, env: Record<string, string>): Promise<{ sidecar: SidecarProcess; url: string }> {
  const ns = `sc-own-${name}-${id}`;
  const policy = 'customers-api';
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const [port = 0] = await freePorts(1);
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${policy}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } },
    httpPolicy(ns, policy, { endpoint: `http://localhost:${upstream.port}`, issuer: requireIdp().issuer, listenPort: port }),
  ]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, policy, { token: 'upstream-service-token' });
  const sidecar = await startSidecarProcess(fx, { targets: [{ policy, target: policy, protocol: 'http', listenPort: port }], operatorUrl: NO_OPERATOR, env });
  sidecars.push(sidecar);
  return { sidecar, url: `${sidecar.url(policy)}/customers/1` };
}

beforeAll(async () => {
  await installCrds();
  upstream = await startRecordingUpstream();
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
}, 60_000);

afterAll(async () => {
  for (const s of sidecars) await s.stop();
  await upstream?.close();
});

describe('the proxy never connects upstream to its own pod', () => {
  it('refuses an upstream whose name resolves to one of GUARITA_POD_IPS, naming the host, the address and /etc/hosts', async () => {
    const { url } = await sidecarWith('own', { GUARITA_POD_IPS: '127.0.0.1' });
    const before = upstream.received.length;
    const res = await agentRequest(url, { token, purpose: PURPOSE });
    expect(res.status).toBe(502);
    expect(res.text).toContain('guarita: localhost resolves to 127.0.0.1, this pod\'s own address: the kubelet\'s /etc/hosts');
    // Nothing reached the upstream: the credential headers were never sent.
    expect(upstream.received.length).toBe(before);
  });

  it('refuses loopback in a pod (GUARITA_POD_IPS set to another address)', async () => {
    const { url } = await sidecarWith('loop', { GUARITA_POD_IPS: '192.0.2.10,2001:db8::10' });
    const before = upstream.received.length;
    const res = await agentRequest(url, { token, purpose: PURPOSE });
    expect(res.status).toBe(502);
    expect(res.text).toMatch(/guarita: localhost resolves to (127\.0\.0\.1|::1), a loopback or unspecified address \(localhost in \/etc\/hosts/);
    expect(upstream.received.length).toBe(before);
  });

  it('connects to the same upstream outside a pod (no GUARITA_POD_IPS)', async () => {
    const { url } = await sidecarWith('host', {});
    const res = await agentRequest(url, { token, purpose: PURPOSE });
    expect(res.status).toBe(200);
    expect(upstream.received.at(-1)?.headers.authorization).toBe('Bearer upstream-service-token');
  });

  it('does not start with a GUARITA_POD_IPS that is not a list of addresses', async () => {
    const ns = `sc-own-bad-${id}`;
    await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
    const fx = await sidecarFixture(ns);
    const [port = 0] = await freePorts(1);
    const sidecar = await startSidecarProcess(fx, { targets: [{ policy: 'p', target: 'p', protocol: 'http', listenPort: port }], operatorUrl: NO_OPERATOR, env: { GUARITA_POD_IPS: 'support-agent-0' }, waitReady: false });
    sidecars.push(sidecar);
    const log = await eventually('the sidecar to refuse its configuration', () => Promise.resolve(sidecar.proc.exit === undefined ? undefined : sidecar.log(50)));
    expect(log).toContain('GUARITA_POD_IPS: must list the pod\'s IP addresses');
  });
});
