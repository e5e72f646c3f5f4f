// Round 8b adversarial review of the round 8 PostgreSQL fixes (commit 61f400f): what the listener
// files about portals and statements against what the server holds, through the real sidecar
// process in front of the harness PostgreSQL (raw protocol bytes where a driver would not send the
// sequence). Each test fails on the code as of 61f400f for the reason its comment gives
// (report: docs/security-model.md).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { serialize } from 'pg-protocol';
import { eventually } from '../../e2e/support/wait.ts';
import type { RawClient } from './pg-raw-client.ts';
import { batch, errors, rows, startRawPgScenario, UNPUNCTUATED_CPF, type RawPgScenario, type SpoolRecord } from './pg-raw-scenario.ts';

jest.setTimeout(120_000);

const OPTIONS = { allowPrepare: true, allowImports: true };

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

describe('a portal the server dropped while the listener still files it under its name', () => {
  // The listener learns a portal's columns once, with its Describe P right after the Bind, and
  // keeps the PortalState until a protocol Close, an unnamed-portal replacement, or a
  // ReadyForQuery with status I. But the server drops portals in other ways: SQL `CLOSE name`
  // (and `CLOSE ALL`) closes protocol portals too, and a COMMIT followed by BEGIN in one Query
  // ends the transaction (and its portals) while the ReadyForQuery still says T. `DECLARE` under
  // the same name then creates a cursor the server runs for the protocol's Execute of that name,
  // and the listener masks its rows by the dropped portal's columns and records it as the
  // dropped portal's statement.
  it('SQL CLOSE of a bound portal, then DECLARE under its name: Execute masks the cpf column by the old portal\'s column names', async () => {
    const c = await raw();
    // Control: read plainly, the column is masked by its name.
    await batch(c, [serialize.query('SELECT cpf FROM customers WHERE id = 90')], 1);
    expect(rows(c)).toHaveLength(1);
    expect(rows(c)[0]?.[0]).not.toBe(UNPUNCTUATED_CPF);

    c.messages.length = 0;
    await batch(c, [serialize.query('BEGIN')], 1);
    // Bound through the listener (its Describe P files the columns nome, id), not run.
    await batch(c, [serialize.parse({ name: 'n', text: 'SELECT nome, id FROM customers WHERE id = 90' }), serialize.bind({ portal: 'c', statement: 'n' }), serialize.sync()], 1);
    // The server closes protocol portals on SQL CLOSE; a cursor takes the name.
    await batch(c, [serialize.query('CLOSE c')], 1);
    await batch(c, [serialize.query('DECLARE c CURSOR FOR SELECT cpf, id FROM customers WHERE id = 90')], 1);
    expect(errors(c)).toEqual([]);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'c' }), serialize.sync()], 1);
    // Refused: the listener cannot know what the server now runs under the name (bind it again).
    expect(errors(c).map((e) => e.code)).toEqual(['34000']);
    const fetched = rows(c);
    expect(fetched).toEqual([]);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    // The cpf column, whatever it contains, never reaches the agent as stored.
    expect(JSON.stringify(fetched)).not.toContain(UNPUNCTUATED_CPF);
  });

  it('the same after COMMIT; BEGIN in one Query (the ReadyForQuery says T; the portal is gone): the cpf column comes back whole', async () => {
    const c = await raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    await batch(c, [serialize.parse({ name: 'n', text: 'SELECT nome, id FROM customers WHERE id = 90' }), serialize.bind({ portal: 'k', statement: 'n' }), serialize.sync()], 1);
    await batch(c, [serialize.query('COMMIT; BEGIN')], 1);
    await batch(c, [serialize.query('DECLARE k CURSOR FOR SELECT cpf, id FROM customers WHERE id = 90')], 1);
    expect(errors(c)).toEqual([]);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'k' }), serialize.sync()], 1);
    // Refused: the listener cannot know what the server now runs under the name (bind it again).
    expect(errors(c).map((e) => e.code)).toEqual(['34000']);
    const fetched = rows(c);
    expect(fetched).toEqual([]);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    expect(JSON.stringify(fetched)).not.toContain(UNPUNCTUATED_CPF);
  });

  it('the same after ROLLBACK TO SAVEPOINT (it drops the portals bound since the savepoint): the cpf column comes back whole', async () => {
    const c = await raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    await batch(c, [serialize.query('SAVEPOINT a')], 1);
    await batch(c, [serialize.parse({ name: 'n', text: 'SELECT nome, id FROM customers WHERE id = 90' }), serialize.bind({ portal: 'q', statement: 'n' }), serialize.sync()], 1);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT a')], 1);
    await batch(c, [serialize.query('DECLARE q CURSOR FOR SELECT cpf, id FROM customers WHERE id = 90')], 1);
    expect(errors(c)).toEqual([]);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'q' }), serialize.sync()], 1);
    // Refused: the listener cannot know what the server now runs under the name (bind it again).
    expect(errors(c).map((e) => e.code)).toEqual(['34000']);
    const fetched = rows(c);
    expect(fetched).toEqual([]);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    expect(JSON.stringify(fetched)).not.toContain(UNPUNCTUATED_CPF);
  });

  // Reads the records the tests above left: the rows the cursor returned were recorded under the
  // text of the statement the listener had bound (`SELECT nome, id ...`), with the raw CPF in the
  // sample, instead of as a FETCH of the cursor.
  it('no record calls those runs `SELECT nome, id ...`: the server ran the cursor over cpf', async () => {
    const records = await eventually('the ROLLBACKs recorded', () => {
      const all = spoolRecords();
      return Promise.resolve(all.filter((r) => r.command === 'ROLLBACK').length >= 3 ? all : undefined);
    }, 10_000, 200);
    const misnamed = records.filter((r) => r.command === 'SELECT nome, id FROM customers WHERE id = 90' && (r.result?.sample ?? '').includes(UNPUNCTUATED_CPF));
    expect(misnamed).toEqual([]);
  });
});

