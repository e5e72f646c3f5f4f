// Backend (upstream → proxy) messages, parsed by pg-protocol's Parser. The proxy forwards most
// messages unchanged, so next to each parsed message it hands out the message's own bytes.
//
// Framing is done here, before the parser sees anything: chunks are kept as a list and a frame
// is joined only once it is complete (a large DataRow arriving in many chunks is copied once, not
// once per chunk), and a length field beyond the bound is refused as soon as its header arrives,
// before anything is buffered for it. Runs of complete frames inside one chunk go to the parser
// together; each message consumed exactly 1 + `length` bytes, so raws are cut by offset.
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';

export type { BackendMessage } from 'pg-protocol/dist/messages.js';

export type RawMessageCallback = (msg: BackendMessage, raw: Buffer) => void;

export class UpstreamProtocolError extends Error {
  /** SQLSTATE for the client when the session ends over it. */
  readonly sqlstate: string;
  constructor(message: string, sqlstate = '08P01') {
    super(message);
    this.name = 'UpstreamProtocolError';
    this.sqlstate = sqlstate;
  }
}

/**
 * Largest backend message accepted from the upstream (PostgreSQL's own limit is 1 GB): one row,
 * one COPY line, one error. It bounds what one connection buffers for one message.
 */
export const MAX_BACKEND_MESSAGE = 16 * 1024 * 1024;

const DATA_ROW = 0x44;

/**
 * A DataRow as pg-protocol would parse it (name, length, fieldCount, fields), with its cells
 * decoded only when `fields` is read (the settings probe, the catalog check).
 */
export class UndecodedDataRow {
  readonly name = 'dataRow';
  readonly length: number;
  readonly #raw: Buffer;
  #fields: Array<string | null> | undefined;

  constructor(raw: Buffer) {
    this.#raw = raw;
    this.length = raw.length - 1;
  }

  get fieldCount(): number {
    return this.#raw.readInt16BE(5);
  }

  /** The cells as UTF-8 text, null for SQL NULL (what pg-protocol's parser yields); throws on a malformed row. */
  get fields(): Array<string | null> {
    if (this.#fields !== undefined) return this.#fields;
    const raw = this.#raw;
    const n = this.fieldCount;
    const fields: Array<string | null> = [];
    let off = 7;
    for (let i = 0; i < n; i++) {
      if (off + 4 > raw.length) throw new UpstreamProtocolError('malformed DataRow from the server');
      const len = raw.readInt32BE(off);
      off += 4;
      if (len === -1) {
        fields.push(null);
        continue;
      }
      if (len < 0 || off + len > raw.length) throw new UpstreamProtocolError('malformed DataRow from the server');
      fields.push(raw.toString('utf8', off, off + len));
      off += len;
    }
    this.#fields = fields;
    return fields;
  }
}

export class UpstreamReader {
  private readonly parser = new Parser();
  private chunks: Buffer[] = [];
  private length = 0;
  private readonly maxMessage: number;

  constructor(maxMessage = MAX_BACKEND_MESSAGE) {
    this.maxMessage = maxMessage;
  }

  /** Bytes received and not yet handed out (a partial message). */
  get buffered(): number {
    return this.length;
  }

  /** Feeds one chunk; calls `onMessage` for every complete message so far. Throws on garbage. */
  push(chunk: Buffer, onMessage: RawMessageCallback): void {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.length += chunk.length;
    }
    for (;;) {
      const run = this.completeRun();
      if (run === undefined) return;
      this.parse(run, onMessage);
    }
  }

  private frameLength(buf: Buffer, at: number): number {
    const len = buf.readInt32BE(at + 1);
    if (len < 4) throw new UpstreamProtocolError(`invalid backend message length ${len} (type ${buf[at] ?? 0})`);
    if (len > this.maxMessage) {
      throw new UpstreamProtocolError(
        `a server message of ${len} bytes (a row, value or COPY line) exceeds the Guarita sidecar's limit of ${this.maxMessage} bytes; select less per row (e.g. substr() of large values)`,
        '54000',
      );
    }
    return len + 1;
  }

  /** The longest run of complete frames at the start of the first chunk, or one joined frame; undefined when incomplete. */
  private completeRun(): Buffer | undefined {
    if (this.length < 5) return undefined;
    let first = this.chunks[0];
    if (first === undefined) return undefined;
    if (first.length < 5) {
      this.joinFirst(5);
      first = this.chunks[0] ?? first;
    }
    const size = this.frameLength(first, 0);
    if (first.length < size) {
      if (this.length < size) return undefined;
      this.joinFirst(size);
      return this.take(size);
    }
    let end = size;
    while (end + 5 <= first.length) {
      const next = this.frameLength(first, end);
      if (end + next > first.length) break;
      end += next;
    }
    return this.take(end);
  }

  /** Joins leading chunks until the first holds at least n bytes (n <= length). */
  private joinFirst(n: number): void {
    let have = 0;
    let count = 0;
    while (have < n && count < this.chunks.length) have += this.chunks[count++]?.length ?? 0;
    this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count), have));
  }

  private take(n: number): Buffer {
    const first = this.chunks[0] ?? Buffer.alloc(0);
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.length -= n;
    return out;
  }

  /**
   * DataRows (the bulk of a result) are handed out undecoded: their bytes are forwarded as they
   * are unless masking changes a cell, so pg-protocol does not turn every cell into a string. The
   * other messages of the run go through pg-protocol's parser, in order.
   */
  private parse(run: Buffer, onMessage: RawMessageCallback): void {
    let pending = 0;
    let at = 0;
    while (at < run.length) {
      const size = 1 + run.readInt32BE(at + 1);
      if (run[at] === DATA_ROW) {
        if (pending < at) this.parseOthers(run.subarray(pending, at), onMessage);
        const raw = run.subarray(at, at + size);
        onMessage(new UndecodedDataRow(raw), raw);
        pending = at + size;
      }
      at += size;
    }
    if (pending < run.length) this.parseOthers(run.subarray(pending), onMessage);
  }

  private parseOthers(run: Buffer, onMessage: RawMessageCallback): void {
    let offset = 0;
    this.parser.parse(run, (msg) => {
      const end = offset + 1 + msg.length;
      const raw = run.subarray(offset, end);
      offset = end;
      if (msg.name === 'error' && (msg as { message?: string }).message?.startsWith('received invalid response') === true && raw[0] !== 0x45) {
        throw new UpstreamProtocolError(`invalid backend message type ${raw[0] ?? 0}`);
      }
      onMessage(msg, raw);
    });
  }
}
