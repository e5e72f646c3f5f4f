import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest } from '../../crds/types.ts';
import { stampReviews, validateApprovalCreate, validateApprovalUpdate, type ApprovalContext } from './approvals.ts';
import { applyPatch } from './json-patch.ts';
import type { UserInfo } from './kube-types.ts';
import { approvalRequest, examplePolicy, FIXTURE_ISSUER } from '../test/fixtures.ts';

const NOW = new Date();
const dana: UserInfo = { username: 'dana', groups: ['dpo', 'system:authenticated'] };
const dave: UserInfo = { username: 'dave', groups: ['dpo', 'system:authenticated'] };
// The fixture's issuer as an apiserver with --oidc-username-claim=sub --oidc-username-prefix=- would name its users.
const ctx: ApprovalContext = { policy: examplePolicy('accesspolicy.yaml'), now: NOW, usernameMappings: [{ issuer: FIXTURE_ISSUER, claim: 'sub', prefix: '' }] };

function appended(req: ApprovalRequest, review: Record<string, unknown>): ApprovalRequest {
  const next = structuredClone(req);
  next.spec.reviews = [...(next.spec.reviews ?? []), review as never];
  return next;
}

/** What the apiserver does: mutating webhook stamps, then the validating webhook judges. */
function admit(old: ApprovalRequest, next: ApprovalRequest, user: UserInfo, c: ApprovalContext = ctx): { stored: ApprovalRequest; errors: string[] } {
  const stored = applyPatch(next, stampReviews(old, next, user, c.now));
  return { stored, errors: validateApprovalUpdate(old, stored, user, c) };
}

