import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseAccessPolicy } from '../../crds/validators.ts';
import { compilePolicy, PolicyCompileError, type Command, type CompiledPolicy, type Identity } from './index.ts';
import type { SshRequest, UnresolvedPath } from './ssh.ts';
import { sshTestPolicy } from './corpus/ssh-policy.ts';

const agent: Identity = { subject: 'system:serviceaccount:lgpd-orders:support-agent', groups: [], kind: 'ServiceAccount' };
const ssh = (req: SshRequest): Command => ({ protocol: 'ssh', ssh: req });
const exec = (command: string): Command => ssh({ kind: 'exec', command });
const sftp = (operation: Extract<SshRequest, { kind: 'sftp' }>['operation'], path: string, extra: { toPath?: string; resolved?: string[]; unresolved?: UnresolvedPath[] } = {}): Command => ssh({ kind: 'sftp', operation, path, ...extra });

function example(): CompiledPolicy {
  const text = readFileSync(new URL('../../examples/lgpd-orders/accesspolicy-ssh.yaml', import.meta.url), 'utf8');
  return compilePolicy(parseAccessPolicy(parse(text)));
}

function sshPolicy(rules: unknown[]): CompiledPolicy {
  return compilePolicy(sshTestPolicy(rules));
}

const support: Identity = { subject: 'u', groups: ['support'], kind: 'User' };

describe('the LGPD orders-host example', () => {
  const policy = example();
  const decide = (command: Command) => policy.evaluate({ identity: agent, purpose: 'customer-support', command });

  it.each([
    ['df -h', 'allow', 'read-only-diagnostics'],
    ['uptime', 'allow', 'read-only-diagnostics'],
    ['systemctl status orders', 'allow', 'read-only-diagnostics'],
    ['cat /var/log/orders/app.log', 'allow', 'read-only-diagnostics'],
    ['cat /var/log/orders/../../../etc/shadow', 'deny', undefined],
    ['cat /etc/shadow', 'deny', undefined],
    ['/tmp/evil/df -h', 'deny', undefined],
    ['rm -rf /var/log/orders', 'deny', 'deny-rm'],
    ['/bin/rm x', 'deny', 'deny-rm'],
    ['"r"m x', 'deny', 'deny-rm'],
    ['pg_dump -d orders', 'requireApproval', 'dumps-and-backups-need-dpo'],
    ['/usr/bin/pg_dump orders', 'requireApproval', 'dumps-and-backups-need-dpo'],
    ['cat /var/backups/orders.sql', 'requireApproval', 'dumps-and-backups-need-dpo'],
    ['tail -n 5 /var/backups/orders.sql', 'requireApproval', 'dumps-and-backups-need-dpo'],
    ['tail -n 5 /var//backups/./orders.sql', 'requireApproval', 'dumps-and-backups-need-dpo'],
    ['tail -n 5 /var/log/../backups/orders.sql', 'requireApproval', 'dumps-and-backups-need-dpo'],
    ['tail -n 5 ../../var/backups/orders.sql', 'requireApproval', 'dumps-and-backups-need-dpo'],
    ['scp -f /var/backups/orders.sql', 'requireApproval', 'backup-downloads-need-dpo'],
    ['scp -t /tmp/x', 'deny', 'deny-uploads-and-deletes'],
    ['df -h; rm -rf /', 'deny', undefined],
    ['sh -c "df -h"', 'deny', undefined],
  ])('exec %j → %s', (command, verdict, rule) => {
    const d = decide(exec(command));
    expect(d.decision).toBe(verdict);
    expect(d.rule).toBe(rule);
    // Arguments never reach the reason (they may be personal data).
    expect(d.reason).not.toMatch(/orders\.sql|shadow|app\.log/);
  });

  it('refused command lines are Unparseable and say why', () => {
    const d = decide(exec('df -h && cat /var/backups/x'));
    expect(d).toMatchObject({ decision: 'deny', code: 'Unparseable' });
    expect(d.reason).toContain('&');
  });

  it('interactive shells are not among the diagnostics', () => {
    expect(decide(ssh({ kind: 'shell' }))).toMatchObject({ decision: 'deny', code: 'NoMatchingRule' });
  });

  it.each([
    [sftp('read', '/var/log/orders/app.log'), 'allow', 'browse-logs'],
    [sftp('list', '/var/log/orders'), 'allow', 'browse-logs'],
    [sftp('read', '/var/log/orders/app.log', { resolved: ['/var/backups/orders.sql'] }), 'requireApproval', 'backup-downloads-need-dpo'],
    [sftp('read', '/var/log/orders/../../backups/orders.sql'), 'requireApproval', 'backup-downloads-need-dpo'],
    [sftp('read', '/var//backups/orders.sql'), 'requireApproval', 'backup-downloads-need-dpo'],
    [sftp('read', '/etc/shadow'), 'deny', undefined],
    [sftp('write', '/var/log/orders/x'), 'deny', 'deny-uploads-and-deletes'],
    [sftp('rename', '/var/log/orders/a', { toPath: '/var/log/orders/b' }), 'deny', 'deny-uploads-and-deletes'],
    [sftp('remove', '/tmp/x'), 'deny', 'deny-uploads-and-deletes'],
    [ssh({ kind: 'localForward', host: 'orders-db', port: 5432 }), 'deny', 'deny-port-forwarding'],
    [ssh({ kind: 'remoteForward', host: '0.0.0.0', port: 8080 }), 'deny', 'deny-port-forwarding'],
  ])('%j → %s', (command, verdict, rule) => {
    const d = decide(command);
    expect(d.decision).toBe(verdict);
    expect(d.rule).toBe(rule);
  });

  it('an SFTP path that climbs above / or is relative is Unparseable', () => {
    expect(decide(sftp('read', '/../etc/shadow'))).toMatchObject({ decision: 'deny', code: 'Unparseable' });
    expect(decide(sftp('read', 'etc/shadow'))).toMatchObject({ decision: 'deny', code: 'Unparseable' });
  });
});

