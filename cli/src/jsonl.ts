// JSON Lines over byte streams (the operator's exports and chain entries, export files): split on
// newlines at the byte level, so a chunk boundary inside a multi-byte character does no harm.
// The input may be hostile (an edited export file, a hijacked port-forward): reading is linear in
// its size (each byte is searched for a newline once, a line split across reads is joined once,
// from its pieces) and no line may exceed a maximum size, so one endless line cannot exhaust the
// auditor's memory or time.
export interface JsonlLine {
  /** 1-based line number in the stream. */
  number: number;
  text: string;
  /** The line's bytes, without the newline. */
  raw: Buffer;
}

/**
 * The longest line read (64 MiB). A record holds at most 64 KiB of command and a bounded result
 * sample; proof, checkpoint and manifest lines are far smaller. Documented in docs/cli.md.
 */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

export interface JsonlOptions {
  /** The longest line accepted, in bytes without its newline (default MAX_LINE_BYTES). */
  maxLineBytes?: number;
}

/** A line over the maximum: the input is not an export the operator writes. */
export class JsonlLineTooLong extends Error {
  readonly line: number;
  readonly limit: number;
  constructor(line: number, limit: number) {
    super(`line ${line} is longer than ${limit} bytes, the most a line of a Guarita export or operator answer holds: the input is not one the operator wrote (or was altered); nothing after it was read`);
    this.name = 'JsonlLineTooLong';
    this.line = line;
    this.limit = limit;
  }
}

/** Yields every non-blank line; a last line without a newline is yielded too. */
export async function* jsonlLines(source: AsyncIterable<Buffer | string>, opts: JsonlOptions = {}): AsyncGenerator<JsonlLine> {
  for await (const batch of jsonlBatches(source, opts)) yield* batch;
}

/** The start of a line split across reads: its pieces, joined once when its newline arrives. */
class Pending {
  pieces: Buffer[] = [];
  bytes = 0;
  add(piece: Buffer): void {
    if (piece.length === 0) return;
    this.pieces.push(piece);
    this.bytes += piece.length;
  }
  /** The line: the pieces and `tail`, copied once (or read in place when there is one piece). */
  take(tail: Buffer): Buffer {
    this.add(tail);
    const line = this.pieces.length === 1 ? (this.pieces[0] as Buffer) : Buffer.concat(this.pieces, this.bytes);
    this.pieces = [];
    this.bytes = 0;
    return line;
  }
}

/**
 * The same lines, one array per chunk read: a reader that handles lines synchronously (guarita
 * verify --file, a million lines) pays one await per chunk instead of one per line.
 */
export async function* jsonlBatches(source: AsyncIterable<Buffer | string>, opts: JsonlOptions = {}): AsyncGenerator<JsonlLine[]> {
  const limit = opts.maxLineBytes ?? MAX_LINE_BYTES;
  // Whole lines are read in place, without copying the chunk (a stream hands over a new Buffer per read).
  const pending = new Pending();
  let number = 0;
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const batch: JsonlLine[] = [];
    let start = 0;
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      number++;
      if (pending.bytes + nl - start > limit) throw new JsonlLineTooLong(number, limit);
      pushLine(batch, number, pending.take(buf.subarray(start, nl)));
      start = nl + 1;
    }
    if (pending.bytes + buf.length - start > limit) throw new JsonlLineTooLong(number + 1, limit);
    pending.add(buf.subarray(start));
    if (batch.length > 0) yield batch;
  }
  const last: JsonlLine[] = [];
  pushLine(last, number + 1, pending.take(Buffer.alloc(0)));
  if (last.length > 0) yield last;
}

/** Adds the line unless it is blank. */
function pushLine(batch: JsonlLine[], number: number, raw: Buffer): void {
  const text = raw.toString('utf8');
  if (text.trim() !== '') batch.push({ number, text, raw });
}

/** Parses a line as JSON, or returns undefined. */
export function parseLine(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
