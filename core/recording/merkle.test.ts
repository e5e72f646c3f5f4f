// RFC 6962 / RFC 9162 tree hashing and proofs: the Certificate Transparency reference vectors
// (google/certificate-transparency merkle_tree_test, the same ones transparency-dev/merkle uses),
// then every index and size up to 64 against a naive implementation of RFC 6962 §2.1, and every
// tampered proof refused.
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import {
  consistencyProof, decompose, EMPTY_ROOT, inclusionProof, leafHash, leafHashOfHex, MerkleAppender, MerkleTree, nodeHash, rootFromInclusionProof,
  rootOf, verifyConsistency, verifyInclusion, verifyRange,
} from './merkle.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Buffer => Buffer.from(s, 'hex');

const CT_ENTRIES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(unhex);
const CT_LEAVES = CT_ENTRIES.map((e) => leafHash(e));
const CT_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
/** [leaf index (0-based), tree size, audit path]. */
const CT_INCLUSION: [number, number, string[]][] = [
  [0, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [5, 8, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [1, 5, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
];
/** [size1, size2, proof]. */
const CT_CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
];

// ---- a naive RFC 6962 §2.1, written from the definitions and nothing else -------------------------

function k(n: number): number {
  let x = 1;
  while (x * 2 < n) x *= 2;
  return x;
}
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return createHash('sha256').digest();
  if (d.length === 1) return d[0] as Buffer;
  const s = k(d.length);
  return nodeHash(mth(d.slice(0, s)), mth(d.slice(s)));
}
function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const s = k(d.length);
  return m < s ? [...path(m, d.slice(0, s)), mth(d.slice(s))] : [...path(m - s, d.slice(s)), mth(d.slice(0, s))];
}
function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const s = k(d.length);
  return m <= s ? [...subproof(m, d.slice(0, s), b), mth(d.slice(s))] : [...subproof(m - s, d.slice(s), false), mth(d.slice(0, s))];
}

const MAX = 64;
const LEAVES = Array.from({ length: MAX }, (_, i) => leafHash(`leaf ${i}`));
const ROOTS = Array.from({ length: MAX + 1 }, (_, n) => mth(LEAVES.slice(0, n)));
const TREE = new MerkleTree(LEAVES);

function flip(b: Buffer, byte = 0): Buffer {
  const c = Buffer.from(b);
  c[byte] = (c[byte] as number) ^ 1;
  return c;
}

/** Every way to tamper with one element of a proof: each altered in turn. */
function eachAltered(proof: readonly Buffer[]): Buffer[][] {
  return proof.map((_, i) => proof.map((p, j) => (j === i ? flip(p) : p)));
}

function checkInclusion(m: number, n: number): void {
  const root = ROOTS[n] as Buffer;
  const proof = TREE.inclusionProof(m, n);
  expect(proof.map(hex)).toEqual(path(m, LEAVES.slice(0, n)).map(hex));
  const leaf = LEAVES[m] as Buffer;
  expect(verifyInclusion(m, n, leaf, proof, root)).toBe(true);
  expect(rootFromInclusionProof(m, n, leaf, proof)?.equals(root)).toBe(true);
  // Every tampering: a proof element altered, dropped, added or swapped; another leaf, index or
  // tree size; another root.
  for (const bad of eachAltered(proof)) expect(verifyInclusion(m, n, leaf, bad, root)).toBe(false);
  if (proof.length > 0) expect(verifyInclusion(m, n, leaf, proof.slice(0, -1), root)).toBe(false);
  expect(verifyInclusion(m, n, leaf, [...proof, leaf], root)).toBe(false);
  if (proof.length > 1) expect(verifyInclusion(m, n, leaf, [proof[1] as Buffer, proof[0] as Buffer, ...proof.slice(2)], root)).toBe(false);
  expect(verifyInclusion(m, n, flip(leaf, 31), proof, root)).toBe(false);
  if (n > 1) expect(verifyInclusion((m + 1) % n, n, leaf, proof, root)).toBe(false);
  // A proof for another tree size, against that size's root (the checkpoint binds size and root).
  if (n < MAX) expect(verifyInclusion(m, n + 1, leaf, proof, ROOTS[n + 1] as Buffer)).toBe(false);
  if (m < n - 1) expect(verifyInclusion(m, n - 1, leaf, proof, ROOTS[n - 1] as Buffer)).toBe(false);
  expect(verifyInclusion(m, n, leaf, proof, flip(root))).toBe(false);
}

