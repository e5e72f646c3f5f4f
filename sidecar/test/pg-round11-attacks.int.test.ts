// Round 11 adversarial review of the PostgreSQL statement decisions: what the server does that the
// statement text, as the classifier reads it, does not name. The REAL sidecar process in front of
// the harness PostgreSQL (examples/lgpd-orders seed and policy), psql and node-pg through it.
// Each case FAILS on the code it was found on, for the reason its name gives; the report is
// docs/security-model.md, "Round 11 review: PostgreSQL", the unit cases core/policy/sql-round11-attacks.test.ts.
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
  // No operator: a held statement stays Pending and the sidecar answers once its short wait ends.
  s = await startPgScenario({ approvalWait: '1s', logLevel: 'warn' });
  support = await s.token('support-agent');
}, 180_000);

afterAll(async () => {
  if (s !== undefined) await admin('DROP TABLE IF EXISTS public.agent_docs, public.agent_copy').catch(() => undefined);
  await s?.stop();
}, 60_000);

/** As the database's administrator, straight to PostgreSQL (not through the sidecar). */
async function admin(sql: string): Promise<string> {
  const r = await adminPsql(['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { user: 'guarita_admin', database: s.database });
  if (r.code !== 0) throw new Error(`admin psql: ${r.stderr}`);
  return r.stdout.trim();
}

/** As the sidecar's own database role, straight to PostgreSQL: what a statement does without Guarita. */
async function direct(sql: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand(join(requirePostgres().binDir, 'psql'), ['-X', '-At', '-c', sql], { env: s.directEnv(), timeoutMs: 30_000 });
}

/** A node-pg session through the sidecar: the client, or the error that refused it. */
async function nodePgSession(options = PURPOSE_OPTIONS): Promise<{ client?: pg.Client; error?: Error & { code?: string } }> {
  const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: support, database: s.database, options });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return { client: c };
  } catch (err) {
    await c.end().catch(() => undefined);
    return { error: err as Error & { code?: string } };
  }
}

