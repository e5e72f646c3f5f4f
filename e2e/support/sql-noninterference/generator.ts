// The grammar-driven generator (mode `random`): SELECTs and writes built from a small PostgreSQL
// grammar. It keeps a rough model of the scope (which FROM items with which columns are visible,
// level by level) so that most names exist and most statements get past the parser, and it picks
// decoy names (vocabulary.ts) so that a name often means something else than it seems to: a CTE
// called customers, an output called cpf holding a constant, a join alias hiding its inputs.
//
// Constructs: CTEs (column lists, RECURSIVE, MATERIALIZED, names shadowing tables); derived tables
// (`AS t(a, b)`, LATERAL); table aliases with column lists; JOIN ON / USING / NATURAL / CROSS / LEFT /
// FULL and join aliases; set operations with ORDER BY by name or position and LIMIT; DISTINCT /
// DISTINCT ON, GROUP BY by name or position, inline and named windows; `*`, `t.*`, `(t).*`; whole-row
// forms (`t::text`, `(t).cpf`, `row_to_json(t)`); scalar subqueries, including the
// `(SELECT s.* FROM (SELECT e AS q) s)` naming forms; VALUES; unnest / ROWS FROM / generate_series /
// json_to_record / json_populate_record / regexp_split_to_table fed by columns; EXISTS / IN; quoted and
// case-folded names, `@S.`-qualified names; UPDATE / INSERT ... SELECT / DELETE ... USING with
// RETURNING, writable CTEs, ON CONFLICT DO UPDATE, MERGE; and the DISGUISES. Review 38 added GROUP BY
// ROLLUP / CUBE / GROUPING SETS, HAVING, LIMIT / OFFSET with expressions, FETCH FIRST WITH TIES,
// INTERSECT / EXCEPT ALL, RIGHT and FULL JOIN USING, TABLESAMPLE ... REPEATABLE, unnest / ROWS FROM WITH
// ORDINALITY, json_to_recordset / jsonb_to_recordset, and expressions (constructExpr): COALESCE,
// NULLIF, GREATEST, CASE, ARRAY[...], JSON constructors and paths, aggregates with ORDER BY and FILTER,
// row comparisons, IS DISTINCT FROM, casts that fail for some values; recursive CTEs with SEARCH /
// CYCLE; multiple-column and uniqueness writes (constructs.ts); attribute notation (`t.pg_column_size`).
//
// The model is approximate on purpose: a wrong guess only yields an error, and an error identical on
// both schemas compares equal.
import type { Rng } from './rng.ts';
import { uniquenessWrites } from './constructs.ts';
import { COL_NAMES, CUSTOMERS, DISGUISES, ORDERS, PERSONAL, REL_NAMES } from './vocabulary.ts';

/** A relation visible in a scope: its alias (null = unaliased) and the names of its columns. */
interface Rel { alias: string | null; cols: string[]; personalIn: boolean }
/** The scope of an expression: this level's FROM items, the outer levels (correlation), the CTEs. */
interface Ctx { scope: Rel[]; outer: Rel[][]; ctes: { name: string; cols: string[] }[]; depth: number }
interface Item { sql: string; rels: Rel[] }
interface Sel { sql: string; cols: string[] }

const LITERALS = [`'590'::text`, `''::text`, '1', 'NULL::text', `'a'`, `'390.996.030-88'`];

export class RandomGenerator {
  private readonly r: Rng;

  constructor(r: Rng) {
    this.r = r;
  }

  /** One top-level statement: mostly a SELECT, sometimes a write (run inside a rolled-back transaction). */
  statement(): string {
    const ctx: Ctx = { scope: [], outer: [], ctes: [], depth: 0 };
    const w = this.withClause(ctx);
    if (this.r.next() < 0.82) return w + this.select(ctx).sql;
    return this.write(ctx, w);
  }

  // ---- names and expressions ---------------------------------------------------------------------

  /** A column name of some visible relation, maybe qualified; or a decoy; or a whole-row reference. */
  private colRef(ctx: Ctx): string {
    const levels = [ctx.scope, ...ctx.outer].filter((l) => l.length > 0);
    const roll = this.r.next();
    if (levels.length > 0 && roll < 0.62) return this.visibleColumn(levels);
    if (roll < 0.82) return this.decoyColumn();
    return this.wholeRow(levels);
  }

