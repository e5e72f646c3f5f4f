// The adversarial review of the evidence redesign (issue 19): exports forged by someone who holds
// some keys but not others (a compromised sidecar, a forger with a fresh store key and a real
// export in hand), forks and rollbacks of a chain's checkpoints, and the corpus of classes that
// hold (Merkle edge cases, signed-note parsing differentials, canonical JSON), so they stay held.
import { describe, expect, it } from '@jest/globals';
import { generateSigningKey } from './index.ts';
import { ExportVerifier, type ExportVerdict, type TrustOptions } from './export-verify.ts';
import { exportOf, testStore, writeChain } from '../../e2e/support/export-testkit.ts';
import type { SessionRecord } from './store-types.ts';
import { exportRecordLine, signStatement } from './export-format.ts';
import { signCheckpoint, parseCheckpoint } from './checkpoint.ts';

type Line = Record<string, unknown>;

const NS = 'ns-a';
const store = testStore(NS, 'orders-db');
const A = writeChain(NS, 100, { group: 16 });
const B = writeChain(NS, 30, { group: 8 });

function verify(lines: readonly unknown[], trust: TrustOptions = {}): ExportVerdict {
  const v = new ExportVerifier(trust);
  lines.forEach((l, i) => {
    const rec = typeof (l as Line).hash === 'string' && typeof (l as Line).seq === 'number';
    const text = rec ? exportRecordLine(l as SessionRecord) : JSON.stringify(l);
    v.add(i + 1, JSON.parse(text), text);
  });
  return v.finish();
}

const clone = (lines: readonly unknown[]): Line[] => lines.map((l) => structuredClone(l) as Line);
const anchored = { anchor: store.anchor.head };

describe('a forger with a real export, a fresh store key and no real key', () => {
  // The forger rewrites chain A (same id, pod and length, other content) under a fresh chain key,
  // registers it with a fresh store key, and keeps what the real operator signed: its store key,
  // its anchor and its manifest (which names seq ranges, not hashes).
  const real = clone(exportOf(store, [A, B]));
  const forgerStore = testStore(NS, 'orders-db', generateSigningKey());
  const F = writeChain(NS, 100, { group: 16, chainId: A.chainId, pod: A.pod, event: () => ({ command: 'SELECT 1 -- forged' }) });
  const forged = clone(exportOf(forgerStore, [F, B]));
  const spliced = [
    forged[0], real.find((l) => l.type === 'storeKey'), forgerStore.keyLine,
    ...forged.filter((l) => l.type === 'registration'),
    ...real.filter((l) => l.type === 'anchor' || l.type === 'manifest'),
    ...forged.filter((l) => !['export', 'storeKey', 'registration', 'anchor', 'manifest'].includes(l.type as string)),
  ];

  it('the real export verifies anchored', () => {
    expect(verify(real, anchored).ok).toBe(true);
  });

  it('cannot vouch for chain keys with a store key of its own beside the anchored one', () => {
    const v = verify(spliced, anchored);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/registration of chain .*signed by store key .*not the store key that signed the manifest/);
  });

  it('nor without --anchor: every statement of an export is signed by one store key', () => {
    expect(verify(spliced).ok).toBe(false);
  });
});

describe('forks and rollbacks of a chain (a compromised sidecar signs two histories)', () => {
  const lines = clone(exportOf(store, [A]));
  const cpAt = (size: number): number => lines.findIndex((l) => l.type === 'checkpoint' && l.size === size);
  const otherRoot = (size: number, time = '2026-11-01T00:00:00Z', key = A.key): Line => ({
    type: 'checkpoint', chainId: A.chainId, size, note: signCheckpoint({ origin: A.chainId, size, rootHash: Buffer.alloc(32, 7), time }, key),
  });

  it('two checkpoints of the same size with different roots are a fork, whichever comes first', () => {
    for (const at of [cpAt(32), cpAt(32) + 1]) {
      const bad = clone(lines);
      bad.splice(at, 0, otherRoot(32));
      const v = verify(bad);
      expect(v.ok).toBe(false);
      expect(v.firstBad?.problem).toMatch(/fork/);
    }
  });

  it('the same checkpoint twice is not a fork', () => {
    const twice = clone(lines);
    twice.splice(cpAt(32), 0, structuredClone(lines[cpAt(32)] as Line));
    expect(verify(twice).problems).toEqual([]);
  });

  it('checkpoints not tied by consistency proofs are refused (the chain could have been rewritten between them)', () => {
    const dropped = lines.filter((l) => l.type !== 'consistency');
    const v = verify(dropped);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/no consistency proof ties/);
  });

  it('a checkpoint of a larger tree signed earlier than a smaller one is a rollback', () => {
    const sizes = lines.filter((l) => l.type === 'checkpoint').map((l) => l.size as number);
    const bad = clone(lines);
    const last = sizes[sizes.length - 1] as number;
    const i = cpAt(last);
    const cp = parseCheckpoint((bad[i] as Line).note as string).checkpoint;
    bad[i] = { ...(bad[i] as Line), note: signCheckpoint({ ...cp, time: '2026-10-01T00:00:00.000Z' }, A.key) };
    const v = verify(bad);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/signed before|time/);
  });
});

