// The client's StartupMessage: who it says it is (ignored: the token is the identity), which
// database, its application name, its declared purpose (`-c guarita.purpose=...` in `options`,
// or a `guarita.purpose` startup parameter), and the session settings it asks for. Settings go
// upstream only from an allow-list: `-c role=...` or `-c session_authorization=...` in the
// startup packet would otherwise change role without any statement the policy could see.
import { PINNED_SERVER_SETTINGS, isPinnedSetting } from '../../../core/policy/pg-settings.ts';
import { ProtocolError } from './frontend.ts';

export const PURPOSE_SETTING = 'guarita.purpose';

/** Settings a client may pass at startup (lower case); they are as harmless as their SET is. */
export const ALLOWED_STARTUP_SETTINGS: ReadonlySet<string> = new Set([
  'application_name', 'client_encoding', 'datestyle', 'intervalstyle', 'timezone', 'extra_float_digits',
  'search_path', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'idle_session_timeout',
  'default_transaction_isolation', 'default_transaction_read_only', 'default_transaction_deferrable',
  'bytea_output', 'geqo', 'jit', 'work_mem', 'lc_monetary', 'lc_numeric', 'lc_time',
  'xmlbinary', 'xmloption', 'row_security', 'enable_seqscan', 'enable_indexscan', 'enable_bitmapscan',
  'enable_hashjoin', 'enable_mergejoin', 'enable_nestloop', 'random_page_cost', 'plan_cache_mode', 'gin_fuzzy_search_limit',
]);

export interface StartupRequest {
  /** The user name the client sent (not an identity: the token is). */
  user: string;
  /** The database the client asked for, if it named one. */
  database: string | undefined;
  applicationName: string | undefined;
  purpose: string | undefined;
  /** Allowed settings to send upstream (name as given → value); client_encoding is always UTF8. */
  settings: Array<[string, string]>;
  /** `_pq_.` protocol options the client asked for (answered with NegotiateProtocolVersion). */
  protocolOptions: string[];
}

/** Splits `options` like the server does: whitespace separates, backslash escapes the next character. */
export function splitOptions(options: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inArg = false;
  for (let i = 0; i < options.length; i++) {
    const ch = options[i] ?? '';
    if (ch === '\\' && i + 1 < options.length) {
      cur += options[i + 1] ?? '';
      i++;
      inArg = true;
    } else if (/\s/.test(ch)) {
      if (inArg) out.push(cur);
      cur = '';
      inArg = false;
    } else {
      cur += ch;
      inArg = true;
    }
  }
  if (inArg) out.push(cur);
  return out;
}

/** `-c name=value`, `-cname=value` and `--name=value` settings from `options`. */
export function parseOptionSettings(options: string): Array<[string, string]> {
  const args = splitOptions(options);
  const settings: Array<[string, string]> = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    let assignment: string | undefined;
    if (arg === '-c') assignment = args[++i];
    else if (arg.startsWith('-c')) assignment = arg.slice(2);
    else if (arg.startsWith('--')) assignment = arg.slice(2);
    else throw new ProtocolError(`startup option "${arg}" is not allowed through the Guarita sidecar (only -c name=value settings)`, '42501');
    const eq = assignment?.indexOf('=') ?? -1;
    if (assignment === undefined || eq <= 0) throw new ProtocolError(`invalid startup option "${arg}": expected -c name=value`, '42601');
    settings.push([assignment.slice(0, eq).replace(/-/g, '_'), assignment.slice(eq + 1)]);
  }
  return settings;
}

function escapeOptionValue(v: string): string {
  return v.replace(/[\\\s]/g, (c) => `\\${c}`);
}

/** The `options` string for the upstream from settings. */
export function buildOptions(settings: ReadonlyArray<[string, string]>): string {
  return settings.map(([k, v]) => `-c ${escapeOptionValue(`${k}=${v}`)}`).join(' ');
}

interface Collected {
  user?: string;
  database?: string;
  applicationName?: string;
  fallbackApplicationName?: string;
  purpose?: string;
  settings: Map<string, [string, string]>;
  protocolOptions: string[];
}

