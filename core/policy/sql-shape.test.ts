import { describe, expect, it } from '@jest/globals';
import { numericShape } from './sql-shape.ts';

describe('numericShape', () => {
  it('replaces plain numeric constants, keeping parameters and identifiers with digits', () => {
    expect(numericShape('SELECT abalance FROM pgbench_accounts WHERE aid = 12345;')).toBe("SELECT abalance FROM pgbench_accounts WHERE aid = '?';");
    expect(numericShape('SELECT * FROM t1 WHERE a = 1.5 AND b = .25 AND c = $1 LIMIT 10')).toBe("SELECT * FROM t1 WHERE a = '?' AND b = '?' AND c = $1 LIMIT '?'");
    expect(numericShape('SELECT x-1, -2, (3)')).toBe("SELECT x-'?', -'?', ('?')");
    expect(numericShape('SELECT nome FROM clientes_2024')).toBeUndefined(); // nothing to replace: the exact text is the key
  });

  it('gives texts that differ only in their numbers one shape, and texts that differ otherwise different ones', () => {
    expect(numericShape('SELECT * FROM t WHERE id = 1')).toBe(numericShape('SELECT * FROM t WHERE id = 987654321'));
    expect(numericShape('SELECT * FROM t WHERE id = 1')).not.toBe(numericShape('SELECT * FROM u WHERE id = 1'));
    expect(numericShape('SELECT 12')).not.toBe(numericShape('SELECT 1 2'));
    // The placeholder cannot be confused with the text's own characters (`?` is an operator in PostgreSQL).
    expect(numericShape("SELECT 1 ? b")).not.toBe(numericShape('SELECT 1 1 b'));
  });

  it.each([
    ["SELECT 'a' WHERE id = 1"],
    ['SELECT "Id" FROM t WHERE id = 1'],
    ["SELECT E'\\'' , 1"],
    ['SELECT 1 -- DROP TABLE t'],
    ['SELECT 1 /* comment */'],
    ['SELECT $$ 1 $$'],
    ['SELECT $tag$ 1 $tag$'],
    ['SELECT 1e5'],
    ['SELECT 0x1F'],
    ['SELECT 1_000'],
    ['SELECT 1from t'],
    ['SELECT 1. FROM t'],
    ['SELECT 1..5'],
    ['SELECT $1a'],
    ['SELECT 1 \\g'],
  ])('refuses %s, where its own tokenizing could differ from PostgreSQL\'s', (sql) => {
    expect(numericShape(sql)).toBeUndefined();
  });
});
