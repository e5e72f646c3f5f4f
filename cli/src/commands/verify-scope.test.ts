// Review 27: `guarita verify --file` printed neither the scope the operator's manifest signed
// (namespace, filter, time) nor that a chain's records came in several runs, so a genuine export
// narrower (one session) or older than the one asked for read as "the" evidence; and a file of
// many bad lines names its first and counts the rest.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportOf, testStore, writeChain } from '../../../e2e/support/export-testkit.ts';
import { verifyFile } from '../../test/verify-file-run.ts';

let dir: string;

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'guarita-verify-scope-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const verify = (lines: readonly unknown[], args: string[] = []): Promise<{ code: number; out: string }> => verifyFile(dir, lines, args);

const store = testStore('ns-s', 'orders-db');
const A = writeChain('ns-s', 30, { group: 16 });

describe('the verdict shows the scope the operator signed', () => {
  it('a session-filtered export: the session, the time, and the chain\'s runs', async () => {
    const lines = exportOf(store, [A], { select: (r) => r.sessionId === 'session-1', filter: { sessionId: 'session-1' } });
    const r = await verify(lines, ['--anchor', store.anchor.head]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('scope the operator signed: namespace ns-s, only records of session session-1, exported at 2026-11-02T00:00:00.000Z');
    expect(r.out).toContain(`${A.chainId}: records 1..28 (10 of them, in 10 run(s): the records between are outside the export's scope and not in the file)`);
  });

  it('a whole-namespace export: every record, one run', async () => {
    const r = await verify(exportOf(store, [A]), ['--anchor', store.anchor.head]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('scope the operator signed: namespace ns-s, every record of the namespace, exported at 2026-11-02T00:00:00.000Z');
    expect(r.out).toContain(`${A.chainId}: records 1..30\n`);
  });

  it('-o json carries the scope and each chain\'s runs', async () => {
    const lines = exportOf(store, [A], { select: (r) => r.sessionId === 'session-1', filter: { sessionId: 'session-1' } });
    const r = await verify(lines, ['--anchor', store.anchor.head, '-o', 'json']);
    const v = JSON.parse(r.out) as { scope: unknown; chains: { runs: number }[] };
    expect(v.scope).toEqual({ namespace: 'ns-s', filter: { sessionId: 'session-1' }, createdAt: '2026-11-02T00:00:00.000Z' });
    expect(v.chains[0]?.runs).toBe(10);
  });
});

describe('a file of many bad lines', () => {
  it('names the first and counts the others, saying -o json lists only the first 100', async () => {
    const honest = exportOf(store, [A]);
    const lines = [...honest, ...Array.from({ length: 500 }, () => '1')];
    const r = await verify(lines, ['--anchor', store.anchor.head]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`first bad record: line ${honest.length + 1}\n`);
    expect(r.out).toMatch(/\d+ more problem\(s\) after it \(-o json lists the first 100\)/);
    const json = JSON.parse((await verify(lines, ['--anchor', store.anchor.head, '-o', 'json'])).out) as { problems: unknown[]; moreProblems: number };
    expect(json.problems).toHaveLength(100);
    expect(json.moreProblems).toBeGreaterThanOrEqual(400);
  });
});
