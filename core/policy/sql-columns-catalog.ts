// The sensitive-column guard (sql-columns.ts) trusts spec.sensitiveColumns as the catalog: the
// declared `relations` give each table's complete column list in table order (`*`, `t.*`,
// `ORDER BY 2`, `AS t(a, b)`, NATURAL/USING joins are resolved with it), the declared `views` give
// what each view's columns carry, and a relation the policy does not declare is assumed to hold
// personal data only in columns named like a personal column. Nothing in the SQL tells the guard
// when the database says otherwise: after `ALTER TABLE customers ADD COLUMN x` (or a table
// recreated in another column order) `SELECT * FROM customers ORDER BY 3` sorts by cpf while the
// guard thinks it sorts by nome. And `*` over a relation whose columns are not listed cannot be
// resolved by position at all (`SELECT * FROM leads ORDER BY 2`).
//
// This module compares the declarations with what the database's catalog says (rows of
// catalogQuery, read by the sidecar on each new upstream session) and returns every
// contradiction; the listener refuses the session on any (fail closed). Pure: no I/O.
//
// What must hold for the guard's answers to be right:
// - every declared relation exists, is a table (not a view), and its columns (pg_attribute,
//   attnum > 0, not dropped, in attnum order) are exactly the declared list;
// - every declared view exists, is a view (or materialized view), and its definition
//   (pg_get_viewdef) is the declared query (compared as parse trees: layout and keyword case do
//   not matter, anything else does);
// - every personal column exists in each relation its name matches;
// - every relation that holds a personal column, or a column named like one (any case), is
//   declared: tables in `relations`, views in `views`;
// - every view that reads such a relation (directly or through other views) is declared in `views`;
// - both columns of a foreign key with a personal side are declared personal: they hold the same
//   values, and a write into one is answered by whether the value exists in the other (one INSERT
//   per candidate CPF, told apart by the foreign-key violation), which the guard counts as a use
//   only for a declared personal column;
// - a generated column computed from a personal column, and every column a personal generated
//   column is computed from, is declared personal (`cpf_digits GENERATED ALWAYS AS
//   (regexp_replace(cpf, ...))` holds the CPF: `WHERE cpf_digits LIKE '590%'` searched it unheld);
// - every column a CHECK constraint, or a unique or exclusion index (its keys, expressions and
//   partial-index predicate), ties to a personal column is declared personal
//   (`CHECK (cpf_digits = regexp_replace(cpf, ...))`: a write of a candidate into cpf_digits fails
//   with 23514 exactly when it is not that row's CPF).
import { parseStatements } from './sql.ts';
import type { SensitiveColumnsConfig } from './sql-columns.ts';

/** One row of catalogQuery, decoded. */
export interface CatalogRelation {
  schema: string;
  name: string;
  /** pg_class.relkind: r table, p partitioned table, f foreign table, v view, m materialized view. */
  kind: string;
  /** Column names in attnum order (dropped columns left out). */
  columns: readonly string[];
  /** Views and materialized views: pg_get_viewdef. */
  definition?: string;
  /** Views and materialized views: schema.name of every relation their definition reads. */
  reads?: readonly string[];
  /** Tables: every column of a foreign key, with the relation and column it references. */
  references?: readonly ForeignKeyColumn[];
  /** Tables: each generated column with a column its expression reads (one entry per pair). */
  generated?: readonly GeneratedFrom[];
  /** Tables: the columns of each CHECK constraint and each unique or exclusion index (a write into one is judged against the others). */
  constrained?: readonly (readonly string[])[];
}

/** A generated column and one column of its own relation its generation expression reads. */
export interface GeneratedFrom {
  column: string;
  source: string;
}

/** One column of a foreign key: this relation's column and the column it references. */
export interface ForeignKeyColumn {
  column: string;
  /** The referenced relation's schema and name, and the referenced column. */
  schema: string;
  relation: string;
  referenced: string;
}

