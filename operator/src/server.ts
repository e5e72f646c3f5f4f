// The operator's two listeners: HTTPS for the ingest and read APIs (fastify), and plain HTTP for
// /metrics, /healthz, /readyz and /status (kept off the API port so scraping needs no token).
import { createServer, type Server } from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { HANDSHAKE_TIMEOUT_MS, limitConnections, type ConnectionLimits } from './connection-limits.ts';
import { AJV_OPTIONS } from './ingest/schemas.ts';
import type { Metrics } from './metrics.ts';

export interface ApiServerOptions {
  certFile: string;
  keyFile: string;
  bodyLimit: number;
  logger: FastifyBaseLogger;
  /** The listener's connection bounds (connection-limits.ts) and the counter of what they closed. */
  connections: ConnectionLimits;
  metrics: Pick<Metrics, 'connectionsRefused'>;
}

export function createApiServer(opts: ApiServerOptions): FastifyInstance {
  const app = Fastify({
    https: { cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile), handshakeTimeout: opts.connections.handshakeMs ?? HANDSHAKE_TIMEOUT_MS,
      // How often Node looks for requests past requestTimeout: its default (30 s) let a request that
      // stalled after one byte hold its connection for up to 60 s instead of 30.
      connectionsCheckingInterval: 2_000,
    },
    bodyLimit: opts.bodyLimit,
    loggerInstance: opts.logger,
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: AJV_OPTIONS },
    // Chain ids travel URL-encoded (ns%2Fpod%2Fid): allow long parameters.
    routerOptions: { maxParamLength: 1024 },
    // A whole request (headers and body: a batch is at most the body limit) must arrive within
    // this; Node's default (300 s) let a client hold a connection and its buffer for minutes by
    // sending slowly. Answers (exports stream for long) are not bounded by it.
    requestTimeout: 30_000,
  });
  limitConnections(app.server, opts.connections, {
    refused: opts.metrics.connectionsRefused, warn: (fields, message) => opts.logger.warn(fields, message),
  });
  answerUnroutedBeforeBody(app);
  app.get('/healthz', () => ({ ok: true }));
  return app;
}

/**
 * A request no route takes is answered before its body is read (Fastify's not-found path would read
 * and parse it first, up to the body limit, for anyone): 404, connection closed.
 */
export function answerUnroutedBeforeBody(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.is404) await reply.code(404).header('connection', 'close').send({ message: `no ${req.method} ${req.url.split('?')[0] ?? ''} on this API` });
  });
}

/** Re-reads the serving certificate when its files change (cert-manager renewals). */
export function watchCertificate(app: FastifyInstance, certFile: string, keyFile: string, intervalMs = 30_000): NodeJS.Timeout {
  const stamp = (): string => `${statSync(certFile).mtimeMs}/${statSync(keyFile).mtimeMs}`;
  let last = stamp();
  const timer = setInterval(() => {
    try {
      const now = stamp();
      if (now === last) return;
      last = now;
      (app.server as unknown as { setSecureContext(o: object): void }).setSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
      app.log.info({ certFile }, 'reloaded the serving certificate');
    } catch (err) {
      app.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not reload the serving certificate');
    }
  }, intervalMs);
  timer.unref();
  return timer;
}

export interface StatusInfo { identity: string; pid: number; leader: boolean; serving: boolean; holder?: string }

export function createMetricsServer(metrics: Metrics, status: () => StatusInfo): Server {
  return createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (url === '/metrics') {
      metrics.registry.metrics().then((text) => send(200, metrics.registry.contentType, text), (err: unknown) => send(500, 'text/plain', String(err)));
    } else if (url === '/healthz' || url === '/readyz') {
      send(200, 'text/plain', 'ok\n');
    } else if (url === '/status') {
      send(200, 'application/json', `${JSON.stringify(status())}\n`);
    } else {
      send(404, 'text/plain', 'not found\n');
    }
  });
}
