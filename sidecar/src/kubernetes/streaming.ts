// exec, attach and port-forward (pods/exec, pods/attach, pods/portforward): kubectl's WebSocket
// streaming protocols, relayed message by message to the apiserver with the target's own
// credential. The listener judges the request (the decision, approvals and refusals are its rules)
// and hands the allowed ones here. exec and attach speak the channel protocol
// (v5.channel.k8s.io, v4.channel.k8s.io): stdout, stderr and the error channel are masked before
// the agent sees them, and stdin, stdout, stderr and resizes are recorded as timed 'stream' records
// (stream-exec.ts). Port-forward carries bytes nobody can judge: relayed opaque, counted each way,
// recorded as the session's outcome (stream-portforward.ts); policies allow or deny it as a whole.
//
// SPDY (kubectl before 1.30, or with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) is refused: it would
// need a SPDY/3.1 framer with its zlib header dictionary, for which there is no maintained Node
// library; every supported kubectl speaks WebSocket first.
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import type { KubernetesAttributes } from '../../../core/policy/kubernetes-request.ts';
import type { Authorization, Session } from '../enforcement.ts';
import { errorMessage, type Logger } from '../log.ts';
import { statusOnSocket } from './status.ts';
import { relayChannels } from './stream-exec.ts';
import { relayOpaque } from './stream-portforward.ts';
import { agentGone, UpstreamRefusal, upstreamRefusal } from './stream-relay.ts';
import type { KubeUpstream } from './upstream.ts';
import { upstreamLookup } from '../upstream-address.ts';

/** Subresources that switch protocols to a stream of frames. */
export const STREAMING_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

/** The channel protocols whose frames the sidecar reads (stdin 0, stdout 1, stderr 2, error 3, resize 4; v5 adds close 255). */
export const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
/** Port-forward over WebSocket: kubectl 1.31+ tunnels SPDY frames in it; older clients the v4 channel form. Relayed opaque. */
export const PORT_FORWARD_PROTOCOLS = ['SPDY/3.1+portforward.k8s.io', 'v4.channel.k8s.io', 'portforward.k8s.io'] as const;

export interface StreamingExchange {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  session: Session;
  auth: Extract<Authorization, { verdict: 'allow' }>;
  attributes: KubernetesAttributes;
  /** The normalized target to request upstream. */
  target: string;
  upstream: KubeUpstream;
  logger: Logger;
  /** The most characters of one exec recorded as frames. */
  recordMaxChars?: number;
}

// ws's own Sec-WebSocket-Protocol parser (the package does not export it): the agent's header is
// read by the rules ws will apply to it when it completes the handshake, so a header ws would turn
// down is refused before anything is opened upstream.
const require = createRequire(import.meta.url);
const subprotocol = require(join(dirname(require.resolve('ws')), 'lib', 'subprotocol.js')) as { parse: (header: string) => Set<string> };

/** How long ws may take to complete an agent's handshake once the upstream is open (it is synchronous: a backstop). */
const AGENT_HANDSHAKE_MS = 10_000;

/** The subprotocol the apiserver chose for an agent's request: the agent is answered with the same one. */
const chosenFor = new WeakMap<IncomingMessage, string>();
/** The exchanges waiting for ws to complete their agent's handshake, told when ws turns it down instead. */
const handshakeRefused = new WeakMap<IncomingMessage, (err: Error) => void>();
const agentServer = new WebSocketServer({
  noServer: true, maxPayload: 16 * 1024 * 1024, perMessageDeflate: false,
  handleProtocols: (_offered, req) => chosenFor.get(req) ?? false,
});
// With a listener, ws leaves the answer to a handshake it refuses to us (serveStreaming records it
// and closes the upstream it already opened); without one it would answer and forget the request.
agentServer.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) => {
  const refused = handshakeRefused.get(req);
  if (refused === undefined) socket.destroy();
  else refused(err);
});

/** The agent's side of the exchange cannot become a WebSocket (its handshake, or its connection, ended). */
class AgentHandshakeFailed extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

const AGENT_GONE = 'guarita: the agent\'s connection ended before its WebSocket handshake completed';

// RFC 6455 §4.1-4.2 as ws checks it (websocket-server.js handleUpgrade): the key is 16 bytes in base64.
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;

/**
 * Why ws would turn the agent's handshake down, checked before anything is opened upstream: an
 * exec opened upstream runs in the container whether or not the agent's side then becomes a
 * WebSocket.
 */
