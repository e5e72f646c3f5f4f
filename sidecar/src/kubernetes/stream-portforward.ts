// Port-forward over WebSocket: kubectl 1.31+ tunnels SPDY frames inside it (SPDY/3.1+portforward
// .k8s.io, a subprotocol name the ws package cannot even carry), older clients the v4 channel form.
// Either way the payload is whatever the forwarded port speaks (a database, an admin page,
// anything), which the sidecar cannot judge or mask. So after the judged handshake (the agent's
// key and offered protocols, the target's credential) the upgraded connections are joined byte for
// byte (pipe: a side that stops reading stops the other), counted each way, and the request's
// record says how much moved. A policy that must not let an agent reach a pod's ports denies
// pods/portforward (docs/kubernetes.md). Revocation cuts the tunnel.
import { request } from 'node:https';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../log.ts';
import { agentGone, UpstreamRefusal, upstreamRefusal } from './stream-relay.ts';
import type { StreamingExchange } from './streaming.ts';
import { upstreamLookup } from '../upstream-address.ts';

/** The upstream's upgraded connection, its 101 headers and what came after them. */
function upgradeUpstream(x: StreamingExchange, protocols: string[]): Promise<{ socket: Duplex; head: Buffer; accept: string; protocol: string }> {
  const url = new URL(x.target, x.upstream.origin);
  const key = x.req.headers['sec-websocket-key'];
  if (typeof key !== 'string') return Promise.reject(new UpstreamRefusal(400, 'guarita: the WebSocket upgrade has no Sec-WebSocket-Key'));
  const tls = x.upstream.tls;
  const headers: Record<string, string> = {
    host: url.host, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
    'sec-websocket-key': key, 'sec-websocket-protocol': protocols.join(', '),
  };
  if (x.upstream.token !== undefined) headers.authorization = `Bearer ${x.upstream.token}`;
  return new Promise((resolve, reject) => {
    const req = request({
      hostname: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'GET', headers, timeout: 30_000,
      // The pod's own addresses are refused here as on every upstream connection (upstream-address.ts).
      lookup: upstreamLookup,
      rejectUnauthorized: tls.rejectUnauthorized,
      ...(tls.ca === undefined ? {} : { ca: tls.ca }), ...(tls.cert === undefined ? {} : { cert: tls.cert }), ...(tls.key === undefined ? {} : { key: tls.key }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    });
    req.on('upgrade', (res, socket, head) => {
      const protocol = String(res.headers['sec-websocket-protocol'] ?? '');
      const accept = res.headers['sec-websocket-accept'];
      if (!protocols.includes(protocol) || typeof accept !== 'string') {
        socket.destroy();
        reject(new UpstreamRefusal(502, `guarita: the apiserver answered the port-forward with protocol "${protocol}", not one offered`));
        return;
      }
      resolve({ socket, head, accept, protocol });
    });
    req.on('response', (res) => void upstreamRefusal(res, x.session).then(reject));
    req.on('timeout', () => req.destroy(new Error('the apiserver did not answer the upgrade within 30s')));
    req.on('error', reject);
    req.end();
  });
}

export async function relayOpaque(x: StreamingExchange, protocols: string[]): Promise<void> {
  const up = await upgradeUpstream(x, protocols);
  const agent = x.socket;
  const started = performance.now();
  if (agentGone(agent)) {
    // The agent left while the tunnel was opened upstream: it is closed at once, and recorded so.
    up.socket.destroy();
    await x.auth.complete({ result: { bytes: 0, error: 'the agent\'s connection ended before the port-forward was established' }, masked: {}, durationMs: performance.now() - started })
      .catch((e: unknown) => x.logger.error({ err: errorMessage(e) }, 'cannot record the end of a port-forward'));
    return;
  }
  let toPod = 0;
  let fromPod = 0;
  let cut: string | undefined;
  agent.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${up.accept}\r\nSec-WebSocket-Protocol: ${up.protocol}\r\n\r\n`);
  if (up.head.length > 0) { fromPod += up.head.length; agent.write(up.head); }
  if (x.head.length > 0) { toPod += x.head.length; up.socket.write(x.head); }
  agent.on('data', (d: Buffer) => { toPod += d.length; });
  up.socket.on('data', (d: Buffer) => { fromPod += d.length; });
  agent.pipe(up.socket);
  up.socket.pipe(agent);
  const revoked = (): void => {
    cut = errorMessage(x.session.closed.reason);
    agent.destroy();
    up.socket.destroy();
  };
  x.session.closed.addEventListener('abort', revoked, { once: true });
  if (x.session.closed.aborted) revoked();
  agent.on('error', () => up.socket.destroy());
  agent.on('close', () => up.socket.destroy());
  up.socket.on('error', (e) => { if (cut === undefined) x.logger.warn({ err: errorMessage(e) }, 'apiserver port-forward failed'); });
  await new Promise<void>((resolve) => up.socket.once('close', () => resolve()));
  agent.destroy();
  x.session.closed.removeEventListener('abort', revoked);
  const sample = `port-forward (${up.protocol}): ${toPod} bytes to the pod, ${fromPod} bytes from it, WebSocket framing included (opaque: not inspected)`;
  await x.auth.complete({ result: { bytes: fromPod, sample, ...(cut === undefined ? {} : { error: cut }) }, masked: {}, durationMs: performance.now() - started })
    .catch((e: unknown) => x.logger.error({ err: errorMessage(e) }, 'cannot record the end of a port-forward'));
}
