// SQL classification with the real PostgreSQL parser (libpg-query, WASM). Never regular expressions
// on the text: comments and string literals are tokens the parser has already set aside, so a
// comment saying "DROP TABLE" is harmless, and an identifier written as U&"d\0061ta" is "data".
//
// Every statement's parse tree is walked generically and iteratively (no recursion limit to hit):
// tables, function calls and traits are found wherever they sit — subqueries, CTEs, default
// expressions, function arguments, COPY queries, EXPLAIN targets, PREPARE bodies.
//
// Lexing assumption: the text is read as PostgreSQL reads it with the settings in pg-settings.ts
// (standard_conforming_strings = on, client_encoding = UTF8, backslash_quote = safe_encoding).
// The sidecar pins them at startup and ends a session whose server reports another value; every
// statement form that would change them is refused here. Under these settings the classifier and
// the server split a text into the same statements (sidecar/test/pg-classification.int.test.ts
// checks it against the real server).
import { SQL_TRAITS } from '../../crds/types.ts';
import { isPinnedValue, PINNED_SERVER_SETTINGS, settingClass } from './pg-settings.ts';
import {
  EXTENSION_TRAITS, KIND_BY_NODE, LARGE_OBJECT_TABLES, NODE_TRAITS, OBJECT_TYPE_KEYS, OBJECT_TYPE_TRAITS, REMOTE_NODES, ROLE_CHANGE_NODES,
  SETTINGS_VIEWS, functionTraits, isSensitiveFunction,
} from './sql-catalog.ts';
import { arr, isObj, obj, str, type Json } from './parse-tree.ts';
import { numericShape } from './sql-shape.ts';
import { CACHEABLE_SQL_LENGTH, TextCache, textDigest } from './text-cache.ts';
import type { SqlStatementKind, SqlTrait, StatementInfo } from './types.ts';


/**
 * Input the engine cannot follow: a syntax error, a statement type it does not know
 * (`unsupported`), or a statement it refuses whatever the policy says (`refused`): one that
 * changes a setting the classifier's reading of SQL text depends on (pg-settings.ts), or whose
 * effect on settings it cannot know.
 */
export class SqlParseError extends Error {
  /** 0-based character offset into the SQL text (0 when PostgreSQL reports no position). */
  readonly position: number;
  readonly reason: 'syntax' | 'unsupported' | 'refused';
  constructor(message: string, position: number, reason: 'syntax' | 'unsupported' | 'refused') {
    super(message);
    this.name = 'SqlParseError';
    this.position = position;
    this.reason = reason;
  }
}

type Parser = typeof import('libpg-query');
let parser: Parser | undefined;

/**
 * Loads the WASM parser once; classifySql and evaluate are synchronous afterwards. Imported here
 * rather than at the top: the parser costs ~11 MB of memory, which a process serving only HTTP
 * targets never needs.
 */
export async function initPolicyEngine(): Promise<void> {
  if (parser !== undefined) return;
  const lib = await import('libpg-query');
  await lib.loadModule();
  parser = lib;
}

export function policyEngineReady(): boolean {
  return parser !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Small accessors for the parser's JSON (fields at their default value are omitted).

/** [{String: {sval}}...] → ['a', 'b'] */
function names(list: unknown): string[] {
  return arr(list).map((n) => str(obj(obj(n)?.String)?.sval) ?? '');
}

function field(node: Json, key: string): Json | undefined {
  return obj(node[key]);
}

function aConstValue(c: Json): string | undefined {
  const sval = field(c, 'sval');
  if (sval !== undefined) return str(sval.sval) ?? '';
  const ival = field(c, 'ival');
  if (ival !== undefined) return String(typeof ival.ival === 'number' ? ival.ival : 0);
  const boolval = field(c, 'boolval');
  if (boolval !== undefined) return boolval.boolval === true ? 'true' : 'false';
  return str(field(c, 'fval')?.fval);
}

/** The constant an A_Const (or a bare String) stands for, as PostgreSQL would print it; undefined if not a constant. */
function constValue(node: unknown): string | undefined {
  const n = obj(node) ?? {};
  const c = field(n, 'A_Const');
  return c === undefined ? str(field(n, 'String')?.sval) : aConstValue(c);
}

// ---------------------------------------------------------------------------------------------
// The walk.

interface Ctx {
  /** CTE names visible here: an unqualified FROM item with one of these names is not a table. */
  readonly ctes: CteScope | undefined;
  /** False under plain EXPLAIN, CREATE VIEW and function bodies: the statement is not run now. */
  readonly executing: boolean;
  /** True for the node that is directly a CTE's query. */
  readonly cteQuery: boolean;
}

/**
 * The CTE names of one WITH, of which the first `visible` can be seen, chained to the enclosing
 * WITHs. Shared, never copied: copying the visible names for each CTE made a long WITH list cost
 * quadratic time (4,000 CTEs took seconds to classify, blocking every session of the sidecar).
 */
interface CteScope { readonly names: ReadonlyMap<string, number>; readonly visible: number; readonly parent: CteScope | undefined }

function isCte(scope: CteScope | undefined, name: string): boolean {
  for (let s = scope; s !== undefined; s = s.parent) {
    const i = s.names.get(name);
    if (i !== undefined && i < s.visible) return true;
  }
  return false;
}

function cteIndex(names: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  names.forEach((n, i) => {
    if (!m.has(n)) m.set(n, i);
  });
  return m;
}

interface Frame { readonly value: unknown; readonly key: string; readonly ctx: Ctx }

/** Per-key changes for a node's children: a different `executing`, or skip. */
type Plan = Record<string, 'skip' | { executing: boolean }>;

class Acc {
  readonly traits = new Set<SqlTrait>();
  readonly tables = new Set<string>();
  readonly functions = new Set<string>();
  /** Why the statement is refused whatever the policy says (the first reason found). */
  hazard: string | undefined;
  /** A constant's value decided something (SET, set_config, EXPLAIN options): the result holds for this exact text only. */
  readsConstants = false;
  add(...traits: readonly SqlTrait[]): void {
    for (const t of traits) this.traits.add(t);
  }
  refuse(reason: string): void {
    this.hazard ??= reason;
  }
}

/** Keys under which a RangeVar is read (and may name a CTE). Anywhere else it is a real table. */
const READ_KEYS: ReadonlySet<string> = new Set(['fromClause', 'usingClause', 'sourceRelation', 'larg', 'rarg']);

/** Typed (unwrapped) fields of the parse tree that matter to the walk; `Node *` fields come wrapped as {Type: {...}}. */
const UNWRAPPED: ReadonlyMap<string, string> = new Map([['larg', 'SelectStmt'], ['rarg', 'SelectStmt'], ['funccall', 'FuncCall'], ['setstmt', 'VariableSetStmt']]);

/** The single key of a wrapped node ({Type: {...}}), or undefined. */
function wrapperKey(v: Json): string | undefined {
  let only: string | undefined;
  for (const k in v) {
    if (only !== undefined) return undefined;
    only = k;
  }
  const c = only?.charCodeAt(0) ?? 0;
  return c >= 65 && c <= 90 ? only : undefined; // A-Z: node type names are capitalized, fields are not
}

function nodeOf(v: Json, key: string): [string, Json] {
  const only = wrapperKey(v);
  if (only !== undefined) {
    const inner = obj(v[only]);
    if (inner !== undefined) return [only, inner];
  }
  if (typeof v.relname === 'string') return ['RangeVar', v];
  return [UNWRAPPED.get(key) ?? '', v];
}

// --- unbounded writes ----------------------------------------------------------------------------

function qualifierOf(fields: string[]): string {
  return fields.slice(0, -1).join('.');
}

/**
 * A column of the target row: one qualified with the target's name or alias anywhere, or an
 * unqualified one outside subqueries. (In UPDATE ... FROM c WHERE c.id = 1 the column is c's: every
 * target row is still written.)
 */
function columnOfTarget(fields: string[], inSub: boolean, targets: ReadonlySet<string>): boolean {
  if (fields.length < 2) return !inSub;
  const qualifier = qualifierOf(fields);
  return targets.has(qualifier) || targets.has(qualifier.slice(qualifier.lastIndexOf('.') + 1));
}

function referencesTarget(root: unknown, targets: ReadonlySet<string>): boolean {
  const stack: Array<[unknown, boolean]> = [[root, false]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, inSub] = item;
    if (Array.isArray(v)) {
      for (const x of v) stack.push([x, inSub]);
      continue;
    }
    if (!isObj(v)) continue;
    const col = obj(v.ColumnRef);
    if (col !== undefined && columnOfTarget(names(col.fields), inSub, targets)) return true;
    const sub = inSub || v.SelectStmt !== undefined;
    for (const x of Object.values(v)) stack.push([x, sub]);
  }
  return false;
}

