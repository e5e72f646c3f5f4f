// A throwaway PostgreSQL server: initdb into the run dir, then postgres on a free loopback
// port with its socket in the run dir, so it never touches a system cluster. Passwords are
// stored and checked as SCRAM-SHA-256 only (password_encryption and pg_hba), since that is what
// the Guarita sidecar must speak. PostgreSQL refuses to run as root, so as root both initdb and
// the server run as Debian's `postgres` user (setpriv execs in place: the watchdog still
// signals postgres itself) and own the data directory.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runChecked, runCommand } from './exec.ts';
import { progress } from './log.ts';
import { postgresBinDir } from './paths.ts';
import { freePort } from './ports.ts';
import { ORDERS_DATABASE, runPsql, type PostgresCoordinates } from './psql.ts';
import { supervise, waitUntilReady, type Supervised } from './supervisor.ts';

export interface PostgresHandle {
  readonly coordinates: PostgresCoordinates;
  readonly process: Supervised;
}

export interface RunAs {
  uid: number;
  gid: number;
}

const HBA = [
  '# Written by the Guarita harness: passwords only, SCRAM only, loopback only.',
  'local all all scram-sha-256',
  'host  all all 127.0.0.1/32 scram-sha-256',
  '',
].join('\n');

/** When root: the `postgres` account from /etc/passwd. Otherwise run as ourselves. */
export function runAsUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error('running as root, but there is no `postgres` user to run PostgreSQL as: run `npm run bootstrap`');
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** Prefixes a command so it runs as `runAs` (setpriv execs: same pid, same process group). */
export function asUser(runAs: RunAs | undefined, command: string, args: string[]): [string, string[]] {
  if (runAs === undefined) return [command, args];
  return ['setpriv', [`--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, '--clear-groups', '--', command, ...args]];
}

function makeOwnedDir(path: string, runAs: RunAs | undefined): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if (runAs !== undefined) chownSync(path, runAs.uid, runAs.gid);
}

async function initdb(binDir: string, pgDir: string, dataDir: string, adminPassword: string, runAs: RunAs | undefined): Promise<void> {
  const pwfile = join(pgDir, 'pwfile');
  writeFileSync(pwfile, `${adminPassword}\n`, { mode: 0o600 });
  if (runAs !== undefined) chownSync(pwfile, runAs.uid, runAs.gid);
  const [command, args] = asUser(runAs, join(binDir, 'initdb'), [
    `--pgdata=${dataDir}`, '--username=guarita_admin', `--pwfile=${pwfile}`,
    '--auth-local=scram-sha-256', '--auth-host=scram-sha-256',
    '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions',
  ]);
  try {
    await runChecked(command, args, { cwd: pgDir, timeoutMs: 120_000 });
  } finally {
    rmSync(pwfile, { force: true });
  }
  writeFileSync(join(dataDir, 'pg_hba.conf'), HBA);
}

function serverArgs(dataDir: string, port: number, socketDir: string): string[] {
  const settings = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: socketDir,
    password_encryption: 'scram-sha-256',
    // Throwaway data: durability only costs time.
    fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off',
    shared_buffers: '32MB', max_connections: '100',
  };
  return ['-D', dataDir, ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])];
}

async function accepting(binDir: string, port: number): Promise<boolean> {
  const res = await runCommand(join(binDir, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-t', '2'], { timeoutMs: 5000 });
  return res.code === 0;
}

async function createRolesAndDatabase(pg: PostgresCoordinates): Promise<void> {
  // Passwords are hex, so they need no quoting inside the SQL literal.
  const sql = [
    `CREATE ROLE orders_app LOGIN PASSWORD '${pg.passwords.orders_app}';`,
    `CREATE DATABASE ${ORDERS_DATABASE} OWNER orders_app;`,
  ].join('\n');
  const res = await runPsql(pg, ['-q', '-f', '-'], { user: 'guarita_admin', database: 'postgres', input: sql });
  if (res.code !== 0) throw new Error(`postgres: creating roles failed: ${res.stderr.trim()}`);
}

export async function startPostgres(runDir: string): Promise<PostgresHandle> {
  const binDir = postgresBinDir();
  const runAs = runAsUser();
  // The postgres user must be able to traverse the run dir, without listing it.
  if (runAs !== undefined) chmodSync(runDir, 0o711);
  const pgDir = join(runDir, 'postgres');
  const dataDir = join(pgDir, 'data');
  const socketDir = join(pgDir, 'sock');
  makeOwnedDir(pgDir, runAs);
  makeOwnedDir(socketDir, runAs);
  const passwords = { guarita_admin: randomBytes(18).toString('hex'), orders_app: randomBytes(18).toString('hex') };

  progress('postgres', `initdb (${binDir})`);
  await initdb(binDir, pgDir, dataDir, passwords.guarita_admin, runAs);
  const port = await freePort();
  const [command, args] = asUser(runAs, join(binDir, 'postgres'), serverArgs(dataDir, port, socketDir));
  const proc = supervise({ name: 'postgres', command, args, cwd: pgDir, logFile: join(runDir, 'logs', 'postgres.log'), stopSignal: 'SIGINT' });
  progress('postgres', `starting on 127.0.0.1:${port}`);
  const coordinates: PostgresCoordinates = { host: '127.0.0.1', port, socketDir, dataDir, binDir, database: ORDERS_DATABASE, passwords };
  try {
    await waitUntilReady(proc, 'accepting connections', () => accepting(binDir, port), { timeoutMs: 60_000 });
    await createRolesAndDatabase(coordinates);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  progress('postgres', 'ready (roles guarita_admin, orders_app; database orders)');
  return { coordinates, process: proc };
}
