// One allowed command's record (execution.ts): what the server answered, or, when its answer was
// never read, outcomeUnknown with no count (round 12, evidence finding 1).
import { describe, expect, it } from '@jest/globals';
import type { CommandOutcome, MaskSession, Session } from '../enforcement.ts';
import { Execution, type Allowed } from './execution.ts';

function harness(): { exec: Execution; outcomes: CommandOutcome[] } {
  const outcomes: CommandOutcome[] = [];
  const auth = { verdict: 'allow', decision: {}, complete: (o: CommandOutcome) => { outcomes.push(o); return Promise.resolve(); } } as unknown as Allowed;
  const mask = { counts: () => ({}), maskText: (t: string) => t } as unknown as MaskSession;
  const session = { newMaskSession: () => mask, recordingLimits: () => ({ maxRows: 5, maxBytes: 1024 }) } as unknown as Session;
  return { exec: new Execution(auth, session), outcomes };
}

describe('Execution: the record states only what the server answered', () => {
  it('a CommandComplete gives the count, no error, no outcomeUnknown', async () => {
    const { exec, outcomes } = harness();
    exec.sent();
    exec.commandComplete('UPDATE 1');
    await exec.finish();
    expect(outcomes[0]?.result).toEqual({ rows: 1, bytes: 0, truncated: false });
  });

  it('abandoned (sent, never answered): outcomeUnknown, no rows member (not 0), the reason as error', async () => {
    const { exec, outcomes } = harness();
    exec.sent();
    await exec.abandon('the agent left (client disconnected); the server\'s outcome was not read');
    expect(outcomes[0]?.result).toEqual({ bytes: 0, truncated: false, outcomeUnknown: true, error: 'the agent left (client disconnected); the server\'s outcome was not read' });
    expect(outcomes[0]?.result).not.toHaveProperty('rows');
  });

  it('abandoned after some rows were read: still no count (a partial count is not the outcome); the bytes read stay', async () => {
    const { exec, outcomes } = harness();
    exec.row(40);
    exec.row(60);
    await exec.abandon('gone');
    expect(outcomes[0]?.result).toMatchObject({ bytes: 100, outcomeUnknown: true, error: 'gone' });
    expect(outcomes[0]?.result).not.toHaveProperty('rows');
  });

  it('abandoned with a listener reason already set (a COPY it cut): the unknown outcome is said first, the reason kept', async () => {
    const { exec, outcomes } = harness();
    exec.fail('COPY ... TO STDOUT was cut');
    await exec.abandon('the agent left');
    expect(outcomes[0]?.result?.error).toBe('the agent left; before that: COPY ... TO STDOUT was cut');
  });

  it('recorded once: abandon after finish (or finish after abandon) changes nothing', async () => {
    const a = harness();
    a.exec.commandComplete('DELETE 2');
    await a.exec.finish();
    await a.exec.abandon('late');
    expect(a.outcomes).toHaveLength(1);
    expect(a.outcomes[0]?.result).toEqual({ rows: 2, bytes: 0, truncated: false });
    const b = harness();
    await b.exec.abandon('gone');
    await b.exec.finish('client disconnected');
    expect(b.outcomes).toHaveLength(1);
    expect(b.outcomes[0]?.result).toMatchObject({ outcomeUnknown: true, error: 'gone' });
  });

  it('an ErrorResponse read is an answer: answeredByError, recorded as the failure it is', async () => {
    const { exec, outcomes } = harness();
    expect(exec.answeredByError).toBe(false);
    exec.failedUpstream('canceling statement due to user request');
    expect(exec.answeredByError).toBe(true);
    await exec.finish();
    expect(outcomes[0]?.result).toEqual({ rows: 0, bytes: 0, truncated: false, error: 'canceling statement due to user request' });
  });

  it('the listener\'s own failure is not the server\'s answer', () => {
    const { exec } = harness();
    exec.fail('cut by the sidecar');
    expect(exec.answeredByError).toBe(false);
  });

  it('counts what was sent: a run whose bytes were dropped before leaving was not sent', () => {
    const { exec } = harness();
    expect(exec.wasSent).toBe(false);
    exec.sent();
    expect(exec.wasSent).toBe(true);
    exec.unsent();
    expect(exec.wasSent).toBe(false);
    exec.unsent();
    expect(exec.wasSent).toBe(false);
    // A suspended portal executed again: the first run reached the server even if the second did not.
    exec.sent();
    exec.sent();
    exec.unsent();
    expect(exec.wasSent).toBe(true);
  });
});
