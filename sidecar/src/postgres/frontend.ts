// Reader of frontend (client → proxy) messages. pg-protocol parses backend messages only, so
// this is the small counterpart for the other direction, on the same framing (a type byte, an
// int32 length that counts itself, the body; before authentication an untyped packet). Every
// message is validated completely before the proxy acts on it: anything malformed raises a
// ProtocolError, the connection is closed, and the bytes never reach the upstream.

export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
/** PostgreSQL's own limit for the startup packet (MAX_STARTUP_PACKET_LENGTH: its body, without the length word). */
export const MAX_STARTUP_PACKET = 10_000;

export class ProtocolError extends Error {
  /** SQLSTATE sent to the client before the connection is closed. */
  readonly code: string;
  /**
   * Closed without an answer, as PostgreSQL does: it reports a startup packet of invalid length,
   * or one cut short, to its log only (COMMERROR), never to the client (a Terminate or any typed
   * message sent before the StartupMessage reads as such a length).
   */
  readonly silent: boolean;
  constructor(message: string, code = '08P01', opts: { silent?: boolean } = {}) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.silent = opts.silent ?? false;
  }
}

export type StartupPacket =
  | { type: 'sslRequest' }
  | { type: 'gssEncRequest' }
  | { type: 'cancel'; processId: number; secretKey: number }
  | { type: 'startup'; major: number; minor: number; params: Array<[string, string]> };

export type DescribeTarget = 'S' | 'P';

export type FrontendMessage =
  | { type: 'query'; raw: Buffer; sql: string }
  | { type: 'parse'; raw: Buffer; name: string; sql: string; paramTypes: number[] }
  | { type: 'bind'; raw: Buffer; portal: string; statement: string; paramCount: number; resultFormats: number[] }
  | { type: 'describe'; raw: Buffer; target: DescribeTarget; name: string }
  | { type: 'execute'; raw: Buffer; portal: string; maxRows: number }
  | { type: 'close'; raw: Buffer; target: DescribeTarget; name: string }
  | { type: 'sync' | 'flush' | 'terminate' | 'copyDone'; raw: Buffer }
  | { type: 'copyData'; raw: Buffer }
  | { type: 'copyFail'; raw: Buffer; message: string }
  | { type: 'password'; raw: Buffer; body: Buffer }
  | { type: 'functionCall'; raw: Buffer };

export type FrontendMessageType = FrontendMessage['type'];

/** A cursor over one message body; every read is bounds-checked. */
export class BodyReader {
  private offset = 0;
  private readonly buf: Buffer;
  private readonly what: string;
  constructor(buf: Buffer, what: string) {
    this.buf = buf;
    this.what = what;
  }

  private need(n: number): void {
    if (n < 0 || this.offset + n > this.buf.length) throw new ProtocolError(`malformed ${this.what} message: truncated`);
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  byte(): number {
    this.need(1);
    const v = this.buf[this.offset] ?? 0;
    this.offset += 1;
    return v;
  }

  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }

  cstring(): string {
    const end = this.buf.indexOf(0, this.offset);
    if (end < 0) throw new ProtocolError(`malformed ${this.what} message: unterminated string`);
    const s = this.buf.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return s;
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.offset);
    this.offset = this.buf.length;
    return b;
  }

  end(): void {
    if (this.offset !== this.buf.length) throw new ProtocolError(`malformed ${this.what} message: ${this.buf.length - this.offset} unexpected trailing bytes`);
  }
}

function describeTarget(r: BodyReader, what: string): DescribeTarget {
  const t = r.byte();
  if (t !== 0x53 && t !== 0x50) throw new ProtocolError(`malformed ${what} message: invalid target type ${t}`);
  return t === 0x53 ? 'S' : 'P';
}

function formatCodes(r: BodyReader, what: string): number[] {
  const n = r.int16();
  if (n < 0) throw new ProtocolError(`malformed ${what} message: negative format count`);
  const codes: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = r.int16();
    if (c !== 0 && c !== 1) throw new ProtocolError(`malformed ${what} message: invalid format code ${c}`);
    codes.push(c);
  }
  return codes;
}

