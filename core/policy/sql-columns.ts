// The sensitive-column guard. Output masking sees values, not how they were computed: once the
// agent's SQL transforms a personal column (md5(cpf), 'x'||cpf, reverse(cpf), cpf::bigint,
// string_agg(cpf, ''), row_to_json(c)) no detector recognizes the result, and a comparison
// (WHERE cpf LIKE '1%', ORDER BY cpf) leaks a piece of every identifier through row counts and
// order. Columns the policy names as personal may therefore only be returned as plain column
// references in the top-level select list (where masking sees them); every other use is reported
// with the column, the construct that uses it and where it sits, and the policy's action applies.
//
// Pure: the statements come from the classifier's parser (sql.ts), the catalog knowledge from the
// policy (spec.sensitiveColumns: personal columns, relations' column lists, view definitions).
// What the guard cannot resolve it reports (fail closed): an unqualified name that may be a
// personal column, a function in FROM whose result it cannot see into, column aliases over a
// relation whose column order it does not know.
import { arr, isObj, obj, str, type Json } from './parse-tree.ts';
import { numericShape } from './sql-shape.ts';
import { expandsToFields, figureColname } from './sql-colname.ts';
import { CteCycle, recursiveCteOrder } from './sql-cte-order.ts';
import { StarLayout } from './sql-star.ts';
import {
  A_EXPR_KINDS, AGGREGATES, CATALOG_VIEW_OTHER_COLUMNS, COMPARISON_OPS, EXTENSION_STATEMENT_TEXT_VIEWS, isStatementTextFunction, KEEP_USE, NODE_USES, readsUnseen, STATEMENT_TEXT_VIEWS, statementTextField, STATISTICS_FIGURES, STATISTICS_VIEWS, SUBLINKS, SYSTEM_COLUMNS, TRANSPARENT_FROM_FUNCTIONS,
} from './sql-knowledge.ts';
import { CACHEABLE_SQL_LENGTH, TextCache, textDigest } from './text-cache.ts';
import { MAX_SQL_TEXT, parseStatements, SqlParseError, type ParsedStatement } from './sql.ts';
import type { SensitiveColumnUse } from './types.ts';

export type { SensitiveColumnUse };

export interface SensitiveColumnsConfig {
  /** [schema.]table.column */
  columns: readonly string[];
  /** Relations whose complete column list (in order) the policy states. */
  relations?: readonly { name: string; columns: readonly string[] }[];
  /** Views: name and defining query (pg_get_viewdef). */
  views?: readonly { name: string; query: string }[];
}

/** A problem with the configuration itself; `field` is relative to spec.sensitiveColumns. */
export class SensitiveColumnsConfigError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'SensitiveColumnsConfigError';
    this.field = field;
  }
}

// ---------------------------------------------------------------------------------------------
// Parse tree accessors (libpg-query JSON; fields at their default value are omitted).

/** {Type: {...}} → ['Type', {...}]; anything else → ['', v]. */
function unwrap(v: unknown): [string, Json] {
  const o = obj(v);
  if (o === undefined) return ['', {}];
  const keys = Object.keys(o);
  const k = keys[0];
  if (keys.length === 1 && k !== undefined && /^[A-Z]/.test(k)) {
    const inner = obj(o[k]);
    if (inner !== undefined) return [k, inner];
  }
  return ['', o];
}
/** A ColumnRef's fields: names, '*' for A_Star. */
function fieldNames(list: unknown): string[] {
  return arr(list).map((n) => {
    const o = obj(n) ?? {};
    if (o.A_Star !== undefined) return '*';
    return str(obj(o.String)?.sval) ?? '';
  });
}
function stringList(list: unknown): string[] {
  return arr(list).map((n) => str(obj(obj(n)?.String)?.sval) ?? '');
}

// ---------------------------------------------------------------------------------------------
// Scopes.

interface Col {
  name: string;
  /** The personal column this column passes through unchanged. */
  source?: string;
  /** Computed from a personal column (a view's md5(cpf) AS h): any reference is a use. */
  derived?: boolean;
  /** A name PostgreSQL versions give differently (EXTRACT(...) without AS): NATURAL JOIN cannot be placed over it. */
  unsureName?: true;
}

interface Rel {
  /** Names that qualify its columns: the alias, or the relation name with and without schema. */
  quals: string[];
  label: string;
  cols: Col[];
  /** Every column is in cols (in order). Otherwise cols holds the known ones only. */
  complete: boolean;
  /** Unknown relation: any column named like a personal column may be one (an undeclared view). */
  guess: boolean;
  /**
   * Built by the statement (a subquery, CTE or join alias) or a declared view: the columns it has
   * are the ones its definition lists, so `r.x` with no column x is a call x(r) on the whole row
   * even where the list is not complete (a part the guard cannot see, such as a function in FROM).
   */
  composed?: true;
  /** Every column's name is in cols, though not their order (a catalog view listed across versions). */
  namesKnown?: true;
  /** Personal columns any column not in cols may be (Outputs.unplaced of the query it was built from). */
  unplaced?: readonly string[];
}

/**
 * What a query returns: its columns, whether they are all known in order, how many leading ones
 * are known in their place (positions beyond it may be any column; all of them when complete), and
 * whether a relation the policy does not know (`guess`) is among what it does not list.
 */
interface Outputs {
  cols: Col[];
  complete: boolean;
  known?: number;
  guess?: boolean;
  /** Personal columns that may stand in any output past `known` (set operations over a branch of unknown width). */
  unplaced?: string[];
}

/** One FROM item: the relations that qualify its columns, and what `*` over it returns, in order. */
interface FromEntry { rels: Rel[]; star: StarLayout<Col> }

/**
 * A query level's relations (only ever appended to: RelsIndex relies on it), the enclosing level,
 * and the CTE names visible.
 */
interface Scope {
  rels: Rel[];
  parent: Scope | undefined;
  ctes: CteNames;
  /** A query level's `*` (its FROM list in PostgreSQL's column order). */
  star?: StarLayout<Col>;
  /**
   * What a subquery in this FROM list sees without LATERAL: the enclosing levels, not the FROM items
   * beside it (PostgreSQL hides them; `FROM orders c, (SELECT c.cpf) z` inside a query over
   * customers c reads the outer c).
   */
  fromOuter?: Scope;
}

/**
 * CTE names visible in a scope: this WITH's own, then the enclosing WITHs' (a chain, never
 * copied: copying the enclosing names at every nested WITH cost n² for n CTEs each holding a WITH).
 * Names compare exactly as the parser folded them: WITH x AS (...), "X" AS (...) are two CTEs.
 */
class CteNames {
  readonly own = new Map<string, Rel>();
  readonly parent: CteNames | undefined;
  constructor(parent?: CteNames) {
    this.parent = parent;
  }

  get(name: string, guard: SensitiveColumnGuard): Rel | undefined {
    guard.charge(1);
    return this.own.get(name) ?? this.parent?.get(name, guard);
  }

  set(name: string, rel: Rel): void {
    this.own.set(name, rel);
  }
}

/**
 * What name lookups need from one list of relations (a query level, or one side of a join), built
 * incrementally: lists of relations are only appended to, so the index covers rels[0, indexed) and
 * catches up at the next lookup. Scanning every relation per lookup made a chain of n joins cost
 * n² (each join's condition scanned every relation before it; NATURAL JOIN and USING re-read every
 * earlier column): with the index each relation is read once per list it joins.
 */
class RelsIndex {
  indexed = 0;
  /** Qualifier (as folded by the parser: "C" and c are two names) → position of the first relation it names. */
  readonly byQual = new Map<string, number>();
  /** lower(column name) → position of the first relation with a personal column so named. */
  readonly personalAt = new Map<string, number>();
  /** Personal column name → position of the first guessed relation with no column so named. */
  readonly guessAt = new Map<string, number>();
  /** Position of the first relation any of whose unlisted columns may be personal (Rel.unplaced). */
  unplacedAt: number | undefined;

  add(r: Rel, at: number, personalNames: readonly string[]): void {
    for (const q of r.quals) setFirst(this.byQual, q, at);
    if (r.unplaced !== undefined) this.unplacedAt ??= at;
    for (const c of r.cols) if (c.source !== undefined) setFirst(this.personalAt, lower(c.name), at);
    if (r.complete || !r.guess) return;
    for (const p of personalNames) if (!r.cols.some((c) => lower(c.name) === p)) setFirst(this.guessAt, p, at);
  }
}

/** What NATURAL JOIN and USING compare on one side of a join, built incrementally like RelsIndex. */
class JoinSide {
  indexed = 0;
  /** Every column name (NATURAL JOIN compares the columns both sides have). */
  readonly names = new Set<string>();
  /** lower(column name) → the personal sources of the columns so named. */
  readonly sources = new Map<string, Set<string>>();
  /** Some relation's column list is not complete: NATURAL JOIN may compare any column. */
  open = false;
  /** Labels of the guessed relations (unknown to the policy, columns not all known). */
  readonly guessLabels = new Set<string>();
  /** Personal column name → labels of guessed relations with no column so named (they may hold one). */
  readonly guessLacking = new Map<string, Set<string>>();
  /** Personal columns any unlisted column of a relation of this side may be (Rel.unplaced): compared by any join column. */
  readonly unplaced = new Set<string>();

  add(r: Rel, personalNames: readonly string[]): void {
    for (const source of r.unplaced ?? []) this.unplaced.add(source);
    // A column named otherwise by PostgreSQL than by the guard may be compared with any column by NATURAL JOIN.
    if (r.cols.some((c) => c.unsureName === true)) this.open = true;
    const own = new Set<string>();
    for (const c of r.cols) {
      const n = lower(c.name);
      own.add(n);
      this.names.add(n);
      if (c.source !== undefined) addTo(this.sources, n, c.source);
    }
    if (r.complete) return;
    this.open = true;
    if (!r.guess) return;
    this.guessLabels.add(r.label);
    for (const p of personalNames) if (!own.has(p)) addTo(this.guessLacking, p, r.label);
  }
}

/** Keeps the first position a name was seen at (lookups resolve to the first relation, as a scan in order did). */
function setFirst(m: Map<string, number>, key: string, at: number): void {
  if (!m.has(key)) m.set(key, at);
}

function addTo(m: Map<string, Set<string>>, key: string, value: string): void {
  const set = m.get(key);
  if (set === undefined) m.set(key, new Set([value]));
  else set.add(value);
}

interface Resolved { source: string; how: 'plain' | 'derived' | 'wholeRow' | 'guess' }

/** Where a query's select list goes: to the client (plain references allowed), to an enclosing query, or somewhere it is stored/exported. */
type Sink = 'client' | 'pass' | 'store' | 'export';

/**
 * What EXPLAIN makes of a personal column any step of the plan outputs: its width estimate
 * (pg_statistic's stawidth), a figure computed from the column's values (review 35: 30 and 17 on
 * data sets differing only in personal values; review 37: CTE bodies, LATERAL subqueries and
 * DECLARE show it as well as the top select list).
 */
const PLAN_USE = 'its width estimated by EXPLAIN (a figure computed from the column\'s values)';

/**
 * Work (nodes visited, columns scanned) allowed per SQL text. Checking is linear in what it scans,
 * but a statement can make it scan the same columns many times (a chain of joins each seeing all
 * the earlier columns); past this the statement is reported as unchecked (fail closed) instead of
 * holding the sidecar's event loop. Ordinary statements need a few thousand.
 */
const WORK_BUDGET = 1_000_000;

/**
 * Deeper expressions and queries are refused rather than followed (the walk is recursive, and the
 * stack would run out first, at a depth that depends on how the JIT compiled the walk). Chains of
 * joins and of set operations are followed in loops and do not count. Hand-written and generated
 * SQL nests far less: an ORM's deepest subquery nesting is a handful of levels.
 */
const MAX_DEPTH = 400;
const MAX_QUERY_DEPTH = 100;
const QUERY_NESTING = `queries (subqueries, CTEs, views, joins in parentheses) nested more than ${MAX_QUERY_DEPTH} levels deep`;
/** Uses reported per statement: the first ones say enough. */
const MAX_USES = 16;
/** A long text's result is remembered only with at most this many uses (a 256 KiB text can hold thousands of statements). */
const LONG_RESULT_USES = 64;

interface PersonalColumn { schema: string | undefined; table: string; column: string; id: string }

function lower(s: string): string {
  return s.toLowerCase();
}

function splitName(name: string): { schema: string | undefined; rel: string } {
  const parts = name.split('.');
  return parts.length >= 2 ? { schema: lower(parts[0] ?? ''), rel: lower(parts.slice(1).join('.')) } : { schema: undefined, rel: lower(name) };
}

/** An unqualified name in the SQL may be any schema's (search_path is not known); a policy name without schema matches any schema. */
function relMatches(want: { schema: string | undefined; rel: string }, schema: string | undefined, rel: string): boolean {
  return want.rel === lower(rel) && (want.schema === undefined || schema === undefined || want.schema === lower(schema));
}

