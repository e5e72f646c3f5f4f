// Round 8 adversarial review of the PostgreSQL target: what the listener files about statements,
// portals and cursors against what the server holds, through the real sidecar process in front of
// the harness PostgreSQL (raw protocol bytes where a driver would not send the sequence). Each
// test failed on the code before the fix (docs/security-model.md, "Round 8 review: PostgreSQL").
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { serialize } from 'pg-protocol';
import { eventually } from '../../e2e/support/wait.ts';
import type { RawClient } from './pg-raw-client.ts';
import { batch, errors, rows, startRawPgScenario, UNPUNCTUATED_CPF, type RawPgScenario, type SpoolRecord } from './pg-raw-scenario.ts';

jest.setTimeout(120_000);

const OPTIONS = { allowPrepare: true };

let t: RawPgScenario;

beforeAll(async () => {
  t = await startRawPgScenario(OPTIONS);
}, 180_000);

afterAll(async () => {
  await t?.stop();
}, 60_000);

const raw = (): Promise<RawClient> => t.raw();
const customersDenied = (deny: boolean): Promise<void> => t.customersDenied(deny);
const spoolRecords = (): SpoolRecord[] => t.spoolRecords();

describe('cursors fetched through the extended protocol: masking by stale column names', () => {
  // A prepared `FETCH ... FROM c` is described once, at Parse, with the columns cursor c had then.
  // The cursor is an SQL object: CLOSE c and DECLARE c again over other columns, and the next
  // Bind/Execute of the same prepared FETCH returns the new columns, which the sidecar masks under
  // the old names (and binary handling of the old types). A column masked by its name (`cpf`:
  // "whatever it contains") is then masked by content only.
  it('a prepared FETCH is masked by the columns its cursor has when it runs (a cpf column masked by name, as stored without punctuation)', async () => {
    const c = await raw();
    // Control: read plainly, the column is masked by its name.
    await batch(c, [serialize.query('SELECT cpf FROM customers WHERE id = 90')], 1);
    expect(rows(c)).toHaveLength(1);
    expect(rows(c)[0]?.[0]).not.toBe(UNPUNCTUATED_CPF);

    c.messages.length = 0;
    await batch(c, [serialize.query('BEGIN')], 1);
    await batch(c, [serialize.query('DECLARE c CURSOR FOR SELECT nome, id FROM customers WHERE id = 90')], 1);
    await batch(c, [serialize.parse({ name: 'f', text: 'FETCH 1 FROM c' }), serialize.sync()], 1);
    await batch(c, [serialize.query('CLOSE c')], 1);
    await batch(c, [serialize.query('DECLARE c CURSOR FOR SELECT cpf, id FROM customers WHERE id = 90')], 1);
    expect(errors(c)).toEqual([]);
    c.messages.length = 0;
    await batch(c, [serialize.bind({ statement: 'f' }), serialize.execute({}), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    const fetched = rows(c);
    expect(fetched).toHaveLength(1);
    // The cpf column, whatever it contains, never reaches the agent as stored.
    expect(fetched[0]?.[0]).not.toBe(UNPUNCTUATED_CPF);
  });
});

describe('cursors executed by portal name: rows without a record', () => {
  // The protocol's Execute may name an SQL cursor's portal (DECLARE c ... then Execute "c"): the
  // server fetches from it. The listener describes the portal to mask it, but records nothing:
  // the rows reach the agent with no command record (SQL `FETCH` is recorded, with its sample).
  it('an Execute of an SQL cursor\'s portal is decided and recorded as FETCH, with its rows', async () => {
    const c = await raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    await batch(c, [serialize.query('DECLARE cur8 CURSOR FOR SELECT id, nome, email FROM customers WHERE id <= 3 ORDER BY id')], 1);
    expect(errors(c)).toEqual([]);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'cur8', rows: 0 }), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    expect(rows(c)).toHaveLength(3);
    // Masked, at least.
    expect(JSON.stringify(rows(c))).not.toContain('larissa.oliveira1@exemplo.com.br');
    await batch(c, [serialize.query('COMMIT')], 1);
    // Every command record of the spool: one of them must account for the three rows fetched.
    const records = await eventually('the COMMIT recorded', () => {
      const all = spoolRecords();
      return Promise.resolve(all.some((r) => r.command === 'COMMIT') ? all : undefined);
    }, 10_000, 200);
    const withRows = records.filter((r) => (r.result?.sample ?? '').includes('Carla Santos'));
    expect(withRows.length).toBeGreaterThan(0);
  });
});