/**
 * A WHERE bounds the rows written when it references a column of the target (so `WHERE true`,
 * `WHERE 1=1` and `WHERE (SELECT true)` do not), an AND bounds when any side does, and an OR
 * only when every side does (`WHERE id = 5 OR true` is unbounded).
 */
function isBounded(where: unknown, targets: ReadonlySet<string>): boolean {
  const w = obj(where);
  if (w === undefined) return false;
  const bool = obj(w.BoolExpr);
  if (bool?.boolop === 'AND_EXPR') return arr(bool.args).some((a) => isBounded(a, targets));
  if (bool?.boolop === 'OR_EXPR') return arr(bool.args).every((a) => isBounded(a, targets));
  if (w.CurrentOfExpr !== undefined) return true;
  return referencesTarget(w, targets);
}

function targetNames(relation: unknown): Set<string> {
  const r = obj(relation);
  const rel = str(r?.relname) ?? '';
  const schema = str(r?.schemaname);
  const alias = str(obj(r?.alias)?.aliasname);
  const out = new Set([rel]);
  if (schema !== undefined) out.add(`${schema}.${rel}`);
  if (alias !== undefined) out.add(alias);
  return out;
}

/** MERGE: WHEN MATCHED bounded by ON or its AND condition; WHEN NOT MATCHED BY SOURCE only by its own AND condition. */
function mergeUnbounded(node: Json): boolean {
  const targets = targetNames(node.relation);
  const joinBounded = isBounded(node.joinCondition, targets);
  return arr(node.mergeWhenClauses).some((c) => {
    const clause = obj(obj(c)?.MergeWhenClause) ?? {};
    if (clause.commandType !== 'CMD_UPDATE' && clause.commandType !== 'CMD_DELETE') return false;
    const condBounded = isBounded(clause.condition, targets);
    return clause.matchKind === 'MERGE_WHEN_MATCHED' ? !(joinBounded || condBounded) : !condBounded;
  });
}

// --- node handlers -------------------------------------------------------------------------------

/**
 * TABLESAMPLE wraps its table (RangeTableSample.relation): the table is read as if it stood in
 * FROM itself, so it is handled here with the key it would have there, and not walked again.
 */
function onTableSample(node: Json, frame: Frame, acc: Acc): Plan | undefined {
  const [type, relation] = nodeOf(obj(node.relation) ?? {}, 'relation');
  if (type !== 'RangeVar') return undefined;
  genericChecks(relation, acc);
  onRangeVar(relation, { ...frame, key: 'fromClause' }, acc);
  return { relation: 'skip' };
}

function onRangeVar(node: Json, frame: Frame, acc: Acc): Plan | undefined {
  const rel = str(node.relname) ?? '';
  const schema = str(node.schemaname);
  const readPosition = READ_KEYS.has(frame.key);
  if (schema === undefined && readPosition && isCte(frame.ctx.ctes, rel)) return undefined;
  acc.tables.add(schema === undefined ? rel : `${schema}.${rel}`);
  if (LARGE_OBJECT_TABLES.has(rel.toLowerCase())) acc.add('largeObject');
  if (readPosition && frame.ctx.executing) acc.add('readsData');
  return undefined;
}

/**
 * What changing setting `name` to `value` (undefined: a reset to a default, or a value computed at
 * run time) means: a pinned setting away from its pinned value is refused, the others are traits.
 * `form` names the statement form in the refusal.
 */
