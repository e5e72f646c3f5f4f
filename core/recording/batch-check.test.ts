// The batch check verifies fresh records itself (keeping the canonical JSON their hash was checked
// over, which the store then writes): it must refuse exactly what chain.ts verifyLink refuses, for
// the same reason, and the JSON it hands the store must be the record.
import { describe, expect, it } from '@jest/globals';
import { canonicalJsonWithout } from './canonical.ts';
import { checkBatch, jsonWithHash } from './batch-check.ts';
import { signChainCheckpoint } from './chain-checkpoint.ts';
import { checkpointVerifier } from './chain-checkpoint.ts';
import { ChainTree } from './chain-tree.ts';
import { ChainWriter, GENESIS, generateSigningKey, importPublicKey, SignedChainWriter, verifyLink, type ChainPosition } from './index.ts';
import type { ChainState, SessionRecord } from './store-types.ts';

const key = generateSigningKey();
const chainId = 'shop/agent-1/abc';
const payload = (i: number): Record<string, unknown> => ({
  type: 'command', time: '2026-01-01T00:00:00.000Z', namespace: 'shop', pod: 'agent-1', policy: 'orders-db', target: 'orders-db', protocol: 'postgres',
  sessionId: 's', subject: 'a', subjectKind: 'User', groups: ['g'], command: `SELECT ${i} -- é "q" \\ \u2028 😀`, decision: 'allow', result: { rows: i, sample: 'x\ny' },
});

function state(): ChainState {
  return { chainId, namespace: 'shop', pod: 'agent-1', keyId: key.keyId, publicJwk: key.publicJwk, registeredBy: 'sa', registeredAt: '2026-01-01T00:00:00Z', seq: 0, head: GENESIS };
}

function decide(records: SessionRecord[]): ReturnType<typeof checkBatch> {
  const tree = ChainTree.empty();
  for (const r of records) tree.append(r.hash);
  const checkpoint = signChainCheckpoint(chainId, records.at(-1)?.seq ?? 0, tree.root(), key, new Date());
  return checkBatch(state(), records, importPublicKey(key.publicJwk), { hash: () => undefined, removed: () => false }, { checkpoint, tree: ChainTree.empty(), verifier: checkpointVerifier(key.publicJwk, key.keyId) });
}

/** The first record verifyLink refuses, and why. */
function slowPath(records: SessionRecord[]): { index: number; problem: string } | undefined {
  let position: ChainPosition = { seq: 0, head: GENESIS };
  for (const [index, r] of records.entries()) {
    const problem = verifyLink(r, { ...position, chainId }, importPublicKey(key.publicJwk));
    if (problem !== undefined) return { index, problem };
    position = { seq: r.seq, head: r.hash };
  }
  return undefined;
}

const PROBLEM_OF: Record<string, string> = { 'hash-mismatch': 'hash-mismatch', 'bad-signature': 'bad-signature', 'broken-link': 'fork', 'sequence-gap': 'gap' };

type Tamper = [string, (rs: SessionRecord[]) => void];
const tampers: Tamper[] = [
  ['a payload member altered', (rs) => { (rs[1] as unknown as Record<string, unknown>).command = 'DROP TABLE x'; }],
  ['a nested member altered', (rs) => { (rs[2]!.result as Record<string, unknown>).rows = 99; }],
  ['a member added', (rs) => { (rs[1] as unknown as Record<string, unknown>).extra = 1; }],
  ['a member removed', (rs) => { delete (rs[1] as unknown as Record<string, unknown>).decision; }],
  ['the hash replaced', (rs) => { rs[1]!.hash = 'f'.repeat(64); }],
  ['prev altered', (rs) => { rs[2]!.prev = 'e'.repeat(64); }],
  ['seq altered', (rs) => { rs[2]!.seq = 9; }],
  ['the format changed (v removed from a leaf)', (rs) => { delete (rs[1] as unknown as Record<string, unknown>).v; }],
  ['a signature removed', (rs) => { delete (rs[1] as unknown as Record<string, unknown>).sig; }],
  ['a signature from another record', (rs) => { rs[1]!.sig = rs[2]!.sig ?? 'x'; }],
  ['a signature that is not a string', (rs) => { (rs[1] as unknown as Record<string, unknown>).sig = 7; }],
];

describe('checkBatch on fresh records (its own link check) against chain.ts verifyLink', () => {
  for (const format of [1, 2] as const) {
    for (const [name, tamper] of tampers) {
      it(`format ${format}: ${name} is refused exactly when verifyLink refuses, naming the same record and problem`, () => {
        const writer = format === 1 ? new SignedChainWriter<Record<string, unknown>>(chainId, key) : new ChainWriter<Record<string, unknown>>(chainId, key);
        const records = [0, 1, 2, 3].map((i) => writer.append(payload(i)) as unknown as SessionRecord);
        tamper(records);
        const slow = slowPath(records);
        const fast = decide(records);
        if (slow === undefined) {
          // Not a link problem (a format 2 record's sig is not hashed, as verifyLink says): accepted too.
          expect(fast).not.toHaveProperty('ok');
          return;
        }
        expect(fast).toMatchObject({ ok: false, problem: PROBLEM_OF[slow.problem] });
        if (slow.problem === 'hash-mismatch' || slow.problem === 'bad-signature') expect(fast).toMatchObject({ index: slow.index, seq: records[slow.index]!.seq });
      });
    }
  }

  it('accepts an untouched batch of either format and hands the store each record\'s canonical text', () => {
    for (const writer of [new SignedChainWriter<Record<string, unknown>>(chainId, key), new ChainWriter<Record<string, unknown>>(chainId, key)]) {
      const records = [0, 1, 2].map((i) => writer.append(payload(i)) as unknown as SessionRecord);
      const plan = decide(records);
      if ('ok' in plan) throw new Error(plan.message);
      expect(plan.freshTexts).toEqual(records.map((r) => canonicalJsonWithout(r as unknown as Record<string, unknown>, ['hash', 'sig'])));
    }
  });
});

describe('jsonWithHash', () => {
  it('is the record JSON.stringify writes, members in another order (undefined members, sig, nested, non-ASCII)', () => {
    const writer = new SignedChainWriter<Record<string, unknown>>(chainId, key);
    const signed = writer.append({ ...payload(1), purpose: undefined, nested: { b: [1, undefined, 'é'], a: null } }) as unknown as SessionRecord;
    const leaf = new ChainWriter<Record<string, unknown>>(chainId, key).append(payload(2)) as unknown as SessionRecord;
    for (const r of [signed, leaf, { ...leaf, sig: null } as unknown as SessionRecord]) {
      const text = canonicalJsonWithout(r as unknown as Record<string, unknown>, ['hash', 'sig']);
      expect(JSON.parse(jsonWithHash(text, r))).toEqual(JSON.parse(JSON.stringify(r)));
    }
    expect(jsonWithHash('{}', { hash: 'a' })).toBe('{"hash":"a"}');
  });
});
