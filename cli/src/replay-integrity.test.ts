// Review 29: what `guarita replay` calls intact and proven. It took a hash as proven from any export
// line with a seq and a hash (a proof line carrying a record's members counted), and never
// re-hashed the records the operator serves for the session, so one altered with its hash kept
// played as "intact and proven by its sidecar's checkpoints".
import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { exportRecordLine } from '../../core/recording/export-format.ts';
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { exportOf, isRecordLine, testStore, writeChain } from '../../e2e/support/export-testkit.ts';
import { provenHashes, tamperedRecords } from './replay-integrity.ts';

type Line = Record<string, unknown>;
const NS = 'ns-replay';
const store = testStore(NS, 'orders-db');
const A = writeChain(NS, 40, { group: 16 });
const session = (r: SessionRecord): boolean => r.sessionId === 'session-1';
const lines = exportOf(store, [A], { select: session, filter: { sessionId: 'session-1' } }).map((l) => structuredClone(l) as Line);
const shown = A.records.filter(session);

/** The lines as the operator streams them (records canonical, the hash last). */
function asLines(file: readonly unknown[]): AsyncIterable<{ number: number; text: string }> {
  return Readable.from(file.map((l, i) => ({ number: i + 1, text: isRecordLine(l) ? exportRecordLine(l as SessionRecord) : JSON.stringify(l) })));
}

async function tampered(file: readonly unknown[], records: readonly SessionRecord[] = shown): Promise<string[]> {
  const { verdict, proven } = await provenHashes(asLines(file));
  return tamperedRecords(verdict, proven, records);
}

describe('replay integrity', () => {
  it('a genuine session: every record shown is intact and proven', async () => {
    const { verdict, proven } = await provenHashes(asLines(lines));
    expect(verdict.ok).toBe(true);
    expect(proven.size).toBe(shown.length);
    expect(tamperedRecords(verdict, proven, shown)).toEqual([]);
  });

  it('a record served altered with its hash kept is not intact', async () => {
    const altered = shown.map((r) => (r.seq === 4 ? { ...r, command: 'SELECT 1 -- not what ran' } : r));
    expect(await tampered(lines, altered)).toEqual([`${A.chainId}#4`]);
  });

  it('a hash only a proof line carries (a record\'s members on it) is not proven', async () => {
    const fake = { ...(shown[1] as SessionRecord), command: 'SELECT 1 -- nothing to see', hash: 'e'.repeat(64) };
    const at = lines.findIndex((l) => l.type === 'proof');
    const file = lines.map((l, i) => (i === at ? { ...fake, ...l } : l));
    const { proven } = await provenHashes(asLines(file));
    expect(proven.has(fake.hash)).toBe(false);
    expect(await tampered(file, [fake as SessionRecord])).toContain(`${A.chainId}#${fake.seq}`);
  });

  it('records after the first bad one of a run are not proven (the verdict names only the first)', async () => {
    // Record #4 altered in the export: its run is broken there; the records after it in that run
    // are named by no problem, and must not be called proven.
    // A whole-namespace export: records #1..#16 are one run.
    const whole = exportOf(store, [A]).map((l) => structuredClone(l) as Line);
    const at = whole.findIndex((l) => isRecordLine(l) && l.seq === 4);
    const file = whole.map((l, i) => (i === at ? { ...l, command: 'altered' } : l));
    const bad = await tampered(file);
    for (const r of shown.filter((x) => x.seq >= 4 && x.seq <= 16)) expect(bad).toContain(`${A.chainId}#${r.seq}`);
  });
});
