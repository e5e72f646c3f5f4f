// What the classifier knows about PostgreSQL: the statement kind of every top-level parse node,
// and the built-in functions that escape the data path (server files, large objects, remote
// servers, SQL hidden in strings). Node type names are libpg-query's (PostgreSQL 18 grammar).
import type { SqlStatementKind, SqlTrait } from './types.ts';

const DDL = [
  'CreateSchemaStmt', 'AlterTableStmt', 'AlterCollationStmt', 'AlterDomainStmt', 'CreateStmt', 'CreateTableSpaceStmt',
  'DropTableSpaceStmt', 'AlterTableSpaceOptionsStmt', 'AlterTableMoveAllStmt', 'CreateExtensionStmt', 'AlterExtensionStmt',
  'AlterExtensionContentsStmt', 'CreateFdwStmt', 'AlterFdwStmt', 'CreateForeignServerStmt', 'AlterForeignServerStmt',
  'CreateForeignTableStmt', 'CreateUserMappingStmt', 'AlterUserMappingStmt', 'DropUserMappingStmt', 'ImportForeignSchemaStmt',
  'CreateAmStmt', 'CreateTrigStmt', 'CreateEventTrigStmt', 'AlterEventTrigStmt', 'CreatePLangStmt', 'CreateSeqStmt',
  'AlterSeqStmt', 'DefineStmt', 'CreateDomainStmt', 'CreateOpClassStmt', 'CreateOpFamilyStmt', 'AlterOpFamilyStmt', 'DropStmt',
  'TruncateStmt', 'CommentStmt', 'SecLabelStmt', 'IndexStmt', 'CreateStatsStmt', 'AlterStatsStmt', 'CreateFunctionStmt',
  'AlterFunctionStmt', 'RenameStmt', 'AlterObjectDependsStmt', 'AlterObjectSchemaStmt', 'AlterOwnerStmt', 'AlterOperatorStmt',
  'AlterTypeStmt', 'RuleStmt', 'CompositeTypeStmt', 'CreateEnumStmt', 'CreateRangeStmt', 'AlterEnumStmt', 'ViewStmt',
  'CreatedbStmt', 'AlterDatabaseStmt', 'AlterDatabaseRefreshCollStmt', 'AlterDatabaseSetStmt', 'DropdbStmt', 'AlterSystemStmt',
  'CreateTableAsStmt', 'CreateConversionStmt', 'CreateCastStmt', 'CreateTransformStmt', 'AlterTSDictionaryStmt',
  'AlterTSConfigurationStmt', 'CreatePublicationStmt', 'AlterPublicationStmt', 'CreateSubscriptionStmt',
  'AlterSubscriptionStmt', 'DropSubscriptionStmt',
] as const;

const DCL = [
  'GrantStmt', 'GrantRoleStmt', 'AlterDefaultPrivilegesStmt', 'CreateRoleStmt', 'AlterRoleStmt', 'AlterRoleSetStmt',
  'DropRoleStmt', 'ReassignOwnedStmt', 'DropOwnedStmt', 'CreatePolicyStmt', 'AlterPolicyStmt',
] as const;

const UTILITY = [
  'VariableShowStmt', 'ListenStmt', 'UnlistenStmt', 'NotifyStmt', 'VacuumStmt', 'CheckPointStmt', 'DiscardStmt', 'LoadStmt',
  'ClusterStmt', 'ReindexStmt', 'LockStmt', 'DeallocateStmt', 'ClosePortalStmt', 'RefreshMatViewStmt',
] as const;

const OTHER: Record<string, SqlStatementKind> = {
  SelectStmt: 'select', DeclareCursorStmt: 'select', FetchStmt: 'select',
  InsertStmt: 'insert', UpdateStmt: 'update', DeleteStmt: 'delete', MergeStmt: 'merge',
  TransactionStmt: 'transaction', CopyStmt: 'copy', ExplainStmt: 'explain', PrepareStmt: 'prepare', ExecuteStmt: 'execute',
  VariableSetStmt: 'set', ConstraintsSetStmt: 'set', CallStmt: 'call', DoStmt: 'do',
};

/** Top-level node type → statement kind. A node type missing here is refused as not understood. */
export const KIND_BY_NODE: ReadonlyMap<string, SqlStatementKind> = new Map<string, SqlStatementKind>([
  ...DDL.map((t): [string, SqlStatementKind] => [t, 'ddl']),
  ...DCL.map((t): [string, SqlStatementKind] => [t, 'dcl']),
  ...UTILITY.map((t): [string, SqlStatementKind] => [t, 'utility']),
  ...Object.entries(OTHER),
]);

/** Statements that change who the session is or what roles may do. */
export const ROLE_CHANGE_NODES: ReadonlySet<string> = new Set([
  'GrantStmt', 'GrantRoleStmt', 'AlterDefaultPrivilegesStmt', 'CreateRoleStmt', 'AlterRoleStmt', 'AlterRoleSetStmt',
  'DropRoleStmt', 'ReassignOwnedStmt', 'DropOwnedStmt', 'AlterOwnerStmt',
]);