function checkSetting(name: string, value: string | undefined, form: string, acc: Acc): void {
  const n = name.toLowerCase();
  switch (settingClass(n)) {
    case 'pinned':
      if (!isPinnedValue(n, value)) {
        const what = value === undefined ? 'to a default or a value computed at run time' : 'to another value';
        acc.refuse(`${form} sets ${n} ${what}; ${n} decides how the server reads SQL text, and the policy engine reads it as the server does only with ${n} = ${PINNED_SERVER_SETTINGS[n] ?? ''}`);
      }
      return;
    case 'role':
      acc.add('roleChange');
      return;
    case 'security':
      acc.add('securitySetting');
      return;
    case 'timeout':
      acc.add('timeoutChange');
      return;
    case 'other':
      return;
  }
}

/** set_config(setting_name, new_value, is_local), positional or with named arguments. */
function setConfigArgs(args: unknown[]): [unknown, unknown] {
  let name = args[0];
  let value = args[1];
  for (const a of args) {
    const named = obj(obj(a)?.NamedArgExpr);
    if (named?.name === 'setting_name') name = named.arg;
    if (named?.name === 'new_value') value = named.arg;
  }
  return [name, value];
}

function onFuncCall(node: Json, _frame: Frame, acc: Acc): Plan | undefined {
  const parts = names(node.funcname);
  const last = parts[parts.length - 1] ?? '';
  const args = arr(node.args);
  acc.functions.add(parts.join('.'));
  acc.add(...functionTraits(last, args.length));
  sequenceWritten(last, args, acc);
  if (last.toLowerCase() === 'set_config') {
    acc.readsConstants = true;
    const [nameArg, valueArg] = setConfigArgs(args);
    const setting = constValue(nameArg);
    if (setting === undefined) {
      acc.add('roleChange');
      acc.refuse('set_config() with a setting name computed at run time could change any setting, the pinned ones included; name the setting with a string constant');
    } else {
      checkSetting(setting, constValue(valueArg), 'set_config()', acc);
    }
  }
  return undefined;
}

/**
 * nextval('orders_id_seq') and setval(...) write the sequence they name: with a constant name it is
 * listed among the statement's tables, so a `tables` rule sees it (a name computed at run time
 * leaves only the writesData trait).
 */
function sequenceWritten(fn: string, args: unknown[], acc: Acc): void {
  const n = fn.toLowerCase();
  if (n !== 'nextval' && n !== 'setval') return;
  const first = obj(args[0]);
  // nextval('orders_id_seq'::regclass), as column defaults spell it.
  const named = constValue(field(first ?? {}, 'TypeCast')?.arg ?? first);
  if (named === undefined || named === '') return;
  const parts = named.split('.').map((p) => (p.startsWith('"') && p.endsWith('"') ? p.slice(1, -1) : p.toLowerCase()));
  acc.tables.add(parts.slice(-2).join('.'));
}

/** Attribute notation calls one-argument functions: ('/etc/passwd'::text).pg_read_file is pg_read_file('/etc/passwd'). */
function onAttributeNames(attrs: string[], acc: Acc): void {
  for (const a of attrs) {
    if (!isSensitiveFunction(a)) continue;
    acc.functions.add(a);
    acc.add(...functionTraits(a, 1));
  }
}

const SET_FORMS: Readonly<Record<string, string>> = {
  VAR_SET_VALUE: 'SET', VAR_SET_DEFAULT: 'SET ... TO DEFAULT', VAR_SET_CURRENT: 'SET ... FROM CURRENT', VAR_RESET: 'RESET',
};

/** SET, SET LOCAL/SESSION, RESET, RESET ALL; also the SET clauses of ALTER ROLE/DATABASE/SYSTEM and CREATE/ALTER FUNCTION. */
function onVariableSet(node: Json, _frame: Frame, acc: Acc): Plan | undefined {
  acc.readsConstants = true;
  const kind = str(node.kind) ?? '';
  if (kind === 'VAR_RESET_ALL') {
    acc.refuse('RESET ALL returns every setting, the pinned ones included, to role, database or server defaults the policy engine cannot see; reset settings by name');
    return undefined;
  }
  const name = str(node.name);
  if (name === undefined) return undefined;
  const args = arr(node.args);
  // SET name = a, b is a list value: never a pinned setting's single value.
  const value = kind === 'VAR_SET_VALUE' && args.length === 1 ? constValue(args[0]) : undefined;
  checkSetting(name, value, SET_FORMS[kind] ?? 'SET', acc);
  return undefined;
}

/**
 * BEGIN/START TRANSACTION READ WRITE, SET TRANSACTION READ WRITE and SET SESSION CHARACTERISTICS
 * AS TRANSACTION READ WRITE override default_transaction_read_only as SET would (READ ONLY only
 * narrows what the session may do).
 */
function onTransactionMode(node: Json, _frame: Frame, acc: Acc): Plan | undefined {
  if (node.defname !== 'transaction_read_only') return undefined;
  acc.readsConstants = true;
  if (constValue(node.arg) !== '1') acc.add('securitySetting');
  return undefined;
}

/**
 * Two-phase commit acts beyond the session: PREPARE TRANSACTION leaves the transaction, its locks
 * and writes, held after the agent disconnects, and COMMIT/ROLLBACK PREPARED finish a transaction any
 * session prepared (the application's included). Only with max_prepared_transactions > 0 on the server.
 */
const TWO_PHASE: ReadonlySet<string> = new Set(['TRANS_STMT_PREPARE', 'TRANS_STMT_COMMIT_PREPARED', 'TRANS_STMT_ROLLBACK_PREPARED']);

function onTwoPhase(node: Json, _frame: Frame, acc: Acc): Plan | undefined {
  if (TWO_PHASE.has(str(node.kind) ?? '')) acc.add('serverControl');
  return undefined;
}

function truthyOption(arg: Json | undefined): boolean {
  if (arg === undefined) return true; // EXPLAIN (ANALYZE) and EXPLAIN ANALYZE
  const s = str(field(arg, 'String')?.sval);
  if (s !== undefined) return !['false', 'off'].includes(s.toLowerCase());
  const i = field(arg, 'Integer');
  if (i !== undefined) return typeof i.ival === 'number' && i.ival !== 0;
  const b = field(arg, 'Boolean');
  if (b !== undefined) return b.boolval === true;
  return true; // anything else: assume it runs
}

