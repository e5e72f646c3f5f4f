import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest, ApprovalRequestStatus } from '../../crds/types.ts';
import { OPERATOR_TRANSITIONS, POD_NAME_EXTRA, POD_UID_EXTRA, serviceAccountUsername, validateApprovalStatusUpdate, type StatusContext } from './approval-status.ts';
import type { UserInfo } from './kube-types.ts';
import { approvalRequest } from '../test/fixtures.ts';

const NS = 'lgpd-orders';
const OPERATOR = serviceAccountUsername('guarita-system', 'guarita-operator');
const ctx: StatusContext = { operatorUsername: OPERATOR };

const operator: UserInfo = { username: OPERATOR, groups: ['system:serviceaccounts', 'system:serviceaccounts:guarita-system', 'system:authenticated'] };
/** The agent pod's service account, as the sidecar's projected token authenticates it. */
const sidecar: UserInfo = {
  username: 'system:serviceaccount:lgpd-orders:support-agent', groups: ['system:serviceaccounts', 'system:serviceaccounts:lgpd-orders', 'system:authenticated'],
  extra: { [POD_NAME_EXTRA]: ['support-agent'], [POD_UID_EXTRA]: ['uid-1'] },
};
const admin: UserInfo = { username: 'admin', groups: ['system:masters', 'system:authenticated'] };
const otherNamespace: UserInfo = { username: 'system:serviceaccount:billing:support-agent', groups: ['system:serviceaccounts'] };

/** An Approved status as the operator writes it. */
const COUNTED: ApprovalRequestStatus = { phase: 'Approved', approvals: 1, required: 1, reviews: [{ reviewer: 'dana', decision: 'Approved', reason: 'ticket 42', time: '2025-01-01T10:00:00Z' }], decidedAt: '2025-01-01T10:00:01Z', message: 'approved by dana' };

function withStatus(status: ApprovalRequestStatus | undefined): ApprovalRequest {
  const r = approvalRequest(NS, 'export-1');
  r.spec.podRef = { name: 'support-agent', uid: 'uid-1' };
  if (status !== undefined) r.status = structuredClone(status);
  return r;
}

function check(from: ApprovalRequestStatus | undefined, to: ApprovalRequestStatus | undefined, user: UserInfo, c: StatusContext = ctx): string[] {
  return validateApprovalStatusUpdate(withStatus(from), withStatus(to), user, c);
}

/** What the sidecar's claim patch produces (sidecar/src/approvals.ts #claim). */
const consumed: ApprovalRequestStatus = { ...COUNTED, phase: 'Consumed', consumedAt: '2025-01-01T10:05:00Z', message: 'Consumed by pod support-agent (session session-1); running the command' };

describe('ApprovalRequest status: a sidecar consuming an approval', () => {
  it('accepts Approved → Consumed with consumedAt, message and execution, leaving the operator\'s fields alone', () => {
    expect(check(COUNTED, consumed, sidecar)).toEqual([]);
    const withExecution: ApprovalRequestStatus = { ...consumed, execution: { startedAt: '2025-01-01T10:05:00Z', outcome: 'Succeeded', rows: 3 } };
    expect(check(COUNTED, withExecution, sidecar)).toEqual([]);
  });

  it('accepts a token that is not bound to a pod (TokenRequest without a pod)', () => {
    expect(check(COUNTED, consumed, { username: sidecar.username, groups: sidecar.groups })).toEqual([]);
  });

  it('refuses self-approval: Pending → Approved by the namespace\'s service account', () => {
    expect(check({ phase: 'Pending', required: 1, approvals: 0 }, { phase: 'Approved', required: 1, approvals: 0 }, sidecar))
      .toEqual(['status.phase: Pending → Approved: only the operator decides phases; a sidecar may only consume an approval (Approved → Consumed)']);
    expect(check(undefined, { phase: 'Approved' }, sidecar)).toEqual(['status.phase: (none) → Approved: only the operator decides phases; a sidecar may only consume an approval (Approved → Consumed)']);
  });

  it('refuses reopening: Consumed → Approved, and removing the status of a consumed request', () => {
    expect(check(consumed, COUNTED, sidecar)[0]).toMatch(/^status\.phase: Consumed → Approved: only the operator decides phases/);
    expect(check(consumed, undefined, sidecar)[0]).toMatch(/^status\.phase: Consumed → \(none\)/);
  });

  it('refuses consuming what is not Approved', () => {
    for (const phase of ['Pending', 'Denied', 'Expired'] as const) {
      expect(check({ phase }, { phase: 'Consumed', consumedAt: '2025-01-01T10:05:00Z' }, sidecar)).toEqual([`status.phase: only an Approved request can be consumed; this one is ${phase}`]);
    }
  });

  it('refuses a consumption that rewrites the operator\'s fields, naming each field', () => {
    const forged: ApprovalRequestStatus = { ...consumed, approvals: 2, required: 2, reviews: [], decidedAt: '2025-01-01T09:00:00Z', conditions: [] };
    expect(check(COUNTED, forged, sidecar)).toEqual(['approvals', 'conditions', 'decidedAt', 'required', 'reviews'].map((f) => `status.${f}: cannot change when consuming an approval (only phase, consumedAt, execution, message may)`));
  });

  it('requires consumedAt', () => {
    expect(check(COUNTED, { ...COUNTED, phase: 'Consumed' }, sidecar)).toEqual(['status.consumedAt: required when consuming an approval (Approved → Consumed)']);
  });

  it('refuses any other write, even one that keeps the phase', () => {
    expect(check(COUNTED, { ...COUNTED, message: 'approved by nobody' }, sidecar)).toEqual(['status.phase: Approved → Approved: only the operator decides phases; a sidecar may only consume an approval (Approved → Consumed)']);
  });

  it('allows a write that changes nothing, for anyone', () => {
    expect(check(COUNTED, COUNTED, admin)).toEqual([]);
    expect(check(undefined, undefined, otherNamespace)).toEqual([]);
  });

  it('refuses service accounts of other namespaces, users and admins, naming the operator\'s account', () => {
    for (const user of [otherNamespace, admin, { username: 'dana', groups: ['dpo'] }]) {
      expect(check(COUNTED, consumed, user)).toEqual([`status: "${user.username}" may not write the status of an ApprovalRequest: phase decisions belong to the operator's service account ("${OPERATOR}", GUARITA_OPERATOR_SERVICE_ACCOUNT), and consuming an approval to a service account of namespace lgpd-orders (the sidecar)`]);
    }
    expect(check({ phase: 'Pending' }, { phase: 'Approved' }, admin)[0]).toContain('"admin" may not write the status');
  });

  it('refuses a token bound to another pod than the one holding the request', () => {
    const otherPod: UserInfo = { ...sidecar, extra: { [POD_NAME_EXTRA]: ['batch-agent'], [POD_UID_EXTRA]: ['uid-2'] } };
    expect(check(COUNTED, consumed, otherPod)).toEqual(['status: the token of "system:serviceaccount:lgpd-orders:support-agent" is bound to pod batch-agent, but this request is held by pod support-agent (spec.podRef.name): only that pod\'s sidecar may consume it']);
    const recreated: UserInfo = { ...sidecar, extra: { [POD_NAME_EXTRA]: ['support-agent'], [POD_UID_EXTRA]: ['uid-2'] } };
    expect(check(COUNTED, consumed, recreated)[0]).toContain('is bound to pod uid uid-2, but this request is held by pod uid uid-1');
  });
});

