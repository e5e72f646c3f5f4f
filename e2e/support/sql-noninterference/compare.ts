// Runs one statement on one schema and compares the two answers as the agent would see them through
// the sidecar. Each run is its own transaction, rolled back, so writes (UPDATE, INSERT, MERGE, writable
// CTEs) leave both data sets as they were and every statement sees the same starting state.
import pg from 'pg';
import type { MaskSession } from '../../../core/masking/index.ts';
import { SCHEMA_PLACEHOLDER } from './vocabulary.ts';

/**
 * What the agent gets back: rows (every cell masked) or an error (SQLSTATE, masked message and detail:
 * the sidecar relays every field of an ErrorResponse masked by content, and a detail such as a NOT
 * NULL violation's `Failing row contains (...)` holds every column of the row).
 */
export type Outcome =
  | { ok: true; fields: string[]; rows: (string | null)[][]; count: number | null; command: string }
  | { ok: false; code: string; message: string; detail: string };

/** node-pg options: every value as PostgreSQL's text, as the sidecar relays it (no Date or number conversion). */
export const RAW_TEXT_TYPES: pg.CustomTypesConfig = {
  getTypeParser: () => (value: string) => value,
};

/**
 * Runs `sql` on `schema` (`@S.` written as the schema, unqualified names resolved in it) and masks the
 * answer with `session`: cells by their column name (the policy's field rules) and by the detectors,
 * error texts as text, as the sidecar masks them.
 */
export async function runOn(client: pg.Client, session: MaskSession, schema: string, sql: string): Promise<Outcome> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL search_path = ${schema}; SET LOCAL statement_timeout = '3s'`);
    const text = sql.replaceAll(`${SCHEMA_PLACEHOLDER}.`, `${schema}.`);
    const res = (await client.query({ text, rowMode: 'array' })) as pg.QueryArrayResult | pg.QueryArrayResult[];
    return maskResult(Array.isArray(res) ? res[res.length - 1]! : res, session, schema);
  } catch (e) {
    // Anything but PostgreSQL's own error (a broken connection) is the test's failure, not an answer.
    if (!(e instanceof pg.DatabaseError)) throw e;
    // An error whose code or text depends on the data is an oracle too: compared like rows.
    const text = (t: string | undefined): string => unschema(session.maskText(t ?? ''), schema);
    return { ok: false, code: e.code ?? '', message: text(e.message), detail: text(e.detail) };
  } finally {
    await client.query('ROLLBACK');
  }
}

function maskResult(res: pg.QueryArrayResult, session: MaskSession, schema: string): Outcome {
  const fields = res.fields.map((f) => f.name);
  const rows = res.rows.map((row: unknown[]) => row.map((v, i) => maskValue(session, fields[i], v, schema)));
  return { ok: true, fields, rows, count: res.rowCount, command: res.command };
}

function maskValue(session: MaskSession, field: string | undefined, value: unknown, schema: string): string | null {
  if (value === null || value === undefined) return null;
  // Every value is PostgreSQL's text (RAW_TEXT_TYPES); anything else would be a client set up otherwise.
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return unschema(session.maskCell(field, text), schema);
}

/**
 * The schema's own name is the one difference the two runs are expected to have (EXPLAIN VERBOSE
 * prints `schema.customers`, error texts name relations): written back as the placeholder.
 */
function unschema(text: string, schema: string): string {
  return text.replaceAll(schema, SCHEMA_PLACEHOLDER);
}

/** '' when the two answers are the same; else the first difference, described for a human. */
export function describeDifference(a: Outcome, b: Outcome): string {
  if (!a.ok || !b.ok) return errorDifference(a, b);
  if (a.count !== b.count) return `row count ${a.count} / ${b.count}`;
  const ja = a.rows.map((r) => JSON.stringify(r));
  const jb = b.rows.map((r) => JSON.stringify(r));
  if (ja.join('\n') === jb.join('\n')) return '';
  // Same rows in another order: an ORDER BY (or a plan) that followed personal values.
  if ([...ja].sort().join('\n') === [...jb].sort().join('\n')) return `row order differs: ${ja.slice(0, 6).join(' ')} / ${jb.slice(0, 6).join(' ')}`;
  const i = ja.findIndex((x, k) => x !== jb[k]);
  return `values differ at row ${i}: ${ja[i]} / ${jb[i]}`;
}

function errorDifference(a: Outcome, b: Outcome): string {
  if (a.ok !== b.ok) return `error vs success: ${describeOutcome(a)} / ${describeOutcome(b)}`;
  if (!a.ok && !b.ok && (a.code !== b.code || a.message !== b.message || a.detail !== b.detail)) return `error differs: ${describeOutcome(a)} / ${describeOutcome(b)}`;
  return '';
}

function describeOutcome(o: Outcome): string {
  return o.ok ? `ok (${o.rows.length} rows)` : `${o.code} ${o.message}${o.detail === '' ? '' : ` (${o.detail})`}`;
}
