// The production build (tsconfig.build.json → dist/): the JavaScript the image runs. Tests and
// benchmarks that exercise or measure what ships build it first, once per process (the bench
// runner's suites share one build); tsc is incremental, so an up-to-date dist/ costs a few seconds.
// Processes build one at a time (integration tests run in band).
import { join } from 'node:path';
import { runCommand } from './exec.ts';
import { REPO_ROOT } from './paths.ts';

export const DIST_DIR = join(REPO_ROOT, 'dist');

export type Component = 'sidecar' | 'operator' | 'webhook' | 'cli';

/** Where a component's entry point lands in the build (the image has dist/ at /app). */
export function builtEntry(component: Component): string {
  return join(DIST_DIR, component, 'src', 'main.js');
}

let built: Promise<void> | undefined;

/** Runs tsc -p tsconfig.build.json once per process; a type error or failed emit is an error naming tsc's first lines. */
export function buildProduction(): Promise<void> {
  built ??= build();
  return built;
}

async function build(): Promise<void> {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await runCommand(process.execPath, [tsc, '-p', join(REPO_ROOT, 'tsconfig.build.json')], { cwd: REPO_ROOT, timeoutMs: 300_000 });
  if (result.code !== 0) {
    const output = `${result.stdout}${result.stderr}`.trim().split('\n').slice(0, 20).join('\n');
    throw new Error(`the production build (tsc -p tsconfig.build.json) failed with exit ${result.code}:\n${output}`);
  }
}
