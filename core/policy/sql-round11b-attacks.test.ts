// Round 11b adversarial re-review of the round 11 PostgreSQL fixes (c943a12): what the server does
// that the classifier's reading of the text does not name. The failing cases FAIL on c943a12 for
// the reason their names give; the real server's behaviour is shown through the sidecar in
// sidecar/test/pg-round11b-attacks.int.test.ts. The "held" block records what the re-review tried
// against the fixes themselves and found closed (it passes on c943a12).
import { beforeAll, describe, expect, it } from '@jest/globals';
import { initPolicyEngine, type CompiledPolicy } from './index.ts';
import { decideSql, examplePolicy, one } from './lgpd-example.testkit.ts';

let example: CompiledPolicy;
/** The example policy with a read-only rule after deny-ddl-and-dcl: any write (trait writesData) is denied. */
let readOnly: CompiledPolicy;

beforeAll(async () => {
  await initPolicyEngine();
  example = examplePolicy();
  readOnly = examplePolicy((doc) => { doc.spec.rules.splice(1, 0, { name: 'read-only', description: 'round 11b: this agent only reads', match: { sql: { traits: ['writesData'] } }, action: 'deny' }); });
});

const decide = decideSql;

// nextval() and setval() write a sequence (a relation: pg_class relkind 'S'), and the write is not
// transactional: ROLLBACK does not undo it. The classifier gives these calls no trait and lists no
// relation, so `SELECT nextval('orders_id_seq')` is `select[]` with no `writesData` ("any write",
// access-policy.md): a policy that denies writes (or names the relation in a `tables` rule) lets it
// run. The application's ids are burnt; with UPDATE on the sequence (which its owner has, and which
// `GRANT USAGE, UPDATE` gives), `setval('orders_id_seq', 2147483647)` makes every INSERT of the
// application fail ("nextval: reached maximum value of sequence") until an administrator resets it.
describe('sequence functions write a relation without trait writesData (round 11b)', () => {
  const WRITES_A_SEQUENCE = [
    "SELECT nextval('orders_id_seq')",
    "SELECT nextval('orders_id_seq') FROM generate_series(1, 1000)",
    "SELECT pg_catalog.nextval('public.orders_id_seq'::regclass)",
    "SELECT setval('orders_id_seq', 2147483647)",
    "SELECT setval('orders_id_seq', 1, false)",
    "SELECT id FROM orders WHERE id = nextval('orders_id_seq')",
  ];

  it.each(WRITES_A_SEQUENCE)('%s carries writesData', (sql) => {
    expect(one("INSERT INTO orders (customer_id, status, total_cents) VALUES (1, 'new', 1)").traits).toContain('writesData'); // control
    expect(one(sql).traits).toContain('writesData');
  });

  it.each([
    ["SELECT nextval('orders_id_seq')", 'orders_id_seq'],
    ["SELECT pg_catalog.nextval('public.orders_id_seq'::regclass)", 'public.orders_id_seq'],
    ["SELECT setval('\"Orders_Seq\"', 5)", 'Orders_Seq'],
    ["SELECT setval('Public.ORDERS_ID_SEQ', 1, false)", 'public.orders_id_seq'],
  ])('%s lists the sequence it writes among its tables (a tables rule sees it)', (sql, table) => {
    expect(one(sql).tables).toContain(table);
  });

  it('a sequence named at run time leaves the trait only', () => {
    const info = one("SELECT nextval(relname::regclass) FROM pg_class WHERE relkind = 'S'");
    expect(info.traits).toContain('writesData');
  });

  it.each(WRITES_A_SEQUENCE)('%s is denied by a read-only rule (traits: [writesData])', (sql) => {
    expect(decide(readOnly, "INSERT INTO orders (customer_id, status, total_cents) VALUES (1, 'new', 1)")).toEqual({ decision: 'deny', rule: 'read-only' }); // control
    expect(decide(readOnly, sql)).toEqual({ decision: 'deny', rule: 'read-only' });
  });
});

