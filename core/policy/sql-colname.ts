// The name PostgreSQL gives a select-list item written without AS (FigureColname in
// parse_target.c), for the sensitive-column guard: NATURAL JOIN matches columns by these names,
// and a subquery's columns are referred to by them. Naming `id::int` after its type, as the guard
// did, made `(SELECT id::int FROM orders) a NATURAL JOIN customers` join on nothing in the guard's
// reading and on id in PostgreSQL's, so every later position was one off (ORDER BY 3 was cpf).
import { arr, obj, str, type Json } from './parse-tree.ts';

/** A name, and whether every PostgreSQL version gives this one (false: a version may name it otherwise). */
export interface FiguredName { name: string; sure: boolean }

/** Strength of a name, as PostgreSQL grades it: 0 none, 1 second best (a type's name, `case`), 2 good. */
interface Figured { name: string; strength: 0 | 1 | 2; sure: boolean }

const NONE: Figured = { name: '?column?', strength: 0, sure: true };
/** A node kind the guard does not know: PostgreSQL may name it (review 32: SQL/JSON expressions). */
const UNKNOWN: Figured = { name: '?column?', strength: 0, sure: false };

/** Kinds FigureColnameInternal gives no name in any version (constants, parameters, operators, tests). */
const UNNAMED_KINDS: ReadonlySet<string> = new Set(['A_Const', 'ParamRef', 'BoolExpr', 'NullTest', 'BooleanTest', 'SetToDefault']);

const good = (name: string, sure = true): Figured => ({ name, strength: 2, sure });

const SQL_VALUE_FUNCTIONS: Readonly<Record<string, string>> = {
  SVFOP_CURRENT_DATE: 'current_date', SVFOP_CURRENT_TIME: 'current_time', SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp', SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp', SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime', SVFOP_LOCALTIMESTAMP: 'localtimestamp', SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role', SVFOP_CURRENT_USER: 'current_user', SVFOP_USER: 'user', SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog', SVFOP_CURRENT_SCHEMA: 'current_schema',
};

const XML_EXPRESSIONS: Readonly<Record<string, string>> = {
  IS_XMLCONCAT: 'xmlconcat', IS_XMLELEMENT: 'xmlelement', IS_XMLFOREST: 'xmlforest', IS_XMLPARSE: 'xmlparse',
  IS_XMLPI: 'xmlpi', IS_XMLROOT: 'xmlroot', IS_XMLSERIALIZE: 'xmlserialize',
};

/** Nodes named by their kind alone, as PostgreSQL makes them act like functions. */
const FIXED_NAMES: Readonly<Record<string, string>> = {
  GroupingFunc: 'grouping', A_ArrayExpr: 'array', RowExpr: 'row', CoalesceExpr: 'coalesce', XmlSerialize: 'xmlserialize',
  // SQL/JSON (PostgreSQL 16+; on 15 the same spellings are function calls of these names).
  JsonParseExpr: 'json', JsonScalarExpr: 'json_scalar', JsonSerializeExpr: 'json_serialize', JsonObjectConstructor: 'json_object',
  JsonArrayConstructor: 'json_array', JsonArrayQueryConstructor: 'json_array', JsonObjectAgg: 'json_objectagg', JsonArrayAgg: 'json_arrayagg',
  MergeSupportFunc: 'merge_action',
};

/** JSON_EXISTS, JSON_QUERY, JSON_VALUE (PostgreSQL 17+), by their operation. */
const JSON_FUNCTIONS: Readonly<Record<string, string>> = { JSON_EXISTS_OP: 'json_exists', JSON_QUERY_OP: 'json_query', JSON_VALUE_OP: 'json_value' };

/** The output name of a select-list expression (`?column?` when PostgreSQL finds none). */
export function figureColname(node: unknown): FiguredName {
  const f = figure(node);
  return { name: f.name, sure: f.sure };
}

/** A list of fields or indirections whose last is `*` (`*`, `s.*`, `(s).*`). */
function endsInStar(fields: unknown): boolean {
  const last = obj(arr(fields).at(-1));
  return last !== undefined && last.A_Star !== undefined;
}

/** An expression PostgreSQL expands into the fields of a row (`*`, `s.*`, `(expr).*`): named after the first one, which only that row knows. */
export function expandsToFields(node: unknown): boolean {
  const [t, n] = unwrap(node);
  return (t === 'ColumnRef' && endsInStar(n.fields)) || (t === 'A_Indirection' && endsInStar(n.indirection));
}

