// Round 5 review of 8ffc5bc (exec paths resolved over one kept SFTP channel per connection):
// the login directory and the kept channel's own life, against a scripted host (a fake ssh2
// Client whose SFTP channel answers like OpenSSH's sftp-server, home-directory extension
// included), so each host behaviour is exact and deterministic.
//
// - The login directory is the user's home as the home-directory extension names it, realpath'd.
//   sshd starts an exec's shell there only if chdir(home) succeeds; when the home is not a
//   directory (a file, /dev/null, a symlink to one) the shell starts in / and `cat secret/x`
//   reads /secret/x, while realpath(home) succeeds and the relative operand was judged as
//   HOME/secret/x (sftp-server answers ENOTDIR as "no such file", so it was "where created").
// - A channel the host closes in the same read as its VERSION: the close was listened for only
//   after an await, so it was missed, the channel kept as open, and every later resolution on it
//   waited out the timeout (ssh2 drops requests on a closed channel without calling back).
import { EventEmitter } from 'node:events';
import { posix } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import ssh2, { type Client } from 'ssh2';
import { compilePolicy, initPolicyEngine } from '../../../core/policy/index.ts';
import type { SshRequest } from '../../../core/policy/ssh.ts';
import { ask } from './host-paths.ts';
import { resolutionChannelOf } from './resolution-channel.ts';
import { pathOperands } from '../../../core/policy/ssh-command.ts';
import { resolveArgumentPaths, resolveScpPaths } from './sftp.ts';
import { sshTestPolicy } from '../../../core/policy/corpus/ssh-policy.ts';

const { STATUS_CODE } = ssh2.utils.sftp;

type Cb<T> = (err: Error | undefined, value?: T) => void;

/** A host file system: directories (searchable or not), files, symlinks. */
interface Node { type: 'dir' | 'file' | 'link'; target?: string; searchable?: boolean }

function sftpError(code: number): Error {
  return Object.assign(new Error(`status ${code}`), { code });
}

/** One component below a directory: where it leads (a symlink followed), or the status refusing it. */
function step(fs: Record<string, Node>, at: string, part: string, last: boolean, depth: number): string | number {
  const dir = fs[at];
  if (dir?.type !== 'dir') return STATUS_CODE.NO_SUCH_FILE;
  if (dir.searchable === false) return STATUS_CODE.PERMISSION_DENIED;
  const next = posix.join(at, part);
  const node = fs[next];
  if (node === undefined || (node.type === 'file' && !last)) return STATUS_CODE.NO_SUCH_FILE;
  return node.type === 'link' ? hostRealpath(fs, posix.resolve(at, node.target ?? ''), depth + 1) : next;
}

/** realpath as OpenSSH's sftp_realpath does it: each component lstat'ed, ENOTDIR and ENOENT answered as NO_SUCH_FILE, EACCES as PERMISSION_DENIED. */
function hostRealpath(fs: Record<string, Node>, path: string, depth = 0): string | number {
  if (depth > 8) return STATUS_CODE.NO_SUCH_FILE;
  let at: string | number = '/';
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  for (const [i, part] of parts.entries()) {
    at = part === '..' ? posix.dirname(at) : step(fs, at, part, i === parts.length - 1, depth);
    if (typeof at === 'number') return at;
  }
  return at;
}

/** stat (follows): a trailing "." needs the directory to be one, and searchable (as chdir does). */
function hostStat(fs: Record<string, Node>, path: string): { isDirectory(): boolean; isSymbolicLink(): boolean } | number {
  const dot = path.endsWith('/.');
  const real = hostRealpath(fs, dot ? path.slice(0, -2) : path);
  if (typeof real === 'number') return real;
  const node = fs[real];
  if (node === undefined) return STATUS_CODE.NO_SUCH_FILE;
  if (dot && node.type !== 'dir') return STATUS_CODE.NO_SUCH_FILE;
  if (dot && node.searchable === false) return STATUS_CODE.PERMISSION_DENIED;
  return { isDirectory: () => node.type === 'dir', isSymbolicLink: () => false };
}

interface FakeHost { fs: Record<string, Node>; home: string; extension: boolean; closeWithVersion: boolean; channels: number; sftpCwd: string }

/** A fake ssh2 Client whose sftp() channels answer from `host`. */
function fakeClient(host: FakeHost): Client {
  const client = new EventEmitter() as EventEmitter & { config: { username: string }; sftp(cb: Cb<unknown>): void };
  client.config = { username: 'agent' };
  client.sftp = (cb) => {
    host.channels++;
    const sftp = new EventEmitter() as EventEmitter & Record<string, unknown>;
    let closed = false;
    const answer = <T>(cbk: Cb<T>, r: T | number): void => {
      if (closed) return; // ssh2 drops requests on a closed channel without calling back
      setImmediate(() => (typeof r === 'number' ? cbk(sftpError(r)) : cbk(undefined, r)));
    };
    sftp['_extensions'] = host.extension ? { 'home-directory': '1' } : {};
    sftp['ext_home_dir'] = (_user: string, c: Cb<string>) => answer(c, host.home);
    sftp['realpath'] = (p: string, c: Cb<string>) => answer(c, hostRealpath(host.fs, p === '.' ? host.sftpCwd : p));
    sftp['stat'] = (p: string, c: Cb<unknown>) => answer(c, hostStat(host.fs, p));
    sftp['lstat'] = (p: string, c: Cb<unknown>) => {
      const parent = hostRealpath(host.fs, posix.dirname(p));
      const node = typeof parent === 'number' ? undefined : host.fs[posix.join(parent, posix.basename(p))];
      answer(c, node === undefined ? STATUS_CODE.NO_SUCH_FILE : { isSymbolicLink: () => node.type === 'link', isDirectory: () => node.type === 'dir' });
    };
    sftp['end'] = () => {
      if (closed) return;
      closed = true;
      setImmediate(() => sftp.emit('close'));
    };
    cb(undefined, sftp);
    if (host.closeWithVersion) {
      // The host's CHANNEL_CLOSE parsed in the same read as its VERSION: ssh2 emits 'close' synchronously.
      closed = true;
      sftp.emit('close');
    }
  };
  return client as unknown as Client;
}