/** How the server spells a value it treats as the same (booleans, encoding names): lower case, alphanumerics only. */
export function canonicalSettingValue(name: string, value: string): string {
  const v = value.trim().toLowerCase();
  if (name === 'client_encoding') {
    const enc = v.replace(/[^a-z0-9]/g, '');
    return enc === 'unicode' ? 'utf8' : enc;
  }
  if (['on', 'true', 'yes', '1', 't', 'y'].includes(v)) return 'on';
  if (['off', 'false', 'no', '0', 'f', 'n'].includes(v)) return 'off';
  return v;
}

/**
 * A client may name a pinned setting only with the value the sidecar pins (drivers send
 * client_encoding=UTF8): the pinned value is what reaches the server either way. libpq's
 * client_encoding=auto resolves to SQL_ASCII in the C locale; ASCII is a subset of UTF-8, so
 * that client reads the server's UTF-8 as before. Any other value would make the server read
 * the statements' text differently from the classifier: refused, naming the parameter.
 */
function checkPinned(key: string, name: string, value: string, origin: string): void {
  const pinned = PINNED_SERVER_SETTINGS[key] ?? '';
  const asked = canonicalSettingValue(key, value);
  if (asked === canonicalSettingValue(key, pinned)) return;
  if (key === 'client_encoding' && asked === 'sqlascii') return;
  throw new ProtocolError(
    `startup ${origin} "${name}=${value}" is refused by the Guarita sidecar: ${key} is pinned to ${pinned} ` +
      '(the sidecar decides statements by reading their text as the server does with that value); remove it from the connection parameters or PGOPTIONS',
    '42501',
  );
}

function addSetting(c: Collected, name: string, value: string, origin = 'parameter'): void {
  const key = name.toLowerCase().replace(/-/g, '_');
  if (isPinnedSetting(key)) {
    // Pinned settings are sent upstream by the sidecar itself (pinnedOptions), never as the client wrote them.
    checkPinned(key, name, value, origin);
    return;
  }
  if (key === PURPOSE_SETTING) {
    c.purpose = value;
    return;
  }
  if (key === 'application_name') {
    c.applicationName = value;
    return;
  }
  if (!ALLOWED_STARTUP_SETTINGS.has(key)) throw new ProtocolError(`startup setting "${name}" is not allowed through the Guarita sidecar`, '42501');
  c.settings.set(key, [name, value]);
}

function addParam(c: Collected, key: string, value: string): void {
  switch (key) {
    case 'user': c.user = value; return;
    case 'database': c.database = value; return;
    case 'options': for (const [k, v] of parseOptionSettings(value)) addSetting(c, k, v, 'option'); return;
    case 'fallback_application_name': c.fallbackApplicationName = value; return;
    case 'replication':
      if (!['false', 'off', 'no', '0'].includes(value.toLowerCase())) throw new ProtocolError('replication connections are not allowed through the Guarita sidecar', '42501');
      return;
    default:
      if (key.startsWith('_pq_.')) c.protocolOptions.push(key);
      else addSetting(c, key, value);
  }
}

export function parseStartup(params: ReadonlyArray<[string, string]>): StartupRequest {
  const c: Collected = { settings: new Map(), protocolOptions: [] };
  for (const [key, value] of params) addParam(c, key, value);
  if (c.user === undefined || c.user === '') throw new ProtocolError('no PostgreSQL user name specified in startup packet', '28000');
  const applicationName = c.applicationName ?? c.fallbackApplicationName;
  const purpose = c.purpose === undefined || c.purpose === '' ? undefined : c.purpose;
  return { user: c.user, database: c.database, applicationName, purpose, settings: [...c.settings.values()], protocolOptions: c.protocolOptions };
}

/**
 * The database to open upstream: the target's when it names one (a client asking for another,
 * other than libpq's default of the user name, is refused), else the client's.
 */
export function upstreamDatabase(req: StartupRequest, targetDatabase: string | undefined): string {
  const asked = req.database === undefined || req.database === '' ? undefined : req.database;
  if (targetDatabase === undefined || targetDatabase === '') return asked ?? req.user;
  if (asked === undefined || asked === targetDatabase || asked === req.user) return targetDatabase;
  throw new ProtocolError(`database "${asked}" is not served by this listener (it serves "${targetDatabase}")`, '3D000');
}

/** A statement_timeout value as the server reads it (a number of ms, or with a unit), in ms; undefined when unreadable. */
export function pgTimeoutMs(value: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(value);
  if (m === null) return undefined;
  const factor = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms'] ?? 1;
  return Math.round(Number(m[1]) * factor);
}

