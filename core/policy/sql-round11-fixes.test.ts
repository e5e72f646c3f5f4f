// The classes behind the round 11 findings (sql-round11-attacks.test.ts holds the reviewer's
// cases): every spelling and position of (1) a statement that creates a table through a nested
// SELECT ... INTO, (2) other sessions' statement texts through the functions under
// pg_stat_activity, (3) a read hidden in a FROM-item form; and the search_path changes that would
// put pg_temp back in front (the sidecar sends it last at startup: sidecar/src/postgres/startup.ts).
import { beforeAll, describe, expect, it } from '@jest/globals';
import { classifySql, initPolicyEngine, SqlParseError, type CompiledPolicy } from './index.ts';
import { decideSql, EXAMPLE_AGENT, examplePolicy, one } from './lgpd-example.testkit.ts';

let example: CompiledPolicy;

beforeAll(async () => {
  await initPolicyEngine();
  example = examplePolicy();
});

const decide = (sql: string): { decision: string; rule?: string } => decideSql(example, sql);

describe('a nested SELECT ... INTO is kind ddl wherever PostgreSQL honours it (round 11, class of finding 1)', () => {
  it.each([
    // The leftmost leaf of a set operation, however it is written.
    'SELECT 1 AS x INTO UNLOGGED leak UNION SELECT 2',
    'SELECT 1 AS x INTO TEMPORARY TABLE leak INTERSECT ALL SELECT 1',
    'select 1 as x into "Leak" union select 2',
    '((SELECT 1 AS x INTO leak) UNION SELECT 2) EXCEPT SELECT 3',
    'SELECT 1 AS x INTO leak UNION (SELECT 2 UNION SELECT 3)',
    'SELECT 1 AS x INTO leak UNION SELECT 2 ORDER BY 1 LIMIT 1',
    '(WITH a AS (SELECT 1 AS y) SELECT y AS x INTO leak FROM a) UNION SELECT 2',
    'SELECT * INTO leak FROM (VALUES (1)) v UNION VALUES (2)',
    'SELECT * INTO leak FROM orders UNION ALL TABLE orders',
    `SELECT 1 AS x INTO leak ${Array.from({ length: 200 }, (_, i) => `UNION SELECT ${i}`).join(' ')}`,
    // Wrappers that run it: EXPLAIN ANALYZE runs its target; PREPARE's body is what EXECUTE runs.
    'EXPLAIN ANALYZE SELECT 1 AS x INTO leak UNION SELECT 2',
    'EXPLAIN (ANALYZE) SELECT 1 INTO leak',
    "EXPLAIN (ANALYZE 'on', BUFFERS) SELECT 1 AS x INTO leak EXCEPT SELECT 2",
    'EXPLAIN (ANALYZE true) CREATE TABLE leak AS SELECT 1',
    'EXPLAIN ANALYZE CREATE MATERIALIZED VIEW leak AS SELECT 1',
    'PREPARE p AS SELECT 1 AS x INTO leak UNION SELECT 2',
    'PREPARE p AS SELECT 1 INTO leak',
  ])('%s is ddl, denied by deny-ddl-and-dcl', (sql) => {
    expect(one(sql).kind).toBe('ddl');
    expect(decide(sql)).toEqual({ decision: 'deny', rule: 'deny-ddl-and-dcl' });
  });

  it.each([
    ['SELECT 1 UNION SELECT 2', 'select'],
    ['(SELECT 1) UNION SELECT 2', 'select'],
    // Plain EXPLAIN plans without running: no table is created.
    ['EXPLAIN SELECT 1 AS x INTO leak UNION SELECT 2', 'explain'],
    ['EXPLAIN (ANALYZE off) SELECT 1 INTO leak', 'explain'],
    ['EXPLAIN (ANALYZE 0) CREATE TABLE leak AS SELECT 1', 'explain'],
    ['EXPLAIN ANALYZE SELECT 1 UNION SELECT 2', 'explain'],
    ['PREPARE p AS SELECT 1 UNION SELECT 2', 'prepare'],
    ['PREPARE p AS INSERT INTO orders SELECT * FROM orders WHERE id = 1', 'prepare'],
  ])('control: %s stays %s', (sql, kind) => {
    expect(one(sql).kind).toBe(kind);
  });

  // PostgreSQL 15 refuses INTO in these positions (sidecar/test/pg-round11-attacks.int.test.ts runs
  // them on the server): whatever the kind, the statement never creates a table. They still carry
  // writesData, so a policy naming writes sees them.
  it.each([
    'WITH x AS (SELECT 1 INTO leak) SELECT * FROM x',
    'SELECT * FROM (SELECT 1 INTO leak) s',
    'SELECT (SELECT 1 INTO leak)',
    'DECLARE c CURSOR FOR SELECT 1 INTO leak UNION SELECT 2',
    'SELECT 1 UNION SELECT 2 INTO leak',
    'SELECT 1 UNION (SELECT 2 INTO leak)',
  ])('%s (refused by the server) carries writesData', (sql) => {
    expect(one(sql).traits).toContain('writesData');
  });
});

