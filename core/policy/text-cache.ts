// A small least-recently-used cache keyed by SQL text (or its numeric shape), shared by the
// classifier and the sensitive-column guard: agents repeat statements, and one libpg-query parse
// costs far more than a map lookup. Long texts are not kept: they rarely repeat and would hold
// memory for nothing.

/** Texts longer than this are neither cached nor shaped (their parse is paid each time). */
export const CACHEABLE_SQL_LENGTH = 4096;

export class TextCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  /** The cached value; a hit moves to the back, so the least recently used leaves first. */
  get(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
    }
    return hit;
  }

  clear(): void {
    this.#entries.clear();
  }

  set(key: string, value: V): void {
    if (key.length > CACHEABLE_SQL_LENGTH) return;
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value ?? '');
    this.#entries.set(key, value);
  }
}
