// recursiveCteOrder against the parser's trees: the order PostgreSQL analyses WITH RECURSIVE items in.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { arr, obj, type Json } from './parse-tree.ts';
import { initPolicyEngine } from './index.ts';
import { parseStatements } from './sql.ts';
import { CteCycle, recursiveCteOrder } from './sql-cte-order.ts';

beforeAll(async () => {
  await initPolicyEngine();
});

/** The WITH list of the statement `sql`, and the order of its items by name. */
function order(sql: string): string[] {
  const [statement] = parseStatements(sql);
  const ctes = arr(obj(statement?.node.withClause)?.ctes).map((c) => obj(obj(c)?.CommonTableExpr) ?? {});
  return recursiveCteOrder(ctes, () => undefined).map((i) => String((ctes[i] as Json).ctename));
}

describe('recursiveCteOrder', () => {
  it('keeps the written order when nothing reads forward', () => {
    expect(order('WITH RECURSIVE a AS (SELECT 1), b AS (SELECT * FROM a), c AS (SELECT * FROM b, a) SELECT 1')).toEqual(['a', 'b', 'c']);
  });

  it('puts an item after the ones it reads, at any depth of its query', () => {
    expect(order('WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1) SELECT 1')).toEqual(['b', 'a']);
    expect(order('WITH RECURSIVE a AS (SELECT (SELECT x FROM c)), b AS (SELECT * FROM a), c AS (SELECT 1 AS x) SELECT 1')).toEqual(['c', 'a', 'b']);
    expect(order('WITH RECURSIVE a AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM orders JOIN b ON true)), b AS (SELECT 1) SELECT 1')).toEqual(['b', 'a']);
  });

  it('an item reading itself is its recursion, not an order', () => {
    expect(order('WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3), u AS (SELECT * FROM t) SELECT 1')).toEqual(['t', 'u']);
  });

  it('a name an inner WITH defines, or a qualified name, is not the outer item', () => {
    expect(order('WITH RECURSIVE a AS (WITH b AS (SELECT 1) SELECT * FROM b), b AS (SELECT * FROM a) SELECT 1')).toEqual(['a', 'b']);
    expect(order('WITH RECURSIVE a AS (WITH RECURSIVE x AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM x), b AS (SELECT * FROM a) SELECT 1')).toEqual(['a', 'b']);
    expect(order('WITH RECURSIVE a AS (SELECT * FROM public.b), b AS (SELECT * FROM a) SELECT 1')).toEqual(['a', 'b']);
    // A plain inner WITH hides a name only from the items after it: x reads the outer b.
    expect(order('WITH RECURSIVE a AS (WITH x AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM x), b AS (SELECT 2) SELECT 1')).toEqual(['b', 'a']);
  });

  it('items reading one another are a CteCycle naming them', () => {
    expect(() => order('WITH RECURSIVE z AS (SELECT 1), a AS (SELECT * FROM b), b AS (SELECT * FROM a) SELECT 1')).toThrow(new CteCycle(['a', 'b']));
  });

  it('charges one step per node walked and per item placed', () => {
    const [statement] = parseStatements('WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1) SELECT 1');
    const ctes = arr(obj(statement?.node.withClause)?.ctes).map((c) => obj(obj(c)?.CommonTableExpr) ?? {});
    let steps = 0;
    recursiveCteOrder(ctes, (n) => { steps += n; });
    expect(steps).toBeGreaterThan(2);
  });
});
