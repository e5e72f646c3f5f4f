// The JSONL reader of verify --file, verify --policy and replay: lines split anywhere, read in time
// linear in their size (bytes copied counted, not timed), and bounded in length (round 11).
import { Readable } from 'node:stream';
import { describe, expect, it, jest } from '@jest/globals';
import { jsonlBatches, jsonlLines, JsonlLineTooLong, MAX_LINE_BYTES, type JsonlLine } from './jsonl.ts';

const source = (chunks: (Buffer | string)[]): AsyncIterable<Buffer | string> => Readable.from(chunks, { objectMode: true });

async function lines(chunks: (Buffer | string)[], maxLineBytes?: number): Promise<JsonlLine[]> {
  const out: JsonlLine[] = [];
  for await (const l of jsonlLines(source(chunks), maxLineBytes === undefined ? {} : { maxLineBytes })) out.push(l);
  return out;
}

/** Runs `f`, counting the bytes Buffer.concat copies. */
async function copiedBy(f: () => Promise<unknown>): Promise<number> {
  const concat = Buffer.concat.bind(Buffer);
  let copied = 0;
  const spy = jest.spyOn(Buffer, 'concat').mockImplementation((list: readonly Uint8Array[], total?: number) => {
    const out = concat(list, total);
    copied += out.length;
    return out;
  });
  try {
    await f();
  } finally {
    spy.mockRestore();
  }
  return copied;
}

describe('jsonlLines', () => {
  it('splits on newlines wherever chunks are cut, inside a multi-byte character too; blank lines skipped, numbered', async () => {
    const text = Buffer.from('{"a":"João"}\n\n{"b":2}\n{"c":"東京"}');
    for (let cut = 1; cut < text.length; cut++) {
      const got = await lines([text.subarray(0, cut), text.subarray(cut)]);
      expect(got.map((l) => [l.number, l.text])).toEqual([[1, '{"a":"João"}'], [3, '{"b":2}'], [4, '{"c":"東京"}']]);
    }
    expect((await lines(['{"a":1}\n', '{"b":', '2}\n'])).map((l) => l.text)).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('copies a line split across N chunks once (linear), whole lines not at all', async () => {
    const CHUNK = 4096;
    for (const n of [2, 64, 512]) {
      const chunks = [...Array.from({ length: n }, () => Buffer.alloc(CHUNK, 0x61)), Buffer.from('\n')];
      let length = 0;
      const copied = await copiedBy(async () => { for (const l of await lines(chunks)) length = l.raw.length; });
      expect(length).toBe(n * CHUNK);
      expect(copied).toBe(n * CHUNK);
    }
    const whole = Array.from({ length: 100 }, () => Buffer.from('{"a":1}\n{"b":2}\n'));
    expect(await copiedBy(() => lines(whole))).toBe(0);
  });

  it('stdin-sized chunks of 64 KiB: a 4 MiB line copies 4 MiB once', async () => {
    const chunks = [...Array.from({ length: 64 }, () => Buffer.alloc(65536, 0x61)), Buffer.from('\n{"next":1}\n')];
    let got: JsonlLine[] = [];
    const copied = await copiedBy(async () => { got = await lines(chunks); });
    expect(copied).toBe(4 * 1024 * 1024);
    expect(got.map((l) => l.number)).toEqual([1, 2]);
  });

  it('the default maximum is 64 MiB', () => {
    expect(MAX_LINE_BYTES).toBe(64 * 1024 * 1024);
  });

  it.each([
    ['within one chunk', ['{"a":1}\n', `${'x'.repeat(101)}\n`], 2],
    ['across chunks, refused before its newline arrives', ['{"a":1}\n', 'x'.repeat(60), 'x'.repeat(41)], 2],
    ['a last line without a newline', ['{"a":1}\n{"b":2}\n', 'x'.repeat(101)], 3],
    ['after pending bytes, with its newline in the chunk', ['{"a":1}\n', 'x'.repeat(60), `${'x'.repeat(41)}\n`], 2],
  ])('refuses a line over the maximum, naming the line and the limit: %s', async (_name, chunks, line) => {
    const err = await lines(chunks, 100).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(JsonlLineTooLong);
    expect((err as JsonlLineTooLong).line).toBe(line);
    expect((err as JsonlLineTooLong).limit).toBe(100);
    expect((err as Error).message).toContain(`line ${line} is longer than 100 bytes`);
  });

  it('accepts a line of exactly the maximum, split or not', async () => {
    const line = 'x'.repeat(100);
    expect((await lines([`${line}\n`], 100))[0]?.raw.length).toBe(100);
    expect((await lines([line.slice(0, 30), `${line.slice(30)}\n`], 100))[0]?.raw.length).toBe(100);
    expect((await lines([line], 100))[0]?.raw.length).toBe(100);
  });

  it('jsonlBatches yields one array per chunk, and refuses as jsonlLines does', async () => {
    const batches: number[] = [];
    for await (const b of jsonlBatches(source(['{"a":1}\n{"b":2}\n', '{"c":3}\n']))) batches.push(b.length);
    expect(batches).toEqual([2, 1]);
    await expect((async () => { for await (const _ of jsonlBatches(source(['x'.repeat(11)]), { maxLineBytes: 10 })) { /* read */ } })()).rejects.toThrow(JsonlLineTooLong);
  });
});
