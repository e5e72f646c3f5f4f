// What the listener itself needs to know about a statement, beyond the policy decision: where a
// COPY ... TO STDOUT gets its columns (for masking by name) and in which format it writes, and
// whether a cursor is declared BINARY. Parsed with libpg-query (the real PostgreSQL parser),
// and only when the text mentions COPY or BINARY at all.
import { loadModule, parseSync, scanSync } from 'libpg-query';

let loaded: Promise<void> | undefined;

/** Loads the parser (WebAssembly) once; call before the first statement. */
export function loadStatementParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

export type CopyFormat = 'text' | 'csv' | 'binary';

export interface CopyPlan {
  format: CopyFormat;
  delimiter: string;
  quote: string;
  escape: string;
  nullString: string;
  header: boolean;
  /** Column names when the statement lists them, or once described. */
  columns?: string[];
  /** A query whose description gives the columns (SELECT * FROM rel, or the COPY's own query). */
  describeSql?: string;
  /**
   * The ENCODING option's value as written (every spelling: `(ENCODING 'x')`, `WITH (encoding x)`,
   * the legacy `WITH ENCODING 'x'`); absent when the statement has none (the client_encoding, UTF8).
   */
  encoding?: string;
  /** The COPY's position among the statements of its text (0: the first). */
  statement: number;
  /** A layout option (DELIMITER, QUOTE, ...) whose argument is not one the sidecar reads as PostgreSQL does: refused. */
  unreadOption?: string;
}

export interface StatementFacts {
  /** One entry per COPY ... TO STDOUT, in statement order. */
  copyOut: CopyPlan[];
  /** DECLARE ... BINARY CURSOR present. */
  binaryCursor: boolean;
  /** Prepared statements SQL `DEALLOCATE` removes: their names, or every one (`DEALLOCATE ALL`). */
  deallocates: string[] | 'all';
  /**
   * Portals the statement may drop or put another cursor under, in the server: by name (`CLOSE c`,
   * `DECLARE c`), or any (`CLOSE ALL`). A portal a transaction's end or ROLLBACK TO SAVEPOINT
   * drops is simply gone (its Execute fails upstream); only DECLARE can put a cursor under its name.
   */
  dropsPortals: string[] | 'all';
  /** Portals SQL `FETCH` or `MOVE` runs by name. */
  fetchesPortals: string[];
}

const NONE: StatementFacts = Object.freeze({ copyOut: [], binaryCursor: false, deallocates: [], dropsPortals: [], fetchesPortals: [] });

type Node = Record<string, unknown>;

function str(node: unknown): string | undefined {
  const s = (node as { String?: { sval?: string } } | undefined)?.String?.sval;
  return typeof s === 'string' ? s : undefined;
}

/** An SQL identifier, double-quoted. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * An option's argument as PostgreSQL reads it: the text defGetString gives for the string options
 * (DELIMITER 9 is the delimiter '9', QUOTE * is '*': the round 9 review of real clients found an
 * unquoted argument read as absent, the rows split at commas and a CPF filed under another column),
 * true for an option without one, a boolean for TRUE/FALSE. `undefined` for a node the sidecar does
 * not read (a type name, a list): the COPY is refused (unreadOption).
 */
function optionValue(arg: unknown): string | boolean | undefined {
  if (arg === undefined) return true;
  const a = arg as { String?: { sval?: string }; Boolean?: { boolval?: boolean }; Integer?: { ival?: number }; Float?: { fval?: string }; A_Star?: unknown };
  if (a.String !== undefined) return a.String.sval ?? '';
  if (a.Boolean !== undefined) return a.Boolean.boolval === true;
  if (a.Integer !== undefined) return String(a.Integer.ival ?? 0);
  if (a.Float !== undefined) return a.Float.fval ?? '';
  if (a.A_Star !== undefined) return '*';
  return undefined;
}

/** Options whose argument decides how the rows are split or what a NULL is written as. */
const LAYOUT_OPTIONS = new Set(['delimiter', 'quote', 'escape', 'null', 'default', 'format']);

/** The first layout option whose argument the sidecar cannot read as PostgreSQL does, if any. */
function unreadOption(options: unknown): string | undefined {
  for (const o of (options as Node[] | undefined) ?? []) {
    const d = (o as { DefElem?: { defname?: string; arg?: unknown } }).DefElem;
    const name = d?.defname?.toLowerCase();
    if (name !== undefined && LAYOUT_OPTIONS.has(name) && d?.arg !== undefined && typeof optionValue(d.arg) !== 'string') return name;
  }
  return undefined;
}

