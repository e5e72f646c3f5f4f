// Round 5 cost review: the sidecar asks the host to resolve an exec's paths only when some rule
// that can apply could answer otherwise (resolutionMatters), and a request it did not resolve
// (resolution: 'skipped') is judged with every operand unresolved. Attacks: a policy under which
// resolutionMatters says "no" must decide the same whatever the host would have said (every
// operand leading to the secret tree, none resolvable, skipped), over a pool of policies and
// commands; a policy swapped between the check and the decision (a live update) must fail closed.
import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy } from '../../crds/types.ts';
import { compilePolicy, type Identity } from './index.ts';
import { pathOperands } from './ssh-command.ts';
import type { SshRequest } from './ssh.ts';
import { sshTestPolicy } from './corpus/ssh-policy.ts';

const support: Identity = { subject: 'u', groups: ['support'], kind: 'User' };

const sshPolicy = (rules: unknown[], purposes = ['p', 'q']): AccessPolicy => sshTestPolicy(rules, purposes);

const approval = { approverGroups: ['dpo'] };
const RULES: Record<string, unknown> = {
  denySecretArgs: { name: 'secret-args', action: 'deny', match: { ssh: { commands: ['* /secret/*'] } } },
  denyRmSecret: { name: 'rm-secret', action: 'deny', match: { ssh: { commands: ['rm /secret/*'] } } },
  denyRm: { name: 'no-rm', action: 'deny', match: { ssh: { commands: ['rm *'] } } },
  denySecretPaths: { name: 'secret-paths', action: 'deny', match: { ssh: { paths: ['/secret/**'] } } },
  denyRemove: { name: 'no-remove', action: 'deny', match: { ssh: { operations: ['remove', 'write'] } } },
  approveBackups: { name: 'backups', action: 'requireApproval', approval, match: { ssh: { commands: ['cat /backups/*'] } } },
  approveTail: { name: 'tail-approval', action: 'requireApproval', approval, match: { ssh: { commands: ['tail *'] } } },
  allowCatAny: { name: 'cat-any', action: 'allow', match: { ssh: { commands: ['cat *', 'true', 'df -h', 'grep * *'] } } },
  allowCatData: { name: 'cat-data', action: 'allow', match: { ssh: { commands: ['cat /data/*'] } } },
  allowData: { name: 'data', action: 'allow', match: { ssh: { paths: ['/data/**'] } } },
  allowReads: { name: 'reads', action: 'allow', match: { ssh: { operations: ['read', 'write'] } } },
  allowExec: { name: 'any-exec', action: 'allow', match: { ssh: { requests: ['exec'] } } },
  allowAllNoMatch: { name: 'everything', action: 'allow' },
  qOnlySecret: { name: 'q-secret', action: 'deny', purposes: ['q'], match: { ssh: { commands: ['* /secret/*'] } } },
  toolsAny: { name: 'tools', action: 'allow', match: { ssh: { commands: ['./tool *'] } } },
};

/** Policies (rule lists) the properties run over. */
const POLICIES: string[][] = [
  ['allowCatAny'],
  ['allowCatAny', 'denyRm'],
  ['denyRmSecret', 'allowCatAny'],
  ['denySecretArgs', 'allowCatAny'],
  ['qOnlySecret', 'allowCatAny'],
  ['denyRemove', 'allowReads'],
  ['denySecretPaths', 'allowData', 'allowCatAny'],
  ['approveTail', 'allowCatAny'],
  ['approveBackups', 'allowCatAny'],
  ['allowCatData'],
  ['allowExec'],
  ['allowAllNoMatch'],
  ['toolsAny', 'denyRm'],
  ['denyRm', 'allowExec'],
];

const COMMANDS = [
  'cat /data/x', 'cat link', 'cat -- -d/link', 'cat ./link /data/y', 'grep --file=/data/p x', 'dd if=/data/x', 'tail -n 5 logs/app',
  'rm /data/x', 'rm -rf /tmp/y', './tool /data/x', '/usr/bin/cat /data/x', 'df -h', 'true', 'tar -xf/data/a.tar',
  'scp -f /data/x', 'scp -t /data/up', 'scp -r -f /data', 'cat /secret/x', 'cat /backups/y', 'tail /var/log/x',
];

