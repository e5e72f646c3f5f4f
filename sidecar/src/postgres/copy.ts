// Masking of COPY ... TO STDOUT data. The server sends exactly one row per CopyData message, each
// ending in "\n" (the protocol's newline on every platform), so each message is split into fields
// exactly as PostgreSQL writes them (copy-format.ts, with the statement's delimiter, quote, escape
// and NULL string), each field is masked by its column's name and by content like a result cell,
// and the row is written back in the same format. The columns are those the COPY writes
// (copy-refusal.ts refuses a COPY without them); a row that does not split into exactly that many
// fields is refused (CopyRowRefused), never masked by content alone: a field under another
// column's name would lose that column's name rules.
import type { MaskSession } from '../enforcement.ts';
import { CopyRowRefused, csvFields, csvQuote, escapeCopyText, textFields, type CopyField } from './copy-format.ts';
import type { SampleCollector } from './rows.ts';
import type { CopyPlan } from './statements.ts';

export { CopyRowRefused, escapeCopyText, splitCsv, splitTextFields } from './copy-format.ts';

/** Rows are UTF-8 (ENCODING other than UTF8 is refused up front); bytes that are not are refused, not replaced. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export class CopyOutMasker {
  private readonly plan: CopyPlan;
  private readonly mask: MaskSession;
  private readonly sample: SampleCollector | undefined;
  private readonly columns: readonly string[];
  private headerPending: boolean;
  rows = 0;
  bytes = 0;

  /** `plan.columns` must be the columns the COPY writes (copyOutRefusal checked them). */
  constructor(plan: CopyPlan, mask: MaskSession, sample?: SampleCollector) {
    if (plan.columns === undefined) throw new CopyRowRefused('the COPY\'s columns are not known');
    this.plan = plan;
    this.mask = mask;
    this.sample = sample;
    this.columns = plan.columns;
    this.headerPending = plan.header;
    sample?.header(this.columns);
  }

  /** The CopyData payload to send for one row; throws CopyRowRefused for a row PostgreSQL could not have written for these columns. */
  maskRow(data: Buffer): Buffer {
    this.bytes += data.length;
    const line = this.lineOf(data);
    if (this.headerPending) {
      this.headerPending = false;
      return this.maskHeader(data, line);
    }
    this.rows++;
    const fields = this.fields(line, false);
    const masked = fields.map((f, i) => this.maskField(f, this.columns[i] ?? '')).join(this.plan.delimiter);
    this.sample?.line(masked);
    return masked === line ? data : Buffer.from(`${masked}\n`, 'utf8');
  }

  private lineOf(data: Buffer): string {
    let text: string;
    try {
      text = UTF8.decode(data);
    } catch {
      throw new CopyRowRefused('a COPY row is not valid UTF-8');
    }
    if (!text.endsWith('\n')) throw new CopyRowRefused('a COPY row does not end with a newline');
    return text.slice(0, -1);
  }

  private fields(line: string, header: boolean): CopyField[] {
    const fields = this.plan.format === 'csv' ? csvFields(line, this.plan, header) : textFields(line, this.plan, header);
    if (fields.length !== this.columns.length) {
      throw new CopyRowRefused(`a COPY ${header ? 'header' : 'row'} has ${fields.length} fields for the ${this.columns.length} columns described (${this.columns.join(', ')})`);
    }
    return fields;
  }

  private maskField(f: CopyField, column: string): string {
    if (f.value === null) return f.raw;
    const m = this.mask.maskCell(column, f.value);
    return m === f.value ? f.raw : this.encode(m, f.quoted);
  }

  private encode(value: string, quoted: boolean): string {
    return this.plan.format === 'csv' ? csvQuote(value, this.plan, quoted, this.columns.length === 1) : escapeCopyText(value, this.plan.delimiter);
  }

  /**
   * The HEADER line: the column names, written like values. They must be the described columns
   * (a cross-check of the description), and are masked by content as RowDescription names are.
   */
  private maskHeader(data: Buffer, line: string): Buffer {
    const fields = this.fields(line, true);
    fields.forEach((f, i) => {
      if (f.value !== this.columns[i]) throw new CopyRowRefused(`the COPY header names column ${i + 1} "${f.value ?? ''}", not the column described ("${this.columns[i] ?? ''}")`);
    });
    const masked = fields.map((f) => {
      const value = f.value ?? '';
      const m = this.mask.maskText(value);
      return m === value ? f.raw : this.encode(m, f.quoted);
    }).join(this.plan.delimiter);
    return masked === line ? data : Buffer.from(`${masked}\n`, 'utf8');
  }
}