// PostgreSQL converts SELECT ... INTO into CREATE TABLE AS after drilling down to the leftmost
// leaf of a set operation (analyze.c, transformOptionalSelectInto); the classifier looks for the
// INTO on the top-level node only, which for `... UNION ...` is the set operation: kind `select`.
describe('SELECT ... INTO in the leftmost branch of a UNION creates a table the policy denies', () => {
  it('control: the plain SELECT ... INTO is denied by deny-ddl-and-dcl', async () => {
    const r = await s.psql(support, ['-At', '-c', 'SELECT 1 AS x INTO TEMP agent_tmp0'], { onErrorStop: false });
    expect(r.stderr).toMatch(/denied \(rule deny-ddl-and-dcl\)/);
  });

  it('the server creates the table for the UNION form (checked straight on the server)', async () => {
    const r = await direct('BEGIN; SELECT 1 AS x INTO TEMP t_direct UNION SELECT 2; SELECT count(*) FROM t_direct; ROLLBACK');
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toContain('2');
  });

  it('SELECT 1 AS x INTO TEMP agent_tmp UNION SELECT 2 is denied by deny-ddl-and-dcl, and no table exists after it', async () => {
    const r = await s.psql(support, ['-At', '-c', 'SELECT 1 AS x INTO TEMP agent_tmp UNION SELECT 2', '-c', "SELECT 'rows in agent_tmp: ' || count(*) FROM agent_tmp"], { onErrorStop: false });
    // On the code under review: the statement runs (SELECT 2), the table exists and holds 2 rows.
    expect(r.stdout).not.toMatch(/rows in agent_tmp/);
    expect(r.stderr).toMatch(/denied \(rule deny-ddl-and-dcl\)/);
  });

  it('a permanent table in public with a column named like a personal one is not created, and new sessions still open', async () => {
    try {
      const r = await s.psql(support, ['-At', '-c', 'SELECT NULL::text AS cpf INTO public.agent_docs UNION SELECT NULL'], { onErrorStop: false });
      const tableExists = await admin("SELECT to_regclass('public.agent_docs') IS NOT NULL");
      // Every new session, of every agent of the policy, is then refused by the catalog check
      // ("catalog contradicts spec.sensitiveColumns") until an administrator drops the table.
      const next = await nodePgSession();
      await next.client?.end();
      // On the code under review: allowed (recorded as a `select`), the table exists, and the next session is refused (42501).
      expect({ stderr: r.stderr, tableExists, nextSession: next.error?.message ?? 'opened' })
        .toEqual({ stderr: expect.stringMatching(/denied \(rule deny-ddl-and-dcl\)/), tableExists: 'f', nextSession: 'opened' });
    } finally {
      await admin('DROP TABLE IF EXISTS public.agent_docs');
    }
  });

  it('a copy of orders under another name is not created in public', async () => {
    const r = await s.psql(support, ['-At', '-c', 'SELECT * INTO public.agent_copy FROM orders UNION ALL SELECT * FROM orders WHERE false'], { onErrorStop: false });
    // (Counted only when the table exists: a query naming a missing table fails before its CASE is read.)
    const exists = await admin("SELECT to_regclass('public.agent_copy') IS NOT NULL");
    const copied = exists === 't' ? await admin('SELECT count(*)::text FROM public.agent_copy') : 'none';
    expect({ stderr: r.stderr, copied }).toEqual({ stderr: expect.stringMatching(/denied \(rule deny-ddl-and-dcl\)/), copied: 'none' });
  });

  it('chained: a TEMP table created that way shadows the declared orders, and NATURAL JOIN compares cpf with guesses unseen by the guard', async () => {
    // Control: the lookup by a guessed CPF is held for the DPO (sensitiveColumns: requireApproval; no approver here).
    const held = await s.psql(support, ['-At', '-c', "SELECT id, nome FROM customers WHERE cpf = '590.830.166-33'"], { onErrorStop: false });
    expect(held.stderr).toMatch(/exports-need-dpo/);
    // The guard resolves the unqualified `orders` as the declared public.orders (no personal column; its only
    // column in common with customers is id). The session's temporary table comes first in name resolution.
    const r = await s.psql(support, ['-At', '-F', '|',
      '-c', "SELECT '590.830.166-33'::text AS cpf INTO TEMP orders UNION SELECT '111.111.111-11'",
      '-c', 'SELECT c.id, c.nome FROM customers c NATURAL JOIN orders'], { onErrorStop: false });
    // On the code under review: both are allowed, and the answer says which guess is a customer's CPF
    // (customer 1 alone). Fixed: the first is denied, and the join is the declared public.orders' (on id).
    expect(r.stderr).toMatch(/denied \(rule deny-ddl-and-dcl\)/);
    const declared = await direct('SELECT c.id, c.nome FROM customers c NATURAL JOIN public.orders');
    expect(declared.stderr).toBe('');
    expect(r.stdout.trim()).toBe(declared.stdout.trim());
  });
});

