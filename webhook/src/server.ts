// The HTTPS server the apiserver calls: one fastify plugin per resource, health on the same port,
// and a certificate that can be swapped at runtime (setSecureContext: no restart, open
// connections keep the certificate they were established with).
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
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

/**
 * Who may call the admission endpoints (webhook/src/config.ts ClientAuthConfig, with the CA read).
 * The certificate is requested during the handshake but judged per request, so health checks on
 * this port keep working and a refused caller gets a reason instead of a reset connection.
 */
export type ClientAuth = { mode: 'certificate'; caPem: string; names: readonly string[] } | { mode: 'none' };

const ADMISSION_PATH = /^\/(mutate|validate)\//;

/** Why this caller may not use the admission endpoints, or undefined when it may. */
export function clientRefusal(socket: Partial<TLSSocket>, auth: ClientAuth): string | undefined {
  if (auth.mode === 'none') return undefined;
  if (socket.authorized !== true) return unauthorized(socket);
  return auth.names.length === 0 ? undefined : nameRefusal(socket, auth.names);
}

function unauthorized(socket: Partial<TLSSocket>): string {
  const presented = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
  const why = presented ? `the client certificate was refused (${String(socket.authorizationError ?? 'not authorized')})` : 'no client certificate was presented';
  return `guarita webhook: the admission endpoints answer only the kube-apiserver, which must present a client certificate issued by the CA in GUARITA_WEBHOOK_CLIENT_CA_FILE; ${why}. Configure the apiserver's AdmissionConfiguration kubeConfigFile (docs/webhook.md, "Who may call the webhook")`;
}

function nameRefusal(socket: Partial<TLSSocket>, names: readonly string[]): string | undefined {
  const peer = socket.getPeerCertificate?.() as { subject?: { CN?: unknown }; subjectaltname?: string } | undefined;
  const cn = typeof peer?.subject?.CN === 'string' ? [peer.subject.CN] : [];
  const dns = (peer?.subjectaltname ?? '').split(',').map((x) => x.trim()).filter((x) => x.startsWith('DNS:')).map((x) => x.slice(4));
  if ([...cn, ...dns].some((n) => names.includes(n))) return undefined;
  return `guarita webhook: client certificate ${cn[0] ?? '(no common name)'} is not among GUARITA_WEBHOOK_CLIENT_NAMES (${names.join(', ')})`;
}

function guard(auth: ClientAuth) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!ADMISSION_PATH.test(request.url)) return;
    const refusal = clientRefusal(request.raw.socket as Partial<TLSSocket>, auth);
    if (refusal === undefined) return;
    request.log.warn({ remote: request.ip, path: request.url }, 'admission call without an accepted client certificate refused');
    await reply.code(refusal.includes('not among') ? 403 : 401).send({ error: refusal });
  };
}

export interface WebhookServer {
  app: FastifyInstance;
  /** Hot-reloads the serving certificate. */
  reload(pair: ServingPair): void;
}

export async function buildServer(ctx: WebhookContext, pair: ServingPair, ready: () => boolean, auth: ClientAuth): Promise<WebhookServer> {
  const clientCa = auth.mode === 'certificate' ? { ca: auth.caPem } : {};
  const app = fastify({
    ...quietLogging(ctx.log),
    bodyLimit: BODY_LIMIT,
    requestTimeout: 30_000,
    https: { cert: pair.certPem, key: pair.keyPem, minVersion: 'TLSv1.2', ...clientCa, ...(auth.mode === 'certificate' ? { requestCert: true, rejectUnauthorized: false } : {}) },
  });
  app.addHook('onRequest', guard(auth));
  await app.register(podRoutes(ctx));
  await app.register(approvalRequestRoutes(ctx));
  await app.register(accessPolicyRoutes(ctx));
  await app.register(healthRoutes(ready));
  return {
    app,
    reload(next: ServingPair): void {
      (app.server as unknown as TlsServer).setSecureContext({ cert: next.certPem, key: next.keyPem, minVersion: 'TLSv1.2', ...clientCa });
    },
  };
}

/** Plain HTTP for Prometheus and kubelet probes. */
export async function buildMetricsServer(ctx: WebhookContext, ready: () => boolean): Promise<FastifyInstance> {
  const app = fastify(quietLogging(ctx.log));
  await app.register(healthRoutes(ready, ctx.metrics.registry));
  return app;
}
