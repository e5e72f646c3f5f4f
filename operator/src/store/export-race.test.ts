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
import { parseCheckpoint } from '../../../core/recording/checkpoint.ts';
import { ExportVerifier, type ExportVerdict, type TrustOptions } from '../../../core/recording/export-verify.ts';
import type { AnchorLine } from '../../../core/recording/export-format.ts';
import { fakeSidecar, verifyExport } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';
import { exportLines, policyEntries, storeProof } from './store-reads.ts';
import { loadStore } from './store-open.ts';
import { StoreIndex } from './store-index.ts';
import type { PolicyState, RecordRef } from './state.ts';

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

  /** Each store checkpoint of a policy's store log, in order, as PolicyState.checkpoint holds the newest. */
  async function storeCheckpoints(index: StoreIndex, policy: string): Promise<NonNullable<PolicyState['checkpoint']>[]> {
    const out: NonNullable<PolicyState['checkpoint']>[] = [];
    for await (const e of policyEntries(index, 'shop', policy)) {
      if (e.type === 'entry' && e.checkpoint !== undefined) out.push({ size: e.link.seq, head: e.link.hash, note: e.checkpoint, root: parseCheckpoint(e.checkpoint).checkpoint.rootHash.toString('hex') });
    }
    return out;
  }

  function verify(lines: readonly unknown[], trust: TrustOptions): ExportVerdict {
    const v = new ExportVerifier();
    lines.forEach((l, i) => v.add(i + 1, l));
    return v.finish(trust);
  }

  const POLICIES = ['alpha', 'beta'] as const;
  type Groups = Record<string, NonNullable<PolicyState['checkpoint']>[]>;

  /** A store of one chain over two policies, three commit groups each touching both; reopened, with each group's store checkpoint per policy. */
  async function twoPolicyStore(): Promise<{ index: StoreIndex; chainId: string; groups: Groups }> {
    const now = () => Date.parse('2026-01-10T12:00:00Z');
    const store = await FileStore.open({ dir, key, segmentMaxBytes: 64 * 1024, segmentMaxAgeMs: 3600_000, log: quiet, now });
    const sc = fakeSidecar('shop');
    await store.registerChain(sc.registration());
    for (const n of [4, 4, 4]) {
      const records = sc.next(n, (i) => ({ policy: POLICIES[i % 2]! }));
      expect(await store.append(sc.chainId, records, sc.checkpointAt(records[records.length - 1]!.seq))).toMatchObject({ ok: true });
    }
    await store.close();
    const index = new StoreIndex(dir, key);
    await loadStore({ index, now, log: quiet });
    const groups: Groups = Object.fromEntries(await Promise.all(POLICIES.map(async (p) => [p, await storeCheckpoints(index, p)] as const)));
    for (const p of POLICIES) expect(groups[p]).toHaveLength(3);
    return { index, chainId: sc.chainId, groups };
  }

  /** Holds the last group back (its records, the chain's checkpoint, each policy's store head); the returned function indexes it as the writer does. */
  function holdBackLastGroup(index: StoreIndex, chainId: string, groups: Groups): () => void {
    const chain = index.chains.get(chainId)!;
    const held: RecordRef[] = [9, 10, 11, 12].map((seq) => chain.refs.get(seq)!);
    for (const r of held) chain.refs.delete(r.seq);
    const heldCheckpoint = chain.checkpoints.pop()!;
    const policyState = (p: string): PolicyState => index.policies.get(`shop/${p}`)!;
    for (const p of POLICIES) policyState(p).checkpoint = groups[p]![1];
    return () => {
      for (const r of held) chain.refs.set(r.seq, r);
      chain.checkpoints.push(heldCheckpoint);
      for (const p of POLICIES) policyState(p).checkpoint = groups[p]![2];
    };
  }

  const statusOf = (groups: Groups, p: string, group: number): { head: string; records: number; root: string } => ({ head: groups[p]![group]!.head, records: groups[p]![group]!.size, root: groups[p]![group]!.root });

  /** The head (or root) status showed at the export's moment, or its store head then, anchors it; a head anchored after it does not. */
  function expectAnchoredOnlyByItsHeads(lines: readonly unknown[], groups: Groups, p: string): void {
    for (const group of [0, 1]) {
      const at = groups[p]![group]!;
      // A head alone pins no tree (review 36): the file matches it, no record is anchored by it.
      expect(verify(lines, { anchor: at.head }).trust).toMatchObject({ state: 'partly-anchored', unanchored: { headOnly: true } });
      for (const trust of [{ anchor: at.root }, { policyAnchor: { policy: p, ...statusOf(groups, p, group) } }]) {
        const v = verify(lines, trust);
        // At the first group's head, the second group's records (5-8) lie past it: their
        // checkpoint's store link is vouched for by the store key alone.
        expect([p, group, trust, v.problems, v.trust?.state, v.trust?.unanchored?.records]).toEqual([p, group, trust, [], group === 0 ? 'partly-anchored' : 'anchored', group === 0 ? 4 : undefined]);
      }
    }
    const later = verify(lines, { policyAnchor: { policy: p, ...statusOf(groups, p, 2) } });
    expect(later.ok).toBe(false);
    expect(later.firstBad?.problem).toMatch(new RegExp(`AccessPolicy ${p} anchors ${groups[p]![2]!.size} links .*the AccessPolicy's head is newer than the export`));
    expect(verify(lines, { anchor: groups[p]![2]!.head }).firstBad?.problem).toMatch(/no anchor of the export signed by its store key .* is /);
  }

  it('carries the anchors and store heads of its own moment, and verifies with them while status moves on (issue 21, E1)', async () => {
    // Two policies, so the export reads the second one's anchor after awaiting the first's.
    const { index, chainId, groups } = await twoPolicyStore();
    const release = holdBackLastGroup(index, chainId, groups);
    // AccessPolicy status as the operator sees it: anchored at the first group, then (the anchorer
    // catching up with the newest store checkpoint) at the last one, while the export is running.
    let status = (p: string) => statusOf(groups, p, 0);
    const iterator = exportLines(index, 'shop', {}, (p) => status(p))[Symbol.asyncIterator]();
    const first = iterator.next();
    release();
    status = (p) => statusOf(groups, p, 2);
    const lines: unknown[] = [];
    for (let r = await first; r.done !== true; r = await iterator.next()) lines.push(r.value);

    expect(lines.filter((l) => typeof (l as { seq?: unknown }).seq === 'number').map((l) => (l as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const anchors = lines.filter((l) => (l as { type?: string }).type === 'anchor') as AnchorLine[];
    // The anchor each policy's status showed when the export took its records, and its store head then.
    expect(anchors.map((a) => [a.policy, a.records, a.store?.records])).toEqual(POLICIES.map((p) => [p, groups[p]![0]!.size, groups[p]![1]!.size]));
    expect(verify(lines, {}).problems).toEqual([]);
    for (const p of POLICIES) expectAnchoredOnlyByItsHeads(lines, groups, p);
    // A forged head fails; so does the right head with a forged size.
    expect(verify(lines, { anchor: 'e'.repeat(64) }).firstBad?.problem).toMatch(/no anchor of the export signed by its store key/);
    expect(verify(lines, { policyAnchor: { policy: 'alpha', head: groups.alpha![1]!.head, records: groups.alpha![0]!.size } }).ok).toBe(false);

    // The head anchored after the export, with the store's proof that its log grew from the export's store head to it.
    for (const p of POLICIES) {
      const proof = await storeProof(index, 'shop', p, groups[p]![1]!.size, groups[p]![2]!.size);
      if (typeof proof === 'string') throw new Error(proof);
      const v = verify(lines, { policyAnchor: { policy: p, ...statusOf(groups, p, 2), proof } });
      expect([p, v.problems, v.trust?.state, v.trust?.grown]).toEqual([p, [], 'anchored', { policy: p, from: groups[p]![1]!.size, records: groups[p]![2]!.size }]);
    }
    // It proves nothing from or to a link that is not held, nor to one that is not a store checkpoint.
    expect(await storeProof(index, 'shop', 'alpha', groups.alpha![1]!.size, groups.alpha![2]!.size - 1)).toMatch(/is not a stored store checkpoint/);
    expect(await storeProof(index, 'shop', 'alpha', groups.alpha![1]!.size, 99)).toMatch(/is not a stored store checkpoint/);
    expect(await storeProof(index, 'shop', 'alpha', 99, 100)).toMatch(/store link #99 of policy alpha is not held/);
    expect(await storeProof(index, 'shop', 'gamma', 1, 2)).toMatch(/nothing is stored for policy gamma/);
  });

  it('anchored at its store head already, carries that one head and verifies by it', async () => {
    const { index, chainId, groups } = await twoPolicyStore();
    holdBackLastGroup(index, chainId, groups);
    const lines: unknown[] = [];
    for await (const l of exportLines(index, 'shop', {}, (p) => statusOf(groups, p, 1))) lines.push(l);
    const anchors = lines.filter((l) => (l as { type?: string }).type === 'anchor') as AnchorLine[];
    expect(anchors.map((a) => [a.policy, a.records, a.store])).toEqual(POLICIES.map((p) => [p, groups[p]![1]!.size, undefined]));
    for (const p of POLICIES) expect(verify(lines, { policyAnchor: { policy: p, ...statusOf(groups, p, 1) } }).problems).toEqual([]);
  });
});
