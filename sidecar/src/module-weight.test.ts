// What an HTTP-only sidecar loads (issue 19, item 9: every injected pod pays for each module at
// idle). Imports the wiring module in a fresh Node process and lists every module it resolved:
// the SQL parser and the PostgreSQL listener load only for PostgreSQL targets (import() on start),
// no TypeBox or CRD builders (crds/api.ts, crds/generated/vocabulary.ts), no ajv compiler (the
// validator is generated ahead of time, only the AccessPolicy one), and not Node's bundled undici
// (which an ES import of node:http pulls in through its lazy WebSocket export: sidecar/src/node-http.ts),
// and of jose only the modules identity verification uses.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const WIRING = pathToFileURL(join(import.meta.dirname, 'sidecar.ts')).href;

function loadedBy(entry: string): { urls: string[]; builtins: string[] } {
  const script = `
import { registerHooks } from 'node:module';
const urls = [];
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); urls.push(r.url); return r; } });
await import(${JSON.stringify(entry)});
process.stdout.write(JSON.stringify({ urls, builtins: process.moduleLoadList }));
`;
  const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`importing ${entry} failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as { urls: string[]; builtins: string[] };
}

describe('modules an HTTP-only sidecar loads at start', () => {
  const { urls, builtins } = loadedBy(WIRING);
  const packages = new Set(urls.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p) => p !== undefined));

  it('loads the wiring (the check itself sees modules)', () => {
    expect(urls.some((u) => u.endsWith('/sidecar/src/http/proxy.ts'))).toBe(true);
    expect(packages).toContain('undici');
  });

  it('no SQL parser, no PostgreSQL wire code', () => {
    expect([...packages].filter((p) => ['libpg-query', 'pg-protocol', 'pg'].includes(p))).toEqual([]);
    expect(urls.filter((u) => u.includes('/sidecar/src/postgres/') || u.endsWith('/sidecar/src/postgres-target.ts'))).toEqual([]);
  });

  it('no TypeBox and no CRD builders: the API paths and word lists come without the schema', () => {
    expect(packages.has('@sinclair/typebox')).toBe(false);
    expect(urls.filter((u) => /\/crds\/(definitions|openapi|validator-codegen)\.ts$|\/crds\/schema\//.test(u))).toEqual([]);
  });

  it('no ajv compiler, and only the AccessPolicy validator (generated ahead of time)', () => {
    expect(urls.filter((u) => /\/node_modules\/ajv\/dist\/(ajv|core|compile\/)/.test(u))).toEqual([]);
    expect(urls.some((u) => u.endsWith('/crds/generated/access-policy.validator.ts'))).toBe(true);
    expect(urls.filter((u) => u.endsWith('/crds/generated/approval-request.validator.ts'))).toEqual([]);
  });

  it('jose by subpath: not its index, which loads every JOSE module (JWE, key generation, remote key sets)', () => {
    expect(packages).toContain('jose');
    expect(urls.filter((u) => u.endsWith('/node_modules/jose/dist/webapi/index.js'))).toEqual([]);
  });

  it("undici's dispatchers without its index (fetch, WebSocket, mock agents...: sidecar/src/undici.ts)", () => {
    expect(urls.filter((u) => u.endsWith('/node_modules/undici/index.js'))).toEqual([]);
    expect(urls.some((u) => u.endsWith('/node_modules/undici/lib/dispatcher/pool.js'))).toBe(true);
    expect(urls.filter((u) => u.includes('/node_modules/undici/lib/web/'))).toEqual([]);
  });

  it("not Node's own bundled undici (loaded by an ES import of node:http)", () => {
    expect(builtins.filter((m) => m.includes('internal/deps/undici'))).toEqual([]);
  });
});
