// Round 16 adversarial review of the sensitive-column guard: forms where PostgreSQL reads a name or
// a position otherwise than the guard did, so a transformed, compared or ordered personal column
// passed as "not personal" (the example policy allowed every statement of the first block with no
// use reported). Each class, what PostgreSQL does and the fix: docs/security-model.md, "Round 16".
// The real server's answers, through the real sidecar: sidecar/test/pg-round16-attacks.int.test.ts.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { initPolicyEngine, type CompiledPolicy } from './index.ts';
import { EXAMPLE_AGENT, examplePolicy, one } from './lgpd-example.testkit.ts';

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

  it('a position past the outputs of a relation the policy does not know is held (it may be a personal column there)', () => {
    expect(decide('SELECT * FROM unknown_table ORDER BY 3')).toMatchObject(HELD);
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
