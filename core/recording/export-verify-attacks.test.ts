// The adversarial review of the evidence redesign (issue 19): exports forged by someone who holds
// some keys but not others (a compromised sidecar, a forger with a fresh store key and a real
// export in hand), forks and rollbacks of a chain's checkpoints, and the corpus of classes that
// hold (Merkle edge cases, signed-note parsing differentials, canonical JSON), so they stay held.
import { describe, expect, it } from '@jest/globals';
import { generateSigningKey } from './index.ts';
import { ExportVerifier, type ExportVerdict, type TrustOptions } from './export-verify.ts';
import { exportOf, feedExport, testStore, writeChain } from '../../e2e/support/export-testkit.ts';
import type { SessionRecord } from './store-types.ts';
import { duplicateMember, exportRecordLine, signStatement } from './export-format.ts';
import { noteVerifier, parseCheckpoint, signCheckpoint, verifyCheckpoint } from './checkpoint.ts';
import { leafHash, MerkleTree, nodeHash, rootOf, verifyConsistency, verifyInclusion } from './merkle.ts';
import { canonicalJsonWithout } from './canonical.ts';

type Line = Record<string, unknown>;

const NS = 'ns-a';
const store = testStore(NS, 'orders-db');
const A = writeChain(NS, 100, { group: 16 });
const B = writeChain(NS, 30, { group: 8 });

/** As the CLI feeds a file (bytes), and the same verdict with the line's text and with records in another form. */
function verify(lines: readonly unknown[], trust: TrustOptions = {}): ExportVerdict {
  const verdict = feedExport(lines, trust, 'bytes');
  expect(feedExport(lines, trust, 'text')).toEqual(verdict);
  expect(feedExport(lines, trust, 'other-form')).toEqual(verdict);
  return verdict;
}

const clone = (lines: readonly unknown[]): Line[] => lines.map((l) => structuredClone(l) as Line);
// Read when a verdict is made: exportOf anchors the store log of the chains it exports (testStore);
// every export of [A] alone writes the same log.
const anchored = { get anchor(): string { return store.anchor.root!; } };

