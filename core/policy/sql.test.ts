import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { LGPD_ORDERS_CORPUS } from './corpus/lgpd-orders.sql-corpus.ts';
import { classifySql, initPolicyEngine, SqlParseError, type StatementInfo } from './index.ts';
import { numericShape } from './sql-shape.ts';
import { MAX_SQL_TEXT, resetSqlCaches, sqlCacheStats } from './sql.ts';
import { KIND_BY_NODE } from './sql-catalog.ts';

beforeAll(async () => {
  await initPolicyEngine();
});

function one(sql: string): StatementInfo {
  const all = classifySql(sql);
  expect(all).toHaveLength(1);
  return all[0] as StatementInfo;
}

function parseError(sql: string): SqlParseError {
  try {
    classifySql(sql);
  } catch (err) {
    if (err instanceof SqlParseError) return err;
    throw err;
  }
  throw new Error(`expected a SqlParseError for ${sql}`);
}

describe('statement kinds', () => {
  it.each([
    ['SELECT 1', 'select'],
    ['VALUES (1)', 'select'],
    ['TABLE orders', 'select'],
    ['DECLARE c CURSOR FOR SELECT 1', 'select'],
    ['FETCH 5 FROM c', 'select'],
    ['MOVE 5 IN c', 'utility'],
    ['INSERT INTO t VALUES (1)', 'insert'],
    ['UPDATE t SET a = 1 WHERE id = 1', 'update'],
    ['DELETE FROM t WHERE id = 1', 'delete'],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DO NOTHING', 'merge'],
    ['CREATE TABLE t (a int)', 'ddl'],
    ['SELECT * INTO t2 FROM t', 'ddl'],
    ['CREATE TABLE t2 AS SELECT 1', 'ddl'],
    ['TRUNCATE t', 'ddl'],
    ['GRANT SELECT ON t TO bob', 'dcl'],
    ['CREATE ROLE bob', 'dcl'],
    ['BEGIN', 'transaction'],
    ['PREPARE TRANSACTION \'x\'', 'transaction'],
    ['COPY t TO STDOUT', 'copy'],
    ['EXPLAIN SELECT 1', 'explain'],
    ['PREPARE p AS SELECT 1', 'prepare'],
    ['EXECUTE p', 'execute'],
    ['SET search_path = public', 'set'],
    ['SET CONSTRAINTS ALL DEFERRED', 'set'],
    ['SET ROLE bob', 'set'],
    ['CALL p()', 'call'],
    ['DO $$ BEGIN END $$', 'do'],
    ['SHOW work_mem', 'utility'],
    ['LISTEN ch', 'utility'],
    ['NOTIFY ch', 'utility'],
    ['VACUUM t', 'utility'],
    ['ANALYZE t', 'utility'],
    ['CHECKPOINT', 'utility'],
    ['REFRESH MATERIALIZED VIEW mv', 'utility'],
    ['DEALLOCATE p', 'utility'],
  ])('%s → %s', (sql, kind) => {
    expect(one(sql).kind).toBe(kind);
  });

  it('knows every statement node of the parser it ships with', () => {
    const types = readFileSync(new URL('../../node_modules/@pgsql/types/types.d.ts', import.meta.url), 'utf8');
    const stmts = [...types.matchAll(/^export interface (\w+Stmt) /gm)].map((m) => m[1] ?? '');
    // Nodes that never stand alone as a statement: left out on purpose, so they are refused.
    const notTopLevel = new Set(['RawStmt', 'SetOperationStmt', 'ReturnStmt', 'PLAssignStmt', 'ReplicaIdentityStmt']);
    expect(stmts.length).toBeGreaterThan(100);
    expect(stmts.filter((t) => !notTopLevel.has(t) && !KIND_BY_NODE.has(t))).toEqual([]);
  });
});

