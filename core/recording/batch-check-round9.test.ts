// Round 9 (evidence path): what the batch check refuses since the round 9 review.
// - Every checkpoint the store will keep obeys the round 7 time rules, a re-sent batch's too (it is
//   kept when the store lacks a checkpoint that large): not dated before the chain's newest stored
//   one, not undated after dated ones.
// - A format 1 record after format 2 records of its chain is a downgrade (such records need no
//   checkpoint, so the chain's tail could go without one, which the re-sent path then filled).
// - A record's time must name a real instant (else NaN escapes every time filter).
// - A record's policy must be one governing the sending pod (checkPolicies, the ingest's).
import { describe, expect, it } from '@jest/globals';
import { checkBatch, checkPolicies, type BatchProof } from './batch-check.ts';
import { checkpointVerifier, signChainCheckpoint } from './chain-checkpoint.ts';
import { ChainTree } from './chain-tree.ts';
import { signCheckpoint } from './checkpoint.ts';
import { ChainWriter, GENESIS, generateSigningKey, importPublicKey, SignedChainWriter } from './index.ts';
import type { ChainState, SessionRecord } from './store-types.ts';

const key = generateSigningKey();
const chainId = 'shop/agent-1/abc';
const verifier = checkpointVerifier(key.publicJwk, key.keyId);
const publicKey = importPublicKey(key.publicJwk);
const payload = (i: number, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'command', time: '2026-01-01T00:00:00.000Z', namespace: 'shop', pod: 'agent-1', policy: 'orders-db', target: 'orders-db', protocol: 'postgres',
  sessionId: 's', subject: 'a', subjectKind: 'User', groups: ['g'], command: `SELECT ${i}`, decision: 'allow', ...over,
});

function state(seq = 0, head = GENESIS): ChainState {
  return { chainId, namespace: 'shop', pod: 'agent-1', keyId: key.keyId, publicJwk: key.publicJwk, registeredBy: 'sa', registeredAt: '2026-01-01T00:00:00Z', seq, head };
}

function treeOf(records: readonly SessionRecord[]): ChainTree {
  const t = ChainTree.empty();
  for (const r of records) t.append(r.hash);
  return t;
}

const v2 = (n: number, over: (i: number) => Record<string, unknown> = () => ({})): SessionRecord[] => {
  const w = new ChainWriter<Record<string, unknown>>(chainId, key);
  return Array.from({ length: n }, (_, i) => w.append(payload(i, over(i))) as unknown as SessionRecord);
};

const dated = (records: readonly SessionRecord[], time: string): string => signChainCheckpoint(chainId, records.length, treeOf(records).root(), key, new Date(time));
const undated = (records: readonly SessionRecord[]): string => signCheckpoint({ origin: chainId, size: records.length, rootHash: treeOf(records).root() }, key);

