import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest } from '../../crds/types.ts';
import { approvalEvidence } from './approval-evidence.ts';

function request(status: ApprovalRequest['status']): ApprovalRequest {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name: 'areq-1', namespace: 'shop', creationTimestamp: '2026-01-10T12:00:00Z' },
    spec: {
      policyRef: { name: 'orders' }, rule: 'export-needs-dpo', requester: { username: 'agent', kind: 'User' }, purpose: 'support', target: { name: 'api', protocol: 'http' },
      command: { text: 'GET /customers/export', preview: 'GET /customers/export', sha256: '0'.repeat(64) }, podRef: { name: 'agent-1' }, sessionId: 's-1', expiresAt: '2026-01-10T12:15:00Z',
      reviews: [
        { decision: 'Approved', reason: 'ticket 1, cliente 590.830.166-33', reviewer: 'dana', reviewerGroups: ['dpo', 'legal'], time: '2026-01-10T12:01:00Z' },
        { decision: 'Approved', reason: 'unstamped: never counted' },
      ],
    },
    ...(status === undefined ? {} : { status }),
  };
}

const mask = (t: string): string => t.replace(/\d{3}\.\d{3}\.\d{3}-\d{2}/g, '***');

describe('approval evidence', () => {
  it('takes the counted reviews with the groups the webhook stamped, masks reasons, and states the terms', () => {
    const ev = approvalEvidence(request({
      phase: 'Consumed', approvals: 1, required: 1, decidedAt: '2026-01-10T12:01:01Z', consumedAt: '2026-01-10T12:02:00Z',
      reviews: [{ reviewer: 'dana', decision: 'Approved', reason: 'ticket 1, cliente 590.830.166-33', time: '2026-01-10T12:01:00Z' }],
    }), { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 }, mask);
    expect(ev).toEqual({
      request: 'areq-1', rule: 'export-needs-dpo', required: 1, approvals: 1, approverGroups: ['dpo'], requestedAt: '2026-01-10T12:00:00Z',
      decidedAt: '2026-01-10T12:01:01Z', consumedAt: '2026-01-10T12:02:00Z',
      reviews: [{ reviewer: 'dana', groups: ['dpo', 'legal'], decision: 'Approved', reason: 'ticket 1, cliente ***', time: '2026-01-10T12:01:00Z' }],
    });
  });

  // Round 9 (approvals, finding 1) then 9b: a claim now needs the counted reviews to satisfy the
  // rule in force, so the record states that plan: after a rule was loosened (dpo, then dpo or
  // auditors) an auditor's approval is listed beside the groups it satisfied, never beside [dpo].
  it('states the plan the counted reviews were checked against at the claim', () => {
    const r = request({ phase: 'Consumed', approvals: 1, required: 1, reviews: [{ reviewer: 'audrey', decision: 'Approved', reason: 'ok', time: '2026-01-10T12:01:00Z' }] });
    r.spec.approval = { approverGroups: ['dpo'], minApprovals: 2, ttlSeconds: 900 };
    const ev = approvalEvidence(r, { approverGroups: ['dpo', 'auditors'], minApprovals: 1, ttlSeconds: 900 }, mask);
    expect(ev).toMatchObject({ approverGroups: ['dpo', 'auditors'], required: 1, approvals: 1 });
  });

  it('states the recorded plan when no plan in force was given', () => {
    const r = request({ phase: 'Consumed', approvals: 1, required: 2, reviews: [{ reviewer: 'dana', decision: 'Approved', reason: 'ok', time: '2026-01-10T12:01:00Z' }] });
    r.spec.approval = { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 };
    expect(approvalEvidence(r, undefined, mask)).toMatchObject({ approverGroups: ['dpo'], required: 1, approvals: 1 });
  });

  it('falls back to the stamped spec reviews when the operator listed none', () => {
    const ev = approvalEvidence(request({ phase: 'Consumed' }), undefined, mask);
    expect(ev.reviews).toEqual([{ reviewer: 'dana', groups: ['dpo', 'legal'], decision: 'Approved', reason: 'ticket 1, cliente ***', time: '2026-01-10T12:01:00Z' }]);
    expect(ev).toMatchObject({ required: 1, approvals: 1 });
    expect(ev.approverGroups).toBeUndefined();
  });
});
