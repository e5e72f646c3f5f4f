// JSON Lines over byte streams (the operator's exports and chain entries, export files): split on
// newlines at the byte level, so a chunk boundary inside a multi-byte character does no harm.
export interface JsonlLine {
  /** 1-based line number in the stream. */
  number: number;
  text: string;
  /** The line's bytes, without the newline. */
  raw: Buffer;
}

/** Yields every non-blank line; a last line without a newline is yielded too. */
export async function* jsonlLines(source: AsyncIterable<Buffer | string>): AsyncGenerator<JsonlLine> {
  for await (const batch of jsonlBatches(source)) yield* batch;
}

/**
 * The same lines, one array per chunk read: a reader that handles lines synchronously (guarita
 * verify --file, a million lines) pays one await per chunk instead of one per line.
 */
export async function* jsonlBatches(source: AsyncIterable<Buffer | string>): AsyncGenerator<JsonlLine[]> {
  // A line split across reads is joined from its pieces; whole lines are read in place, without
  // copying the chunk (a stream hands over a new Buffer per read).
  let pending: Buffer = Buffer.alloc(0);
  let number = 0;
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const batch: JsonlLine[] = [];
    let start = 0;
    let nl = buf.indexOf(0x0a);
    if (pending.length > 0 && nl >= 0) {
      number++;
      pushLine(batch, number, Buffer.concat([pending, buf.subarray(0, nl)]));
      start = nl + 1;
      nl = buf.indexOf(0x0a, start);
    }
    for (; nl >= 0; nl = buf.indexOf(0x0a, start)) {
      number++;
      pushLine(batch, number, buf.subarray(start, nl));
      start = nl + 1;
    }
    pending = pending.length > 0 && start === 0 ? Buffer.concat([pending, buf]) : buf.subarray(start);
    if (batch.length > 0) yield batch;
  }
  const last: JsonlLine[] = [];
  pushLine(last, number + 1, pending);
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
