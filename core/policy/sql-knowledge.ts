// What the sensitive-column guard knows about PostgreSQL itself, apart from the walk that uses it:
// which functions aggregate, which functions in FROM compute from their arguments only, which
// catalog views and functions hold values of other columns or other sessions' statements, which
// functions return rows or bytes the guard cannot see, and how expression nodes are named as uses.
// Data only; each list's comment says where it comes from and when to check it again.

function lower(s: string): string {
  return s.toLowerCase();
}

/** Built-in aggregate and window functions: a personal column in their arguments is named as an aggregate's use (a call with ORDER BY or WITHIN GROUP is one too). */
export const AGGREGATES: ReadonlySet<string> = new Set([
  'string_agg', 'array_agg', 'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'json_agg_strict', 'jsonb_agg_strict',
  'json_object_agg_strict', 'jsonb_object_agg_strict', 'json_object_agg_unique', 'jsonb_object_agg_unique', 'xmlagg', 'min', 'max',
  'count', 'sum', 'avg', 'bool_and', 'bool_or', 'every', 'bit_and', 'bit_or', 'bit_xor', 'mode', 'percentile_cont', 'percentile_disc',
  'any_value', 'range_agg', 'range_intersect_agg', 'stddev', 'variance', 'corr', 'rank', 'dense_rank', 'percent_rank', 'cume_dist',
]);

/**
 * Functions in FROM whose result is computed from their arguments only (the arguments are checked
 * like any expression). Any other function in FROM may read tables the guard cannot see: refused.
 */
export const TRANSPARENT_FROM_FUNCTIONS: ReadonlySet<string> = new Set([
  'generate_series', 'generate_subscripts', 'unnest', 'json_each', 'jsonb_each', 'json_each_text', 'jsonb_each_text',
  'json_array_elements', 'jsonb_array_elements', 'json_array_elements_text', 'jsonb_array_elements_text', 'json_object_keys',
  'jsonb_object_keys', 'json_to_record', 'jsonb_to_record', 'json_to_recordset', 'jsonb_to_recordset', 'json_populate_record',
  'jsonb_populate_record', 'json_populate_recordset', 'jsonb_populate_recordset', 'jsonb_path_query', 'regexp_matches',
  'regexp_split_to_table', 'string_to_table', 'now', 'current_date', 'pg_options_to_table',
  // Catalog functions: object names, settings, time zones, never rows of a table (psql's \d runs pg_partition_ancestors).
  'pg_partition_ancestors', 'pg_partition_tree', 'pg_get_keywords', 'pg_listening_channels', 'pg_timezone_names', 'pg_timezone_abbrevs',
  'pg_show_all_settings', 'pg_available_extensions', 'pg_available_extension_versions', 'pg_extension_update_paths',
  'pg_get_catalog_foreign_keys', 'pg_tablespace_databases', 'aclexplode',
]);

/**
 * Planner statistics: ANALYZE copies sampled values of every column (the most common ones, the
 * histogram bounds) into these catalog views, which any role that may read the column may read.
 */
export const STATISTICS_VIEWS: Readonly<Record<string, readonly string[]>> = {
  pg_stats: ['most_common_vals', 'most_common_elems', 'histogram_bounds', 'range_bounds_histogram'],
  pg_stats_ext: ['most_common_vals'],
  pg_stats_ext_exprs: ['most_common_vals', 'most_common_elems', 'histogram_bounds'],
  pg_statistic: ['stavalues1', 'stavalues2', 'stavalues3', 'stavalues4', 'stavalues5'],
  pg_statistic_ext_data: ['stxdmcv', 'stxdexpr'],
};

/**
 * The same views' figures computed from every column's values: average widths, distinct counts,
 * null fractions, the correlation of a column's order with the rows' physical order, frequencies.
 * No value, yet an oracle on personal columns (review 35: two data sets differing only in personal
 * values answered avg_width 30 and 17, correlation -1 and 1), and correlation moves when a row the
 * agent may update is rewritten: every reference is a use, as for the values.
 */
export const STATISTICS_FIGURES: Readonly<Record<string, readonly string[]>> = {
  pg_stats: ['null_frac', 'avg_width', 'n_distinct', 'most_common_freqs', 'correlation', 'most_common_elem_freqs', 'elem_count_histogram', 'range_length_histogram', 'range_empty_frac'],
  pg_stats_ext: ['n_distinct', 'dependencies', 'most_common_val_nulls', 'most_common_freqs', 'most_common_base_freqs'],
  pg_stats_ext_exprs: ['null_frac', 'avg_width', 'n_distinct', 'most_common_freqs', 'correlation', 'most_common_elem_freqs', 'elem_count_histogram'],
  pg_statistic: ['stanullfrac', 'stawidth', 'stadistinct', 'stanumbers1', 'stanumbers2', 'stanumbers3', 'stanumbers4', 'stanumbers5'],
  pg_statistic_ext_data: ['stxdndistinct', 'stxddependencies'],
};

