// Round 10b review (adversarial) of the round 10 stdin fix (a31bc56, core/policy/ssh-command.ts).
// Report: docs/security-model.md, "Round 10b review: runners, interpreters and awk". The real-sshd demonstration of finding A (tclsh8.6,
// mawk -W exec /dev/stdin) is in sidecar/test/ssh-round10b-attacks.int.test.ts.
import { describe, expect, it } from '@jest/globals';
import { compilePolicy, type Command, type Identity } from './index.ts';
import { sshTestPolicy } from './corpus/ssh-policy.ts';

const support: Identity = { subject: 'u', groups: ['support'], kind: 'User' };
const exec = (command: string): Command => ({ protocol: 'ssh', ssh: { kind: 'exec', command } });
const p = compilePolicy(sshTestPolicy([
  { name: 'secret', match: { ssh: { commands: ['* /secret/*'] } }, action: 'deny' },
  { name: 'rest', match: { ssh: { requests: ['exec'] } }, action: 'allow' },
]));
const d = (c: string) => p.evaluate({ identity: support, purpose: 'p', command: exec(c) });

describe('finding A: program text on stdin under names the exact-name tables miss', () => {
  it.each([
    // mawk's -W exec FILE is its -f (the last option); -W options may be abbreviated (-We). mawk is Debian's default awk.
    'mawk -W exec /dev/stdin', 'mawk -W exec -', 'mawk -We /dev/stdin',
    // Tcl as Debian installs it (tcl8.6, tk8.6): `tclsh`/`wish` are alternatives links and are refused as runners.
    'tclsh8.6', 'wish8.6',
    // Shells under their package names (COMMAND_RUNNERS lists sh, bash, ksh, mksh, zsh exactly):
    // Debian ksh (ksh93), mksh (lksh, mksh-static), bash-static, zsh (zsh5), yash, posh.
    'ksh93', 'lksh', 'mksh-static', 'bash-static', 'zsh5', 'yash', 'posh',
    // Interpreters not in the families: each with no script reads its program from stdin.
    'raku', 'micropython', 'ts-node', 'tsx',
  ])('%s (program on stdin) is refused as unparseable', (line) => {
    expect(d(line)).toMatchObject({ decision: 'deny', code: 'Unparseable' });
  });

  it.each(['ksh93 -c "cat /etc/shadow"', 'raku -e "say slurp q{/secret/x}"', 'ts-node -e x', 'micropython -c x'])('%s (program inline) is refused', (line) => {
    expect(d(line)).toMatchObject({ decision: 'deny' });
  });

  // Added with the fix: the names the review saw but did not test, refused the same way.
  it.each([
    'oksh', 'loksh', 'static-sh', 'sh.distrib', 'pwsh', 'pwsh -Command -', 'qjs -e x', 'bb -e x', 'coffee -e x', 'jrunscript',
    'goawk -f -', 'original-awk -f -', 'expect5.45', 'gdb-multiarch', 'perf record id', 'gawk --exec=/dev/stdin', 'mawk -Wexec /dev/stdin',
  ])('%s is refused as unparseable', (line) => {
    expect(d(line)).toMatchObject({ decision: 'deny', code: 'Unparseable' });
  });
});

describe('wrongly refused: a library loaded with ruby -r whose name has an e', () => {
  // INLINE_CODE_OPTIONS reads `-[A-Za-z]*e` over an attached -r value, though the round 10 table
  // knows -r takes a value: `-rtime` is read as -r -t -i -m -e. `ruby -rjson x.rb` is allowed.
  it.each(['ruby -rtime /opt/tools/report.rb', 'ruby -rset /opt/tools/report.rb', 'ruby -rfileutils /opt/tools/report.rb', 'perl -Ime /opt/tools/report.pl', 'perl -Iperl5lib /opt/tools/report.pl'])('%s is judged as a script run', (line) => {
    expect(d('ruby -rjson /opt/tools/report.rb').decision).toBe('allow');
    expect(d(line).decision).toBe('allow');
  });
});
