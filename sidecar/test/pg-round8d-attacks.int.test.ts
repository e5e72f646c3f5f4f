// Round 8d review of the round 8c PostgreSQL fixes (528db14). The listener keys statements and
// portals as a UTF8 server does (their first 63 UTF-8 bytes); a LATIN1 (or other non-UTF8)
// database keys them by their bytes in its own encoding, so `é` was one byte to the server and two
// to the listener: two portals the server kept apart were one to the listener, and an SQL name no
// longer found the protocol portal it reached. The sidecar now refuses sessions to databases whose
// server_encoding is not UTF8 (the first block: the control shows the server's keys, the test the
// refusal). The second block is encoding-independent: two failed Parses (or Binds) of one name,
// pipelined, left the listener filing the first rejected one while the server kept its old
// statement or portal. The real sidecar process in front of the harness PostgreSQL, agents
// speaking raw protocol bytes; each test but the `control:` one failed on 528db14.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { serialize } from 'pg-protocol';
import pg from 'pg';
import { psql, requirePostgres } from '../../e2e/harness/state.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { RawClient } from './pg-raw-client.ts';
import { batch, errors, rows, startRawPgScenario, UNPUNCTUATED_CPF, type RawPgScenario } from './pg-raw-scenario.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(120_000);

const REPO = join(import.meta.dirname, '../..');
const LATIN1_DB = `orders_r8d_${randomBytes(3).toString('hex')}`;

let t: PgScenario;
let token: string;
const clients: RawClient[] = [];

async function admin(args: string[], database: string): Promise<void> {
  const r = await psql(['-q', ...args], { user: 'guarita_admin', database });
  if (r.code !== 0) throw new Error(`psql ${args.join(' ')}: ${r.stderr}`);
}

async function direct(): Promise<pg.Client> {
  const pgs = requirePostgres();
  const c = new pg.Client({ host: pgs.host, port: pgs.port, user: 'orders_app', password: pgs.passwords.orders_app, database: LATIN1_DB });
  await c.connect();
  return c;
}

beforeAll(async () => {
  await admin(['-c', `CREATE DATABASE ${LATIN1_DB} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 OWNER orders_app`], 'postgres');
  await admin(['-f', join(REPO, 'examples/lgpd-orders/seed.sql')], LATIN1_DB);
  const c = await direct();
  try {
    await c.query(`INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) VALUES (90, 'Rafael Costa', '${UNPUNCTUATED_CPF}', 'r@x', '0', '1993-09-17') ON CONFLICT (id) DO NOTHING`);
  } finally {
    await c.end();
  }
  // The example policy, its target the LATIN1 database (applyPolicy re-applies this change too).
  t = await startPgScenario({ logLevel: 'warn', spec: (spec) => { (spec.target as Record<string, unknown>).database = LATIN1_DB; } });
  token = await t.token('support-agent');
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await t?.stop();
}, 60_000);


const SECRET = 'SELECT id, nome, cpf FROM customers WHERE id = 1';
// 40 characters: 40 bytes in LATIN1 (whole to the server), 80 in UTF-8 (the listener keys its first 63).
const ACCENTED = 'é'.repeat(40);
const NAME_A = `${ACCENTED}_a`;
const NAME_B = `${ACCENTED}_b`;
const HARMLESS = "SELECT 'x'::text AS note";

describe('a LATIN1 database: the server keys names by their bytes in the server encoding, the listener by their UTF-8 bytes', () => {
  it('control: the server keeps two 42-character names that share their first 40 characters apart, and keys a 40-character name whole (no sidecar)', async () => {
    const c = await direct();
    try {
      expect((await c.query('SHOW server_encoding')).rows).toEqual([{ server_encoding: 'LATIN1' }]);
      await c.query('BEGIN');
      await c.query(`DECLARE "${NAME_A}" CURSOR FOR SELECT 1 AS n`);
      await c.query(`DECLARE "${NAME_B}" CURSOR FOR SELECT 2 AS n`);
      const cursors = await c.query('SELECT name FROM pg_cursors ORDER BY name');
      expect(cursors.rows).toEqual([{ name: NAME_A }, { name: NAME_B }]);
      expect((await c.query(`FETCH ALL FROM "${NAME_B}"`)).rows).toEqual([{ n: 2 }]);
      await c.query('ROLLBACK');
    } finally {
      await c.end();
    }
  });

  // The listener keys names as a UTF8 server does. On LATIN1 it files a 40-character accented
  // name under its first 63 UTF-8 bytes while the server keys all 40 bytes: an SQL FETCH of a bound
  // portal was decided as a FETCH of no table after the policy denied its statement (Larissa's row),
  // and two portals the server kept apart were one to the listener (customer 90's cpf, unmasked,
  // in the answer and the record). The sidecar now serves UTF8 databases only.
  it('a session to a LATIN1 database is refused at startup, naming server_encoding and the fix', async () => {
    // login() forgets the startup's messages: the startup, by hand.
    const c = new RawClient(t.port);
    clients.push(c);
    c.send(serialize.startup({ user: 'agent', database: LATIN1_DB, options: PURPOSE_OPTIONS }));
    await c.until(() => c.closed || c.messages.some((m) => m.name === 'authenticationCleartextPassword'));
    c.send(serialize.password(token));
    await c.until(() => c.closed || c.messages.some((m) => m.name === 'readyForQuery' || m.name === 'error'), 15_000);
    const refusal = errors(c).map((e) => e.message ?? '').join(' ');
    expect(c.messages.some((m) => m.name === 'readyForQuery')).toBe(false);
    expect(refusal).toMatch(/server_encoding is LATIN1; the Guarita sidecar serves UTF8 databases only/);
    expect(refusal).toContain("ENCODING 'UTF8'");
  });
});

