// The host closing its SFTP channel ends the agent's, however the host's packets are batched.
// The listener for the host's close was attached after two waits (the channel, then realpath);
// ssh2 emits that close synchronously while parsing the host's CHANNEL_CLOSE, so a close that
// came in the same read as the VERSION or the realpath answer was missed, and ssh2 drops
// requests on a closed channel without calling back: the agent's requests waited forever on a
// channel that stayed open. Here the host is an in-process ssh2 server whose socket is corked
// while it handles each read, so an answer and the close leave in one write and the sidecar's
// upstream parses them in one chunk every time: the interleaving is forced, not timed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import ssh2, { type Stats } from 'ssh2';
import { fakeHost, startChannelRig, type ChannelRig } from '../../test/ssh-channel-rig.ts';

/** When the fake host closes its SFTP channel: with its VERSION, or with its first realpath answer. */
type HostClose = 'with-version' | 'with-realpath';
let hostClose: HostClose = 'with-version';
/** Settles once the host has closed its SFTP channel (its close is on the wire before any later answer). */
let hostClosed: Promise<void> = Promise.resolve();
let markHostClosed: () => void = () => undefined;

let rig: ChannelRig | undefined;
let sidecarPort: number;

beforeAll(async () => {
  const { hostKey, host } = fakeHost((session) => {
    session.on('sftp', (acceptSftp) => {
      const sftp = acceptSftp();
      const close = (): void => { sftp.end(); markHostClosed(); };
      if (hostClose === 'with-version') sftp.on('ready', close);
      sftp.on('REALPATH', (id: number) => {
        sftp.name(id, [{ filename: '/root', longname: '/root', attrs: {} as Stats }]);
        if (hostClose === 'with-realpath') close();
      });
    });
    session.on('exec', (acceptExec) => { const s = acceptExec(); s.exit(0); s.end(); });
  });
  // The host's sockets are ours (injected into ssh2): corked while ssh2 handles a read (this
  // listener runs before ssh2's), so everything the host answers to one read leaves in one write.
  rig = await startChannelRig(hostKey, host, (socket) => {
    socket.on('data', () => {
      socket.cork();
      process.nextTick(() => socket.uncork());
    });
  });
  sidecarPort = rig.sidecarPort;
});

afterAll(() => { rig?.close(); });

/**
 * As the agent: opens SFTP through the sidecar and asks realpath("."), which makes the sidecar
 * open the host's SFTP channel; once the host has closed it, runs `true` on the same connection.
 * The host answers that exec after its close (one TCP stream), and the sidecar relays both in that
 * order, so by the exec's end the agent's SFTP channel must have been closed: no wait is timed.
 */
function sftpThenExec(when: HostClose): Promise<{ sftpClosed: boolean; realpath: string }> {
  hostClose = when;
  hostClosed = new Promise((resolve) => { markHostClosed = resolve; });
  return new Promise((resolve, reject) => {
    const agent = new ssh2.Client();
    agent.on('error', reject);
    agent.on('ready', () => {
      agent.sftp((err, sftp) => {
        if (err !== undefined) return reject(err);
        let sftpClosed = false;
        let realpath = 'unanswered';
        sftp.on('close', () => { sftpClosed = true; });
        sftp.realpath('.', (e, p) => { realpath = e ? `error: ${e.message}` : p; });
        void hostClosed.then(() => agent.exec('true', (e, stream) => {
          if (e !== undefined) return reject(e);
          stream.resume();
          stream.stderr.resume();
          stream.on('close', () => { agent.end(); resolve({ sftpClosed, realpath }); });
          stream.end();
        }));
      });
    });
    agent.connect({ host: '127.0.0.1', port: sidecarPort, username: 'p', password: 'token', hostVerifier: () => true });
  });
}

/** As the agent: runs a legacy scp command while the host closes SFTP channels with their VERSION; resolves with its exit. */
function scpExec(command: string): Promise<unknown[] | undefined> {
  hostClose = 'with-version';
  hostClosed = new Promise((resolve) => { markHostClosed = resolve; });
  return new Promise((resolve, reject) => {
    const agent = new ssh2.Client();
    agent.on('error', reject);
    agent.on('ready', () => agent.exec(command, (err, stream) => {
      if (err !== undefined) return reject(err);
      let exit: unknown[] | undefined;
      stream.on('exit', (...args: unknown[]) => { exit = args; });
      stream.resume();
      stream.stderr.resume();
      stream.on('close', () => { agent.end(); resolve(exit); });
      stream.end();
    }));
    agent.connect({ host: '127.0.0.1', port: sidecarPort, username: 'p', password: 'token', hostVerifier: () => true });
  });
}

describe("the host's SFTP close on the agent's SFTP channel", () => {
  it('ends the agent channel when the host closes in the same read as its VERSION', async () => {
    expect(await sftpThenExec('with-version')).toEqual({ sftpClosed: true, realpath: 'error: No response from server' });
  });

  it('ends the agent channel when the host closes in the same read as its realpath answer', async () => {
    expect(await sftpThenExec('with-realpath')).toEqual({ sftpClosed: true, realpath: 'error: No response from server' });
  });

  it('legacy scp (its path resolved through a short-lived host SFTP channel) still runs when the host closes that channel with its VERSION', async () => {
    // The resolution's realpath was sent on the closed channel and never answered: the exec hung.
    expect(await scpExec('scp -t upload.txt')).toEqual([0]);
  });

  it('every time, on fresh connections', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await sftpThenExec('with-version')).sftpClosed).toBe(true);
      expect((await sftpThenExec('with-realpath')).sftpClosed).toBe(true);
    }
  });
});