describe('ApprovalRequest admission', () => {
  const req = approvalRequest('lgpd-orders', 'export-1');

  it('stamps a real approver\'s review with their username, groups and the time', () => {
    const { stored, errors } = admit(req, appended(req, { decision: 'Approved', reason: 'ticket 42' }), dana);
    expect(errors).toEqual([]);
    expect(stored.spec.reviews?.[0]).toEqual({
      decision: 'Approved', reason: 'ticket 42', reviewer: 'dana', reviewerGroups: ['dpo', 'system:authenticated'],
      time: NOW.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
  });

  it('overwrites a client-supplied time', () => {
    const { stored } = admit(req, appended(req, { decision: 'Approved', reason: 'r', time: '2000-01-01T00:00:00Z' }), dana);
    expect(stored.spec.reviews?.[0]?.time).not.toBe('2000-01-01T00:00:00Z');
  });

  it('rejects a forged reviewer and forged groups', () => {
    const forged = admit(req, appended(req, { decision: 'Approved', reason: 'r', reviewer: 'dana' }), { username: 'carl', groups: ['contractors'] });
    expect(forged.errors[0]).toBe('spec.reviews[0].reviewer: "dana" is not the authenticated user "carl": omit reviewer, the webhook records who you are');
    const groups = admit(req, appended(req, { decision: 'Approved', reason: 'r', reviewerGroups: ['dpo'] }), { username: 'eve', groups: [] });
    expect(groups.errors).toContain('spec.reviews[0].reviewerGroups: differs from the authenticated user\'s groups: omit reviewerGroups, the webhook records them');
  });

  it('accepts a client-supplied reviewer equal to the authenticated user', () => {
    expect(admit(req, appended(req, { decision: 'Approved', reason: 'r', reviewer: 'dana' }), dana).errors).toEqual([]);
  });

  it('rejects self-approval, even by an approver', () => {
    const own = approvalRequest('lgpd-orders', 'export-2', { requester: 'dana' });
    expect(admit(own, appended(own, { decision: 'Approved', reason: 'mine' }), dana).errors)
      .toEqual(['spec.reviews[0]: "dana" is the requester of this command and cannot review it (four-eyes principle)']);
  });

  it('rejects reviewers outside the rule\'s approver groups', () => {
    expect(admit(req, appended(req, { decision: 'Approved', reason: 'r' }), { username: 'carl', groups: ['contractors'] }).errors)
      .toEqual(['spec.reviews[0]: user "carl" is not in an approver group of rule exports-need-dpo of AccessPolicy orders-db (approverGroups: dpo)']);
  });

  it('rejects when the policy or rule is gone', () => {
    expect(admit(req, appended(req, { decision: 'Approved', reason: 'r' }), dana, { ...ctx, policy: undefined }).errors[0]).toContain('spec.policyRef.name: AccessPolicy orders-db does not exist');
    const noRule = structuredClone(req);
    noRule.spec.rule = 'allow-the-rest';
    expect(admit(noRule, appended(noRule, { decision: 'Approved', reason: 'r' }), dana).errors[0]).toContain('does not exist or does not require approval');
  });

  it('rejects decisions after expiry or after a final phase', () => {
    const expired = approvalRequest('lgpd-orders', 'old', { expiresAt: new Date(NOW.getTime() - 1000) });
    expect(admit(expired, appended(expired, { decision: 'Approved', reason: 'r' }), dana).errors).toEqual([expect.stringMatching(/^spec.expiresAt: the request expired at/)]);
    const done = { ...structuredClone(req), status: { phase: 'Approved' as const } };
    expect(admit(done, appended(done, { decision: 'Denied', reason: 'r' }), dana).errors).toEqual(['status.phase: the request is already Approved: it can no longer be reviewed']);
  });

  it('rejects reviews after a denial or once enough approvals are in, and a second review by the same person', () => {
    const first = admit(req, appended(req, { decision: 'Denied', reason: 'no' }), dana).stored;
    expect(admit(first, appended(first, { decision: 'Approved', reason: 'yes' }), dave).errors).toEqual([expect.stringContaining('already denied')]);
    const approved = admit(req, appended(req, { decision: 'Approved', reason: 'ok' }), dana).stored;
    expect(admit(approved, appended(approved, { decision: 'Approved', reason: 'ok' }), dave).errors).toEqual([expect.stringContaining('already has the 1 approval(s)')]);
    const twoNeeded = { ...ctx, policy: examplePolicy('accesspolicy.yaml') };
    twoNeeded.policy.spec.rules.find((r) => r.name === 'exports-need-dpo')!.approval!.minApprovals = 2;
    const once = admit(req, appended(req, { decision: 'Approved', reason: 'ok' }), dana, twoNeeded).stored;
    expect(admit(once, appended(once, { decision: 'Approved', reason: 'again' }), dana, twoNeeded).errors).toEqual(['spec.reviews[1]: "dana" already reviewed this request']);
    expect(admit(once, appended(once, { decision: 'Approved', reason: 'ok' }), dave, twoNeeded).errors).toEqual([]);
    // The same person in another case or compatibility form (IdPs match logins case-insensitively).
    for (const username of ['Dana', 'DANA', 'ｄａｎａ']) {
      expect(admit(once, appended(once, { decision: 'Approved', reason: 'again' }), { ...dana, username }, twoNeeded).errors).toEqual([`spec.reviews[1]: "${username}" already reviewed this request`]);
    }
  });

  it('keeps reviews append-only, one at a time', () => {
    const approved = admit(req, appended(req, { decision: 'Approved', reason: 'ok' }), dana).stored;
    const rewritten = structuredClone(approved);
    rewritten.spec.reviews![0]!.decision = 'Denied';
    expect(validateApprovalUpdate(approved, rewritten, dana, ctx)).toEqual([expect.stringMatching(/^spec.reviews\[0\]: reviews are append-only/)]);
    const removed = structuredClone(approved);
    removed.spec.reviews = [];
    expect(validateApprovalUpdate(approved, removed, dana, ctx)).toEqual([expect.stringMatching(/^spec.reviews: reviews are append-only: 1 existing review/)]);
    const two = appended(appended(req, { decision: 'Approved', reason: 'a' }), { decision: 'Approved', reason: 'b' });
    expect(admit(req, two, dana).errors[0]).toBe('spec.reviews: 2 reviews appended at once: append exactly one (each reviewer decides once)');
  });

  it('keeps every other spec field immutable', () => {
    const changed = structuredClone(req);
    changed.spec.command.text = 'SELECT 1';
    changed.spec.expiresAt = '2999-01-01T00:00:00Z';
    expect(validateApprovalUpdate(req, changed, dana, ctx)).toEqual([
      'spec.command: is immutable (only spec.reviews can change, by appending)',
      'spec.expiresAt: is immutable (only spec.reviews can change, by appending)',
    ]);
  });

  it('allows updates that do not touch reviews (labels, finalizers)', () => {
    const labelled = structuredClone(req);
    labelled.metadata.labels = { x: 'y' };
    expect(validateApprovalUpdate(req, labelled, { username: 'system:serviceaccount:guarita-system:operator' }, ctx)).toEqual([]);
  });

  it('refuses reviews brought along at creation', () => {
    expect(validateApprovalCreate(req)).toEqual([]);
    expect(validateApprovalCreate(appended(req, { decision: 'Approved', reason: 'self' }))[0]).toMatch(/^spec.reviews: must be empty when the request is created/);
    // Created by the agent (it shares the pod's service account): a harmless text over another command's hash.
    const forged = { ...req, spec: { ...req.spec, command: { ...req.spec.command, sha256: 'f'.repeat(64) } } };
    expect(validateApprovalCreate(forged)).toEqual([expect.stringMatching(/^spec\.command\.sha256: is not the SHA-256 of spec\.command\.text/)]);
    const misleading = { ...req, spec: { ...req.spec, command: { ...req.spec.command, preview: 'SELECT 1' } } };
    expect(validateApprovalCreate(misleading)).toEqual([expect.stringMatching(/^spec\.command\.preview: must be the first line/)]);
  });

  // Round 9 (approvals, finding 1): the plan recorded in spec.approval is what the signed evidence
  // names as the terms approvers answered; the webhook holds it to the rule in force.
  describe('the recorded approval plan (spec.approval)', () => {
    const withPlan = (approval: NonNullable<ApprovalRequest['spec']['approval']>): ApprovalRequest => ({ ...req, spec: { ...req.spec, approval } });
    const rulePlanNow = { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 };

    it('is admitted at creation when it is the rule\'s in force (groups in any order), or absent (older sidecars), or when the policy cannot be seen', () => {
      expect(validateApprovalCreate(withPlan(rulePlanNow), ctx.policy)).toEqual([]);
      expect(validateApprovalCreate(req, ctx.policy)).toEqual([]);
      expect(validateApprovalCreate(withPlan({ ...rulePlanNow, minApprovals: 3 }), undefined)).toEqual([]);
    });

    it.each([
      ['fewer approvals than the rule asks', { ...rulePlanNow, minApprovals: 1 }, 2],
      ['more approvals than the rule asks', { ...rulePlanNow, minApprovals: 2 }, 1],
      ['other approver groups', { ...rulePlanNow, approverGroups: ['support'] }, 1],
      ['an extra approver group', { ...rulePlanNow, approverGroups: ['dpo', 'support'] }, 1],
      ['another ttl', { ...rulePlanNow, ttlSeconds: 86_400 }, 1],
    ])('is refused at creation when it records %s', (_what, approval, minApprovals) => {
      const policy = structuredClone(ctx.policy!);
      const rule = policy.spec.rules.find((r) => r.name === 'exports-need-dpo')!;
      rule.approval = { ...rule.approval!, minApprovals };
      expect(validateApprovalCreate(withPlan(approval), policy)).toEqual([expect.stringMatching(/^spec\.approval: .* is not the plan of rule exports-need-dpo of AccessPolicy orders-db \(/)]);
    });

    it('is refused at creation for a rule that does not hold commands', () => {
      const other = { ...withPlan(rulePlanNow), spec: { ...withPlan(rulePlanNow).spec, rule: 'allow-the-rest' } };
      expect(validateApprovalCreate(other, ctx.policy)).toEqual([expect.stringMatching(/^spec\.rule: rule allow-the-rest of AccessPolicy orders-db does not exist or does not require approval/)]);
    });

    it('cannot be added, changed or removed afterwards', () => {
      const recorded = withPlan(rulePlanNow);
      const op = { username: 'system:serviceaccount:lgpd-orders:agent' };
      expect(validateApprovalUpdate(req, recorded, op, ctx)).toEqual(['spec.approval: is immutable (only spec.reviews can change, by appending)']);
      expect(validateApprovalUpdate(recorded, withPlan({ ...rulePlanNow, minApprovals: 2 }), op, ctx)).toEqual(['spec.approval: is immutable (only spec.reviews can change, by appending)']);
      expect(validateApprovalUpdate(recorded, req, op, ctx)).toEqual(['spec.approval: is immutable (only spec.reviews can change, by appending)']);
    });
  });

  describe('four-eyes whatever the apiserver calls the requester', () => {
    // dana asked; the apiserver knows her as <prefix><claim> depending on its OIDC flags.
    const own = approvalRequest('lgpd-orders', 'export-own', { requester: 'dana' });
    own.spec.requester.claims = { sub: 'dana', email: 'dana@example.com', preferred_username: 'dana.s' };
    const asUser = (username: string): UserInfo => ({ username, groups: ['dpo'] });
    const CASES: { how: string; mapping: { claim: string; prefix: string }; danaIs: string }[] = [
      { how: 'legacy default prefix <issuer>#', mapping: { claim: 'sub', prefix: `${FIXTURE_ISSUER}#` }, danaIs: `${FIXTURE_ISSUER}#dana` },
      { how: 'email claim, no prefix', mapping: { claim: 'email', prefix: '' }, danaIs: 'dana@example.com' },
      { how: 'preferred_username, prefix oidc:', mapping: { claim: 'preferred_username', prefix: 'oidc:' }, danaIs: 'oidc:dana.s' },
    ];
    for (const { how, mapping, danaIs } of CASES) {
      it(`${how}: refuses ${danaIs} on her own request and admits another approver`, () => {
        const c = { ...ctx, usernameMappings: [{ issuer: FIXTURE_ISSUER, ...mapping }] };
        expect(admit(own, appended(own, { decision: 'Approved', reason: 'mine' }), asUser(danaIs), c).errors)
          .toEqual([`spec.reviews[0]: "${danaIs}" is the requester of this command and cannot review it (four-eyes principle)`]);
        const dave2 = danaIs.replace('dana', 'dave');
        expect(admit(own, appended(own, { decision: 'Approved', reason: 'r' }), asUser(dave2), c).errors).toEqual([]);
      });
    }

    it('uid mapped from sub: stamps the reviewer\'s uid, refuses a forged one, and catches the requester under a new username', () => {
      const c = { ...ctx, usernameMappings: [{ issuer: FIXTURE_ISSUER, claim: 'email', prefix: 'oidc:', uidClaim: 'sub' }] };
      const renamed: UserInfo = { username: 'oidc:dana.new@example.com', uid: 'dana', groups: ['dpo'] };
      expect(admit(own, appended(own, { decision: 'Approved', reason: 'mine' }), renamed, c).errors)
        .toEqual(['spec.reviews[0]: "oidc:dana.new@example.com" is the requester of this command and cannot review it (four-eyes principle)']);
      const dave2: UserInfo = { username: 'oidc:dave@example.com', uid: 'dave', groups: ['dpo'] };
      const { stored, errors } = admit(own, appended(own, { decision: 'Approved', reason: 'r' }), dave2, c);
      expect(errors).toEqual([]);
      expect(stored.spec.reviews?.[0]?.reviewerUid).toBe('dave');
      expect(admit(own, appended(own, { decision: 'Approved', reason: 'r', reviewerUid: 'someone' }), dave2, c).errors)
        .toEqual(['spec.reviews[0].reviewerUid: differs from the authenticated user\'s uid: omit reviewerUid, the webhook records it']);
    });

    it('counts a person once by uid: a second review under a renamed username is refused', () => {
      const c = { ...ctx, usernameMappings: [{ issuer: FIXTURE_ISSUER, claim: 'email', prefix: 'oidc:', uidClaim: 'sub' }] };
      const two = structuredClone(own);
      const first = admit(two, appended(two, { decision: 'Approved', reason: 'r' }), { username: 'oidc:dave@example.com', uid: 'dave', groups: ['dpo'] }, c);
      expect(first.errors).toEqual([]);
      const renamed: UserInfo = { username: 'oidc:dave.new@example.com', uid: 'dave', groups: ['dpo'] };
      expect(admit(first.stored, appended(first.stored, { decision: 'Approved', reason: 'again' }), renamed, c).errors)
        .toContain('spec.reviews[1]: "oidc:dave.new@example.com" already reviewed this request');
    });

    it('refuses every review of an OIDC requester whose issuer has no mapping, naming the setting', () => {
      const errors = admit(own, appended(own, { decision: 'Approved', reason: 'r' }), dave, { ...ctx, usernameMappings: [] }).errors;
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/^spec\.reviews\[0\]: cannot check that "dave" is not the requester \(four-eyes principle\): .*GUARITA_OIDC_USERNAME_MAPPINGS/);
    });

    it('refuses a review of a request that does not record the requester\'s issuer', () => {
      const legacy = structuredClone(own);
      delete legacy.spec.requester.issuer;
      expect(admit(legacy, appended(legacy, { decision: 'Approved', reason: 'r' }), dave).errors[0]).toContain('spec.requester.issuer');
    });

    it('service accounts: the full name, in any namespace', () => {
      const sa = approvalRequest('lgpd-orders', 'export-sa');
      sa.spec.requester = { username: 'system:serviceaccount:lgpd-orders:bot', kind: 'ServiceAccount', groups: [] };
      expect(admit(sa, appended(sa, { decision: 'Approved', reason: 'r' }), asUser('system:serviceaccount:lgpd-orders:bot')).errors[0]).toContain('is the requester');
      expect(admit(sa, appended(sa, { decision: 'Approved', reason: 'r' }), asUser('system:serviceaccount:billing:bot')).errors).toEqual([]);
      const bare = structuredClone(sa);
      bare.spec.requester.username = 'bot';
      expect(admit(bare, appended(bare, { decision: 'Approved', reason: 'r' }), dave).errors[0]).toContain('system:serviceaccount:<namespace>:<name>');
    });
  });
});