// ---------------------------------------------------------------------------------------------

class Analysis {
  readonly uses: SensitiveColumnUse[] = [];
  /** A number's value decided something (ORDER BY 1): the result holds for this exact text only. */
  readsNumbers = false;
  /** Expression nesting (MAX_DEPTH) and query nesting (MAX_QUERY_DEPTH) of the node being checked. */
  private depth = 0;
  private queryDepth = 0;
  private readonly guard: SensitiveColumnGuard;
  readonly statement: number;
  /** Under EXPLAIN: every plain personal output, at any level of the statement, is a use (PLAN_USE). */
  explaining = false;
  private readonly viewStack: readonly string[];
  constructor(guard: SensitiveColumnGuard, statement: number, viewStack: readonly string[] = []) {
    this.guard = guard;
    this.statement = statement;
    this.viewStack = viewStack;
  }

  report(column: string, use: string, path: string): void {
    if (this.uses.length >= MAX_USES) return;
    if (this.uses.some((u) => u.column === column && u.use === use && u.path === path)) return;
    this.uses.push({ column, use, path, statement: this.statement });
  }

  // --- statements --------------------------------------------------------------------------------

  statementNode(type: string, node: Json, path: string): void {
    const root: Scope = { rels: [], parent: undefined, ctes: new CteNames() };
    const handler = STATEMENTS[type];
    if (handler !== undefined) handler(this, node, root, path);
    else this.byName(node, `${path}${type.replace(/Stmt$/, '')} statement`);
  }