  private visibleColumn(levels: Rel[][]): string {
    const r = this.r;
    const level = r.chance(0.75) ? levels[0]! : r.pick(levels);
    const rel = r.pick(level);
    const named = rel.cols.filter((c) => c !== '?column?');
    const col = named.length > 0 ? r.pick(named) : 'id';
    const quoted = r.chance(0.1) ? `"${col.replace(/"/g, '')}"` : col;
    if (rel.alias !== null && r.chance(0.5)) return `${rel.alias}.${quoted}`;
    return quoted;
  }

  /** A name that may exist nowhere, or somewhere else than the scope model says. */
  private decoyColumn(): string {
    const r = this.r;
    const name = r.pick([...PERSONAL, 'id', 'q', 'x', 'a', 'f1', 'column1', 'nome']);
    if (r.chance(0.4)) return `${r.pick(REL_NAMES)}.${name}`;
    if (r.chance(0.1)) return `@S.customers.${name}`;
    return name;
  }

  /** The row as a value: every column, personal ones included, in one cell. */
  private wholeRow(levels: Rel[][]): string {
    const r = this.r;
    const alias = levels.length > 0 && r.chance(0.7) ? (r.pick(r.pick(levels)).alias ?? r.pick(REL_NAMES)) : r.pick(REL_NAMES);
    return r.pick([`${alias}::text`, `(${alias}).${r.pick(PERSONAL)}`, `row_to_json(${alias})::text`, `${alias}`,
      `(${alias}).${r.pick(['id', 'q', 'x', 'f1'])}`, `${alias}.pg_column_size`, `${alias}.row_to_json::text`]);
  }

  private expr(ctx: Ctx, depth = 0): string {
    const r = this.r;
    const roll = r.next();
    if (roll < 0.38 || depth > 1 || ctx.depth > 2) return this.colRef(ctx);
    if (roll < 0.65) return r.pick(DISGUISES)(this.colRef(ctx));
    if (roll < 0.73) return r.pick(LITERALS);
    if (roll < 0.85) return this.scalarSubquery(ctx, depth);
    if (roll < 0.93) return this.windowCall(ctx);
    if (r.chance(0.5)) return this.constructExpr(ctx);
    return r.pick([`ROW(${this.colRef(ctx)})::text`, `(${this.colRef(ctx)})::text`, `${this.colRef(ctx)} IS NULL`,
      `CASE WHEN ${this.cond(ctx, depth + 1)} THEN 1 ELSE 0 END`]);
  }

  /** Conditionals, constructors, aggregates with ORDER BY / FILTER, JSON paths, composites, casts that may fail. */
  private constructExpr(ctx: Ctx): string {
    const c = (): string => this.colRef(ctx);
    return this.r.pick([
      `coalesce(${c()}, ${c()})`, `nullif(${c()}, '12345678909')`, `greatest(${c()}, ${c()})`,
      `CASE ${c()} WHEN '390.996.030-88' THEN 'k' ELSE ${c()} END`, `ARRAY[${c()}]`, `(ARRAY[${c()}, 'k'])[1]`,
      `json_build_object('k', ${c()})::text`, `to_jsonb(${c()}) #>> '{}'`, `jsonb_path_query_first(to_jsonb(${c()}), '$')`,
      `string_agg(${c()}::text, ',' ORDER BY ${c()})`, `array_agg(${c()} ORDER BY ${c()})`, `count(*) FILTER (WHERE ${this.cond(ctx, 2)})`,
      `min(${c()}) FILTER (WHERE ${c()} IS NOT NULL)`, `(${c()})::text::bigint`, `1 / (length(${c()}::text) - 11)`,
      `(${c()}, 1) > ('3', 0)`, `${c()} IS DISTINCT FROM ${c()}`, `(ROW(${c()}, 1)).f1`,
    ]);
  }

  /** A scalar subquery, possibly correlated, including the (SELECT s.* FROM (SELECT e AS q) s) naming forms. */
  private scalarSubquery(ctx: Ctx, depth: number): string {
    const r = this.r;
    const inner = this.withLevel(ctx);
    const item = this.fromItem(inner);
    inner.scope.push(...item.rels);
    const form = r.next();
    if (form < 0.25) return `(SELECT s.* FROM (SELECT ${this.expr(ctx, depth + 1)} AS ${r.pick(COL_NAMES)}) s)`;
    if (form < 0.4) return `(SELECT (s).* FROM (SELECT ${this.expr(ctx, depth + 1)} AS ${r.pick(COL_NAMES)}) s)`;
    const w = r.chance(0.3) ? ` WHERE ${this.cond(inner, depth + 1)}` : '';
    return `(SELECT ${this.expr(inner, depth + 1)} FROM ${item.sql}${w} LIMIT 1)`;
  }

