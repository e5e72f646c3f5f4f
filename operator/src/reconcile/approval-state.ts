// The ApprovalRequest state machine, pure:
//
//   Pending ──(valid approvals ≥ rule.minApprovals)──▶ Approved ──(sidecar runs it)──▶ Consumed
//      │ └──(any valid Denied)──▶ Denied                  │
//      └──(now ≥ expiresAt)──▶ Expired ◀──(not consumed by expiresAt + grace, = status.consumeBy;
//                                          or the rule in force no longer accepts it)──┘
//
// Only reviews the admission webhook stamped (reviewer and time) count, and only if the reviewer
// is in one of the rule's approverGroups (reviewerGroups, stamped too), is not the requester,
// reviewed before expiresAt and has not reviewed before. An Approved request whose rule changed
// so that its approval no longer answers it (core/approvals/plan.ts: more approvals, other
// approvers, the rule gone) expires, naming the change: the sidecar would not run it either; so
// does a Pending request whose recorded plan no longer covers the rule (no approver's time is
// spent on a request the sidecar would not use). (A
// ttl shortened since is judged by the sidecar on the request's lifetime; the request then expires
// here at expiresAt + grace as any unused approval.) The operator never moves a request out of Consumed, Denied or Expired; finished
// requests are deleted after the policy's retention.
//
// A new request whose requester already has the maximum of requests Pending in the namespace, or
// whose creating pod (as the webhook stamped it) has the maximum of its own (approval-cap.ts),
// expires at its first decision instead of becoming Pending: approvers are not asked, and the
// sidecar holding the command gets its answer at once.
import type { AccessPolicy, ApprovalRequest, ApprovalRequestStatus, PolicyRule } from '../../../crds/types.ts';
import { approvalShortfall, planShortfall, recordedPlan, rulePlan } from '../../../core/approvals/plan.ts';
import { foldUsername, matchRequester, type OidcUsernameMapping } from '../../../core/approvals/requester.ts';
import { kubeTime } from '../../../core/duration.ts';
import { compact } from '../util.ts';
import { DEFAULT_MAX_PENDING_PER_POD, DEFAULT_MAX_PENDING_PER_REQUESTER, overCap, overPodCap, type Ahead } from './approval-cap.ts';

type Review = NonNullable<ApprovalRequest['spec']['reviews']>[number];
type CountedReview = NonNullable<ApprovalRequestStatus['reviews']>[number];
export type Phase = NonNullable<ApprovalRequestStatus['phase']>;

export const TERMINAL: readonly Phase[] = ['Denied', 'Expired', 'Consumed'];

export interface ApprovalOptions {
  /** How long an Approved request may wait for the sidecar after expiresAt before it expires. */
  approvedGraceMs: number;
  /** How long finished requests are kept when the policy does not say (spec.retention.approvals). */
  defaultRetentionMs: number;
  /** How the apiserver names users of each OIDC issuer (GUARITA_OIDC_USERNAME_MAPPINGS): the four-eyes check. */
  usernameMappings: readonly OidcUsernameMapping[];
  parseDuration: (d: string) => number | undefined;
  /** Pending ApprovalRequests one requester may have per namespace (GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER); default 20. */
  maxPendingPerRequester?: number;
  /** Pending ApprovalRequests one creating pod (or user outside a pod) may have, whatever requesters they name (GUARITA_MAX_PENDING_APPROVALS_PER_POD); default 50. */
  maxPendingPerPod?: number;
}

export interface ApprovalDecision {
  /** The status fields the operator owns, as they should be (undefined: leave the status alone). */
  patch?: Partial<ApprovalRequestStatus>;
  from: Phase | undefined;
  to: Phase;
  /** Reconcile again at this time (expiry, or garbage collection). */
  wakeAt?: number;
  /** Delete the request now (finished and past retention). */
  delete: boolean;
  ignored: { reviewer: string; why: string }[];
  /** Expired at its first decision by a cap on Pending requests (per requester or per creating pod). */
  overCap?: true;
}