describe('tables', () => {
  it('reports schema.table when qualified and the plain name otherwise', () => {
    expect(one('SELECT * FROM public.customers c JOIN orders o ON o.customer_id = c.id').tables).toEqual(['public.customers', 'orders']);
  });

  it('drops a catalog qualifier and decodes quoting and Unicode escapes', () => {
    expect(one('SELECT * FROM orders_db.public."Customers", U&"d\\0061ta"').tables).toEqual(['public.Customers', 'data']);
  });

  it('does not report CTE names, but does report a table a non-recursive CTE shadows', () => {
    expect(one('WITH customers AS (SELECT * FROM customers) SELECT * FROM customers, orders').tables).toEqual(['customers', 'orders']);
    expect(one('WITH x AS (SELECT 1) SELECT * FROM x').tables).toEqual([]);
  });

  it('scopes CTE names to their statement', () => {
    expect(one('SELECT * FROM (WITH secret AS (SELECT 1) SELECT * FROM secret) a, secret').tables).toEqual(['secret']);
  });

  it('finds tables in subqueries, CTEs, DML targets, DROP and GRANT', () => {
    expect(one('SELECT (SELECT max(id) FROM orders) FROM customers WHERE id IN (SELECT customer_id FROM refunds)').tables)
      .toEqual(['orders', 'customers', 'refunds']);
    expect(one('WITH d AS (DELETE FROM a WHERE id = 1 RETURNING *) INSERT INTO b SELECT * FROM d').tables).toEqual(['a', 'b']);
    expect(one('DROP TABLE public.customers, orders').tables).toEqual(['public.customers', 'orders']);
    expect(one('GRANT SELECT ON customers TO bob').tables).toEqual(['customers']);
  });

  it('always reports a DML target, even when a CTE has its name', () => {
    expect(one('WITH customers AS (SELECT 1) DELETE FROM customers WHERE id = 1').tables).toEqual(['customers']);
  });
});