function checkConsistency(m: number, n: number): void {
  const proof = TREE.consistencyProof(m, n);
  expect(proof.map(hex)).toEqual(m === n ? [] : subproof(m, LEAVES.slice(0, n), true).map(hex));
  const r1 = ROOTS[m] as Buffer;
  const r2 = ROOTS[n] as Buffer;
  expect(verifyConsistency(m, n, r1, r2, proof)).toBe(true);
  for (const bad of eachAltered(proof)) expect(verifyConsistency(m, n, r1, r2, bad)).toBe(false);
  if (proof.length > 0) expect(verifyConsistency(m, n, r1, r2, proof.slice(0, -1))).toBe(false);
  expect(verifyConsistency(m, n, r1, r2, [...proof, r1])).toBe(false);
  expect(verifyConsistency(m, n, flip(r1), r2, proof)).toBe(false);
  expect(verifyConsistency(m, n, r1, flip(r2), proof)).toBe(false);
  if (m === n) return;
  expect(verifyConsistency(m, n - 1, r1, ROOTS[n - 1] as Buffer, proof)).toBe(false);
  if (m > 1) expect(verifyConsistency(m - 1, n, ROOTS[m - 1] as Buffer, r2, proof)).toBe(false);
  expect(verifyConsistency(m, n, r1, r2, [])).toBe(false);
  // A fork: the second tree differs in one leaf of the first tree's range.
  const forked = mth(LEAVES.slice(0, n).map((l, i) => (i === m - 1 ? flip(l) : l)));
  expect(verifyConsistency(m, n, r1, forked, proof)).toBe(false);
}

function checkRange(from: number, to: number, n: number): void {
  const root = ROOTS[n] as Buffer;
  const proof = TREE.rangeProof(from, to, n);
  const run = LEAVES.slice(from, to);
  expect(verifyRange(from, n, run, proof, root)).toBe(true);
  expect(verifyRange(from, n, run.map((l, i) => (i === run.length - 1 ? flip(l) : l)), proof, root)).toBe(false);
  if (run.length > 1) expect(verifyRange(from, n, run.slice(1), proof, root)).toBe(false);
  if (run.length > 1) expect(verifyRange(from, n, [run[1] as Buffer, run[0] as Buffer, ...run.slice(2)], proof, root)).toBe(false);
  for (const left of eachAltered(proof.left)) expect(verifyRange(from, n, run, { ...proof, left }, root)).toBe(false);
  for (const right of eachAltered(proof.right)) expect(verifyRange(from, n, run, { ...proof, right }, root)).toBe(false);
  if (proof.right.length > 0) expect(verifyRange(from, n, run, { ...proof, right: proof.right.slice(1) }, root)).toBe(false);
  expect(verifyRange(from, n + 1, run, proof, ROOTS[n + 1] as Buffer)).toBe(false);
  if (from > 0) expect(verifyRange(from - 1, n, run, proof, root)).toBe(false);
}

