// Where the host resolves a path an SSH request names, for the policy: realpath on the host
// (symlinks followed), for a name that does not exist yet its directory's, for an operation that
// acts on the name itself (remove, rename, lstat, ...) its directory's plus the name. What cannot
// be established is said, never guessed: a symlink the host cannot resolve (a loop, a chain longer
// than sftp-server follows, a target in a missing or unreadable directory), an error answer, a
// closed channel or no answer in time make the path unresolved, and the policy then denies the
// request if a rule that judges paths would decide it (core/policy/ssh.ts unresolvedReason).
// The host's error texts are not kept (they can name files): only fixed phrases.
import { posix } from 'node:path';
import ssh2 from 'ssh2';

// ssh2 is CommonJS: named exports come from its default export.
const { STATUS_CODE } = ssh2.utils.sftp;

type Callback<T> = (err: Error | null | undefined, value: T) => void;

/** The host's SFTP calls resolution needs (ssh2's SFTPWrapper has them). */
export interface HostPathCalls {
  realpath(path: string, cb: Callback<string>): void;
  lstat(path: string, cb: Callback<{ isSymbolicLink(): boolean }>): void;
  stat(path: string, cb: Callback<{ isDirectory(): boolean }>): void;
}

export interface ResolveOptions {
  /** How long one answer of the host is waited for. */
  timeoutMs: number;
  /** The host has closed the channel (ssh2 drops a request sent on it without calling back). */
  closed(): boolean;
  /** An answer was not given within timeoutMs (a shared channel is then dropped: its request is lost). */
  onTimeout?(): void;
}

/** A call refused before it reaches the host (a bound of the channel); its message says why. */
export class ResolutionRefused extends Error {}

/** Where the host resolves a path (one or two real paths), or why it cannot be said. */
export type Resolution = { real: string[] } | { why: string };

/** Missing directories walked up from a name that does not exist, at most (mkdir -p creates one at a time). */
const MAX_MISSING = 16;

type Answer<T> = { ok: true; value: T } | { ok: false; status: number | undefined; why: string };

function statusWhy(status: number | undefined): string {
  switch (status) {
    case STATUS_CODE.NO_SUCH_FILE: return 'the host says it does not exist';
    case STATUS_CODE.PERMISSION_DENIED: return 'the host refused to resolve it (permission denied)';
    case STATUS_CODE.OP_UNSUPPORTED: return 'the host does not support resolving paths';
    case undefined: return 'the host\'s SFTP channel ended before it answered';
    default: return `the host answered an error (SFTP status ${status})`;
  }
}

/** One call to the host, answered, failed, or given up after timeoutMs. */
export function ask<T>(o: ResolveOptions, call: (cb: Callback<T>) => void): Promise<Answer<T>> {
  if (o.closed()) return Promise.resolve({ ok: false, status: undefined, why: 'the host closed its SFTP channel' });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve({ ok: false, status: undefined, why: `the host did not answer within ${o.timeoutMs / 1000} s` });
      o.onTimeout?.();
    }, o.timeoutMs);
    timer.unref();
    try {
      call((err, value) => {
        clearTimeout(timer);
        if (err === null || err === undefined) return resolve({ ok: true, value });
        const code = (err as { code?: unknown }).code;
        const status = typeof code === 'number' ? code : undefined;
        resolve({ ok: false, status, why: statusWhy(status) });
      });
    } catch (err) {
      clearTimeout(timer);
      resolve({ ok: false, status: undefined, why: err instanceof ResolutionRefused ? err.message : 'the host\'s SFTP channel is not usable' });
    }
  });
}

/**
 * Where an operation that follows the path (open, opendir, stat, setstat) reaches: realpath; if
 * the host says the path does not exist, and lstat agrees that the name itself does not exist
 * (it is not a dangling or looping symlink the operation would follow), where its directory
 * resolves plus the name: what a write creates.
 */
export async function resolveFollowing(host: HostPathCalls, path: string, o: ResolveOptions, missing = 0): Promise<Resolution> {
  const real = await ask<string>(o, (cb) => host.realpath(path, cb));
  if (real.ok) return absoluteAnswer(real.value);
  if (real.status !== STATUS_CODE.NO_SUCH_FILE) return { why: real.why };
  const own = await ask<{ isSymbolicLink(): boolean }>(o, (cb) => host.lstat(path, cb));
  if (own.ok) return { why: own.value.isSymbolicLink() ? 'it is a symlink the host cannot resolve (a loop, a chain longer than the host follows, or a target below a missing or unreadable directory)' : 'it exists but the host cannot resolve it' };
  if (own.status !== STATUS_CODE.NO_SUCH_FILE) return { why: own.why };
  return whereCreated(host, path, o, missing);
}

function absoluteAnswer(value: unknown): Resolution {
  return typeof value === 'string' && value.startsWith('/') ? { real: [value] } : { why: 'the host resolved it to a path that is not absolute' };
}

/** A name that does not exist: where its directory resolves, plus the name (missing directories walked up). */
async function whereCreated(host: HostPathCalls, path: string, o: ResolveOptions, missing: number): Promise<Resolution> {
  const dir = posix.dirname(path);
  if (dir === path) return { why: 'the host cannot resolve /' };
  if (missing >= MAX_MISSING) return { why: `more than ${MAX_MISSING} directories of it do not exist` };
  const parent = await resolveFollowing(host, dir, o, missing + 1);
  return 'why' in parent ? parent : { real: parent.real.map((r) => posix.join(r, posix.basename(path))) };
}

/**
 * Where an operation on the name itself (lstat, readlink, remove, rmdir, mkdir, rename, the link
 * of a symlink) reaches: its directory as resolved plus the name; and, when the name is a symlink
 * the host resolves, its target too (a deny rule on the target still applies, as an allow rule
 * must cover it). A target the host cannot resolve is not followed by these operations.
 */
export async function resolveName(host: HostPathCalls, path: string, o: ResolveOptions): Promise<Resolution> {
  const name = posix.basename(path);
  // "/", "x/." and "x/.." name directories the host reaches through the path: resolved whole.
  if (name === '' || name === '.' || name === '..' || posix.dirname(path) === path) return resolveFollowing(host, path, o);
  const dir = await resolveFollowing(host, posix.dirname(path), o);
  if ('why' in dir) return dir;
  const own = dir.real.map((d) => posix.join(d, name));
  const whole = await ask<string>(o, (cb) => host.realpath(path, cb));
  return { real: whole.ok && typeof whole.value === 'string' && whole.value.startsWith('/') && !own.includes(whole.value) ? [...own, whole.value] : own };
}

/** Whether a resolved path is a directory on the host; undefined when it does not exist; why not, if the host will not say. */
export async function isDirectory(host: HostPathCalls, path: string, o: ResolveOptions): Promise<boolean | undefined | { why: string }> {
  const st = await ask<{ isDirectory(): boolean }>(o, (cb) => host.stat(path, cb));
  if (st.ok) return st.value.isDirectory();
  return st.status === STATUS_CODE.NO_SUCH_FILE ? undefined : { why: st.why };
}
