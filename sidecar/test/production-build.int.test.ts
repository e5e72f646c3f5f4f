// What the image runs is the JavaScript tsc emits (tsconfig.build.json → dist/), not the .ts
// sources the other tests start. This test builds it and runs the built sidecar and operator on the
// harness: a request through the sidecar comes back masked, and its record reaches the operator,
// whose export verifies with the key the sidecar registered. A module the build leaves out, an
// import the emit rewrites wrongly, or a file read relative to the sources fails here.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { buildProduction, builtEntry } from '../../e2e/harness/build.ts';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply, grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import {
  agentRequest, fetchExport, httpPolicy, mountCredentials, RAW_PERSONAL, sidecarFixture, startSidecarProcess, startUpstream, verifyExportedChain,
  type SidecarProcess, type Upstream,
} from './support.ts';

jest.setTimeout(240_000);

const id = suffix();
const ns = `sc-build-${id}`;
const POLICY = 'customers-api';

let upstream: Upstream;
let op: OperatorProcess;
let sidecar: SidecarProcess;

beforeAll(async () => {
  await buildProduction();
  await installCrds();
  upstream = await startUpstream();
  const opFx = await operatorFixture(`sc-buildop-${id}`);
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  await grantSessionReaders(ns, { kind: 'User', name: 'audrey' });
  op = await startOperator({ ...opFx, watchNamespaces: [ns], entry: builtEntry('operator') });
  await waitServing(op);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
  const [listenPort = 0] = await freePorts(1);
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } },
    httpPolicy(ns, POLICY, { endpoint: upstream.url, issuer: requireIdp().issuer, listenPort }),
  ]);
  sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }], operatorUrl: op.url, entry: builtEntry('sidecar'),
  });
}, 240_000);

afterAll(async () => {
  await sidecar?.stop();
  await op?.stop();
  await upstream?.close();
});

describe('the production build (what the image runs)', () => {
  it('emits every entry point the image runs', () => {
    for (const component of ['sidecar', 'operator', 'webhook', 'cli'] as const) expect(existsSync(builtEntry(component))).toBe(true);
  });

  it('serves a masked answer and delivers a record the operator\'s export verifies', async () => {
    const token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
    const res = await agentRequest(`${sidecar.url(POLICY)}/customers/1?marker=built`, { token, purpose: 'customer-support' });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual(expect.objectContaining({ id: 1 }));
    for (const raw of RAW_PERSONAL) expect(res.text).not.toContain(raw);
    expect(upstream.seen.at(-1)?.headers.authorization).toBe('Bearer upstream-service-token');

    const chainId = String((await sidecar.readyz()).body.chainId);
    const exp = await eventually('the record in the operator\'s export', async () => {
      const got = await fetchExport(op.url, ns).catch(() => undefined);
      return got?.records.some((r) => r.type === 'command' && r.command?.includes('marker=built') === true) === true ? got : undefined;
    }, 60_000, 250);
    const { verdict, chain } = verifyExportedChain(exp, chainId);
    expect(verdict).toMatchObject({ ok: true, count: chain.length });
  });
});
