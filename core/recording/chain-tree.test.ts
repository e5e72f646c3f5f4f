import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { ChainTree, parseFrontier, recordLeaf } from './chain-tree.ts';
import { leafHashOfHex, MerkleAppender, rootOf } from './merkle.ts';

const hashes = Array.from({ length: 140 }, (_, i) => createHash('sha256').update(`record ${i}`).digest('hex'));

describe('ChainTree (the writers\' hex-string appender)', () => {
  it('has merkle.ts\'s root and compact range at every size from 0 to 140', () => {
    const tree = ChainTree.empty();
    const reference = new MerkleAppender();
    for (let n = 0; n <= hashes.length; n++) {
      expect(tree.size).toBe(n);
      expect(tree.root().equals(rootOf(hashes.slice(0, n).map(leafHashOfHex)))).toBe(true);
      expect(tree.rootHex()).toBe(reference.root().toString('hex'));
      expect(tree.frontier()).toEqual(reference.compactRange().map((h) => h.toString('hex')));
      if (n < hashes.length) {
        tree.append(hashes[n]!);
        reference.append(leafHashOfHex(hashes[n]!));
      }
    }
  });

  it('resumes from a stored frontier at any size and ends at the same root as a tree built from genesis', () => {
    const whole = ChainTree.empty();
    for (const h of hashes) whole.append(h);
    for (const at of [0, 1, 2, 3, 7, 8, 63, 64, 100, 139]) {
      const prefix = ChainTree.empty();
      for (const h of hashes.slice(0, at)) prefix.append(h);
      const resumed = ChainTree.resume(at, prefix.frontier());
      for (const h of hashes.slice(at)) resumed.append(h);
      expect(resumed.rootHex()).toBe(whole.rootHex());
    }
  });

  it('a clone is independent of its original (a refused batch leaves the chain\'s tree as it was)', () => {
    const tree = ChainTree.empty();
    for (const h of hashes.slice(0, 5)) tree.append(h);
    const before = tree.rootHex();
    const copy = tree.clone();
    copy.append(hashes[5]!);
    expect(tree.rootHex()).toBe(before);
    expect(tree.size).toBe(5);
    expect(copy.size).toBe(6);
  });

  it('refuses a malformed frontier or leaf, naming it', () => {
    expect(() => ChainTree.resume(3, ['a'.repeat(64)])).toThrow('tree frontier at size 3 must hold 2 hash(es)');
    expect(() => ChainTree.resume(2, ['A'.repeat(64)])).toThrow('64-hex-digit hashes');
    expect(() => ChainTree.resume(-1, [])).toThrow('non-negative integer');
    expect(() => parseFrontier(1, 'x')).toThrow('64-hex-digit hashes');
    const tree = ChainTree.empty();
    for (const bad of ['abc', 'zz'.repeat(32), `${'a'.repeat(62)}g0`, 'a'.repeat(66)]) expect(() => tree.append(bad)).toThrow('64 hex digits');
    expect(tree.size).toBe(0);
    expect(recordLeaf(hashes[0]!).equals(leafHashOfHex(hashes[0]!))).toBe(true);
  });
});
