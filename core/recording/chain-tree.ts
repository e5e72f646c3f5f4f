// A chain's Merkle log as its writers keep it: the sidecar's spool (one signed checkpoint per
// commit group) and the operator's ingest and store (recomputing the root of every batch, and the
// operator's own store log per policy). Leaf index = seq - 1; leaf data = the 32 bytes of the
// record's (or store link's) `hash`, so leafHash = SHA-256(0x00 ‖ bytes(hash)) (RFC 6962).
// Only the right edge of the tree is kept (merkle.ts's compact range), persisted beside the
// checkpoint so a restarted writer resumes the tree without its old leaves. Pure.
//
// This is the writers' hot path (the operator appends two leaves per stored record: the chain's
// and its store log's), so it keeps the compact range as strings and hashes from two reused input
// buffers: node:crypto's one-shot hash answering a Buffer costs about three times the hash of 33
// or 65 bytes itself (a Buffer allocated per call), answering a string does not. The strings are
// the hashes' 32 bytes as latin1 (one character per byte), not hex: writing them back into the
// input buffer is a copy rather than a hex decode, which made a node hash ~1.4x as fast. Hex
// appears only at the edges (a record's hash in, roots and frontiers out); node:crypto names the
// latin1 output encoding 'binary'. The hashes are
// merkle.ts's (leafHash, nodeHash, MerkleAppender): a unit test compares roots and frontiers.
import { hash } from 'node:crypto';
import { EMPTY_ROOT } from './merkle.ts';

const HEX64 = /^[0-9a-f]{64}$/;

/** Reused hash inputs (0x00 ‖ leaf data, 0x01 ‖ left ‖ right): filled and hashed synchronously, never shared across an await. */
const LEAF_INPUT = Buffer.alloc(33);
const NODE_INPUT = Buffer.alloc(65);
NODE_INPUT[0] = 0x01;

/** A hash's 32 bytes as a latin1 string (the range's form) from hex, and back. */
const binOfHex = (hex: string): string => Buffer.from(hex, 'hex').toString('latin1');
const hexOfBin = (bin: string): string => Buffer.from(bin, 'latin1').toString('hex');

/** The leaf hash (latin1) of a record whose hash is `hashHex`. */
function leafBin(hashHex: string): string {
  if (hashHex.length !== 64 || LEAF_INPUT.write(hashHex, 1, 'hex') !== 32) throw new RangeError(`a record hash is 64 hex digits (got '${String(hashHex).slice(0, 70)}')`);
  return hash('sha256', LEAF_INPUT, 'binary');
}

/** The node hash (latin1) over two subtree hashes (latin1). */
function nodeBin(left: string, right: string): string {
  NODE_INPUT.write(left, 1, 'latin1');
  NODE_INPUT.write(right, 33, 'latin1');
  return hash('sha256', NODE_INPUT, 'binary');
}

/**
 * The leaf hash of a record whose `hash` is `hashHex`: merkle.ts's leafHash(bytes(hash)) (the
 * 33 bytes 0x00 ‖ hash, hashed once).
 */
export function recordLeaf(hashHex: string): Buffer {
  return Buffer.from(leafBin(hashHex), 'latin1');
}

function popcount(n: number): number {
  let bits = 0;
  for (let rest = n; rest > 0; rest = Math.floor(rest / 2)) bits += rest % 2;
  return bits;
}

/** A compact range as stored (hex), refused with a named reason when malformed. */
export function parseFrontier(size: number, frontier: unknown): Buffer[] {
  return checkFrontier(size, frontier).map((h) => Buffer.from(h, 'hex'));
}

function checkFrontier(size: number, frontier: unknown): string[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`tree size must be a non-negative integer (got ${size})`);
  if (!Array.isArray(frontier) || !frontier.every((h) => typeof h === 'string' && HEX64.test(h))) {
    throw new Error(`tree frontier at size ${size} must be a list of 64-hex-digit hashes`);
  }
  const expected = popcount(size);
  if (frontier.length !== expected) throw new Error(`tree frontier at size ${size} must hold ${expected} hash(es), one per perfect subtree (got ${frontier.length})`);
  return frontier as string[];
}

/** The Merkle tree of one chain (or one store log), appended record by record. */
export class ChainTree {
  #size: number;
  /** Roots of the perfect subtrees covering [0, size), largest (leftmost) first, as latin1 strings of their 32 bytes. */
  readonly #range: string[];

  private constructor(size: number, range: string[]) {
    this.#size = size;
    this.#range = range;
  }

  static empty(): ChainTree {
    return new ChainTree(0, []);
  }

  /** Resumes a tree from the frontier stored with a checkpoint at `size` (throws, naming it, if malformed). */
  static resume(size: number, frontier: readonly string[]): ChainTree {
    return new ChainTree(size, checkFrontier(size, frontier).map(binOfHex));
  }

  get size(): number { return this.#size; }

  /** Appends the leaf of the record (or link) at seq = size + 1: merges equal subtrees on the right edge, as binary addition carries. */
  append(hashHex: string): void {
    let h = leafBin(hashHex);
    for (let size = this.#size; size % 2 === 1; size = (size - 1) / 2) h = nodeBin(this.#range.pop()!, h);
    this.#range.push(h);
    this.#size++;
  }

  rootHex(): string { return this.root().toString('hex'); }

  root(): Buffer {
    const range = this.#range;
    if (range.length === 0) return Buffer.from(EMPTY_ROOT);
    let root = range[range.length - 1]!;
    for (let i = range.length - 2; i >= 0; i--) root = nodeBin(range[i]!, root);
    return Buffer.from(root, 'latin1');
  }

  /** What to persist with a checkpoint so the tree resumes at this size (hex). */
  frontier(): string[] {
    return this.#range.map(hexOfBin);
  }

  /** A copy to append to tentatively (a batch that may be refused, a write that may fail). */
  clone(): ChainTree {
    return new ChainTree(this.#size, [...this.#range]);
  }
}
