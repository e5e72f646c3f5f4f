// Fail-closed behaviour of the sidecar wired in-process (the same startSidecar main.ts runs) on
// the harness apiserver and IdP, with a spool volume that can be made to fail: recording is not
// optional, so a request whose record cannot be written fails, and the sidecar recovers when the
// volume does.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { startSidecar, type RunningSidecar } from '../src/sidecar.ts';
import { agentRequest, httpPolicy, mountCredentials, NO_OPERATOR, sidecarEnv, sidecarFixture, startUpstream, type Upstream } from './support.ts';

jest.setTimeout(90_000);

const ns = `sc-fail-${suffix()}`;
const POLICY = 'customers-api';
const PURPOSE = 'customer-support';
let upstream: Upstream;
let sidecar: RunningSidecar;
let token: string;
let listenPort: number;
const volume = { failing: false };

beforeAll(async () => {
  await installCrds();
  upstream = await startUpstream();
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
  const ports = await freePorts(2);
  listenPort = ports[0] ?? 0;
  const adminPort = ports[1] ?? 0;
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } },
    httpPolicy(ns, POLICY, { endpoint: upstream.url, issuer: requireIdp().issuer, listenPort }),
  ]);
  const config = loadConfig(sidecarEnv(fx, { targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }], operatorUrl: NO_OPERATOR }, adminPort));
  sidecar = await startSidecar(config, silentLogger(), { spoolFaults: { beforeWrite: () => { if (volume.failing) throw new Error('ENOSPC: no space left on device'); } } });
  await sidecar.ready;
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
});

afterAll(async () => {
  await sidecar?.shutdown('test over');
  await upstream?.close();
});

const url = (path: string): string => `http://127.0.0.1:${listenPort}${path}`;

describe('a spool that cannot be written', () => {
  it('fails the request whose record cannot be written: the client never gets a complete answer', async () => {
    expect((await agentRequest(url('/customers/1'), { token, purpose: PURPOSE })).status).toBe(200);
    volume.failing = true;
    const before = upstream.seen.length;
    const outcome = await agentRequest(url('/customers'), { token, purpose: PURPOSE }).then((r) => r.status, (err: unknown) => (err instanceof Error ? err.message : String(err)));
    // The upstream answered, but the end of the response was held until the record was durable; it never was.
    expect(upstream.seen.length).toBe(before + 1);
    expect(outcome).not.toBe(200);
    expect(await sidecar.metrics.registry.getSingleMetricAsString('guarita_sidecar_spool_failures_total')).toMatch(/guarita_sidecar_spool_failures_total [1-9]/);
  });

  it('refuses further requests with 503 naming the spool, without reaching the upstream', async () => {
    const before = upstream.seen.length;
    const res = await agentRequest(url('/customers/2'), { token, purpose: PURPOSE });
    expect(res.status).toBe(503);
    expect(res.json().message).toMatch(/spool cannot be written.*ENOSPC/);
    const denied = await agentRequest(url('/customers/2'), { token, purpose: PURPOSE, method: 'DELETE' });
    expect(denied.status).toBe(503);
    expect(upstream.seen.length).toBe(before);
  });

  it('recovers once the volume takes writes again, continuing the same chain', async () => {
    const seq = sidecar.spool.position.seq;
    volume.failing = false;
    await eventually('requests allowed again', async () => ((await agentRequest(url('/customers/2'), { token, purpose: PURPOSE })).status === 200 ? true : undefined), 10_000, 200);
    expect(sidecar.spool.position.seq).toBeGreaterThan(seq);
  });
});
