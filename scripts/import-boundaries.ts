// Import boundaries (issue 20, item 3), an ESLint rule run by `npm run lint`: production code
// (`sidecar|operator|webhook|cli/src/**`, `core/**`, `crds/**`, test files excluded) imports
// neither test code (`e2e/`, `bench/`, any `test/` or `tests/` folder, a `*.test.ts` file) nor
// another component; `core/` and `crds/` import no component at all. What two components share
// belongs in `core/` (pure code) or `crds/` (the API). The import is resolved against the importing
// file, so every spelling of a path (`./../../e2e`, `../src/../test/x.ts`) is judged by where it
// lands, not by how it is written.
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { ESLint, Rule } from 'eslint';

const ROOT = resolve(import.meta.dirname, '..');
export const COMPONENTS = ['sidecar', 'operator', 'webhook', 'cli'] as const;
const TEST_ONLY_ROOTS = new Set(['e2e', 'bench']);
const TEST_DIRS = new Set(['test', 'tests', 'testdata']);

/** Where a production file lives, or undefined for files the boundaries do not constrain. */
function productionArea(fromSegs: string[]): 'component' | 'shared' | undefined {
  const file = fromSegs.at(-1) ?? '';
  if (file.endsWith('.test.ts') || fromSegs.slice(0, -1).some((s) => TEST_DIRS.has(s))) return undefined;
  const top = fromSegs[0] ?? '';
  if ((COMPONENTS as readonly string[]).includes(top) && fromSegs[1] === 'src') return 'component';
  if (top === 'core' || top === 'crds') return 'shared';
  return undefined;
}

function isTestCode(target: string[]): boolean {
  return TEST_ONLY_ROOTS.has(target[0] ?? '') || target.slice(0, -1).some((s) => TEST_DIRS.has(s)) || (target.at(-1) ?? '').endsWith('.test.ts');
}

/** The problem with a production file in `area` importing the repository file `target`. */
function targetProblem(from: string[], area: 'component' | 'shared', target: string[], specifier: string): string | undefined {
  const fromPath = from.join('/');
  const shown = `'${specifier}' (${target.join('/')})`;
  const top = target[0] ?? '';
  if (isTestCode(target)) {
    return `${fromPath} is production code and imports test code ${shown}; move what production needs into its component's src/ or core/, or the importing code under test/`;
  }
  if (!(COMPONENTS as readonly string[]).includes(top)) return undefined;
  if (area === 'shared') {
    return `${fromPath} is in ${from[0] ?? ''}/, which components import, and imports the ${top} component ${shown}; move the shared code into core/ (pure) or crds/ (the API)`;
  }
  if (top === from[0]) return undefined;
  return `${fromPath} is ${from[0] ?? ''} code and imports the ${top} component ${shown}; move what both need into core/ (pure) or crds/ (the API)`;
}

/**
 * Why `fromFile` (absolute) may not import `specifier`, with the fix; undefined when it may.
 * Package specifiers are not judged (dependencies are checked by e2e/kind/production-deps.test.ts).
 */
export function boundaryProblem(fromFile: string, specifier: string, root = ROOT): string | undefined {
  const from = relative(root, fromFile).split(sep);
  const area = productionArea(from);
  if (area === undefined || !(specifier.startsWith('.') || isAbsolute(specifier))) return undefined;
  const targetPath = relative(root, resolve(dirname(fromFile), specifier.split('?')[0] ?? specifier));
  if (targetPath.startsWith('..') || isAbsolute(targetPath)) {
    return `${from.join('/')} is production code and imports '${specifier}', outside the repository; import a package instead`;
  }
  return targetProblem(from, area, targetPath.split(sep), specifier);
}

const rule: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'production code imports no test code and no other component (issue 20)' },
    schema: [],
    messages: { boundary: '{{problem}}' },
  },
  create(context) {
    const check = (source: unknown): void => {
      const literal = source as { type?: unknown; value?: unknown } | null | undefined;
      if (literal?.type !== 'Literal' || typeof literal.value !== 'string') return;
      const problem = boundaryProblem(context.filename, literal.value);
      if (problem !== undefined) context.report({ node: source as Rule.Node, messageId: 'boundary', data: { problem } });
    };
    const fromSource = (node: { source?: unknown }): void => check(node.source);
    return {
      ImportDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ImportExpression: fromSource,
      // `typeof import('...')` in a type position (`source` in typescript-eslint 8.x, `argument` before).
      TSImportType: (node: { source?: unknown; argument?: { literal?: unknown } }) => check(node.source ?? node.argument?.literal),
    };
  },
};

export const importBoundaries: ESLint.Plugin = { meta: { name: 'guarita' }, rules: { 'import-boundaries': rule } };

/** The files the rule applies to, as eslint.config.js configures it. */
export const importBoundaryConfig = {
  files: ['{sidecar,operator,webhook,cli}/src/**/*.ts', 'core/**/*.ts', 'crds/**/*.ts'],
  ignores: ['**/*.test.ts'],
  plugins: { guarita: importBoundaries },
  rules: { 'guarita/import-boundaries': 'error' as const },
};
