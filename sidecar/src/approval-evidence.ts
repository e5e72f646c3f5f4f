// What the signed approval.consumed record says about the approval itself (issue 18, item 11): the
// ApprovalRequest is deleted by retention long before the sessions are, so the record carries who
// decided (the webhook-stamped reviewer and groups), their decisions, times and reasons, the rule,
// the approver groups and the approvals it required. Read from the request as the sidecar claimed
// it (the Approved → Consumed patch answers with the whole object). The approver groups and the
// approvals required are those of the plan the counted reviews were checked against when the request
// was claimed (the rule's then, which the plan recorded at creation must cover: core/approvals/plan.ts),
// so they always agree with the reviews the record lists.
import type { ApprovalRequest } from '../../crds/types.ts';
import { recordedPlan } from '../../core/approvals/plan.ts';
import type { ApprovalEvidence, ApprovalReviewEvidence } from '../../core/recording/index.ts';
import type { ApprovalPlan } from './core-types.ts';
import { opt } from './util.ts';

const MAX_REVIEWS = 20;

/**
 * The evidence of a consumed request. `plan` is the rule's at consumption, against which the
 * sidecar checked the counted reviews before claiming (termsOf). The counted reviews (status.reviews, as the operator counted
 * them) come first; their groups are those the webhook stamped on the matching spec review. When
 * the operator listed none, the stamped spec reviews stand in. Reasons go through `mask` (approvers
 * may paste identifiers); reviewer names are the accountable people and are kept.
 */
export function approvalEvidence(request: ApprovalRequest, plan: ApprovalPlan | undefined, mask: (text: string) => string): ApprovalEvidence {
  const reviews = reviewsOf(request, mask);
  const status = request.status ?? {};
  const terms = termsOf(request, plan);
  return {
    request: request.metadata.name,
    rule: request.spec.rule,
    required: terms.required,
    approvals: status.approvals ?? reviews.filter((r) => r.decision === 'Approved').length,
    ...opt('approverGroups', terms.approverGroups),
    ...opt('requestedAt', request.metadata.creationTimestamp),
    ...opt('decidedAt', status.decidedAt),
    ...opt('consumedAt', status.consumedAt),
    reviews,
  };
}

/**
 * The approvals required and the approver groups: those of the plan the sidecar checked the
 * counted reviews against when it claimed the request (the rule's at consumption, which the
 * recorded plan covers), so the record never names groups its reviewers are outside of or more
 * approvals than it lists (round 9b review: after a rule was loosened, the recorded plan's did);
 * without it, the recorded plan's, else the operator's count.
 */
function termsOf(request: ApprovalRequest, plan: ApprovalPlan | undefined): { required: number; approverGroups: string[] | undefined } {
  if (plan !== undefined) return { required: plan.minApprovals, approverGroups: plan.approverGroups };
  const answered = recordedPlan(request);
  if (answered !== undefined) return { required: answered.minApprovals, approverGroups: answered.approverGroups };
  return { required: request.status?.required ?? 1, approverGroups: undefined };
}

function reviewsOf(request: ApprovalRequest, mask: (text: string) => string): ApprovalReviewEvidence[] {
  const stamped = (request.spec.reviews ?? []).filter((r) => r.reviewer !== undefined && r.time !== undefined);
  const groupsOf = (reviewer: string, time: string): string[] => stamped.find((s) => s.reviewer === reviewer && s.time === time)?.reviewerGroups ?? [];
  const counted = request.status?.reviews ?? stamped.map((s) => ({ reviewer: s.reviewer ?? '', decision: s.decision, reason: s.reason, time: s.time ?? '' }));
  return counted.slice(0, MAX_REVIEWS).map((r) => ({ reviewer: r.reviewer, groups: groupsOf(r.reviewer, r.time), decision: r.decision, reason: mask(r.reason), time: r.time }));
}
