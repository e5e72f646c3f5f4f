// Round 8e review of the round 8d PostgreSQL fixes (492c9aa). Round 8d made a refused Parse or Bind
// put back what the server kept under the name (pipeline-state.ts kept). A protocol Close has the
// same problem and no such repair: the listener forgets the portal when it SENDS the Close
// (client-half.ts onClose -> dropPortal), but after an earlier error in the batch the server skips
// the Close and keeps the portal. The listener then files nothing under the name while the server
// holds the bound portal: an Execute of the name goes down the SQL-cursor path, decided and recorded
// as `FETCH ALL FROM "p"` (no table: allowed) while the server runs the portal's statement, which the
// policy now denies. Round 8b/8c refuse exactly this run by SQL FETCH and by a 63-byte alias; a
// skipped Close reaches it with no SQL at all. The real sidecar process in front of the harness
// PostgreSQL, agents speaking raw protocol bytes; the `control:` tests pass, the others fail on
// 492c9aa.
import { describe, expect, it, jest } from '@jest/globals';
import { serialize } from 'pg-protocol';
import { eventually } from '../../e2e/support/wait.ts';
import type { RawClient } from './pg-raw-client.ts';
import { batch, errors, rawPgScenarioHooks, rows, type RawPgScenario } from './pg-raw-scenario.ts';

jest.setTimeout(120_000);

let t: RawPgScenario;

rawPgScenarioHooks((started) => { t = started; });

const raw = (): Promise<RawClient> => t.raw();
const customersDenied = (deny: boolean): Promise<void> => t.customersDenied(deny);

const SECRET = 'SELECT id, nome, cpf FROM customers WHERE id = 1';

/**
 * In a transaction: the customers query prepared and run once (its Parse-time decision spent),
 * bound again as portal `p` (not run), then a savepoint. Portal `p` is the server's until the
 * transaction ends; a failure after the savepoint does not drop it (ROLLBACK TO keeps it).
 */
async function boundPortal(c: RawClient): Promise<void> {
  await batch(c, [serialize.query('BEGIN')], 1);
  await batch(c, [serialize.parse({ name: 'x', text: SECRET }), serialize.bind({ statement: 'x' }), serialize.execute({}), serialize.sync()], 1);
  await batch(c, [serialize.bind({ portal: 'p', statement: 'x' }), serialize.sync()], 1);
  await batch(c, [serialize.query('SAVEPOINT s')], 1);
  expect(errors(c)).toEqual([]);
}

/** A batch that fails at its Execute (division by zero), `then` pipelined behind it in the same batch. */
function failingBatch(then: Buffer[]): Buffer[] {
  return [serialize.parse({ text: 'SELECT 1/0 AS z' }), serialize.bind({}), serialize.execute({}), ...then, serialize.sync()];
}

describe('a protocol Close the server skips (an earlier message of its batch failed): the listener forgets a portal the server keeps', () => {
  it('control: with no Close, an Execute of the bound portal is decided as its statement, and denied', async () => {
    await customersDenied(false);
    const c = await raw();
    await boundPortal(c);
    await batch(c, failingBatch([]), 1);
    expect(errors(c).map((e) => e.code)).toEqual(['22012']);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT s')], 1);
    await customersDenied(true);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'p' }), serialize.sync()], 1);
    const fetched = rows(c);
    const codes = errors(c).map((e) => e.code);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    expect(JSON.stringify(fetched)).not.toContain('Larissa');
    expect(codes).toEqual(['42501']);
  });

  // Parse/Bind/Execute of `SELECT 1/0`, then Close portal p, in one batch: the server fails the
  // Execute and skips the Close (p stays), the listener dropped p when it sent the Close. The next
  // Execute p is taken for an SQL cursor's: decided as `FETCH ALL FROM "p"` (allowed), and the
  // server runs the customers query the policy now denies (Larissa's row; cpf masked by the
  // Describe before the Execute, nome and id in clear, and in the record as a FETCH).
  it('an Execute of the portal after a skipped Close is decided as the portal the server holds', async () => {
    await customersDenied(false);
    const c = await raw();
    await boundPortal(c);
    await batch(c, failingBatch([serialize.close({ type: 'P', name: 'p' })]), 1);
    expect(errors(c).map((e) => e.code)).toEqual(['22012']);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT s')], 1);
    await customersDenied(true);
    c.messages.length = 0;
    await batch(c, [serialize.execute({ portal: 'p' }), serialize.sync()], 1);
    const fetched = rows(c);
    const codes = errors(c).map((e) => e.code);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    // The server still held p: what ran is the customers query, which the policy denies.
    expect(JSON.stringify(fetched)).not.toContain('Larissa');
    expect(codes).not.toEqual([]);
  });

  // The same portal by SQL: round 8b refuses SQL FETCH of a portal the listener bound (0A000), by
  // looking the name up in what the listener files; after the skipped Close it files nothing, so
  // `FETCH ALL FROM p` is decided as a FETCH of no table and runs the customers query.
  it('SQL FETCH of the portal after a skipped Close is refused as a FETCH of a bound portal', async () => {
    await customersDenied(false);
    const c = await raw();
    await boundPortal(c);
    await batch(c, failingBatch([serialize.close({ type: 'P', name: 'p' })]), 1);
    expect(errors(c).map((e) => e.code)).toEqual(['22012']);
    await batch(c, [serialize.query('ROLLBACK TO SAVEPOINT s')], 1);
    await customersDenied(true);
    c.messages.length = 0;
    await batch(c, [serialize.query('FETCH ALL FROM p')], 1);
    const fetched = rows(c);
    const codes = errors(c).map((e) => e.code);
    await batch(c, [serialize.query('ROLLBACK')], 1);
    expect(JSON.stringify(fetched)).not.toContain('Larissa');
    expect(codes).toEqual(['0A000']);
  });

  it('no record calls a run of the customers query a FETCH of the SQL cursor "p"', async () => {
    const records = await eventually('the records of the runs', () => {
      const all = t.spoolRecords();
      return Promise.resolve(all.filter((x) => x.command === 'ROLLBACK').length >= 3 ? all : undefined);
    }, 10_000, 200);
    const misnamed = records.filter((x) => /^FETCH ALL FROM "?p"?$/.test(x.command ?? '') && (x.result?.sample ?? '').includes('Larissa'));
    expect(misnamed).toEqual([]);
  });
});
