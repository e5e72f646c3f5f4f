// The admin server on 127.0.0.1:<GUARITA_ADMIN_PORT>: /healthz (liveness: the process serves),
// /readyz (startup/readiness: policies synced and every listener up), /metrics (Prometheus).
// Plain node:http rather than fastify: three fixed GET routes on loopback, and fastify's load
// cost about 90 ms of the sidecar's cold start (bench: sidecar.startMs).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from './node-http.ts';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.ts';

export interface Readiness { ready: boolean; reasons: string[] }

export interface AdminOptions {
  host: string;
  port: number;
  metrics: Metrics;
  readiness(): Readiness;
  /** Extra state for /readyz answers (chain, spool backlog). */
  details?(): Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: string, contentType = 'application/json; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

function readyz(res: ServerResponse, opts: AdminOptions): void {
  const r = opts.readiness();
  send(res, r.ready ? 200 : 503, JSON.stringify({ status: r.ready ? 'ready' : 'not ready', reasons: r.reasons, ...(opts.details?.() ?? {}) }));
}

async function metrics(res: ServerResponse, opts: AdminOptions): Promise<void> {
  send(res, 200, await opts.metrics.registry.metrics(), opts.metrics.registry.contentType);
}

const ROUTES: Record<string, (res: ServerResponse, opts: AdminOptions) => void | Promise<void>> = {
  '/healthz': (res) => send(res, 200, JSON.stringify({ status: 'ok' })),
  '/readyz': readyz,
  '/metrics': metrics,
};

async function route(req: IncomingMessage, res: ServerResponse, opts: AdminOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, JSON.stringify({ error: `${req.method ?? ''} not allowed: the admin endpoints are GET only` }));
  const handler = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
  if (handler === undefined) return send(res, 404, JSON.stringify({ error: `no such endpoint ${path}: /healthz, /readyz, /metrics` }));
  return handler(res, opts);
}

export async function startAdmin(opts: AdminOptions): Promise<{ close(): Promise<void>; port: number }> {
  const server = createServer((req, res) => {
    route(req, res, opts).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
