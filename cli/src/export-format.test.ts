// The pieces under `guarita export` and `verify --file`: CSV rows, JSONL splitting, time flags,
// the progress bar (silent off a terminal and on short runs).
import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { event } from '../../e2e/support/store-testkit.ts';
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { commandRow, csvCell, csvHeader, CSV_COLUMNS } from './csv.ts';
import { jsonlLines } from './jsonl.ts';
import { Progress } from './progress.ts';
import { humanBytes, humanDuration, parseTimeFlag } from './time.ts';
import { durationMs } from '../../core/duration.ts';

function record(over: Partial<SessionRecord> = {}): SessionRecord {
  return { ...event('shop', 'agent-1'), chainId: 'shop/agent-1/abc', seq: 7, prev: '0'.repeat(64), keyId: 'k', hash: 'h', sig: 's', ...over };
}

describe('csv', () => {
  it('has the audit columns and one row per command record', () => {
    expect(csvHeader()).toBe(`${CSV_COLUMNS.join(',')}\r\n`);
    expect(CSV_COLUMNS.slice(0, 15)).toEqual(['time', 'namespace', 'policy', 'target', 'session', 'subject', 'groups', 'purpose', 'command', 'decision', 'rule', 'approvalRequest', 'rows', 'bytes', 'masked']);
    const row = commandRow(record({ time: '2026-01-10T12:00:00.000Z', groups: ['support', 'batch'], masked: { email: 2, cpf: 3 }, approvalRequest: 'areq-1', result: { rows: 4, bytes: 120 } }));
    expect(row).toBe('2026-01-10T12:00:00.000Z,shop,orders-db,orders-db,session-1,agent-1,support;batch,customer-support,SELECT id, cpf FROM customers WHERE id = $1,allow,allow-the-rest,areq-1,4,120,cpf=3;email=2,shop/agent-1/abc#7,,false,,\r\n'.replace('SELECT id, cpf FROM customers WHERE id = $1', '"SELECT id, cpf FROM customers WHERE id = $1"'));
    expect(commandRow(record({ type: 'session.start' }))).toBeUndefined();
    expect(CSV_COLUMNS.at(-1)).toBe('bytesIn');
    expect(commandRow(record({ result: { bytes: 3, bytesIn: 200_000 } }))?.endsWith(',200000\r\n')).toBe(true);
  });

  it('says "outcome unknown" in the rows cell of a command whose answer was never read (round 12), never a count', () => {
    const rowsOf = (r: SessionRecord): string => (commandRow(r) ?? '').split(',')[CSV_COLUMNS.indexOf('rows') + 1] ?? '';
    // +1: the command cell holds one comma (quoted), as in the first test's record.
    expect(rowsOf(record({ result: { bytes: 10, outcomeUnknown: true, error: 'the agent left' } }))).toBe('outcome unknown');
    // A count beside the flag (an odd record) is not shown as one; an HTTP record has no rows either.
    expect(rowsOf(record({ result: { rows: 0, outcomeUnknown: true } }))).toBe('outcome unknown');
    expect(rowsOf(record({ result: { status: 502, outcomeUnknown: true } }))).toBe('outcome unknown');
    expect(rowsOf(record({ result: { rows: 0 } }))).toBe('0');
    expect(rowsOf(record({ result: { rows: 2, outcomeUnknown: false } }))).toBe('2');
  });

  it('shows the reviews signed into an approved command\'s record (issue 18, item 11)', () => {
    const approval = {
      request: 'areq-1', rule: 'export-needs-dpo', required: 1, approvals: 1, approverGroups: ['dpo'],
      reviews: [{ reviewer: 'dana', groups: ['dpo', 'legal'], decision: 'Approved' as const, reason: 'ticket 9, export for the ANPD', time: '2026-01-10T11:59:00Z' }],
    };
    const row = commandRow(record({ approvalRequest: 'areq-1', approval })) ?? '';
    expect(CSV_COLUMNS.at(-4)).toBe('reviews');
    expect(row.trimEnd().endsWith('"dana [dpo legal] Approved 2026-01-10T11:59:00Z: ticket 9, export for the ANPD",false,,')).toBe(true);
  });

  it('says when a command was cut, with the SHA-256 of the whole command, as JSON lines do', () => {
    const sha = 'a'.repeat(64);
    const columns = (row: string | undefined): string[] => (row ?? '').trimEnd().split(',').slice(-3, -1);
    expect(CSV_COLUMNS.slice(-3, -1)).toEqual(['commandTruncated', 'commandSha256']);
    expect(columns(commandRow(record({ command: 'SELECT 1', commandSha256: sha, commandTruncated: true })))).toEqual(['true', sha]);
    expect(columns(commandRow(record({ command: 'SELECT 1', commandSha256: sha })))).toEqual(['false', sha]);
    // A record from before commandSha256 existed: not cut, no hash.
    expect(columns(commandRow(record({ command: 'SELECT 1' })))).toEqual(['false', '']);
  });

  it('keeps its formula defence in the new columns: a recorded value is a cell, never a formula', () => {
    // A record is the sidecar's; a forged or odd one still must not run in a spreadsheet.
    const row = commandRow(record({ command: '=1+1', commandSha256: '=HYPERLINK("http://x")', commandTruncated: true })) ?? '';
    expect(row).toContain(`,'=1+1,`);
    expect(row.trimEnd().endsWith(`,true,"'=HYPERLINK(""http://x"")",`)).toBe(true);
    for (const lead of ['=', '+', '-', '@', '\t', '\r']) expect(commandRow(record({ commandSha256: `${lead}cmd` }))).toContain(`'${lead}cmd`);
  });

  it('quotes per RFC 4180 and defuses spreadsheet formulas', () => {
    expect(csvCell('a "quoted"\nline')).toBe('"a ""quoted""\nline"');
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvCell('-- comment')).toBe(`'-- comment`);
    expect(csvCell('@SUM(A1)')).toBe(`'@SUM(A1)`);
    expect(csvCell(-3)).toBe('-3');
    expect(csvCell(undefined)).toBe('');
  });
});

