import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { silentLogger } from './log.ts';
import { memoryReducingGc, startIdleMemoryTrim } from './idle-memory.ts';

/** A loop whose busy milliseconds per 10 s interval the test sets. */
function fakeLoop(): { busy(ms: number): void; utilization: (since?: EventLoopUtilization) => EventLoopUtilization } {
  let active = 0;
  let idle = 0;
  return {
    busy(ms: number) { active += ms; idle += 10_000 - ms; },
    utilization(since?: EventLoopUtilization) {
      const a = active - (since?.active ?? 0);
      const i = idle - (since?.idle ?? 0);
      return { active: a, idle: i, utilization: a + i === 0 ? 0 : a / (a + i) };
    },
  };
}

describe('idle memory trim', () => {
  beforeEach(() => { jest.useFakeTimers(); });
  afterEach(() => { jest.useRealTimers(); });

  it('trims once after a period of work when a whole interval is quiet, never while busy', async () => {
    const loop = fakeLoop();
    const gc = jest.fn<() => void>();
    const trim = startIdleMemoryTrim({ logger: silentLogger(), gc, utilization: loop.utilization, intervalMs: 10_000 });
    for (let i = 0; i < 3; i++) {
      loop.busy(4000);
      await jest.advanceTimersByTimeAsync(10_000);
    }
    expect(gc).not.toHaveBeenCalled();
    loop.busy(10);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(gc).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 5; i++) {
      loop.busy(10);
      await jest.advanceTimersByTimeAsync(10_000);
    }
    expect(gc).toHaveBeenCalledTimes(1);
    loop.busy(3000);
    await jest.advanceTimersByTimeAsync(10_000);
    loop.busy(0);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(gc).toHaveBeenCalledTimes(2);
    trim.stop();
  });

  it('trims on demand, and does nothing without a GC to call', async () => {
    const loop = fakeLoop();
    const gc = jest.fn<() => void>();
    startIdleMemoryTrim({ logger: silentLogger(), gc, utilization: loop.utilization }).trimNow();
    expect(gc).toHaveBeenCalledTimes(1);
    const none = startIdleMemoryTrim({ logger: silentLogger(), gc: undefined, utilization: loop.utilization });
    loop.busy(5000);
    await jest.advanceTimersByTimeAsync(10_000);
    loop.busy(0);
    await jest.advanceTimersByTimeAsync(10_000);
    none.trimNow();
    none.stop();
  });

  it("gets V8's memory-reducing GC on this Node", () => {
    const gc = memoryReducingGc();
    expect(typeof gc).toBe('function');
    gc?.();
  });
});