describe('match.ssh semantics', () => {
  it('allow rules match arguments in order and exactly; a final lone * takes the rest', () => {
    const p = sshPolicy([{ name: 'ls', match: { ssh: { commands: ['ls -l /srv/*'] } }, action: 'allow' }, { name: 'cat', match: { ssh: { commands: ['cat *'] } }, action: 'allow' }]);
    const d = (c: string) => p.evaluate({ identity: support, purpose: 'p', command: exec(c) }).decision;
    expect(d('ls -l /srv/a')).toBe('allow');
    expect(d('ls /srv/a')).toBe('deny');
    expect(d('ls -l /srv/a /etc')).toBe('deny');
    expect(d('ls -l /srv/../etc')).toBe('deny');
    expect(d('cat')).toBe('allow');
    expect(d('cat a b c')).toBe('allow');
  });

  it('deny rules match options in any order and clustering', () => {
    const p = sshPolicy([{ name: 'no-rf', match: { ssh: { commands: ['rm -rf *'] } }, action: 'deny' }, { name: 'rest', action: 'allow', match: { ssh: { requests: ['exec'] } } }]);
    const d = (c: string) => p.evaluate({ identity: support, purpose: 'p', command: exec(c) });
    expect(d('rm -rf /x').rule).toBe('no-rf');
    expect(d('rm -fr /x').rule).toBe('no-rf');
    expect(d('rm -r -f /x').rule).toBe('no-rf');
    expect(d('rm /x -r -f').rule).toBe('no-rf');
    expect(d('rm /x').rule).toBe('rest');
  });

  it('port forwarding needs a rule that names it; a catch-all allow does not allow it', () => {
    const p = sshPolicy([{ name: 'all', action: 'allow' }]);
    const fwd = p.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'localForward', host: 'db', port: 5432 }) });
    expect(fwd).toMatchObject({ decision: 'deny', code: 'NoMatchingRule' });
    expect(p.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'shell' }) }).decision).toBe('allow');
    const q = sshPolicy([{ name: 'db', action: 'allow', match: { ssh: { requests: ['localForward'], destinations: ['db:5432'] } } }]);
    expect(q.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'localForward', host: 'db', port: 5432 }) }).decision).toBe('allow');
    expect(q.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'localForward', host: 'db', port: 22 }) }).decision).toBe('deny');
    expect(q.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'remoteForward', host: 'db', port: 5432 }) }).decision).toBe('deny');
  });

  it('forwarding destinations are judged in one spelling per address (numeric IPv4 forms, mapped IPv6, trailing dots: issue 23 review)', () => {
    const p = sshPolicy([
      { name: 'metadata', action: 'deny', match: { ssh: { requests: ['localForward'], destinations: ['169.254.169.254:*', 'localhost:*', '127.0.0.1:*', '[::1]:*'] } } },
      { name: 'any', action: 'allow', match: { ssh: { requests: ['localForward'], destinations: ['*:*'] } } },
    ]);
    const d = (host: string) => p.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'localForward', host, port: 80 }) });
    for (const host of ['169.254.169.254', '2852039166', '0xa9fea9fe', '0251.0376.0251.0376', '169.254.43518', '::ffff:169.254.169.254', '[::ffff:a9fe:a9fe]', 'LOCALHOST', 'localhost.', '127.1', '0x7f.1', '[::1]', '0:0:0:0:0:0:0:1']) {
      expect(d(host)).toMatchObject({ decision: 'deny', rule: 'metadata' });
    }
    for (const host of ['evil@127.0.0.1', '127.0.0.1/x', '1.2.3.256', 'fe80::1%eth0', '']) expect(d(host)).toMatchObject({ decision: 'deny', code: 'Unparseable' });
    expect(d('db.internal').decision).toBe('allow');
  });

  it('legacy scp is judged where the host resolves its path too (a symlink under an allowed directory: issue 23 review)', () => {
    const p = sshPolicy([
      { name: 'secrets', action: 'deny', match: { ssh: { paths: ['/etc/**'] } } },
      { name: 'data', action: 'allow', match: { ssh: { operations: ['read'], paths: ['/data/**'] } } },
    ]);
    const d = (resolved: string[]) => p.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'exec', command: 'scp -f /data/logs/link.log', resolved }) });
    expect(d(['/data/logs/app.log']).decision).toBe('allow');
    expect(d(['/etc/shadow'])).toMatchObject({ decision: 'deny', rule: 'secrets' });
    expect(d(['/srv/other']).decision).toBe('deny');
  });

  it('allow of an sftp rename needs both paths allowed', () => {
    const p = sshPolicy([{ name: 'tmp', action: 'allow', match: { ssh: { paths: ['/tmp/**'] } } }]);
    const d = (toPath: string) => p.evaluate({ identity: support, purpose: 'p', command: sftp('rename', '/tmp/a', { toPath }) }).decision;
    expect(d('/tmp/b')).toBe('allow');
    expect(d('/etc/b')).toBe('deny');
  });

  it('refuses rules that cannot apply, naming the field', () => {
    expect(() => sshPolicy([{ name: 'x', action: 'deny', match: { ssh: { requests: ['shell'], commands: ['rm *'] } } }])).toThrow(PolicyCompileError);
    expect(() => sshPolicy([{ name: 'x', action: 'deny', match: { ssh: { requests: ['shell'], commands: ['rm *'] } } }])).toThrow('spec.rules[0].match.ssh.commands');
    expect(() => sshPolicy([{ name: 'x', action: 'deny', match: { ssh: { paths: ['/a/**b'] } } }])).toThrow('spec.rules[0].match.ssh.paths[0]');
    expect(() => sshPolicy([{ name: 'x', action: 'deny', match: { ssh: { commands: ['rm; ls'] } } }])).toThrow('spec.rules[0].match.ssh.commands[0]');
  });
});

