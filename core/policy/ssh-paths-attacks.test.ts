// Round 5 review: the policy's side of SSH path resolution (core/policy/ssh.ts). Where the host
// says a path leads is matched as the host's path, whatever its spelling: an answer that is not
// normalised (/data/../secret/x, //secret//x, a trailing /) must hit a deny glob on /secret and
// must not pass an allow glob on /data, for SFTP paths, legacy scp and exec arguments alike; an
// answer that is not absolute cannot be judged and is refused.
import { describe, expect, it } from '@jest/globals';
import { compilePolicy, type CompiledPolicy, type Identity } from './index.ts';
import type { SshRequest } from './ssh.ts';
import { sshTestPolicy } from './corpus/ssh-policy.ts';

const support: Identity = { subject: 'u', groups: ['support'], kind: 'User' };

function sshPolicy(rules: unknown[]): CompiledPolicy {
  return compilePolicy(sshTestPolicy(rules));
}

const withDeny = sshPolicy([
  { name: 'secret-commands', action: 'deny', match: { ssh: { commands: ['* /secret/*'] } } },
  { name: 'secret-files', action: 'deny', match: { ssh: { paths: ['/secret/**'] } } },
  { name: 'cat-any', action: 'allow', match: { ssh: { commands: ['cat *'] } } },
  { name: 'data', action: 'allow', match: { ssh: { paths: ['/data/**'] } } },
]);
const allowOnly = sshPolicy([
  { name: 'cat-data', action: 'allow', match: { ssh: { commands: ['cat /data/*'] } } },
  { name: 'data', action: 'allow', match: { ssh: { paths: ['/data/**'] } } },
]);

const decide = (p: CompiledPolicy, req: SshRequest) => p.evaluate({ identity: support, purpose: 'p', command: { protocol: 'ssh', ssh: req } });

const ODD_ANSWERS = ['/data/../secret/x.txt', '/data//../secret/x.txt', '//secret//x.txt', '/secret/./x.txt/', '/data/./../secret/x.txt'];

describe('a host answer that is not normalised is matched where it leads', () => {
  it.each(ODD_ANSWERS)('exec argument resolved to %j: denied by the deny glob on /secret, not allowed by cat /data/*', (real) => {
    const req: SshRequest = { kind: 'exec', command: 'cat /data/odd.txt', argumentPaths: { '/data/odd.txt': real } };
    expect(decide(withDeny, req)).toMatchObject({ decision: 'deny', rule: 'secret-commands' });
    expect(decide(allowOnly, req).decision).toBe('deny');
  });

  it.each(ODD_ANSWERS)('SFTP read resolved to %j: denied', (real) => {
    const req: SshRequest = { kind: 'sftp', operation: 'read', path: '/data/odd.txt', resolved: [real] };
    expect(decide(withDeny, req)).toMatchObject({ decision: 'deny', rule: 'secret-files' });
    expect(decide(allowOnly, req).decision).toBe('deny');
  });

  it.each(ODD_ANSWERS)('legacy scp -f resolved to %j: denied', (real) => {
    const req: SshRequest = { kind: 'exec', command: 'scp -f /data/odd.txt', resolved: [real] };
    expect(decide(withDeny, req)).toMatchObject({ decision: 'deny', rule: 'secret-files' });
    expect(decide(allowOnly, req).decision).toBe('deny');
  });

  it.each(['secret/x.txt', '', '../secret/x.txt', '/../secret/x.txt'])('an answer %j that is not an absolute path below /: refused, never allowed', (real) => {
    for (const req of [
      { kind: 'exec', command: 'cat /data/odd.txt', argumentPaths: { '/data/odd.txt': real } },
      { kind: 'sftp', operation: 'read', path: '/data/odd.txt', resolved: [real] },
      { kind: 'exec', command: 'scp -f /data/odd.txt', resolved: [real] },
    ] as SshRequest[]) {
      expect([req, decide(withDeny, req).decision]).toEqual([req, 'deny']);
      expect([req, decide(allowOnly, req).decision]).toEqual([req, 'deny']);
    }
  });

  it('a normal answer inside the allowed tree still allows', () => {
    expect(decide(allowOnly, { kind: 'exec', command: 'cat /data/link', argumentPaths: { '/data/link': '/data/real.txt' } }).decision).toBe('allow');
    expect(decide(allowOnly, { kind: 'exec', command: 'cat /data/link', argumentPaths: { '/data/link': '/data/sub/../real.txt' } }).decision).toBe('allow');
  });
});