export function findApprovalRule(policy: AccessPolicy | undefined, rule: string): PolicyRule | undefined {
  const r = policy?.spec.rules.find((x) => x.name === rule);
  return r?.action === 'requireApproval' && r.approval !== undefined ? r : undefined;
}

function requesterProblem(r: Review, req: ApprovalRequest, mappings: readonly OidcUsernameMapping[]): string | undefined {
  const same = matchRequester({ username: r.reviewer ?? '', uid: r.reviewerUid ?? '' }, req.spec.requester, mappings);
  if (same.verdict === 'requester') return 'the requester cannot review their own command';
  // Fail closed: a review that might be the requester's does not count.
  if (same.verdict === 'unknown') return `cannot check that the reviewer is not the requester: ${same.why}`;
  return undefined;
}

/**
 * Who reviewed, for "a reviewer counts once": the username, and the uid where the apiserver sets
 * one (a person whose username claim changed between two reviews is still one reviewer).
 */
function reviewerKeys(r: Review): string[] {
  const uid = r.reviewerUid ?? '';
  // Folded like the requester check: Dana and dana are one reviewer.
  return [`name:${foldUsername(r.reviewer ?? '')}`, ...(uid === '' ? [] : [`uid:${uid}`])];
}

function reviewProblem(r: Review, req: ApprovalRequest, groups: readonly string[] | undefined, seen: Set<string>, mappings: readonly OidcUsernameMapping[]): string | undefined {
  if (r.reviewer === undefined || r.reviewer === '' || r.time === undefined) return 'not stamped by the admission webhook (no reviewer or time)';
  if (groups === undefined) return `rule ${req.spec.rule} of AccessPolicy ${req.spec.policyRef.name} does not exist or does not require approval`;
  if (!(r.reviewerGroups ?? []).some((g) => groups.includes(g))) return `not in an approver group (${groups.join(', ')})`;
  const selfReview = requesterProblem(r, req, mappings);
  if (selfReview !== undefined) return selfReview;
  if (reviewerKeys(r).some((key) => seen.has(key))) return 'already reviewed';
  if (!(Date.parse(r.time) < Date.parse(req.spec.expiresAt))) return `reviewed after the request expired at ${req.spec.expiresAt}`;
  return undefined;
}

/** The reviews that count, in order, and the ones ignored with why. */
export function countReviews(req: ApprovalRequest, rule: PolicyRule | undefined, mappings: readonly OidcUsernameMapping[]): { counted: CountedReview[]; ignored: { reviewer: string; why: string }[] } {
  const groups = rule?.approval?.approverGroups;
  const seen = new Set<string>();
  const counted: CountedReview[] = [];
  const ignored: { reviewer: string; why: string }[] = [];
  for (const r of req.spec.reviews ?? []) {
    const why = reviewProblem(r, req, groups, seen, mappings);
    if (why !== undefined) {
      ignored.push({ reviewer: r.reviewer ?? '(unstamped)', why });
      continue;
    }
    const reviewer = r.reviewer ?? '';
    for (const key of reviewerKeys(r)) seen.add(key);
    counted.push({ reviewer, decision: r.decision, reason: r.reason, time: r.time ?? '' });
  }
  return { counted, ignored };
}

function finishedAt(req: ApprovalRequest): number {
  const s = req.status;
  const t = s?.consumedAt ?? s?.decidedAt ?? req.metadata.creationTimestamp;
  return t === undefined ? 0 : Date.parse(t);
}

function retentionMs(policy: AccessPolicy | undefined, opts: ApprovalOptions): number {
  const d = policy?.spec.retention?.approvals;
  return (d === undefined ? undefined : opts.parseDuration(d)) ?? opts.defaultRetentionMs;
}

function terminal(req: ApprovalRequest, policy: AccessPolicy | undefined, now: number, opts: ApprovalOptions): ApprovalDecision {
  const phase = req.status?.phase as Phase;
  const gcAt = finishedAt(req) + retentionMs(policy, opts);
  return { from: phase, to: phase, delete: now >= gcAt, ignored: [], ...(now >= gcAt ? {} : { wakeAt: gcAt }) };
}

