// Round 5 review: the CSV audit export (cli/src/csv.ts) against what an agent's command, or an odd
// record, can carry: commas, quotes, CR/LF and formula leads inside any cell come back as the same
// cells through an RFC 4180 reader, one row per record, and no cell (whatever the value's type in
// the record) starts with what a spreadsheet runs as a formula.
import { describe, expect, it } from '@jest/globals';
import { event } from '../../e2e/support/store-testkit.ts';
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { commandRow, CSV_COLUMNS } from './csv.ts';

function record(over: Record<string, unknown> = {}): SessionRecord {
  const r: SessionRecord = { ...event('shop', 'agent-1'), chainId: 'shop/agent-1/abc', seq: 7, prev: '0'.repeat(64), keyId: 'k', hash: 'h', sig: 's' };
  return Object.assign(r, over);
}

/** Inside quotes: a character of the cell, "" for a quote (one more character used), or the closing quote. */
function quotedChar(s: { cell: string; quoted: boolean }, c: string, next: string | undefined): number {
  if (c !== '"') s.cell += c;
  else if (next === '"') { s.cell += '"'; return 1; } else s.quoted = false;
  return 0;
}

/** RFC 4180 rows: quoted cells may hold commas, quotes ("") and line breaks; rows end with CRLF. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  const s = { row: [] as string[], cell: '', quoted: false };
  const endCell = (): void => { s.row.push(s.cell); s.cell = ''; };
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    const next = text[i + 1];
    if (s.quoted) {
      i += quotedChar(s, c, next);
      continue;
    }
    if (c === '"' && s.cell === '') s.quoted = true;
    else if (c === ',') endCell();
    else if (c === '\r' && next === '\n') { endCell(); rows.push(s.row); s.row = []; i++; } else s.cell += c;
  }
  expect(s.quoted).toBe(false);
  expect(s.cell).toBe('');
  return rows;
}

const FORMULA_LEADS = ['=', '+', '-', '@', '\t', '\r'];

describe('CSV cells an agent or an odd record controls', () => {
  it.each([
    'SELECT a, b FROM t WHERE x = \'a,b\'',
    'echo "quoted" "" """',
    'line one\r\nline two\nline three\rfour',
    '",=1+1',
    '\r\n=1+1',
    'a\u2028b\u0000c',
  ])('%j: read back as the same cell, the row keeps its columns', (command) => {
    const rows = parseCsv(commandRow(record({ command })) ?? '');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toHaveLength(CSV_COLUMNS.length);
    const cell = rows[0]?.[CSV_COLUMNS.indexOf('command')] ?? '';
    expect(cell.replace(/^'/, '')).toBe(command);
    expect(FORMULA_LEADS.some((l) => cell.startsWith(l))).toBe(false);
  });

  it.each([
    ['command', '=HYPERLINK("http://x")'], ['subject', '+1'], ['purpose', '-2+3'], ['rule', '@SUM(1)'], ['target', '\t=1'], ['sessionId', '\r=1'],
    ['approvalRequest', '=cmd|\' /C calc\'!A0'], ['commandSha256', '=1'], ['policy', '=1'], ['namespace', '=1'],
  ])('a string %s starting with a formula lead is defused', (field, value) => {
    const rows = parseCsv(commandRow(record({ [field]: value })) ?? '');
    const column = field === 'sessionId' ? 'session' : field;
    const cell = rows[0]?.[CSV_COLUMNS.indexOf(column as (typeof CSV_COLUMNS)[number])] ?? '';
    expect(cell).toBe(`'${value}`);
  });

  it.each([
    ['rows in an array', { result: { rows: ['=1+1'], bytes: 3 } }, 'rows'],
    ['bytes as an object', { result: { rows: 1, bytes: { toString: '=x' } } }, 'bytes'],
    ['an approval request as an array', { approvalRequest: ['=cmd|\' /C calc\'!A0'] }, 'approvalRequest'],
    ['a group starting with a formula lead', { groups: ['=1+1', 'b'] }, 'groups'],
    ['a group that is an object with a toString member', { groups: [{ toString: '=x' }, 'b'] }, 'groups'],
    ['masked counts that are not numbers', { masked: { cpf: { valueOf: '=x' }, email: 2 } }, 'masked'],
    ['a review whose reviewer starts with one', { approval: { reviews: [{ reviewer: '=1+1', groups: [], decision: 'Approved', time: 't', reason: 'r' }] } }, 'reviews'],
  ])('%s (a record typed otherwise than the schema says): no formula lead either', (_name, over, field) => {
    const rows = parseCsv(commandRow(record(over)) ?? '');
    expect(rows[0]).toHaveLength(CSV_COLUMNS.length);
    const cell = rows[0]?.[CSV_COLUMNS.indexOf(field as (typeof CSV_COLUMNS)[number])] ?? '';
    expect(FORMULA_LEADS.some((l) => cell.startsWith(l))).toBe(false);
  });

  it('numbers stay numbers: a negative count is not quoted or prefixed', () => {
    const rows = parseCsv(commandRow(record({ result: { rows: -3, bytes: 0 } })) ?? '');
    expect(rows[0]?.[CSV_COLUMNS.indexOf('rows')]).toBe('-3');
  });
});
