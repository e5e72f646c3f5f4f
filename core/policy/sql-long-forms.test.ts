// One SQL text must not stall the sidecar: every long form (corpus/long-forms.sql-corpus.ts) costs
// work linear in its length, asserted on the sensitive-column guard's work counter (never on
// milliseconds), keeps the decision the example policy intends, and is parsed once per decision.
// Past the bounds that remain (text length, the guard's work budget, nesting), the statement is
// denied as Unparseable with the bound and how to split the work.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseAccessPolicy } from '../../crds/validators.ts';
import { LONG_FORMS } from './corpus/long-forms.sql-corpus.ts';
import { compilePolicy, initPolicyEngine, type CompiledPolicy, type Identity } from './index.ts';
import { SensitiveColumnGuard } from './sql-columns.ts';
import { classifySql, MAX_SQL_TEXT, parseStatementStats, resetSqlCaches, sqlCacheStats, SqlParseError } from './sql.ts';
import { CACHEABLE_SQL_LENGTH } from './text-cache.ts';

const POLICY_FILE = new URL('../../examples/lgpd-orders/accesspolicy.yaml', import.meta.url);
const agent: Identity = { subject: 'agent-7', groups: ['support'], kind: 'User' };

let policyDoc: ReturnType<typeof parseAccessPolicy>;
let policy: CompiledPolicy;
let guard: SensitiveColumnGuard;

beforeAll(async () => {
  await initPolicyEngine();
  const doc = parseAccessPolicy(parse(readFileSync(POLICY_FILE, 'utf8')), 'accesspolicy.yaml');
  policyDoc = doc;
  policy = compilePolicy(doc);
  const cfg = doc.spec.sensitiveColumns;
  if (cfg === undefined) throw new Error('the example policy declares spec.sensitiveColumns');
  guard = new SensitiveColumnGuard(cfg);
});

function decide(sql: string): ReturnType<CompiledPolicy['evaluate']> {
  return policy.evaluate({ identity: agent, purpose: 'customer-support', command: { protocol: 'postgres', sql } });
}

/** The guard's work on a text (each call uses a fresh comment: never a cache hit). */
let salt = 0;
function work(sql: string): number {
  guard.check(`${sql} /* ${salt++} */`);
  return guard.lastCheckWork;
}

