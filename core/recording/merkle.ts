// The Merkle tree of a recording log (RFC 6962 §2.1, RFC 9162 §2.1): leaves and interior nodes are
// hashed with domain separation (leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right)),
// so a leaf can never be passed off as a node and a proof cannot be replayed one level up or down.
// Pure: the sidecar (appender), the operator (appender, proofs) and every verifier share it.
//
// Hashes are 32-byte Buffers. Indexes are 0-based leaf indexes, sizes leaf counts, both at most
// Number.MAX_SAFE_INTEGER (bit arithmetic below uses Math, not 32-bit operators, for that reason).
import { createHash, hash } from 'node:crypto';

export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** MTH({}) = SHA-256 of the empty string: the root of an empty tree. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

// A verifier hashes a leaf and about one node per record, so these are written for speed: the
// prefixed input is assembled in a reusable buffer (hash() reads it synchronously, before anything
// else can touch it) and the digest comes back as a binary (latin1) string turned into a Buffer, which costs
// about a third of asking hash() for a Buffer.
const LEAF_INPUT = Buffer.alloc(1 + HASH_SIZE, 0x00);
const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_SIZE, 0x01);

function sha256(data: Uint8Array): Buffer {
  return Buffer.from(hash('sha256', data, 'binary'), 'binary');
}

/** The leaf hash of an entry: SHA-256(0x00 ‖ data). Strings are hashed as UTF-8. */
export function leafHash(data: Uint8Array | string): Buffer {
  if (typeof data !== 'string' && data.length === HASH_SIZE) {
    LEAF_INPUT.set(data, 1);
    return sha256(LEAF_INPUT);
  }
  return sha256(Buffer.concat([LEAF_PREFIX, typeof data === 'string' ? Buffer.from(data) : data]));
}

/**
 * The leaf hash of a record or store link: its leaves are the 32 bytes of its `hash` (hex), so
 * leaf = SHA-256(0x00 ‖ bytes(hash)). Throws on anything but 64 lowercase hex digits.
 */
export function leafHashOfHex(hashHex: string): Buffer {
  checkHexHash(hashHex);
  return sha256(LEAF_INPUT);
}

/** Checks a record hash is 64 lowercase hex digits and leaves its bytes in LEAF_INPUT after 0x00. */
function checkHexHash(hashHex: string): void {
  // Decoding stops at the first character that is not hex; writing the bytes back as (lowercase)
  // hex and comparing also refuses uppercase: cheaper than a regular expression, once per record.
  const ok = typeof hashHex === 'string' && hashHex.length === 2 * HASH_SIZE && LEAF_INPUT.write(hashHex, 1, HASH_SIZE, 'hex') === HASH_SIZE && LEAF_INPUT.toString('hex', 1) === hashHex;
  if (!ok) throw new RangeError(`a record hash is 64 lowercase hex digits (got '${String(hashHex).slice(0, 70)}')`);
}

/** An interior node: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
    NODE_INPUT.set(left, 1);
    NODE_INPUT.set(right, 1 + HASH_SIZE);
    return sha256(NODE_INPUT);
  }
  return sha256(Buffer.concat([NODE_PREFIX, left, right]));
}

function checkSize(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer (got ${n})`);
}

function checkHash(what: string, h: Uint8Array): void {
  if (h.length !== HASH_SIZE) throw new RangeError(`${what} must be a ${HASH_SIZE}-byte hash (got ${h.length} bytes)`);
}

/** The largest power of two strictly smaller than n (n ≥ 2): RFC 6962's split point k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

/** The largest power of two dividing n (n > 0). */
function lowestBit(n: number): number {
  let b = 1;
  while (n % (b * 2) === 0) b *= 2;
  return b;
}

/** MTH(D[n]) of a list of leaf hashes, in O(n) time and O(log n) memory. */
export function rootOf(leafHashes: readonly Uint8Array[]): Buffer {
  const a = new MerkleAppender();
  for (const h of leafHashes) a.append(h);
  return a.root();
}

/** A hash's 32 bytes as a binary (latin1) string, one character per byte: the appender's form. */
const binOf = (h: Uint8Array): string => Buffer.from(h.buffer, h.byteOffset, h.length).toString('latin1');

/** A node hash over two binary strings, as a binary string (no Buffer made: once per record or so). */
function nodeBin(left: string, right: string): string {
  NODE_INPUT.write(left, 1, HASH_SIZE, 'latin1');
  NODE_INPUT.write(right, 1 + HASH_SIZE, HASH_SIZE, 'latin1');
  return hash('sha256', NODE_INPUT, 'binary');
}

