import { describe, expect, it } from '@jest/globals';
import { LineBuffer, stageRange, type StagedRanges } from './line-buffer.ts';

describe('LineBuffer', () => {
  it('gathers each segment\'s lines, interleaved with another\'s, as their UTF-8 bytes in order, across growth and resets', () => {
    const lines = new LineBuffer();
    for (const round of [0, 1]) {
      lines.reset();
      const a: StagedRanges = { ranges: [], bytes: 0 };
      const b: StagedRanges = { ranges: [], bytes: 0 };
      const textA: string[] = [];
      const textB: string[] = [];
      // Multi-byte characters (2, 3 and 4 bytes, a lone surrogate) and enough lines to grow past the first allocation.
      for (let i = 0; i < 3000; i++) {
        const line = `{"i":${i},"round":${round},"s":"é€😀\ud800${'x'.repeat(i % 300)}"}\n`;
        const size = lines.encode(line);
        expect(size).toBe(Buffer.byteLength(line));
        stageRange(i % 3 === 0 ? b : a, lines.end, size);
        (i % 3 === 0 ? textB : textA).push(line);
      }
      expect(lines.gather(a).equals(Buffer.from(textA.join('')))).toBe(true);
      expect(lines.gather(b).equals(Buffer.from(textB.join('')))).toBe(true);
      expect(a.bytes + b.bytes).toBe(lines.end);
    }
  });

  it('gives each gathered segment a buffer of its own (later lines and a reset do not change it)', () => {
    const lines = new LineBuffer();
    const a: StagedRanges = { ranges: [], bytes: 0 };
    const size = lines.encode('first\n');
    stageRange(a, lines.end, size);
    const out = lines.gather(a);
    lines.reset();
    // Past the size kept between groups (16 MiB reserved for 7 MB of text): the next reset lets it go.
    lines.encode('SECOND\n'.repeat(1_000_000));
    expect(out.toString()).toBe('first\n');
    lines.reset();
    const again: StagedRanges = { ranges: [], bytes: 0 };
    const third = lines.encode('third\n');
    stageRange(again, lines.end, third);
    expect(lines.gather(again).toString()).toBe('third\n');
  });
});
