// Whether an approval still answers the rule in force. An ApprovalRequest records the plan of the
// rule that held the command (spec.approval: approver groups, approvals needed, ttl); the policy
// can change before the approval is used (a retry finds it minutes later). One judgement for the
// sidecar (claim it or hold the command on a new request), the operator (expire an Approved
// request its rule no longer accepts) and the webhook (the recorded plan is the rule's at CREATE):
//
// - the plan in force must be covered by the recorded one: every recorded approver group still
//   approves, and the rule needs no more approvals than recorded;
// - the request's own counted reviews (status.reviews, with the groups the webhook stamped on the
//   matching spec.reviews) must satisfy the plan in force: enough approvals, and every approving
//   reviewer in an approver group now. A request without a recorded plan (older sidecars) is
//   judged by its reviews alone; one whose reviews cannot be read is not used (fail closed).
import type { ApprovalRequest, PolicyRule } from '../../crds/types.ts';
import { parseDuration } from '../duration.ts';
import type { ApprovalPlan } from '../policy/types.ts';

export type { ApprovalPlan };

/** Clock skew tolerated between the apiserver, the operator and a sidecar when judging a request's times. */
export const CLOCK_SKEW_MS = 120_000;

/** The rule's default ttl, as the policy engine applies it (core/policy/decide.ts). */
const DEFAULT_TTL = '15m';

/** The plan of a requireApproval rule as the policy engine compiles it; undefined for any other rule, or a ttl that does not parse. */
export function rulePlan(rule: PolicyRule | undefined): ApprovalPlan | undefined {
  const a = rule?.action === 'requireApproval' ? rule.approval : undefined;
  if (a === undefined) return undefined;
  let ttlSeconds: number;
  try {
    ttlSeconds = parseDuration(a.ttl ?? DEFAULT_TTL);
  } catch {
    return undefined;
  }
  return { approverGroups: [...a.approverGroups], minApprovals: a.minApprovals ?? 1, ttlSeconds };
}

/** The plan recorded in spec.approval; undefined for requests created by older sidecars. */
export function recordedPlan(request: ApprovalRequest): ApprovalPlan | undefined {
  const a = request.spec.approval;
  return a === undefined ? undefined : { approverGroups: [...a.approverGroups], minApprovals: a.minApprovals, ttlSeconds: a.ttlSeconds };
}

/** How spec.approval is written: the plan's fields, nothing else. */
export function planField(plan: ApprovalPlan): NonNullable<ApprovalRequest['spec']['approval']> {
  return { approverGroups: [...plan.approverGroups], minApprovals: plan.minApprovals, ttlSeconds: plan.ttlSeconds };
}

const groupSet = (p: ApprovalPlan): string => JSON.stringify([...new Set(p.approverGroups)].sort());

export function samePlan(a: ApprovalPlan, b: ApprovalPlan): boolean {
  return groupSet(a) === groupSet(b) && a.minApprovals === b.minApprovals && a.ttlSeconds === b.ttlSeconds;
}

export function describePlan(p: ApprovalPlan): string {
  return `${p.minApprovals} approval(s) from ${p.approverGroups.join(', ')}, ttl ${p.ttlSeconds}s`;
}

/**
 * Why approvals given under `given` do not satisfy `now` (undefined: they do): a recorded approver
 * group that no longer approves, or more approvals needed. The ttl is judged on the request's own
 * lifetime (lifetimeShortfall), not here.
 */
export function planShortfall(given: ApprovalPlan, now: ApprovalPlan): string | undefined {
  const dropped = [...new Set(given.approverGroups)].filter((g) => !now.approverGroups.includes(g));
  if (dropped.length > 0) return `approver group(s) ${dropped.join(', ')} no longer approve (approverGroups now: ${now.approverGroups.join(', ')})`;
  if (now.minApprovals > given.minApprovals) return `the rule now needs ${now.minApprovals} approval(s), the request asked for ${given.minApprovals}`;
  return undefined;
}