/**
 * Statement texts of other sessions of the same role (every agent behind the sidecar shares it):
 * an approved `WHERE cpf = '...'` stays visible in pg_stat_activity.query while it runs.
 * pg_catalog's views; pg_stat_statements is the extension's (in whatever schema it was installed),
 * whose texts keep the literals of utility statements and of statements it could not normalize.
 */
export const STATEMENT_TEXT_VIEWS: Readonly<Record<string, readonly string[]>> = {
  pg_stat_activity: ['query'],
};
export const EXTENSION_STATEMENT_TEXT_VIEWS: Readonly<Record<string, readonly string[]>> = {
  pg_stat_statements: ['query'],
};

/**
 * The other columns of those views, across PostgreSQL 13-18 (a name a version lacks is refused by
 * it): with them the guard knows every column name, so `s.to_json` on pg_stats is a call on the
 * whole row, not a column. A column a later version adds is read as such a call until listed here
 * (fail closed).
 */
export const CATALOG_VIEW_OTHER_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  pg_stats: ['schemaname', 'tablename', 'attname', 'inherited'],
  pg_stats_ext: ['schemaname', 'tablename', 'statistics_schemaname', 'statistics_name', 'statistics_owner', 'attnames', 'exprs', 'kinds', 'inherited'],
  pg_stats_ext_exprs: ['schemaname', 'tablename', 'statistics_schemaname', 'statistics_name', 'statistics_owner', 'expr', 'inherited'],
  pg_statistic: ['starelid', 'staattnum', 'stainherit', ...[1, 2, 3, 4, 5].flatMap((i) => [`stakind${i}`, `staop${i}`, `stacoll${i}`])],
  pg_statistic_ext_data: ['stxoid', 'stxdinherit'],
  pg_stat_activity: ['datid', 'datname', 'pid', 'leader_pid', 'usesysid', 'usename', 'application_name', 'client_addr', 'client_hostname', 'client_port', 'backend_start', 'xact_start', 'query_start', 'state_change', 'wait_event_type', 'wait_event', 'state', 'backend_xid', 'backend_xmin', 'query_id', 'backend_type'],
  pg_stat_statements: [
    'userid', 'dbid', 'toplevel', 'queryid', 'plans', 'calls', 'rows', 'total_plan_time', 'min_plan_time', 'max_plan_time', 'mean_plan_time', 'stddev_plan_time',
    'total_exec_time', 'min_exec_time', 'max_exec_time', 'mean_exec_time', 'stddev_exec_time', 'total_time', 'min_time', 'max_time', 'mean_time', 'stddev_time',
    'shared_blks_hit', 'shared_blks_read', 'shared_blks_dirtied', 'shared_blks_written', 'local_blks_hit', 'local_blks_read', 'local_blks_dirtied',
    'local_blks_written', 'temp_blks_read', 'temp_blks_written', 'blk_read_time', 'blk_write_time', 'shared_blk_read_time', 'shared_blk_write_time',
    'local_blk_read_time', 'local_blk_write_time', 'temp_blk_read_time', 'temp_blk_write_time', 'wal_records', 'wal_fpi', 'wal_bytes', 'wal_buffers_full',
    'jit_functions', 'jit_generation_time', 'jit_inlining_count', 'jit_inlining_time', 'jit_optimization_count', 'jit_optimization_time',
    'jit_emission_count', 'jit_emission_time', 'jit_deform_count', 'jit_deform_time', 'parallel_workers_to_launch', 'parallel_workers_launched',
    'generic_plan_calls', 'custom_plan_calls', 'stats_since', 'minmax_stats_since',
  ],
};

/**
 * The functions under those views, which return the same texts wherever they are called (select
 * list, arguments, attribute notation `(2).pg_stat_get_backend_activity`): name → the output that
 * is the text ('' for a text result, else the record's field). Found in the catalog, not from
 * memory: PostgreSQL 15's pg_proc has no other function whose result holds other sessions' query
 * text (pg_stat_get_backend_* give ids, times, addresses and wait events; pg_stat_get_wal_senders
 * positions; current_query, pg_prepared_statement and pg_cursor the session's own), and
 * pg_stat_activity is the only view of pg_catalog built on them with a query column
 * (pg_stat_replication, pg_stat_ssl and pg_stat_gssapi join pg_stat_get_activity but return none
 * of its text). Check again on each PostgreSQL upgrade: sidecar/test/pg-round11-attacks.int.test.ts
 * lists them from the server's catalog.
 */
const STATEMENT_TEXT_FUNCTIONS: Readonly<Record<string, string>> = {
  pg_stat_get_backend_activity: '',
  pg_stat_get_activity: 'query',
  pg_stat_statements: 'query', // extension pg_stat_statements: the function under its view
};

export function isStatementTextFunction(name: string): boolean {
  return Object.hasOwn(STATEMENT_TEXT_FUNCTIONS, lower(name));
}

