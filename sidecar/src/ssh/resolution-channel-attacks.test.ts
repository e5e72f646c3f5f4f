// Round 5 cost review: exec paths are resolved only when a rule can be changed by the answer, and
// over one SFTP channel per upstream connection. Through the real exec handling, the real policy
// engine and resolutionMatters, against an in-process ssh2 host that counts its SFTP channels and
// can close one mid-request or never answer: a skipped resolution never lets a policy swapped in
// before the decision pass an operand unjudged; the kept channel is one per connection, reopened
// after the host closes it, dropped after a request outlives the timeout, never hangs an exec,
// bounds its requests in flight, and does not answer the login directory from its own start.
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { posix } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import ssh2, { type Client, type Connection, type SFTPWrapper, type Stats } from 'ssh2';
import { compilePolicy, initPolicyEngine } from '../../../core/policy/index.ts';
import type { AccessPolicy } from '../../../crds/types.ts';
import { connectAgent, execOn, startChannelRig, testSession, type ChannelRig } from '../../test/ssh-channel-rig.ts';
import type { Session } from '../enforcement.ts';
import { generateHostKey, generateSshKeyPair } from './host-key.ts';
import { ask } from './host-paths.ts';
import { parseKnownHosts } from './known-hosts.ts';
import { MAX_IN_FLIGHT, resolutionChannelOf } from './resolution-channel.ts';
import { connectUpstream } from './upstream.ts';
import { sshTestPolicy } from '../../../core/policy/corpus/ssh-policy.ts';

const { STATUS_CODE } = ssh2.utils.sftp;

/** Where the host's realpath leads each existing path. */
const TREE: Record<string, string> = {
  '/home/u': '/home/u', '/home/u/link': '/secret/x.txt', '/home/u/x.txt': '/home/u/x.txt', '/home/u/private': '/home/u/private',
  '/home/u/private/x.txt': '/home/u/private/x.txt', '/data': '/data', '/data/ok.txt': '/data/ok.txt', '/secret/x.txt': '/secret/x.txt',
};

/** What the host saw: SFTP channels opened, exec commands run. */
const host = { sftpChannels: 0, execs: [] as string[], home: '/home/u', closeAfterAnswer: false };
/** realpath of this path: the host closes the channel instead of answering. */
const CLOSE_ON = '/data/close-me.txt';
/** realpath of this path: the host never answers. */
const SILENT = '/data/silent.txt';

function serveSftp(sftp: SFTPWrapper): void {
  host.sftpChannels++;
  // Like sftp-server: "." is the directory the channel started in, whatever the home resolves to later.
  const startedIn = host.home;
  sftp.on('REALPATH', (id: number, path: string) => {
    if (path === SILENT) return;
    if (path === CLOSE_ON) return void sftp.end();
    const real = path === '.' ? startedIn : TREE[posix.normalize(path)];
    if (real === undefined) sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file');
    else sftp.name(id, [{ filename: real, longname: real, attrs: {} as Stats }]);
    if (host.closeAfterAnswer) sftp.end();
  });
  sftp.on('LSTAT', (id: number) => sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file'));
}

const CAT_ANY = { name: 'cat-any', action: 'allow', match: { ssh: { commands: ['cat *'] } } };
const SECRET_ARGS = { name: 'secret-args', action: 'deny', match: { ssh: { commands: ['* /secret/*', '* /home/u/private/*'] } } };
const lenient = sshTestPolicy([CAT_ANY]);
const strict = sshTestPolicy([SECRET_ARGS, CAT_ANY]);

/** The policy the listener consults before resolving, and the one in force when the request is decided (a live update between). */
const policies: { checked: AccessPolicy; deciding: AccessPolicy } = { checked: strict, deciding: strict };

function policySession(): Session {
  return testSession({
    sshResolutionMatters: (request) => compilePolicy(policies.checked).resolutionMatters(request, { purpose: 'p', access: true }),
    authorize: (command) => {
      const d = compilePolicy(policies.deciding).evaluate({ identity: { subject: 'u', groups: ['support'], kind: 'User' }, purpose: 'p', command });
      return Promise.resolve(d.decision === 'allow' ? { verdict: 'allow', decision: d, complete: () => Promise.resolve() } : { verdict: 'deny', decision: d, message: `denied: ${d.code}: ${d.reason}` });
    },
  });
}

const hostKey = generateHostKey();
let hostPort = 0;
let rig: ChannelRig | undefined;
const hostServer = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (conn: Connection) => {
  conn.on('authentication', (auth) => auth.accept());
  conn.on('session', (accept) => {
    const session = accept();
    session.on('sftp', (acceptSftp) => serveSftp(acceptSftp()));
    session.on('exec', (acceptExec, _reject, info) => { host.execs.push(info.command); const s = acceptExec(); s.exit(0); s.end(); });
  });
});

