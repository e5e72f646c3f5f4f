// COPY ... TO STDOUT rows read exactly as PostgreSQL writes them (copyto.c: CopyAttributeOutText,
// CopyAttributeOutCSV), and written back the same way. A row the server could not have written is
// an error (CopyRowRefused), never guessed at: masking by column name needs each field under the
// column the server wrote it for.
import type { CopyPlan } from './statements.ts';

/** A row that does not split into the COPY's columns as PostgreSQL writes them; the message says why. */
export class CopyRowRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CopyRowRefused';
  }
}

/** One field: its value (null for the NULL string), whether it was quoted (CSV), and its text in the row. */
export interface CopyField {
  value: string | null;
  quoted: boolean;
  raw: string;
}

// --- text format -----------------------------------------------------------------------------

/** The escapes CopyAttributeOutText writes, besides `\` + the delimiter. */
const TEXT_UNESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
const TEXT_ESCAPES: Readonly<Record<string, string>> = { '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't', '\v': 'v' };

/**
 * Splits a text-format row on unescaped delimiters, the way PostgreSQL's reader does
 * (CopyReadAttributesText: `\` takes the next character whatever it is). A NULL string ending in
 * `\` then swallows the delimiter after it: the row has a field too few and is refused.
 */
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

/**
 * A text-format field's value, read as CopyAttributeOutText wrote it: `\` only before b f n r t v,
 * `\` or the delimiter, and those six control characters never bare. Anything else (an octal or
 * `\x` escape, which the server never writes, a bare control character) is refused.
 */
export function decodeTextField(raw: string, delimiter: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] ?? '';
    if (ch === '\\') {
      const next = raw[i + 1] ?? '';
      const plain = next === delimiter ? next : TEXT_UNESCAPES[next];
      if (plain === undefined) throw new CopyRowRefused(`a text-format field has "\\${next}", which PostgreSQL does not write`);
      out += plain;
      i++;
    } else if (TEXT_ESCAPES[ch] !== undefined) {
      throw new CopyRowRefused('a text-format field has a bare control character PostgreSQL always escapes');
    } else {
      out += ch;
    }
  }
  return out;
}

/** A value as CopyAttributeOutText writes it: control characters first, then `\` and the delimiter. */
export function escapeCopyText(s: string, delimiter: string): string {
  let out = '';
  for (const ch of s) {
    const letter = TEXT_ESCAPES[ch];
    if (letter !== undefined) out += `\\${letter}`;
    else if (ch === '\\' || ch === delimiter) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

/** The text-format fields of a row; a field whose text is the NULL string is NULL (as the reader takes it). */
export function textFields(line: string, plan: CopyPlan, header = false): CopyField[] {
  return splitTextFields(line, plan.delimiter).map((raw) => ({
    value: !header && raw === plan.nullString ? null : decodeTextField(raw, plan.delimiter),
    quoted: false,
    raw,
  }));
}

// --- CSV format ------------------------------------------------------------------------------

/**
 * The character at `at` inside quotes: [what it stands for, its length], or undefined on the closing
 * quote. CopyAttributeOutCSV puts the escape character before every quote and every escape
 * character inside quotes (with the default escape, the quote itself: `""`); nothing else follows
 * an escape.
 */
function quotedChar(line: string, at: number, quote: string, escape: string): [string, number] | undefined {
  const ch = line[at] ?? '';
  const next = line[at + 1] ?? '';
  if (escape !== quote && ch === escape) {
    if (next !== quote && next !== escape) throw new CopyRowRefused('a CSV escape character is followed by something other than the quote or itself');
    return [next, 2];
  }
  if (ch !== quote) return [ch, 1];
  return escape === quote && next === quote ? [quote, 2] : undefined;
}

/** A quoted field starting at `i` (on the opening quote): [value, index after the closing quote]. */
function quotedField(line: string, i: number, quote: string, escape: string): [string, number] {
  let value = '';
  let at = i + 1;
  for (;;) {
    if (at >= line.length) throw new CopyRowRefused('a quoted CSV field is not terminated');
    const c = quotedChar(line, at, quote, escape);
    if (c === undefined) return [value, at + 1];
    value += c[0];
    at += c[1];
  }
}

/**
 * An unquoted CSV field ending at the next delimiter: [value, end]. CopyAttributeOutCSV quotes
 * every value with the delimiter, the quote, CR or LF, so an unquoted one has none of them.
 */
function unquotedField(line: string, i: number, delimiter: string, quote: string): [string, number] {
  const next = line.indexOf(delimiter, i);
  const end = next < 0 ? line.length : next;
  const value = line.slice(i, end);
  if (value.includes(quote) || /[\r\n]/.test(value)) throw new CopyRowRefused('an unquoted CSV field has a quote or a line break, which PostgreSQL quotes');
  return [value, end];
}

/** Splits one CSV row (without its line end) into fields (values as written; NULL is decided by the caller). */
export function splitCsv(line: string, delimiter: string, quote: string, escape: string): Array<{ value: string; quoted: boolean; raw: string }> {
  const fields: Array<{ value: string; quoted: boolean; raw: string }> = [];
  let i = 0;
  for (;;) {
    const quoted = line.startsWith(quote, i);
    const [value, end] = quoted ? quotedField(line, i, quote, escape) : unquotedField(line, i, delimiter, quote);
    fields.push({ value, quoted, raw: line.slice(i, end) });
    i = end;
    if (i >= line.length) return fields;
    if (!line.startsWith(delimiter, i)) throw new CopyRowRefused('a quoted CSV field is followed by something other than the delimiter');
    i += delimiter.length;
  }
}

/** The CSV fields of a row: an unquoted field equal to the NULL string is NULL (a value equal to it is always quoted). */
export function csvFields(line: string, plan: CopyPlan, header = false): CopyField[] {
  return splitCsv(line, plan.delimiter, plan.quote, plan.escape).map((f) => ({ ...f, value: !header && !f.quoted && f.value === plan.nullString ? null : f.value }));
}

/**
 * Whether CopyAttributeOutCSV quotes a value: when forced (it was quoted), when it has the
 * delimiter, the quote, CR or LF, equals the NULL string, or is `\.` alone on its line.
 */
function csvNeedsQuotes(value: string, plan: CopyPlan, single: boolean): boolean {
  if (value === plan.nullString || (single && value === '\\.')) return true;
  return value.includes(plan.delimiter) || value.includes(plan.quote) || /[\r\n]/.test(value);
}

/** A value as CopyAttributeOutCSV writes it: inside quotes every quote and escape character gets the escape character before it. */
export function csvQuote(value: string, plan: CopyPlan, force: boolean, single = false): string {
  if (!force && !csvNeedsQuotes(value, plan, single)) return value;
  let body = '';
  for (const ch of value) body += ch === plan.quote || ch === plan.escape ? plan.escape + ch : ch;
  return `${plan.quote}${body}${plan.quote}`;
}
