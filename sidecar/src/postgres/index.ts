// The PostgreSQL listener of the sidecar: agents connect to 127.0.0.1:<listenPort> with any
// PostgreSQL client, their token as the password and their purpose as a startup option; the
// listener enforces the target's AccessPolicy on every statement (see docs/postgres.md).
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { Enforcer } from '../enforcement.ts';
import { errorResponse } from './backend.ts';
import { CancelRegistry, ProxyConnection, type PostgresListenerMetrics } from './connection.ts';
import { ConnectionSlots, DEFAULT_MAX_CONNECTIONS, tooManyUnstarted } from './connection-slots.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from './frontend.ts';
import { loadStatementParser } from './statements.ts';
import type { PostgresTargetConfig } from './upstream.ts';

export type { PostgresListenerMetrics } from './connection.ts';
export type { PostgresTargetConfig, PostgresTargetTls } from './upstream.ts';

export interface PostgresListenerOptions {
  host: string;
  /** 0 picks a free port (see `address`). */
  port: number;
  target: PostgresTargetConfig;
  enforcer: Enforcer;
  logger: Logger;
  metrics?: PostgresListenerMetrics;
  /** Certificate and key (PEM) to accept TLS from clients; without it SSLRequest is declined (loopback). */
  clientTls?: { cert: string | Buffer; key: string | Buffer };
  /** Largest client message (default 64 MiB). */
  maxMessageBytes?: number;
  /** Time a client has from connecting to being authenticated (default 60 s). */
  startupTimeoutMs?: number;
  /**
   * Sessions held at once (GUARITA_PG_MAX_CONNECTIONS, default 64), counting those still read after
   * their agent left; a newcomer beyond it is refused with 53300 at its StartupMessage. Sockets
   * that have not sent one yet are bounded apart, at the same number.
   */
  maxConnections?: number;
}

export interface PostgresListener {
  readonly address: { host: string; port: number };
  /** Stops accepting, terminates open sessions (57P01) and waits for them to close. */
  /** Ends every session (57P01); `drainMs` bounds how long a running statement's answer is read after its cancel. */
  close(drainMs?: number): Promise<void>;
}

export async function startPostgresListener(opts: PostgresListenerOptions): Promise<PostgresListener> {
  await loadStatementParser();
  const logger = opts.logger;
  const connections = new Set<ProxyConnection>();
  const ctx = {
    target: opts.target,
    enforcer: opts.enforcer,
    logger,
    metrics: opts.metrics,
    tls: opts.clientTls === undefined ? undefined : createSecureContext({ cert: opts.clientTls.cert, key: opts.clientTls.key }),
    maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    startupTimeoutMs: opts.startupTimeoutMs ?? 60_000,
    registry: new CancelRegistry(),
    slots: new ConnectionSlots(opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS),
  };
  const server: Server = createServer({ noDelay: true }, (socket: Socket) => {
    // Sockets not yet past their startup packet (each bounded by startupTimeoutMs) are bounded too:
    // beyond the sessions' bound as many again, as PostgreSQL's postmaster bounds its children.
    if (connections.size >= 2 * ctx.slots.max) {
      logger.warn({ max: ctx.slots.max }, 'postgres connection refused on accept: too many connections not yet started');
      opts.metrics?.connectionRefused?.('53300');
      socket.on('error', () => undefined);
      socket.end(errorResponse({ severity: 'FATAL', code: '53300', message: tooManyUnstarted(opts.target.name, ctx.slots.max) }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const conn = new ProxyConnection(socket, ctx);
    connections.add(conn);
    void conn.closed.then(() => connections.delete(conn));
    conn.start();
  });
  server.on('error', (err) => logger.error({ err }, 'postgres listener error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const address = { host: opts.host, port: typeof addr === 'object' && addr !== null ? addr.port : opts.port };
  logger.info({ address, upstream: `${opts.target.host}:${opts.target.port}` }, 'postgres listener started');
  let closing: Promise<void> | undefined;
  return {
    address,
    close(drainMs?: number): Promise<void> {
      closing ??= (async () => {
        const stopped = new Promise<void>((r) => server.close(() => r()));
        for (const c of connections) c.terminate('57P01', 'terminating connection: the Guarita sidecar is shutting down', drainMs);
        await Promise.all([...connections].map((c) => c.closed));
        await stopped;
        logger.info('postgres listener stopped');
      })();
      return closing;
    },
  };
}
