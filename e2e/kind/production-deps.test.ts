// The production image carries exactly the packages production code loads: every dependency in
// package.json is imported at run time from the four entry points' closure (not by tests, bench or
// e2e), every package that closure imports is a production dependency, and package-lock.json's
// production tree (what the Dockerfile's `npm ci --omit=dev` installs) holds nothing those imports
// do not need. The checker itself is tested on planted violations, so a green run means something.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkProductionDependencies, importsOf, packageOf } from '../support/production-deps.ts';
import { REPO_ROOT } from '../harness/paths.ts';

const scratch = mkdtempSync(join(tmpdir(), 'guarita-deps-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A project shaped like this repository, written into its own directory. */
function project(name: string, files: Record<string, unknown>): string {
  const root = join(scratch, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return root;
}

const LOCK = {
  packages: {
    '': { dependencies: { used: '1', 'unused-dep': '1' }, devDependencies: { 'dev-only': '1' } },
    'node_modules/used': { dependencies: { helper: '1' } },
    'node_modules/helper': {},
    'node_modules/unused-dep': { dependencies: { 'its-helper': '1' } },
    'node_modules/its-helper': {},
    'node_modules/stale-leftover': {},
    'node_modules/dev-only': { dev: true },
  },
};

describe('the production dependency check', () => {
  it('passes on this repository: nothing unused, nothing undeclared, nothing unreachable installed', () => {
    const report = checkProductionDependencies(REPO_ROOT);
    expect(report.unused).toEqual([]);
    expect(report.undeclared).toEqual([]);
    expect(report.unreachable).toEqual([]);
    // Sanity: the walk followed the components and found their packages.
    expect(report.closure.files.size).toBeGreaterThan(50);
    expect([...report.closure.runtime.keys()]).toEqual(expect.arrayContaining(['@kubernetes/client-node', 'libpg-query', 'undici', 're2']));
  });

  it('kubernetes-fluent-client and the packages it pulled are out of the production install', () => {
    const report = checkProductionDependencies(REPO_ROOT);
    for (const name of ['kubernetes-fluent-client', 'tsx', 'esbuild', 'quicktype-core', 'lodash']) expect(report.closure.runtime.has(name)).toBe(false);
  });

  it('fails on planted violations: an unused dependency, an imported dev dependency, an undeclared package, a stale lock entry', () => {
    const root = project('planted', {
      'package.json': { dependencies: { used: '1', 'unused-dep': '1' }, devDependencies: { 'dev-only': '1' } },
      'package-lock.json': LOCK,
      'tsconfig.build.json': '{\n  // entry points\n  "files": ["app/src/main.ts"]\n}\n',
      'app/src/main.ts': [
        "import { a } from 'used/sub';",
        "import type { T } from 'types-only';",
        "// import x from 'unused-dep'  (a comment is not an import)",
        "const s = \"import y from 'unused-dep'\";",
        "export { b } from './other.ts';",
        "export const c: T = a + s;",
      ].join('\n'),
      'app/src/other.ts': "import { readFileSync } from 'node:fs';\nimport 'fs';\nexport const b = () => import('dev-only').then(() => import('@scope/undeclared/deep'));\nvoid readFileSync;\n",
      // Test code beside production code is not in the closure: its imports do not count.
      'app/src/main.test.ts': "import 'unused-dep';\n",
    });
    const report = checkProductionDependencies(root);
    expect(report.unused).toEqual(['unused-dep']);
    expect(report.undeclared).toEqual([
      { name: '@scope/undeclared', file: 'app/src/other.ts' },
      { name: 'dev-only', file: 'app/src/other.ts' },
    ]);
    // unused-dep's own dependency goes with it; stale-leftover is in the lock but nothing requires it.
    expect(report.unreachable).toEqual(['node_modules/its-helper', 'node_modules/stale-leftover', 'node_modules/unused-dep']);
    expect(report.closure.typeOnly.has('types-only')).toBe(true);
  });

  it('resolves nested installs the way Node does (a package\'s own node_modules first)', () => {
    const root = project('nested', {
      'package.json': { dependencies: { a: '1' } },
      'package-lock.json': { packages: { '': { dependencies: { a: '1' } }, 'node_modules/a': { dependencies: { b: '2' } }, 'node_modules/a/node_modules/b': {}, 'node_modules/b': {} } },
      'tsconfig.build.json': '{ "files": ["main.ts"] }',
      'main.ts': "import 'a';\n",
    });
    expect(checkProductionDependencies(root).unreachable).toEqual(['node_modules/b']);
  });

  it('refuses an import() it cannot follow instead of missing what it loads', () => {
    const root = project('computed', { 'main.ts': "const name = 'x';\nexport const m = import(name);\n" });
    expect(() => importsOf(join(root, 'main.ts'))).toThrow(/computed specifier/);
  });

  it('names packages by their first one or two path segments and skips built-ins', () => {
    expect(packageOf('@kubernetes/client-node/dist/gen')).toBe('@kubernetes/client-node');
    expect(packageOf('undici/lib/x.js')).toBe('undici');
    expect(packageOf('node:fs')).toBeUndefined();
    expect(packageOf('crypto')).toBeUndefined();
  });
});
