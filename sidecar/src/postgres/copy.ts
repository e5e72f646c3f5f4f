// Masking of COPY ... TO STDOUT data. The server sends exactly one row per CopyData message, so
// each message is split into fields (text or CSV format, with the statement's delimiter, quote
// and NULL string), each field is masked by column name and content like a result cell, and the
// row is written back in the same format.
import type { MaskSession } from '../enforcement.ts';
import type { SampleCollector } from './rows.ts';
import type { CopyPlan } from './statements.ts';

const DEFAULT_TEXT_PLAN: CopyPlan = { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N', header: false };

const TEXT_UNESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

export function unescapeCopyText(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/gs, (_, e: string) => {
    if (TEXT_UNESCAPES[e] !== undefined) return TEXT_UNESCAPES[e];
    if (/^x[0-9a-fA-F]{1,2}$/.test(e)) return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]{1,3}$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return e;
  });
}

export function escapeCopyText(s: string, delimiter: string): string {
  let out = '';
  for (const ch of s) {
    if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === delimiter) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

interface CsvField {
  value: string;
  quoted: boolean;
  /** The field as it appeared in the row. */
  raw: string;
}

/** A quoted field starting at `i` (on the opening quote): [value, index after the closing quote]. */
function quotedField(line: string, i: number, quote: string, escape: string): [string, number] {
  let value = '';
  let at = i + quote.length;
  for (;;) {
    if (at >= line.length) throw new Error('unterminated quoted CSV field');
    // Inside quotes, escape + quote is a literal quote (escape defaults to the quote itself: "").
    if (line.startsWith(escape, at) && line.startsWith(quote, at + escape.length)) {
      value += quote;
      at += escape.length + quote.length;
    } else if (line.startsWith(quote, at)) {
      return [value, at + quote.length];
    } else {
      value += line[at] ?? '';
      at++;
    }
  }
}

/** Splits one CSV row (without its line end) into fields. */
export function splitCsv(line: string, delimiter: string, quote: string, escape: string): CsvField[] {
  const fields: CsvField[] = [];
  let i = 0;
  for (;;) {
    const start = i;
    if (line.startsWith(quote, i)) {
      const [value, end] = quotedField(line, i, quote, escape);
      fields.push({ value, quoted: true, raw: line.slice(start, end) });
      i = end;
    } else {
      const next = line.indexOf(delimiter, i);
      const end = next < 0 ? line.length : next;
      fields.push({ value: line.slice(i, end), quoted: false, raw: line.slice(i, end) });
      i = end;
    }
    if (i >= line.length) return fields;
    if (!line.startsWith(delimiter, i)) throw new Error('malformed CSV row');
    i += delimiter.length;
  }
}

function csvQuote(value: string, plan: CopyPlan, force: boolean): string {
  const needs = force || value.includes(plan.delimiter) || value.includes(plan.quote) || /[\r\n]/.test(value) || value === plan.nullString || (plan.escape !== plan.quote && value.includes(plan.escape));
  if (!needs) return value;
  let body = value;
  if (plan.escape !== plan.quote) body = body.split(plan.escape).join(plan.escape + plan.escape);
  body = body.split(plan.quote).join(plan.escape + plan.quote);
  return `${plan.quote}${body}${plan.quote}`;
}

export class CopyOutMasker {
  private readonly plan: CopyPlan;
  private readonly mask: MaskSession;
  private readonly sample: SampleCollector | undefined;
  private readonly columns: string[] | undefined;
  private headerPending: boolean;
  rows = 0;
  bytes = 0;

  constructor(plan: CopyPlan | undefined, mask: MaskSession, sample?: SampleCollector) {
    this.plan = plan ?? DEFAULT_TEXT_PLAN;
    this.mask = mask;
    this.sample = sample;
    this.columns = plan?.columns;
    this.headerPending = this.plan.header;
    if (this.columns !== undefined) sample?.header(this.columns);
  }

  private maskField(i: number, value: string): string {
    const name = this.columns?.[i];
    return name === undefined ? this.mask.maskText(value) : (this.mask.maskCell(name, value) ?? value);
  }

  /** The CopyData payload to send for one row. */
  maskRow(data: Buffer): Buffer {
    this.bytes += data.length;
    const text = data.toString('utf8');
    const eol = /\r?\n$/.exec(text)?.[0] ?? '';
    const line = text.slice(0, text.length - eol.length);
    if (this.headerPending) {
      this.headerPending = false;
      return data;
    }
    this.rows++;
    let masked: string;
    try {
      masked = this.plan.format === 'csv' ? this.maskCsv(line) : this.maskText(line);
    } catch {
      // Not splittable as expected: mask the whole line by content.
      masked = this.mask.maskText(line);
    }
    this.sample?.line(masked);
    return masked === line ? data : Buffer.from(masked + eol, 'utf8');
  }

  private maskText(line: string): string {
    const { delimiter, nullString } = this.plan;
    const fields = splitTextFields(line, delimiter);
    return fields.map((f, i) => {
      if (f === nullString) return f;
      const value = unescapeCopyText(f);
      const m = this.maskField(i, value);
      return m === value ? f : escapeCopyText(m, delimiter);
    }).join(delimiter);
  }

  private maskCsv(line: string): string {
    const { delimiter, quote, escape, nullString } = this.plan;
    const fields = splitCsv(line, delimiter, quote, escape);
    return fields.map((f, i) => {
      if (!f.quoted && f.value === nullString) return f.value;
      const m = this.maskField(i, f.value);
      return m === f.value ? f.raw : csvQuote(m, this.plan, f.quoted);
    }).join(delimiter);
  }
}

/** Splits a text-format row on unescaped delimiters (an escaped delimiter is `\` + delimiter). */
export function splitTextFields(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] ?? '';
    if (ch === '\\' && i + 1 < line.length) {
      cur += ch + (line[i + 1] ?? '');
      i++;
    } else if (ch === delimiter) {
      fields.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  fields.push(cur);
  return fields;
}
