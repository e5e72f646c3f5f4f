// Before a new upstream session is handed to the client, the sidecar reads the database's catalog
// on it (one simple Query) and compares it with the policy's spec.sensitiveColumns declarations
// (core/policy/sql-columns-catalog.ts): the guard resolves `*`, `ORDER BY 2` and column aliases
// with the declared column lists, so a database that contradicts them (a column added, dropped or
// reordered, a view defined otherwise, an undeclared relation holding personal columns) would let
// a personal column through under another position. Every new session pays this one round trip;
// a session opened after an ALTER TABLE sees the change.
import { catalogQuery, compareCatalog, parseCatalogRows, type CatalogProblem } from '../../../core/policy/sql-columns-catalog.ts';
import type { SensitiveColumnsConfig } from '../../../core/policy/sql-columns.ts';
import { upstreamRows, type UpstreamConnection } from './upstream.ts';

/**
 * The catalog query in a transaction of its own with JIT compilation off. Its estimated cost (one
 * subquery per relation it may return) passes jit_above_cost on a database of a few thousand
 * tables, and compiling it took 1.4 s of a 1.45 s query, on every new session, for a plan that
 * returns a handful of rows (43 ms without JIT). SET LOCAL ends with the transaction: the agent's
 * session keeps the server's setting.
 */
function withoutJit(sql: string): string {
  return `BEGIN; SET LOCAL jit = off; ${sql}; COMMIT`;
}

/** The contradictions between the policy's declarations and this database's catalog (empty: none). Rejects when the catalog cannot be read. */
export async function catalogProblems(up: UpstreamConnection, cfg: SensitiveColumnsConfig, timeoutMs: number): Promise<CatalogProblem[]> {
  const rows = await upstreamRows(up, withoutJit(catalogQuery(cfg)), timeoutMs);
  return compareCatalog(cfg, parseCatalogRows(rows));
}
