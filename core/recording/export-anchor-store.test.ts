// An export's anchor with its store head (issue 21, item E1): the anchored store link (status.chain
// at the export's moment) and, when the store log had grown past it, the store checkpoint of the
// export's moment tied to it by a consistency proof. --anchor and --policy take either head; a
// store head that is not the same store key's, not consistent, not the checkpoint's last leaf, or
// newer than the export, fails naming what is wrong. An anchor without one verifies as before.
import { describe, expect, it } from '@jest/globals';
import { generateSigningKey, type SigningKey } from './index.ts';
import { StoreChain } from './store-chain.ts';
import { leafHashOfHex, MerkleTree } from './merkle.ts';
import type { AnchorLine, StoreKeyLine, StoreProof } from './export-format.ts';
import type { SessionRecord, StoreLink } from './store-types.ts';
import type { ExportVerdict, TrustOptions } from './export-verify.ts';
import { exportOf, feedExport, writeChain, type TestStore } from '../../e2e/support/export-testkit.ts';
import { signCheckpoint } from './checkpoint.ts';

type Line = Record<string, unknown>;

const NS = 'ns-anchor';
const POLICY = 'orders-db';

/**
 * A store log of 10 links, sealed at 3 (the anchor), 7 (the export's store head) and 10 (a head
 * anchored after the export), and the anchor line with the first two.
 */
function storeWithHead(key: SigningKey = generateSigningKey()): { store: TestStore; links: StoreLink[]; tree: MerkleTree; notes: Map<number, string> } {
  const chain = new StoreChain(NS, POLICY, key);
  const links: StoreLink[] = [];
  const notes = new Map<number, string>();
  for (let seq = 1; seq <= 10; seq++) {
    const time = new Date(Date.parse('2026-11-01T00:00:00.000Z') + seq * 1000);
    const link = chain.linkRecord({ chainId: `${NS}/p/x`, seq, hash: seq.toString(16).padStart(64, '0') } as SessionRecord, time.toISOString());
    links.push(link);
    if (seq === 3 || seq === 7 || seq === 10) notes.set(seq, chain.seal(link, time)!.note);
  }
  const tree = new MerkleTree(links.map((l) => leafHashOfHex(l.hash)));
  const hex = (hs: Buffer[]): string[] => hs.map((h) => h.toString('hex'));
  const at3 = links[2]!;
  const anchor: AnchorLine = {
    type: 'anchor', policy: POLICY, records: 3, head: at3.hash, link: at3, root: tree.root(3).toString('hex'), note: notes.get(3)!, inclusion: hex(tree.inclusionProof(2, 3)),
    store: { records: 7, head: links[6]!.hash, link: links[6]!, root: tree.root(7).toString('hex'), note: notes.get(7)!, inclusion: hex(tree.inclusionProof(6, 7)), consistency: hex(tree.consistencyProof(3, 7)) },
  };
  const keyLine: StoreKeyLine = { type: 'storeKey', keyId: key.keyId, publicJwk: key.publicJwk };
  return { store: { key, keyLine, anchor }, links, tree, notes };
}

const { store, links, tree, notes } = storeWithHead();
const A = writeChain(NS, 20, { group: 8 });
const lines = exportOf(store, [A]).map((l) => structuredClone(l) as Line);
const anchorAt = lines.findIndex((l) => l.type === 'anchor');

function verify(file: readonly unknown[], trust: TrustOptions = {}): ExportVerdict {
  return feedExport(file, trust, 'bytes');
}

function withAnchor(edit: (a: AnchorLine) => void): Line[] {
  const out = lines.map((l) => structuredClone(l));
  edit(out[anchorAt] as unknown as AnchorLine);
  return out;
}

