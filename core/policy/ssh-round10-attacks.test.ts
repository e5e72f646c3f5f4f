// Round 10 review of the SSH target (adversarial), finding 6: an interpreter given no script (or
// `-`, /dev/stdin) reads its program from stdin, which the policy never judges, so under an
// allow-the-rest rule it read a tree a deny rule names in commands (`* /secret/*`). The parser
// cases are in ssh-command.test.ts; the real-sshd demonstration is in
// sidecar/test/ssh-round10-attacks.int.test.ts (finding 6).
import { describe, expect, it } from '@jest/globals';
import { compilePolicy, type Command, type Identity } from './index.ts';
import { sshTestPolicy } from './corpus/ssh-policy.ts';

const support: Identity = { subject: 'u', groups: ['support'], kind: 'User' };
const exec = (command: string): Command => ({ protocol: 'ssh', ssh: { kind: 'exec', command } });

describe('finding 6: an interpreter reading its program from stdin under allow-the-rest', () => {
  const p = compilePolicy(sshTestPolicy([
    { name: 'secret', match: { ssh: { commands: ['* /secret/*'] } }, action: 'deny' },
    { name: 'rest', match: { ssh: { requests: ['exec'] } }, action: 'allow' },
  ]));
  const d = (c: string) => p.evaluate({ identity: support, purpose: 'p', command: exec(c) });

  it.each(['perl', 'perl -', 'python3', 'python3 -', 'python3 -W ignore', 'ruby', 'node', 'php', 'lua', 'R --vanilla', 'dc', 'awk -f -',
    'perl /dev/stdin', '/usr/lib/openssh/sftp-server', 'env python3', 'nice perl'])('%s is denied as unparseable, naming the fix', (line) => {
    const r = d(line);
    expect(r.decision).toBe('deny');
    expect(r).toMatchObject({ code: 'Unparseable' });
  });

  it('the denial says why and how to run it instead', () => {
    expect(d('perl').reason).toContain('has no script operand, so it reads its program from stdin');
    expect(d('perl').reason).toContain('give the script as a file argument');
  });

  it('the same interpreters with a script file are judged by the rules as before', () => {
    expect(d('perl /opt/tools/report.pl').decision).toBe('allow');
    expect(d('python3 -W ignore /opt/tools/report.py').decision).toBe('allow');
    expect(d('python3 /secret/x.py').decision).toBe('deny');
  });
});
