// A keyed work queue in the controller-runtime style: a key is queued at most once, never
// processed by two workers at once (a change during processing queues it again afterwards),
// failures are retried with per-key exponential backoff and full jitter (core/backoff.ts), and a success resets the key's
// backoff. Nothing requeues itself on success unless it asks to (a timer such as an expiry), so
// the operator never hot-loops.
//
// Keys wait in one FIFO per namespace (the part of the key before '/'), served round-robin: a
// burst of thousands of keys in one namespace (an agent flooding ApprovalRequests, a relist) delays
// another namespace's next key by at most one key per busy namespace, not by the whole burst
// (round 11 review, finding 3).

import { backoff } from '../../../core/backoff.ts';

export interface QueueOptions {
  concurrency: number;
  baseDelayMs: number;
  maxDelayMs: number;
  onError?: (key: string, err: unknown, retryInMs: number) => void;
  onDepth?: (depth: number) => void;
  random?: () => number;
}

/** What a handler may ask for: to be called again for this key after some time. */
export interface HandlerResult { requeueAfterMs?: number }

/** Node timers fire after at most ~24.8 days; longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_000_000;

/** The namespace of a `namespace/name` key ('' for a cluster-scoped key without '/'). */
export function namespaceOf(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? '' : key.slice(0, slash);
}

/** A FIFO whose shift is O(1) (Array#shift copies the array: a burst of 100k keys would be quadratic). */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number { return this.#items.length - this.#head; }

  push(item: T): void { this.#items.push(item); }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#head++;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/**
 * FIFO per group, groups served round-robin: each shift takes the oldest item of the group whose
 * turn it is, and a group that still has items goes to the back of the line.
 */
export class FairQueue<T = string> {
  readonly #groups = new Map<string, Fifo<T>>();
  /** Groups with waiting items, in serving order. */
  #turns = new Fifo<string>();
  #length = 0;

  get length(): number { return this.#length; }

  push(group: string, item: T): void {
    let items = this.#groups.get(group);
    if (items === undefined) {
      items = new Fifo<T>();
      this.#groups.set(group, items);
      this.#turns.push(group);
    }
    items.push(item);
    this.#length++;
  }

  shift(): T | undefined {
    const group = this.#turns.shift();
    if (group === undefined) return undefined;
    const items = this.#groups.get(group);
    const item = items?.shift();
    if (items !== undefined && items.length > 0) this.#turns.push(group);
    else this.#groups.delete(group);
    this.#length--;
    return item;
  }

  clear(): void {
    this.#groups.clear();
    this.#turns = new Fifo<string>();
    this.#length = 0;
  }
}

export class WorkQueue {
  readonly #handler: (key: string) => Promise<HandlerResult | undefined>;
  readonly #opts: QueueOptions;
  readonly #queue = new FairQueue();
  readonly #queued = new Set<string>();
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  #running = 0;
  #stopped = false;
  #idle: (() => void)[] = [];

  constructor(handler: (key: string) => Promise<HandlerResult | undefined>, opts: QueueOptions) {
    this.#handler = handler;
    this.#opts = opts;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(namespaceOf(key), key);
    this.#opts.onDepth?.(this.#queue.length);
    this.#pump();
  }

  /** Queues `key` after `ms`; an earlier pending wake-up for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const existing = this.#timers.get(key);
    if (existing !== undefined && existing.at <= at) return;
    if (existing !== undefined) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      if (at - Date.now() > 50) this.addAfter(key, at - Date.now());
      else this.add(key);
    }, Math.min(ms, MAX_TIMER_MS));
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Drops the key's pending timer and backoff (the object is gone). */
  forget(key: string): void {
    const t = this.#timers.get(key);
    if (t !== undefined) clearTimeout(t.timer);
    this.#timers.delete(key);
    this.#failures.delete(key);
  }

  get depth(): number { return this.#queue.length; }

  #backoff(key: string): number {
    const n = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, n);
    return backoff(n - 1, { baseMs: this.#opts.baseDelayMs, capMs: this.#opts.maxDelayMs, ...(this.#opts.random === undefined ? {} : { random: this.#opts.random }) });
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#opts.concurrency && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      this.#queued.delete(key);
      this.#opts.onDepth?.(this.#queue.length);
      this.#active.add(key);
      this.#running++;
      void this.#process(key);
    }
    if (this.#running === 0 && this.#queue.length === 0) this.#idle.splice(0).forEach((f) => f());
  }

  async #process(key: string): Promise<void> {
    try {
      const result = await this.#handler(key);
      this.#failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      const delay = this.#backoff(key);
      this.#opts.onError?.(key, err, delay);
      this.addAfter(key, delay);
    } finally {
      this.#active.delete(key);
      this.#running--;
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
    }
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    if (this.#running === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t.timer);
    this.#timers.clear();
    this.#queue.clear();
    this.#queued.clear();
  }
}