describe('prepared statements: the sidecar\'s idea of a name against the server\'s', () => {
  // A Parse of a name the server already holds fails upstream (42P05), and the sidecar then puts the
  // old statement back under the name. But a Bind/Execute the client pipelined behind it, in a
  // later batch of the same write, is decided before that error arrives: against the NEW text.
  // The server then binds and runs the OLD statement. So a statement the policy now denies (or one
  // approval = one run) runs again, under the decision and the record of a harmless text.
  it('a re-Parse the server refuses (42P05) cannot make a Bind pipelined behind it run the statement it holds under the name', async () => {
    const c = await raw();
    const secret = 'SELECT id, nome, cpf FROM customers WHERE id = 1';
    // Prepared and run once while the policy allows it (its first run uses the Parse-time decision).
    await batch(c, [serialize.parse({ name: 's1', text: secret }), serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    expect(rows(c)).toHaveLength(1);

    // The policy now denies every statement on customers.
    await customersDenied(true);

    // Control: running s1 again is decided again, and denied.
    c.messages.length = 0;
    await batch(c, [serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync()], 1);
    expect(errors(c).map((e) => e.code)).toEqual(['42501']);
    expect(rows(c)).toEqual([]);

    // The attack: one write, two batches. The sidecar decides `SELECT 1`; the server runs s1.
    c.messages.length = 0;
    await batch(c, [
      serialize.parse({ name: 's1', text: 'SELECT 1' }), serialize.sync(),
      serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync(),
    ], 2);
    // Nothing of customers may come back: the only statement on customers is denied.
    expect(rows(c)).toEqual([]);
  });

  // Reads the records the test above left (run in order; the policy denies customers since).
  it('no record calls that run `SELECT 1`: nothing of customers ran under it', () => {
    const records = spoolRecords();
    const harmless = records.filter((r) => r.command === 'SELECT 1' && r.decision === 'allow');
    // What the server ran for that Execute was s1 (customers): no record may call it `SELECT 1`.
    expect(harmless.filter((r) => (r.result?.sample ?? '').includes('Larissa Oliveira'))).toEqual([]);
  });
});

describe('what the server holds under a name after a failure or an SQL statement', () => {
  // A Bind that fails before the server creates its portal (here: the name is taken, 42P03) leaves
  // the portal the server held, which a ROLLBACK TO SAVEPOINT keeps. The listener had filed the
  // new portal and, on the error, dropped the name: the next Execute of it ran the old portal
  // with no decision (or, read as a cursor, decided as FETCH). It must be decided as the statement
  // that portal runs, under the policy in force now.
  it('a portal kept by the server after a failed Bind is decided again as its own statement at its next Execute', async () => {
    await customersDenied(false);
    const c = await raw();
    const secret = 'SELECT id, nome, cpf FROM customers WHERE id = 1';
    await batch(c, [serialize.query('BEGIN')], 1);
    // Run once (the Parse-time decision is spent), then bound again as portal p, not yet run.
    await batch(c, [serialize.parse({ name: 'x', text: secret }), serialize.bind({ statement: 'x' }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.bind({ portal: 'p', statement: 'x' }), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    await customersDenied(true);
    c.messages.length = 0;
    await batch(c, [serialize.query('SAVEPOINT a')], 1);
    await batch(c, [serialize.parse({ name: 'h', text: 'SELECT 1' }), serialize.bind({ portal: 'p', statement: 'h' }), serialize.sync()], 1);
    expect(errors(c).map((e) => e.code)).toEqual(['42P03']);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT a')], 1);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'p' }), serialize.sync()], 1);
    expect(rows(c)).toEqual([]);
    // Bound before the savepoint, the portal survives ROLLBACK TO: decided now as its statement.
    expect(errors(c).map((e) => e.code)).toEqual(['42501']);
    await batch(c, [serialize.query('ROLLBACK')], 1);
  });

  // SQL DEALLOCATE frees a name the listener filed for a protocol statement; SQL PREPARE under it
  // then creates a statement whose text the listener never decided for a Bind. A Bind of the name
  // must be refused, never decided as the text the listener had filed.
  it('after SQL DEALLOCATE, a Bind of the name is refused (26000), even once SQL PREPARE reused it', async () => {
    await customersDenied(false);
    const c = await raw();
    await batch(c, [serialize.parse({ name: 'd1', text: 'SELECT 1' }), serialize.bind({ statement: 'd1' }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.query('DEALLOCATE d1')], 1);
    await batch(c, [serialize.query('PREPARE d1 AS SELECT id, nome, cpf FROM customers WHERE id = 1')], 1);
    expect(errors(c)).toEqual([]);
    await customersDenied(true);
    c.messages.length = 0;
    await batch(c, [serialize.bind({ statement: 'd1' }), serialize.execute({}), serialize.sync()], 1);
    expect(rows(c)).toEqual([]);
    expect(errors(c).map((e) => e.code)).toEqual(['26000']);
    // DEALLOCATE ALL forgets every name: a protocol statement prepared before it is refused too.
    c.messages.length = 0;
    await batch(c, [serialize.parse({ name: 'd2', text: 'SELECT 2' }), serialize.sync()], 1);
    await batch(c, [serialize.query('DEALLOCATE ALL')], 1);
    await batch(c, [serialize.bind({ statement: 'd2' }), serialize.execute({}), serialize.sync()], 1);
    expect(errors(c).map((e) => e.code)).toEqual(['26000']);
  });

  // Each row-limited Execute of a cursor is its own `FETCH n`: recorded with the rows it returned
  // when the server pauses it (PortalSuspended), not left open.
  it('row-limited Executes of a cursor are each recorded as FETCH n with their rows', async () => {
    await customersDenied(false);
    const c = await raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    await batch(c, [serialize.query('DECLARE "Cur 9" CURSOR FOR SELECT id, nome FROM customers WHERE id <= 3 ORDER BY id')], 1);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'Cur 9', rows: 2 }), serialize.execute({ portal: 'Cur 9', rows: 2 }), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    expect(c.messages.filter((m) => m.name === 'portalSuspended')).toHaveLength(1);
    expect(rows(c)).toHaveLength(3);
    await batch(c, [serialize.query('COMMIT')], 1);
    const fetches = await eventually('both FETCHes recorded', () => {
      const found = spoolRecords().filter((r) => r.command === 'FETCH 2 FROM "Cur 9"');
      return Promise.resolve(found.length === 2 ? found : undefined);
    }, 10_000, 200);
    expect(fetches.map((r) => r.result?.rows).sort()).toEqual([1, 2]);
    expect(fetches.every((r) => r.decision === 'allow')).toBe(true);
  });
});
