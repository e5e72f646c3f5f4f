// Bounds on the API listener's connections, which anyone who can reach the Service opens before any
// token is read: one client holding idle TLS connections took every descriptor of the operator
// (round 11 review), and with it every namespace's ingest and every auditor's reads.
//
// - A connection must finish its TLS handshake within HANDSHAKE_TIMEOUT_MS (Node's default is 120 s)
//   and then send its first request byte within FIRST_REQUEST_TIMEOUT_MS: Node's request and header
//   timeouts start only once a request does, so a connection that never sends one was held forever.
//   After a request, fastify's keep-alive timeout bounds the idle time between requests.
// - One client address holds at most `maxPerClient` connections not yet authorized (a pod's IP is
//   its own; authorized sidecars and auditors do not count, as they share 127.0.0.1 behind
//   port-forward), and the whole listener at most `maxConnections`, below the descriptor limit. At
//   that bound a new connection replaces the oldest one that never carried an authorized request,
//   so a few addresses keeping unauthenticated keep-alives (one /healthz a minute) cannot fill it.
import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Counter } from 'prom-client';

export const HANDSHAKE_TIMEOUT_MS = 10_000;
export const FIRST_REQUEST_TIMEOUT_MS = 10_000;
/** A refusal is logged at most this often (with the count since the last line), never per connection. */
const LOG_INTERVAL_MS = 10_000;

export interface ConnectionLimits {
  maxConnections: number;
  maxPerClient: number;
  /** Defaults HANDSHAKE_TIMEOUT_MS and FIRST_REQUEST_TIMEOUT_MS (tests shorten them). */
  handshakeMs?: number;
  firstRequestMs?: number;
}

export interface ConnectionLimitDeps {
  refused: Counter<'reason'>;
  warn: (fields: Record<string, unknown>, message: string) => void;
}

type RefusalReason = 'max-connections' | 'evicted' | 'per-client' | 'handshake-timeout' | 'first-request-timeout';

/** Counts refusals and logs them once per interval per reason, so a flood cannot flood the log. */
function refusalReporter(deps: ConnectionLimitDeps, limits: ConnectionLimits): (reason: RefusalReason, client: string) => void {
  const pending = new Map<RefusalReason, { count: number; client: string }>();
  let lastLog = 0;
  return (reason, client) => {
    deps.refused.inc({ reason });
    const entry = pending.get(reason) ?? { count: 0, client };
    entry.count++;
    entry.client = client;
    pending.set(reason, entry);
    const now = Date.now();
    if (now - lastLog < LOG_INTERVAL_MS) return;
    lastLog = now;
    for (const [r, e] of pending) {
      deps.warn({ reason: r, refused: e.count, lastClient: e.client, maxConnections: limits.maxConnections, maxConnectionsPerClient: limits.maxPerClient }, 'API connections closed by the listener\'s bounds (GUARITA_MAX_CONNECTIONS, GUARITA_MAX_CONNECTIONS_PER_CLIENT, handshake and first-request timeouts)');
    }
    pending.clear();
  };
}

/** Sockets (TLS) that carried an authorized request: their connections are never evicted for newcomers. */
const authorized = new WeakSet<object>();
/** What the listener does when one of its sockets is marked (it stops counting against its address). */
const onAuthorized = new WeakMap<object, () => void>();

/**
 * Called by the APIs once a request on `socket` was authorized (a sidecar of an injected pod, or a
 * reader allowed to read sessions): not merely authenticated, since every agent holds a token the
 * apiserver authenticates and would otherwise make its flood's connections permanent.
 */
export function markAuthorized(socket: object): void {
  if (authorized.has(socket)) return;
  authorized.add(socket);
  onAuthorized.get(socket)?.();
}

interface Held { raw: Socket; client: string; tls?: TLSSocket; counted: boolean }

/** The oldest held connection that never carried an authorized request (still in its handshake, or idle after /healthz). */
function oldestUnauthorized(held: Map<string, Held>): [string, Held] | undefined {
  for (const entry of held) if (entry[1].tls === undefined || !authorized.has(entry[1].tls)) return entry;
  return undefined;
}

/** Connections per client address that have not carried an authorized request. */
class ClientCounts {
  readonly #counts = new Map<string, number>();

  count(client: string): number { return this.#counts.get(client) ?? 0; }

  add(h: Held): void {
    h.counted = true;
    this.#counts.set(h.client, this.count(h.client) + 1);
  }

  remove(h: Held): void {
    if (!h.counted) return;
    h.counted = false;
    const left = this.count(h.client) - 1;
    if (left <= 0) this.#counts.delete(h.client);
    else this.#counts.set(h.client, left);
  }
}

/** Applies the bounds to the API listener (an https server; the handshake timeout is its `handshakeTimeout` option). */
export function limitConnections(server: TlsServer, limits: ConnectionLimits, deps: ConnectionLimitDeps): void {
  const report = refusalReporter(deps, limits);
  const firstRequestMs = limits.firstRequestMs ?? FIRST_REQUEST_TIMEOUT_MS;
  // One address may hold at most maxPerClient connections that have not been authorized (a
  // sidecar's and an auditor's authorized connections do not count: in tests and behind
  // port-forward they share 127.0.0.1 with everything else).
  const perClient = new ClientCounts();
  // Every connection by its client address and port, oldest first. At the bound a newcomer takes the
  // place of the oldest connection that never was authorized (a flood's, mostly): connections holding
  // nothing but an unauthenticated keep-alive cannot keep sidecars out. Node's own maxConnections is
  // not used: it refuses before anything could be evicted.
  const held = new Map<string, Held>();
  // Prepended: a connection over a bound is closed before the TLS layer does any work for it.
  server.prependListener('connection', (socket: Socket) => {
    const client = socket.remoteAddress ?? '';
    if (perClient.count(client) >= limits.maxPerClient) {
      report('per-client', client);
      socket.destroy();
      return;
    }
    if (held.size >= limits.maxConnections) {
      const victim = oldestUnauthorized(held);
      if (victim === undefined) {
        report('max-connections', client);
        socket.destroy();
        return;
      }
      report('evicted', victim[1].client);
      held.delete(victim[0]);
      perClient.remove(victim[1]);
      victim[1].raw.destroy();
    }
    const key = `${client}|${socket.remotePort ?? 0}`;
    const entry: Held = { raw: socket, client, counted: false };
    held.set(key, entry);
    perClient.add(entry);
    socket.once('close', () => {
      if (held.get(key) === entry) held.delete(key);
      perClient.remove(entry);
    });
  });
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') report('handshake-timeout', socket.remoteAddress ?? '');
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const entry = held.get(`${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`);
    if (entry !== undefined) {
      entry.tls = socket;
      onAuthorized.set(socket, () => perClient.remove(entry));
    }
    const timer = setTimeout(() => {
      report('first-request-timeout', socket.remoteAddress ?? '');
      socket.destroy();
    }, firstRequestMs);
    timer.unref();
    const clear = (): void => clearTimeout(timer);
    socket.once('data', clear);
    socket.once('close', clear);
  });
}
