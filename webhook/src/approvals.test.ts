import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest } from '../../crds/types.ts';
import { isRequester, stampReviews, validateApprovalCreate, validateApprovalUpdate, type ApprovalContext } from './approvals.ts';
import { applyPatch } from './json-patch.ts';
import type { UserInfo } from './kube-types.ts';
import { approvalRequest, examplePolicy } from '../test/fixtures.ts';

const NOW = new Date();
const dana: UserInfo = { username: 'dana', groups: ['dpo', 'system:authenticated'] };
const dave: UserInfo = { username: 'dave', groups: ['dpo', 'system:authenticated'] };
const ctx: ApprovalContext = { policy: examplePolicy('accesspolicy.yaml'), now: NOW, usernamePrefix: '' };

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
  });

  it('recognises the requester across username forms', () => {
    expect(isRequester('oidc:alice', { username: 'alice', kind: 'User' }, 'ns', 'oidc:')).toBe(true);
    expect(isRequester('system:serviceaccount:ns:bot', { username: 'bot', kind: 'ServiceAccount' }, 'ns', '')).toBe(true);
    expect(isRequester('bot', { username: 'alice', kind: 'User' }, 'ns', '')).toBe(false);
  });
});
