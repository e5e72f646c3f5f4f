// The paths an SFTP request names, as the sidecar makes them absolute for the policy and the host.
// One rule holds for every request: the string the host is asked to resolve (and then to act on)
// is the string the policy's facts come from. A relative path is joined to the login directory
// (posix.join folds its `..` as text, before both); an absolute one is sent as written, because
// the host resolves it one component at a time and follows symlinks, so `link/..` is the parent
// of where the link leads, not the directory holding the link. Folding an absolute path as text
// for one purpose and sending it unfolded for another is how REALPATH answered a denied tree's
// names (round 10 review): only `.` and empty components may be dropped as text, never `..`.
import { posix } from 'node:path';

/** A path the request names: as sent (absolute), what the host is asked to resolve, and whether the operation follows a final symlink. */
export interface NamedPath { sent: string; ask: string; follows: boolean }

/** A path of a request made absolute against the login directory: relative ones joined (and folded), absolute ones as written. */
export function absoluteSftpPath(home: string, p: string): string {
  return p.startsWith('/') ? p : posix.join(home, p);
}

/** The paths of an operation, made absolute against the login directory; a symlink's target (`linkTarget`) against the link's directory. */
export function namedPaths(home: string, paths: readonly string[], o: { follows: boolean; linkTarget?: string }): NamedPath[] {
  const named: NamedPath[] = paths.map((p) => ({ sent: absoluteSftpPath(home, p), ask: absoluteSftpPath(home, p), follows: o.follows }));
  const link = named[0];
  const t = o.linkTarget;
  if (t === undefined || link === undefined) return named;
  if (t.startsWith('/')) return [...named, { sent: t, ask: t, follows: true }];
  // Joined without normalizing for the host: "../x" is taken from where the link's directory really is.
  const dir = posix.dirname(link.sent);
  return [...named, { sent: posix.join(dir, t), ask: `${dir}/${t}`, follows: true }];
}

/**
 * Whether the absolute path the host would be asked (`asked`, from absoluteSftpPath) names the login
 * directory itself: the same components, spelled with extra `/` or `.` at most. Those the host
 * skips without looking anything up; a `..` it takes from where the component before it really
 * is (a symlink's target), so a path with one is never the login directory by its text, even
 * when it folds to it: it is judged as the stat it amounts to.
 */
export function namesLoginDirectory(asked: string, home: string): boolean {
  if (!asked.startsWith('/')) return false;
  const parts = asked.split('/').filter((s) => s !== '' && s !== '.');
  return !parts.includes('..') && `/${parts.join('/')}` === home;
}
