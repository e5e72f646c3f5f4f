// What the production image installs against what production code loads. The image's
// node_modules is `npm ci --omit=dev` of package-lock.json (Dockerfile, deps stage) and its code is
// what tsc emits from the four entry points (tsconfig.build.json "files"): a dependency nothing in
// that closure imports is dead weight in every pod (kubernetes-fluent-client brought 48 packages:
// tsx, esbuild, quicktype-core, lodash, a second undici), and a package the closure imports that
// is not a production dependency is missing from the image. Imports are read with the TypeScript
// parser, not a pattern, so comments, strings and `import type` are told apart.
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface ImportsOfFile {
  /** Specifiers loaded at run time: value imports, side-effect imports, re-exports, literal import(). */
  runtime: string[];
  /** Specifiers named only for their types (`import type`, `export type`, `typeof import()`): erased by tsc. */
  typeOnly: string[];
}

function literal(node: ts.Node | undefined): string | undefined {
  return node !== undefined && ts.isStringLiteralLike(node) ? node.text : undefined;
}

/** `import ... from 'x'`, `export ... from 'x'`: the specifier and whether tsc erases the statement. */
function declarationReference(node: ts.Node): { spec: string | undefined; typeOnly: boolean } | undefined {
  if (ts.isImportDeclaration(node)) return { spec: literal(node.moduleSpecifier), typeOnly: node.importClause?.isTypeOnly === true };
  if (ts.isExportDeclaration(node)) return { spec: literal(node.moduleSpecifier), typeOnly: node.isTypeOnly };
  return undefined;
}

/** The specifier a node names and whether it survives compilation; undefined for other nodes. */
function moduleReference(node: ts.Node, file: string): { spec: string; typeOnly: boolean } | undefined {
  const declared = declarationReference(node);
  if (declared !== undefined) return declared.spec === undefined ? undefined : { spec: declared.spec, typeOnly: declared.typeOnly };
  if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
    const spec = literal(node.argument.literal);
    return spec === undefined ? undefined : { spec, typeOnly: true };
  }
  if (!ts.isCallExpression(node) || node.expression.kind !== ts.SyntaxKind.ImportKeyword) return undefined;
  const spec = literal(node.arguments[0]);
  // A computed import() cannot be followed: refuse it rather than miss what it loads.
  if (spec === undefined) throw new Error(`${file}: import() with a computed specifier; production code must import literal paths so its dependencies can be checked`);
  return { spec, typeOnly: false };
}

/** The module specifiers one TypeScript file names, split by whether they survive compilation. */
export function importsOf(file: string): ImportsOfFile {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2024, true, ts.ScriptKind.TS);
  const found: ImportsOfFile = { runtime: [], typeOnly: [] };
  const visit = (node: ts.Node): void => {
    const ref = moduleReference(node, file);
    if (ref !== undefined) (ref.typeOnly ? found.typeOnly : found.runtime).push(ref.spec);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** 'pkg/sub' → 'pkg', '@scope/pkg/sub' → '@scope/pkg'; undefined for node built-ins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || builtinModules.includes(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

export interface Closure {
  /** Repository files the entry points load (absolute paths). */
  files: Set<string>;
  /** Packages loaded at run time, with the first file that loads each. */
  runtime: Map<string, string>;
  /** Packages named only in types (they must be installed to build, not to run). */
  typeOnly: Map<string, string>;
}

/** Follows relative imports from the entry points; collects the bare packages on the way. */
export function importClosure(entries: readonly string[]): Closure {
  const closure: Closure = { files: new Set(), runtime: new Map(), typeOnly: new Map() };
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop() ?? '';
    if (closure.files.has(file)) continue;
    closure.files.add(file);
    if (!existsSync(file)) continue;
    const { runtime, typeOnly } = importsOf(file);
    for (const spec of runtime) {
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
      else recordPackage(closure.runtime, spec, file);
    }
    for (const spec of typeOnly) if (!spec.startsWith('.')) recordPackage(closure.typeOnly, spec, file);
  }
  return closure;
}

function recordPackage(into: Map<string, string>, spec: string, file: string): void {
  const name = packageOf(spec);
  if (name !== undefined && !into.has(name)) into.set(name, file);
}

interface LockEntry { dev?: boolean; optional?: boolean; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> }
interface Lock { packages: Record<string, LockEntry> }

/** Where Node finds `name` from the package installed at `from` (its own node_modules, then its parents'). */
function resolveInLock(lock: Lock, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (lock.packages[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut < 0 ? '' : base.slice(0, cut);
  }
}

function requiredBy(entry: LockEntry): string[] {
  const peers = Object.keys(entry.peerDependencies ?? {}).filter((p) => entry.peerDependenciesMeta?.[p]?.optional !== true);
  return [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}), ...peers];
}

/** Lock paths `npm ci --omit=dev` installs that no imported package needs, directly or through others. */
function unreachableInstalls(lock: Lock, imported: readonly string[]): string[] {
  const reached = new Set<string>();
  const queue = imported.map((name) => resolveInLock(lock, '', name)).filter((p): p is string => p !== undefined);
  while (queue.length > 0) {
    const path = queue.pop() ?? '';
    if (reached.has(path)) continue;
    reached.add(path);
    for (const dep of requiredBy(lock.packages[path] ?? {})) {
      const found = resolveInLock(lock, path, dep);
      if (found !== undefined) queue.push(found);
    }
  }
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.dev !== true && !reached.has(path))
    .map(([path]) => path)
    .sort();
}

export interface DependencyReport {
  /** Production dependencies nothing in the production closure imports at run time. */
  unused: string[];
  /** Packages production code loads at run time that are not production dependencies (file that loads them). */
  undeclared: { name: string; file: string }[];
  /** Packages the production install would put in the image that nothing imported needs. */
  unreachable: string[];
  closure: Closure;
}

/**
 * Checks a project laid out like this repository: package.json, package-lock.json and the entry
 * files `tsconfig.build.json` names (relative to root).
 */
export function checkProductionDependencies(root: string): DependencyReport {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lock;
  const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { files: string[] };
  const declared = Object.keys(pkg.dependencies ?? {});
  const closure = importClosure(build.files.map((f) => join(root, f)));
  const imported = [...closure.runtime.keys()];
  return {
    unused: declared.filter((d) => !closure.runtime.has(d)).sort(),
    undeclared: [...closure.runtime].filter(([name]) => !declared.includes(name)).map(([name, file]) => ({ name, file: relative(root, file) })).sort((a, b) => a.name.localeCompare(b.name)),
    unreachable: unreachableInstalls(lock, imported.filter((name) => declared.includes(name))),
    closure,
  };
}
