// PgBouncer, the anchor the PostgreSQL figures are compared with (published: 40 % of direct
// `pgbench -S`), run on the same machine in the same run: session pooling, so each pgbench client
// keeps its server connection, as through the sidecar. Debian's package; `scripts/bench.sh`
// installs it. Runs as the `postgres` user when we are root (PgBouncer refuses root).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../e2e/harness/ports.ts';
import { asUser, runAsUser } from '../e2e/harness/postgres.ts';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

/** `pid`: the process PgBouncer runs under (its CPU is that process tree's). */
export interface PgBouncer { port: number; pid: number; stop(): Promise<void> }

export interface PgBouncerTarget { host: string; port: number; database: string; user: string; password: string }

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** Starts PgBouncer in front of `target`; clients connect to `target.database` as `target.user` with any password. */
export async function startPgBouncer(target: PgBouncerTarget): Promise<PgBouncer> {
  if (!existsSync(PGBOUNCER)) throw new Error(`${PGBOUNCER} is not installed (run \`bash scripts/bench.sh\`, which installs Debian's pgbouncer)`);
  const dir = mkdtempSync(join(tmpdir(), 'guarita-pgbouncer-'));
  chmodSync(dir, 0o755);
  const [port = 0] = await freePorts(1);
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(ini, [
    '[databases]',
    `${target.database} = host=${target.host} port=${target.port} dbname=${target.database} user=${target.user} password=${target.password}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1', `listen_port = ${port}`, 'unix_socket_dir =',
    'auth_type = any', 'pool_mode = session', 'max_client_conn = 100', 'default_pool_size = 20',
    'log_connections = 0', 'log_disconnections = 0',
  ].join('\n'));
  chmodSync(ini, 0o644);
  const [command, args] = asUser(runAsUser(), PGBOUNCER, [ini]);
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start: ${stderr.trim().split('\n').slice(-2).join(' ')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid ?? 0,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
