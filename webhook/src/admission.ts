// AdmissionReview v1 in and out: parsing with clear errors, and the responses the handlers give.
import type { PatchOp } from './json-patch.ts';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview, Pod } from './kube-types.ts';

export class BadReview extends Error {
  constructor(message: string) {
    super(`not an admission.k8s.io/v1 AdmissionReview: ${message}`);
    this.name = 'BadReview';
  }
}

const OPERATIONS: readonly string[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clip(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export function parseReview(body: unknown): AdmissionRequest {
  if (!isRecord(body)) throw new BadReview('body is not a JSON object');
  const review = body as Partial<AdmissionReview>;
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') throw new BadReview(`apiVersion/kind are ${clip(review.apiVersion)}/${clip(review.kind)}, expected admission.k8s.io/v1/AdmissionReview`);
  const req = review.request as unknown;
  if (!isRecord(req)) throw new BadReview('request is missing or not an object');
  const problem = REQUEST_CHECKS.map((check) => check(req)).find((p) => p !== undefined);
  if (problem !== undefined) throw new BadReview(problem);
  return req as unknown as AdmissionRequest;
}

const REQUEST_CHECKS: readonly ((req: Record<string, unknown>) => string | undefined)[] = [
  (req) => (typeof req.uid === 'string' && req.uid !== '' ? undefined : 'request.uid is missing or not a string'),
  (req) => (typeof req.operation === 'string' && OPERATIONS.includes(req.operation) ? undefined : `request.operation is ${clip(req.operation)}, expected one of ${OPERATIONS.join(', ')}`),
  (req) => (isRecord(req.userInfo) ? undefined : 'request.userInfo is missing or not an object'),
  (req) => ['namespace', 'name', 'subResource'].filter((f) => req[f] !== undefined && typeof req[f] !== 'string').map((f) => `request.${f} is not a string`)[0],
];

/** request.object/oldObject is not what the endpoint judges: a denial naming the field, never a TypeError. */
export class WrongObject extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WrongObject';
  }
}

function namedList(v: unknown, path: string, required: boolean): void {
  if (v === undefined && !required) return;
  if (!Array.isArray(v)) throw new WrongObject(`${path} is not a list`);
  v.forEach((item, i) => {
    if (!isRecord(item) || typeof item.name !== 'string') throw new WrongObject(`${path}[${i}] is not an object with a name`);
  });
}

/** The review's ApprovalRequest (`object` or `oldObject`), checked as far as the handlers read it. */
export function approvalOf<T>(req: AdmissionRequest, field: 'object' | 'oldObject'): T {
  const o = req[field];
  const path = `request.${field}`;
  if (!isRecord(o)) throw new WrongObject(`${path} is missing or not an object; this webhook judges ApprovalRequests`);
  const problem = APPROVAL_CHECKS.map((check) => check(o)).find((p) => p !== undefined);
  if (problem !== undefined) throw new WrongObject(`${path}${problem}`);
  return o as T;
}

const APPROVAL_CHECKS: readonly ((o: Record<string, unknown>) => string | undefined)[] = [
  (o) => (o.kind === undefined || o.kind === 'ApprovalRequest' ? undefined : ` is of kind ${clip(o.kind)}, not an ApprovalRequest`),
  (o) => (isRecord(o.metadata) ? undefined : '.metadata is missing: not an ApprovalRequest'),
  (o) => (isRecord(o.spec) && isRecord(o.spec.policyRef) && isRecord(o.spec.command) ? undefined : '.spec (with policyRef and command) is missing: not an ApprovalRequest'),
  (o) => {
    const reviews = (o.spec as Record<string, unknown>).reviews;
    return reviews === undefined || (Array.isArray(reviews) && reviews.every(isRecord)) ? undefined : '.spec.reviews is not a list of objects';
  },
  (o) => (o.status === undefined || isRecord(o.status) ? undefined : '.status is not an object'),
];

/** The review's Pod (`object` or `oldObject`), checked as far as the pod webhooks read it. */
export function podOf(req: AdmissionRequest, field: 'object' | 'oldObject'): Pod {
  const o = req[field];
  const path = `request.${field}`;
  if (!isRecord(o)) throw new WrongObject(`${path} is missing or not an object; the pod webhooks judge Pods`);
  if (o.kind !== undefined && o.kind !== 'Pod') throw new WrongObject(`${path} is of kind ${clip(o.kind)}, not a Pod (request.kind ${clip(req.kind)}); the pod webhooks judge Pods`);
  if (!isRecord(o.metadata)) throw new WrongObject(`${path}.metadata is missing: not a Pod`);
  const spec = o.spec;
  if (!isRecord(spec)) throw new WrongObject(`${path}.spec is missing: not a Pod`);
  namedList(spec.containers, `${path}.spec.containers`, true);
  for (const list of ['initContainers', 'ephemeralContainers', 'volumes'] as const) namedList(spec[list], `${path}.spec.${list}`, false);
  for (const list of ['containers', 'initContainers', 'ephemeralContainers'] as const) {
    ((spec[list] ?? []) as Record<string, unknown>[]).forEach((c, i) => {
      for (const sub of ['volumeMounts', 'env', 'volumeDevices'] as const) namedList(c[sub], `${path}.spec.${list}[${i}].${sub}`, false);
      if (c.envFrom !== undefined && !(Array.isArray(c.envFrom) && c.envFrom.every(isRecord))) throw new WrongObject(`${path}.spec.${list}[${i}].envFrom is not a list of objects`);
    });
  }
  return o as unknown as Pod;
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

const REASONS: Record<number, string> = { 400: 'BadRequest', 403: 'Forbidden', 422: 'Invalid' };

/** A refusal the client sees as `admission webhook "<name>" denied the request: <message>`. */
export function deny(uid: string, message: string, code = 403, warnings: readonly string[] = []): AdmissionResponse {
  const res: AdmissionResponse = { uid, allowed: false, status: { code, message, reason: REASONS[code] ?? 'InternalError' } };
  if (warnings.length > 0) res.warnings = [...warnings];
  return res;
}

export function reviewOf(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