describe('downgrade: format 2 records in a format 1 file', () => {
  // A format 1 file (no header) lists chain keys itself; format 2 records carry no signature, so a
  // file of them in format 1 would be proven by nothing: anyone could write one.
  const C = writeChain(NS, 20, { group: 8, event: () => ({ command: 'DROP TABLE customers -- never ran' }) });
  const keyLine = { type: 'key', chainId: C.chainId, keyId: C.key.keyId, publicJwk: C.key.publicJwk, pod: C.pod };

  it('is refused, naming the record and why', () => {
    const v = verify([keyLine, ...C.records]);
    expect(v.ok).toBe(false);
    expect(v.format).toBe(1);
    expect(v.firstBad).toMatchObject({ line: 2, chainId: C.chainId, seq: 1 });
    expect(v.firstBad?.problem).toMatch(/format 2 record .*format 1 export/);
  });

  it('mixed after format 1 records too', () => {
    const D = writeChain(NS, 12, { group: 4, format1: 6 });
    const v = verify([{ type: 'key', chainId: D.chainId, keyId: D.key.keyId, publicJwk: D.key.publicJwk, pod: D.pod }, ...D.records]);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ seq: 7 });
  });
});

describe('the manifest\'s operatorOnly escape hatch', () => {
  // Only the real operator can sign a manifest; these are what a compromised operator could claim.
  const base = clone(exportOf(store, [A]));
  const proofAt = base.findIndex((l) => l.type === 'proof' && (l.from as number) <= 40 && (l.to as number) >= 40);
  const run = base[proofAt] as Line;
  const [from, to] = [run.from as number, run.to as number];

  function vouchFor(lines: Line[], hash: string): Line[] {
    const out = clone(lines);
    out[proofAt] = { ...run, checkpoint: 0, left: [], right: [] };
    const i = out.findIndex((l) => l.type === 'manifest');
    const statement = { ...((out[i] as Line).statement as Line), operatorOnly: { [A.chainId]: [[from, to, hash]] } };
    out[i] = { type: 'manifest', ...signStatement(statement, store.key) };
    return out;
  }

  it('cannot stand in for a proof the export can give (records after proven ones, a checkpoint covering them)', () => {
    const v = verify(vouchFor(base, (base[proofAt + (to - from) + 1] as Line).hash as string), anchored);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/vouching stands in for a proof it could give/);
  });

  it('nor be edited into a manifest by anyone else (its signature)', () => {
    const out = clone(base);
    const i = out.findIndex((l) => l.type === 'manifest');
    ((out[i] as Line).statement as Line).operatorOnly = { [A.chainId]: [[from, to, 'ab'.repeat(32)]] };
    expect(verify(out).firstBad?.problem).toMatch(/manifest .*does not match its hash/);
  });

  it('a run of unproven format 2 records without the manifest vouching for them is refused', () => {
    const out = clone(base);
    out[proofAt] = { ...run, checkpoint: 0, left: [], right: [] };
    expect(verify(out).firstBad?.problem).toMatch(/no checkpoint covers it/);
  });

  it('runs that meet link across the boundary (a vouched run rewritten is caught by the next record)', () => {
    // Records 1..16 are rewritten and vouched for (as retention would allow for the oldest leaves);
    // record 17, proven by its checkpoint, links to the real #16.
    const F = writeChain(NS, 100, { group: 16, chainId: A.chainId, pod: A.pod, event: () => ({ command: 'rewritten' }) });
    const lines = clone(exportOf(store, [A]));
    const p0 = lines.findIndex((l) => l.type === 'proof');
    const p1 = lines.findIndex((l, i) => i > p0 && l.type === 'proof');
    const first = lines[p0] as Line;
    const out = [...lines.slice(0, p0), { ...first, checkpoint: 0, left: [], right: [] }, ...F.records.slice(0, (first.to as number)), ...lines.slice(p1)].map((l) => structuredClone(l) as Line);
    const i = out.findIndex((l) => l.type === 'manifest');
    const statement = { ...((out[i] as Line).statement as Line), operatorOnly: { [A.chainId]: [[first.from, first.to, F.records[(first.to as number) - 1]?.hash]] } };
    out[i] = { type: 'manifest', ...signStatement(statement, store.key) };
    const v = verify(out, anchored);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/does not link to/);
    expect(v.firstBad?.seq).toBe((first.to as number) + 1);
  });
});
