// Builds the npm package `guarita` (the CLI, `npm install -g guarita`) and packs it with `npm pack`.
// The repository's package.json stays private (it is the development project: tests, harness,
// every component); the published package is the CLI alone:
//   - cli/src/main.ts and what it imports (core/, crds/), compiled by tsc (cli/tsconfig.package.json)
//     to JavaScript in the checkout's layout, so no TypeScript runs on the user's machine;
//   - dependencies: exactly the packages the emitted JavaScript imports, at the ranges the root
//     package.json declares (an import of an undeclared package fails the build);
//   - bin `guarita` and `kubectl-guarita` (kubectl finds plugins by that name on PATH), and
//     `kubectl_complete-guarita` (kubectl 1.26+ completes a plugin's arguments with it);
//   - npm-shrinkwrap.json: the lockfile's versions of those dependencies and what they pull in;
//   - LICENSE and cli/README.npm.md as README.md.
// Usage: node scripts/pack-cli.ts [--out DIR]  → prints the tarball's path (default dist/npm/).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const BUILTINS = new Set(builtinModules);
// Static imports and re-exports at the start of a line (tsc emits one per line), side-effect
// imports and dynamic `import('...')`; a specifier must look like a package name (npm's rules), so
// text in strings ("from 'guarita export'") is not taken for an import.
const SPECIFIER = /(?:^\s*(?:import|export)\b[^'"\n]*?\bfrom\s*|\bimport\s*\(\s*|^\s*import\s*)(['"])([^'"\s]+)\1/gm;
const PACKAGE_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*(?:\/.*)?$/;

interface RootPackage { name: string; version: string; description: string; license: string; engines: Record<string, string>; dependencies: Record<string, string> }

/** The npm package a bare specifier names (`@scope/name/sub` → `@scope/name`), or undefined for relative paths and builtins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || BUILTINS.has(specifier) || !PACKAGE_NAME.test(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Every package the JavaScript files under `dir` import. */
export function importedPackages(dir: string): Set<string> {
  const found = new Set<string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    for (const m of text.matchAll(SPECIFIER)) {
      const pkg = packageOf(m[2] ?? '');
      if (pkg !== undefined) found.add(pkg);
    }
  }
  return found;
}

/** The published package.json: the CLI's metadata and only the dependencies its code imports. */
export function packageManifest(root: RootPackage, imported: ReadonlySet<string>): { name: string; version: string; dependencies: Record<string, string>; [field: string]: unknown } {
  const undeclared = [...imported].filter((p) => root.dependencies[p] === undefined);
  if (undeclared.length > 0) throw new Error(`the CLI imports ${undeclared.join(', ')}, which package.json does not list under dependencies: npm install ${undeclared.join(' ')}`);
  const dependencies: Record<string, string> = Object.fromEntries([...imported].sort().map((p) => [p, root.dependencies[p] ?? '']));
  return {
    name: 'guarita',
    version: root.version,
    description: `${root.description} The guarita command (also a kubectl plugin): check an installation, approve requests, replay, verify and export recordings, evaluate policies offline.`,
    license: root.license,
    type: 'module',
    engines: root.engines,
    bin: { guarita: 'cli/src/main.js', 'kubectl-guarita': 'cli/src/main.js', 'kubectl_complete-guarita': 'cli/src/kubectl-complete.js' },
    files: ['cli/', 'core/', 'crds/', 'LICENSE', 'README.md', 'npm-shrinkwrap.json'],
    keywords: ['kubernetes', 'kubectl-plugin', 'lgpd', 'privacy', 'audit', 'ai-agents'],
    homepage: 'https://github.com/guarita/guarita',
    repository: { type: 'git', url: 'git+https://github.com/guarita/guarita.git' },
    dependencies,
  };
}

interface LockEntry { version?: string; resolved?: string; integrity?: string; dev?: boolean; devOptional?: boolean; optional?: boolean; peer?: boolean; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; [field: string]: unknown }
interface Lockfile { name: string; version: string; lockfileVersion: number; packages: Record<string, LockEntry> }

/** Where Node finds `name` from the package at `from` (its node_modules, then each parent's). */
function locate(packages: Lockfile['packages'], from: string, name: string): string | undefined {
  for (let dir = from; ; dir = dir.includes('/node_modules/') ? dir.slice(0, dir.lastIndexOf('/node_modules/')) : '') {
    const candidate = `${dir === '' ? '' : `${dir}/`}node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (dir === '') return undefined;
  }
}

/**
 * The published npm-shrinkwrap.json: the repository's locked versions of exactly the packages the
 * CLI's dependencies pull in (npm recommends a shrinkwrap for command-line tools: a user installs
 * the versions the release was tested with, not whatever the ranges resolve to that day). A
 * dependency the lockfile does not hold fails the build.
 */
export function shrinkwrap(lock: Lockfile, manifest: { name: string; version: string; dependencies: Record<string, string> }, registry: string): Lockfile {
  const packages: Lockfile['packages'] = { '': { name: manifest.name, version: manifest.version, dependencies: manifest.dependencies } };
  const queue: Array<[string, string, boolean]> = Object.keys(manifest.dependencies).map((d) => ['', d, false]);
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [from, name, optional] = next;
    const at = located(lock, from, name, optional);
    if (at === undefined || packages[at] !== undefined) continue;
    const entry = lock.packages[at] ?? {};
    packages[at] = publishedEntry(entry, name, registry);
    for (const [deps, opt] of [[entry.dependencies, false], [entry.optionalDependencies, true]] as const) {
      for (const d of Object.keys(deps ?? {})) queue.push([at, d, opt]);
    }
  }
  return { name: manifest.name, version: manifest.version, lockfileVersion: 3, packages };
}

/** locate(), failing for a required dependency the lockfile does not hold. */
function located(lock: Lockfile, from: string, name: string, optional: boolean): string | undefined {
  const at = locate(lock.packages, from, name);
  if (at === undefined && !optional) throw new Error(`package-lock.json has no ${name} (needed by ${from || 'the CLI'}): run npm install`);
  return at;
}

/** A lock entry as the published CLI's: no development flags, and the registry's tarball URL when the lockfile omits it. */
function publishedEntry(entry: LockEntry, name: string, registry: string): LockEntry {
  const { dev: _dev, devOptional: _devOptional, ...kept } = entry;
  const base = name.split('/').at(-1) ?? name;
  return { ...kept, resolved: entry.resolved ?? `${registry.replace(/\/+$/, '')}/${name}/-/${base}-${entry.version ?? ''}.tgz` };
}

function main(): void {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const out = resolve(values.out ?? join(ROOT, 'dist/npm'));
  const staging = join(ROOT, 'dist/npm/guarita');
  rmSync(staging, { recursive: true, force: true });
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'cli/tsconfig.package.json')], { stdio: 'inherit' });
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as RootPackage;
  const manifest = packageManifest(root, importedPackages(staging));
  writeFileSync(join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lockfile;
  const registry = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim();
  writeFileSync(join(staging, 'npm-shrinkwrap.json'), `${JSON.stringify(shrinkwrap(lock, manifest, registry), null, 2)}\n`);
  copyFileSync(join(ROOT, 'LICENSE'), join(staging, 'LICENSE'));
  copyFileSync(join(ROOT, 'cli/README.npm.md'), join(staging, 'README.md'));
  mkdirSync(out, { recursive: true });
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: staging, encoding: 'utf8' })) as Array<{ filename: string }>;
  process.stdout.write(`${join(out, packed[0]?.filename ?? '')}\n`);
}

if (import.meta.main) main();
