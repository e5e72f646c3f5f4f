// Round 9 adversarial review (PostgreSQL listener): COPY ... TO STDOUT rows the masker splits
// otherwise than the server wrote them. The bytes below are what PostgreSQL 15 writes for the
// statements named (checked against the harness server); sidecar/test/pg-round9-attacks.int.test.ts
// shows each one through the real sidecar.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { compileMasker } from '../../../core/masking/index.ts';
import { CopyOutMasker, CopyRowRefused } from './copy.ts';
import { copyStatementRefusal } from './copy-refusal.ts';
import { SampleCollector } from './rows.ts';
import { loadStatementParser, statementFacts } from './statements.ts';

// The example policy's masking (examples/lgpd-orders/accesspolicy.yaml).
const masker = compileMasker({
  detectors: ['cpf', 'cnpj', 'email', 'phone'], style: 'partial',
  fields: [{ names: ['cpf'], detector: 'cpf' }, { names: ['email'], detector: 'email' }, { names: ['telefone', 'phone'], detector: 'phone' }],
});

/** A CPF stored without its leading zero and punctuation: only the `cpf` column name masks it. */
const BARE = '1878017543';
const FORMATTED = '529.982.247-25';

beforeAll(async () => {
  await loadStatementParser();
});

function planOf(sql: string, columns: string[]) {
  const plan = statementFacts(sql).copyOut[0];
  if (plan === undefined) throw new Error(`no COPY plan for ${sql}`);
  return { ...plan, columns };
}

describe('COPY rows split otherwise than the server wrote them', () => {
  it('control: a bare CPF in the cpf column is masked by its name', () => {
    const plan = planOf('COPY (SELECT id, cpf FROM customers) TO STDOUT (FORMAT csv)', ['id', 'cpf']);
    expect(new CopyOutMasker(plan, masker.newSession()).maskRow(Buffer.from(`90,${BARE}\n`)).toString()).not.toContain(BARE);
  });

  it('CSV with ESCAPE \'\\\': the server doubles the escape character inside quotes; the row must still be split by fields', () => {
    // COPY (SELECT id, cpf, ',a\' AS z ...) TO STDOUT (FORMAT csv, ESCAPE '\') writes `90,1878017543,",a\\"`.
    const plan = planOf("COPY (SELECT id, cpf, ',a\\' AS z FROM customers) TO STDOUT (FORMAT csv, ESCAPE '\\')", ['id', 'cpf', 'z']);
    const sample = new SampleCollector({ maxRows: 5, maxBytes: 1000 });
    const out = new CopyOutMasker(plan, masker.newSession(), sample).maskRow(Buffer.from(`90,${BARE},",a\\\\"\n`)).toString();
    expect([out.includes(BARE), (sample.text() ?? '').includes(BARE)]).toEqual([false, false]);
  });

  it('COPY ... (ENCODING \'SJIS\'): a trail byte 0x5C is not an escape (the delimiter after it is one)', () => {
    // COPY (SELECT id, '表' AS x, cpf ...) TO STDOUT (ENCODING 'SJIS') writes 90 \t 0x95 0x5C \t 1878017543.
    // Fixed: the statement is refused before it runs, and bytes that are not UTF-8 are refused by the masker too.
    const sql = "COPY (SELECT id, '表' AS x, cpf FROM customers) TO STDOUT (ENCODING 'SJIS')";
    expect(copyStatementRefusal(statementFacts(sql), { extended: false, unsynced: false })?.message).toMatch(/ENCODING 'SJIS'/);
    const plan = planOf(sql, ['id', 'x', 'cpf']);
    const row = Buffer.concat([Buffer.from('90\t'), Buffer.from([0x95, 0x5c]), Buffer.from(`\t${BARE}\n`)]);
    expect(() => new CopyOutMasker(plan, masker.newSession()).maskRow(row)).toThrow(CopyRowRefused);
  });

  it('COPY ... (ENCODING \'SJIS\'): a trail byte 0x5C before digits is not an octal escape (content masking)', () => {
    // COPY (SELECT id, '表' || notes ...) TO STDOUT (ENCODING 'SJIS'), notes starting with a CPF.
    const sql = "COPY (SELECT id, '表' || notes FROM customers) TO STDOUT (ENCODING 'SJIS')";
    expect(copyStatementRefusal(statementFacts(sql), { extended: true, unsynced: false })?.message).toMatch(/ENCODING 'SJIS'/);
    const plan = planOf(sql, ['id', '?column?']);
    const row = Buffer.concat([Buffer.from('95\t'), Buffer.from([0x95, 0x5c]), Buffer.from(`${FORMATTED}: segunda via\n`)]);
    expect(() => new CopyOutMasker(plan, masker.newSession()).maskRow(row)).toThrow(CopyRowRefused);
    // A UTF-8 row with a backslash before digits is no octal escape either (PostgreSQL writes none): refused, not decoded.
    const utf8 = planOf("COPY (SELECT id, '表' || notes FROM customers) TO STDOUT", ['id', '?column?']);
    expect(() => new CopyOutMasker(utf8, masker.newSession()).maskRow(Buffer.from('95\t\\529.982.247-25\n'))).toThrow(CopyRowRefused);
  });
});
