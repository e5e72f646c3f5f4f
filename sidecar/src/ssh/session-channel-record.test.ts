// An exec channel's record against its answer (round 12b review), through the real
// handleSessionChannel in front of an in-process ssh2 host: the exit status reaches the agent only
// once the command's record is written, a record that cannot be written answers 69, an agent that
// leaves mid-exec gets its command's exit read from the host and recorded, and the agent's signal
// is recorded before the host gets it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServerChannel } from 'ssh2';
import type { CommandOutcome, Session } from '../enforcement.ts';
import { connectAgent, execOn, fakeHost, startChannelRig, testSession, type ChannelRig } from '../../test/ssh-channel-rig.ts';

/** What the session recorded, in order; `failRecords` makes complete() reject (a spool failing). */
const log: string[] = [];
let failRecords = false;
let completeDelayMs = 0;
const outcomes: CommandOutcome[] = [];
/** Signals the host received. */
const signals: string[] = [];

function recordingSession(): Session {
  return testSession({
    authorize: () => Promise.resolve({
      verdict: 'allow', decision: {} as never,
      complete: async (o: CommandOutcome) => {
        await new Promise((r) => setTimeout(r, completeDelayMs));
        if (failRecords) throw new Error('EIO: injected write failure');
        outcomes.push(o);
        log.push('command recorded');
      },
    }),
    recordStream: (frames) => {
      if (failRecords) return Promise.reject(new Error('EIO: injected write failure'));
      for (const f of frames) log.push(`stream ${f.ch} ${f.data.trim()}`);
      return Promise.resolve();
    },
  });
}

let rig: ChannelRig | undefined;
/** Settles when the host's command `late` ends (after its agent left). */
let lateEnded: () => void = () => undefined;

beforeAll(async () => {
  const { hostKey, host } = fakeHost((session) => {
    let stream: ServerChannel | undefined;
    session.on('signal', (_a, _r, info) => {
      signals.push(info.name);
      stream?.exit(130);
      stream?.end();
    });
    session.on('exec', (acceptExec, _reject, info) => {
      const s = acceptExec();
      stream = s;
      if (info.command === 'late') {
        // Runs on after its agent left, then exits 3 (sshd does not signal a command without a terminal).
        setTimeout(() => { s.exit(3); s.end(); lateEnded(); }, 300);
        return;
      }
      if (info.command === 'wait') return;
      s.exit(info.command === 'exit 3' ? 3 : 0);
      s.end();
    });
  });
  rig = await startChannelRig(hostKey, host, undefined, { session: recordingSession });
});

afterAll(() => rig?.close());

const reset = (): void => {
  log.length = 0;
  outcomes.length = 0;
  signals.length = 0;
  failRecords = false;
  completeDelayMs = 0;
};

describe('an exec is answered once its record is written', () => {
  it('the exit status comes after the command record (Synced: durable first)', async () => {
    reset();
    completeDelayMs = 100;
    const agent = await connectAgent(rig!.sidecarPort);
    try {
      const r = await execOn(agent, 'exit 3');
      log.push('agent told');
      expect(r.code).toBe(3);
      expect(log).toEqual(['command recorded', 'agent told']);
      expect(outcomes[0]?.result).toEqual(expect.objectContaining({ status: 3 }));
    } finally {
      agent.end();
    }
  });

  it.each(['true', 'exit 3'])('a record that cannot be written answers 69 with a guarita: reason, never the host\'s status (%s)', async (command) => {
    reset();
    failRecords = true;
    const agent = await connectAgent(rig!.sidecarPort);
    try {
      const r = await execOn(agent, command);
      expect(r).toEqual({ code: 69, stderr: expect.stringMatching(/^guarita: the command ran, but its record could not be written/) });
    } finally {
      agent.end();
    }
  });
});

describe('the agent leaves while the command runs', () => {
  it.each<[string, (c: import('ssh2').Client, ch: import('ssh2').ClientChannel) => void]>([
    ['drops its connection', (c) => (c as unknown as { _sock: { destroy(): void } })._sock.destroy()],
    ['closes the channel only', (_c, ch) => ch.close()],
  ])('it %s: the host\'s exit status is read and recorded, with that the agent left', async (_name, leave) => {
    reset();
    const ended = new Promise<void>((r) => { lateEnded = r; });
    const agent = await connectAgent(rig!.sidecarPort);
    agent.on('error', () => undefined);
    const ch = await new Promise<import('ssh2').ClientChannel>((resolve, reject) => agent.exec('late', (err, s) => (err ? reject(err) : resolve(s))));
    leave(agent, ch);
    await ended;
    for (let i = 0; i < 50 && outcomes.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(outcomes[0]?.result).toEqual(expect.objectContaining({ status: 3, error: expect.stringContaining('the agent left') }));
    agent.end();
  });
});

describe('signals', () => {
  it('the agent\'s signal is recorded before the host gets it', async () => {
    reset();
    const agent = await connectAgent(rig!.sidecarPort);
    try {
      const code = await new Promise<unknown>((resolve, reject) => agent.exec('wait', (err, s) => {
        if (err) return reject(err);
        let x: unknown;
        s.on('exit', (c: unknown) => { x = c; });
        s.resume();
        s.on('close', () => resolve(x));
        setTimeout(() => s.signal('INT'), 600);
      }));
      expect(signals).toEqual(['INT']);
      expect(code).toBe(130);
      // A note of its own kind (round 12c review), not text in the output's frames.
      expect(log.indexOf('stream n the agent sent the signal INT to the command')).toBeGreaterThanOrEqual(0);
      expect(log.indexOf('stream n the agent sent the signal INT to the command')).toBeLessThan(log.indexOf('command recorded'));
      expect(log.filter((l) => l.includes('signal INT'))).toEqual(['stream n the agent sent the signal INT to the command']);
    } finally {
      agent.end();
    }
  });

  it('a signal whose record cannot be written does not reach the host', async () => {
    reset();
    const agent = await connectAgent(rig!.sidecarPort);
    try {
      const r = await new Promise<{ code: unknown; stderr: string }>((resolve, reject) => agent.exec('wait', (err, s) => {
        if (err) return reject(err);
        let code: unknown;
        let stderr = '';
        s.on('exit', (c: unknown) => { code = c; });
        s.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        s.resume();
        s.on('close', () => resolve({ code, stderr }));
        setTimeout(() => { failRecords = true; s.signal('KILL'); }, 600);
      }));
      expect(signals).toEqual([]);
      expect(r.code).toBe(69);
      expect(r.stderr).toContain('guarita: ');
    } finally {
      agent.end();
    }
  });
});