describe('traits', () => {
  it.each([
    ['DELETE FROM t', ['unboundedWrite', 'writesData']],
    ['DELETE FROM t WHERE true', ['unboundedWrite', 'writesData', 'readsData']],
    ['UPDATE t SET a = 1 WHERE 1 = 1', ['unboundedWrite', 'writesData', 'readsData']],
    ['UPDATE t SET a = 1 WHERE id = 1 OR 1 = 1', ['unboundedWrite', 'writesData', 'readsData']],
    ['UPDATE t SET a = 1 WHERE id = 1 AND 1 = 1', ['writesData', 'readsData']],
    ['UPDATE t SET a = 1 WHERE CURRENT OF c', ['writesData', 'readsData']],
    ['DELETE FROM t x WHERE EXISTS (SELECT 1 FROM u WHERE u.id = x.id)', ['writesData', 'readsData']],
    ['DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = 1)', ['unboundedWrite', 'writesData', 'readsData']],
    ['INSERT INTO t VALUES (1)', ['writesData']],
    ['WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d', ['dataModifyingCte', 'writesData', 'readsData']],
    ['EXPLAIN DELETE FROM t', []],
    ['EXPLAIN ANALYZE DELETE FROM t', ['unboundedWrite', 'explainAnalyze', 'writesData']],
    ['EXPLAIN (ANALYZE off) SELECT 1', []],
    ['EXPLAIN (ANALYZE 0) SELECT 1', []],
    ['EXPLAIN (ANALYZE yes) SELECT 1', ['explainAnalyze']],
    ['PREPARE p AS DELETE FROM t', ['unboundedWrite', 'prepare', 'writesData']],
    ['EXECUTE p(1)', ['prepare']],
    ['DO $$ BEGIN END $$', ['dynamicSql']],
    ["CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", ['dynamicSql']],
    ['CREATE FUNCTION f() RETURNS int BEGIN ATOMIC DELETE FROM t; END', ['dynamicSql']],
    ["COPY t TO PROGRAM 'x'", ['copyProgram', 'copyExport', 'readsData']],
    ["COPY t FROM PROGRAM 'x'", ['copyProgram', 'copyImport', 'writesData']],
    ['COPY t TO STDOUT', ['copyExport', 'readsData']],
    ['COPY (SELECT * FROM t) TO STDOUT', ['copyExport', 'readsData']],
    ["COPY t TO '/tmp/x'", ['copyExport', 'serverFile', 'readsData']],
    ['COPY t FROM STDIN', ['copyImport', 'writesData']],
    ["SELECT pg_read_file('x')", ['serverFile']],
    ["SELECT lo_import('/etc/passwd')", ['serverFile', 'largeObject']],
    ['SELECT lo_unlink(1)', ['largeObject']],
    ['SELECT * FROM pg_largeobject', ['largeObject', 'readsData']],
    ["SELECT dblink_exec('x', 'y')", ['remoteAccess']],
    ["CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw", ['remoteAccess']],
    ['CREATE USER MAPPING FOR CURRENT_USER SERVER s', ['remoteAccess']],
    ["CREATE FOREIGN TABLE f (a text) SERVER files OPTIONS (program 'id')", ['copyProgram', 'remoteAccess']],
    ['IMPORT FOREIGN SCHEMA public FROM SERVER s INTO local', ['remoteAccess']],
    ['DROP SERVER s', ['remoteAccess']],
    ['CREATE EXTENSION postgres_fdw', ['remoteAccess']],
    ['CREATE EXTENSION file_fdw', ['serverFile']],
    ["GRANT SELECT ON LARGE OBJECT 1 TO bob", ['roleChange', 'largeObject']],
    ['SET ROLE bob', ['roleChange']],
    ['RESET ROLE', ['roleChange']],
    ['SET SESSION AUTHORIZATION bob', ['roleChange']],
    ['ALTER ROLE bob SET role = \'admin\'', ['roleChange']],
    ['ALTER DATABASE d SET role = \'admin\'', ['roleChange']],
    ['ALTER TABLE t OWNER TO bob', ['roleChange']],
    ['ALTER FUNCTION f() OWNER TO bob', ['roleChange']],
    ['REVOKE admin FROM bob', ['roleChange']],
    ['DISCARD PLANS', []],
    ["SELECT set_config('role', 'x', false)", ['roleChange']],
    ["SELECT set_config('search_path', 'x', false)", ['securitySetting']],
    ["SELECT set_config('application_name', 'x', false)", []],
    ['CALL p(1)', ['procedureCall']],
    ['LISTEN ch', ['notification']],
    ['UNLISTEN *', ['notification']],
    ["NOTIFY ch, 'x'", ['notification']],
    ["SELECT pg_notify('ch', 'x')", ['notification']],
    ['SELECT pg_terminate_backend(42)', ['serverControl']],
    ['SELECT pg_cancel_backend(42)', ['serverControl']],
    ['SELECT pg_reload_conf()', ['serverControl']],
    ['SELECT pg_switch_wal()', ['serverControl']],
    ["SELECT pg_create_restore_point('x')", ['serverControl']],
    ["SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)", ['serverControl']],
    ['CHECKPOINT', ['serverControl']],
    ['LOCK TABLE t IN ACCESS EXCLUSIVE MODE', ['explicitLock']],
    ['SELECT pg_advisory_lock(1)', ['explicitLock']],
    ['SELECT pg_try_advisory_xact_lock_shared(1, 2)', ['explicitLock']],
    ['SELECT 1 FROM t FOR UPDATE', ['readsData', 'explicitLock']],
    ['SELECT 1 FROM t FOR NO KEY UPDATE NOWAIT', ['readsData', 'explicitLock']],
    ['SELECT 1 FROM t FOR SHARE SKIP LOCKED', ['readsData', 'explicitLock']],
    ['SELECT 1 FROM t FOR KEY SHARE', ['readsData', 'explicitLock']],
    ['SELECT * FROM (SELECT 1 FROM t FOR UPDATE) s', ['readsData', 'explicitLock']],
    ["PREPARE TRANSACTION 'x'", ['serverControl']],
    ["COMMIT PREPARED 'x'", ['serverControl']],
    ["ROLLBACK PREPARED 'x'", ['serverControl']],
    ['VACUUM FULL t', ['maintenance']],
    ['ANALYZE t', ['maintenance']],
    ['CLUSTER t USING t_pkey', ['maintenance']],
    ['REINDEX TABLE t', ['maintenance']],
    ['SET search_path = evil, public', ['securitySetting']],
    ["SET SCHEMA 'evil'", ['securitySetting']],
    ['SET session_replication_role = replica', ['securitySetting']],
    ["SET app.tenant_id = '7'", ['securitySetting']],
    ['SET row_security = off', ['securitySetting']],
    ['RESET search_path', ['securitySetting']],
    ['SET statement_timeout = 0', ['timeoutChange']],
    ['SET LOCAL lock_timeout = 0', ['timeoutChange']],
    ["UPDATE pg_settings SET setting = 'x' WHERE name = 'role'", ['roleChange', 'writesData', 'readsData']],
    ["UPDATE pg_catalog.pg_settings s SET setting = 'evil' WHERE s.name IN ('search_path')", ['writesData', 'readsData', 'securitySetting']],
    ["UPDATE pg_settings SET setting = '0' WHERE 'statement_timeout' = name", ['writesData', 'readsData', 'timeoutChange']],
    ['TRUNCATE t', ['unboundedWrite', 'writesData']],
    ['SELECT * INTO t2 FROM t', ['writesData', 'readsData']],
    ["LOAD 'plugin'", ['serverFile']],
    ['REFRESH MATERIALIZED VIEW mv', ['writesData']],
    ["SELECT query_to_xml('select 1', true, false, '')", ['dynamicSql']],
    ["SELECT ts_rewrite('a'::tsquery, 'SELECT 1')", ['dynamicSql']],
    ["SELECT ts_rewrite('a'::tsquery, 'a'::tsquery, 'b'::tsquery)", []],
    ['SELECT 1', []],
    ['SELECT * FROM t', ['readsData']],
  ])('%s → %j', (sql, traits) => {
    expect(one(sql).traits).toEqual(traits);
  });

  it('finds functions anywhere: defaults, arguments, ORDER BY, VALUES, lateral, CTEs, CALL', () => {
    const places = [
      "CREATE TABLE t (a text DEFAULT pg_read_file('x'))",
      "SELECT upper(lower(pg_read_file('x')))",
      "SELECT 1 ORDER BY pg_read_file('x')",
      "VALUES (pg_read_file('x'))",
      "SELECT * FROM t, LATERAL (SELECT pg_read_file('x')) s",
      "WITH RECURSIVE r AS (SELECT pg_read_file('x') UNION SELECT * FROM r) SELECT 1",
      "CALL p(pg_read_file('x'))",
      "SELECT 1 FROM t GROUP BY pg_read_file('x')",
      "SELECT count(*) FILTER (WHERE pg_read_file('x') IS NOT NULL) FROM t",
      "INSERT INTO t SELECT 1 ON CONFLICT (a) DO UPDATE SET b = pg_read_file('x')",
      "SELECT xmlelement(name a, pg_read_file('x'))",
      "SELECT ARRAY(SELECT pg_read_file('x'))",
      "SELECT pg_read_file('x')::int + 1",
      "SELECT * FROM ROWS FROM (pg_ls_dir('.'))",
      "SELECT json_build_object('k', pg_read_file('x'))",
    ];
    for (const sql of places) expect(one(sql).traits).toContain('serverFile');
  });

  it('sees attribute-notation calls, which have no FuncCall node', () => {
    expect(one("SELECT ('x'::text).pg_read_file").functions).toEqual(['pg_read_file']);
    expect(one('SELECT t.a, t.pg_ls_dir FROM t').traits).toContain('serverFile');
  });

  it('lists functions as written, schema-qualified when qualified', () => {
    expect(one("SELECT pg_catalog.lower('A'), now()").functions).toEqual(['pg_catalog.lower', 'now']);
  });

  it('ignores dangerous words in comments, string literals and dollar quotes', () => {
    const s = one("/* DROP TABLE x; */ SELECT 'DELETE FROM t', $$pg_read_file('x')$$ -- SET ROLE postgres");
    expect(s).toMatchObject({ kind: 'select', traits: [], tables: [], functions: [] });
  });

  it('returns unevaluated statements as deny without a rule', () => {
    expect(one('SELECT 1')).toEqual({ kind: 'select', traits: [], tables: [], functions: [], verdict: 'deny' });
  });
});

