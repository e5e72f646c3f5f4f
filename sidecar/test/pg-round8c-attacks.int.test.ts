// Round 8c review of the round 8b PostgreSQL fixes: what the listener files about portals and
// statements against what the server holds (names as the server keys them: their first 63 bytes;
// a mark that must survive a failed Bind; cursors read across ROLLBACK TO SAVEPOINT as drivers
// do), through the real sidecar process in front of the harness PostgreSQL (raw protocol bytes
// where a driver would not send the sequence, or to send exactly what a driver sends). Each test
// but the two named `control:` failed on 13bb839 (docs/security-model.md, "Round 8 review:
// PostgreSQL"). Tests run in file order: the record tests read the spool the tests before them left.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { serialize } from 'pg-protocol';
import pg from 'pg';
import { requirePostgres } from '../../e2e/harness/state.ts';
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

const SECRET = 'SELECT id, nome, cpf FROM customers WHERE id = 1';

// PostgreSQL keys portals and prepared statements by their first NAMEDATALEN-1 (63) bytes: the
// portal and prepared-statement hash tables have a 64-byte key (strlcpy on insert, strncmp of 63
// bytes on lookup), and the SQL scanner truncates a longer identifier to 63 bytes. The listener
// files protocol names whole and compares the (truncated) names the parser reports with them: two
// names the server takes as one are two for the listener. A 64-character name is what a driver
// that names statements by a SHA-256 of their text sends.
const LONG = `p${'x'.repeat(62)}_bound`; // 69 bytes: the server's key is its first 63
const ALIAS = `p${'x'.repeat(62)}_other`; // another protocol name with the same first 63 bytes
const SQL_NAME = LONG.slice(0, 63); // what the SQL scanner keeps of either