function parseBind(raw: Buffer, r: BodyReader): FrontendMessage {
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats = formatCodes(r, 'Bind');
  const paramCount = r.int16();
  if (paramCount < 0) throw new ProtocolError('malformed Bind message: negative parameter count');
  if (paramFormats.length > 1 && paramFormats.length !== paramCount) throw new ProtocolError(`malformed Bind message: ${paramFormats.length} parameter formats for ${paramCount} parameters`);
  for (let i = 0; i < paramCount; i++) {
    const len = r.int32();
    if (len < -1) throw new ProtocolError('malformed Bind message: invalid parameter length');
    if (len > 0) r.skip(len);
  }
  const resultFormats = formatCodes(r, 'Bind');
  r.end();
  return { type: 'bind', raw, portal, statement, paramCount, resultFormats };
}

function parseParse(raw: Buffer, r: BodyReader): FrontendMessage {
  const name = r.cstring();
  const sql = r.cstring();
  const n = r.int16();
  if (n < 0) throw new ProtocolError('malformed Parse message: negative parameter type count');
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(r.int32() >>> 0);
  r.end();
  return { type: 'parse', raw, name, sql, paramTypes };
}

function emptyBody(raw: Buffer, r: BodyReader, type: 'sync' | 'flush' | 'terminate' | 'copyDone'): FrontendMessage {
  r.end();
  return { type, raw };
}

function withCString<T extends 'query' | 'copyFail'>(raw: Buffer, r: BodyReader, type: T): FrontendMessage {
  const text = r.cstring();
  r.end();
  return type === 'query' ? { type: 'query', raw, sql: text } : { type: 'copyFail', raw, message: text };
}

function describeOrClose(raw: Buffer, r: BodyReader, type: 'describe' | 'close'): FrontendMessage {
  const target = describeTarget(r, type === 'describe' ? 'Describe' : 'Close');
  const name = r.cstring();
  r.end();
  return { type, raw, target, name };
}

function parseExecute(raw: Buffer, r: BodyReader): FrontendMessage {
  const portal = r.cstring();
  const maxRows = r.int32();
  r.end();
  return { type: 'execute', raw, portal, maxRows };
}

type BodyParser = (raw: Buffer, r: BodyReader) => FrontendMessage;

const PARSERS: Record<string, BodyParser> = {
  Q: (raw, r) => withCString(raw, r, 'query'),
  P: parseParse,
  B: parseBind,
  D: (raw, r) => describeOrClose(raw, r, 'describe'),
  C: (raw, r) => describeOrClose(raw, r, 'close'),
  E: parseExecute,
  S: (raw, r) => emptyBody(raw, r, 'sync'),
  H: (raw, r) => emptyBody(raw, r, 'flush'),
  X: (raw, r) => emptyBody(raw, r, 'terminate'),
  c: (raw, r) => emptyBody(raw, r, 'copyDone'),
  d: (raw) => ({ type: 'copyData', raw }),
  f: (raw, r) => withCString(raw, r, 'copyFail'),
  p: (raw, r) => ({ type: 'password', raw, body: r.rest() }),
  F: (raw) => ({ type: 'functionCall', raw }),
};

/** Decodes one complete typed message (`raw` = type byte + length + body). */
export function decodeFrontendMessage(raw: Buffer): FrontendMessage {
  const code = String.fromCharCode(raw[0] ?? 0);
  const parser = PARSERS[code];
  if (parser === undefined) throw new ProtocolError(`invalid frontend message type ${raw[0] ?? 0}`);
  return parser(raw, new BodyReader(raw.subarray(5), messageName(code)));
}

function messageName(code: string): string {
  const names: Record<string, string> = { Q: 'Query', P: 'Parse', B: 'Bind', D: 'Describe', C: 'Close', E: 'Execute', S: 'Sync', H: 'Flush', X: 'Terminate', c: 'CopyDone', d: 'CopyData', f: 'CopyFail', p: 'PasswordMessage', F: 'FunctionCall' };
  return names[code] ?? code;
}

