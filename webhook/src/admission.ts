// AdmissionReview v1 in and out: parsing with clear errors, and the responses the handlers give.
import type { PatchOp } from './json-patch.ts';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview } from './kube-types.ts';

export class BadReview extends Error {
  constructor(message: string) {
    super(`not an admission.k8s.io/v1 AdmissionReview: ${message}`);
    this.name = 'BadReview';
  }
}

export function parseReview(body: unknown): AdmissionRequest {
  if (typeof body !== 'object' || body === null) throw new BadReview('body is not a JSON object');
  const review = body as Partial<AdmissionReview>;
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') throw new BadReview(`apiVersion/kind are ${String(review.apiVersion)}/${String(review.kind)}`);
  const req = review.request;
  if (req === undefined || typeof req.uid !== 'string' || typeof req.operation !== 'string') throw new BadReview('request.uid or request.operation missing');
  return req;
}

export interface AllowOptions { patch?: readonly PatchOp[]; warnings?: readonly string[]; auditAnnotations?: Record<string, string> }

export function allow(uid: string, opts: AllowOptions = {}): AdmissionResponse {
  const res: AdmissionResponse = { uid, allowed: true };
  if (opts.patch !== undefined && opts.patch.length > 0) {
    res.patchType = 'JSONPatch';
    res.patch = Buffer.from(JSON.stringify(opts.patch)).toString('base64');
  }
  if (opts.warnings !== undefined && opts.warnings.length > 0) res.warnings = [...opts.warnings];
  if (opts.auditAnnotations !== undefined) res.auditAnnotations = opts.auditAnnotations;
  return res;
}

/** A refusal the client sees as `admission webhook "<name>" denied the request: <message>`. */
export function deny(uid: string, message: string, code = 403, warnings: readonly string[] = []): AdmissionResponse {
  const res: AdmissionResponse = { uid, allowed: false, status: { code, message, reason: code === 403 ? 'Forbidden' : code === 422 ? 'Invalid' : 'InternalError' } };
  if (warnings.length > 0) res.warnings = [...warnings];
  return res;
}

export function reviewOf(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