type Counted = NonNullable<NonNullable<ApprovalRequest['status']>['reviews']>[number];

/** The groups the webhook stamped on the spec review the operator counted (matched by reviewer and time); undefined when none matches. */
function stampedGroups(request: ApprovalRequest, counted: Counted): string[] | undefined {
  const review = (request.spec.reviews ?? []).find((r) => r.reviewer === counted.reviewer && r.time === counted.time && r.decision === counted.decision);
  return review?.reviewerGroups;
}

function reviewerShortfall(request: ApprovalRequest, review: Counted, now: ApprovalPlan): string | undefined {
  const groups = stampedGroups(request, review);
  if (groups === undefined) return `the review by ${review.reviewer} has no groups stamped by the admission webhook`;
  if (!groups.some((g) => now.approverGroups.includes(g))) return `${review.reviewer} (groups ${groups.join(', ') || 'none'}) is not in an approver group now (${now.approverGroups.join(', ')})`;
  return undefined;
}

/**
 * Why the request's counted reviews do not satisfy `now` (undefined: they do): a counted denial,
 * an approving reviewer outside the approver groups now, or too few distinct approvers.
 */
export function reviewsShortfall(request: ApprovalRequest, now: ApprovalPlan): string | undefined {
  const counted = request.status?.reviews ?? [];
  const denial = counted.find((r) => r.decision !== 'Approved');
  if (denial !== undefined) return `${denial.reviewer} denied it`;
  for (const review of counted) {
    const problem = reviewerShortfall(request, review, now);
    if (problem !== undefined) return problem;
  }
  const approvers = new Set(counted.map((r) => r.reviewer)).size;
  if (approvers < now.minApprovals) return `${approvers} of the ${now.minApprovals} approval(s) the rule now needs`;
  return undefined;
}

/**
 * Why an Approved request no longer answers the rule in force, whose plan is `now` (undefined: it
 * does). The recorded plan must cover `now`, and the counted reviews must satisfy it.
 */
export function approvalShortfall(request: ApprovalRequest, now: ApprovalPlan): string | undefined {
  const given = recordedPlan(request);
  const plan = given === undefined ? undefined : planShortfall(given, now);
  return plan ?? reviewsShortfall(request, now);
}

/**
 * Why the request lives longer than `ttlSeconds` allows (undefined: it does not): from its
 * creation (the apiserver's time) to spec.expiresAt, within CLOCK_SKEW_MS. A request written with a
 * far expiresAt, or created under a longer ttl than the rule's now, would keep an approval usable
 * longer than the rule allows.
 */
export function lifetimeShortfall(request: ApprovalRequest, ttlSeconds: number): string | undefined {
  const created = Date.parse(request.metadata.creationTimestamp ?? '');
  const expires = Date.parse(request.spec.expiresAt);
  if (!Number.isFinite(created) || !Number.isFinite(expires)) return 'its creationTimestamp or spec.expiresAt cannot be read';
  if (expires - created > ttlSeconds * 1000 + CLOCK_SKEW_MS) return `it lives ${Math.round((expires - created) / 1000)}s, longer than the rule's ttl now (${ttlSeconds}s)`;
  return undefined;
}

/**
 * The last moment an Approved request may be claimed: status.consumeBy (the operator's
 * spec.expiresAt + GUARITA_APPROVED_GRACE), or spec.expiresAt without it, plus CLOCK_SKEW_MS. NaN
 * (never) when neither can be read.
 */
export function claimDeadline(request: ApprovalRequest): number {
  const by = Date.parse(request.status?.consumeBy ?? request.spec.expiresAt);
  return by + CLOCK_SKEW_MS;
}

/** Why an Approved request cannot be claimed at `now` (ms) for its deadline; undefined when it can. */
export function claimTimeShortfall(request: ApprovalRequest, now: number): string | undefined {
  const deadline = claimDeadline(request);
  if (!(now <= deadline)) return `it had to be used by ${request.status?.consumeBy ?? request.spec.expiresAt}`;
  return undefined;
}
