// ApprovalRequest admission as pure functions.
//
// Mutating (CREATE): the creator is stamped from request.userInfo, over whatever the client wrote:
// guarita.io/created-by (username) and, for a token bound to a pod, guarita.io/created-by-pod
// (core/approvals/creator.ts). The operator caps Pending requests per creating pod with it, which
// the agent cannot rename as it can spec.requester.
//
// Mutating (UPDATE): every review appended by this request is stamped with the authenticated
// user (request.userInfo): `reviewer`, `reviewerGroups` and `reviewerUid` (when the apiserver set a
// uid) when the client left them out, and `time` always. A client-supplied reviewer or reviewerGroups that differs from the authenticated
// one is NOT overwritten: it is left for the validating webhook to reject as a forgery, so the
// attempt is visible to the client and in the audit log instead of silently corrected.
//
// Validating (CREATE, UPDATE), which sees the stamped object: reviews can only be appended, one
// per request and one per reviewer; the reviewer is the authenticated user, belongs to an approver
// group of the policy rule and is not the requester; no review after expiry or a final outcome;
// every spec field but reviews is immutable, and so are the creator annotations. At CREATE, the
// creator stamp is the authenticated one (defence if the mutating webhook was bypassed, misordered
// or followed by another that rewrote it), and the recorded approval plan (spec.approval)
// is the rule's in force when the webhook can see the policy: the signed evidence names it as the
// plan approvers answered.
import { foldUsername, matchRequester, type OidcUsernameMapping } from '../../core/approvals/requester.ts';
import { commandProblems } from '../../core/approvals/command.ts';
import { CREATOR_ANNOTATIONS, creatorStamp } from '../../core/approvals/creator.ts';
import { describePlan, recordedPlan, rulePlan, samePlan } from '../../core/approvals/plan.ts';
import type { AccessPolicy, ApprovalRequest, PolicyRule } from '../../crds/types.ts';
import { deepEqual, escapePointer, type PatchOp } from './json-patch.ts';
import type { UserInfo } from './kube-types.ts';

type Review = NonNullable<ApprovalRequest['spec']['reviews']>[number];

export const FINAL_PHASES: readonly string[] = ['Approved', 'Denied', 'Expired', 'Consumed'];

const HOW_TO_REVIEW = 'append one review with: kubectl patch approvalrequest NAME --type=json -p \'[{"op":"add","path":"/spec/reviews/-","value":{"decision":"Approved","reason":"..."}}]\'';

function reviewsOf(r: ApprovalRequest): Review[] {
  return r.spec.reviews ?? [];
}

function isPrefix(old: readonly Review[], next: readonly Review[]): boolean {
  return next.length >= old.length && old.every((r, i) => deepEqual(r, next[i]));
}

/** JSON Patch stamping the reviews this update appends (none when it does not append cleanly). */
export function stampReviews(oldReq: ApprovalRequest, newReq: ApprovalRequest, user: UserInfo, now: Date): PatchOp[] {
  const old = reviewsOf(oldReq);
  const next = reviewsOf(newReq);
  if (!isPrefix(old, next)) return [];
  const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return next.slice(old.length).flatMap((review, k): PatchOp[] => {
    const base = `/spec/reviews/${old.length + k}`;
    const ops: PatchOp[] = [];
    if (review.reviewer === undefined) ops.push({ op: 'add', path: `${base}/reviewer`, value: user.username ?? '' });
    if (review.reviewerGroups === undefined) ops.push({ op: 'add', path: `${base}/reviewerGroups`, value: [...(user.groups ?? [])] });
    if (review.reviewerUid === undefined && (user.uid ?? '') !== '') ops.push({ op: 'add', path: `${base}/reviewerUid`, value: user.uid });
    ops.push({ op: review.time === undefined ? 'add' : 'replace', path: `${base}/time`, value: time });
    return ops;
  });
}

const annotationField = (key: string): string => `metadata.annotations["${key}"]`;

/**
 * JSON Patch stamping the creator at CREATE (core/approvals/creator.ts), or why the creator cannot
 * be told (the request is refused). The client's own values under these keys are overwritten or
 * removed, never kept: only the apiserver's userInfo says who creates a request.
 */
