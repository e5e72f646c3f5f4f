// A small, approximately least-recently-used cache keyed by SQL text (or its numeric shape), shared
// by the classifier and the sensitive-column guard: agents repeat statements, and one libpg-query
// parse costs far more than a map lookup. Long texts are not kept as keys (they would hold memory
// for nothing): a cache of long texts is keyed by textDigest instead.
//
// Two generations instead of an exact LRU list: a hit in the young map is one lookup (an exact LRU
// moves the entry on every hit, a delete and a set that showed on the statement path); a hit in the
// old map promotes the entry. When the young map is full it becomes the old one and the previous
// old one is dropped, so what was used since the last turn survives it.
import { createHash } from 'node:crypto';

/**
 * Texts longer than this are not kept as keys, nor shaped: they are remembered by their SHA-256
 * (textDigest) in a small cache of their own, so that a long prepared statement run again is not
 * parsed again (the sidecar decides every run of a prepared statement).
 */
export const CACHEABLE_SQL_LENGTH = 4096;

let lastText: string | undefined;
let lastDigest = '';

/**
 * The key of a long text in a cache of long texts: its SHA-256 (a few µs per KiB, against
 * milliseconds of parsing). The last one is kept: the classifier and the guard ask for the same
 * text in one decision.
 */
export function textDigest(text: string): string {
  if (text !== lastText) {
    lastDigest = createHash('sha256').update(text).digest('base64');
    lastText = text;
  }
  return lastDigest;
}

export class TextCache<V> {
  #young = new Map<string, V>();
  #old = new Map<string, V>();
  readonly #generation: number;

  /** At most `maxEntries` entries are kept (two generations of half as many). */
  constructor(maxEntries: number) {
    this.#generation = Math.max(1, Math.floor(maxEntries / 2));
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }

  /** The cached value; a value found in the old generation moves to the young one. */
  get(key: string): V | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) {
      this.#old.delete(key);
      this.#put(key, old);
    }
    return old;
  }

  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }

  set(key: string, value: V): void {
    if (key.length > CACHEABLE_SQL_LENGTH) return;
    this.#old.delete(key);
    this.#put(key, value);
  }

  #put(key: string, value: V): void {
    if (this.#young.size >= this.#generation && !this.#young.has(key)) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }
}
