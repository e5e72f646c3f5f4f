// What the image runs is the JavaScript tsc emits (tsconfig.build.json → dist/), not the .ts
// sources the other tests start. This test builds it and runs the built sidecar and operator on the
// harness: a request through the sidecar comes back masked, and its record reaches the operator,
// whose export verifies with the key the sidecar registered. A module the build leaves out, an
// import the emit rewrites wrongly, or a file read relative to the sources fails here.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { importPublicKey, verifyRecords, type SessionEvent, type SignedRecord } from '../../core/recording/index.ts';
import { buildProduction, builtEntry } from '../../e2e/harness/build.ts';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import {
  apply, call, eventually, grantSessionReaders, installCrds, operatorFixture, parseJsonl, startOperator, suffix, userToken, waitServing,
  type OperatorProcess,
} from '../../operator/test/support.ts';
import { agentRequest, httpPolicy, mountCredentials, RAW_PERSONAL, sidecarFixture, startSidecarProcess, startUpstream, type SidecarProcess, type Upstream } from './support.ts';

jest.setTimeout(240_000);

const id = suffix();
const ns = `sc-build-${id}`;
const POLICY = 'customers-api';

let upstream: Upstream;
let op: OperatorProcess;
let sidecar: SidecarProcess;

type KeyLine = { type: 'key'; chainId: string; keyId: string; publicJwk: Record<string, unknown> };

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
    const lines = await eventually('the record in the operator\'s export', async () => {
      const exp = await call(op.url, 'GET', `/v1/namespaces/${ns}/export`, userToken('audrey'));
      if (exp.status !== 200) return undefined;
      const parsed = parseJsonl<SignedRecord<SessionEvent> | KeyLine>(exp.text);
      return parsed.some((l) => l.type === 'command' && l.command?.includes('marker=built') === true) ? parsed : undefined;
    }, 60_000, 250);
    const key = lines.find((l): l is KeyLine => l.type === 'key' && l.chainId === chainId);
    expect(key).toBeDefined();
    const records = lines.filter((l): l is SignedRecord<SessionEvent> => l.type !== 'key' && l.chainId === chainId);
    const pub = importPublicKey(key!.publicJwk);
    expect(verifyRecords(records, (kid) => (kid === key!.keyId ? pub : undefined))).toMatchObject({ ok: true, count: records.length });
  });
});