export function stampCreator(req: ApprovalRequest, user: UserInfo): { patch: PatchOp[] } | { problem: string } {
  const made = creatorStamp(user);
  if ('problem' in made) return made;
  // null as well as absent: the object is the client's JSON, not yet defaulted.
  const annotations = req.metadata.annotations as Record<string, string> | null | undefined;
  if (annotations === undefined || annotations === null) return { patch: [{ op: 'add', path: '/metadata/annotations', value: made.stamp }] };
  const patch = CREATOR_ANNOTATIONS.flatMap((key): PatchOp[] => {
    const path = `/metadata/annotations/${escapePointer(key)}`;
    const value = made.stamp[key];
    if (value !== undefined) return [{ op: 'add', path, value }];
    return Object.hasOwn(annotations, key) ? [{ op: 'remove', path }] : [];
  });
  return { patch };
}

function stampProblem(key: string, given: string | undefined, expected: string | undefined): string {
  const field = annotationField(key);
  if (given === undefined) return `${field}: missing: the mutating webhook stamp.approvalrequests.guarita.io did not stamp the creator (check that the MutatingWebhookConfiguration sends CREATE of approvalrequests to it)`;
  if (expected === undefined) return `${field}: "${given}" but the credential creating this request is bound to no pod: omit it, the webhook records the creator`;
  return `${field}: "${given}" is not the creator the apiserver authenticated ("${expected}"): omit it, the webhook records the creator`;
}

/**
 * At CREATE: the creator stamp is exactly the authenticated creator's. The mutating webhook wrote
 * it; a stamp that differs means it did not run, or a later mutating webhook rewrote it, and the
 * per-pod cap would count the request in someone else's line (or in none).
 */
export function validateCreatorStamp(req: ApprovalRequest, user: UserInfo): string[] {
  const made = creatorStamp(user);
  if ('problem' in made) return [made.problem];
  const annotations = req.metadata.annotations ?? {};
  return CREATOR_ANNOTATIONS.flatMap((key) => {
    const given = Object.hasOwn(annotations, key) ? annotations[key] : undefined;
    return given === made.stamp[key] ? [] : [stampProblem(key, given, made.stamp[key])];
  });
}

/** After CREATE the creator annotations never change: not rewritten, removed or added (to a request stamped before them, or not at all). */
function creatorFrozen(oldReq: ApprovalRequest, newReq: ApprovalRequest): string[] {
  const before = oldReq.metadata.annotations ?? {};
  const after = newReq.metadata.annotations ?? {};
  return CREATOR_ANNOTATIONS.flatMap((key) => {
    const o = Object.hasOwn(before, key) ? before[key] : undefined;
    const n = Object.hasOwn(after, key) ? after[key] : undefined;
    if (o === n) return [];
    const change = n === undefined ? `"${o ?? ''}" removed` : `${o === undefined ? '(none)' : `"${o}"`} → "${n}"`;
    return [`${annotationField(key)}: is immutable (the creator, stamped at creation): ${change}; keep it as stored (a server-side apply that omits it removes it: patch the fields you change instead)`];
  });
}

/**
 * The recorded plan is the rule's in force (`policy`: the AccessPolicy named by spec.policyRef,
 * undefined when the webhook cannot see it; a request without a plan comes from an older sidecar
 * and is judged by its reviews at consumption). A request recording a looser plan than its rule
 * would otherwise present the approval as given under terms nobody set.
 */
function planErrors(req: ApprovalRequest, policy: AccessPolicy | undefined): string[] {
  const given = recordedPlan(req);
  if (given === undefined || policy === undefined) return [];
  const rule = findRule(policy, req.spec.rule);
  const plan = rulePlan(rule);
  const policyName = req.spec.policyRef.name;
  if (plan === undefined) return [`spec.rule: rule ${req.spec.rule} of AccessPolicy ${policyName} does not exist or does not require approval: spec.approval cannot be its plan (the policy may have changed: run the command again)`];
  if (samePlan(given, plan)) return [];
  return [`spec.approval: ${describePlan(given)} is not the plan of rule ${req.spec.rule} of AccessPolicy ${policyName} (${describePlan(plan)}): the sidecar records the rule's approverGroups, minApprovals and ttl (the policy may have changed: run the command again)`];
}