  /** Window functions: an ORDER BY or PARTITION BY a personal column is an ordering oracle. */
  private windowCall(ctx: Ctx): string {
    const c = this.colRef(ctx);
    return this.r.pick([`count(*) OVER (ORDER BY ${c})`, `row_number() OVER (PARTITION BY ${c})`, `max(${c}) OVER ()`,
      `first_value(${c}) OVER (ORDER BY ${this.colRef(ctx)})`, `lag(${c}) OVER ()`]);
  }

  private cond(ctx: Ctx, depth = 0): string {
    const r = this.r;
    const roll = r.next();
    if (roll < 0.35) return `${this.colRef(ctx)} ${r.pick(['LIKE', '>', '=', '<>'])} ${r.pick([`'5%'`, `'390.996.030-88'`, `'3'`, `'a'`])}`;
    if (roll < 0.5) return `${this.colRef(ctx)} = ${this.colRef(ctx)}`;
    if (roll < 0.7 && depth < 2) return this.existsCond(ctx, depth);
    if (roll < 0.8 && depth < 2) return `${this.colRef(ctx)} IN (SELECT ${this.colRef(ctx)} FROM ${r.pick(['customers', 'orders', '@S.customers'])})`;
    if (roll < 0.9) return `${this.expr(ctx, depth + 1)} IS NOT NULL`;
    return r.pick(['true', 'id > 2', 'false']);
  }

  private existsCond(ctx: Ctx, depth: number): string {
    const inner = this.withLevel(ctx);
    const item = this.fromItem(inner);
    inner.scope.push(...item.rels);
    return `${this.r.pick(['EXISTS', 'NOT EXISTS'])} (SELECT 1 FROM ${item.sql} WHERE ${this.cond(inner, depth + 1)})`;
  }

  /** A subquery's scope: empty, with the current one as its outer (correlated) level. */
  private withLevel(ctx: Ctx): Ctx {
    return { scope: [], outer: [ctx.scope, ...ctx.outer], ctes: ctx.ctes, depth: ctx.depth + 1 };
  }

  private aliasCols(n: number): string {
    return Array.from({ length: n }, () => this.r.pick(COL_NAMES)).join(', ');
  }

  // ---- FROM items ----------------------------------------------------------------------------------

  /** A FROM item (possibly a join tree); its text and the relations it makes visible. */
  private fromItem(ctx: Ctx, allowJoin = true): Item {
    const roll = this.r.next();
    if (allowJoin && roll < 0.2 && ctx.depth < 2) return this.join(ctx);
    const { alias, as } = this.itemAlias();
    if (roll < 0.58) return this.tableItem(roll, alias, as);
    if (roll < 0.66 && ctx.ctes.length > 0) return this.cteItem(ctx, alias, as);
    if (roll < 0.82 && ctx.depth < 2) return this.derivedTable(ctx, alias);
    return this.functionItem(ctx, alias);
  }

  /** An alias for a FROM item (often none), and how it is written (with or without AS). */
  private itemAlias(): { alias: string | null; as: string } {
    const alias = this.r.chance(0.75) ? this.r.pick(REL_NAMES) : null;
    if (alias === null) return { alias, as: '' };
    return { alias, as: ` ${this.r.chance(0.5) ? 'AS ' : ''}${alias}` };
  }

  /** A CTE of this statement, whose name may shadow a table's. */
  private cteItem(ctx: Ctx, alias: string | null, as: string): Item {
    const c = this.r.pick(ctx.ctes);
    return { sql: `${c.name}${as}`, rels: [{ alias: alias ?? c.name, cols: c.cols, personalIn: true }] };
  }

  /** customers, schema-qualified or renamed by a column alias list, or orders. */
  private tableItem(roll: number, alias: string | null, as: string): Item {
    if (roll < 0.3) return { sql: `customers${as}`, rels: [{ alias: alias ?? 'customers', cols: CUSTOMERS, personalIn: true }] };
    if (roll < 0.34) return { sql: `customers${as} TABLESAMPLE ${this.r.pick(['BERNOULLI', 'SYSTEM'])} (50) REPEATABLE (1)`, rels: [{ alias: alias ?? 'customers', cols: CUSTOMERS, personalIn: true }] };
    if (roll < 0.42) return this.renamedCustomers(alias);
    if (roll < 0.5) return { sql: `@S.customers${as}`, rels: [{ alias: alias ?? 'customers', cols: CUSTOMERS, personalIn: true }] };
    return { sql: `orders${as}`, rels: [{ alias: alias ?? 'orders', cols: ORDERS, personalIn: false }] };
  }