  /** Statements the guard does not model: any column named like a personal column is a use. */
  private byName(root: unknown, path: string): void {
    const stack: unknown[] = [root];
    for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
      if (Array.isArray(v)) {
        // One at a time: a list of 100,000+ items spread as arguments overflows the stack.
        for (const x of v as unknown[]) stack.push(x);
        continue;
      }
      if (!isObj(v)) continue;
      const ref = obj(v.ColumnRef);
      if (ref !== undefined) {
        const fields = fieldNames(ref.fields);
        const p = this.guard.personalByName(fields[fields.length - 1] ?? '');
        if (p !== undefined) this.report(p, 'column reference', path);
        continue;
      }
      this.guard.charge(1);
      for (const x of Object.values(v)) stack.push(x);
    }
  }

  copy(node: Json, scope: Scope, path: string): void {
    if (node.query === undefined) {
      const rel = this.target(obj(node.relation) ?? {}, path || 'COPY');
      const listed = stringList(node.attlist);
      // COPY FROM reads no stored value, but writes rows: a unique index compares each with the stored ones.
      if (node.is_from === true) this.writtenPersonal(rel, listed.length === 0 ? undefined : listed, `${path}COPY FROM`);
      else this.copyTable(rel, listed, path || 'COPY');
      return;
    }
    const [t, q] = unwrap(node.query);
    if (t === 'SelectStmt') this.select(q, scope, `${path}COPY (query) TO: `, 'export');
    else this.write(t, q, scope, `${path}COPY (query) TO: `, true);
  }

  /** COPY table TO: the columns it returns (`listed`, or all). */
  private copyTable(rel: Rel, listed: readonly string[], where: string): void {
    const attrs = listed.map(lower);
    const exported = attrs.length === 0 ? rel.cols : rel.cols.filter((c) => attrs.includes(lower(c.name)));
    for (const c of exported) if (c.source !== undefined) this.report(c.source, 'COPY table TO', where);
    if (rel.guess && attrs.length === 0 && !rel.complete) this.reportGuessRelation(rel, 'COPY table TO', where);
  }

  /** INSERT, UPDATE, DELETE, MERGE; returns what its RETURNING returns (a data-modifying CTE's columns). */
  write(type: string, node: Json, outer: Scope, path: string, exported = false): Outputs {
    const scope = this.withCtes(obj(node.withClause), outer, path);
    const target = this.target(obj(node.relation) ?? {}, path);
    // A subquery in UPDATE ... FROM or DELETE ... USING without LATERAL does not see the target.
    const here: Scope = { rels: [target], parent: scope, ctes: scope.ctes, fromOuter: scope };
    if (type === 'InsertStmt') this.insertParts(node, target, scope, path);
    else if (type === 'MergeStmt') this.mergeParts(node, target, here, path);
    else this.updateDeleteParts(type, node, target, here, path);
    const returning = `RETURNING of a ${type.replace(/Stmt$/, '').toUpperCase()}${exported ? ' exported by COPY' : ''}`;
    const items = returningItems(node);
    const withOld = withOldAndNew(node, target, here);
    this.exprs(items, withOld, `${path}RETURNING`, returning, true);
    return this.returningOutputs(items, here, withOld, `${path}RETURNING`);
  }

  /**
   * RETURNING's outputs, as a select list's: `*` and `t.*` expanded, expressions named as PostgreSQL
   * names them. `*` alone is the statement's relations (`here`), `old.*` one of `withOld`'s.
   */
  private returningOutputs(items: unknown[], here: Scope, withOld: Scope, where: string): Outputs {
    const outs = items.map((item) => this.returningItem(obj(obj(item)?.ResTarget) ?? {}, here, withOld, where));
    for (const out of outs) this.guard.charge(out.cols.length + 1);
    return concatenated(outs);
  }

  private returningItem(t: Json, here: Scope, withOld: Scope, where: string): Outputs {
    const star = starFields(t.val);
    if (star === undefined) return { cols: [namedOutput(t.val, str(t.name))], complete: true };
    const rels = this.starRels(star, star.length === 0 ? here : withOld, where);
    // As a select list's `*`: a relation the policy does not know keeps its read-by-name (guess).
    return { cols: rels.flatMap((r) => r.cols), complete: rels.every((r) => r.complete), ...this.unlistedUnderStar(rels, 'pass', where) };
  }

  /**
   * Personal columns written a value (not NULL or DEFAULT): a unique index compares it with the
   * stored values, and the statement's error says whether it is stored, a CPF-existence oracle. One
   * INSERT ... SELECT of 10^6 generated candidates found a customer's CPF (review 24); so did 3,000
   * one-row INSERTs in one text, a CTE of 1,000 one-row INSERTs run with a parameter each, and one
   * prepared INSERT executed per candidate (review 25, 1,000-6,000 guesses/s with nothing held). An
   * approval binds the statement's text: the DPO sees the values written, and each write is decided
   * on its own.
   */
  private writtenPersonal(target: Rel, names: readonly string[] | undefined, where: string): void {
    const use = 'written (a unique index compares the value with the stored ones: the error says whether it is stored)';
    if (names === undefined) {
      // Without a column list, the listed personal columns (the session-start catalog check keeps
      // columns named like personal ones out of relations the policy does not declare).
      for (const c of target.cols) if (c.source !== undefined) this.report(c.source, use, where);
      return;
    }
    // By name as a read is: a relation the policy does not know with a column named like a personal one counts.
    for (const n of names) {
      const c = findCol(target, n, this.guard);
      if (c !== undefined) this.report(c.source, use, where);
    }
  }

  /**
   * Names given a value (not NULL or DEFAULT) by one row: `values` in the order of `names` (a VALUES
   * row, MERGE's INSERT). An item PostgreSQL expands into several columns (`s.*`, `(expr).*`) fills
   * the columns from its position on, however many its row type has: every one of them counts as
   * written (`VALUES ((candidate::customers).*)` wrote cpf while the guard paired the item with id).
   */
  private writtenRow(target: Rel, names: readonly string[] | undefined, values: unknown[], where: string): void {
    const order = names ?? (target.complete ? target.cols.map((c) => c.name) : undefined);
    if (order === undefined) {
      this.writtenPersonal(target, undefined, where);
      return;
    }
    const spread = values.findIndex(expandsToFields);
    const from = spread < 0 ? Number.POSITIVE_INFINITY : spread;
    this.writtenPersonal(target, order.filter((_, i) => i >= from || (i < values.length && !noValue(values[i]))), where);
  }

  private insertParts(node: Json, target: Rel, scope: Scope, path: string): void {
    if (node.selectStmt !== undefined) this.select(unwrap(node.selectStmt)[1], scope, `${path}INSERT ... SELECT: `, 'store');
    const row = oneRowOfValues(node.selectStmt);
    if (row === undefined) this.writtenPersonal(target, targetNames(node.cols), `${path}INSERT column list`);
    else this.writtenRow(target, targetNames(node.cols), row, `${path}INSERT column list`);
    // INSERT INTO t (arr[(SELECT ascii(cpf) ...)]): the subscripts of the target columns.
    this.exprs(arr(node.cols).map((c) => ({ ResTarget: { indirection: obj(obj(c)?.ResTarget)?.indirection } })), scope, `${path}INSERT column list`, 'subscript of the assigned column');
    const conflict = obj(node.onConflictClause);
    if (conflict !== undefined) this.onConflict(conflict, target, scope, path);
  }

  private onConflict(conflict: Json, target: Rel, scope: Scope, path: string): void {
    // ON CONFLICT (cpf) DO NOTHING RETURNING id answers whether a CPF is already stored: the arbiter compares it.
    const elems = arr(obj(conflict.infer)?.indexElems);
    for (const e of elems) {
      const name = str(obj(obj(e)?.IndexElem)?.name);
      const c = name === undefined ? undefined : findCol(target, name, this.guard);
      if (c !== undefined) this.report(c.source, 'ON CONFLICT arbiter (compares with stored values)', `${path}ON CONFLICT target`);
    }
    // ON CONFLICT DO NOTHING (every unique index arbitrates) and ON CONFLICT ON CONSTRAINT k: the
    // arbiter's columns are the database's to know; any personal column of the target may be one.
    if (elems.length === 0) this.reportOutputs(target.cols, 'ON CONFLICT arbiter without a column list (any unique index may compare it with stored values)', `${path}ON CONFLICT`);
    const excluded: Rel = { ...target, quals: ['excluded'], label: 'excluded' };
    const cs: Scope = { rels: [target, excluded], parent: scope, ctes: scope.ctes };
    this.exprs(conflict.targetList, cs, `${path}ON CONFLICT DO UPDATE SET`, 'assigned to a column');
    this.writtenBySet(target, conflict.targetList, `${path}ON CONFLICT DO UPDATE SET`);
    this.expr(conflict.whereClause, cs, `${path}ON CONFLICT WHERE`, 'condition');
    this.expr(conflict.infer, cs, `${path}ON CONFLICT target`, 'conflict target');
  }

  private updateDeleteParts(type: string, node: Json, target: Rel, here: Scope, path: string): void {
    for (const item of arr(type === 'UpdateStmt' ? node.fromClause : node.usingClause)) this.fromItem(item, here, path);
    this.exprs(node.targetList, here, `${path}SET`, 'assigned to a column');
    this.writtenBySet(target, node.targetList, `${path}SET`);
    this.expr(node.whereClause, here, `${path}WHERE`, 'condition');
  }

  /** SET col = value (UPDATE, ON CONFLICT DO UPDATE, MERGE's UPDATE). */
  private writtenBySet(target: Rel, targetList: unknown, where: string): void {
    const set = arr(targetList).map((t) => obj(obj(t)?.ResTarget) ?? {});
    this.writtenPersonal(target, set.filter((t) => !noValue(t.val)).map((t) => str(t.name) ?? ''), where);
  }

  private mergeParts(node: Json, target: Rel, here: Scope, path: string): void {
    this.fromItem(node.sourceRelation, here, path);
    this.expr(node.joinCondition, here, `${path}MERGE ON`, 'condition');
    arr(node.mergeWhenClauses).forEach((c, i) => {
      this.expr(c, here, `${path}WHEN clause ${i + 1}`, 'MERGE action');
      const when = obj(obj(c)?.MergeWhenClause) ?? {};
      const where = `${path}WHEN clause ${i + 1}`;
      if (when.commandType === 'CMD_UPDATE') this.writtenBySet(target, when.targetList, where);
      if (when.commandType === 'CMD_INSERT') this.writtenRow(target, targetNames(when.targetList), arr(when.values), where);
    });
  }

  // --- queries -----------------------------------------------------------------------------------

  private withCtes(withClause: Json | undefined, outer: Scope, path: string): Scope {
    if (withClause === undefined) return outer;
    const ctes = new CteNames(outer.ctes);
    const scope: Scope = { rels: outer.rels, parent: outer.parent, ctes };
    const recursive = withClause.recursive === true;
    const list = arr(withClause.ctes).map((c) => obj(obj(c)?.CommonTableExpr) ?? {});
    // RECURSIVE: every item sees every name of the list, so they are analysed in PostgreSQL's order.
    const order = recursive ? recursiveCteOrder(list, (steps) => this.guard.charge(steps)) : list.keys();
    for (const i of order) {
      const cte = list[i] ?? {};
      const name = str(cte.ctename) ?? '';
      const [qt, q] = unwrap(cte.ctequery);
      const cpath = `${path}CTE ${name}: `;
      let out: Outputs;
      if (qt !== 'SelectStmt') {
        // A data-modifying CTE: its RETURNING is checked as a write's, and is what the CTE returns.
        out = this.write(qt, q, scope, cpath);
      } else {
        if (recursive) this.recursiveSeed(cte, q, scope, cpath);
        out = this.select(q, scope, cpath, 'pass');
      }
      const rel = this.renamed(composedRel(name, `CTE ${name}`, out), stringList(cte.aliascolnames), cpath);
      ctes.set(name, this.searchCycle(cte, rel, cpath));
    }
    return scope;
  }

  /**
   * The recursive branch reads the CTE itself: it first sees the non-recursive branch's columns,
   * then what either branch returns, since rows it returns flow back into it (SELECT n + 1, cu.cpf
   * ... WHERE t.c LIKE '1%' compares CPFs from the second round on). Sources only grow, so this
   * reaches a fixed point within a round per column. Quiet: the caller's full pass reports.
   */
  private recursiveSeed(cte: Json, q: Json, scope: Scope, cpath: string): void {
    const name = str(cte.ctename) ?? '';
    const first = q.larg === undefined ? q : (obj(q.larg) ?? {});
    let seen = this.select(first, scope, cpath, 'pass', true);
    // Each round that changes anything adds a source to a column or to `unplaced` (a branch of
    // unknown width): at most one round per column and per personal column.
    const rounds = seen.cols.length + this.guard.personalColumns().length + 2;
    for (let round = 0; round <= rounds; round++) {
      scope.ctes.set(name, this.renamed(composedRel(name, name, seen), stringList(cte.aliascolnames), cpath));
      const next = this.select(q, scope, cpath, 'pass', true);
      if (sourcesOf(next) === sourcesOf(seen)) return;
      seen = next;
    }
  }

  /**
   * SEARCH ... BY c SET ord orders the rows by c (ORDER BY ord then sorts by it); CYCLE c SET mark
   * USING path compares c with every earlier row and collects the rows into path: both are uses of
   * their columns, and the columns they add carry them.
   */
  private searchCycle(cte: Json, rel: Rel, path: string): Rel {
    const search = obj(cte.search_clause);
    const cycle = obj(cte.cycle_clause);
    if (search === undefined && cycle === undefined) return rel;
    const added: Col[] = [];
    const check = (list: unknown, use: string, where: string, outputs: (string | undefined)[]): void => {
      let source: string | undefined;
      for (const n of stringList(list)) {
        const c = findCol(rel, n, this.guard);
        if (c !== undefined) this.report(c.source, use, where);
        source ??= c?.source;
      }
      for (const o of outputs) if (o !== undefined) added.push(source === undefined ? { name: o } : { name: o, source, derived: true });
    };
    if (search !== undefined) {
      const how = search.search_breadth_first === true ? 'BREADTH' : 'DEPTH';
      check(search.search_col_list, `SEARCH ${how} FIRST BY (orders the rows)`, `${path}SEARCH`, [str(search.search_seq_column)]);
    }
    if (cycle !== undefined) {
      check(cycle.cycle_col_list, 'CYCLE (compares rows)', `${path}CYCLE`, [str(cycle.cycle_mark_column), str(cycle.cycle_path_column)]);
    }
    return { ...rel, cols: [...rel.cols, ...added] };
  }

  /**
   * A SELECT (or set operation, or VALUES). Returns its output columns. `quiet` analyses without
   * reporting (the seed pass of a recursive CTE, reported again in the full pass).
   */
  select(node: Json, outer: Scope, path: string, sink: Sink, quiet = false): Outputs {
    if (quiet) {
      const probe = new Analysis(this.guard, this.statement, this.viewStack);
      // The probe runs on the same stack: it continues this analysis's nesting counts.
      probe.depth = this.depth;
      probe.queryDepth = this.queryDepth;
      return probe.select(node, outer, path, sink);
    }
    if (++this.queryDepth > MAX_QUERY_DEPTH) throw new NestingLimit(QUERY_NESTING);
    try {
      return this.selectInner(node, outer, path, sink);
    } finally {
      this.queryDepth--;
    }
  }

  private selectInner(node: Json, outer: Scope, path: string, sink: Sink): Outputs {
    const scope0 = this.withCtes(obj(node.withClause), outer, path);
    const op = str(node.op);
    if (op !== undefined && op !== 'SETOP_NONE') return this.setOp(node, scope0, path, sink, op);
    const scope: Scope = { rels: [], parent: scope0, ctes: scope0.ctes, star: new StarLayout<Col>([], true), fromOuter: scope0 };
    for (const item of arr(node.fromClause)) this.fromItem(item, scope, path);
    const out = node.valuesLists === undefined ? this.targetList(arr(node.targetList), scope, path, sink) : this.values(node, scope, path);
    this.clauses(node, scope, out, path);
    if (node.intoClause !== undefined) this.reportOutputs(out.cols, 'SELECT INTO (stored in another table)', `${path}INTO`);
    return out;
  }

  private values(node: Json, scope: Scope, path: string): Outputs {
    const rows = arr(node.valuesLists).map((r) => arr(obj(obj(r)?.List)?.items));
    rows.forEach((row, i) => row.forEach((v, j) => this.expr(v, scope, `${path}VALUES row ${i + 1} item ${j + 1}`, 'VALUES item')));
    return { cols: (rows[0] ?? []).map((_v, j) => ({ name: `column${j + 1}` })), complete: true };
  }

  /** WHERE, GROUP BY, HAVING, DISTINCT, WINDOW, ORDER BY, LIMIT: every personal column in them is a use. */
  private clauses(node: Json, scope: Scope, out: Outputs, path: string): void {
    this.expr(node.whereClause, scope, `${path}WHERE`, 'condition');
    this.clauseItems(groupingItems(node.groupClause), scope, out, `${path}GROUP BY`, 'grouping');
    this.expr(node.havingClause, scope, `${path}HAVING`, 'condition');
    const distinct = arr(node.distinctClause);
    // Plain DISTINCT is [{}]; DISTINCT ON lists its expressions.
    if (distinct.length > 0 && distinct.every((d) => Object.keys(obj(d) ?? {}).length === 0)) {
      for (const source of personalOutputs(out)) this.report(source, 'DISTINCT (compares rows)', `${path}DISTINCT`);
    }
    else this.clauseItems(distinct, scope, out, `${path}DISTINCT ON`, 'DISTINCT ON');
    arr(node.windowClause).forEach((w) => {
      const def = obj(obj(w)?.WindowDef) ?? {};
      this.window(def, scope, `${path}WINDOW ${str(def.name) ?? ''}`.trimEnd());
    });
    this.clauseItems(arr(node.sortClause).map((s) => obj(obj(s)?.SortBy)?.node), scope, out, `${path}ORDER BY`, 'ordering');
    this.expr(node.limitCount, scope, `${path}LIMIT`, 'LIMIT');
    this.expr(node.limitOffset, scope, `${path}OFFSET`, 'OFFSET');
  }

  private reportOutputs(cols: readonly Col[], use: string, where: string): void {
    for (const c of cols) if (c.source !== undefined) this.report(c.source, use, where);
  }

  /**
   * UNION, INTERSECT, EXCEPT. PostgreSQL parses a chain of them left-deep (a UNION b UNION c is
   * (a UNION b) UNION c): the chain is followed in a loop, deepest first, as the recursion did, so
   * 5,000 branches are 5,000 steps instead of 5,000 stack frames (which ran out).
   */
  private setOp(node: Json, scope: Scope, path: string, sink: Sink, op: string): Outputs {
    const chain: SetOpLevel[] = [];
    let level: SetOpLevel = { node, op, path };
    for (;;) {
      chain.push(level);
      const larg = obj(level.node.larg) ?? {};
      const lop = str(larg.op);
      const leftPath = `${level.path}${setOpName(level.op, level.node)} branch 1: `;
      // A left branch with its own WITH is a query of its own (select() opens its CTEs).
      if (lop === undefined || lop === 'SETOP_NONE' || larg.withClause !== undefined) {
        let out = this.select(larg, scope, leftPath, sink);
        for (let i = chain.length - 1; i >= 0; i--) out = this.setOpLevel(chain[i] as SetOpLevel, out, scope, sink);
        return out;
      }
      this.guard.charge(1);
      level = { node: larg, op: lop, path: leftPath };
    }
  }

  /** One set operation whose left branch is analysed: its right branch, the rows it compares, its ORDER BY and LIMIT. */
  private setOpLevel(level: SetOpLevel, left: Outputs, scope: Scope, sink: Sink): Outputs {
    const { node, op, path } = level;
    const name = setOpName(op, node);
    const right = this.select(obj(node.rarg) ?? {}, scope, `${path}${name} branch 2: `, sink);
    // Unplaced columns are copied at every level too: a chain whose first branch has an unknown width
    // and whose branches read distinct relations grows them by one per level (8,000 levels took 10 s).
    this.guard.charge(left.cols.length + right.cols.length + (left.unplaced?.length ?? 0) + (right.unplaced?.length ?? 0));
    const out = pairedBranches(left, right);
    // UNION, INTERSECT and EXCEPT compare whole rows across the branches.
    if (!(op === 'SETOP_UNION' && node.all === true)) {
      this.reportOutputs([...left.cols, ...right.cols], `${name} (compares rows)`, `${path}${name}`);
      for (const source of out.unplaced ?? []) this.report(source, `${name} (compares rows)`, `${path}${name}`);
    }
    const s: Scope = { rels: [], parent: scope, ctes: scope.ctes };
    this.clauseItems(arr(node.sortClause).map((x) => obj(obj(x)?.SortBy)?.node), s, out, `${path}ORDER BY`, 'ordering');
    this.expr(node.limitCount, s, `${path}LIMIT`, 'LIMIT');
    this.expr(node.limitOffset, s, `${path}OFFSET`, 'OFFSET');
    return out;
  }

  private targetList(items: unknown[], scope: Scope, path: string, sink: Sink): Outputs {
    return concatenated(items.map((item, i) => this.targetItem(obj(obj(item)?.ResTarget) ?? {}, scope, `${path}select list item ${i + 1}`, sink)));
  }

  private targetItem(t: Json, scope: Scope, where: string, sink: Sink): Outputs {
    const [vt, v] = unwrap(t.val);
    const alias = str(t.name);
    const special = this.statementTextItem(vt, v, alias, scope, where, sink) ?? this.olderServerItem(vt, v, alias, scope, where, sink);
    if (special !== undefined) return special;
    if (vt === 'A_Indirection' && unwrap(arr(v.indirection).at(-1))[0] === 'A_Star') return this.compositeStar(t.val, scope, where);
    if (vt !== 'ColumnRef') return this.expressionItem(t.val, alias, scope, where);
    const fields = fieldNames(v.fields);
    if (fields[fields.length - 1] === '*') return this.starItem(fields.slice(0, -1), scope, where, sink);
    return { cols: [this.plainItem(fields, alias ?? fields[fields.length - 1] ?? '?column?', scope, where, sink)], complete: true };
  }

  /** A select-list expression: an output computed from whatever personal column it uses, named as PostgreSQL names it. */
  private expressionItem(val: unknown, alias: string | undefined, scope: Scope, where: string): Outputs {
    const before = this.uses.length;
    const found = this.expr(val, scope, where, 'expression') ?? this.uses[before]?.column;
    const col: Col = { ...namedOutput(val, alias), ...(found === undefined ? {} : { source: found, derived: true as const }) };
    return { cols: [col], complete: true };
  }

  /**
   * (x).*: every field of a composite value, as many outputs as it has (the guard does not know how
   * many): positions after it are unknown. Whatever personal column x uses is reported by the walk.
   */
  private compositeStar(val: unknown, scope: Scope, where: string): Outputs {
    this.expr(val, scope, where, 'expansion of a composite value');
    return { cols: [], complete: false, known: 0 };
  }

  /** `SELECT system_user`: a plain reference to a column so named on servers before 16 (olderServerName). */
  private olderServerItem(vt: string, v: Json, alias: string | undefined, scope: Scope, where: string, sink: Sink): Outputs | undefined {
    const older = olderServerName(vt, v);
    return older === undefined ? undefined : { cols: [this.plainItem([older], alias ?? older, scope, where, sink)], complete: true };
  }

  /**
   * A select-list item returning other sessions' statement text as it is (plainStatementTextCall):
   * a plain output like pg_stat_activity.query, masked by value. Its arguments are checked like
   * any. Undefined for any other item.
   */
  private statementTextItem(vt: string, v: Json, alias: string | undefined, scope: Scope, where: string, sink: Sink): Outputs | undefined {
    const call = plainStatementTextCall(vt, v);
    if (call === undefined) return undefined;
    const col: Col = { name: alias ?? figureColname({ [vt]: v }).name, source: this.funcCall(call, scope, where, 'expression', true) ?? '' };
    this.plainOutput(col, sink, where);
    return { cols: [col], complete: true };
  }

  /** `*` and `t.*` in a select list: the relations' columns, each passed through as is. */
  private starItem(qual: string[], scope: Scope, where: string, sink: Sink): Outputs {
    if (qual.length === 0 && scope.star !== undefined) return this.fromListStar(scope, scope.star, where, sink);
    const cols: Col[] = [];
    let complete = true;
    const rels = this.starRels(qual, scope, where);
    for (const r of rels) {
      this.guard.charge(r.cols.length);
      complete &&= r.complete;
      for (const c of r.cols) {
        this.plainOutput(c, sink, where);
        cols.push(c);
      }
    }
    return { cols, complete, ...this.unlistedUnderStar(rels, sink, where) };
  }

  /** `*` alone: every FROM item's columns in PostgreSQL's order (joins USING and NATURAL put their join columns first). */
  private fromListStar(scope: Scope, star: StarLayout<Col>, where: string, sink: Sink): Outputs {
    this.guard.charge(star.size + scope.rels.length);
    const cols = [...star.cols()];
    for (const c of cols) this.plainOutput(c, sink, where);
    return { cols, complete: star.known, known: star.prefix, ...this.unlistedUnderStar(scope.rels, sink, where) };
  }

  /**
   * What `*` over these relations returns beyond their listed columns: columns of relations the
   * policy does not know (`guess`) and personal columns the guard cannot place (`unplaced`). Stored
   * or exported, both are uses.
   */
  private unlistedUnderStar(rels: readonly Rel[], sink: Sink, where: string): { guess: boolean; unplaced?: string[] } {
    const stored = sink === 'store' || sink === 'export';
    let guess = false;
    for (const r of rels) {
      if (!r.guess || r.complete) continue;
      guess = true;
      // A plan's widths of a relation the policy does not know: not held (EXPLAIN over tables
      // such as pgbench's is everyday work, and a width is no value).
      if (stored) this.reportGuessRelation(r, sinkUse(sink), where);
    }
    const unplaced = unplacedOf(rels);
    const use = this.unplacedUse(sink);
    if (use !== undefined) for (const source of unplaced.unplaced ?? []) this.report(source, use, where);
    return { guess, ...unplaced };
  }

  /** What a personal column `*` returns without the guard placing it is, where it goes: undefined when nothing. */
  private unplacedUse(sink: Sink): string | undefined {
    if (sink === 'store' || sink === 'export') return sinkUse(sink);
    return this.explaining ? PLAN_USE : undefined;
  }

  private plainItem(fields: string[], name: string, scope: Scope, where: string, sink: Sink): Col {
    const res = this.resolve(fields, scope, where);
    if (res === undefined) return { name };
    if (res.how === 'wholeRow' || res.how === 'derived') {
      this.report(res.source, res.how === 'wholeRow' ? 'whole-row reference' : 'column computed from a personal column', where);
      return { name, source: res.source, derived: true };
    }
    const col: Col = { name, source: res.source };
    this.plainOutput(col, sink, where);
    return col;
  }

  /** A plain personal column in a select list: fine for the client (masked) and for an enclosing query; anywhere else a use. */
  private plainOutput(c: Col, sink: Sink, where: string): void {
    if (c.source === undefined) return;
    if (c.derived === true) this.report(c.source, 'column computed from a personal column', where);
    else if (sink === 'store' || sink === 'export') this.report(c.source, sinkUse(sink), where);
    else if (this.explaining) this.report(c.source, PLAN_USE, where);
  }

  /** A relation the guard knows nothing about may hold columns named like personal ones. */
  private reportGuessRelation(r: Rel, use: string, where: string): void {
    this.report(`${r.label}.* (unknown relation; may hold ${this.guard.personalNames().join(', ')})`, use, where);
  }

  /** ORDER BY / GROUP BY / DISTINCT ON: an integer or a bare output name refers to a select-list column. */
  private clauseItems(list: unknown, scope: Scope, out: Outputs, path: string, use: string): void {
    const items = arr(list);
    if (items.length === 0) return;
    // Output names indexed once: finding each item's name among the outputs made ORDER BY a1, ..., an quadratic.
    // Exactly as folded: SELECT 1 AS "X", cpf AS x ... ORDER BY x sorts by cpf.
    this.guard.charge(out.cols.length);
    const byName = new Map<string, Col>();
    for (const o of out.cols) if (!byName.has(o.name)) byName.set(o.name, o);
    // The personal outputs a position past the known ones may be: found once per clause, not per item.
    const known = knownPositions(out);
    const unplaced = out.complete ? [] : [...new Set(unplacedSources(out, known))];
    // Personal outputs whose name the guard is unsure of: PostgreSQL may sort or group by them under
    // any name (review 34: `... UNION ALL SELECT cpf ... ORDER BY q`, q being PostgreSQL's name for it).
    const unsure = out.cols.filter((o) => o.unsureName === true && o.source !== undefined).map((o) => o.source ?? '');
    items.forEach((item, i) => {
      const where = `${path} item ${i + 1}`;
      const position = positionOf(item);
      if (unwrap(item)[0] === 'A_Const') this.readsNumbers = true;
      if (position !== undefined) this.positionUses(position, out, unplaced, use, where);
      else this.nameUses(item, byName, unsure, use, where);
      this.expr(item, scope, where, use);
    });
  }

  /** ORDER BY name (GROUP BY, DISTINCT ON): the output so named, or, for a bare name none carries, any personal output named unsurely. */
  private nameUses(item: unknown, byName: ReadonlyMap<string, Col>, unsure: readonly string[], use: string, where: string): void {
    const c = outputName(item, byName);
    if (c?.source !== undefined) this.report(c.source, use, where);
    else if (c === undefined && isBareName(item)) for (const source of unsure) this.report(source, `${use} by a name PostgreSQL may give it`, where);
  }

  /**
   * ORDER BY n (GROUP BY n, DISTINCT ON (n)): the n-th output when the guard knows what stands
   * there; past an output of unknown width, any personal output from there on (`unplaced`) may.
   * (A relation the policy does not know holds no personal column by position: the guard reads its
   * columns by name, and the database check keeps personal columns out of such relations.)
   */
  private positionUses(n: number, out: Outputs, unplaced: readonly string[], use: string, where: string): void {
    if (n >= 1 && n <= knownPositions(out)) {
      const c = out.cols[n - 1];
      if (c?.source !== undefined) this.report(c.source, use, where);
      return;
    }
    for (const source of unplaced) {
      if (this.full()) return;
      this.report(source, `${use} by position ${n}, past outputs whose width the guard does not know`, where);
    }
  }

  window(def: Json, scope: Scope, where: string): void {
    this.exprs(def.partitionClause, scope, `${where} PARTITION BY`, 'window partition');
    this.exprs(arr(def.orderClause).map((s) => obj(obj(s)?.SortBy)?.node), scope, `${where} ORDER BY`, 'window ordering');
    this.expr(def.startOffset, scope, `${where} frame`, 'window frame');
    this.expr(def.endOffset, scope, `${where} frame`, 'window frame');
  }

  // --- FROM ----------------------------------------------------------------------------------------

  private fromItem(item: unknown, scope: Scope, path: string): void {
    const entry = this.fromEntry(item, scope, path);
    for (const r of entry.rels) scope.rels.push(r);
    if (scope.star === undefined) return;
    this.guard.charge(entry.star.size);
    scope.star.append(entry.star);
  }

  private fromEntry(item: unknown, scope: Scope, path: string): FromEntry {
    const [t, n] = unwrap(item);
    switch (t) {
      case 'RangeVar': return single(this.relation(n, scope, path));
      case 'RangeSubselect': return single(this.rangeSubselect(n, scope, path));
      case 'RangeFunction': return single(this.rangeFunction(n, scope, path));
      case 'JoinExpr': return this.join(n, scope, path);
      case 'RangeTableSample': return this.tableSample(n, scope, path);
      default: {
        // XMLTABLE, JSON_TABLE and the like: their expressions are checked; their columns are not personal.
        // Unaliased, PostgreSQL names them xmltable and json_table (review 31: named RangeTableFunc, an
        // outer `customers AS "RangeTableFunc"` got through); another kind qualifies nothing.
        const alias = str(obj(n.alias)?.aliasname) ?? UNALIASED_FROM_NAMES[t];
        this.expr(item, scope, `${path}FROM ${t}`, `${t} argument`);
        return single({ quals: alias === undefined ? [] : [alias], label: alias ?? t, cols: [], complete: false, guess: false });
      }
    }
  }

  private rangeSubselect(n: Json, scope: Scope, path: string): Rel {
    const alias = obj(n.alias);
    const name = str(alias?.aliasname) ?? 'subquery';
    const visible = n.lateral === true ? scope : (scope.fromOuter ?? scope);
    const out = this.select(unwrap(n.subquery)[1], visible, `${path}subquery ${name}: `, 'pass');
    const rel = composedRel(name, `subquery ${name}`, out);
    // Without an alias (PostgreSQL 16+) a subquery has no name to qualify by: `subquery.cpf` goes
    // past it to an outer `customers AS subquery` there (review 32).
    return this.renamed(alias === undefined ? { ...rel, quals: [] } : rel, stringList(alias?.colnames), path);
  }

  private tableSample(n: Json, scope: Scope, path: string): FromEntry {
    const entry = this.fromEntry(n.relation, scope, path);
    // Like a join's condition, the arguments do not see the FROM items before the sampled table.
    // Nor the sampled table itself (review 31: `orders AS c TABLESAMPLE bernoulli (... c.cpf ...)` read
    // the outer customers c in PostgreSQL).
    const outer = beside([], scope);
    this.exprs(n.args, outer, `${path}TABLESAMPLE`, 'TABLESAMPLE argument');
    this.expr(n.repeatable, outer, `${path}TABLESAMPLE`, 'TABLESAMPLE argument');
    return entry;
  }

  private rangeFunction(n: Json, scope: Scope, path: string): Rel {
    const alias = str(obj(n.alias)?.aliasname);
    const calls = arr(n.functions).map((l) => arr(obj(obj(l)?.List)?.items)[0]);
    // Unaliased, PostgreSQL names the item after its FIRST function (FigureColname; ROWS FROM (f(), g())
    // is f: named g, it let an outer `customers AS g` through, review 31); a name that differs between
    // versions qualifies nothing here, so references go outward, where the guard holds more.
    const first = figureColname(calls[0]);
    const name = alias ?? first.name;
    const quals = alias !== undefined || first.sure ? [name] : [];
    for (const c of calls) {
      const [ct, call] = unwrap(c);
      const fn = ct === 'FuncCall' ? stringList(call.funcname) : [];
      const last = lower(fn[fn.length - 1] ?? ct);
      const where = `${path}FROM ${last}()`;
      this.expr(c, scope, where, 'FROM function argument');
      if (ct !== 'FuncCall' || !TRANSPARENT_FROM_FUNCTIONS.has(last)) {
        // It may read any table: the guard cannot see which columns it returns.
        this.report(`${last}() result (may hold ${this.guard.personalNames().join(', ')})`, `function in FROM ${last}() whose result the guard cannot see into`, where);
      }
    }
    return { quals, label: `${name}()`, cols: [], complete: false, guess: false };
  }

  /**
   * A join's relations: the left side's list (a new one from fromRels, so this join's own) with the
   * right side's appended, never copied, and one scope over them in front of the FROM items before
   * it (LATERAL items on the right see the left side, the condition sees both). Copying both sides
   * at every level, and reading every earlier column again for NATURAL JOIN and USING, made a chain
   * of n joins cost n² (1,000 NATURAL JOINs: ~85 ms, past the work budget); the sides' name indexes
   * (RelsIndex) grow with the chain instead.
   */
  private join(n: Json, scope: Scope, path: string): FromEntry {
    // a JOIN b JOIN c is (a JOIN b) JOIN c: the left-deep chain in a loop, deepest first, as the recursion did (no stack frame per join).
    const chain: Json[] = [n];
    for (let [t, l] = unwrap(n.larg); t === 'JoinExpr'; [t, l] = unwrap(l.larg)) {
      this.guard.charge(1);
      chain.push(l);
    }
    let entry = this.fromEntry((chain[chain.length - 1] as Json).larg, scope, path);
    for (let i = chain.length - 1; i >= 0; i--) entry = this.joinLevel(chain[i] as Json, entry, scope, path);
    return entry;
  }

  /** One join whose left side is analysed (`left`, this join's own lists). */
  private joinLevel(n: Json, left: FromEntry, scope: Scope, path: string): FromEntry {
    const here: Scope = { rels: left.rels, parent: scope, ctes: scope.ctes, ...(scope.fromOuter === undefined ? {} : { fromOuter: scope.fromOuter }) };
    const right = this.rightSide(n.rarg, here, path);
    const using = stringList(n.usingClause);
    const natural = n.isNatural === true;
    if (using.length > 0 || natural) this.joinComparisons(left.rels, right.rels, using, natural, path);
    this.guard.charge(right.rels.length + right.star.size + using.length);
    for (const r of right.rels) left.rels.push(r);
    if (using.length > 0 || natural) this.usingAlias(n, using, left.star.join(right.star, natural ? undefined : using, mergedJoinColumn), left.rels);
    else left.star.append(right.star);
    // The condition sees the join's own two sides, then the enclosing query levels, not the FROM
    // items before the join (transformJoinOnClause): a decoy `(SELECT 1) c` before `... JOIN ... ON
    // ascii(substr(c.cpf, i, 1))` took the outer customers c's cpf (review 30). LATERAL items on the
    // right side (rightSide, `here`) do see those earlier items.
    this.expr(n.quals, beside(left.rels, scope), `${path}JOIN ON`, 'join condition');
    const alias = obj(n.alias);
    if (alias === undefined) return left;
    const name = str(alias.aliasname) ?? 'join';
    this.guard.charge(left.star.size);
    const merged: Rel = { quals: [name], label: `join ${name}`, cols: [...left.star.cols()], complete: left.star.known, guess: left.rels.some((r) => r.guess), composed: true, ...unplacedOf(left.rels) };
    return single(this.renamed(merged, stringList(alias.colnames), path));
  }

  /** JOIN ... USING (k) AS j: j names the join columns (j.k, j.*), beside the joined relations. */
  private usingAlias(n: Json, using: readonly string[], merged: Col[], rels: Rel[]): void {
    const name = str(obj(n.join_using_alias)?.aliasname);
    if (name !== undefined) rels.push({ quals: [name], label: `join columns ${name}`, cols: merged, complete: merged.length === using.length, guess: false, composed: true });
  }

  /** USING (k) and NATURAL JOIN compare their join columns: personal ones (or possibly personal) are uses. */
  private joinComparisons(left: readonly Rel[], right: readonly Rel[], using: readonly string[], natural: boolean, path: string): void {
    const sides = [this.guard.joinSide(left), this.guard.joinSide(right)] as const;
    for (const u of using) for (const side of sides) this.usingUses(side, u, `${path}JOIN USING`);
    if (!natural) return;
    this.naturalUses(sides[0], sides[1], `${path}NATURAL JOIN`);
    this.naturalUses(sides[1], sides[0], `${path}NATURAL JOIN`);
  }

  /**
   * A join's right side. A join in parentheses there (a JOIN (b JOIN c ...)) is followed by
   * recursion and its relations are appended to the left side's at each level (quadratic in the
   * nesting): such nesting counts against MAX_QUERY_DEPTH like a subquery.
   */
  private rightSide(rarg: unknown, here: Scope, path: string): FromEntry {
    if (unwrap(rarg)[0] !== 'JoinExpr') return this.fromEntry(rarg, here, path);
    if (++this.queryDepth > MAX_QUERY_DEPTH) throw new NestingLimit(QUERY_NESTING);
    try {
      return this.fromEntry(rarg, here, path);
    } finally {
      this.queryDepth--;
    }
  }

  /** USING (u): findCol(r, u) for every relation r of a side (a personal column u, or an unknown relation that may have one). */
  private usingUses(side: JoinSide, u: string, where: string): void {
    const name = lower(u);
    for (const source of [...(side.sources.get(name) ?? []), ...side.unplaced]) {
      if (this.full()) return;
      this.report(source, 'join condition USING', where);
    }
    const p = this.guard.personalByName(u);
    if (p === undefined) return;
    for (const label of side.guessLacking.get(name) ?? []) {
      if (this.full()) return;
      this.report(`${label}.${name} (unknown relation; named like ${p})`, 'join condition USING', where);
    }
  }

  /**
   * NATURAL JOIN compares the columns both sides name: a personal column of `side` is compared when
   * the other side has a column so named, or may have (a column list not known in full). Walks the
   * smaller of the two name sets; stops once the uses are full (MAX_USES).
   */
  private naturalUses(side: JoinSide, other: JoinSide, where: string): void {
    const use = 'NATURAL JOIN comparison';
    const compared = (name: string): Iterable<string> => (other.open || other.names.has(name) ? (side.sources.get(name) ?? []) : []);
    const names = other.open || side.sources.size <= other.names.size ? side.sources.keys() : other.names.values();
    for (const name of names) {
      this.guard.charge(1);
      for (const source of compared(name)) {
        if (this.full()) return;
        this.report(source, use, where);
      }
    }
    for (const label of side.guessLabels) {
      if (this.full()) return;
      this.report(`${label}.* (unknown relation; may hold ${this.guard.personalNames().join(', ')})`, use, where);
    }
    for (const source of side.unplaced) {
      if (this.full()) return;
      this.report(source, use, where);
    }
  }

  /** No more uses are recorded for this statement (MAX_USES): loops that only report may stop. */
  private full(): boolean {
    return this.uses.length >= MAX_USES;
  }

  /** A table, view or CTE named in FROM. */
  relation(n: Json, scope: Scope, path: string): Rel {
    const rel = str(n.relname) ?? '';
    const schema = str(n.schemaname);
    const alias = obj(n.alias);
    const cte = schema === undefined ? scope.ctes.get(rel, this.guard) : undefined;
    const named = cte === undefined ? this.target(n, path) : { ...cte, quals: qualifiers(rel, undefined, str(alias?.aliasname)) };
    return this.renamed(named, stringList(alias?.colnames), path);
  }

  /**
   * A table or view of the catalog (a FROM item no WITH name shadows), and the table an INSERT,
   * UPDATE, DELETE, MERGE or COPY writes or reads: always the catalog's there. PostgreSQL never takes a write's target from a WITH item (parse_clause.c opens it as
   * a relation), so `WITH customers AS (SELECT 1 AS x) UPDATE customers ... RETURNING cpf` writes and
   * returns public.customers; read through the WITH names, the guard judged a one-column CTE and let
   * every CPF through (review 28).
   */
  private target(n: Json, path: string): Rel {
    const rel = str(n.relname) ?? '';
    const schema = str(n.schemaname);
    const base = this.guard.catalogRel(schema, rel, this.viewStack, path);
    return { ...base, quals: catalogQualifiers(rel, schema, str(obj(n.alias)?.aliasname)) };
  }

  /** Column aliases rename columns by position: only a relation whose column order is known can be followed. */
  private renamed(r: Rel, names: string[], path: string): Rel {
    if (names.length === 0) return r;
    this.guard.charge(r.cols.length);
    if (!r.complete) {
      const personal = r.cols.filter((c) => c.source !== undefined);
      for (const c of personal) this.report(c.source ?? '', `column aliases over ${r.label}, whose column order the policy does not list`, path || 'FROM');
      if (r.guess) this.reportGuessRelation(r, `column aliases over ${r.label}, whose columns the policy does not list`, path || 'FROM');
      return { ...r, cols: [], guess: r.guess || personal.length > 0 };
    }
    return { ...r, cols: r.cols.map((c, i) => (i < names.length ? { ...c, name: names[i] ?? c.name } : c)) };
  }

  private starRels(qual: string[], scope: Scope, where: string): Rel[] {
    if (qual.length === 0) return scope.rels;
    const r = findRel(scope, qual, this.guard);
    if (r !== undefined) return [r];
    // A qualifier the guard cannot place: (composite).* and the like.
    this.report(`${qual.join('.')}.* (unresolved; may hold ${this.guard.personalNames().join(', ')})`, 'expansion the guard cannot resolve', where);
    return [];
  }

  // --- expressions ---------------------------------------------------------------------------------

  /** Resolves a column reference (not *). Undefined: not personal. */
  resolve(fields: string[], scope: Scope, where: string): Resolved | undefined {
    if (fields.length === 1) return resolveSingle(fields[0] ?? '', scope, this.guard);
    return attributeStatementText(fields, this.guard) ?? this.resolveQualified(fields, scope, where);
  }

  private resolveQualified(fields: string[], scope: Scope, where: string): Resolved | undefined {
    // a.b: column b of relation a; or (a.b).c, a composite's field; s.t.c: schema-qualified.
    for (let k = fields.length - 1; k >= 1; k--) {
      const r = findRel(scope, fields.slice(0, k), this.guard);
      if (r === undefined) continue;
      const field = fields[k] ?? '';
      const c = findCol(r, field, this.guard);
      if (c === undefined && callsOnWholeRow(r, field)) return wholeRow(r, this.guard);
      // A field of a personal composite column is computed from it.
      return k === fields.length - 1 || c === undefined ? c : { source: c.source, how: 'derived' };
    }
    const name = fields[fields.length - 1] ?? '';
    if (this.guard.personalByName(name) !== undefined) {
      this.report(`${fields.slice(0, -1).join('.')}.${name} (unresolved)`, 'reference the guard cannot resolve', where);
    }
    return undefined;
  }

  private exprs(list: unknown, scope: Scope, where: string, use: string, everyRef = false): void {
    for (const e of arr(list)) {
      const [t, n] = unwrap(e);
      // SET col = expr, RETURNING expr: the value is what matters; RETURNING * returns every column.
      const star = t === 'ResTarget' && everyRef ? starFields(n.val) : undefined;
      if (star !== undefined) this.reportOutputs(this.starRels(star, scope, where).flatMap((r) => r.cols), use, where);
      else this.expr(t === 'ResTarget' ? n.val : e, scope, where, use);
      // SET arr[(SELECT ascii(cpf) ...)] = 'x': a subscript decides where the value is stored.
      if (t === 'ResTarget') this.expr(n.indirection, scope, where, 'subscript of the assigned column');
    }
  }

  /**
   * Walks an expression and reports every personal column in it, under the innermost construct
   * using it. Returns the first personal column found (so a select-list item can say what it derives from).
   */
  expr(node: unknown, scope: Scope, where: string, use: string): string | undefined {
    if (node === undefined || node === null || typeof node !== 'object') return undefined;
    this.guard.charge(1);
    // A list (arguments, elements) is not a level of its own: the count follows the SQL's nesting.
    const level = Array.isArray(node) ? 0 : 1;
    if ((this.depth += level) > MAX_DEPTH) throw new NestingLimit(`expressions nested more than ${MAX_DEPTH} levels deep`);
    try {
      return this.exprInner(node, scope, where, use);
    } finally {
      this.depth -= level;
    }
  }

  private exprInner(node: unknown, scope: Scope, where: string, use: string): string | undefined {
    if (Array.isArray(node)) return this.each(node, scope, where, use);
    const [t, n] = unwrap(node);
    const special = EXPRESSIONS[t];
    if (special !== undefined) return special(this, n, scope, where, use);
    return this.each(Object.values(n), scope, where, t === '' || KEEP_USE.has(t) ? use : (NODE_USES[t] ?? t));
  }

  /** Walks every item (all of them: each use is reported); returns the first personal column found. */
  private each(items: unknown[], scope: Scope, where: string, use: string): string | undefined {
    let first: string | undefined;
    for (const x of items) {
      const found = typeof x === 'object' && x !== null ? this.expr(x, scope, where, use) : undefined;
      first ??= found;
    }
    return first;
  }

  columnRef(n: Json, scope: Scope, where: string, use: string): string | undefined {
    const fields = fieldNames(n.fields);
    if (fields[fields.length - 1] === '*') {
      // row_to_json(c.*), ROW(c.*): a whole row; count(*): nothing.
      const r = fields.length === 1 ? undefined : findRel(scope, fields.slice(0, -1), this.guard);
      const w = r === undefined ? undefined : wholeRow(r, this.guard);
      if (w !== undefined) this.report(w.source, `whole-row reference in ${use}`, where);
      return w?.source;
    }
    const res = this.resolve(fields, scope, where);
    if (res !== undefined) this.report(res.source, res.how === 'wholeRow' ? `whole-row reference in ${use}` : use, where);
    return res?.source;
  }

  /**
   * `use` is the construct the call sits in; `plain`: the call is a select-list item returned as it
   * is (plainStatementText), where a statement-text function's result is not itself a use.
   */
  funcCall(n: Json, scope: Scope, where: string, use: string, plain = false): string | undefined {
    const older = olderServerName('FuncCall', n);
    if (older !== undefined) return this.columnRef({ fields: [{ String: { sval: older } }] }, scope, where, use);
    const fn = stringList(n.funcname);
    const name = `${lower(fn[fn.length - 1] ?? '')}()`;
    const kind = argumentUse(n, name);
    const found = [
      this.expr(n.args, scope, where, kind),
      this.expr(arr(n.agg_order).map((s) => obj(obj(s)?.SortBy)?.node), scope, where, `ORDER BY of ${name}`),
      this.expr(n.agg_filter, scope, where, `FILTER of ${name}`),
    ];
    const over = obj(n.over);
    if (over !== undefined) this.window(over, scope, `${where} OVER`);
    if (readsUnseen(name.slice(0, -2))) {
      const source = `${name} result (may hold ${this.guard.personalNames().join(', ')})`;
      this.report(source, `function ${name} that returns rows of a query, table or cursor the guard cannot see`, where);
      return found.find((f) => f !== undefined) ?? source;
    }
    if (isStatementTextFunction(name.slice(0, -2))) {
      const source = this.guard.statementTextSource(name.slice(0, -2));
      if (!plain) this.report(source, use, where);
      return found.find((f) => f !== undefined) ?? source;
    }
    return found.find((f) => f !== undefined);
  }

  /** (x).f: field selection, or an attribute-notation call of f (`(2).pg_stat_get_backend_activity`). */
  indirection(n: Json, scope: Scope, where: string, use: string): string | undefined {
    const found = this.each(Object.values(n), scope, where, NODE_USES.A_Indirection ?? use);
    const called = stringList(n.indirection).find(isStatementTextFunction);
    if (called === undefined) return found;
    const source = this.guard.statementTextSource(called);
    this.report(source, use, where);
    return found ?? source;
  }

  subLink(n: Json, scope: Scope, where: string, use: string): string | undefined {
    const type = str(n.subLinkType) ?? 'EXPR_SUBLINK';
    const what = SUBLINKS[type] ?? 'IN/ANY/ALL (subquery)';
    const valued = type === 'EXPR_SUBLINK' || type === 'ARRAY_SUBLINK';
    const u = valued ? `${what} in ${use}` : `comparison ${what}`;
    const first = this.expr(n.testexpr, scope, where, u);
    const out = this.select(unwrap(n.subselect)[1], scope, `${where} ${what}: `, 'pass');
    // EXISTS returns no value; every other sublink compares or returns its subquery's column.
    if (type === 'EXISTS_SUBLINK') return first;
    const sources = personalOutputs(out);
    for (const source of sources) this.report(source, u, where);
    return first ?? sources[0];
  }

  subquery(n: Json, scope: Scope, where: string, what: string): string | undefined {
    const source = personalOutputs(this.select(n, scope, `${where} ${what}: `, 'pass'))[0];
    if (source !== undefined) this.report(source, what, where);
    return source;
  }
}