beforeAll(async () => {
  await initPolicyEngine();
  // A long resolution timeout: a channel the host closes must be answered at once, not after it (the test would time out).
  rig = await startChannelRig(hostKey, hostServer, undefined, { session: policySession, resolveTimeoutMs: 60_000 });
});

afterAll(() => { rig?.close(); });

beforeEach(() => {
  Object.assign(host, { sftpChannels: 0, execs: [], home: '/home/u', closeAfterAnswer: false });
  Object.assign(policies, { checked: strict, deciding: strict });
});

const connect = (port = rig?.sidecarPort ?? 0): Promise<Client> => connectAgent(port);
const exec = execOn;

async function onOneConnection<T>(use: (agent: Client) => Promise<T>): Promise<T> {
  const agent = await connect();
  try {
    return await use(agent);
  } finally {
    agent.end();
  }
}

describe('the host is asked only when a rule can be changed by its answer', () => {
  it('under a policy whose exec globs take any argument, cat of a link runs without an SFTP channel on the host', async () => {
    Object.assign(policies, { checked: lenient, deciding: lenient });
    const r = await onOneConnection((a) => exec(a, 'cat /home/u/link'));
    expect(r.code).toBe(0);
    expect(host.sftpChannels).toBe(0);
    expect(host.execs).toEqual(['cat /home/u/link']);
  });

  it.each(['cat /home/u/link', 'cat link', 'cat -- link', 'cat --file=/home/u/link', 'cat /secret/x.txt'])('a deny glob on arguments swapped in after the check: %s is denied, nothing runs, the host is not asked', async (command) => {
    Object.assign(policies, { checked: lenient, deciding: strict });
    const r = await onOneConnection((a) => exec(a, command));
    expect(r.code).toBe(126);
    expect(r.stderr).toMatch(/PathUnresolved|RuleDenied/);
    expect(host.execs).toEqual([]);
    expect(host.sftpChannels).toBe(0);
  });

  it('the same commands under the deny policy checked and deciding: resolved on the host, the link denied', async () => {
    const r = await onOneConnection((a) => exec(a, 'cat link'));
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('RuleDenied');
    expect(host.sftpChannels).toBeGreaterThan(0);
    expect(host.execs).toEqual([]);
  });
});

