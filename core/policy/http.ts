// HTTP request matching: methods, path globs, query parameters and JSON-body fields. Request
// targets are normalized once; a target whose meaning depends on how the upstream decodes it
// (fragments, encoded slashes, dot segments, matrix parameters, double encoding) is refused rather
// than guessed, and the sidecar forwards the normalized target, so the upstream receives exactly
// what the policy judged.
import { compilePathGlob, pathGlobProblem, type MatchMode, type PathGlob } from './glob.ts';
import type { PolicyRule } from '../../crds/types.ts';
import { foldCase as foldedCase } from './http-json.ts';

type HttpMatch = NonNullable<NonNullable<PolicyRule['match']>['http']>;

export interface HttpRequest {
  method: string;
  /** Normalized segments: "/" is [], "/a/b/" is ["a", "b"]. */
  segments: string[];
  query: Record<string, string[]>;
  jsonBody: unknown;
}

export type NormalizedPath =
  | {
    ok: true;
    segments: string[];
    /** The query re-serialized canonically (see canonicalQuery); '' when there is none. */
    query: string;
    /**
     * The request target to forward: the checked path and query, re-encoded canonically. It is
     * what the policy judged, byte for byte; the raw target is never forwarded (issue 18, item 15).
     */
    target: string;
  }
  | { ok: false; problem: string };

// Encoded characters whose decoding changes the path's structure, or that upstreams decode twice:
// / \ % NUL ; ? #
const AMBIGUOUS_ESCAPES = /%(2f|5c|25|00|3b|3f|23)/i;
// In the query: % (double decoding), NUL.
const AMBIGUOUS_QUERY_ESCAPES = /%(25|00)/i;

