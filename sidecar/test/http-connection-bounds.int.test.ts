// Clients that hold the HTTP listener without finishing a request: a body (or head) dribbled a byte
// at a time, and a flood of idle connections. Both are bounded (GUARITA_HTTP_REQUEST_TIMEOUT,
// GUARITA_HTTP_MAX_CONNECTIONS) while well-behaved agents keep being served. The sidecar runs
// in-process (the same startSidecar main.ts runs) on the harness apiserver and IdP, with raw
// sockets as the misbehaving agents.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, type Socket } from 'node:net';
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

const ns = `sc-bounds-${suffix()}`;
const POLICY = 'customers-api';
const PURPOSE = 'customer-support';
const MAX_CONNECTIONS = 8;
let upstream: Upstream;
let sidecar: RunningSidecar;
let token: string;
let listenPort: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  await installCrds();
  upstream = await startUpstream();
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const ports = await freePorts(2);
  listenPort = ports[0] ?? 0;
  const adminPort = ports[1] ?? 0;
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } },
    httpPolicy(ns, POLICY, { endpoint: upstream.url, issuer: requireIdp().issuer, listenPort }),
  ]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
  const config = loadConfig(sidecarEnv(fx, {
    targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }], operatorUrl: NO_OPERATOR,
    env: { GUARITA_HTTP_REQUEST_TIMEOUT: '3s', GUARITA_HTTP_MAX_CONNECTIONS: String(MAX_CONNECTIONS) },
  }, adminPort));
  sidecar = await startSidecar(config, silentLogger());
  await sidecar.ready;
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await sidecar?.shutdown('test over');
  await upstream?.close();
});

const url = (path: string): string => `http://127.0.0.1:${listenPort}${path}`;

/** A raw connection to the listener, collecting what it answers until it closes. */
function raw(): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(listenPort, '127.0.0.1');
    sockets.push(socket);
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => { text += d; });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', () => undefined);
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

describe('a request that never finishes arriving', () => {
  it('a body dribbled a byte at a time gets 408 and its connection closes; the upstream never sees it', async () => {
    const before = upstream.seen.length;
    const c = await raw();
    c.socket.write(`POST /customers HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\nx-guarita-purpose: ${PURPOSE}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{`);
    const drip = setInterval(() => { if (!c.socket.destroyed) c.socket.write(' '); }, 200);
    try {
      await c.closed;
    } finally {
      clearInterval(drip);
    }
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(upstream.seen.length).toBe(before);
  });

  it('a head dribbled a byte at a time is cut too', async () => {
    const c = await raw();
    const head = 'GET /customers/1 HTTP/1.1\r\nhost: x\r\nx-padding: ';
    c.socket.write(head);
    const drip = setInterval(() => { if (!c.socket.destroyed) c.socket.write('a'); }, 200);
    try {
      await c.closed;
    } finally {
      clearInterval(drip);
    }
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 |^$/);
  });
});

describe('a flood of connections', () => {
  it(`beyond ${MAX_CONNECTIONS} open connections new ones are closed at once, the open ones are served, and room frees up when they close`, async () => {
    // Idle connections are themselves cut after the request timeout (Node answers 408): the whole
    // flood is played well within those 3 s.
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => raw()));
    // The listener now holds its maximum: one more is closed without an answer.
    const extra = await raw();
    await extra.closed;
    expect(extra.received()).toBe('');
    // A held connection still gets its request served.
    const first = held[0];
    if (first === undefined) throw new Error('no connection held');
    first.socket.write(`GET /customers/1 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\nx-guarita-purpose: ${PURPOSE}\r\nconnection: close\r\n\r\n`);
    await first.closed;
    expect(first.received()).toMatch(/^HTTP\/1\.1 200 /);
    for (const h of held) h.socket.destroy();
    await eventually('room for agents again', async () => ((await agentRequest(url('/customers/1'), { token, purpose: PURPOSE })).status === 200 ? true : undefined), 10_000, 100);
  });
});
