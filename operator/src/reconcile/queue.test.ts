import { describe, expect, it } from '@jest/globals';
import { WorkQueue } from './queue.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
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
    q.stop();
  });
});
