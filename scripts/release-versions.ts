// The release's version gate (.github/workflows/release.yml runs it first): the tag `vX.Y.Z` must
// equal charts/guarita/Chart.yaml's version and appVersion and package.json's version, because the
// chart's default image tag is its appVersion, `guarita version` prints package.json's, and the
// krew manifest and the npm package carry the tag. One mismatch published would install a chart
// that pulls an image nobody built. Usage: node scripts/release-versions.ts v0.2.0 (exit 1 with
// the fix on any mismatch); printing the version on success lets the workflow reuse it.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..');
// SemVer 2.0 (semver.org's regular expression, without the build metadata OCI tags cannot hold).
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$/;

export interface ReleaseVersions {
  /** The git tag being released (GITHUB_REF_NAME), e.g. v0.2.0. */
  tag: string;
  chartVersion: unknown;
  appVersion: unknown;
  packageVersion: unknown;
}

/** What is wrong with releasing these versions, each with the edit that fixes it; empty when they agree. */
export function versionProblems(v: ReleaseVersions): string[] {
  const m = /^v(.+)$/.exec(v.tag);
  if (m === null || !SEMVER.test(m[1] ?? '')) {
    return [`tag '${v.tag}' is not v<semver> (e.g. v0.2.0 or v0.2.0-rc.1): delete it (git push --delete origin ${v.tag}) and tag the release as vX.Y.Z`];
  }
  const version = m[1] ?? '';
  const problems: string[] = [];
  const check = (value: unknown, where: string, fix: string): void => {
    if (value !== version) problems.push(`${where} is ${JSON.stringify(value ?? null)}, the tag is ${v.tag}: ${fix}`);
  };
  check(v.chartVersion, 'charts/guarita/Chart.yaml version', `set version: ${version}`);
  check(v.appVersion, 'charts/guarita/Chart.yaml appVersion', `set appVersion: "${version}" (the chart's default image tag)`);
  check(v.packageVersion, 'package.json version', `run npm version ${version} --no-git-tag-version`);
  if (problems.length > 0) problems.push(`then commit, move the tag (git tag -f ${v.tag} && git push -f origin ${v.tag}) and let the release run again`);
  return problems;
}

export function readVersions(tag: string, root = ROOT): ReleaseVersions {
  const chart = parse(readFileSync(join(root, 'charts/guarita/Chart.yaml'), 'utf8')) as { version?: unknown; appVersion?: unknown };
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown };
  return { tag, chartVersion: chart.version, appVersion: chart.appVersion, packageVersion: pkg.version };
}

if (import.meta.main) {
  const tag = process.argv[2] ?? process.env.GITHUB_REF_NAME ?? '';
  const problems = versionProblems(readVersions(tag));
  if (problems.length > 0) {
    process.stderr.write(`release ${tag || '(no tag)'}: versions disagree\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`${tag.slice(1)}\n`);
  }
}
