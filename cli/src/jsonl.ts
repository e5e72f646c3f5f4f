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
  let pending: Buffer = Buffer.alloc(0);
  let number = 0;
  for await (const chunk of source) {
    let buf = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, Buffer.from(chunk)]);
    const batch: JsonlLine[] = [];
    let nl = buf.indexOf(0x0a);
    while (nl >= 0) {
      number++;
      const raw = buf.subarray(0, nl);
      const text = raw.toString('utf8');
      if (text.trim() !== '') batch.push({ number, text, raw });
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(0x0a);
    }
    pending = buf;
    if (batch.length > 0) yield batch;
  }
  if (pending.length > 0 && pending.toString('utf8').trim() !== '') yield [{ number: number + 1, text: pending.toString('utf8'), raw: pending }];
}

/** Parses a line as JSON, or returns undefined. */
export function parseLine(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
