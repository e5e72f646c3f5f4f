// Round 12b review, finding 2: an approved command whose upstream answer the sidecar never read
// (the record's result.outcomeUnknown) was summarized in the ApprovalRequest as outcome Failed, so
// approvers read that an approved write failed when it may have committed. It is Unknown now, for
// every target's spelling of such a record; records of older sidecars keep their mapping.
import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy, ApprovalRequest, ApprovalRequestStatus } from '../../../crds/types.ts';
import { validateApprovalRequest } from '../../../crds/validators.ts';
import type { EventRecorder } from '../events.ts';
import type { KubeApi } from '../kube/client.ts';
import type { Informer } from '../../../core/kube/informer.ts';
import { createMetrics } from '../metrics.ts';
import type { SessionRecord } from '../store/types.ts';
import { ApprovalReconciler, executionFrom, executionSummary } from './approval-request.ts';

type Execution = NonNullable<ApprovalRequestStatus['execution']>;

function consumed(result: SessionRecord['result'], durationMs = 1200): SessionRecord {
  return {
    type: 'approval.consumed', time: '2026-12-06T20:00:00.000Z', seq: 7, namespace: 'orders', approvalRequest: 'ar-1',
    command: "UPDATE orders SET status = 'refunded' WHERE id = 3", decision: 'allow', durationMs, ...(result === undefined ? {} : { result }),
  } as unknown as SessionRecord;
}

describe('executionFrom: an outcome nobody read is Unknown, whatever the target', () => {
  it.each([
    ['postgres: the agent left, the answer never read (Execution.abandon)', { bytes: 0, outcomeUnknown: true, error: 'the agent left (client disconnected); the server\'s outcome was not read: no answer within 30000 ms, nor within 2000 ms of a CancelRequest' }],
    ['postgres: the sidecar ended the session and the canceled statement was not answered', { bytes: 0, outcomeUnknown: true, error: 'the Guarita sidecar ended the session (shutting down); the server\'s outcome was not read: no answer within 300 ms of a CancelRequest' }],
    ['postgres: the server closed the connection before answering', { outcomeUnknown: true, error: 'the server closed the connection before answering; its outcome was not read' }],
    ['http: the upstream got the whole request, no answer was read', { bytes: 0, bytesIn: 512, outcomeUnknown: true, error: 'the upstream did not answer within the headers timeout' }],
    ['kubernetes: exec without an exit status', { bytes: 2048, bytesIn: 10, outcomeUnknown: true, error: 'the exec stream ended without an exit status' }],
    ['ssh: exec without an exit status, and no error member', { bytes: 64, outcomeUnknown: true }],
  ])('%s', (_what, result) => {
    const ex = executionFrom(consumed(result));
    expect(ex.outcome).toBe('Unknown');
    expect(ex).not.toHaveProperty('rows');
    expect(ex.error).toBe((result as { error?: string }).error);
    // The CRD accepts what the operator writes.
    expect(validateApprovalRequest(requestWith(ex)).ok).toBe(true);
  });

  it('a row count beside an unknown outcome is not carried over (it would not be one)', () => {
    const ex = executionFrom(consumed({ rows: 3, outcomeUnknown: true, error: 'not read' }));
    expect(ex).toMatchObject({ outcome: 'Unknown' });
    expect(ex).not.toHaveProperty('rows');
  });

  it.each([
    ['a result, no error', { rows: 3, bytes: 100 }, 'Succeeded'],
    ['no result member at all', undefined, 'Succeeded'],
    ['an error (the server\'s answer was read)', { rows: 0, error: 'canceling statement: the Guarita sidecar ended the session (consent withdrawn)' }, 'Failed'],
    ['an HTTP status with an error', { status: 502, error: 'the upstream refused the connection' }, 'Failed'],
    ['outcomeUnknown false', { rows: 1, outcomeUnknown: false }, 'Succeeded'],
    ['outcomeUnknown false, with an error', { rows: 0, outcomeUnknown: false, error: 'duplicate key' }, 'Failed'],
  ])('records of older sidecars, and answers that were read, keep their mapping: %s', (_what, result, outcome) => {
    const ex = executionFrom(consumed(result));
    expect(ex.outcome).toBe(outcome);
    expect(validateApprovalRequest(requestWith(ex)).ok).toBe(true);
  });

  it('the error is cut at the CRD\'s bound (4096) for an unknown outcome too', () => {
    const ex = executionFrom(consumed({ outcomeUnknown: true, error: 'x'.repeat(10_000) }));
    expect(ex.error).toHaveLength(4096);
  });
});

