// Texts whose split into statements depends on how string literals, identifiers and comments are
// lexed: backslashes in '' and E'' strings, U&'' with UESCAPE, dollar quoting, nested comments,
// string continuation across newlines. Each is read under the pinned settings (pg-settings.ts):
// `statements` is how many statements PostgreSQL runs, and `values` the text of every string
// constant of the text's SELECT lists, in order, as the server returns them.
// core/policy/corpus.test.ts checks the classifier against these numbers;
// sidecar/test/pg-classification.int.test.ts checks the real server against the classifier.
// Most of them hide a `DELETE FROM orders` that a server with standard_conforming_strings = off
// (or a multibyte client encoding) would run as a second statement.

export interface LexingEntry {
  sql: string;
  /** Statements PostgreSQL runs under the pinned settings. */
  statements: number;
  note: string;
}

const HIDDEN = "' ; DELETE FROM orders; --'";

export const LEXING_CORPUS: readonly LexingEntry[] = [
  { sql: `SELECT 'a\\' AS x, ${HIDDEN}`, statements: 1, note: 'issue 18: a backslash is an ordinary character in a standard string' },
  { sql: `SELECT 'a\\\\' AS x, ${HIDDEN}`, statements: 1, note: 'two backslashes' },
  { sql: `SELECT '\\' AS x, ${HIDDEN} AS y`, statements: 1, note: 'a lone backslash' },
  { sql: `SELECT E'\\\\' AS x, ${HIDDEN}`, statements: 1, note: 'E string: an escaped backslash' },
  { sql: `SELECT E'\\' ; DELETE FROM orders; --' AS x`, statements: 1, note: "E string: \\' escapes the quote" },
  { sql: `SELECT e'\\x27; DELETE FROM orders; --' AS x`, statements: 1, note: 'E string: \\x27 is a quote character, not a terminator' },
  { sql: `SELECT E'\\047' AS x, ${HIDDEN}`, statements: 1, note: 'E string: octal quote' },
  { sql: `SELECT U&'\\0027' AS x, ${HIDDEN}`, statements: 1, note: 'U& string: an escaped quote character' },
  { sql: `SELECT U&'\\005C' AS x, ${HIDDEN}`, statements: 1, note: 'U& string: an escaped backslash character' },
  { sql: `SELECT U&'!0027!005C' UESCAPE '!' AS x, ${HIDDEN}`, statements: 1, note: 'U& string with UESCAPE' },
  { sql: `SELECT N'a\\' AS x, ${HIDDEN}`, statements: 1, note: 'national character literal' },
  { sql: `SELECT 'it''s' AS x, ${HIDDEN}`, statements: 1, note: 'doubled quote' },
  { sql: `SELECT $$\\$$ AS x, ${HIDDEN}`, statements: 1, note: 'backslash in a dollar-quoted string' },
  { sql: `SELECT $a$ ' $a$ AS x, ${HIDDEN}`, statements: 1, note: 'quote in a tagged dollar-quoted string' },
  { sql: `SELECT $a$ $b$ ' $a$ AS x, ${HIDDEN}`, statements: 1, note: 'another tag inside a dollar-quoted string' },
  { sql: `SELECT 'a' /* ' */ AS x, ${HIDDEN}`, statements: 1, note: 'a quote in a comment' },
  { sql: `SELECT 'a' /* /* ' */ ; DELETE FROM orders; */ AS x`, statements: 1, note: 'nested comments hide a quote and a statement' },
  { sql: `SELECT 'a' -- '\n AS x, ${HIDDEN}`, statements: 1, note: 'a quote in a line comment' },
  { sql: `SELECT 'a\\'\n'; DELETE FROM orders; --' AS x`, statements: 1, note: 'string continuation across a newline' },
  { sql: `SELECT 1 AS "a\\", ${HIDDEN}`, statements: 1, note: 'a backslash ending a quoted identifier' },
  { sql: `SELECT U&"\\0027" AS x FROM (SELECT 1 AS "'") t, LATERAL (SELECT ${HIDDEN} AS y) u`, statements: 1, note: 'U& identifier spelling a quote' },
  { sql: `SELECT B'0101' AS b, X'1F' AS h, ${HIDDEN}`, statements: 1, note: 'bit-string literals' },
  { sql: `SELECT 'ação\\' AS x, ${HIDDEN}`, statements: 1, note: 'multibyte UTF-8 before the backslash' },
  { sql: `SELECT '縷\\' AS x, ${HIDDEN}`, statements: 1, note: 'a CJK character whose SJIS/BIG5 encodings end in 0x5C' },
  { sql: `SELECT 'a\\'; SELECT ' ; DELETE FROM orders; --'`, statements: 2, note: 'two harmless statements' },
  { sql: `SELECT 1; SELECT 'x;y'; SELECT $$;$$`, statements: 3, note: 'semicolons inside literals' },
];