function handshakeProblem(req: IncomingMessage, what: string, protocols: string[] | undefined): { code: number; message: string } | undefined {
  if (req.method !== 'GET') return { code: 405, message: `guarita: ${what}: a WebSocket upgrade is a GET (RFC 6455), not ${req.method ?? 'no method'}` };
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !WEBSOCKET_KEY.test(key)) return { code: 400, message: `guarita: ${what}: the WebSocket upgrade has no valid Sec-WebSocket-Key (16 bytes in base64)` };
  const version = Number(req.headers['sec-websocket-version']);
  if (version !== 13 && version !== 8) return { code: 400, message: `guarita: ${what}: Sec-WebSocket-Version must be 13` };
  if (protocols === undefined) return { code: 400, message: `guarita: ${what}: the Sec-WebSocket-Protocol header is not a list of protocol names (RFC 6455 §4.1)` };
  return undefined;
}

/**
 * The protocols the agent offers. exec and attach complete their handshake through ws, so their
 * header is read as ws reads it (undefined when ws would refuse it); port-forward's handshake is the
 * sidecar's own (relayOpaque) and its protocol name, SPDY/3.1+portforward.k8s.io, is one ws's parser
 * refuses (a '/' is no token character), so it is split on commas.
 */
function offered(req: IncomingMessage, viaWs: boolean): string[] | undefined {
  const header = req.headers['sec-websocket-protocol'];
  if (header === undefined) return [];
  if (!viaWs) return header.split(',').map((p) => p.trim()).filter((p) => p !== '');
  try {
    return [...subprotocol.parse(header)];
  } catch {
    return undefined;
  }
}

/**
 * What the record of a stream refused or ended before it was relayed states: the status only when
 * the agent is there to get it (a gone agent gets nothing), and `outcomeUnknown` for an exec opened
 * upstream (`opened`): the command started in the container, and closing its stream does not stop it.
 */
export function refusedResult(o: { code: number; message: string; agentThere: boolean; execOpened: boolean }): { status?: number; bytes: number; error: string; outcomeUnknown?: true } {
  const error = o.execOpened ? `${o.message}; the exec had been opened upstream, so the command may have started in the container, and how it ended is unknown` : o.message;
  return { ...(o.agentThere ? { status: o.code } : {}), bytes: 0, error, ...(o.execOpened ? { outcomeUnknown: true as const } : {}) };
}

async function refuse(x: StreamingExchange, code: number, message: string, opened = false): Promise<void> {
  const result = refusedResult({ code, message, agentThere: !agentGone(x.socket), execOpened: opened && x.attributes.subresource === 'exec' });
  await x.auth.complete({ result, masked: {}, durationMs: 0 }).catch((err: unknown) => x.logger.error({ err: errorMessage(err) }, 'cannot record a refused stream'));
  x.socket.end(statusOnSocket(code, message));
}

/** exec and attach complete the agent's handshake through ws; port-forward answers it itself (relayOpaque). */
function viaWs(x: StreamingExchange): boolean {
  return x.attributes.subresource !== 'portforward';
}

/** Why the upgrade is refused before anything goes upstream, or the protocols to offer the apiserver. */
function check(x: StreamingExchange): { code: number; message: string } | { protocols: string[] } {
  const what = `${x.attributes.resource}/${x.attributes.subresource}`;
  // Checked first: kubectl retries a refused WebSocket upgrade with SPDY, and must get the same answer.
  if (x.attributes.subresource === 'exec' && tarCreate(x.target)) {
    return { code: 403, message: `guarita: ${what}: tar writing an archive to stdout (kubectl cp from the pod) is binary output the sidecar cannot mask, so it is refused; read files as text (kubectl exec POD -- cat FILE), which is masked. Copying into the pod (kubectl cp LOCAL POD:PATH) is allowed` };
  }
  const upgrade = String(x.req.headers.upgrade ?? '').toLowerCase();
  if (upgrade !== 'websocket') {
    return { code: 400, message: `guarita: ${what} over ${upgrade === '' ? 'this upgrade' : upgrade.toUpperCase()} is not supported by the sidecar; it relays the WebSocket protocols kubectl 1.30+ uses by default (unset KUBECTL_REMOTE_COMMAND_WEBSOCKETS / KUBECTL_PORT_FORWARD_WEBSOCKETS=false, or upgrade kubectl)` };
  }
  const all = offered(x.req, viaWs(x));
  const handshake = handshakeProblem(x.req, what, all);
  if (handshake !== undefined) return handshake;
  return protocolsToOffer(x, what, all ?? []);
}

/** The agent's offered protocols the sidecar can read (offered upstream in its order), or why there are none. */
function protocolsToOffer(x: StreamingExchange, what: string, all: readonly string[]): { code: number; message: string } | { protocols: string[] } {
  const known: readonly string[] = viaWs(x) ? CHANNEL_PROTOCOLS : PORT_FORWARD_PROTOCOLS;
  const protocols = all.filter((p) => known.includes(p));
  if (protocols.length === 0) {
    return { code: 400, message: `guarita: ${what}: none of the offered WebSocket protocols (${all.join(', ') || 'none'}) is one the sidecar can inspect; it accepts ${known.join(', ')}` };
  }
  return { protocols };
}

