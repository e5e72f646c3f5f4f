// What an approval of a PostgreSQL statement binds (round 9 review, findings 2 and 3): the
// database line of client-chosen databases, and statements an approval cannot bind.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { boundCommandText, databaseLine, quotedForApprover, serverDatabase, unapprovableReason } from './approval-binding.ts';
import { loadStatementParser } from './statements.ts';

beforeAll(async () => {
  await loadStatementParser();
});

describe('the database line', () => {
  it('names the database first, as an SQL comment, and leaves a pinned session\'s text as the SQL', () => {
    expect(boundCommandText('COPY orders TO STDOUT', 'orders_b')).toBe('-- database: "orders_b"\nCOPY orders TO STDOUT');
    expect(boundCommandText('COPY orders TO STDOUT', undefined)).toBe('COPY orders TO STDOUT');
  });

  it('gives every database name its own text: case, quotes, spaces, backslashes and look-alike names differ', () => {
    const sql = 'DELETE FROM orders WHERE id = 7';
    const names = ['orders', 'Orders', 'ORDERS', '"orders"', '"Orders"', 'orders ', ' orders', 'orders\\', 'orders"', 'orders\n', 'órders', 'orders\u200b', 'orders\u00a0', ''];
    const texts = new Set(names.map((n) => boundCommandText(sql, n)));
    expect(texts.size).toBe(names.length);
  });

  it('cannot be forged by the SQL or the name: no other (sql, database) pair gives the same text', () => {
    // A name that tries to end the line and start the SQL, and SQL that starts with a database line.
    const a = boundCommandText('SELECT 1', 'x"\n-- database: "y');
    const b = boundCommandText('-- database: "y"\nSELECT 1', 'x');
    const c = boundCommandText('SELECT 1', 'x');
    expect(new Set([a, b, c]).size).toBe(3);
    // The quoted name never contains a raw newline or an unescaped quote: the line is one line.
    expect(databaseLine('x"\n-- database: "y').split('\n')).toHaveLength(2);
    expect(databaseLine('a\u2028b\u202ec\td')).toBe('-- database: "a\\u{2028}b\\u{202e}c\\u{9}d"\n');
  });

  it('escapes quotes and backslashes one-to-one', () => {
    expect(quotedForApprover('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quotedForApprover('a\\"')).not.toBe(quotedForApprover('a"\\'));
  });

  it('names the database the server opens: the first 63 bytes of a longer name', () => {
    const long = `${'d'.repeat(63)}_staging`;
    expect(serverDatabase(long)).toBe('d'.repeat(63));
    expect(boundCommandText('SELECT 1', long)).toBe(boundCommandText('SELECT 1', 'd'.repeat(63)));
    expect(serverDatabase('orders')).toBe('orders');
    // Multi-byte names are cut by bytes, as the server cuts them.
    expect(Buffer.byteLength(serverDatabase('é'.repeat(40)))).toBeLessThanOrEqual(66);
    expect(serverDatabase('é'.repeat(31))).toBe('é'.repeat(31));
  });
});

describe('statements an approval cannot bind', () => {
  it.each([
    ['a parameter reference', 'SELECT id, md5(cpf) FROM customers WHERE id = ANY($1::int[])'],
    ['a parameter in a subquery', 'SELECT * FROM (SELECT cpf FROM customers WHERE id = $1) c'],
    ['a parameter as a COPY query\'s value', 'COPY (SELECT id FROM orders WHERE id = $1) TO STDOUT'],
    ['a high parameter number', 'UPDATE orders SET status = $12 WHERE id = 7'],
    ['a parameter right after an operator, unspaced', 'SELECT id FROM orders WHERE id=-$1'],
    ['a parameter in a PREPARE body (the values come with EXECUTE)', 'PREPARE s(int) AS SELECT cpf FROM customers WHERE id = $1'],
    ['a parameter in the second statement', 'SELECT 1; DELETE FROM orders WHERE id = $1'],
    ['text the scanner cannot read, with $ and a digit', "SELECT $1, 'unterminated"],
  ])('%s', (_what, sql) => {
    expect(unapprovableReason(sql)).toMatch(/has parameters .*write the values into the statement text/);
  });

  it('parameter types declared by the Parse, even when the text references none', () => {
    expect(unapprovableReason('SELECT id FROM orders WHERE id = 7', 1)).toMatch(/has parameters/);
  });

  it.each([
    ['EXECUTE with values', 'EXECUTE s(1)'],
    ['EXECUTE without values', 'EXECUTE s'],
    ['EXPLAIN EXECUTE', 'EXPLAIN EXECUTE s(1)'],
    ['CREATE TABLE AS EXECUTE', 'CREATE TABLE t AS EXECUTE s(1)'],
    ['EXECUTE in a later statement', 'SELECT 1; execute S(2)'],
    ['text that does not parse and says EXECUTE', 'EXECUTE s(1'],
  ])('SQL %s', (_what, sql) => {
    expect(unapprovableReason(sql)).toMatch(/SQL EXECUTE runs a statement prepared earlier.*write the values into the statement text/);
  });

  it.each([
    ['no parameter', 'COPY (SELECT id, status FROM orders WHERE id <= 5) TO STDOUT'],
    ['$1 in a string', "SELECT id FROM orders WHERE status = '$1'"],
    ['$1 in an escape string', "SELECT E'\\$1'"],
    ['$1 in a dollar-quoted string', 'SELECT $$ $1 $$, $a$ $2 $a$'],
    ['$1 in comments', 'SELECT 1 /* $1 */ -- $2\n'],
    ['$1 inside an identifier (the server reads SELECT$1 as one name too)', 'SELECT x$1, SELECT$1 FROM "t$2"'],
    ['PREPARE without parameters (the text is the statement)', 'PREPARE s AS SELECT id FROM orders WHERE id = 7'],
    ['the word execute as a name or in a string', "SELECT execute_at, 'EXECUTE s(1)' FROM jobs"],
    ['a DO block whose body says EXECUTE (the body is in the text)', "DO $$ BEGIN EXECUTE 'SELECT 1'; END $$"],
    ['GRANT EXECUTE', 'GRANT EXECUTE ON FUNCTION f() TO r'],
  ])('approvable: %s', (_what, sql) => {
    expect(unapprovableReason(sql)).toBeUndefined();
  });
});

describe('statements with a comment an approver reads as the database line (round 9b review)', () => {
  it.each([
    ['the line itself', '-- database: "orders_stg"\nCOPY (SELECT id FROM orders) TO STDOUT'],
    ['after whitespace and a semicolon', '  ;\n--database:"orders_stg"\nSELECT 1'],
    ['in another case', '-- DATABASE: orders_stg\nSELECT 1'],
    ['as a block comment', '/* database: "orders_stg" */ SELECT 1'],
    ['with other words first', '-- runs in database orders_stg\nSELECT 1'],
    ['on a later leading comment line', '-- monthly export\n-- database: "orders_stg"\nSELECT 1'],
    ['after a block comment', '/* export */\n-- database: "orders_stg"\nSELECT 1'],
    ['inside a nested block comment', '/* /* x */ database: "orders_stg" */ SELECT 1'],
    ['at the end', 'COPY (SELECT id FROM orders) TO STDOUT -- database: "orders_stg"'],
  ])('%s', (_what, sql) => {
    expect(unapprovableReason(sql)).toMatch(/has a comment naming a database.*remove the comment/);
  });

  it.each([
    ['a leading comment about something else', '-- monthly export\nCOPY (SELECT id FROM orders) TO STDOUT'],
    ['the word in the statement', "SELECT current_database(), 'database'"],
  ])('approvable: %s', (_what, sql) => {
    expect(unapprovableReason(sql)).toBeUndefined();
  });
});

describe('texts past the policy engine\'s bound', () => {
  it('are not scanned: with $ and a digit, or EXECUTE, they count as unapprovable (the engine refuses them unread anyway)', () => {
    const long = `SELECT '${'x'.repeat(300 * 1024)}'`;
    expect(unapprovableReason(`${long}, $1`)).toMatch(/has parameters/);
    expect(unapprovableReason(`${long}; EXECUTE s`)).toMatch(/SQL EXECUTE/);
    expect(unapprovableReason(long)).toBeUndefined();
  });
});

describe('texts the lexer reads in quadratic time (round 16f)', () => {
  it('are not scanned: a comment naming a database, $ and a digit, or EXECUTE next to a long run of operator characters count as unapprovable', () => {
    // 64,000 empty comments: scanning them held the event loop for a minute before the engine refused the text.
    const runs = `SELECT 1 ${'/**/'.repeat(64_000)}`;
    expect(unapprovableReason(`${runs} -- database: x`)).toMatch(/comment naming a database/);
    expect(unapprovableReason(`${runs} + $1`)).toMatch(/has parameters/);
    expect(unapprovableReason(`${runs}; EXECUTE s`)).toMatch(/SQL EXECUTE/);
  });
});
