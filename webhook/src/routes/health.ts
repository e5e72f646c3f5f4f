// Liveness and readiness. Ready = serving certificate loaded and the AccessPolicy cache listed:
// until then the Service sends the apiserver to another replica.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export function healthRoutes(ready: () => boolean, registry?: Registry) {
  return (app: FastifyInstance): Promise<void> => {
    app.get('/healthz', () => ({ status: 'ok' }));
    app.get('/readyz', async (_req, reply) => (ready() ? { status: 'ready' } : reply.code(503).send({ status: 'not ready: AccessPolicy cache not synced yet' })));
    if (registry !== undefined) {
      app.get('/metrics', async (_req, reply) => reply.header('content-type', registry.contentType).send(await registry.metrics()));
    }
    return Promise.resolve();
  };
}
