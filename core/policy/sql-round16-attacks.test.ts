// Round 16 adversarial review of the sensitive-column guard: forms where PostgreSQL reads a name or
// a position otherwise than the guard did, so a transformed, compared or ordered personal column
// passed as "not personal" (the example policy allowed every statement of the first block with no
// use reported). Each class, what PostgreSQL does and the fix: docs/security-model.md, "Round 16".
// The real server's answers, through the real sidecar: sidecar/test/pg-round16-attacks.int.test.ts.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { initPolicyEngine, type CompiledPolicy } from './index.ts';
import { EXAMPLE_AGENT, examplePolicy, one } from './lgpd-example.testkit.ts';
import { SensitiveColumnGuard } from './sql-columns.ts';
import { figureColname } from './sql-colname.ts';
import { parseStatements } from './sql.ts';

let example: CompiledPolicy;

beforeAll(async () => {
  await initPolicyEngine();
  example = examplePolicy();
});

function decide(sql: string): { decision: string; rule?: string; columns: string[] } {
  const d = example.evaluate({ identity: EXAMPLE_AGENT, purpose: 'customer-support', command: { protocol: 'postgres', sql } });
  return { decision: d.decision, ...(d.rule === undefined ? {} : { rule: d.rule }), columns: [...new Set((d.sensitiveColumns ?? []).map((u) => u.column))].sort() };
}

const HELD = { decision: 'requireApproval', rule: 'exports-need-dpo' };
const CPF = 'public.customers.cpf';

