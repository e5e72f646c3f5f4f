// Every command, every spelling of "-o json" (issue 21, item 5): none writes a file called `json`
// (or `=json`) into the working directory. Commands whose -o is a format print JSON or stop at the
// cluster; export (whose -o is a FILE) and the commands without -o refuse it with a usage error.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS } from './command-table.ts';
import { runCli } from '../test/run-cli.ts';

const scratch = mkdtempSync(join(tmpdir(), 'guarita-output-audit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const FORMS = [['-o', 'json'], ['-ojson'], ['-o=json'], ['--output', 'json'], ['--output=json'], ['-o', 'yaml'], ['--output=yaml']];
// Enough for each command to get past its own flags: a policy subcommand, a name, a session.
const ARGS: Record<string, string[]> = { policy: ['eval'], approve: ['req-1'], deny: ['req-1'], replay: ['s-1'], completion: ['bash'] };
const cases = Object.keys(COMMANDS).flatMap((command) => FORMS.map((form) => [command, form.join(' '), form] as const));

describe('-o json never writes a file named json', () => {
  it.each(cases)('guarita %s %s', async (command, _label, form) => {
    const dir = mkdtempSync(join(scratch, 'cwd-'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const r = await runCli([command, ...(ARGS[command] ?? []), ...form], {
        env: { HOME: dir, KUBECONFIG: join(dir, 'missing-kubeconfig'), GUARITA_OPERATOR_URL: 'https://127.0.0.1:1' },
        stdin: '',
      });
      expect(readdirSync(dir)).toEqual([]);
      // Success means the structured output went to stdout (version -o json|yaml).
      if (r.code === 0) expect(r.out.startsWith('{') || r.out.startsWith('client:')).toBe(true);
      else expect(r.err).not.toBe('');
    } finally {
      process.chdir(cwd);
    }
  });
});
