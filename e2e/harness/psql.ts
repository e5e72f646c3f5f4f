// How clients reach the harness PostgreSQL as one of its roles: connection parameters for
// drivers, a URL, and the real psql binary. Always over TCP on 127.0.0.1 with a password, so
// every connection goes through SCRAM-SHA-256 exactly as an application's would.
import { join } from 'node:path';
import { runCommand, type CommandResult } from './exec.ts';

export const POSTGRES_ROLES = ['guarita_admin', 'orders_app'] as const;
export type PostgresRole = (typeof POSTGRES_ROLES)[number];
export const ORDERS_DATABASE = 'orders';

export interface PostgresCoordinates {
  host: '127.0.0.1';
  port: number;
  /** Directory of the unix socket (same authentication rules as TCP). */
  socketDir: string;
  dataDir: string;
  /** initdb/postgres/psql of the version the server runs. */
  binDir: string;
  /** The application database, owned by orders_app. */
  database: string;
  passwords: Record<PostgresRole, string>;
}

export interface ConnectionParams {
  host: string;
  port: number;
  user: PostgresRole;
  password: string;
  database: string;
}

export function connectionParams(pg: PostgresCoordinates, user: PostgresRole, database: string = pg.database): ConnectionParams {
  return { host: pg.host, port: pg.port, user, password: pg.passwords[user], database };
}

export function connectionUrl(pg: PostgresCoordinates, user: PostgresRole, database: string = pg.database): string {
  const auth = `${encodeURIComponent(user)}:${encodeURIComponent(pg.passwords[user])}`;
  return `postgresql://${auth}@${pg.host}:${pg.port}/${encodeURIComponent(database)}?sslmode=disable`;
}

export interface PsqlOptions {
  user: PostgresRole;
  /** Defaults to the orders database. */
  database?: string;
  input?: string;
  timeoutMs?: number;
}

/** libpq reads PG* variables; a developer's own PGHOST or PGSERVICE must not redirect the tests. */
function cleanEnv(password: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG')));
  return { ...env, PGPASSWORD: password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
}

/** Runs the real psql (-X: no ~/.psqlrc; ON_ERROR_STOP so scripts fail on the first error). */
export function runPsql(pg: PostgresCoordinates, args: readonly string[], opts: PsqlOptions): Promise<CommandResult> {
  const database = opts.database ?? pg.database;
  const base = ['-X', '-v', 'ON_ERROR_STOP=1', '-h', pg.host, '-p', String(pg.port), '-U', opts.user, '-d', database];
  return runCommand(join(pg.binDir, 'psql'), [...base, ...args], {
    env: cleanEnv(pg.passwords[opts.user]),
    ...(opts.input === undefined ? {} : { input: opts.input }),
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}
