// A store written before issue 19 (format 1 links signed per commit group, format 1 records signed
// one by one) opened by this operator: it keeps verifying, continues as a Merkle log with store
// checkpoints, and the mixed log (old links, then new) verifies end to end. And a commit group a
// crash cut short (its store checkpoint line never written) is cut back to the last checkpoint.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, isLeafRecord, type SigningKey } from '../../../core/recording/index.ts';
import { StoreChain } from '../../../core/recording/store-chain.ts';
import { verifyPolicyEntries } from '../../../core/recording/store-verify.ts';
import { fakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';
import { encodeEntry, encodeHeader, segmentName, SEGMENT_FORMAT } from './segment.ts';
import type { PolicyEntryLine } from './types.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('stores written before issue 19, and groups cut short', () => {
  let dir: string;
  let key: SigningKey;
  const stores: FileStore[] = [];
  const open = async (): Promise<FileStore> => {
    const s = await FileStore.open({ dir, key, segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet });
    stores.push(s);
    return s;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'guarita-compat-'));
    key = generateSigningKey();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens a format 1 store, continues it as a Merkle log, and the mixed log verifies end to end', async () => {
    // The old operator's files: a registration, and one segment of format 1 links over format 1 records.
    const old = fakeSidecar('shop', 'agent-0', { format: 1 });
    const reg = old.registration();
    mkdirSync(join(dir, 'chains', 'shop'), { recursive: true });
    writeFileSync(join(dir, 'chains', 'shop', 'old.json'), `${JSON.stringify(reg)}\n`);
    const chain = new StoreChain('shop', 'orders-db', key, undefined, null);
    const records = old.next(4);
    const links = records.map((r) => chain.linkRecord(r, '2026-01-10T12:00:00.000Z'));
    chain.seal(links[1]!, new Date());
    chain.seal(links[3]!, new Date());
    expect(links.map((l) => l.sig !== '' && !isLeafRecord(l))).toEqual([false, true, false, true]);
    const segDir = join(dir, 'policies', 'shop', 'orders-db', 'segments');
    mkdirSync(segDir, { recursive: true });
    const header = encodeHeader({ format: SEGMENT_FORMAT, namespace: 'shop', policy: 'orders-db', firstSeq: 1, createdAt: '2026-01-10T12:00:00Z' });
    writeFileSync(join(segDir, segmentName(1)), Buffer.concat([header, ...links.map((l, i) => encodeEntry(l, records[i]))]));

    const store = await open();
    expect(store.getChain(old.chainId)).toMatchObject({ seq: 4, head: records[3]!.hash });
    // The old sidecar goes on sending format 1 records (no checkpoint); a new sidecar format 2.
    expect(await store.append(old.chainId, old.next(2))).toMatchObject({ ok: true, seq: 6 });
    const fresh = fakeSidecar('shop', 'agent-1');
    await store.registerChain(fresh.registration());
    expect(await store.append(fresh.chainId, fresh.next(3), fresh.checkpoint())).toMatchObject({ ok: true, seq: 3 });

    const entries = await collect(store.policyEntries('shop', 'orders-db'));
    const kinds = entries.flatMap((e) => (e.type === 'entry' ? [isLeafRecord(e.link) ? 2 : 1] : []));
    expect(kinds.slice(0, 4)).toEqual([1, 1, 1, 1]);
    expect(kinds.slice(4).every((k) => k === 2)).toBe(true);
    const head = store.policyHeads()[0]!;
    expect(verifyPolicyEntries('shop', 'orders-db', entries, head)).toMatchObject({ ok: true, problems: [] });
    // Tampering with an old link is still found.
    const altered = entries.map((e): PolicyEntryLine => (e.type === 'entry' && e.link.seq === 2 ? { ...e, link: { ...e.link, time: '2026-01-11T00:00:00.000Z' } } : e));
    expect(verifyPolicyEntries('shop', 'orders-db', altered, head).problems.join()).toContain('link seq 2');

    await store.close();
    const reopened = await open();
    expect(verifyPolicyEntries('shop', 'orders-db', await collect(reopened.policyEntries('shop', 'orders-db')), reopened.policyHeads()[0])).toMatchObject({ ok: true });
    expect(await reopened.append(fresh.chainId, fresh.next(1), fresh.checkpoint())).toMatchObject({ ok: true, seq: 4 });
  });

  it('cuts a commit group whose store checkpoint line never reached the disk, and the batch goes in again', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    expect(await store.append(sc.chainId, sc.next(3), sc.checkpoint())).toMatchObject({ ok: true, seq: 3 });
    const batch = { records: sc.next(2), checkpoint: sc.checkpoint() };
    expect(await store.append(sc.chainId, batch.records, batch.checkpoint)).toMatchObject({ ok: true, seq: 5 });
    await store.close();
    // The crash: the second group's last line (its sidecar checkpoint link, sealed by the store checkpoint) is lost.
    const segDir = join(dir, 'policies', 'shop', 'orders-db', 'segments');
    const [name] = readdirSync(segDir);
    const lines = readFileSync(join(segDir, name!), 'utf8').trimEnd().split('\n');
    writeFileSync(join(segDir, name!), `${lines.slice(0, -1).join('\n')}\n`);

    const reopened = await open();
    expect(reopened.getChain(sc.chainId)).toMatchObject({ seq: 3 });
    expect(readdirSync(join(dir, 'quarantine'))).toHaveLength(1);
    expect(verifyPolicyEntries('shop', 'orders-db', await collect(reopened.policyEntries('shop', 'orders-db')))).toMatchObject({ ok: true, count: 4 });
    expect(await reopened.append(sc.chainId, batch.records, batch.checkpoint)).toMatchObject({ ok: true, seq: 5, stored: 2 });
    expect(verifyPolicyEntries('shop', 'orders-db', await collect(reopened.policyEntries('shop', 'orders-db')))).toMatchObject({ ok: true, count: 7 });
  });
});