describe('RFC 6962 reference vectors', () => {
  it('leaf and node hashes are domain separated', () => {
    expect(hex(leafHash(Buffer.alloc(0)))).toBe(CT_ROOTS[1]);
    expect(hex(EMPTY_ROOT)).toBe(CT_ROOTS[0]);
    expect(nodeHash(CT_LEAVES[0] as Buffer, CT_LEAVES[1] as Buffer).equals(createHash('sha256').update(Buffer.concat([Buffer.from([1]), CT_LEAVES[0] as Buffer, CT_LEAVES[1] as Buffer])).digest())).toBe(true);
    expect(leafHash('a').equals(createHash('sha256').update(Buffer.from([0, 0x61])).digest())).toBe(true);
  });

  it('tree heads for sizes 0..8, by list, by appender and by tree', () => {
    const a = new MerkleAppender();
    const t = new MerkleTree(CT_LEAVES);
    for (let n = 0; n <= 8; n++) {
      expect(hex(rootOf(CT_LEAVES.slice(0, n)))).toBe(CT_ROOTS[n]);
      expect(hex(a.root())).toBe(CT_ROOTS[n]);
      expect(hex(t.root(n))).toBe(CT_ROOTS[n]);
      if (n < 8) a.append(CT_LEAVES[n] as Buffer);
    }
  });

  it.each(CT_INCLUSION)('inclusion proof of leaf %i in a tree of %i', (index, size, proof) => {
    expect(inclusionProof(index, CT_LEAVES.slice(0, size)).map(hex)).toEqual(proof);
    expect(verifyInclusion(index, size, CT_LEAVES[index] as Buffer, proof.map(unhex), unhex(CT_ROOTS[size] as string))).toBe(true);
  });

  it.each(CT_CONSISTENCY)('consistency proof from %i to %i', (size1, size2, proof) => {
    expect(consistencyProof(size1, CT_LEAVES.slice(0, size2)).map(hex)).toEqual(proof);
    expect(verifyConsistency(size1, size2, unhex(CT_ROOTS[size1] as string), unhex(CT_ROOTS[size2] as string), proof.map(unhex))).toBe(true);
  });
});

describe('against the definitions, every index and size up to 64', () => {
  it('roots: appender, resumed appender and tree agree with MTH', () => {
    const a = new MerkleAppender();
    for (let n = 0; n <= MAX; n++) {
      expect(a.root().equals(ROOTS[n] as Buffer)).toBe(true);
      expect(TREE.root(n).equals(ROOTS[n] as Buffer)).toBe(true);
      const resumed = MerkleAppender.resume(n, a.compactRange());
      for (let i = n; i < Math.min(MAX, n + 5); i++) resumed.append(LEAVES[i] as Buffer);
      expect(resumed.root().equals(ROOTS[Math.min(MAX, n + 5)] as Buffer)).toBe(true);
      if (n < MAX) a.append(LEAVES[n] as Buffer);
    }
  });

  it('inclusion proofs equal PATH(m, D[n]), verify, and fail once tampered', () => {
    for (let n = 1; n <= MAX; n++) {
      for (let m = 0; m < n; m++) checkInclusion(m, n);
      expect(verifyInclusion(n, n, LEAVES[0] as Buffer, [], ROOTS[n] as Buffer)).toBe(false);
      expect(verifyInclusion(-1, n, LEAVES[0] as Buffer, [], ROOTS[n] as Buffer)).toBe(false);
    }
  });

  it('consistency proofs equal PROOF(m, D[n]), verify, and fail once tampered', () => {
    for (let n = 1; n <= MAX; n++) {
      for (let m = 1; m <= n; m++) checkConsistency(m, n);
      expect(verifyConsistency(0, n, EMPTY_ROOT, ROOTS[n] as Buffer, [])).toBe(true);
      expect(verifyConsistency(n, n - 1, ROOTS[n] as Buffer, ROOTS[n - 1] as Buffer, [])).toBe(false);
    }
  });

  it('range proofs rebuild the root from a run of leaves, and fail once tampered', () => {
    for (let n = 1; n <= 24; n++) {
      for (let from = 0; from < n; from++) {
        for (let to = from + 1; to <= n; to++) checkRange(from, to, n);
      }
    }
  });

  it('decompose covers a range with aligned perfect subtrees', () => {
    expect(decompose(0, 13)).toEqual([[0, 8], [8, 12], [12, 13]]);
    expect(decompose(5, 16)).toEqual([[5, 6], [6, 8], [8, 16]]);
    expect(decompose(3, 3)).toEqual([]);
  });

  it('refuses malformed input with a named reason', () => {
    expect(() => MerkleAppender.resume(3, [LEAVES[0] as Buffer])).toThrow(/size 3 holds 2 hash/);
    expect(() => new MerkleAppender().append(Buffer.alloc(31))).toThrow(/32-byte hash/);
    expect(() => TREE.inclusionProof(3, MAX + 1)).toThrow(/beyond the 64 leaves/);
    expect(() => TREE.consistencyProof(5, 4)).toThrow(/larger than the second/);
    const a = new MerkleAppender();
    a.append(LEAVES[0] as Buffer);
    expect(() => a.appendSubtree(2, LEAVES[1] as Buffer)).toThrow(/not aligned/);
    expect(verifyInclusion(0, 1, Buffer.alloc(31), [], Buffer.alloc(32))).toBe(false);
  });
});