const BASE: Record<string, Node> = {
  '/': { type: 'dir' }, '/secret': { type: 'dir' }, '/secret/x': { type: 'file' }, '/x': { type: 'file' },
  '/home': { type: 'dir' }, '/data': { type: 'dir' }, '/data/ok.txt': { type: 'file' }, '/dev': { type: 'dir' }, '/dev/null': { type: 'file' },
};

const policy = sshTestPolicy([
  { name: 'secret', action: 'deny', match: { ssh: { commands: ['* /secret/*'] } } },
  { name: 'scp-secret', action: 'deny', match: { ssh: { paths: ['/secret/**'] } } },
  { name: 'cat', action: 'allow', match: { ssh: { commands: ['cat *'] } } },
  { name: 'copy', action: 'allow', match: { ssh: { operations: ['read', 'write'] } } },
]);

beforeAll(async () => { await initPolicyEngine(); });

async function decide(host: FakeHost, command: string): Promise<string> {
  const client = fakeClient(host);
  const words = command.split(' ');
  const req: SshRequest = words[0] === 'scp'
    ? { kind: 'exec', command, ...(await resolveScpPaths(client, { operation: words.includes('-f') ? 'read' : 'write', paths: words.slice(2), recursive: false, toDirectory: false }, (t) => t, 500)) }
    : { kind: 'exec', command, ...(await resolveArgumentPaths(client, pathOperands(words), (t) => t, 500, words[0])) };
  const d = compilePolicy(policy).evaluate({ identity: { subject: 'u', groups: ['support'], kind: 'User' }, purpose: 'p', command: { protocol: 'ssh', ssh: req } });
  return `${d.decision} ${d.code}`;
}

const host = (over: Partial<FakeHost> & { fs?: Record<string, Node> }): FakeHost => ({ home: '/home/agent', extension: true, closeWithVersion: false, channels: 0, sftpCwd: '/', ...over, fs: { ...BASE, ...over.fs } });

describe('the login directory is where sshd starts the shell: a home that is not a directory it can enter is not it', () => {
  // sshd: chdir(pw_dir) fails, the shell runs in / (or wherever sshd was started): `secret/x` is /secret/x.
  it.each([
    ['a regular file', { '/home/agent': { type: 'file' } }, '/home/agent'],
    ['/dev/null', {}, '/dev/null'],
    ['a symlink to a file', { '/home/agent': { type: 'link', target: '/data/ok.txt' } }, '/home/agent'],
  ] satisfies [string, Record<string, Node>, string][])('home is %s: cat secret/x and scp -f secret/x are not allowed', async (_what, fs, home) => {
    const h = host({ fs, home });
    expect(await decide(h, 'cat secret/x')).toBe('deny PathUnresolved');
    expect(await decide(h, 'cat x')).toBe('deny PathUnresolved');
    expect(await decide(h, 'scp -f secret/x')).toBe('deny PathUnresolved');
  });

  it('a home that exists but cannot be entered (no search permission) is not the login directory either', async () => {
    const h = host({ fs: { '/home/agent': { type: 'dir', searchable: false } } });
    expect(await decide(h, 'cat secret/x')).toBe('deny PathUnresolved');
  });

  it('a home that is a directory: relative operands are judged there (the link to the secret tree denied, a file allowed)', async () => {
    const h = host({ fs: { '/home/agent': { type: 'dir' }, '/home/agent/link': { type: 'link', target: '/secret/x' }, '/home/agent/f': { type: 'file' } } });
    expect(await decide(h, 'cat link')).toBe('deny RuleDenied');
    expect(await decide(h, 'cat f')).toBe('allow Allowed');
    expect(await decide(h, 'scp -f link')).toBe('deny RuleDenied');
    expect(await decide(h, 'scp -f f')).toBe('allow Allowed');
  });

  it('a home symlinked into the secret tree is judged where it leads', async () => {
    const h = host({ fs: { '/home/agent': { type: 'link', target: '/secret' } } });
    expect(await decide(h, 'cat x')).toBe('deny RuleDenied');
  });

  it('absolute operands do not ask for the login directory', async () => {
    const h = host({ fs: { '/home/agent': { type: 'file' } } });
    expect(await decide(h, 'cat /data/ok.txt')).toBe('allow Allowed');
  });
});

describe('a kept channel the host closes as it opens is not kept', () => {
  it('closed in the same read as VERSION: the resolution fails at once (not after the timeout), and the next one opens another channel', async () => {
    const h = host({ closeWithVersion: true });
    const client = fakeClient(h);
    const channel = resolutionChannelOf(client);
    const got = await channel.acquire(5_000);
    const started = performance.now();
    const first = 'why' in got ? { ok: false, why: got.why } : await ask<string>(got.options, (cb) => got.calls.realpath('/data/ok.txt', cb));
    expect(first.ok).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_000);
    h.closeWithVersion = false;
    const again = await channel.acquire(5_000);
    if ('why' in again) throw new Error(again.why);
    expect(await ask<string>(again.options, (cb) => again.calls.realpath('/data/ok.txt', cb))).toEqual({ ok: true, value: '/data/ok.txt' });
    expect(h.channels).toBe(2);
  });
});