// docs/security-model.md ("SQL policy: what the first fixes let through") closes `md5(query)` over
// pg_stat_activity: every agent behind the sidecar is one database role, and an approved lookup's
// literal CPF stays visible in its session's statement text while it runs. The guard knows the VIEW
// (STATEMENT_TEXT_VIEWS: pg_stat_activity.query); the functions the view is made of return the same
// texts from the select list, where the guard sees only an unknown function's result.
describe("other sessions' statement texts through pg_stat_get_backend_activity / pg_stat_get_activity", () => {
  const DIGITS_TO_LETTERS = "'0123456789', 'abcdefghij'";
  /** customer 1's CPF 590.830.166-33, digits turned to letters: no detector recognizes it. */
  const LETTERED = 'fja.ida.bgg-dd';

  /** Another session of the sidecar's role (another agent's approved lookup, or the application) running a lookup by a CPF for a few seconds. */
  async function otherSessionLookup(): Promise<{ done: Promise<unknown>; client: pg.Client }> {
    const pgs = requirePostgres();
    const client = new pg.Client({ host: pgs.host, port: pgs.port, user: 'orders_app', password: pgs.passwords.orders_app, database: s.database });
    await client.connect();
    const done = client.query("SELECT nome, pg_sleep(6) FROM customers WHERE cpf = '590.830.166-33'");
    await new Promise((r) => setTimeout(r, 700));
    return { done, client };
  }

  it('control: the same transform over the pg_stat_activity view is held for the DPO', async () => {
    const r = await s.psql(support, ['-At', '-c', `SELECT translate(query, ${DIGITS_TO_LETTERS}) FROM pg_stat_activity`], { onErrorStop: false });
    expect(r.stderr).toMatch(/exports-need-dpo/);
  });

  it.each([
    ['pg_stat_get_backend_activity over backend ids', `SELECT translate(pg_stat_get_backend_activity(b), ${DIGITS_TO_LETTERS}) FROM generate_series(1, 200) b`],
    ['pg_stat_get_backend_activity(pg_stat_get_backend_idset())', `SELECT translate(pg_stat_get_backend_activity(pg_stat_get_backend_idset()), ${DIGITS_TO_LETTERS})`],
    ['(pg_stat_get_activity(NULL)).query', `SELECT translate((pg_stat_get_activity(NULL)).query, ${DIGITS_TO_LETTERS})`],
  ])('%s does not return the CPF another session is looking up', async (_name, sql) => {
    const other = await otherSessionLookup();
    try {
      const r = await s.psql(support, ['-At', '-c', sql], { onErrorStop: false });
      // On the code under review: allowed, and the other session's literal CPF comes back with its digits as letters.
      expect(r.stdout).not.toContain(LETTERED);
      expect(r.stderr).toMatch(/exports-need-dpo/);
    } finally {
      await other.done.catch(() => undefined);
      await other.client.end();
    }
  });
});

// The class of finding 1 beyond the set operation: INTO in every other position the grammar
// accepts is refused by the server itself (the classifier still names it writesData), and the
// wrappers that run it (EXPLAIN ANALYZE, PREPARE) are kind ddl (core/policy/sql-round11-fixes.test.ts).
describe('SELECT ... INTO anywhere else: the server refuses it, the wrappers that run it are denied', () => {
  it.each([
    ['WITH x AS (SELECT 1 INTO t1) SELECT * FROM x', /SELECT \.\.\. INTO is not allowed here/],
    ['SELECT * FROM (SELECT 1 INTO t2) s', /SELECT \.\.\. INTO is not allowed here/],
    ['DECLARE c CURSOR FOR SELECT 1 INTO t4 UNION SELECT 2', /SELECT \.\.\. INTO is not allowed here/],
    ['COPY (SELECT 1 INTO t6 UNION SELECT 2) TO STDOUT', /COPY \(SELECT INTO\) is not supported/],
    ['CREATE VIEW v AS SELECT 1 INTO t7 UNION SELECT 2', /views must not contain SELECT INTO/],
    ['SELECT 1 UNION SELECT 2 INTO t8', /INTO is only allowed on first SELECT/],
    ['SELECT 1 UNION (SELECT 2 INTO t9)', /INTO is only allowed on first SELECT/],
  ])('straight on the server, %s is refused', async (sql, error) => {
    const r = await direct(`BEGIN; ${sql}; ROLLBACK`);
    expect(r.stderr).toMatch(error);
  });

  it.each([
    ['EXPLAIN ANALYZE SELECT 1 AS x INTO TEMP agent_tmp2 UNION SELECT 2'],
    ['PREPARE agent_p AS SELECT 1 AS x INTO TEMP agent_tmp3 UNION SELECT 2'],
  ])('through the sidecar, %s (which creates the table on the server) is denied by deny-ddl-and-dcl', async (sql) => {
    const r = await s.psql(support, ['-At', '-c', sql], { onErrorStop: false });
    expect(r.stderr).toMatch(/denied \(rule deny-ddl-and-dcl\)/);
  });
});

