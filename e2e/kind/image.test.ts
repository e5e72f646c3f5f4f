// The image cannot be built here (no Docker engine); the kind workflow builds and runs it. What
// can be checked without Docker is checked here: the Dockerfile's shape (Node 24, multi-stage,
// non-root), and that every module the entry points load at run time is copied into the image,
// is not excluded by .dockerignore, and comes from a production dependency (`npm ci --omit=dev`).
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, matchesGlob, relative, resolve } from 'node:path';
import { SIDECAR_COMMAND } from '../../webhook/src/constants.ts';
import { REPO_ROOT } from '../harness/paths.ts';

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/** Image paths of the entry points (the chart's commands, the injection contract, the CLI). */
const ENTRY_POINTS = ['/app/operator/src/main.ts', '/app/webhook/src/main.ts', '/app/sidecar/src/main.ts', '/app/cli/src/main.ts'];

const STATIC_IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Runtime imports of one file: static ones that are not type-only, and literal dynamic ones. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(STATIC_IMPORT)) if (m[2] === undefined && m[3] !== undefined) found.push(m[3]);
  for (const m of text.matchAll(DYNAMIC_IMPORT)) if (m[1] !== undefined) found.push(m[1]);
  return found;
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** Every repository file the entry points load, and every bare package they import. */
function runtimeClosure(entries: readonly string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop() ?? '';
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) packages.add(packageOf(spec));
    }
  }
  return { files, packages };
}

function copiedDirs(): string[] {
  return [...dockerfile.matchAll(/^COPY (?!--from)(\S+) \.\/(\S+)$/gm)].map((m) => m[1] ?? '').filter((src) => !src.endsWith('.json'));
}

function isIgnored(path: string): boolean {
  return ignored.some((pattern) => matchesGlob(path, pattern) || path.split('/').some((_, i, parts) => matchesGlob(parts.slice(0, i + 1).join('/'), pattern)));
}

describe('Dockerfile', () => {
  it('builds on Node 24 in two stages and runs as a non-root uid', () => {
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=24$/m);
    expect([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1])).toEqual(['node:${NODE_VERSION}-bookworm', 'node:${NODE_VERSION}-bookworm-slim']);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
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

  it('has the entry points the chart and the injection contract name', () => {
    expect(ENTRY_POINTS).toContain(SIDECAR_COMMAND[1]);
    for (const entry of ENTRY_POINTS) expect(existsSync(join(REPO_ROOT, relative('/app', entry)))).toBe(true);
  });

  it('contains every module the entry points load, from production dependencies only', () => {
    const { files, packages } = runtimeClosure(ENTRY_POINTS.map((e) => join(REPO_ROOT, relative('/app', e))));
    const dirs = copiedDirs();
    const outside = [...files].map((f) => relative(REPO_ROOT, f)).filter((f) => !dirs.some((d) => f.startsWith(`${d}/`)) || isIgnored(f));
    expect(outside).toEqual([]);
    const missing = [...files].filter((f) => !existsSync(f)).map((f) => relative(REPO_ROOT, f));
    expect(missing).toEqual([]);
    expect([...packages].filter((p) => pkg.dependencies[p] === undefined).sort()).toEqual([]);
    // Sanity: the walk really followed the components.
    expect(files.size).toBeGreaterThan(50);
    expect(readdirSync(join(REPO_ROOT, 'node_modules')).length).toBeGreaterThan(0);
  });
});