/** What the host might have said of the operands: nothing special, all leading to the secret tree, none resolvable. */
function hostAnswers(command: string): SshRequest[] {
  const words = command.split(' ');
  const scp = words[0] === 'scp';
  const operands = scp ? words.filter((w, i) => i > 0 && !w.startsWith('-')) : pathOperands(words);
  const secret = Object.fromEntries(operands.map((o) => [o, '/secret/x.txt']));
  const unresolved = operands.map((o) => ({ shown: o, why: 'the host refused to resolve it (permission denied)' }));
  return [
    { kind: 'exec', command, ...(scp ? { resolved: operands.map((o) => (o.startsWith('/') ? o : `/home/u/${o}`)) } : { argumentPaths: {}, loginDirectory: '/home/u' }) },
    { kind: 'exec', command, ...(scp ? { resolved: operands.map(() => '/secret/x.txt') } : { argumentPaths: secret, loginDirectory: '/secret' }) },
    { kind: 'exec', command, unresolved, ...(words[0]?.includes('/') === true ? { programUnresolved: true } : {}) },
    { kind: 'exec', command, resolution: 'skipped' },
  ];
}

const decisionOf = (policy: AccessPolicy, req: SshRequest, purpose = 'p'): string => {
  const d = compilePolicy(policy).evaluate({ identity: support, purpose, command: { protocol: 'ssh', ssh: req } });
  // A PathUnresolved denial names the rule in its reason only.
  return `${d.decision} ${d.code} ${d.rule ?? /rule "([^"]+)"/.exec(d.reason)?.[1] ?? ''}`;
};

describe('resolutionMatters: when it says the host need not be asked, nothing the host could say changes the decision', () => {
  const cases = POLICIES.flatMap((names) => COMMANDS.flatMap((command) => ['p', 'q'].map((purpose) => ({ names, command, purpose }))));
  it(`over ${cases.length} policy × command × purpose cases`, () => {
    let skipped = 0;
    let changed = 0;
    for (const { names, command, purpose } of cases) {
      const policy = sshPolicy(names.map((n) => RULES[n]));
      const decisions = hostAnswers(command).map((req) => decisionOf(policy, req, purpose));
      if (compilePolicy(policy).resolutionMatters({ kind: 'exec', command }, { purpose, access: true })) {
        if (new Set(decisions).size > 1) changed++;
        continue;
      }
      skipped++;
      expect({ names, command, purpose, decisions }).toEqual({ names, command, purpose, decisions: decisions.map(() => decisions[0]) });
    }
    // The property is not vacuous: most of the pool needs no resolution, and some does.
    expect(skipped).toBeGreaterThan(cases.length / 3);
    expect(skipped).toBeLessThan(cases.length);
    // The host's answers do change decisions where it says they matter (else this proves nothing).
    expect(changed).toBeGreaterThan(20);
  });
});

describe('resolutionMatters names the rules resolution can change', () => {
  const matters = (names: string[], command: string, purpose = 'p'): boolean => compilePolicy(sshPolicy(names.map((n) => RULES[n]))).resolutionMatters({ kind: 'exec', command }, { purpose, access: true });

  it.each([
    [['allowCatAny'], 'cat /data/x', false],
    [['allowCatAny'], 'df -h', false],
    [['denySecretArgs', 'allowCatAny'], 'cat /data/x', true],
    [['denySecretArgs', 'allowCatAny'], 'cat link', true],
    [['denyRmSecret', 'allowCatAny'], 'cat /data/x', false],
    [['denyRmSecret', 'allowCatAny'], 'rm /data/x', true],
    [['denyRmSecret', 'allowCatAny'], '/bin/rm /data/x', true],
    [['denyRm', 'allowCatAny'], './tool /data/x', true],
    [['allowCatData'], 'cat /data/x', true],
    [['approveTail', 'allowCatAny'], 'tail /var/log/x', false],
    [['approveBackups', 'allowCatAny'], 'cat /data/x', true],
    [['allowExec'], './tool /data/x', false],
    [['denySecretPaths', 'allowData', 'allowCatAny'], 'scp -f /data/x', true],
    [['denySecretPaths', 'allowData', 'allowCatAny'], 'cat /data/x', false],
    [['denyRemove', 'allowReads'], 'scp -f /data/x', false],
    [['allowAllNoMatch'], 'cat /secret/x', false],
  ])('%j, %j: %j', (names, command, expected) => {
    expect(matters(names, command)).toBe(expected);
  });

  it('only rules of the session\'s purpose count', () => {
    expect(matters(['qOnlySecret', 'allowCatAny'], 'cat /data/x', 'p')).toBe(false);
    expect(matters(['qOnlySecret', 'allowCatAny'], 'cat /data/x', 'q')).toBe(true);
  });

  it('a paths rule for another SFTP operation than scp\'s does not count; one for it does', () => {
    const policy = sshPolicy([{ name: 'uploads', action: 'deny', match: { ssh: { operations: ['write'], paths: ['/secret/**'] } } }, RULES['allowReads']]);
    expect(compilePolicy(policy).resolutionMatters({ kind: 'exec', command: 'scp -f /data/x' }, { purpose: 'p', access: true })).toBe(false);
    expect(compilePolicy(policy).resolutionMatters({ kind: 'exec', command: 'scp -t /data/x' }, { purpose: 'p', access: true })).toBe(true);
  });

  it('SFTP operations are always resolved; shells, forwards, unparseable commands and a refused session never', () => {
    const policy = sshPolicy([RULES['denySecretArgs'], RULES['denySecretPaths'], RULES['allowAllNoMatch']]);
    const facts = { purpose: 'p', access: true };
    expect(compilePolicy(policy).resolutionMatters({ kind: 'sftp', operation: 'read', path: '/data/x' }, facts)).toBe(true);
    expect(compilePolicy(policy).resolutionMatters({ kind: 'shell' }, facts)).toBe(false);
    expect(compilePolicy(policy).resolutionMatters({ kind: 'localForward', host: 'db', port: 5432 }, facts)).toBe(false);
    expect(compilePolicy(policy).resolutionMatters({ kind: 'exec', command: 'cat /data/x; rm /y' }, facts)).toBe(false);
    expect(compilePolicy(policy).resolutionMatters({ kind: 'exec', command: 'cat /data/x' }, { purpose: 'p', access: false })).toBe(false);
    expect(compilePolicy(policy).resolutionMatters({ kind: 'exec', command: 'cat /data/x' }, facts)).toBe(true);
  });
});

