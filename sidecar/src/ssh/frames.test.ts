import { describe, expect, it, jest } from '@jest/globals';
import type { StreamFrame } from '../../../core/recording/index.ts';
import { FrameRecorder, MAX_RECORD_CHARS } from './frames.ts';

describe('stream frame records', () => {
  it('bounds each record, keeps order, and writes at the end', async () => {
    const written: StreamFrame[][] = [];
    const r = new FrameRecorder({ write: (f) => { written.push(f); return Promise.resolve(); }, startedAt: performance.now(), maxChars: 10 * MAX_RECORD_CHARS, onFailure: () => undefined });
    r.add('o', 'a'.repeat(3 * MAX_RECORD_CHARS + 5));
    r.add('i', 'ls\r');
    await r.flush();
    expect(written.every((f) => f.reduce((n, x) => n + x.data.length, 0) <= MAX_RECORD_CHARS)).toBe(true);
    expect(written.flat().map((f) => f.data).join('')).toBe(`${'a'.repeat(3 * MAX_RECORD_CHARS + 5)}ls\r`);
  });

  it('stops recording at the channel limit and says so once', async () => {
    const written: StreamFrame[][] = [];
    const r = new FrameRecorder({ write: (f) => { written.push(f); return Promise.resolve(); }, startedAt: performance.now(), maxChars: 8, onFailure: () => undefined });
    r.add('o', 'abcdef');
    r.add('o', 'ghijkl');
    r.add('o', 'mnop');
    await r.flush();
    const text = written.flat().map((f) => f.data).join('');
    expect(text.startsWith('abcdefgh')).toBe(true);
    expect(text.match(/recording limit/g)).toHaveLength(1);
    expect(r.truncated).toBe(true);
  });

  it('reports a write failure once and writes nothing after it', async () => {
    const onFailure = jest.fn();
    let calls = 0;
    const r = new FrameRecorder({ write: () => { calls++; return Promise.reject(new Error('spool full')); }, startedAt: performance.now(), maxChars: 1000, onFailure });
    r.add('o', 'x');
    await r.flush();
    r.add('o', 'y');
    await r.flush();
    expect(onFailure).toHaveBeenCalledTimes(1);
    expect(calls).toBe(1);
  });
});