describe('multi-statement strings', () => {
  it('classifies every statement in order', () => {
    expect(classifySql('BEGIN; DELETE FROM t; COMMIT').map((s) => s.kind)).toEqual(['transaction', 'delete', 'transaction']);
  });

  it('yields nothing for empty input or comments only', () => {
    expect(classifySql('')).toEqual([]);
    expect(classifySql('  -- nothing\n /* here */ ;')).toEqual([]);
  });
});

describe('input the engine refuses', () => {
  it('reports syntax errors with the position, without the offending token', () => {
    const err = parseError("SELECT * FROM customers WHERE cpf = '590.830.166-33' ORDER");
    expect(err.reason).toBe('syntax');
    expect(err.position).toBeGreaterThan(50);
    expect(err.message).not.toContain('590');
    expect(parseError("SELECT '590.830.166-33").message).not.toContain('590');
  });

  it.each([
    'SET standard_conforming_strings = off',
    'SET standard_conforming_strings TO 0',
    "ALTER ROLE CURRENT_USER SET standard_conforming_strings = 'off'",
    "SELECT set_config('standard_conforming_strings', 'off', false)",
    "SELECT set_config('client_encoding', 'sjis', false)",
    "SET client_encoding = 'Shift_JIS'",
    "SET NAMES 'GB18030'",
    "SELECT set_config(current_setting('x'), 'y', false)",
    "SET client_encoding = 'LATIN1'",
    'RESET client_encoding',
    'RESET ALL',
    'DISCARD ALL',
    'SET backslash_quote = on',
    "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
    "UPDATE pg_settings SET setting = 'x' WHERE name LIKE 'r%'",
  ])('refuses, whatever the policy, settings that change how the server tokenizes SQL: %s', (sql) => {
    expect(parseError(sql).reason).toBe('refused');
  });

  it('accepts a pinned setting set to its pinned value', () => {
    expect(one('SET standard_conforming_strings = on').kind).toBe('set');
    expect(one("SET client_encoding = 'utf-8'").kind).toBe('set');
    expect(one("SET NAMES 'UNICODE'").kind).toBe('set');
    expect(one("SELECT set_config('backslash_quote', 'safe_encoding', false)").traits).toEqual([]);
  });

  it('names the setting, the form and the pinned value in a refusal', () => {
    expect(parseError('SELECT 1; SET LOCAL standard_conforming_strings TO DEFAULT').message).toBe(
      'statement 2: SET ... TO DEFAULT sets standard_conforming_strings to a default or a value computed at run time; standard_conforming_strings decides how the server reads SQL text, and the policy engine reads it as the server does only with standard_conforming_strings = on',
    );
    expect(parseError("UPDATE pg_settings SET setting = 'x'").message).toContain('write WHERE name =');
  });

  it('refuses NUL characters', () => {
    expect(parseError('SELECT 1\u0000; DROP TABLE t').position).toBe(8);
  });

  it('survives deeply nested expressions', () => {
    const deep = `SELECT ${'('.repeat(500)}1${')'.repeat(500)}`;
    expect(one(deep).kind).toBe('select');
    const nested = `SELECT ${'ARRAY['.repeat(300)}pg_read_file('x')${']'.repeat(300)}`;
    expect(one(nested).traits).toEqual(['serverFile']);
  });

  it('refuses texts longer than it checks before parsing them, saying what to do instead', () => {
    const long = `INSERT INTO orders (id) VALUES ${Array.from({ length: 40_000 }, (_, i) => `(${i})`).join(',')}`;
    expect(long.length).toBeGreaterThan(MAX_SQL_TEXT);
    const err = parseError(long);
    expect(err.reason).toBe('unsupported');
    expect(err.message).toBe(`the SQL text is ${long.length} characters long; the policy engine checks texts of at most ${MAX_SQL_TEXT} (send statements one at a time, and bulk data with COPY ... FROM STDIN)`);
  });

  // Each CTE of a long WITH list used to copy the names visible to it (quadratic: 16,000 CTEs took ~14 s).
  it('follows CTE visibility through a long WITH list (shared scopes, not copies)', () => {
    const n = 8_000;
    const chain = `WITH ${Array.from({ length: n }, (_, i) => `c${i} AS (SELECT * FROM ${i === 0 ? 'customers' : `c${i - 1}`})`).join(', ')} SELECT * FROM c${n - 1}, c${n}`;
    expect(chain.length).toBeLessThan(MAX_SQL_TEXT);
    // c8000 is not one of the CTEs: a table.
    expect(one(chain).tables).toEqual(['customers', `c${n}`]);
    // A non-recursive CTE sees only the CTEs before it; a recursive WITH sees them all.
    expect(one('WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a').tables).toEqual(['b']);
    expect(one('WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a').tables).toEqual([]);
    expect(one('WITH a AS (SELECT 1) SELECT * FROM (WITH b AS (SELECT * FROM a) SELECT * FROM b, c) s').tables).toEqual(['c']);
  });
});