// orders JOIN customers USING (id) returns id, customer_id, status, total_cents, created_at, nome,
// cpf, cnpj, email, telefone, dt_nasc, notes: the join column once, first (7 is cpf; the guard
// listed id twice and read 7 as nome).
describe('* over JOIN USING / NATURAL JOIN: the join columns once, first', () => {
  it.each([
    'SELECT md5(s.g) FROM (SELECT * FROM orders JOIN customers USING (id)) AS s(a, b, c, d, e, f, g)',
    'SELECT md5(j.g) FROM (orders o JOIN customers c USING (id)) AS j(a, b, c, d, e, f, g)',
    'WITH s(a, b, c, d, e, f, g) AS (SELECT * FROM orders JOIN customers USING (id)) SELECT md5(g) FROM s',
    'SELECT * FROM orders JOIN customers USING (id) ORDER BY 7',
    'SELECT * FROM orders NATURAL JOIN customers ORDER BY 7',
    'SELECT * FROM orders o NATURAL JOIN customers c GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12',
    'SELECT DISTINCT ON (7) * FROM orders FULL JOIN customers USING (id)',
    'SELECT md5(s.g) FROM (SELECT * FROM customers c JOIN orders o USING (id) JOIN orders o2 USING (id)) AS s(a, b, g)',
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it.each([
    ['SELECT * FROM orders JOIN customers USING (id) ORDER BY 1', 'id, the join column'],
    ['SELECT * FROM orders JOIN customers USING (id) ORDER BY 6', 'nome'],
    ['SELECT * FROM orders NATURAL JOIN customers ORDER BY 5, 6', 'created_at, nome'],
    ['SELECT s.g FROM (SELECT * FROM orders JOIN customers USING (id)) AS s(a, b, c, d, e, f, g) WHERE s.f = \'Ana\'', 'g returned plainly, f is nome'],
    ['SELECT * FROM customers c JOIN orders o USING (id) ORDER BY 2', 'customers first: nome'],
  ])('held: %s is allowed (%s)', (sql) => {
    expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});

// PostgreSQL folds unquoted names and compares them exactly: "C" and c, "X" and x are two names.
// The guard compared them lower-cased and kept the first.
describe('quoted names are other names: qualifiers, CTE names and output names compare exactly', () => {
  it.each([
    'SELECT md5(c.cpf) FROM orders "C", customers c',
    'SELECT md5(c::text) FROM orders "C", customers c',
    'SELECT md5(x.cpf) FROM (SELECT 1 AS cpf) "X", (SELECT cpf FROM customers) x',
    'UPDATE orders AS "O" SET status = md5(o.cpf) FROM customers o WHERE "O".id = o.id AND "O".id = 1',
    'WITH x AS (SELECT cpf FROM customers), "X" AS (SELECT 1 AS cpf) SELECT md5(cpf) FROM x',
    'WITH "X" AS (SELECT 1 AS cpf), x AS (SELECT cpf FROM customers) SELECT md5(cpf) FROM x',
    'SELECT 1 AS "X", cpf AS x FROM customers ORDER BY x',
    'SELECT 1 AS "X", cpf AS x FROM customers GROUP BY x',
    'SELECT DISTINCT ON (x) 1 AS "X", cpf AS x FROM customers',
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('held: the names PostgreSQL folds alike still meet (Customers.cpf, "customers".cpf)', () => {
    expect(decide('SELECT md5(Customers.cpf) FROM customers')).toEqual({ ...HELD, columns: [CPF] });
    expect(decide('SELECT md5("customers".cpf) FROM customers')).toEqual({ ...HELD, columns: [CPF] });
    expect(decide('WITH X AS (SELECT cpf FROM customers) SELECT md5(cpf) FROM x')).toEqual({ ...HELD, columns: [CPF] });
  });
});

// r.f with no column f in r is PostgreSQL's attribute notation for f(r): c.to_json is to_json(c),
// the whole row, as is c.record_out (a function-style cast, c.text, is refused there).
describe('r.f with no column f calls f on the whole row', () => {
  it.each([
    'SELECT c.to_json FROM customers c',
    'SELECT reverse(c.to_json::text) FROM customers c',
    "SELECT 1 FROM customers c WHERE c.to_json::text LIKE '%590%'",
    'SELECT customers.to_json FROM customers',
    'SELECT c.record_out FROM customers c',
    'WITH t AS (SELECT cpf FROM customers) SELECT t.to_json FROM t',
    'SELECT s.to_jsonb FROM (SELECT id, cpf FROM customers) s',
    'SELECT j.row_to_json FROM (customers c JOIN orders o ON o.customer_id = c.id) AS j',
    'UPDATE orders SET status = c.to_json::text FROM customers c WHERE orders.id = c.id AND orders.id = 1',
    'SELECT id FROM customers c ORDER BY c.row_to_json::text',
    'SELECT (c.to_json).x FROM customers c',
  ])('%s is held', (sql) => {
    expect(decide(sql)).toMatchObject(HELD);
  });

  it.each([
    'SELECT c.nome FROM customers c',
    'SELECT c.ctid, c.xmin, c.tableoid FROM customers c',
    'SELECT o.status FROM orders o',
    'SELECT a.pid, a.state FROM pg_stat_activity a',
    'SELECT s.pid FROM (SELECT * FROM pg_stat_activity) s',
    'SELECT t.x FROM unknown_table t',
    'SELECT s.x FROM (SELECT * FROM unknown_table) s',
  ])('held: %s (a column, or a relation whose columns the guard reads by name) is allowed', (sql) => {
    expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});

// The parser is PostgreSQL 18's: SYSTEM_USER (a keyword since 16) is a function there. PostgreSQL
// 15 reads system_user as a column, or as the whole row of a relation so named.
describe('system_user is a name on servers before 16', () => {
  it.each([
    'SELECT reverse(system_user::text) FROM customers "system_user"',
    "SELECT 1 FROM customers \"system_user\" WHERE system_user::text LIKE '%590%'",
    'SELECT md5(system_user) FROM (SELECT cpf AS "system_user" FROM customers) t',
    'SELECT cpf AS "system_user" FROM customers ORDER BY system_user',
  ])('%s is held', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: [CPF] });
  });

  it.each(['SELECT system_user', 'SELECT system_user FROM orders', 'SELECT system_user FROM (SELECT cpf AS "system_user" FROM customers) t'])('held: %s (a plain output, or the function) is allowed', (sql) => {
    expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});

// ORDER BY n after an output of unknown width (a function in FROM, a catalog view) may be any later
// output: the guard mapped n onto the outputs it knew.
describe('positions past an output of unknown width', () => {
  it.each([
    'SELECT * FROM generate_series(1, 1) AS g, customers ORDER BY 4',
    'SELECT * FROM json_to_record(\'{"a":1}\') AS r(a int), customers c ORDER BY 4',
    'SELECT * FROM unnest(ARRAY[1]) u, customers GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9',
    'SELECT DISTINCT ON (4) * FROM generate_series(1, 2) g, customers',
    'SELECT * FROM generate_series(1, 1) g, customers UNION ALL SELECT * FROM generate_series(1, 1) g, customers ORDER BY 4',
  ])('%s is held', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('held (review 16b): a position into relations the policy does not know is allowed (the guard reads their columns by name; the database check keeps personal columns out of them)', () => {
    for (const sql of ['SELECT * FROM unknown_table ORDER BY 3', 'SELECT * FROM information_schema.tables ORDER BY 1, 2, 3', 'SELECT * FROM pg_stat_user_tables ORDER BY 1']) {
      expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
    }
  });

  it.each([
    'SELECT * FROM customers, generate_series(1, 2) g ORDER BY 1',
    'SELECT * FROM customers, generate_series(1, 2) g ORDER BY 2',
    'SELECT * FROM generate_series(1, 2) g ORDER BY 1',
    'SELECT pid, query FROM pg_stat_activity ORDER BY 1',
  ])('held: %s (a position the guard knows, or no personal column anywhere) is allowed', (sql) => {
    expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });

  it('fails closed: SELECT * FROM pg_stat_activity ORDER BY 1 is held (the guard knows where query is not; it knows no position there)', () => {
    expect(decide('SELECT * FROM pg_stat_activity ORDER BY 1')).toMatchObject(HELD);
  });
});

// GROUP BY (a, b) is a list of items at any level (flatten_grouping_sets), not only inside
// GROUPING SETS: its integers are positions and its bare names output names.
describe('GROUP BY (1, 2) at the top level', () => {
  it.each([
    'SELECT cpf, nome FROM customers GROUP BY (1, 2)',
    'SELECT cpf AS k, nome FROM customers GROUP BY (k, nome)',
    'SELECT cpf, nome, count(*) FROM customers GROUP BY (1, 2) HAVING count(*) > 0',
    'SELECT nome, cpf FROM customers GROUP BY nome, (2)',
  ])('%s is held', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: [CPF] });
  });

  it('held: GROUP BY (1, 2) over columns that are not personal is allowed', () => {
    expect(decide('SELECT nome, id FROM customers GROUP BY (1, 2)')).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});

// ON CONFLICT (cpf) was held (the arbiter compares the CPF with the stored ones); the same arbiter
// reached without naming the column was not.
describe('ON CONFLICT without a column list', () => {
  const ROW = "(99, 'x', '590.830.166-33', 'e', 't', '2000-01-01')";
  it.each([
    `INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) VALUES ${ROW} ON CONFLICT DO NOTHING RETURNING id`,
    `INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) VALUES ${ROW} ON CONFLICT ON CONSTRAINT customers_cpf_key DO NOTHING RETURNING id`,
    `INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) VALUES ${ROW} ON CONFLICT ON CONSTRAINT customers_cpf_key DO UPDATE SET nome = 'y'`,
  ])('%s is held', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('held: ON CONFLICT DO NOTHING into a table without personal columns is allowed', () => {
    expect(decide("INSERT INTO orders (customer_id, status, total_cents) VALUES (1, 'new', 1) ON CONFLICT DO NOTHING")).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});

describe('a subquery over a relation the policy does not know keeps its unknown columns', () => {
  it.each([
    "SELECT s.cpf FROM (SELECT * FROM unknown_view) s WHERE s.cpf LIKE '5%'",
    "WITH s AS (SELECT * FROM unknown_view) SELECT 1 FROM s WHERE s.email = 'a@b.c'",
    'SELECT md5(s.cpf) FROM (SELECT * FROM unknown_view) s',
  ])('%s is held (unknown_view may hold cpf or email: a column named like one is read as one)', (sql) => {
    expect(decide(sql)).toMatchObject(HELD);
  });
});

describe('xpath_table (xml2) runs the query its strings spell', () => {
  it('is dynamicSql and its result is held by the guard', () => {
    const sql = "SELECT * FROM xpath_table('id', 'nome', 'customers', '/a', 'cpf LIKE ''590%''') AS t(id int, x text)";
    expect(one(sql).traits).toContain('dynamicSql');
    expect(decide(sql)).toMatchObject({ decision: 'deny', rule: 'deny-hidden-execution' });
  });
});

// Round 16b: the re-review of the fixes above. The layout was right; what fed it was not (a
// data-modifying CTE's RETURNING *, (x).*, expression names), and a non-LATERAL subquery in FROM
// saw the FROM items beside it, which PostgreSQL hides.
describe('round 16b: what the layout is fed, and what a subquery in FROM sees', () => {
  it.each([
    // A data-modifying CTE returns its RETURNING, * expanded (the guard counted * as one column).
    'WITH w AS (UPDATE orders SET status = status WHERE id = -1 RETURNING *) SELECT md5(j.h) FROM (w RIGHT JOIN customers ON true) AS j(a, b, c, d, e, f, g, h)',
    'WITH w AS (DELETE FROM orders WHERE id = -1 RETURNING *) SELECT * FROM w RIGHT JOIN customers ON true ORDER BY 8',
    'WITH w AS (UPDATE orders SET status = status WHERE id = -1 RETURNING id, *) SELECT * FROM w RIGHT JOIN customers ON true ORDER BY 9',
    // (x).* is as many outputs as x has fields.
    'SELECT (o).*, c.* FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY 8',
    'SELECT md5(s.h) FROM (SELECT (o).*, c.* FROM orders o JOIN customers c ON c.id = o.customer_id) s(a, b, c, d, e, f, g, h)',
    "SELECT (json_populate_record(null::orders, '{}')).*, c.* FROM customers c ORDER BY 8",
    // Expressions are named as PostgreSQL names them: id::int is id, so NATURAL JOIN joins on it.
    'SELECT * FROM (SELECT id::int FROM orders) a NATURAL JOIN customers ORDER BY 3',
    'SELECT md5(j.c) FROM ((SELECT id::int FROM orders) a NATURAL JOIN customers) AS j(a, b, c)',
    'SELECT * FROM (SELECT nome COLLATE "C", id FROM customers) a NATURAL JOIN customers ORDER BY 3',
    'SELECT * FROM (SELECT (SELECT 1 AS id)) a NATURAL JOIN customers ORDER BY 3',
    "SELECT * FROM (SELECT o.status::text FROM orders o) a NATURAL JOIN (SELECT 'paid' AS status, c.* FROM customers c) b ORDER BY 4",
    // A name a version may give otherwise (SQL-syntax functions): NATURAL JOIN over it places nothing.
    'SELECT * FROM (SELECT extract(year FROM now())) a NATURAL JOIN customers ORDER BY 3',
    // A subquery in FROM without LATERAL sees the enclosing query, not the items beside it.
    'SELECT (SELECT md5(z.h) FROM orders c, (SELECT c.cpf AS h) z LIMIT 1) FROM customers c',
    'SELECT (SELECT md5(z.h::text) FROM orders c, (SELECT c AS h) z LIMIT 1) FROM customers c',
    'SELECT (SELECT md5(z.h) FROM orders c JOIN (SELECT c.cpf AS h) z ON true LIMIT 1) FROM customers c',
    "SELECT id, nome FROM customers c WHERE EXISTS (SELECT 1 FROM orders c, (SELECT c.cpf AS h) z WHERE z.h LIKE '590%')",
    // r.f on a relation built over a listed table and a catalog table, or on a catalog view the guard lists.
    "SELECT reverse(s.to_json::text) FROM (SELECT * FROM customers c, pg_namespace n WHERE n.nspname = 'pg_catalog') s",
    "WITH s AS (SELECT * FROM customers, pg_namespace n WHERE n.nspname = 'pg_catalog') SELECT reverse(s.to_json::text) FROM s",
    "SELECT reverse(j.to_json::text) FROM (customers c CROSS JOIN pg_namespace n) AS j WHERE j.nspname = 'pg_catalog'",
    "SELECT reverse(s.to_json::text) FROM pg_stats s WHERE s.tablename = 'customers' AND s.attname = 'cpf'",
    'SELECT reverse(a.to_json::text) FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid()',
    'SELECT s.to_json FROM (SELECT * FROM pg_stat_activity) s',
  ])('%s is held', (sql) => {
    expect(decide(sql)).toMatchObject(HELD);
  });

  it.each([
    'SELECT s.created_at, s.nome FROM (SELECT o.created_at::date, c.nome, c.email FROM orders o JOIN customers c ON c.id = o.customer_id) s',
    'SELECT s.nome FROM (SELECT c.nome::text, c.cpf FROM customers c) s',
    'SELECT j.* FROM orders JOIN customers USING (id) AS j',
    'SELECT j.id FROM orders JOIN customers USING (id) AS j',
    'SELECT a.pid, a.state, a.query FROM pg_stat_activity a',
    'SELECT s.pid FROM (SELECT * FROM pg_stat_activity) s',
    // (null_frac is a figure computed from personal values since review 35: a use.)
    "SELECT s.attname, s.inherited FROM pg_stats s WHERE s.tablename = 'orders'",
    'SELECT c.id FROM customers c, LATERAL (SELECT c.nome AS n) z',
    'SELECT * FROM (SELECT now()) a NATURAL JOIN (SELECT now()) b',
  ])('held: %s (an ordinary query) is allowed', (sql) => {
    expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });

  it('held: a LATERAL subquery sees the items beside it', () => {
    expect(decide('SELECT z.h FROM customers c, LATERAL (SELECT md5(c.cpf) AS h) z')).toEqual({ ...HELD, columns: [CPF] });
  });
});

// Round 16c: a third review. A set operation paired its branches' columns by list index: a branch
// with an output of unknown width (`*` over a function in FROM, `(x).*`) lost the other branch's
// personal columns. pageinspect read raw pages in the select list with no trait.
describe('round 16c: set operations over a branch of unknown width; pageinspect', () => {
  const UNKNOWN_LEFT = "SELECT * FROM json_to_record('{\"a\":1}') AS r(a int, b int, c text) UNION ALL SELECT id, id, cpf FROM customers";
  it.each([
    `SELECT md5(c) FROM (${UNKNOWN_LEFT}) s`,
    `${UNKNOWN_LEFT} ORDER BY 3`,
    `SELECT s.to_json FROM (${UNKNOWN_LEFT}) s`,
    `WITH s AS (${UNKNOWN_LEFT}) SELECT md5(c) FROM s`,
    'SELECT md5(s.c) FROM (SELECT (o).* FROM orders o WHERE false UNION ALL SELECT id, id, cpf, id, now() FROM customers) s(a, b, c, d, e)',
    "SELECT md5(x) FROM (SELECT * FROM xmltable('/a' PASSING '<a/>' COLUMNS x text PATH '.') UNION ALL SELECT cpf FROM customers) s",
    "SELECT md5(d) FROM (SELECT 1 AS a, 2 AS b, 'x' AS c, 'y' AS d, 'z' AS e, 'w' AS f, 'v' AS g, '2000-01-01'::date AS h, 'u' AS i WHERE false UNION ALL SELECT * FROM generate_series(1, 1) g, customers) s",
    "SELECT x FROM (SELECT * FROM json_to_record('{}') r(x text) UNION ALL SELECT cpf FROM customers) s WHERE x LIKE '5%'",
    "SELECT ARRAY(SELECT * FROM json_to_record('{}') r(x text) UNION ALL SELECT cpf FROM customers)::text",
    "SELECT * FROM xmltable('/a' PASSING '<a/>' COLUMNS x text PATH '.') UNION ALL SELECT cpf FROM customers ORDER BY 1",
    "SELECT 1 FROM (SELECT * FROM json_to_record('{}') r(x text) UNION ALL SELECT cpf FROM customers) s JOIN customers c USING (x)",
  ])('%s is held', (sql) => {
    expect(decide(sql)).toMatchObject(HELD);
  });

  it.each([
    "SELECT x FROM (SELECT * FROM json_to_record('{}') r(x text) UNION ALL SELECT nome FROM customers) s WHERE x LIKE '5%'",
    'SELECT id, nome FROM customers UNION ALL SELECT id, nome FROM customers ORDER BY 2',
    'SELECT * FROM generate_series(1, 3) g UNION ALL SELECT 4 ORDER BY 1',
  ])('held: %s (no personal column in either branch, or placed) is allowed', (sql) => {
    expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });

  it.each([
    "SELECT encode(get_raw_page('customers', 0), 'escape')",
    "SELECT (bt_page_items('customers_cpf_key', 1)).data",
    "SELECT (heap_page_items(get_raw_page('customers', 0))).t_data",
    "SELECT convert_from(substr(get_raw_page('customers', 0), 8000), 'LATIN1')",
  ])('%s (pageinspect: the relation\'s raw pages) is serverFile, denied by the example policy', (sql) => {
    expect(one(sql).traits).toContain('serverFile');
    expect(decide(sql)).toMatchObject({ decision: 'deny', rule: 'deny-server-escapes' });
  });
});

// Round 16d: a fourth review. Outputs.unplaced (16c) was dropped by join aliases, RETURNING, stored
// `*` and DISTINCT; a recursive CTE's fixed point compared the placed columns only; a scalar
// subquery over `*` is named after a column the guard cannot see.
describe('round 16d: what may be unplaced is kept everywhere; scalar subqueries over *', () => {
  const U = "SELECT * FROM json_to_record('{}') r(x text) UNION ALL SELECT cpf FROM customers";
  it.each([
    `SELECT md5(j.x) FROM ((${U}) s CROSS JOIN (SELECT 1 AS k) o) AS j`,
    `SELECT md5(j::text) FROM ((${U}) s CROSS JOIN (SELECT 1 AS k) o) AS j`,
    `SELECT md5(j.x) FROM ((${U}) s JOIN (SELECT 1 AS k) o ON true) AS j(x, k)`,
    `WITH w AS (UPDATE orders o SET status = o.status FROM (${U}) s WHERE o.id = 1 RETURNING s.*) SELECT md5(x) FROM w`,
    `WITH w AS (DELETE FROM orders o USING (${U}) s WHERE o.id = 1 RETURNING s.*) SELECT md5(x) FROM w`,
    `WITH w AS (UPDATE orders o SET status = o.status FROM (${U}) s WHERE o.id = 1 RETURNING *) SELECT w::text FROM w`,
    `INSERT INTO orders (status, customer_id, total_cents) SELECT s.*, 1, 1 FROM (${U}) s`,
    `INSERT INTO orders (status, customer_id, total_cents) SELECT *, 1, 1 FROM (${U}) s`,
    `SELECT DISTINCT * FROM (${U}) s`,
    "WITH RECURSIVE t AS (SELECT * FROM json_to_record('{\"x\":\"s\",\"h\":\"-\",\"n\":0}') r(x text, h text, n int) UNION ALL SELECT c.cpf, md5(t.x), t.n + 1 FROM t LEFT JOIN customers c ON t.n = 0 WHERE t.n < 2) SELECT * FROM t",
    "WITH RECURSIVE t AS (SELECT * FROM json_to_record('{\"x\":\"s\",\"n\":0}') r(x text, n int) UNION ALL SELECT c.cpf, t.n + 1 FROM t, customers c WHERE t.n = 0 OR (t.n = 1 AND c.id = 1 AND t.x LIKE '5%')) SELECT count(*) FROM t",
    "SELECT nome FROM (SELECT (SELECT * FROM (SELECT '590.830.166-33'::text AS cpf) q)) a NATURAL JOIN customers",
    "WITH q AS (SELECT '590.830.166-33'::text AS cpf) SELECT nome FROM (SELECT (TABLE q)) a NATURAL JOIN customers",
    "SELECT md5(z.a) FROM (SELECT * FROM (SELECT (SELECT * FROM (SELECT 'x'::text AS cpf) q)) a NATURAL FULL JOIN customers) z(a)",
    "SELECT md5(z.a) FROM (SELECT * FROM (SELECT (VALUES ('x'::text))) a NATURAL FULL JOIN (SELECT cpf AS column1 FROM customers) c) z(a)",
    "SELECT * FROM (SELECT (SELECT * FROM (SELECT 'x'::text AS cpf) q)) a NATURAL FULL JOIN customers ORDER BY 1",
  ])('%s is held', (sql) => {
    expect(decide(sql)).toMatchObject(HELD);
  });

  it('held: a scalar subquery with a named first output joins NATURAL as PostgreSQL does', () => {
    expect(decide('SELECT nome FROM (SELECT (SELECT 1 AS k)) a NATURAL JOIN customers')).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});

// Reading round 16 again: a view the policy declares was built into a relation by hand, dropping
// what its definition could not place (16c's unplaced) or list (a relation the policy does not
// know), as the join alias and RETURNING did in 16d. It is built as a subquery is now.
describe('a declared view keeps what its definition cannot place or list', () => {
  const guard = (): SensitiveColumnGuard => {
    const g = new SensitiveColumnGuard({
      columns: ['public.customers.cpf'],
      relations: [{ name: 'public.customers', columns: ['id', 'nome', 'cpf', 'cnpj', 'email', 'telefone', 'dt_nasc', 'notes'] }],
      views: [
        { name: 'public.v', query: "SELECT * FROM json_to_record('{}') r(x text) UNION ALL SELECT cpf FROM customers" },
        { name: 'public.w', query: 'SELECT * FROM unknown_view' },
      ],
    });
    g.validateViews();
    return g;
  };
  it.each([
    ['SELECT md5(x) FROM v', 'public.customers.cpf'],
    ["SELECT 1 FROM v WHERE x LIKE '5%'", 'public.customers.cpf'],
    ['SELECT md5(cpf) FROM w', 'w.cpf (unknown relation; named like public.customers.cpf)'],
  ])('%s reports %s, as the same query as a subquery does', (sql, column) => {
    expect(guard().check(sql).map((u) => u.column)).toEqual([column]);
  });
});

// Round 16e (a fifth review, of the relations the guard builds): WITH RECURSIVE lets an item read
// one written after it (PostgreSQL orders them by what they read); the guard read the later name as
// the catalog relation so named, or as a relation it does not know.
describe('round 16e: WITH RECURSIVE items read in PostgreSQL\'s order', () => {
  it.each([
    'WITH RECURSIVE a AS (SELECT md5(x) AS h FROM b), b AS (SELECT cpf AS x FROM customers) SELECT * FROM a',
    'WITH RECURSIVE a AS (SELECT md5(nome) AS h FROM customers), customers AS (SELECT cpf AS nome FROM public.customers) SELECT * FROM a',
    'WITH RECURSIVE a AS (SELECT x FROM b ORDER BY x), b AS (SELECT cpf AS x FROM customers) SELECT * FROM a',
    "WITH RECURSIVE a AS (SELECT id FROM b WHERE x LIKE '5%'), b AS (SELECT id, cpf AS x FROM customers) SELECT * FROM a",
    'WITH RECURSIVE a AS (SELECT x FROM b GROUP BY x HAVING count(*) > 0), b AS (SELECT cpf AS x FROM customers) SELECT * FROM a',
    'WITH RECURSIVE w AS (INSERT INTO orders (id, customer_id, status, total_cents) SELECT id + 100, id, x, 1 FROM b RETURNING id, status), b AS (SELECT id, cpf AS x FROM customers) SELECT * FROM w',
    'WITH RECURSIVE a AS (SELECT md5(y) FROM c), b AS (SELECT cpf AS x FROM customers), c AS (SELECT x AS y FROM b) SELECT * FROM a',
    'WITH RECURSIVE a AS (SELECT md5(x) FROM (SELECT * FROM b) s), b AS (SELECT cpf AS x FROM customers) SELECT * FROM a',
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: [CPF] });
  });

  it.each([
    ['WITH RECURSIVE a AS (SELECT * FROM (WITH b AS (SELECT 1 AS x) SELECT md5(x::text) FROM b) s), b AS (SELECT cpf AS x FROM customers) SELECT * FROM a', 'an inner WITH b hides the outer b'],
    ['WITH a AS (SELECT md5(nome) FROM customers), customers AS (SELECT cpf AS nome FROM public.customers) SELECT * FROM a', 'without RECURSIVE, a reads the table'],
    ['WITH RECURSIVE a AS (SELECT nome FROM b), b AS (SELECT nome FROM customers) SELECT md5(nome) FROM a', 'nome'],
    ['WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5), u AS (SELECT n FROM t) SELECT * FROM u', 'a recursive item read after it'],
  ])('held: %s is allowed (%s)', (sql) => {
    expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });

  it('items that read one another are refused, as PostgreSQL refuses them', () => {
    expect(decide('WITH RECURSIVE a AS (SELECT x FROM b), b AS (SELECT x FROM a) SELECT * FROM a')).toMatchObject({ decision: 'deny' });
  });
});

describe('round 16e: what set operations and RETURNING rebuild keeps guess and unsure names', () => {
  it.each([
    'WITH u AS (UPDATE orders o SET status = o.status FROM cv WHERE o.customer_id = cv.cid RETURNING *) SELECT md5(cpf) FROM u',
    'WITH u AS (UPDATE orders o SET status = o.status FROM cv WHERE o.customer_id = cv.cid RETURNING cv.*) SELECT * FROM u ORDER BY cpf',
  ])('%s is held (cv is a relation the policy does not know: its cpf may be one)', (sql) => {
    expect(decide(sql)).toMatchObject(HELD);
  });

  it.each([
    'SELECT * FROM (SELECT extract(year from now()) UNION ALL SELECT 1) u NATURAL JOIN (SELECT 2026 AS date_part, cpf FROM customers) s ORDER BY 2',
    'WITH u AS (UPDATE orders SET status = status WHERE id = 1 RETURNING extract(year from now())) SELECT * FROM u NATURAL JOIN (SELECT 2026 AS date_part, cpf FROM customers) s ORDER BY 2',
  ])('%s is held (PostgreSQL 13 names EXTRACT date_part)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: [CPF] });
  });

  it('a long chain of set operations over distinct relations after a branch of unknown width is refused within the work budget', () => {
    const sql = `SELECT * FROM generate_series(1, 1) g${Array.from({ length: 4000 }, (_, i) => ` UNION ALL SELECT cpf FROM a${i}`).join('')}`;
    // The refusal comes from the work budget, before 4,000 copies of a growing list (allowed after 10 s before).
    expect(decide(sql)).toMatchObject({ decision: 'deny' });
  });
});

// Review 21 (the grammar the parser reads, PostgreSQL 18's, against older servers).
describe('review 21: RETURNING old/new (PostgreSQL 18) and numbers in forms older servers split', () => {
  it.each([
    'UPDATE customers SET nome = nome WHERE id > 0 RETURNING md5((old).cpf)',
    'UPDATE customers SET nome = nome WHERE id > 0 RETURNING md5(old::text)',
    'UPDATE customers SET nome = nome WHERE id > 0 RETURNING old',
    'UPDATE customers SET nome = nome WHERE id > 0 RETURNING to_json(new)',
    'UPDATE customers SET nome = nome WHERE id > 0 RETURNING WITH (OLD AS o) md5((o).cpf)',
    'UPDATE customers SET nome = nome WHERE id > 0 RETURNING WITH (NEW AS n) md5(n.cpf)',
    "INSERT INTO customers (id, nome, cpf, email) VALUES (1, 'a', 'b', 'c') ON CONFLICT (id) DO UPDATE SET nome = customers.nome RETURNING md5((old).cpf)",
    'WITH u AS (DELETE FROM customers WHERE id = 0 RETURNING md5(old.cpf)) SELECT * FROM u',
    'MERGE INTO customers c USING orders o ON c.id = o.customer_id WHEN MATCHED THEN UPDATE SET nome = c.nome RETURNING md5((old).cpf)',
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('a FROM item named old is still that item', () => {
    expect(decide('UPDATE customers SET nome = nome FROM orders old WHERE old.id = customers.id RETURNING md5(old.status)')).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });

  it.each(['SELECT 0xa, cpf FROM customers', 'SELECT 0o17', 'SELECT 0B101', 'SELECT 1_000', 'SELECT 1_000.5', 'SELECT .5_5',
    'SELECT md5(j.b) FROM ((SELECT 0xa) s NATURAL RIGHT JOIN (SELECT id AS xa, cpf FROM customers) t) AS j(a, b)'])('%s is refused, naming the plain form', (sql) => {
    const d = example.evaluate({ identity: EXAMPLE_AGENT, purpose: 'customer-support', command: { protocol: 'postgres', sql } });
    expect({ decision: d.decision, says: /written in a form PostgreSQL 16 added .* write it in plain decimal/.test(d.reason) }).toEqual({ decision: 'deny', says: true });
  });

  it.each(["SELECT '0x1f', a_1, \"0x1\" FROM t WHERE a = 10 -- 0x10 1_0", 'SELECT t1_2.x FROM t1_2', 'SELECT $1_0'])('%s: no such number, allowed', (sql) => {
    expect(decide(sql).decision).not.toBe('deny');
  });
});

// Round 16f (the newest fixes attacked again): no leak; two slow forms and a false refusal.
describe('round 16f: what the newest checks cost, and what they refuse', () => {
  const reason = (sql: string): { decision: string; reason: string } => {
    const d = example.evaluate({ identity: EXAMPLE_AGENT, purpose: 'customer-support', command: { protocol: 'postgres', sql } });
    return { decision: d.decision, reason: d.reason };
  };

  it('an inner WITH of 12,000 items inside WITH RECURSIVE is ordered without copying the names it hides, and allowed', () => {
    for (const recursive of ['RECURSIVE ', '']) {
      const sql = `WITH RECURSIVE a AS (WITH ${recursive}${Array.from({ length: 12_000 }, (_, i) => `c${i} AS (SELECT)`).join(',')} SELECT 1 AS x) SELECT * FROM a`;
      expect(reason(sql).decision).toBe('allow');
    }
  });

  it.each([
    'SELECT id AS a1_2 FROM orders WHERE status = \'batch_2024_01\'',
    'SELECT 1 AS a1_2, \'x\u001by\' AS s',
    'SELECT id FROM orders /* page\fbreak */ WHERE status = \'batch_2024_01\'',
    `SELECT '${'-'.repeat(2000)}' AS rule`,
  ])('%s: no number of 16\'s forms in it, allowed', (sql) => {
    expect(reason(sql).decision).toBe('allow');
  });

  it.each(['SELECT -0x10', 'SELECT 1 + 0b1 FROM orders', 'SELECT id FROM orders LIMIT 1_0', "SELECT '1'::varchar(1_0)", 'SELECT 1e1_0', 'SELECT id FROM orders WHERE id IN (1, 2, 0o7)'])('%s is refused, naming the number', (sql) => {
    const d = reason(sql);
    expect(d.decision).toBe('deny');
    expect(d.reason).toMatch(/the number \S+ is written in a form PostgreSQL 16 added/);
  });

  it('long runs of operator characters, which PostgreSQL\'s lexer reads in quadratic time, are refused before the parse', () => {
    for (const sql of [`SELECT id FROM orders ${'/**/'.repeat(64_000)}`, `SELECT 1 ${'+'.repeat(5_000)} 1`, `SELECT 1 ${'/*'.repeat(4_000)}${'*/'.repeat(4_000)}`]) {
      const d = reason(sql);
      expect(d.decision).toBe('deny');
      expect(d.reason).toMatch(/runs of operator characters .* too long for the policy engine to parse in time/);
    }
  });
});

// Reviews 24 and 25: one INSERT ... SELECT of 10^6 generated CPF candidates into customers read no
// personal column and was allowed; the unique index on cpf answered whether any was stored (and a
// sequence the SELECT called counted which). Holding only multi-row writes left one-row INSERTs at
// 1,000-6,000 guesses/s (many per text, per CTE, per prepared statement). A value written into a
// personal column is a use.
describe('reviews 24 and 25: personal columns written a value', () => {
  it.each([
    "INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) SELECT 5000000 + g, 'x', lpad(g::text, 11, '0'), 'x@x.x', '0', '2000-01-01' FROM generate_series(1, 1000) g",
    "INSERT INTO customers (id, nome, cpf) VALUES (1, 'a', '111.444.777-35'), (2, 'b', '111.444.777-36')",
    'INSERT INTO customers SELECT * FROM customers_backup',
    "INSERT INTO customers (id, nome, cpf) SELECT 1, 'a', '111.444.777-35'",
    "UPDATE customers SET cpf = lpad(id::text, 11, '0') WHERE id < 100",
    'UPDATE customers c SET cpf = b.cpf FROM customers_backup b WHERE b.id = c.id',
    "MERGE INTO customers c USING (SELECT g AS id, lpad(g::text, 11, '0') AS x FROM generate_series(1, 10) g) s ON c.id = s.id WHEN MATCHED THEN UPDATE SET cpf = s.x",
    "MERGE INTO customers c USING (SELECT g AS id FROM generate_series(1, 10) g) s ON c.id = s.id WHEN NOT MATCHED THEN INSERT (id, nome, cpf) VALUES (s.id, 'x', lpad(s.id::text, 11, '0'))",
    "INSERT INTO customers (id, nome, cpf) VALUES (1, 'a', '111.444.777-35') ON CONFLICT (id) DO UPDATE SET cpf = lpad(excluded.id::text, 11, '0')",
    // Review 25: one value per statement, many statements (one text, a CTE of one-row INSERTs, a prepared INSERT run per candidate).
    "INSERT INTO customers (id, nome, cpf) VALUES (1, 'a', '111.444.777-35')",
    'INSERT INTO customers (id, nome, cpf) VALUES ($1, $2, $3)',
    "INSERT INTO customers VALUES (1, 'a', '111.444.777-35')",
    "UPDATE customers SET cpf = '111.444.777-35' WHERE id = 1",
    'UPDATE customers SET cpf = $1::text WHERE id = $2',
    "WITH i0 AS (INSERT INTO customers (id, nome, cpf) VALUES (1, 'a', $1)), i1 AS (INSERT INTO customers (id, nome, cpf) VALUES (2, 'a', $2)) SELECT 1",
    Array.from({ length: 50 }, (_, i) => `INSERT INTO customers (id, nome, cpf) VALUES (${900 + i}, 'x', '111.444.777-${String(i).padStart(2, '0')}')`).join('; '),
    "MERGE INTO customers c USING orders o ON c.id = o.customer_id WHEN NOT MATCHED THEN INSERT (id, nome, cpf) VALUES (o.id, 'x', '111.444.777-35')",
    "UPDATE customers SET (nome, cpf) = ('a', '111.444.777-35') WHERE id = 1",
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it.each([
    "INSERT INTO customers (id, nome, cpf) VALUES (1, 'a', NULL)",
    "INSERT INTO customers (id, nome, cpf) VALUES (1, 'a', DEFAULT)",
    "INSERT INTO customers VALUES (1, 'a')",
    'UPDATE customers SET cpf = NULL WHERE id = $1',
    "UPDATE customers SET nome = upper(nome) WHERE id < 10",
    "INSERT INTO orders (id, customer_id, status, total_cents) SELECT g, 1, 'new', 1 FROM generate_series(1, 10) g",
    "INSERT INTO customers (id, nome) SELECT g, 'x' FROM generate_series(1, 10) g",
    "INSERT INTO audit_log VALUES (1, 'x')",
  ])('held: %s is allowed (no value written into a personal column)', (sql) => {
    expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });

  it('a column named like a personal one of a relation the policy does not know (a partition written directly) counts, as a read by name does', () => {
    expect(decide("INSERT INTO customers_2024 (id, cpf) VALUES (1, '111.444.777-35')")).toEqual({ ...HELD, columns: ['customers_2024.cpf (unknown relation; named like public.customers.cpf)'] });
  });

  it('COPY ... FROM into a personal column is a use too, whatever a policy says of imports', () => {
    const guard = new SensitiveColumnGuard({ columns: ['public.customers.cpf'], relations: [{ name: 'public.customers', columns: ['id', 'nome', 'cpf'] }] });
    const uses = (sql: string): string[] => guard.check(sql).map((u) => `${u.column} ${u.use}`);
    expect(uses('COPY customers (id, cpf) FROM STDIN')).toEqual(['public.customers.cpf written (a unique index compares the value with the stored ones: the error says whether it is stored)']);
    expect(uses('COPY customers FROM STDIN WITH (FORMAT csv)')).toHaveLength(1);
    expect(uses('COPY customers (id, nome) FROM STDIN')).toEqual([]);
  });
});

// Review 26: an item PostgreSQL expands into several columns (`s.*`, `(expr).*`) in a one-row VALUES
// list filled cpf while the guard paired the item with the first column (id): a customer's whole CPF
// in three allowed statements (a MERGE of 8,265 generated candidates, then currval), ~10,500
// guesses/s by one-row INSERTs, through the real sidecar.
describe('review 26: a VALUES item expanded into several columns', () => {
  it.each([
    "INSERT INTO customers VALUES (('(1000,x,111.444.777-35,,a,1,2000-01-01,)'::customers).*)",
    "INSERT INTO customers (id, nome, cpf, cnpj, email, telefone, dt_nasc, notes) VALUES ((('(1000,x,111.444.777-35,,a,1,2000-01-01,)'::customers).*))",
    'INSERT INTO customers VALUES (($1::customers).*)',
    'INSERT INTO customers VALUES ((json_populate_record(NULL::customers, $1::json)).*)',
    "WITH a AS (INSERT INTO customers VALUES (('(1000,x,111.444.777-35,,a,1,2000-01-01,)'::customers).*) RETURNING id) SELECT count(*) FROM a",
    "MERGE INTO customers c USING (VALUES (1002, 'x', '111.444.777-35', NULL, 'a', '1', '2000-01-01'::date, NULL)) s ON false WHEN NOT MATCHED THEN INSERT VALUES (s.*)",
    "MERGE INTO customers c USING (SELECT 1 AS id, 'x' AS nome, lpad(g::text, 11, '0') AS cpf FROM generate_series(1, 10) g) s ON false WHEN NOT MATCHED THEN INSERT (id, nome, cpf) VALUES (s.*)",
    // Positions shifted: the orders row fills five columns, the literal lands in cpf (the guard paired it with nome).
    "INSERT INTO customers VALUES (('(1000,1,x,0,2000-01-01)'::orders).*, '111.444.777-35', NULL, NULL)",
    "INSERT INTO customers VALUES (1, (('x', '111.444.777-35')::customers_name_doc).*)",
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('an expanded item after the personal columns, or a row value written into one column whole, is no write of them', () => {
    expect(decide("INSERT INTO orders VALUES (1, (('(1,x,0,2000-01-01)'::order_tail).*))")).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
    expect(decide("INSERT INTO customers (id, nome) VALUES (1, (ROW('x')).f1)")).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});

// Review 28: PostgreSQL never takes a write's target from a WITH item; the guard resolved it through
// the WITH names, so a CTE named customers hid the whole write (SET, WHERE, RETURNING, the written
// values, MERGE's ON): RETURNING translate(cpf, '0123456789', 'abcdefghij') gave back every CPF
// through the real sidecar, unmasked and unheld.
describe('review 28: a WITH item named like the target of a write', () => {
  it.each([
    "WITH customers AS (SELECT 1 AS x) UPDATE customers SET nome = nome WHERE id > 0 RETURNING id, translate(cpf, '0123456789', 'abcdefghij')",
    'WITH customers AS (SELECT 1 AS x) UPDATE customers SET nome = nome WHERE id > 0 RETURNING md5(cpf)',
    "WITH customers AS (SELECT 1 AS x) UPDATE customers SET nome = nome WHERE cpf LIKE '590%' RETURNING id",
    "WITH customers AS (SELECT 1 AS x) DELETE FROM customers WHERE cpf LIKE '590%' RETURNING id",
    "WITH customers AS (SELECT 1 AS x) INSERT INTO customers (id, nome, cpf) VALUES (1, 'x', '111.444.777-35')",
    "WITH customers AS (SELECT 1 AS x) INSERT INTO customers VALUES (1, 'x', '111.444.777-35')",
    "WITH customers AS (SELECT 1 AS x), w AS (UPDATE customers SET nome = nome WHERE id > 0 RETURNING md5(cpf) AS h) SELECT h FROM w",
    "WITH customers AS (SELECT 1 AS x) MERGE INTO customers c USING (SELECT '111.444.777-35' AS k) s ON c.cpf = s.k WHEN MATCHED THEN DO NOTHING",
    "WITH public AS (SELECT 1 AS x), customers AS (SELECT 2 AS y) UPDATE public.customers SET nome = nome WHERE id > 0 RETURNING md5(cpf)",
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('in FROM, a WITH item still shadows the table, as PostgreSQL resolves it', () => {
    expect(decide('WITH customers AS (SELECT 1 AS cpf) SELECT md5(cpf::text) FROM customers')).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
    expect(decide("WITH customers AS (SELECT 1 AS x) UPDATE orders SET status = 'x' FROM customers WHERE orders.id = customers.x")).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});

// Review 30: two places where the guard resolved a name otherwise than PostgreSQL. A schema-qualified
// reference (`public.customers.cpf`) was matched by its last part, so a decoy FROM item named
// customers (a subquery, CTE or alias) took it while PostgreSQL read the outer table; and a join's ON
// condition (and TABLESAMPLE's arguments) saw the FROM items before the join, so a decoy `(SELECT 1) c`
// took `c.cpf` of the outer customers c. Both gave back every CPF through the real sidecar.
describe('review 30: names PostgreSQL resolves past a decoy', () => {
  it.each([
    "SELECT id, (SELECT translate(public.customers.cpf, '0123456789', 'abcdefghij') FROM (SELECT 1) AS customers) AS x FROM customers",
    "SELECT id, EXISTS (SELECT 1 FROM orders AS customers WHERE public.customers.cpf LIKE '590%') AS p FROM public.customers",
    'WITH customers AS (SELECT 1 AS x) SELECT id, (SELECT md5(public.customers.cpf) FROM customers) FROM public.customers',
    'SELECT id, (SELECT public.customers.cpf FROM (SELECT 1) customers) AS x FROM public.customers ORDER BY 2',
    'SELECT id, (SELECT orders.public.customers.cpf::bigint FROM (SELECT 1) customers) FROM public.customers',
    'SELECT id FROM public.customers, LATERAL (SELECT md5(public.customers.cpf) AS h FROM orders customers) z',
    "SELECT id FROM customers WHERE (SELECT row_to_json(public.customers.*)::text FROM (SELECT 1) customers) LIKE '%590%'",
    'UPDATE customers SET nome = (SELECT md5(public.customers.cpf) FROM (SELECT 1) customers) WHERE id = 1 RETURNING nome',
    "DELETE FROM customers WHERE id = 1 AND EXISTS (SELECT 1 FROM (SELECT 1) customers WHERE public.customers.cpf LIKE '590%') AND false",
    "SELECT c.id, (SELECT string_agg(g::text, '.' ORDER BY i) FROM (SELECT 1) c, generate_series(1, 14) i JOIN generate_series(32, 126) g ON g = ascii(substr(c.cpf, i, 1))) FROM customers c",
    "SELECT c.id, (SELECT count(*) FROM orders c, orders o JOIN orders o2 ON o.id = o2.id AND c.cpf LIKE '590%') FROM customers c",
    "SELECT c.id, (SELECT count(*) FROM (SELECT 1) c, orders o JOIN (orders o2 JOIN orders o3 ON c.cpf LIKE '590%') ON true) FROM customers c",
    "SELECT c.id, (SELECT count(*) FROM (SELECT 1) c, orders o JOIN orders o2 ON md5(c::text) = '') FROM customers c",
    'SELECT c.id, (SELECT count(*) FROM (SELECT 1) c, orders TABLESAMPLE bernoulli (length(c.cpf))) FROM customers c',
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('what PostgreSQL does resolve to the nearer item still is: an unqualified alias, a LATERAL item, an un-aliased table', () => {
    expect(decide('SELECT c.id, (SELECT count(*) FROM (SELECT 1 AS cpf) c, LATERAL (SELECT c.cpf) z) FROM customers c')).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
    expect(decide('SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id')).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
    expect(decide('SELECT public.customers.cpf FROM customers')).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
    expect(decide("SELECT id FROM customers WHERE public.customers.cpf LIKE '590%'")).toEqual({ ...HELD, columns: [CPF] });
  });
});

// Review 31: the same class again. A quoted alias holding a dot ("public.customers") answered the
// key of public.customers; an unaliased ROWS FROM (f(), g()) was named after g where PostgreSQL names
// it f; an unaliased XMLTABLE was named RangeTableFunc (PostgreSQL: xmltable); TABLESAMPLE's
// arguments saw the sampled table itself. Each gave back CPFs through the real sidecar.
describe('review 31: more names PostgreSQL resolves past a decoy', () => {
  it.each([
    'SELECT id, (SELECT md5(public.customers.cpf) FROM (SELECT 1) AS "public.customers") AS x FROM customers',
    'WITH "public.customers" AS (SELECT 1 AS x) SELECT id, (SELECT md5(public.customers.cpf) FROM "public.customers") FROM customers',
    'SELECT id, (SELECT md5(public.customers.cpf) FROM orders AS "public.customers") AS x FROM customers',
    'SELECT id, (SELECT md5(public.customers.cpf) FROM generate_series(1,1) AS "public.customers") AS x FROM customers',
    'SELECT id, (SELECT md5(public.customers.cpf) FROM (orders o JOIN orders p ON true) AS "public.customers") AS x FROM customers',
    'SELECT id, (SELECT md5(public.customers.cpf) FROM orders o JOIN orders p USING (id) AS "public.customers") AS x FROM customers',
    'SELECT id, (SELECT md5(orders.public.customers.cpf) FROM (SELECT 1) AS "orders.public.customers") AS x FROM customers',
    "SELECT id FROM customers WHERE EXISTS (SELECT 1 FROM (SELECT 1) AS \"public.customers\" WHERE public.customers.cpf LIKE '590%')",
    'SELECT id, (SELECT row_to_json(public.customers.*)::text FROM (SELECT 1) AS "public.customers") FROM customers',
    'SELECT id, (SELECT md5(unnest.cpf) FROM ROWS FROM (generate_series(1,1), unnest(ARRAY[1]))) FROM customers AS unnest',
    "SELECT id FROM customers AS unnest WHERE EXISTS (SELECT 1 FROM ROWS FROM (generate_series(1,1), unnest(ARRAY[1])) WHERE unnest.cpf LIKE '590%')",
    "SELECT id, (SELECT md5(\"RangeTableFunc\".cpf) FROM XMLTABLE('/r' PASSING xmlparse(document '<r/>') COLUMNS x int PATH '1')) FROM customers AS \"RangeTableFunc\"",
    'SELECT c.id, (SELECT count(*) FROM orders AS c TABLESAMPLE bernoulli (length(c.cpf)*7)) FROM customers c',
    "SELECT c.id, (SELECT count(*) FROM orders AS c TABLESAMPLE bernoulli (CASE WHEN c.cpf LIKE '590%' THEN 100 ELSE 0 END)) FROM customers c",
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('the names PostgreSQL does give still resolve to the inner item', () => {
    const allowed = { decision: 'allow', rule: 'allow-the-rest', columns: [] };
    expect(decide('SELECT generate_series.* FROM ROWS FROM (generate_series(1, 2), unnest(ARRAY[1]))')).toEqual(allowed);
    expect(decide("SELECT xmltable.x FROM XMLTABLE('/r' PASSING xmlparse(document '<r/>') COLUMNS x int PATH '1')")).toEqual(allowed);
    expect(decide('SELECT "public.customers".x FROM (SELECT 1 AS x) AS "public.customers"')).toEqual(allowed);
  });
});

// Review 32: (a) an unaliased subquery (PostgreSQL 16+) was named `subquery`, so `subquery.cpf` stopped
// at it in the guard while PostgreSQL went on to an outer `customers AS subquery`; (b) SQL/JSON
// expressions were named `?column?` for sure, where PostgreSQL names them json, json_value, ...:
// NATURAL JOIN then compared cpf with an agent's candidates unheld (a CPF found among 10^6 in 7.5 s).
describe('review 32: unaliased subqueries and SQL/JSON names', () => {
  it.each([
    'SELECT id, (SELECT md5(subquery.cpf) FROM (SELECT 1)) AS x FROM customers AS subquery',
    'SELECT id, (SELECT md5(subquery.cpf) FROM (VALUES (1))) AS x FROM customers AS subquery',
    'SELECT id, (SELECT md5(subquery.cpf) FROM LATERAL (SELECT 1)) AS x FROM customers AS subquery',
    'SELECT id, (SELECT md5(subquery::text) FROM (SELECT 1 AS y)) AS x FROM customers AS subquery',
    "SELECT id FROM customers AS subquery WHERE EXISTS (SELECT 1 FROM (SELECT 1) WHERE subquery.cpf LIKE '590%')",
    "SELECT translate(subquery.cpf, '0123456789', 'abcdefghij') FROM (SELECT 1), customers AS subquery",
    'SELECT subquery.id FROM (SELECT 1), customers AS subquery ORDER BY subquery.cpf',
    "SELECT a.id, b.g FROM (SELECT id, cpf AS json FROM customers) a NATURAL JOIN (SELECT CASE WHEN true THEN x ELSE json('1')::text END, translate(x, '0123456789', 'abcdefghij') AS g FROM unnest(ARRAY['390.996.030-88']) x) b",
    "SELECT a.id, b.g FROM (SELECT id, cpf AS json_value FROM customers) a NATURAL JOIN (SELECT JSON_VALUE(to_jsonb(x), '$'), x AS g FROM unnest(ARRAY['390.996.030-88']) x) b",
    "SELECT * FROM (SELECT JSON_VALUE(jsonb '\"a\"', '$'), 2 AS id) a NATURAL JOIN (SELECT 'a' AS json_value, id, cpf FROM customers) c ORDER BY 3",
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('SQL/JSON expressions are named as PostgreSQL names them', () => {
    const names = (sql: string): string => {
      const select = parseStatements(sql)[0]?.node as { targetList: { ResTarget: { val: unknown } }[] } | undefined;
      return figureColname(select?.targetList[0]?.ResTarget.val).name;
    };
    expect(names("SELECT json('1')")).toBe('json');
    expect(names("SELECT JSON_VALUE(jsonb '1', '$')")).toBe('json_value');
    expect(names("SELECT JSON_QUERY(jsonb '1', '$')")).toBe('json_query');
    expect(names("SELECT JSON_EXISTS(jsonb '1', '$')")).toBe('json_exists');
    expect(names("SELECT JSON_OBJECT('a': 1)")).toBe('json_object');
    expect(names('SELECT JSON_ARRAY(1, 2)')).toBe('json_array');
  });
});

// Review 33: a scalar subquery over `s.*` was named s for sure (PostgreSQL names it after s's first
// column); as the left branch of `... UNION ALL SELECT cpf FROM customers` it named the CPF column,
// and an unqualified reference by PostgreSQL's name found nothing in the guard: every CPF, e-mail,
// phone and CNPJ, translated, through the real sidecar. The name is unsure now, and a personal
// output whose name is unsure answers any name (as an unplaced column does).
describe('review 33: a personal column under a name the guard is unsure of', () => {
  it.each([
    "SELECT translate(q, '0123456789', 'abcdefghij') FROM (SELECT (SELECT s.* FROM (SELECT ''::text AS q) s) WHERE false UNION ALL SELECT cpf FROM customers) t",
    "SELECT count(*) FROM (SELECT (SELECT s.* FROM (SELECT 'a'::text AS q) s) UNION ALL SELECT cpf FROM customers) t WHERE q LIKE '590%'",
    "WITH t AS (SELECT (SELECT * FROM (SELECT 'a'::text AS q) s) UNION ALL SELECT cpf FROM customers) SELECT md5(q) FROM t",
    "SELECT q FROM (SELECT (SELECT s.* FROM (SELECT 'a'::text AS q) s) UNION ALL SELECT cpf FROM customers) t GROUP BY q",
    "SELECT x FROM (SELECT (SELECT s.* FROM (SELECT 'a'::text AS q) s), 1 AS x UNION ALL SELECT cpf, id FROM customers) t ORDER BY q",
    "SELECT t.* FROM (SELECT (SELECT s.* FROM (SELECT 'a'::text AS q) s) UNION ALL SELECT cpf FROM customers) t JOIN (VALUES ('590.830.166-33')) v(q) USING (q)",
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });
});

// Review 34: review 33's fix attacked. A set operation's own ORDER BY by a name PostgreSQL gives its
// unsure output (a sort oracle: markers beside masked CPFs gave every whole CPF in three statements),
// and `(s).*` (or `(ROW(...)).*`) named for sure where PostgreSQL names it after the first field.
describe('review 34: unsure names in a set operation\'s ORDER BY, and (s).*', () => {
  it.each([
    "SELECT (SELECT s.* FROM (SELECT ''::text AS q) s) WHERE false UNION ALL SELECT cpf FROM customers ORDER BY q",
    "SELECT (SELECT s.* FROM (SELECT ''::text AS q) s) UNION ALL SELECT cpf FROM customers ORDER BY q LIMIT 1",
    "SELECT * FROM (SELECT (SELECT s.* FROM (SELECT ''::text AS q) s) UNION ALL SELECT cpf FROM customers ORDER BY q LIMIT 1) t",
    "SELECT (SELECT s.* FROM (SELECT m AS q) s), -1 AS id, m AS marker FROM generate_series(0, 999) g, LATERAL (SELECT lpad(g::text, 3, '0') AS m) x UNION ALL SELECT cpf, id, NULL FROM customers ORDER BY q",
    "SELECT translate(q, '0123456789', 'abcdefghij') AS a FROM (SELECT (SELECT (s).* FROM (SELECT ''::text AS q) s) WHERE false UNION ALL SELECT cpf FROM customers) t",
    "SELECT count(*) FROM (SELECT (SELECT (s).* FROM (SELECT 'a'::text AS q) s) UNION ALL SELECT cpf FROM customers) t WHERE q LIKE '590%'",
    "SELECT count(*) FROM (SELECT (SELECT (ROW(''::text)).*) WHERE false UNION ALL SELECT cpf FROM customers) t WHERE f1 LIKE '590%'",
    "SELECT (SELECT (s).* FROM (SELECT '590'::text AS q) s), 0 AS id UNION ALL SELECT cpf, id FROM customers ORDER BY q",
    "SELECT customers.id FROM (SELECT (SELECT (s).* FROM (SELECT x AS cpf) s) FROM unnest(ARRAY['111.111.111-11', '590.830.166-33']) x) a NATURAL JOIN customers",
  ])('%s is held (cpf)', (sql) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([CPF]) });
  });

  it('a set operation sorted by a name its outputs carry for sure, or by a qualified name, is judged by that output', () => {
    expect(decide('SELECT id AS k FROM orders UNION ALL SELECT id FROM customers ORDER BY k')).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});

describe('review 35: planner statistics figures computed from personal values', () => {
  // Two data sets differing only in personal values answered avg_width 30 and 17, correlation -1
  // and 1 (pg_stats), width=30 and 17 (EXPLAIN): no value, yet an oracle; correlation moves when a
  // row the agent may update is rewritten.
  it.each([
    ["SELECT attname, avg_width, n_distinct, null_frac, correlation FROM pg_stats WHERE tablename = 'customers'", 'pg_stats.avg_width'],
    ['SELECT correlation FROM pg_catalog.pg_stats', 'pg_stats.correlation'],
    ['SELECT s.most_common_freqs FROM pg_stats s', 'pg_stats.most_common_freqs'],
    ['SELECT elem_count_histogram FROM pg_stats', 'pg_stats.elem_count_histogram'],
    ['SELECT stawidth, stadistinct FROM pg_statistic', 'pg_statistic.stawidth'],
    ['SELECT stanumbers1 FROM pg_catalog.pg_statistic', 'pg_statistic.stanumbers1'],
    ['SELECT n_distinct FROM pg_stats_ext', 'pg_stats_ext.n_distinct'],
    ['SELECT avg_width FROM pg_stats_ext_exprs', 'pg_stats_ext_exprs.avg_width'],
    ['SELECT stxdndistinct FROM pg_statistic_ext_data', 'pg_statistic_ext_data.stxdndistinct'],
    ['SELECT count(*) FROM pg_stats WHERE correlation > 0', 'pg_stats.correlation'],
  ])('%s is held', (sql, column) => {
    expect(decide(sql)).toEqual({ ...HELD, columns: expect.arrayContaining([`${column} (a figure computed from every column's values; may hold cpf, cnpj, email, telefone, notes)`]) });
  });

  it.each([
    'EXPLAIN SELECT email FROM customers WHERE id = 1',
    'EXPLAIN SELECT * FROM customers',
    'EXPLAIN (FORMAT JSON) SELECT cpf FROM public.customers',
    'EXPLAIN SELECT x FROM (SELECT cpf AS x FROM customers) s',
    'EXPLAIN SELECT id FROM orders UNION ALL SELECT telefone FROM customers',
    // Review 37: every plan step prints its width, not only the top select list.
    'EXPLAIN DECLARE c CURSOR FOR SELECT cpf FROM customers',
    'EXPLAIN (VERBOSE) DECLARE c CURSOR FOR SELECT cpf FROM customers',
    'EXPLAIN WITH x AS MATERIALIZED (SELECT cpf FROM customers) SELECT count(*) FROM x',
    'EXPLAIN WITH x AS (SELECT cpf FROM customers) SELECT count(*) FROM x a, x b',
    'EXPLAIN SELECT count(*) FROM customers, LATERAL (SELECT cpf OFFSET 0) s',
    'EXPLAIN UPDATE customers SET nome = nome WHERE id = 1 RETURNING email',
  ])('%s is held: the plan\'s width estimate of a personal output is a figure computed from its values', (sql) => {
    expect(decide(sql).decision).toBe('requireApproval');
  });

  it('EXPLAIN of what returns no personal column, or over tables the policy does not know, stays allowed', () => {
    for (const sql of ['EXPLAIN SELECT id, nome FROM customers WHERE id = 4', 'EXPLAIN SELECT count(*) FROM customers', 'EXPLAIN SELECT * FROM pgbench_accounts WHERE aid = 1', 'EXPLAIN UPDATE customers SET nome = nome WHERE id = 1']) {
      expect(decide(sql)).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
    }
  });

  it('the names of what has statistics are not figures', () => {
    expect(decide("SELECT schemaname, tablename, attname, inherited FROM pg_stats WHERE tablename = 'customers'")).toEqual({ decision: 'allow', rule: 'allow-the-rest', columns: [] });
  });
});
