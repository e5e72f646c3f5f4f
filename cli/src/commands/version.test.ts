// guarita --version and guarita version: the CLI's version is package.json's (the release gate holds
// it equal to the tag and the chart's appVersion); the server part never fails the command.
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli } from '../../test/run-cli.ts';

const version = (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string }).version;

describe('guarita --version', () => {
  it('prints the CLI\'s version alone, reading no kubeconfig', async () => {
    expect(await runCli(['--version'], { env: { KUBECONFIG: '/nonexistent' } })).toEqual({ code: 0, out: `guarita ${version}\n`, err: '' });
  });
});

describe('guarita version', () => {
  it('--client: the CLI only, also as JSON and YAML', async () => {
    expect(await runCli(['version', '--client'])).toEqual({ code: 0, out: `Client: guarita ${version}\n`, err: '' });
    expect(JSON.parse((await runCli(['version', '--client', '-o', 'json'])).out)).toEqual({ client: { version } });
    expect((await runCli(['version', '--client', '-oyaml'])).out).toBe(`client:\n  version: ${version}\n`);
  });

  it('says why the server is not reachable and still exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'guarita-version-'));
    try {
      const r = await runCli(['version'], { env: { HOME: dir } });
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^Client: guarita ${version.replace(/\./g, '\\.')}\nServer: not reachable \\(cannot read the kubeconfig .*does not exist`));
      const json = JSON.parse((await runCli(['version', '-o', 'json'], { env: { HOME: dir } })).out) as Record<string, unknown>;
      expect(json).toEqual({ client: { version }, serverError: expect.stringContaining('cannot read the kubeconfig') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses arguments and unknown formats', async () => {
    expect(await runCli(['version', 'extra'])).toMatchObject({ code: 2, err: expect.stringContaining('takes no arguments') });
    expect(await runCli(['version', '--client', '-o', 'jsonpath'])).toMatchObject({ code: 2, err: expect.stringContaining('--output must be json, yaml or table') });
  });
});
