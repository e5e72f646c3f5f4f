// Backend (upstream → proxy) messages, parsed by pg-protocol's Parser. The proxy forwards most
// messages unchanged, so next to each parsed message it hands out the message's own bytes:
// the parser emits messages in stream order and each consumed exactly 1 + `length` bytes, so
// the bytes are cut from the same chunks the parser was fed.
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';

export type { BackendMessage } from 'pg-protocol/dist/messages.js';

export type RawMessageCallback = (msg: BackendMessage, raw: Buffer) => void;

export class UpstreamProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamProtocolError';
  }
}

/** Largest backend message accepted from the upstream (PostgreSQL's own limit is 1 GB). */
export const MAX_BACKEND_MESSAGE = 256 * 1024 * 1024;

export class UpstreamReader {
  private readonly parser = new Parser();
  private pending: Buffer = Buffer.alloc(0);

  /** Feeds one chunk; calls `onMessage` for every complete message in it. Throws on garbage. */
  push(chunk: Buffer, onMessage: RawMessageCallback): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.checkHeader();
    let offset = 0;
    const data = this.pending;
    this.parser.parse(chunk, (msg) => {
      const end = offset + 1 + msg.length;
      const raw = data.subarray(offset, end);
      offset = end;
      if (msg.name === 'error' && (msg as { message?: string }).message?.startsWith('received invalid response') === true && raw[0] !== 0x45) {
        throw new UpstreamProtocolError(`invalid backend message type ${raw[0] ?? 0}`);
      }
      onMessage(msg, raw);
    });
    this.pending = offset >= data.length ? Buffer.alloc(0) : data.subarray(offset);
  }

  /** A length field that is impossible (or absurd) is rejected before the parser waits on it forever. */
  private checkHeader(): void {
    if (this.pending.length < 5) return;
    const len = this.pending.readInt32BE(1);
    if (len < 4 || len > MAX_BACKEND_MESSAGE) throw new UpstreamProtocolError(`invalid backend message length ${len}`);
  }
}