/**
 * Appends leaf hashes one by one and gives the root at any size in O(log n) memory: it keeps only
 * the right edge of the tree (the "compact range" [0, size)), one perfect subtree hash per set bit
 * of size, largest first. Persist `compactRange()` with `size` and resume with `MerkleAppender.resume`.
 * The edge is kept as binary strings (as chain-tree.ts keeps it): a hash answered as a string and
 * copied back into the reused input costs less than one answered as a Buffer; Buffers at the API.
 */
export class MerkleAppender {
  #size: number;
  /** Roots of the perfect subtrees covering [0, size), largest (leftmost) first, as binary strings. */
  readonly #range: string[];

  constructor() {
    this.#size = 0;
    this.#range = [];
  }

  /** Continues a tree from its compact range (as `compactRange()` returned it at `size`). */
  static resume(size: number, compactRange: readonly Uint8Array[]): MerkleAppender {
    checkSize('size', size);
    const expected = popcount(size);
    if (compactRange.length !== expected) throw new RangeError(`a compact range of a tree of size ${size} holds ${expected} hash(es) (got ${compactRange.length})`);
    compactRange.forEach((h, i) => checkHash(`compact range hash ${i}`, h));
    const a = new MerkleAppender();
    a.#size = size;
    a.#range.push(...compactRange.map(binOf));
    return a;
  }

  get size(): number {
    return this.#size;
  }

  /** The perfect subtree hashes covering [0, size), largest first (copies). */
  compactRange(): Buffer[] {
    return this.#range.map((h) => Buffer.from(h, 'latin1'));
  }

  /** Appends one leaf hash (leafHash(data), not the data). */
  append(leaf: Uint8Array): void {
    checkHash('leaf hash', leaf);
    this.#appendLeaf(binOf(leaf));
  }

  /**
   * Appends the leaf of a record or store link whose `hash` is `hashHex`: append(leafHashOfHex(hashHex)),
   * without a Buffer per hash (a verifier's once-per-record path). Throws on anything but 64 lowercase hex digits.
   */
  appendHex(hashHex: string): void {
    checkHexHash(hashHex);
    this.#appendLeaf(hash('sha256', LEAF_INPUT, 'binary'));
  }

  /** appendSubtree(1, leaf) without its checks (a single leaf always fits). */
  #appendLeaf(leaf: string): void {
    let h = leaf;
    for (let n = this.#size; isOdd(n); n = half(n)) h = nodeBin(this.#range.pop() as string, h);
    this.#range.push(h);
    this.#size++;
  }

