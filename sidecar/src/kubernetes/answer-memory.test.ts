// The Kubernetes listener's answer memory (round 11 review, finding 4): the limit from the cgroup
// (v2, v1) or the setting, the budget from it, charges refused beyond it (for now or for good), and
// one large answer masked at a time.
import { describe, expect, it } from '@jest/globals';
import { AnswerMemory, answerBudget, answerMemory, cgroupMemoryLimit, DEFAULT_MEMORY_LIMIT, LARGE_ANSWER, MASKING_COST, MaskingCharge, MemoryRefusal } from './answer-memory.ts';

const MiB = 1024 * 1024;
const files = (map: Record<string, string>) => (path: string): string => {
  const text = map[path];
  if (text === undefined) throw new Error(`ENOENT ${path}`);
  return text;
};

describe('cgroupMemoryLimit', () => {
  it('reads cgroup v2 memory.max', () => expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': '268435456\n' }))).toBe(256 * MiB));
  it('"max" (no limit) falls through to v1, then to none', () => {
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' }))).toBeUndefined();
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max', '/sys/fs/cgroup/memory/memory.limit_in_bytes': '536870912' }))).toBe(512 * MiB);
  });
  it('reads cgroup v1 memory.limit_in_bytes; its "unlimited" value (near 2^63) is none', () => {
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '134217728' }))).toBe(128 * MiB);
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' }))).toBeUndefined();
  });
  it('no cgroup files, or garbage in them: none', () => {
    expect(cgroupMemoryLimit(files({}))).toBeUndefined();
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'lots' }))).toBeUndefined();
  });
});

describe('the budget', () => {
  it('is half of what the limit leaves above the process, never negative', () => {
    expect(answerBudget(256 * MiB, 150 * MiB)).toBe(53 * MiB);
    expect(answerBudget(256 * MiB, 300 * MiB)).toBe(0);
  });
  it('comes from the cgroup first, then GUARITA_KUBE_MEMORY_LIMIT, then 256 MiB', () => {
    expect(answerMemory(1024 * MiB, Infinity, 100 * MiB, 512 * MiB).budget).toBe(206 * MiB);
    expect(answerMemory(1024 * MiB, Infinity, 100 * MiB, undefined).budget).toBe(462 * MiB);
    expect(answerMemory(undefined, Infinity, 100 * MiB, undefined).budget).toBe((DEFAULT_MEMORY_LIMIT - 100 * MiB) / 2);
  });
});

describe('charges', () => {
  it('are refused beyond the budget, for now (retry) when others hold it, for good when the answer alone is over it', () => {
    const m = new AnswerMemory(100, 'test');
    m.charge(60);
    expect(() => m.charge(50)).toThrow(MemoryRefusal);
    try { m.charge(50); } catch (err) { expect((err as MemoryRefusal).retry).toBe(true); }
    try { m.charge(50, 60); } catch (err) { expect((err as MemoryRefusal).retry).toBe(false); }
    expect(m.charged).toBe(60);
    m.release(60);
    m.charge(100);
    expect(m.charged).toBe(100);
  });

  it('an answer being masked is charged MASKING_COST × its bytes, given back at end()', async () => {
    const m = new AnswerMemory(100 * MiB, 'test');
    const c = new MaskingCharge(m, new AbortController().signal);
    await c.add(1000);
    expect(m.charged).toBe(1000 * MASKING_COST);
    c.end();
    c.end();
    expect(m.charged).toBe(0);
  });

  it('an answer whose masking would cost more than the whole budget is refused for good', async () => {
    const m = new AnswerMemory(10 * MiB, 'test');
    const c = new MaskingCharge(m, new AbortController().signal);
    await expect(c.add(2 * MiB)).rejects.toMatchObject({ retry: false, message: expect.stringContaining('page the list') });
    c.end();
    expect(m.charged).toBe(0);
  });
});

describe('the raw cap (4 × GUARITA_KUBE_MAX_RESPONSE, as before)', () => {
  it('bounds the answers\' bytes whatever their cost, for now (retry), naming the setting', async () => {
    const m = new AnswerMemory(1024 * MiB, 'test', 1000);
    const a = new MaskingCharge(m, new AbortController().signal);
    await a.add(600);
    const b = new MaskingCharge(m, new AbortController().signal);
    await expect(b.add(600)).rejects.toMatchObject({ retry: true, message: expect.stringContaining('4 × GUARITA_KUBE_MAX_RESPONSE') });
    a.end();
    await b.add(600);
    b.end();
    expect(m.charged).toBe(0);
    m.charge(1000);
    expect(() => m.charge(1)).toThrow(/being masked or not yet read/);
    m.release(1000);
  });
});

describe('one large answer at a time', () => {
  it('a second large answer waits until the first ends, then goes on', async () => {
    const m = new AnswerMemory(1024 * MiB, 'test');
    const signal = new AbortController().signal;
    const a = new MaskingCharge(m, signal);
    await a.add(LARGE_ANSWER + 1);
    const b = new MaskingCharge(m, signal);
    let bDone = false;
    const bAdd = b.add(LARGE_ANSWER + 1).then(() => { bDone = true; });
    await new Promise((r) => setTimeout(r, 20));
    expect(bDone).toBe(false);
    // A small answer does not wait.
    const small = new MaskingCharge(m, signal);
    await small.add(1000);
    small.end();
    a.end();
    await bAdd;
    expect(bDone).toBe(true);
    b.end();
    expect(m.charged).toBe(0);
  });

  it('a waiting answer is refused (retry) past the wait, and leaves the queue', async () => {
    const m = new AnswerMemory(1024 * MiB, 'GUARITA_KUBE_MEMORY_LIMIT');
    const signal = new AbortController().signal;
    const release = await m.largeSlot(signal);
    await expect(m.largeSlot(signal, 10)).rejects.toMatchObject({ retry: true, message: expect.stringContaining('GUARITA_KUBE_MEMORY_LIMIT') });
    release();
    const again = await m.largeSlot(signal, 10);
    again();
  });

  it('a waiting answer whose agent leaves stops waiting', async () => {
    const m = new AnswerMemory(1024 * MiB, 'test');
    const release = await m.largeSlot(new AbortController().signal);
    const gone = new AbortController();
    const waiting = m.largeSlot(gone.signal, 10_000);
    gone.abort(new Error('the client closed the connection'));
    await expect(waiting).rejects.toThrow('the client closed');
    release();
    (await m.largeSlot(new AbortController().signal, 10))();
  });
});
