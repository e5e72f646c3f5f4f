import { describe, expect, it } from '@jest/globals';
import { execOutcome, exitCodeOf, resizeText } from './stream-exec.ts';
import { refusedResult, tarCreate } from './streaming.ts';

describe('the channel protocol\'s error channel', () => {
  it('reads the exit code from the Status the kubelet sends', () => {
    expect(exitCodeOf('{"metadata":{},"status":"Success"}')).toBe(0);
    expect(exitCodeOf('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}')).toBe(3);
    expect(exitCodeOf('{"status":"Failure","reason":"InternalError","message":"boom"}')).toBeUndefined();
    expect(exitCodeOf('not json')).toBeUndefined();
  });

  it('records a resize as COLSxROWS, and nothing for what is not one', () => {
    expect(resizeText(Buffer.from('{"Width":120,"Height":40}'))).toBe('120x40');
    expect(resizeText(Buffer.from('{"Width":"120"}'))).toBeUndefined();
    expect(resizeText(Buffer.from('\x00garbage'))).toBeUndefined();
  });
});

describe('kubectl cp out of a pod', () => {
  const target = (words: string[]): string => `/api/v1/namespaces/o/pods/p/exec?${words.map((w) => `command=${encodeURIComponent(w)}`).join('&')}&stdout=true`;

  it('is tar in create mode, however its flags are written', () => {
    for (const words of [['tar', 'cf', '-', '-C', '/data', 'customers.csv'], ['tar', '-cf', '-', 'x'], ['/bin/tar', 'czf', '-', 'x'], ['tar', '--verbose', 'cf', '-', 'x']]) {
      expect(tarCreate(target(words))).toBe(true);
    }
  });

  it('is not tar extracting into the pod (kubectl cp into it), nor another command', () => {
    for (const words of [['tar', '--no-same-permissions', '--no-same-owner', '-xmf', '-', '-C', '/tmp'], ['tar', 'xf', '-'], ['cat', 'cf'], ['sh', '-c', 'tar cf - x']]) {
      expect(tarCreate(target(words))).toBe(false);
    }
  });
});

describe('what the record of an exec or attach that ended states (never an outcome nobody saw)', () => {
  const base = { exec: true, exitCode: undefined, cut: undefined, agentLeft: false, closeCode: 1000 };

  it('the exit code when its Status arrived, whoever closed first', () => {
    expect(execOutcome({ ...base, exitCode: 0 })).toEqual({ status: 0 });
    expect(execOutcome({ ...base, exitCode: 3, agentLeft: true })).toEqual({ status: 3 });
    expect(execOutcome({ ...base, exitCode: 0, cut: 'the session was revoked' })).toEqual({ status: 0, error: 'the session was revoked' });
  });

  it('no Status: no status and outcomeUnknown, saying who ended the stream (agent, revocation, apiserver)', () => {
    for (const [o, why] of [
      [{ agentLeft: true }, 'the agent left'],
      [{ cut: 'the session was revoked', agentLeft: true }, 'the session was revoked'],
      [{ closeCode: 1006 }, 'the apiserver\'s stream ended (WebSocket close 1006)'],
    ] as const) {
      const r = execOutcome({ ...base, ...o });
      expect(r.status).toBeUndefined();
      expect(r.outcomeUnknown).toBe(true);
      expect(r.error).toBe(`${why} before the command's exit status arrived; the stream was closed, and whether the command went on in the container, and how it ended, is unknown`);
    }
  });

  it('attach (no command of its own): only what cut it, nothing unknown', () => {
    expect(execOutcome({ ...base, exec: false, agentLeft: true })).toEqual({});
    expect(execOutcome({ ...base, exec: false, cut: 'revoked' })).toEqual({ error: 'revoked' });
  });
});

describe('what the record of a stream refused before it was relayed states', () => {
  it('the status only when the agent is there to get it', () => {
    expect(refusedResult({ code: 403, message: 'denied', agentThere: true, execOpened: false })).toEqual({ status: 403, bytes: 0, error: 'denied' });
    expect(refusedResult({ code: 400, message: 'gone', agentThere: false, execOpened: false })).toEqual({ bytes: 0, error: 'gone' });
  });

  it('an exec opened upstream may have started its command: outcomeUnknown, whether or not the agent is there', () => {
    for (const agentThere of [true, false]) {
      const r = refusedResult({ code: 400, message: 'guarita: the handshake failed', agentThere, execOpened: true });
      expect(r.outcomeUnknown).toBe(true);
      expect(r.status).toBe(agentThere ? 400 : undefined);
      expect(r.error).toMatch(/^guarita: the handshake failed; the exec had been opened upstream, so the command may have started in the container/);
    }
  });
});
