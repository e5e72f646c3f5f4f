// Before a new upstream session is handed to the client, the sidecar reads the database's catalog
// on it (one simple Query) and compares it with the policy's spec.sensitiveColumns declarations
// (core/policy/sql-columns-catalog.ts): the guard resolves `*`, `ORDER BY 2` and column aliases
// with the declared column lists, so a database that contradicts them (a column added, dropped or
// reordered, a view defined otherwise, an undeclared relation holding personal columns) would let
// a personal column through under another position. Every new session pays this one round trip;
// a session opened after an ALTER TABLE sees the change.
import { serialize } from 'pg-protocol';
import type { DatabaseError, DataRowMessage, ReadyForQueryMessage } from 'pg-protocol/dist/messages.js';
import { catalogQuery, compareCatalog, parseCatalogRows, type CatalogProblem } from '../../../core/policy/sql-columns-catalog.ts';
import type { SensitiveColumnsConfig } from '../../../core/policy/sql-columns.ts';
import type { TransactionStatus } from './backend.ts';
import type { UpstreamConnection } from './upstream.ts';
import type { BackendMessage } from './upstream-reader.ts';

/** Runs one simple Query on an idle upstream connection (nothing else reads it yet); resolves with the text rows. */
export function upstreamRows(up: UpstreamConnection, sql: string, timeoutMs: number): Promise<(string | null)[][]> {
  const { socket } = up;
  return new Promise((resolve, reject) => {
    const rows: (string | null)[][] = [];
    let failure: Error | undefined;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
      if (err === undefined) resolve(rows);
      else reject(err);
    };
    const onMessage = (msg: BackendMessage): void => {
      if (msg.name === 'dataRow') rows.push((msg as DataRowMessage).fields as (string | null)[]);
      else if (msg.name === 'error') failure ??= new Error(`the catalog query failed: ${(msg as DatabaseError).message} (SQLSTATE ${(msg as DatabaseError).code ?? '?'})`);
      else if (msg.name === 'readyForQuery') {
        up.status = (msg as ReadyForQueryMessage).status as TransactionStatus;
        finish(failure);
      }
    };
    const onData = (chunk: Buffer): void => {
      try {
        up.reader.push(chunk, onMessage);
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const onClose = (): void => finish(new Error('the upstream server closed the connection during the catalog query'));
    const onError = (err: Error): void => finish(new Error(`upstream: ${err.message}`));
    const timer = setTimeout(() => finish(new Error(`the catalog query did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.write(serialize.query(sql));
  });
}

/** The contradictions between the policy's declarations and this database's catalog (empty: none). Rejects when the catalog cannot be read. */
export async function catalogProblems(up: UpstreamConnection, cfg: SensitiveColumnsConfig, timeoutMs: number): Promise<CatalogProblem[]> {
  const rows = await upstreamRows(up, catalogQuery(cfg), timeoutMs);
  return compareCatalog(cfg, parseCatalogRows(rows));
}