describe('a forger with a real export, a fresh store key and no real key', () => {
  // The forger rewrites chain A (same id, pod and length, other content) under a fresh chain key,
  // registers it with a fresh store key, and keeps what the real operator signed: its store key,
  // its anchor and its manifest (which names seq ranges, not hashes).
  const real = clone(exportOf(store, [A, B]));
  const realAnchor = { anchor: store.anchor.root! };
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
    expect(verify(real, realAnchor)).toMatchObject({ ok: true, trust: { state: 'anchored' } });
  });

  it('cannot vouch for chain keys with a store key of its own beside the anchored one', () => {
    const v = verify(spliced, realAnchor);
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

  it('the same checkpoint twice is not a fork, but a line the operator never writes (review 29: refused, not checked again)', () => {
    const twice = clone(lines);
    const at = cpAt(32);
    twice.splice(at, 0, structuredClone(lines[at] as Line));
    expect(verify(twice).problems).toEqual([{ line: at + 2, chainId: A.chainId, problem: `checkpoint of size 32 of chain ${A.chainId}: a second line for the chain's checkpoint of size 32 (the first is line ${at + 1}): the operator writes each once, so it was added (not checked further)` }]);
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

describe('classes that hold (kept so they stay held)', () => {
  const leaves = [0, 1, 2].map((i) => leafHash(Buffer.alloc(32, i)));

  it('Merkle: leaf/node separation, duplicated last leaf, proofs of the wrong length, index ≥ size, size 0, trivial consistency', () => {
    // A 64-byte leaf that is two node hashes side by side does not hash to their parent.
    expect(leafHash(Buffer.concat(leaves.slice(0, 2))).equals(nodeHash(leaves[0] as Buffer, leaves[1] as Buffer))).toBe(false);
    // CVE-2012-2459: RFC 6962 never duplicates an odd last node, so [a, b, c] and [a, b, c, c] differ.
    expect(rootOf(leaves).equals(rootOf([...leaves, leaves[2] as Buffer]))).toBe(false);
    const tree = new MerkleTree(leaves);
    const proof = tree.inclusionProof(1);
    const root = tree.root();
    expect(verifyInclusion(1, 3, leaves[1] as Buffer, proof, root)).toBe(true);
    expect(verifyInclusion(1, 3, leaves[1] as Buffer, [...proof, root], root)).toBe(false);
    expect(verifyInclusion(1, 3, leaves[1] as Buffer, proof.slice(1), root)).toBe(false);
    expect(verifyInclusion(3, 3, leaves[2] as Buffer, proof, root)).toBe(false);
    expect(verifyInclusion(0, 0, leaves[0] as Buffer, [], root)).toBe(false);
    // An inner node presented as a leaf: only in a tree of another size (which the signed checkpoint fixes),
    // and record leaves are always leafHash(record hash), so an inner node is never a record's leaf.
    expect(verifyInclusion(0, 2, nodeHash(leaves[0] as Buffer, leaves[1] as Buffer), [leaves[2] as Buffer], root)).toBe(true);
    expect(verifyInclusion(0, 3, nodeHash(leaves[0] as Buffer, leaves[1] as Buffer), [leaves[2] as Buffer], root)).toBe(false);
    expect(verifyConsistency(0, 3, root, root, [root])).toBe(false);
    expect(verifyConsistency(3, 3, root, root, [root])).toBe(false);
    expect(verifyConsistency(3, 3, root, tree.root(2), [])).toBe(false);
    expect(verifyConsistency(3, 2, tree.root(2), root, tree.consistencyProof(2, 3))).toBe(false);
  });

  it('signed notes: dash look-alikes, a forged key hash under the right name, CRLF and trailing spaces are refused', () => {
    const cp = { origin: A.chainId, size: 3, rootHash: Buffer.alloc(32, 1), time: '2026-11-01T00:00:00Z' };
    const note = signCheckpoint(cp, A.key);
    const verifier = noteVerifier(A.key.publicJwk, A.key.keyId);
    expect(verifyCheckpoint(note, verifier).size).toBe(3);
    for (const dash of ['\u2013', '\u2015', '\u2212', '-', '\u2014\u00a0']) expect(() => verifyCheckpoint(note.replace('\u2014 ', `${dash} `), verifier)).toThrow(/em dash/);
    // Another key signs under the real key's name and copies its 4-byte key hash: the real key verifies, and fails.
    const other = generateSigningKey();
    const forged = signCheckpoint(cp, other, A.key.keyId).split('\n');
    const realHash = Buffer.from((note.split('\n')[5] as string).split(' ')[2] as string, 'base64').subarray(0, 4);
    const blob = Buffer.concat([realHash, Buffer.from((forged[5] as string).split(' ')[2] as string, 'base64').subarray(4)]).toString('base64');
    expect(() => verifyCheckpoint([...forged.slice(0, 5), `\u2014 ${A.key.keyId} ${blob}`, ''].join('\n'), verifier)).toThrow(/does not verify/);
    expect(() => verifyCheckpoint(note.replace(/\n/g, '\r\n'), verifier)).toThrow(/carriage returns/);
    expect(() => verifyCheckpoint(note.replace(`${A.chainId}\n`, `${A.chainId} \n`), verifier)).toThrow(/does not verify/);
  });

  it('a checkpoint of another chain (signed by the same key) is named as a splice', () => {
    const lines = clone(exportOf(store, [A]));
    const i = lines.findIndex((l) => l.type === 'checkpoint');
    const k = lines[i] as Line;
    const cp = parseCheckpoint(k.note as string).checkpoint;
    lines[i] = { ...k, note: signCheckpoint({ ...cp, origin: B.chainId }, A.key) };
    expect(verify(lines).firstBad?.problem).toMatch(/checkpoint of another chain/);
  });

  it('JCS: a record line with a duplicate key, -0, 1e21 or __proto__ is not what was hashed', () => {
    const lines = clone(exportOf(store, [A]));
    const i = lines.findIndex((l) => l.seq === 5);
    const r = lines[i] as SessionRecord & Line;
    const text = exportRecordLine(r);
    for (const bad of [
      text.replace('{', '{"command":"DROP TABLE x",'),
      text.replace('"seq":5', '"seq":5,"seq":5.0'),
      text.replace('{', '{"__proto__":{"command":"x"},'),
      text.replace('{', '{"n":-0,'),
      text.replace('{', '{"n":1e21,'),
    ]) {
      for (const bytes of [false, true]) {
        const v = new ExportVerifier();
        lines.forEach((l, j) => {
          const t = j === i ? bad : typeof l.hash === 'string' ? exportRecordLine(l as unknown as SessionRecord) : JSON.stringify(l);
          v.add(j + 1, JSON.parse(t), t, bytes ? Buffer.from(t) : undefined);
        });
        const verdict = v.finish();
        expect(verdict.ok).toBe(false);
        expect(verdict.firstBad?.line).toBe(i + 1);
      }
    }
    // The parsed record an auditor sees hashes as the line's bytes do.
    expect(canonicalJsonWithout(JSON.parse(text) as Line, ['hash'])).toBe(text.replace(/,"hash":"[0-9a-f]{64}"\}$/, '}'));
  });
});

describe('duplicateMember', () => {
  it.each([
    ['{"a":1,"a":2}', 'a'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"x":{"b":1,"c":[{"b":1}],"b":2}}', 'b'],
    ['{"s":"\\",\\"s\\":1","s":2}', 's'],
    ['{"a":[1,{"a":1}],"b":{"a":2}}', undefined],
    ['["a","a"]', undefined],
    ['{"k":"{\\"k\\":1}"}', undefined],
  ])('%s → %s', (text, name) => expect(duplicateMember(text)).toBe(name));
});

describe('the unsigned header', () => {
  it('cannot claim another filter or time than the signed manifest', () => {
    const lines = clone(exportOf(store, [A], { select: (r) => r.sessionId === 'session-1', filter: { sessionId: 'session-1' } }));
    expect(verify(lines).ok).toBe(true);
    for (const header of [{ filter: { sessionId: 'session-2' } }, { filter: {} }, { createdAt: '2027-01-01T00:00:00.000Z' }]) {
      const bad = clone(lines);
      bad[0] = { ...(bad[0] as Line), ...header };
      expect(verify(bad).firstBad?.problem).toMatch(/header was altered/);
    }
  });
});
