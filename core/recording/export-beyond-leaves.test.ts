// Checkpoints whose tree is larger than the records an export holds (issue 21, item E2).
//
// The builder (planChain) meets them when a chain's newest records went with another policy's
// retention while a checkpoint stored with a batch spanning both policies stayed: it leaves them
// out and proves the records against the checkpoints their leaves reach. The verifier meets them in
// every partial export (a run is proven against the smallest checkpoint covering its last record,
// whose tree runs past the file's records); it uses such a checkpoint only through a range proof
// that rebuilds its root and consistency proofs to its neighbours, and names one no proof uses. A
// crafted export leaning on one (another root, a fabricated right proof, a dropped consistency
// proof, records cut behind it) fails naming the checkpoint.
import { describe, expect, it } from '@jest/globals';
import { planExport } from './export-build.ts';
import { signCheckpoint } from './checkpoint.ts';
import { MerkleAppender, leafHashOfHex } from './merkle.ts';
import type { ExportVerdict, TrustOptions } from './export-verify.ts';
import { exportOf, feedExport, testStore, writeChain, type TestChain } from '../../e2e/support/export-testkit.ts';

type Line = Record<string, unknown>;

const NS = 'ns-beyond';
const store = testStore(NS, 'orders-db');
// Checkpoints at 16, 32, 48, 64, 80, 96, 100.
const A = writeChain(NS, 100, { group: 16 });

function verify(lines: readonly unknown[], trust: TrustOptions = {}): ExportVerdict {
  const verdict = feedExport(lines, trust, 'bytes');
  expect(feedExport(lines, trust, 'other-form')).toEqual(verdict);
  return verdict;
}

const clone = (lines: readonly unknown[]): Line[] => lines.map((l) => structuredClone(l) as Line);
const at = (lines: readonly Line[], match: (l: Line) => boolean): number => lines.findIndex(match);
const isCheckpoint = (size: number) => (l: Line): boolean => l.type === 'checkpoint' && l.size === size;

/** The export of chain C as the operator plans it from a store holding `held` records of it (the newest gone) and every checkpoint. */
function exportHolding(c: TestChain, held: number): Line[] {
  const plan = planExport({
    namespace: NS, filter: {}, createdAt: '2026-11-02T00:00:00.000Z', storeKey: store.key, storeKeys: [store.keyLine], anchors: [store.anchor],
    chains: [{
      registration: { type: 'chain.registration', chainId: c.chainId, namespace: NS, pod: c.pod, keyId: c.key.keyId, publicJwk: c.key.publicJwk },
      hashes: c.records.slice(0, held).map((r) => r.hash), checkpoints: c.checkpoints,
      frontiers: c.checkpoints.map((k) => ({ size: k.size, frontier: frontierAt(c, k.size) })),
      selected: c.records.slice(0, held).map((r) => r.seq),
    }],
  });
  const lines: Line[] = clone(plan.preamble);
  for (const run of plan.runs) lines.push(run.proof as unknown as Line, ...clone(c.records.slice(run.from - 1, run.to)));
  return lines;
}

function frontierAt(c: TestChain, size: number): string[] {
  const a = new MerkleAppender();
  for (const r of c.records.slice(0, size)) a.append(leafHashOfHex(r.hash));
  return a.compactRange().map((h) => h.toString('hex'));
}

describe('the builder, with checkpoints beyond the leaves it holds', () => {
  it('proves the records against the checkpoints their leaves reach, and leaves the others out', () => {
    // Records 1..40 held; checkpoints 48..100 stored (a batch spanning two policies kept them).
    const lines = exportHolding(A, 40);
    const v = verify(lines);
    expect(v.problems).toEqual([]);
    expect(v.records).toBe(40);
    // 1..32 against 16 and 32; 33..40 would need 48, beyond the leaves held: vouched for, named in the manifest.
    expect(v.operatorOnly).toBe(8);
    const manifest = lines.find((l) => l.type === 'manifest') as { statement: { operatorOnly?: unknown } };
    expect(manifest.statement.operatorOnly).toEqual({ [A.chainId]: [[33, 40, A.records[39]!.hash]] });
    expect(lines.filter((l) => l.type === 'checkpoint').map((l) => l.size)).toEqual([16, 32]);
    expect(lines.filter((l) => l.type === 'proof').map((l) => [l.from, l.to, l.checkpoint])).toEqual([[1, 16, 16], [17, 32, 32], [33, 40, 0]]);
  });

  it('holding records up to a checkpoint, proves every one of them', () => {
    const lines = exportHolding(A, 64);
    const v = verify(lines);
    expect(v.problems).toEqual([]);
    expect(v.operatorOnly).toBe(0);
    expect(lines.filter((l) => l.type === 'checkpoint').map((l) => l.size)).toEqual([16, 32, 48, 64]);
  });
});