function explainAnalyzes(options: unknown): boolean {
  return arr(options).some((o) => {
    const d = obj(obj(o)?.DefElem);
    return d?.defname === 'analyze' && truthyOption(obj(d.arg));
  });
}

function onExplain(node: Json, frame: Frame, acc: Acc): Plan {
  acc.readsConstants = true;
  const analyze = explainAnalyzes(node.options);
  if (analyze) acc.add('explainAnalyze');
  // Plain EXPLAIN plans without running: the target's writes do not happen (its function calls are still checked).
  return { query: { executing: analyze && frame.ctx.executing } };
}

/** The name column of the updated view: name, or qualified with the view's name or alias. */
function isNameColumn(node: unknown, targets: ReadonlySet<string>): boolean {
  const fields = names(obj(obj(node)?.ColumnRef)?.fields);
  if (fields[fields.length - 1] !== 'name') return false;
  if (fields.length === 1) return true;
  const qualifier = qualifierOf(fields);
  return targets.has(qualifier) || targets.has(qualifier.slice(qualifier.lastIndexOf('.') + 1));
}

/** The lower-cased constants of `nodes`; undefined unless there is at least one and all are constants. */
function constantSet(nodes: unknown[]): Set<string> | undefined {
  const values = nodes.map(constValue);
  return values.length > 0 && values.every((v) => v !== undefined) ? new Set(values.map((v) => v.toLowerCase())) : undefined;
}

function intersect(a: Set<string> | undefined, b: Set<string> | undefined): Set<string> | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : new Set([...a].filter((x) => b.has(x)));
}

/** name = 'x', 'x' = name, name IN ('x', 'y'); undefined for any other expression. */
function namedByComparison(e: Json, targets: ReadonlySet<string>): Set<string> | undefined {
  if (names(e.name).join('.') !== '=') return undefined;
  if (e.kind === 'AEXPR_IN') return isNameColumn(e.lexpr, targets) ? constantSet(arr(obj(obj(e.rexpr)?.List)?.items ?? e.rexpr)) : undefined;
  if (e.kind !== 'AEXPR_OP') return undefined;
  if (isNameColumn(e.lexpr, targets)) return constantSet([e.rexpr]);
  return isNameColumn(e.rexpr, targets) ? constantSet([e.lexpr]) : undefined;
}

/**
 * The settings a WHERE on pg_settings can match, when it says so with constants (name = 'x',
 * 'x' = name, name IN ('x', 'y')), through AND (any side that names them bounds the rows) and OR
 * (every side must). Anything else (LIKE, a subquery, no WHERE) is undefined: the rows are unknown.
 */
function settingNamesIn(where: unknown, targets: ReadonlySet<string>): Set<string> | undefined {
  const w = obj(where);
  const bool = obj(w?.BoolExpr);
  if (bool === undefined) {
    const e = obj(w?.A_Expr);
    return e === undefined ? undefined : namedByComparison(e, targets);
  }
  const sides = arr(bool.args).map((a) => settingNamesIn(a, targets));
  if (bool.boolop === 'AND_EXPR') return sides.reduce<Set<string> | undefined>(intersect, undefined);
  if (bool.boolop !== 'OR_EXPR' || sides.some((x) => x === undefined)) return undefined;
  return new Set(sides.flatMap((x) => [...(x ?? [])]));
}

/**
 * UPDATE pg_settings is set_config() in disguise: the view's rule calls
 * set_config(name, setting, false) for each row matched. Classified as those calls; when the rows
 * cannot be known from the text, refused like set_config() with a computed name.
 */
function onSettingsViewWrite(type: string, node: Json, acc: Acc): void {
  // PostgreSQL 17+ runs MERGE on some views; whether the rules would fire is not worth guessing: refused.
  if (type === 'MergeStmt') acc.refuse('MERGE INTO pg_settings would change settings; write UPDATE pg_settings ... WHERE name = \'...\' instead');
  if (type !== 'UpdateStmt') return; // INSERT does nothing (rule pg_settings_n), DELETE fails
  acc.readsConstants = true;
  const settings = settingNamesIn(node.whereClause, targetNames(node.relation));
  if (settings === undefined || node.fromClause !== undefined) {
    acc.add('roleChange');
    acc.refuse('UPDATE pg_settings calls set_config() for every setting its WHERE matches, and this WHERE does not name them; write WHERE name = \'...\' (or name IN (...)) with constants');
    return;
  }
  const assigned = arr(node.targetList).map((t) => obj(obj(t)?.ResTarget) ?? {}).find((t) => t.name === 'setting');
  const value = assigned === undefined ? undefined : constValue(assigned.val);
  for (const name of settings) checkSetting(name, value, 'UPDATE pg_settings', acc);
}

function isSettingsView(relation: unknown): boolean {
  return SETTINGS_VIEWS.has((str(obj(relation)?.relname) ?? '').toLowerCase());
}

function onDml(type: string) {
  return (node: Json, frame: Frame, acc: Acc): Plan | undefined => {
    // Even where it does not run now (EXPLAIN, a rule or function body): it is refused or classified where it is written.
    if (isSettingsView(node.relation)) onSettingsViewWrite(type, node, acc);
    if (!frame.ctx.executing) return undefined;
    acc.add('writesData');
    if (frame.ctx.cteQuery) acc.add('dataModifyingCte');
    if (node.returningClause !== undefined || node.whereClause !== undefined) acc.add('readsData');
    const unbounded = type === 'MergeStmt' ? mergeUnbounded(node) : type !== 'InsertStmt' && !isBounded(node.whereClause, targetNames(node.relation));
    if (unbounded) acc.add('unboundedWrite');
    return undefined;
  };
}

function onCopy(node: Json, frame: Frame, acc: Acc): Plan | undefined {
  if (node.is_program === true) acc.add('copyProgram');
  else if (node.filename !== undefined) acc.add('serverFile');
  if (node.is_from === true) acc.add('copyImport', ...(frame.ctx.executing ? (['writesData'] as const) : []));
  else acc.add('copyExport', 'readsData');
  return undefined;
}

function onRemote(node: Json, _frame: Frame, acc: Acc): Plan | undefined {
  acc.add('remoteAccess');
  for (const o of arr(node.options)) {
    const name = str(obj(obj(o)?.DefElem)?.defname);
    if (name === 'program') acc.add('copyProgram'); // file_fdw OPTIONS (program '...')
    if (name === 'filename') acc.add('serverFile'); // file_fdw OPTIONS (filename '...')
  }
  return undefined;
}

