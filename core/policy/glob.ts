// Globs for table names and HTTP paths, matched without regular expressions: the classic
// two-pointer wildcard algorithm is O(pattern × text) in the worst case, so no policy can make a
// request path or a table name cost exponential time.

/** `*` matches any run of characters (including none); every other character matches itself. */
export function wildcardMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      starP = p++;
      starT = t;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * Restrictive rules (deny, requireApproval) match liberally and permissive rules (allow) strictly,
 * so that whatever the engine cannot pin down falls to the stricter outcome.
 */
export type MatchMode = 'restrictive' | 'permissive';

/** A table glob from match.sql.tables: `table` or `schema.table`, `*` matching any run of characters. */
export interface TableGlob {
  readonly source: string;
  matches(table: string, mode: MatchMode): boolean;
}

function splitQualified(name: string): { schema?: string; rel: string } {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? { rel: name } : { schema: name.slice(0, dot), rel: name.slice(dot + 1) };
}

/**
 * An unqualified glob (`customers`) matches the table part of any table, qualified or not. A
 * qualified glob (`public.customers`) matches a qualified table by its full name; an unqualified
 * table resolves through the session's search_path, which the engine cannot see, so a restrictive
 * rule matches it in any schema and a permissive rule only as `public.<name>` (the default path).
 * Restrictive rules compare case-insensitively (PostgreSQL folds unquoted names; a quoted
 * "Customers" is still the customers data), permissive rules exactly.
 */
export function compileTableGlob(source: string): TableGlob {
  const lower = source.toLowerCase();
  const glob = splitQualified(source);
  const globLower = splitQualified(lower);
  return {
    source,
    matches(table: string, mode: MatchMode): boolean {
      const restrictive = mode === 'restrictive';
      const name = restrictive ? table.toLowerCase() : table;
      const pattern = restrictive ? lower : source;
      const g = restrictive ? globLower : glob;
      const t = splitQualified(name);
      if (g.schema === undefined) return wildcardMatch(g.rel, t.rel) || wildcardMatch(pattern, name);
      if (t.schema !== undefined) return wildcardMatch(pattern, name);
      return restrictive ? wildcardMatch(g.rel, t.rel) : wildcardMatch(pattern, `public.${name}`);
    },
  };
}

/** Checks a table glob for what the schema's string type cannot say. Returns a problem or undefined. */
export function tableGlobProblem(source: string): string | undefined {
  const parts = source.split('.');
  if (parts.length > 2) return 'use table or schema.table (at most one dot)';
  if (parts.some((p) => p === '')) return 'empty schema or table part';
  return undefined;
}

type Segment = { kind: 'any' } | { kind: 'one'; pattern: string };

/** A path glob from match.http.paths: `*` matches within one segment, a `**` segment any number of segments (including none). */
export interface PathGlob {
  readonly source: string;
  matches(segments: readonly string[], mode: MatchMode): boolean;
}

export function pathGlobProblem(source: string): string | undefined {
  if (!source.startsWith('/')) return 'must start with /';
  const segs = source.split('/').slice(1);
  if (segs.some((s) => s.includes('**') && s !== '**')) return '** must be a whole segment (/a/**/b)';
  if (segs.slice(0, -1).some((s) => s === '')) return 'empty segment (//)';
  return undefined;
}

function pathSegments(source: string): string[] {
  const segs = source.split('/').slice(1);
  // "/" and a trailing slash denote no extra segment: request paths are normalized the same way.
  if (segs.length > 0 && segs[segs.length - 1] === '') segs.pop();
  return segs;
}

/**
 * A path segment as restrictive rules compare it: lower case, and outside ASCII in NFKC, so the
 * spellings one file has on a host whose file system folds case or Unicode forms (ext4 casefold,
 * macOS APFS/HFS+: `relato\u0301rio` and `relatório`, fullwidth `ｓｅｃｒｅｔ`) meet one deny glob.
 * ASCII, most paths, skips the normalization.
 */
function foldSegment(text: string): string {
  const lower = text.toLowerCase();
  // eslint-disable-next-line no-control-regex -- ASCII is the range tested
  return /^[\u0000-\u007f]*$/.test(lower) ? lower : lower.normalize('NFKC').toLowerCase();
}

function matchSegments(pattern: readonly Segment[], path: readonly string[], fold: boolean): boolean {
  // reach[j]: the pattern prefix seen so far can consume exactly path[0..j).
  let reach: boolean[] = path.map(() => false).concat(false);
  reach[0] = true;
  for (const seg of pattern) {
    const next: boolean[] = reach.map(() => false);
    let any = false;
    for (let j = 0; j <= path.length; j++) {
      if (seg.kind === 'any') {
        any = any || reach[j] === true;
        next[j] = any;
      } else if (reach[j] === true && j < path.length) {
        const text = fold ? foldSegment(path[j] ?? '') : (path[j] ?? '');
        next[j + 1] = wildcardMatch(seg.pattern, text);
      }
    }
    reach = next;
  }
  return reach[path.length] === true;
}

export function compilePathGlob(source: string): PathGlob {
  const exact: Segment[] = pathSegments(source).map((s) => (s === '**' ? { kind: 'any' } : { kind: 'one', pattern: s }));
  const folded: Segment[] = exact.map((s) => (s.kind === 'any' ? s : { kind: 'one', pattern: foldSegment(s.pattern) }));
  return {
    source,
    // Restrictive rules ignore case and Unicode forms: some upstreams route /Customers/Export like
    // /customers/export, and some file systems fold both (foldSegment).
    matches: (segments, mode) => (mode === 'restrictive' ? matchSegments(folded, segments, true) : matchSegments(exact, segments, false)),
  };
}