  private join(ctx: Ctx): Item {
    const r = this.r;
    const a = this.fromItem(ctx, false);
    const b = this.fromItem({ ...ctx, scope: [...ctx.scope, ...a.rels] }, false);
    const both = [...a.rels, ...b.rels];
    const inner: Ctx = { ...ctx, scope: [...ctx.scope, ...both] };
    const common = a.rels.flatMap((x) => x.cols).filter((c) => b.rels.some((y) => y.cols.includes(c)));
    const kind = r.next();
    let sql: string;
    if (kind < 0.35) sql = `${a.sql} ${r.pick(['JOIN', 'LEFT JOIN', 'FULL JOIN', 'RIGHT JOIN'])} ${b.sql} ON ${this.cond(inner, 2)}`;
    else if (kind < 0.6) sql = `${a.sql} ${r.pick(['JOIN', 'FULL JOIN', 'RIGHT JOIN'])} ${b.sql} USING (${common.length > 0 ? r.pick(common) : r.pick(COL_NAMES)})`;
    else if (kind < 0.8) sql = `${a.sql} NATURAL JOIN ${b.sql}`;
    else sql = `${a.sql} CROSS JOIN ${b.sql}`;
    if (!r.chance(0.25)) return { sql, rels: both };
    // A join alias hides the inputs' names behind one relation with all their columns.
    const j = r.pick(REL_NAMES);
    return { sql: `(${sql}) AS ${j}`, rels: [{ alias: j, cols: both.flatMap((x) => x.cols), personalIn: true }] };
  }

  /** A column alias list on a table renames its first columns (PostgreSQL keeps the names of the rest). */
  private renamedCustomers(alias: string | null): Item {
    const a = alias ?? this.r.pick(REL_NAMES);
    const list = Array.from({ length: this.r.int(1, 4) }, () => this.r.pick(COL_NAMES));
    return { sql: `customers AS ${a}(${list.join(', ')})`, rels: [{ alias: a, cols: [...list, ...CUSTOMERS.slice(list.length)], personalIn: true }] };
  }

  /** A derived table, maybe LATERAL, maybe with a column alias list. */
  private derivedTable(ctx: Ctx, alias: string | null): Item {
    const r = this.r;
    const lateral = r.chance(0.3);
    const sub = this.select({ ...ctx, depth: ctx.depth + 1, outer: lateral ? [ctx.scope, ...ctx.outer] : ctx.outer, scope: [] });
    const a = alias ?? r.pick(REL_NAMES);
    const list = r.chance(0.3) ? this.aliasCols(Math.max(1, Math.min(sub.cols.length, r.int(1, 2)))) : '';
    const names = list === '' ? [] : list.split(', ');
    const cols = [...names, ...sub.cols.slice(names.length)];
    return { sql: `${lateral ? 'LATERAL ' : ''}(${sub.sql}) AS ${a}${list === '' ? '' : `(${list})`}`, rels: [{ alias: a, cols, personalIn: true }] };
  }

