// The npm package's pure parts: which packages the emitted JavaScript imports (only real import
// statements), the published manifest (only those, at package.json's ranges; an undeclared one
// fails), and the shrinkwrap (the lockfile's entries Node would load, nested ones included).
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importedPackages, packageManifest, packageOf, shrinkwrap } from './pack-cli.ts';

describe('packageOf', () => {
  it.each([
    ['yaml', 'yaml'], ['@kubernetes/client-node', '@kubernetes/client-node'], ['@peculiar/x509/lib', '@peculiar/x509'], ['undici/types', 'undici'],
    ['./x.js', undefined], ['../../core/a.js', undefined], ['/abs.js', undefined], ['node:fs', undefined], ['fs', undefined], ['guarita export', undefined],
  ])('%s → %s', (specifier, expected) => {
    expect(packageOf(specifier)).toBe(expected);
  });
});

describe('importedPackages', () => {
  it('reads static, side-effect and dynamic imports, not strings that look like them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pack-cli-'));
    try {
      mkdirSync(join(dir, 'cli'));
      writeFileSync(join(dir, 'cli/a.js'), [
        "import { parse } from 'yaml';", "import 'reflect-metadata';", "export { x } from './b.js';",
        "const m = await import('@peculiar/x509');", "const help = `run it from 'guarita export'`;", "import { readFileSync } from 'node:fs';",
      ].join('\n'));
      expect([...importedPackages(dir)].sort()).toEqual(['@peculiar/x509', 'reflect-metadata', 'yaml']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('packageManifest', () => {
  const root = { name: 'guarita', version: '1.2.3', description: 'd.', license: 'Apache-2.0', engines: { node: '>=22.19.0' }, dependencies: { yaml: '^2.9.1', fastify: '^5.0.0', re2: '^1.27.1' } };
  it('publishes the CLI with only what it imports', () => {
    expect(packageManifest(root, new Set(['yaml', 're2']))).toMatchObject({
      name: 'guarita', version: '1.2.3', license: 'Apache-2.0', type: 'module', dependencies: { re2: '^1.27.1', yaml: '^2.9.1' },
      bin: { guarita: 'cli/src/main.js', 'kubectl-guarita': 'cli/src/main.js', 'kubectl_complete-guarita': 'cli/src/kubectl-complete.js' },
    });
  });
  it('refuses an import package.json does not declare, naming the install', () => {
    expect(() => packageManifest(root, new Set(['yaml', 'left-pad']))).toThrow('the CLI imports left-pad, which package.json does not list under dependencies: npm install left-pad');
  });
});

describe('shrinkwrap', () => {
  const lock = {
    name: 'guarita', version: '1.2.3', lockfileVersion: 3,
    packages: {
      '': { name: 'guarita' },
      'node_modules/a': { version: '1.0.0', integrity: 'sha512-a', dependencies: { b: '^2' }, optionalDependencies: { gone: '^1' } },
      'node_modules/b': { version: '3.0.0', integrity: 'sha512-b3', dev: true },
      'node_modules/a/node_modules/b': { version: '2.0.0', integrity: 'sha512-b2' },
      'node_modules/@s/c': { version: '4.0.0', integrity: 'sha512-c', resolved: 'https://mirror.example/c.tgz' },
      'node_modules/unrelated': { version: '9.9.9' },
    },
  };
  it('holds what Node would load (nested versions first), with tarball URLs and no dev flags', () => {
    const wrap = shrinkwrap(lock, { name: 'guarita', version: '1.2.3', dependencies: { a: '^1', '@s/c': '^4' } }, 'https://registry.npmjs.org/');
    expect(wrap.packages).toEqual({
      '': { name: 'guarita', version: '1.2.3', dependencies: { a: '^1', '@s/c': '^4' } },
      'node_modules/a': { version: '1.0.0', integrity: 'sha512-a', dependencies: { b: '^2' }, optionalDependencies: { gone: '^1' }, resolved: 'https://registry.npmjs.org/a/-/a-1.0.0.tgz' },
      'node_modules/a/node_modules/b': { version: '2.0.0', integrity: 'sha512-b2', resolved: 'https://registry.npmjs.org/b/-/b-2.0.0.tgz' },
      'node_modules/@s/c': { version: '4.0.0', integrity: 'sha512-c', resolved: 'https://mirror.example/c.tgz' },
    });
  });
  it('fails on a required dependency the lockfile does not hold', () => {
    expect(() => shrinkwrap(lock, { name: 'guarita', version: '1.2.3', dependencies: { missing: '^1' } }, 'r')).toThrow('package-lock.json has no missing (needed by the CLI): run npm install');
  });
});
