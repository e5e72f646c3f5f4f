// Round 11b adversarial re-review of the round 11 PostgreSQL fixes (c943a12). The REAL sidecar
// process in front of the harness PostgreSQL 15 (examples/lgpd-orders seed), with the example
// policy plus one read-only rule (any write, trait writesData, is denied). The failing cases FAIL
// on c943a12 for the reason their names give; the unit cases are
// core/policy/sql-round11b-attacks.test.ts. The "held" block is what the re-review tried against
// the fixes through the real server and found closed (it passes).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import pg from 'pg';
import { runCommand } from '../../e2e/harness/exec.ts';
import { psql as adminPsql, requirePostgres } from '../../e2e/harness/state.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(120_000);

let s: PgScenario;
let support: string;

beforeAll(async () => {
  s = await startPgScenario({
    approvalWait: '1s',
    logLevel: 'warn',
    spec: (spec) => {
      // After deny-ddl-and-dcl, so statements that create tables still meet that rule first.
      (spec.rules as unknown[]).splice(1, 0, { name: 'read-only', description: 'round 11b: this agent only reads', match: { sql: { traits: ['writesData'] } }, action: 'deny' });
    },
  });
  support = await s.token('support-agent');
}, 180_000);

afterAll(async () => {
  await s?.stop();
}, 60_000);

/** As the database's administrator, straight to PostgreSQL (not through the sidecar). */
async function admin(sql: string): Promise<string> {
  const r = await adminPsql(['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { user: 'guarita_admin', database: s.database });
  if (r.code !== 0) throw new Error(`admin psql: ${r.stderr}`);
  return r.stdout.trim();
}

/** As the sidecar's own database role, straight to PostgreSQL: the application, or what a statement does without Guarita. */
async function direct(sql: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand(join(requirePostgres().binDir, 'psql'), ['-X', '-At', '-c', sql], { env: s.directEnv(), timeoutMs: 30_000 });
}

const lastValue = async (): Promise<number> => Number(await admin('SELECT last_value FROM public.orders_id_seq'));

// nextval()/setval() write the sequence orders.id is drawn from (a relation), outside the
// transaction: ROLLBACK does not undo them. The classifier gives the calls no trait and names no
// relation (kind select, no writesData), so a rule that denies writes lets them through.
describe('sequence functions: a write the policy does not see', () => {
  it('control: an INSERT is denied by the read-only rule', async () => {
    const r = await s.psql(support, ['-At', '-c', "INSERT INTO orders (customer_id, status, total_cents) VALUES (1, 'new', 1)"], { onErrorStop: false });
    expect(r.stderr).toMatch(/denied \(rule read-only\)/);
  });

  it("SELECT nextval('orders_id_seq') FROM generate_series(1, 1000) is denied by the read-only rule, and the application's sequence does not move", async () => {
    const before = await lastValue();
    // Inside a transaction that is rolled back: the sequence's writes are not transactional.
    const r = await s.psql(support, ['-At', '-c', 'BEGIN', '-c', "SELECT max(nextval('orders_id_seq')) FROM generate_series(1, 1000)", '-c', 'ROLLBACK'], { onErrorStop: false });
    const after = await lastValue();
    // On c943a12: allowed (recorded as a `select` of no table), and last_value is 1000 further on after the ROLLBACK.
    expect({ stderr: r.stderr, moved: after - before }).toEqual({ stderr: expect.stringMatching(/denied \(rule read-only\)/), moved: 0 });
  });

  it("with UPDATE on the sequence (its owner's, or GRANT USAGE, UPDATE), SELECT setval('orders_id_seq', 2147483647) is denied and the application's next INSERT still works", async () => {
    await admin('GRANT UPDATE ON SEQUENCE public.orders_id_seq TO orders_app');
    const before = await lastValue();
    try {
      const r = await s.psql(support, ['-At', '-c', "SELECT setval('orders_id_seq', 2147483647)"], { onErrorStop: false });
      // The application, straight to the database (rolled back: only whether it can insert matters).
      const app = await direct("BEGIN; INSERT INTO orders (customer_id, status, total_cents) VALUES (1, 'new', 1); ROLLBACK");
      // On c943a12: allowed, and every INSERT of the application fails until an administrator resets the sequence.
      expect({ stderr: r.stderr, application: app.stderr }).toEqual({ stderr: expect.stringMatching(/denied \(rule read-only\)/), application: '' });
    } finally {
      await admin(`SELECT setval('public.orders_id_seq', ${before}); REVOKE UPDATE ON SEQUENCE public.orders_id_seq FROM orders_app`);
    }
  });
});

// What the re-review tried against the round 11 fixes through the real server (passes on c943a12).
describe('held: the round 11 fixes through the real server', () => {
  it('an extended-protocol Parse of SELECT ... INTO on a set operation\'s first branch is denied by deny-ddl-and-dcl and creates nothing', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: support, database: s.database, options: PURPOSE_OPTIONS });
    c.on('error', () => undefined);
    await c.connect();
    try {
      const err = await c.query({ name: 'agent_p11b', text: 'SELECT 1 AS x INTO TEMP agent_tmp11b UNION SELECT 2' }).then(() => undefined, (e: Error) => e);
      expect(err?.message).toMatch(/deny-ddl-and-dcl/);
      const exists = await c.query("SELECT to_regclass('pg_temp.agent_tmp11b') IS NOT NULL AS e");
      expect(exists.rows[0]).toEqual({ e: false });
    } finally {
      await c.end();
    }
  });

  it.each([
    ['EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1 AS x INTO TEMP agent_tmp11c UNION SELECT 2'],
    ['((SELECT 1 AS x INTO TEMP agent_tmp11d) UNION SELECT 2) INTERSECT SELECT 1'],
    ['(WITH a AS (SELECT 1) SELECT 1 AS x INTO TEMP agent_tmp11e UNION SELECT 2) UNION SELECT 3'],
  ])('%s (which creates the table on the server) is denied by deny-ddl-and-dcl', async (sql) => {
    const server = await direct(`BEGIN; ${sql}; ROLLBACK`);
    expect(server.stderr).toBe(''); // the server runs it (and creates the table)
    const r = await s.psql(support, ['-At', '-c', sql], { onErrorStop: false });
    expect(r.stderr).toMatch(/denied \(rule deny-ddl-and-dcl\)/);
  });

  it('DECLARE ... CURSOR FOR SELECT ... INTO (kind select for the classifier, allowed by the example policy) is refused by the server', async () => {
    // Straight on the server: this scenario's read-only rule denies it through the sidecar (writesData) before the server sees it.
    const r = await direct('BEGIN; DECLARE c CURSOR FOR SELECT 1 AS x INTO TEMP agent_tmp11f; ROLLBACK');
    expect(r.stderr).toMatch(/SELECT \.\.\. INTO is not allowed here/);
  });

  it('the session keeps pg_temp last in search_path', async () => {
    const r = await s.psql(support, ['-At', '-c', 'SHOW search_path'], { onErrorStop: false });
    expect(r.stdout.trim()).toMatch(/pg_temp$/);
  });
});