describe('long SQL forms cost linear work', () => {
  it.each(LONG_FORMS.map((f) => [f.name, f] as const))('%s: 4x the units, about 4x the work', (_name, form) => {
    const small = form.make(form.n);
    const large = form.make(4 * form.n);
    expect(large.length).toBeLessThanOrEqual(MAX_SQL_TEXT);
    const ratio = work(large) / Math.max(1, work(small));
    // Linear: ~4 (a fixed part per text pulls it lower). Quadratic would be ~16.
    expect(ratio).toBeLessThanOrEqual(4.6);
    expect(ratio === 1 || ratio >= 3).toBe(true);
  });

  it.each(LONG_FORMS.map((f) => [f.name, f] as const))('%s: decided as the example policy intends, checked in full', (_name, form) => {
    for (const n of [form.n, 4 * form.n]) {
      const d = decide(form.make(n));
      expect({ decision: d.decision, code: d.code }).toEqual({ decision: form.decision, code: form.decision === 'allow' ? 'Allowed' : 'ApprovalRequired' });
    }
  });

  it('a NATURAL JOIN chain of 1,000 tables is checked in full: every personal column is named, none unchecked', () => {
    const d = decide(`SELECT 1 FROM ${Array.from({ length: 1000 }, (_, i) => `customers c${i}`).join(' NATURAL JOIN ')}`);
    expect(d.decision).toBe('requireApproval');
    expect(d.sensitiveColumns?.map((u) => [u.column, u.use])).toEqual([
      ['public.customers.cpf', 'NATURAL JOIN comparison'],
      ['public.customers.cnpj', 'NATURAL JOIN comparison'],
      ['public.customers.email', 'NATURAL JOIN comparison'],
      ['public.customers.telefone', 'NATURAL JOIN comparison'],
      ['public.customers.notes', 'NATURAL JOIN comparison'],
    ]);
  });

  it('a text of thousands of statements is decided by its strictest statement, named in the one reason written', () => {
    const many = Array.from({ length: 3000 }, (_, i) => `SELECT id FROM orders WHERE id = ${i}`);
    many[2000] = 'DELETE FROM orders';
    many[2500] = 'TRUNCATE orders';
    const d = decide(many.join('; '));
    expect({ decision: d.decision, rule: d.rule }).toEqual({ decision: 'deny', rule: 'deny-unbounded-writes' });
    expect(d.reason).toMatch(/^statement 2001 of 3000 \(delete on orders/);
    expect(d.statements?.[2500]).toMatchObject({ verdict: 'deny', rule: 'deny-ddl-and-dcl' });
    expect(d.statements?.[1]).toMatchObject({ verdict: 'allow', rule: 'allow-the-rest' });
  });

  it('a reason names at most 20 tables, then how many more', () => {
    const d = decide(`SELECT 1 FROM ${Array.from({ length: 30 }, (_, i) => `t${i}`).join(', ')}`);
    expect(d.reason).toMatch(/on t0, t1, .*, t19 and 10 more/);
    expect(d.reason).not.toMatch(/t20/);
  });

  it('a long chain reports what a chain of two joins reports (the indexes find what scans found)', () => {
    const chain = (join: string, n: number): string => `SELECT 1 FROM orders o0 ${Array.from({ length: n }, (_, i) => `${join.replaceAll('#', String(i + 1))}`).join(' ')}`;
    for (const join of ['JOIN customers c# USING (cpf)', 'NATURAL JOIN customers c#', 'JOIN customers c# ON c#.email LIKE \'a%\'', 'JOIN customers c# ON telefone > \'1\'', 'JOIN mystery m# USING (telefone)', 'NATURAL JOIN mystery m#']) {
      const one = guard.check(chain(join, 2)).map((u) => [u.column, u.use]);
      const many = guard.check(chain(join, 300)).map((u) => [u.column, u.use]);
      expect(one.length).toBeGreaterThan(0);
      expect(new Set(many.map((u) => JSON.stringify(u)))).toEqual(new Set(one.map((u) => JSON.stringify(u))));
    }
  });
});

describe('one parse per decision, and none for a long text decided again', () => {
  it('the classifier and the sensitive-column guard share the parse of a text beyond the caches', () => {
    const text = `${LONG_FORMS[0]?.make(200) ?? ''} /* shared */`;
    const before = parseStatementStats();
    expect(decide(text).decision).toBe('requireApproval');
    const after = parseStatementStats();
    expect(after.parses - before.parses).toBe(1);
    expect(after.sharedHits - before.sharedHits).toBe(1);
    // The same text again (a long prepared statement's next run): remembered by its digest, not parsed.
    expect(decide(text).decision).toBe('requireApproval');
    expect(parseStatementStats().parses - after.parses).toBe(0);
    // Another text (a comment changed): parsed; the parse is not kept past its decision.
    expect(decide(`${text} `).decision).toBe('requireApproval');
    expect(parseStatementStats().parses - after.parses).toBe(1);
  });

  it('a long text is remembered by digest in the classifier and the guard, refusals included', () => {
    resetSqlCaches();
    const text = `${LONG_FORMS[1]?.make(300) ?? ''} /* digest */`;
    classifySql(text);
    classifySql(text);
    expect(sqlCacheStats()).toMatchObject({ parses: 1, longHits: 1 });
    guard.check(text);
    expect(guard.lastCheckWork).toBeGreaterThan(1000);
    guard.check(text);
    expect(guard.lastCheckWork).toBe(0);
    const past = `SELECT ${'(SELECT '.repeat(120)}1${')'.repeat(120)} /* ${'x'.repeat(4096)} */`;
    expect(() => guard.check(past)).toThrow(/nested more than 100 levels deep/);
    const before = parseStatementStats().parses;
    expect(() => guard.check(past)).toThrow(/nested more than 100 levels deep/);
    expect(parseStatementStats().parses).toBe(before);
  });

  it('the digest cache answers only the same text: long texts differing in one statement or one column are decided afresh', () => {
    const base = LONG_FORMS.find((f) => f.name === 'UNION ALL chain')?.make(300) ?? '';
    expect(base.length).toBeGreaterThan(CACHEABLE_SQL_LENGTH);
    expect(decide(base).decision).toBe('allow');
    expect(decide(base).decision).toBe('allow');
    const destructive = decide(`${base}; DELETE FROM orders`);
    expect({ decision: destructive.decision, rule: destructive.rule }).toEqual({ decision: 'deny', rule: 'deny-unbounded-writes' });
    const personal = decide(base.replace('SELECT id, nome FROM customers WHERE id = 0', 'SELECT id, md5(cpf) FROM customers WHERE id = 0'));
    expect(personal.decision).toBe('requireApproval');
    expect(personal.sensitiveColumns?.[0]).toMatchObject({ column: 'public.customers.cpf', use: 'function argument md5()' });
    // And the original is still what it was.
    expect(decide(base).decision).toBe('allow');
  });

  it('a long text whose result names many tables is not kept (memory): decided again in full', () => {
    resetSqlCaches();
    const text = `SELECT 1 FROM ${Array.from({ length: 600 }, (_, i) => `table_${i}`).join(', ')}`;
    expect(text.length).toBeGreaterThan(CACHEABLE_SQL_LENGTH);
    expect(classifySql(text)[0]?.tables).toHaveLength(600);
    classifySql(text);
    expect(sqlCacheStats()).toMatchObject({ parses: 2, longHits: 0 });
  });
});

describe('bounds: denied, naming the bound and how to split the work', () => {
  const denied = (sql: string, reason: RegExp): void => {
    const d = decide(sql);
    expect({ decision: d.decision, code: d.code }).toEqual({ decision: 'deny', code: 'Unparseable' });
    expect(d.reason).toMatch(reason);
    expect(d.rule).toBeUndefined();
  };

  it('texts longer than 256 KiB are refused before parsing', () => {
    denied(`SELECT 1 FROM orders WHERE id IN (${Array.from({ length: 60_000 }, (_, i) => String(i)).join(',')})`, /at most 262144.*send statements one at a time/);
  });

  it('work past the guard budget (every CTE reading all earlier columns)', () => {
    const text = `WITH ${Array.from({ length: 3000 }, (_, i) => `c${i} AS (SELECT * FROM ${i === 0 ? 'orders' : `c${i - 1}, orders o`})`).join(', ')} SELECT 1 FROM c2999`;
    denied(text, /needs more than 1,000,000 steps for the sensitive-column guard.*split it into smaller statements/);
    expect(() => guard.check(text)).toThrow(SqlParseError);
  });

  it('expressions nested more than 400 levels', () => {
    denied(`SELECT ${'1 + '.repeat(500)}1 FROM customers`, /expressions nested more than 400 levels deep.*flatten it, or split it/);
    denied(`UPDATE orders SET status = 'x' WHERE ${Array.from({ length: 600 }, (_, i) => `(id = ${i} ${i % 2 === 0 ? 'OR' : 'AND'} `).join('')}id = 0${')'.repeat(600)}`, /nested more than 400 levels/);
  });

  it('the nesting bounds count the SQL\'s levels: 390 nested calls and 98 nested subqueries are checked, one level more is refused', () => {
    const calls = (k: number): string => `SELECT ${'abs('.repeat(k)}id${')'.repeat(k)} FROM orders`;
    expect(decide(calls(390)).decision).toBe('allow');
    denied(calls(410), /expressions nested more than 400 levels deep/);
    const subqueries = (k: number): string => `SELECT * FROM ${'(SELECT * FROM '.repeat(k)}orders${') s'.repeat(k)}`;
    expect(decide(subqueries(98)).decision).toBe('allow');
    denied(subqueries(101), /nested more than 100 levels deep/);
  });

  it('queries nested more than 100 levels (scalar subqueries, FROM subqueries)', () => {
    denied(`SELECT ${'(SELECT '.repeat(120)}1${')'.repeat(120)}`, /queries \(subqueries, CTEs, views, joins in parentheses\) nested more than 100 levels deep/);
    denied(`SELECT * FROM ${'(SELECT * FROM '.repeat(120)}orders${') s'.repeat(120)}`, /nested more than 100 levels deep/);
  });

  it('joins nested in parentheses more than 100 levels (each level re-reads the ones inside it)', () => {
    const nested = (n: number): string => `SELECT 1 FROM ${'orders JOIN ('.repeat(n)}orders a JOIN orders b ON true${') ON true'.repeat(n)}`;
    expect(decide(nested(99)).decision).toBe('allow');
    denied(nested(101), /joins in parentheses\) nested more than 100 levels deep/);
    denied(nested(6000), /nested more than 100 levels deep|nested too deeply|memory exhausted/);
  });

  it('a flat list of 131,000 items is not mistaken for nesting (no list is spread as arguments)', () => {
    const items = Array.from({ length: 131_000 }, () => '1').join(',');
    const guarded = compilePolicy({ ...policyDoc, spec: { ...policyDoc.spec, rules: policyDoc.spec.rules.filter((r) => r.name !== 'deny-hidden-execution') } });
    for (const sql of [`CALL refresh(ARRAY[${items}])`, `SELECT * FROM orders WHERE id IN (${items})`]) {
      expect(sql.length).toBeLessThanOrEqual(MAX_SQL_TEXT);
      const d = guarded.evaluate({ identity: agent, purpose: 'customer-support', command: { protocol: 'postgres', sql } });
      expect({ decision: d.decision, code: d.code }).toEqual({ decision: 'allow', code: 'Allowed' });
    }
  });

  it('parse trees deeper than the JSON reader are refused with the reason, not as a crash', () => {
    const d = decide(`SELECT ${'1 + '.repeat(20_000)}1`);
    expect({ decision: d.decision, code: d.code }).toEqual({ decision: 'deny', code: 'Unparseable' });
    expect(d.reason).toMatch(/nested too deeply for the policy engine to read|memory exhausted/);
  });
});
