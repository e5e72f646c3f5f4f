// Server → client messages outside result rows that can carry data, and how the listener treats
// each (docs/postgres.md, "Every server message"). Data reaches the client not only in DataRows:
// `SELECT set_config('application_name', cpf, false) FROM customers` returns the CPF in a
// ParameterStatus, a unique violation repeats it in an ErrorResponse's detail, `NOTIFY` carries it
// in a NotificationResponse, `SELECT 1 AS "<cpf>"` in a RowDescription. Each of these is masked by
// content with the masking engine the rows use; messages that cannot be masked are refused.
import { Writer } from 'pg-protocol/dist/buffer-writer.js';
import type { BackendMessage, NotificationResponseMessage, RowDescriptionMessage } from 'pg-protocol/dist/messages.js';
import { isPinnedSetting, PINNED_SERVER_SETTINGS } from '../../../core/policy/pg-settings.ts';
import type { MaskSession } from '../enforcement.ts';
import { notificationResponse, parameterStatus } from './backend.ts';
import { canonicalSettingValue } from './startup.ts';

/**
 * Error and notice fields that are codes, positions and server source locations, never data:
 * forwarded as they are. Every other field (message, detail, hint, context, internal query,
 * schema, table, column, data type, constraint names, and any field type a later server adds) is
 * masked by content.
 */
const NON_DATA_FIELDS = new Set(['S', 'V', 'C', 'P', 'p', 'F', 'L', 'R']);

/** (field type, value) pairs of an ErrorResponse or NoticeResponse, read from its own bytes. */
export function errorFields(raw: Buffer): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  let offset = 5;
  while (offset < raw.length) {
    const type = raw[offset] ?? 0;
    if (type === 0) break;
    const end = raw.indexOf(0, offset + 1);
    if (end < 0) break;
    fields.push([String.fromCharCode(type), raw.toString('utf8', offset + 1, end)]);
    offset = end + 1;
  }
  return fields;
}

function fieldsBuffer(kind: 'E' | 'N', fields: ReadonlyArray<[string, string]>): Buffer {
  const w = new Writer();
  for (const [type, value] of fields) w.addString(type).addCString(value);
  w.addString('\0');
  return w.flush(kind === 'E' ? 0x45 : 0x4e);
}

/** An ErrorResponse or NoticeResponse with every data-carrying field masked; `raw` itself when nothing changed. */
export function maskErrorOrNotice(kind: 'E' | 'N', raw: Buffer, mask: MaskSession): Buffer {
  let changed = false;
  const all = errorFields(raw);
  const sqlstate = all.find(([t]) => t === 'C')?.[1] ?? '';
  const fields = all.map(([type, value]): [string, string] => {
    if (NON_DATA_FIELDS.has(type)) return [type, value];
    const out = type === 'D' ? maskDetail(value, mask, sqlstate) : mask.maskText(value);
    if (out !== value) changed = true;
    return [type, out];
  });
  return changed ? fieldsBuffer(kind, fields) : raw;
}

/**
 * The one detail form of an integrity error kept: a key of plain columns and its values, in
 * PostgreSQL's English wording ("Key (cpf)=(…) already exists.", foreign-key details).
 */
const KEY_VALUES = /^Key \(((?:"[^"]*"|[\w$]+)(?:, (?:"[^"]*"|[\w$]+))*)\)=\((.*)\) (already exists|is duplicated|is not present in table "[^"]*"|is still referenced from table "[^"]*")\.$/s;

/** The detail of an integrity error that is not a plain key: withheld. */
const WITHHELD = 'detail withheld by Guarita: it may hold values of personal columns';

/**
 * An error's detail. An integrity violation's detail (SQLSTATE class 23, and 44000 WITH CHECK
 * OPTION: never translated, unlike the text) prints values of the failing row or key, where
 * masking by content alone misses what a column's name rule would have masked in a result row (a
 * CPF with a wrong check digit, a phone such as 3456-7890: reviews 38, 39). A plain key's values
 * are masked by their columns' name rules too; anything else there (a row image, a partition key,
 * an expression index's key, an exclusion conflict, a server speaking another language) is
 * withheld. Other details are masked by content.
 */
function maskDetail(value: string, mask: MaskSession, sqlstate: string): string {
  if (!sqlstate.startsWith('23') && sqlstate !== '44000') return mask.maskText(value);
  const key = KEY_VALUES.exec(value);
  if (key === null) return WITHHELD;
  const [, cols = '', vals = '', rest = ''] = key;
  let masked = vals;
  for (const col of cols.split(', ').map((c) => c.replace(/^"|"$/g, ''))) masked = mask.maskCell(col, masked);
  return `Key (${mask.maskText(cols)})=(${masked}) ${mask.maskText(rest)}.`;
}

/**
 * Whether an ErrorResponse ends the session (severity FATAL or PANIC; the non-localized `V`
 * field, or `S` from servers before 9.6). The server closes right after it: the client must get
 * it as the server sent it (masked), whatever the listener was waiting for, and nothing after it.
 */
export function isFatalError(raw: Buffer): boolean {
  let severity: string | undefined;
  for (const [type, value] of errorFields(raw)) {
    if (type === 'V') return value === 'FATAL' || value === 'PANIC';
    if (type === 'S') severity = value;
  }
  return severity === 'FATAL' || severity === 'PANIC';
}

