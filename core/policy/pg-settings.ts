// The server settings the SQL classifier assumes. libpg-query lexes SQL as a server with these
// values would; a session where any of them differs reads the same text differently (a backslash
// that ends a literal, a multibyte character that swallows a quote), so every rule could be
// bypassed. The sidecar pins them at startup, the classifier refuses every statement form that
// changes them, and the PostgreSQL listener ends the session (fail closed) if the server ever
// reports another value in a ParameterStatus message.
//
// Why these three, from PostgreSQL's lexer (scan.l) and its GUC list:
// - standard_conforming_strings: off makes a backslash escape the quote in '...' literals, so
//   'a\' ... ' ends somewhere else (the issue-18 hidden DELETE);
// - client_encoding: client-only multibyte encodings (SJIS, BIG5, GBK, UHC, GB18030, JOHAB) have
//   characters whose second byte is ' or \; the server decodes them, libpg-query reads UTF-8;
// - backslash_quote: only decides whether \' inside E'' is an error, never where a token ends; it
//   is pinned because it is not reported in ParameterStatus, so nothing else would notice a change.
// escape_string_warning only warns. Settings that change how names or values are interpreted
// rather than lexed (search_path, session_replication_role, ...) are classified instead
// (SECURITY_SETTINGS below): a policy can name them, and the example policy denies them. Others
// that change the meaning of values but neither token boundaries nor what a statement touches
// (transform_null_equals, array_nulls, DateStyle, IntervalStyle, TimeZone, xmloption,
// bytea_output, extra_float_digits) are left alone.

/**
 * Setting name (lower case) → the value the classifier assumes, spelled as the server reports it
 * in ParameterStatus (for GUC_REPORT settings) and as the sidecar sends it at startup.
 */
export const PINNED_SERVER_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  standard_conforming_strings: 'on',
  client_encoding: 'UTF8',
  backslash_quote: 'safe_encoding',
});

/** True when `name` (any case) is a setting whose value the classifier depends on. */
export function isPinnedSetting(name: string): boolean {
  return Object.hasOwn(PINNED_SERVER_SETTINGS, name.toLowerCase());
}

/** Spellings PostgreSQL's parse_bool reads as true. */
const TRUE_VALUES: ReadonlySet<string> = new Set(['on', 'true', 'yes', '1', 't', 'y']);

/**
 * True when `value`, written in a SET, set_config() or UPDATE pg_settings, gives the pinned
 * setting `name` exactly its pinned value (so `SET client_encoding = 'utf-8'` is harmless).
 * Undefined (RESET, DEFAULT, a value computed at run time) is never the pinned value: what it
 * returns to is a role, database or server default the classifier cannot see.
 */
export function isPinnedValue(name: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const n = name.toLowerCase();
  const v = value.trim().toLowerCase();
  if (n === 'standard_conforming_strings') return TRUE_VALUES.has(v);
  // PostgreSQL compares encoding names without case and without non-alphanumerics (utf-8 = UTF8); UNICODE is an alias.
  if (n === 'client_encoding') return ['utf8', 'unicode'].includes(v.replace(/[^a-z0-9]/g, ''));
  if (n === 'backslash_quote') return v === 'safe_encoding';
  return false;
}

/** Settings that change who the session is: changing them is trait roleChange. */
export const ROLE_SETTINGS: ReadonlySet<string> = new Set(['role', 'session_authorization']);

/**
 * Settings that change how names resolve or which protections apply, without changing how text is
 * lexed: changing them (SET, RESET, set_config, UPDATE pg_settings, ALTER ROLE/DATABASE/SYSTEM,
 * function SET clauses) is trait securitySetting.
 */
export const SECURITY_SETTINGS: ReadonlySet<string> = new Set([
  'search_path', // which customers table (or function) an unqualified name means
  'session_replication_role', // replica: triggers (audit, foreign keys) and rules stop firing
  'row_security', // off: row-level security errors instead of filtering (bypassrls roles read everything)
  'default_transaction_read_only', // a role made read-only this way becomes writable
  'transaction_read_only',
  'allow_system_table_mods', 'lo_compat_privileges', 'restrict_nonsystem_relation_kind', 'createrole_self_grant',
  'session_preload_libraries', 'local_preload_libraries', 'dynamic_library_path', // load server code
]);

/** Timeouts the policy's statementTimeout bounds: changing them is trait timeoutChange. */
export const TIMEOUT_SETTINGS: ReadonlySet<string> = new Set([
  'statement_timeout', 'lock_timeout', 'transaction_timeout', 'idle_in_transaction_session_timeout', 'idle_session_timeout',
]);

/** What changing the setting `name` (any case) means to the classifier. */
export function settingClass(name: string): 'pinned' | 'role' | 'security' | 'timeout' | 'other' {
  const n = name.toLowerCase();
  if (isPinnedSetting(n)) return 'pinned';
  if (ROLE_SETTINGS.has(n)) return 'role';
  if (TIMEOUT_SETTINGS.has(n)) return 'timeout';
  // Dotted names are extension and custom settings: row-level security policies commonly read
  // current_setting('app.tenant_id'), and pgaudit.* turns auditing off. log_* hides statements from the server's log.
  if (SECURITY_SETTINGS.has(n) || n.includes('.') || n.startsWith('log_') || n.startsWith('debug_')) return 'security';
  return 'other';
}
