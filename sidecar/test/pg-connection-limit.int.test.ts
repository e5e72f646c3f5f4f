// Round 12b review (hardening): GUARITA_PG_MAX_CONNECTIONS through the REAL sidecar in front of the
// harness PostgreSQL 15. Without it, an agent could open sessions until the server's
// max_connections (shared with the application) was spent, and each session it abandoned held a
// backend for up to ~32 s more. The sidecar runs with a bound of 3.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect } from 'node:net';
import { serialize } from 'pg-protocol';
import { psql as adminPsql } from '../../e2e/harness/state.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { RawClient } from './pg-raw-client.ts';
import { batch } from './pg-raw-scenario.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(120_000);

const MAX = 3;
let s: PgScenario;
let token: string;
const open: RawClient[] = [];

async function admin(sql: string): Promise<string> {
  const r = await adminPsql(['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { user: 'guarita_admin', database: s.database });
  if (r.code !== 0) throw new Error(`admin psql: ${r.stderr}`);
  return r.stdout.trim();
}

/** Backends of the scenario's database opened by the sidecar (its upstream user), not the admin's. */
async function sidecarBackends(): Promise<number> {
  return Number(await admin(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = 'orders_app' AND pid <> pg_backend_pid()`));
}

async function session(): Promise<RawClient> {
  const c = new RawClient(s.port);
  open.push(c);
  await c.login({ token, database: s.database, options: PURPOSE_OPTIONS });
  if (c.closed) throw new Error('the session was refused');
  return c;
}

/** A StartupMessage, and what comes back before any password is asked. */
async function refusal(): Promise<{ code?: string; message?: string; severity?: string } | undefined> {
  const c = new RawClient(s.port);
  open.push(c);
  c.send(serialize.startup({ user: 'agent', database: s.database, options: PURPOSE_OPTIONS }));
  await c.until(() => c.closed || c.messages.some((m) => m.name === 'authenticationCleartextPassword'), 10_000);
  c.close();
  return c.messages.find((m) => m.name === 'error') as { code?: string; message?: string; severity?: string } | undefined;
}

async function closeAll(): Promise<void> {
  for (const c of open.splice(0)) c.close();
  await eventually('every sidecar backend gone', async () => ((await sidecarBackends()) === 0 ? true : undefined), 20_000, 200);
}

beforeAll(async () => {
  s = await startPgScenario({ logLevel: 'warn', env: { GUARITA_PG_MAX_CONNECTIONS: String(MAX) } });
  token = await s.token('support-agent');
}, 180_000);

afterAll(async () => {
  for (const c of open) c.close();
  await s?.stop();
}, 60_000);

describe('GUARITA_PG_MAX_CONNECTIONS on the real sidecar', () => {
  it('a session beyond the bound is refused with 53300 naming the setting, and the server never sees more backends than the bound', async () => {
    for (let i = 0; i < MAX; i++) await session();
    for (let i = 0; i < 5; i++) {
      expect(await refusal()).toMatchObject({ severity: 'FATAL', code: '53300', message: expect.stringMatching(/^sorry, too many clients already: .*GUARITA_PG_MAX_CONNECTIONS/) });
    }
    expect(await sidecarBackends()).toBe(MAX);
    await closeAll();
  });

  it('psql shows the words (libpq reads the refusal in place of the password request)', async () => {
    for (let i = 0; i < MAX; i++) await session();
    const r = await s.psql(token, ['-X', '-c', 'SELECT 1'], { timeoutMs: 20_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/too many clients already.*GUARITA_PG_MAX_CONNECTIONS/);
    await closeAll();
  });

  it('a session whose agent left while its statement runs keeps its slot until the server answers, then frees it', async () => {
    const mark = `r12b-slot-${Date.now()}`;
    const sql = `UPDATE orders SET status = '${mark}' WHERE id = 6`;
    const before = await admin('SELECT status FROM orders WHERE id = 6');
    const sessions = [];
    for (let i = 0; i < MAX; i++) sessions.push(await session());
    const holder = admin('BEGIN; SELECT id FROM orders WHERE id = 6 FOR UPDATE; SELECT pg_sleep(4); COMMIT;');
    await new Promise((r) => setTimeout(r, 500));
    const leaver = sessions[0];
    if (leaver === undefined) throw new Error('no session');
    leaver.send(serialize.query(sql));
    await eventually('the UPDATE waits on the server', async () => ((await admin(`SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%${mark}%' AND pid <> pg_backend_pid()`)) === '1' ? true : undefined), 10_000, 100);
    leaver.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 500));
    // The agent's socket is gone, its backend is not: the slot is still taken.
    expect((await refusal())?.code).toBe('53300');
    expect(await sidecarBackends()).toBe(MAX);
    await holder;
    // The UPDATE ran (the server's answer is read and recorded), the session closes, a newcomer gets in.
    const late = await eventually('a newcomer admitted', async () => {
      const c = new RawClient(s.port);
      open.push(c);
      await c.login({ token, database: s.database, options: PURPOSE_OPTIONS });
      return c.closed ? undefined : c;
    }, 15_000, 300);
    await batch(late, [serialize.query('SELECT 1')], 1);
    expect(await admin('SELECT status FROM orders WHERE id = 6')).toBe(mark);
    await admin(`UPDATE orders SET status = ${before === '' ? 'NULL' : `'${before.replace(/'/g, "''")}'`} WHERE id = 6`);
    await closeAll();
  });

  it('a CancelRequest still reaches a running statement when the listener is full', async () => {
    const sessions = [];
    for (let i = 0; i < MAX; i++) sessions.push(await session());
    const c = sessions[0];
    if (c?.key === undefined) throw new Error('no BackendKeyData');
    c.send(serialize.query('SELECT pg_sleep(30)'));
    await eventually('pg_sleep runs', async () => ((await admin(`SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'`)) === '1' ? true : undefined), 10_000, 100);
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(80877102, 4);
    packet.writeInt32BE(c.key.pid, 8);
    packet.writeInt32BE(c.key.secret, 12);
    const started = Date.now();
    const cancel = connect(s.port, '127.0.0.1');
    cancel.on('error', () => undefined);
    cancel.end(packet);
    await c.readyCount(1, 10_000);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(c.trace()).toContain('E:57014');
    await closeAll();
  });
});