function decodeSegment(raw: string): string | undefined {
  try {
    // decodeURIComponent throws on malformed escapes and on invalid (e.g. overlong) UTF-8.
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function targetProblem(target: string): string | undefined {
  if (target === '*') return 'the asterisk-form target (*) is not accepted; send an origin-form target (/path?query)';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return 'absolute-form targets (scheme://host/...) are not accepted; send an origin-form target (/path?query)';
  if (!target.startsWith('/')) return 'the request target must be in origin form and start with / (authority-form and relative targets are not accepted)';
  // Control characters, spaces, backslashes and non-ASCII are not valid in a request target.
  if (/[^\x21-\x7e]|\\/.test(target)) return 'the request target contains a byte that is not allowed in it (control, space, backslash or non-ASCII; percent-encode it)';
  // RFC 9112 §3.2: a request target has no fragment. Upstreams disagree on what to do with one.
  if (target.includes('#')) return 'the request target contains a fragment (#...), which HTTP/1.1 does not allow in requests';
  return undefined;
}

function pathProblem(path: string): string | undefined {
  if (path.includes(';')) return 'the path contains ; (matrix parameters are stripped by some upstreams)';
  if (path.includes('//')) return 'the path contains an empty segment (//)';
  if (AMBIGUOUS_ESCAPES.test(path)) return 'the path contains an encoded /, \\, %, ;, ?, # or NUL';
  return undefined;
}

function queryProblem(query: string): string | undefined {
  if (query.includes(';')) return 'the query contains ; (some upstreams split parameters on it)';
  if (AMBIGUOUS_QUERY_ESCAPES.test(query)) return 'the query contains an encoded % or NUL (double encoding)';
  if (/%(?![0-9a-f]{2})/i.test(query)) return 'the query contains a malformed percent-encoding';
  for (const part of query.split('&')) {
    // URLSearchParams would turn invalid UTF-8 into U+FFFD; an upstream may read the raw bytes.
    if (decodeSegment(part.replace(/\+/g, ' ')) === undefined) return 'the query contains a percent-encoding that is not valid UTF-8';
  }
  return undefined;
}

function splitTarget(target: string): { path: string; query: string | undefined } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: undefined } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

const PATH_SAFE = /[A-Za-z0-9\-._~!$&'()*+,=:@]/;
const QUERY_SAFE = /[A-Za-z0-9\-._~!$'()*,:@/]/;

function encodeWith(text: string, safe: RegExp): string {
  let out = '';
  for (const ch of text) {
    if (safe.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A decoded path segment as forwarded: only what a segment cannot hold literally is escaped. */
export function encodePathSegment(segment: string): string {
  return encodeWith(segment, PATH_SAFE);
}

/**
 * The query as the policy reads it (URLSearchParams pairs), written back so that every parser
 * reads the same pairs: spaces as %20 (not +, which some upstreams keep literal), and &, =, +,
 * ;, ?, # and % always escaped.
 */
export function canonicalQuery(query: string): string {
  return [...new URLSearchParams(query)].map(([k, v]) => `${encodeWith(k, QUERY_SAFE)}=${encodeWith(v, QUERY_SAFE)}`).join('&');
}

/**
 * Checks a request target and returns what the policy judges and the upstream receives. Refused:
 * fragments, non-origin forms (absolute, authority, *), bytes outside visible ASCII, backslashes,
 * empty segments, dot segments (also encoded: %2e%2e, .%2E), encoded / \\ % ; ? # NUL, matrix
 * parameters, malformed or non-UTF-8 (e.g. overlong) percent-encodings, and ; or double encoding
 * in the query. One trailing slash is ignored for matching and kept in the forwarded target.
 */
export function normalizePath(target: string): NormalizedPath {
  const { path, query } = splitTarget(target);
  const problem = targetProblem(target) ?? pathProblem(path) ?? (query === undefined ? undefined : queryProblem(query));
  if (problem !== undefined) return { ok: false, problem };
  const decoded = decodeSegments(path);
  if (typeof decoded === 'string') return { ok: false, problem: decoded };
  const canonical = canonicalQuery(query ?? '');
  const forwardedPath = `/${decoded.segments.map(encodePathSegment).join('/')}${decoded.trailingSlash ? '/' : ''}`;
  return { ok: true, segments: decoded.segments, query: canonical, target: canonical === '' ? forwardedPath : `${forwardedPath}?${canonical}` };
}

/** The decoded segments of a checked path, or the problem that refuses it. */
function decodeSegments(path: string): { segments: string[]; trailingSlash: boolean } | string {
  const raw = path.split('/').slice(1);
  const trailingSlash = raw.length > 1 && raw[raw.length - 1] === '';
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  const segments: string[] = [];
  for (const r of raw) {
    const seg = decodeSegment(r);
    if (seg === undefined) return 'the path contains an invalid percent-encoding (malformed, or not valid UTF-8)';
    if (seg === '.' || seg === '..') return 'the path contains a dot segment (. or .., also when percent-encoded)';
    segments.push(seg);
  }
  return { segments, trailingSlash };
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

/**
 * Follows a dot path (filter.status, items.0.id) into a parsed JSON body; with `foldCase`, object
 * keys are found whatever their case (the sidecar refuses bodies with two keys equal but for case).
 */
export function jsonPath(body: unknown, path: readonly string[], foldCase = false): unknown {
  let cur: unknown = body;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const found = Object.hasOwn(cur, key) ? key : foldCase && !Array.isArray(cur) ? Object.keys(cur).find((k) => foldedCase(k) === foldedCase(key)) : undefined;
    if (found === undefined) return undefined;
    cur = (cur as Record<string, unknown>)[found];
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

/**
 * A parameter name as the frameworks that bind query and form parameters read it, so that every
 * spelling one of them takes as `name` is compared as `name`: PHP ($_GET/$_POST, behind Laravel
 * and Symfony) reads a name up to a NUL, drops leading spaces, turns `.` and spaces into `_`, and
 * an unmatched `[` into `_`; Rack's normalize_params and qs (Express) drop brackets around a name
 * (`[format]`); `format[]` and `format[0]` are the array `format` (PHP, qs, Rails); ASP.NET Core
 * binds names whatever their case. Erring towards one name only makes restrictive rules match more.
 */
export function paramName(name: string): string {
  let n = (name.split('\0', 1)[0] ?? '').trimStart().toLowerCase().replace(/^[[\]]+/, '');
  const open = n.indexOf('[');
  if (open >= 0) n = n.indexOf(']', open) > open ? n.slice(0, open) : `${n.slice(0, open)}_${n.slice(open + 1)}`;
  return n.replace(/\]+$/, '').replace(/[. ]/g, '_');
}

/** `a[]` and `a[0]` are `a` (an array's element: its values are read as the array of them, as a repeated name's are). */
function arrayElement(path: string[]): string[] {
  const out = path.filter((s) => s !== '');
  return out.length > 1 && /^\d+$/.test(out[out.length - 1] ?? '') ? out.slice(0, -1) : out;
}

/**
 * The path of a form or query field name as nesting binders read it: up to a NUL (PHP), leading
 * spaces and brackets dropped (PHP, Rack, qs), split at `[`...`]` and `.` (qs, Rack, ASP.NET Core).
 */
export function fieldPath(name: string): string[] {
  const n = (name.split('\0', 1)[0] ?? '').trimStart().replace(/^[[\]]+/, '');
  return arrayElement(n.split(/[[\].]+/));
}

/**
 * The path of a field name as PHP registers it (main/php_variables.c, behind Laravel and Symfony;
 * checked against PHP 8.2): up to a NUL, leading spaces dropped; in the name before its first `[`,
 * `.` and spaces become `_`; a `[` with no `]` after it becomes `_` too, as do the `.`, spaces and
 * `[` after it (`include[pii` is `include_pii`, `a[b.c` is `a_b_c`); otherwise each `[...]` that
 * follows is an index (`a.b[c.d]` is a_b, then c.d), up to the first character that is no `[`.
 * Empty when PHP registers nothing (an empty name, `[a]`).
 */
export function phpFieldPath(name: string): string[] {
  const n = (name.split('\0', 1)[0] ?? '').replace(/^ +/, '');
  const open = n.indexOf('[');
  if (open < 0) return n === '' ? [] : [n.replace(/[. ]/g, '_')];
  if (n.indexOf(']', open) < 0) return [`${n.slice(0, open)}_${n.slice(open + 1)}`.replace(/[. []/g, '_')];
  const base = n.slice(0, open).replace(/[. ]/g, '_');
  if (base === '') return [];
  const path = [base];
  for (let at = open; n[at] === '['; ) {
    const close = n.indexOf(']', at);
    if (close < 0) break;
    path.push(n.slice(at + 1, close));
    at = close + 1;
  }
  return arrayElement(path);
}

/** Every path a field name is bound to: nested (fieldPath) and as PHP registers it (phpFieldPath), each once. */
export function fieldPaths(name: string): string[][] {
  const nested = fieldPath(name);
  const php = phpFieldPath(name);
  const both = php.length === 0 || php.join('\0') === nested.join('\0') ? [nested] : [nested, php];
  return both.filter((p) => p.length > 0);
}

/**
 * A parameter value as restrictive rules compare it: whatever its case (ASP.NET Core parses enums
 * ignoring case, handlers lower-case) and surrounding whitespace (Enum.Parse trims it).
 */
export function foldedValue(value: string): string {
  return foldedCase(value.trim());
}

/** Every value of the query under each name as read by paramName, folded (foldedValue); worked out once per query. */
const foldedQueries = new WeakMap<Record<string, string[]>, Map<string, string[]>>();

function foldedQuery(query: Record<string, string[]>): Map<string, string[]> {
  let folded = foldedQueries.get(query);
  if (folded !== undefined) return folded;
  folded = new Map();
  for (const [key, values] of Object.entries(query)) {
    const name = paramName(key);
    const list = folded.get(name) ?? [];
    for (const v of values) list.push(foldedValue(v));
    folded.set(name, list);
  }
  foldedQueries.set(query, folded);
  return folded;
}

/** A rule's query condition: as written (allow rules) and as restrictive rules compare it. */
interface QueryCondition { key: string; value: string; name: string; folded: string }

// Restrictive rules read every spelling upstreams bind to the rule's parameter (paramName) and any
// of its values whatever their case; allow rules read the parameter exactly, with every value equal
// (a repeated parameter is read differently by different frameworks: first, last, all). A request
// that matches an allow only in a folded spelling is thus still caught by a deny that folds.
function queryMatches(want: readonly QueryCondition[], query: Record<string, string[]>, mode: MatchMode): boolean {
  if (want.length === 0) return true;
  if (mode === 'restrictive') {
    const folded = foldedQuery(query);
    return want.every((c) => {
      const got = folded.get(c.name) ?? [];
      return got.length > 0 && (c.value === '*' || got.includes(c.folded));
    });
  }
  return want.every(({ key, value }) => {
    const got = query[key] ?? [];
    return got.length > 0 && (value === '*' || got.every((g) => g === value));
  });
}

// Restrictive rules read keys and values whatever their case (and values whatever surrounding
// whitespace: foldedValue), as upstreams that bind names case-insensitively (ASP.NET) or parse
// enums so (Action: "EXPORT") do; allow rules exactly.
// An array of values matches a restrictive rule when any element does: a form's repeated name is
// the array of its values (upstreams keep the first, the last or all), and qs's `['export']` is
// loosely equal to 'export' in JavaScript.
function valueMatches(c: BodyCondition, v: unknown, fold: boolean): boolean {
  if (v === undefined) return false;
  if (c.equals === undefined) return true;
  if (!fold) return scalarString(v) === c.equals;
  const want = foldedValue(c.equals);
  return (Array.isArray(v) ? v : [v]).some((e) => {
    const s = scalarString(e);
    return s !== undefined && foldedValue(s) === want;
  });
}

/** A query field's values as a body field at `path` (folded), when one of its names' paths is it; an object (`{}`) when the path leads into one. */
function queryFieldAt(path: readonly string[], names: readonly string[][], values: string[]): unknown {
  for (const p of names) {
    if (p.length < path.length || !path.every((s, i) => foldedCase(s) === foldedCase(p[i] ?? ''))) continue;
    return p.length === path.length ? values : {};
  }
  return undefined;
}

/**
 * Whether a condition matches the query's fields read as body fields: Laravel's input(), PHP's
 * $_REQUEST and Rails' params read the query and the body together, so `POST /orders?action=export`
 * with `{}` is the body field action=export to them. Names are read as form fields are (fieldPaths).
 */
function queryFieldMatches(c: BodyCondition, query: Record<string, string[]>): boolean {
  for (const [name, values] of Object.entries(query)) {
    if (valueMatches(c, queryFieldAt(c.path, fieldPaths(name), values), true)) return true;
  }
  return false;
}

// Restrictive rules also read each condition in the query (queryFieldMatches): a deny of a body
// field is not escaped by sending the field in the query instead. Allow rules read the body only.
function bodyMatches(conditions: readonly BodyCondition[], req: HttpRequest, mode: MatchMode): boolean {
  const fold = mode === 'restrictive';
  return conditions.every((c) => valueMatches(c, jsonPath(req.jsonBody, c.path, fold), fold) || (fold && queryFieldMatches(c, req.query)));
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
  const query: QueryCondition[] = m.query === undefined ? [] : Object.entries(m.query).map(([key, value]) => ({ key, value, name: paramName(key), folded: foldedValue(value) }));
  const body: BodyCondition[] = (m.jsonBody ?? []).map((c, i) => {
    const path = c.path.split('.');
    if (path.some((s) => s === '')) problems.push({ field: `jsonBody[${i}].path`, message: 'empty segment in dot path' });
    return c.equals === undefined ? { path } : { path, equals: c.equals };
  });
  return {
    matches(req, mode): boolean {
      if (methods !== undefined && !methods.has(req.method)) return false;
      if (paths !== undefined && !paths.some((p) => p.matches(req.segments, mode))) return false;
      return queryMatches(query, req.query, mode) && bodyMatches(body, req, mode);
    },
  };
}
