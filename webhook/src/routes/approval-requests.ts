// ApprovalRequest admission: stamping the creator (CREATE) and reviews (UPDATE) (mutating), judging
// them (validating), and guarding the status subresource (only the operator decides phases, a
// sidecar only consumes).
import type { FastifyInstance } from 'fastify';
import type { AccessPolicy, ApprovalRequest } from '../../../crds/types.ts';
import { allow, approvalOf, deny } from '../admission.ts';
import { validateApprovalStatusUpdate } from '../approval-status.ts';
import { stampCreator, stampReviews, validateApprovalCreate, validateApprovalUpdate, validateCreatorStamp } from '../approvals.ts';
import { PATHS, WEBHOOK_NAMES } from '../constants.ts';
import type { WebhookContext } from '../context.ts';
import type { AdmissionRequest, AdmissionResponse } from '../kube-types.ts';
import { admissionRoute } from './admission-route.ts';

function isMainResource(req: AdmissionRequest): boolean {
  return (req.subResource ?? '') === '' && req.object !== undefined;
}

/** An UPDATE is judged against the stored object; without it nothing can be compared, so it is refused. */
const NO_OLD_OBJECT = 'request.oldObject is missing: an UPDATE of an ApprovalRequest is judged against the stored object, and cannot be without it';

/** CREATE: who creates the request, from userInfo (the per-pod cap counts it); refused when userInfo names no single pod for a pod-bound token. */
function stampNew(req: AdmissionRequest): AdmissionResponse {
  const stamped = stampCreator(approvalOf<ApprovalRequest>(req, 'object'), req.userInfo);
  if ('problem' in stamped) return deny(req.uid, `guarita: ${stamped.problem}`);
  return allow(req.uid, { patch: stamped.patch, auditAnnotations: { creator: req.userInfo.username ?? '' } });
}

function stamp(req: AdmissionRequest, ctx: WebhookContext): AdmissionResponse {
  if (!isMainResource(req)) return allow(req.uid);
  if (req.operation === 'CREATE') return stampNew(req);
  if (req.operation !== 'UPDATE') return allow(req.uid);
  if (req.oldObject === undefined) return deny(req.uid, `guarita: ${NO_OLD_OBJECT}`);
  const patch = stampReviews(approvalOf<ApprovalRequest>(req, 'oldObject'), approvalOf<ApprovalRequest>(req, 'object'), req.userInfo, ctx.now());
  return allow(req.uid, { patch, ...(patch.length > 0 ? { auditAnnotations: { reviewer: req.userInfo.username ?? '' } } : {}) });
}

async function policyFor(req: ApprovalRequest, ctx: WebhookContext): Promise<AccessPolicy | undefined> {
  const ns = req.metadata.namespace ?? '';
  return ctx.policies.get(ns, req.spec.policyRef.name) ?? ctx.policies.fetchOne(ns, req.spec.policyRef.name);
}

/**
 * The policy as stored now, for checking a new request's recorded plan: the cache may trail the
 * sidecar's own watch by a moment after a change, and creations are rare (approvals). The cached
 * copy when the apiserver cannot be asked.
 */
async function currentPolicyFor(req: ApprovalRequest, ctx: WebhookContext): Promise<AccessPolicy | undefined> {
  const ns = req.metadata.namespace ?? '';
  try {
    return await ctx.policies.fetchOne(ns, req.spec.policyRef.name);
  } catch {
    return ctx.policies.get(ns, req.spec.policyRef.name);
  }
}

async function problems(req: AdmissionRequest, ctx: WebhookContext): Promise<string[]> {
  const next = approvalOf<ApprovalRequest>(req, 'object');
  if (next.metadata.namespace === undefined && req.namespace !== undefined) next.metadata.namespace = req.namespace;
  // The recorded approval plan is checked against the rule in force (when the policy can be seen).
  if (req.operation === 'CREATE') {
    const creator = validateCreatorStamp(next, req.userInfo);
    return [...creator, ...validateApprovalCreate(next, next.spec.approval === undefined ? undefined : await currentPolicyFor(next, ctx))];
  }
  if (req.operation !== 'UPDATE') return [];
  if (req.oldObject === undefined) return [NO_OLD_OBJECT];
  const old = approvalOf<ApprovalRequest>(req, 'oldObject');
  const appends = (next.spec.reviews ?? []).length > (old.spec.reviews ?? []).length;
  const policy = appends ? await policyFor(next, ctx) : undefined;
  return validateApprovalUpdate(old, next, req.userInfo, { policy, now: ctx.now(), usernameMappings: ctx.usernameMappings });
}

async function validate(req: AdmissionRequest, ctx: WebhookContext): Promise<AdmissionResponse> {
  if (!isMainResource(req)) return allow(req.uid);
  const found = await problems(req, ctx);
  return found.length === 0 ? allow(req.uid) : deny(req.uid, `guarita: ${found.join('; ')}`);
}

function validateStatus(req: AdmissionRequest, ctx: WebhookContext): AdmissionResponse {
  if (req.operation !== 'UPDATE' || req.subResource !== 'status' || req.object === undefined) return allow(req.uid);
  if (req.oldObject === undefined) return deny(req.uid, `guarita: ${NO_OLD_OBJECT}`);
  const next = approvalOf<ApprovalRequest>(req, 'object');
  if (next.metadata.namespace === undefined && req.namespace !== undefined) next.metadata.namespace = req.namespace;
  const found = validateApprovalStatusUpdate(approvalOf<ApprovalRequest>(req, 'oldObject'), next, req.userInfo, { operatorUsername: ctx.operatorUsername });
  return found.length === 0 ? allow(req.uid) : deny(req.uid, `guarita: ${found.join('; ')}`);
}

export function approvalRequestRoutes(ctx: WebhookContext) {
  return (app: FastifyInstance): Promise<void> => {
    admissionRoute(app, ctx, PATHS.mutateApprovalRequests, WEBHOOK_NAMES.stampReviews, stamp);
    admissionRoute(app, ctx, PATHS.validateApprovalRequests, WEBHOOK_NAMES.validateApprovalRequests, validate);
    admissionRoute(app, ctx, PATHS.validateApprovalStatus, WEBHOOK_NAMES.validateApprovalStatus, validateStatus);
    return Promise.resolve();
  };
}
