// Shell completion: the scripts generated from every command's --help complete commands,
// subcommands and flags in a real bash; zsh and fish scripts parse in those shells when installed.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { candidates, fromHelp } from './completion-scripts.ts';
import { runCli } from '../test/run-cli.ts';

function bashComplete(script: string, words: string[]): string[] {
  const line = words.map((w) => `'${w}'`).join(' ');
  const program = `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _guarita; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', program], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter(Boolean);
}

const has = (shell: string): boolean => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;

describe('guarita completion', () => {
  it('bash completes commands, subcommands and flags', async () => {
    const r = await runCli(['completion', 'bash']);
    expect(r.code).toBe(0);
    expect(bashComplete(r.out, ['guarita', 'ch'])).toEqual(['check']);
    expect(bashComplete(r.out, ['guarita', 've'])).toEqual(['verify', 'version']);
    expect(bashComplete(r.out, ['guarita', '--v'])).toEqual(['--version']);
    expect(bashComplete(r.out, ['guarita', 'check', '--guar'])).toEqual(['--guarita-namespace']);
    expect(bashComplete(r.out, ['guarita', 'policy', 'ev'])).toEqual(['eval']);
    expect(bashComplete(r.out, ['guarita', 'export', '--fo'])).toEqual(['--format']);
    expect(bashComplete(r.out, ['guarita', 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
    expect(r.out).toContain('complete -o default -F _guarita kubectl-guarita');
  });

  it.each(['zsh', 'fish'])('%s: a script for guarita and kubectl-guarita that the shell parses', async (shell) => {
    const r = await runCli(['completion', shell]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/check/);
    expect(r.out).toContain('kubectl-guarita');
    if (has(shell)) expect(spawnSync(shell, ['-n'], { input: r.out, encoding: 'utf8' }).status).toBe(0);
  });

  it('names the shells it knows when given another or none', async () => {
    for (const args of [['completion'], ['completion', 'powershell'], ['completion', 'bash', 'zsh']]) {
      expect(await runCli(args)).toMatchObject({ code: 2, err: expect.stringContaining('bash, zsh or fish') });
    }
  });

  it('completes kubectl guarita through kubectl_complete-guarita: candidates, then cobra\'s directive', async () => {
    expect(await runCli(['completion', '__complete', 'ch'])).toEqual({ code: 0, out: 'check\n:4\n', err: '' });
    expect((await runCli(['completion', '__complete', 'check', '--gu'])).out).toBe('--guarita-namespace\n:4\n');
    // Nothing matches (a file name, a namespace): the shell's default completion.
    expect((await runCli(['completion', '__complete', 'verify', '--file', 'rec'])).out).toBe(':0\n');
  });

  it('picks candidates by the partial last word', () => {
    const commands = [{ name: 'check', summary: '', flags: ['--namespace', '-n'], subcommands: [] }, { name: 'policy', summary: '', flags: ['--policy'], subcommands: ['eval', 'validate'] }];
    expect(candidates(commands, [''])).toEqual(['check', 'policy', '--help', '--version']);
    expect(candidates(commands, ['p'])).toEqual(['policy']);
    expect(candidates(commands, ['policy', ''])).toEqual(['eval', 'validate', '--policy']);
    expect(candidates(commands, ['policy', 'eval', '--p'])).toEqual(['--policy']);
    expect(candidates(commands, ['nope', ''])).toEqual([]);
  });

  it('reads flags and subcommands from a help text', () => {
    const help = 'usage: x [-n NS]\n\nsubcommands:\n  eval       does\n  validate   checks\n\nFlags:\n  -o, --output F   format\n  --since T        when (e.g. --until too)\n';
    expect(fromHelp('x', 's', help)).toEqual({ name: 'x', summary: 's', subcommands: ['eval', 'validate'], flags: ['--output', '--since', '--until', '-n', '-o'] });
  });
});
