// The import-boundary rule (issue 20, item 3) through ESLint's Node API: planted violations, placed
// virtually at production paths, fail; the same imports from test code, and production imports of
// core/, crds/, packages and the component's own files, pass. The repository's own eslint.config.js
// applies the rule to production files (so `npm run lint` fails on a violation) and not to tests.
import { describe, expect, it } from '@jest/globals';
import { join, resolve } from 'node:path';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { importBoundaryConfig } from './import-boundaries.ts';

const ROOT = resolve(import.meta.dirname, '..');
const RULE = 'guarita/import-boundaries';

// The rule as eslint.config.js configures it, on the TypeScript parser without type information
// (the rule needs none), so that files which do not exist can be linted at their would-be paths.
const linter = new ESLint({
  cwd: ROOT,
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, importBoundaryConfig],
});

async function problems(filePath: string, code: string): Promise<string[]> {
  const [result] = await linter.lintText(code, { filePath: join(ROOT, filePath) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

// [production path, code, what the message must name]
const VIOLATIONS: Array<[string, string, string]> = [
  ['sidecar/src/planted.ts', "import { loadHarnessState } from '../../e2e/harness/state.ts';", 'imports test code'],
  ['sidecar/src/postgres/planted.ts', "import { sidecarFixture } from '../../test/support.ts';", 'sidecar/test/support.ts'],
  ['sidecar/src/planted.ts', "export * from '../../operator/src/store/types.ts';", 'imports the operator component'],
  ['cli/src/planted.ts', "export { type SessionStore } from '../../operator/src/store/types.ts';", 'move what both need into core/'],
  ['cli/src/commands/planted.ts', "import type { SessionStore } from '../../../operator/src/store/types.ts';", 'imports the operator component'],
  ['operator/src/planted.ts', "export async function f(): Promise<unknown> { return import('../../webhook/src/main.ts'); }", 'imports the webhook component'],
  ['operator/src/planted.ts', "export type T = typeof import('../../cli/src/main.ts');", 'imports the cli component'],
  ['operator/src/store/planted.ts', "import { fakeSidecar } from '../../../e2e/support/store-testkit.ts';", 'e2e/support/store-testkit.ts'],
  ['core/planted.ts', "import type { Session } from '../sidecar/src/enforcement.ts';", 'core/, which components import'],
  ['core/policy/planted.ts', "import { psql } from '../../e2e/harness/state.ts';", 'imports test code'],
  ['crds/planted.ts', "import { loadConfig } from '../operator/src/config.ts';", 'crds/, which components import'],
  // Other spellings of the same places: judged by where the path lands.
  ['sidecar/src/planted.ts', "import { run } from './../src/../../bench/pg.ts';", 'bench/pg.ts'],
  ['sidecar/src/planted.ts', "import { loadConfig } from '../../sidecar/../operator/src/config.ts';", 'imports the operator component'],
  ['webhook/src/planted.ts', "import '../../charts/guarita/tests/install.int.test.ts';", 'imports test code'],
  ['sidecar/src/planted.ts', "import { x } from './listener.test.ts';", 'imports test code'],
  ['sidecar/src/planted.ts', "import { x } from '/etc/passwd.ts';", 'outside the repository'],
];

const ALLOWED: Array<[string, string]> = [
  ['sidecar/src/planted.ts', "import { compilePolicy } from '../../core/policy/index.ts';\nimport { API_VERSION } from '../../crds/definitions.ts';\nimport { Pipeline } from './postgres/pipeline.ts';\nimport { serialize } from 'pg-protocol';"],
  ['cli/src/planted.ts', "import type { SessionRecord } from '../../core/recording/store-types.ts';"],
  ['core/recording/planted.ts', "import { hashOf } from './index.ts';\nimport type { AccessPolicy } from '../../crds/types.ts';"],
  // Test code may use test support and any component.
  ['sidecar/test/planted.ts', "import { loadHarnessState } from '../../e2e/harness/state.ts';\nimport { registerWebhooks } from '../../webhook/test/cluster.ts';"],
  ['sidecar/src/postgres/planted.test.ts', "import { RawClient } from '../../test/pg-raw-client.ts';"],
  ['e2e/support/planted.ts', "import { FileStore } from '../../operator/src/store/file-store.ts';"],
  ['bench/planted.ts', "import { startPgScenario } from '../sidecar/test/pg-scenario.ts';"],
];

describe('import boundaries', () => {
  it.each(VIOLATIONS)('%s: %s fails', async (path, code, named) => {
    const found = await problems(path, code);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(`${RULE}: `);
    expect(found[0]).toContain(named);
  });

  it.each(ALLOWED)('%s: %s passes', async (path, code) => {
    expect(await problems(path, code)).toEqual([]);
  });

  it('is on in the repository config for production files only, so `npm run lint` fails on a violation', async () => {
    const repo = new ESLint({ cwd: ROOT });
    const severity = async (path: string): Promise<unknown> => ((await repo.calculateConfigForFile(join(ROOT, path))) as Linter.Config | undefined)?.rules?.[RULE];
    for (const path of ['sidecar/src/planted.ts', 'operator/src/store/planted.ts', 'webhook/src/planted.ts', 'cli/src/commands/planted.ts', 'core/planted.ts', 'crds/schema/planted.ts']) {
      expect([path, await severity(path)]).toEqual([path, [2]]);
    }
    for (const path of ['sidecar/src/planted.test.ts', 'sidecar/test/planted.ts', 'e2e/support/planted.ts', 'bench/planted.ts']) {
      expect([path, await severity(path)]).toEqual([path, undefined]);
    }
  });
});