describe('classification shared by numeric shape', () => {
  it('answers statements that differ only in a number from one parse', () => {
    resetSqlCaches();
    const first = one('SELECT abalance FROM pgbench_accounts WHERE aid = 41');
    const second = one('SELECT abalance FROM pgbench_accounts WHERE aid = 77');
    expect(second).toEqual(first);
    expect(second).toEqual(expect.objectContaining({ kind: 'select', tables: ['pgbench_accounts'], traits: ['readsData'] }));
    expect(sqlCacheStats()).toEqual({ parses: 1, exactHits: 0, shapeHits: 1, longHits: 0 });
  });

  it('does not share a result that depended on a constant\'s value', () => {
    resetSqlCaches();
    expect(one('EXPLAIN (ANALYZE 0) DELETE FROM t').traits).toEqual([]);
    expect(one('EXPLAIN (ANALYZE 1) DELETE FROM t').traits).toEqual(['unboundedWrite', 'explainAnalyze', 'writesData']);
    expect(one("SELECT set_config('search_path', 'public', false), 1").traits).toEqual(['securitySetting']);
    expect(one('SET statement_timeout = 5').kind).toBe('set');
    expect(one('SET statement_timeout = 6').kind).toBe('set');
    expect(sqlCacheStats()).toEqual({ parses: 5, exactHits: 0, shapeHits: 0, longHits: 0 });
  });

  it('does not share errors, whose positions move with the constants', () => {
    resetSqlCaches();
    expect(parseError('SELECT 1 FROM WHERE').position).toBe(14);
    expect(parseError('SELECT 1000 FROM WHERE').position).toBe(17);
    expect(sqlCacheStats().parses).toBe(2);
  });

  // Every corpus statement with a shape, its numbers changed: the shared answer must be the one a
  // fresh parse of the changed text gives.
  const shaped = LGPD_ORDERS_CORPUS.map((e) => e.sql).filter((sql) => numericShape(sql) !== undefined);
  const renumbered = (sql: string): string => sql.replace(/(?<![\w$.])\d+(?:\.\d+)?(?![\w$.])/g, (n) => String(Number(n) + 7));
  const fresh = (sql: string): StatementInfo[] | string => {
    try {
      return classifySql(sql);
    } catch (err) {
      return err instanceof SqlParseError ? err.message : String(err);
    }
  };

  it('has corpus statements to check it on', () => {
    expect(shaped.length).toBeGreaterThanOrEqual(20);
  });

  it.each(shaped.map((sql) => [sql.slice(0, 100), sql] as const))('%s: renumbered, the shared answer is a fresh parse\'s', (_label, sql) => {
    resetSqlCaches();
    fresh(sql);
    const shared = fresh(renumbered(sql));
    resetSqlCaches();
    expect(shared).toEqual(fresh(renumbered(sql)));
  });
});
