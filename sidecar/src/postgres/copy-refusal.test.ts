import { beforeAll, describe, expect, it } from '@jest/globals';
import { compileMasker } from '../../../core/masking/index.ts';
import { copyOutRefusal, copyStatementRefusal } from './copy-refusal.ts';
import { loadStatementParser, statementFacts, type CopyPlan } from './statements.ts';

const masker = compileMasker({
  detectors: ['cpf', 'email'], style: 'partial',
  fields: [{ names: ['cpf'], detector: 'cpf' }, { names: ['nome'] }],
});
const simple = { extended: false, unsynced: false };

beforeAll(async () => {
  await loadStatementParser();
});

function refusal(sql: string, context = simple): string | undefined {
  return copyStatementRefusal(statementFacts(sql), context)?.message;
}

describe('COPY layout options read as PostgreSQL reads them (round 9b review of real clients)', () => {
  it.each([
    ['COPY customers (id, cpf) TO STDOUT (FORMAT csv, DELIMITER 9)', { delimiter: '9' }],
    ['COPY customers (id, cpf) TO STDOUT (FORMAT csv, DELIMITER *)', { delimiter: '*' }],
    ['COPY customers (id, cpf) TO STDOUT (FORMAT csv, QUOTE *, ESCAPE 7)', { quote: '*', escape: '7' }],
    ['COPY customers (id, cpf) TO STDOUT (NULL 5)', { nullString: '5' }],
    ['COPY customers (id, cpf) TO STDOUT (FORMAT csv, DELIMITER 1.5)', { delimiter: '1.5' }],
    ['COPY customers (id, cpf) TO STDOUT (FORMAT csv, HEADER 1)', { header: true }],
    ['COPY customers (id, cpf) TO STDOUT (FORMAT csv, HEADER 0)', { header: false }],
  ])('%s', (sql, expected) => {
    expect(statementFacts(sql).copyOut[0]).toMatchObject(expected);
    expect(refusal(sql)).toBeUndefined();
  });

  it('reads a negative number and a word as PostgreSQL does', () => {
    expect(statementFacts('COPY customers (id, cpf) TO STDOUT (NULL -5)').copyOut[0]).toMatchObject({ nullString: '-5' });
    expect(statementFacts('COPY customers (id, cpf) TO STDOUT (FORMAT csv, NULL int)').copyOut[0]).toMatchObject({ nullString: 'int' });
  });

  it('refuses an argument it does not read as defGetString does (a list), naming the option', () => {
    const sql = "COPY customers (id, cpf) TO STDOUT (FORMAT csv, NULL ('a', 'b'))";
    expect(statementFacts(sql).copyOut[0]?.unreadOption).toBe('null');
    expect(refusal(sql)).toMatch(/NULL argument the sidecar does not read/);
  });
});

