// What an approval of a PostgreSQL statement binds. An ApprovalRequest binds, and shows the
// approver, one command text (docs/approvals.md): everything that decides what runs must be in that
// text, or the statement cannot be approved at all.
//  - The database, when the client chooses it (the policy names no spec.target.database): the
//    same text in another database of the server is another command, so the text carries a first
//    line naming it (round 9 review, finding 3).
//  - Parameter values: an extended-protocol statement is decided at Parse, before its Bind brings
//    the values, and a prepared statement runs again with other ones; SQL `EXECUTE s(...)` runs a
//    statement prepared earlier whose text is not in its own. Such statements are refused when a
//    rule would hold them (round 9 review, finding 2): inline the values and run the statement.
import { parseSync, scanSync } from 'libpg-query';
import { MAX_SQL_TEXT, tooSlowToLex } from '../../../core/policy/sql.ts';
import { SERVER_NAME_BYTES } from './server-names.ts';

/**
 * `s` as a double-quoted string in which every character that could mislead a reader is escaped:
 * `"` and `\`, and control, format, separator and unassigned characters (a newline in a database
 * name would otherwise start a line of its own in what the approver reads). One-to-one: the quoted
 * form ends at the first unescaped `"`.
 */
export function quotedForApprover(s: string): string {
  return `"${s.replace(/["\\]|\p{C}|(?! )\p{Z}/gu, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`))}"`;
}

/**
 * The database as the server opens it: PostgreSQL truncates the startup packet's database name to
 * NAMEDATALEN - 1 bytes, so two names sharing those bytes are one database, shown as the server
 * names it. (Names are compared exactly otherwise: case and quotes are part of a startup name.)
 */
export function serverDatabase(database: string): string {
  const bytes = Buffer.from(database, 'utf8');
  return bytes.length <= SERVER_NAME_BYTES ? database : bytes.subarray(0, SERVER_NAME_BYTES).toString('utf8');
}

/** The first line of a command bound to `database`: an SQL comment, so the text still runs as shown. */
export function databaseLine(database: string): string {
  return `-- database: ${quotedForApprover(serverDatabase(database))}\n`;
}

/**
 * The text a statement is decided, recorded and approved as: the SQL, preceded by the database
 * line when the session's database is the client's choice (`database` set). The line comes first
 * and its name is quoted, so no SQL text and database name give the text another pair does.
 */
export function boundCommandText(sql: string, database: string | undefined): string {
  return database === undefined ? sql : databaseLine(database) + sql;
}

/** How to get such a statement approved: part of every refusal. */
const FIX = 'to have it approved, write the values into the statement text and send it without parameters or EXECUTE (a simple query: psql -c, or the driver\'s query without values), so that the approver sees what runs';
const PARAMETERS = `the statement has parameters ($1, $2, ...) whose values are not part of the text an ApprovalRequest shows and binds (they arrive after the decision, and a prepared statement runs again with others); ${FIX}`;
const EXECUTE = `SQL EXECUTE runs a statement prepared earlier, whose text is not part of the EXECUTE an ApprovalRequest shows and binds; ${FIX}`;

/**
 * Whether a comment in the text (as PostgreSQL's own scanner reads comments: nested blocks too)
 * names a database. Under a policy that pins the database the text has no line of the sidecar's,
 * and the agent's own `-- database: "staging"` read to the approver as where the statement runs
 * (round 9b review); an unpinned policy's text sent verbatim after a pin matched that approval too.
 * Text that cannot be scanned, or is past the engine's bound, counts.
 */
/**
 * Text the scanner is not run on, and counts: past the policy engine's bound (refused unread:
 * scanning megabytes to refuse them would cost more), or holding runs of operator characters the
 * lexer reads in quadratic time (an empty comment repeated 64,000 times held the event loop for a
 * minute before the policy engine refused the text; round 16f). The engine refuses both.
 */
function unscannable(sql: string): boolean {
  return sql.length > MAX_SQL_TEXT || tooSlowToLex(sql);
}

function commentNamesDatabase(sql: string): boolean {
  if (!/database/i.test(sql) || !/--|\/\*/.test(sql)) return false;
  if (unscannable(sql)) return true;
  try {
    return scanSync(sql).tokens.some((t) => (t.tokenName === 'SQL_COMMENT' || t.tokenName === 'C_COMMENT') && /database/i.test(t.text));
  } catch {
    return true;
  }
}

const LOOKALIKE = 'the statement has a comment naming a database, which an approver would read as the database it runs in (the sidecar writes that line itself when the client chooses the database); remove the comment and send the statement again';

/**
 * Whether the scanner finds a parameter reference (`$1`) outside literals and comments; text it
 * cannot scan counts as having one, and so does text past the policy engine's bound (which refuses
 * it unread: scanning megabytes to refuse them would cost more).
 */
function hasParameterReference(sql: string): boolean {
  // Every PARAM token is `$` and a digit: most statements are answered without scanning.
  if (!/\$\d/.test(sql)) return false;
  if (unscannable(sql)) return true;
  try {
    return scanSync(sql).tokens.some((t) => t.tokenName === 'PARAM');
  } catch {
    return true;
  }
}

function containsNode(node: unknown, type: string): boolean {
  if (Array.isArray(node)) return node.some((n) => containsNode(n, type));
  if (typeof node !== 'object' || node === null) return false;
  return Object.entries(node).some(([k, v]) => k === type || containsNode(v, type));
}

/** Whether the text runs SQL EXECUTE anywhere (EXPLAIN EXECUTE, CREATE TABLE AS EXECUTE); text that does not parse (or is past the engine's bound) counts when it says EXECUTE. */
function runsExecute(sql: string): boolean {
  if (!/execute/i.test(sql)) return false;
  if (unscannable(sql)) return true;
  try {
    return containsNode(parseSync(sql), 'ExecuteStmt');
  } catch {
    return true;
  }
}

/**
 * Why an approval could not bind what `sql` runs (the `unapprovable` reason the session denies a
 * held statement with), or undefined when the text is all there is. `declaredParameters` is the
 * number of parameter types the Parse declared: values bound for them count even if the text never
 * references them (fail closed).
 */
export function unapprovableReason(sql: string, declaredParameters = 0): string | undefined {
  if (commentNamesDatabase(sql)) return LOOKALIKE;
  if (declaredParameters > 0 || hasParameterReference(sql)) return PARAMETERS;
  if (runsExecute(sql)) return EXECUTE;
  return undefined;
}
