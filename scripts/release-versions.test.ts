// The release gate: a tag must equal the chart's version and appVersion and package.json's version;
// each mismatch names the file and the edit, and the script (as the workflow runs it) exits 1.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { readVersions, versionProblems } from './release-versions.ts';

const ROOT = resolve(import.meta.dirname, '..');
const agreeing = { chartVersion: '1.2.3', appVersion: '1.2.3', packageVersion: '1.2.3' };

describe('versionProblems', () => {
  it('accepts a tag equal to every version, pre-releases included', () => {
    expect(versionProblems({ tag: 'v1.2.3', ...agreeing })).toEqual([]);
    const rc = { chartVersion: '1.2.3-rc.1', appVersion: '1.2.3-rc.1', packageVersion: '1.2.3-rc.1' };
    expect(versionProblems({ tag: 'v1.2.3-rc.1', ...rc })).toEqual([]);
  });

  it.each([['1.2.3'], ['v1.2'], ['v01.2.3'], ['vlatest'], ['v1.2.3+build.5'], ['']])('refuses the tag %j, naming the form it must take', (tag) => {
    expect(versionProblems({ tag, ...agreeing })).toEqual([expect.stringMatching(/is not v<semver>.*tag the release as vX\.Y\.Z/)]);
  });

  it('names each file that disagrees with the edit that fixes it', () => {
    const problems = versionProblems({ tag: 'v1.3.0', chartVersion: '1.3.0', appVersion: 1.2, packageVersion: undefined });
    expect(problems).toEqual([
      expect.stringMatching(/Chart\.yaml appVersion is 1\.2, the tag is v1\.3\.0: set appVersion: "1\.3\.0"/),
      expect.stringMatching(/package\.json version is null.*npm version 1\.3\.0 --no-git-tag-version/),
      expect.stringMatching(/git tag -f v1\.3\.0/),
    ]);
  });
});

describe('scripts/release-versions.ts as the workflow runs it', () => {
  const run = (tag: string): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, [resolve(ROOT, 'scripts/release-versions.ts'), tag], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '--disable-warning=ExperimentalWarning' } });

  it('prints the version for the repository\'s own tag and exits 0', () => {
    const own = readVersions('v0.0.0', ROOT);
    const r = run(`v${String(own.packageVersion)}`);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ status: 0, stdout: `${String(own.packageVersion)}\n` });
  });

  it('exits 1 naming the mismatch for any other tag', () => {
    const r = run('v999.0.0');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/versions disagree[\s\S]*Chart\.yaml version is .*set version: 999\.0\.0[\s\S]*package\.json/);
  });
});
