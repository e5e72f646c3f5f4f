// SQL texts built to make one policy decision expensive, each as a generator of n repeated units:
// long chains of joins (NATURAL, USING, ON; joins nested in parentheses are bounded instead, at 100
// levels, in sql-columns.ts), FROM lists, set operations, CTE chains, wide select
// lists and clause lists, long IN and VALUES lists, many statements in one text, long literals and
// identifiers. A decision's cost must grow linearly with n: sql-long-forms.test.ts asserts it on the
// sensitive-column guard's work counter, and bench/policy.ts measures each form's decision time per
// KiB. `decision` is what examples/lgpd-orders/accesspolicy.yaml decides for every n.
import type { Verdict } from '../types.ts';

export interface LongForm {
  name: string;
  make: (n: number) => string;
  decision: Verdict;
  /** Units per generated text in the tests and the bench: the texts stay under the 256 KiB limit at 4× this. */
  n: number;
}

const repeat = (n: number, unit: (i: number) => string, sep: string): string => Array.from({ length: n }, (_, i) => unit(i)).join(sep);

export const LONG_FORMS: readonly LongForm[] = [
  // Personal columns compared by every join of the chain: held for the DPO (spec.sensitiveColumns).
  { name: 'NATURAL JOIN chain', n: 500, decision: 'requireApproval', make: (n) => `SELECT 1 FROM ${repeat(n, (i) => `customers c${i}`, ' NATURAL JOIN ')}` },
  { name: 'JOIN USING chain', n: 500, decision: 'allow', make: (n) => `SELECT 1 FROM customers c ${repeat(n, (i) => `JOIN customers c${i} USING (id)`, ' ')}` },
  // * over the chains: each join puts its join column first (sql-star.ts), in work linear in the columns.
  { name: 'SELECT * over a JOIN USING chain, by position', n: 500, decision: 'allow', make: (n) => `SELECT * FROM customers c ${repeat(n, (i) => `JOIN customers c${i} USING (id)`, ' ')} ORDER BY 1, 2` },
  { name: 'SELECT * over a NATURAL JOIN chain of orders', n: 500, decision: 'allow', make: (n) => `SELECT * FROM ${repeat(n, (i) => `orders o${i}`, ' NATURAL JOIN ')} ORDER BY 2` },
  { name: 'JOIN ON chain, qualified', n: 300, decision: 'allow', make: (n) => `SELECT 1 FROM customers c ${repeat(n, (i) => `JOIN orders o${i} ON o${i}.customer_id = c.id`, ' ')}` },
  { name: 'JOIN ON chain, unqualified', n: 400, decision: 'allow', make: (n) => `SELECT 1 FROM customers c ${repeat(n, (i) => `JOIN orders o${i} ON status = nome`, ' ')}` },
  { name: 'FROM list with a condition per item', n: 400, decision: 'allow', make: (n) => `SELECT 1 FROM ${repeat(n, (i) => `customers c${i}`, ', ')} WHERE ${repeat(n, (i) => `c${i}.id = 1`, ' AND ')}` },
  { name: 'SELECT * over a FROM list', n: 400, decision: 'allow', make: (n) => `SELECT * FROM ${repeat(n, (i) => `customers c${i}`, ', ')}` },
  { name: 'LATERAL chain', n: 400, decision: 'allow', make: (n) => `SELECT 1 FROM customers c0 ${repeat(n, (i) => `, LATERAL (SELECT c${i}.id) c${i + 1}(id)`, ' ')}` },
  { name: 'UNION ALL chain', n: 500, decision: 'allow', make: (n) => repeat(n, (i) => `SELECT id, nome FROM customers WHERE id = ${i}`, ' UNION ALL ') },
  { name: 'UNION chain comparing personal columns', n: 500, decision: 'requireApproval', make: (n) => repeat(n, (i) => `SELECT id, cpf FROM customers WHERE id = ${i}`, ' UNION ') },
  { name: 'CTE chain', n: 400, decision: 'allow', make: (n) => `WITH a0 AS (SELECT * FROM customers), ${repeat(n, (i) => `a${i + 1} AS (SELECT * FROM a${i})`, ', ')} SELECT id FROM a${n}` },
  { name: 'CTEs each with a WITH of its own', n: 400, decision: 'allow', make: (n) => `WITH ${repeat(n, (i) => `a${i} AS (WITH x AS (SELECT ${i}) SELECT * FROM x)`, ', ')} SELECT 1 FROM ${repeat(n, (i) => `a${i}`, ', ')}` },
  { name: 'wide select list', n: 1000, decision: 'allow', make: (n) => `SELECT ${repeat(n, (i) => `id AS a${i}`, ', ')} FROM customers` },
  { name: 'ORDER BY output names', n: 1000, decision: 'allow', make: (n) => `SELECT ${repeat(n, (i) => `id AS a${i}`, ', ')} FROM customers ORDER BY ${repeat(n, (i) => `a${i}`, ', ')}` },
  { name: 'GROUP BY output names', n: 1000, decision: 'allow', make: (n) => `SELECT ${repeat(n, (i) => `id AS a${i}`, ', ')} FROM customers GROUP BY ${repeat(n, (i) => `a${n - 1 - i}`, ', ')}` },
  { name: 'DISTINCT ON output names', n: 1000, decision: 'allow', make: (n) => `SELECT DISTINCT ON (${repeat(n, (i) => `a${i}`, ', ')}) ${repeat(n, (i) => `id AS a${i}`, ', ')} FROM customers` },
  { name: 'IN list of numbers', n: 2000, decision: 'allow', make: (n) => `SELECT 1 FROM orders WHERE id IN (${repeat(n, (i) => String(i), ',')})` },
  { name: 'IN list of strings', n: 2000, decision: 'allow', make: (n) => `SELECT 1 FROM orders WHERE status IN (${repeat(n, (i) => `'s${i}'`, ',')})` },
  { name: 'multi-row VALUES', n: 1000, decision: 'allow', make: (n) => `INSERT INTO orders (id, status) VALUES ${repeat(n, (i) => `(${i}, 's${i}')`, ', ')}` },
  { name: 'AND chain', n: 1000, decision: 'allow', make: (n) => `SELECT 1 FROM customers WHERE ${repeat(n, (i) => `id <> ${i}`, ' AND ')}` },
  { name: 'OR chain bounding an UPDATE', n: 1000, decision: 'allow', make: (n) => `UPDATE orders SET status = 'x' WHERE ${repeat(n, (i) => `id = ${i}`, ' OR ')}` },
  { name: 'CASE with many branches', n: 1000, decision: 'allow', make: (n) => `SELECT CASE ${repeat(n, (i) => `WHEN id = ${i} THEN 'x'`, ' ')} END FROM customers` },
  { name: 'IN subqueries', n: 500, decision: 'allow', make: (n) => `SELECT 1 FROM orders WHERE ${repeat(n, (i) => `customer_id IN (SELECT id FROM customers c${i})`, ' AND ')}` },
  { name: 'named windows', n: 500, decision: 'allow', make: (n) => `SELECT ${repeat(n, (i) => `row_number() OVER w${i}`, ', ')} FROM orders WINDOW ${repeat(n, (i) => `w${i} AS (ORDER BY id)`, ', ')}` },
  { name: 'function arguments', n: 2000, decision: 'allow', make: (n) => `SELECT coalesce(${repeat(n, (i) => `'${i}'`, ', ')})` },
  { name: 'many statements', n: 500, decision: 'allow', make: (n) => repeat(n, (i) => `SELECT id FROM orders WHERE id = ${i}`, '; ') },
  { name: 'many statements returning personal columns', n: 500, decision: 'allow', make: (n) => repeat(n, (i) => `SELECT cpf FROM customers WHERE id = ${i}`, '; ') },
  { name: 'long string literal', n: 1000, decision: 'allow', make: (n) => `SELECT '${'x'.repeat(n * 30)}'` },
  { name: 'long quoted identifiers', n: 100, decision: 'allow', make: (n) => `SELECT ${repeat(n, (i) => `"${'x'.repeat(300)}${i}"`, ', ')} FROM orders` },
];
