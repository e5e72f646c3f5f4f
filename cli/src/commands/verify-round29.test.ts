// Review 29: what `guarita verify --file` prints. The trust summary showed every store key and
// anchor of the file, a forger's among them, as the file's; and a failure's reason naming no line
// (the --anchor mismatch) fell out of the printed problems when junk lines were appended.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportOf, testStore, writeChain } from '../../../e2e/support/export-testkit.ts';
import { verifyFile } from '../../test/verify-file-run.ts';

let dir: string;

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'guarita-verify-r29-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const verify = (lines: readonly unknown[], args: string[] = []): Promise<{ code: number; out: string }> => verifyFile(dir, lines, args);

const NS = 'ns-v29';
const store = testStore(NS, 'orders-db');
const A = writeChain(NS, 30, { group: 16 });

describe('verify --file prints what the verdict rests on', () => {
  it('unanchored: the manifest signer\'s key and head only, other listed keys named apart', async () => {
    const older = testStore(NS, 'orders-db');
    const lines = exportOf(store, [A]);
    const at = lines.findIndex((l) => (l as { type?: string }).type === 'storeKey');
    const r = await verify([...lines.slice(0, at + 1), older.keyLine, ...lines.slice(at + 1)]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`not anchored: the store key that signed the manifest (${store.key.keyId}) is the file's own claim; compare the head made with it (orders-db at ${store.anchor.records} links, head ${store.anchor.head.slice(0, 12)}…)`);
    expect(r.out).toContain(`other store key(s) the file lists, on which nothing of this verdict rests: ${older.key.keyId}`);
    expect(r.out).not.toContain(`(${store.key.keyId}, `);
  });

  it('a re-signed file with junk appended: the --anchor mismatch is printed with the first bad line', async () => {
    const other = testStore(NS, 'orders-db');
    const lines = [...exportOf(other, [A]), ...Array.from({ length: 150 }, () => '1')];
    const r = await verify(lines, ['--anchor', store.anchor.head]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/first bad record: line \d+\n.*not a JSON object/);
    expect(r.out).toContain('the file as a whole:');
    expect(r.out).toContain(`✗ no anchor of the export signed by its store key (${other.key.keyId}) is ${store.anchor.head.slice(0, 16)}…: the export was re-signed with another key, or made against another store head`);
  });

  it('-o json: the mismatch among the problems and as trust.problem', async () => {
    const other = testStore(NS, 'orders-db');
    const lines = [...exportOf(other, [A]), ...Array.from({ length: 150 }, () => '1')];
    const r = await verify(lines, ['--anchor', store.anchor.head, '-o', 'json']);
    const v = JSON.parse(r.out) as { problems: { problem: string; line?: number }[]; trust: { state: string; problem?: string } };
    expect(v.problems.some((p) => p.line === undefined && p.problem.startsWith('no anchor of the export'))).toBe(true);
    expect(v.trust).toMatchObject({ state: 'failed', problem: expect.stringMatching(/^no anchor of the export/) as unknown as string });
  });
});