interface SetOpLevel { readonly node: Json; readonly op: string; readonly path: string }

/** What a call's arguments are to it: a window function's, an aggregate's, or a plain function's. */
function argumentUse(n: Json, name: string): string {
  if (n.over !== undefined) return `window function ${name}`;
  const aggregate = AGGREGATES.has(name.slice(0, -2)) || n.agg_order !== undefined || n.agg_within_group === true;
  return aggregate ? `aggregate ${name}` : `function argument ${name}`;
}

/**
 * The call of a select-list item that returns other sessions' statement text as it is, like the
 * column pg_stat_activity.query: `pg_stat_get_backend_activity(b)` or `(pg_stat_get_activity(NULL)).query`.
 */
function plainStatementTextCall(vt: string, v: Json): Json | undefined {
  const [field, [ct, call]] = vt === 'A_Indirection' ? [stringList(v.indirection), unwrap(v.arg)] : [[''], [vt, v]];
  if (ct !== 'FuncCall' || field.length !== 1 || call.over !== undefined || call.agg_filter !== undefined) return undefined;
  const text = statementTextField(stringList(call.funcname).at(-1) ?? '');
  return text !== undefined && text === lower(field[0] ?? '') ? call : undefined;
}

/**
 * b.pg_stat_get_backend_activity calls the function (attribute notation): a text result named last
 * is returned as is, like the view's column; anything taken from it (a record's field) is derived.
 */