export interface CatalogProblem {
  /** schema.name of the relation concerned. */
  relation: string;
  /** The field of spec.sensitiveColumns to fix. */
  field: string;
  /** What contradicts what, and the fix. */
  message: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const VIEW_KINDS: ReadonlySet<string> = new Set(['v', 'm']);
const KIND_NAMES: Readonly<Record<string, string>> = { r: 'a table', p: 'a partitioned table', f: 'a foreign table', v: 'a view', m: 'a materialized view' };

function lower(s: string): string {
  return s.toLowerCase();
}

interface Want { schema: string | undefined; rel: string }

function splitName(name: string): Want {
  const parts = name.split('.');
  return parts.length >= 2 ? { schema: lower(parts[0] ?? ''), rel: lower(parts.slice(1).join('.')) } : { schema: undefined, rel: lower(name) };
}

/** As the guard matches: case-insensitively, and a name without schema matches that relation in any schema. */
function matches(want: Want, r: { schema: string; name: string }): boolean {
  return want.rel === lower(r.name) && (want.schema === undefined || want.schema === lower(r.schema));
}

function qualified(r: CatalogRelation): string {
  return `${r.schema}.${r.name}`;
}

function list(cols: readonly string[]): string {
  return `[${cols.join(', ')}]`;
}

/** Names embedded in catalogQuery: checked here too, so nothing but an identifier reaches the SQL text. */
function sqlNames(names: Iterable<string>, field: string): string {
  const out = [...new Set([...names].map(lower))].sort();
  for (const n of out) if (!NAME.test(n)) throw new Error(`spec.sensitiveColumns.${field}: "${n}" is not an identifier`);
  return `ARRAY[${out.map((n) => `'${n}'`).join(', ')}]::text[]`;
}

/**
 * The catalog query for a policy's declarations (one simple Query, one round trip). Columns:
 * schema, name, relkind, columns (JSON array in attnum order), view definition, relations a view
 * reads (JSON array), a table's foreign-key columns (JSON array of [column, referenced schema,
 * relation, column]), a table's generated columns with the columns they read (JSON array of
 * [generated column, source column]; pg_depend of the column default's expression), a table's
 * CHECK constraints and unique or exclusion indexes (JSON array of column lists: an index's keys,
 * expressions and predicate). Returns the relations named by the policy, every relation with a column named
 * like a personal column or a foreign key to one, and every view and materialized view (to follow
 * what they read); system schemas (pg_*, information_schema) excluded.
 */
export function catalogQuery(cfg: SensitiveColumnsConfig): string {
  const personal = cfg.columns.map((c) => c.split('.'));
  const names = sqlNames(personal.map((p) => p.at(-1) ?? ''), 'columns');
  const rels = sqlNames([
    ...personal.map((p) => p.at(-2) ?? ''),
    ...(cfg.relations ?? []).map((r) => splitName(r.name).rel),
    ...(cfg.views ?? []).map((v) => splitName(v.name).rel),
  ], 'relations');
  return [
    'SELECT n.nspname, c.relname, c.relkind::text,',
    "  (SELECT coalesce(json_agg(a.attname ORDER BY a.attnum), '[]') FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::text,",
    "  CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END,",
    "  CASE WHEN c.relkind IN ('v', 'm') THEN (SELECT coalesce(json_agg(DISTINCT rn.nspname || '.' || rc.relname), '[]')",
    '    FROM pg_catalog.pg_rewrite w',
    "    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = w.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass",
    '    JOIN pg_catalog.pg_class rc ON rc.oid = d.refobjid JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace',
    '    WHERE w.ev_class = c.oid AND rc.oid <> c.oid)::text END,',
    "  CASE WHEN c.relkind IN ('r', 'p', 'f') THEN (SELECT coalesce(json_agg(json_build_array(la.attname, fn.nspname, fc.relname, fa.attname)), '[]')",
    '    FROM pg_catalog.pg_constraint k CROSS JOIN LATERAL unnest(k.conkey, k.confkey) AS u(l, f)',
    '    JOIN pg_catalog.pg_attribute la ON la.attrelid = k.conrelid AND la.attnum = u.l',
    '    JOIN pg_catalog.pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = u.f',
    '    JOIN pg_catalog.pg_class fc ON fc.oid = k.confrelid JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace',
    "    WHERE k.conrelid = c.oid AND k.contype = 'f')::text END,",
    "  CASE WHEN c.relkind IN ('r', 'p', 'f') THEN (SELECT coalesce(json_agg(json_build_array(ga.attname, sa.attname)), '[]')",
    '    FROM pg_catalog.pg_attrdef ad',
    "    JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND dep.objid = ad.oid",
    "      AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dep.refobjid = ad.adrelid AND dep.refobjsubid > 0 AND dep.refobjsubid <> ad.adnum",
    "    JOIN pg_catalog.pg_attribute ga ON ga.attrelid = ad.adrelid AND ga.attnum = ad.adnum AND ga.attgenerated <> ''",
    '    JOIN pg_catalog.pg_attribute sa ON sa.attrelid = ad.adrelid AND sa.attnum = dep.refobjsubid',
    '    WHERE ad.adrelid = c.oid)::text END,',
    "  CASE WHEN c.relkind IN ('r', 'p', 'f') THEN (SELECT coalesce(json_agg(cols), '[]') FROM (",
    '    SELECT (SELECT json_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = ANY (k.conkey)) AS cols',
    "    FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'c' AND cardinality(k.conkey) > 1",
    // Unique and exclusion indexes (constraints or not): every column the index reads, keys,
    // expressions and a partial index's predicate alike (pg_depend of the index on the table).
    '    UNION ALL SELECT (SELECT json_agg(DISTINCT a.attname) FROM pg_catalog.pg_depend dp',
    '      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = dp.refobjsubid',
    "      WHERE dp.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dp.objid = i.indexrelid",
    "        AND dp.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dp.refobjid = c.oid AND dp.refobjsubid > 0)",
    '    FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND (i.indisunique OR i.indisexclusion)',
    '  ) s WHERE pg_catalog.json_array_length(cols) > 1)::text END',
    'FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace',
    "WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'",
    `  AND (c.relkind IN ('v', 'm') OR pg_catalog.lower(c.relname) = ANY (${rels})`,
    '    OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped',
    `      AND pg_catalog.lower(a.attname) = ANY (${names}))`,
    // Uncorrelated (one hashed set, not a scan of pg_constraint per relation): a correlated EXISTS made
    // the query 15 times slower on a database of 3,000 tables (1.3 s per new session).
    "    OR c.oid IN (SELECT k.conrelid FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = ANY (k.confkey)",
    `      WHERE k.contype = 'f' AND pg_catalog.lower(fa.attname) = ANY (${names})))`,
    'ORDER BY 1, 2',
  ].join('\n');
}

/** A list of names (`length` of them when given). */
function isNames(x: unknown, length?: number): x is string[] {
  return Array.isArray(x) && (length === undefined || x.length === length) && x.every((y) => typeof y === 'string');
}

/** A JSON array of the row, each item checked by `item`; throws naming the field and the shape (`shape`) it should have. */
function jsonArray<T>(text: string, what: string, item: (x: unknown) => x is T, shape: string): T[] {
  const v: unknown = JSON.parse(text);
  if (!Array.isArray(v) || !v.every(item)) throw new Error(`catalog row: ${what} is not a JSON array of ${shape}`);
  return v;
}

function jsonStrings(text: string | null, what: string): string[] {
  return text === null ? [] : jsonArray(text, what, (x): x is string => typeof x === 'string', 'names');
}

function foreignKeyColumns(text: string, what: string): ForeignKeyColumn[] {
  const keys = jsonArray(text, what, (x): x is [string, string, string, string] => isNames(x, 4), '[column, schema, relation, column]');
  return keys.map(([column, schema, relation, referenced]) => ({ column, schema, relation, referenced }));
}

function generatedColumns(text: string, what: string): GeneratedFrom[] {
  return jsonArray(text, what, (x): x is [string, string] => isNames(x, 2), '[column, column]').map(([column, source]) => ({ column, source }));
}

function constraintColumns(text: string, what: string): string[][] {
  return jsonArray(text, what, (x): x is string[] => isNames(x), 'column lists');
}

/** A table's foreign keys, generated columns and constraints (the row's last three fields), as far as it has them. */
function tableBindings(table: string, [references, generated, constrained]: readonly (string | null | undefined)[]): Pick<CatalogRelation, 'references' | 'generated' | 'constrained'> {
  return {
    ...(typeof references === 'string' ? { references: foreignKeyColumns(references, `foreign keys of ${table}`) } : {}),
    ...(typeof generated === 'string' ? { generated: generatedColumns(generated, `generated columns of ${table}`) } : {}),
    ...(typeof constrained === 'string' ? { constrained: constraintColumns(constrained, `constraints of ${table}`) } : {}),
  };
}

/** One row of catalogQuery, decoded; throws on a row of another shape. */
function catalogRow(row: readonly (string | null)[]): CatalogRelation {
  const [schema, name, kind, columns, definition, reads, ...bindings] = row;
  if (row.length !== 9 || schema == null || name == null || kind == null) throw new Error(`catalog row of unexpected shape: ${row.length} fields`);
  return {
    schema, name, kind, columns: jsonStrings(columns ?? null, `columns of ${schema}.${name}`),
    ...(definition == null ? {} : { definition }),
    ...(reads == null ? {} : { reads: jsonStrings(reads, `relations read by ${schema}.${name}`) }),
    ...tableBindings(`${schema}.${name}`, bindings),
  };
}

/** Decodes the text rows of catalogQuery; throws on a row of another shape. */
export function parseCatalogRows(rows: readonly (readonly (string | null)[])[]): CatalogRelation[] {
  return rows.map(catalogRow);
}

/** A parse tree without source positions: two texts of one query compare equal. */
function shape(sql: string): string | undefined {
  let stmts;
  try {
    stmts = parseStatements(sql);
  } catch {
    return undefined;
  }
  if (stmts.length !== 1) return undefined;
  return JSON.stringify(stmts[0]?.node, (k, v: unknown) => (k === 'location' || k === 'stmt_location' || k === 'stmt_len' ? undefined : v));
}

/** How the actual column list differs from the declared one, in words. */
function columnDiff(declared: readonly string[], actual: readonly string[]): string {
  const d = declared.map(lower);
  const a = actual.map(lower);
  const added = actual.filter((c) => !d.includes(lower(c)));
  const dropped = declared.filter((c) => !a.includes(lower(c)));
  const parts: string[] = [];
  if (added.length > 0) parts.push(`not declared: ${added.join(', ')}`);
  if (dropped.length > 0) parts.push(`not in the database: ${dropped.join(', ')}`);
  if (parts.length === 0) parts.push('same columns in another order');
  return parts.join('; ');
}

interface Declared {
  personal: { id: string; column: string; want: Want }[];
  personalNames: ReadonlySet<string>;
  relations: { name: string; columns: readonly string[]; i: number; want: Want }[];
  views: { name: string; query: string; i: number; want: Want }[];
}

function declarations(cfg: SensitiveColumnsConfig): Declared {
  const personal = cfg.columns.map((id) => {
    const parts = id.split('.');
    return { id, column: lower(parts.at(-1) ?? ''), want: { schema: parts.length === 3 ? lower(parts[0] ?? '') : undefined, rel: lower(parts.at(-2) ?? '') } };
  });
  return {
    personal,
    personalNames: new Set(personal.map((p) => p.column)),
    relations: (cfg.relations ?? []).map((r, i) => ({ ...r, i, want: splitName(r.name) })),
    views: (cfg.views ?? []).map((v, i) => ({ ...v, i, want: splitName(v.name) })),
  };
}

function kindName(c: CatalogRelation): string {
  return KIND_NAMES[c.kind] ?? `a relation of kind ${c.kind}`;
}

function sameColumns(declared: readonly string[], actual: readonly string[]): boolean {
  return declared.length === actual.length && declared.every((col, j) => lower(col) === lower(actual[j] ?? ''));
}

/** Declared relations: exist, are tables, have exactly the declared columns in order. */
function relationProblems(d: Declared, catalog: readonly CatalogRelation[]): CatalogProblem[] {
  const out: CatalogProblem[] = [];
  for (const r of d.relations) {
    const found = catalog.filter((c) => matches(r.want, c));
    const field = `relations[${r.i}]`;
    if (found.length === 0) out.push({ relation: r.name, field, message: `relation ${r.name} is declared in spec.sensitiveColumns.relations but does not exist in the database (renamed or dropped?): update spec.sensitiveColumns.relations` });
    for (const c of found) {
      if (VIEW_KINDS.has(c.kind)) {
        out.push({ relation: qualified(c), field, message: `${qualified(c)} is declared in spec.sensitiveColumns.relations but the database has ${kindName(c)}: declare it in spec.sensitiveColumns.views with its definition (pg_get_viewdef): ${c.definition?.trim() ?? '(none)'}` });
      } else if (!sameColumns(r.columns, c.columns)) {
        out.push({ relation: qualified(c), field: `${field}.columns`, message: `${qualified(c)}: spec.sensitiveColumns.relations declares columns ${list(r.columns)} but the database has ${list(c.columns)} (${columnDiff(r.columns, c.columns)}): update spec.sensitiveColumns.${field}.columns to ${list(c.columns)}, in this order` });
      }
    }
  }
  return out;
}

/** Declared views: exist, are views, and are defined by the declared query. */
function viewProblems(d: Declared, catalog: readonly CatalogRelation[]): CatalogProblem[] {
  const out: CatalogProblem[] = [];
  for (const v of d.views) {
    const found = catalog.filter((c) => matches(v.want, c));
    const field = `views[${v.i}]`;
    if (found.length === 0) out.push({ relation: v.name, field, message: `view ${v.name} is declared in spec.sensitiveColumns.views but does not exist in the database (renamed or dropped?): update spec.sensitiveColumns.views` });
    for (const c of found) {
      if (!VIEW_KINDS.has(c.kind)) {
        out.push({ relation: qualified(c), field, message: `${qualified(c)} is declared in spec.sensitiveColumns.views but the database has ${kindName(c)} with columns ${list(c.columns)}: declare it in spec.sensitiveColumns.relations with these columns` });
        continue;
      }
      const declared = shape(v.query);
      if (declared === undefined || c.definition === undefined || declared !== shape(c.definition)) {
        out.push({ relation: qualified(c), field: `${field}.query`, message: `${qualified(c)}: the definition declared in spec.sensitiveColumns.views is not the view's definition in the database: set spec.sensitiveColumns.${field}.query to what pg_get_viewdef prints: ${c.definition?.trim() ?? '(none)'}` });
      }
    }
  }
  return out;
}

/** Declared personal columns exist where their names point (a renamed column would leave the guard watching nothing). */
function personalProblems(d: Declared, catalog: readonly CatalogRelation[]): CatalogProblem[] {
  const out: CatalogProblem[] = [];
  d.personal.forEach((p, i) => {
    const found = catalog.filter((c) => matches(p.want, c));
    if (found.length === 0) {
      out.push({ relation: p.id.split('.').slice(0, -1).join('.'), field: `columns[${i}]`, message: `personal column ${p.id}: no such relation in the database (renamed or dropped?): update spec.sensitiveColumns.columns` });
    }
    for (const c of found.filter((x) => !x.columns.some((col) => lower(col) === p.column))) {
      out.push({ relation: qualified(c), field: `columns[${i}]`, message: `personal column ${p.id}: ${qualified(c)} has no column ${p.column} (it has ${list(c.columns)}; renamed or dropped?): update spec.sensitiveColumns.columns` });
    }
  });
  return out;
}

/** Relations holding personal data (why, by lower-cased schema.name), followed through the views that read them. */
function sensitiveRelations(d: Declared, catalog: readonly CatalogRelation[]): Map<string, string> {
  const sensitive = new Map<string, string>();
  for (const c of catalog) {
    const named = d.personal.find((p) => matches(p.want, c));
    const like = c.columns.find((col) => d.personalNames.has(lower(col)));
    if (named !== undefined) sensitive.set(lower(qualified(c)), `holds personal column ${named.id}`);
    else if (like !== undefined) sensitive.set(lower(qualified(c)), `has a column ${like} named like a personal column`);
  }
  for (let grew = true; grew;) {
    grew = false;
    for (const c of catalog.filter((x) => !sensitive.has(lower(qualified(x))))) {
      const via = (c.reads ?? []).find((r) => sensitive.has(lower(r)));
      if (via === undefined) continue;
      sensitive.set(lower(qualified(c)), `reads ${via}, which ${sensitive.get(lower(via)) ?? 'holds personal data'}`);
      grew = true;
    }
  }
  return sensitive;
}

/** Relations holding personal data must be declared: the guard's guesses about undeclared ones do not resolve *, positions or renamed columns. */
function undeclaredProblems(d: Declared, catalog: readonly CatalogRelation[]): CatalogProblem[] {
  const sensitive = sensitiveRelations(d, catalog);
  const out: CatalogProblem[] = [];
  for (const c of catalog) {
    const why = sensitive.get(lower(qualified(c)));
    const declared = d.relations.some((r) => matches(r.want, c)) || d.views.some((v) => matches(v.want, c));
    if (why === undefined || declared) continue;
    if (VIEW_KINDS.has(c.kind)) {
      out.push({ relation: qualified(c), field: 'views', message: `${kindName(c)} ${qualified(c)} ${why} but is not declared in spec.sensitiveColumns.views, so the guard cannot tell what its columns carry: add {name: ${qualified(c)}, query: <pg_get_viewdef>} to spec.sensitiveColumns.views (its definition: ${c.definition?.trim() ?? '(none)'})` });
    } else {
      out.push({ relation: qualified(c), field: 'relations', message: `${kindName(c)} ${qualified(c)} ${why} but spec.sensitiveColumns.relations does not list its columns, so the guard cannot resolve *, t.* or ORDER BY <position> over it: add {name: ${qualified(c)}, columns: ${list(c.columns)}} to spec.sensitiveColumns.relations (and its personal columns to spec.sensitiveColumns.columns)` });
    }
  }
  return out;
}

interface RelationName { schema: string; name: string }

/** A column declared personal in spec.sensitiveColumns.columns. */
function declaredPersonal(d: Declared, rel: RelationName, column: string): Declared['personal'][number] | undefined {
  return d.personal.find((p) => p.column === lower(column) && matches(p.want, rel));
}

/** What makes a column personal (its declaration, or its name), or undefined. */
function personalReason(d: Declared, rel: RelationName, column: string): string | undefined {
  const declared = declaredPersonal(d, rel, column);
  if (declared !== undefined) return `personal column ${declared.id}`;
  return d.personalNames.has(lower(column)) ? `${rel.schema}.${rel.name}.${column} (named like a personal column)` : undefined;
}

/**
 * Columns bound to a personal column must be declared personal too, so the guard counts their
 * reads and writes as uses. Both columns of a foreign key hold the same values, and each side
 * answers for the other: a write of a candidate into the referencing column fails (23503) exactly
 * when the referenced column lacks it, and a DELETE or UPDATE of a candidate in the referenced
 * column fails exactly when a referencing row has it. A generated column holds a function of the
 * columns it reads (`regexp_replace(cpf, '\D', '', 'g')`: the CPF's digits), and a personal generated
 * column is a function of its sources. A CHECK or exclusion constraint judges a write into one of
 * its columns against the others (`CHECK (cpf_digits = regexp_replace(cpf, ...))` refuses every
 * candidate but the row's CPF).
 */
function boundColumnProblems(d: Declared, catalog: readonly CatalogRelation[]): CatalogProblem[] {
  const out: CatalogProblem[] = [];
  const seen = new Set<string>();
  const require: Require = (rel, column, message) => {
    const id = lower(`${rel.schema}.${rel.name}.${column}`);
    if (seen.has(id) || declaredPersonal(d, rel, column) !== undefined) return;
    seen.add(id);
    out.push({ relation: `${rel.schema}.${rel.name}`, field: 'columns', message: `${message}: add ${rel.schema}.${rel.name}.${column} to spec.sensitiveColumns.columns` });
  };
  for (const c of catalog) {
    for (const fk of c.references ?? []) foreignKeyProblems(d, c, fk, require);
    for (const g of c.generated ?? []) generatedProblems(d, c, g, require);
    for (const cols of c.constrained ?? []) constraintProblems(d, c, cols, require);
  }
  return out;
}

/** Asks for `column` of `rel` to be declared personal, saying why (once per column). */
type Require = (rel: RelationName, column: string, message: string) => void;

/** Both sides of a foreign key with a personal side. */
function foreignKeyProblems(d: Declared, c: CatalogRelation, fk: ForeignKeyColumn, require: Require): void {
  const target = { schema: fk.schema, name: fk.relation };
  const referenced = personalReason(d, target, fk.referenced);
  if (referenced !== undefined) require(c, fk.column, `${qualified(c)}.${fk.column} has a foreign key to ${referenced}: it holds that column's values, and an INSERT or UPDATE of a candidate value into it answers whether the value exists there`);
  const referencing = personalReason(d, c, fk.column);
  if (referencing !== undefined) require(target, fk.referenced, `${fk.schema}.${fk.relation}.${fk.referenced} is referenced by a foreign key of ${referencing}: it holds that column's values, and a DELETE or UPDATE of a candidate value in it answers whether a row there has it`);
}

/** A generated column and a column it reads, either of them personal. */
function generatedProblems(d: Declared, c: CatalogRelation, g: GeneratedFrom, require: Require): void {
  const source = personalReason(d, c, g.source);
  if (source !== undefined) require(c, g.column, `${qualified(c)}.${g.column} is generated from ${source}: it holds a function of its values, and a search or sort of it is one of the personal column`);
  const generated = personalReason(d, c, g.column);
  if (generated !== undefined) require(c, g.source, `${qualified(c)}.${g.source} is read by the generation expression of ${generated}: the personal value is computed from it`);
}

/** A CHECK constraint, or a unique or exclusion index, over a personal column: its other columns must be declared personal. */
function constraintProblems(d: Declared, c: CatalogRelation, cols: readonly string[], require: Require): void {
  const personal = cols.map((col) => personalReason(d, c, col)).find((why) => why !== undefined);
  if (personal === undefined) return;
  for (const col of cols) {
    if (personalReason(d, c, col) === undefined) require(c, col, `${qualified(c)}.${col} is in a CHECK constraint or a unique or exclusion index with ${personal}: a write of a candidate value into it fails or passes by the personal value (23514, 23505, 23P01)`);
  }
}

/**
 * Every contradiction between the policy's spec.sensitiveColumns and the database's catalog
 * (rows of catalogQuery). Empty: the guard's assumptions hold in this database. The parser must be
 * loaded (initPolicyEngine) to compare view definitions.
 */
export function compareCatalog(cfg: SensitiveColumnsConfig, catalog: readonly CatalogRelation[]): CatalogProblem[] {
  const d = declarations(cfg);
  return [...relationProblems(d, catalog), ...viewProblems(d, catalog), ...personalProblems(d, catalog), ...boundColumnProblems(d, catalog), ...undeclaredProblems(d, catalog)];
}
