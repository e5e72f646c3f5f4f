// How an exec, shell or legacy scp channel ends (round 12b review): the record is written before
// the agent is told the exit status, a record that cannot be written answers 69, and a record never
// states an outcome the host did not report (an agent that left, a channel the sidecar closed).
import { describe, expect, it } from '@jest/globals';
import type { ServerChannel } from 'ssh2';
import { ABANDONED_EXEC_MS, endResult, recordThenAnswer, type ChannelEnd } from './exec-end.ts';

const bytes = { bytes: 5, bytesIn: 1 };
const end = (over: Partial<ChannelEnd>): ChannelEnd => ({ exit: {}, bytes, truncated: false, agentLeft: false, gaveUp: false, ...over });

describe('what the command record says of how the channel ended', () => {
  it('the agent stayed: the host\'s exit status or signal, nothing else', () => {
    expect(endResult(end({ exit: { code: 3 } }))).toEqual({ ...bytes, status: 3 });
    expect(endResult(end({ exit: { signal: 'TERM' } }))).toEqual({ ...bytes, error: 'killed by signal TERM' });
    expect(endResult(end({ exit: { code: 0 }, truncated: true }))).toEqual({ ...bytes, status: 0, truncated: true });
  });

  it('the agent left and the host\'s exit was read after: the status, and that the agent left', () => {
    const r = endResult(end({ exit: { code: 3 }, agentLeft: true }));
    expect(r).toEqual({ ...bytes, status: 3, error: expect.stringContaining('the agent left') });
    expect(r.outcomeUnknown).toBeUndefined();
    expect(endResult(end({ exit: { signal: 'KILL' }, agentLeft: true })).error).toMatch(/agent left.*killed by signal KILL/);
  });

  it.each<[string, Partial<ChannelEnd>, RegExp]>([
    ['the agent left and the exit did not come in time', { agentLeft: true, gaveUp: true }, new RegExp(`agent left.*within ${ABANDONED_EXEC_MS / 1000} s.*not read`)],
    ['the agent left and the host closed without an exit status', { agentLeft: true }, /agent left.*without an exit status/],
    ['the sidecar closed the channel (revocation) before the exit came', { revoked: 'session closed: revoked' }, /sidecar closed the channel \(session closed: revoked\).*not read/],
    ['revoked after the agent left', { agentLeft: true, revoked: 'shutdown' }, /agent left.*sidecar closed the channel \(shutdown\)/],
  ])('%s: outcomeUnknown with an error, never a status', (_name, over, error) => {
    const r = endResult(end(over));
    expect(r).toEqual({ ...bytes, outcomeUnknown: true, error: expect.stringMatching(error) });
    expect('status' in r).toBe(false);
  });

  it('the host closed without an exit status while the agent stayed: no status invented (as before)', () => {
    expect(endResult(end({}))).toEqual(bytes);
  });
});

/** A fake of the agent's channel: what it was told, in order. */
function agentChannel(writable = true): { ch: ServerChannel; told: unknown[][] } {
  const told: unknown[][] = [];
  const ch = {
    writable,
    stderr: { write: (t: string) => { told.push(['stderr', t]); return true; } },
    exit: (...a: unknown[]) => { told.push(['exit', ...a]); },
  } as unknown as ServerChannel;
  return { ch, told };
}

describe('the record first, then the answer', () => {
  it('the exit status is released only once the record is written', async () => {
    const { ch, told } = agentChannel();
    const order: string[] = [];
    await recordThenAnswer(ch, end({ exit: { code: 0 } }), async () => {
      await new Promise((r) => setTimeout(r, 10));
      order.push(`recorded; told so far: ${told.length}`);
    });
    expect(order).toEqual(['recorded; told so far: 0']);
    expect(told).toEqual([['exit', 0]]);
  });

  it.each<[string, ChannelEnd]>([
    ['exit 0', end({ exit: { code: 0 } })],
    ['exit 3', end({ exit: { code: 3 } })],
    ['a signal', end({ exit: { signal: 'TERM' } })],
    ['a revoked channel', end({ revoked: 'revoked' })],
    ['no exit status', end({})],
  ])('a record that cannot be written answers 69 with a guarita: reason, whatever the host said (%s)', async (_name, e) => {
    const { ch, told } = agentChannel();
    const failure = await recordThenAnswer(ch, e, () => Promise.reject(new Error('EIO: injected\nwrite failure')));
    expect(failure).toBeInstanceOf(Error);
    expect(told).toEqual([['stderr', expect.stringMatching(/^guarita: the command ran, but its record could not be written.*EIO: injected write failure\r\n$/)], ['exit', 69]]);
  });

  it('a record that fails with a non-Error is still a failure (never exit 0)', async () => {
    const { ch, told } = agentChannel();
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what a faulty writer may throw
    expect(await recordThenAnswer(ch, end({ exit: { code: 0 } }), () => Promise.reject(undefined))).toBeDefined();
    expect(told.at(-1)).toEqual(['exit', 69]);
  });

  it('a revoked channel is answered 126, a signal as the signal', async () => {
    const a = agentChannel();
    await recordThenAnswer(a.ch, end({ exit: { code: 0 }, revoked: 'revoked' }), () => Promise.resolve());
    expect(a.told).toEqual([['exit', 126]]);
    const b = agentChannel();
    await recordThenAnswer(b.ch, end({ exit: { signal: 'TERM' } }), () => Promise.resolve());
    expect(b.told).toEqual([['exit', 'TERM', false, '']]);
  });

  it('an agent that left is told nothing (the record is still written)', async () => {
    const { ch, told } = agentChannel(false);
    let recorded = false;
    await recordThenAnswer(ch, end({ exit: { code: 3 }, agentLeft: true }), () => { recorded = true; return Promise.resolve(); });
    expect(recorded).toBe(true);
    expect(told).toEqual([]);
  });
});