function pendingMessage(approvals: number, required: number, rule: PolicyRule | undefined, req: ApprovalRequest): string {
  if (rule === undefined) return `AccessPolicy ${req.spec.policyRef.name} has no rule ${req.spec.rule} requiring approval: nobody can approve this request; it expires at ${req.spec.expiresAt}`;
  return `waiting for ${required - approvals} more approval(s) from ${(rule.approval?.approverGroups ?? []).join(', ')} (${approvals}/${required}) until ${req.spec.expiresAt}`;
}

interface Tally { phase: Phase; message: string; wakeAt?: number; overCap?: true }

/**
 * Why an Approved request no longer answers its rule in force (undefined: it does). A policy the
 * operator has not seen decides nothing here: the sidecar refuses commands under a missing policy.
 */
function policyChange(req: ApprovalRequest, policy: AccessPolicy | undefined, rule: PolicyRule | undefined): string | undefined {
  if (policy === undefined) return undefined;
  const plan = rulePlan(rule);
  if (plan === undefined) return `rule ${req.spec.rule} of AccessPolicy ${req.spec.policyRef.name} no longer requires approval`;
  return approvalShortfall(req, plan);
}

/**
 * Why a Pending request's recorded plan no longer covers its rule in force (undefined: it does, or
 * the request records none, or the rule is gone: it waits for the rule to come back as before).
 * Approving it would be wasted: the sidecar claims only a request whose recorded plan covers the
 * rule, and it would expire once Approved anyway (policyChange).
 */
function pendingPlanChange(req: ApprovalRequest, policy: AccessPolicy | undefined, rule: PolicyRule | undefined): string | undefined {
  const given = recordedPlan(req);
  const plan = policy === undefined ? undefined : rulePlan(rule);
  return given === undefined || plan === undefined ? undefined : planShortfall(given, plan);
}

function approvedTally(req: ApprovalRequest, policy: AccessPolicy | undefined, rule: PolicyRule | undefined, now: number, opts: ApprovalOptions): Tally {
  const deadline = Date.parse(req.spec.expiresAt) + opts.approvedGraceMs;
  if (now >= deadline) return { phase: 'Expired', message: `approved but not run by the sidecar before ${kubeTime(deadline)}` };
  // Approved with no counted review (set Approved outside the review flow, as the operator's
  // account): no approver answered the rule, whatever the policy did (round 9b review).
  if ((req.status?.reviews ?? []).length === 0) return { phase: 'Expired', message: 'approved without a counted review (only reviews by the rule\'s approver groups, through spec.reviews, approve a command); the command must be approved through the review flow' };
  const changed = policyChange(req, policy, rule);
  if (changed !== undefined) return { phase: 'Expired', message: `the policy changed after the approval: ${changed}; the command must be approved again under the rule in force` };
  return { phase: 'Approved', message: req.status?.message ?? 'approved', wakeAt: deadline };
}

function tally(req: ApprovalRequest, counted: CountedReview[], required: number, policy: AccessPolicy | undefined, now: number, opts: ApprovalOptions): Tally {
  const rule = findApprovalRule(policy, req.spec.rule);
  const expiresAt = Date.parse(req.spec.expiresAt);
  const approvals = counted.filter((r) => r.decision === 'Approved').length;
  if (req.status?.phase === 'Approved') return approvedTally(req, policy, rule, now, opts);
  const denial = counted.find((r) => r.decision === 'Denied');
  if (denial !== undefined) return { phase: 'Denied', message: `denied by ${denial.reviewer}: ${denial.reason}` };
  const changed = pendingPlanChange(req, policy, rule);
  if (changed !== undefined) return { phase: 'Expired', message: `the policy changed while the request waited: ${changed}; the agent's next try asks again under the rule in force` };
  if (approvals >= required) return { phase: 'Approved', message: `approved by ${counted.filter((r) => r.decision === 'Approved').map((r) => r.reviewer).join(', ')}`, wakeAt: expiresAt + opts.approvedGraceMs };
  if (now >= expiresAt) return { phase: 'Expired', message: `expired at ${req.spec.expiresAt} with ${approvals}/${required} approval(s)` };
  return { phase: 'Pending', message: pendingMessage(approvals, required, rule, req), wakeAt: expiresAt };
}