// What the re-review tried against the round 11 fixes and found closed (passes on c943a12).
describe('held: the round 11 fixes against the re-review (round 11b)', () => {
  it.each([
    '((SELECT 1 AS x INTO leak) UNION SELECT 2) INTERSECT SELECT 1',
    'WITH a AS (SELECT 1) (SELECT 1 AS x INTO leak) UNION SELECT 2',
    '(WITH a AS (SELECT 1) SELECT 1 AS x INTO leak UNION SELECT 2) UNION SELECT 3',
    '(SELECT 1 AS x INTO leak) ORDER BY 1',
    'SELECT 1 AS x INTO leak FOR UPDATE',
    'EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1 AS x INTO leak UNION SELECT 2',
    'EXPLAIN (FORMAT JSON, ANALYZE) CREATE TABLE leak AS SELECT 1',
    'EXPLAIN (ANALYZE $$on$$) SELECT 1 INTO leak',
    'EXPLAIN ANALYZE CREATE TABLE leak AS EXECUTE p',
    'PREPARE q AS SELECT 1 AS x INTO leak UNION SELECT 2',
    'CREATE TABLE leak AS EXECUTE p',
    'CREATE RULE r AS ON INSERT TO orders DO INSTEAD SELECT 1 INTO leak',
  ])('%s is denied by deny-ddl-and-dcl', (sql) => {
    expect(decide(example, sql)).toEqual({ decision: 'deny', rule: 'deny-ddl-and-dcl' });
  });

  it.each([
    'SELECT md5(a.query) FROM pg_stat_get_activity(NULL) a',
    'SELECT md5(q) FROM pg_stat_get_activity(NULL) AS a(d, p, u, app, ca, ch, cp, bs, xs, qs, sc, we, wt, st, bx, bxm, q)',
    'SELECT row_to_json(a) FROM pg_stat_get_activity(NULL) a',
    'SELECT md5(x) FROM ROWS FROM (pg_stat_get_backend_activity(1)) x',
    'SELECT md5(x) FROM generate_series(1,200) b, LATERAL pg_stat_get_backend_activity(b) x',
    'SELECT md5(pg_stat_get_backend_activity(backendid => 1))',
    'SELECT md5(pg_stat_get_backend_activity(VARIADIC ARRAY[1]))',
    'SELECT md5(U&"pg_stat_get_backend_activit\\0079"(1))',
    'SELECT md5(x.query) FROM (SELECT (pg_stat_get_activity(NULL)).*) x',
    'SELECT md5(s.q) FROM (SELECT (pg_stat_get_activity(NULL))."query" AS q) s',
    'SELECT md5(b.pg_stat_get_backend_activity) FROM generate_series(1,200) b',
    'SELECT md5(x) FROM (SELECT pg_stat_get_backend_activity(b) FROM generate_series(1,200) b) s(x)',
    'SELECT to_jsonb(s) FROM (SELECT pg_stat_get_backend_activity(b) x FROM generate_series(1,200) b) s',
    'SELECT md5(q) FROM (TABLE pg_stat_activity) AS t(a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,r,s,u,v,q)',
    "SELECT q FROM (SELECT pg_stat_get_backend_activity(b) AS q FROM generate_series(1,200) b) s NATURAL JOIN (VALUES ('x')) v(q)",
    'INSERT INTO orders (status) SELECT pg_stat_get_backend_activity(b) FROM generate_series(1,200) b',
    'UPDATE orders SET status = s.q FROM (SELECT pg_stat_get_backend_activity(1) q) s WHERE orders.id = 1',
    'WITH RECURSIVE r(q) AS (SELECT pg_stat_get_backend_activity(1) UNION ALL SELECT md5(q) FROM r WHERE false) SELECT q FROM r',
    'SELECT md5(query) FROM pg_stat_statements(true)',
  ])("other sessions' statement text: %s is held for the DPO", (sql) => {
    expect(decide(example, sql)).toEqual({ decision: 'requireApproval', rule: 'exports-need-dpo' });
  });

  it.each([
    'SELECT * FROM customers TABLESAMPLE SYSTEM (10) REPEATABLE (1)',
    'SELECT * FROM orders o JOIN customers c TABLESAMPLE SYSTEM (10) ON c.id = o.customer_id',
    'MERGE INTO orders o USING customers c TABLESAMPLE SYSTEM (10) ON o.id = c.id WHEN MATCHED THEN DO NOTHING',
    'UPDATE orders SET status = status FROM customers c TABLESAMPLE SYSTEM (100) WHERE orders.id = c.id',
    'COPY (SELECT id FROM orders TABLESAMPLE SYSTEM (10)) TO STDOUT',
  ])('TABLESAMPLE: %s reads its table (readsData)', (sql) => {
    expect(one(sql).traits).toContain('readsData');
  });

  it.each([
    'RESET search_path',
    'SET search_path TO DEFAULT',
    'SET LOCAL search_path = pg_temp, public',
    "SELECT pg_catalog.set_config('search_path', 'pg_temp, public', true)",
  ])('search_path: %s is denied by deny-setting-changes', (sql) => {
    expect(decide(example, sql)).toEqual({ decision: 'deny', rule: 'deny-setting-changes' });
  });
});
