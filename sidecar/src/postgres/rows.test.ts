import { describe, expect, it } from '@jest/globals';
import { generateCorpus, layoutCorpus, NEGATIVES, textTemplates } from '../../../core/masking/corpus.ts';
import { compileMasker, type MaskSession } from '../../../core/masking/index.ts';
import { dataRow } from './backend.ts';
import { binaryHandling, binaryRefusal, RowMasker, SampleCollector, splitDataRow, withResultFormats, type ColumnInfo } from './rows.ts';

const masker = compileMasker({
  detectors: ['cpf', 'cnpj', 'email', 'phone'],
  style: 'partial',
  fields: [{ names: ['cpf'], detector: 'cpf' }, { names: ['email'], detector: 'email' }, { names: ['secret_note'] }],
});

function row(cells: Array<string | Buffer | null>): { raw: Buffer } {
  return { raw: dataRow(cells.map((c) => (c === null ? null : Buffer.isBuffer(c) ? c : Buffer.from(c, 'utf8')))) };
}

function cellsOf(raw: Buffer): Array<Buffer | null> {
  return splitDataRow(raw).map((c) => (c.len < 0 ? null : raw.subarray(c.start, c.start + c.len)));
}

const text = (name: string, typeOid = 25): ColumnInfo => ({ name, typeOid, format: 0 });

describe('RowMasker, text format', () => {
  it('masks by column name (even when the content is not a valid CPF) and by content in any column', () => {
    const m = new RowMasker([text('id', 23), text('cpf'), text('email'), text('notes'), text('secret_note')], masker.newSession(), 'refuse');
    const { raw } = row(['7', '123', 'ana.ferreira7@exemplo.com.br', 'retorno no e-mail ana.ferreira7@exemplo.com.br, CPF 590.830.166-33', 'abc']);
    const out = cellsOf(m.maskRow(raw)).map((c) => c?.toString('utf8'));
    expect(out[0]).toBe('7');
    expect(out[1]).not.toBe('123');
    expect(out[2]).not.toContain('ana.ferreira7');
    expect(out[3]).not.toContain('ana.ferreira7@exemplo.com.br');
    expect(out[3]).not.toContain('590.830.166');
    expect(out[4]).not.toBe('abc');
  });

  it('returns the very same bytes when nothing is masked, and keeps NULLs', () => {
    const m = new RowMasker([text('id', 23), text('nome'), text('notes')], masker.newSession(), 'refuse');
    const { raw } = row(['1', 'Larissa Oliveira', null]);
    expect(m.maskRow(raw)).toBe(raw);
  });

  it('keeps bytes of unchanged cells exactly, even when the text decoding would be lossy', () => {
    const m = new RowMasker([text('blob'), text('email')], masker.newSession(), 'refuse');
    const lossy = Buffer.from([0xff, 0xfe, 0x41]);
    const { raw } = row([lossy, 'a@b.com']);
    const out = cellsOf(m.maskRow(raw));
    expect(out[0]?.equals(lossy)).toBe(true);
    expect(out[1]?.toString()).not.toBe('a@b.com');
  });
});

describe('RowMasker, binary format', () => {
  it('masks binary text-like cells (text, varchar, jsonb) and text arrays', () => {
    const cols: ColumnInfo[] = [{ name: 'email', typeOid: 1043, format: 1 }, { name: 'doc', typeOid: 3802, format: 1 }, { name: 'emails', typeOid: 1009, format: 1 }];
    const arr = Buffer.alloc(12 + 8 + 4 + 7);
    arr.writeInt32BE(1, 0); arr.writeInt32BE(0, 4); arr.writeUInt32BE(25, 8); arr.writeInt32BE(1, 12); arr.writeInt32BE(1, 16);
    arr.writeInt32BE(7, 20); arr.write('a@b.com', 24);
    const { raw } = row([Buffer.from('x@y.com'), Buffer.concat([Buffer.from([1]), Buffer.from('{"cpf":"590.830.166-33"}')]), arr]);
    const out = cellsOf(new RowMasker(cols, masker.newSession(), 'refuse').maskRow(raw));
    expect(out[0]?.toString()).not.toBe('x@y.com');
    expect(out[1]?.[0]).toBe(1);
    expect(out[1]?.toString('utf8', 1)).not.toContain('590.830.166');
    expect(out[2]?.subarray(0, 20).equals(arr.subarray(0, 20))).toBe(true);
    expect(out[2]?.toString('utf8', 24)).not.toContain('a@b.com');
  });

  it('refuses typed non-text binary columns unless the policy passes them through', () => {
    const cols = withResultFormats([text('id', 23), text('cpf')], [1]);
    expect(binaryRefusal(cols, 'refuse')).toMatch(/column "id" \(type oid 23\)/);
    expect(binaryRefusal(cols, 'passthroughNonText')).toBeUndefined();
    const int4 = Buffer.from([0, 0, 0, 7]);
    const { raw } = row([int4, Buffer.from('590.830.166-33')]);
    const out = cellsOf(new RowMasker(cols, masker.newSession(), 'passthroughNonText').maskRow(raw));
    expect(out[0]?.equals(int4)).toBe(true);
    expect(out[1]?.toString()).not.toContain('590.830');
    expect(() => new RowMasker(cols, masker.newSession(), 'refuse').maskRow(raw)).toThrow(/refused/);
  });

  it('never passes unknown or composite types in binary, whatever the policy', () => {
    expect(binaryHandling(16400, 'passthroughNonText')).toBe('refuse');
    expect(binaryHandling(2249, 'passthroughNonText')).toBe('refuse');
    expect(binaryHandling(1082, 'passthroughNonText')).toBe('passthrough');
    expect(binaryHandling(25, 'refuse')).toBe('text');
  });

  it('applies per-column result formats of a Bind', () => {
    expect(withResultFormats([text('a'), text('b')], [0, 1]).map((c) => c.format)).toEqual([0, 1]);
    expect(withResultFormats([text('a'), text('b')], []).map((c) => c.format)).toEqual([0, 0]);
  });
});