function decodeStartup(body: Buffer): StartupPacket {
  const r = new BodyReader(body, 'startup');
  const code = r.int32();
  // As PostgreSQL (ProcessStartupPacket): bytes after an SSLRequest's or GSSENCRequest's code
  // are ignored, and a CancelRequest of another length than 16 is dropped without an answer.
  if (code === SSL_REQUEST_CODE) return { type: 'sslRequest' };
  if (code === GSSENC_REQUEST_CODE) return { type: 'gssEncRequest' };
  if (code === CANCEL_REQUEST_CODE) {
    if (body.length !== 12) throw new ProtocolError(`invalid length of cancel request packet: ${body.length + 4}`, '08P01', { silent: true });
    const processId = r.int32();
    const secretKey = r.int32();
    r.end();
    return { type: 'cancel', processId, secretKey };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw new ProtocolError(`unsupported frontend protocol ${major}.${minor}: server supports 3.0`, '0A000');
  return { type: 'startup', major, minor, params: startupParams(r) };
}

function startupParams(r: BodyReader): Array<[string, string]> {
  const params: Array<[string, string]> = [];
  for (;;) {
    const key = r.cstring();
    if (key === '') break;
    params.push([key, r.cstring()]);
  }
  r.end();
  return params;
}

export interface ReaderLimits {
  /** Largest typed message accepted (type byte excluded), in bytes. */
  maxMessageBytes: number;
}

/** One message bounds what a connection buffers for it (and the copies made to decode and mask it): docs/postgres.md, "Memory per connection". */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * Accumulates socket chunks and hands out complete messages. Chunks are kept as a list and
 * joined only once a whole message is there, so a large message arriving in many chunks is
 * copied once.
 */
export class FrontendReader {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Can be changed between messages (a small bound before authentication, the full one after). */
  maxMessageBytes: number;

  constructor(limits: Partial<ReaderLimits> = {}) {
    this.maxMessageBytes = limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Bytes received and not yet handed out. */
  get buffered(): number {
    return this.length;
  }

  /** The next untyped packet (before authentication), or undefined when incomplete. */
  nextStartup(): StartupPacket | undefined {
    const head = this.peek(4);
    if (head === undefined) return undefined;
    const len = head.readInt32BE(0);
    if (len < 8 || len - 4 > MAX_STARTUP_PACKET) throw new ProtocolError(`invalid length of startup packet: ${len}`, '08P01', { silent: true });
    const packet = this.take(len);
    return packet === undefined ? undefined : decodeStartup(packet.subarray(4));
  }

  /** The next typed message, or undefined when incomplete. */
  next(): FrontendMessage | undefined {
    const raw = this.nextRaw();
    return raw === undefined ? undefined : decodeFrontendMessage(raw);
  }

  /** The next complete typed frame, checked for a known type and a sane length but not decoded. */
  nextRaw(): Buffer | undefined {
    const head = this.peek(5);
    if (head === undefined) return undefined;
    const type = head[0] ?? 0;
    if (PARSERS[String.fromCharCode(type)] === undefined) throw new ProtocolError(`invalid frontend message type ${type}`);
    const len = head.readInt32BE(1);
    if (len < 4) throw new ProtocolError(`invalid message length ${len}`);
    if (len > this.maxMessageBytes) throw new ProtocolError(`message of ${len} bytes exceeds the limit of ${this.maxMessageBytes}`, '54000');
    return this.take(len + 1);
  }

  /** The first n bytes (joined if needed), without consuming them. */
  private peek(n: number): Buffer | undefined {
    if (this.length < n) return undefined;
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) return first;
    this.join();
    return this.chunks[0];
  }

  private join(): void {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
  }

  private take(n: number): Buffer | undefined {
    if (this.length < n) return undefined;
    let first = this.chunks[0];
    if (first === undefined) return undefined;
    if (first.length < n) {
      this.join();
      first = this.chunks[0] ?? first;
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.length -= n;
    return out;
  }
}
