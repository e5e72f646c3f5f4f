// A keyed work queue in the controller-runtime style: a key is queued at most once, never
// processed by two workers at once (a change during processing queues it again afterwards),
// failures are retried with per-key exponential backoff and full jitter (core/backoff.ts), and a success resets the key's
// backoff. Nothing requeues itself on success unless it asks to (a timer such as an expiry), so
// the operator never hot-loops.

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

export class WorkQueue {
  readonly #handler: (key: string) => Promise<HandlerResult | undefined>;
  readonly #opts: QueueOptions;
  readonly #queue: string[] = [];
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
    this.#queue.push(key);
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
    this.#queue.length = 0;
    this.#queued.clear();
  }
}
