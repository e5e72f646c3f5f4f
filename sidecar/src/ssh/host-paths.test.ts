// Path resolution for the policy against a host whose answers the test writes: a small file tree
// with symlinks resolved like OpenSSH's sftp-server (a missing last component is resolved, at most
// 32 symlinks are followed, a missing directory or a loop fails with "No such file"), and hosts
// that answer errors, close, or never answer. Every way resolution can fail must come back as
// unresolved with a fixed reason, never as the path as sent.
import { describe, expect, it } from '@jest/globals';
import { posix } from 'node:path';
import ssh2 from 'ssh2';
import { isDirectory, resolveFollowing, resolveName, type HostPathCalls, type ResolveOptions } from './host-paths.ts';

const { STATUS_CODE } = ssh2.utils.sftp;

type Node = { kind: 'file' } | { kind: 'dir' } | { kind: 'link'; target: string };

function sftpError(code: number): Error {
  return Object.assign(new Error(`status ${code}`), { code });
}

/** sftp-server's realpath over an in-memory tree (OpenSSH's sftp-realpath.c rules). */
class FakeHost implements HostPathCalls {
  readonly tree = new Map<string, Node>([['/', { kind: 'dir' }]]);
  /** Paths whose lookups are refused with PERMISSION_DENIED. */
  readonly forbidden = new Set<string>();
  calls = 0;

  add(path: string, node: Node): this {
    this.tree.set(path, node);
    return this;
  }

  #lookup(path: string): Node | number | undefined {
    return this.forbidden.has(path) ? STATUS_CODE.PERMISSION_DENIED : this.tree.get(path);
  }

  #follows(node: Node, lastNotFollowed: boolean): boolean {
    return node.kind === 'link' && !lastNotFollowed;
  }

  #walk(path: string, followLast: boolean): { path: string } | { error: number } {
    const todo = path.split('/').filter((s) => s !== '' && s !== '.');
    let at = '/';
    let links = 0;
    for (let seg = todo.shift(); seg !== undefined; seg = todo.shift()) {
      const next = seg === '..' ? posix.dirname(at) : posix.join(at, seg);
      const node = this.#lookup(next);
      if (typeof node === 'number') return { error: node };
      if (node === undefined) return todo.length === 0 ? { path: next } : { error: STATUS_CODE.NO_SUCH_FILE };
      if (!this.#follows(node, todo.length === 0 && !followLast)) {
        at = next;
        continue;
      }
      if (++links > 32) return { error: STATUS_CODE.NO_SUCH_FILE };
      const target = (node as { target: string }).target;
      todo.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
      if (target.startsWith('/')) at = '/';
    }
    return { path: at };
  }

  realpath(path: string, cb: (err: Error | null, r: string) => void): void {
    this.calls++;
    const r = this.#walk(path, true);
    if ('error' in r) cb(sftpError(r.error), '');
    else cb(null, r.path);
  }

  lstat(path: string, cb: (err: Error | null, st: { isSymbolicLink(): boolean }) => void): void {
    this.calls++;
    const dir = this.#walk(posix.dirname(path), true);
    const node = 'path' in dir ? this.tree.get(posix.join(dir.path, posix.basename(path))) : undefined;
    if (node === undefined) cb(sftpError('error' in dir ? dir.error : STATUS_CODE.NO_SUCH_FILE), { isSymbolicLink: () => false });
    else cb(null, { isSymbolicLink: () => node.kind === 'link' });
  }

  stat(path: string, cb: (err: Error | null, st: { isDirectory(): boolean }) => void): void {
    this.calls++;
    const r = this.#walk(path, true);
    const node = 'path' in r ? this.tree.get(r.path) : undefined;
    if (node === undefined) cb(sftpError('error' in r ? r.error : STATUS_CODE.NO_SUCH_FILE), { isDirectory: () => false });
    else cb(null, { isDirectory: () => node.kind === 'dir' });
  }
}

const opts: ResolveOptions = { timeoutMs: 5_000, closed: () => false };

function tree(): FakeHost {
  const h = new FakeHost()
    .add('/data', { kind: 'dir' }).add('/data/logs', { kind: 'dir' }).add('/data/logs/app.log', { kind: 'file' })
    .add('/etc', { kind: 'dir' }).add('/etc/shadow', { kind: 'file' })
    .add('/data/logs/link.log', { kind: 'link', target: '/etc/shadow' })
    .add('/data/etc-dir', { kind: 'link', target: '/etc' })
    .add('/data/rel', { kind: 'link', target: '../etc/shadow' })
    .add('/data/loop', { kind: 'link', target: '/data/loop' })
    .add('/data/dangling', { kind: 'link', target: '/etc/new-file' })
    .add('/data/dangling-deep', { kind: 'link', target: '/etc/missing-dir/new-file' });
  // A chain of 34 links ending at /etc/shadow: the kernel follows it (40), sftp-server does not (32).
  h.add('/data/l0', { kind: 'link', target: '/etc/shadow' });
  for (let i = 1; i <= 34; i++) h.add(`/data/l${i}`, { kind: 'link', target: `/data/l${i - 1}` });
  return h;
}

