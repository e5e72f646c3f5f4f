import { beforeAll, describe, expect, it } from '@jest/globals';
import { LEXING_CORPUS } from '../../../core/policy/corpus/lexing.sql-corpus.ts';
import { LGPD_ORDERS_CORPUS } from '../../../core/policy/corpus/lgpd-orders.sql-corpus.ts';
import { isUtf8Output, loadStatementParser, parsedStatementFacts, statementFacts } from './statements.ts';

beforeAll(async () => {
  await loadStatementParser();
});

describe('statementFacts', () => {
  it('finds COPY ... TO STDOUT with its format options and where its columns come from', () => {
    const facts = statementFacts("BEGIN; COPY public.customers TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';'); COPY customers (id, cpf) TO STDOUT; COPY (SELECT nome, cpf AS doc FROM customers WHERE id IN (1, (2))) TO STDOUT; COMMIT");
    expect(facts.copyOut).toEqual([
      { format: 'csv', delimiter: ';', quote: '"', escape: '"', nullString: '', header: true, statement: 1, describeSql: 'SELECT * FROM "public"."customers"' },
      { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N', header: false, statement: 2, columns: ['id', 'cpf'] },
      { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N', header: false, statement: 3, describeSql: 'SELECT nome, cpf AS doc FROM customers WHERE id IN (1, (2))' },
    ]);
  });

  it.each([
    ["COPY customers TO STDOUT (ENCODING 'SJIS')", 'SJIS'],
    ["COPY customers TO STDOUT WITH (FORMAT csv, ENCODING 'big5')", 'big5'],
    ['COPY customers TO STDOUT (encoding gbk)', 'gbk'],
    ["COPY customers TO STDOUT WITH ENCODING 'UHC'", 'UHC'],
    ["copy customers to stdout encoding 'johab'", 'johab'],
    ["COPY (SELECT 1) TO STDOUT (\"ENCODING\" 'GB18030')", 'GB18030'],
    ['COPY customers TO STDOUT (ENCODING 6)', '6'],
    ["COPY customers TO STDOUT (ENCODING 'UTF8', ENCODING 'SJIS')", 'SJIS'],
    ["COPY customers TO STDOUT (ENCODING 'SJIS', ENCODING 'utf-8')", 'SJIS'],
  ])('reads the ENCODING option in every spelling: %s', (sql, encoding) => {
    expect(statementFacts(sql).copyOut[0]?.encoding).toBe(encoding);
  });

  it('finds the query of a COPY whose literals hold control characters (the scanner\'s JSON does not escape them)', () => {
    const sql = "COPY (SELECT E'a\u0001b' AS x, '\u001f' AS y, cpf FROM customers) TO STDOUT";
    expect(statementFacts(sql).copyOut[0]?.describeSql).toBe("SELECT E'a\u0001b' AS x, '\u001f' AS y, cpf FROM customers");
  });

  it('tells UTF8 output (and SQL_ASCII: no conversion) from every other encoding, as PostgreSQL compares names', () => {
    for (const name of ['UTF8', 'utf-8', 'Utf_8', 'UNICODE', 'SQL_ASCII', 'sql-ascii']) expect(isUtf8Output(name)).toBe(true);
    for (const name of ['SJIS', 'shift_jis_2004', 'BIG5', 'GBK', 'UHC', 'GB18030', 'JOHAB', 'LATIN1', 'WIN1252', 'EUC_JP', '', 'utf16', '6']) expect(isUtf8Output(name)).toBe(false);
  });

  it('ignores COPY FROM, COPY to files and programs, and says binary when it is', () => {
    expect(statementFacts("COPY customers FROM STDIN; COPY customers TO '/tmp/x'; COPY customers TO PROGRAM 'cat'").copyOut).toEqual([]);
    expect(statementFacts('COPY customers TO STDOUT (FORMAT binary)').copyOut[0]?.format).toBe('binary');
    expect(statementFacts('copy customers to stdout binary').copyOut[0]?.format).toBe('binary');
  });

  it('spots binary cursors, and parses nothing when the text mentions neither COPY nor BINARY', () => {
    expect(statementFacts('DECLARE c BINARY CURSOR FOR SELECT * FROM customers').binaryCursor).toBe(true);
    expect(statementFacts('DECLARE c CURSOR FOR SELECT * FROM customers').binaryCursor).toBe(false);
    expect(statementFacts('select 1')).toEqual({ copyOut: [], binaryCursor: false, deallocates: [], dropsPortals: [], fetchesPortals: [] });
    expect(statementFacts('copy (((')).toEqual({ copyOut: [], binaryCursor: false, deallocates: [], dropsPortals: [], fetchesPortals: [] });
  });

  it('names the prepared statements SQL DEALLOCATE removes, in every spelling, or all of them', () => {
    expect(statementFacts('DEALLOCATE s1').deallocates).toEqual(['s1']);
    expect(statementFacts('deallocate prepare "S 1"; DEALLOCATE s2').deallocates).toEqual(['S 1', 's2']);
    expect(statementFacts('SELECT 1;/**/DeAlLoCaTe\tU&"s\\0031"').deallocates).toEqual(['s1']);
    expect(statementFacts('DEALLOCATE ALL').deallocates).toBe('all');
    expect(statementFacts('DEALLOCATE PREPARE ALL; DEALLOCATE s1').deallocates).toBe('all');
    expect(statementFacts('DEALLOCATE s1; DEALLOCATE ALL').deallocates).toBe('all');
    expect(statementFacts("SELECT 'DEALLOCATE s1', deallocate_at FROM t").deallocates).toEqual([]);
  });

  it('names the portals SQL statements drop or replace (or all of them) and those FETCH or MOVE run', () => {
    expect(statementFacts('CLOSE c').dropsPortals).toEqual(['c']);
    expect(statementFacts('close "P 1"; DECLARE d CURSOR FOR SELECT 1').dropsPortals).toEqual(['P 1', 'd']);
    expect(statementFacts('CLOSE ALL').dropsPortals).toBe('all');
    expect(statementFacts('close all; CLOSE c').dropsPortals).toBe('all');
    // A transaction's end drops portals but puts nothing under their names (DECLARE does, and is named).
    for (const keeps of ['BEGIN', 'COMMIT', 'END', 'ROLLBACK TO SAVEPOINT a', 'SAVEPOINT a', 'RELEASE a', 'SELECT "close", fetch_at FROM t', "SELECT 'CLOSE c'", 'SELECT CASE WHEN true THEN 1 END']) {
      expect([keeps, statementFacts(keeps).dropsPortals]).toEqual([keeps, []]);
    }
    expect(statementFacts('FETCH ALL FROM p2; MOVE 5 IN "P x"; FETCH 2 c').fetchesPortals).toEqual(['p2', 'P x', 'c']);
    expect(statementFacts('FETCH NEXT FROM U&"\\0070"').fetchesPortals).toEqual(['p']);
  });

  describe('the pre-check (COPY or BINARY as a word) skips only texts whose parse has no COPY and no binary cursor', () => {
    // Every way a COPY or BINARY keyword can be delimited, and identifiers, strings and comments
    // that merely contain the letters.
    const keywords = [
      'COPY customers TO STDOUT', 'copy (select 1) to stdout with (format binary)', 'COPY customers TO STDOUT BINARY', 'DECLARE c BINARY CURSOR FOR SELECT 1',
      'declare c no scroll binary cursor for select 1', 'DECLARE "c"BINARY CURSOR FOR SELECT 1', 'DECLARE c/**/BINARY/**/CURSOR FOR SELECT 1',
      '/* x */COPY customers TO STDOUT', '--x\nCOPY customers TO STDOUT', 'SELECT 1;COPY customers TO STDOUT', 'SELECT 1\tCOPY', '(COPY customers TO STDOUT)',
      'CoPy customers TO STDOUT', 'BEGIN;\ncopy\tcustomers\tto\tstdout;\nCOMMIT', 'COPY"customers"TO STDOUT', 'COPY customers TO STDOUT (FORMAT"binary")',
      'DEALLOCATE s1', 'deallocate prepare "s1"', 'DEALLOCATE ALL', '/**/DEALLOCATE"s1"', 'CLOSE c', 'close all', 'DECLARE c CURSOR FOR SELECT 1',
      'FETCH 1 FROM c', 'MOVE c', 'close"c"', 'FETCH/**/1/**/FROM c',
    ];
    const lookalikes = [
      'SELECT copy_id FROM t', 'SELECT copies, binary_data FROM t', 'SELECT "copy" FROM t', "SELECT 'COPY customers TO STDOUT'", 'SELECT 1 -- COPY customers TO STDOUT',
      'SELECT 1 /* DECLARE c BINARY CURSOR */', 'SELECT $$COPY customers TO STDOUT$$', 'SELECT $copy$x$copy$', 'SELECT copy$1 FROM t', 'SELECT écopy, copyé FROM t',
      'SELECT 1copy', 'SELECT xcopy, binaryx FROM t', 'SELECT U&"copy" FROM t', 'CREATE TABLE copy_of (binary_col bytea)', "SELECT E'\\' COPY",
    ];
    const corpus = [...keywords, ...lookalikes, ...LEXING_CORPUS.map((e) => e.sql), ...LGPD_ORDERS_CORPUS.map((e) => e.sql)];

    it('gives the facts a parse gives, for every text of the corpora and the keyword and look-alike forms', () => {
      for (const sql of corpus) expect([sql, statementFacts(sql)]).toEqual([sql, parsedStatementFacts(sql)]);
      // The forms with the keyword are found (not all skipped by accident).
      const found = keywords.map((sql) => { const f = statementFacts(sql); return f.copyOut.length > 0 || f.binaryCursor || f.deallocates.length > 0 || f.dropsPortals.length > 0 || f.fetchesPortals.length > 0; });
      expect(found.filter(Boolean).length).toBeGreaterThanOrEqual(24);
    });

    it('each keyword form, shifted to every position after other text and with identifiers touching it, still gives the parse\'s facts', () => {
      for (const sql of keywords) {
        for (const before of ['', ' ', 'SELECT 1;', 'SELECT copy_id FROM t;', '/*copy*/', 'SELECT "x";', 'SELECT é;']) {
          const text = `${before}${sql}`;
          expect([text, statementFacts(text)]).toEqual([text, parsedStatementFacts(text)]);
        }
      }
    });
  });

  it('handles multi-byte text before the statement (parser offsets are bytes)', () => {
    expect(statementFacts("SELECT 'ação'; COPY (SELECT 'é' AS x) TO STDOUT").copyOut[0]?.describeSql).toBe("SELECT 'é' AS x");
  });
});
