// Round 16: statements whose effect outlives the statement, reaching the application's sessions.
// The REAL sidecar process in front of the harness PostgreSQL 15 (examples/lgpd-orders seed, the
// example policy, whose deny-server-control rule denies serverControl and explicitLock). Each test
// failed on the code before the round for the reason its name gives: a row lock or a prepared
// transaction was an ordinary select or transaction statement to the classifier. The class and the
// fix: docs/security-model.md, "Round 16".
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import pg from 'pg';
import { runCommand } from '../../e2e/harness/exec.ts';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(120_000);

let s: PgScenario;
let token: string;
const open: pg.Client[] = [];

beforeAll(async () => {
  s = await startPgScenario({ logLevel: 'warn' });
  token = await s.token('support-agent');
}, 180_000);

afterAll(async () => {
  for (const c of open) await c.end().catch(() => undefined);
  await s?.stop();
}, 60_000);

async function agent(): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS });
  c.on('error', () => undefined);
  await c.connect();
  open.push(c);
  return c;
}

/** The application: the sidecar's own database role, straight to PostgreSQL, waiting at most 2 s for a lock. */
async function application(sql: string): Promise<{ code: number; stderr: string }> {
  return runCommand(join(requirePostgres().binDir, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', "SET lock_timeout = '2s'", '-c', sql], { env: s.directEnv(), timeoutMs: 30_000 });
}

const denial = async (c: pg.Client, sql: string): Promise<string> => (await c.query(sql).then(() => 'allowed', (err: Error) => err.message));

describe('row locks are explicitLock', () => {
  it.each([
    'SELECT id FROM orders WHERE id = 7 FOR UPDATE',
    'SELECT id FROM orders WHERE id = 7 FOR NO KEY UPDATE',
    'SELECT count(*) FROM (SELECT id FROM orders WHERE id = 7 FOR UPDATE) o',
    'WITH l AS (SELECT id FROM orders WHERE id = 7 FOR SHARE) SELECT count(*) FROM l',
  ])("%s inside the agent's open transaction is denied, and the application's UPDATE of the row does not wait for the agent", async (sql) => {
    const c = await agent();
    await c.query('BEGIN');
    // Before: allowed (kind select, trait readsData only), and the row stayed locked while the agent kept its transaction open.
    expect(await denial(c, sql)).toMatch(/denied \(rule deny-server-control\)/);
    const app = await application("UPDATE orders SET status = status WHERE id = 7");
    expect(app).toMatchObject({ code: 0, stderr: '' });
    await c.query('ROLLBACK');
  });

  it('a cursor FOR UPDATE (whose FETCH would lock the rows) is denied', async () => {
    const c = await agent();
    await c.query('BEGIN');
    expect(await denial(c, 'DECLARE r16 CURSOR FOR SELECT id FROM orders FOR UPDATE')).toMatch(/denied \(rule deny-server-control\)/);
    await c.query('ROLLBACK');
  });

  it('held: plain EXPLAIN of a locking SELECT runs nothing and is allowed; the same SELECT without FOR UPDATE is allowed', async () => {
    const c = await agent();
    expect(await denial(c, 'EXPLAIN SELECT id FROM orders WHERE id = 7 FOR UPDATE')).toBe('allowed');
    expect(await denial(c, 'SELECT id FROM orders WHERE id = 7')).toBe('allowed');
  });
});

describe('two-phase commit is serverControl', () => {
  it.each([
    "PREPARE TRANSACTION 'r16-agent'",
    "COMMIT PREPARED 'app-tx-42'",
    "ROLLBACK PREPARED 'app-tx-42'",
  ])('%s is denied by the policy, never sent to the server', async (sql) => {
    const c = await agent();
    // Before: a transaction statement with no trait, allowed and sent (the harness server, with
    // max_prepared_transactions = 0, then refused it itself; a server with them enabled would not).
    expect(await denial(c, sql)).toMatch(/denied \(rule deny-server-control\)/);
  });
});
