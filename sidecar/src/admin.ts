// The admin server on 127.0.0.1:<GUARITA_ADMIN_PORT>: /healthz (liveness: the process serves),
// /readyz (startup/readiness: policies synced and every listener up), /metrics (Prometheus).
import Fastify, { type FastifyInstance } from 'fastify';
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

export async function startAdmin(opts: AdminOptions): Promise<{ close(): Promise<void>; port: number }> {
  const app: FastifyInstance = Fastify({ logger: false });
  app.get('/healthz', (_req, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', (_req, reply) => {
    const r = opts.readiness();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', reasons: r.reasons, ...(opts.details?.() ?? {}) });
  });
  app.get('/metrics', async (_req, reply) => {
    const text = await opts.metrics.registry.metrics();
    return reply.header('content-type', opts.metrics.registry.contentType).send(text);
  });
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address();
  return { close: () => app.close(), port: typeof addr === 'object' && addr !== null ? addr.port : opts.port };
}