describe('protocol names longer than 63 bytes: the server keys them by their first 63 bytes, the listener by the whole name', () => {
  it('control: the server takes a cursor declared as LONG under its first 63 bytes (no sidecar)', async () => {
    // Direct to the harness PostgreSQL, no sidecar: the protocol's own behaviour.
    const pgs = requirePostgres();
    const direct = new pg.Client({ host: pgs.host, port: pgs.port, user: 'orders_app', password: pgs.passwords.orders_app, database: t.scenario.database });
    await direct.connect();
    try {
      await direct.query('BEGIN');
      await direct.query(`DECLARE ${LONG} CURSOR FOR SELECT 42 AS n`);
      const r = await direct.query(`FETCH ALL FROM "${SQL_NAME}"`);
      expect(r.rows).toEqual([{ n: 42 }]);
      await direct.query('ROLLBACK');
    } finally {
      await direct.end();
    }
  });

  // Round 8b refuses SQL FETCH/MOVE of a portal the listener bound (fetchesPortals against
  // s.portals). The parser reports the 63-byte name; the listener files LONG; no match, so the
  // FETCH is decided as a FETCH of no table (allow-the-rest) and the server runs LONG's statement,
  // which the policy now denies: round 8b's finding 4, back.
  it('SQL FETCH of the 63-byte name of a bound portal is refused: the portal runs only by Execute, decided as its statement', async () => {
    await customersDenied(false);
    const c = await raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    // Run once (the Parse-time decision is spent), then bound again under the long name, not run.
    await batch(c, [serialize.parse({ name: 'x', text: SECRET }), serialize.bind({ statement: 'x' }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.bind({ portal: LONG, statement: 'x' }), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    await customersDenied(true);
    // Control: the protocol's Execute of LONG is decided again, and denied.
    c.messages.length = 0;
    await batch(c, [serialize.query('SAVEPOINT a')], 1);
    await batch(c, [serialize.execute({ portal: LONG }), serialize.sync()], 1);
    expect(errors(c).map((e) => e.code)).toEqual(['42501']);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT a')], 1);
    c.messages.length = 0;
    await batch(c, [serialize.query(`FETCH ALL FROM ${SQL_NAME}`)], 1);
    const fetched = rows(c);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    // The only statement on customers is denied now.
    expect(fetched).toEqual([]);
  });

  // The same without SQL: a protocol Execute under ALIAS, a name the listener never filed, goes
  // down the SQL-cursor path (decided and recorded as `FETCH ALL FROM "<ALIAS>"`, no table:
  // allowed), and the server runs the portal filed as LONG.
  it('a protocol Execute of another name with the same first 63 bytes is that bound portal: decided as its statement, not as a FETCH', async () => {
    await customersDenied(false);
    const c = await raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    await batch(c, [serialize.parse({ name: 'x', text: SECRET }), serialize.bind({ statement: 'x' }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.bind({ portal: LONG, statement: 'x' }), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    await customersDenied(true);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: ALIAS }), serialize.sync()], 1);
    const fetched = rows(c);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    expect(fetched).toEqual([]);
  });

  // Round 8b marks a portal doubtful when SQL CLOSEs it or DECLAREs a cursor under its name, and
  // refuses its next Execute (34000). `CLOSE <63 bytes>` and `DECLARE <63 bytes>` name a portal
  // the listener does not file (it files LONG), so LONG is not marked: its Execute runs the new
  // cursor over cpf, decided and recorded as the statement bound before (`SELECT nome, id ...`).
  // (The Describe before the Execute does mask the cpf column by the cursor's own description.)
  it('SQL CLOSE and DECLARE under the 63-byte name mark the portal filed as LONG: its Execute is refused', async () => {
    await customersDenied(false);
    const c = await raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    await batch(c, [serialize.parse({ name: 'n', text: 'SELECT nome, id FROM customers WHERE id = 90' }), serialize.bind({ portal: LONG, statement: 'n' }), serialize.sync()], 1);
    await batch(c, [serialize.query(`CLOSE ${SQL_NAME}`)], 1);
    await batch(c, [serialize.query(`DECLARE ${SQL_NAME} CURSOR FOR SELECT cpf, id FROM customers WHERE id = 90`)], 1);
    expect(errors(c)).toEqual([]);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: LONG }), serialize.sync()], 1);
    const fetched = rows(c);
    const codes = errors(c).map((e) => e.code);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    // Masked (the Describe before each Execute holds); never raw.
    expect(JSON.stringify(fetched)).not.toContain(UNPUNCTUATED_CPF);
    // Refused, as for the same attack under a short name (round 8b): the listener cannot know what runs.
    expect(codes).toEqual(['34000']);
  });

  it('no record calls that run of the cpf cursor `SELECT nome, id ...`', async () => {
    const records = await eventually('the ROLLBACK recorded', () => {
      const all = spoolRecords();
      return Promise.resolve(all.some((r) => r.command === `DECLARE ${SQL_NAME} CURSOR FOR SELECT cpf, id FROM customers WHERE id = 90`) ? all : undefined);
    }, 10_000, 200);
    const misnamed = records.filter((r) => r.command === 'SELECT nome, id FROM customers WHERE id = 90' && (r.result?.sample ?? '').includes('cpf'));
    expect(misnamed).toEqual([]);
  });

  // The same for prepared statements, with the protocol alone (no SQL PREPARE: the example policy
  // as shipped). A protocol Close of ALIAS, a statement the listener does not file, closes the one
  // filed as LONG (the server's key); a Parse of ALIAS then puts the customers query under that
  // key, while the listener files it as ALIAS and still files LONG as `SELECT 1`. Every Bind of
  // LONG is decided (and recorded) as `SELECT 1` and runs the customers query.
  it('protocol Close and Parse of ALIAS replace LONG for the listener as for the server: a Bind of LONG is decided as the customers query', async () => {
    await customersDenied(false);
    const c = await raw();
    const name = `${LONG}_s`;
    const alias = `${ALIAS}_s`;
    await batch(c, [serialize.parse({ name, text: 'SELECT 1' }), serialize.bind({ statement: name }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.close({ type: 'S', name: alias }), serialize.parse({ name: alias, text: SECRET }), serialize.sync()], 1);
    expect(errors(c)).toEqual([]);
    await customersDenied(true);
    // The alias is the server's statement under LONG's key, so it is the listener's too: its first
    // run takes the decision of its Parse (made while customers were allowed, as documented),
    // recorded as its own text; every later run is decided again, and denied.
    c.messages.length = 0;
    await batch(c, [serialize.bind({ statement: name }), serialize.execute({}), serialize.sync()], 1);
    c.messages.length = 0;
    await batch(c, [serialize.bind({ statement: name }), serialize.execute({}), serialize.sync()], 1);
    expect(rows(c)).toEqual([]);
    expect(errors(c).map((e) => e.code)).toEqual(['42501']);
  });

  // Round 8 makes the listener forget the names SQL DEALLOCATE frees. `DEALLOCATE <63 bytes>`
  // frees the protocol statement filed as LONG (the server's key), but the listener forgets the
  // 63-byte name it does not file and keeps LONG as `SELECT 1`. SQL PREPARE under the 63-byte name
  // then puts the customers query under the server's key: a Bind of LONG is decided and recorded
  // as `SELECT 1` and runs it.
  it('SQL DEALLOCATE under the 63-byte name forgets LONG: after PREPARE under it, a Bind of LONG is refused', async () => {
    await customersDenied(false);
    const c = await raw();
    await batch(c, [serialize.parse({ name: LONG, text: 'SELECT 1' }), serialize.bind({ statement: LONG }), serialize.execute({}), serialize.sync()], 1);
    await batch(c, [serialize.query(`DEALLOCATE ${SQL_NAME}`)], 1);
    await batch(c, [serialize.query(`PREPARE ${SQL_NAME} AS ${SECRET}`)], 1);
    expect(errors(c)).toEqual([]);
    await customersDenied(true);
    c.messages.length = 0;
    await batch(c, [serialize.bind({ statement: LONG }), serialize.execute({}), serialize.sync()], 1);
    // The only statement on customers is denied now; LONG as the server holds it reads customers.
    expect(rows(c)).toEqual([]);
  });
});

