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

/** The contradictions between the policy's declarations and this database's catalog (empty: none). Rejects when the catalog cannot be read. */
export async function catalogProblems(up: UpstreamConnection, cfg: SensitiveColumnsConfig, timeoutMs: number): Promise<CatalogProblem[]> {
  const rows = await upstreamRows(up, catalogQuery(cfg), timeoutMs);
  return compareCatalog(cfg, parseCatalogRows(rows));
}
