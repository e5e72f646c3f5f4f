// A chain's Merkle log as its writers keep it: the sidecar's spool (one signed checkpoint per
// commit group) and the operator's ingest and store (recomputing the root of every batch, and the
// operator's own store log per policy). Leaf index = seq - 1; leaf data = the 32 bytes of the
// record's (or store link's) `hash`, so leafHash = SHA-256(0x00 ‖ bytes(hash)) (RFC 6962).
// Only the right edge of the tree is kept (merkle.ts's compact range), persisted beside the
// checkpoint so a restarted writer resumes the tree without its old leaves. Pure.
import { hash } from 'node:crypto';
import { MerkleAppender } from './merkle.ts';

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The leaf hash of a record whose `hash` is `hashHex`: merkle.ts's leafHash(bytes(hash)), written
 * into one 33-byte buffer (0x00 ‖ hash) and hashed once: the writers compute two per record.
 */
export function recordLeaf(hashHex: string): Buffer {
  const input = Buffer.allocUnsafe(33);
  input[0] = 0x00;
  if (input.write(hashHex, 1, 'hex') !== 32) throw new RangeError(`a record hash is 64 hex digits (got '${hashHex.slice(0, 70)}')`);
  return hash('sha256', input, 'buffer');
}

/** A compact range as stored (hex), refused with a named reason when malformed. */
export function parseFrontier(size: number, frontier: unknown): Buffer[] {
  if (!Array.isArray(frontier) || !frontier.every((h) => typeof h === 'string' && HEX64.test(h))) {
    throw new Error(`tree frontier at size ${size} must be a list of 64-hex-digit hashes`);
  }
  return frontier.map((h: string) => Buffer.from(h, 'hex'));
}

/** The Merkle tree of one chain (or one store log), appended record by record. */
export class ChainTree {
  #tree: MerkleAppender;

  private constructor(tree: MerkleAppender) {
    this.#tree = tree;
  }

  static empty(): ChainTree {
    return new ChainTree(new MerkleAppender());
  }

  /** Resumes a tree from the frontier stored with a checkpoint at `size` (throws, naming it, if malformed). */
  static resume(size: number, frontier: readonly string[]): ChainTree {
    return new ChainTree(MerkleAppender.resume(size, parseFrontier(size, frontier)));
  }

  get size(): number { return this.#tree.size; }

  /** Appends the leaf of the record (or link) at seq = size + 1. */
  append(hashHex: string): void {
    this.#tree.append(recordLeaf(hashHex));
  }

  root(): Buffer { return this.#tree.root(); }

  rootHex(): string { return this.#tree.root().toString('hex'); }

  /** What to persist with a checkpoint so the tree resumes at this size. */
  frontier(): string[] {
    return this.#tree.compactRange().map((h) => h.toString('hex'));
  }

  /** A copy to append to tentatively (a batch that may be refused, a write that may fail). */
  clone(): ChainTree {
    return new ChainTree(MerkleAppender.resume(this.#tree.size, this.#tree.compactRange()));
  }
}
