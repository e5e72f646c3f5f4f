// Round 9b review of the upstream-address fix (round 9, A): "every upstream the sidecar connects to
// by name ... resolves through sidecar/src/upstream-address.ts". The kubernetes target's streaming
// subresources do not: exec and attach open their upstream WebSocket with `ws` (streaming.ts
// openUpstream), and port-forward with node:https (stream-portforward.ts upgradeUpstream), neither
// with upstreamLookup. So in a pod (GUARITA_POD_IPS set), an apiserver endpoint whose name
// /etc/hosts maps to the pod's own address (the pod named like it) or to loopback is connected to
// anyway, and the target's bearer token goes to whatever listens there: with tls.mode require, or a
// kubeconfig with insecure-skip-tls-verify, an agent container of the same pod.
//
// The apiserver stand-in listens on loopback and is named `localhost`, as in
// sidecar/test/upstream-address.int.test.ts: in a pod, loopback is refused exactly like the pod's
// own address (both are /etc/hosts lines answering with an address inside the pod). The same
// sidecar's HTTP pool to the same origin is refused (control).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServingIdentity } from './kubernetes/serving-cert.ts';
import { serveStreaming, type StreamingExchange } from './kubernetes/streaming.ts';
import { Pool } from './undici.ts';

// In a pod: the downward API's status.podIPs (read by upstream-address.ts at the first connection).
process.env.GUARITA_POD_IPS = '10.244.1.7';

const TOKEN = 'target-apiserver-token-round9b';

/** What the apiserver stand-in (an agent container listening inside the pod) received. */
const received: { path: string; authorization: string | undefined }[] = [];
let apiserver: HttpsServer;
let apiPort = 0;
let agentSide: Server;
let agentPort = 0;
let pending: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;

beforeAll(async () => {
  const id = await createServingIdentity('round9b');
  apiserver = createHttpsServer({ cert: id.certPem, key: id.keyPem }, (req, res) => {
    received.push({ path: req.url ?? '', authorization: req.headers.authorization });
    res.writeHead(403).end();
  });
  // An upgrade is recorded and dropped: what matters is that the credential arrived.
  apiserver.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    received.push({ path: req.url ?? '', authorization: req.headers.authorization });
    socket.destroy();
  });
  await new Promise<void>((resolve) => apiserver.listen(0, resolve));
  apiPort = (apiserver.address() as AddressInfo).port;
  agentSide = createHttpServer();
  agentSide.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => pending?.(req, socket, head));
  await new Promise<void>((resolve) => agentSide.listen(0, '127.0.0.1', resolve));
  agentPort = (agentSide.address() as AddressInfo).port;
});

afterAll(async () => {
  delete process.env.GUARITA_POD_IPS;
  await new Promise((resolve) => apiserver.close(resolve));
  await new Promise((resolve) => agentSide.close(resolve));
});

const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

/** The agent's upgrade, as the kube listener hands an allowed one to serveStreaming; resolves with what the agent got back. */
async function stream(subresource: 'exec' | 'portforward', target: string, protocol: string): Promise<string> {
  const served = new Promise<void>((resolve) => {
    pending = (req, socket, head) => {
      const x = {
        req, socket, head,
        session: { newMaskSession: () => ({}) },
        auth: { verdict: 'allow', complete: () => Promise.resolve() },
        attributes: { resourceRequest: true, verb: subresource === 'exec' ? 'create' : 'get', path: target.split('?')[0], apiGroup: '', apiVersion: 'v1', namespace: 'orders-data', resource: 'pods', subresource, name: 'orders-db-0' },
        target,
        // tls.mode require (or a kubeconfig's insecure-skip-tls-verify): the upstream is not verified.
        upstream: { origin: `https://localhost:${apiPort}`, token: TOKEN, tls: { rejectUnauthorized: false } },
        logger: quiet,
      } as unknown as StreamingExchange;
      void serveStreaming(x).finally(resolve);
    };
  });
  const client: Socket = connect(agentPort, '127.0.0.1');
  let answer = '';
  client.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
  client.write([
    `GET ${target} HTTP/1.1`, `host: 127.0.0.1:${agentPort}`, 'connection: Upgrade', 'upgrade: websocket',
    'sec-websocket-version: 13', 'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==', `sec-websocket-protocol: ${protocol}`, '', '',
  ].join('\r\n'));
  await served;
  await new Promise((resolve) => setTimeout(resolve, 100));
  client.destroy();
  return answer;
}

describe('round 9b: every upstream connection of the kubernetes target resolves through the upstream lookup', () => {
  it('control (held): the kubernetes and HTTP pools refuse localhost in a pod', async () => {
    const pool = new Pool(`https://localhost:${apiPort}`, { connect: { rejectUnauthorized: false } });
    const before = received.length;
    const err = await pool.request({ path: '/api/v1/namespaces', method: 'GET', headers: { authorization: `Bearer ${TOKEN}` } }).then(() => undefined, (e: unknown) => e);
    await pool.close();
    expect(String(err)).toContain('a loopback or unspecified address');
    expect(received.length).toBe(before);
  });

  it('finding: pods/exec opens its upstream WebSocket without the lookup, and the target\'s token reaches the listener inside the pod', async () => {
    const before = received.length;
    const answer = await stream('exec', '/api/v1/namespaces/orders-data/pods/orders-db-0/exec?command=id&stdout=true', 'v5.channel.k8s.io');
    // Expected: refused before connecting, as the pool is (no credential sent anywhere).
    expect({ reachedInsidePod: received.slice(before) }).toEqual({ reachedInsidePod: [] });
    expect(answer).toContain('a loopback or unspecified address');
  });

  it('finding: pods/portforward opens its upstream with node:https without the lookup, and the target\'s token reaches the listener inside the pod', async () => {
    const before = received.length;
    const answer = await stream('portforward', '/api/v1/namespaces/orders-data/pods/orders-db-0/portforward?ports=5432', 'v4.channel.k8s.io');
    expect({ reachedInsidePod: received.slice(before) }).toEqual({ reachedInsidePod: [] });
    expect(answer).toContain('a loopback or unspecified address');
  });
});
