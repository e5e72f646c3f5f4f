// The release's chart steps as .github/workflows/release.yml runs them, as far as this machine
// goes (no registry to push to): helm lint with the required values, helm package, and the
// package itself: its version and appVersion are the release's, it carries the CRDs and the values
// schema, and installs render the image tagged with that appVersion.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { runCommand } from '../e2e/harness/exec.ts';
import { CHART_DIR, helm, parseManifests, REQUIRED_VALUES } from '../charts/guarita/tests/helm.ts';

const ROOT = resolve(import.meta.dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'guarita-chart-package-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('the released chart', () => {
  it('lints, packages as guarita-<version>.tgz with the release\'s version and appVersion, and renders that image', async () => {
    const lint = await helm(['lint', CHART_DIR, '-f', REQUIRED_VALUES]);
    expect(lint.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    const packaged = await helm(['package', CHART_DIR, '--destination', out]);
    expect(packaged).toMatchObject({ code: 0 });
    const tgz = join(out, `guarita-${version}.tgz`);
    expect(packaged.stdout).toContain(tgz);
    const chart = parse((await helm(['show', 'chart', tgz])).stdout) as { version: string; appVersion: string };
    expect(chart).toMatchObject({ version, appVersion: version });
    const files = (await runCommand('tar', ['-tzf', tgz])).stdout.split('\n');
    expect(files).toEqual(expect.arrayContaining(['guarita/values.schema.json', 'guarita/crds/accesspolicies.guarita.io.yaml', 'guarita/crds/approvalrequests.guarita.io.yaml']));
    expect(files.filter((f) => f.startsWith('guarita/tests/'))).toEqual([]);
    const rendered = await helm(['template', 'guarita', tgz, '-n', 'guarita-system', '--kube-version', '1.34.0', '-f', REQUIRED_VALUES]);
    expect(rendered.code).toBe(0);
    const images = parseManifests(rendered.stdout).filter((o) => o.kind === 'Deployment')
      .flatMap((d) => ((d.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers).map((c) => c.image));
    expect(new Set(images)).toEqual(new Set([`ghcr.io/guarita/guarita:${version}`]));
  });
});
