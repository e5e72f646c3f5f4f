// Bounds on the API listener's connections, which anyone who can reach the Service opens before any
// token is read: one client holding idle TLS connections took every descriptor of the operator
// (round 11 review), and with it every namespace's ingest and every auditor's reads.
//
// - A connection must finish its TLS handshake within HANDSHAKE_TIMEOUT_MS (Node's default is 120 s)
//   and then send its first request byte within FIRST_REQUEST_TIMEOUT_MS: Node's request and header
//   timeouts start only once a request does, so a connection that never sends one was held forever.
//   After a request, fastify's keep-alive timeout bounds the idle time between requests.
// - One client address holds at most `maxPerClient` connections: a pod's IP is its own (an agent
//   flooding from its pod shares the address of its own sidecar, so only its own evidence waits),
//   and the whole listener at most `maxConnections`, below the descriptor limit. At that bound a new
//   connection replaces the oldest one that never carried an authenticated request, so a few
//   addresses keeping unauthenticated keep-alives (one /healthz a minute) cannot fill it (round 11b).
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

/** Sockets (TLS) that carried an authenticated request: their connections are never evicted for newcomers. */
const authenticated = new WeakSet<object>();

/** Called by the APIs once a request on `socket` authenticated (a sidecar's or an auditor's token). */
export function markAuthenticated(socket: object): void {
  authenticated.add(socket);
}

interface Held { raw: Socket; tls?: TLSSocket }

/** The oldest held connection that never carried an authenticated request (still in its handshake, or idle after /healthz). */
function oldestUnauthenticated(held: Map<string, Held>): [string, Held] | undefined {
  for (const entry of held) if (entry[1].tls === undefined || !authenticated.has(entry[1].tls)) return entry;
  return undefined;
}

/** Applies the bounds to the API listener (an https server; the handshake timeout is its `handshakeTimeout` option). */
export function limitConnections(server: TlsServer, limits: ConnectionLimits, deps: ConnectionLimitDeps): void {
  const report = refusalReporter(deps, limits);
  const firstRequestMs = limits.firstRequestMs ?? FIRST_REQUEST_TIMEOUT_MS;
  const perClient = new Map<string, number>();
  // Every connection by its client address and port, oldest first. At the bound a newcomer takes the
  // place of the oldest connection that never authenticated (a flood's, mostly): connections holding
  // nothing but an unauthenticated keep-alive cannot keep sidecars out. Node's own maxConnections is
  // not used: it refuses before anything could be evicted.
  const held = new Map<string, Held>();
  // Prepended: a connection over a bound is closed before the TLS layer does any work for it.
  server.prependListener('connection', (socket: Socket) => {
    const client = socket.remoteAddress ?? '';
    const count = perClient.get(client) ?? 0;
    if (count >= limits.maxPerClient) {
      report('per-client', client);
      socket.destroy();
      return;
    }
    if (held.size >= limits.maxConnections) {
      const victim = oldestUnauthenticated(held);
      if (victim === undefined) {
        report('max-connections', client);
        socket.destroy();
        return;
      }
      report('evicted', victim[1].raw.remoteAddress ?? '');
      held.delete(victim[0]);
      victim[1].raw.destroy();
    }
    const key = `${client}|${socket.remotePort ?? 0}`;
    held.set(key, { raw: socket });
    perClient.set(client, count + 1);
    socket.once('close', () => {
      held.delete(key);
      const left = (perClient.get(client) ?? 1) - 1;
      if (left <= 0) perClient.delete(client);
      else perClient.set(client, left);
    });
  });
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') report('handshake-timeout', socket.remoteAddress ?? '');
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const entry = held.get(`${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`);
    if (entry !== undefined) entry.tls = socket;
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