function samePatch(req: ApprovalRequest, patch: Partial<ApprovalRequestStatus>): boolean {
  const s = (req.status ?? {}) as Record<string, unknown>;
  return Object.entries(patch).every(([k, v]) => JSON.stringify(s[k]) === JSON.stringify(v));
}

/** Once Approved, later reviews change nothing (the webhook refuses them too). */
function frozenReviews(req: ApprovalRequest): CountedReview[] | undefined {
  return req.status?.phase === 'Approved' ? req.status.reviews : undefined;
}

/**
 * A request not decided yet whose requester, or creating pod, is at its cap (undefined: no requests
 * ahead given, or within both caps). The requester's cap is named first when both are reached.
 */
function capTally(req: ApprovalRequest, ahead: Ahead | undefined, byCreator: Ahead | undefined, opts: ApprovalOptions): Tally | undefined {
  if (req.status?.phase !== undefined) return undefined;
  const why = (ahead === undefined ? undefined : overCap(req, ahead, opts.maxPendingPerRequester ?? DEFAULT_MAX_PENDING_PER_REQUESTER))
    ?? (byCreator === undefined ? undefined : overPodCap(req, byCreator, opts.maxPendingPerPod ?? DEFAULT_MAX_PENDING_PER_POD));
  return why === undefined ? undefined : { phase: 'Expired', message: why, overCap: true };
}

/**
 * `ahead`: the requester's requests ahead of this one (approval-cap.ts), for the cap on Pending
 * requests per requester; `byCreator`: its creating pod's (or user's), for the cap per pod.
 * Undefined checks no cap of that kind.
 */
export function decideApproval(req: ApprovalRequest, policy: AccessPolicy | undefined, now: number, opts: ApprovalOptions, ahead?: Ahead, byCreator?: Ahead): ApprovalDecision {
  const from = req.status?.phase;
  if (from !== undefined && TERMINAL.includes(from)) return terminal(req, policy, now, opts);
  const rule = findApprovalRule(policy, req.spec.rule);
  const required = rule?.approval?.minApprovals ?? 1;
  const { counted, ignored } = countReviews(req, rule, opts.usernameMappings);
  const reviews = frozenReviews(req) ?? counted;
  const t = capTally(req, ahead, byCreator, opts) ?? tally(req, reviews, required, policy, now, opts);
  const patch: Partial<ApprovalRequestStatus> = {
    phase: t.phase, required, approvals: reviews.filter((r) => r.decision === 'Approved').length, reviews, message: t.message.slice(0, 1024),
    ...compact({ decidedAt: decidedAt(req, t.phase, now), consumeBy: consumeBy(req, t.phase, opts) }),
  };
  return { ...(samePatch(req, patch) ? {} : { patch }), from, to: t.phase, delete: false, ignored, ...compact({ wakeAt: t.wakeAt, overCap: t.overCap }) };
}

/**
 * While Approved: the last moment the sidecar may run the command (expiresAt + grace). Sidecars
 * read it so that an approval is not usable forever while the operator is down.
 */
function consumeBy(req: ApprovalRequest, phase: Phase, opts: ApprovalOptions): string | undefined {
  return phase === 'Approved' ? kubeTime(Date.parse(req.spec.expiresAt) + opts.approvedGraceMs) : req.status?.consumeBy;
}

/** When the phase left Pending: now for a decision made now, else as recorded. */
function decidedAt(req: ApprovalRequest, phase: Phase, now: number): string | undefined {
  const from = req.status?.phase;
  const decidedNow = phase !== 'Pending' && (from === undefined || from === 'Pending');
  return decidedNow ? kubeTime(now) : req.status?.decidedAt;
}