/** ParameterStatus values set by the server alone, from a fixed vocabulary: forwarded as they are. */
const SERVER_FORMAT_PARAMETERS = new Set([
  'server_version', 'server_encoding', 'client_encoding', 'datestyle', 'intervalstyle', 'integer_datetimes',
  'standard_conforming_strings', 'is_superuser', 'default_transaction_read_only', 'in_hot_standby', 'scram_iterations',
]);

/**
 * The pinned setting a reported value breaks, with the value the classifier assumes; undefined
 * when the parameter is not pinned or has the assumed value.
 */
export function pinnedMismatch(name: string, value: string): { setting: string; expected: string } | undefined {
  const key = name.toLowerCase();
  if (!isPinnedSetting(key)) return undefined;
  const expected = PINNED_SERVER_SETTINGS[key] ?? '';
  return canonicalSettingValue(key, value) === canonicalSettingValue(key, expected) ? undefined : { setting: key, expected };
}

/** Pinned settings the server reports (GUC_REPORT): a session must start with these values reported. */
export const REPORTED_PINNED_SETTINGS = ['standard_conforming_strings', 'client_encoding'] as const;

export function pinnedMismatchMessage(name: string, value: string, expected: string): string {
  return `the server reported ${name} = ${value}, but the Guarita sidecar decides statements assuming ${name} = ${expected}; ` +
    'the session is closed (a statement, function or role setting changed a setting the sidecar pins)';
}

/** A ParameterStatus with a value that can carry data (application_name, search_path, TimeZone, ...) masked. */
export function maskParameterStatus(name: string, value: string, raw: Buffer, mask: MaskSession): Buffer {
  if (SERVER_FORMAT_PARAMETERS.has(name.toLowerCase())) return raw;
  const out = mask.maskText(value);
  return out === value ? raw : parameterStatus(name, out);
}

/** A NotificationResponse with channel and payload masked. */
export function maskNotification(msg: NotificationResponseMessage, raw: Buffer, mask: MaskSession): Buffer {
  const channel = mask.maskText(msg.channel);
  const payload = mask.maskText(msg.payload);
  return channel === msg.channel && payload === msg.payload ? raw : notificationResponse(msg.processId, channel, payload);
}

/** A RowDescription with column names masked (`SELECT 1 AS "<cpf>"`); the listener masks cells by the original names. */
export function maskRowDescription(msg: RowDescriptionMessage, raw: Buffer, mask: MaskSession): Buffer {
  const names = msg.fields.map((f) => mask.maskText(f.name));
  if (names.every((n, i) => n === msg.fields[i]?.name)) return raw;
  const w = new Writer().addInt16(msg.fields.length);
  msg.fields.forEach((f, i) => {
    w.addCString(names[i] ?? '').addInt32(f.tableID).addInt16(f.columnID).addInt32(f.dataTypeID)
      .addInt16(f.dataTypeSize).addInt32(f.dataTypeModifier).addInt16(f.format === 'binary' ? 1 : 0);
  });
  return w.flush(0x54);
}

/**
 * Messages that carry no data (acknowledgements, formats, type OIDs, transaction status):
 * forwarded as bytes wherever they arrive. Every other message has a handler, or the session
 * ends (fail closed).
 */
export const NO_DATA_MESSAGES: ReadonlySet<BackendMessage['name']> = new Set([
  'parseComplete', 'bindComplete', 'closeComplete', 'noData', 'portalSuspended', 'emptyQuery', 'copyDone',
  'copyInResponse', 'parameterDescription', 'readyForQuery', 'commandComplete',
]);

/** Why a freshly opened upstream session cannot be used: a pinned setting reported missing or with another value. */
export function startupPinnedProblem(parameters: ReadonlyMap<string, string>): string | undefined {
  const reported = new Map([...parameters].map(([k, v]) => [k.toLowerCase(), v]));
  for (const [name, value] of reported) {
    const mismatch = pinnedMismatch(name, value);
    if (mismatch !== undefined) return pinnedMismatchMessage(mismatch.setting, value, mismatch.expected);
  }
  for (const name of REPORTED_PINNED_SETTINGS) {
    if (!reported.has(name)) return `the server did not report ${name}; the Guarita sidecar needs it to be ${PINNED_SERVER_SETTINGS[name] ?? ''} and refuses the session`;
  }
  return serverEncodingProblem(reported.get('server_encoding'));
}

/**
 * The database's encoding decides how the server keys prepared statements and portals: by the
 * first 63 bytes of the name in that encoding (and the SQL scanner cuts identifiers there). The
 * sidecar keys them by their UTF-8 bytes (server-names.ts), which is the server's key only in a
 * UTF8 database: in LATIN1, `é` is one byte to the server and two to the sidecar, so two portals
 * one to the server were one to the sidecar (round 8d review). Other databases are refused.
 */
export function serverEncodingProblem(encoding: string | undefined): string | undefined {
  if (encoding?.toUpperCase() === 'UTF8') return undefined;
  return `the database's server_encoding is ${encoding ?? 'not reported'}; the Guarita sidecar serves UTF8 databases only (it keys prepared statements and portals as a UTF8 server does); use a UTF8 database (CREATE DATABASE ... ENCODING 'UTF8'), and refuses the session`;
}