// The sidecar resolves each path on the host; a path it cannot resolve (a symlink chain longer
// than sftp-server follows, a loop, an error answer, a closed channel, no answer in time) is
// unresolved: where it leads is unknown. Before, such a path was judged as sent only (a symlink
// under an allowed directory whose resolution failed was allowed, and the host followed it).
describe('unresolved paths fail closed', () => {
  const unresolved = [{ shown: '/data/logs/l34', why: 'it is a symlink the host cannot resolve' }];
  const p = sshPolicy([
    { name: 'secrets', action: 'deny', match: { ssh: { paths: ['/etc/**'] } } },
    { name: 'backups', action: 'requireApproval', approval: { approverGroups: ['dpo'] }, match: { ssh: { paths: ['/data/backups/**'] } } },
    { name: 'data', action: 'allow', match: { ssh: { operations: ['read', 'list', 'stat', 'write', 'mkdir'], paths: ['/data/**'] } } },
    { name: 'no-remove', action: 'deny', match: { ssh: { operations: ['remove'] } } },
  ]);
  const d = (req: SshRequest) => p.evaluate({ identity: support, purpose: 'p', command: ssh(req) });

  it.each([
    ['read', '/data/logs/l34'],
    ['write', '/data/new/file'],
    ['list', '/data/logs/dir-link'],
    ['mkdir', '/data/logs/newdir'],
  ] as const)('sftp %s of an unresolved path under an allow rule that judges paths is denied, naming the path and why', (operation, path) => {
    const r = d({ kind: 'sftp', operation, path, resolved: [], unresolved });
    expect(r).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    expect(r.reason).toContain('/data/logs/l34');
    expect(r.reason).toContain('it is a symlink the host cannot resolve');
    expect(r.reason).toContain('rule "secrets"');
    // The same request resolved into the allowed tree is allowed: only the unknown is refused.
    expect(d({ kind: 'sftp', operation, path, resolved: [path], unresolved: [] }).decision).toBe('allow');
  });

  it('a deny rule that judges paths and misses the known paths cannot be passed by an unknown target (it stops the search)', () => {
    const q = sshPolicy([
      { name: 'secrets', action: 'deny', match: { ssh: { paths: ['/etc/**'] } } },
      { name: 'rest', action: 'allow', match: { ssh: { requests: ['sftp'] } } },
    ]);
    const r = q.evaluate({ identity: support, purpose: 'p', command: sftp('read', '/data/l34', { resolved: [], unresolved }) });
    expect(r).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    expect(r.reason).toContain('rule "secrets"');
    // Before the fix the catch-all allow decided: judged as sent, /data/l34 passed the deny rule.
    expect(q.evaluate({ identity: support, purpose: 'p', command: sftp('read', '/data/l34', { resolved: [] }) }).decision).toBe('allow');
  });

  it('a deny rule a known path already matches denies as the rule (the unknown changes nothing)', () => {
    expect(d({ kind: 'sftp', operation: 'read', path: '/etc/l', resolved: [], unresolved })).toMatchObject({ decision: 'deny', code: 'RuleDenied', rule: 'secrets' });
  });

  it('an approval rule is not asked for a path whose target is unknown (the approver could not see where it leads)', () => {
    const r = d({ kind: 'sftp', operation: 'read', path: '/data/backups/l', resolved: [], unresolved });
    expect(r).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    expect(d({ kind: 'sftp', operation: 'read', path: '/data/backups/l', resolved: ['/data/backups/db.sql'] }).decision).toBe('requireApproval');
  });

  it('decides as usual when the deciding rule names no paths and no earlier rule naming paths could match (allowed or denied by construction)', () => {
    const q = sshPolicy([
      { name: 'no-remove', action: 'deny', match: { ssh: { operations: ['remove'] } } },
      { name: 'readlinks', action: 'allow', match: { ssh: { operations: ['readlink'] } } },
      { name: 'data', action: 'allow', match: { ssh: { operations: ['read'], paths: ['/data/**'] } } },
    ]);
    const e = (operation: 'remove' | 'readlink' | 'read') => q.evaluate({ identity: support, purpose: 'p', command: sftp(operation, '/data/l', { resolved: [], unresolved }) });
    expect(e('remove')).toMatchObject({ decision: 'deny', code: 'RuleDenied', rule: 'no-remove' });
    expect(e('readlink')).toMatchObject({ decision: 'allow', rule: 'readlinks' });
    expect(e('read')).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    // No rule judges paths at all: nothing depends on where a path leads.
    const none = sshPolicy([{ name: 'sftp', action: 'allow', match: { ssh: { requests: ['sftp'] } } }]);
    expect(none.evaluate({ identity: support, purpose: 'p', command: sftp('read', '/data/l', { resolved: [], unresolved }) }).decision).toBe('allow');
  });

  it('an allow rule a known path already fails is skipped whatever the unknown is; a rename with one unresolved end is denied', () => {
    const r = d({ kind: 'sftp', operation: 'read', path: '/srv/x', resolved: [], unresolved });
    expect(r).toMatchObject({ decision: 'deny' });
    const q = sshPolicy([{ name: 'tmp', action: 'allow', match: { ssh: { paths: ['/tmp/**'] } } }]);
    const rename = q.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'sftp', operation: 'rename', path: '/tmp/a', toPath: '/tmp/link/b', resolved: ['/tmp/a'], unresolved: [{ shown: '/tmp/link/b', why: 'the host did not answer within 10 s' }] }) });
    expect(rename).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    expect(rename.reason).toContain('did not answer');
  });

  it('the reason shows the path as the sidecar gave it (masked), never another spelling of the request', () => {
    const r = d({ kind: 'sftp', operation: 'read', path: '/data/590.830.166-33.txt', resolved: [], unresolved: [{ shown: '/data/***.***.***-**.txt', why: 'the host closed its SFTP channel' }] });
    expect(r.reason).toContain('/data/***.***.***-**.txt');
    expect(r.reason).not.toContain('590.830.166-33');
  });

  it('legacy scp: an unresolved path, a -r transfer and a directory target (names below it) fail closed under path rules', () => {
    const scp = (command: string, extra: { resolved?: string[]; unresolved?: typeof unresolved } = {}) => d({ kind: 'exec', command, ...extra });
    expect(scp('scp -f /data/logs/l34', { resolved: [], unresolved })).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    expect(scp('scp -f /data/logs/app.log', { resolved: ['/data/logs/app.log'], unresolved: [] }).decision).toBe('allow');
    expect(scp('scp -r -f /data/logs', { resolved: ['/data/logs'], unresolved: [{ shown: '/data/logs', why: 'legacy scp reads or writes the files below it' }] })).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    // Several sources: each is judged; one outside the allowed tree denies the whole transfer.
    expect(scp('scp -f /data/a /etc/passwd', { resolved: ['/data/a', '/etc/passwd'] })).toMatchObject({ decision: 'deny', rule: 'secrets' });
    expect(scp('scp -f /data/a /data/b', { resolved: ['/data/a', '/data/b'] }).decision).toBe('allow');
    expect(scp('scp -f /data/a\u0001', { resolved: [] })).toMatchObject({ decision: 'deny', code: 'Unparseable' });
  });

  it('scp run on the host without -t/-f (a remote-to-remote copy) is not judged as a command', () => {
    const q = sshPolicy([{ name: 'exec', action: 'allow', match: { ssh: { requests: ['exec'] } } }]);
    for (const c of ['scp /etc/shadow /data/x', 'scp /data/a other-host:/tmp/a', 'scp -S /tmp/evil /a b:/c']) {
      expect(q.evaluate({ identity: support, purpose: 'p', command: exec(c) })).toMatchObject({ decision: 'deny', code: 'Unparseable' });
    }
  });

  it('without host resolution (guarita policy eval) a path is judged as sent, as before', () => {
    expect(d({ kind: 'sftp', operation: 'read', path: '/data/logs/app.log' }).decision).toBe('allow');
  });
});

