// Round 9b review of the round 9 approval fixes (8fac68e). The unit-level side of the findings in
// docs/security-model.md, "Round 9b review: the approval fixes attacked again" (the integration side: sidecar/test/approvals-round9b-attacks.int):
//  - F2: the signed evidence names the recorded plan (spec.approval) as the terms the approval
//    answered, but the webhook admits and the operator counts reviews by the rule in force: after a
//    rule is loosened, the record names approver groups the only approver is not in, or fewer
//    approvals than it says were required;
//  - F3: the break-glass approval no longer runs a command, but docs/webhook.md still offers it, and
//    the operator expires such a request saying "the policy changed after the approval" when nothing
//    changed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy, ApprovalRequest } from '../../crds/types.ts';
import { approvalEvidence } from '../../sidecar/src/approval-evidence.ts';
import { decideApproval } from '../../operator/src/reconcile/approval-state.ts';
import { parseDuration } from '../duration.ts';
import { approvalShortfall, planField, rulePlan, type ApprovalPlan } from './plan.ts';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const at = (minute: number): string => new Date(T0 + minute * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');

type SpecReview = NonNullable<ApprovalRequest['spec']['reviews']>[number];

function request(recorded: ApprovalPlan, reviews: SpecReview[], phase: 'Approved' | 'Consumed' = 'Consumed'): ApprovalRequest {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name: 'ar-1', namespace: 'shop', creationTimestamp: at(0) },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'exports', requester: { username: 'agent', kind: 'User' }, purpose: 'support', target: { name: 'orders-db', protocol: 'postgres' },
      command: { text: 'COPY customers TO STDOUT', preview: 'COPY customers TO STDOUT', sha256: 'a'.repeat(64) }, podRef: { name: 'agent' }, sessionId: 's1',
      expiresAt: at(15), reviews, approval: planField(recorded),
    },
    status: {
      phase, approvals: reviews.length, required: 1,
      reviews: reviews.map((r) => ({ reviewer: r.reviewer ?? '', decision: r.decision, reason: r.reason, time: r.time ?? '' })),
    },
  };
}

const review = (reviewer: string, groups: string[]): SpecReview => ({ decision: 'Approved', reason: 'ticket', reviewer, reviewerGroups: groups, time: at(2) });

describe('F2: the evidence names the recorded plan, not the terms the approval was given under', () => {
  it('held under [dpo], the rule loosened to [dpo, auditors], approved by an auditor: claimable, and the record says approverGroups [dpo] with one review by an auditor', () => {
    const r = request({ approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 }, [review('audrey', ['auditors'])]);
    // The sidecar claims it (the rule in force accepts the auditor) ...
    expect(approvalShortfall(r, { approverGroups: ['dpo', 'auditors'], minApprovals: 1, ttlSeconds: 900 })).toBeUndefined();
    // ... and signs a record whose approvers are not the groups it names.
    const e = approvalEvidence(r, { approverGroups: ['dpo', 'auditors'], minApprovals: 1, ttlSeconds: 900 }, (t) => t);
    const outside = (e.reviews ?? []).filter((x) => !(x.groups ?? []).some((g) => (e.approverGroups ?? []).includes(g))).map((x) => x.reviewer);
    expect({ approverGroups: e.approverGroups, reviewersOutsideThem: outside }).toEqual({ approverGroups: e.approverGroups, reviewersOutsideThem: [] });
  });

  it('held under 2 approvals, the rule loosened to 1, approved once: claimable, and the record says 1 approval of 2 required', () => {
    const r = request({ approverGroups: ['dpo'], minApprovals: 2, ttlSeconds: 900 }, [review('dana', ['dpo'])]);
    expect(approvalShortfall(r, { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 })).toBeUndefined();
    const e = approvalEvidence(r, { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 }, (t) => t);
    expect(e.approvals).toBeGreaterThanOrEqual(e.required);
  });
});

describe('F3: the emergency (break-glass) approval that no longer runs', () => {
  it('docs/webhook.md no longer offers approving a request outside the review flow as break-glass (it cannot run a command since 8fac68e)', () => {
    const webhookDoc = readFileSync(join(import.meta.dirname, '../../docs/webhook.md'), 'utf8');
    const breakGlass = /\*\*Break-glass\.\*\*[^]*?(?=\n\n)/.exec(webhookDoc)?.[0] ?? '';
    expect(breakGlass).not.toMatch(/approve one outside the review flow/);
  });

  it('a request set Approved as the operator (no counted reviews) under an unchanged policy: the operator expires it saying the policy changed', () => {
    const policy = {
      apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'orders-db', namespace: 'shop' },
      spec: { rules: [{ name: 'exports', action: 'requireApproval', approval: { approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' } }] },
    } as unknown as AccessPolicy;
    const plan = rulePlan(policy.spec.rules[0]);
    expect(plan).toEqual({ approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 });
    const breakGlass = request(plan ?? { approverGroups: [], minApprovals: 1, ttlSeconds: 0 }, [], 'Approved');
    breakGlass.status = { phase: 'Approved', message: 'approved by the security team (incident 7)' };
    const d = decideApproval(breakGlass, policy, T0 + 60_000, { approvedGraceMs: 600_000, defaultRetentionMs: 86_400_000, usernameMappings: [], parseDuration: (x) => parseDuration(x) * 1000 });
    expect(d.to).toBe('Expired');
    // Nothing about the policy changed: the message must not send the administrator looking for a policy change.
    expect(d.patch?.message).not.toMatch(/the policy changed/);
  });
});