export function validateApprovalCreate(req: ApprovalRequest, policy?: AccessPolicy): string[] {
  // The agent shares the pod's service account with its sidecar and may create requests too: one
  // whose preview or hash is not its text's would show reviewers one command and approve another.
  const command = typeof req.spec.command?.text === 'string' ? commandProblems(req.spec.command) : ['spec.command.text: is required (the command reviewers read)'];
  const problems = [...command, ...planErrors(req, policy)];
  if (reviewsOf(req).length === 0) return problems;
  return [...problems, `spec.reviews: must be empty when the request is created (the requester cannot bring its own reviews); reviewers ${HOW_TO_REVIEW}`];
}

export interface ApprovalContext {
  /** The AccessPolicy named by spec.policyRef (undefined when it does not exist). */
  policy: AccessPolicy | undefined;
  now: Date;
  /** How the apiserver names users of each OIDC issuer (GUARITA_OIDC_USERNAME_MAPPINGS): the four-eyes check. */
  usernameMappings: readonly OidcUsernameMapping[];
}

function immutableFields(oldReq: ApprovalRequest, newReq: ApprovalRequest): string[] {
  const keys = new Set([...Object.keys(oldReq.spec), ...Object.keys(newReq.spec)]);
  keys.delete('reviews');
  const o = oldReq.spec as Record<string, unknown>;
  const n = newReq.spec as Record<string, unknown>;
  return [...keys].filter((k) => !deepEqual(o[k], n[k])).map((k) => `spec.${k}: is immutable (only spec.reviews can change, by appending)`);
}

