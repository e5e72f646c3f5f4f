// Token buckets by key (a client address, a connection): each key may spend `burst` at once and
// regains `perMinute` a minute. Pure arithmetic on a clock the caller passes; the number of keys is
// bounded, forgetting full buckets first, so a flood of new keys cannot grow memory, and a
// forgotten key starts again with at most a full bucket.

export interface RateLimit { burst: number; perMinute: number }

/** Token buckets by key; bounded in number (full buckets are forgotten first). */
export class TokenBuckets {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #max: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limit: RateLimit, maxKeys = 10_000) {
    this.#burst = Math.max(1, limit.burst);
    this.#perMs = limit.perMinute / 60_000;
    this.#max = maxKeys;
  }

  #level(b: { tokens: number; at: number }, now: number): number {
    return Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs);
  }

  /** Takes one token; false when the bucket is empty. */
  take(key: string, now: number): boolean {
    const b = this.#buckets.get(key);
    const level = b === undefined ? this.#burst : this.#level(b, now);
    if (level < 1) return false;
    if (b === undefined && this.#buckets.size >= this.#max) this.#prune(now);
    this.#buckets.set(key, { tokens: level - 1, at: now });
    return true;
  }

  /** Milliseconds until the bucket holds a token again. */
  waitMs(key: string, now: number): number {
    const b = this.#buckets.get(key);
    if (b === undefined || this.#perMs === 0) return b === undefined ? 0 : Number.POSITIVE_INFINITY;
    return Math.max(0, Math.ceil((1 - this.#level(b, now)) / this.#perMs));
  }

  #prune(now: number): void {
    for (const [k, b] of this.#buckets) if (this.#level(b, now) >= this.#burst) this.#buckets.delete(k);
    // Still full: forget the oldest (it can only have refilled since).
    for (const k of this.#buckets.keys()) {
      if (this.#buckets.size < this.#max) break;
      this.#buckets.delete(k);
    }
  }
}

