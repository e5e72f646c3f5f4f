// Custom patterns from AccessPolicy, compiled with RE2: matching is linear in the input, so a hostile or careless
// pattern cannot hang the proxy (no backtracking; lookaround and backreferences are rejected at admission).
import RE2 from 're2';
import type { CustomPattern, SpecProblem } from './types.ts';
import { DETECTOR_NAMES } from './types.ts';
import type { Hit } from './detect.ts';

export type RE2Set = InstanceType<typeof RE2.Set>;

export interface CompiledCustom {
  name: string;
  re: RE2;
  style: 'redact' | 'hash';
  rank: number;
}

/** Longest custom match found reliably across stream chunk boundaries (README: "Streams"). */
export const MAX_CUSTOM_MATCH = 256;
export const MAX_PATTERN_LENGTH = 1024;
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const RESERVED = new Set<string>([...DETECTOR_NAMES, 'field']);

function compile(pattern: string): RE2 {
  return new RE2(pattern, 'g');
}

function patternProblem(pattern: unknown): string | null {
  if (typeof pattern !== 'string' || pattern === '') return 'must be a non-empty string in RE2 syntax';
  if (pattern.length > MAX_PATTERN_LENGTH) return `is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`;
  let re: RE2;
  try {
    re = compile(pattern);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return `is not a valid RE2 pattern (${why}). RE2 has no lookaround ((?=, (?!, (?<=, (?<!) and no backreferences (\\1); rewrite the pattern without them`;
  }
  if (re.test('')) return 'matches the empty string, so it would mask nothing useful; require at least one character (use + instead of *)';
  return null;
}

/** Problems of one customPatterns entry, with the field path of each. */
export function customPatternProblems(p: CustomPattern, path: string, seen: Set<string>): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (typeof p.name !== 'string' || !NAME.test(p.name)) {
    problems.push({ field: `${path}.name`, message: 'must start with a letter and contain only letters, digits, _ and - (at most 63 characters)' });
  } else if (RESERVED.has(p.name)) {
    problems.push({ field: `${path}.name`, message: `'${p.name}' is a built-in detector name or 'field'; choose another name` });
  } else if (seen.has(p.name.toLowerCase())) {
    problems.push({ field: `${path}.name`, message: `'${p.name}' is used by another custom pattern; names must be unique (case-insensitive)` });
  }
  if (typeof p.name === 'string') seen.add(p.name.toLowerCase());
  const why = patternProblem(p.pattern);
  if (why !== null) problems.push({ field: `${path}.pattern`, message: why });
  if (p.style !== undefined && p.style !== 'redact' && p.style !== 'hash') {
    problems.push({ field: `${path}.style`, message: `must be 'redact' or 'hash' (got '${String(p.style)}')` });
  }
  return problems;
}

export function compileCustom(p: CustomPattern, index: number, defaultStyle: 'redact' | 'hash'): CompiledCustom {
  return { name: p.name, re: compile(p.pattern), style: p.style ?? defaultStyle, rank: index + 1 };
}

/** All custom patterns at once: one RE2 pass tells whether any of them can match at all. */
export function compileSet(list: readonly CompiledCustom[]): RE2Set | null {
  if (list.length === 0) return null;
  try {
    return new RE2.Set(list.map((c) => c.re));
  } catch {
    return null; // too large for one DFA: fall back to running each pattern
  }
}

/**
 * Pushes custom matches that start before `limit`, each pattern resuming at its own position in `starts`;
 * updates `starts` to each pattern's frontier.
 */
export function scanCustom(list: readonly CompiledCustom[], set: RE2Set | null, s: string, starts: number[], limit: number, out: Hit[]): void {
  if (set !== null && !set.test(s)) return;
  list.forEach((c, i) => {
    starts[i] = scanOne(c, s, starts[i] ?? 0, limit, out);
  });
}

function scanOne(c: CompiledCustom, s: string, start: number, limit: number, out: Hit[]): number {
  c.re.lastIndex = start;
  let frontier = start;
  let m: RegExpExecArray | null;
  while ((m = c.re.exec(s)) !== null && m.index < limit) {
    if (m[0].length === 0) {
      c.re.lastIndex = m.index + 1;
      continue;
    }
    frontier = m.index + m[0].length;
    out.push({ start: m.index, end: frontier, type: c.name, detector: null, rank: c.rank });
  }
  return frontier;
}
