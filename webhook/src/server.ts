// The HTTPS server the apiserver calls: one fastify plugin per resource, health on the same port,
// and a certificate that can be swapped at runtime (setSecureContext: no restart, open
// connections keep the certificate they were established with).
import type { Server as TlsServer } from 'node:tls';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { WebhookContext } from './context.ts';
import { accessPolicyRoutes } from './routes/access-policies.ts';
import { approvalRequestRoutes } from './routes/approval-requests.ts';
import { healthRoutes } from './routes/health.ts';
import { podRoutes } from './routes/pods.ts';
import type { ServingPair } from './tls.ts';

/** AdmissionReviews carry the object twice (object, oldObject); pods with large specs run into megabytes. */
const BODY_LIMIT = 16 * 1024 * 1024;

/** Our logger, without fastify's per-request lines (the admission routes log decisions themselves). */
export function quietLogging(log: FastifyBaseLogger): { loggerInstance: FastifyBaseLogger; logController: LogController } {
  return { loggerInstance: log, logController: new LogController({ disableRequestLogging: true }) };
}

export interface WebhookServer {
  app: FastifyInstance;
  /** Hot-reloads the serving certificate. */
  reload(pair: ServingPair): void;
}

export async function buildServer(ctx: WebhookContext, pair: ServingPair, ready: () => boolean): Promise<WebhookServer> {
  const app = fastify({
    ...quietLogging(ctx.log),
    bodyLimit: BODY_LIMIT,
    requestTimeout: 30_000,
    https: { cert: pair.certPem, key: pair.keyPem, minVersion: 'TLSv1.2' },
  });
  await app.register(podRoutes(ctx));
  await app.register(approvalRequestRoutes(ctx));
  await app.register(accessPolicyRoutes(ctx));
  await app.register(healthRoutes(ready));
  return {
    app,
    reload(next: ServingPair): void {
      (app.server as unknown as TlsServer).setSecureContext({ cert: next.certPem, key: next.keyPem, minVersion: 'TLSv1.2' });
    },
  };
}

/** Plain HTTP for Prometheus and kubelet probes. */
export async function buildMetricsServer(ctx: WebhookContext, ready: () => boolean): Promise<FastifyInstance> {
  const app = fastify(quietLogging(ctx.log));
  await app.register(healthRoutes(ready, ctx.metrics.registry));
  return app;
}
