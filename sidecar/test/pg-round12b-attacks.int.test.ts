// Round 12b adversarial review of the round 12 PostgreSQL fixes (73c3dc3, 9196bc5, e994a85). The
// REAL sidecar in front of the harness PostgreSQL (pg-raw-scenario: the example policy, raw protocol
// agents, the sidecar's own spool read back). Each "finding" case FAILS on the code reviewed
// (dad411a) for the reason its name gives. Report: /work/tmp/pg12b-review.md.
import { describe, expect, it, jest } from '@jest/globals';
import { serialize } from 'pg-protocol';
import { eventually } from '../../e2e/support/wait.ts';
import { batch, rawPgScenarioHooks, type RawPgScenario, type SpoolRecord } from './pg-raw-scenario.ts';

jest.setTimeout(120_000);

let t: RawPgScenario;

const admin = (sql: string): Promise<string> => t.admin(sql);
const recordOf = (sql: string): SpoolRecord | undefined => t.commandRecord(sql);

rawPgScenarioHooks((started) => { t = started; });

describe('finding 1: a revocation that arrives while the listener reads an abandoned statement\'s answer', () => {
  // connection.ts terminate(): while settling, any terminate() is taken for "an answer the sidecar
  // cannot handle" (settleStopped): reading stops at once and NO CancelRequest is sent, then
  // closeUpstream() sends Terminate, which PostgreSQL reads only after the statement ends. The
  // documented 57P01 behaviour ("cancel at once, as pg_terminate_backend would") holds only when the
  // agent is still connected: an agent that leaves first and is revoked a moment later keeps its
  // write running to commit, and the record says the outcome is unknown.
  it('the agent resets its connection, then is revoked: the waiting UPDATE is canceled (not left to commit), and the record says canceled', async () => {
    const mark = `r12b-revoked-after-leaving-${Date.now()}`;
    const sql = `UPDATE orders SET status = '${mark}' WHERE id = 5`;
    const before = await admin('SELECT status FROM orders WHERE id = 5');
    const c = await t.raw();
    await batch(c, [serialize.query('SELECT 1')], 1);
    // The application holds the row for 8 s: the agent's UPDATE waits on the server.
    const holder = admin('BEGIN; SELECT id FROM orders WHERE id = 5 FOR UPDATE; SELECT pg_sleep(8); COMMIT;');
    await new Promise((r) => setTimeout(r, 500));
    c.send(serialize.query(sql));
    await eventually('the UPDATE waits on the server', async () => ((await admin(`SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%${mark}%' AND pid <> pg_backend_pid()`)) === '1' ? true : undefined), 10_000, 100);
    // The agent leaves (RST): the listener now reads the UPDATE's answer (up to 30 s).
    c.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 500));
    try {
      // ... and is revoked while the UPDATE still waits on the lock.
      await t.scenario.applyPolicy((spec) => { spec.revokedSubjects = [{ kind: 'User', name: 'support-agent', reason: 'r12b revoked after leaving' }]; });
      let released = false;
      void holder.finally(() => { released = true; });
      const rec = await eventually('the statement has a record', () => Promise.resolve(recordOf(sql)), 20_000, 200);
      // Canceled at the revocation, while the application still held the lock (not after it let go).
      expect(released).toBe(false);
      await holder;
      await new Promise((r) => setTimeout(r, 1000));
      const onServer = await admin('SELECT status FROM orders WHERE id = 5');
      // On the reviewed code: onServer is the mark (the revoked agent's write committed after the
      // lock was released), and the record says outcomeUnknown with "the server's outcome was not read".
      expect({ written: onServer === mark, decision: rec.decision, rows: rec.result?.rows, outcomeUnknown: rec.result?.outcomeUnknown }).toEqual({ written: false, decision: 'allow', rows: 0, outcomeUnknown: undefined });
      expect(before).not.toBe(mark);
      expect(rec.result?.error).toMatch(/^canceling statement: the agent left \(.+\), then the Guarita sidecar ended the session \(.+\)$/);
    } finally {
      await t.scenario.applyPolicy((spec) => { spec.revokedSubjects = []; });
      await admin(`UPDATE orders SET status = ${before === '' ? 'NULL' : `'${before.replace(/'/g, "''")}'`} WHERE id = 5`);
    }
  }, 90_000);
});