/** An option's argument as the text PostgreSQL's defGetString would read (optionValue), or a marker for any other node. */
function optionText(arg: unknown): string {
  const value = optionValue(arg);
  if (typeof value === 'string') return value;
  return arg === undefined ? '' : typeof value === 'boolean' ? String(value) : JSON.stringify(arg);
}

/**
 * The ENCODING option of a COPY, whatever the case of its name (PostgreSQL knows only `encoding`;
 * a spelling it would refuse is read too: fail closed). Of two (PostgreSQL refuses the statement),
 * one that is not UTF8 is kept.
 */
function encodingOf(options: unknown): string | undefined {
  let found: string | undefined;
  for (const o of (options as Node[] | undefined) ?? []) {
    const d = (o as { DefElem?: { defname?: string; arg?: unknown } }).DefElem;
    if (d?.defname?.toLowerCase() !== 'encoding') continue;
    const value = optionText(d.arg);
    found = found === undefined || isUtf8Output(found) ? value : found;
  }
  return found;
}

/**
 * Whether COPY writes with this ENCODING in the database's encoding (UTF8: sessions to other
 * databases are refused at startup). PostgreSQL compares encoding names without case and
 * non-alphanumerics (utf-8 = UTF8, UNICODE an alias); SQL_ASCII means no conversion at all
 * (copyto.c: need_transcoding is false for it).
 */
export function isUtf8Output(encoding: string): boolean {
  return ['utf8', 'unicode', 'sqlascii'].includes(encoding.toLowerCase().replace(/[^a-z0-9]/g, ''));
}

function isTrue(v: string | boolean | undefined): boolean {
  if (typeof v === 'boolean') return v;
  return v !== undefined && ['true', 'on', '1', 'match'].includes(v.toLowerCase());
}

function optionMap(options: unknown): Record<string, string | boolean | undefined> {
  const set: Record<string, string | boolean | undefined> = {};
  for (const o of (options as Node[] | undefined) ?? []) {
    const d = (o as { DefElem?: { defname?: string; arg?: unknown } }).DefElem;
    if (d?.defname !== undefined) set[d.defname] = optionValue(d.arg);
  }
  return set;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function stringOption(v: string | boolean | undefined, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}

function copyOptions(options: unknown, statement: number): CopyPlan {
  const set = optionMap(options);
  const encoding = encodingOf(options);
  const named = stringOption(set.format, 'text').toLowerCase();
  const format: CopyFormat = named === 'csv' || named === 'binary' ? named : 'text';
  const csv = format === 'csv';
  const quote = stringOption(set.quote, '"');
  return {
    format,
    delimiter: stringOption(set.delimiter, csv ? ',' : '\t'),
    quote,
    escape: stringOption(set.escape, quote),
    nullString: stringOption(set.null, csv ? '' : '\\N'),
    header: isTrue(set.header),
    statement,
    ...(encoding === undefined ? {} : { encoding }),
    ...optional('unreadOption', unreadOption(options)),
  };
}

/**
 * Control characters other than tab, LF and CR, which libpg-query's scanner puts unescaped into
 * its JSON (JSON.parse then throws). The text parsed, so they sit inside literals, quoted names or
 * comments, where a space (one byte too) ends no token: the offsets stay those of the text.
 */
const SCANNER_UNSAFE = /[^\t\n\r\u0020-\uffff]/g;

/** The text of `( query )` in `COPY ( query ) TO ...`, found with the scanner (balanced parentheses). */
function innerQueryText(stmt: string): string | undefined {
  let tokens: Array<{ text: string; start: number }>;
  try {
    tokens = scanSync(stmt.replace(SCANNER_UNSAFE, ' ')).tokens;
  } catch {
    return undefined; // no description: the COPY is refused when it starts (copy-refusal.ts)
  }
  const open = tokens.findIndex((t) => t.text === '(');
  if (open < 0) return undefined;
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === undefined) break;
    if (t.text === '(') depth++;
    if (t.text === ')') depth--;
    if (depth === 0) {
      const first = tokens[open + 1];
      return first === undefined ? undefined : Buffer.from(stmt, 'utf8').subarray(first.start, t.start).toString('utf8');
    }
  }
  return undefined;
}

function describeSqlFor(sql: string, copy: Node): string | undefined {
  const rel = copy.relation as { schemaname?: string; relname?: string } | undefined;
  if (rel?.relname !== undefined) return `SELECT * FROM ${rel.schemaname === undefined ? '' : `${quoteIdent(rel.schemaname)}.`}${quoteIdent(rel.relname)}`;
  return copy.query === undefined ? undefined : innerQueryText(sql);
}

