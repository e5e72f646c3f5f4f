// The listener with the real enforcer (sidecar/test/example-enforcer.ts: approvals are granted at
// once) against the fake upstream: what a held statement is approved as (round 9 review, findings
// 2 and 3). Statements whose parameter values or prepared body an approval cannot bind are refused
// (42501, no ApprovalRequest) in every protocol form; a session in a database the client chose
// binds the database into the approved text. The same against the real system:
// sidecar/test/approvals-round9-pg-attacks.int.test.ts.
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import pino from 'pino';
import type { AccessPolicy } from '../../../crds/types.ts';
import { exampleEnforcer, type ExampleEnforcer } from '../../test/example-enforcer.ts';
import { startFakeUpstream, type FakeUpstream } from '../../test/pg-fake-upstream.ts';
import { RawClient } from '../../test/pg-raw-client.ts';
import type { Enforcer } from '../enforcement.ts';
import { startPostgresListener, type PostgresListener } from './index.ts';

const logger = pino({ level: 'silent' });
const APPROVAL = { approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' };
/** Held reads of customers (without the catalog check the fake cannot answer), and held PREPARE/EXECUTE. */
const HELD_STATEMENTS = (spec: AccessPolicy['spec']): void => {
  delete spec.sensitiveColumns;
  const rules = spec.rules as unknown as Array<{ name: string; match?: { sql?: { traits?: string[] } } }>;
  const hidden = rules.find((r) => r.name === 'deny-hidden-execution')?.match?.sql;
  if (hidden?.traits !== undefined) hidden.traits = hidden.traits.filter((t) => t !== 'prepare');
  const at = rules.findIndex((r) => r.name === 'allow-the-rest');
  (spec.rules as unknown[]).splice(at, 0,
    { name: 'customers-need-dpo', match: { sql: { tables: ['public.customers'] } }, action: 'requireApproval', approval: APPROVAL },
    { name: 'prepared-need-dpo', match: { sql: { traits: ['prepare'] } }, action: 'requireApproval', approval: APPROVAL });
};

let h: ExampleEnforcer;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  h = await exampleEnforcer();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  h.records.length = 0;
});

async function setup(database?: string): Promise<{ fake: FakeUpstream; listener: PostgresListener }> {
  h.use(h.variant(HELD_STATEMENTS));
  const fake = await startFakeUpstream({ auth: 'trust', user: 'orders_app', password: '' });
  cleanups.push(() => fake.close());
  const enforcer: Enforcer = { openSession: async () => ({ ok: true, session: await h.open() }) };
  const listener = await startPostgresListener({
    host: '127.0.0.1', port: 0, enforcer, logger,
    target: { name: 'orders-db', host: '127.0.0.1', port: fake.port, username: 'orders_app', password: '', ...(database === undefined ? {} : { database }) },
  });
  cleanups.push(() => listener.close());
  return { fake, listener };
}

async function client(listener: PostgresListener, database = 'orders'): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: listener.address.port, user: 'agent', password: 't', database });
  c.on('error', () => undefined);
  cleanups.push(() => c.end().catch(() => undefined));
  await c.connect();
  return c;
}

async function raw(listener: PostgresListener): Promise<RawClient> {
  const c = new RawClient(listener.address.port);
  cleanups.push(() => { c.close(); return Promise.resolve(); });
  await c.login({ token: 't', database: 'orders' });
  return c;
}

function requested(): string[] {
  return h.records.filter((r) => r.type === 'approval.requested').map((r) => r.command ?? '');
}

/** The message of the first ErrorResponse a raw client got. */
function errorText(c: RawClient): string {
  return (c.messages.find((m) => m.name === 'error') as { message?: string } | undefined)?.message ?? '';
}

/** What the client was answered, as `code: message`. */
async function refusal(run: Promise<unknown>): Promise<string> {
  try {
    await run;
  } catch (err) {
    const e = err as { code?: string; message: string };
    return `${e.code ?? ''}: ${e.message}`;
  }
  return 'ran';
}

const UNAPPROVABLE = /^42501: denied \(rule customers-need-dpo\): rule customers-need-dpo requires approval, but the statement has parameters .*write the values into the statement text/;

