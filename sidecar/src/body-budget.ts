// Request bodies a listener holds in memory to judge them (and bind them to approvals) are charged
// to one budget per listener, and each must arrive within a deadline: connections that declare a
// body and stall short of its end held the sidecar's memory for the whole request timeout (round 9
// review: 300 such connections grew the sidecar by 337 MiB, past the pod's 256Mi limit, and an OOM
// kill cuts every target of the pod). Beyond the budget a request is answered 503; past the
// deadline, 408. Both listeners read bodies with collectBody; they differ only in what a body over
// the buffering limit becomes (HTTP streams it on uninspected, Kubernetes refuses it: 413).
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { opt } from './util.ts';

/** How many maximum-size bodies a listener holds at once (16 MiB at the default 1 MiB). */
export const BODIES_HELD = 16;

/** How long a body may take to arrive once its headers have: far longer than any agent on loopback needs. */
export const BODY_DEADLINE_MS = 30_000;

/** One request's share of the budget, released once when its exchange ends. */
export interface BodyHold {
  /** Charges `bytes`; false (nothing charged) when the listener's budget would be exceeded. */
  take(bytes: number): boolean;
  release(): void;
}

export class BodyBudget {
  readonly limit: number;
  #held = 0;

  constructor(maxBufferedBody: number) {
    this.limit = BODIES_HELD * maxBufferedBody;
  }

  /** Bytes of request bodies held now (for the refusal's message and tests). */
  get held(): number {
    return this.#held;
  }

  open(): BodyHold {
    let mine = 0;
    let released = false;
    return {
      take: (bytes) => {
        if (released || this.#held + bytes > this.limit) return false;
        this.#held += bytes;
        mine += bytes;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#held -= mine;
        mine = 0;
      },
    };
  }

  /** The refusal's text when a take fails (the setting that raises the budget named). */
  overMessage(): string {
    return `guarita: the sidecar already holds ${this.#held} bytes of request bodies being read (limit ${this.limit}, ${BODIES_HELD} × GUARITA_HTTP_MAX_BUFFERED_BODY); retry shortly`;
  }
}

function bodyDeadlineMessage(): string {
  return `guarita: the request body did not arrive within ${BODY_DEADLINE_MS / 1000} s of its headers; send the whole body at once`;
}

/** A body the listener will not hold: the listener answers `status` and closes the connection (the rest is left unread). */
export class BodyRefusal extends Error {
  readonly status: 408 | 413 | 503;
  constructor(status: 408 | 413 | 503, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * A body its agent abandoned: the request was destroyed before or while it was read (the agent left).
 * No byte more will come; the listener refuses the request (400) and judges and forwards nothing.
 */
export class BodyAbandoned extends Error {
  constructor(cause?: unknown) {
    super('the agent left before its request body was read whole; nothing was judged or forwarded', cause === undefined ? undefined : { cause });
  }
}

export type CollectedBody =
  | { kind: 'none' }
  | { kind: 'buffered'; data: Buffer }
  /** The first bytes read, then the rest of the request, unread: forwarded as is. */
  | { kind: 'streamed'; stream: PassThrough; length?: string };

export interface CollectOptions {
  /** Bytes buffered to be judged. */
  max: number;
  /** What a body over `max` becomes: streamed on uninspected, or refused (413) since it must be judged whole. */
  overMax: 'stream' | 'refuse';
  hold: BodyHold;
  budget: BodyBudget;
}

export const NO_BODY: CollectedBody = Object.freeze({ kind: 'none' });

export function hasRequestBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

function overMaxRefusal(max: number): BodyRefusal {
  return new BodyRefusal(413, `guarita: the request body is over ${max} bytes (GUARITA_HTTP_MAX_BUFFERED_BODY); bodies are read whole to be judged and bound to approvals`);
}

/**
 * Reads a request body: its first `max` bytes are charged to the listener's budget as they arrive
 * and must all arrive within BODY_DEADLINE_MS. Rejects with a BodyRefusal beyond the budget (503),
 * past the deadline (408), or over `max` when `overMax` is 'refuse' (413, before any byte is read
 * when the declared length says so); the request is paused, its rest unread. Rejects with
 * BodyAbandoned when the agent left before or while the body was read.
 */
export function collectBody(req: IncomingMessage, opts: CollectOptions): Promise<CollectedBody> {
  if (!hasRequestBody(req)) return Promise.resolve(NO_BODY);
  const { max, hold, budget } = opts;
  if (opts.overMax === 'refuse' && Number(req.headers['content-length'] ?? 0) > max) return Promise.reject(overMaxRefusal(max));
  // Destroyed already, its 'error' and 'close' are past: a listener added now would wait out the deadline.
  if (req.destroyed && !req.complete) return Promise.reject(new BodyAbandoned());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      clearTimeout(deadline);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const fail = (err: Error): void => {
      cleanup();
      req.pause();
      reject(err);
    };
    const deadline = setTimeout(() => fail(new BodyRefusal(408, bodyDeadlineMessage())), BODY_DEADLINE_MS);
    const onData = (chunk: Buffer): void => {
      if (opts.overMax === 'refuse' && size + chunk.length > max) return fail(overMaxRefusal(max));
      if (!hold.take(chunk.length)) return fail(new BodyRefusal(503, budget.overMessage()));
      chunks.push(chunk);
      size += chunk.length;
      if (size <= max) return;
      // Streamed: what was read goes first, the rest of the request follows as it arrives.
      req.pause();
      cleanup();
      const stream = new PassThrough();
      for (const c of chunks) stream.write(c);
      req.pipe(stream);
      resolve({ kind: 'streamed', stream, ...opt('length', req.headers['content-length']) });
    };
    const onEnd = (): void => {
      cleanup();
      resolve({ kind: 'buffered', data: Buffer.concat(chunks) });
    };
    // The only error a request emits is its connection's end before the body did ('aborted').
    const onError = (err: Error): void => fail(new BodyAbandoned(err));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
