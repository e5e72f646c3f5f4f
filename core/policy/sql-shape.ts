// The numeric shape of a SQL text: the text with every numeric constant replaced by `'?'`, so
// `... WHERE aid = 12345` and `... WHERE aid = 678` share one classification (agents and pgbench
// vary the literal, and a libpg-query parse costs ~20 µs). Pure, no parser.
//
// A shared key must never join two texts the parser reads differently, so the scan refuses
// (returns undefined, and the exact text is classified) whenever its own tokenizing could
// disagree with PostgreSQL's: any quote (strings, quoted identifiers, E'', U&'', B'', X''),
// backslashes, comments, dollar quoting, and numbers that run into a letter, `_`, `$` or a second
// `.` (exponents, 0x/0o/0b, 1_000, and `1from`, which older servers split into `1 from`). Only
// plain `123` and `1.5` tokens are replaced; `$1` parameters are kept as written.
//
// A shape is only a cache key: classification results are shared through it only when the
// classifier reports that no constant's value was consulted (set_config, SET, EXPLAIN options).

const Ch = {
  Dollar: 0x24, Quote: 0x27, DoubleQuote: 0x22, Minus: 0x2d, Dot: 0x2e, Slash: 0x2f, Star: 0x2a, Backslash: 0x5c, Underscore: 0x5f,
  Zero: 0x30, Nine: 0x39,
} as const;

/** What a constant becomes: a quoted string can never be in a shaped text, so no text's own characters read as it. */
const PLACEHOLDER = "'?'";

function isDigit(c: number): boolean {
  return c >= Ch.Zero && c <= Ch.Nine;
}

/** Letters, `_` and every non-ASCII character start or continue identifiers (as in PostgreSQL's lexer). */
function isIdentStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === Ch.Underscore || c >= 0x80;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === Ch.Dollar;
}

/** End of the plain numeric token at `start` (digits, optionally `.` digits), or -1 when it is not plain. */
function numberEnd(sql: string, start: number): number {
  let i = start;
  while (isDigit(sql.charCodeAt(i))) i++;
  if (sql.charCodeAt(i) === Ch.Dot && isDigit(sql.charCodeAt(i + 1))) {
    i++;
    while (isDigit(sql.charCodeAt(i))) i++;
  }
  const next = sql.charCodeAt(i);
  return isIdentPart(next) || next === Ch.Dot ? -1 : i;
}

function refused(c: number, next: number): boolean {
  if (c === Ch.Quote || c === Ch.DoubleQuote || c === Ch.Backslash) return true;
  if (c === Ch.Minus && next === Ch.Minus) return true; // -- comment
  if (c === Ch.Slash && next === Ch.Star) return true; // /* comment */
  return false;
}

function identifierEnd(sql: string, i: number): number {
  let end = i + 1;
  while (end < sql.length && isIdentPart(sql.charCodeAt(end))) end++;
  return end;
}

/** A parameter ($1) is kept; anything else starting with $ is dollar quoting (-1). */
function parameterEnd(sql: string, i: number): number {
  if (!isDigit(sql.charCodeAt(i + 1))) return -1;
  let end = i + 1;
  while (isDigit(sql.charCodeAt(end))) end++;
  return isIdentPart(sql.charCodeAt(end)) ? -1 : end;
}

/** One token (or character) at `i`: where it ends, and whether it is a numeric constant; undefined refuses the text. */
function tokenAt(sql: string, i: number): { end: number; number: boolean } | undefined {
  const c = sql.charCodeAt(i);
  const next = sql.charCodeAt(i + 1);
  if (refused(c, next)) return undefined;
  if (isIdentStart(c)) return { end: identifierEnd(sql, i), number: false };
  const isNumber = isDigit(c) || (c === Ch.Dot && isDigit(next));
  const end = c === Ch.Dollar ? parameterEnd(sql, i) : isNumber ? numberEnd(sql, c === Ch.Dot ? i + 1 : i) : i + 1;
  return end < 0 ? undefined : { end, number: isNumber };
}

/** `sql` with its numeric constants as `'?'`, or undefined when the text is outside what this scan can read safely. */
export function numericShape(sql: string): string | undefined {
  let out = '';
  let copiedTo = 0;
  for (let i = 0; i < sql.length;) {
    const token = tokenAt(sql, i);
    if (token === undefined) return undefined;
    if (token.number) {
      out += sql.slice(copiedTo, i) + PLACEHOLDER;
      copiedTo = token.end;
    }
    i = token.end;
  }
  return copiedTo === 0 ? undefined : out + sql.slice(copiedTo);
}