function attributeStatementText(fields: readonly string[], guard: SensitiveColumnGuard): Resolved | undefined {
  const called = fields.slice(1).find(isStatementTextFunction);
  if (called === undefined) return undefined;
  const plain = fields.at(-1) === called && statementTextField(called) === '';
  return { source: guard.statementTextSource(called), how: plain ? 'plain' : 'derived' };
}

function setOpName(op: string, node: Json): string {
  return op.replace('SETOP_', '') + (node.all === true ? ' ALL' : '');
}

/** What a recursive CTE's fixed point compares: each output's source, and the sources no output places. */
function sourcesOf(out: Outputs): string {
  return JSON.stringify([out.cols.map((c) => [c.source ?? null, c.derived === true]), out.unplaced ?? []]);
}

/**
 * RETURNING on PostgreSQL 18 reads the target's row before and after the write as `old` and `new`
 * (or the names RETURNING WITH (OLD AS o, NEW AS n) gives): relations of the target's columns, where
 * no relation of the statement already takes the name. The parser reads `old` as any name, so the
 * guard saw no relation there (review 21: RETURNING md5((old).cpf) returned md5 of every CPF). Older
 * servers refuse these names; both defaults are kept with aliases too (fail closed).
 */
function withOldAndNew(node: Json, target: Rel, here: Scope): Scope {
  const names = new Set(['old', 'new']);
  for (const o of arr(obj(node.returningClause)?.options)) {
    const alias = str(obj(obj(o)?.ReturningOption)?.value);
    if (alias !== undefined) names.add(alias);
  }
  const taken = new Set(here.rels.flatMap((r) => r.quals));
  const added = [...names].filter((n) => !taken.has(n)).map((n): Rel => ({ ...target, quals: [n], label: `${target.label} (RETURNING ${n})` }));
  return { ...here, rels: [...here.rels, ...added] };
}

