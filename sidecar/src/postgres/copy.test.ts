import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../../../core/masking/index.ts';
import { decodeTextField } from './copy-format.ts';
import { CopyOutMasker, CopyRowRefused, escapeCopyText, splitCsv, splitTextFields } from './copy.ts';
import { SampleCollector } from './rows.ts';
import type { CopyPlan } from './statements.ts';

const masker = compileMasker({ detectors: ['cpf', 'email'], style: 'partial', fields: [{ names: ['nome'] }] });
const textPlan: CopyPlan = { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N', header: false, statement: 0 };
const csvPlan: CopyPlan = { format: 'csv', delimiter: ',', quote: '"', escape: '"', nullString: '', header: true, statement: 0 };

describe('COPY text format', () => {
  it('splits on unescaped delimiters and round-trips escapes', () => {
    expect(splitTextFields('a\\tb\tc\\\\\t\\N', '\t')).toEqual(['a\\tb', 'c\\\\', '\\N']);
    expect(decodeTextField('a\\tb\\nc\\\\d', '\t')).toBe('a\tb\nc\\d');
    expect(escapeCopyText('a\tb\nc\\d', '\t')).toBe('a\\tb\\nc\\\\d');
  });

  it('masks fields by column name and content, keeps NULLs and the line end', () => {
    const sample = new SampleCollector({ maxRows: 5, maxBytes: 1000 });
    const m = new CopyOutMasker({ ...textPlan, columns: ['id', 'nome', 'cpf', 'notes'] }, masker.newSession(), sample);
    const out = m.maskRow(Buffer.from('7\tAna Ferreira\t590.830.166-33\tretorno no e-mail ana@exemplo.com.br\n')).toString();
    const fields = out.replace(/\n$/, '').split('\t');
    expect(out.endsWith('\n')).toBe(true);
    expect(fields[0]).toBe('7');
    expect(fields[1]).not.toBe('Ana Ferreira');
    expect(fields[2]).not.toContain('590.830.166');
    expect(fields[3]).not.toContain('ana@exemplo.com.br');
    expect(m.maskRow(Buffer.from('8\t\\N\t\\N\t\\N\n')).toString()).toBe('8\t\\N\t\\N\t\\N\n');
    expect(sample.text()?.split('\n')[0]).toBe('id\tnome\tcpf\tnotes');
  });

  it('refuses to mask without the columns (never by content alone)', () => {
    expect(() => new CopyOutMasker(textPlan, masker.newSession())).toThrow(CopyRowRefused);
  });
});

describe('COPY csv format', () => {
  it('splits quoted fields with doubled quotes, delimiters and newlines inside', () => {
    expect(splitCsv('1,"a,b","say ""hi""",,"x\ny"', ',', '"', '"').map((f) => f.value)).toEqual(['1', 'a,b', 'say "hi"', '', 'x\ny']);
    expect(splitCsv('"a\\"b",c', ',', '"', '\\').map((f) => f.value)).toEqual(['a"b', 'c']);
    expect(() => splitCsv('"open', ',', '"', '"')).toThrow();
  });

  it('passes the header line, masks the rows, and re-quotes what needs it', () => {
    const m = new CopyOutMasker({ ...csvPlan, columns: ['id', 'nome', 'email'] }, masker.newSession());
    expect(m.maskRow(Buffer.from('id,nome,email\n')).toString()).toBe('id,nome,email\n');
    const out = m.maskRow(Buffer.from('1,"Souza, Ana",ana@exemplo.com.br\n')).toString();
    const fields = splitCsv(out.replace(/\n$/, ''), ',', '"', '"');
    expect(fields).toHaveLength(3);
    expect(fields[1]?.value).not.toContain('Souza');
    expect(fields[2]?.value).not.toBe('ana@exemplo.com.br');
    expect(m.maskRow(Buffer.from('2,"plain ""q""",\n')).toString()).not.toContain('plain');
    expect(m.rows).toBe(2);
  });
});
