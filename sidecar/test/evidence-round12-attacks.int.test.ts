// Round 12 adversarial review: is the evidence complete and does it say what the target ran?
// The REAL sidecar in front of the harness PostgreSQL (pg-raw-scenario: the example policy, raw
// protocol agents, the sidecar's own spool read back), and the in-process HTTP listener in front of a
// recording upstream. Each case FAILS on the code reviewed for the reason its name gives, except
// those named "held:", which the review tried and found closed, and those named "fixed:", added with
// the fix of finding 1 (the statement's answers are read after the agent left; docs/postgres.md,
// "Sessions, revocation, cancel"). Report: /work/tmp/evidence12-review.md.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect } from 'node:net';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { startInProcessHttpSidecar, startRecordingUpstream, type RecordingUpstream } from './support.ts';
import { serialize } from 'pg-protocol';
import { eventually } from '../../e2e/support/wait.ts';
import { namespaceSpoolRecords } from './spool-read.ts';
import { batch, rawPgScenarioHooks, type RawPgScenario, type SpoolRecord } from './pg-raw-scenario.ts';

jest.setTimeout(120_000);

let t: RawPgScenario;

/** As the database's administrator, straight to PostgreSQL (not through the sidecar). */
const admin = (sql: string): Promise<string> => t.admin(sql);
const recordOf = (sql: string): SpoolRecord | undefined => t.commandRecord(sql);

describe('PostgreSQL: the agent leaves while its statement runs', () => {
  rawPgScenarioHooks((started) => { t = started; });

  it('an UPDATE the server committed after the agent reset its connection is recorded as it ran (1 row, no error), not as failed with 0 rows', async () => {
    const mark = `r12-${Date.now()}`;
    const sql = `UPDATE orders SET status = '${mark}' WHERE id = 3`;
    // Control: the agent's connection works and the statement form is allowed.
    const c = await t.raw();
    await batch(c, [serialize.query('SELECT 1')], 1);
    // The application holds the row for 2.5 s (an ordinary lock wait): the agent's UPDATE is
    // forwarded and waits on the server.
    const holder = admin('BEGIN; SELECT id FROM orders WHERE id = 3 FOR UPDATE; SELECT pg_sleep(2.5); COMMIT;');
    await new Promise((r) => setTimeout(r, 500));
    c.send(serialize.query(sql));
    await new Promise((r) => setTimeout(r, 500));
    // The agent goes away (RST) while its UPDATE waits upstream.
    c.socket.resetAndDestroy();
    await holder;
    // The statement has its record once the sidecar closed the session.
    const rec = await eventually('the statement has a record', () => Promise.resolve(recordOf(sql)), 15_000, 200);
    // The server ran it to the end: the write is there (pg_sleep(1.5) has long finished).
    await new Promise((r) => setTimeout(r, 2500));
    const onServer = await admin('SELECT status FROM orders WHERE id = 3');
    // What the evidence says about what ran: on the reviewed code, `error: "client disconnected"`
    // and `rows: 0`, for an UPDATE that committed one row.
    expect({ onServer, decision: rec.decision, rows: rec.result?.rows, error: rec.result?.error, outcomeUnknown: rec.result?.outcomeUnknown }).toEqual({ onServer: mark, decision: 'allow', rows: 1, error: undefined, outcomeUnknown: undefined });
  });

  it('held: an UPDATE the server rolled back with its implicit transaction (a later statement of the same Query failed) is not recorded as a write that took effect', async () => {
    const before = await admin('SELECT status FROM orders WHERE id = 4');
    const mark = `r12-implicit-${Date.now()}`;
    const update = `UPDATE orders SET status = '${mark}' WHERE id = 4`;
    const c = await t.raw();
    // One simple Query, two statements: PostgreSQL runs them in one implicit transaction, and the
    // division by zero rolls the UPDATE back.
    await batch(c, [serialize.query(`${update}; SELECT 1/0`)], 1);
    expect(c.trace()).toEqual(['commandComplete', 'E:22012', 'Z:I']);
    expect(await admin('SELECT status FROM orders WHERE id = 4')).toBe(before);
    const recs = t.spoolRecords().filter((r) => (r.command ?? '').includes(mark));
    // Held (passes on the reviewed code): the Query is one record, which carries the error.
    expect(recs.map((r) => ({ command: r.command, rows: r.result?.rows, error: r.result?.error !== undefined }))).not.toContainEqual(expect.objectContaining({ rows: 1, error: false }));
  });
  it('fixed: a statement still running when the bound after the agent left runs out is canceled, and the record says so (the server\'s answer, read after the agent left)', async () => {
    const mark = `r12-long-${Date.now()}`;
    const sql = `SELECT pg_sleep(60), '${mark}' AS mark`;
    const c = await t.raw();
    c.send(serialize.query(sql));
    await eventually('the statement runs on the server', async () => ((await admin(`SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%${mark}%' AND pid <> pg_backend_pid()`)) === '1' ? true : undefined), 10_000, 100);
    c.socket.resetAndDestroy();
    // Nothing is recorded while the server still runs it (the sidecar reads on, up to 30 s without a statementTimeout).
    await new Promise((r) => setTimeout(r, 3000));
    expect(recordOf(sql)).toBeUndefined();
    const rec = await eventually('the statement has a record', () => Promise.resolve(recordOf(sql)), 45_000, 500);
    expect({ decision: rec.decision, rows: rec.result?.rows, error: rec.result?.error, outcomeUnknown: rec.result?.outcomeUnknown }).toEqual({
      decision: 'allow', rows: 0, outcomeUnknown: undefined,
      error: 'canceling statement: the agent left (client disconnected) and the statement still ran 30000 ms later; the Guarita sidecar canceled it',
    });
    // The server no longer runs it.
    expect(await admin(`SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%${mark}%' AND pid <> pg_backend_pid()`)).toBe('0');
  }, 90_000);

  it('fixed: a revocation while the statement waits on the server cancels it (as pg_terminate_backend would), and the record says canceled and why, as the server answered', async () => {
    const mark = `r12-revoked-${Date.now()}`;
    const sql = `UPDATE orders SET status = '${mark}' WHERE id = 3`;
    const before = await admin('SELECT status FROM orders WHERE id = 3');
    const c = await t.raw();
    await batch(c, [serialize.query('SELECT 1')], 1);
    // The application holds the row long enough for the revocation to arrive first.
    const holder = admin('BEGIN; SELECT id FROM orders WHERE id = 3 FOR UPDATE; SELECT pg_sleep(10); COMMIT;');
    await new Promise((r) => setTimeout(r, 500));
    c.send(serialize.query(sql));
    await new Promise((r) => setTimeout(r, 500));
    try {
      await t.scenario.applyPolicy((spec) => { spec.revokedSubjects = [{ kind: 'User', name: 'support-agent', reason: 'r12 revoked mid-statement' }]; });
      await c.until(() => c.closed, 30_000);
      const rec = await eventually('the statement has a record', () => Promise.resolve(recordOf(sql)), 15_000, 200);
      await holder;
      // Canceled: the server never wrote it.
      expect(await admin('SELECT status FROM orders WHERE id = 3')).toBe(before);
      expect({ decision: rec.decision, rows: rec.result?.rows, outcomeUnknown: rec.result?.outcomeUnknown }).toEqual({ decision: 'allow', rows: 0, outcomeUnknown: undefined });
      expect(rec.result?.error).toMatch(/^canceling statement: the Guarita sidecar ended the session \(.*r12 revoked mid-statement.*\)$/);
    } finally {
      await t.scenario.applyPolicy((spec) => { spec.revokedSubjects = []; });
    }
  }, 90_000);
});