function when(trait: SqlTrait, executingOnly = false) {
  return (_node: Json, frame: Frame, acc: Acc): Plan | undefined => {
    if (!executingOnly || frame.ctx.executing) acc.add(trait);
    return undefined;
  };
}

type Handler = (node: Json, frame: Frame, acc: Acc) => Plan | undefined;

const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ['RangeVar', onRangeVar],
  ['RangeTableSample', onTableSample],
  ['FuncCall', onFuncCall],
  ['ColumnRef', (n, _f, acc) => { onAttributeNames(names(n.fields).slice(1), acc); return undefined; }],
  ['A_Indirection', (n, _f, acc) => { onAttributeNames(names(n.indirection), acc); return undefined; }],
  ['VariableSetStmt', onVariableSet],
  ['DefElem', onTransactionMode],
  ['TransactionStmt', onTwoPhase],
  // SELECT ... FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE, at any depth: row locks held to the
  // transaction's end, which block the application's writers (PostgreSQL's "Explicit Locking" chapter).
  ['LockingClause', when('explicitLock', true)],
  ['DiscardStmt', (n, _f, acc) => {
    // DISCARD ALL includes RESET ALL (and SET SESSION AUTHORIZATION DEFAULT).
    if (n.target === 'DISCARD_ALL') acc.refuse('DISCARD ALL resets every setting, the pinned ones included, to defaults the policy engine cannot see');
    return undefined;
  }],
  ['ExplainStmt', onExplain],
  ['InsertStmt', onDml('InsertStmt')],
  ['UpdateStmt', onDml('UpdateStmt')],
  ['DeleteStmt', onDml('DeleteStmt')],
  ['MergeStmt', onDml('MergeStmt')],
  ['SelectStmt', (n, f, acc) => { if (n.intoClause !== undefined && f.ctx.executing) acc.add('writesData'); return undefined; }],
  ['CreateTableAsStmt', when('writesData', true)],
  ['RefreshMatViewStmt', when('writesData', true)],
  ['TruncateStmt', (_n, f, acc) => { if (f.ctx.executing) acc.add('unboundedWrite', 'writesData'); return undefined; }],
  ['CopyStmt', onCopy],
  ['PrepareStmt', when('prepare')],
  // EXECUTE runs a statement prepared earlier, whose text this check cannot see: treated as trait prepare.
  ['ExecuteStmt', when('prepare')],
  ['DoStmt', when('dynamicSql')],
  ['CreateFunctionStmt', (_n, _f, acc) => { acc.add('dynamicSql'); return { sql_body: { executing: false } }; }],
  ['ViewStmt', () => ({ query: { executing: false } })],
  ['RuleStmt', () => ({ actions: { executing: false }, whereClause: { executing: false } })],
  ['DropStmt', onDrop],
  ['LoadStmt', when('serverFile')],
  ['CreateTableSpaceStmt', when('serverFile')],
  ['CreateExtensionStmt', (n, _f, acc) => { extensionTraits(n, acc); return undefined; }],
  ['AlterExtensionStmt', (n, _f, acc) => { extensionTraits(n, acc); return undefined; }],
  ...[...ROLE_CHANGE_NODES].map((t): [string, Handler] => [t, when('roleChange')]),
  ...[...NODE_TRAITS].map(([t, trait]): [string, Handler] => [t, when(trait)]),
  ...[...REMOTE_NODES].map((t): [string, Handler] => [t, onRemote]),
]);

const DROPPED_RELATIONS: ReadonlySet<string> = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE', 'OBJECT_INDEX']);

/** DROP names its relations as lists of strings, not RangeVars: report them as tables too. */
function onDrop(node: Json, _frame: Frame, acc: Acc): Plan | undefined {
  if (!DROPPED_RELATIONS.has(str(node.removeType) ?? '')) return undefined;
  for (const o of arr(node.objects)) acc.tables.add(names(obj(obj(o)?.List)?.items).slice(-2).join('.'));
  return undefined;
}

function extensionTraits(node: Json, acc: Acc): void {
  const t = EXTENSION_TRAITS.get((str(node.extname) ?? '').toLowerCase());
  if (t !== undefined) acc.add(t);
}

/** Checks every node, whatever its type, for enum fields naming large or foreign objects and for ownership changes. */
function genericChecks(node: Json, acc: Acc): void {
  for (const k of OBJECT_TYPE_KEYS) {
    const t = OBJECT_TYPE_TRAITS.get(str(node[k]) ?? '');
    if (t !== undefined) acc.add(t);
  }
  if (node.newowner !== undefined) acc.add('roleChange'); // ALTER ... OWNER TO, ALTER TABLE ... OWNER TO
}

function cteNames(withClause: Json): { ctes: Json[]; names: string[] } {
  const ctes = arr(withClause.ctes).map((c) => obj(obj(c)?.CommonTableExpr) ?? {});
  return { ctes, names: ctes.map((c) => str(c.ctename) ?? '') };
}

/** Pushes each CTE's query with the CTE names it can see, first CTE on top (visited first). */
function pushCtes(withClause: Json, outer: Ctx, stack: Frame[]): void {
  const { ctes, names: cteList } = cteNames(withClause);
  const recursive = withClause.recursive === true;
  const index = cteIndex(cteList);
  for (let i = ctes.length - 1; i >= 0; i--) {
    const cte = ctes[i] ?? {};
    // A non-recursive CTE sees only the CTEs before it: WITH customers AS (SELECT * FROM customers) reads the table.
    const visible: CteScope = { names: index, visible: recursive ? Infinity : i, parent: outer.ctes };
    for (const [k, v] of Object.entries(cte)) if (k !== 'ctequery') stack.push({ value: v, key: k, ctx: outer });
    stack.push({ value: cte.ctequery, key: 'ctequery', ctx: { ctes: visible, executing: outer.executing, cteQuery: true } });
  }
}

function bodyCtx(ctx: Ctx, withClause: Json | undefined): Ctx {
  const outer: Ctx = { ctes: ctx.ctes, executing: ctx.executing, cteQuery: false };
  // The statement body sees every CTE of its WITH.
  return withClause === undefined ? outer : { ...outer, ctes: { names: cteIndex(cteNames(withClause).names), visible: Infinity, parent: outer.ctes } };
}

