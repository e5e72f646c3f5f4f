import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { FairQueue, namespaceOf, WorkQueue } from './queue.ts';

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

  // Round 11 review, finding 3: one FIFO let a burst of one namespace's keys (an agent flooding
  // ApprovalRequests) delay every other namespace's reconciles by burst × latency / workers.
  describe('fair across namespaces', () => {
    it('serves another namespace\'s key next, however long one namespace\'s burst', async () => {
      const g = gated();
      const q = new WorkQueue(g.handler, { concurrency: 1, baseDelayMs: 10, maxDelayMs: 100 });
      for (let i = 0; i < 5000; i++) q.add(`team-a/flood-${i}`);
      q.add('team-b/refund-export');
      expect(q.depth).toBe(5000); // team-a/flood-0 is running
      await sleep(0);
      g.release('team-a/flood-0');
      await sleep(0);
      // team-a had its turn (flood-0); team-b's first key comes before flood-2, not after flood-4999.
      expect(g.started).toEqual(['team-a/flood-0', 'team-a/flood-1']);
      g.release('team-a/flood-1');
      await sleep(0);
      expect(g.started[2]).toBe('team-b/refund-export');
      q.stop();
    });

    it('takes turns among busy namespaces, in first-come order within each', async () => {
      const order: string[] = [];
      const q = new WorkQueue((k) => {
        order.push(k);
        return Promise.resolve(undefined);
      }, { concurrency: 1, baseDelayMs: 10, maxDelayMs: 100 });
      for (const k of ['a/1', 'a/2', 'a/3', 'a/4', 'b/1', 'b/2', 'c/1', 'cluster-scoped', 'a/5']) q.add(k);
      await q.idle();
      expect(order).toEqual(['a/1', 'a/2', 'b/1', 'c/1', 'cluster-scoped', 'a/3', 'b/2', 'a/4', 'a/5']);
      q.stop();
    });

    it('keeps a key queued once and never runs it twice at once across the per-namespace lines', async () => {
      const g = gated();
      let peak = 0;
      const running = new Map<string, number>();
      const q = new WorkQueue(async (k) => {
        running.set(k, (running.get(k) ?? 0) + 1);
        peak = Math.max(peak, running.get(k) ?? 0);
        await g.handler(k);
        running.set(k, (running.get(k) ?? 1) - 1);
        return undefined;
      }, { concurrency: 4, baseDelayMs: 10, maxDelayMs: 100 });
      for (let round = 0; round < 3; round++) for (const k of ['a/x', 'b/x', 'a/y']) q.add(k);
      expect(q.depth).toBe(0); // all three running: the repeats were deduplicated into "dirty"
      for (const k of ['a/x', 'b/x', 'a/y']) g.release(k);
      await sleep(0);
      for (const k of ['a/x', 'b/x', 'a/y']) g.release(k);
      await q.idle();
      expect(g.started.sort()).toEqual(['a/x', 'a/x', 'a/y', 'a/y', 'b/x', 'b/x']);
      expect(peak).toBe(1);
      q.stop();
    });

    it('retries a failed key of a busy namespace with backoff, then behind one key of the burst, not all of it', async () => {
      const runs: { key: string; at: number }[] = [];
      const t0 = Date.now();
      let failed = false;
      const q = new WorkQueue(async (k) => {
        runs.push({ key: k, at: Date.now() - t0 });
        if (k === 'b/x' && !failed) {
          failed = true;
          throw new Error('conflict');
        }
        await new Promise((r) => setTimeout(r, 10)); // each of a's keys takes 10 ms: the burst, 10 s
        return undefined;
      }, { concurrency: 1, baseDelayMs: 100, maxDelayMs: 1000, random: () => 1 });
      q.add('b/x');
      await sleep(0);
      for (let i = 0; i < 1000; i++) q.add(`a/${i}`);
      await sleep(200);
      const retry = runs.filter((r) => r.key === 'b/x')[1];
      // Queued again when its 100 ms backoff ended, it ran once the key in progress finished.
      expect(retry?.at).toBeGreaterThanOrEqual(100);
      expect(retry?.at).toBeLessThanOrEqual(120);
      q.stop();
    });
  });
});

describe('FairQueue', () => {
  it('is first-in first-out within a group and round-robin across groups', () => {
    const f = new FairQueue<number>();
    f.push('a', 1);
    f.push('a', 2);
    f.push('b', 3);
    f.push('a', 4);
    expect(f.length).toBe(4);
    expect([f.shift(), f.shift(), f.shift(), f.shift(), f.shift()]).toEqual([1, 3, 2, 4, undefined]);
    expect(f.length).toBe(0);
    f.push('b', 5); // an emptied group joins the line again
    expect(f.shift()).toBe(5);
  });

  it('shifts large bursts in order (compacting as it goes) and clears', () => {
    const f = new FairQueue<number>();
    for (let i = 0; i < 10_000; i++) f.push('a', i);
    const out: number[] = [];
    for (let i = 0; i < 6000; i++) out.push(f.shift() as number);
    for (let i = 10_000; i < 10_010; i++) f.push('a', i);
    while (f.length > 0) out.push(f.shift() as number);
    expect(out).toEqual(Array.from({ length: 10_010 }, (_, i) => i));
    f.push('x', 1);
    f.clear();
    expect([f.length, f.shift()]).toEqual([0, undefined]);
  });

  it('takes the namespace of a key from before its first slash', () => {
    expect(['ns/name', 'cluster-scoped', '/odd', 'a/b/c'].map(namespaceOf)).toEqual(['ns', '', '', 'a']);
  });
});