describe('jsonl', () => {
  it('splits lines across chunk boundaries, even inside a multi-byte character', async () => {
    const text = Buffer.from('{"a":"ação"}\n\n{"b":2}\r\n{"c":3}');
    const parts = [text.subarray(0, 9), text.subarray(9, 10), text.subarray(10, 20), text.subarray(20)];
    const lines = [];
    for await (const l of jsonlLines(Readable.from(parts))) lines.push([l.number, JSON.parse(l.text)]);
    expect(lines).toEqual([[1, { a: 'ação' }], [3, { b: 2 }], [4, { c: 3 }]]);
  });
});

describe('jsonl, every way a stream can cut it', () => {
  it('gives the same lines and numbers whatever the chunk size (blank lines, CR, a last line without newline)', async () => {
    const bytes = Buffer.from('{"a":1}\n\n  \n{"b":"é"}\n{"c":3}\r\n{"x":"€😀"}\nlast');
    const read = async (parts: Buffer[]): Promise<string[]> => {
      const out: string[] = [];
      for await (const l of jsonlLines(Readable.from(parts))) out.push(`${l.number}:${l.text}:${l.raw.toString('hex')}`);
      return out;
    };
    const whole = await read([bytes]);
    expect(whole.map((l) => l.split(':')[0])).toEqual(['1', '4', '5', '6', '7']);
    for (let size = 1; size <= bytes.length; size++) {
      const parts: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
      expect([size, await read(parts)]).toEqual([size, whole]);
    }
  });
});

describe('time flags', () => {
  const now = Date.parse('2026-01-10T12:00:00Z');

  it('takes durations ago and RFC 3339 times', () => {
    expect(parseTimeFlag('24h', '--since', now)).toBe(now - 86_400_000);
    expect(parseTimeFlag('1h30m', '--since', now)).toBe(now - 5_400_000);
    expect(parseTimeFlag('2026-01-01T00:00:00Z', '--since', now)).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parseTimeFlag('2026-01-01T03:00:00-03:00', '--since', now)).toBe(Date.parse('2026-01-01T06:00:00Z'));
    expect(parseTimeFlag('2026-01-01', '--until', now)).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(() => parseTimeFlag('yesterday', '--since', now)).toThrow(/--since must be a duration ago \(24h, 7d\) or a time/);
    expect(() => parseTimeFlag('2026-13-45', '--until', now)).toThrow(/--until/);
    expect(() => parseTimeFlag('2026-01-01T12:00', '--since', now)).toThrow(/with its zone/);
    expect(durationMs('500ms')).toBe(500);
    expect(durationMs('5')).toBeUndefined();
  });

  it('prints durations and sizes for people', () => {
    expect(humanDuration(800)).toBe('0.8s');
    expect(humanDuration(185_000)).toBe('3m05s');
    expect(humanDuration(2 * 3_600_000 + 600_000)).toBe('2h10m');
    expect(humanBytes(999)).toBe('999 B');
    expect(humanBytes(2_345_678)).toBe('2.3 MB');
  });
});

describe('progress', () => {
  function stream(isTTY: boolean): { isTTY: boolean; out: string[]; write(s: string): boolean } {
    const out: string[] = [];
    return { isTTY, out, write: (s: string) => out.push(s) > 0 };
  }

  it('draws nothing off a terminal', () => {
    let t = 0;
    const s = stream(false);
    const p = new Progress(s, { label: 'exporting', now: () => t });
    t = 5000;
    p.update(0.5, '10 records');
    p.done();
    expect(s.out).toEqual([]);
  });

  it('draws on a terminal once the work takes a while, throttled, and erases itself', () => {
    let t = 0;
    const s = stream(true);
    const p = new Progress(s, { label: 'exporting', now: () => t });
    t = 500;
    p.update(0.1, 'early');
    expect(s.out).toEqual([]);
    t = 1500;
    p.update(0.5, '500 records');
    t = 1550;
    p.update(0.6, 'throttled');
    t = 1700;
    p.update(undefined, '700 records');
    expect(s.out).toHaveLength(2);
    expect(s.out[0]).toContain('exporting [############............]  50% 500 records · 1.5s');
    expect(s.out[1]).toContain('exporting 700 records · 1.7s');
    p.done();
    expect(s.out[2]).toBe('\r\u001b[2K');
  });
});