  /** Functions and VALUES in FROM; several are fed by a column and rename it (unnest, ROWS FROM, JSON records). */
  private functionItem(ctx: Ctx, alias: string | null): Item {
    const r = this.r;
    const a = alias ?? r.pick(['t', 'v', 'f']);
    const fn = alias ?? 'unnest';
    const as = alias !== null ? ` AS ${alias}` : '';
    const n1 = r.pick(COL_NAMES);
    const n2 = r.pick(COL_NAMES);
    const one = (sql: string, cols: string[], personalIn: boolean, relAlias = a): Item => ({ sql, rels: [{ alias: relAlias, cols, personalIn }] });
    // Every alternative is built (drawing from the generator) before one is picked: keeps seeds stable.
    return r.pick([
      one(`(VALUES ('590', 1), ('390.996.030-88', 2)) AS ${a}(${n1}, ${n2})`, [n1, n2], false),
      one(`(VALUES ('a'), ('b')) ${a}`, ['column1'], false),
      one(`unnest(ARRAY['590', '390.996.030-88'])${as}`, [fn], false, fn),
      one(`generate_series(1, 3) AS ${a}(${n1})`, [n1], false),
      one(`ROWS FROM (generate_series(1, 2), unnest(ARRAY['x', 'y'])) AS ${a}(${n1}, ${n2})`, [n1, n2], false),
      one(`json_to_record('{"cpf": "111", "q": "z"}') AS ${a}(${n1} text, q text)`, [n1, 'q'], false),
      one(`LATERAL (SELECT ${this.expr(ctx)} AS ${n1}) AS ${a}`, [n1], true),
      one(`unnest(ARRAY[${this.colRef(ctx)}])${as}`, [fn], true, fn),
      one(`unnest(ARRAY[${this.colRef(ctx)}], ARRAY[1]) AS ${a}(${n1}, ${n2})`, [n1, n2], true),
      one(`ROWS FROM (unnest(ARRAY[${this.colRef(ctx)}])) AS ${a}(${n1})`, [n1], true),
      one(`json_to_record(json_build_object('${n1.replace(/"/g, '')}', ${this.colRef(ctx)})) AS ${a}(${n1} text)`, [n1], true),
      one(`json_populate_record(NULL::customers, json_build_object('nome', ${this.colRef(ctx)})) AS ${a}`, CUSTOMERS, true),
      one(`regexp_split_to_table(${this.colRef(ctx)}, '[.]') AS ${a}`, [a], true),
      one(`(VALUES ((SELECT ${this.colRef(ctx)} LIMIT 1))) AS ${a}(${n1})`, [n1], true),
      one(`unnest(ARRAY[${this.colRef(ctx)}]) WITH ORDINALITY AS ${a}(${n1}, ${n2})`, [n1, n2], true),
      one(`unnest(string_to_array(${this.colRef(ctx)}::text, '.')) WITH ORDINALITY AS ${a}(${n1}, ${n2})`, [n1, n2], true),
      one(`json_to_recordset((SELECT json_agg(x) FROM customers x)) AS ${a}(id int, ${n1} text)`, ['id', n1], true),
      one(`jsonb_to_recordset(jsonb_build_array(jsonb_build_object('${n1.replace(/"/g, '')}', ${this.colRef(ctx)}))) AS ${a}(${n1} text)`, [n1], true),
      one(`ROWS FROM (unnest(ARRAY[${this.colRef(ctx)}]), generate_series(1, 2)) WITH ORDINALITY AS ${a}(${n1}, ${n2}, o)`, [n1, n2, 'o'], true),
    ]);
  }

  // ---- SELECT --------------------------------------------------------------------------------------

  /** A SELECT (maybe a set operation), with the names of its outputs (approximate). */
  private select(ctx: Ctx, arity?: number): Sel {
    if (arity === undefined && ctx.depth < 2 && this.r.chance(0.22)) return this.setOperation(ctx);
    return this.simpleSelect(ctx, arity);
  }

  /** A set operation's output names come from its first branch; ORDER BY may name them or count. */
  private setOperation(ctx: Ctx): Sel {
    const r = this.r;
    const a = this.simpleSelect(ctx);
    const b = this.simpleSelect(ctx, a.cols.length);
    const op = r.pick(['UNION ALL', 'UNION', 'EXCEPT', 'INTERSECT', 'UNION ALL', 'INTERSECT ALL', 'EXCEPT ALL']);
    const paren = (x: string): string => (/ (ORDER BY|LIMIT) /.test(x) || r.chance(0.2) ? `(${x})` : x);
    let sql = `${paren(a.sql)} ${op} ${paren(b.sql)}`;
    if (r.chance(0.5)) sql += ` ORDER BY ${r.chance(0.4) ? r.int(1, a.cols.length) : r.pick([...a.cols.filter((c) => c !== '?column?'), ...COL_NAMES])}`;
    if (r.chance(0.3)) sql += ` LIMIT ${r.int(1, 3)}`;
    return { sql, cols: a.cols };
  }

  private simpleSelect(ctx0: Ctx, arity?: number): Sel {
    const r = this.r;
    const ctx: Ctx = { ...ctx0, scope: [] };
    const items = this.fromList(ctx);
    const n = arity ?? r.int(1, 2);
    const { outs, cols } = this.selectList(ctx, n, arity === undefined);
    const named = cols.filter((c) => c !== '?column?');
    const outName = (): string => (named.length > 0 && r.chance(0.5) ? r.pick(named) : this.colRef(ctx));
    const distinct = this.distinctClause(outName);
    const parts = [`SELECT ${distinct}${outs.join(', ')}`];
    if (items.length > 0) parts.push(`FROM ${items.map((i) => i.sql).join(', ')}`);
    this.clauses(ctx, { n, outs, parts, distinct, outName });
    return { sql: parts.join(' '), cols };
  }

