// The image cannot be built here (no Docker engine); the kind workflow builds and runs it. What
// can be checked without Docker is checked here: the Dockerfile's shape (Node 24, dependency, build
// and runtime stages, non-root), that its build compiles exactly the entry points the chart and the
// injection contract run, and that every module they load at run time reaches the build stage
// (not excluded by .dockerignore) and comes from a production dependency (`npm ci --omit=dev`).
// That the emitted JavaScript runs is sidecar/test/production-build.int.test.ts's job.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, matchesGlob, relative } from 'node:path';
import { SIDECAR_COMMAND } from '../../webhook/src/constants.ts';
import { REPO_ROOT } from '../harness/paths.ts';
import { importClosure } from '../support/production-deps.ts';

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/** Image paths of the entry points (the chart's commands, the injection contract, the CLI). */
const ENTRY_POINTS = ['/app/operator/src/main.js', '/app/webhook/src/main.js', '/app/sidecar/src/main.js', '/app/cli/src/main.js'];

/** The TypeScript source an image path is emitted from. */
function sourceOf(imagePath: string): string {
  return relative('/app', imagePath).replace(/\.js$/, '.ts');
}

const buildConfig = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { files: string[]; include: string[]; compilerOptions: Record<string, unknown> };

function copiedDirs(): string[] {
  return [...dockerfile.matchAll(/^COPY (?!--from)(\S+) \.\/(\S+)$/gm)].map((m) => m[1] ?? '').filter((src) => !src.endsWith('.json'));
}

function isIgnored(path: string): boolean {
  return ignored.some((pattern) => matchesGlob(path, pattern) || path.split('/').some((_, i, parts) => matchesGlob(parts.slice(0, i + 1).join('/'), pattern)));
}

describe('Dockerfile', () => {
  it('builds on Node 24 in three stages (dependencies, JavaScript, runtime) and runs as a non-root uid', () => {
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=24$/m);
    expect([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1])).toEqual(['node:${NODE_VERSION}-bookworm', 'node:${NODE_VERSION}-bookworm', 'node:${NODE_VERSION}-bookworm-slim']);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^RUN node node_modules\/typescript\/bin\/tsc -p tsconfig\.build\.json/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist\/ \.\/$/m);
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
  });

  it('copies the components and keeps tests out of the context', () => {
    expect(copiedDirs().sort()).toEqual(['cli', 'core', 'crds', 'operator', 'sidecar', 'webhook']);
    expect(isIgnored('webhook/src/inject.test.ts')).toBe(true);
    expect(isIgnored('crds/testdata/invalid-policies.ts')).toBe(true);
    expect(isIgnored('node_modules/yaml/index.js')).toBe(true);
    expect(isIgnored('webhook/src/inject.ts')).toBe(false);
  });

  it('compiles exactly the entry points the chart and the injection contract name, to the image\'s paths', () => {
    expect(ENTRY_POINTS).toContain(SIDECAR_COMMAND[1]);
    expect([...buildConfig.files].sort()).toEqual(ENTRY_POINTS.map(sourceOf).sort());
    expect(buildConfig.include).toEqual([]);
    expect(buildConfig.compilerOptions).toEqual(expect.objectContaining({ outDir: 'dist', rootDir: '.', rewriteRelativeImportExtensions: true, noEmit: false }));
    for (const entry of ENTRY_POINTS) expect(existsSync(join(REPO_ROOT, sourceOf(entry)))).toBe(true);
  });

  it('contains every module the entry points load, from production dependencies only', () => {
    const { files, runtime } = importClosure(ENTRY_POINTS.map((e) => join(REPO_ROOT, sourceOf(e))));
    const packages = [...runtime.keys()];
    const dirs = copiedDirs();
    const outside = [...files].map((f) => relative(REPO_ROOT, f)).filter((f) => !dirs.some((d) => f.startsWith(`${d}/`)) || isIgnored(f));
    expect(outside).toEqual([]);
    const missing = [...files].filter((f) => !existsSync(f)).map((f) => relative(REPO_ROOT, f));
    expect(missing).toEqual([]);
    expect(packages.filter((p) => pkg.dependencies[p] === undefined).sort()).toEqual([]);
    // Sanity: the walk really followed the components.
    expect(files.size).toBeGreaterThan(50);
    expect(readdirSync(join(REPO_ROOT, 'node_modules')).length).toBeGreaterThan(0);
  });
});