describe('ApprovalRequest status: the operator', () => {
  it('makes every transition of its state machine', () => {
    const cases: [ApprovalRequestStatus | undefined, ApprovalRequestStatus][] = [
      [undefined, { phase: 'Pending', required: 1, approvals: 0, reviews: [], message: 'waiting' }],
      [undefined, { phase: 'Expired' }],
      [{ phase: 'Pending' }, COUNTED],
      [{ phase: 'Pending' }, { phase: 'Denied', decidedAt: '2025-01-01T10:00:00Z' }],
      [{ phase: 'Pending' }, { phase: 'Expired' }],
      [{ phase: 'Pending', approvals: 0 }, { phase: 'Pending', approvals: 1 }],
      [COUNTED, { ...COUNTED, phase: 'Expired', message: 'approved but not run by the sidecar in time' }],
    ];
    for (const [from, to] of cases) expect(check(from, to, operator)).toEqual([]);
  });

  it('fills the execution of a consumed request (the phase stays Consumed)', () => {
    expect(check(consumed, { ...consumed, execution: { startedAt: '2025-01-01T10:05:00Z', outcome: 'Failed', error: 'canceled' } }, operator)).toEqual([]);
  });

  it('never moves a request out of Consumed, Denied or Expired', () => {
    expect(check(consumed, COUNTED, operator)).toEqual(['status.phase: the request is Consumed, a final phase: nobody moves it to Approved, not even the operator']);
    expect(check({ phase: 'Denied' }, { phase: 'Pending' }, operator)[0]).toContain('the request is Denied, a final phase');
    expect(check({ phase: 'Expired' }, {}, operator)[0]).toContain('the request is Expired, a final phase: nobody moves it to (none)');
  });

  it('refuses what its state machine never does', () => {
    expect(check(COUNTED, { ...COUNTED, phase: 'Pending' }, operator)).toEqual(['status.phase: Approved → Pending is not a transition of the approval state machine (the operator moves a request from Pending to Approved, Denied or Expired, and from Approved to Expired)']);
    expect(check(COUNTED, { ...COUNTED, phase: 'Denied' }, operator)[0]).toContain('Approved → Denied is not a transition');
    expect(check({ phase: 'Pending' }, { phase: 'Consumed', consumedAt: '2025-01-01T10:05:00Z' }, operator)[0]).toContain('Pending → Consumed is not a transition');
    expect(check({ phase: 'Pending' }, {}, operator)[0]).toContain('Pending → (none) is not a transition');
  });

  it('has no rights when no operator account is configured, or as a same-named account elsewhere', () => {
    expect(check({ phase: 'Pending' }, COUNTED, operator, { operatorUsername: undefined })[0]).toContain('(none configured, GUARITA_OPERATOR_SERVICE_ACCOUNT)');
    const impostor: UserInfo = { username: 'system:serviceaccount:lgpd-orders:guarita-operator' };
    expect(check({ phase: 'Pending' }, COUNTED, impostor)[0]).toMatch(/^status\.phase: Pending → Approved: only the operator decides phases/);
  });

  it('lists no way out of a final phase', () => {
    for (const final of ['Consumed', 'Denied', 'Expired']) expect(OPERATOR_TRANSITIONS[final]).toEqual([final]);
  });
});