  /** No FROM, one item, or two (the second sees the first: LATERAL); their relations go into ctx's scope. */
  private fromList(ctx: Ctx): Item[] {
    const items = this.r.chance(0.93) ? [this.fromItem(ctx)] : [];
    if (items.length > 0 && this.r.chance(0.15)) items.push(this.fromItem({ ...ctx, scope: items[0]!.rels }));
    for (const it of items) ctx.scope.push(...it.rels);
    return items;
  }

  /** WHERE, GROUP BY, WINDOW, ORDER BY and LIMIT, each maybe, appended to parts. */
  private clauses(ctx: Ctx, s: { n: number; outs: string[]; parts: string[]; distinct: string; outName: () => string }): void {
    const r = this.r;
    if (r.chance(0.35)) s.parts.push(`WHERE ${this.cond(ctx)}`);
    if (r.chance(0.15)) s.parts.push(this.groupBy(s.n, s.outName));
    if (r.chance(0.06)) s.parts.push(`HAVING ${r.chance(0.5) ? this.cond(ctx, 2) : `min(${this.colRef(ctx)}::text) > '3'`}`);
    if (r.chance(0.08)) s.parts.push(this.namedWindow(ctx, s.outs, s.parts, s.distinct));
    const ordered = r.chance(0.3);
    if (ordered) s.parts.push(`ORDER BY ${r.chance(0.3) ? r.int(1, s.n) : s.outName()}`);
    if (r.chance(0.15)) s.parts.push(this.limit(ctx, ordered));
  }

  /** GROUP BY a name or a position, plain or in ROLLUP / CUBE / GROUPING SETS (names resolve to inputs first). */
  private groupBy(n: number, outName: () => string): string {
    const r = this.r;
    const k = (): string => (r.chance(0.4) ? String(r.int(1, n)) : outName());
    return `GROUP BY ${r.pick([k(), `ROLLUP (${k()})`, `CUBE (${k()})`, `GROUPING SETS ((${k()}), ())`, `${k()}, ${k()}`])}`;
  }

  /** LIMIT / OFFSET with constants or expressions; FETCH FIRST WITH TIES needs an ORDER BY (ties follow its values). */
  private limit(ctx: Ctx, ordered: boolean): string {
    const r = this.r;
    const e = r.pick([String(r.int(1, 3)), `length(${this.scalarSubquery(ctx, 1)}::text)`, `(SELECT count(*) FROM customers WHERE ${this.cond(ctx, 2)})`]);
    if (ordered && r.chance(0.3)) return `FETCH FIRST ${r.int(1, 2)} ROWS WITH TIES`;
    return r.chance(0.7) ? `LIMIT ${e}` : `OFFSET ${e}`;
  }

  /** `n` output items (a star form first, sometimes), and their names as PostgreSQL would give them (roughly). */
  private selectList(ctx: Ctx, n: number, free: boolean): { outs: string[]; cols: string[] } {
    const r = this.r;
    const outs: string[] = [];
    const cols: string[] = [];
    for (let i = 0; i < n; i++) {
      if (free && i === 0 && ctx.scope.length > 0 && r.chance(0.15)) {
        const rel = r.pick(ctx.scope);
        outs.push(r.pick(['*', `${rel.alias}.*`, `(${rel.alias}).*`]));
        cols.push(...rel.cols);
        continue;
      }
      const item = this.outputItem(ctx);
      outs.push(item.out);
      cols.push(item.name);
    }
    return { outs, cols };
  }

  /** An expression, maybe named; unnamed, PostgreSQL names it after its column (or ?column?). */
  private outputItem(ctx: Ctx): { out: string; name: string } {
    const e = this.expr(ctx);
    const name = this.r.chance(0.55) ? this.r.pick(COL_NAMES) : null;
    if (name !== null) return { out: `${e} AS ${name}`, name };
    return { out: e, name: /^(?:\w+\.)?(\w+)$/.exec(e)?.[1] ?? '?column?' };
  }

  private distinctClause(outName: () => string): string {
    if (this.r.chance(0.08)) return `DISTINCT ON (${outName()}) `;
    return this.r.chance(0.06) ? 'DISTINCT ' : '';
  }