/** The output of function `name` that is the text ('' for the result itself); undefined for other functions. */
export function statementTextField(name: string): string | undefined {
  return isStatementTextFunction(name) ? STATEMENT_TEXT_FUNCTIONS[lower(name)] : undefined;
}

export const COMPARISON_OPS: ReadonlySet<string> = new Set(['=', '<>', '!=', '<', '>', '<=', '>=', '~', '~*', '!~', '!~*', '~~', '~~*', '!~~', '!~~*', '^@', '@@']);

export const A_EXPR_KINDS: Readonly<Record<string, string>> = {
  AEXPR_LIKE: 'comparison LIKE', AEXPR_ILIKE: 'comparison ILIKE', AEXPR_SIMILAR: 'comparison SIMILAR TO', AEXPR_IN: 'comparison IN',
  AEXPR_BETWEEN: 'comparison BETWEEN', AEXPR_NOT_BETWEEN: 'comparison NOT BETWEEN', AEXPR_BETWEEN_SYM: 'comparison BETWEEN SYMMETRIC',
  AEXPR_NOT_BETWEEN_SYM: 'comparison NOT BETWEEN SYMMETRIC', AEXPR_DISTINCT: 'comparison IS DISTINCT FROM',
  AEXPR_NOT_DISTINCT: 'comparison IS NOT DISTINCT FROM', AEXPR_NULLIF: 'NULLIF()', AEXPR_OP_ANY: 'comparison ANY', AEXPR_OP_ALL: 'comparison ALL',
};

export const NODE_USES: Readonly<Record<string, string>> = {
  TypeCast: 'cast', CollateClause: 'COLLATE', A_Indirection: 'subscript or field selection', CaseExpr: 'CASE',
  CoalesceExpr: 'COALESCE()', MinMaxExpr: 'GREATEST()/LEAST()', NullTest: 'IS NULL test', BooleanTest: 'boolean test',
  BoolExpr: 'boolean expression', RowExpr: 'ROW()', A_ArrayExpr: 'ARRAY[]', XmlExpr: 'XML function', XmlSerialize: 'XMLSERIALIZE',
  GroupingFunc: 'GROUPING()', JsonObjectConstructor: 'JSON_OBJECT()', JsonArrayConstructor: 'JSON_ARRAY()', JsonIsPredicate: 'IS JSON test',
  JsonFuncExpr: 'SQL/JSON function', JsonParseExpr: 'JSON()', JsonScalarExpr: 'JSON_SCALAR()', JsonSerializeExpr: 'JSON_SERIALIZE()',
  JsonObjectAgg: 'aggregate JSON_OBJECTAGG()', JsonArrayAgg: 'aggregate JSON_ARRAYAGG()',
};

export const SUBLINKS: Readonly<Record<string, string>> = { EXISTS_SUBLINK: 'EXISTS', ARRAY_SUBLINK: 'ARRAY(subquery)', EXPR_SUBLINK: 'scalar subquery' };

/** Helper nodes inside a construct: the construct's name stays the use. */
export const KEEP_USE: ReadonlySet<string> = new Set(['CaseWhen', 'List', 'String', 'ResTarget', 'MultiAssignRef', 'A_Indices', 'Alias', 'TypeName', 'NamedArgExpr', 'RowCompareExpr', 'JsonKeyValue', 'JsonValueExpr', 'JsonOutput', 'MergeWhenClause']);

/**
 * Functions whose result is the rows of a query, table or cursor named in a string (the XML
 * exports, tablefunc, ts_stat, dblink), or the bytes of a server file or large object: a cursor
 * declared with plain personal columns comes back from cursor_to_xml as one XML text that field
 * masking cannot see into, pg_read_binary_file('base/...') as the table's raw pages. (The
 * classifier's traits let a policy deny them too; the guard holds them whatever the rules say.)
 */
const READS_UNSEEN_EXACT: ReadonlySet<string> = new Set([
  'cursor_to_xml', 'query_to_xml', 'query_to_xml_and_xmlschema', 'ts_stat', 'connectby', 'xpath_table',
  // Server files (a table's heap file holds its rows), their pages (pageinspect) and large objects: bytes the guard cannot see into.
  'pg_read_file', 'pg_read_binary_file', 'loread', 'lo_get', 'get_raw_page', 'heap_page_items', 'heap_page_item_attrs', 'tuple_data_split',
  'bt_page_items', 'brin_page_items', 'gin_leafpage_items', 'gist_page_items', 'gist_page_items_bytea', 'hash_page_items',
]);
const READS_UNSEEN_PREFIX: readonly string[] = ['table_to_xml', 'schema_to_xml', 'database_to_xml', 'crosstab', 'dblink'];

export function readsUnseen(name: string): boolean {
  return READS_UNSEEN_EXACT.has(name) || READS_UNSEEN_PREFIX.some((p) => name.startsWith(p));
}

/**
 * Columns every table has besides the listed ones (r.ctid, r.xmin): never an attribute-notation
 * call on the row.
 */
export const SYSTEM_COLUMNS: ReadonlySet<string> = new Set(['ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid']);