/**
 * The elements of a search_path value as the server splits it (SplitIdentifierString: commas,
 * surrounding whitespace, double quotes with "" inside), each as written and as the name it
 * means (unquoted names are lower-cased). Undefined when the server would not accept the list.
 */
export function splitSearchPath(value: string): Array<{ raw: string; name: string }> | undefined {
  const out: Array<{ raw: string; name: string }> = [];
  const item = /\s*(?:"((?:[^"]|"")*)"|([^",\s]+))\s*(,|$)/y;
  if (value.trim() === '') return out;
  for (let at = 0; at < value.length;) {
    item.lastIndex = at;
    const m = item.exec(value);
    if (m === null) return undefined;
    const quoted = m[1];
    out.push(quoted === undefined ? { raw: m[2] ?? '', name: (m[2] ?? '').toLowerCase() } : { raw: `"${quoted}"`, name: quoted.replaceAll('""', '"') });
    at = item.lastIndex;
    if (m[3] === '') break;
    if (at === value.length) return undefined; // a trailing comma
  }
  return out;
}

/** pg_temp, and pg_temp_N: the session's own temporary schema when N is its backend's number. */
const TEMP_SCHEMA = /^pg_temp(_\d+)?$/;

/**
 * A search_path with the temporary schema named explicitly last: the client's at startup, or, when
 * the client names none, the session's own (role, database or server default) read and set again
 * before the client gets the session (temp-schema-last.ts), so those defaults still apply. Unnamed, pg_temp is searched FIRST (namespace.c puts it in front of the
 * list), so a temporary table the session creates (`CREATE TEMP TABLE orders (cpf text)`, or a
 * `SELECT ... INTO TEMP orders` the policy should have denied) would shadow the table the policy
 * and the sensitive-column guard mean by `orders`. Last, it shadows nothing. Any pg_temp the client
 * placed earlier is moved (the startup setting is still decided as the client wrote it: a SET of
 * search_path, trait securitySetting). A list the server would refuse is passed as it is, with
 * pg_temp appended: the server ends the session over it either way.
 */
export function searchPathWithTempLast(asked: string): string {
  const items = splitSearchPath(asked);
  if (items === undefined) return `${asked}, pg_temp`;
  return [...items.filter((i) => !TEMP_SCHEMA.test(i.name)).map((i) => i.raw), 'pg_temp'].join(', ');
}

/**
 * The client's settings, then the pinned ones (later -c settings win, and startup settings
 * outrank role and database defaults such as ALTER ROLE ... SET standard_conforming_strings =
 * off). With a policy statementTimeout the client keeps its own statement_timeout only when it
 * is shorter (0 means none, so it is not). A search_path the client names goes with pg_temp
 * last (searchPathWithTempLast); without one, the session's default is fixed up after startup.
 */
export function upstreamSettings(req: StartupRequest, statementTimeoutMs?: number): Array<[string, string]> {
  const replaced = (name: string): boolean => name.toLowerCase() === 'search_path' || (statementTimeoutMs !== undefined && name.toLowerCase() === 'statement_timeout');
  const settings = req.settings.filter(([name]) => !replaced(name));
  if (statementTimeoutMs !== undefined) {
    const asked = req.settings.find(([name]) => name.toLowerCase() === 'statement_timeout');
    const askedMs = asked === undefined ? undefined : pgTimeoutMs(asked[1]);
    const effective = askedMs !== undefined && askedMs > 0 && askedMs < statementTimeoutMs ? askedMs : statementTimeoutMs;
    settings.push(['statement_timeout', `${effective}ms`]);
  }
  const asked = clientSearchPath(req);
  if (asked !== undefined) settings.push(['search_path', searchPathWithTempLast(asked)]);
  for (const [name, value] of Object.entries(PINNED_SERVER_SETTINGS)) settings.push([name, value]);
  return settings;
}

/** The search_path the client named at startup (the last one wins, as for the server), if any. */
export function clientSearchPath(req: StartupRequest): string | undefined {
  return req.settings.findLast(([name]) => name.toLowerCase() === 'search_path')?.[1];
}

/** Startup parameters for the upstream, besides user and database. */
export function upstreamParams(req: StartupRequest, statementTimeoutMs?: number): Record<string, string> {
  const params: Record<string, string> = {};
  if (req.applicationName !== undefined) params.application_name = req.applicationName;
  params.options = buildOptions(upstreamSettings(req, statementTimeoutMs));
  return params;
}