describe("other sessions' statement texts through functions, in every spelling and position (round 11, class of finding 2)", () => {
  const HELD = { decision: 'requireApproval', rule: 'exports-need-dpo' };
  it.each([
    // Spellings of the call.
    'SELECT md5(pg_stat_get_backend_activity(1))',
    'SELECT md5(PG_CATALOG.PG_STAT_GET_BACKEND_ACTIVITY(1))',
    'SELECT md5("pg_stat_get_backend_activity"(1))',
    'SELECT md5(U&"pg\\005Fstat\\005Fget\\005Fbackend\\005Factivity"(1))',
    'SELECT md5(anyschema.pg_stat_get_backend_activity(1))',
    // Attribute notation calls a one-argument function.
    'SELECT md5((1).pg_stat_get_backend_activity)',
    'SELECT md5(b.pg_stat_get_backend_activity) FROM generate_series(1, 200) b',
    'SELECT ((NULL::int).pg_stat_get_activity).query',
    // Positions: comparisons, ordering, aggregates, filters, operators, CASE, casts.
    "SELECT 1 WHERE pg_stat_get_backend_activity(1) LIKE '%590%'",
    'SELECT b FROM generate_series(1, 200) b ORDER BY pg_stat_get_backend_activity(b)',
    "SELECT count(*) FILTER (WHERE pg_stat_get_backend_activity(b) ~ '5') FROM generate_series(1, 200) b",
    "SELECT string_agg(pg_stat_get_backend_activity(b), '') FROM generate_series(1, 200) b",
    "SELECT pg_stat_get_backend_activity(1) || ''",
    'SELECT pg_stat_get_backend_activity(1)::bytea',
    "SELECT CASE WHEN (pg_stat_get_activity(NULL)).query LIKE '%5%' THEN 1 END",
    'SELECT pg_stat_get_backend_activity(b) FROM generate_series(1, 200) b GROUP BY 1',
    'SELECT DISTINCT pg_stat_get_backend_activity(b) FROM generate_series(1, 200) b',
    // The whole record, its expansion, and the function in FROM.
    'SELECT pg_stat_get_activity(NULL)',
    'SELECT (pg_stat_get_activity(NULL)).*',
    'SELECT to_jsonb(pg_stat_get_activity(NULL))',
    'SELECT md5(query) FROM pg_stat_get_activity(NULL)',
    'SELECT query FROM pg_catalog.pg_stat_get_activity(NULL)',
    // Through a subquery, a CTE, ARRAY().
    "SELECT x FROM (SELECT pg_stat_get_backend_activity(b) AS x FROM generate_series(1, 200) b) s WHERE x LIKE '%1%'",
    'WITH t AS (SELECT (pg_stat_get_activity(NULL)).query AS x) SELECT md5(x) FROM t',
    'SELECT ARRAY(SELECT pg_stat_get_backend_activity(b) FROM generate_series(1, 200) b)',
    // The extension pg_stat_statements (its view in any schema, and its function).
    'SELECT md5(query) FROM pg_stat_statements',
    'SELECT md5(query) FROM public.pg_stat_statements',
    'SELECT md5((pg_stat_statements(true)).query)',
  ])('%s is held like the same use of pg_stat_activity.query', (sql) => {
    expect(decide("SELECT md5(query) FROM pg_stat_activity")).toEqual(HELD); // control: the view
    expect(decide(sql)).toEqual(HELD);
  });

  it('stored in another table, it is a use too', () => {
    const sql = 'INSERT INTO orders (status) SELECT pg_stat_get_backend_activity(b) FROM generate_series(1, 200) b';
    const d = example.evaluate({ identity: EXAMPLE_AGENT, purpose: 'customer-support', command: { protocol: 'postgres', sql } });
    expect(d).toMatchObject(HELD);
    expect((d.sensitiveColumns ?? []).map((u) => [u.column, u.use])).toEqual([[expect.stringMatching(/^pg_stat_get_backend_activity\(\) result \(statement text of other sessions/), 'stored into another table']]);
  });

  it.each([
    // Returned as is, like SELECT query FROM pg_stat_activity: masked by value.
    'SELECT query FROM pg_stat_activity',
    'SELECT pg_stat_get_backend_activity(b) FROM generate_series(1, 200) b',
    'SELECT (pg_stat_get_activity(NULL)).query',
    'SELECT b.pg_stat_get_backend_activity FROM generate_series(1, 200) b',
    'SELECT x FROM (SELECT pg_stat_get_backend_activity(b) AS x FROM generate_series(1, 200) b) s',
    // Functions that return no statement text, or the session's own.
    'SELECT md5(pg_stat_get_backend_wait_event(b)) FROM generate_series(1, 200) b',
    'SELECT pg_stat_get_backend_pid(b) FROM generate_series(1, 200) b ORDER BY 1',
    'SELECT md5(current_query())',
  ])('control: %s is allowed', (sql) => {
    expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest' });
  });
});

describe('every FROM-item form that reads a table is trait readsData (round 11, class of finding 3)', () => {
  it.each([
    'SELECT * FROM ONLY customers',
    'SELECT * FROM customers*',
    'SELECT * FROM customers TABLESAMPLE SYSTEM (1)',
    'SELECT * FROM ONLY customers TABLESAMPLE SYSTEM (1)',
    'SELECT * FROM public.customers AS c (a, b) TABLESAMPLE BERNOULLI (50) REPEATABLE (7)',
    'SELECT 1 FROM orders o TABLESAMPLE SYSTEM (1) JOIN customers c TABLESAMPLE SYSTEM (1) ON true',
    'SELECT 1 FROM (customers c TABLESAMPLE SYSTEM (1) CROSS JOIN orders)',
    'SELECT * FROM generate_series(1, 2) g, LATERAL (SELECT * FROM customers TABLESAMPLE SYSTEM (1) WHERE id = g) c',
    'SELECT * FROM ROWS FROM (generate_series(1, 2)) g CROSS JOIN customers TABLESAMPLE SYSTEM (1)',
    "SELECT * FROM XMLTABLE('/a' PASSING (SELECT notes::xml FROM customers TABLESAMPLE SYSTEM (1) LIMIT 1) COLUMNS a text)",
    "SELECT * FROM JSON_TABLE((SELECT to_jsonb(c) FROM customers c LIMIT 1), '$' COLUMNS (a text PATH '$.nome')) j",
    'WITH x AS (SELECT * FROM customers TABLESAMPLE SYSTEM (1)) SELECT * FROM x',
    'SELECT (SELECT count(*) FROM customers TABLESAMPLE SYSTEM (1))',
    'SELECT 1 WHERE EXISTS (SELECT 1 FROM customers TABLESAMPLE SYSTEM (1))',
    'INSERT INTO orders SELECT * FROM orders TABLESAMPLE SYSTEM (1)',
    'UPDATE orders SET status = c.nome FROM customers c TABLESAMPLE SYSTEM (1) WHERE orders.id = 1',
    'DELETE FROM orders USING customers c TABLESAMPLE SYSTEM (1) WHERE orders.customer_id = c.id',
    'MERGE INTO orders o USING customers c TABLESAMPLE SYSTEM (1) ON o.customer_id = c.id WHEN MATCHED THEN DO NOTHING',
    'COPY (SELECT * FROM customers TABLESAMPLE SYSTEM (1)) TO STDOUT',
    'EXPLAIN ANALYZE SELECT * FROM customers TABLESAMPLE SYSTEM (1)',
    'CREATE TABLE x AS SELECT * FROM customers TABLESAMPLE SYSTEM (1)',
  ])('%s reads customers or orders', (sql) => {
    const s = one(sql);
    expect(s.traits).toContain('readsData');
    expect(s.tables.some((t) => /customers|orders/.test(t))).toBe(true);
  });

  it.each([
    // Plain EXPLAIN and CREATE VIEW do not run their query (as for a plain FROM customers).
    'EXPLAIN SELECT * FROM customers TABLESAMPLE SYSTEM (1)',
    'CREATE VIEW v AS SELECT * FROM customers TABLESAMPLE SYSTEM (1)',
    // No relation: functions in FROM read what their bodies read, which the classifier cannot see.
    'SELECT * FROM generate_series(1, 3)',
  ])('control: %s has no readsData', (sql) => {
    expect(one(sql).traits).not.toContain('readsData');
  });

  it('TABLESAMPLE names the same tables and functions as before, large objects included', () => {
    expect(one('SELECT * FROM pg_largeobject TABLESAMPLE SYSTEM (100)').traits).toEqual(['largeObject', 'readsData']);
    expect(one("SELECT * FROM customers TABLESAMPLE SYSTEM (pg_read_file('x')::float)")).toMatchObject({ traits: ['serverFile', 'readsData'], tables: ['customers'], functions: ['pg_read_file'] });
  });
});

describe('search_path changes that would put pg_temp back in front are securitySetting (round 11)', () => {
  it.each([
    'SET search_path = pg_temp, public',
    'SET search_path TO "pg_temp", "$user", public',
    'SET LOCAL search_path = pg_temp_3, public',
    'SET SESSION search_path TO public',
    "SET SCHEMA 'pg_temp'",
    'SET search_path TO DEFAULT',
    'RESET search_path',
    'SET search_path FROM CURRENT',
    "SELECT set_config('search_path', 'pg_temp, public', false)",
    "SELECT set_config('SEARCH_PATH', 'public', true)",
    "UPDATE pg_settings SET setting = 'pg_temp,public' WHERE name = 'search_path'",
    "BEGIN; SET LOCAL search_path = pg_temp; COMMIT",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = pg_temp, public AS 'SELECT 1'",
    'ALTER ROLE orders_app SET search_path = pg_temp, public',
  ])('%s is securitySetting, denied by deny-setting-changes or an earlier rule', (sql) => {
    const all = classifySql(sql);
    expect(all.some((s) => s.traits.includes('securitySetting'))).toBe(true);
    expect(decide(sql).decision).toBe('deny');
  });

  it('a computed setting name is refused whatever the policy says (it could be search_path)', () => {
    expect(() => classifySql("SELECT set_config(lower('SEARCH_PATH'), 'pg_temp', false)")).toThrow(SqlParseError);
  });
});
