// The client's StartupMessage: who it says it is (ignored: the token is the identity), which
// database, its application name, its declared purpose (`-c guarita.purpose=...` in `options`,
// or a `guarita.purpose` startup parameter), and the session settings it asks for. Settings go
// upstream only from an allow-list: `-c role=...` or `-c session_authorization=...` in the
// startup packet would otherwise change role without any statement the policy could see.
import { ProtocolError } from './frontend.ts';

export const PURPOSE_SETTING = 'guarita.purpose';

/** Settings a client may pass at startup (lower case); they are as harmless as their SET is. */
export const ALLOWED_STARTUP_SETTINGS: ReadonlySet<string> = new Set([
  'application_name', 'client_encoding', 'datestyle', 'intervalstyle', 'timezone', 'extra_float_digits',
  'search_path', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'idle_session_timeout',
  'default_transaction_isolation', 'default_transaction_read_only', 'default_transaction_deferrable',
  'bytea_output', 'standard_conforming_strings', 'geqo', 'jit', 'work_mem', 'lc_monetary', 'lc_numeric', 'lc_time',
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

function addSetting(c: Collected, name: string, value: string): void {
  const key = name.toLowerCase();
  if (key === PURPOSE_SETTING) {
    c.purpose = value;
    return;
  }
  if (key === 'application_name') {
    c.applicationName = value;
    return;
  }
  if (!ALLOWED_STARTUP_SETTINGS.has(key)) throw new ProtocolError(`startup setting "${name}" is not allowed through the Guarita sidecar`, '42501');
  // client_encoding is pinned to UTF8 (the sidecar masks UTF-8 text); the serializer adds it.
  if (key !== 'client_encoding') c.settings.set(key, [name, value]);
}

function addParam(c: Collected, key: string, value: string): void {
  switch (key) {
    case 'user': c.user = value; return;
    case 'database': c.database = value; return;
    case 'options': for (const [k, v] of parseOptionSettings(value)) addSetting(c, k, v); return;
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

/** Startup parameters for the upstream, besides user and database. */
export function upstreamParams(req: StartupRequest): Record<string, string> {
  const params: Record<string, string> = {};
  if (req.applicationName !== undefined) params.application_name = req.applicationName;
  if (req.settings.length > 0) params.options = buildOptions(req.settings);
  return params;
}
