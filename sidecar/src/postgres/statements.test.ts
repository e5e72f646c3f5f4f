import { beforeAll, describe, expect, it } from '@jest/globals';
import { loadStatementParser, statementFacts } from './statements.ts';

beforeAll(async () => {
  await loadStatementParser();
});

describe('statementFacts', () => {
  it('finds COPY ... TO STDOUT with its format options and where its columns come from', () => {
    const facts = statementFacts("BEGIN; COPY public.customers TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';'); COPY customers (id, cpf) TO STDOUT; COPY (SELECT nome, cpf AS doc FROM customers WHERE id IN (1, (2))) TO STDOUT; COMMIT");
    expect(facts.copyOut).toEqual([
      { format: 'csv', delimiter: ';', quote: '"', escape: '"', nullString: '', header: true, describeSql: 'SELECT * FROM "public"."customers"' },
      { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N', header: false, columns: ['id', 'cpf'] },
      { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N', header: false, describeSql: 'SELECT nome, cpf AS doc FROM customers WHERE id IN (1, (2))' },
    ]);
  });

  it('ignores COPY FROM, COPY to files and programs, and says binary when it is', () => {
    expect(statementFacts("COPY customers FROM STDIN; COPY customers TO '/tmp/x'; COPY customers TO PROGRAM 'cat'").copyOut).toEqual([]);
    expect(statementFacts('COPY customers TO STDOUT (FORMAT binary)').copyOut[0]?.format).toBe('binary');
    expect(statementFacts('copy customers to stdout binary').copyOut[0]?.format).toBe('binary');
  });

  it('spots binary cursors, and parses nothing when the text mentions neither COPY nor BINARY', () => {
    expect(statementFacts('DECLARE c BINARY CURSOR FOR SELECT * FROM customers').binaryCursor).toBe(true);
    expect(statementFacts('DECLARE c CURSOR FOR SELECT * FROM customers').binaryCursor).toBe(false);
    expect(statementFacts('select 1')).toEqual({ copyOut: [], binaryCursor: false });
    expect(statementFacts('copy (((')).toEqual({ copyOut: [], binaryCursor: false });
  });

  it('handles multi-byte text before the statement (parser offsets are bytes)', () => {
    expect(statementFacts("SELECT 'ação'; COPY (SELECT 'é' AS x) TO STDOUT").copyOut[0]?.describeSql).toBe("SELECT 'é' AS x");
  });
});
