// Round 9 (approvals, finding 1): an approval used under another plan than the one it answered.
// Every spelling of "the rule in force asks more than the approval gave" must be refused; a change
// that asks less, or elsewhere, must not be.
import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest, PolicyRule } from '../../crds/types.ts';
import {
  approvalShortfall, CLOCK_SKEW_MS, claimDeadline, claimTimeShortfall, lifetimeShortfall, planField, planShortfall, recordedPlan, reviewsShortfall, rulePlan, samePlan, type ApprovalPlan,
} from './plan.ts';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const at = (minute: number): string => new Date(T0 + minute * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
const DPO: ApprovalPlan = { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 };

type SpecReview = NonNullable<ApprovalRequest['spec']['reviews']>[number];
type Counted = NonNullable<NonNullable<ApprovalRequest['status']>['reviews']>[number];

const stamped = (reviewer: string, groups: string[], minute = 1): SpecReview => ({ decision: 'Approved', reason: 'ticket', reviewer, reviewerGroups: groups, time: at(minute) });
const counted = (reviewer: string, minute = 1): Counted => ({ reviewer, decision: 'Approved', reason: 'ticket', time: at(minute) });

/** An Approved request as the sidecar creates it and the operator approves it. */
function approved(opts: { plan?: ApprovalPlan; reviews?: SpecReview[]; counted?: Counted[]; consumeBy?: string; expiresAt?: string } = {}): ApprovalRequest {
  const reviews = opts.reviews ?? [stamped('dana', ['dpo'])];
  const list = opts.counted ?? reviews.map((r) => ({ reviewer: r.reviewer ?? '', decision: r.decision, reason: r.reason, time: r.time ?? '' }));
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name: 'ar-1', namespace: 'shop', creationTimestamp: at(0) },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'exports', requester: { username: 'agent', kind: 'User' }, purpose: 'support', target: { name: 'orders-db', protocol: 'postgres' },
      command: { text: 'COPY customers TO STDOUT', preview: 'COPY customers TO STDOUT', sha256: 'a'.repeat(64) }, podRef: { name: 'agent' }, sessionId: 's1',
      expiresAt: opts.expiresAt ?? at(15), reviews, ...(opts.plan === undefined ? {} : { approval: planField(opts.plan) }),
    },
    status: {
      phase: 'Approved', approvals: list.length, reviews: list,
      ...(opts.consumeBy === undefined ? {} : { consumeBy: opts.consumeBy }),
    },
  };
}

describe('rulePlan: the plan of a rule, as the policy engine compiles it', () => {
  const rule = (over: Partial<PolicyRule>): PolicyRule => ({ name: 'exports', action: 'requireApproval', approval: { approverGroups: ['dpo'] }, ...over });

  it('applies the defaults (1 approval, 15m)', () => {
    expect(rulePlan(rule({}))).toEqual(DPO);
    expect(rulePlan(rule({ approval: { approverGroups: ['dpo', 'legal'], minApprovals: 2, ttl: '1h30m' } }))).toEqual({ approverGroups: ['dpo', 'legal'], minApprovals: 2, ttlSeconds: 5400 });
  });

  it('has none for a rule that does not hold, or an unreadable ttl', () => {
    expect(rulePlan(undefined)).toBeUndefined();
    expect(rulePlan({ name: 'exports', action: 'allow' })).toBeUndefined();
    expect(rulePlan(rule({ approval: { approverGroups: ['dpo'], ttl: 'soon' } }))).toBeUndefined();
  });
});

describe('samePlan: the plan recorded at creation is the rule\'s', () => {
  it('compares the groups as a set, and the count and ttl exactly', () => {
    expect(samePlan({ approverGroups: ['dpo', 'legal'], minApprovals: 2, ttlSeconds: 900 }, { approverGroups: ['legal', 'dpo', 'dpo'], minApprovals: 2, ttlSeconds: 900 })).toBe(true);
    expect(samePlan(DPO, { ...DPO, minApprovals: 2 })).toBe(false);
    expect(samePlan(DPO, { ...DPO, ttlSeconds: 3600 })).toBe(false);
    expect(samePlan(DPO, { ...DPO, approverGroups: ['DPO'] })).toBe(false);
    expect(samePlan(DPO, { ...DPO, approverGroups: ['dpo', 'legal'] })).toBe(false);
  });
});

