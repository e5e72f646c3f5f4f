// COPY rows read exactly as PostgreSQL's CopyAttributeOutText / CopyAttributeOutCSV write them,
// and nothing else. The rows below are what PostgreSQL 15 writes for the values named.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../../../core/masking/index.ts';
import { CopyRowRefused, csvFields, csvQuote, decodeTextField, escapeCopyText, textFields } from './copy-format.ts';
import { CopyOutMasker } from './copy.ts';
import type { CopyPlan } from './statements.ts';

const text: CopyPlan = { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N', header: false, statement: 0 };
const csv: CopyPlan = { format: 'csv', delimiter: ',', quote: '"', escape: '"', nullString: '', header: false, statement: 0 };
const BARE = '1878017543';
const masker = compileMasker({ detectors: ['cpf', 'email'], style: 'partial', fields: [{ names: ['cpf'], detector: 'cpf' }] });

function values(fields: ReturnType<typeof csvFields>): Array<string | null> {
  return fields.map((f) => f.value);
}

describe('text format', () => {
  it('reads the escapes PostgreSQL writes: \\b \\f \\n \\r \\t \\v, \\\\ and \\ + delimiter', () => {
    expect(decodeTextField('a\\bb\\fc\\nd\\re\\tf\\vg\\\\h', '\t')).toBe('a\bb\fc\nd\re\tf\vg\\h');
    expect(values(textFields('1|a\\|b|\\N', { ...text, delimiter: '|' }))).toEqual(['1', 'a|b', null]);
    // A control character other than the six is written bare; as the delimiter it gets a backslash.
    expect(values(textFields('a\u0001b', text))).toEqual(['a\u0001b']);
    expect(values(textFields('a\\\u0001b\u0001c', { ...text, delimiter: '\u0001' }))).toEqual(['a\u0001b', 'c']);
  });

  it.each([
    ['an octal escape', '1\t\\529.982.247-25'],
    ['a hex escape', '1\t\\x41'],
    ['an escape PostgreSQL never writes', '1\t\\N1'],
    ['a trailing lone backslash', '1\t\\'],
    ['a bare newline', '1\ta\nb'],
    ['a bare carriage return', '1\ta\rb'],
    ['a bare tab inside a field of a |-delimited row', '1|a\tb'],
  ])('refuses %s', (_name, line) => {
    expect(() => textFields(line, { ...text, delimiter: line.includes('|') ? '|' : '\t' })).toThrow(CopyRowRefused);
  });

  it('writes values back as PostgreSQL does, and reads them again to the same value', () => {
    const value = 'a\\b\tc\nd\re\bf\fg\vh|i';
    for (const delimiter of ['\t', '|', ',', 'X']) {
      expect(decodeTextField(escapeCopyText(value, delimiter), delimiter)).toBe(value);
    }
    expect(escapeCopyText('a|b', '|')).toBe('a\\|b');
  });

  it('a NULL string other than \\N: a field equal to it is NULL, one that is not is read as a value', () => {
    expect(values(textFields('1\tNADA\tNADA!', { ...text, nullString: 'NADA' }))).toEqual(['1', null, 'NADA!']);
    expect(values(textFields('1\t\t', { ...text, nullString: '' }))).toEqual(['1', null, null]);
  });
});

describe('CSV format', () => {
  it('reads doubled quotes, quoted delimiters and line breaks with the default escape', () => {
    expect(values(csvFields('1,"a,b","say ""hi""",,"x\ny",""', csv))).toEqual(['1', 'a,b', 'say "hi"', null, 'x\ny', '']);
  });

  it('ESCAPE \'\\\': inside quotes the escape character doubles itself and escapes the quote', () => {
    const plan = { ...csv, escape: '\\' };
    expect(values(csvFields('90,1878017543,",a\\\\"', plan))).toEqual(['90', BARE, ',a\\']);
    expect(values(csvFields('"a\\"b",c', plan))).toEqual(['a"b', 'c']);
    expect(values(csvFields('"\\\\\\"\\\\",x', plan))).toEqual(['\\"\\', 'x']);
    // Unquoted, the escape character is plain text (PostgreSQL quotes a value only for the delimiter, quote, CR, LF or NULL).
    expect(values(csvFields('a\\b,c', plan))).toEqual(['a\\b', 'c']);
  });

  it('custom quote, escape and delimiter together', () => {
    const plan = { ...csv, delimiter: ';', quote: '\'', escape: '!' };
    expect(values(csvFields("1;'a;b';'it!'s';'!!'", plan))).toEqual(['1', 'a;b', "it's", '!']);
    expect(csvQuote("it's!", plan, false)).toBe("'it!'s!!'");
  });

  it('NULL string: unquoted is NULL, quoted is the value (PostgreSQL quotes a value equal to it)', () => {
    const plan = { ...csv, nullString: 'NULL' };
    expect(values(csvFields('NULL,"NULL",x', plan))).toEqual([null, 'NULL', 'x']);
    expect(csvQuote('NULL', plan, false)).toBe('"NULL"');
  });

  it.each([
    ['an unterminated quoted field', '1,"open'],
    ['an escape before an ordinary character (ESCAPE \\)', '1,"a\\b"'],
    ['text after a closing quote', '1,"a"b,2'],
    ['a quote inside an unquoted field', '1,a"b'],
    ['a line break inside an unquoted field', '1,a\rb'],
  ])('refuses %s', (_name, line) => {
    expect(() => csvFields(line, { ...csv, escape: '\\' })).toThrow(CopyRowRefused);
  });

  it('quotes `\\.` alone on its line, as PostgreSQL does for a single column', () => {
    expect(csvQuote('\\.', csv, false, true)).toBe('"\\."');
    expect(csvQuote('\\.', csv, false, false)).toBe('\\.');
  });
});

describe('CopyOutMasker: rows split as written, or refused', () => {
  it('CSV with ESCAPE \'\\\' and FORCE_QUOTE: the cpf column is masked by its name, the row re-quoted as written', () => {
    const plan: CopyPlan = { ...csv, escape: '\\', columns: ['id', 'cpf', 'z'] };
    const out = new CopyOutMasker(plan, masker.newSession()).maskRow(Buffer.from(`"90","${BARE}",",a\\\\"\n`)).toString();
    expect(out).not.toContain(BARE);
    const fields = csvFields(out.slice(0, -1), plan);
    expect(fields.map((f) => f.quoted)).toEqual([true, true, true]);
    expect(fields[2]?.value).toBe(',a\\');
  });

  it('a row with more or fewer fields than the columns is refused, in both formats', () => {
    expect(() => new CopyOutMasker({ ...text, columns: ['id', 'cpf'] }, masker.newSession()).maskRow(Buffer.from(`90\tx\t${BARE}\n`))).toThrow(/3 fields for the 2 columns/);
    expect(() => new CopyOutMasker({ ...text, columns: ['id', 'x', 'cpf'] }, masker.newSession()).maskRow(Buffer.from(`90\t${BARE}\n`))).toThrow(CopyRowRefused);
    expect(() => new CopyOutMasker({ ...csv, columns: ['id', 'cpf'] }, masker.newSession()).maskRow(Buffer.from(`90,"a,b",${BARE}\n`))).toThrow(CopyRowRefused);
  });

  it('a row that is not UTF-8, or has no newline, is refused', () => {
    const m = new CopyOutMasker({ ...text, columns: ['id', 'x'] }, masker.newSession());
    expect(() => m.maskRow(Buffer.from([0x39, 0x30, 0x09, 0x95, 0x5c, 0x0a]))).toThrow(/UTF-8/);
    expect(() => m.maskRow(Buffer.from('90\tx'))).toThrow(/newline/);
  });

  it('HEADER: the names must be the columns described, and are masked by content like RowDescription names', () => {
    const plan: CopyPlan = { ...csv, header: true, columns: ['id', '590.830.166-33'] };
    const m = new CopyOutMasker(plan, masker.newSession());
    expect(m.maskRow(Buffer.from('id,590.830.166-33\n')).toString()).not.toContain('590.830.166');
    expect(m.maskRow(Buffer.from('1,x\n')).toString()).toBe('1,x\n');
    const shifted = new CopyOutMasker({ ...text, header: true, columns: ['id', 'nome', 'cpf'] }, masker.newSession());
    expect(() => shifted.maskRow(Buffer.from('id\tnome_busca\tcpf\n'))).toThrow(/not the column described/);
  });

  it('a masked text value is escaped as PostgreSQL escapes it (a custom delimiter in the value)', () => {
    const plan: CopyPlan = { ...text, delimiter: '-', columns: ['id', 'notes'] };
    const out = new CopyOutMasker(plan, masker.newSession()).maskRow(Buffer.from('1-ver 529.982.247\\-25\n')).toString();
    expect(out).not.toContain('529.982');
    expect(textFields(out.slice(0, -1), plan)).toHaveLength(2);
  });
});
