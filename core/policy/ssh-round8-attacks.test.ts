// Round 8 review of the SSH target (adversarial): exec commands the policy judges as something
// other than what the host runs. Each case here FAILS on the code as reviewed (see
// docs/security-model.md); the real-sshd demonstrations are in
// sidecar/test/ssh-round8-attacks.int.test.ts.
import { describe, expect, it } from '@jest/globals';
import { compilePolicy, type Command, type Identity } from './index.ts';
import { legacyScp, parseCommandLine } from './ssh-command.ts';
import { sshTestPolicy } from './corpus/ssh-policy.ts';

const support: Identity = { subject: 'u', groups: ['support'], kind: 'User' };
const exec = (command: string): Command => ({ protocol: 'ssh', ssh: { kind: 'exec', command } });

describe('finding 1: a program merely NAMED scp is judged as a legacy scp file transfer', () => {
  // legacyScp() looks at programName(words[0]) only: `/home/u/scratch/scp -f x` (any file the agent
  // uploaded or linked under that name) is judged as an SFTP read of x, no command rule is
  // consulted, the program is never resolved, and the sidecar passes its output unmasked and
  // unrecorded (transfer mode). Only the host's own scp, found by PATH as a bare `scp`, is a transfer.
  it.each([
    ['/home/u/scratch/scp -f /home/u/scratch/scp'],
    ['./scp -f ./scp'],
    ['scratch/scp -t scratch/x'],
    ['/tmp/evil/scp -f /etc/hostname'],
  ])('%s is not taken for the host scp', (line) => {
    const parsed = parseCommandLine(line);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(legacyScp(parsed.words)).toBeUndefined();
  });

  it('under a policy that allows scratch files over SFTP and no program in scratch, running scratch/scp -f is not allowed', () => {
    const p = compilePolicy(sshTestPolicy([
      { name: 'scratch-files', match: { ssh: { requests: ['sftp'], operations: ['read', 'write', 'stat', 'list', 'setstat'], paths: ['/home/u/scratch/**'] } }, action: 'allow' },
      { name: 'diagnostics', match: { ssh: { commands: ['df *', 'cat /var/log/*'] } }, action: 'allow' },
    ]));
    const d = (c: string, resolved?: string[]) => p.evaluate({ identity: support, purpose: 'p', command: { protocol: 'ssh', ssh: { kind: 'exec', command: c, ...(resolved ? { resolved } : {}) } } });
    // The same uploaded program under another name is denied (no rule allows running it) ...
    expect(d('/home/u/scratch/tool -f /home/u/scratch/tool').decision).toBe('deny');
    // ... but named scp it is an "scp download" of its own operand, allowed by the SFTP rule.
    expect(d('/home/u/scratch/scp -f /home/u/scratch/scp', ['/home/u/scratch/scp']).decision).toBe('deny');
  });
});

describe('finding 2: programs that run commands or program text given in their arguments, not refused', () => {
  // The docs: "programs that run another command given in their arguments (sh -c, bash, ...)" and
  // "inline program text (python -c, perl -e, ...)" are refused whatever the policy says. These
  // spellings of the same thing pass the parser, so a policy that allows exec but denies a tree
  // (`* /secret/*`) runs them and the shell reads the secret.
  it.each([
    ["rbash -c 'cat /secret/x'", 'rbash is bash (Debian ships /bin/rbash -> bash); -c runs its argument'],
    ["/usr/bin/rbash -c 'cat /secret/x'", 'the same by path'],
    ["python3 -m timeit -n1 -r1 \"__import__('os').system('cat /secret/x')\"", 'timeit runs its statement arguments as Python'],
    ["perl '-MPOSIX;system(q(cat /secret/x))' /dev/null", 'perl turns -Mmod;code into `use mod;code`'],
    // Debian names for the pagers and editors COMMAND_RUNNERS refuses as less/vi ("with a pty they
    // are a shell"): /usr/bin/pager -> less, zless runs less, editor/vim.basic are vim.
    ['pager /var/log/app.log', 'Debian alternative for less'],
    ['sensible-pager /var/log/app.log', 'runs $PAGER or pager (less)'],
    ['zless /var/log/app.log.gz', 'runs less'],
    ['editor /etc/motd', 'Debian alternative for an editor (nano/vim)'],
    ['vim.basic /etc/motd', 'vim under its package name'],
  ])('%s is refused (%s)', (line) => {
    expect(parseCommandLine(line).ok).toBe(false);
  });

  it('under an allow-the-rest policy with a deny on the secret tree, rbash -c is not allowed', () => {
    const p = compilePolicy(sshTestPolicy([
      { name: 'secret', match: { ssh: { commands: ['* /secret/*'] } }, action: 'deny' },
      { name: 'rest', match: { ssh: { requests: ['exec'] } }, action: 'allow' },
    ]));
    const d = (c: string) => p.evaluate({ identity: support, purpose: 'p', command: exec(c) });
    expect(d("bash -c 'cat /secret/x'").decision).toBe('deny');
    expect(d("rbash -c 'cat /secret/x'").decision).toBe('deny');
  });
});
