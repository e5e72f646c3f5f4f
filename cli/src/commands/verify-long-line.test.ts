// Round 11: `guarita export | guarita verify --file -` with one endless line (a hostile export):
// read in the pipe's 64 KiB chunks, refused once it passes the maximum line size, exit 3 ("could
// not verify"), naming the line and the limit, without joining the line over and over.
import { Readable, PassThrough } from 'node:stream';
import { describe, expect, it, jest } from '@jest/globals';
import { MAX_LINE_BYTES } from '../jsonl.ts';
import { run } from './verify.ts';

describe('verify --file -: a line over the maximum', () => {
  it('exits 3 naming the line (2) and the 64 MiB limit, having copied nothing of the line', async () => {
    const CHUNK = 64 * 1024;
    const header = Buffer.from('{"type":"export","format":"guarita-export/v2"}\n');
    const piece = Buffer.alloc(CHUNK, 0x61);
    let served = 0;
    // Chunks until the reader stops: one past the limit is all it may read.
    const stdin = Readable.from((function* () {
      yield header;
      while (served <= MAX_LINE_BYTES + 2 * CHUNK) { served += CHUNK; yield piece; }
    })(), { objectMode: true });
    const concat = jest.spyOn(Buffer, 'concat');
    let err = '';
    const stderr = new PassThrough();
    stderr.on('data', (d: Buffer) => { err += d.toString(); });
    try {
      const code = await run(['--file', '-'], { stdin, stdout: new PassThrough(), stderr, env: {} });
      expect(code).toBe(3);
    } finally {
      concat.mockRestore();
    }
    expect(err).toContain(`could not verify: line 2 is longer than ${MAX_LINE_BYTES} bytes`);
    expect(served).toBeLessThanOrEqual(MAX_LINE_BYTES + CHUNK);
    expect(concat).not.toHaveBeenCalled();
  });
});