describe('SampleCollector', () => {
  it('keeps masked rows up to maxRows and maxBytes and says when it truncated', () => {
    const sample = new SampleCollector({ maxRows: 2, maxBytes: 1000 });
    const m = new RowMasker([text('id', 23), text('email')], masker.newSession(), 'refuse', sample);
    for (let i = 0; i < 3; i++) {
      const { raw } = row([String(i), `user${i}@exemplo.com.br`]);
      m.maskRow(raw);
    }
    const lines = sample.text()?.split('\n') ?? [];
    expect(lines[0]).toBe('id\temail');
    expect(lines).toHaveLength(3);
    expect(sample.text()).not.toContain('user0@exemplo.com.br');
    expect(sample.truncated).toBe(true);
    const tiny = new SampleCollector({ maxRows: 100, maxBytes: 10 });
    tiny.row(['0123456789abcdef']);
    expect(tiny.text()).toBeUndefined();
    expect(tiny.truncated).toBe(true);
  });
});

describe('RowMasker: rows forwarded as bytes are exactly the rows masking every cell would send', () => {
  const corpus = generateCorpus();
  const layouts = layoutCorpus();
  const texts = [...NEGATIVES, 'Larissa Oliveira', 'pago', '', ' {"email": "a@b.com"}', '{"nota": "sem dados"}', '[1, 2]',
    ...[...corpus.valid, ...corpus.lookAlikes, ...layouts.valid, ...layouts.lookAlikes].flatMap((x) => textTemplates(x))];
  const columns = [text('notes'), text('cpf'), text('nome'), text('secret_note'), text('doc', 3802)];

  /** The reference: every cell decoded and masked as maskValue does, changed cells re-encoded, unchanged ones kept. */
  function reference(session: MaskSession, cells: Array<string | null>, names: Array<string | undefined>): Buffer {
    const raw = dataRow(cells.map((c) => (c === null ? null : Buffer.from(c))));
    const masked = cells.map((c, i) => {
      if (c === null) return null;
      const name = names[i];
      const m = name === undefined ? session.maskText(c) : session.maskCell(name, c);
      return m === c ? Buffer.from(c) : Buffer.from(m);
    });
    return masked.every((m, i) => (m === null ? cells[i] === null : m.toString() === cells[i])) ? raw : dataRow(masked);
  }

  /** Row i of the run: every fourth holds nothing to mask (name-rule columns NULL), and must go as its own bytes. */
  function rowCells(i: number): Array<string | null> {
    const t = texts[i] ?? '';
    if (i % 4 === 0) return [/[0-9@&]/.test(t) ? 'nada' : t, null, 'Ana', null, 'plain'];
    const other = (k: number): string => texts[(i * k) % texts.length] ?? '';
    return [t, other(7), i % 5 === 0 ? null : 'Ana', other(3), i % 11 === 0 ? '{"cpf": "x"}' : 'plain'];
  }

  it.each([['by column name', columns], ['without a description (content only)', undefined]] as const)('%s: same bytes, same counts, sample kept for its rows', (_what, cols) => {
    const fast = masker.newSession();
    const full = masker.newSession();
    const sample = new SampleCollector({ maxRows: 3, maxBytes: 100_000 });
    const m = new RowMasker(cols, fast, 'refuse', sample);
    const names = cols === undefined ? [undefined, undefined, undefined, undefined, undefined] : cols.map((c) => c.name);
    let asBytes = 0;
    for (let i = 0; i < texts.length; i++) {
      const cells = rowCells(i);
      const { raw } = row(cells);
      const got = m.maskRow(raw);
      if (got === raw) asBytes++;
      expect(got.equals(reference(full, cells, names))).toBe(true);
    }
    expect(fast.counts()).toEqual(full.counts());
    expect(sample.text()?.split('\n')).toHaveLength(cols === undefined ? 3 : 4);
    // The sample is the one a masker without the pre-scan (every cell masked) keeps.
    const everyCell = masker.newSession();
    const noPrescan: MaskSession = {
      maskText: (t) => everyCell.maskText(t), maskJson: (v) => everyCell.maskJson(v), maskCell: (n, v) => everyCell.maskCell(n, v),
      textStream: () => everyCell.textStream(), jsonStream: () => everyCell.jsonStream(), counts: () => everyCell.counts(),
      textMayChange: () => true, cellMayChange: () => true, removingSession: () => everyCell.removingSession(),
    };
    const fullSample = new SampleCollector({ maxRows: 3, maxBytes: 100_000 });
    const reference2 = new RowMasker(cols, noPrescan, 'refuse', fullSample);
    for (let i = 0; i < texts.length; i++) reference2.maskRow(row(rowCells(i)).raw);
    expect(sample.text()).toBe(fullSample.text());
    expect(everyCell.counts()).toEqual(fast.counts());
    expect(sample.truncated).toBe(true);
    // Not vacuous: some rows went through untouched, most were masked.
    expect(asBytes).toBeGreaterThan(0);
    expect(texts.length - asBytes).toBeGreaterThan(500);
  });
});
