// The krew manifest a release publishes: plugins/guarita.yaml filled with the version and, per
// platform archive, its URL and sha256; a platform without an archive, or a malformed hash, fails.
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { archiveName, archivesIn, krewManifest, PLATFORMS } from './krew-manifest.ts';

const ROOT = resolve(import.meta.dirname, '..');
const template = readFileSync(join(ROOT, 'plugins/guarita.yaml'), 'utf8');

interface Platform { selector: { matchLabels: { os: string; arch: string } }; uri: string; sha256: string; bin: string; files: Array<{ from: string; to: string }> }

describe('krewManifest', () => {
  it('fills every platform from the archives found, with their sha256', () => {
    const dir = mkdtempSync(join(tmpdir(), 'krew-'));
    try {
      for (const [os, arch] of PLATFORMS) writeFileSync(join(dir, archiveName(os, arch)), `${os}-${arch}`);
      writeFileSync(join(dir, 'guarita-0.2.0.tgz'), 'the chart, not an archive');
      const manifest = parse(krewManifest(template, '0.2.0', 'https://github.com/guarita/guarita/releases/download', archivesIn(dir))) as { apiVersion: string; kind: string; metadata: { name: string }; spec: { version: string; platforms: Platform[] } };
      expect(manifest).toMatchObject({ apiVersion: 'krew.googlecontainertools.github.com/v1alpha2', kind: 'Plugin', metadata: { name: 'guarita' }, spec: { version: 'v0.2.0' } });
      expect(manifest.spec.platforms).toHaveLength(4);
      for (const p of manifest.spec.platforms) {
        const { os, arch } = p.selector.matchLabels;
        expect(p).toEqual({
          selector: { matchLabels: { os, arch } },
          uri: `https://github.com/guarita/guarita/releases/download/v0.2.0/kubectl-guarita_${os}_${arch}.tar.gz`,
          sha256: createHash('sha256').update(`${os}-${arch}`).digest('hex'),
          bin: 'kubectl-guarita',
          files: [{ from: '*', to: '.' }],
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a release missing a platform\'s archive, or a hash that is not sha256', () => {
    const sha256 = 'a'.repeat(64);
    expect(() => krewManifest(template, '0.2.0', 'u', [{ os: 'linux', arch: 'amd64', sha256 }])).toThrow(/no archive for linux\/arm64, darwin\/amd64, darwin\/arm64.*kubectl-guarita_linux_arm64\.tar\.gz/);
    expect(() => krewManifest(template, '0.2.0', 'u', PLATFORMS.map(([os, arch]) => ({ os, arch, sha256: os === 'darwin' ? 'abc' : sha256 })))).toThrow(/not a sha256: darwin\/amd64=abc/);
  });
});