/** Foreign-data statements: they define or use connections to other servers (postgres_fdw, file_fdw, subscriptions). */
export const REMOTE_NODES: ReadonlySet<string> = new Set([
  'CreateFdwStmt', 'AlterFdwStmt', 'CreateForeignServerStmt', 'AlterForeignServerStmt', 'CreateForeignTableStmt',
  'CreateUserMappingStmt', 'AlterUserMappingStmt', 'DropUserMappingStmt', 'ImportForeignSchemaStmt',
  'CreateSubscriptionStmt', 'AlterSubscriptionStmt', 'DropSubscriptionStmt',
]);

/** Object types (objtype, removeType, ...) that name large objects or foreign-data objects. */
export const OBJECT_TYPE_TRAITS: ReadonlyMap<string, SqlTrait> = new Map<string, SqlTrait>([
  ['OBJECT_LARGEOBJECT', 'largeObject'],
  ['OBJECT_FOREIGN_TABLE', 'remoteAccess'],
  ['OBJECT_FOREIGN_SERVER', 'remoteAccess'],
  ['OBJECT_FDW', 'remoteAccess'],
  ['OBJECT_USER_MAPPING', 'remoteAccess'],
  ['OBJECT_SUBSCRIPTION', 'remoteAccess'],
]);

export const OBJECT_TYPE_KEYS: readonly string[] = ['objtype', 'removeType', 'renameType', 'objectType'];

/** Extensions whose mere installation opens a way out of the data path. */
export const EXTENSION_TRAITS: ReadonlyMap<string, SqlTrait> = new Map<string, SqlTrait>([
  ['dblink', 'remoteAccess'],
  ['postgres_fdw', 'remoteAccess'],
  ['file_fdw', 'serverFile'],
  ['adminpack', 'serverFile'],
  ['lo', 'largeObject'],
]);

/** Catalog tables that hold large-object data. */
export const LARGE_OBJECT_TABLES: ReadonlySet<string> = new Set(['pg_largeobject', 'pg_largeobject_metadata']);

const FUNCTION_EXACT: ReadonlyMap<string, readonly SqlTrait[]> = new Map<string, readonly SqlTrait[]>([
  ['pg_read_file', ['serverFile']],
  ['pg_read_binary_file', ['serverFile']],
  // pageinspect: a relation's raw pages (heap rows, index keys), what its files hold, bytes no detector reads.
  ...['get_raw_page', 'heap_page_items', 'heap_page_item_attrs', 'tuple_data_split', 'bt_page_items', 'brin_page_items', 'gin_leafpage_items',
    'gist_page_items', 'gist_page_items_bytea', 'hash_page_items'].map((f): [string, SqlTrait[]] => [f, ['serverFile']]),
  ['pg_stat_file', ['serverFile']],
  ['pg_ls_dir', ['serverFile']],
  ['pg_logdir_ls', ['serverFile']],
  ['pg_current_logfile', ['serverFile']],
  // Server-side lo_import/lo_export read and write files on the database server.
  ['lo_import', ['largeObject', 'serverFile']],
  ['lo_export', ['largeObject', 'serverFile']],
  ['loread', ['largeObject']],
  ['lowrite', ['largeObject']],
  // These run a query (or read a whole table or schema) named in a string the parser cannot see into.
  ['query_to_xml', ['dynamicSql']],
  ['query_to_xmlschema', ['dynamicSql']],
  ['query_to_xml_and_xmlschema', ['dynamicSql']],
  ['ts_stat', ['dynamicSql']],
  ['connectby', ['dynamicSql']],
  // xml2: SELECT key, xpath FROM <table> WHERE <condition>, every part a string argument.
  ['xpath_table', ['dynamicSql']],
  // Server control: other sessions, the configuration, the WAL, logs, replication.
  ['pg_terminate_backend', ['serverControl']],
  ['pg_cancel_backend', ['serverControl']],
  ['pg_reload_conf', ['serverControl']],
  ['pg_promote', ['serverControl']],
  ['pg_start_backup', ['serverControl']],
  ['pg_stop_backup', ['serverControl']],
  ['pg_drop_replication_slot', ['serverControl']],
  ['pg_replication_slot_advance', ['serverControl']],
  ['pg_sync_replication_slots', ['serverControl']],
  ['pg_log_backend_memory_contexts', ['serverControl']],
  ['pg_log_standby_snapshot', ['serverControl']],
  ['pg_logical_emit_message', ['serverControl']],
  ['pg_import_system_collations', ['serverControl']],
  ['pg_stat_statements_reset', ['serverControl']],
  // Messages to other sessions' LISTENers, outside any result the sidecar masks and records as rows.
  ['pg_notify', ['notification']],
  // Sequence writes from a SELECT: not undone by ROLLBACK, and setval can exhaust the application's ids (round 11b).
  ['nextval', ['writesData']],
  ['setval', ['writesData']],
  ['pg_prewarm', ['maintenance']],
  // Index and heap maintenance callable from SELECT (what VACUUM would do, or repair/corrupt pages: pg_surgery, pg_visibility).
  ['brin_summarize_new_values', ['maintenance']],
  ['brin_summarize_range', ['maintenance']],
  ['brin_desummarize_range', ['maintenance']],
  ['gin_clean_pending_list', ['maintenance']],
  ['heap_force_kill', ['maintenance']],
  ['heap_force_freeze', ['maintenance']],
  ['pg_truncate_visibility_map', ['maintenance']],
]);