describe('one resolution channel per upstream connection', () => {
  it('ten execs with path operands on one connection open one SFTP channel on the host; each connection its own', async () => {
    const codes = await onOneConnection(async (a) => {
      const out: unknown[] = [];
      for (let i = 0; i < 10; i++) out.push((await exec(a, 'cat /data/ok.txt')).code);
      return out;
    });
    expect(codes).toEqual(Array(10).fill(0));
    expect(host.sftpChannels).toBe(1);
    await onOneConnection((a) => exec(a, 'cat /data/ok.txt'));
    expect(host.sftpChannels).toBe(2);
  });

  it('concurrent execs on one connection share the channel and are each judged (the link denied, the file run)', async () => {
    const results = await onOneConnection((a) => Promise.all(['cat /data/ok.txt', 'cat /home/u/link', 'cat /data/ok.txt', 'cat /home/u/link'].map((c) => exec(a, c))));
    expect(results.map((r) => r.code)).toEqual([0, 126, 0, 126]);
    expect(host.sftpChannels).toBe(1);
    expect(host.execs).toEqual(['cat /data/ok.txt', 'cat /data/ok.txt']);
  });

  it('a channel the host closed is reopened for the next exec', async () => {
    host.closeAfterAnswer = true;
    const codes = await onOneConnection(async (a) => [(await exec(a, 'cat /data/ok.txt')).code, (await exec(a, 'cat /home/u/link')).code, (await exec(a, 'cat /data/ok.txt')).code]);
    expect(codes).toEqual([0, 126, 0]);
    expect(host.sftpChannels).toBe(3);
  });

  it('the host closing the channel mid-resolution: the operand is unresolved at once (not after the 60 s timeout), denied; the next exec reopens', async () => {
    const [closed, next] = await onOneConnection(async (a) => [await exec(a, `cat ${CLOSE_ON}`), await exec(a, 'cat /data/ok.txt')]);
    expect(closed?.code).toBe(126);
    expect(closed?.stderr).toContain('PathUnresolved');
    expect(closed?.stderr).toContain('SFTP channel');
    expect(next?.code).toBe(0);
    expect(host.sftpChannels).toBe(2);
    expect(host.execs).toEqual(['cat /data/ok.txt']);
  });

  it('the login directory is asked afresh for each exec, not from the kept channel\'s start (a host whose home now resolves elsewhere)', async () => {
    const [before, after] = await onOneConnection(async (a) => {
      const first = await exec(a, 'cat x.txt');
      host.home = '/home/u/private';
      return [first, await exec(a, 'cat x.txt')];
    });
    expect(before?.code).toBe(0);
    expect(after?.code).toBe(126);
    expect(after?.stderr).toContain('RuleDenied');
  });
});

describe('the channel bounds what it holds', () => {
  let upstream: Client | undefined;
  beforeAll(async () => {
    const hostSockets = await new Promise<NetServer>((resolve) => {
      const s = createServer((socket) => hostServer.injectSocket(socket));
      s.listen(0, '127.0.0.1', () => resolve(s));
    });
    hostPort = (hostSockets.address() as AddressInfo).port;
    const clientKey = generateSshKeyPair();
    upstream = await connectUpstream({ host: '127.0.0.1', port: hostPort, username: 'root', privateKey: clientKey.private, knownHosts: parseKnownHosts(`[127.0.0.1]:${hostPort} ${hostKey.publicKey}\n`) }, { readyTimeoutMs: 10_000 });
    upstream.once('close', () => hostSockets.close());
  });
  afterAll(() => { upstream?.end(); });

  it(`past ${MAX_IN_FLIGHT} unanswered requests, more are refused at once; a request outliving the timeout drops the channel, the next acquire opens another`, async () => {
    const channel = resolutionChannelOf(upstream as Client);
    expect(resolutionChannelOf(upstream as Client)).toBe(channel);
    const got = await channel.acquire(200);
    if ('why' in got) throw new Error(got.why);
    const pending = Array.from({ length: MAX_IN_FLIGHT }, () => ask<string>(got.options, (cb) => got.calls.realpath(SILENT, cb)));
    const refused = await ask<string>(got.options, (cb) => got.calls.realpath('/data/ok.txt', cb));
    expect(refused).toMatchObject({ ok: false, why: expect.stringContaining(`more than ${MAX_IN_FLIGHT}`) });
    const timedOut = await Promise.all(pending);
    expect(timedOut.every((a) => !a.ok && a.why.includes('did not answer'))).toBe(true);
    // Dropped with its lost requests: later calls on it fail as closed, and the next acquire opens a fresh channel that answers.
    expect(got.options.closed()).toBe(true);
    const again = await channel.acquire(2000);
    if ('why' in again) throw new Error(again.why);
    expect(again.options.closed()).toBe(false);
    expect(await ask<string>(again.options, (cb) => again.calls.realpath('/data/ok.txt', cb))).toEqual({ ok: true, value: '/data/ok.txt' });
    expect(channel.opened).toBe(2);
  });

  it('after the connection ends, no channel is opened again', async () => {
    const channel = resolutionChannelOf(upstream as Client);
    channel.close();
    expect(await channel.acquire(200)).toEqual({ why: 'the connection to the host has ended' });
  });
});