/** Scalars carry nothing the walk needs (string constants are read where they matter). */
function walkable(v: unknown): boolean {
  return typeof v === 'object' && v !== null;
}

function planFor(plan: Plan | undefined, key: string): Plan[string] | undefined {
  return plan !== undefined && Object.hasOwn(plan, key) ? plan[key] : undefined;
}

function childCtx(body: Ctx, p: { executing: boolean } | undefined): Ctx {
  return p === undefined ? body : { ...body, executing: p.executing && body.executing };
}

function pushChildren(node: Json, ctx: Ctx, plan: Plan | undefined, stack: Frame[]): void {
  const withClause = obj(node.withClause);
  const body = bodyCtx(ctx, withClause);
  const entries = Object.entries(node);
  // Pushed in reverse so that tables and functions come out in source order. The WITH goes last (visited first).
  for (let i = entries.length - 1; i >= 0; i--) {
    const [key, value] = entries[i] ?? ['', undefined];
    const p = key === 'withClause' ? 'skip' : planFor(plan, key);
    if (p !== 'skip' && walkable(value)) stack.push({ value, key, ctx: childCtx(body, p) });
  }
  if (withClause !== undefined) pushCtes(withClause, { ...ctx, cteQuery: false }, stack);
}

function visit(frame: Frame, stack: Frame[], acc: Acc): void {
  const v = frame.value;
  if (Array.isArray(v)) {
    for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], key: frame.key, ctx: frame.ctx });
    return;
  }
  if (!isObj(v)) return;
  const [type, node] = nodeOf(v, frame.key);
  genericChecks(node, acc);
  const plan = HANDLERS.get(type)?.(node, frame, acc);
  pushChildren(node, frame.ctx, plan, stack);
}

function walk(stmt: Json, acc: Acc): void {
  const stack: Frame[] = [{ value: stmt, key: '', ctx: { ctes: undefined, executing: true, cteQuery: false } }];
  for (let f = stack.pop(); f !== undefined; f = stack.pop()) visit(f, stack, acc);
}

// ---------------------------------------------------------------------------------------------
// Top level.

/** PostgreSQL's message without the offending token: it may be a literal (a CPF, an e-mail). */
function safeMessage(message: string): string {
  const cut = message.split(' at or near ')[0] ?? message;
  return cut.replace(/"[^"]*"?/g, '"…"').replace(/'[^']*'?/g, "'…'");
}

/**
 * Parsing and checking cost about 1-3 s per MiB of dense SQL (measured: 1.2 MB of INSERT ... VALUES,
 * or 40,000 select-list items), during which the sidecar's event loop serves no one; a client
 * message may be 64 MiB. Longer texts are refused before parsing.
 */
export const MAX_SQL_TEXT = 256 * 1024;

export interface ParsedStatement { type: string; node: Json; location: number }

/** Texts refused before parsing: too long to check in reasonable time, or holding a NUL (PostgreSQL stops reading there). */
function refuseUncheckable(sql: string): void {
  if (sql.length > MAX_SQL_TEXT) {
    throw new SqlParseError(`the SQL text is ${sql.length} characters long; the policy engine checks texts of at most ${MAX_SQL_TEXT} (send statements one at a time, and bulk data with COPY ... FROM STDIN)`, MAX_SQL_TEXT, 'unsupported');
  }
  const nul = sql.indexOf('\u0000');
  if (nul >= 0) throw new SqlParseError('the SQL text contains a NUL character', nul, 'syntax');
  if (tooSlowToLex(sql)) {
    throw new SqlParseError('the SQL text holds runs of operator characters (~!@#^&|`?+-*/%<>=) too long for the policy engine to parse in time (PostgreSQL\'s lexer reads them in time that grows with the square of their length); shorten them, or build a long run inside a string with repeat()', 0, 'unsupported');
  }
}

/** Texts that may hold a number written as PostgreSQL 16 allows (refuseNewerNumbers); the parse tree decides. */
const NEWER_NUMBER_HINT = /[0-9]_[0-9]|(?<![\w$])0[xXoObB]/;

/** A numeric constant as written at a byte offset of the text: its sign and spaces skipped. */
const WRITTEN_NUMBER = /^[-+\s]*([0-9.][0-9A-Za-z_.]*)/;

/**
 * Numbers written in the forms PostgreSQL 16 added (0x1F, 0o17, 0b101, 1_000): the parser (18's
 * grammar) reads one number, where PostgreSQL 13 and 14 read `0` followed by the column alias `x1F`
 * (15 refuses the text). The alias moves NATURAL JOIN and ORDER BY onto columns the guard never saw
 * (review 21: md5 of every CPF on a 14 server). Refused, naming the plain form, on every server: the
 * guard does not know which version answers. Read from the tree's constants, at their locations (byte
 * offsets): a scan of the whole text's tokens cost more than the parse, on any text with `a_1` in it.
 */
function refuseNewerNumbers(sql: string, tree: Json): void {
  if (!NEWER_NUMBER_HINT.test(sql)) return;
  const bytes = Buffer.from(sql, 'utf8');
  const stack: unknown[] = [tree];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    const values: unknown[] = Array.isArray(v) ? v : isObj(v) ? Object.values(v) : [];
    const c = isObj(v) ? numericConstant(v) : undefined;
    if (c !== undefined) refuseNewerNumberAt(bytes, c);
    for (const x of values) if (typeof x === 'object' && x !== null) stack.push(x);
  }
}

/** The location of an A_Const node's number (ival or fval), if `node` is one. */
function numericConstant(node: Json): number | undefined {
  const c = obj(node.A_Const);
  return c !== undefined && (c.ival !== undefined || c.fval !== undefined) && typeof c.location === 'number' ? c.location : undefined;
}

function refuseNewerNumberAt(bytes: Buffer, at: number): void {
  const written = WRITTEN_NUMBER.exec(bytes.toString('latin1', at, at + 128))?.[1] ?? '';
  if (!/^0[xob]|_/i.test(written)) return;
  throw new SqlParseError(`the number ${written} is written in a form PostgreSQL 16 added (a 0x, 0o or 0b prefix, or _ between digits), which servers before 16 read as a number followed by a column alias; write it in plain decimal`, at, 'unsupported');
}