  /**
   * Appends the root of a perfect subtree of `leaves` leaves (a power of two) that starts at the
   * current size, which must be a multiple of it: how a verifier adds the right-hand side of a
   * range proof. Leaves of 1 is a plain append.
   */
  appendSubtree(leaves: number, hash: Uint8Array): void {
    checkHash('subtree hash', hash);
    if (!Number.isSafeInteger(leaves) || leaves < 1 || lowestBit(leaves) !== leaves) throw new RangeError(`a subtree holds a power of two leaves (got ${leaves})`);
    if (this.#size % leaves !== 0) throw new RangeError(`a subtree of ${leaves} leaves cannot start at leaf ${this.#size} (not aligned)`);
    if (this.#size > 0 && lowestBit(this.#size) < leaves) throw new RangeError(`a subtree of ${leaves} leaves cannot follow a smaller one at leaf ${this.#size}`);
    let h = binOf(hash);
    let width = leaves;
    let size = this.#size;
    // Merge with the equal-sized subtrees on the right edge, as binary addition carries.
    while (size % (width * 2) !== 0 && size > 0) {
      const left = this.#range.pop();
      if (left === undefined) throw new Error('compact range out of step with its size');
      h = nodeBin(left, h);
      size -= width;
      width *= 2;
    }
    this.#range.push(h);
    this.#size += leaves;
  }

  /** MTH of the leaves appended so far: the right edge folded from the right. */
  root(): Buffer {
    const last = this.#range.length - 1;
    if (last < 0) return Buffer.from(EMPTY_ROOT);
    let h = this.#range[last] as string;
    for (let i = last - 1; i >= 0; i--) h = nodeBin(this.#range[i] as string, h);
    return Buffer.from(h, 'latin1');
  }
}

function popcount(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x = half(x)) if (isOdd(x)) c++;
  return c;
}

/**
 * One level of a MerkleTree: node hashes back to back in one growing buffer (no object per node).
 * A tree resumed from a compact range knows, below `from`, only the nodes of that range (`seeded`).
 */
class Level {
  #buf = Buffer.alloc(HASH_SIZE * 64);
  readonly #from: number;
  readonly #seeded = new Map<number, Buffer>();
  count: number;

  constructor(from = 0) {
    this.#from = from;
    this.count = from;
  }

  seed(i: number, h: Buffer): void {
    this.#seeded.set(i, h);
  }

  push(h: Uint8Array): void {
    const at = this.count - this.#from;
    if ((at + 1) * HASH_SIZE > this.#buf.length) {
      const bigger = Buffer.alloc(this.#buf.length * 2);
      this.#buf.copy(bigger);
      this.#buf = bigger;
    }
    this.#buf.set(h, at * HASH_SIZE);
    this.count++;
  }

  /** A view of node i (valid until the next push: copy it to keep it), undefined when unknown. */
  at(i: number): Buffer | undefined {
    if (i < this.#from) return this.#seeded.get(i);
    return i < this.count ? this.#buf.subarray((i - this.#from) * HASH_SIZE, (i - this.#from + 1) * HASH_SIZE) : undefined;
  }
}

/**
 * A tree over leaf hashes held in memory, with every level kept, so proofs for any size up to
 * `size` cost O(log² n) hash reads instead of rehashing the leaves. What the operator builds to
 * serve proofs for an export; 64 bytes per leaf.
 */
export class MerkleTree {
  /** levels[0] = leaf hashes; levels[h] node i = root of the perfect subtree [i·2^h, (i+1)·2^h). */
  readonly #levels: Level[];

  constructor(leafHashes: readonly Uint8Array[] = []) {
    this.#levels = [new Level()];
    for (const h of leafHashes) this.append(h);
  }

  get size(): number {
    return (this.#levels[0] as Level).count;
  }

  /**
   * A tree that starts at `size` from its compact range (MerkleAppender.compactRange): leaves before
   * `size` are unknown, yet every proof about leaves from `size` on, and every root and consistency
   * proof between sizes ≥ `size`, can be built. What the operator uses after retention removed a
   * chain's first records: the frontier stored with a checkpoint stands in for them.
   */
  static resume(size: number, compactRange: readonly Uint8Array[]): MerkleTree {
    MerkleAppender.resume(size, compactRange);
    const tree = new MerkleTree();
    tree.#levels.length = 0;
    let height = 0;
    while (2 ** height <= size) {
      tree.#levels.push(new Level(Math.floor(size / 2 ** height)));
      height++;
    }
    if (tree.#levels.length === 0) tree.#levels.push(new Level());
    // The compact range holds one subtree per set bit of size, largest first.
    let i = 0;
    for (let h = height - 1; h >= 0; h--) {
      if (Math.floor(size / 2 ** h) % 2 === 1) (tree.#levels[h] as Level).seed(Math.floor(size / 2 ** h) - 1, Buffer.from(compactRange[i++] as Uint8Array));
    }
    return tree;
  }

  append(leaf: Uint8Array): void {
    checkHash('leaf hash', leaf);
    let h: Buffer = Buffer.from(leaf);
    let level = 0;
    for (;;) {
      const row = this.#levels[level] ?? new Level();
      this.#levels[level] = row;
      row.push(h);
      if (isOdd(row.count)) return;
      h = nodeHash(row.at(row.count - 2) as Buffer, h);
      level++;
    }
  }

  leaf(index: number): Buffer {
    const h = this.#levels[0]?.at(index);
    if (h === undefined) throw new RangeError(`leaf ${index} is outside the tree (size ${this.size})`);
    return Buffer.from(h);
  }

  /** MTH(D[lo:hi]): a stored node when the range is a perfect aligned subtree, else split as RFC 6962 does. */
  #range(lo: number, hi: number): Buffer {
    const n = hi - lo;
    if (lowestBit(n) === n && lo % n === 0) {
      const stored = this.#levels[Math.log2(n)]?.at(lo / n);
      if (stored !== undefined) return stored;
      if (n === 1) throw new RangeError(`leaf ${lo} is not held (the tree was resumed after it)`);
    }
    const k = splitPoint(n);
    return nodeHash(this.#range(lo, lo + k), this.#range(lo + k, hi));
  }

  #checkTreeSize(size: number): void {
    checkSize('tree size', size);
    if (size > this.size) throw new RangeError(`tree size ${size} is beyond the ${this.size} leaves held`);
  }

  /** The root at `size` (default: all leaves). */
  root(size: number = this.size): Buffer {
    this.#checkTreeSize(size);
    return size === 0 ? Buffer.from(EMPTY_ROOT) : Buffer.from(this.#range(0, size));
  }

  /** PATH(index, D[size]) of RFC 6962 §2.1.1: the audit path of leaf `index` in the tree of `size`. */
  inclusionProof(index: number, size: number = this.size): Buffer[] {
    this.#checkTreeSize(size);
    checkSize('leaf index', index);
    if (index >= size) throw new RangeError(`leaf index ${index} is outside a tree of size ${size}`);
    const path: Buffer[] = [];
    let lo = 0;
    let hi = size;
    let m = index;
    while (hi - lo > 1) {
      const k = splitPoint(hi - lo);
      if (m < k) {
        path.push(this.#range(lo + k, hi));
        hi = lo + k;
      } else {
        path.push(this.#range(lo, lo + k));
        lo += k;
        m -= k;
      }
    }
    return path.reverse().map((h) => Buffer.from(h));
  }

  /** PROOF(size1, D[size2]) of RFC 6962 §2.1.2: that the tree of size1 is a prefix of the tree of size2. */
  consistencyProof(size1: number, size2: number = this.size): Buffer[] {
    this.#checkTreeSize(size2);
    checkSize('first tree size', size1);
    if (size1 > size2) throw new RangeError(`first tree size ${size1} is larger than the second (${size2})`);
    if (size1 === 0 || size1 === size2) return [];
    const proof: Buffer[] = [];
    this.#subproof(size1, 0, size2, true, proof);
    return proof.map((h) => Buffer.from(h));
  }

  /** SUBPROOF(m, D[lo:hi], b), collected in the order RFC 6962 lists it. */
  #subproof(m: number, lo: number, hi: number, complete: boolean, out: Buffer[]): void {
    const n = hi - lo;
    if (m === n) {
      if (!complete) out.push(this.#range(lo, hi));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.#subproof(m, lo, lo + k, complete, out);
      out.push(this.#range(lo + k, hi));
    } else {
      this.#subproof(m - k, lo + k, hi, false, out);
      out.push(this.#range(lo, lo + k));
    }
  }

  /**
   * A range proof for leaves [from, to) in the tree of `size`: the compact ranges [0, from) and
   * [to, size) (perfect subtree hashes, largest first on the left, in leaf order on the right).
   * With the leaves themselves it rebuilds the root (verifyRange): one proof for a run of records.
   */
  rangeProof(from: number, to: number, size: number = this.size): RangeProof {
    this.#checkTreeSize(size);
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from >= to || to > size) throw new RangeError(`leaf range [${from}, ${to}) is not a non-empty range inside a tree of size ${size}`);
    return {
      left: decompose(0, from).map(([lo, hi]) => Buffer.from(this.#range(lo, hi))),
      right: decompose(to, size).map(([lo, hi]) => Buffer.from(this.#range(lo, hi))),
    };
  }
}

/**
 * The perfect aligned subtrees covering [lo, hi), in leaf order: each as large as its start's
 * alignment and the remaining length allow. A compact range is this decomposition's hashes.
 */
export function decompose(lo: number, hi: number): [number, number][] {
  checkSize('range start', lo);
  checkSize('range end', hi);
  if (lo > hi) throw new RangeError(`range [${lo}, ${hi}) is reversed`);
  const out: [number, number][] = [];
  let at = lo;
  while (at < hi) {
    let width = at === 0 ? 2 ** 52 : lowestBit(at);
    while (width > hi - at) width /= 2;
    out.push([at, at + width]);
    at += width;
  }
  return out;
}

/** Hashes outside a run of leaves that, with the run's leaf hashes, rebuild the root. */
export interface RangeProof { left: Buffer[]; right: Buffer[] }

/**
 * The root that leaves [from, from + leaves.length) rebuild with a range proof, in a tree of
 * `size`. Throws RangeError when the proof cannot belong to such a tree (wrong number of hashes).
 */
export function rootFromRange(from: number, size: number, leaves: readonly Uint8Array[], proof: RangeProof): Buffer {
  const to = from + leaves.length;
  checkSize('tree size', size);
  if (leaves.length === 0 || to > size) throw new RangeError(`leaf range [${from}, ${to}) is not a non-empty range inside a tree of size ${size}`);
  const rightShape = decompose(to, size);
  if (proof.left.length !== popcount(from)) throw new RangeError(`a range starting at leaf ${from} needs ${popcount(from)} left hash(es) (got ${proof.left.length})`);
  if (proof.right.length !== rightShape.length) throw new RangeError(`a range ending at leaf ${to} of a tree of size ${size} needs ${rightShape.length} right hash(es) (got ${proof.right.length})`);
  const a = MerkleAppender.resume(from, proof.left);
  for (const leaf of leaves) a.append(leaf);
  rightShape.forEach(([lo, hi], i) => a.appendSubtree(hi - lo, proof.right[i] as Buffer));
  return a.root();
}

export function verifyRange(from: number, size: number, leaves: readonly Uint8Array[], proof: RangeProof, root: Uint8Array): boolean {
  try {
    return rootFromRange(from, size, leaves, proof).equals(root);
  } catch (err) {
    if (err instanceof RangeError) return false;
    throw err;
  }
}

/** The audit path of leaf `index` in the tree of all `leafHashes` (size = their count). */
export function inclusionProof(index: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  return new MerkleTree(leafHashes).inclusionProof(index);
}

/** The consistency proof from size1 to the tree of all `leafHashes`. */
export function consistencyProof(size1: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  return new MerkleTree(leafHashes).consistencyProof(size1);
}

/** Where RFC 9162's proof walk stands: fn the node index on the path, sn the last index of its level. */
interface Walk { fn: number; sn: number }

function shift(w: Walk): void {
  w.fn = half(w.fn);
  w.sn = half(w.sn);
}

/** One step of the RFC 9162 §2.1.3.2 walk: whether the next proof hash is the left sibling; advances. */
function siblingOnLeft(w: Walk): boolean {
  if (isOdd(w.fn) || w.fn === w.sn) {
    // On the right edge of a level, skip the levels where the node has no sibling.
    while (!isOdd(w.fn) && w.fn !== 0) shift(w);
    shift(w);
    return true;
  }
  shift(w);
  return false;
}

function allHashes(hashes: readonly Uint8Array[]): boolean {
  return hashes.every((h) => h.length === HASH_SIZE);
}

/**
 * The root an audit path leads to (RFC 9162 §2.1.3.2), or undefined when the path cannot belong
 * to leaf `index` of a tree of `size` (index out of range, a hash of the wrong length, too few or
 * too many hashes).
 */
export function rootFromInclusionProof(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Buffer | undefined {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return undefined;
  if (!allHashes([leaf, ...proof])) return undefined;
  const w: Walk = { fn: index, sn: size - 1 };
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (w.sn === 0) return undefined;
    r = siblingOnLeft(w) ? nodeHash(p, r) : nodeHash(r, p);
  }
  return w.sn === 0 ? r : undefined;
}

/** RFC 9162 §2.1.3.2: leaf `index` with hash `leaf` is in the tree of `size` whose root is `root`. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  const r = rootFromInclusionProof(index, size, leaf, proof);
  return r !== undefined && r.equals(root);
}

/** The cases of RFC 9162 §2.1.4.2 decided before any hashing: a verdict, or undefined to walk. */
function trivialConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean | undefined {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < size1) return false;
  if (!allHashes([root1, root2, ...proof])) return false;
  if (size1 === size2) return proof.length === 0 && Buffer.from(root1).equals(root2);
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  return undefined;
}

/**
 * RFC 9162 §2.1.4.2: the tree of size1 with root1 is a prefix of the tree of size2 with root2.
 * Equal sizes need an empty proof and equal roots; size1 = 0 is consistent with anything (empty proof).
 */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean {
  const trivial = trivialConsistency(size1, size2, root1, root2, proof);
  if (trivial !== undefined) return trivial;
  // If size1 is an exact power of two, the first tree's root is a node of the second: prepend it.
  const path = lowestBit(size1) === size1 ? [root1, ...proof] : [...proof];
  const w: Walk = { fn: size1 - 1, sn: size2 - 1 };
  while (isOdd(w.fn)) shift(w);
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = fr;
  for (const c of path.slice(1)) {
    if (w.sn === 0) return false;
    if (siblingOnLeft(w)) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
    } else {
      sr = nodeHash(sr, c);
    }
  }
  return w.sn === 0 && fr.equals(root1) && sr.equals(root2);
}
