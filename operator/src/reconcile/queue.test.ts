import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { WorkQueue } from './queue.ts';

// Jest's fake timers drive setTimeout and Date.now, so every test is one fixed sequence of events;
// advanceTimersByTimeAsync also settles the handlers' promises between timers.
const sleep = (ms: number): Promise<void> => jest.advanceTimersByTimeAsync(ms);
const DAY = 86_400_000;

/** A handler whose calls wait until the test releases them. */
function gated(): { handler: (key: string) => Promise<undefined>; started: string[]; running: () => number; release: (key: string) => void } {
  const started: string[] = [];
  const waiting = new Map<string, (() => void)[]>();
  let running = 0;
  return {
    started,
    running: () => running,
    handler: async (key) => {
      started.push(key);
      running++;
      await new Promise<void>((r) => waiting.set(key, [...(waiting.get(key) ?? []), r]));
      running--;
      return undefined;
    },
    release: (key) => {
      const list = waiting.get(key) ?? [];
      waiting.delete(key);
      list.forEach((r) => r());
    },
  };
}

describe('WorkQueue', () => {
  beforeEach(() => { jest.useFakeTimers({ now: Date.parse('2026-01-02T03:04:05Z') }); });
  afterEach(() => { jest.useRealTimers(); });

  it('queues a key once and re-runs it if it changed while being processed', async () => {
    const runs: string[] = [];
    let release: () => void = () => undefined;
    const q = new WorkQueue(async (key) => {
      runs.push(key);
      if (runs.length === 1) await new Promise<void>((r) => { release = r; });
      return undefined;
    }, { concurrency: 2, baseDelayMs: 10, maxDelayMs: 100 });
    q.add('a');
    q.add('a');
    await sleep(5);
    q.add('a');
    q.add('a');
    release();
    await sleep(20);
    await q.idle();
    expect(runs).toEqual(['a', 'a']);
    q.stop();
  });

  it('retries failures with growing backoff and resets after a success', async () => {
    const times: number[] = [];
    const errors: number[] = [];
    const q = new WorkQueue(() => {
      times.push(Date.now());
      return times.length < 4 ? Promise.reject(new Error('conflict')) : Promise.resolve(undefined);
    }, { concurrency: 1, baseDelayMs: 20, maxDelayMs: 1000, random: () => 1, onError: (_k, _e, retryInMs) => errors.push(retryInMs) });
    q.add('k');
    await sleep(400);
    expect(times).toHaveLength(4);
    expect(errors).toEqual([20, 40, 80]);
    expect(times.slice(1).map((t, i) => t - (times[i] ?? 0))).toEqual([20, 40, 80]);
    q.stop();
  });

  it('draws each retry delay from the whole full-jitter window, capped at maxDelayMs', async () => {
    const errors: number[] = [];
    const draws = [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
    let n = 0;
    const q = new WorkQueue(() => Promise.reject(new Error('down')), {
      concurrency: 1, baseDelayMs: 100, maxDelayMs: 1000, random: () => draws[n++] ?? 0.5, onError: (_k, _e, retryInMs) => errors.push(retryInMs),
    });
    q.add('k');
    await sleep(10_000);
    // Windows 100, 200, 400, 800, 1000, 1000...: a draw of 0 retries at once, 0.5 half the window.
    expect(errors.slice(0, 7)).toEqual([0, 100, 200, 400, 500, 500, 500]);
    q.stop();
  });

  it('wakes a key when asked (an expiry), keeping the earliest wake-up', async () => {
    const runs: number[] = [];
    const t0 = Date.now();
    const q = new WorkQueue(() => {
      runs.push(Date.now() - t0);
      return Promise.resolve(runs.length === 1 ? { requeueAfterMs: 80 } : undefined);
    }, { concurrency: 1, baseDelayMs: 10, maxDelayMs: 100 });
    q.add('k');
    q.addAfter('k', 500);
    await sleep(200);
    expect(runs).toHaveLength(2);
    expect(runs[1]).toBeGreaterThanOrEqual(70);
    await sleep(1000);
    expect(runs).toEqual([0, 80]); // the later wake-up (500 ms) was dropped
    q.stop();
  });

  it('never runs more handlers at once than its concurrency, and runs every key', async () => {
    const g = gated();
    let peak = 0;
    const q = new WorkQueue(async (key) => {
      const p = g.handler(key);
      peak = Math.max(peak, g.running());
      return p;
    }, { concurrency: 2, baseDelayMs: 10, maxDelayMs: 100 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) q.add(k);
    await sleep(0);
    expect(g.started).toEqual(['a', 'b']);
    expect(q.depth).toBe(3);
    g.release('b');
    await sleep(0);
    expect(g.started).toEqual(['a', 'b', 'c']);
    q.add('a'); // a is running: it runs again afterwards, never alongside itself
    g.release('a');
    await sleep(0);
    expect(g.started).toEqual(['a', 'b', 'c', 'd']);
    for (const k of ['c', 'd', 'e', 'a']) {
      g.release(k);
      await sleep(0);
    }
    g.release('a');
    await q.idle();
    expect(g.started.sort()).toEqual(['a', 'a', 'b', 'c', 'd', 'e']);
    expect(peak).toBe(2);
    q.stop();
  });

  it('forget drops a pending retry and resets the key\'s backoff', async () => {
    const errors: number[] = [];
    let calls = 0;
    const q = new WorkQueue(() => {
      calls++;
      return Promise.reject(new Error('conflict'));
    }, { concurrency: 1, baseDelayMs: 100, maxDelayMs: 10_000, random: () => 1, onError: (_k, _e, retryInMs) => errors.push(retryInMs) });
    q.add('k');
    await sleep(100 + 200 + 1); // three failures: retries after 100 and 200 ms, the next one due in 400
    expect(calls).toBe(3);
    q.forget('k'); // the object is gone
    await sleep(10_000);
    expect(calls).toBe(3);
    q.add('k'); // re-created: starts again from the base delay
    await sleep(0);
    expect(errors).toEqual([100, 200, 400, 100]);
    q.stop();
  });

  it('stop drops queued keys and pending timers and accepts nothing more', async () => {
    const g = gated();
    const q = new WorkQueue(g.handler, { concurrency: 1, baseDelayMs: 10, maxDelayMs: 100 });
    q.add('a');
    q.add('b');
    q.addAfter('c', 1000);
    await sleep(0);
    q.stop();
    expect(q.depth).toBe(0);
    q.add('d');
    q.addAfter('e', 10);
    g.release('a'); // the running handler finishes; nothing starts after it
    await sleep(5000);
    expect(g.started).toEqual(['a']);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('waits past the ~24.8-day limit of Node timers without firing early', async () => {
    const runs: number[] = [];
    const t0 = Date.now();
    const q = new WorkQueue(() => {
      runs.push(Date.now() - t0);
      return Promise.resolve(undefined);
    }, { concurrency: 1, baseDelayMs: 10, maxDelayMs: 100 });
    q.addAfter('k', 60 * DAY); // a 60-day expiry: a single setTimeout would overflow and fire at once
    await sleep(59 * DAY);
    expect(runs).toEqual([]);
    await sleep(DAY);
    expect(runs).toEqual([60 * DAY]);
    q.stop();
  });
});
