// The host's exit status reaches the agent however the host's packets are batched. A command that
// ends at once can have its exec success, exit-status, EOF and close arrive in one read (seen under
// load with the real sshd: `ssh true` exited 255 with nothing on stderr). Here the host is an
// in-process ssh2 server that corks its socket while it answers, so the success, exit-status,
// EOF and close leave in one write and the sidecar's upstream parses them in one chunk every
// time: the interleaving is forced, not timed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import ssh2, { type Connection, type ServerChannel } from 'ssh2';
import { startChannelRig, type ChannelRig } from '../../test/ssh-channel-rig.ts';
import { agentBackpressure, channelBytes } from './session-channel.ts';
import { generateHostKey } from './host-key.ts';

type HostAnswer = (stream: ServerChannel) => void;
/** What the fake host does for each command, synchronously in the exec handler. */
const ANSWERS: Record<string, HostAnswer> = {
  true: (s) => { s.exit(0); s.end(); },
  'exit 3': (s) => { s.exit(3); s.end(); },
  'echo done; exit 4': (s) => { s.write('done\n'); s.exit(4); s.end(); },
  'kill -TERM $$': (s) => { s.exit('TERM', false, ''); s.end(); },
  'flood stdout': (s) => flood(s, 'out'),
  'flood stderr': (s) => flood(s, 'err'),
};

/** Bytes of the current flood the sidecar has taken off the host's channel (written to the wire, within the window it opened). */
let flooded = 0;
const FLOOD_CHUNK = Buffer.alloc(32 * 1024, 0x78);
/** The host writes 64 MiB to stdout or stderr as fast as the sidecar's window lets it. */
let floods = 0;
function flood(s: ServerChannel, to: 'out' | 'err'): void {
  flooded = 0;
  // A flood whose agent left is still read by the sidecar (exec-end.ts): it stops counting once the next one starts.
  const mine = ++floods;
  const target = to === 'out' ? s : s.stderr;
  const more = (): void => {
    while (flooded < 64 * 1024 * 1024) {
      if (mine !== floods) return void s.close();
      flooded += FLOOD_CHUNK.length;
      if (!target.write(FLOOD_CHUNK)) return void target.once('drain', more);
    }
  };
  more();
}

let rig: ChannelRig | undefined;
let sidecarPort: number;
let lastHostSocket: Socket | undefined;
let work: string | undefined;

beforeAll(async () => {
  const hostKey = generateHostKey();
  const host = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (conn: Connection) => {
    const socket = lastHostSocket;
    conn.on('authentication', (auth) => auth.accept());
    conn.on('session', (accept) => {
      accept().on('exec', (acceptExec, _reject, info) => {
        // One write: the sidecar's upstream reads every packet of the answer at once.
        socket?.cork();
        (ANSWERS[info.command] ?? ANSWERS.true)?.(acceptExec());
        process.nextTick(() => socket?.uncork());
      });
    });
  });
  // The host's sockets are ours (injected into ssh2), so an answer can be corked into one write.
  rig = await startChannelRig(hostKey, host, (socket) => { lastHostSocket = socket; });
  sidecarPort = rig.sidecarPort;
  work = mkdtempSync(join(tmpdir(), 'guarita-session-channel-'));
  writeFileSync(join(work, 'known_hosts'), `[127.0.0.1]:${sidecarPort} ${rig.sidecarPublicKey}\n`);
});

