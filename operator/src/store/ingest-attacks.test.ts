// Adversarial review of the ingest fast paths (issue 19, round 2): record text built from the
// members a record has with a per-member memo, store links from cached JSON, a commit group's lines
// encoded into one reused buffer and staged synchronously (only a new segment's directory waits).
// Attacks: batches of many sidecars interleaved in one commit group, each spread over several
// policies, with text that needs escaping, multi-byte and longer than the memo keeps, rolling
// segments mid-group (the staging that waits); the same batch sent twice at once; a bad batch among
// good ones; what is acknowledged is what a reopened store holds, byte for byte, and every policy's
// store chain and the export verify.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningKey } from '../../../core/recording/index.ts';
import { verifyPolicyEntries } from '../../../core/recording/store-verify.ts';
import { fakeSidecar, verifyExport, type FakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { FileStore, type FileStoreOptions } from './file-store.ts';
import type { AppendResult, SessionRecord, SessionStore } from './types.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function put(store: SessionStore, sc: FakeSidecar, records: SessionRecord[]): Promise<AppendResult> {
  return store.append(sc.chainId, records, sc.checkpointAt(records.at(-1)!.seq));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const POLICIES = ['orders-db', 'customers-api', 'payments'];
const TEXTS = ['SELECT \'é\' -- ação', 'quote " backslash \\ tab \t nul \u0000', '😀 \u2028 \ud800 lone', 'plain', `long ${'ç'.repeat(300)}`, 'x'.repeat(256), 'x'.repeat(257)];

/** Record i of sidecar s: members that repeat, change and collide across records, sidecars and members. */
function over(s: number) {
  return (i: number) => ({
    sessionId: `s${s}-${i % 3}`, policy: POLICIES[(i + s) % POLICIES.length]!, command: TEXTS[(i + s) % TEXTS.length]!,
    purpose: TEXTS[(i * 7 + s) % TEXTS.length]!, reason: i % 2 === 0 ? 'orders-db' : POLICIES[s % 3]!,
    result: { sample: TEXTS[(i + 3) % TEXTS.length]!, rows: i, bytes: i * 1e3 },
  });
}

describe('ingest under interleaved batches', () => {
  let dir: string;
  let key: SigningKey;
  const stores: FileStore[] = [];
  const open = (extra: Partial<FileStoreOptions> = {}): Promise<FileStore> =>
    FileStore.open({ dir, key, segmentMaxBytes: 3000, segmentMaxAgeMs: 3600_000, log: quiet, now: () => Date.parse('2026-01-10T12:00:00Z'), ...extra }).then((s) => {
      stores.push(s);
      return s;
    });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'guarita-ingest-attack-'));
    key = generateSigningKey();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  /** What a reopened store must hold: each session's records as sent, and every policy's chain and the export verifying. */
  async function expectHolds(store: FileStore, sent: Map<string, SessionRecord[]>): Promise<void> {
    for (const [sessionId, records] of sent) expect(await store.sessionRecords('shop', sessionId)).toEqual(JSON.parse(JSON.stringify(records)));
    for (const head of store.policyHeads()) {
      expect(verifyPolicyEntries('shop', head.policy, await collect(store.policyEntries('shop', head.policy)), head)).toMatchObject({ ok: true, count: head.records });
    }
    expect(verifyExport(await collect(store.exportLines('shop', {})), true)).toMatchObject({ ok: true, problems: [] });
  }

  it('many sidecars\' batches over three policies in the same commit groups, segments rolling mid-group: stored as sent, before and after a reopen', async () => {
    // Every answer comes after the commit group that holds it was written and fdatasync'd (the hook runs after the sync).
    const events: string[] = [];
    const store = await open({ hooks: { committed: (records) => { events.push(`committed ${records}`); } } });
    const sidecars = Array.from({ length: 6 }, () => fakeSidecar('shop'));
    for (const sc of sidecars) await store.registerChain(sc.registration());
    const sent = new Map<string, SessionRecord[]>();
    const keep = (records: SessionRecord[]): SessionRecord[] => {
      for (const r of records) sent.set(r.sessionId, [...(sent.get(r.sessionId) ?? []), r]);
      return records;
    };
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(sidecars.map((sc, s) => put(store, sc, keep(sc.next(9, (i) => over(s)(i + round * 9)))).then((r) => { events.push('answered'); return r; })));
      expect(results.every((r) => r.ok)).toBe(true);
    }
    // Batches shared commit groups (the reused line buffer held several sidecars' lines at once), and none was answered before a commit.
    expect(events.filter((e) => e.startsWith('committed')).length).toBeLessThan(18);
    expect(events[0]).toMatch(/^committed/);
    let durable = 0;
    for (const e of events) {
      if (e.startsWith('committed')) durable += Number(e.split(' ')[1]);
      else durable -= 9;
      expect(durable).toBeGreaterThanOrEqual(0);
    }
    for (const records of sent.values()) records.sort((a, b) => (a.chainId < b.chainId ? -1 : a.chainId > b.chainId ? 1 : a.seq - b.seq));
    const order = async (s: FileStore, id: string): Promise<SessionRecord[] | undefined> => (await s.sessionRecords('shop', id))?.sort((a, b) => (a.chainId < b.chainId ? -1 : a.chainId > b.chainId ? 1 : a.seq - b.seq));
    for (const id of sent.keys()) expect(await order(store, id)).toEqual(JSON.parse(JSON.stringify(sent.get(id))));
    await store.close();
    const reopened = await open();
    for (const id of sent.keys()) expect(await order(reopened, id)).toEqual(JSON.parse(JSON.stringify(sent.get(id))));
    for (const head of reopened.policyHeads()) {
      expect(verifyPolicyEntries('shop', head.policy, await collect(reopened.policyEntries('shop', head.policy)), head)).toMatchObject({ ok: true, count: head.records });
    }
    expect(verifyExport(await collect(reopened.exportLines('shop', {})), true)).toMatchObject({ ok: true, count: 6 * 27 });
  });

  it('policy heads (what anchoring writes to AccessPolicy status) never name a link before it is durable', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    await put(store, sc, sc.next(5, over(0)));
    const head = (): string => JSON.stringify(store.policyHeads().map((h) => [h.policy, h.records, h.head, h.checkpoint?.size]).sort());
    for (let round = 0; round < 5; round++) {
      const before = head();
      let answered = false;
      const pending = put(store, sc, sc.next(20, (i) => over(0)(i + round))).then((r) => { answered = true; return r; });
      // Every turn of the event loop while the group is staged, written and synced: the heads are still the durable ones.
      while (!answered) {
        expect(head()).toBe(before);
        await new Promise((r) => setImmediate(r));
      }
      expect(await pending).toMatchObject({ ok: true, stored: 20 });
      expect(head()).not.toBe(before);
    }
  });

  it('the same batch sent twice at once is stored once; a re-send after is a duplicate', async () => {
    const store = await open();
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    const batch = sc.next(12, over(1));
    const results = await Promise.all([put(store, sc, batch), put(store, sc, batch)]);
    expect(results.filter((r) => r.ok && r.stored === 12)).toHaveLength(1);
    for (const r of results) if (r.ok && r.stored !== 12) expect(r).toMatchObject({ stored: 0, duplicates: 12 });
    expect(await put(store, sc, batch)).toMatchObject({ ok: true, stored: 0, duplicates: 12 });
    expect(store.getChain(sc.chainId)).toMatchObject({ seq: 12 });
    const exported = (await collect(store.exportLines('shop', {}))).filter((l) => 'seq' in l && l.chainId === sc.chainId);
    expect(exported).toHaveLength(12);
    await store.close();
    const reopened = await open();
    const sessions = new Map<string, SessionRecord[]>();
    for (const r of batch) sessions.set(r.sessionId, [...(sessions.get(r.sessionId) ?? []), r]);
    await expectHolds(reopened, sessions);
  });

  it('a forged batch in the same commit group as good ones stores nothing of itself and nothing breaks the others', async () => {
    const store = await open();
    const good = fakeSidecar('shop');
    const bad = fakeSidecar('shop');
    await store.registerChain(good.registration());
    await store.registerChain(bad.registration());
    const records = good.next(10, over(2));
    const forged = bad.next(10, over(3)).map((r, i) => (i === 6 ? { ...r, command: 'DROP TABLE customers' } : r));
    const [ok, refused] = await Promise.all([put(store, good, records), put(store, bad, forged)]);
    expect(ok).toMatchObject({ ok: true, stored: 10 });
    expect(refused).toMatchObject({ ok: false, problem: 'hash-mismatch', seq: 7 });
    expect(store.getChain(bad.chainId)).toMatchObject({ seq: 0 });
    await store.close();
    const reopened = await open();
    const sessions = new Map<string, SessionRecord[]>();
    for (const r of records) sessions.set(r.sessionId, [...(sessions.get(r.sessionId) ?? []), r]);
    await expectHolds(reopened, sessions);
    expect(reopened.getChain(bad.chainId)).toMatchObject({ seq: 0 });
  });
});