describe('operations that follow the path (open, opendir, stat, setstat)', () => {
  it.each([
    ['/data/logs/app.log', ['/data/logs/app.log']],
    ['/data/logs/link.log', ['/etc/shadow']],
    ['/data/etc-dir/shadow', ['/etc/shadow']],
    ['/data/rel', ['/etc/shadow']],
    ['/data//logs/./app.log', ['/data/logs/app.log']],
    ['/data/etc-dir/../logs/app.log', ['/logs/app.log']],
    // A new file: where its directory resolves, plus its name.
    ['/data/logs/new.txt', ['/data/logs/new.txt']],
    ['/data/etc-dir/new.txt', ['/etc/new.txt']],
    // A dangling symlink: the write would create its target.
    ['/data/dangling', ['/etc/new-file']],
    // Missing directories below a symlink: walked up to what resolves.
    ['/data/etc-dir/a/b/new.txt', ['/etc/a/b/new.txt']],
  ])('%s resolves to %j', async (path, real) => {
    expect(await resolveFollowing(tree(), path, opts)).toEqual({ real });
  });

  it.each([
    ['/data/l34', 'symlink the host cannot resolve'],
    ['/data/loop', 'symlink the host cannot resolve'],
    ['/data/dangling-deep', 'symlink the host cannot resolve'],
    ['/data/l34/x', 'symlink the host cannot resolve'],
  ])('%s is unresolved (%s), not judged as sent', async (path, why) => {
    const r = await resolveFollowing(tree(), path, opts);
    expect(r).toEqual({ why: expect.stringContaining(why) as unknown as string });
  });

  it('a host that refuses (permission denied) or answers another error leaves the path unresolved', async () => {
    const h = tree();
    h.forbidden.add('/data/logs');
    expect(await resolveFollowing(h, '/data/logs/app.log', opts)).toEqual({ why: 'the host refused to resolve it (permission denied)' });
    const failing: HostPathCalls = { ...h, realpath: (_p, cb) => cb(sftpError(STATUS_CODE.FAILURE), ''), lstat: h.lstat.bind(h), stat: h.stat.bind(h) };
    expect(await resolveFollowing(failing, '/data/logs/app.log', opts)).toEqual({ why: 'the host answered an error (SFTP status 4)' });
  });

  it('a host whose channel is closed, that ends it before answering, or never answers leaves the path unresolved', async () => {
    const h = tree();
    expect(await resolveFollowing(h, '/data/logs/app.log', { ...opts, closed: () => true })).toEqual({ why: 'the host closed its SFTP channel' });
    expect(h.calls).toBe(0);
    const ended: HostPathCalls = { realpath: (_p, cb) => cb(new Error('No response from server'), ''), lstat: h.lstat.bind(h), stat: h.stat.bind(h) };
    expect(await resolveFollowing(ended, '/data/logs/app.log', opts)).toEqual({ why: "the host's SFTP channel ended before it answered" });
    const silent: HostPathCalls = { realpath: () => undefined, lstat: () => undefined, stat: () => undefined };
    expect(await resolveFollowing(silent, '/data/logs/app.log', { ...opts, timeoutMs: 20 })).toEqual({ why: 'the host did not answer within 0.02 s' });
    const throwing: HostPathCalls = { realpath: () => { throw new Error('No SFTP channel'); }, lstat: h.lstat.bind(h), stat: h.stat.bind(h) };
    expect(await resolveFollowing(throwing, '/x', opts)).toEqual({ why: "the host's SFTP channel is not usable" });
  });

  it('an answer that is not an absolute path, or a path with too many missing directories, is unresolved', async () => {
    const relative: HostPathCalls = { realpath: (_p, cb) => cb(null, 'etc/shadow'), lstat: () => undefined, stat: () => undefined };
    expect(await resolveFollowing(relative, '/data/x', opts)).toEqual({ why: 'the host resolved it to a path that is not absolute' });
    const deep = `/data/${Array.from({ length: 20 }, (_, i) => `d${i}`).join('/')}/f`;
    expect(await resolveFollowing(tree(), deep, opts)).toEqual({ why: 'more than 16 directories of it do not exist' });
  });
});

describe('operations on the name itself (lstat, readlink, remove, rmdir, mkdir, rename, a link)', () => {
  it.each([
    // The link itself, and its target (a deny rule on the target still applies).
    ['/data/logs/link.log', ['/data/logs/link.log', '/etc/shadow']],
    ['/data/logs/app.log', ['/data/logs/app.log']],
    ['/data/logs/newdir', ['/data/logs/newdir']],
    // A symlink whose target cannot be resolved is not followed by these operations: the link alone.
    ['/data/l34', ['/data/l34']],
    ['/data/loop', ['/data/loop']],
    // Through a symlinked directory: where the directory really is.
    ['/data/etc-dir/shadow', ['/etc/shadow']],
    ['/data/etc-dir/..', ['/']],
  ])('%s resolves to %j', async (path, real) => {
    expect(await resolveName(tree(), path, opts)).toEqual({ real });
  });

  it('a directory the host cannot resolve leaves the name unresolved', async () => {
    expect(await resolveName(tree(), '/data/l34/x', opts)).toEqual({ why: expect.stringContaining('symlink the host cannot resolve') as unknown as string });
    expect(await resolveName(tree(), '/data/x', { ...opts, closed: () => true })).toEqual({ why: 'the host closed its SFTP channel' });
  });
});

describe('isDirectory (legacy scp upload targets)', () => {
  it('says directory, file, missing, or why not', async () => {
    const h = tree();
    expect(await isDirectory(h, '/data/logs', opts)).toBe(true);
    expect(await isDirectory(h, '/data/logs/app.log', opts)).toBe(false);
    expect(await isDirectory(h, '/data/logs/none', opts)).toBeUndefined();
    h.forbidden.add('/data/logs');
    expect(await isDirectory(h, '/data/logs/x', opts)).toEqual({ why: 'the host refused to resolve it (permission denied)' });
  });
});