/** An expression's output as PostgreSQL names it: its alias, else the name FigureColname gives (unsure where versions differ). */
function namedOutput(val: unknown, alias: string | undefined): Col {
  if (alias !== undefined) return { name: alias };
  const figured = figureColname(val);
  return { name: figured.name, ...(figured.sure ? {} : { unsureName: true as const }) };
}

/** The column names of an INSERT's column list; undefined without one (every column, in order). */
function targetNames(cols: unknown): string[] | undefined {
  const names = arr(cols).map((c) => str(obj(obj(c)?.ResTarget)?.name) ?? '');
  return names.length === 0 ? undefined : names;
}

/** An INSERT's values when its source is one row of VALUES ([] for DEFAULT VALUES); undefined for a query or several rows. */
function oneRowOfValues(selectStmt: unknown): unknown[] | undefined {
  if (selectStmt === undefined) return [];
  const [t, n] = unwrap(selectStmt);
  const rows = arr(n.valuesLists);
  return t === 'SelectStmt' && rows.length === 1 ? arr(obj(obj(rows[0])?.List)?.items) : undefined;
}


/** NULL or DEFAULT: nothing a unique index compares. */
function noValue(v: unknown): boolean {
  const [t, n] = unwrap(v);
  return t === 'SetToDefault' || (t === 'A_Const' && n.isnull === true);
}

/** RETURNING items: PostgreSQL 18 wraps them in a ReturningClause (with OLD/NEW options). */
function returningItems(node: Json): unknown[] {
  const clause = obj(node.returningClause);
  return clause === undefined ? arr(node.returningList) : arr(clause.exprs);
}

/**
 * Keywords the parser (PostgreSQL 18's grammar) reads as a function where older servers read a
 * name: PostgreSQL 15 reads `system_user` (SYSTEM_USER since 16) as a column, or as the whole row
 * of a relation so named (FROM customers "system_user"). Read as the name: on a newer server no
 * column is so named and nothing is found.
 */
const OLDER_SERVER_NAMES: ReadonlySet<string> = new Set(['system_user']);

function olderServerName(t: string, n: Json): string | undefined {
  if (t !== 'FuncCall' || n.funcformat !== 'COERCE_SQL_SYNTAX' || n.args !== undefined) return undefined;
  const fn = stringList(n.funcname);
  const name = fn[1] ?? '';
  return fn.length === 2 && fn[0] === 'pg_catalog' && OLDER_SERVER_NAMES.has(name) ? name : undefined;
}

/** An ORDER BY / GROUP BY / DISTINCT ON item that is an integer: a select-list position (ORDER BY 1). */
function positionOf(item: unknown): number | undefined {
  const [t, n] = unwrap(item);
  const ival = obj(n.ival);
  return t === 'A_Const' && ival !== undefined ? Number(ival.ival ?? 0) : undefined;
}

/** A column reference of one name (`q`, not `t.q`). */
function isBareName(item: unknown): boolean {
  const [t, n] = unwrap(item);
  return t === 'ColumnRef' && arr(n.fields).length === 1;
}

/** An ORDER BY / GROUP BY / DISTINCT ON item that is a bare output name. */
function outputName(item: unknown, byName: ReadonlyMap<string, Col>): Col | undefined {
  const [t, n] = unwrap(item);
  const older = olderServerName(t, n);
  if (older !== undefined) return byName.get(older);
  if (t !== 'ColumnRef') return undefined;
  const f = fieldNames(n.fields);
  return f.length === 1 ? byName.get(f[0] ?? '') : undefined;
}

/**
 * A set operation's outputs: its branches' columns paired by position where both branches place
 * them. Past that (a branch with `*` over a function in FROM, `(x).*`), the guard cannot tell which
 * column of one branch meets which of the other: every personal column there may be in any output
 * past it (`unplaced`), and each such output carries one (fail closed).
 */
function pairedBranches(left: Outputs, right: Outputs): Outputs {
  const complete = left.complete && right.complete;
  const known = Math.min(knownPositions(left), knownPositions(right));
  const unplaced = complete ? [] : [...new Set([...unplacedSources(left, known), ...unplacedSources(right, known)])];
  const cols = left.cols.map((c, i): Col => {
    const r = i < known ? right.cols[i] : undefined;
    const source = c.source ?? r?.source ?? (i < known ? undefined : unplaced[0]);
    // The name is the first branch's (unsure where PostgreSQL versions name it otherwise).
    return { ...mergedJoinColumn(c, r ?? { name: c.name }), ...(source === undefined ? {} : { source }), ...(c.unsureName === true ? { unsureName: true as const } : {}) };
  });
  return { cols, complete, known, guess: left.guess === true || right.guess === true, ...(unplaced.length === 0 ? {} : { unplaced }) };
}

/** The personal columns of outputs past position `known`, and those already unplaced. */
function unplacedSources(out: Outputs, known: number): string[] {
  return [...out.cols.slice(known).flatMap((c) => (c.source === undefined ? [] : [c.source])), ...(out.unplaced ?? [])];
}

/**
 * Outputs side by side (a select list, a RETURNING list). Positions after an item of unknown width
 * are unknown (SELECT * FROM generate_series(...) g, customers ORDER BY 4).
 */
function concatenated(outs: readonly Outputs[]): Outputs {
  const cols: Col[] = [];
  let complete = true;
  let known = 0;
  let guess = false;
  const unplaced = new Set<string>();
  for (const out of outs) {
    for (const c of out.cols) cols.push(c);
    if (complete) known += knownPositions(out);
    complete &&= out.complete;
    guess ||= out.guess === true;
    for (const source of out.unplaced ?? []) unplaced.add(source);
  }
  return { cols, complete, known, guess, ...(unplaced.size === 0 ? {} : { unplaced: [...unplaced] }) };
}

/** The personal columns a query's outputs may carry, placed or not. */
function personalOutputs(out: Outputs): string[] {
  return unplacedSources(out, 0);
}

/** Outputs.unplaced of `*` over these relations: what their unlisted columns may be. */
function unplacedOf(rels: readonly Rel[]): { unplaced?: string[] } {
  const unplaced = [...new Set(rels.flatMap((r) => r.unplaced ?? []))];
  return unplaced.length === 0 ? {} : { unplaced };
}

/** How many leading outputs stand in a place the guard knows. */
function knownPositions(out: Outputs): number {
  return out.known ?? (out.complete ? out.cols.length : 0);
}

/** A relation the statement builds (subquery, CTE) from what its query returns. */
function composedRel(name: string, label: string, out: Outputs): Rel {
  // A query over a relation the policy does not know may return its personal-looking columns under `*`.
  // A personal output whose name the guard is unsure of (a set operation named by a left branch of
  // `(SELECT s.* FROM ...)`, which PostgreSQL names after s's first column) may be reached by any
  // name: it stands for every name, as an unplaced column does (review 33: `q` read the CPFs
  // of `... UNION ALL SELECT cpf FROM customers` unheld).
  const unsure = out.cols.filter((c) => c.unsureName === true && c.source !== undefined).map((c) => c.source ?? '');
  const unplaced = unsure.length === 0 ? out.unplaced : [...(out.unplaced ?? []), ...unsure];
  return { quals: [name], label, cols: out.cols, complete: out.complete, guess: out.guess === true && !out.complete, composed: true, ...(unplaced === undefined ? {} : { unplaced }) };
}

function single(r: Rel): FromEntry {
  return { rels: [r], star: new StarLayout(r.cols, r.complete) };
}