describe('the CRD\'s execution.outcome', () => {
  it.each(['Succeeded', 'Failed', 'Unknown'])('accepts %s', (outcome) => {
    expect(validateApprovalRequest(requestWith({ startedAt: '2026-12-06T20:00:00Z', outcome } as Execution)).ok).toBe(true);
  });

  it.each(['unknown', 'UNKNOWN', 'Unknown ', 'Maybe', '', 'Succeeded,Unknown'])('refuses %j (an enum, exact spelling)', (outcome) => {
    expect(validateApprovalRequest(requestWith({ startedAt: '2026-12-06T20:00:00Z', outcome } as unknown as Execution)).ok).toBe(false);
  });
});

describe('the Consumed Event\'s words', () => {
  it('an Unknown outcome says so, with why, and no row count', () => {
    expect(executionSummary({ startedAt: 'x', outcome: 'Unknown', error: 'the agent left' })).toBe('outcome unknown, it may have taken effect: the agent left');
    expect(executionSummary({ startedAt: 'x', outcome: 'Unknown', rows: 4 })).toBe('outcome unknown, it may have taken effect');
  });

  it('Succeeded and Failed read as before', () => {
    expect(executionSummary({ startedAt: 'x', outcome: 'Succeeded', rows: 3 })).toBe('Succeeded, 3 row(s)');
    expect(executionSummary({ startedAt: 'x', outcome: 'Failed', rows: 0, error: 'duplicate key' })).toBe('Failed, 0 row(s): duplicate key');
  });

  it('through the reconciler: Approved → Consumed with an Unknown execution', () => {
    const emitted: string[] = [];
    const events = { emit: (_ref: unknown, _type: string, _reason: string, message: string) => { emitted.push(message); } } as unknown as EventRecorder;
    const none = { get: () => undefined, list: () => [] };
    const reconciler = new ApprovalReconciler({
      api: {} as KubeApi, approvals: none as unknown as Informer<ApprovalRequest>, policies: none as unknown as Informer<AccessPolicy>, events, metrics: createMetrics(false), log: { info: () => undefined, warn: () => undefined },
      options: { approvedGraceMs: 60_000, defaultRetentionMs: 3_600_000, usernameMappings: [], parseDuration: () => undefined },
    });
    const ex = executionFrom(consumed({ bytes: 0, outcomeUnknown: true, error: 'the agent left (client disconnected); the server\'s outcome was not read' }));
    const before = { ...requestWith(ex), status: { phase: 'Approved' } } as ApprovalRequest;
    reconciler.onChange('modified', requestWith(ex), before);
    expect(emitted).toEqual([`The sidecar ran the approved command (outcome unknown, it may have taken effect: the agent left (client disconnected); the server's outcome was not read): UPDATE orders SET status = 'refunded' WHERE id = 3`]);
  });
});

function requestWith(execution: Execution): ApprovalRequest {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name: 'ar-1', namespace: 'orders' },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'refunds-need-dpo', requester: { username: 'support-agent', groups: ['support'], kind: 'User' },
      purpose: 'customer-support', target: { name: 'orders-db', protocol: 'postgres' },
      command: { text: "UPDATE orders SET status = 'refunded' WHERE id = 3", preview: "UPDATE orders SET status = 'refunded' WHERE id = 3", sha256: 'a'.repeat(64) },
      podRef: { name: 'support-agent' }, sessionId: 's-1', expiresAt: '2030-01-01T00:00:00Z', reviews: [],
    },
    status: { phase: 'Consumed', consumedAt: '2026-12-06T20:00:00Z', execution },
  } as unknown as ApprovalRequest;
}
