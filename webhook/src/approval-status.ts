// ApprovalRequest STATUS admission (approvalrequests/status UPDATE) as a pure function. The status
// carries the decision the sidecar acts on, so who may write it is the whole approval control:
//
// - The operator's service account (GUARITA_OPERATOR_SERVICE_ACCOUNT) decides phases. It may make
//   the transitions of its state machine (operator/src/reconcile/approval-state.ts): a new request
//   to any of Pending, Approved, Denied, Expired; Pending to Approved, Denied or Expired; Approved
//   to Expired; and any write that keeps the phase (counts, reviews, message, execution). It never
//   moves a request out of Consumed, Denied or Expired.
// - Every other identity (agents, sidecars, approvers, cluster admins alike) may only CONSUME an
//   approval: Approved → Consumed, setting consumedAt (required), execution and message, with
//   approvals, required, reviews, decidedAt and conditions unchanged; and only as a service account
//   of the request's own namespace, bound (when its token says so) to the pod in spec.podRef.
//   Break-glass phase changes go through the operator's service account (`kubectl --as`).
// - A write that changes nothing in the status is allowed for anyone (nothing to judge).
//
// The apiserver resets everything but `status` on a status-subresource write, so spec and metadata
// need no check here (the main-resource webhook judges those).
import type { ApprovalRequest, ApprovalRequestStatus } from '../../crds/types.ts';
import { deepEqual } from './json-patch.ts';
import type { UserInfo } from './kube-types.ts';

type Phase = NonNullable<ApprovalRequestStatus['phase']>;

/** The status fields a consuming sidecar may write besides the phase. */
export const CONSUMER_FIELDS: readonly string[] = ['phase', 'consumedAt', 'execution', 'message'];

export const FINAL_STATUS_PHASES: readonly Phase[] = ['Consumed', 'Denied', 'Expired'];

const NEW = '(none)';

/** from (NEW for a request without a phase yet) → the phases the operator may write. */
export const OPERATOR_TRANSITIONS: Readonly<Record<string, readonly Phase[]>> = {
  [NEW]: ['Pending', 'Approved', 'Denied', 'Expired'],
  Pending: ['Pending', 'Approved', 'Denied', 'Expired'],
  Approved: ['Approved', 'Expired'],
  Denied: ['Denied'],
  Expired: ['Expired'],
  Consumed: ['Consumed'],
};

/** Token extra fields the apiserver sets for a service-account token bound to a pod. */
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';

export interface StatusContext {
  /**
   * Username of the operator's service account (system:serviceaccount:<namespace>:<name>).
   * Undefined: no identity gets the operator's rights (fail closed).
   */
  operatorUsername: string | undefined;
}

export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

function phaseName(phase: string | undefined): string {
  return phase ?? NEW;
}

function operatorErrors(from: Phase | undefined, to: Phase | undefined): string[] {
  if (from === to) return [];
  if (from !== undefined && FINAL_STATUS_PHASES.includes(from)) {
    return [`status.phase: the request is ${from}, a final phase: nobody moves it to ${phaseName(to)}, not even the operator`];
  }
  if (to !== undefined && (OPERATOR_TRANSITIONS[phaseName(from)] ?? []).includes(to)) return [];
  return [`status.phase: ${phaseName(from)} → ${phaseName(to)} is not a transition of the approval state machine (the operator moves a request from Pending to Approved, Denied or Expired, and from Approved to Expired)`];
}

function namespaceOf(user: UserInfo): string | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user.username ?? '');
  return m?.[1];
}

function extra(user: UserInfo, key: string): string | undefined {
  return user.extra?.[key]?.[0];
}

function podBindingErrors(req: ApprovalRequest, user: UserInfo): string[] {
  const pod = extra(user, POD_NAME_EXTRA);
  const uid = extra(user, POD_UID_EXTRA);
  const ref = req.spec.podRef;
  if (pod !== undefined && pod !== ref.name) return [`status: the token of "${user.username ?? ''}" is bound to pod ${pod}, but this request is held by pod ${ref.name} (spec.podRef.name): only that pod's sidecar may consume it`];
  if (uid !== undefined && ref.uid !== undefined && uid !== ref.uid) return [`status: the token of "${user.username ?? ''}" is bound to pod uid ${uid}, but this request is held by pod uid ${ref.uid} (spec.podRef.uid)`];
  return [];
}

function identityErrors(req: ApprovalRequest, user: UserInfo, ctx: StatusContext): string[] {
  const namespace = req.metadata.namespace ?? '';
  if (namespaceOf(user) === namespace) return podBindingErrors(req, user);
  const operator = ctx.operatorUsername === undefined ? 'none configured' : `"${ctx.operatorUsername}"`;
  return [`status: "${user.username ?? ''}" may not write the status of an ApprovalRequest: phase decisions belong to the operator's service account (${operator}, GUARITA_OPERATOR_SERVICE_ACCOUNT), and consuming an approval to a service account of namespace ${namespace} (the sidecar)`];
}

function consumeErrors(from: Phase | undefined, to: Phase | undefined, next: ApprovalRequestStatus): string[] {
  if (from === 'Approved' && to === 'Consumed') {
    return next.consumedAt === undefined || next.consumedAt === '' ? ['status.consumedAt: required when consuming an approval (Approved → Consumed)'] : [];
  }
  if (to === 'Consumed') return [`status.phase: only an Approved request can be consumed; this one is ${phaseName(from)}`];
  return [`status.phase: ${phaseName(from)} → ${phaseName(to)}: only the operator decides phases; a sidecar may only consume an approval (Approved → Consumed)`];
}

function fieldErrors(prev: ApprovalRequestStatus, next: ApprovalRequestStatus): string[] {
  const p = prev as Record<string, unknown>;
  const n = next as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(p), ...Object.keys(n)])].filter((k) => !CONSUMER_FIELDS.includes(k)).sort();
  return keys.filter((k) => !deepEqual(p[k], n[k])).map((k) => `status.${k}: cannot change when consuming an approval (only ${CONSUMER_FIELDS.join(', ')} may)`);
}

/** Problems with a status-subresource UPDATE by `user`; empty when it is allowed. */
export function validateApprovalStatusUpdate(oldReq: ApprovalRequest, newReq: ApprovalRequest, user: UserInfo, ctx: StatusContext): string[] {
  const prev = oldReq.status ?? {};
  const next = newReq.status ?? {};
  if (deepEqual(prev, next)) return [];
  if (ctx.operatorUsername !== undefined && user.username === ctx.operatorUsername) return operatorErrors(prev.phase, next.phase);
  const identity = identityErrors(newReq, user, ctx);
  if (identity.length > 0) return identity;
  return [...consumeErrors(prev.phase, next.phase, next), ...fieldErrors(prev, next)];
}