/** Characters PostgreSQL's lexer reads into operators and comment openers (scan.l op_chars). */
const OPERATOR_CHARS = new Set([...'~!@#^&|`?+-*/%<>='].map((c) => c.charCodeAt(0)));

/**
 * PostgreSQL's lexer reads a run of operator characters in time that grows with the square of its
 * length (its operator and comment-opener rules match the whole run, then give back all but one
 * token: an empty comment, slash star star slash, repeated 64,000 times took 63 s to parse, the
 * sidecar's event loop held; review 23).
 * Counted over the raw text, strings included (telling them apart takes the lexer): the squares of
 * the runs' lengths, at most this much (≈ 80 ms of lexing; one run of 4,000 characters).
 */
const OPERATOR_RUNS_BUDGET = 16_000_000;

/** Whether PostgreSQL's lexer would take too long over the text's runs of operator characters (any scan or parse of it: refuse it unread). */
export function tooSlowToLex(sql: string): boolean {
  return operatorRunsCost(sql) > OPERATOR_RUNS_BUDGET;
}

function operatorRunsCost(sql: string): number {
  let cost = 0;
  let run = 0;
  for (let i = 0; i <= sql.length; i++) {
    if (i < sql.length && OPERATOR_CHARS.has(sql.charCodeAt(i))) run++;
    else if (run > 0) {
      cost += run * run;
      run = 0;
    }
  }
  return cost;
}

/**
 * The parse of the text being decided, kept while one decision runs (withSharedParse): the
 * classifier and the sensitive-column guard both read the same text, and a text beyond the caches'
 * length limit was parsed twice per decision (half of a long text's parse time). Held only for the
 * duration of one synchronous decision, so a 256 KiB text's tree is never kept in memory after it.
 */
let shared: { sql: string; statements: ParsedStatement[] } | undefined;
let sharing = false;

/** Runs `decide` (synchronous) with parseStatements remembering the last text it parsed. */
export function withSharedParse<T>(decide: () => T): T {
  if (sharing) return decide();
  sharing = true;
  try {
    return decide();
  } finally {
    sharing = false;
    shared = undefined;
  }
}

const parseStats = { parses: 0, sharedHits: 0 };

/** libpg-query calls made by parseStatements, and parses answered by withSharedParse's memo (tests). */
export function parseStatementStats(): Readonly<typeof parseStats> {
  return { ...parseStats };
}

/** The statements of a SQL text as libpg-query parse trees (the sensitive-column guard walks them too). Callers never modify the trees. */
export function parseStatements(sql: string): ParsedStatement[] {
  if (parser === undefined) throw new Error('policy engine not initialized: await initPolicyEngine() first');
  refuseUncheckable(sql);
  if (sql === '') return [];
  if (shared !== undefined && shared.sql === sql) {
    parseStats.sharedHits++;
    return shared.statements;
  }
  const statements = parseUnshared(sql);
  if (sharing) shared = { sql, statements };
  return statements;
}

function parseUnshared(sql: string): ParsedStatement[] {
  if (parser === undefined) throw new Error('policy engine not initialized: await initPolicyEngine() first');
  parseStats.parses++;
  let tree: Json;
  try {
    tree = parser.parseSync(sql) as unknown as Json;
  } catch (err) {
    // libpg-query hands the tree over as JSON: a tree deeper than JSON.parse's stack fails there, not in the grammar.
    if (err instanceof RangeError) throw new SqlParseError('the SQL text is nested too deeply for the policy engine to read (its parse tree is deeper than the stack); flatten it, or split it into several statements', 0, 'unsupported');
    const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    const msg = safeMessage(details?.message ?? (err instanceof Error ? err.message : String(err)));
    const pos = details?.cursorPosition ?? 0;
    throw new SqlParseError(`${msg} (at character ${pos + 1})`, pos, 'syntax');
  }
  refuseNewerNumbers(sql, tree);
  return arr(tree.stmts).map((raw) => {
    const r = obj(raw) ?? {};
    const [type, node] = nodeOf(obj(r.stmt) ?? {}, '');
    return { type, node, location: typeof r.stmt_location === 'number' ? r.stmt_location : 0 };
  });
}

/**
 * The simple SELECT whose INTO PostgreSQL honours: a set operation's leftmost leaf, however deep
 * (analyze.c, transformOptionalSelectInto: "If it's a set-operation tree, drill down to leftmost
 * SelectStmt"). The grammar puts the INTO of `SELECT 1 INTO t UNION SELECT 2` and of
 * `(SELECT 1 INTO t) UNION ...` there, not on the set operation; INTO on any other branch is an error.
 */
function leftmostLeaf(select: Json): Json {
  let leaf = select;
  for (let op = str(leaf.op); op !== undefined && op !== 'SETOP_NONE'; op = str(leaf.op)) leaf = obj(leaf.larg) ?? {};
  return leaf;
}

/** A SELECT that PostgreSQL turns into CREATE TABLE AS. */
function selectCreatesTable(select: Json): boolean {
  return leftmostLeaf(select).intoClause !== undefined;
}

/**
 * Whether a statement creates a table when it runs: SELECT ... INTO (in a set operation's leftmost
 * branch too) and CREATE TABLE AS / CREATE MATERIALIZED VIEW. INTO anywhere else (a CTE, a
 * subquery, DECLARE, COPY, a view or rule) is refused by the server.
 */
function createsTable(stmt: unknown): boolean {
  const [type, node] = nodeOf(obj(stmt) ?? {}, '');
  return type === 'CreateTableAsStmt' || (type === 'SelectStmt' && selectCreatesTable(node));
}

/**
 * The kind a statement has by what it does, where a wrapper's node type would say less: EXPLAIN
 * ANALYZE runs its target (`EXPLAIN ANALYZE SELECT 1 INTO t` creates t), and PREPARE's body is
 * what every later EXECUTE runs (its text is not seen again): both are DDL when that target
 * creates a table. Plain EXPLAIN plans without running, so it stays `explain`.
 */