/** `sql` is the COPY statement alone; `statement` its position in the text. */
function copyPlan(sql: string, copy: Node, statement: number): CopyPlan | undefined {
  if (copy.is_from === true || copy.is_program === true || copy.filename !== undefined) return undefined;
  const plan = copyOptions(copy.options, statement);
  const attlist = ((copy.attlist as unknown[] | undefined) ?? []).map(str).filter((s): s is string => s !== undefined);
  if (attlist.length > 0) {
    plan.columns = attlist;
    return plan;
  }
  const describeSql = describeSqlFor(sql, copy);
  return describeSql === undefined ? plan : { ...plan, describeSql };
}

function isBinaryCursor(stmt: Node): boolean {
  const d = stmt.DeclareCursorStmt as { options?: number } | undefined;
  return d !== undefined && ((d.options ?? 0) & 0x1) !== 0;
}

/** DEALLOCATE name (or ALL): the server forgets prepared statements the listener filed. */
function addDeallocated(facts: StatementFacts, stmt: Node): void {
  const d = stmt.DeallocateStmt as { name?: string; isall?: boolean } | undefined;
  if (d === undefined || facts.deallocates === 'all') return;
  if (d.isall === true || d.name === undefined) facts.deallocates = 'all';
  else facts.deallocates.push(d.name);
}

function dropPortal(facts: StatementFacts, name: string | undefined): void {
  if (facts.dropsPortals === 'all') return;
  if (name === undefined) facts.dropsPortals = 'all';
  else facts.dropsPortals.push(name);
}

/** CLOSE, DECLARE and FETCH/MOVE: what they do to portals by name. */
function addPortalEffects(facts: StatementFacts, stmt: Node): void {
  const close = stmt.ClosePortalStmt as { portalname?: string } | undefined;
  if (close !== undefined) dropPortal(facts, close.portalname);
  const declare = stmt.DeclareCursorStmt as { portalname?: string } | undefined;
  if (declare?.portalname !== undefined) dropPortal(facts, declare.portalname);
  const fetch = stmt.FetchStmt as { portalname?: string } | undefined;
  if (fetch?.portalname !== undefined) facts.fetchesPortals.push(fetch.portalname);
}

type ParsedStatement = { stmt?: Node; stmt_location?: number; stmt_len?: number };

function parseStatements(sql: string): ParsedStatement[] | undefined {
  try {
    return (parseSync(sql) as { stmts?: ParsedStatement[] }).stmts ?? [];
  } catch {
    return undefined;
  }
}

/** The text of one statement (parser offsets are over UTF-8 bytes; a length of 0 means "to the end"). */
function statementText(bytes: Buffer, s: ParsedStatement): string {
  const start = s.stmt_location ?? 0;
  const end = s.stmt_len === undefined || s.stmt_len === 0 ? bytes.length : start + s.stmt_len;
  return bytes.subarray(start, end).toString('utf8');
}

/**
 * A keyword of a statement with facts as a word of its own: a COPY statement starts with the
 * keyword COPY, a binary cursor is declared with the keyword BINARY, DEALLOCATE, CLOSE, DECLARE,
 * FETCH and MOVE start theirs, and PostgreSQL reads a keyword only where the letters
 * before and after it are not part of an identifier (a letter, digit, _ or $). JavaScript's \b only
 * knows [A-Za-z0-9_] as word characters, so it also matches next to $ or a non-ASCII letter (copy$1,
 * écopy): more texts are parsed, never fewer. What it skips are identifiers such as copy_id,
 * copies or binary_data (the earlier test, the letters anywhere, parsed those a third time per
 * statement, after the policy engine's parse).
 */
const MAY_HAVE_FACTS = /\b(?:copy|binary|deallocate|close|declare|fetch|move)\b/i;

/** The facts of `sql`; text that does not parse yields none (the upstream rejects it anyway). */
export function statementFacts(sql: string): StatementFacts {
  if (!MAY_HAVE_FACTS.test(sql)) return NONE;
  return parsedStatementFacts(sql);
}

/** statementFacts without the pre-check: the text is always parsed (tests compare the two). */
export function parsedStatementFacts(sql: string): StatementFacts {
  const stmts = parseStatements(sql);
  if (stmts === undefined) return NONE;
  const facts: StatementFacts = { copyOut: [], binaryCursor: false, deallocates: [], dropsPortals: [], fetchesPortals: [] };
  const bytes = Buffer.from(sql, 'utf8');
  for (const [index, s] of stmts.entries()) {
    if (s.stmt === undefined) continue;
    if (isBinaryCursor(s.stmt)) facts.binaryCursor = true;
    addDeallocated(facts, s.stmt);
    addPortalEffects(facts, s.stmt);
    const copy = s.stmt.CopyStmt as Node | undefined;
    const plan = copy === undefined ? undefined : copyPlan(statementText(bytes, s), copy, index);
    if (plan !== undefined) facts.copyOut.push(plan);
  }
  return facts;
}