describe('a path an option carries in its own word is judged like an operand', () => {
  it.each([
    ['grep -f/secret/x.txt pattern', {}], ['grep --file=/secret/x.txt pattern', {}], ['dd if=/secret/x.txt', {}], ['grep --file=/secret//./x.txt pattern', {}],
    ['grep --file=/data/link pattern', { '/data/link': '/secret/x.txt' }], ['grep -f/data/link pattern', { '/data/link': '/secret/x.txt' }],
    ['dd if=/data/link', { '/data/link': '/secret/x.txt' }], ['grep --file=../../secret/x.txt pattern', {}],
    ['tar -xf/secret/x.txt', {}], ['tar -tvf/data/link', { '/data/link': '/secret/x.txt' }],
  ])('%s: denied by the deny glob on /secret', (command, argumentPaths) => {
    expect(decide(withDeny, { kind: 'exec', command, argumentPaths })).toMatchObject({ decision: 'deny', rule: 'secret-commands' });
  });

  it('options without a value, and values elsewhere, are not mistaken for one', () => {
    expect(decide(withDeny, { kind: 'exec', command: 'cat -n5 --number=5 -rf /data/ok.txt' }).decision).toBe('allow');
    expect(decide(withDeny, { kind: 'exec', command: 'cat --label=/data/x /data/ok.txt' }).decision).toBe('allow');
  });
});

describe('a relative argument is seen by deny globs where the login directory puts it', () => {
  const p = sshPolicy([
    { name: 'private', action: 'deny', match: { ssh: { commands: ['* /home/u/private/*'] } } },
    { name: 'cat-any', action: 'allow', match: { ssh: { commands: ['cat *'] } } },
    { name: 'tail-logs', action: 'allow', match: { ssh: { commands: ['tail -n 5 logs/*'] } } },
  ]);
  const d = (command: string, loginDirectory?: string) => decide(p, { kind: 'exec', command, ...(loginDirectory === undefined ? {} : { loginDirectory }) });

  it.each(['cat private/x.txt', 'cat ./private/x.txt', 'cat private//./x.txt', 'cat --file=private/x.txt', 'cat -- private/x.txt'])('%s from /home/u: denied', (command) => {
    expect(d(command, '/home/u')).toMatchObject({ decision: 'deny', rule: 'private' });
  });

  it('from another login directory, or without one, the glob does not apply; allow globs on relative paths keep working', () => {
    expect(d('cat private/x.txt', '/home/v').decision).toBe('allow');
    expect(d('cat private/x.txt').decision).toBe('allow');
    expect(d('tail -n 5 logs/app.log', '/home/u').decision).toBe('allow');
  });
});

describe('a program path a symlink on the host leads to another program', () => {
  const p = sshPolicy([
    { name: 'no-rm', action: 'deny', match: { ssh: { commands: ['rm *'] } } },
    { name: 'any-exec', action: 'allow', match: { ssh: { requests: ['exec'] } } },
  ]);
  const d = (req: Omit<Extract<SshRequest, { kind: 'exec' }>, 'kind'>) => decide(p, { kind: 'exec', ...req });

  it('./tool leading to /bin/rm is judged as rm by deny globs', () => {
    expect(d({ command: './tool -rf /data', argumentPaths: { './tool': '/bin/rm' } })).toMatchObject({ decision: 'deny', rule: 'no-rm' });
    expect(d({ command: '/home/u/bin/tool x', argumentPaths: { '/home/u/bin/tool': '/usr/bin/rm' } })).toMatchObject({ decision: 'deny', rule: 'no-rm' });
  });

  it('a program path the host cannot resolve fails closed under a deny glob on programs', () => {
    expect(d({ command: './chain x', unresolved: [{ shown: './chain', why: 'it is a symlink the host cannot resolve' }], programUnresolved: true })).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
  });

  it('a program path that leads to another harmless program runs', () => {
    expect(d({ command: './tool x', argumentPaths: { './tool': '/usr/bin/true' } })).toMatchObject({ decision: 'allow', rule: 'any-exec' });
    expect(d({ command: './tool x' }).decision).toBe('allow');
  });
});