describe('the verifier, with a checkpoint beyond the records of the file', () => {
  // A partial export: records 1..40; 33..40 proven against checkpoint 48, whose tree runs past the file.
  const partial = clone(exportOf(store, [A], { select: (r) => r.seq <= 40 }));
  const proof48 = at(partial, (l) => l.type === 'proof' && l.checkpoint === 48);

  it('uses it only through the range proof that rebuilds its root: the genuine export verifies', () => {
    expect(proof48).toBeGreaterThan(0);
    const v = verify(partial);
    expect(v.problems).toEqual([]);
    expect(v.unusedCheckpoints).toEqual([]);
  });

  it('a checkpoint of size N+k with another root, signed by no one, is named', () => {
    const bad = clone(partial);
    const i = at(bad, isCheckpoint(48));
    const [origin, size, , ...rest] = String(bad[i]!.note).split('\n');
    bad[i]!.note = [origin, size, Buffer.alloc(32, 9).toString('base64'), ...rest].join('\n');
    const v = verify(bad);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ line: i + 1 });
    expect(v.firstBad?.problem).toMatch(/checkpoint of size 48 of chain/);
  });

  it('a checkpoint of size N+k with a root of another history, signed with the chain key (a compromised sidecar), is named', () => {
    const bad = clone(partial);
    const i = at(bad, isCheckpoint(48));
    bad[i]!.note = signCheckpoint({ origin: A.chainId, size: 48, rootHash: Buffer.alloc(32, 9), time: '2026-11-01T00:00:48.000Z' }, A.key);
    // Its store link names the root the operator took in: the new root fails there first.
    expect(verify(bad).firstBad?.problem).toMatch(/link #\d+ stored another checkpoint .*\(policy orders-db's store log\)/);
    // Without it (a forger drops it), the consistency proofs name it.
    delete bad[i]!.store;
    const v = verify(bad);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/checkpoints of size 32 and 48 are not consistent/);
    expect(v.problems.map((p) => p.problem).join('\n')).toMatch(/do not rebuild the root of the chain's checkpoint of size 48/);
  });

  it('a fabricated right proof against it (to stand for leaves the file does not hold) is named', () => {
    const bad = clone(partial);
    const right = bad[proof48]!.right as string[];
    right[right.length - 1] = 'ab'.repeat(32);
    const v = verify(bad);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/records .*#33\.\.#40 do not rebuild the root of the chain's checkpoint of size 48/);
  });

  it('records cut behind it (the file truncated, the proof shortened to match) are named as missing', () => {
    const bad = clone(partial).filter((l) => !(typeof l.seq === 'number' && l.seq > 36 && l.chainId === A.chainId));
    const i = at(bad, (l) => l.type === 'proof' && l.checkpoint === 48);
    bad[i]!.to = 36;
    const v = verify(bad);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.problem).join('\n')).toMatch(/#37\.\.#40 are missing/);
  });

  it('its consistency proof dropped is named', () => {
    const bad = clone(partial).filter((l) => !(l.type === 'consistency' && l.to === 48));
    const v = verify(bad);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/no consistency proof ties its checkpoints of size 32 and 48/);
  });

  describe('one no proof line uses', () => {
    const full = clone(exportOf(store, [A]));
    const newest = full.find(isCheckpoint(100))!;
    const tie = full.find((l) => l.type === 'consistency' && l.from === 48 && l.to === 64)!;
    const withExtra = (extra: Line[]): Line[] => {
      const lines = clone(partial);
      lines.splice(at(lines, (l) => l.type === 'proof'), 0, ...extra);
      return lines;
    };

    it('with its consistency proofs is named as proving nothing, and trusted for nothing', () => {
      // The genuine checkpoint at 64 and its consistency proof from 48: what a builder never writes.
      const lines = withExtra([full.find(isCheckpoint(64))!, tie]);
      const v = verify(lines);
      expect(v.problems).toEqual([]);
      expect(v.unusedCheckpoints).toEqual([{ chainId: A.chainId, size: 64, line: at(lines, isCheckpoint(64)) + 1 }]);
    });

    it('without a consistency proof to the checkpoints before it is named', () => {
      const v = verify(withExtra([newest]));
      expect(v.ok).toBe(false);
      expect(v.firstBad?.problem).toMatch(/no consistency proof ties its checkpoints of size 48 and 100/);
    });

    it('with another root, even signed with the chain key, is a fork or an inconsistency, never a proof', () => {
      const { store: _link, ...bare } = newest;
      const forged = { ...bare, note: signCheckpoint({ origin: A.chainId, size: 100, rootHash: Buffer.alloc(32, 3), time: '2026-11-01T00:01:40.000Z' }, A.key) };
      const v = verify(withExtra([forged, { type: 'consistency', chainId: A.chainId, from: 48, to: 100, proof: ['cd'.repeat(32)] }]));
      expect(v.ok).toBe(false);
      expect(v.firstBad?.problem).toMatch(/checkpoints of size 48 and 100 are not consistent/);
    });
  });
});