describe('the records of those runs', () => {
  // Reads the records the Close/Parse and DEALLOCATE tests left (run in order).
  it('no record calls a run of the customers query `SELECT 1`, allowed', () => {
    const harmless = spoolRecords().filter((r) => r.command === 'SELECT 1' && r.decision === 'allow' && (r.result?.sample ?? '').includes('Larissa Oliveira'));
    expect(harmless).toEqual([]);
  });
});

describe('the doubtful mark, lost when a failed Bind puts back the portal the server kept', () => {
  // Round 8b marks the portals FILED at the moment it decides a CLOSE, DECLARE or transaction end.
  // A Bind of a name the server already holds (42P03, sent in an earlier batch, still unanswered)
  // is filed in place of the portal the server keeps; the mark lands on it, and bindFailed then
  // puts back the old PortalState, unmarked. The server ran CLOSE and DECLARE on that old portal:
  // its next Execute runs the cursor over cpf, decided and recorded as the statement bound before.
  it('a re-Bind of the name (42P03) pipelined before ROLLBACK TO; CLOSE; DECLARE keeps the mark: the Execute is refused', async () => {
    await customersDenied(false);
    const c = await raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    await batch(c, [serialize.parse({ name: 'n', text: 'SELECT nome, id FROM customers WHERE id = 90' }), serialize.bind({ portal: 'p', statement: 'n' }), serialize.sync()], 1);
    await batch(c, [serialize.query('SAVEPOINT s')], 1);
    expect(errors(c)).toEqual([]);
    // One write: the re-Bind (the server refuses it: portal p exists, and the transaction is
    // aborted), then a Query the listener decides while the Bind's answer is on its way.
    await batch(c, [
      serialize.bind({ portal: 'p', statement: 'n' }), serialize.sync(),
      serialize.query('ROLLBACK TO SAVEPOINT s; CLOSE p; DECLARE p CURSOR FOR SELECT cpf, id FROM customers WHERE id = 90'),
    ], 2);
    expect(errors(c).map((e) => e.code)).toEqual(['42P03']);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'p' }), serialize.sync()], 1);
    const codes = errors(c).map((e) => e.code);
    const fetched = rows(c);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    expect(JSON.stringify(fetched)).not.toContain(UNPUNCTUATED_CPF);
    // Refused, as round 8b promises after CLOSE/DECLARE of a portal's name: bind it again.
    expect(codes).toEqual(['34000']);
  });
});