function effectiveKind(s: ParsedStatement): SqlStatementKind | undefined {
  if (s.type === 'SelectStmt') return selectCreatesTable(s.node) ? 'ddl' : undefined;
  if (s.type === 'ExplainStmt') return explainAnalyzes(s.node.options) && createsTable(s.node.query) ? 'ddl' : undefined;
  if (s.type === 'PrepareStmt') return createsTable(s.node.query) ? 'ddl' : undefined;
  if (s.type === 'FetchStmt' && s.node.ismove === true) return 'utility'; // MOVE returns no rows
  return undefined;
}

function kindOf(s: ParsedStatement, index: number): SqlStatementKind {
  const kind = KIND_BY_NODE.get(s.type);
  if (kind === undefined) {
    throw new SqlParseError(`statement ${index + 1}: ${s.type || 'this statement'} is not a statement the policy engine understands`, s.location, 'unsupported');
  }
  return effectiveKind(s) ?? kind;
}

const TRAIT_ORDER: ReadonlyMap<SqlTrait, number> = new Map(SQL_TRAITS.map((t, i) => [t, i]));

function classifyOne(s: ParsedStatement, index: number): { info: StatementInfo; readsConstants: boolean } {
  const kind = kindOf(s, index);
  const acc = new Acc();
  walk({ [s.type]: s.node }, acc);
  if (acc.hazard !== undefined) throw new SqlParseError(`statement ${index + 1}: ${acc.hazard}`, s.location, 'refused');
  const traits = [...acc.traits].sort((a, b) => (TRAIT_ORDER.get(a) ?? 0) - (TRAIT_ORDER.get(b) ?? 0));
  return { info: { kind, traits, tables: [...acc.tables], functions: [...acc.functions], verdict: 'deny' }, readsConstants: acc.readsConstants };
}

// Agents repeat statements (the extended protocol sends the same text with new parameters), and
// classification depends on the text alone: remember recent results, errors included. A second
// cache is keyed by the numeric shape (sql-shape.ts), so statements differing only in a number
// share a result, provided classifying them read no constant's value.
const cache = new TextCache<StatementInfo[] | SqlParseError>(1024);
const shapeCache = new TextCache<StatementInfo[]>(1024);
/**
 * Texts longer than CACHEABLE_SQL_LENGTH (up to MAX_SQL_TEXT), by digest: a long prepared
 * statement is decided at every run. Few entries, and only results of bounded size (a 256 KiB text
 * can name tens of thousands of tables): at most LONG_CACHE_ENTRIES × LONG_RESULT_ITEMS names held.
 */
const longCache = new TextCache<StatementInfo[] | SqlParseError>(64);
const LONG_RESULT_ITEMS = 512;

interface Classified { result: StatementInfo[] | SqlParseError; shareable: boolean }

const stats = { parses: 0, exactHits: 0, shapeHits: 0, longHits: 0 };

/** How classifications were answered since start (or the last reset): by parsing, or from either cache. */
export function sqlCacheStats(): Readonly<typeof stats> {
  return { ...stats };
}

/** Empties both caches and the counters (tests). */
export function resetSqlCaches(): void {
  cache.clear();
  shapeCache.clear();
  longCache.clear();
  Object.assign(stats, { parses: 0, exactHits: 0, shapeHits: 0, longHits: 0 });
}

function copyInfo(list: readonly StatementInfo[]): StatementInfo[] {
  return list.map((s) => ({ kind: s.kind, traits: [...s.traits], tables: [...s.tables], functions: [...s.functions], verdict: s.verdict }));
}

function classifyUncached(sql: string): Classified {
  try {
    const each = parseStatements(sql).map((s, i) => classifyOne(s, i));
    return { result: each.map((c) => c.info), shareable: each.every((c) => !c.readsConstants) };
  } catch (err) {
    // Errors carry positions, which move with the constants' lengths: never shared by shape.
    if (err instanceof SqlParseError) return { result: err, shareable: false };
    throw err;
  }
}

/** Names a result holds (what keeping it costs). */
function resultItems(result: StatementInfo[] | SqlParseError): number {
  if (result instanceof SqlParseError) return 1;
  return result.reduce((n, s) => n + 1 + s.tables.length + s.functions.length + s.traits.length, 0);
}

/** A text beyond CACHEABLE_SQL_LENGTH: by digest, unless past MAX_SQL_TEXT (refused before parsing; hashing megabytes to refuse them would cost more). */
function classifyLong(sql: string): StatementInfo[] | SqlParseError {
  const key = sql.length > MAX_SQL_TEXT ? undefined : textDigest(sql);
  const hit = key === undefined ? undefined : longCache.get(key);
  if (hit !== undefined) {
    stats.longHits++;
    return hit;
  }
  stats.parses++;
  const { result } = classifyUncached(sql);
  if (key !== undefined && resultItems(result) <= LONG_RESULT_ITEMS) longCache.set(key, result);
  return result;
}

function classifyCached(sql: string): StatementInfo[] | SqlParseError {
  if (sql.length > CACHEABLE_SQL_LENGTH) return classifyLong(sql);
  const exact = cache.get(sql);
  if (exact !== undefined) {
    stats.exactHits++;
    return exact;
  }
  const shape = numericShape(sql);
  const shared = shape === undefined ? undefined : shapeCache.get(shape);
  if (shared !== undefined) {
    stats.shapeHits++;
    return shared;
  }
  stats.parses++;
  const { result, shareable } = classifyUncached(sql);
  cache.set(sql, result);
  if (shape !== undefined && shareable && !(result instanceof SqlParseError)) shapeCache.set(shape, result);
  return result;
}

/**
 * Classifies every statement of a (possibly multi-statement) SQL string. An empty string or one
 * holding only comments yields no statements. Throws SqlParseError for input the engine cannot
 * follow: syntax errors, statement types it does not know, and statements refused whatever the
 * policy says (reason `refused`): any form that moves a pinned setting (pg-settings.ts) away from
 * the value the text is read under, RESET ALL, DISCARD ALL, set_config() with a computed name and
 * UPDATE pg_settings whose rows are unknown. Without a policy every verdict is 'deny' and no rule is set.
 */
export function classifySql(sql: string): StatementInfo[] {
  const result = classifyCached(sql);
  if (result instanceof SqlParseError) throw result;
  return copyInfo(result);
}