describe('the wait for an earlier batch\'s Parse, skipped while a COPY FROM STDIN is in progress', () => {
  // settled() waits through idle(), and idle() returns at once while `copyIn` is set (the server
  // answers nothing else during COPY IN). A client that pipelines, in one write: a COPY FROM
  // STDIN with enough data to keep the server busy, a re-Parse of a name the server holds, and a
  // Bind/Execute of that name, gets the Bind decided as the new text while the server, after the
  // COPY, refuses the Parse (42P05) and runs the OLD statement: round 8's finding 1 again.
  it('a re-Parse the server refuses (42P05) cannot make a Bind pipelined behind a COPY FROM STDIN run the statement it holds', async () => {
    const c = await raw();
    const secret = 'SELECT id, nome, cpf FROM customers WHERE id = 1';
    await batch(c, [serialize.parse({ name: 's1', text: secret }), serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    expect(rows(c)).toHaveLength(1);

    await customersDenied(true);
    // Control: running s1 again is decided again, and denied.
    c.messages.length = 0;
    await batch(c, [serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync()], 1);
    expect(errors(c).map((e) => e.code)).toEqual(['42501']);
    expect(rows(c)).toEqual([]);
    // Control: without the COPY in front, round 8's fix holds (the Bind waits for the Parse's answer).
    c.messages.length = 0;
    await batch(c, [
      serialize.parse({ name: 's1', text: 'SELECT 1' }), serialize.sync(),
      serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync(),
    ], 2);
    expect(rows(c)).toEqual([]);

    // The attack: a COPY that parses ~16 MB of rows and inserts none (WHERE false), then the same two batches.
    const line = Buffer.from('1\tok\t100\n');
    const chunk = Buffer.concat(Array.from({ length: 7000 }, () => line));
    const data = Array.from({ length: 256 }, () => serialize.copyData(chunk));
    c.messages.length = 0;
    await batch(c, [
      serialize.parse({ text: 'COPY orders (customer_id, status, total_cents) FROM STDIN WHERE false' }), serialize.bind({}), serialize.execute({}),
      ...data, serialize.copyDone(), serialize.sync(),
      serialize.parse({ name: 's1', text: 'SELECT 1' }), serialize.sync(),
      serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync(),
    ], 3, 60_000);
    expect(c.messages.some((m) => m.name === 'copyInResponse')).toBe(true);
    // Nothing of customers may come back: the only statement on customers is denied.
    expect(rows(c)).toEqual([]);
  });
});

describe('SQL DEALLOCATE run through a prepared statement', () => {
  // Round 8 makes the listener forget the names a DEALLOCATE frees when it DECIDES the text: at a
  // simple Query, or at the Parse of a protocol statement. A protocol statement `DEALLOCATE s1`
  // parsed before s1 exists forgets nothing then, and frees s1 at every later Execute, which
  // forgets nothing either. SQL PREPARE under the freed name then creates a statement the
  // listener still files as the old text: a Bind of it is decided and recorded as that text.
  it('a prepared DEALLOCATE executed later: a Bind of the freed name is never decided as the text the listener had filed', async () => {
    await customersDenied(false);
    const c = await raw();
    await batch(c, [serialize.parse({ name: 'd', text: 'DEALLOCATE s2' }), serialize.sync()], 1);
    await batch(c, [serialize.parse({ name: 's2', text: 'SELECT 1' }), serialize.bind({ statement: 's2' }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.bind({ statement: 'd' }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.query('PREPARE s2 AS SELECT id, nome, cpf FROM customers WHERE id = 1')], 1);
    expect(errors(c)).toEqual([]);
    await customersDenied(true);
    c.messages.length = 0;
    await batch(c, [serialize.bind({ statement: 's2' }), serialize.execute({}), serialize.sync()], 1);
    // The only statement on customers is denied now; s2 as the server holds it reads customers.
    expect(rows(c)).toEqual([]);
  });

  // Reads the records the COPY and DEALLOCATE tests left (run in order).
  it('no record calls a run of the customers statement `SELECT 1`, allowed', () => {
    const harmless = spoolRecords().filter((r) => r.command === 'SELECT 1' && r.decision === 'allow' && (r.result?.sample ?? '').includes('Larissa Oliveira'));
    expect(harmless).toEqual([]);
  });
});

describe('SQL FETCH of a portal the listener bound', () => {
  // Round 8 decides a portal's run at its Execute under the policy in force then (and an Execute of
  // an SQL cursor as FETCH). The converse is open: SQL `FETCH ALL FROM p` runs a portal the
  // listener bound and never decided a run of, and is decided as FETCH (no table: allowed).
  it('a portal bound before the policy denied its statement is not run by SQL FETCH', async () => {
    await customersDenied(false);
    const c = await raw();
    const secret = 'SELECT id, nome, cpf FROM customers WHERE id = 1';
    await batch(c, [serialize.query('BEGIN')], 1);
    // Run once (the Parse-time decision is spent), then bound again as portal p2, not yet run.
    await batch(c, [serialize.parse({ name: 'x', text: secret }), serialize.bind({ statement: 'x' }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.bind({ portal: 'p2', statement: 'x' }), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    await customersDenied(true);
    // Control: the protocol's Execute of p2 is decided again, and denied.
    c.messages.length = 0;
    await batch(c, [serialize.query('SAVEPOINT a')], 1);
    await batch(c, [serialize.execute({ portal: 'p2' }), serialize.sync()], 1);
    expect(errors(c).map((e) => e.code)).toEqual(['42501']);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT a')], 1);
    c.messages.length = 0;
    await batch(c, [serialize.query('FETCH ALL FROM p2')], 1);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    expect(rows(c)).toEqual([]);
  });
});