// A Parse or Bind the server rejects puts back, for the listener, what was filed under the name
// before it was sent (`prev`): the statement or portal the server kept. But `prev` is whatever the
// listener filed at the time, and a second Parse or Bind of the name pipelined behind a first
// (unanswered) one takes the FIRST as its `prev`. When both fail, the first one's failure finds
// the name filed by the second and restores nothing; the second one's failure restores the first:
// a statement or portal the server rejected. The listener then files the name as the rejected
// text while the server keeps its old statement or portal. (Any UTF-8 database: the example
// database, example policy.)
describe('two failed Parses (Binds) of one name, pipelined: the listener files the first rejected one', () => {
  let r: RawPgScenario;
  beforeAll(async () => {
    r = await startRawPgScenario();
  }, 180_000);
  afterAll(async () => {
    await r?.stop();
  }, 60_000);
  const denyCustomers = (deny: boolean): Promise<void> => r.customersDenied(deny);

  // Parse S <secret>, run. Then, in one batch, Parse S HARMLESS twice: the server refuses the first
  // (42P05: S exists) and skips the second; the listener ends up filing S as HARMLESS. Every later
  // Bind of S is decided and recorded as HARMLESS, and runs the customers query: no transaction,
  // no SQL, the policy as shipped (and, with customers denied, a denied statement runs).
  it('a Bind of the statement after two rejected Parses is decided as the statement the server holds', async () => {
    await denyCustomers(false);
    const c = await r.raw();
    await batch(c, [serialize.parse({ name: 'S', text: SECRET }), serialize.bind({ statement: 'S' }), serialize.execute({}), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    c.messages.length = 0;
    await batch(c, [serialize.parse({ name: 'S', text: HARMLESS }), serialize.parse({ name: 'S', text: HARMLESS }), serialize.sync()], 1);
    expect(errors(c).map((e) => e.code)).toEqual(['42P05']);
    await denyCustomers(true);
    c.messages.length = 0;
    await batch(c, [serialize.bind({ statement: 'S' }), serialize.execute({}), serialize.sync()], 1);
    const fetched = rows(c);
    const codes = errors(c).map((e) => e.code);
    // S as the server holds it reads customers, which the policy now denies.
    expect(JSON.stringify(fetched)).not.toContain('Larissa');
    expect(codes).toEqual(['42501']);
  });

  // The same with portals (inside a transaction: the first Bind's 42P03 aborts it, and a
  // savepoint taken before keeps the portal, as in round 8c's 42P03 test).
  it('an Execute of the portal after two rejected Binds is decided as the portal the server holds', async () => {
    await denyCustomers(false);
    const c = await r.raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    await batch(c, [serialize.parse({ name: 'x', text: SECRET }), serialize.bind({ statement: 'x' }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.bind({ portal: 'p', statement: 'x' }), serialize.parse({ name: 'h', text: HARMLESS }), serialize.sync()], 1);
    await batch(c, [serialize.query('SAVEPOINT s')], 1);
    expect(errors(c)).toEqual([]);
    await batch(c, [serialize.bind({ portal: 'p', statement: 'h' }), serialize.bind({ portal: 'p', statement: 'h' }), serialize.sync()], 1);
    expect(errors(c).map((e) => e.code)).toEqual(['42P03']);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT s')], 1);
    await denyCustomers(true);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'p' }), serialize.sync()], 1);
    const fetched = rows(c);
    const codes = errors(c).map((e) => e.code);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    expect(JSON.stringify(fetched)).not.toContain('Larissa');
    expect(codes).toEqual(['42501']);
  });

  it('no record calls a run of the customers query `SELECT \'x\'::text AS note`', async () => {
    const records = await eventually('the records of the runs', () => {
      const all = r.spoolRecords();
      return Promise.resolve(all.filter((x) => x.command === 'ROLLBACK').length > 0 ? all : undefined);
    }, 10_000, 200);
    const misnamed = records.filter((x) => x.command === HARMLESS && (x.result?.sample ?? '').includes('Larissa'));
    expect(misnamed).toEqual([]);
  });
});