describe('checkpoints a re-sent batch stores (round 9 finding 1)', () => {
  // The store holds records 1..6 and a checkpoint of size 4 only (the tail came without one: a store
  // written before the downgrade rule, or a crash that lost the copy). Records 4..6 are re-sent.
  const all = v2(6);
  const resend = (checkpoint: string, extra: Partial<BatchProof> = {}): ReturnType<typeof checkBatch> => checkBatch(
    state(6, all[5]!.hash), all.slice(3), publicKey, { hash: (seq) => all[seq - 1]?.hash, removed: () => false },
    { checkpoint, tree: treeOf(all), verifier, storedSize: 4, newestTime: '2026-11-01T00:00:00Z', formatTwo: true, ...extra },
  );

  it.each<[string, () => string]>([
    ['dated years before the stored one', () => dated(all, '2020-01-01T00:00:00Z')],
    ['dated a millisecond before', () => dated(all, '2026-10-31T23:59:59.999Z')],
    ['undated after dated ones', () => undated(all)],
  ])('refuses a checkpoint of a larger tree %s (422 checkpoint-time, naming the batch\'s last record)', (_what, cp) => {
    expect(resend(cp())).toMatchObject({ ok: false, status: 422, problem: 'checkpoint-time', index: 2, seq: 6 });
  });

  it('stores a later (or equally dated) checkpoint of the larger tree', () => {
    for (const time of ['2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z']) {
      const plan = resend(dated(all, time));
      if ('ok' in plan) throw new Error(plan.message);
      expect(plan).toMatchObject({ fresh: [], duplicates: 3, checkpoint: { size: 6 } });
    }
  });

  it('applies no time rule to a checkpoint the store will not keep (it holds one as large): nothing of it is stored', () => {
    for (const cp of [dated(all, '2020-01-01T00:00:00Z'), undated(all)]) {
      const plan = resend(cp, { storedSize: 6 });
      if ('ok' in plan) throw new Error(plan.message);
      expect(plan.checkpoint).toBeUndefined();
      expect(plan.duplicates).toBe(3);
    }
  });

  it('a chain with no dated checkpoint stored takes an undated or any dated one', () => {
    for (const cp of [undated(all), dated(all, '2020-01-01T00:00:00Z')]) {
      const plan = checkBatch(state(6, all[5]!.hash), all.slice(3), publicKey, { hash: (seq) => all[seq - 1]?.hash, removed: () => false },
        { checkpoint: cp, tree: treeOf(all), verifier, storedSize: 4 });
      if ('ok' in plan) throw new Error(plan.message);
      expect(plan.checkpoint?.size).toBe(6);
    }
  });

  it('still refuses the same checkpoints with fresh records (round 7)', () => {
    const fresh = (cp: string): ReturnType<typeof checkBatch> => checkBatch(state(4, all[3]!.hash), all.slice(4), publicKey, { hash: (seq) => all[seq - 1]?.hash, removed: () => false },
      { checkpoint: cp, tree: treeOf(all.slice(0, 4)), verifier, storedSize: 4, newestTime: '2026-11-01T00:00:00Z', formatTwo: true });
    expect(fresh(dated(all, '2020-01-01T00:00:00Z'))).toMatchObject({ ok: false, problem: 'checkpoint-time' });
    expect(fresh(undated(all))).toMatchObject({ ok: false, problem: 'checkpoint-time' });
    expect(fresh(dated(all, '2026-11-02T00:00:00Z'))).not.toHaveProperty('ok');
  });
});

describe('format downgrades (round 9 finding 1)', () => {
  const proofFor = (records: readonly SessionRecord[], over: Partial<BatchProof> = {}): BatchProof => ({
    checkpoint: dated(records, '2026-11-01T00:00:00Z'), tree: ChainTree.empty(), verifier, ...over,
  });

  it('refuses a format 1 record after format 2 records already stored (422 downgrade, naming it)', () => {
    const w = new SignedChainWriter<Record<string, unknown>>(chainId, key);
    const signed = [w.append(payload(0)) as unknown as SessionRecord];
    expect(checkBatch(state(), signed, publicKey, { hash: () => undefined, removed: () => false }, proofFor(signed, { formatTwo: true })))
      .toMatchObject({ ok: false, status: 422, problem: 'downgrade', index: 0, seq: 1, message: expect.stringContaining('format 1') as unknown as string });
  });

  it('refuses format 2 then format 1 in one batch, at the first format 1 record', () => {
    const leaves = new ChainWriter<Record<string, unknown>>(chainId, key);
    const first = [leaves.append(payload(0)), leaves.append(payload(1))] as unknown as SessionRecord[];
    const signed = new SignedChainWriter<Record<string, unknown>>(chainId, key, leaves.position);
    const batch = [...first, signed.append(payload(2)) as unknown as SessionRecord, signed.append(payload(3)) as unknown as SessionRecord];
    expect(checkBatch(state(), batch, publicKey, { hash: () => undefined, removed: () => false }, proofFor(batch))).toMatchObject({ ok: false, problem: 'downgrade', index: 2, seq: 3 });
  });

  it('accepts the upgrade (format 1, then format 2 with its checkpoint), in one batch or two', () => {
    const signed = new SignedChainWriter<Record<string, unknown>>(chainId, key);
    const old = [signed.append(payload(0)), signed.append(payload(1))] as unknown as SessionRecord[];
    const leaves = new ChainWriter<Record<string, unknown>>(chainId, key, signed.position);
    const batch = [...old, leaves.append(payload(2)) as unknown as SessionRecord];
    expect(checkBatch(state(), batch, publicKey, { hash: () => undefined, removed: () => false }, proofFor(batch))).not.toHaveProperty('ok');
    expect(checkBatch(state(), old, publicKey, { hash: () => undefined, removed: () => false }, { checkpoint: undefined, tree: ChainTree.empty(), verifier })).not.toHaveProperty('ok');
  });

  it('takes format 1 records of a mixed chain re-sent as duplicates (stores written before the rule keep their tail)', () => {
    const leaves = new ChainWriter<Record<string, unknown>>(chainId, key);
    const first = [leaves.append(payload(0))] as unknown as SessionRecord[];
    const signed = new SignedChainWriter<Record<string, unknown>>(chainId, key, leaves.position);
    const tail = [signed.append(payload(1)), signed.append(payload(2))] as unknown as SessionRecord[];
    const all = [...first, ...tail];
    const plan = checkBatch(state(3, all[2]!.hash), tail, publicKey, { hash: (seq) => all[seq - 1]?.hash, removed: () => false }, { checkpoint: undefined, tree: treeOf(all), verifier, formatTwo: true });
    expect(plan).toMatchObject({ fresh: [], duplicates: 2 });
  });
});