describe('copyStatementRefusal: before the COPY runs', () => {
  it.each([
    "COPY customers TO STDOUT (ENCODING 'SJIS')",
    "COPY customers TO STDOUT (FORMAT csv, ENCODING 'BIG5')",
    "COPY customers TO STDOUT WITH (encoding 'gbk', HEADER)",
    'COPY customers TO STDOUT (ENCODING uhc)',
    "COPY customers TO STDOUT WITH ENCODING 'GB18030'",
    "copy customers (id, cpf) to stdout csv encoding 'johab'",
    "COPY (SELECT 1) TO STDOUT (ENCODING 'LATIN1')",
    "COPY (SELECT 1) TO STDOUT (ENCODING 'WIN1252')",
    "COPY (SELECT 1) TO STDOUT (ENCODING 'EUC_JP')",
    "COPY (SELECT 1) TO STDOUT (ENCODING 'SHIFT_JIS_2004')",
    'COPY (SELECT 1) TO STDOUT (ENCODING 6)',
    "COPY (SELECT 1) TO STDOUT (\"ENCODING\" 'SJIS')",
    "COPY (SELECT 1) TO STDOUT (ENCODING 'UTF8', ENCODING 'SJIS')",
  ])('an ENCODING other than UTF8 is refused, naming the option and the fix: %s', (sql) => {
    const d = copyStatementRefusal(statementFacts(sql), simple);
    expect(d?.code).toBe('0A000');
    expect(d?.message).toMatch(/with ENCODING '.*'/);
    expect(d?.hint).toMatch(/drop the ENCODING option/);
    // Through the extended protocol too (a column list needs no description).
    expect(refusal(sql, { extended: true, unsynced: false })).toMatch(/ENCODING/);
  });

  it.each(["(ENCODING 'UTF8')", "(ENCODING 'utf-8')", "(ENCODING 'unicode')", "(ENCODING 'SQL_ASCII')", "(FORMAT csv)", ''])('UTF8 output is not refused: %s', (options) => {
    expect(refusal(`COPY (SELECT id, cpf FROM customers) TO STDOUT ${options}`)).toBeUndefined();
  });

  it('COPY FROM, and COPY to a file or program, write nothing to the client: their ENCODING is not the sidecar\'s to refuse', () => {
    expect(refusal("COPY customers FROM STDIN (ENCODING 'SJIS')")).toBeUndefined();
    expect(refusal("COPY customers TO '/tmp/x' (ENCODING 'SJIS')")).toBeUndefined();
  });

  it.each([
    'ROLLBACK; COPY (SELECT id, cpf FROM customers) TO STDOUT',
    'SELECT 1; COPY customers TO STDOUT',
    'SET search_path = public; COPY customers (id, cpf) TO STDOUT',
    'COPY customers (id) TO STDOUT; COPY customers (cpf) TO STDOUT',
  ])('a COPY after other statements of its query is refused: %s', (sql) => {
    expect(refusal(sql)).toMatch(/after other statements of the same query/);
  });

  it('the first statement of its query is not refused, whatever follows', () => {
    expect(refusal('COPY customers TO STDOUT; SELECT 1')).toBeUndefined();
  });

  it('without a column list: refused through the extended protocol and in an unsynced batch; a column list needs no description', () => {
    for (const sql of ['COPY customers TO STDOUT', 'COPY (SELECT id, cpf FROM customers) TO STDOUT (FORMAT csv)']) {
      expect(refusal(sql, { extended: true, unsynced: false })).toMatch(/extended protocol without a column list/);
      expect(refusal(sql, { extended: false, unsynced: true })).toMatch(/not yet synced/);
    }
    expect(refusal('COPY customers (id, cpf) TO STDOUT', { extended: true, unsynced: true })).toBeUndefined();
    expect(refusal('COPY customers (id, cpf) TO STDOUT', { extended: false, unsynced: true })).toBeUndefined();
  });
});

describe('copyOutRefusal: when the server starts the COPY', () => {
  const plan: CopyPlan = { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N', header: false, statement: 0, columns: ['id', 'cpf'] };

  it('a COPY the statement did not show, or whose description failed, is refused', () => {
    expect(copyOutRefusal(undefined, 2, masker.newSession())).toMatch(/did not see in the statement/);
    expect(copyOutRefusal({ ...plan, columns: undefined, describeSql: 'SELECT * FROM t' }, 2, masker.newSession())).toMatch(/could not be described/);
  });

  it('a column count other than the server\'s (generated columns) is refused, naming the fix', () => {
    expect(copyOutRefusal({ ...plan, columns: ['id', 'nome', 'nome_busca', 'cpf'] }, 3, masker.newSession())).toMatch(/writes 3 columns and 4 were described.*list the columns/);
    expect(copyOutRefusal(plan, 2, masker.newSession())).toBeUndefined();
  });

  it('a text NULL string a value is written as is refused when the masking changes it in a column; \\N, CSV, and unmasked ones are not', () => {
    const session = masker.newSession();
    expect(copyOutRefusal({ ...plan, nullString: '1878017543' }, 2, session)).toMatch(/NULL string: a value of column "cpf"/);
    expect(copyOutRefusal({ ...plan, nullString: 'Ana', columns: ['id', 'nome'] }, 2, session)).toMatch(/column "nome"/);
    // Masked by content in any column (the first named).
    expect(copyOutRefusal({ ...plan, nullString: '590.830.166-33', columns: ['id', 'notes'] }, 2, session)).toMatch(/column "id"/);
    expect(copyOutRefusal({ ...plan, nullString: 'NADA', columns: ['id', 'notes'] }, 2, session)).toBeUndefined();
    expect(copyOutRefusal({ ...plan, nullString: '\\N' }, 2, session)).toBeUndefined();
    expect(copyOutRefusal({ ...plan, nullString: '' }, 2, session)).toBeUndefined();
    expect(copyOutRefusal({ ...plan, nullString: '\\\\N-no-value-written-so\\q' }, 2, session)).toBeUndefined();
    expect(copyOutRefusal({ ...plan, format: 'csv', delimiter: ',', nullString: '1878017543' }, 2, session)).toBeUndefined();
    // The check masks nothing the record counts.
    expect(session.counts()).toEqual(masker.newSession().counts());
  });

  it('an ENCODING other than UTF8 is refused here too (defense in depth)', () => {
    expect(copyOutRefusal({ ...plan, encoding: 'SJIS' }, 2, masker.newSession())).toMatch(/ENCODING 'SJIS'/);
  });
});
