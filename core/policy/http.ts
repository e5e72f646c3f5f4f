// HTTP request matching: methods, path globs, query parameters and JSON-body fields. Request paths
// are normalized once; a path whose meaning depends on how the upstream decodes it (encoded
// slashes, dot segments, matrix parameters, double encoding) is refused rather than guessed.
import { compilePathGlob, pathGlobProblem, type MatchMode, type PathGlob } from './glob.ts';
import type { PolicyRule } from '../../crds/types.ts';

type HttpMatch = NonNullable<NonNullable<PolicyRule['match']>['http']>;

export interface HttpRequest {
  method: string;
  /** Normalized segments: "/" is [], "/a/b/" is ["a", "b"]. */
  segments: string[];
  query: Record<string, string[]>;
  jsonBody: unknown;
}

export type NormalizedPath = { ok: true; segments: string[]; query: string } | { ok: false; problem: string };

// Encoded characters whose decoding changes the path's structure, or that upstreams decode twice.
const AMBIGUOUS_ESCAPES = /%(2f|5c|25|00|3b)/i;

function decodeSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function pathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'the path must start with /';
  // Control characters, spaces, backslashes and non-ASCII are not valid in a request target.
  if (/[^\x21-\x7e]|\\/.test(path)) return 'the path contains a character that is not allowed in a request target';
  if (path.includes(';')) return 'the path contains ; (matrix parameters are stripped by some upstreams)';
  if (path.includes('//')) return 'the path contains an empty segment (//)';
  if (AMBIGUOUS_ESCAPES.test(path)) return 'the path contains an encoded /, \\, %, ; or NUL';
  return undefined;
}

function splitTarget(target: string): { path: string; query: string } {
  const hash = target.indexOf('#');
  const noFragment = hash < 0 ? target : target.slice(0, hash);
  const q = noFragment.indexOf('?');
  return q < 0 ? { path: noFragment, query: '' } : { path: noFragment.slice(0, q), query: noFragment.slice(q + 1) };
}

/** Splits off the query and fragment, validates, percent-decodes each segment and drops one trailing slash. */
export function normalizePath(target: string): NormalizedPath {
  const { path, query } = splitTarget(target);
  const problem = pathProblem(path);
  if (problem !== undefined) return { ok: false, problem };
  const raw = path.split('/').slice(1);
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  const segments: string[] = [];
  for (const r of raw) {
    const seg = decodeSegment(r);
    if (seg === undefined) return { ok: false, problem: 'the path contains an invalid percent-encoding' };
    if (seg === '.' || seg === '..') return { ok: false, problem: 'the path contains a dot segment (. or ..)' };
    segments.push(seg);
  }
  return { ok: true, segments, query };
}

/** A record without a prototype: parameter names like __proto__ or constructor are plain keys. */
function emptyRecord(): Record<string, string[]> {
  return Object.create(null) as Record<string, string[]>;
}

export function parseQueryString(query: string): Record<string, string[]> {
  const out = emptyRecord();
  for (const [k, v] of new URLSearchParams(query)) (out[k] ??= []).push(v);
  return out;
}

export function queryRecord(query: Record<string, string | string[]>): Record<string, string[]> {
  const out = emptyRecord();
  for (const [k, v] of Object.entries(query)) out[k] = Array.isArray(v) ? [...v] : [v];
  return out;
}

/** Follows a dot path (filter.status, items.0.id) into a parsed JSON body. */
export function jsonPath(body: unknown, path: readonly string[]): unknown {
  let cur: unknown = body;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (!Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function scalarString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  return undefined;
}

interface BodyCondition { path: string[]; equals?: string }

export interface CompiledHttpMatch {
  matches(req: HttpRequest, mode: MatchMode): boolean;
}

function queryMatches(want: ReadonlyArray<[string, string]>, query: Record<string, string[]>, mode: MatchMode): boolean {
  return want.every(([key, value]) => {
    const got = query[key] ?? [];
    if (got.length === 0) return false;
    if (value === '*') return true;
    // A repeated parameter is read differently by different frameworks (first, last, all).
    return mode === 'restrictive' ? got.includes(value) : got.every((g) => g === value);
  });
}

function bodyMatches(conditions: readonly BodyCondition[], body: unknown): boolean {
  return conditions.every((c) => {
    const v = jsonPath(body, c.path);
    if (v === undefined) return false;
    return c.equals === undefined || scalarString(v) === c.equals;
  });
}

export interface HttpCompileProblem { field: string; message: string }

/** Compiles match.http; problems are reported relative to the match.http field. */
export function compileHttpMatch(m: HttpMatch, problems: HttpCompileProblem[]): CompiledHttpMatch {
  const methods = m.methods === undefined ? undefined : new Set<string>(m.methods);
  const paths: PathGlob[] | undefined = m.paths?.map((p, i) => {
    const problem = pathGlobProblem(p);
    if (problem !== undefined) problems.push({ field: `paths[${i}]`, message: problem });
    return compilePathGlob(p);
  });
  const query = m.query === undefined ? [] : Object.entries(m.query);
  const body: BodyCondition[] = (m.jsonBody ?? []).map((c, i) => {
    const path = c.path.split('.');
    if (path.some((s) => s === '')) problems.push({ field: `jsonBody[${i}].path`, message: 'empty segment in dot path' });
    return c.equals === undefined ? { path } : { path, equals: c.equals };
  });
  return {
    matches(req, mode): boolean {
      if (methods !== undefined && !methods.has(req.method)) return false;
      if (paths !== undefined && !paths.some((p) => p.matches(req.segments, mode))) return false;
      return queryMatches(query, req.query, mode) && bodyMatches(body, req.jsonBody);
    },
  };
}
