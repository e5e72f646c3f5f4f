// Round 12b adversarial review of the round 12 PostgreSQL fixes (9196bc5: a statement abandoned by
// the agent is recorded from the server's answer, or with `result.outcomeUnknown: true` and no rows).
// Each "finding" case FAILS on the code reviewed (dad411a) for the reason its name gives.
// Report: /work/tmp/pg12b-review.md.
import { describe, expect, it } from '@jest/globals';
import { executionFrom } from '../../../operator/src/reconcile/approval-request.ts';
import type { SessionRecord } from '../../../operator/src/store/types.ts';
import { Execution, type Allowed } from './execution.ts';
import type { CommandOutcome, MaskSession, Session } from '../enforcement.ts';

/** What the listener hands the enforcer for an approved statement whose answer was never read (Execution.abandon). */
async function abandonedOutcome(): Promise<CommandOutcome> {
  let outcome: CommandOutcome | undefined;
  const auth = { verdict: 'allow', decision: {}, complete: (o: CommandOutcome) => { outcome = o; return Promise.resolve(); } } as unknown as Allowed;
  const mask = { counts: () => ({}), maskText: (t: string) => t } as unknown as MaskSession;
  const session = { newMaskSession: () => mask, recordingLimits: () => ({ maxRows: 5, maxBytes: 1024 }) } as unknown as Session;
  const exec = new Execution(auth, session);
  exec.sent();
  await exec.abandon('the agent left (client disconnected); the server\'s outcome was not read: the Guarita sidecar ended the session');
  if (outcome === undefined) throw new Error('no outcome recorded');
  return outcome;
}

describe('finding 2: the operator writes an unknown outcome into ApprovalRequest status as "Failed"', () => {
  it('an approved statement recorded with outcomeUnknown (the server may have committed it) is not summarized as outcome Failed', async () => {
    const outcome = await abandonedOutcome();
    // Control: the record as the listener writes it (9196bc5): unknown, no rows, an error saying why.
    expect(outcome.result?.outcomeUnknown).toBe(true);
    expect(outcome.result?.rows).toBeUndefined();
    expect(outcome.result?.error).toMatch(/outcome was not read/);
    const record = {
      type: 'approval.consumed', time: '2026-12-06T20:00:00.000Z', seq: 7, namespace: 'orders', approvalRequest: 'ar-1',
      command: "UPDATE orders SET status = 'refunded' WHERE id = 3", decision: 'allow', durationMs: 1200, result: outcome.result,
    } as unknown as SessionRecord;
    // On the reviewed code: { outcome: 'Failed', error: 'the agent left ...' }. The ApprovalRequest's
    // status.execution and its Consumed Event ("The sidecar ran the approved command (Failed: ...)")
    // tell the approvers the approved write failed, which is what round 12's evidence finding 1 was
    // about (a write made to look failed by leaving); the CRD's enum (Succeeded | Failed) has no
    // value for "not known".
    expect(executionFrom(record).outcome).not.toBe('Failed');
  });
});