/** USING (k) / NATURAL JOIN's k: the left side's value (the right's where the left has none), either side's personal column. */
function mergedJoinColumn(left: Col, right: Col): Col {
  const source = left.source ?? right.source;
  const derived = left.derived === true || right.derived === true;
  return { name: left.name, ...(source === undefined ? {} : { source }), ...(derived ? { derived: true } : {}) };
}

/**
 * GROUP BY items with ROLLUP, CUBE, GROUPING SETS and parenthesized lists opened: PostgreSQL reads
 * an integer inside them as a select-list position too (GROUP BY ROLLUP (1) groups by the first
 * output column), and (a, b) is a list of items, not a row, at any level (flatten_grouping_sets):
 * GROUP BY (1, 2) groups by the first two outputs.
 */
function groupingItems(list: unknown): unknown[] {
  const out: unknown[] = [];
  const open = (items: unknown[]): void => {
    for (const item of items) {
      const [t, n] = unwrap(item);
      if (t === 'GroupingSet') open(arr(n.content));
      else if (t === 'RowExpr' && n.row_format === 'COERCE_IMPLICIT_CAST') open(arr(n.args));
      else out.push(item);
    }
  };
  open(arr(list));
  return out;
}

function sinkUse(sink: Sink): string {
  return sink === 'export' ? 'exported by COPY (query) TO' : 'stored into another table';
}

/**
 * The parts of a qualified name as one key. NUL is in no identifier, so a single quoted identifier
 * holding a dot (an alias `"public.customers"`) is never the key of `public.customers` (review 31:
 * such an alias on a decoy took `public.customers.cpf` of the outer query).
 */
function qualKey(parts: readonly string[]): string {
  return parts.join('\0');
}

/** How a relation's columns may be qualified: by its alias only, or by its name with and without schema. */
function qualifiers(rel: string, schema: string | undefined, alias: string | undefined): string[] {
  if (alias !== undefined) return [alias];
  return schema === undefined ? [rel] : [rel, qualKey([schema, rel])];
}

/** The names PostgreSQL gives FROM items of these kinds written without an alias. */
const UNALIASED_FROM_NAMES: Readonly<Record<string, string>> = { RangeTableFunc: 'xmltable', JsonTable: 'json_table' };

/** `rels` in front of the query levels enclosing `scope`'s FROM list, without the FROM items beside them. */
function beside(rels: Rel[], scope: Scope): Scope {
  return { rels, parent: scope.fromOuter ?? scope, ctes: scope.ctes };
}

/** The key under which a schema-qualified reference finds an un-aliased catalog relation of any schema (NUL: in no identifier). */
function anySchema(rel: string): string {
  return qualKey(['', '', rel]);
}

/**
 * A catalog relation's qualifiers: also, without an alias, the key a schema-qualified reference
 * (`public.customers.cpf`, `db.public.customers.cpf`) finds it by when the FROM item named no schema.
 * PostgreSQL matches such a reference only against un-aliased relations (scanNameSpaceForRelid),
 * never a subquery, CTE or alias that happens to be named `customers`.
 */
function catalogQualifiers(rel: string, schema: string | undefined, alias: string | undefined): string[] {
  return alias === undefined ? [...qualifiers(rel, schema, undefined), anySchema(rel)] : [alias];
}

/** PostgreSQL tries a column first, then a whole-row reference to a relation of that name (in every enclosing scope). */
function resolveSingle(name: string, scope: Scope, guard: SensitiveColumnGuard): Resolved | undefined {
  const n = lower(name);
  // The first relation of a level that has a personal column so named, or is unknown and may have one (findCol's two cases).
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const ix = guard.relsIndex(s.rels);
    const found = [ix.personalAt.get(n), ix.guessAt.get(n), ix.unplacedAt].filter((x): x is number => x !== undefined);
    const at = found.length === 0 ? undefined : Math.min(...found);
    const hit = at === undefined ? undefined : findCol(s.rels[at] as Rel, name, guard);
    if (hit !== undefined) return hit;
  }
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const at = guard.relsIndex(s.rels).byQual.get(name);
    if (at !== undefined) return wholeRow(s.rels[at] as Rel, guard);
  }
  return undefined;
}

/** The qualifier of `*` / `t.*` when the node is one, else undefined. */
function starFields(v: unknown): string[] | undefined {
  const [t, n] = unwrap(v);
  const fields = t === 'ColumnRef' ? fieldNames(n.fields) : [];
  return fields[fields.length - 1] === '*' ? fields.slice(0, -1) : undefined;
}

/** The relation a qualifier names, innermost level first; names compare exactly as folded ("C" is not c). */
function findRel(scope: Scope, qual: string[], guard: SensitiveColumnGuard): Rel | undefined {
  const q = qualKey(qual);
  const tail = qual[qual.length - 1] ?? '';
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const ix = guard.relsIndex(s.rels);
    // A schema-qualified name (`public.customers`) is an un-aliased catalog relation, never a
    // subquery, CTE or alias named by its last part: those let a decoy `FROM (SELECT 1) AS customers`
    // take `public.customers.cpf` of the outer query (review 30).
    const at = ix.byQual.get(q) ?? (qual.length > 1 ? ix.byQual.get(anySchema(tail)) : undefined);
    if (at !== undefined) return s.rels[at];
  }
  return undefined;
}

function findCol(r: Rel, name: string, guard: SensitiveColumnGuard): Resolved | undefined {
  guard.charge(r.cols.length + 1);
  // Column aliases can give two columns one name (PostgreSQL then calls it ambiguous): any personal one counts.
  const same = r.cols.filter((x) => lower(x.name) === lower(name));
  const c = same.find((x) => x.source !== undefined) ?? same[0];
  if (c !== undefined) return c.source === undefined ? undefined : { source: c.source, how: c.derived === true ? 'derived' : 'plain' };
  // A column the guard cannot place (or a call on the whole row: the guard cannot tell): computed from what may be there.
  const unplaced = r.unplaced?.[0];
  if (unplaced !== undefined) return { source: unplaced, how: 'derived' };
  if (r.guess && !r.complete) {
    const p = guard.personalByName(name);
    if (p !== undefined) return { source: `${r.label}.${lower(name)} (unknown relation; named like ${p})`, how: 'guess' };
  }
  return undefined;
}

/**
 * Whether `r.name` may call function `name` on r's whole row: PostgreSQL reads r.name as a column
 * first and, when r has none so named, as a call name(r) — c.to_json, c.row_to_json, c.record_out
 * — which takes every column. Known where the guard has r's column names: a relation listed in
 * full, a catalog view whose columns it lists (pg_stats, pg_stat_activity); and assumed of one the
 * statement builds (subquery, CTE, join alias, view) holding a personal column, even where a part
 * of it is not listed (a catalog table, a function in FROM: reported anyway, fail closed). Not for
 * relations the policy does not know, whose columns are read by name (the database check keeps
 * personal columns out of them).
 */
function callsOnWholeRow(r: Rel, name: string): boolean {
  if (SYSTEM_COLUMNS.has(name) || r.cols.some((c) => c.name === name)) return false;
  return r.complete || r.namesKnown === true || (r.composed === true && (r.cols.some((c) => c.source !== undefined) || r.unplaced !== undefined));
}

/** A whole-row value carries every column: personal if any column is (or may be). */
function wholeRow(r: Rel, guard: SensitiveColumnGuard): Resolved | undefined {
  guard.charge(r.cols.length + 1);
  const source = r.cols.find((x) => x.source !== undefined)?.source ?? r.unplaced?.[0];
  if (source !== undefined) return { source, how: 'wholeRow' };
  if (r.guess && !r.complete) {
    const p = guard.personalNames()[0];
    if (p !== undefined) return { source: `${r.label}.* (unknown relation; may hold ${p})`, how: 'wholeRow' };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------

type StatementHandler = (a: Analysis, node: Json, root: Scope, path: string) => void;

/** Statements the guard models; any other is checked by column name (byName). */
const STATEMENTS: Readonly<Record<string, StatementHandler>> = {
  SelectStmt: (a, n, root, path) => void a.select(n, root, path, 'client'),
  DeclareCursorStmt: (a, n, root, path) => void a.select(unwrap(n.query)[1], root, path, 'client'),
  // EXPLAIN (ANALYZE runs it, and its row counts leak what a WHERE compares) and PREPARE: their statement.
  ExplainStmt: (a, n, _root, path) => {
    a.explaining = true;
    a.statementNode(...unwrap(n.query), `${path}EXPLAIN: `);
  },
  PrepareStmt: (a, n, _root, path) => a.statementNode(...unwrap(n.query), path),
  CopyStmt: (a, n, root, path) => a.copy(n, root, path),
  CreateTableAsStmt: (a, n, root, path) => void a.select(unwrap(n.query)[1], root, `${path}CREATE TABLE AS: `, 'store'),
  ViewStmt: (a, n, root, path) => void a.select(unwrap(n.query)[1], root, `${path}CREATE VIEW: `, 'store'),
  InsertStmt: (a, n, root, path) => a.write('InsertStmt', n, root, path),
  UpdateStmt: (a, n, root, path) => a.write('UpdateStmt', n, root, path),
  DeleteStmt: (a, n, root, path) => a.write('DeleteStmt', n, root, path),
  MergeStmt: (a, n, root, path) => a.write('MergeStmt', n, root, path),
};

type ExpressionHandler = (a: Analysis, n: Json, scope: Scope, where: string, use: string) => string | undefined;

const none: ExpressionHandler = () => undefined;

/** Expression nodes with their own handling; any other node is walked generically under its own use name. */
const EXPRESSIONS: Readonly<Record<string, ExpressionHandler>> = {
  ColumnRef: (a, n, scope, where, use) => a.columnRef(n, scope, where, use),
  A_Const: none,
  ParamRef: none,
  SQLValueFunction: none,
  SubLink: (a, n, scope, where, use) => a.subLink(n, scope, where, use),
  SelectStmt: (a, n, scope, where) => a.subquery(n, scope, where, 'subquery'),
  FuncCall: (a, n, scope, where, use) => a.funcCall(n, scope, where, use),
  A_Indirection: (a, n, scope, where, use) => a.indirection(n, scope, where, use),
  A_Expr: (a, n, scope, where) => {
    const u = aExprUse(n);
    const left = a.expr(n.lexpr, scope, where, u);
    return a.expr(n.rexpr, scope, where, u) ?? left;
  },
  TypeCast: (a, n, scope, where) => a.expr(n.arg, scope, where, `cast to ${stringList(obj(n.typeName)?.names).filter((x) => x !== 'pg_catalog').join('.')}`),
  SortBy: (a, n, scope, where, use) => a.expr(n.node, scope, where, use),
  WindowDef: (a, n, scope, where) => {
    a.window(n, scope, where);
    return undefined;
  },
};

function aExprUse(n: Json): string {
  const op = stringList(n.name).join('.');
  const kind = A_EXPR_KINDS[str(n.kind) ?? 'AEXPR_OP'];
  if (kind !== undefined) return kind;
  return COMPARISON_OPS.has(op) ? `comparison ${op}` : `operator ${op}`;
}

/** A declared view the guard cannot follow (a cycle, a definition that is not one SELECT): the statement is refused. */
class ViewProblem extends Error {
  readonly view: string;
  readonly path: string;
  constructor(view: string, message: string, path: string) {
    super(message);
    this.view = view;
    this.path = path;
  }
}

/** The SQL text needs more work than WORK_BUDGET. */
class WorkLimit extends Error {
  constructor() {
    super('work budget exceeded');
    this.name = 'WorkLimit';
  }
}

/** A statement nested deeper than MAX_DEPTH or MAX_QUERY_DEPTH; the message names which. */
class NestingLimit extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'NestingLimit';
  }
}

/**
 * A statement past the guard's bounds: refused (the decision is a denial, code Unparseable) with
 * the bound and how to split the work, never allowed and never held for an approver who would be
 * approving what nobody checked. Other errors are bugs: passed on (the decision fails closed too).
 */
function uncheckable(err: unknown, index: number, location: number): unknown {
  const which = `statement ${index + 1}`;
  if (err instanceof WorkLimit) {
    return new SqlParseError(`${which} needs more than ${WORK_BUDGET.toLocaleString('en-US')} steps for the sensitive-column guard to check (its joins, CTEs or set operations make it read the same columns again and again); split it into smaller statements`, location, 'unsupported');
  }
  if (err instanceof NestingLimit) {
    return new SqlParseError(`${which} has ${err.message}, deeper than the sensitive-column guard checks; flatten it, or split it into several statements`, location, 'unsupported');
  }
  if (err instanceof CteCycle) {
    return new SqlParseError(`${which}: ${err.message}; PostgreSQL refuses mutual recursion between WITH items too`, location, 'unsupported');
  }
  if (err instanceof RangeError) {
    // The stack ran out before a nesting bound (a form the bounds do not count).
    return new SqlParseError(`${which} is nested too deeply for the sensitive-column guard to check; flatten it, or split it into several statements`, location, 'unsupported');
  }
  return err;
}