describe('planShortfall: the rule in force must ask no more than the plan the approval answered', () => {
  it.each<[string, ApprovalPlan]>([
    ['more approvals', { ...DPO, minApprovals: 2 }],
    ['another approver group', { ...DPO, approverGroups: ['auditors'] }],
    ['another group and more approvals', { approverGroups: ['auditors'], minApprovals: 2, ttlSeconds: 900 }],
    // Kubernetes groups are case-sensitive: DPO is another group.
    ['the same group spelled in another case', { ...DPO, approverGroups: ['DPO'] }],
    ['a group with a trailing space', { ...DPO, approverGroups: ['dpo '] }],
  ])('refuses %s', (_what, now) => {
    expect(planShortfall(DPO, now)).toEqual(expect.any(String));
  });

  it('refuses a recorded group the rule dropped, even if another recorded group remains', () => {
    expect(planShortfall({ ...DPO, approverGroups: ['dpo', 'legal'] }, DPO)).toMatch(/approver group\(s\) legal no longer approve/);
  });

  it.each<[string, ApprovalPlan]>([
    ['the same plan', DPO],
    ['fewer approvals', { ...DPO, minApprovals: 1 }],
    ['an approver group added', { ...DPO, approverGroups: ['dpo', 'legal'] }],
    ['another ttl (judged on the request\'s lifetime)', { ...DPO, ttlSeconds: 60 }],
  ])('accepts %s', (_what, now) => {
    expect(planShortfall({ ...DPO, minApprovals: DPO.minApprovals }, now)).toBeUndefined();
  });

  it('names the change', () => {
    expect(planShortfall(DPO, { ...DPO, minApprovals: 2 })).toBe('the rule now needs 2 approval(s), the request asked for 1');
    expect(planShortfall(DPO, { ...DPO, approverGroups: ['auditors'] })).toBe('approver group(s) dpo no longer approve (approverGroups now: auditors)');
  });
});

describe('reviewsShortfall: the request\'s own counted reviews must satisfy the rule in force', () => {
  it('accepts enough approvers, each in an approver group now', () => {
    expect(reviewsShortfall(approved(), DPO)).toBeUndefined();
    expect(reviewsShortfall(approved({ reviews: [stamped('dana', ['dpo']), stamped('dave', ['legal', 'dpo'], 2)] }), { ...DPO, minApprovals: 2 })).toBeUndefined();
  });

  it('refuses too few approvals, counting each reviewer once', () => {
    expect(reviewsShortfall(approved(), { ...DPO, minApprovals: 2 })).toBe('1 of the 2 approval(s) the rule now needs');
    const twice = approved({ reviews: [stamped('dana', ['dpo']), stamped('dana', ['dpo'], 2)] });
    expect(reviewsShortfall(twice, { ...DPO, minApprovals: 2 })).toBe('1 of the 2 approval(s) the rule now needs');
  });

  it('refuses an approving reviewer outside the approver groups now, even with enough others', () => {
    const mixed = approved({ reviews: [stamped('dana', ['dpo']), stamped('dave', ['dpo', 'auditors'], 2)] });
    expect(reviewsShortfall(mixed, { ...DPO, approverGroups: ['auditors'] })).toBe('dana (groups dpo) is not in an approver group now (auditors)');
    expect(reviewsShortfall(approved({ reviews: [stamped('dana', [])] }), DPO)).toBe('dana (groups none) is not in an approver group now (dpo)');
  });

  it('fails closed when the reviews cannot be read: none counted, no stamped groups, a counted review matching no stamped one', () => {
    const none = approved();
    delete none.status?.reviews;
    expect(reviewsShortfall(none, DPO)).toBe('0 of the 1 approval(s) the rule now needs');
    const unstamped = approved({ reviews: [{ decision: 'Approved', reason: 'ticket', reviewer: 'dana', time: at(1) }] });
    expect(reviewsShortfall(unstamped, DPO)).toMatch(/no groups stamped by the admission webhook/);
    // The counted review names dana at another time than her stamped review: not joined to any groups.
    const elsewhere = approved({ counted: [counted('dana', 2)] });
    expect(reviewsShortfall(elsewhere, DPO)).toMatch(/no groups stamped/);
    // A stamped review by someone else in the group does not lend its groups to dana.
    const borrowed = approved({ reviews: [stamped('dave', ['dpo'])], counted: [counted('dana')] });
    expect(reviewsShortfall(borrowed, DPO)).toMatch(/review by dana has no groups stamped/);
  });

  it('refuses a counted denial', () => {
    const denied = approved({ reviews: [{ ...stamped('dana', ['dpo']), decision: 'Denied' }] });
    expect(reviewsShortfall(denied, DPO)).toBe('dana denied it');
  });
});

