// Round 11 adversarial review of the PostgreSQL statement decisions: what the server does that the
// classifier's reading of the text does not name. Each case FAILS on the code it was found on, for
// the reason its name gives (see docs/security-model.md, "Round 11 review: PostgreSQL"); the real server's behaviour is checked
// through the sidecar in sidecar/test/pg-round11-attacks.int.test.ts.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { initPolicyEngine, type CompiledPolicy } from './index.ts';
import { decideSql, examplePolicy, one } from './lgpd-example.testkit.ts';

let example: CompiledPolicy;

beforeAll(async () => {
  await initPolicyEngine();
  example = examplePolicy();
});

const decide = (sql: string): { decision: string; rule?: string } => decideSql(example, sql);

// PostgreSQL turns a SELECT ... INTO into CREATE TABLE AS at parse analysis, after drilling down to
// the LEFTMOST leaf of a set operation (analyze.c, transformOptionalSelectInto: "If it's a
// set-operation tree, drill down to leftmost SelectStmt"). `SELECT 1 AS x INTO leak UNION SELECT 2`
// creates table leak; the classifier looks for intoClause on the top-level node only (sql.ts
// kindOf), which for a set operation is the UNION node: kind `select`, allowed by allow-the-rest
// although deny-ddl-and-dcl denies every CREATE TABLE / SELECT INTO.
describe('SELECT ... INTO in the leftmost branch of a set operation creates a table (round 11)', () => {
  const CREATES_A_TABLE = [
    'SELECT 1 AS x INTO leak UNION SELECT 2',
    'SELECT 1 AS x INTO TEMP leak UNION ALL SELECT 2',
    '(SELECT 1 AS x INTO leak) UNION SELECT 2',
    'SELECT 1 AS x INTO leak EXCEPT SELECT 2',
    'SELECT 1 AS x INTO leak INTERSECT SELECT 1',
    'SELECT 1 AS x INTO leak UNION SELECT 2 UNION SELECT 3',
    'WITH a AS (SELECT 1) SELECT 1 AS x INTO leak UNION SELECT 2',
    "SELECT NULL::text AS cpf INTO public.agent_docs UNION SELECT NULL",
  ];

  it.each(CREATES_A_TABLE)('%s is kind ddl, as SELECT 1 INTO leak is', (sql) => {
    expect(one('SELECT 1 AS x INTO leak').kind).toBe('ddl'); // control: the plain form
    expect(one(sql).kind).toBe('ddl');
  });

  it.each(CREATES_A_TABLE)('%s is denied by the example policy (deny-ddl-and-dcl)', (sql) => {
    expect(decide('SELECT 1 AS x INTO leak')).toEqual({ decision: 'deny', rule: 'deny-ddl-and-dcl' }); // control
    expect(decide(sql)).toEqual({ decision: 'deny', rule: 'deny-ddl-and-dcl' });
  });
});

// TABLESAMPLE wraps the table's RangeVar in a RangeTableSample under the key `relation`, which is
// not one of sql.ts's READ_KEYS: the table is listed but the statement has no `readsData` trait
// ("any read of a table", access-policy.md), so a rule keyed on readsData does not see the read.
describe('TABLESAMPLE hides the read from trait readsData (round 11)', () => {
  it.each([
    'SELECT id, nome, cpf FROM customers TABLESAMPLE SYSTEM (100)',
    'SELECT * FROM customers TABLESAMPLE BERNOULLI (100) REPEATABLE (1) WHERE id = 1',
    'SELECT c.id FROM customers c TABLESAMPLE SYSTEM (100) CROSS JOIN LATERAL (SELECT 1) x',
  ])('%s reads customers', (sql) => {
    expect(one('SELECT id, nome, cpf FROM customers').traits).toContain('readsData'); // control
    const s = one(sql);
    expect(s.tables).toContain('customers');
    expect(s.traits).toContain('readsData');
  });

  it('a policy that denies reads (readsData) to a purpose denies a TABLESAMPLE read', () => {
    const p = examplePolicy((doc) => { doc.spec.rules.unshift({ name: 'no-reads', description: 'round 11: this purpose only writes', match: { sql: { traits: ['readsData'] } }, action: 'deny' }); });
    const verdict = (sql: string): string => decideSql(p, sql).decision;
    expect(verdict('SELECT nome FROM customers WHERE id = 1')).toBe('deny'); // control
    expect(verdict('SELECT nome FROM customers TABLESAMPLE SYSTEM (100) WHERE id = 1')).toBe('deny');
  });
});

// The guard holds uses of pg_stat_activity.query (other sessions' statement texts, literal CPFs of
// approved lookups included: every agent behind the sidecar is one database role), but not the
// functions the view is built on, which return the same texts from the select list.
describe("other sessions' statement texts through the functions under pg_stat_activity (round 11)", () => {
  it.each([
    "SELECT translate(pg_stat_get_backend_activity(b), '0123456789', 'abcdefghij') FROM generate_series(1, 200) b",
    "SELECT translate(pg_stat_get_backend_activity(pg_stat_get_backend_idset()), '0123456789', 'abcdefghij')",
    "SELECT translate((pg_stat_get_activity(NULL)).query, '0123456789', 'abcdefghij')",
    'SELECT md5((pg_stat_get_activity(NULL)).query)',
    'SELECT md5(pg_catalog.pg_stat_get_backend_activity(2))',
  ])('%s is held like the same transform over pg_stat_activity', (sql) => {
    expect(decide("SELECT translate(query, '0123456789', 'abcdefghij') FROM pg_stat_activity")).toEqual({ decision: 'requireApproval', rule: 'exports-need-dpo' }); // control
    expect(decide(sql)).toEqual({ decision: 'requireApproval', rule: 'exports-need-dpo' });
  });
});
