// Flags that meant something else than the user typed: `export -o json` (everywhere else -o is a
// format) must not write an audit trail to a file called `json`, whatever form the flag takes; and
// KUBECONFIG lists are read from the command's environment with kubectl's merge rules.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { stringify } from 'yaml';
import { loadKube } from './kube.ts';
import { COMMON_OPTIONS, parseFlags } from './args.ts';
import { runCli } from '../test/run-cli.ts';

const scratch = mkdtempSync(join(tmpdir(), 'guarita-cli-flags-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('guarita export -o', () => {
  const forms = [['-o', 'json'], ['-ojson'], ['-o=json'], ['--output', 'json'], ['--output=json'], ['-o', 'JSON'], ['-o', 'csv'], ['-o', 'yaml'], ['-o', 'jsonl']];
  it.each(forms.map((f) => [f.join(' '), f] as const))('%s is refused before anything is written, naming --format', async (_label, flag) => {
    const cwd = process.cwd();
    const dir = mkdtempSync(join(scratch, 'export-'));
    process.chdir(dir);
    try {
      const r = await runCli(['export', ...flag], { env: { GUARITA_OPERATOR_URL: 'https://127.0.0.1:1' } });
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/-o names the output FILE.*--format jsonl\|csv.*-o \.\//);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('short flags written -x=value, as kubectl accepts them', () => {
  it('-o=json and -n=team mean -o json and -n team, not values starting with =', async () => {
    const r = await runCli(['approvals', 'list', '-o=yaml', '-n=team', '--kubeconfig', join(scratch, 'missing')]);
    // Reaches the kubeconfig (the flags parsed) rather than refusing '=yaml' as a format.
    expect(r.err).toMatch(/cannot read the kubeconfig/);
    const { values } = parseFlags(['-o=json', '-n=team', '--', '-o=kept'], COMMON_OPTIONS, 'test');
    expect(values).toEqual(expect.objectContaining({ output: 'json', namespace: 'team' }));
    expect(parseFlags(['x', '--', '-o=kept'], COMMON_OPTIONS, 'test').positionals).toEqual(['x', '-o=kept']);
    // A boolean short flag is left alone: -h=x stays an error.
    expect(() => parseFlags(['-A=x'], { A: { type: 'boolean', short: 'A' } }, 'test')).toThrow(/Run 'guarita test --help'/);
  });
});

function kubeconfig(dir: string, name: string, doc: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, stringify({ apiVersion: 'v1', kind: 'Config', ...doc }));
  return file;
}

describe('KUBECONFIG lists', () => {
  const a = kubeconfig(join(scratch, 'a'), 'config', {
    clusters: [{ name: 'shared', cluster: { server: 'https://a.example:6443', 'certificate-authority': 'ca.crt' } }],
    users: [{ name: 'ana', user: { token: 'a' } }],
    contexts: [{ name: 'ana', context: { cluster: 'shared', user: 'ana', namespace: 'team-a' } }],
    'current-context': 'ana',
  });
  const b = kubeconfig(join(scratch, 'b'), 'config', {
    clusters: [{ name: 'shared', cluster: { server: 'https://b.example:6443' } }, { name: 'only-b', cluster: { server: 'https://only-b.example:6443', 'certificate-authority': 'ca.crt' } }],
    users: [{ name: 'bia', user: { token: 'b' } }],
    contexts: [{ name: 'ana', context: { cluster: 'only-b', user: 'bia' } }, { name: 'bia', context: { cluster: 'only-b', user: 'bia', namespace: 'team-b' } }],
    'current-context': 'bia',
  });

  it('takes the first file\'s current-context and the first definition of each name; skips empty and missing entries', () => {
    const kube = loadKube({}, { KUBECONFIG: ['', join(scratch, 'missing'), a, b].join(delimiter) });
    expect(kube.kc.getCurrentContext()).toBe('ana');
    expect(kube.namespace).toBe('team-a');
    expect(kube.kc.getCluster('shared')?.server).toBe('https://a.example:6443');
    expect(kube.kc.getContextObject('ana')).toEqual(expect.objectContaining({ cluster: 'shared', user: 'ana' }));
    expect(kube.files).toEqual([a, b]);
  });

  it('resolves each file\'s relative paths against that file\'s directory', () => {
    const kube = loadKube({}, { KUBECONFIG: [a, b].join(delimiter) });
    expect(kube.kc.getCluster('shared')?.caFile).toBe(join(scratch, 'a', 'ca.crt'));
    expect(kube.kc.getCluster('only-b')?.caFile).toBe(join(scratch, 'b', 'ca.crt'));
  });

  it('--context picks any merged context; an unknown one is named', () => {
    const list = [a, b].join(delimiter);
    const kube = loadKube({ context: 'bia' }, { KUBECONFIG: list });
    expect(kube.kc.getCurrentCluster()?.server).toBe('https://only-b.example:6443');
    expect(kube.namespace).toBe('team-b');
    expect(() => loadKube({ context: 'nobody' }, { KUBECONFIG: list })).toThrow(/--context nobody: no such context/);
  });

  it('reads the command\'s environment, not the process\'s, and says what is missing', () => {
    expect(() => loadKube({}, { KUBECONFIG: join(scratch, 'missing') })).toThrow(/none of the files in KUBECONFIG exists.*pass --kubeconfig or set KUBECONFIG/);
    expect(() => loadKube({}, { HOME: join(scratch, 'no-home') })).toThrow(/KUBECONFIG is not set and .*no-home\/\.kube\/config does not exist/);
    const broken = join(scratch, 'broken');
    writeFileSync(broken, 'clusters: [');
    expect(() => loadKube({}, { KUBECONFIG: broken })).toThrow(new RegExp(`${broken}: `));
  });
});