// Exec arguments naming paths are resolved on the host too: a symlink under an allowed directory
// led an allowed `cat /data/link` to any file. The sidecar passes the arguments a symlink leads
// elsewhere (argumentPaths) and those it could not resolve (unresolved).
describe('exec path arguments where the host resolves them', () => {
  const p = sshPolicy([
    { name: 'backups-need-dpo', action: 'requireApproval', approval: { approverGroups: ['dpo'] }, match: { ssh: { commands: ['* /var/backups/*'] } } },
    { name: 'read-logs', action: 'allow', match: { ssh: { commands: ['cat /var/log/*', 'tail -n 5 /var/log/*'] } } },
    { name: 'any-ls', action: 'allow', match: { ssh: { commands: ['ls *'] } } },
  ]);
  const d = (command: string, extra: { argumentPaths?: Record<string, string>; unresolved?: UnresolvedPath[] } = {}) => p.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'exec', command, ...extra }) });
  const unresolved = [{ shown: '/var/log/l34', why: 'it is a symlink the host cannot resolve' }];

  it('an allowed argument a symlink leads elsewhere: judged there too (allow needs both, approval and deny match either)', () => {
    expect(d('cat /var/log/app.log').decision).toBe('allow');
    expect(d('cat /var/log/link', { argumentPaths: { '/var/log/link': '/var/backups/orders.sql' } })).toMatchObject({ decision: 'requireApproval', rule: 'backups-need-dpo' });
    expect(d('cat /var/log/link', { argumentPaths: { '/var/log/link': '/etc/shadow' } })).toMatchObject({ decision: 'deny', code: 'NoMatchingRule' });
    expect(d('tail -n 5 /var/log/link', { argumentPaths: { '/var/log/link': '/var/log/app.log.1' } }).decision).toBe('allow');
    // Before, judged as sent only: allowed.
    expect(d('cat /var/log/link').decision).toBe('allow');
  });

  it('an argument the host cannot resolve: denied under argument globs, naming it and why', () => {
    const r = d('cat /var/log/l34', { unresolved });
    expect(r).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    expect(r.reason).toContain('/var/log/l34');
    expect(r.reason).toContain('judges arguments');
  });

  it('decided as usual by a glob whose arguments are all * (any file), and by a deny a known argument matches', () => {
    // Here the approval glob `* /var/backups/*` comes first and could match the unknown target.
    expect(d('ls /var/log/l34', { unresolved })).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    const q = sshPolicy([
      { name: 'no-rm', action: 'deny', match: { ssh: { commands: ['rm *'] } } },
      { name: 'any-ls', action: 'allow', match: { ssh: { commands: ['ls *'] } } },
      { name: 'exec', action: 'allow', match: { ssh: { requests: ['exec'] } } },
    ]);
    expect(q.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'exec', command: 'ls /x/l', unresolved }) })).toMatchObject({ decision: 'allow', rule: 'any-ls' });
    expect(q.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'exec', command: 'rm /x/l', unresolved }) })).toMatchObject({ decision: 'deny', rule: 'no-rm' });
    expect(q.evaluate({ identity: support, purpose: 'p', command: ssh({ kind: 'exec', command: 'cat /x/l', unresolved }) }).decision).toBe('allow');
  });

  it('an approval glob for the program that might match the unknown target stops the search', () => {
    const r = d('head /var/log/l34', { unresolved });
    expect(r).toMatchObject({ decision: 'deny', code: 'PathUnresolved' });
    expect(r.reason).toContain('rule "backups-need-dpo"');
  });
});
