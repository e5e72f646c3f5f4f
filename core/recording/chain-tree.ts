// A chain's Merkle log as its writers keep it: the sidecar's spool (one signed checkpoint per
// commit group) and the operator's ingest and store (recomputing the root of every batch, and the
// operator's own store log per policy). Leaf index = seq - 1; leaf data = the 32 bytes of the
// record's (or store link's) `hash`, so leafHash = SHA-256(0x00 ‖ bytes(hash)) (RFC 6962).
// Only the right edge of the tree is kept (merkle.ts's compact range), persisted beside the
// checkpoint so a restarted writer resumes the tree without its old leaves. Pure.
//
// This is the writers' hot path (the operator appends two leaves per stored record: the chain's
// and its store log's), so it keeps the compact range as hex strings and hashes from two reused
// input buffers: node:crypto's one-shot hash answering a Buffer costs about three times the hash
// of 33 or 65 bytes itself (a Buffer allocated per call), answering hex does not. The hashes are
// merkle.ts's (leafHash, nodeHash, MerkleAppender): a unit test compares roots and frontiers.
import { hash } from 'node:crypto';
import { EMPTY_ROOT } from './merkle.ts';

const HEX64 = /^[0-9a-f]{64}$/;

/** Reused hash inputs (0x00 ‖ leaf data, 0x01 ‖ left ‖ right): filled and hashed synchronously, never shared across an await. */
const LEAF_INPUT = Buffer.alloc(33);
const NODE_INPUT = Buffer.alloc(65);
NODE_INPUT[0] = 0x01;

function leafHex(hashHex: string): string {
  if (hashHex.length !== 64 || LEAF_INPUT.write(hashHex, 1, 'hex') !== 32) throw new RangeError(`a record hash is 64 hex digits (got '${String(hashHex).slice(0, 70)}')`);
  return hash('sha256', LEAF_INPUT, 'hex');
}

function nodeHex(leftHex: string, rightHex: string): string {
  NODE_INPUT.write(leftHex, 1, 'hex');
  NODE_INPUT.write(rightHex, 33, 'hex');
  return hash('sha256', NODE_INPUT, 'hex');
}

/**
 * The leaf hash of a record whose `hash` is `hashHex`: merkle.ts's leafHash(bytes(hash)) (the
 * 33 bytes 0x00 ‖ hash, hashed once).
 */
export function recordLeaf(hashHex: string): Buffer {
  return Buffer.from(leafHex(hashHex), 'hex');
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
  /** Roots of the perfect subtrees covering [0, size), largest (leftmost) first, as hex. */
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
    return new ChainTree(size, [...checkFrontier(size, frontier)]);
  }

  get size(): number { return this.#size; }

  /** Appends the leaf of the record (or link) at seq = size + 1: merges equal subtrees on the right edge, as binary addition carries. */
  append(hashHex: string): void {
    let h = leafHex(hashHex);
    for (let size = this.#size; size % 2 === 1; size = (size - 1) / 2) h = nodeHex(this.#range.pop()!, h);
    this.#range.push(h);
    this.#size++;
  }

  rootHex(): string {
    const range = this.#range;
    if (range.length === 0) return EMPTY_ROOT.toString('hex');
    let root = range[range.length - 1]!;
    for (let i = range.length - 2; i >= 0; i--) root = nodeHex(range[i]!, root);
    return root;
  }

  root(): Buffer { return Buffer.from(this.rootHex(), 'hex'); }

  /** What to persist with a checkpoint so the tree resumes at this size. */
  frontier(): string[] {
    return [...this.#range];
  }

  /** A copy to append to tentatively (a batch that may be refused, a write that may fail). */
  clone(): ChainTree {
    return new ChainTree(this.#size, [...this.#range]);
  }
}
