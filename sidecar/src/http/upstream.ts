// One request to the upstream through undici's dispatch() with a handler of our own, instead of
// undici's request(): request() builds, per exchange, an AsyncResource, a Readable for the body and
// a promise around them, and every small JSON answer then went through that stream's events. Here
// the body's chunks are kept as they arrive until the proxy says how it reads them: whole (a small
// answer of declared length: no stream at all), or as a Readable with backpressure (every other
// body: unknown length, large, compressed, binary). Aborts, errors and backpressure behave as with
// request(): the agent leaving aborts the exchange, a body the proxy stops reading aborts it, an
// upstream failure fails the response (before its headers) or its body (after them).
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

type Controller = Dispatcher.DispatchController;

/** Bytes kept before the proxy picks a way to read the body; beyond it the upstream socket is paused. */
const BUFFER_BEFORE_READ = 64 * 1024;
/**
 * Interim (1xx) answers skipped before the final one; one more fails the exchange. RFC 9110 §15.2
 * sets no bound, but each one restarts undici's headers timeout: an upstream answering 102 or 103
 * without end would hold the agent's request (and a pooled connection) forever. A real server
 * sends a few (103 Early Hints, 100 Continue, 102 heartbeats of a long WebDAV operation).
 */
export const MAX_INTERIM_ANSWERS = 32;

export interface UpstreamResponse {
  statusCode: number;
  headers: Dispatcher.ResponseData['headers'];
  body: UpstreamBody;
}

/**
 * The body of an upstream answer, read one way only: `whole()`, `stream()` or `dump()` (or dropped
 * with `discard()`). Fails with undici's error (too few or too many bytes for its Content-Length,
 * timeouts, resets) or the abort's reason.
 */
export class UpstreamBody {
  readonly #controller: Controller;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #stream: Readable | undefined;
  #waiting: { resolve(b: Buffer): void; reject(e: Error): void } | undefined;
  #reading = false;
  #discarded = false;

  constructor(controller: Controller) {
    this.#controller = controller;
  }