function appendOnly(old: readonly Review[], next: readonly Review[]): string[] {
  if (next.length < old.length) return [`spec.reviews: reviews are append-only: ${old.length - next.length} existing review(s) removed; ${HOW_TO_REVIEW}`];
  return old.flatMap((r, i) => (deepEqual(r, next[i]) ? [] : [`spec.reviews[${i}]: reviews are append-only: an existing review cannot be changed; ${HOW_TO_REVIEW}`]));
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

/** The stamped uid is the authenticated one (both absent or empty when the authenticator sets none). */
function sameUid(review: Review, user: UserInfo): boolean {
  return (review.reviewerUid ?? '') === (user.uid ?? '');
}

function identityErrors(review: Review, field: string, user: UserInfo): string[] {
  const errors: string[] = [];
  const username = user.username ?? '';
  if (review.reviewer !== username) {
    errors.push(`${field}.reviewer: "${review.reviewer ?? ''}" is not the authenticated user "${username}": omit reviewer, the webhook records who you are`);
  }
  if (review.reviewerGroups !== undefined && !sameSet(review.reviewerGroups, user.groups ?? [])) {
    errors.push(`${field}.reviewerGroups: differs from the authenticated user's groups: omit reviewerGroups, the webhook records them`);
  }
  if (!sameUid(review, user)) errors.push(`${field}.reviewerUid: differs from the authenticated user's uid: omit reviewerUid, the webhook records it`);
  if (review.time === undefined) errors.push(`${field}.time: missing: the mutating webhook stamp.approvalrequests.guarita.io did not run (check the MutatingWebhookConfiguration)`);
  return errors;
}

function findRule(policy: AccessPolicy, name: string): PolicyRule | undefined {
  return policy.spec.rules.find((r) => r.name === name);
}

function approverErrors(req: ApprovalRequest, field: string, user: UserInfo, policy: AccessPolicy | undefined): string[] {
  const policyName = req.spec.policyRef.name;
  if (policy === undefined) return [`spec.policyRef.name: AccessPolicy ${policyName} does not exist in namespace ${req.metadata.namespace ?? ''}: nobody can review this request`];
  const rule = findRule(policy, req.spec.rule);
  const groups = rule?.approval?.approverGroups;
  if (groups === undefined) return [`spec.rule: rule ${req.spec.rule} of AccessPolicy ${policyName} does not exist or does not require approval: nobody can review this request`];
  if ((user.groups ?? []).some((g) => groups.includes(g))) return [];
  return [`${field}: user "${user.username ?? ''}" is not in an approver group of rule ${req.spec.rule} of AccessPolicy ${policyName} (approverGroups: ${groups.join(', ')})`];
}

function openErrors(oldReq: ApprovalRequest, required: number, now: Date): string[] {
  const errors: string[] = [];
  const expiresAt = Date.parse(oldReq.spec.expiresAt);
  if (!(now.getTime() < expiresAt)) errors.push(`spec.expiresAt: the request expired at ${oldReq.spec.expiresAt}: it can no longer be reviewed`);
  const phase = oldReq.status?.phase;
  if (phase !== undefined && FINAL_PHASES.includes(phase)) errors.push(`status.phase: the request is already ${phase}: it can no longer be reviewed`);
  const old = reviewsOf(oldReq);
  if (old.some((r) => r.decision === 'Denied')) errors.push('spec.reviews: the request was already denied (one denial ends it): it can no longer be reviewed');
  else if (old.filter((r) => r.decision === 'Approved').length >= required) errors.push(`spec.reviews: the request already has the ${required} approval(s) it needs: it can no longer be reviewed`);
  return errors;
}

function requiredApprovals(req: ApprovalRequest, policy: AccessPolicy | undefined): number {
  const rule = policy === undefined ? undefined : findRule(policy, req.spec.rule);
  return rule?.approval?.minApprovals ?? 1;
}

/** Not the requester, and not someone who already reviewed. */
function fourEyesErrors(old: readonly Review[], req: ApprovalRequest, field: string, user: UserInfo, ctx: ApprovalContext): string[] {
  const username = user.username ?? '';
  const uid = user.uid ?? '';
  const errors: string[] = [];
  const same = matchRequester({ username, uid }, req.spec.requester, ctx.usernameMappings);
  if (same.verdict === 'requester') errors.push(`${field}: "${username}" is the requester of this command and cannot review it (four-eyes principle)`);
  // Fail closed: a review whose reviewer might be the requester is not admitted at all.
  if (same.verdict === 'unknown') errors.push(`${field}: cannot check that "${username}" is not the requester (four-eyes principle): ${same.why}`);
  // Once per person: by username (folded like the requester check: Dana and dana are one person),
  // and by uid where the apiserver sets one (a renamed account is the same reviewer).
  if (old.some((r) => foldUsername(r.reviewer ?? '') === foldUsername(username) || (uid !== '' && r.reviewerUid === uid))) errors.push(`${field}: "${username}" already reviewed this request`);
  return errors;
}

function newReviewErrors(oldReq: ApprovalRequest, newReq: ApprovalRequest, user: UserInfo, ctx: ApprovalContext): string[] {
  const old = reviewsOf(oldReq);
  const added = reviewsOf(newReq).slice(old.length);
  if (added.length === 0) return [];
  const errors = added.length > 1 ? [`spec.reviews: ${added.length} reviews appended at once: append exactly one (each reviewer decides once)`] : [];
  added.forEach((review, k) => {
    const field = `spec.reviews[${old.length + k}]`;
    errors.push(...identityErrors(review, field, user), ...fourEyesErrors(old, newReq, field, user, ctx), ...approverErrors(newReq, field, user, ctx.policy));
  });
  return [...errors, ...openErrors(oldReq, requiredApprovals(newReq, ctx.policy), ctx.now)];
}

export function validateApprovalUpdate(oldReq: ApprovalRequest, newReq: ApprovalRequest, user: UserInfo, ctx: ApprovalContext): string[] {
  const old = reviewsOf(oldReq);
  const next = reviewsOf(newReq);
  const structural = [...immutableFields(oldReq, newReq), ...creatorFrozen(oldReq, newReq), ...appendOnly(old, next)];
  if (structural.length > 0) return structural;
  return newReviewErrors(oldReq, newReq, user, ctx);
}
