// One admission endpoint: parse the AdmissionReview, run the handler, time it, and turn any
// failure into an explicit refusal (the apiserver would fail closed anyway under failurePolicy
// Fail; an answer with the reason is clearer than a timeout).
import type { FastifyInstance } from 'fastify';
import { BadReview, deny, parseReview, reviewOf, WrongObject } from '../admission.ts';
import type { WebhookContext } from '../context.ts';
import type { AdmissionRequest, AdmissionResponse } from '../kube-types.ts';

export type AdmissionHandler = (req: AdmissionRequest, ctx: WebhookContext) => AdmissionResponse | Promise<AdmissionResponse>;

function outcome(res: AdmissionResponse): string {
  if (res.allowed) return 'allowed';
  return (res.status?.code ?? 403) >= 500 ? 'error' : 'denied';
}

/**
 * A handler that threw. A review whose object has the wrong shape (WrongObject, or a TypeError
 * from reading it) is a refusal naming the problem, not an internal error with a raw message.
 */
function failure(err: unknown, req: AdmissionRequest, ctx: WebhookContext, webhook: string): AdmissionResponse {
  if (err instanceof WrongObject) return deny(req.uid, `guarita webhook ${webhook}: ${err.message}`, 400);
  if (err instanceof TypeError) {
    ctx.log.warn({ err, webhook, uid: req.uid }, 'malformed object in an AdmissionReview');
    return deny(req.uid, `guarita webhook ${webhook}: request.object does not have the shape of a ${req.kind?.kind ?? 'known'} object (${req.resource?.resource ?? 'unknown resource'}); refused`, 400);
  }
  ctx.log.error({ err, webhook, uid: req.uid, namespace: req.namespace, name: req.name }, 'admission handler failed');
  return deny(req.uid, `guarita webhook ${webhook} failed: ${err instanceof Error ? err.message : String(err)}`, 500);
}

export function admissionRoute(app: FastifyInstance, ctx: WebhookContext, path: string, webhook: string, handler: AdmissionHandler): void {
  app.post(path, async (request, reply) => {
    const start = process.hrtime.bigint();
    let req: AdmissionRequest;
    try {
      req = parseReview(request.body);
    } catch (err) {
      if (err instanceof BadReview) return reply.code(400).send({ error: err.message });
      throw err;
    }
    let res: AdmissionResponse;
    try {
      res = await handler(req, ctx);
    } catch (err) {
      res = failure(err, req, ctx, webhook);
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    ctx.metrics.duration.observe({ webhook, outcome: outcome(res) }, seconds);
    if (!res.allowed) ctx.log.info({ webhook, uid: req.uid, namespace: req.namespace, name: req.name, user: req.userInfo.username, reason: res.status?.message }, 'admission denied');
    return reviewOf(res);
  });
}