describe('record leaves', () => {
  it('a record leaf is the RFC 6962 leaf of its hash bytes', () => {
    const h = 'ab'.repeat(32);
    expect(leafHashOfHex(h).equals(leafHash(Buffer.from(h, 'hex')))).toBe(true);
    expect(() => leafHashOfHex('AB'.repeat(32))).toThrow(/64 lowercase hex/);
    expect(() => leafHashOfHex('ab')).toThrow(/64 lowercase hex/);
  });

  it('appendHex is append(leafHashOfHex) and refuses what leafHashOfHex refuses', () => {
    const hashes = Array.from({ length: 37 }, (_, i) => createHash('sha256').update(String(i)).digest('hex'));
    const a = new MerkleAppender();
    const b = new MerkleAppender();
    for (const h of hashes) {
      a.appendHex(h);
      b.append(leafHashOfHex(h));
      expect(a.root().equals(b.root())).toBe(true);
      expect(a.compactRange()).toEqual(b.compactRange());
    }
    for (const bad of ['AB'.repeat(32), 'ab', `${'ab'.repeat(31)}zz`, `${'ab'.repeat(32)}0`]) {
      expect(() => a.appendHex(bad)).toThrow(/64 lowercase hex/);
    }
    expect(a.size).toBe(37);
  });

  it('hashes of 32-byte inputs (assembled in a reused buffer) are the definitions, and independent of one another', () => {
    const sha = (...parts: Uint8Array[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();
    const a = Buffer.alloc(32, 0xaa);
    const b = Buffer.alloc(32, 0xbb);
    const leafA = leafHash(a);
    const node = nodeHash(a, b);
    const leafB = leafHash(b);
    const again = nodeHash(b, a);
    expect(leafA.equals(sha(Buffer.from([0]), a))).toBe(true);
    expect(leafB.equals(sha(Buffer.from([0]), b))).toBe(true);
    expect(node.equals(sha(Buffer.from([1]), a, b))).toBe(true);
    expect(again.equals(sha(Buffer.from([1]), b, a))).toBe(true);
    expect(leafHashOfHex(a.toString('hex')).equals(leafA)).toBe(true);
    // Other lengths take the general path and give the same definitions.
    expect(leafHash(Buffer.alloc(31, 1)).equals(sha(Buffer.from([0]), Buffer.alloc(31, 1)))).toBe(true);
    expect(nodeHash(Buffer.alloc(33, 2), a).equals(sha(Buffer.from([1]), Buffer.alloc(33, 2), a))).toBe(true);
  });
});

describe('a tree resumed from a compact range', () => {
  it('builds the same roots and proofs for leaves after the resume point, for every start and size up to 40', () => {
    for (let start = 0; start <= 40; start++) {
      const a = new MerkleAppender();
      for (let i = 0; i < start; i++) a.append(LEAVES[i] as Buffer);
      const t = MerkleTree.resume(start, a.compactRange());
      for (let i = start; i < 40; i++) t.append(LEAVES[i] as Buffer);
      checkResumed(t, start);
    }
  });

  it('refuses what needs a leaf before the resume point', () => {
    const a = new MerkleAppender();
    for (let i = 0; i < 5; i++) a.append(LEAVES[i] as Buffer);
    const t = MerkleTree.resume(5, a.compactRange());
    t.append(LEAVES[5] as Buffer);
    expect(() => t.inclusionProof(2, 6)).toThrow(/not held/);
  });
});

function checkResumed(t: MerkleTree, start: number): void {
  for (let n = Math.max(1, start); n <= 40; n++) {
    expect(t.root(n).equals(TREE.root(n))).toBe(true);
    for (let from = start; from < n; from += 3) {
      expect(t.rangeProof(from, n, n)).toEqual(TREE.rangeProof(from, n, n));
      expect(t.inclusionProof(from, n).map(hex)).toEqual(TREE.inclusionProof(from, n).map(hex));
    }
    if (start > 0 && n > start) expect(t.consistencyProof(start, n).map(hex)).toEqual(TREE.consistencyProof(start, n).map(hex));
  }
}
