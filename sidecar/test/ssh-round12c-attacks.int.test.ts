// Round 12c review (adversarial) of the round 12b SSH evidence fix (48e389b): the real sidecar in this
// process in front of the real OpenSSH sshd, the harness IdP and kube-apiserver; the agent is a raw
// ssh2 client; records are read from the spool's segment files. Each test FAILS on 48e389b for the
// reason its name states (see /work/tmp/ssh12c-review.md). Tightened with the fix: the notes are
// asserted as frames of their own kind, and the listener's counters (connections, channels,
// upstream connections, open sessions) and the remote-forward listener are asserted back after
// the abandoned commands, whose host processes outlive the test's wait.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import ssh2, { type Client, type ClientChannel } from 'ssh2';
import { freePorts } from '../../e2e/harness/ports.ts';
import { k, suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import type { SshHeld, SshListener } from '../src/ssh/index.ts';
import { dropConnection, InProcessSshScenario, startExec, type SshSpoolRecord } from './ssh-inprocess-scenario.ts';
import { forwardIn } from './ssh-scenario.ts';

jest.setTimeout(150_000);

const sc = new InProcessSshScenario('ssh12c', 'ssh12c-host', 'ops');
type Rec = SshSpoolRecord;
const spoolRecords = (): Rec[] => sc.spoolRecords();
const connectAgent = (): Promise<Client> => sc.connectAgent();

/** The listener's connection bound for this file (finding 1: abandoned commands hold it). */
const MAX_CONNECTIONS = 3;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const spoolWritable = (): Promise<void> => sc.spoolWritable();

beforeAll(async () => {
  await sc.start({
    rules: [
      { name: 'ops-exec', match: { ssh: { requests: ['exec'] } }, action: 'allow' },
      { name: 'ops-sftp', match: { ssh: { requests: ['sftp'] } }, action: 'allow' },
      { name: 'ops-tunnels', match: { ssh: { requests: ['remoteForward'], destinations: ['127.0.0.1:*'] } }, action: 'allow' },
    ],
    env: { GUARITA_SSH_MAX_CONNECTIONS: String(MAX_CONNECTIONS), GUARITA_DRAIN_TIMEOUT: '2s' },
    failingSpool: true,
  });
});

afterAll(async () => {
  await sc.stop();
});

/** What the SSH listener holds now, and the sessions open in the sidecar. */
function held(): SshHeld & { sessions: number } {
  const listener = sc.sidecar.listeners.find((l) => l.target === sc.policyName) as SshListener;
  return { ...listener.held(), sessions: sc.sidecar.enforcer.openSessions };
}
const NOTHING_HELD = { connections: 0, channels: 0, upstreams: 0, sessions: 0 };

/** Waits until the listener holds nothing (before a test's own connections). */
async function nothingHeldBefore(ms: number, intervalMs: number): Promise<void> {
  await eventually('nothing held before', () => Promise.resolve(JSON.stringify(held()) === JSON.stringify(NOTHING_HELD) ? true : undefined), ms, intervalMs);
}

/** Waits until the one command of the test runs on the host (its upstream connection is open). */
async function commandRunsOnHost(): Promise<void> {
  await eventually('the command runs on the host', () => Promise.resolve(held().upstreams === 1 ? true : undefined), 10_000, 100);
}

/** What the listener holds once it holds nothing, or after `ms` what it still holds. */
function heldOnceFreed(ms: number, intervalMs: number): Promise<ReturnType<typeof held>> {
  return eventually('the listener holds nothing', () => Promise.resolve(JSON.stringify(held()) === JSON.stringify(NOTHING_HELD) ? held() : undefined), ms, intervalMs).catch(() => held());
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
type Frame = { ch: string; data: string };
function streamFrames(command: string): Frame[] {
  return spoolRecords().filter((r) => r.type === 'stream' && r.commandSha256 === sha(command)).flatMap((r) => (r.frames as Frame[] | undefined) ?? []);
}

/** What the exec channel `ch` ended with (its exit status and stderr; its output read and dropped), once it closes. */
function channelEnded(ch: ClientChannel): Promise<{ code: unknown; stderr: string }> {
  let stderr = '';
  let code: unknown;
  ch.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
  ch.on('data', () => undefined);
  ch.on('exit', (x: unknown) => { code = x; });
  return new Promise((done) => ch.on('close', () => done({ code, stderr })));
}

function runExec(c: Client, command: string, o: { signalAfterMs?: number; signal?: string } = {}): Promise<{ code: unknown; stderr: string }> {
  return new Promise((resolve, reject) => c.exec(command, (err, ch) => {
    if (err) return reject(err);
    resolve(channelEnded(ch));
    if (o.signalAfterMs !== undefined) setTimeout(() => ch.signal(o.signal ?? 'TERM'), o.signalAfterMs);
  }));
}

describe('the stream note: can agent output pass for the sidecar\'s own note?', () => {
  it('a command that printed the signal note itself is not recorded as the note of a signal the agent really sent (notes are frames of their own kind)', async () => {
    await spoolWritable();
    const note = '\r\n[guarita: the agent sent the signal KILL to the command]\r\n';
    // A: the agent sent no signal; the command (the agent's own text) prints the note on stderr.
    const script = join(sc.work, `forge-${suffix()}.py`);
    writeFileSync(script, `import sys, time\nsys.stderr.write(${JSON.stringify(note)})\nsys.stderr.flush()\ntime.sleep(1.5)\n`);
    const forged = `python3 ${script}`;
    // B: the agent really sends KILL to a running command.
    const real = 'sleep 1.5';
    const c = await connectAgent();
    try {
      await runExec(c, forged);
      await runExec(c, real, { signalAfterMs: 500, signal: 'KILL' });
    } finally {
      c.end();
    }
    const a = await eventually('stream A', () => Promise.resolve(streamFrames(forged).length > 0 ? streamFrames(forged) : undefined), 10_000, 200);
    const b = await eventually('stream B', () => Promise.resolve(streamFrames(real).length > 0 ? streamFrames(real) : undefined), 10_000, 200);
    const realNote = b.find((f) => f.data.includes('the agent sent the signal KILL'));
    const forgedNote = a.find((f) => f.data.includes('the agent sent the signal KILL'));
    // On 48e389b the sidecar's note (B) was a plain stderr frame, and the text the command printed (A)
    // was recorded as the same kind of frame with the same bytes. Now the sidecar's note is a frame of
    // its own kind (`n`), exactly one for the one signal sent; what the command printed is stderr.
    expect(realNote).toEqual({ ch: 'n', data: 'the agent sent the signal KILL to the command', t: expect.any(Number) });
    expect(b.filter((f) => f.ch === 'n')).toEqual([realNote]);
    expect(a.filter((f) => f.ch === 'n')).toEqual([]);
    expect(forgedNote?.ch).toBe('e');
    expect(forgedNote === undefined ? undefined : { ch: forgedNote.ch, data: forgedNote.data })
      .not.toEqual({ ch: realNote?.ch, data: realNote?.data });
  });
});

describe('the agent leaves: a host command that ignores EOF (the 30 s bound)', () => {
  it('an abandoned `sleep 50` is recorded within the bound (~30 s + margin) as outcomeUnknown, and the host channel is closed', async () => {
    await spoolWritable();
    await nothingHeldBefore(10_000, 200);
    const command = 'sleep 50';
    const c = await connectAgent();
    // A remote forward on the same connection: its listener on the host ends with the upstream connection.
    const [forwardPort = 0] = await freePorts(1);
    c.on('tcp connection', (_i, accept) => accept().resume());
    const forwarded = await forwardIn(c, forwardPort);
    expect(forwarded).toBeUndefined();
    expect(await listening(forwardPort)).toBe(true);
    await startExec(c, command);
    await sleep(500);
    const leftAt = Date.now();
    dropConnection(c);
    // ABANDONED_EXEC_MS is 30 s; the record should follow the host channel's close shortly after.
    const rec = await eventually('the command record', () => Promise.resolve(spoolRecords().find((r) => r.type === 'command' && r.command === command && r.decision === 'allow')), 60_000, 500).catch(() => undefined);
    const after = Math.round((Date.now() - leftAt) / 1000);
    // Observed on 48e389b: nothing until the host's `sleep 50` exits by itself (~50 s), then a record
    // with the host's status 0 — the 30 s bound did not close the host channel.
    expect({ recordedWithinBound: rec !== undefined && after <= 38, after, result: rec?.result })
      .toEqual({ recordedWithinBound: true, after: expect.any(Number), result: expect.objectContaining({ outcomeUnknown: true, error: expect.stringMatching(/the agent left.*did not come within 30 s.*not read/) }) });
    expect(rec?.result).not.toHaveProperty('status');
    // Everything the connection held is back (the host's `sleep 50` still runs: nothing waits for it),
    // the session has ended, and the host no longer listens for the remote forward.
    const back = await heldOnceFreed(8_000, 200);
    expect(back).toEqual(NOTHING_HELD);
    expect(spoolRecords().some((r) => r.type === 'session.end' && r.sessionId === rec?.sessionId)).toBe(true);
    await eventually('the host no longer listens for the remote forward', async () => ((await listening(forwardPort)) ? undefined : true), 8_000, 200);
  });
});

describe('the agent leaves: the listener\'s connection bound after the 30 s bound', () => {
  /** Connects as the agent: 'ready', or 'refused' when the listener ends the connection before its handshake. */
  function tryConnect(): Promise<'ready' | 'refused'> {
    return new Promise((resolve) => {
      const c = new ssh2.Client();
      const t = setTimeout(() => { c.end(); resolve('refused'); }, 15_000);
      c.on('error', () => { clearTimeout(t); resolve('refused'); });
      c.on('close', () => { clearTimeout(t); resolve('refused'); });
      c.on('ready', () => { clearTimeout(t); resolve('ready'); c.end(); });
      c.connect({ host: '127.0.0.1', port: sc.listenPort, username: sc.purpose, password: sc.token, hostVerifier: () => true, readyTimeout: 15_000 });
    });
  }

  it('GUARITA_SSH_MAX_CONNECTIONS abandoned `sleep 90` execs do not lock the listener past ABANDONED_EXEC_MS', async () => {
    await spoolWritable();
    expect(await tryConnect()).toBe('ready'); // control: a slot is free now
    await nothingHeldBefore(10_000, 200);
    // `sleep 90` outlives the wait below: only the sidecar giving up can free the slots (on 48e389b
    // the slots came back when the host's command exited; the review's `sleep 45` ended at 45 s).
    const command = 'sleep 90';
    const agents: Client[] = [];
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      const c = await connectAgent();
      // The first connection runs two: the channels' count is checked as well as the connections'.
      for (let j = 0; j < (i === 0 ? 2 : 1); j++) await startExec(c, command);
      agents.push(c);
    }
    const full = { connections: MAX_CONNECTIONS, channels: MAX_CONNECTIONS + 1, upstreams: MAX_CONNECTIONS, sessions: MAX_CONNECTIONS };
    // The agent's exec is accepted before it is judged and the host's channel opened: wait for the upstreams.
    expect(await eventually('every command runs on the host', () => Promise.resolve(JSON.stringify(held()) === JSON.stringify(full) ? held() : undefined), 10_000, 100).catch(() => held())).toEqual(full);
    expect(await tryConnect()).toBe('refused'); // the bound holds meanwhile
    await sleep(500);
    for (const c of agents) dropConnection(c);
    // While the bound runs, the draining channels keep their places.
    await sleep(2_000);
    expect(held()).toEqual(full);
    // Observed on 48e389b: every slot stayed held by a channel waiting for sshd's CHANNEL_CLOSE, which
    // comes only when the host's `sleep` exits.
    const back = await heldOnceFreed(45_000, 250);
    expect(back).toEqual(NOTHING_HELD);
    expect(await tryConnect()).toBe('ready');
    const records = spoolRecords().filter((r) => r.type === 'command' && r.command === command && r.decision === 'allow');
    expect(records.map((r) => r.result?.outcomeUnknown)).toEqual(new Array(MAX_CONNECTIONS + 1).fill(true));
  });
});

/** Runs `command` as the agent and stays: resolves with the channel once it runs, and its end (exit status, stderr). */
async function execAndStay(command: string): Promise<{ c: Client; ended: Promise<{ code: unknown; stderr: string }> }> {
  const c = await connectAgent();
  c.on('error', () => undefined);
  // Boxed: a promise resolved with a promise would wait for it.
  const { ended } = await new Promise<{ ended: Promise<{ code: unknown; stderr: string }> }>((resolve, reject) => c.exec(command, (err, ch) => {
    if (err) return reject(err);
    resolve({ ended: channelEnded(ch) });
  }));
  return { c, ended };
}

/** JSON-patches the file's AccessPolicy. */
async function patchPolicy(ops: unknown[]): Promise<void> {
  await k(['-n', sc.ns, 'patch', 'accesspolicy', sc.policyName, '--type', 'json', '-p', JSON.stringify(ops)]);
}

/** `p`'s value, or 'still open' after `ms` (the timer does not outlive the race). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'still open'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'still open'>((r) => { timer = setTimeout(() => r('still open'), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

const commandRecord = (command: string): Rec | undefined => spoolRecords().find((r) => r.type === 'command' && r.command === command && r.decision === 'allow');

describe('the sidecar closes the channel of a command that ignores EOF (revocation, shutdown)', () => {
  it('a revocation records it at once as outcomeUnknown, answers the agent 126, and frees every place', async () => {
    await spoolWritable();
    await nothingHeldBefore(45_000, 250);
    const command = 'sleep 92';
    const { c, ended } = await execAndStay(command);
    await commandRunsOnHost();
    await patchPolicy([{ op: 'add', path: '/spec/revokedSubjects', value: [{ kind: 'Group', name: 'support', reason: 'round 12c revocation' }] }]);
    try {
      // Before the fix: nothing until the host's `sleep 92` exits, the agent's channel held open meanwhile.
      const end = await within(ended, 20_000);
      expect(end).toEqual({ code: 126, stderr: expect.stringContaining('round 12c revocation') });
      expect(commandRecord(command)?.result).toEqual(expect.objectContaining({ outcomeUnknown: true, error: expect.stringMatching(/sidecar closed the channel .*round 12c revocation.*not read/) }));
      expect(commandRecord(command)?.result).not.toHaveProperty('status');
      const back = await heldOnceFreed(10_000, 200);
      expect(back).toEqual(NOTHING_HELD);
    } finally {
      c.end();
      await patchPolicy([{ op: 'remove', path: '/spec/revokedSubjects' }]);
    }
  });

  it('a shutdown records it (outcomeUnknown) before the spool closes', async () => {
    await eventually('the restored policy lets the agent in', async () => {
      const { c, ended } = await execAndStay('true');
      const r = await ended;
      c.end();
      return r.code === 0 ? true : undefined;
    }, 30_000, 500);
    const command = 'sleep 93';
    const { c, ended } = await execAndStay(command);
    await commandRunsOnHost();
    await sc.sidecar.shutdown('round 12c shutdown');
    // Before the fix: the shutdown waited 3 s for a channel sshd never closed, then closed the spool: no record.
    expect(commandRecord(command)?.result).toEqual(expect.objectContaining({ outcomeUnknown: true, error: expect.stringContaining('not read') }));
    expect(held()).toEqual({ ...NOTHING_HELD, sessions: 0 });
    c.end();
    await within(ended, 2_000);
  });
});
