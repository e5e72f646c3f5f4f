// The session's temporary schema searched last, keeping the search_path the database gives it.
//
// A search_path that does not name pg_temp has it searched FIRST (namespace.c), so a temporary
// table the session creates would shadow the table the policy and the sensitive-column guard mean
// by its name (round 11 review). A client that names a search_path at startup gets it with pg_temp
// last (startup.ts). A client that names none gets the role's, the database's or the server's
// default (ALTER ROLE/DATABASE ... SET search_path): the sidecar reads it on the new session and
// sets it again with pg_temp last, before the client gets the session, rather than replacing it
// with the server's built-in default (which the first fix did, losing those defaults).
import { upstreamRows, type UpstreamConnection } from './upstream.ts';
import { searchPathWithTempLast } from './startup.ts';

/** A string literal for the server (standard_conforming_strings is pinned on: quotes doubled, backslashes plain). */
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/**
 * Sets the session's search_path to its current value with pg_temp named last. Rejects, naming
 * the step, when the value cannot be read or set: the caller refuses the session (fail closed).
 */
export async function tempSchemaLast(up: UpstreamConnection, timeoutMs: number): Promise<void> {
  let current: string | null | undefined;
  try {
    current = (await upstreamRows(up, "SELECT pg_catalog.current_setting('search_path')", timeoutMs))[0]?.[0];
  } catch (err) {
    throw new Error(`reading the session's search_path: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (current === null || current === undefined) throw new Error('reading the session\'s search_path: no value');
  const wanted = searchPathWithTempLast(current);
  try {
    await upstreamRows(up, `SELECT pg_catalog.set_config('search_path', ${literal(wanted)}, false)`, timeoutMs);
  } catch (err) {
    throw new Error(`setting search_path to ${wanted}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