describe('a held statement whose parameter values an approval cannot bind is refused, never held', () => {
  const text = 'SELECT id, cpf FROM customers WHERE id = ANY($1::int[])';

  it('node-postgres with values (Parse, Bind, Execute): 42501 naming the fix, no ApprovalRequest, nothing upstream', async () => {
    const { fake, listener } = await setup('orders');
    const c = await client(listener);
    expect(await refusal(c.query({ text, values: [[1]] }))).toMatch(UNAPPROVABLE);
    expect(requested()).toEqual([]);
    expect(fake.received.flat().some((m) => m.type === 'parse' && m.sql.includes('customers'))).toBe(false);
    // The session goes on; the statement with its values inlined is held as that text (whether the
    // fake approval then satisfies the enforcer's checks is the enforcer's tests' business).
    await c.query("SELECT id, cpf FROM customers WHERE id = ANY('{1}'::int[])").catch(() => undefined);
    expect(requested()).toEqual(["SELECT id, cpf FROM customers WHERE id = ANY('{1}'::int[])"]);
  });

  it('a named prepared statement: refused at Parse, so no later run with other values can use an approval', async () => {
    const { listener } = await setup('orders');
    const c = await client(listener);
    expect(await refusal(c.query({ name: 'by-ids', text, values: [[1]] }))).toMatch(UNAPPROVABLE);
    expect(await refusal(c.query({ name: 'by-ids', text, values: [[1, 2, 3]] }))).toMatch(UNAPPROVABLE);
    expect(requested()).toEqual([]);
  });

  it('a Parse declaring parameter types, whose text references none', async () => {
    const { listener } = await setup('orders');
    const c = await raw(listener);
    c.send(Buffer.concat([serialize.parse({ text: 'SELECT id FROM customers WHERE id = 1', types: [23] }), serialize.bind({ values: ['2'] }), serialize.execute(), serialize.sync()]));
    await c.readyCount(1);
    expect(c.trace()).toEqual(['E:42501', 'Z:I']);
    expect(errorText(c)).toMatch(/requires approval, but the statement has parameters/);
    expect(requested()).toEqual([]);
  });

  it('$n without declared types, values bound in binary format', async () => {
    const { listener } = await setup('orders');
    const c = await raw(listener);
    const one = Buffer.alloc(4);
    one.writeInt32BE(1);
    c.send(Buffer.concat([serialize.parse({ text: 'SELECT cpf FROM customers WHERE id = $1' }), serialize.bind({ values: [one], valueMapper: (v: unknown) => v as Buffer }), serialize.execute(), serialize.sync()]));
    await c.readyCount(1);
    expect(c.trace()).toEqual(['E:42501', 'Z:I']);
    expect(errorText(c)).toMatch(/requires approval, but the statement has parameters/);
    expect(requested()).toEqual([]);
  });

  it('a prepared statement allowed when parsed, run again with other values after the policy began to hold it', async () => {
    const { listener } = await setup('orders');
    h.use(h.variant((spec) => { delete spec.sensitiveColumns; }));
    const c = await client(listener);
    const orders = 'SELECT id, status FROM customers WHERE id = $1';
    expect((await c.query({ name: 'by-id', text: orders, values: [1] })).rows).toHaveLength(1);
    h.use(h.variant(HELD_STATEMENTS));
    expect(await refusal(c.query({ name: 'by-id', text: orders, values: [2] }))).toMatch(UNAPPROVABLE);
    expect(requested()).toEqual([]);
  });

  it('a simple query with $n (a PREPARE body: the values would come with EXECUTE)', async () => {
    const { listener } = await setup('orders');
    const c = await client(listener);
    expect(await refusal(c.query('PREPARE s(int) AS SELECT cpf FROM customers WHERE id = $1'))).toMatch(/^42501: .*requires approval, but the statement has parameters/);
    expect(requested()).toEqual([]);
  });
});

describe('SQL EXECUTE: the approved text would not contain the statement it runs', () => {
  it.each(['EXECUTE s(1)', 'EXPLAIN EXECUTE s(1)'])('%s held is refused (42501), no ApprovalRequest', async (sql) => {
    const { listener } = await setup('orders');
    const c = await client(listener);
    expect(await refusal(c.query(sql))).toMatch(/^42501: .*requires approval, but SQL EXECUTE runs a statement prepared earlier/);
    expect(requested()).toEqual([]);
  });

  it('PREPARE with its values in the text is held as that text', async () => {
    const { listener } = await setup('orders');
    const c = await client(listener);
    await c.query('PREPARE s AS SELECT cpf FROM customers WHERE id = 1').catch(() => undefined);
    expect(requested()).toEqual(['PREPARE s AS SELECT cpf FROM customers WHERE id = 1']);
  });
});

describe('the database a client chose is part of the approved text', () => {
  it('policy without spec.target.database: the approved and recorded text names the session\'s database first', async () => {
    const { listener } = await setup(undefined);
    const sql = 'COPY (SELECT id, status FROM orders WHERE id <= 5) TO STDOUT';
    for (const db of ['orders_b', 'Orders_B', '"orders_b"']) await (await client(listener, db)).query(sql).catch(() => undefined);
    expect(requested()).toEqual([
      `-- database: "orders_b"\n${sql}`,
      `-- database: "Orders_B"\n${sql}`,
      `-- database: "\\"orders_b\\""\n${sql}`,
    ]);
    // Allowed statements are recorded as the same text: records say where a statement ran.
    await (await client(listener, 'orders_b')).query('SELECT 1');
    expect(h.records.filter((r) => r.type === 'command' && r.decision === 'allow').at(-1)?.command).toBe('-- database: "orders_b"\nSELECT 1');
  });

  it('policy with spec.target.database: every session runs there, the text is the SQL', async () => {
    const { listener } = await setup('orders');
    const sql = 'COPY (SELECT id, status FROM orders WHERE id <= 5) TO STDOUT';
    await (await client(listener)).query(sql).catch(() => undefined);
    expect(requested()).toEqual([sql]);
  });
});