const FUNCTION_PREFIX: ReadonlyArray<readonly [string, readonly SqlTrait[]]> = [
  ['pg_ls_', ['serverFile']], // pg_ls_logdir, pg_ls_waldir, pg_ls_tmpdir, pg_ls_archive_statusdir, ...
  ['pg_file_', ['serverFile']], // adminpack: pg_file_write, pg_file_read, pg_file_rename, pg_file_unlink, ...
  ['lo_', ['largeObject']], // lo_open, lo_creat, lo_create, lo_get, lo_put, lo_unlink, lo_from_bytea, lo_truncate, ...
  ['dblink', ['remoteAccess']], // dblink, dblink_exec, dblink_connect, dblink_open, dblink_send_query, ...
  ['postgres_fdw', ['remoteAccess']], // postgres_fdw_get_connections, postgres_fdw_disconnect, ...
  ['table_to_xml', ['dynamicSql']],
  ['schema_to_xml', ['dynamicSql']],
  ['database_to_xml', ['dynamicSql']],
  ['crosstab', ['dynamicSql']], // tablefunc: crosstab(text), crosstab2..4
  ['pg_advisory_', ['explicitLock']], // pg_advisory_lock, pg_advisory_xact_lock_shared, pg_advisory_unlock_all, ...
  ['pg_try_advisory_', ['explicitLock']],
  ['pg_create_', ['serverControl']], // pg_create_restore_point, pg_create_{physical,logical}_replication_slot
  ['pg_copy_', ['serverControl']], // pg_copy_{physical,logical}_replication_slot
  ['pg_logical_slot_', ['serverControl']], // pg_logical_slot_{get,peek}_changes: every row change, read from the WAL
  ['pg_replication_origin_', ['serverControl']],
  ['pg_backup_', ['serverControl']], // pg_backup_start, pg_backup_stop
  ['pg_wal_replay_', ['serverControl']],
  ['pg_xlog_replay_', ['serverControl']],
  ['pg_switch_', ['serverControl']], // pg_switch_wal, pg_switch_xlog
  ['pg_rotate_logfile', ['serverControl']], // and pg_rotate_logfile_old
  ['pg_stat_reset', ['serverControl']], // pg_stat_reset, pg_stat_reset_shared, pg_stat_reset_single_table_counters, ...
  ['pg_restore_', ['maintenance']], // pg_restore_relation_stats, pg_restore_attribute_stats
  ['pg_clear_', ['maintenance']], // pg_clear_relation_stats, pg_clear_attribute_stats
];

/**
 * Traits implied by calling a function named `name` (the last, unqualified part, compared
 * case-insensitively: a lookalike in another schema or with quoted capitals is refused too).
 * `argCount` is -1 when unknown (attribute notation calls have one argument).
 */
export function functionTraits(name: string, argCount: number): readonly SqlTrait[] {
  const n = name.toLowerCase();
  const exact = FUNCTION_EXACT.get(n);
  if (exact !== undefined) return exact;
  // ts_rewrite(query, 'SELECT ...') runs the SELECT; the three-argument form does not.
  if (n === 'ts_rewrite') return argCount === 3 ? [] : ['dynamicSql'];
  for (const [prefix, traits] of FUNCTION_PREFIX) if (n.startsWith(prefix)) return traits;
  return [];
}

/** Whether `name` names a function whose traits matter (used for attribute-notation calls like (x).pg_read_file). */
export function isSensitiveFunction(name: string): boolean {
  return functionTraits(name, 1).length > 0 || name.toLowerCase() === 'set_config';
}

/** Statements that are traits by their node type alone. */
export const NODE_TRAITS: ReadonlyMap<string, SqlTrait> = new Map<string, SqlTrait>([
  ['CallStmt', 'procedureCall'], // runs a procedure body (with its own transaction control) the check cannot see
  ['ListenStmt', 'notification'],
  ['UnlistenStmt', 'notification'],
  ['NotifyStmt', 'notification'],
  ['LockStmt', 'explicitLock'],
  ['VacuumStmt', 'maintenance'], // VACUUM and ANALYZE
  ['ClusterStmt', 'maintenance'],
  ['ReindexStmt', 'maintenance'],
  ['CheckPointStmt', 'serverControl'],
]);

/**
 * Catalog views whose rewrite rules turn a write into function calls: UPDATE pg_settings runs
 * set_config(name, setting, false) for every row it matches (rule pg_settings_u); INSERT does
 * nothing (pg_settings_n). No other view of pg_catalog or information_schema has rules (checked
 * against pg_rules on the server in the integration test).
 */
export const SETTINGS_VIEWS: ReadonlySet<string> = new Set(['pg_settings']);
