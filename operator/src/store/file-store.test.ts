import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, importPublicKey, isLeafRecord, type SessionEvent, type SignedRecord, type SigningKey } from '../../../core/recording/index.ts';
import { FileStore, type FileStoreOptions } from './file-store.ts';
import { fakeSidecar, type FakeSidecar } from '../../../e2e/support/store-testkit.ts';
import type { AppendResult, PolicyEntryLine, SessionRecord, SessionStore } from './types.ts';
import { verifyExport } from '../../../e2e/support/store-testkit.ts';
import { verifyPolicyEntries } from '../../../core/recording/store-verify.ts';
import { vouchedProblem } from '../../../core/recording/store-chain.ts';
import { signChainCheckpoint } from '../../../core/recording/chain-checkpoint.ts';
import { parseCheckpoint } from '../../../core/recording/checkpoint.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A batch as the shipper sends it: the records and the sidecar's checkpoint at the last one. */
function put(store: SessionStore, sc: FakeSidecar, records: SessionRecord[]): Promise<AppendResult> {
  const last = records[records.length - 1];
  return store.append(sc.chainId, records, last === undefined ? undefined : sc.checkpointAt(last.seq));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('FileStore', () => {
  let dir: string;
  let key: SigningKey;
  let clock: number;
  const stores: FileStore[] = [];

  function open(over: Partial<FileStoreOptions> = {}): Promise<FileStore> {
    return FileStore.open({ dir, key, segmentMaxBytes: 64 * 1024, segmentMaxAgeMs: 3600_000, log: quiet, now: () => clock, ...over }).then((s) => {
      stores.push(s);
      return s;
    });
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'guarita-store-'));
    key = generateSigningKey();
    clock = Date.parse('2026-01-10T12:00:00Z');
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a batch, skips a re-sent batch and keeps exactly one copy', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    expect((await store.registerChain(sc.registration())).outcome).toBe('created');
    const batch = sc.next(5);
    expect(await put(store, sc, batch)).toMatchObject({ ok: true, seq: 5, stored: 5, duplicates: 0 });
    expect(await put(store, sc, batch)).toMatchObject({ ok: true, seq: 5, stored: 0, duplicates: 5 });
    const more = sc.next(2);
    expect(await put(store, sc, [...batch.slice(3), ...more])).toMatchObject({ ok: true, seq: 7, stored: 2, duplicates: 2 });
    const lines = await collect(store.exportLines('shop', {}));
    expect(lines.filter((l) => 'seq' in l)).toHaveLength(7);
    expect(verifyExport(lines, true)).toMatchObject({ ok: true, count: 7 });
  });

  it('vouches for a registered chain key with the store key, kept with the registration across a restart', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await store.close();
    const reopened = await open();
    const chain = reopened.getChain(sc.chainId)!;
    const storeKey = importPublicKey(key.publicJwk);
    expect(chain.vouched).toMatchObject({ storeKeyId: key.keyId });
    expect(vouchedProblem(chain, chain.vouched!, storeKey)).toBeUndefined();
    expect(vouchedProblem({ ...chain, publicJwk: generateSigningKey().publicJwk }, chain.vouched!, storeKey)).toMatch(/altered/);
    expect(vouchedProblem(chain, chain.vouched!, importPublicKey(generateSigningKey().publicJwk))).toMatch(/does not verify/);
  });

  it('answers exists for the same key and conflict for another', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    expect((await store.registerChain(sc.registration())).outcome).toBe('exists');
    const other = { ...sc.registration(), publicJwk: generateSigningKey().publicJwk, keyId: 'other' };
    expect((await store.registerChain(other)).outcome).toBe('conflict');
  });

  it('rejects gaps, forks, forged signatures and records of another chain, storing nothing of them', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(3));
    const ahead = sc.next(3);
    expect(await put(store, sc, ahead.slice(1))).toMatchObject({ ok: false, status: 409, problem: 'gap', expectedSeq: 4 });

    const altered = { ...ahead[0]!, command: 'DROP TABLE customers' };
    expect(await put(store, sc, [altered])).toMatchObject({ ok: false, status: 422, problem: 'hash-mismatch' });

    const other = fakeSidecar('shop');
    await store.registerChain(other.registration());
    const foreign = other.next(1);
    expect(await put(store, sc, foreign)).toMatchObject({ ok: false, status: 422, problem: 'wrong-chain' });

    // A second history for seq 2: a fork.
    const twin = fakeSidecar('shop', sc.pod);
    const forkRecords = twin.next(2).map((r) => ({ ...r, chainId: sc.chainId }));
    expect(await put(store, sc, forkRecords)).toMatchObject({ ok: false, status: 422 });

    expect(store.getChain(sc.chainId)).toMatchObject({ seq: 3 });
    expect(await put(store, sc, ahead)).toMatchObject({ ok: true, seq: 6, stored: 3 });
  });

  it('verifies format 1 records (one signature each) as before: a forged signature is refused', async () => {
    const store = await open();
    const sc = fakeSidecar('shop', undefined, { format: 1 });
    await store.registerChain(sc.registration());
    expect(await store.append(sc.chainId, sc.next(2))).toMatchObject({ ok: true, seq: 2 });
    const [a, b] = sc.next(2) as [SignedRecord<SessionEvent>, SignedRecord<SessionEvent>];
    expect(await store.append(sc.chainId, [{ ...a, sig: b.sig }])).toMatchObject({ ok: false, status: 422, problem: 'bad-signature', index: 0, seq: 3 });
    expect(await store.append(sc.chainId, [a, b])).toMatchObject({ ok: true, seq: 4 });
  });

  it('calls a re-sent record with a different hash at a stored seq a fork', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    const [first] = sc.next(1);
    await put(store, sc, [first!]);
    // Same key, same seq, different content (a sidecar that lost its spool and re-signed).
    const { ChainWriter } = await import('../../../core/recording/index.ts');
    const { chainId: _c, seq: _s, prev: _p, keyId: _k, hash: _h, ...payload } = first!;
    const again = new ChainWriter(sc.chainId, sc.key).append({ ...payload, command: 'SELECT 2' }) as typeof first & object;
    expect(await put(store, sc, [again])).toMatchObject({ ok: false, status: 409, problem: 'fork', seq: 1 });
  });

  it('reopens with every acknowledged record, the chain positions and the sessions', async () => {
    const store = await open({ segmentMaxBytes: 2048 });
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(10, (i) => ({ sessionId: i < 5 ? 's1' : 's2', policy: i % 2 === 0 ? 'orders-db' : 'customers-api' })));
    await store.close();
    const reopened = await open({ segmentMaxBytes: 2048 });
    expect(reopened.getChain(sc.chainId)).toMatchObject({ seq: 10 });
    expect(reopened.listSessions('shop', {}).map((s) => [s.sessionId, s.records])).toEqual([['s1', 5], ['s2', 5]]);
    expect((await reopened.sessionRecords('shop', 's2'))?.map((r) => r.seq)).toEqual([6, 7, 8, 9, 10]);
    const heads = reopened.policyHeads();
    // Store links: one per record, plus the batch's sidecar checkpoint in each policy it touched.
    expect(heads.map((h) => [h.policy, h.records, h.counters.total]).sort()).toEqual([['customers-api', 6, 5], ['orders-db', 6, 5]]);
    for (const policy of ['orders-db', 'customers-api']) {
      const head = heads.find((h) => h.policy === policy)!;
      expect(verifyPolicyEntries('shop', policy, await collect(reopened.policyEntries('shop', policy)), head)).toMatchObject({ ok: true, count: head.records });
    }
    expect(await put(reopened, sc, sc.next(1))).toMatchObject({ ok: true, seq: 11 });
  });

  it('moves a torn tail to quarantine when reopening and keeps the acknowledged prefix', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(3));
    await store.close();
    const segDir = join(dir, 'policies', 'shop', 'orders-db', 'segments');
    const [seg] = readdirSync(segDir);
    appendFileSync(join(segDir, seg!), '{"l":{"seq":4,"hash":"ab');
    const reopened = await open();
    expect(reopened.getChain(sc.chainId)).toMatchObject({ seq: 3 });
    expect(readdirSync(join(dir, 'quarantine'))).toHaveLength(1);
    expect(await put(reopened, sc, sc.next(1))).toMatchObject({ ok: true, seq: 4 });
  });

  it('cuts records that follow a hole left by a batch spread over two policies', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(2, { policy: 'orders-db' }));
    // One batch: seq 3 (orders-db), 4 (customers-api), 5 (orders-db).
    await put(store, sc, sc.next(3, (i) => ({ policy: i === 1 ? 'customers-api' : 'orders-db' })));
    await store.close();
    // The crash: customers-api's entry never reached the disk.
    const other = join(dir, 'policies', 'shop', 'customers-api', 'segments');
    const [seg] = readdirSync(other);
    const text = readFileSync(join(other, seg!), 'utf8');
    truncateSync(join(other, seg!), text.indexOf('\n') + 1);
    const reopened = await open();
    // The whole unacknowledged group goes: back to the last checkpoint of the acknowledged one.
    expect(reopened.getChain(sc.chainId)).toMatchObject({ seq: 2 });
    expect(reopened.policyHeads().find((h) => h.policy === 'orders-db')).toMatchObject({ records: 3 });
    const lines = await collect(reopened.exportLines('shop', {}));
    expect(verifyExport(lines, true)).toMatchObject({ ok: true, count: 2 });
    expect(verifyPolicyEntries('shop', 'orders-db', await collect(reopened.policyEntries('shop', 'orders-db')))).toMatchObject({ ok: true, count: 3 });
    expect(await put(reopened, sc, sc.next(1))).toMatchObject({ ok: false, problem: 'gap', expectedSeq: 3 });
  });

  it('applies retention by deleting whole segments, leaving a tombstone that verification resumes from', async () => {
    const store = await open({ segmentMaxBytes: 1500 });
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(12, (i) => ({ policy: i % 3 === 0 ? 'customers-api' : 'orders-db', decision: i === 4 ? 'deny' : 'allow' })));
    const before = store.policyHeads().find((h) => h.policy === 'orders-db')!;
    clock += 10 * 86_400_000;
    await put(store, sc, sc.next(2));
    const outcomes = await store.applyRetention((_ns, policy) => (policy === 'orders-db' ? 86_400_000 : 365 * 86_400_000), clock);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.segmentsRemoved.length).toBeGreaterThan(0);
    const after = store.policyHeads().find((h) => h.policy === 'orders-db')!;
    expect(after.counters).toMatchObject({ total: before.counters.total + 2, denied: 1 });

    const entries = await collect(store.policyEntries('shop', 'orders-db'));
    expect(entries.some((e) => e.type === 'tombstone')).toBe(true);
    expect(verifyPolicyEntries('shop', 'orders-db', entries, after).problems).toEqual([]);
    // The anchor written before the cut is no longer checkable, but is not a failure.
    expect(verifyPolicyEntries('shop', 'orders-db', entries, before).ok).toBe(true);
    const lines = await collect(store.exportLines('shop', {}));
    expect(verifyExport(lines, true)).toMatchObject({ ok: true });

    await store.close();
    const reopened = await open({ segmentMaxBytes: 1500 });
    expect(reopened.getChain(sc.chainId)).toMatchObject({ seq: 14 });
    expect(reopened.policyHeads().find((h) => h.policy === 'orders-db')).toMatchObject({ records: after.records, head: after.head });
    expect(verifyExport(await collect(reopened.exportLines('shop', {})), true)).toMatchObject({ ok: true });
    expect(await put(reopened, sc, sc.next(1))).toMatchObject({ ok: true, seq: 15 });
  });

  it('lets verification find an altered record, a removed record and a moved anchor', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(4));
    const head = store.policyHeads()[0]!;
    const entries = await collect(store.policyEntries('shop', 'orders-db'));
    const altered = entries.map((e): PolicyEntryLine => (e.type === 'entry' && e.record?.seq === 2 ? { ...e, record: { ...e.record, command: 'SELECT 1' } } : e));
    expect(verifyPolicyEntries('shop', 'orders-db', altered, head).problems.join()).toContain('altered');
    const removed = entries.filter((e) => !(e.type === 'entry' && e.link.seq === head.records));
    expect(verifyPolicyEntries('shop', 'orders-db', removed, head).problems.join()).toContain('ahead of the store');
    const middle = entries.filter((e) => !(e.type === 'entry' && e.link.seq === 2));
    expect(verifyPolicyEntries('shop', 'orders-db', middle, head).problems.join()).toContain('sequence gap');
    const lines = await collect(store.exportLines('shop', {}));
    const gap = lines.filter((l) => !('seq' in l) || l.seq !== 2);
    expect(verifyExport(gap, true).problems.join()).toContain('missing');
  });

  it('signs one checkpoint per policy and commit group, and refuses an unsigned head', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(5));
    const entries = await collect(store.policyEntries('shop', 'orders-db'));
    // Five record links and the sidecar checkpoint's link; only the last carries the store checkpoint.
    const sealed = entries.flatMap((e) => (e.type === 'entry' ? [e.checkpoint !== undefined] : []));
    expect(sealed).toEqual([false, false, false, false, false, true]);
    expect(entries.every((e) => e.type !== 'entry' || (isLeafRecord(e.link) && e.link.sig === undefined))).toBe(true);
    expect(verifyPolicyEntries('shop', 'orders-db', entries)).toMatchObject({ ok: true, count: 6 });
    const truncated = entries.filter((e) => !(e.type === 'entry' && e.link.seq === 6));
    expect(verifyPolicyEntries('shop', 'orders-db', truncated).problems.join()).toContain('not covered by a signed store checkpoint');
    const otherKey = generateSigningKey();
    const forged = entries.map((e): PolicyEntryLine => (e.type === 'entry' && e.checkpoint !== undefined ? { ...e, checkpoint: signChainCheckpoint('store/shop/orders-db', 6, parseCheckpoint(e.checkpoint).checkpoint.rootHash, otherKey, new Date()) } : e));
    expect(verifyPolicyEntries('shop', 'orders-db', forged).problems.join()).toContain('checkpoint-signature');
  });

  it('reads back and fails loudly on a forged tombstone', async () => {
    const store = await open({ segmentMaxBytes: 1000 });
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(8));
    clock += 2 * 86_400_000;
    await store.applyRetention(() => 86_400_000, clock);
    await store.close();
    const file = join(dir, 'policies', 'shop', 'orders-db', 'tombstone.json');
    const t = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...t, removedRecords: 1 }));
    await expect(open()).rejects.toThrow('tombstone');
  });

  it('rotates segments inside one batch, each named after its first link', async () => {
    const store = await open({ segmentMaxBytes: 2048 });
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(20));
    await put(store, sc, sc.next(3));
    const segDir = join(dir, 'policies', 'shop', 'orders-db', 'segments');
    const names = readdirSync(segDir).sort();
    expect(names.length).toBeGreaterThan(3);
    for (const name of names) {
      const lines = readFileSync(join(segDir, name), 'utf8').trim().split('\n');
      expect(JSON.parse(lines[1]!).l.seq).toBe(Number(name.slice(0, 20)));
    }
    await store.close();
    const reopened = await open({ segmentMaxBytes: 2048 });
    expect(reopened.policyHeads()[0]).toMatchObject({ records: 25 });
    clock += 2 * 86_400_000;
    await put(reopened, sc, sc.next(1));
    const [cut] = await reopened.applyRetention(() => 86_400_000, clock);
    expect(cut!.recordsRemoved).toBe(23);
    expect(cut!.cut.seq).toBe(25);
    expect(verifyPolicyEntries('shop', 'orders-db', await collect(reopened.policyEntries('shop', 'orders-db')), reopened.policyHeads()[0])).toMatchObject({ ok: true });
  });

  it('writes each record from the text its hash was checked over: read back by offset and after a reopen, non-ASCII and multi-byte included', async () => {
    const store = await open({ segmentMaxBytes: 4096 });
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    const texts = ['SELECT \'é\' -- ação', 'emoji 😀 and \u2028 line separator', 'quote " backslash \\ tab \t', 'plain'];
    const records = sc.next(12, (i) => ({ sessionId: 's1', command: texts[i % texts.length]!, result: { sample: `${texts[(i + 1) % texts.length]!}`, rows: i }, policy: i % 3 === 0 ? 'customers-api' : 'orders-db' }));
    expect(await put(store, sc, records)).toMatchObject({ ok: true, seq: 12 });
    const plain = JSON.parse(JSON.stringify(records)) as SessionRecord[];
    expect(await store.sessionRecords('shop', 's1')).toEqual(plain);
    await store.close();
    const reopened = await open({ segmentMaxBytes: 4096 });
    expect(await reopened.sessionRecords('shop', 's1')).toEqual(plain);
    expect(verifyExport(await collect(reopened.exportLines('shop', {})), true).problems).toEqual([]);
    expect(await put(reopened, sc, sc.next(1))).toMatchObject({ ok: true, seq: 13 });
  });

  it('serializes concurrent batches of many chains into group commits', async () => {
    let groups = 0;
    const store: SessionStore = await open({ hooks: { committed: () => { groups++; } } });
    const sidecars = Array.from({ length: 8 }, () => fakeSidecar('shop'));
    for (const sc of sidecars) await store.registerChain(sc.registration());
    const results = await Promise.all(sidecars.flatMap((sc) => [put(store, sc, sc.next(10)), put(store, sc, sc.next(10))]));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(groups).toBeLessThan(16);
    expect(sidecars.map((sc) => store.getChain(sc.chainId)?.seq)).toEqual(Array(8).fill(20));
  });
});
