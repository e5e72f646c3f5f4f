// Round 9 adversarial review of the evidence path: batches the ingest accepts that break what the
// round 7 fixes promised. Each test FAILED on the code it was written against.
//
// Round 7 closed "one sidecar spoiling the namespace's exports" with a time check at ingest
// (batch-check.ts timeGoingBack): a checkpoint of a larger tree dated before the chain's newest
// stored one is refused with 422 checkpoint-time. The check runs only when the batch has fresh
// records (`fresh.length === 0 ? undefined : timeGoingBack(...)`), yet a batch of only re-sent
// records still stores its checkpoint when it is larger than the newest stored one
// (file-store.ts checkpointToStore). That happens whenever the chain's last records came without a
// checkpoint: format 1 records (signed one by one, accepted after format 2 ones) need none.
//
// Fixed (round 9): a format 1 record after format 2 records of its chain is refused (422 downgrade),
// and every checkpoint that will be stored obeys the time rules, a re-sent batch's too (the re-sent
// path itself: core/recording/batch-check.test.ts, "checkpoints a re-sent batch stores"). The
// attacks below now stop at step 2; each still ends with its original assertion.
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, SignedChainWriter } from '../../../core/recording/index.ts';
import { signChainCheckpoint } from '../../../core/recording/chain-checkpoint.ts';
import { ChainTree } from '../../../core/recording/chain-tree.ts';
import { parseCheckpoint, signCheckpoint } from '../../../core/recording/checkpoint.ts';
import type { SessionEvent } from '../../../core/recording/session-event.ts';
import { event, fakeSidecar, verifyExport } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';
import type { SessionRecord } from './types.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const NS = 'ns-a';
const dirs: string[] = [];
const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function fresh(): Promise<FileStore> {
  const dir = mkdtempSync(join(tmpdir(), 'guarita-r9-ingest-'));
  dirs.push(dir);
  const s = await FileStore.open({ dir, key: generateSigningKey(), segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet });
  stores.push(s);
  return s;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * A rogue sidecar's chain (its own key): `n2` format 2 records, then `n1` format 1 records signed
 * one by one (continuing the same chain), and its tree over all of them.
 */
function mixedChain(n2: number, n1: number, sessionId = 'session-1') {
  const sc = fakeSidecar(NS, 'agent-rogue');
  const v2 = sc.next(n2, { sessionId });
  const signed = new SignedChainWriter<SessionEvent>(sc.chainId, sc.key, sc.writer.position);
  const v1 = Array.from({ length: n1 }, () => signed.append(event(NS, sc.pod, { sessionId }))) as unknown as SessionRecord[];
  const all = [...v2, ...v1];
  const rootAt = (size: number): Buffer => {
    const t = ChainTree.empty();
    for (const r of all.slice(0, size)) t.append(r.hash);
    return t.root();
  };
  const at = (size: number, time: string): string => signChainCheckpoint(sc.chainId, size, rootAt(size), sc.key, new Date(time));
  /** The checkpoint of `size` with no time line (a form the parser accepts). */
  const undatedAt = (size: number): string => signCheckpoint({ origin: sc.chainId, size, rootHash: rootAt(size) }, sc.key);
  return { sc, v2, v1, all, at, undatedAt };
}

describe('checkpoint times going backwards, through a re-sent batch', () => {
  it('a re-sent batch may not store a checkpoint of a larger tree dated before the stored one (the namespace export still verifies)', async () => {
    const store = await fresh();
    const honest = fakeSidecar(NS, 'agent-honest');
    await store.registerChain(honest.registration());
    const h = honest.batch(3);
    expect((await store.append(honest.chainId, h.records, h.checkpoint)).ok).toBe(true);

    const { sc, v2, v1, at } = mixedChain(4, 2);
    await store.registerChain(sc.registration());
    // 1. Four format 2 records with their checkpoint (size 4), dated today: accepted.
    expect((await store.append(sc.chainId, v2, at(4, '2026-11-01T00:00:00Z'))).ok).toBe(true);
    // 2. Two format 1 records (signed each) after format 2 ones: a downgrade, refused.
    expect(await store.append(sc.chainId, v1, undefined)).toMatchObject({ ok: false, status: 422, problem: 'downgrade', index: 0, seq: 5 });
    // 3. The same records 4..6 again (nothing fresh), now with a checkpoint of size 6 dated years back.
    //    A fresh batch with that checkpoint is refused (checkpoint-time); this one is not checked.
    const resent = await store.append(sc.chainId, [v2[3]!, ...v1], at(6, '2020-01-01T00:00:00Z'));
    const v = verifyExport(await collect(store.exportLines(NS, {})), true);
    // Either ingest refuses it, or the export the operator then serves still verifies.
    expect({ accepted: resent.ok, exportOk: v.ok, problems: v.problems }).not.toMatchObject({ accepted: true, exportOk: false });
  });

  it('a re-sent batch may not store an undated checkpoint after dated ones (the round 7c rule: a chain that dates its checkpoints keeps dating them)', async () => {
    const store = await fresh();
    const mixedChainOf = mixedChain(4, 2);
    const { sc, v2, v1, at } = mixedChainOf;
    await store.registerChain(sc.registration());
    expect((await store.append(sc.chainId, v2, at(4, '2026-11-01T00:00:00Z'))).ok).toBe(true);
    expect(await store.append(sc.chainId, v1, undefined)).toMatchObject({ ok: false, problem: 'downgrade' });
    // Re-sent with an undated checkpoint of size 6: the round 7c check ("a chain that dates its
    // checkpoints keeps dating them") is skipped for re-sent batches too.
    const { undatedAt } = mixedChainOf;
    const resent = await store.append(sc.chainId, [v2[3]!, ...v1], undatedAt(6));
    expect(resent.ok).toBe(false);
  });

  it('a checkpoint dated years back, behind an undated one, is neither refused by ingest nor by guarita verify --file', async () => {
    const store = await fresh();
    const honest = fakeSidecar(NS, 'agent-honest');
    await store.registerChain(honest.registration());
    const h = honest.batch(3);
    expect((await store.append(honest.chainId, h.records, h.checkpoint)).ok).toBe(true);
    // Records 1..4 format 2, 5..8 format 1 (signed each), one chain, the rogue sidecar's key.
    const { sc, all, at, undatedAt } = mixedChain(4, 4);
    await store.registerChain(sc.registration());
    expect((await store.append(sc.chainId, all.slice(0, 4), at(4, '2026-11-01T00:00:00Z'))).ok).toBe(true);
    expect(await store.append(sc.chainId, all.slice(4, 6), undefined)).toMatchObject({ ok: false, problem: 'downgrade' });
    const undated = await store.append(sc.chainId, all.slice(3, 6), undatedAt(6));
    // Records 5..6 were never stored: 7..8 are a gap now (and a downgrade were they next).
    expect(await store.append(sc.chainId, all.slice(6, 8), undefined)).toMatchObject({ ok: false });
    const back = await store.append(sc.chainId, all.slice(3, 8), at(8, '2020-01-01T00:00:00Z'));
    const lines = await collect(store.exportLines(NS, {}));
    const times = lines.filter((l) => (l as { type?: string }).type === 'checkpoint' && (l as { chainId?: string }).chainId === sc.chainId)
      .map((l) => { const c = parseCheckpoint((l as { note: string }).note).checkpoint; return `${c.size}@${c.time ?? 'undated'}`; });
    const v = verifyExport(lines, true);
    // The export carries the chain's checkpoint of size 8 dated 2020 after its size 4 dated 2026:
    // what the verifier calls "a rollback or a forged time" when the two are adjacent.
    expect({ undated: undated.ok, back: back.ok, times, verified: v.ok }).not.toMatchObject({ back: true, verified: true });
  });
});

// Record times: the ingest schema checks `time` against an RFC 3339 pattern only, so a time of the
// right form that is no instant (month 13, hour 25) is stored; the index keeps Date.parse's NaN, and
// NaN compares false with every bound, so such records pass every since/until filter: a time-window
// export or session list holds records from no time at all (round 7 closed the same form for
// checkpoint times only).
describe('record times that are no instant', () => {
  it('a record dated 2026-13-45T25:61:61Z is refused, or kept out of an export of another window', async () => {
    const store = await fresh();
    const sc = fakeSidecar(NS, 'agent-rogue');
    await store.registerChain(sc.registration());
    const b = sc.batch(2, { time: '2026-13-45T25:61:61Z', sessionId: 'no-time' });
    const accepted = (await store.append(sc.chainId, b.records, b.checkpoint)).ok;
    const window = { since: Date.parse('2001-01-01T00:00:00Z'), until: Date.parse('2001-01-02T00:00:00Z') };
    const lines = await collect(store.exportLines(NS, window));
    const inWindow = lines.filter((l) => (l as { sessionId?: string }).sessionId === 'no-time').length;
    expect({ accepted, inWindow }).not.toMatchObject({ accepted: true, inWindow: 2 });
  });
});