  /** Adds a window function over `WINDOW w` to the select list (parts[0]) and returns the WINDOW clause. */
  private namedWindow(ctx: Ctx, outs: string[], parts: string[], distinct: string): string {
    const r = this.r;
    outs.push(`${r.pick(['row_number()', 'count(*)', 'rank()', `lag(${this.colRef(ctx)})`])} OVER w AS ${r.pick(COL_NAMES)}`);
    parts[0] = `SELECT ${distinct}${outs.join(', ')}`;
    const by = (): string => (r.chance(0.5) ? this.colRef(ctx) : r.pick(COL_NAMES));
    return `WINDOW w AS (${r.chance(0.5) ? `PARTITION BY ${by()} ` : ''}ORDER BY ${by()})`;
  }

  /** An optional WITH clause: CTEs shadowing table names, column lists, recursive CTEs. */
  private withClause(ctx: Ctx): string {
    const r = this.r;
    if (!r.chance(0.3)) return '';
    const defs: string[] = [];
    let recursive = false;
    for (let i = 0; i < r.int(1, 2); i++) {
      const name = r.pick(['customers', 'orders', 't', 'c', 'cpf', 'q', 'u']);
      if (r.chance(0.2)) {
        recursive = true;
        defs.push(this.recursiveCte(ctx, name));
      } else {
        defs.push(this.plainCte(ctx, name));
      }
    }
    return `WITH ${recursive ? 'RECURSIVE ' : ''}${defs.join(', ')} `;
  }

  /**
   * The recursive term carries the first term's value on under the first term's name. SEARCH adds a
   * column that sorts by the columns it names, CYCLE one that compares them and a path holding them.
   */
  private recursiveCte(ctx: Ctx, name: string): string {
    const n1 = this.r.pick(COL_NAMES);
    const search = this.r.pick([
      { sql: '', cols: [] }, { sql: '', cols: [] }, { sql: ` SEARCH DEPTH FIRST BY ${n1} SET ord`, cols: ['ord'] },
      { sql: ` CYCLE ${n1} SET cyc USING pth`, cols: ['cyc', 'pth'] }, { sql: ' SEARCH BREADTH FIRST BY n SET ord', cols: ['ord'] },
    ]);
    const def = `${name}(n, ${n1}) AS (SELECT 1, ${this.expr(ctx)} FROM customers UNION ALL SELECT n + 1, ${n1} FROM ${name} WHERE n < 2)${search.sql}`;
    ctx.ctes.push({ name, cols: ['n', n1, ...search.cols] });
    return def;
  }

  private plainCte(ctx: Ctx, name: string): string {
    const r = this.r;
    const sub = this.select({ ...ctx, depth: ctx.depth + 1 });
    const list = r.chance(0.3) ? this.aliasCols(Math.max(1, Math.min(sub.cols.length, 2))) : '';
    const names = list === '' ? [] : list.split(', ');
    const def = `${name}${list === '' ? '' : `(${list})`} AS ${r.chance(0.2) ? 'MATERIALIZED ' : ''}(${sub.sql})`;
    ctx.ctes.push({ name, cols: [...names, ...sub.cols.slice(names.length)] });
    return def;
  }

  // ---- writes --------------------------------------------------------------------------------------

  /** UPDATE / INSERT ... SELECT / DELETE ... USING with RETURNING, a writable CTE, ON CONFLICT, MERGE. */
  private write(ctx: Ctx, w: string): string {
    const r = this.r;
    const tgt = r.pick(['orders', 'customers']);
    const talias = r.pick(['', ' o', ' c', ' customers', ' orders']);
    const t: Target = { tgt, talias, tname: talias.trim() || tgt };
    const tctx: Ctx = { ...ctx, scope: [{ alias: t.tname, cols: tgt === 'orders' ? ORDERS : CUSTOMERS, personalIn: tgt === 'customers' }] };
    const kind = r.next();
    if (kind < 0.35) return w + this.update(tctx, t);
    if (kind < 0.6) return w + this.insertSelect(ctx);
    if (kind < 0.8) return w + this.deleteUsing(tctx, t);
    if (kind < 0.86) return this.writableCte(tctx, t);
    if (kind < 0.9) return this.upsert(tctx);
    if (kind < 0.95) return w + this.merge(ctx);
    return w + uniquenessWrites((xs) => r.pick(xs));
  }

  private returning(tctx: Ctx): string {
    return ` RETURNING ${this.expr(tctx)}${this.r.chance(0.5) ? `, ${this.expr(tctx)}` : ''}`;
  }

