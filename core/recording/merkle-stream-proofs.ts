// RFC 9162 inclusion proofs for chosen leaves of a log read once, in order, into a tree whose final
// size is known in advance — without holding the tree. An export proves a few thousand store links
// (one per sidecar checkpoint) in a policy's store log of possibly hundreds of millions of links;
// a MerkleTree of it would hold 64 bytes per link. Here memory is the compact range (O(log n))
// plus each chosen leaf's path.
//
// Why it works: leaf i's audit path in a tree of n leaves is its left siblings — exactly the
// perfect subtrees of the compact range of [0, i), known when leaf i arrives — and its right
// siblings, ranges after i. A right sibling is either a perfect aligned subtree, whose hash is
// caught the moment the streaming tree completes it, or the tree's right edge [a, n), whose
// perfect subtrees are the final compact range's nodes from a on.
import { HASH_SIZE, nodeHash, splitPoint } from './merkle.ts';

interface Node { lo: number; hi: number; hash: Buffer }

/** A chosen leaf: its left siblings (leaf order) and the right sibling ranges still to hash. */
interface Target { index: number; left: Buffer[]; right: [number, number][] }

const key = (lo: number, hi: number): string => `${String(lo)}-${String(hi)}`;

const isPerfect = (lo: number, hi: number): boolean => {
  const w = hi - lo;
  return (w & (w - 1)) === 0 && lo % w === 0;
};

/** The right sibling ranges of leaf `index`'s path in a tree of `size` leaves, bottom-up order reversed (top first). */
function rightRanges(index: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      out.push([lo + k, hi]);
      hi = lo + k;
    } else {
      lo += k;
    }
  }
  return out;
}

export class StreamingInclusionProofs {
  readonly #size: number;
  /** The compact range of the leaves so far: perfect subtrees, largest (leftmost) first. */
  readonly #stack: Node[] = [];
  /** Perfect subtrees some target's path needs, by range; filled when the tree completes them. */
  readonly #wanted = new Map<string, Buffer | undefined>();
  readonly #targets: Target[] = [];
  #count: number;

  /**
   * A tree that will hold `size` leaves, starting after `start.size` leaves whose compact range
   * (largest subtree first, MerkleAppender.compactRange) stands in for them (a retention cut).
   */
  constructor(size: number, start: { size: number; compactRange: readonly Uint8Array[] } = { size: 0, compactRange: [] }) {
    this.#size = size;
    this.#count = start.size;
    let lo = 0;
    let rest = start.size;
    for (const h of start.compactRange) {
      let w = 1;
      while (w * 2 <= rest) w *= 2;
      this.#stack.push({ lo, hi: lo + w, hash: Buffer.from(h) });
      lo += w;
      rest -= w;
    }
    if (rest !== 0) throw new RangeError(`a compact range of ${start.compactRange.length} hashes does not cover ${start.size} leaves`);
  }

  /** Leaves appended so far (with those the start stands in for). */
  get count(): number {
    return this.#count;
  }

  /** The compact range of the leaves so far, largest subtree first (as MerkleAppender.compactRange). */
  compactRange(): Buffer[] {
    return this.#stack.map((n) => n.hash);
  }

  /** Chooses the next leaf to be appended (index = count) for a proof; call before append(). */
  chooseNext(): void {
    const index = this.#count;
    if (index >= this.#size) throw new RangeError(`leaf ${index} is outside a tree of size ${this.#size}`);
    const right = rightRanges(index, this.#size);
    for (const [lo, hi] of right) if (isPerfect(lo, hi)) this.#wanted.set(key(lo, hi), this.#wanted.get(key(lo, hi)));
    this.#targets.push({ index, left: this.#stack.map((n) => n.hash), right });
  }

  append(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) throw new RangeError(`a leaf hash is ${HASH_SIZE} bytes, not ${leafHash.length}`);
    if (this.#count >= this.#size) throw new RangeError(`the tree holds ${this.#size} leaves: no more`);
    let node: Node = { lo: this.#count, hi: this.#count + 1, hash: Buffer.from(leafHash) };
    this.#count++;
    this.#keep(node);
    for (let top = this.#stack.at(-1); top !== undefined && top.hi - top.lo === node.hi - node.lo; top = this.#stack.at(-1)) {
      this.#stack.pop();
      node = { lo: top.lo, hi: node.hi, hash: nodeHash(top.hash, node.hash) };
      this.#keep(node);
    }
    this.#stack.push(node);
  }

  #keep(n: Node): void {
    const k = key(n.lo, n.hi);
    if (this.#wanted.has(k)) this.#wanted.set(k, n.hash);
  }

  /** MTH of [lo, size): the final compact range's subtrees from lo on, folded right to left. */
  #rightEdge(lo: number): Buffer {
    const nodes = this.#stack.filter((n) => n.lo >= lo);
    if (nodes[0]?.lo !== lo) throw new Error(`[${lo}, ${this.#size}) is not a union of the final compact range's subtrees`);
    let h = (nodes.at(-1) as Node).hash;
    for (let i = nodes.length - 2; i >= 0; i--) h = nodeHash((nodes[i] as Node).hash, h);
    return h;
  }

  /** Once every leaf is in: each chosen leaf's inclusion proof (RFC 9162 order: bottom-up), by index. */
  proofs(): Map<number, Buffer[]> {
    if (this.#count !== this.#size) throw new RangeError(`the tree holds ${this.#count} of its ${this.#size} leaves: proofs need them all`);
    const out = new Map<number, Buffer[]>();
    for (const t of this.#targets) {
      const right = t.right.map(([lo, hi]) => (isPerfect(lo, hi) ? (this.#wanted.get(key(lo, hi)) as Buffer) : this.#rightEdge(lo)));
      out.set(t.index, this.#path(t, right));
    }
    return out;
  }

  /** Merges left siblings (leaf order) and right ones (top first) into the path, bottom-up, by walking the split again. */
  #path(t: Target, right: Buffer[]): Buffer[] {
    const path: Buffer[] = [];
    let lo = 0;
    let hi = this.#size;
    let l = 0;
    let r = 0;
    while (hi - lo > 1) {
      const k = splitPoint(hi - lo);
      if (t.index < lo + k) {
        path.push(right[r++] as Buffer);
        hi = lo + k;
      } else {
        path.push(t.left[l++] as Buffer);
        lo += k;
      }
    }
    return path.reverse();
  }
}