  /** The whole body in one Buffer, once it has all arrived (for bodies of a bounded declared length). */
  whole(): Promise<Buffer> {
    this.#claim();
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(this.#take());
    const whole = new Promise<Buffer>((resolve, reject) => { this.#waiting = { resolve, reject }; });
    // After #waiting is set: resuming can hand over the rest of the body at once.
    this.#controller.resume();
    return whole;
  }

  /** The body as a stream: upstream reads pause while it is not read, and destroying it aborts the exchange. */
  stream(): Readable {
    this.#claim();
    const controller = this.#controller;
    const stream = new Readable({
      read: () => controller.resume(),
      destroy: (err, callback) => {
        if (!this.#ended && this.#error === undefined) controller.abort(err ?? new Error('the upstream response body was not read to its end'));
        callback(err);
      },
    });
    this.#stream = stream;
    for (const chunk of this.#chunks) stream.push(chunk);
    this.#chunks = [];
    if (this.#error !== undefined) stream.destroy(this.#error);
    else if (this.#ended) stream.push(null);
    return stream;
  }

  /** Reads and drops the body (answers that have none: HEAD, 204, 304). */
  async dump(): Promise<void> {
    await this.whole();
  }

  /** Stops the exchange: the body is not wanted (a refused answer). Never throws, leaves no unhandled error. */
  discard(): void {
    if (this.#stream !== undefined) {
      this.#stream.on('error', () => undefined);
      this.#stream.destroy();
      return;
    }
    this.#reading = true;
    this.#discarded = true;
    this.#chunks = [];
    if (!this.#ended && this.#error === undefined) this.#controller.abort(new Error('the upstream response was refused by the Guarita sidecar'));
  }

  #claim(): void {
    if (this.#reading) throw new Error('the upstream response body is already being read');
    this.#reading = true;
  }

  #take(): Buffer {
    const chunks = this.#chunks;
    this.#chunks = [];
    return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, this.#buffered);
  }

  /** From the handler: a chunk of the body. */
  data(chunk: Buffer): void {
    if (this.#stream !== undefined) {
      if (!this.#stream.push(chunk)) this.#controller.pause();
      return;
    }
    if (this.#discarded) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    // Nobody has asked for the body yet (or the proxy reads it whole): hold the socket past a bound.
    if (this.#waiting === undefined && this.#buffered >= BUFFER_BEFORE_READ) this.#controller.pause();
  }

  /** From the handler: the body is complete. */
  end(): void {
    this.#ended = true;
    if (this.#stream !== undefined) this.#stream.push(null);
    else if (this.#waiting !== undefined) this.#waiting.resolve(this.#take());
  }

  /** From the handler: the exchange failed after the answer's headers. */
  fail(err: Error): void {
    if (this.#ended || this.#error !== undefined) return;
    this.#error = err;
    this.#chunks = [];
    if (this.#stream !== undefined) this.#stream.destroy(err);
    else this.#waiting?.reject(err);
  }
}

/**
 * Sends `options` on `dispatcher` and resolves with the answer's status and headers once they
 * arrive (1xx interim answers are skipped, at most MAX_INTERIM_ANSWERS of them; a 101 fails it). `signal` aborts the exchange
 * at any point with its reason. A request body stream is destroyed when the exchange fails.
 */
export function dispatchUpstream(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal: AbortSignal): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const exchange = new Exchange(options, signal, resolve, reject);
    if (signal.aborted) {
      exchange.onAbort();
      return;
    }
    signal.addEventListener('abort', exchange.onAbort, { once: true });
    try {
      dispatcher.dispatch(options, exchange);
    } catch (err) {
      exchange.fail(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/**
 * One upstream exchange as undici's dispatch handler: its state in fields and its callbacks on the
 * prototype (the handler was an object of closures made per exchange).
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #options: Dispatcher.DispatchOptions;
  readonly #signal: AbortSignal;
  readonly #resolve: (answer: UpstreamResponse) => void;
  readonly #reject: (err: Error) => void;
  #controller: Controller | undefined;
  #body: UpstreamBody | undefined;
  #settled = false;
  #interim = 0;

  constructor(options: Dispatcher.DispatchOptions, signal: AbortSignal, resolve: (answer: UpstreamResponse) => void, reject: (err: Error) => void) {
    this.#options = options;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** The signal's listener (bound: it is added to and removed from the signal as it is). */
  readonly onAbort = (): void => {
    const reason = this.#signal.reason instanceof Error ? this.#signal.reason : new Error(String(this.#signal.reason));
    if (this.#controller !== undefined) this.#controller.abort(reason);
    else this.fail(reason);
  };

  #done(): void {
    this.#signal.removeEventListener('abort', this.onAbort);
  }

  fail(err: Error): void {
    this.#done();
    const sent = this.#options.body;
    if (sent instanceof Readable) {
      sent.on('error', () => undefined);
      sent.destroy(err);
    }
    if (this.#body !== undefined) this.#body.fail(err);
    else if (!this.#settled) {
      this.#settled = true;
      this.#reject(err);
    }
  }

  onRequestStart(c: Controller): void {
    this.#controller = c;
    if (this.#signal.aborted) this.onAbort();
  }

  onResponseStart(c: Controller, statusCode: number, headers: UpstreamResponse['headers']): void {
    if (statusCode < 200) {
      // An interim answer (100 Continue unasked, 102 Processing, 103 Early Hints) is skipped, as
      // RFC 9110 §15.2 asks of a client; its headers are dropped, never forwarded (docs/sidecar.md says why).
      // 101 switches the connection to another protocol nobody asked for (the proxy never sends
      // Upgrade): the answer that follows is not HTTP and is refused.
      if (statusCode === 101) c.abort(new Error('the upstream answered 101 Switching Protocols to a request that asked for no protocol upgrade'));
      else if (++this.#interim > MAX_INTERIM_ANSWERS) c.abort(new Error(`the upstream sent more than ${MAX_INTERIM_ANSWERS} interim (1xx) answers before its final answer`));
      return;
    }
    const body = new UpstreamBody(c);
    this.#body = body;
    this.#settled = true;
    this.#resolve({ statusCode, headers, body });
  }

  onResponseData(_c: Controller, chunk: Buffer): void {
    this.#body?.data(chunk);
  }

  onResponseEnd(): void {
    this.#done();
    this.#body?.end();
  }

  onResponseError(_c: Controller, err: Error): void {
    this.fail(err);
  }
}