afterAll(() => {
  rig?.close();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

/** Runs a command as the agent; resolves with the exit the agent's channel reported (undefined: none). */
function agentExec(command: string): Promise<{ exit: unknown[] | undefined; stdout: string }> {
  return new Promise((resolve, reject) => {
    const agent = new ssh2.Client();
    agent.on('error', reject);
    agent.on('ready', () => {
      agent.exec(command, (err, stream) => {
        if (err !== undefined) return reject(err);
        let exit: unknown[] | undefined;
        let stdout = '';
        stream.on('exit', (...args: unknown[]) => { exit = args; });
        stream.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
        stream.stderr.resume();
        stream.on('close', () => { agent.end(); resolve({ exit, stdout }); });
        stream.end();
      });
    });
    agent.connect({ host: '127.0.0.1', port: sidecarPort, username: 'p', password: 'token', hostVerifier: () => true });
  });
}

describe('the host exit status on the agent channel', () => {
  it('reaches the agent when the host sends success, exit-status and close in one read (the agent ssh exited 255)', async () => {
    expect(await agentExec('true')).toEqual({ exit: [0], stdout: '' });
    expect(await agentExec('exit 3')).toEqual({ exit: [3], stdout: '' });
  });

  it('keeps output sent in the same read, and a signal', async () => {
    expect(await agentExec('echo done; exit 4')).toEqual({ exit: [4], stdout: 'done\n' });
    const signalled = await agentExec('kill -TERM $$');
    expect(signalled.exit?.slice(0, 2)).toEqual([null, 'SIGTERM']);
  });

  it('every time, on fresh connections', async () => {
    for (let i = 0; i < 5; i++) expect((await agentExec('true')).exit).toEqual([0]);
  });
});

/** The real OpenSSH client as the agent (default LogLevel; this rig accepts "none" auth): its exit status is the host's, or 255 when none came. */
function opensshExec(command: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ssh', ['-F', '/dev/null', '-p', String(sidecarPort), '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${join(work ?? '', 'known_hosts')}`, '-o', 'BatchMode=yes', 'p@127.0.0.1', command], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    child.on('close', (code) => resolve({ code, stderr }));
    child.stdin.end();
  });
}

describe('the host exit status through OpenSSH ssh', () => {
  it('ssh exits with the host command status (it exited 255 with an empty stderr when the status was lost)', async () => {
    expect(await opensshExec('true')).toEqual({ code: 0, stderr: '' });
    expect(await opensshExec('exit 3')).toEqual({ code: 3, stderr: '' });
  });
});

describe('backpressure toward an agent that stops reading', () => {
  /** Fakes of the agent's and the host's streams: what was paused and resumed. */
  function streams(): { agent: EventEmitter & { stderr: EventEmitter }; host: { pause(): void; resume(): void; stderr: { pause(): void; resume(): void } }; log: string[] } {
    const log: string[] = [];
    const agent = Object.assign(new EventEmitter(), { stderr: new EventEmitter() });
    const host = {
      pause: () => { log.push('pause out'); }, resume: () => { log.push('resume out'); },
      stderr: { pause: () => { log.push('pause err'); }, resume: () => { log.push('resume err'); } },
    };
    return { agent, host, log };
  }

  it.each(['o', 'e'] as const)('the agent\'s %s stream full: both of the host\'s streams pause, and resume when it drains', (target) => {
    const { agent, host, log } = streams();
    const written = agentBackpressure(agent, host);
    written(target, true);
    expect(log).toEqual([]);
    written(target, false);
    // A second refusal while full adds no second wait.
    written(target, false);
    expect(log).toEqual(['pause out', 'pause err']);
    (target === 'o' ? agent : agent.stderr).emit('drain');
    expect(log).toEqual(['pause out', 'pause err', 'resume out', 'resume err']);
    expect(agent.listenerCount('drain') + agent.stderr.listenerCount('drain')).toBe(0);
  });

  it('both full: the host resumes only once both have drained, in either order', () => {
    for (const first of ['o', 'e'] as const) {
      const { agent, host, log } = streams();
      const written = agentBackpressure(agent, host);
      written('o', false);
      written('e', false);
      (first === 'o' ? agent : agent.stderr).emit('drain');
      expect(log.filter((l) => l.startsWith('resume'))).toEqual([]);
      (first === 'o' ? agent.stderr : agent).emit('drain');
      expect(log.filter((l) => l.startsWith('resume'))).toEqual(['resume out', 'resume err']);
    }
  });

  /** Runs `command` as an agent that never reads; how much the host got to send once its sending stalled. */
  async function unreadFlood(command: string): Promise<number> {
    const agent = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      agent.on('error', reject);
      agent.on('ready', () => resolve());
      agent.connect({ host: '127.0.0.1', port: sidecarPort, username: 'p', password: 'token', hostVerifier: () => true });
    });
    try {
      await new Promise<void>((resolve, reject) => agent.exec(command, (err) => (err ? reject(err) : resolve())));
      // Stalled: nothing more taken for a while (the sidecar stopped opening the host's window).
      let last = -1;
      while (flooded !== last) {
        last = flooded;
        await new Promise((r) => setTimeout(r, 300));
      }
      return flooded;
    } finally {
      agent.end();
    }
  }

  it.each(['flood stdout', 'flood stderr'])('%s to an agent that does not read: the sidecar stops taking the host\'s output after a few windows', async (command) => {
    // Unbounded, the sidecar took all 64 MiB of stderr into memory (round 10 review); bounded, the
    // agent's window, the agent channel's buffer and the host stream's buffer (2 MiB each) and the
    // host's window.
    expect(await unreadFlood(command)).toBeLessThan(16 * 1024 * 1024);
  });
});

describe('what an exec, shell or legacy scp channel records of its bytes', () => {
  it('bytes: the output, or a legacy scp upload\'s data (what the agent sent); bytesIn: what the agent sent', () => {
    expect(channelBytes(undefined, 10, 3)).toEqual({ bytes: 10, bytesIn: 3 });
    expect(channelBytes('download', 200_000, 4)).toEqual({ bytes: 200_000, bytesIn: 4 });
    // scp -t: the host answers acknowledgements only (3 bytes); the upload is what the agent sent.
    expect(channelBytes('upload', 3, 200_030)).toEqual({ bytes: 200_030, bytesIn: 200_030 });
  });
});