function lastString(list: unknown): string | undefined {
  let last: string | undefined;
  for (const item of arr(list)) last = str(obj(obj(item)?.String)?.sval) ?? last;
  return last;
}

function unwrap(node: unknown): [string, Json] {
  const o = obj(node) ?? {};
  const k = Object.keys(o)[0] ?? '';
  return [k, obj(o[k]) ?? {}];
}

type Figurer = (n: Json) => Figured;

/** How each node kind is named (FigureColnameInternal's cases); any other kind has no name. */
const FIGURERS: Readonly<Record<string, Figurer>> = {
  ColumnRef: (n) => named(lastString(n.fields)),
  A_Indirection: (n) => {
    // `(s).*` expands to s's columns: the first one's name, which only s knows (review 34).
    if (endsInStar(n.indirection)) return UNKNOWN;
    const name = lastString(n.indirection);
    return name === undefined ? figure(n.arg) : good(name);
  },
  // A function the grammar spells as SQL syntax (EXTRACT, TRIM, SUBSTRING ... FROM, SYSTEM_USER)
  // is named after the function it maps to, which versions have changed.
  FuncCall: (n) => good(lastString(n.funcname) ?? '?column?', n.funcformat !== 'COERCE_SQL_SYNTAX'),
  A_Expr: (n) => aExpr(n),
  TypeCast: (n) => typeCast(n),
  CollateClause: (n) => figure(n.arg),
  SubLink: (n) => subLink(n),
  CaseExpr: (n) => {
    const inner = figure(n.defresult);
    return inner.strength <= 1 ? { name: 'case', strength: 1, sure: inner.sure } : inner;
  },
  MinMaxExpr: (n) => (n.op === 'IS_LEAST' ? good('least') : good('greatest')),
  SQLValueFunction: (n) => named(SQL_VALUE_FUNCTIONS[str(n.op) ?? '']),
  XmlExpr: (n) => named(XML_EXPRESSIONS[str(n.op) ?? '']),
  JsonFuncExpr: (n) => {
    const name = JSON_FUNCTIONS[str(n.op) ?? ''];
    return name === undefined ? UNKNOWN : good(name);
  },
};

function figure(node: unknown): Figured {
  const [t, n] = unwrap(node);
  const fixed = FIXED_NAMES[t];
  if (fixed !== undefined) return good(fixed);
  const figurer = FIGURERS[t];
  if (figurer !== undefined) return figurer(n);
  return UNNAMED_KINDS.has(t) ? NONE : UNKNOWN;
}

function named(name: string | undefined): Figured {
  return name === undefined ? NONE : good(name);
}

function aExpr(n: Json): Figured {
  if (n.kind === 'AEXPR_NULLIF') return good('nullif');
  if (n.kind === 'AEXPR_PAREN') return figure(n.lexpr);
  return NONE;
}

function typeCast(n: Json): Figured {
  const inner = figure(n.arg);
  if (inner.strength === 2) return inner;
  const type = lastString(obj(n.typeName)?.names);
  return type === undefined ? inner : { name: type, strength: 1, sure: inner.sure };
}

/** (SELECT x ...) is named after the subquery's first output; EXISTS and ARRAY(...) after themselves. */
function subLink(n: Json): Figured {
  const type = str(n.subLinkType) ?? 'EXPR_SUBLINK';
  if (type === 'EXISTS_SUBLINK') return good('exists');
  if (type === 'ARRAY_SUBLINK') return good('array');
  if (type !== 'EXPR_SUBLINK') return NONE;
  let q = unwrap(n.subselect)[1];
  // A set operation takes its names from its leftmost branch.
  for (let left = obj(q.larg); left !== undefined; left = obj(q.larg)) q = left;
  return q.valuesLists === undefined ? firstOutputName(obj(obj(arr(q.targetList)[0])?.ResTarget) ?? {}) : good('column1');
}

/** A subquery's first output name: its alias, or its item's name; `*` names the first column of what it expands, unknown here. */
function firstOutputName(first: Json): Figured {
  const alias = str(first.name);
  if (alias !== undefined) return good(alias);
  // (SELECT * FROM q), (TABLE q), (SELECT s.* FROM ...): the first column of what the star expands,
  // whose name only the catalog or that relation knows (`s.*` is not named s: review 33).
  if (expandsToFields(first.val)) return good('?column?', false);
  const inner = figureColname(first.val);
  return good(inner.name, inner.sure);
}