function failure(x: StreamingExchange, err: unknown): { code: number; message: string } {
  if (err instanceof UpstreamRefusal || err instanceof AgentHandshakeFailed) return { code: err.code, message: err.message };
  return { code: 502, message: `guarita: the apiserver could not be reached for ${x.attributes.resource}/${x.attributes.subresource}: ${errorMessage(err)}` };
}

export async function serveStreaming(x: StreamingExchange): Promise<void> {
  const checked = check(x);
  if (!('protocols' in checked)) {
    await refuse(x, checked.code, checked.message);
    return;
  }
  // An agent gone while its request was judged: nothing is opened for it (and its record says so).
  if (agentGone(x.socket)) {
    await refuse(x, 400, AGENT_GONE);
    return;
  }
  if (x.attributes.subresource === 'portforward') {
    try {
      await relayOpaque(x, checked.protocols);
    } catch (err) {
      const f = failure(x, err);
      await refuse(x, f.code, f.message);
    }
    return;
  }
  let upstream: WebSocket;
  try {
    upstream = await openUpstream(x, checked.protocols);
  } catch (err) {
    const f = failure(x, err);
    await refuse(x, f.code, f.message);
    return;
  }
  const chosen = upstream.protocol;
  chosenFor.set(x.req, chosen);
  if (agentGone(x.socket)) {
    upstream.terminate();
    await refuse(x, 400, AGENT_GONE, true);
    return;
  }
  let agent: WebSocket;
  try {
    agent = await acceptAgent(x);
  } catch (err) {
    // The exec may have started in the container: it ends now, and its record says why.
    upstream.terminate();
    const f = failure(x, err);
    await refuse(x, f.code, f.message, true);
    return;
  }
  await relayChannels({ x, agent, upstream, v5: chosen === 'v5.channel.k8s.io' });
}

/**
 * The agent's side as a WebSocket; rejects when ws turns the handshake down (what handshakeProblem
 * does not foresee: a malformed Sec-WebSocket-Protocol) or the agent's connection ends first (ws
 * then drops it without a word), so that the exec opened upstream is closed and recorded.
 */
function acceptAgent(x: StreamingExchange): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    if (agentGone(x.socket)) {
      reject(new AgentHandshakeFailed(400, AGENT_GONE));
      return;
    }
    const settle = (): void => {
      clearTimeout(deadline);
      x.socket.off('close', gone);
    };
    const fail = (message: string): void => {
      settle();
      reject(new AgentHandshakeFailed(400, message));
    };
    const gone = (): void => fail(AGENT_GONE);
    const deadline = setTimeout(() => fail('guarita: the agent\'s WebSocket handshake did not complete'), AGENT_HANDSHAKE_MS);
    x.socket.once('close', gone);
    handshakeRefused.set(x.req, (err) => fail(`guarita: the WebSocket handshake cannot be completed: ${err.message}`));
    agentServer.handleUpgrade(x.req, x.socket, x.head, (ws) => {
      settle();
      resolve(ws);
    });
  });
}

/** An exec of tar in create mode (kubectl cp POD:PATH LOCAL runs `tar cf - ...`): its stdout is an archive. */
export function tarCreate(target: string): boolean {
  const command = new URL(target, 'http://apiserver').searchParams.getAll('command');
  if (command.length === 0 || !/(^|\/)tar$/.test(command[0] ?? '')) return false;
  const mode = command.slice(1).find((arg) => !arg.startsWith('--'));
  return mode !== undefined && /^-?[a-zA-Z]*c/.test(mode);
}

/** Opens the same request upstream as a WebSocket with the target's credential; resolves once upgraded. */
function openUpstream(x: StreamingExchange, protocols: string[]): Promise<WebSocket> {
  const url = `${x.upstream.origin.replace(/^http/, 'ws')}${x.target}`;
  const headers: Record<string, string> = {};
  if (x.upstream.token !== undefined) headers.authorization = `Bearer ${x.upstream.token}`;
  const tls = x.upstream.tls;
  const ws = new WebSocket(url, protocols, {
    headers, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024, handshakeTimeout: 30_000,
    // The pod's own addresses are refused here as on every upstream connection (upstream-address.ts).
    lookup: upstreamLookup,
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }), ...(tls.cert === undefined ? {} : { cert: tls.cert }), ...(tls.key === undefined ? {} : { key: tls.key }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      void upstreamRefusal(res, x.session).then((refusal) => {
        reject(refusal);
        ws.terminate();
      });
    });
  });
}