/** Every record line in the spools of the sidecars of `namespace` (in this process or not). */
const spoolLines = (namespace: string): Array<Record<string, unknown>> => namespaceSpoolRecords(namespace);

describe('HTTP: the agent leaves after its request reached the upstream', () => {
  const ns = `ev12-http-${suffix()}`;
  let upstream: RecordingUpstream;
  let sidecar: RunningSidecar;
  let port = 0;
  let token = '';

  beforeAll(async () => {
    await installCrds();
    // The upstream takes 800 ms to process a refund, then answers 201 Created.
    upstream = await startRecordingUpstream((req, res) => {
      if (!(req.url ?? '').startsWith('/refunds')) return false;
      setTimeout(() => { res.writeHead(201, { 'content-type': 'application/json' }).end('{"refund":"done"}'); }, 800);
      return true;
    });
    ({ sidecar, listenPort: port } = await startInProcessHttpSidecar(ns, 'refunds', {
      upstreamUrl: `http://127.0.0.1:${upstream.port}`, issuer: requireIdp().issuer,
      rules: [{ name: 'all', match: { http: { methods: ['GET', 'POST'], paths: ['/**'] } }, action: 'allow' }],
    }));
    token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  }, 120_000);

  afterAll(async () => {
    await sidecar?.shutdown('test over');
    await upstream?.close();
  });

  it('a POST the upstream received whole and answered 201 is recorded with the upstream\'s answer, not as a 502 nobody sent', async () => {
    const body = JSON.stringify({ order: 7, cents: 4990 });
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write([`POST /refunds/${ns} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, 'X-Guarita-Purpose: customer-support',
      'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));
    // The request reached the upstream whole: the refund is being made.
    const deadline = Date.now() + 10_000;
    while (!upstream.received.some((r) => r.url === `/refunds/${ns}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(upstream.received.filter((r) => r.url === `/refunds/${ns}`).map((r) => r.method)).toEqual(['POST']);
    // The agent goes away before the answer (a client timeout, Ctrl-C).
    socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 1500));
    const rec = spoolLines(ns).find((r) => r.type === 'command' && typeof r.command === 'string' && r.command.includes(`/refunds/${ns}`)) as { decision?: string; result?: { status?: number; error?: string } } | undefined;
    // The upstream ran it and answered 201; on the reviewed code the record says
    // `{status: 502, error: "the client closed the connection"}`: a status no one sent, and a
    // failure for a refund that was made.
    expect({ decision: rec?.decision, status: rec?.result?.status, error: rec?.result?.error }).toEqual({ decision: 'allow', status: 201, error: undefined });
  });
});
