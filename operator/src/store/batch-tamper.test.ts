// What a sidecar batch can be made to say, and the store refusing every form of it, naming what is
// wrong and storing nothing of it (issue 19, item 5): records altered, dropped, inserted or
// reordered (with and without the chain relinked around the change), a checkpoint for another
// size, signed by another key, for another chain, malformed or missing, and a spliced chain.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainWriter, generateSigningKey, type ChainPosition, type SessionEvent } from '../../../core/recording/index.ts';
import { signChainCheckpoint } from '../../../core/recording/chain-checkpoint.ts';
import { ChainTree } from '../../../core/recording/chain-tree.ts';
import { fakeSidecar, type FakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';
import type { SessionRecord } from './types.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function payloadOf(r: SessionRecord): SessionEvent {
  const { chainId: _c, seq: _s, prev: _p, keyId: _k, hash: _h, v: _v, sig: _g, ...payload } = r as SessionRecord & { v?: number; sig?: string };
  return payload;
}

/** The records re-chained from `from` (seq, prev and hash recomputed): what a forger with the records but not the key makes. */
function relink(sc: FakeSidecar, from: ChainPosition, payloads: SessionEvent[]): SessionRecord[] {
  const writer = new ChainWriter<SessionEvent>(sc.chainId, sc.key, from);
  return payloads.map((p) => writer.append(p));
}

describe('a sidecar batch tampered with on its way (store ingest)', () => {
  let dir: string;
  let store: FileStore;
  let sc: FakeSidecar;
  let stored: SessionRecord[];
  let batch: SessionRecord[];
  let checkpoint: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'guarita-tamper-'));
    store = await FileStore.open({ dir, key: generateSigningKey(), segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet });
    sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    stored = sc.next(3);
    expect(await store.append(sc.chainId, stored, sc.checkpoint())).toMatchObject({ ok: true, seq: 3 });
    batch = sc.next(5, (i) => ({ command: `SELECT ${i}` }));
    checkpoint = sc.checkpoint();
  });

  afterEach(async () => {
    // Nothing of a refused batch was stored: the chain is where it was, and the batch still goes in.
    expect(store.getChain(sc.chainId)).toMatchObject({ seq: 3, head: stored[2]!.hash });
    expect(await store.append(sc.chainId, batch, checkpoint)).toMatchObject({ ok: true, seq: 8, stored: 5 });
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const at = { seq: 3, head: '' };
  const cases: [string, () => [SessionRecord[], unknown], Record<string, unknown>][] = [
    ['a record altered (hash kept)', () => [batch.map((r, i) => (i === 2 ? { ...r, command: 'DROP TABLE customers' } : r)), checkpoint], { status: 422, problem: 'hash-mismatch', index: 2, seq: 6 }],
    ['a record altered and the chain relinked', () => [relink(sc, { ...at, head: stored[2]!.hash }, batch.map((r, i) => ({ ...payloadOf(r), ...(i === 2 ? { command: 'DROP TABLE customers' } : {}) }))), checkpoint], { status: 422, problem: 'root-mismatch', index: 4, seq: 8 }],
    ['a record dropped from the middle', () => [batch.filter((_, i) => i !== 2), checkpoint], { status: 409, problem: 'gap' }],
    ['a record dropped and the chain relinked', () => [relink(sc, { ...at, head: stored[2]!.hash }, batch.filter((_, i) => i !== 2).map(payloadOf)), checkpoint], { status: 422, problem: 'checkpoint-size' }],
    ['the last record dropped', () => [batch.slice(0, -1), checkpoint], { status: 422, problem: 'checkpoint-size', seq: 7 }],
    ['the first record dropped', () => [batch.slice(1), checkpoint], { status: 409, problem: 'gap', expectedSeq: 4 }],
    ['a record inserted', () => [[...batch.slice(0, 2), { ...batch[2]!, command: 'SELECT 99' }, ...batch.slice(2)], checkpoint], { status: 422 }],
    ['a record inserted and the chain relinked', () => [relink(sc, { ...at, head: stored[2]!.hash }, [...batch.slice(0, 2), batch[0]!, ...batch.slice(2, 4)].map(payloadOf)), checkpoint], { status: 422, problem: 'root-mismatch' }],
    ['two records swapped', () => [[batch[0]!, batch[2]!, batch[1]!, ...batch.slice(3)], checkpoint], { status: 409, problem: 'gap', expectedSeq: 5 }],
    ['two records swapped and the chain relinked', () => [relink(sc, { ...at, head: stored[2]!.hash }, [batch[0]!, batch[2]!, batch[1]!, ...batch.slice(3)].map(payloadOf)), checkpoint], { status: 422, problem: 'root-mismatch' }],
    ['the checkpoint of another size', () => [batch, sc.checkpointAt(7)], { status: 422, problem: 'checkpoint-size', message: expect.stringContaining('tree size 7') }],
    ['a checkpoint signed by another key', () => [batch, signChainCheckpoint(sc.chainId, 8, rootOfChain([...stored, ...batch]), generateSigningKey(), new Date())], { status: 422, problem: 'checkpoint-signature' }],
    ['the checkpoint of another chain', () => {
      const other = fakeSidecar('shop', sc.pod);
      other.next(8);
      return [batch, other.checkpoint()];
    }, { status: 422, problem: 'checkpoint-origin' }],
    ['no checkpoint', () => [batch, undefined], { status: 422, problem: 'checkpoint-missing' }],
    ['a checkpoint that is not a string', () => [batch, { size: 8 }], { status: 422, problem: 'bad-checkpoint' }],
    ['a checkpoint without a signature line', () => [batch, checkpoint.slice(0, checkpoint.indexOf('\n\n') + 2)], { status: 422, problem: 'bad-checkpoint', message: expect.stringContaining('no signature') }],
    ['a checkpoint with a non-decimal size', () => [batch, checkpoint.replace(/\n8\n/, '\n0x8\n')], { status: 422, problem: 'bad-checkpoint', message: expect.stringContaining('decimal') }],
    ['a checkpoint with two signatures', () => [batch, `${checkpoint}${checkpoint.slice(checkpoint.indexOf('\n\n') + 2)}`], { status: 422, problem: 'checkpoint-signature', message: expect.stringContaining('exactly one') }],
    ['a checkpoint whose signed text was altered', () => [batch, checkpoint.replace(/time \S+/, 'time 2020-01-01T00:00:00Z')], { status: 422, problem: 'checkpoint-signature' }],
    ['a spliced chain (records of another chain of the same pod, its own checkpoint)', () => {
      const other = fakeSidecar('shop', sc.pod);
      return [other.next(5).map((r) => ({ ...r, seq: r.seq + 3 })), other.checkpoint()];
    }, { status: 422, problem: 'wrong-chain', index: 0 }],
    ['a spliced chain relabelled as this chain', () => {
      const other = fakeSidecar('shop', sc.pod);
      other.next(3);
      const tail = other.next(5).map((r) => ({ ...r, chainId: sc.chainId, keyId: sc.key.keyId }));
      return [tail, checkpoint];
    }, { status: 409, problem: 'fork' }],
  ];

  it.each(cases)('refuses %s, naming it', async (_what, make, expected) => {
    const [records, cp] = make();
    const result = await store.append(sc.chainId, records, cp as string);
    expect(result).toMatchObject({ ok: false, ...expected });
    expect(result.ok ? '' : result.message).toMatch(/\S/);
  });
});

function rootOfChain(records: readonly SessionRecord[]): Buffer {
  const tree = ChainTree.empty();
  for (const r of records) tree.append(r.hash);
  return tree.root();
}