describe('a policy swapped between the check and the decision fails closed', () => {
  it.each([
    ['a deny glob on arguments arrives', ['denySecretArgs', 'allowCatAny'], 'cat link', 'deny PathUnresolved secret-args'],
    ['a deny glob matching as sent still denies as usual', ['denySecretArgs', 'allowCatAny'], 'cat /secret/x', 'deny RuleDenied secret-args'],
    ['an allow glob on arguments replaces cat *', ['allowCatData'], 'cat /data/x', 'deny PathUnresolved cat-data'],
    ['an approval glob on arguments arrives', ['approveBackups', 'allowCatAny'], 'cat /data/x', 'deny PathUnresolved backups'],
    ['a deny on rm arrives for a program given as a path', ['denyRm', 'allowExec'], './tool /data/x', 'deny PathUnresolved no-rm'],
    ['an SFTP path rule arrives for scp -O', ['denySecretPaths', 'allowData'], 'scp -f /data/x', 'deny PathUnresolved secret-paths'],
    ['a rule that does not judge paths decides as before', ['denyRmSecret', 'allowCatAny'], 'cat link', 'allow Allowed cat-any'],
  ])('%s: %s', (_what, names, command, expected) => {
    // Before: exec allowed by globs whose arguments are all * (a program path: by a rule without commands).
    const before = sshPolicy(command.startsWith('./') ? [RULES['allowExec']] : [RULES['allowCatAny'], RULES['allowReads']]);
    const after = sshPolicy(names.map((n) => RULES[n]));
    // The sidecar's check ran under the old policy, which needs no resolution...
    expect(compilePolicy(before).resolutionMatters({ kind: 'exec', command }, { purpose: 'p', access: true })).toBe(false);
    // ...and the request carries that it skipped it; the new policy decides it.
    expect(decisionOf(after, { kind: 'exec', command, resolution: 'skipped' })).toBe(expected);
  });

  it('a skipped request is judged unresolved even if it carries resolution facts (they are ignored)', () => {
    const after = sshPolicy([RULES['denySecretArgs'], RULES['allowCatAny']]);
    const req: SshRequest = { kind: 'exec', command: 'cat link', resolution: 'skipped', argumentPaths: {}, loginDirectory: '/home/u' };
    expect(decisionOf(after, req)).toBe('deny PathUnresolved secret-args');
  });

  it('the denial names no path (the reason is not masked)', () => {
    const after = sshPolicy([RULES['denySecretArgs'], RULES['allowCatAny']]);
    const d = compilePolicy(after).evaluate({ identity: support, purpose: 'p', command: { protocol: 'ssh', ssh: { kind: 'exec', command: 'cat /data/cliente-590.830.166-33.txt', resolution: 'skipped' } } });
    expect(d.code).toBe('PathUnresolved');
    expect(d.reason).not.toContain('590');
    expect(d.reason).toContain('run the command again');
  });
});