// Defence in depth for finding 1's chain: whatever creates a temporary table, it must not shadow
// the relations the policy names. Unnamed in search_path, pg_temp is searched first; the sidecar
// puts pg_temp last: in the client's startup search_path (startup.ts), or in the session's default
// read and set again before the client gets the session (temp-schema-last.ts).
describe('search_path upstream puts pg_temp last', () => {
  it('a session through the sidecar has pg_temp last in its search_path', async () => {
    const r = await s.psql(support, ['-At', '-c', 'SHOW search_path'], { onErrorStop: false });
    expect(r.stdout.trim()).toBe('"$user", public, pg_temp');
  });

  it('a database default search_path (ALTER DATABASE ... SET) still applies through the sidecar, with pg_temp last', async () => {
    await admin(`ALTER DATABASE ${s.database} SET search_path = "$user", public, pg_catalog`);
    try {
      const r = await s.psql(support, ['-At', '-c', 'SHOW search_path'], { onErrorStop: false });
      expect(r.stdout.trim()).toBe('"$user", public, pg_catalog, pg_temp');
      // A default that names pg_temp first is moved last too.
      await admin(`ALTER DATABASE ${s.database} SET search_path = pg_temp, public`);
      const moved = await s.psql(support, ['-At', '-c', 'SHOW search_path'], { onErrorStop: false });
      expect(moved.stdout.trim()).toBe('public, pg_temp');
    } finally {
      await admin(`ALTER DATABASE ${s.database} RESET search_path`);
    }
  });

  it('straight on the server: with that search_path a temporary orders does not shadow public.orders; without it, it does', async () => {
    const resolve = "SELECT c.relnamespace::regnamespace FROM pg_class c WHERE c.oid = 'orders'::regclass";
    const r = await direct(`BEGIN; CREATE TEMP TABLE orders (cpf text); SET LOCAL search_path = "$user", public, pg_temp; ${resolve}; SET LOCAL search_path = "$user", public; ${resolve}; ROLLBACK`);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter((l) => /^(public|pg_temp_\d+)$/.test(l))).toEqual(['public', expect.stringMatching(/^pg_temp_\d+$/)]);
  });

  it.each([
    ['-c search_path=pg_temp,public'],
    ['-c search_path=pg_temp_1,public'],
  ])('a client asking for %s at startup is refused by deny-setting-changes (judged as its SET)', async (option) => {
    const next = await nodePgSession(`${PURPOSE_OPTIONS} ${option}`);
    await next.client?.end();
    expect(next.error?.code).toBe('42501');
    expect(next.error?.message).toMatch(/deny-setting-changes/);
  });

  it('SET search_path = pg_temp, public through the sidecar is denied by deny-setting-changes', async () => {
    const r = await s.psql(support, ['-At', '-c', 'SET search_path = pg_temp, public', '-c', 'SHOW search_path'], { onErrorStop: false });
    expect(r.stderr).toMatch(/denied \(rule deny-setting-changes\)/);
    expect(r.stdout.trim()).toBe('"$user", public, pg_temp');
  });
});

// The guard's list of functions and views that return other sessions' statement texts
// (core/policy/sql-columns.ts STATEMENT_TEXT_FUNCTIONS / STATEMENT_TEXT_VIEWS) is read from this
// server's catalog: a PostgreSQL upgrade that adds one fails here until the list is reviewed.
describe("the catalog's sources of other sessions' statement text are the ones the guard knows", () => {
  it('functions with a query output column, text functions over backend ids, and pg_catalog views with a query column', async () => {
    const r = await direct([
      "SELECT 'out:' || string_agg(DISTINCT proname, ',' ORDER BY proname) FROM pg_proc p, unnest(p.proargnames, p.proargmodes) AS a(n, m) WHERE n = 'query' AND m IN ('o', 't', 'b');",
      "SELECT 'backend:' || string_agg(proname, ',' ORDER BY proname) FROM pg_proc WHERE proname LIKE 'pg_stat_get_backend%' AND prorettype = 'text'::regtype;",
      "SELECT 'views:' || string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog' AND c.relkind = 'v' AND a.attname = 'query';",
    ].join(' '));
    expect(r.stderr).toBe('');
    // pg_stat_statements is the extension's (not installed here; the guard knows it): left out if present.
    const lines = r.stdout.trim().split('\n').map((l) => l.split(',').filter((n) => n !== 'pg_stat_statements').join(','));
    expect(lines).toEqual([
      'out:pg_stat_get_activity',
      // pg_stat_get_backend_wait_event(_type) return wait event names, not statement text.
      'backend:pg_stat_get_backend_activity,pg_stat_get_backend_wait_event,pg_stat_get_backend_wait_event_type',
      'views:pg_stat_activity',
    ]);
  });
});