const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;

interface CacheKeys {
  exact: TextCache<SensitiveColumnUse[] | SqlParseError>;
  key: string | undefined;
  shape: string | undefined;
  long: boolean;
}

/** Compiled from spec.sensitiveColumns: the catalog knowledge, and a per-text cache of findings. */
export class SensitiveColumnGuard {
  private readonly personal: PersonalColumn[];
  private readonly names: string[];
  private readonly relations: { want: { schema: string | undefined; rel: string }; columns: string[] }[];
  private readonly views: { want: { schema: string | undefined; rel: string }; name: string; query: string; field: string }[];
  private readonly viewCache = new Map<string, Rel>();
  private readonly cache = new TextCache<SensitiveColumnUse[] | SqlParseError>(512);
  private readonly shapeCache = new TextCache<SensitiveColumnUse[]>(512);
  /** Texts beyond CACHEABLE_SQL_LENGTH, by digest; results of at most LONG_RESULT_USES uses. */
  private readonly longCache = new TextCache<SensitiveColumnUse[] | SqlParseError>(32);
  /** Work spent on the SQL text being checked (check() is synchronous: one text at a time). */
  private spent = 0;
  /** Name indexes of the lists of relations of the text being checked (RelsIndex, JoinSide). */
  private indexes = new WeakMap<readonly Rel[], RelsIndex>();
  private joinSides = new WeakMap<readonly Rel[], JoinSide>();

  /** Work units the last check() spent (nodes visited, columns and relations read): tests assert it grows linearly. */
  get lastCheckWork(): number {
    return this.spent;
  }

  /** The name index of a list of relations, caught up with what was appended since the last lookup. */
  relsIndex(rels: readonly Rel[]): RelsIndex {
    let ix = this.indexes.get(rels);
    if (ix === undefined) {
      ix = new RelsIndex();
      this.indexes.set(rels, ix);
    }
    this.charge(1);
    for (; ix.indexed < rels.length; ix.indexed++) {
      const r = rels[ix.indexed] as Rel;
      this.charge(r.cols.length + r.quals.length + 1);
      ix.add(r, ix.indexed, this.names);
    }
    return ix;
  }

  /** One side of a join as NATURAL JOIN and USING read it, caught up like relsIndex. */
  joinSide(rels: readonly Rel[]): JoinSide {
    let side = this.joinSides.get(rels);
    if (side === undefined) {
      side = new JoinSide();
      this.joinSides.set(rels, side);
    }
    for (; side.indexed < rels.length; side.indexed++) {
      const r = rels[side.indexed] as Rel;
      this.charge(r.cols.length + 1);
      side.add(r, this.names);
    }
    return side;
  }

  /** Counts work against WORK_BUDGET; throws WorkLimit past it. */
  charge(units: number): void {
    this.spent += units;
    if (this.spent > WORK_BUDGET) throw new WorkLimit();
  }

  constructor(cfg: SensitiveColumnsConfig) {
    this.personal = cfg.columns.map((c, i) => {
      const parts = c.split('.');
      if (parts.length < 2 || parts.length > 3 || !parts.every((p) => COLUMN_NAME.test(p))) {
        throw new SensitiveColumnsConfigError(`columns[${i}]`, `"${c}" is not [schema.]table.column (e.g. public.customers.cpf)`);
      }
      const column = lower(parts[parts.length - 1] ?? '');
      const table = lower(parts[parts.length - 2] ?? '');
      const schema = parts.length === 3 ? lower(parts[0] ?? '') : undefined;
      return { schema, table, column, id: lower(c) };
    });
    this.names = [...new Set(this.personal.map((p) => p.column))];
    this.relations = (cfg.relations ?? []).map((r, i) => {
      if (!r.name.split('.').every((p) => COLUMN_NAME.test(p))) throw new SensitiveColumnsConfigError(`relations[${i}].name`, `"${r.name}" is not [schema.]table`);
      return { want: splitName(r.name), columns: r.columns.map(lower) };
    });
    this.views = (cfg.views ?? []).map((v, i) => {
      if (!v.name.split('.').every((p) => COLUMN_NAME.test(p))) throw new SensitiveColumnsConfigError(`views[${i}].name`, `"${v.name}" is not [schema.]view`);
      return { want: splitName(v.name), name: v.name, query: v.query, field: `views[${i}].query` };
    });
  }

  /** Parses every view definition now (the parser must be loaded): a definition the guard cannot follow is a configuration error. */
  validateViews(): void {
    for (const v of this.views) {
      let stmts: ParsedStatement[];
      try {
        stmts = parseStatements(v.query);
      } catch (err) {
        throw new SensitiveColumnsConfigError(v.field, `the view definition does not parse: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (stmts.length !== 1 || stmts[0]?.type !== 'SelectStmt') throw new SensitiveColumnsConfigError(v.field, 'must be exactly one SELECT (the view\'s definition, as pg_get_viewdef prints it)');
    }
  }

  /** The personal column ids, for documentation and tests. */
  personalColumns(): string[] {
    return this.personal.map((p) => p.id);
  }

  personalNames(): readonly string[] {
    return this.names;
  }

  /** The first personal column with this column name (any table), or undefined. */
  personalByName(name: string): string | undefined {
    const n = lower(name);
    return this.personal.find((p) => p.column === n)?.id;
  }

  /** A named relation: a declared view, a relation whose columns are listed, or a table known by its personal columns. */
  catalogRel(schema: string | undefined, rel: string, viewStack: readonly string[], path: string): Rel {
    const label = schema === undefined ? rel : `${schema}.${rel}`;
    const view = this.views.find((v) => relMatches(v.want, schema, rel));
    if (view !== undefined) return this.viewRel(view, label, viewStack, path);
    const personal = this.personal.filter((p) => relMatches({ schema: p.schema, rel: p.table }, schema, rel));
    const listed = this.relations.find((r) => relMatches(r.want, schema, rel));
    const sourceOf = (col: string): string | undefined => personal.find((p) => p.column === col)?.id;
    const system = personal.length === 0 && listed === undefined ? this.systemViewRel(schema, rel, label) : undefined;
    if (system !== undefined) return system;
    if (listed !== undefined) {
      const cols = listed.columns.map((c) => ({ name: c, ...(sourceOf(c) === undefined ? {} : { source: sourceOf(c) }) }));
      // A personal column the list forgot is still personal (the list is then incomplete).
      const missing = personal.filter((p) => !listed.columns.includes(p.column)).map((p) => ({ name: p.column, source: p.id }));
      return { quals: [rel], label, cols: [...cols, ...missing], complete: missing.length === 0, guess: false };
    }
    return { quals: [rel], label, cols: personal.map((p) => ({ name: p.column, source: p.id })), complete: false, guess: personal.length === 0 };
  }

  /** Where a statement text came from, as a use names it: the function's result, which may hold personal values. */
  statementTextSource(fn: string): string {
    return `${lower(fn)}() result (statement text of other sessions; may hold ${this.names.join(', ')})`;
  }

  /** Catalog views that hold values of other columns or other sessions' statements (pg_stats, pg_stat_activity, pg_stat_statements). */
  private systemViewRel(schema: string | undefined, rel: string, label: string): Rel | undefined {
    const may = `may hold ${this.names.join(', ')}`;
    const view = lower(rel);
    const catalogView = (cols: Col[]): Rel => {
      const others = (CATALOG_VIEW_OTHER_COLUMNS[view] ?? []).map((name) => ({ name }));
      return { quals: [rel], label, cols: [...cols, ...others], complete: false, guess: false, namesKnown: true };
    };
    const extension = EXTENSION_STATEMENT_TEXT_VIEWS[view];
    if (extension !== undefined) return catalogView(extension.map((c) => ({ name: c, source: `${view}.${c} (statement text of other sessions; ${may})` })));
    if (schema !== undefined && lower(schema) !== 'pg_catalog') return undefined;
    const stats = STATISTICS_VIEWS[view];
    // Every reference is a use: these arrays hold values of any column, and masking keys on column names.
    if (stats !== undefined) {
      const figures = (STATISTICS_FIGURES[view] ?? []).map((c) => ({ name: c, source: `${view}.${c} (a figure computed from every column's values; ${may})`, derived: true }));
      return catalogView([...stats.map((c) => ({ name: c, source: `${view}.${c} (values sampled from every column; ${may})`, derived: true })), ...figures]);
    }
    const texts = STATEMENT_TEXT_VIEWS[view];
    // Returned as is, the text is masked by value like any cell; transformed or compared, it is a use.
    if (texts !== undefined) return catalogView(texts.map((c) => ({ name: c, source: `${view}.${c} (statement text of other sessions; ${may})` })));
    return undefined;
  }

  private viewRel(view: SensitiveColumnGuard['views'][number], label: string, viewStack: readonly string[], path: string): Rel {
    const key = lower(view.name);
    const cached = this.viewCache.get(key);
    if (cached !== undefined) return { ...cached, label };
    if (viewStack.includes(key)) throw new ViewProblem(view.name, `view ${view.name} defined through itself`, path);
    let stmts: ParsedStatement[];
    try {
      stmts = parseStatements(view.query);
    } catch {
      stmts = [];
    }
    const first = stmts[0];
    if (stmts.length !== 1 || first?.type !== 'SelectStmt') throw new ViewProblem(view.name, `view ${view.name}, whose definition in the policy cannot be followed`, path);
    // The view's own filters and joins are its owner's, not the agent's: only what its columns carry matters.
    const a = new Analysis(this, 0, [...viewStack, key]);
    const out = a.select(first.node, { rels: [], parent: undefined, ctes: new CteNames() }, '', 'pass');
    // Built from its definition as a subquery is: what it cannot place or list is kept (unplaced, guess).
    const r = composedRel(label, label, out);
    this.viewCache.set(key, r);
    return r;
  }

  /**
   * Every use of a personal column in the SQL text, in order (at most a few per statement). Throws
   * SqlParseError like classifySql. Results are cached by text and, like the classifier's, by
   * numeric shape (sql-shape.ts) when no number decided anything (ORDER BY 1 refers to a column).
   */
  check(sql: string): SensitiveColumnUse[] {
    this.spent = 0;
    const keys = this.cacheKeys(sql);
    const hit = (keys.key === undefined ? undefined : keys.exact.get(keys.key)) ?? (keys.shape === undefined ? undefined : this.shapeCache.get(keys.shape));
    if (hit instanceof SqlParseError) throw hit;
    if (hit !== undefined) return hit.map((u) => ({ ...u }));
    let result: SensitiveColumnUse[] | SqlParseError;
    let readsNumbers = false;
    try {
      ({ uses: result, readsNumbers } = this.analyse(sql));
    } catch (err) {
      if (!(err instanceof SqlParseError)) throw err;
      result = err;
    }
    this.remember(keys, result, readsNumbers);
    if (result instanceof SqlParseError) throw result;
    return result.map((u) => ({ ...u }));
  }

  /**
   * Where a text's result is kept: by text and by numeric shape (short texts); by digest (a long
   * prepared statement is decided at every run), unless past MAX_SQL_TEXT, which parseStatements
   * refuses at once (hashing megabytes would cost more than refusing them).
   */
  private cacheKeys(sql: string): CacheKeys {
    if (sql.length <= CACHEABLE_SQL_LENGTH) return { exact: this.cache, key: sql, shape: numericShape(sql), long: false };
    return { exact: this.longCache, key: sql.length <= MAX_SQL_TEXT ? textDigest(sql) : undefined, shape: undefined, long: true };
  }

  /** Refusals are remembered too (the same text past a bound would cost its whole budget again); long results only when small. */
  private remember(keys: CacheKeys, result: SensitiveColumnUse[] | SqlParseError, readsNumbers: boolean): void {
    const failed = result instanceof SqlParseError;
    if (keys.key !== undefined && (!keys.long || failed || result.length <= LONG_RESULT_USES)) keys.exact.set(keys.key, result);
    if (keys.shape !== undefined && !readsNumbers && !failed) this.shapeCache.set(keys.shape, result);
  }

  /** Every statement's uses; throws SqlParseError (a syntax error, a bound). */
  private analyse(sql: string): { uses: SensitiveColumnUse[]; readsNumbers: boolean } {
    let readsNumbers = false;
    const uses = parseStatements(sql).flatMap((s, i) => {
      const a = new Analysis(this, i + 1);
      try {
        a.statementNode(s.type, s.node, '');
      } catch (err) {
        if (!(err instanceof ViewProblem)) throw uncheckable(err, i, s.location);
        // The view cannot be followed: whatever it returns may be personal (fail closed).
        a.report(`${err.view}.* (view; may hold ${this.names.join(', ')})`, err.message, err.path || 'FROM');
      }
      readsNumbers ||= a.readsNumbers;
      return a.uses;
    });
    return { uses, readsNumbers };
  }
}

