// Fills plugins/guarita.yaml for a release: the version and, per platform archive
// (kubectl-guarita_<os>_<arch>.tar.gz in --archives), its download URL and sha256, as krew requires.
// Usage: node scripts/krew-manifest.ts --version 0.2.0 --archives DIR [--base-url URL] > guarita.yaml
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
export const PLATFORMS = [['linux', 'amd64'], ['linux', 'arm64'], ['darwin', 'amd64'], ['darwin', 'arm64']] as const;
export const archiveName = (os: string, arch: string): string => `kubectl-guarita_${os}_${arch}.tar.gz`;

export interface Archive { os: string; arch: string; sha256: string }

export function krewManifest(template: string, version: string, baseUrl: string, archives: readonly Archive[]): string {
  const missing = PLATFORMS.filter(([os, arch]) => !archives.some((a) => a.os === os && a.arch === arch));
  if (missing.length > 0) throw new Error(`no archive for ${missing.map(([os, arch]) => `${os}/${arch}`).join(', ')}: the release must build ${missing.map(([os, arch]) => archiveName(os, arch)).join(', ')}`);
  const bad = archives.filter((a) => !/^[0-9a-f]{64}$/.test(a.sha256));
  if (bad.length > 0) throw new Error(`not a sha256: ${bad.map((a) => `${a.os}/${a.arch}=${a.sha256}`).join(', ')}`);
  const platforms = archives.map((a) => [
    '    - selector:',
    '        matchLabels:',
    `          os: ${a.os}`,
    `          arch: ${a.arch}`,
    `      uri: ${baseUrl}/v${version}/${archiveName(a.os, a.arch)}`,
    `      sha256: ${a.sha256}`,
    '      bin: kubectl-guarita',
    '      files:',
    '        - from: "*"',
    '          to: "."',
  ].join('\n')).join('\n');
  return template.replaceAll('${VERSION}', version).replace('${PLATFORMS}', platforms);
}

export function archivesIn(dir: string): Archive[] {
  return readdirSync(dir).flatMap((name) => {
    const m = /^kubectl-guarita_([a-z]+)_([a-z0-9]+)\.tar\.gz$/.exec(name);
    if (m === null) return [];
    return [{ os: m[1] ?? '', arch: m[2] ?? '', sha256: createHash('sha256').update(readFileSync(join(dir, name))).digest('hex') }];
  });
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { version: { type: 'string' }, archives: { type: 'string' }, 'base-url': { type: 'string' } } });
  if (values.version === undefined || values.archives === undefined) throw new Error('usage: node scripts/krew-manifest.ts --version X.Y.Z --archives DIR [--base-url URL]');
  const template = readFileSync(join(ROOT, 'plugins/guarita.yaml'), 'utf8');
  process.stdout.write(krewManifest(template, values.version, values['base-url'] ?? 'https://github.com/guarita/guarita/releases/download', archivesIn(values.archives)));
}