describe('record times that name no instant (round 9)', () => {
  const bad = [
    '2026-13-45T25:61:61Z', '2026-02-30T00:00:00Z', '2026-02-28T24:00:00Z', '2025-02-29T00:00:00Z', '2016-12-31T23:59:60Z',
    '2026-01-01T00:00:00+24:00', '2026-01-01T00:00:00+05:60', '2026-00-10T00:00:00Z', '2026-01-00T00:00:00Z',
    '2026-01-01 00:00:00Z', '2026-01-01T00:00:00', '2026-01-01', '', 'yesterday', '2026-01-01T00:00:00z', '+002026-01-01T00:00:00Z',
  ];
  const good = ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.123456789Z', '2024-02-29T23:59:59+02:00', '2026-06-30T00:00:00-05:30', '2026-01-01T00:00:00.5+14:00'];
  const decide = (time: unknown, format: 1 | 2): ReturnType<typeof checkBatch> => {
    const w = format === 1 ? new SignedChainWriter<Record<string, unknown>>(chainId, key) : new ChainWriter<Record<string, unknown>>(chainId, key);
    const records = [w.append(payload(0)), w.append(payload(1, { time }))] as unknown as SessionRecord[];
    return checkBatch(state(), records, publicKey, { hash: () => undefined, removed: () => false }, { checkpoint: dated(records, '2026-11-01T00:00:00Z'), tree: ChainTree.empty(), verifier });
  };

  for (const format of [1, 2] as const) {
    it.each(bad)(`format ${format}: refuses %p (422 bad-time, naming the record)`, (time) => {
      expect(decide(time, format)).toMatchObject({ ok: false, status: 422, problem: 'bad-time', index: 1, seq: 2 });
    });
    it.each(good)(`format ${format}: accepts %p`, (time) => {
      expect(decide(time, format)).not.toHaveProperty('ok');
    });
    it.each<[string, unknown]>([['a number', 1767225600000], ['null', null], ['an object', { at: 'now' }]])(`format ${format}: refuses a time that is %s`, (_what, time) => {
      expect(decide(time, format)).toMatchObject({ ok: false, problem: 'bad-time' });
    });
  }
});

describe('checkPolicies (round 9 finding 2: a record names a policy governing its pod)', () => {
  const records = v2(3, (i) => ({ policy: i === 2 ? 'payments-db' : 'orders-db' }));

  it('passes a batch whose every record names a governing policy', () => {
    expect(checkPolicies(records.slice(0, 2), ['orders-db'])).toBeUndefined();
    expect(checkPolicies(records, ['orders-db', 'payments-db'])).toBeUndefined();
    expect(checkPolicies([], [])).toBeUndefined();
  });

  it('refuses the whole batch at the first foreign record, naming it, its policy and the governing ones', () => {
    expect(checkPolicies(records, ['orders-db'])).toMatchObject({
      ok: false, status: 422, problem: 'wrong-policy', index: 2, seq: 3,
      message: expect.stringMatching(/record #3 \(seq 3\): wrong-policy: .*"payments-db".*governed by orders-db/) as unknown as string,
    });
  });

  it.each(['Orders-db', 'orders-db ', ' orders-db', 'orders-db\u200b', 'оrders-db', 'orders', 'orders-db,payments-db', ''])('refuses a spelling that is not the governing name exactly: %p', (policy) => {
    const [r] = v2(1, () => ({ policy }));
    expect(checkPolicies([r!], ['orders-db'])).toMatchObject({ ok: false, problem: 'wrong-policy', index: 0 });
  });

  it('refuses every record of a pod that no policy governs (no annotation: fail closed)', () => {
    expect(checkPolicies(records, [])).toMatchObject({ ok: false, problem: 'wrong-policy', index: 0, message: expect.stringContaining('guarita.io/policies') as unknown as string });
  });
});
