// An export taken while records keep arriving: a commit group indexed while the export is reading
// the chain's stored checkpoints must not reach the export (its records were not selected, so a
// checkpoint covering them proves nothing the export holds, and used to turn every run of the
// chain into operator-only records with no checkpoint line at all).
//
// The interleaving is injected, not timed: the store is written, then reopened into an index with
// the last commit group's entries held back; the export starts (it runs synchronously up to its
// first read), and the held-back group is indexed exactly as the writer indexes a durable group
// (one synchronous step), while the export is waiting on its first checkpoint read.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningKey } from '../../../core/recording/index.ts';
import { fakeSidecar, verifyExport } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';
import { exportLines } from './store-reads.ts';
import { loadStore } from './store-open.ts';
import { StoreIndex } from './store-index.ts';
import type { RecordRef } from './state.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('export while a commit group is indexed', () => {
  let dir: string;
  let key: SigningKey;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'guarita-export-race-'));
    key = generateSigningKey();
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('exports the records and checkpoints indexed when it started, proven, and verifies', async () => {
    const now = () => Date.parse('2026-01-10T12:00:00Z');
    const store = await FileStore.open({ dir, key, segmentMaxBytes: 64 * 1024, segmentMaxAgeMs: 3600_000, log: quiet, now });
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    for (const n of [3, 2, 3]) {
      const records = sc.next(n);
      expect(await store.append(sc.chainId, records, sc.checkpointAt(records[records.length - 1]!.seq))).toMatchObject({ ok: true });
    }
    await store.close();

    const index = new StoreIndex(dir, key);
    await loadStore({ index, now, log: quiet });
    const chain = index.chains.get(sc.chainId)!;
    // Hold back the last group (records 6..8 and the checkpoint at 8): the index as it was before that commit.
    const held: RecordRef[] = [6, 7, 8].map((seq) => chain.refs.get(seq)!);
    for (const r of held) chain.refs.delete(r.seq);
    const heldCheckpoint = chain.checkpoints.pop()!;
    expect(heldCheckpoint.size).toBe(8);
    expect(chain.checkpoints.map((c) => c.size)).toEqual([3, 5]);

    const iterator = exportLines(index, 'shop', {})[Symbol.asyncIterator]();
    const first = iterator.next();
    // The group becomes durable and is indexed while the export awaits its first read.
    for (const r of held) chain.refs.set(r.seq, r);
    chain.checkpoints.push(heldCheckpoint);
    const lines: unknown[] = [];
    for (let r = await first; r.done !== true; r = await iterator.next()) lines.push(r.value);

    const records = lines.filter((l) => typeof (l as { seq?: unknown }).seq === 'number' && typeof (l as { hash?: unknown }).hash === 'string');
    expect(records.map((r) => (r as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5]);
    const manifest = lines.find((l) => (l as { type?: string }).type === 'manifest') as { statement: { operatorOnly?: unknown } };
    expect(manifest.statement.operatorOnly).toBeUndefined();
    expect(lines.filter((l) => (l as { type?: string }).type === 'checkpoint').map((l) => (l as { size: number }).size)).toEqual([3, 5]);
    expect(verifyExport(lines, true)).toEqual({ ok: true, problems: [], count: 5 });
  });
});
