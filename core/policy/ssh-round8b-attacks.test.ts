// Round 8b review (adversarial) of the round 8 SSH fixes (commit 5534712): spellings of the
// refused "runs program text from its arguments" class that the new perl -M / python -m rules and
// the new runner names miss, and a false refusal the -m rule introduced. Each case FAILS on the
// code as reviewed; see docs/security-model.md ("Round 8 review: the SSH target again"). Real-sshd demonstrations:
// sidecar/test/ssh-round8-attacks.int.test.ts (its round 8b part).
import { describe, expect, it } from '@jest/globals';
import { compilePolicy, type Command, type Identity } from './index.ts';
import { parseCommandLine } from './ssh-command.ts';
import { sshTestPolicy } from './corpus/ssh-policy.ts';

const support: Identity = { subject: 'u', groups: ['support'], kind: 'User' };
const exec = (command: string): Command => ({ protocol: 'ssh', ssh: { kind: 'exec', command } });

describe('finding A: perl -d:MOD;code is the -M injection under another option', () => {
  // perl turns -d:MOD... into PERL5DB="use Devel::MOD...;" and evaluates it: `-d:Peek;system(...)`
  // runs system() (Devel::Peek ships with perl). The round 8 rule matches only -e/-E/-m/-M.
  it.each([
    ["perl '-d:Peek;system(q(cat /secret/x))' /dev/null"],
    ["/usr/bin/perl '-d:-Peek;system(q(cat /secret/x))' /dev/null"],
    ["perl5.36.0 '-wd:Peek;system(q(cat /secret/x))' /dev/null"],
  ])('%s is refused', (line) => {
    expect(parseCommandLine(line).ok).toBe(false);
  });

  it('under an allow-the-rest policy with a deny on the secret tree, it is not allowed', () => {
    const p = compilePolicy(sshTestPolicy([
      { name: 'secret', match: { ssh: { commands: ['* /secret/*'] } }, action: 'deny' },
      { name: 'rest', match: { ssh: { requests: ['exec'] } }, action: 'allow' },
    ]));
    const d = (c: string) => p.evaluate({ identity: support, purpose: 'p', command: exec(c) });
    expect(d("perl '-MPOSIX;system(q(cat /secret/x))' /dev/null").decision).toBe('deny');
    expect(d("perl '-d:Peek;system(q(cat /secret/x))' /dev/null").decision).toBe('deny');
  });
});

describe('finding B: python -m pdb under the name Debian installs it (pdb3, pdb3.11)', () => {
  // /usr/bin/pdb3 -> ../lib/python3.11/pdb.py: `pdb3 -c CMD script` runs CMD as Python at the
  // script's first line. The round 8 fix refuses `python3 -m pdb` for exactly this.
  it.each([
    ["pdb3 -c \"import os;os.system('cat /secret/x')\" -c q /usr/lib/python3.11/this.py"],
    ["pdb3.11 -c \"import os;os.system('cat /secret/x')\" -c q /usr/lib/python3.11/this.py"],
    ["/usr/bin/pdb3 -c \"import os;os.system('cat /secret/x')\" -c q /usr/lib/python3.11/this.py"],
    // The same module as a script path: the stdlib's timeit run as a file executes its arguments.
    ["python3 /usr/lib/python3.11/timeit.py -n1 -r1 \"__import__('os').system('cat /secret/x')\""],
  ])('%s is refused', (line) => {
    expect(parseCommandLine(line).ok).toBe(false);
  });
});

describe('the -m / -M rules read every word, a script\'s own options included (documented in docs/ssh.md)', () => {
  // Stopping at the script operand would need each interpreter's options that take a value
  // (python -W ignore -c CODE: `ignore` would end the scan before -c): every word is read instead,
  // which refuses a script's own -m. The refusal names the reason; run such a script with the
  // option spelled otherwise, or through a wrapper a rule allows.
  it.each([
    ['python3 /opt/tools/report.py -m 5'],
    ['perl /opt/tools/report.pl -m monthly'],
    ['python3 -W ignore -c "print(1)"'],
  ])('%s is refused', (line) => {
    expect(parseCommandLine(line).ok).toBe(false);
  });
});
