// Round 7 adversarial review: batches the ingest accepts that `guarita verify --file` then refuses.
// export-verify.ts refuses a chain whose checkpoint of a larger tree is dated before a smaller
// one ("a rollback or a forged time"), but batch-check.ts checks a batch's checkpoint only for
// origin, size, root and signature: a sidecar (its key: a compromised pod's proxy, or one whose
// clock was stepped back before the spool's monotonic guard) gets such a checkpoint stored, and from
// then on EVERY export of the namespace (all chains, all pods) fails verification. Each test
// FAILED on the code it was written against.
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey } from '../../../core/recording/index.ts';
import { signChainCheckpoint } from '../../../core/recording/chain-checkpoint.ts';
import { parseCheckpoint, signCheckpoint } from '../../../core/recording/checkpoint.ts';
import { fakeSidecar, verifyExport } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const NS = 'ns-a';
const dirs: string[] = [];
const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function fresh(): Promise<FileStore> {
  const dir = mkdtempSync(join(tmpdir(), 'guarita-r7-ingest-'));
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

/** The same checkpoint (origin, size, root) re-signed by the chain key with another time. */
function redated(note: string, time: string, sc: ReturnType<typeof fakeSidecar>): string {
  const cp = parseCheckpoint(note).checkpoint;
  return signChainCheckpoint(cp.origin, cp.size, cp.rootHash, sc.key, new Date(time));
}

describe('checkpoint times going backwards', () => {
  it('a batch whose checkpoint is dated before the stored one is refused, or the namespace export still verifies', async () => {
    const store = await fresh();
    const honest = fakeSidecar(NS, 'agent-honest');
    const rogue = fakeSidecar(NS, 'agent-rogue');
    for (const sc of [honest, rogue]) await store.registerChain(sc.registration());
    const h = honest.batch(4);
    expect((await store.append(honest.chainId, h.records, h.checkpoint)).ok).toBe(true);
    const r1 = rogue.batch(4);
    expect((await store.append(rogue.chainId, r1.records, redated(r1.checkpoint, '2026-11-01T00:00:00Z', rogue))).ok).toBe(true);
    const r2 = rogue.batch(4);
    const accepted = (await store.append(rogue.chainId, r2.records, redated(r2.checkpoint, '2020-01-01T00:00:00Z', rogue))).ok;
    const v = verifyExport(await collect(store.exportLines(NS, {})), true);
    expect(accepted && !v.ok).toBe(false);
  });

  it('(held, kept as a guard) a re-sent batch may not replace its stored checkpoint by one with another time (same size and root)', async () => {
    const store = await fresh();
    const sc = fakeSidecar(NS, 'agent-rogue');
    await store.registerChain(sc.registration());
    const b1 = sc.batch(4);
    expect((await store.append(sc.chainId, b1.records, redated(b1.checkpoint, '2026-11-01T00:00:00Z', sc))).ok).toBe(true);
    // The same records again (a "re-sent" batch), with the checkpoint dated far in the future.
    const again = await store.append(sc.chainId, b1.records, redated(b1.checkpoint, '2099-01-01T00:00:00Z', sc));
    const b2 = sc.batch(4);
    expect((await store.append(sc.chainId, b2.records, redated(b2.checkpoint, '2026-11-02T00:00:00Z', sc))).ok).toBe(true);
    const v = verifyExport(await collect(store.exportLines(NS, {})), true);
    expect(again.ok && !v.ok).toBe(false);
  });
});

// Its review (round 7c) of the round 7 checkpoint-time fix (0c7db12): ingest refuses a
// checkpoint dated before the chain's newest STORED one (batch-check.ts timeGoingBack), but a
// checkpoint with no time line is accepted and becomes the newest stored one, after which the
// guard has nothing to compare with. The verifier (export-verify.ts #history) compares the
// checkpoints an export carries pairwise: an export that carries the dated ones on either side of
// the time-less one but not it (a session or time-window export) is refused as "a rollback or a
// forged time". Each test here FAILED on the code it was written against.

/** The same checkpoint re-signed by the chain key with no time line (a form parseCheckpoint accepts). */
function undated(note: string, sc: ReturnType<typeof fakeSidecar>): string {
  const cp = parseCheckpoint(note).checkpoint;
  return signCheckpoint({ origin: cp.origin, size: cp.size, rootHash: cp.rootHash }, sc.key);
}

describe('a checkpoint without a time line between dated ones', () => {
  it('cannot carry a rogue sidecar\'s checkpoint time back past the ingest check (a session export of the namespace still verifies)', async () => {
    const store = await fresh();
    const honest = fakeSidecar(NS, 'agent-honest');
    const rogue = fakeSidecar(NS, 'agent-rogue');
    for (const sc of [honest, rogue]) await store.registerChain(sc.registration());
    const h = honest.batch(4, { sessionId: 'incident-7' });
    expect((await store.append(honest.chainId, h.records, h.checkpoint)).ok).toBe(true);
    // Batch 1 in the audited session, dated today; batch 2 in another session with an undated
    // checkpoint; batch 3 in the audited session again, dated years back.
    const r1 = rogue.batch(4, { sessionId: 'incident-7' });
    expect((await store.append(rogue.chainId, r1.records, redated(r1.checkpoint, '2026-11-01T00:00:00Z', rogue))).ok).toBe(true);
    const r2 = rogue.batch(4, { sessionId: 'other' });
    const r2ok = (await store.append(rogue.chainId, r2.records, undated(r2.checkpoint, rogue))).ok;
    const r3 = rogue.batch(4, { sessionId: 'incident-7' });
    const r3ok = (await store.append(rogue.chainId, r3.records, redated(r3.checkpoint, '2020-01-01T00:00:00Z', rogue))).ok;
    // The whole namespace's export still verifies (the time-less checkpoint sits between them)...
    const all = verifyExport(await collect(store.exportLines(NS, {})), false);
    // ...but the auditor's export of the session (the honest chain's records too) does not.
    const session = verifyExport(await collect(store.exportLines(NS, { sessionId: 'incident-7' })), false);
    expect({ r2ok, r3ok, all: all.ok }).toEqual({ r2ok, r3ok, all: true });
    expect(r2ok && r3ok && !session.ok).toBe(false);
  });

  it('(the simplest form) a dated checkpoint after an undated one is checked against the newest dated one', async () => {
    const store = await fresh();
    const rogue = fakeSidecar(NS, 'agent-rogue');
    await store.registerChain(rogue.registration());
    const r1 = rogue.batch(2);
    expect((await store.append(rogue.chainId, r1.records, redated(r1.checkpoint, '2026-11-01T00:00:00Z', rogue))).ok).toBe(true);
    const r2 = rogue.batch(2);
    const r2ok = (await store.append(rogue.chainId, r2.records, undated(r2.checkpoint, rogue))).ok;
    const r3 = rogue.batch(2);
    const r3ok = (await store.append(rogue.chainId, r3.records, redated(r3.checkpoint, '2020-01-01T00:00:00Z', rogue))).ok;
    expect(r2ok && r3ok).toBe(false);
  });
});
