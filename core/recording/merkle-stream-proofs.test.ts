// The streaming prover against MerkleTree (which holds every node): the same RFC 9162 paths for
// every chosen leaf, at every tree size up to 70 and at sizes around powers of two, from genesis
// and resumed after a cut; and the misuse it refuses.
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { MerkleAppender, MerkleTree, verifyInclusion } from './merkle.ts';
import { StreamingInclusionProofs } from './merkle-stream-proofs.ts';

const leaf = (i: number): Buffer => createHash('sha256').update(`leaf ${i}`).digest();

function streamed(size: number, chosen: ReadonlySet<number>, cut = 0): Map<number, Buffer[]> {
  const before = new MerkleAppender();
  for (let i = 0; i < cut; i++) before.append(leaf(i));
  const p = new StreamingInclusionProofs(size, { size: cut, compactRange: before.compactRange() });
  for (let i = cut; i < size; i++) {
    if (chosen.has(i)) p.chooseNext();
    p.append(leaf(i));
  }
  return p.proofs();
}

describe('StreamingInclusionProofs', () => {
  it('gives MerkleTree\'s path for every leaf of every tree up to 70 leaves', () => {
    for (let size = 1; size <= 70; size++) {
      const tree = new MerkleTree(Array.from({ length: size }, (_, i) => leaf(i)));
      const all = new Set(Array.from({ length: size }, (_, i) => i));
      const proofs = streamed(size, all);
      for (let i = 0; i < size; i++) expect([size, i, proofs.get(i)]).toEqual([size, i, tree.inclusionProof(i, size)]);
    }
  });

  it.each([127, 128, 129, 1000, 1024, 1025, 4097])('size %i, a few leaves chosen, from genesis and after a cut', (size) => {
    const tree = new MerkleTree(Array.from({ length: size }, (_, i) => leaf(i)));
    for (const cut of [0, 1, 63, Math.floor(size / 2)]) {
      const chosen = new Set([cut, cut + 1, Math.floor((cut + size) / 2), size - 2, size - 1].filter((i) => i >= cut && i < size));
      const proofs = streamed(size, chosen, cut);
      for (const i of chosen) {
        expect([cut, i, proofs.get(i)]).toEqual([cut, i, tree.inclusionProof(i, size)]);
        expect(verifyInclusion(i, size, leaf(i), proofs.get(i) as Buffer[], tree.root())).toBe(true);
      }
    }
  });

  it('refuses proofs before every leaf is in, leaves past the size, and a start that does not fit', () => {
    const p = new StreamingInclusionProofs(2);
    p.append(leaf(0));
    expect(() => p.proofs()).toThrow(/holds 1 of its 2 leaves/);
    p.append(leaf(1));
    expect(() => p.append(leaf(2))).toThrow(/holds 2 leaves/);
    expect(() => p.chooseNext()).toThrow(/outside a tree of size 2/);
    expect(() => new StreamingInclusionProofs(9, { size: 3, compactRange: [leaf(0)] })).toThrow(/does not cover 3 leaves/);
  });
});