  private update(tctx: Ctx, t: Target): string {
    const r = this.r;
    const from = r.chance(0.5) ? this.fromItem(tctx) : null;
    if (from !== null) tctx.scope.push(...from.rels);
    const setCol = t.tgt === 'orders' ? 'status' : r.pick(['nome', 'notes']);
    const head = `UPDATE ${t.tgt}${t.talias} SET ${setCol} = ${this.expr(tctx)}::text${from !== null ? ` FROM ${from.sql}` : ''}`;
    return `${head} WHERE ${t.tname}.id > 0 AND (${this.cond(tctx)})${r.chance(0.7) ? this.returning(tctx) : ''}`;
  }

  private insertSelect(ctx: Ctx): string {
    const r = this.r;
    const sctx: Ctx = { ...ctx, scope: [] };
    const item = this.fromItem(sctx);
    sctx.scope.push(...item.rels);
    const value = this.expr(sctx);
    const where = r.chance(0.4) ? ` WHERE ${this.cond(sctx)}` : '';
    return `INSERT INTO orders (customer_id, status, total_cents) SELECT 1, ${value}::text, 7 FROM ${item.sql}${where} RETURNING ${r.pick(['id', 'status', '*', 'orders.status'])}`;
  }

  private deleteUsing(tctx: Ctx, t: Target): string {
    const item = this.fromItem(tctx);
    tctx.scope.push(...item.rels);
    // DELETE targets orders; an alias `customers` would collide with the USING item, so it becomes o.
    const alias = t.talias === ' customers' ? ' o' : t.talias;
    const name = t.talias === ' customers' ? 'o' : t.tname;
    return `DELETE FROM orders${alias} USING ${item.sql} WHERE ${name}.id > 0 AND (${this.cond(tctx)}) RETURNING ${this.r.pick(['1', 'id', 'status'])}`;
  }

  /** A data-modifying CTE read by the main query. */
  private writableCte(tctx: Ctx, t: Target): string {
    const r = this.r;
    const n1 = r.pick(COL_NAMES);
    const name = r.pick(['u', 'customers', 'c']);
    const body = `UPDATE ${t.tgt}${t.talias} SET ${t.tgt === 'orders' ? 'status' : 'nome'} = ${this.expr(tctx)}::text WHERE ${t.tname}.id = 1 RETURNING ${this.expr(tctx)} AS ${n1}`;
    return `WITH ${name} AS (${body}) SELECT ${r.pick([n1, `translate(${n1}::text, '0123456789', 'abcdefghij')`, '*'])} FROM ${r.pick(['u', 'customers', 'c'])}`;
  }

  /** ON CONFLICT DO UPDATE: the existing row (c) and the proposed one (excluded) are both in scope. */
  private upsert(tctx: Ctx): string {
    const r = this.r;
    const scope: Rel[] = [{ alias: 'c', cols: CUSTOMERS, personalIn: true }, { alias: 'excluded', cols: CUSTOMERS, personalIn: false }];
    const set = this.expr({ ...tctx, scope });
    return `INSERT INTO customers AS c (id, nome, cpf, email, telefone, dt_nasc) VALUES (1, 'n', '000.000.001-91', 'e@x.io', '11 91234-5678', '2000-01-01') ON CONFLICT (id) DO UPDATE SET nome = ${set}::text RETURNING ${r.pick(['nome', 'translate(nome, \'0123456789\', \'abcdefghij\')', 'c.nome', 'id'])}`;
  }

  private merge(ctx: Ctx): string {
    const sub = this.select({ ...ctx, depth: 1 });
    const sa = this.r.pick(['s', 'customers', 'c', 'q']);
    const mctx: Ctx = { ...ctx, scope: [{ alias: sa, cols: sub.cols, personalIn: true }, { alias: 'o', cols: ORDERS, personalIn: false }] };
    const and = this.r.chance(0.3) ? ` AND ${this.cond(mctx)}` : '';
    const notMatched = this.r.chance(0.3) ? ` WHEN NOT MATCHED THEN INSERT (customer_id, status, total_cents) VALUES (1, ${this.expr(mctx)}::text, 7)` : '';
    return `MERGE INTO orders o USING (${sub.sql}) AS ${sa} ON ${this.cond(mctx)} WHEN MATCHED${and} THEN UPDATE SET status = ${this.expr(mctx)}::text${notMatched}`;
  }
}

/** The table a write targets, its alias as written (' o', or '') and the name its columns are qualified by. */
interface Target { tgt: string; talias: string; tname: string }
