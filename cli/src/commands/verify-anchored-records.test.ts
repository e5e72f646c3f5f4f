// What `guarita verify --file --anchor` prints about records the anchored store log does not
// prove (core/recording/export-checkpoint-links.test.ts has the verifier's side): the title says
// the file is only partly anchored, the records are counted by chain, and the exit code stays 0
// (the records verified; -o json's trust.state tells a CI job apart).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportOf, testStore, writeChain } from '../../../e2e/support/export-testkit.ts';
import { verifyFile } from '../../test/verify-file-run.ts';

let dir: string;

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'guarita-verify-anchored-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const verify = (lines: readonly unknown[], args: string[] = []): Promise<{ code: number; out: string }> => verifyFile(dir, lines, args);

const NS = 'ns-va';
const store = testStore(NS, 'orders-db');
const A = writeChain(NS, 30, { group: 16 });
const lines = exportOf(store, [A]) as Record<string, unknown>[];
const root = store.anchor.root!;
const head = store.anchor.head;

describe('verify --file --anchor and the records the anchored store log proves', () => {
  it('a head alone (no root): every record rests on the store key, and the CLI says how to anchor', async () => {
    const r = await verify(lines, ['--anchor', head]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('VERIFIED (partly anchored: 30 of 30 record(s)');
    expect(r.out).toContain('the anchor given is a store head without its root');
    expect(r.out).toContain('{.status.chain.root}');
  });

  it('every record anchored: said so', async () => {
    const r = await verify(lines, ['--anchor', root]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/: VERIFIED\n/);
    expect(r.out).toContain('✓ every record proven against a sidecar checkpoint the anchored store log holds');
  });

  it('a checkpoint without its store link: partly anchored, its records counted by chain', async () => {
    const file = lines.map((l) => (l.type === 'checkpoint' && l.size === 16 ? { ...l, store: undefined } : l));
    const r = await verify(file, ['--anchor', root]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('VERIFIED (partly anchored: 16 of 30 record(s) rest on the operator\'s store key alone)');
    expect(r.out).toContain(`! 16 record(s) are not proven against a checkpoint inside the anchored store log, so they rest on the operator's store key alone: ${A.chainId} (16)`);
    const j = await verify(file, ['--anchor', root, '-o', 'json']);
    expect(JSON.parse(j.out).trust).toMatchObject({ state: 'partly-anchored', unanchored: { records: 16, chains: [{ chainId: A.chainId, records: 16 }] } });
  });
});
