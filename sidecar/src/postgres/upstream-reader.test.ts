// The upstream framing (issue 18 item 5): a declared length beyond the bound is refused from its
// header, before anything is buffered for it; frames split across chunks come out whole and once.
import { describe, expect, it } from '@jest/globals';
import type { BackendMessage, DataRowMessage } from 'pg-protocol/dist/messages.js';
import { dataRow, readyForQuery } from './backend.ts';
import { MAX_BACKEND_MESSAGE, UpstreamProtocolError, UpstreamReader } from './upstream-reader.ts';

function collect(reader: UpstreamReader, chunks: Buffer[]): Array<[BackendMessage, Buffer]> {
  const out: Array<[BackendMessage, Buffer]> = [];
  for (const c of chunks) reader.push(c, (m, raw) => out.push([m, raw]));
  return out;
}

describe('UpstreamReader', () => {
  it('refuses a declared 1 GB message from its 5-byte header, holding nothing for it', () => {
    const header = Buffer.alloc(5);
    header[0] = 0x44;
    header.writeInt32BE(1024 * 1024 * 1024, 1);
    const reader = new UpstreamReader();
    expect(() => reader.push(header, () => undefined)).toThrow(UpstreamProtocolError);
    expect(() => new UpstreamReader().push(header.subarray(0, 3), () => undefined)).not.toThrow();
    expect(MAX_BACKEND_MESSAGE).toBeLessThanOrEqual(16 * 1024 * 1024);
  });

  it('refuses impossible lengths', () => {
    const bad = Buffer.from([0x44, 0, 0, 0, 2]);
    expect(() => new UpstreamReader().push(bad, () => undefined)).toThrow(/invalid backend message length 2/);
    const negative = Buffer.from([0x44, 0xff, 0xff, 0xff, 0xff]);
    expect(() => new UpstreamReader().push(negative, () => undefined)).toThrow(/invalid backend message length -1/);
  });

  it('cuts the raw bytes of every message, whatever the chunking (byte by byte, split headers, runs)', () => {
    const frames = [dataRow([Buffer.from('a'), null]), dataRow([Buffer.from('x'.repeat(70_000))]), readyForQuery('I'), dataRow([])];
    const stream = Buffer.concat(frames);
    for (const size of [1, 3, 5, 7, 1000, 65_536, stream.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      const reader = new UpstreamReader();
      const out = collect(reader, chunks);
      expect(out.map(([, raw]) => raw.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
      expect((out[1]?.[0] as DataRowMessage).fields[0]).toHaveLength(70_000);
      expect(reader.buffered).toBe(0);
    }
  });

  it('refuses a message above its bound as soon as the header is there', () => {
    const reader = new UpstreamReader(1024);
    const big = dataRow([Buffer.alloc(2000)]);
    expect(() => reader.push(big.subarray(0, 5), () => undefined)).toThrow(/exceeds the Guarita sidecar's limit of 1024 bytes/);
  });
});