describe('what the doubtful marking refuses that drivers do: a cursor read across ROLLBACK TO SAVEPOINT', () => {
  // pg-cursor (node-postgres) and pgjdbc's fetchSize read a named portal with row-limited Executes
  // (pg-cursor: Parse, Bind C_1, Describe P, Flush; then Execute C_1 n, Flush per read). An ORM's
  // nested transaction (a SAVEPOINT, an error, ROLLBACK TO SAVEPOINT; pgjdbc's autosave does the
  // same on any error) between two reads leaves the portal alone in the server: ROLLBACK TO drops
  // only the portals created after the savepoint. Round 8b marks every portal doubtful at any
  // ROLLBACK TO, so the next read is refused (34000) through the sidecar.
  it('control: an SQL cursor declared before the savepoint survives ROLLBACK TO SAVEPOINT (through the sidecar)', async () => {
    await customersDenied(false);
    const c = await raw();
    await batch(c, [serialize.query('BEGIN; DECLARE cur CURSOR FOR SELECT id FROM orders ORDER BY id; SAVEPOINT a')], 1);
    await batch(c, [serialize.query('SELECT 1/0')], 1);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT a')], 1);
    c.messages.length = 0;
    await batch(c, [serialize.query('FETCH 2 FROM cur')], 1);
    expect(errors(c)).toEqual([]);
    expect(rows(c)).toHaveLength(2);
    await batch(c, [serialize.query('ROLLBACK')], 1);
  });

  it('a pg-cursor-style portal bound before the savepoint reads on after ROLLBACK TO SAVEPOINT', async () => {
    const c = await raw();
    await batch(c, [serialize.query('BEGIN')], 1);
    // pg-cursor's submit and first read (Flush, no Sync: the batch stays open).
    c.send(Buffer.concat([
      serialize.parse({ text: 'SELECT id FROM orders ORDER BY id' }), serialize.bind({ portal: 'C_1' }), serialize.describe({ type: 'P', name: 'C_1' }), serialize.flush(),
      serialize.execute({ portal: 'C_1', rows: 2 }), serialize.flush(),
    ]));
    await c.until(() => c.messages.some((m) => m.name === 'portalSuspended'));
    expect(rows(c)).toHaveLength(2);
    // The application's nested transaction fails and is rolled back (a Sync first: node-pg queues
    // other queries behind the cursor only once it yields; pgjdbc syncs each batch).
    await batch(c, [serialize.sync()], 1);
    await batch(c, [serialize.query('SAVEPOINT nested')], 1);
    await batch(c, [serialize.query('SELECT 1/0')], 1);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT nested')], 1);
    // The next read of the cursor.
    c.messages.length = 0;
    c.send(Buffer.concat([serialize.execute({ portal: 'C_1', rows: 2 }), serialize.flush()]));
    await c.until(() => c.messages.some((m) => m.name === 'portalSuspended' || m.name === 'error'));
    const codes = errors(c).map((e) => e.code);
    const read = rows(c);
    await batch(c, [serialize.close({ type: 'P', name: 'C_1' }), serialize.sync()], 1);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    expect(codes).toEqual([]);
    expect(read).toHaveLength(2);
  });
});
