import { beforeAll, describe, expect, it } from '@jest/globals';
import { figureColname } from './sql-colname.ts';
import { initPolicyEngine, parseStatements } from './sql.ts';

beforeAll(async () => {
  await initPolicyEngine();
});

/** The select list's items of one SELECT. */
function items(sql: string): unknown[] {
  const node = parseStatements(sql)[0]?.node as { targetList: Array<{ ResTarget: { val: unknown } }> };
  return node.targetList.map((t) => t.ResTarget.val);
}

describe('figureColname names select-list items as PostgreSQL does', () => {
  it('matches the column names PostgreSQL 15 printed for the same list (psql, the harness server)', () => {
    const list = `id::int, nome COLLATE "C", (SELECT 1 AS k), CASE WHEN true THEN 1 END, CASE WHEN true THEN 1 ELSE id END,
      coalesce(1), greatest(1,2), least(1,2), nullif(1,2), ARRAY[1], array(select 1), EXISTS(select 1), ROW(1,2),
      current_date, current_user, session_user, 'x'::text, 1::int, (c).nome, md5(nome), count(*), 1 + 2, xmlelement(name a),
      xmlserialize(content '<a/>' as text), extract(year from now()), trim(nome), substring(nome from 1), position('a' in nome),
      (select nome from customers union select 'x' limit 1), grouping(id), -id, id IS NULL`;
    const printed = 'id|nome|k|case|id|coalesce|greatest|least|nullif|array|array|exists|row|current_date|current_user|session_user|text|int4|nome|md5|count|?column?|xmlelement|xmlserialize|extract|btrim|substring|position|nome|grouping|?column?|?column?';
    expect(items(`SELECT ${list} FROM customers c`).map((i) => figureColname(i).name).join('|')).toBe(printed);
  });

  it('marks the names of SQL-syntax functions as unsure (versions have mapped them to other functions)', () => {
    const [extract, trim, md5, cast] = items('SELECT extract(year FROM now()), trim(nome), md5(nome), id::text FROM customers');
    expect(figureColname(extract).sure).toBe(false);
    expect(figureColname(trim).sure).toBe(false);
    expect(figureColname(md5).sure).toBe(true);
    expect(figureColname(cast)).toEqual({ name: 'id', sure: true });
  });
});