describe('an anchor carrying the export\'s store head', () => {
  it('verifies, and either head (or root) anchors it, by --anchor or --policy', () => {
    expect(verify(lines).problems).toEqual([]);
    for (const trust of [
      { anchor: links[2]!.hash }, { anchor: tree.root(3).toString('hex') }, { anchor: links[6]!.hash }, { anchor: tree.root(7).toString('hex') },
      { policyAnchor: { policy: POLICY, records: 3, head: links[2]!.hash } }, { policyAnchor: { policy: POLICY, records: 7, head: links[6]!.hash } },
    ]) {
      const v = verify(lines, trust);
      expect([trust, v.problems]).toEqual([trust, []]);
      // This hand-built log stores none of A's checkpoints: its records rest on the store key
      // (export-checkpoint-links.test.ts anchors records).
      expect(v.trust).toMatchObject({ state: 'partly-anchored', unanchored: { records: 20 }, anchors: [{ policy: POLICY, records: 3, store: { records: 7, head: links[6]!.hash } }] });
    }
  });

  it('a head between them, or after the export, is not one the file can show, and says which', () => {
    const between = verify(lines, { policyAnchor: { policy: POLICY, records: 5, head: links[4]!.hash } });
    expect(between.ok).toBe(false);
    expect(between.firstBad?.problem).toMatch(/anchors 5 links .*anchors 3 .* and holds the store up to 7 .*re-signed, or made against another head/);
    const newer = verify(lines, { policyAnchor: { policy: POLICY, records: 9, head: 'f'.repeat(64) } });
    expect(newer.firstBad?.problem).toMatch(/the AccessPolicy's head is newer than the export .* --anchor and the head AccessPolicy status showed when it was exported, or export again/);
    expect(verify(lines, { anchor: links[4]!.hash }).firstBad?.problem).toMatch(/no anchor of the export signed by its store key/);
  });

  const forged: [string, (a: AnchorLine) => void, RegExp][] = [
    ['a head that is not its link\'s', (a) => { a.store!.head = links[5]!.hash; }, /store head \(#7\): its store link does not hash to the anchored head/],
    ['no link', (a) => { delete (a.store as Partial<NonNullable<AnchorLine['store']>>).link; }, /store head \(#7\): it carries no store link/],
    ['a link of another size', (a) => { a.store!.link = links[5]!; a.store!.head = links[5]!.hash; }, /store head \(#7\): its store link is not link #7/],
    ['a head that is not the checkpoint\'s last leaf', (a) => { a.store!.inclusion = tree.inclusionProof(5, 7).map((h) => h.toString('hex')); }, /store head \(#7\): its head is not the last leaf of its store checkpoint/],
    ['an altered consistency proof', (a) => { a.store!.consistency[0] = 'ab'.repeat(32); }, /store head \(#7\) is not consistent with the anchored store checkpoint \(#3\)/],
    ['a dropped consistency proof', (a) => { a.store!.consistency = []; }, /not consistent with the anchored store checkpoint/],
    ['a size that is not its link\'s', (a) => { a.store!.records = 6; }, /store head \(#6\): its store link is not link #6/],
    ['a checkpoint of another size', (a) => { a.store!.note = a.note!; }, /store head \(#7\): its store checkpoint is for store\/ns-anchor\/orders-db at size 3, not store\/ns-anchor\/orders-db at 7/],
    ['a size at or before the anchor', (a) => { a.store!.records = 3; }, /store head \(#3\) is not a store link past the anchored #3/],
    ['a root that is not its checkpoint\'s', (a) => { a.store!.root = 'cd'.repeat(32); }, /the store checkpoint's root is not the one named/],
    ['a checkpoint of another policy', (a) => { a.store!.note = signCheckpoint({ origin: `store/${NS}/other`, size: 7, rootHash: tree.root(7), time: '2026-11-01T00:00:07.000Z' }, store.key); }, /its store checkpoint is for store\/ns-anchor\/other at size 7/],
    ['a checkpoint signed by another store key', (a) => { a.store!.note = signCheckpoint({ origin: `store/${NS}/${POLICY}`, size: 7, rootHash: tree.root(7), time: '2026-11-01T00:00:07.000Z' }, generateSigningKey()); }, /store head \(#7\): its store checkpoint/],
    ['a store head that is not an object', (a) => { (a as { store: unknown }).store = null; }, /its store head is not an object/],
    ['a store head with no checkpoint at the anchor', (a) => { delete a.note; delete a.inclusion; }, /carries the export's store head but no store checkpoint at the anchor/],
  ];

  it.each(forged)('%s is named on the anchor line, and no head anchors the file', (_name, edit, problem) => {
    const bad = withAnchor(edit);
    const v = verify(bad);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ line: anchorAt + 1 });
    expect(v.firstBad?.problem).toMatch(/^the anchor of policy orders-db: /);
    expect(v.firstBad?.problem).toMatch(problem);
    expect(verify(bad, { anchor: links[6]!.hash }).trust?.state).toBe('failed');
  });

  it('a forger with a fresh store key cannot show the real store head as its own', () => {
    // The forger builds its own store log and export (its key listed, its manifest), then names the
    // real store head (status.chain shows it) as its store head: its link, checkpoint and proofs.
    const forger = storeWithHead();
    const real = links[6]!;
    const file = exportOf(forger.store, [A]).map((l) => structuredClone(l) as Line);
    const a = file[anchorAt] as unknown as AnchorLine;
    // Its own checkpoint over a tree whose last leaf is the real head, consistent with its own anchor.
    const leaves = forger.links.slice(0, 6).map((l) => leafHashOfHex(l.hash));
    const forgedTree = new MerkleTree([...leaves, leafHashOfHex(real.hash)]);
    const note = signCheckpoint({ origin: `store/${NS}/${POLICY}`, size: 7, rootHash: forgedTree.root(), time: '2026-11-01T00:00:07.000Z' }, forger.store.key);
    const hex = (hs: Buffer[]): string[] => hs.map((h) => h.toString('hex'));
    a.store = { records: 7, head: real.hash, link: real, root: forgedTree.root().toString('hex'), note, inclusion: hex(forgedTree.inclusionProof(6, 7)), consistency: hex(forgedTree.consistencyProof(3, 7)) };
    const v = verify(file, { anchor: real.hash });
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/store head \(#7\): its store link was made with store key .*which the export does not list/);
    expect(v.trust?.state).toBe('failed');
    // With the real store key listed too, the real link names it, not the key that signed the manifest.
    const both = [...file.slice(0, 2), store.keyLine as unknown as Line, ...file.slice(2)];
    const w = verify(both, { anchor: real.hash });
    expect(w.ok).toBe(false);
    expect(w.problems.map((p) => p.problem).join('\n')).toMatch(/store head \(#7\): its store checkpoint|no anchor of the export signed by its store key/);
    expect(verify(both, { policyAnchor: { policy: POLICY, records: 7, head: real.hash } }).trust?.state).toBe('failed');
  });

  describe('a head anchored after the export, with the operator\'s proof that the store log grew to it', () => {
    const hex = (hs: Buffer[]): string[] => hs.map((h) => h.toString('hex'));
    /** What GET .../chain/proof?from=7&to=10 answers (store-reads.ts storeProof). */
    const proof = (): StoreProof => ({
      policy: POLICY, from: 7, records: 10, head: links[9]!.hash, link: links[9]!, root: tree.root(10).toString('hex'), note: notes.get(10)!,
      inclusion: hex(tree.inclusionProof(9, 10)), consistency: hex(tree.consistencyProof(7, 10)),
    });
    const status = { policy: POLICY, records: 10, head: links[9]!.hash };

    it('anchors the file, and says through what', () => {
      const v = verify(lines, { policyAnchor: { ...status, proof: proof() } });
      expect(v.problems).toEqual([]);
      expect(v.trust).toMatchObject({ state: 'partly-anchored', grown: { policy: POLICY, from: 7, records: 10 } });
      // Without it, the newer head is named as newer than the export.
      expect(verify(lines, { policyAnchor: status }).firstBad?.problem).toMatch(/the AccessPolicy's head is newer than the export/);
    });

    const bad: [string, (p: StoreProof) => void, RegExp][] = [
      ['starting elsewhere than the file\'s store head', (p) => { p.from = 3; p.consistency = hex(tree.consistencyProof(3, 10)); }, /does not start at the export's store head \(#7\)/],
      ['for another head', (p) => { p.records = 9; p.head = links[8]!.hash; p.link = links[8]!; }, /is not for AccessPolicy orders-db's head \(#10/],
      ['with an altered consistency proof', (p) => { p.consistency[0] = 'ab'.repeat(32); }, /not consistent with .*#7.*the export and the cluster's head are not one store log/],
      ['with the head not its checkpoint\'s last leaf', (p) => { p.inclusion = hex(tree.inclusionProof(8, 10)); }, /its head is not the last leaf of its store checkpoint/],
      ['with a checkpoint of another key', (p) => { p.note = signCheckpoint({ origin: `store/${NS}/${POLICY}`, size: 10, rootHash: tree.root(10), time: '2026-11-01T00:00:10.000Z' }, generateSigningKey()); }, /its store checkpoint/],
      ['with a checkpoint of another root', (p) => { p.root = tree.root(9).toString('hex'); }, /the store checkpoint's root is not the one named/],
    ];

    it('an answer that is not a proof fails, naming it', () => {
      const v = verify(lines, { policyAnchor: { ...status, proof: null as unknown as StoreProof } });
      expect(v.firstBad?.problem).toMatch(/the operator's answer is not a store-log proof/);
    });

    it.each(bad)('%s fails, naming it', (_name, edit, problem) => {
      const p = proof();
      edit(p);
      const v = verify(lines, { policyAnchor: { ...status, proof: p } });
      expect(v.ok).toBe(false);
      expect(v.trust?.state).toBe('failed');
      expect(v.firstBad?.problem).toMatch(problem);
    });

    it('cannot anchor a file re-signed with another store key: the real head names the real key', () => {
      const forger = storeWithHead();
      const forged = exportOf(forger.store, [A]);
      // The real operator's proof, or one the forger makes over its own log ending in the real head's link.
      const v = verify(forged, { policyAnchor: { ...status, proof: proof() } });
      expect(v.ok).toBe(false);
      expect(v.firstBad?.problem).toMatch(/does not start at the export's store head|is not for .* made with the store key that signed the export/);
      const own: StoreProof = { ...proof(), root: forger.tree.root(10).toString('hex'), note: forger.notes.get(10)!, consistency: hex(forger.tree.consistencyProof(7, 10)) };
      expect(verify(forged, { policyAnchor: { ...status, proof: own } }).firstBad?.problem).toMatch(/made with the store key that signed the export/);
    });
  });

  it('an anchor without one (exports before it) verifies as before', () => {
    const old = withAnchor((a) => { delete a.store; });
    expect(verify(old, { anchor: links[2]!.hash }).problems).toEqual([]);
    expect(verify(old, { anchor: links[6]!.hash }).ok).toBe(false);
  });
});