describe('approvalShortfall: recorded plan and reviews together', () => {
  it('refuses the round 9 cases: 1 dpo approval after the rule asks 2, or asks auditors', () => {
    const r = approved({ plan: DPO });
    expect(approvalShortfall(r, { ...DPO, minApprovals: 2 })).toMatch(/now needs 2/);
    expect(approvalShortfall(r, { ...DPO, approverGroups: ['auditors'] })).toMatch(/dpo no longer approve/);
    expect(approvalShortfall(r, DPO)).toBeUndefined();
  });

  it('refuses a plan the rule in force is not covered by even when the reviews would satisfy it', () => {
    // Recorded as "dpo or legal", approved by a dpo member; the rule now asks dpo only: the approver
    // might have been from legal as far as the plan goes, so the request is asked again.
    const r = approved({ plan: { ...DPO, approverGroups: ['dpo', 'legal'] } });
    expect(approvalShortfall(r, DPO)).toMatch(/legal no longer approve/);
  });

  it('judges a request without a recorded plan (older sidecars) by its reviews alone', () => {
    const legacy = approved();
    expect(recordedPlan(legacy)).toBeUndefined();
    expect(approvalShortfall(legacy, DPO)).toBeUndefined();
    expect(approvalShortfall(legacy, { ...DPO, minApprovals: 2 })).toMatch(/1 of the 2/);
    expect(approvalShortfall(legacy, { ...DPO, approverGroups: ['auditors'] })).toMatch(/not in an approver group now/);
  });

  it('accepts a looser rule (fewer approvals, another group added)', () => {
    const r = approved({ plan: { ...DPO, minApprovals: 2 }, reviews: [stamped('dana', ['dpo']), stamped('dave', ['dpo'], 2)] });
    expect(approvalShortfall(r, { approverGroups: ['dpo', 'legal'], minApprovals: 1, ttlSeconds: 900 })).toBeUndefined();
  });
});

describe('lifetimeShortfall: the request lives no longer than the rule\'s ttl now', () => {
  it('accepts its own ttl within the clock skew, refuses a shorter ttl or a far expiresAt', () => {
    expect(lifetimeShortfall(approved(), 900)).toBeUndefined();
    expect(lifetimeShortfall(approved(), 900 - CLOCK_SKEW_MS / 1000)).toBeUndefined();
    expect(lifetimeShortfall(approved(), 300)).toMatch(/lives 900s, longer than the rule's ttl now \(300s\)/);
    expect(lifetimeShortfall(approved({ expiresAt: at(60 * 24) }), 900)).toEqual(expect.any(String));
  });

  it('fails closed on times it cannot read', () => {
    const r = approved({ expiresAt: 'never' });
    expect(lifetimeShortfall(r, 900)).toMatch(/cannot be read/);
  });
});

describe('claimDeadline: an approval is used by status.consumeBy (spec.expiresAt without it), whatever the operator does', () => {
  it('uses consumeBy when the operator wrote it, expiresAt otherwise, plus the clock skew', () => {
    expect(claimDeadline(approved())).toBe(Date.parse(at(15)) + CLOCK_SKEW_MS);
    expect(claimDeadline(approved({ consumeBy: at(25) }))).toBe(Date.parse(at(25)) + CLOCK_SKEW_MS);
  });

  it('refuses a claim past it, and never claims when the time cannot be read', () => {
    expect(claimTimeShortfall(approved(), Date.parse(at(16)))).toBeUndefined();
    expect(claimTimeShortfall(approved(), Date.parse(at(18)))).toBe(`it had to be used by ${at(15)}`);
    expect(claimTimeShortfall(approved({ consumeBy: at(25) }), Date.parse(at(26)))).toBeUndefined();
    expect(claimTimeShortfall(approved({ consumeBy: at(25) }), Date.parse(at(28)))).toEqual(expect.any(String));
    expect(claimTimeShortfall(approved({ consumeBy: 'later' }), T0)).toEqual(expect.any(String));
  });
});
