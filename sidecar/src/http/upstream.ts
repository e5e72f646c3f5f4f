// One request to the upstream through undici's dispatch() with a handler of our own, instead of
// undici's request(): request() builds, per exchange, an AsyncResource, a Readable for the body and
// a promise around them, and every small JSON answer then went through that stream's events. Here
// the body's chunks are kept as they arrive until the proxy says how it reads them: whole (a small
// answer of declared length: no stream at all), or as a Readable with backpressure (every other
// body: unknown length, large, compressed, binary). Aborts, errors and backpressure behave as with
// request(): aborting the signal aborts the exchange, a body the proxy stops reading aborts it, an
// upstream failure fails the response (before its headers) or its body (after them). How far the
// request got (RequestProgress) tells the proxy what an agent leaving means: a request the upstream
// got whole is read to its answer (LeftBehind bounds that), and a record never states an outcome
// nobody observed (outcomeOf).
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
  readonly #progress: RequestProgress | undefined;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #stream: Readable | undefined;
  #waiting: { resolve(b: Buffer): void; reject(e: Error): void } | undefined;
  #reading = false;
  #discarded = false;

  constructor(controller: Controller, progress?: RequestProgress) {
    this.#controller = controller;
    this.#progress = progress;
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
    this.#progress?.received(chunk.length);
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
 * `progress` follows how far the request was written and whether the answer's head was read.
 */
export function dispatchUpstream(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal: AbortSignal, progress?: RequestProgress): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const exchange = new Exchange(options, signal, resolve, reject, progress);
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
  readonly #progress: RequestProgress | undefined;
  #settled = false;
  #interim = 0;

  constructor(options: Dispatcher.DispatchOptions, signal: AbortSignal, resolve: (answer: UpstreamResponse) => void, reject: (err: Error) => void, progress: RequestProgress | undefined) {
    this.#options = options;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#progress = progress;
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
    // undici calls this as it starts writing the request on a connection (not while it is queued).
    this.#progress?.writing();
    if (this.#signal.aborted) this.onAbort();
  }

  /** undici: the request's head and whole body were written to the upstream's connection. */
  onRequestSent(): void {
    this.#progress?.sent();
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
    const body = new UpstreamBody(c, this.#progress);
    this.#body = body;
    this.#progress?.head(statusCode);
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

/**
 * How far one request got to the upstream, as undici reports it: `queued` (nothing written: a request
 * aborted now never reached the upstream), `writing` (the head, maybe part of the body), `sent` (the
 * head and the whole body); and the answer's status once its head was read. The proxy decides from it
 * what the agent leaving means (LeftBehind) and what the record can say (outcomeOf).
 */
export class RequestProgress {
  #stage: 'queued' | 'writing' | 'sent' = 'queued';
  #status: number | undefined;
  #bytes = 0;
  #over = false;
  #onHead: (() => void) | undefined;
  #onBytes: ((total: number) => void) | undefined;

  get stage(): 'queued' | 'writing' | 'sent' { return this.#stage; }
  /** The proxy is done with the exchange (recorded, its answer released or cut): nothing of it is read any more. */
  get over(): boolean { return this.#over; }
  /** The upstream's status, once the head of its (final) answer was read. */
  get status(): number | undefined { return this.#status; }
  /** Bytes of the answer's body received so far. */
  get bytes(): number { return this.#bytes; }

  writing(): void {
    if (this.#stage === 'queued') this.#stage = 'writing';
  }

  sent(): void {
    this.#stage = 'sent';
  }

  head(status: number): void {
    // undici reports the answer before the request was written whole when the upstream answers early (a 413 mid-body).
    this.#status = status;
    this.#onHead?.();
  }

  received(n: number): void {
    this.#bytes += n;
    this.#onBytes?.(this.#bytes);
  }

  /**
   * The exchange is over (the proxy calls it when the exchange settles, whatever happened): what
   * `watch` registered is dropped, and a later `watch` registers nothing (LeftBehind.keep then
   * takes no place: an agent whose connection closes after its exchange ended leaves nothing behind).
   */
  end(): void {
    this.#over = true;
    this.unwatch();
  }

  /** Calls `onHead` once the answer's head is read (at once when it was), and `onBytes` with the body's total on each chunk. */
  watch(onHead: () => void, onBytes: (total: number) => void): void {
    if (this.#over) return;
    this.#onBytes = onBytes;
    this.#onHead = onHead;
    if (this.#status !== undefined) onHead();
  }

  /** Stops calling what `watch` registered. */
  unwatch(): void {
    this.#onHead = undefined;
    this.#onBytes = undefined;
  }
}

/** Answers read at most at once for agents that left (LeftBehind): each holds a pooled upstream connection. */
export const MAX_LEFT_BEHIND = 64;
/** How long the rest of an answer is read once its head arrived, for an agent that left. */
export const LEFT_BEHIND_BODY_MS = 10_000;
/** How many bytes of an answer's body are read for an agent that left (streamed through, never buffered for it). */
export const LEFT_BEHIND_BODY_BYTES = 1024 * 1024;

export interface LeftBehindBounds { max: number; bodyMs: number; bodyBytes: number }

/**
 * Exchanges whose agent left after the upstream got the request whole: the upstream acts on it
 * whether or not anyone reads the answer (a POST makes its refund), so the answer is read for the
 * record instead of being aborted (which would leave its outcome unknown). Bounded: the head by the
 * exchange's own headers timeout, then the body by `bodyMs` and `bodyBytes`, and at most `max` such
 * exchanges at once per listener; beyond that, or for a request not sent whole, the exchange is
 * aborted at once (the record then says the outcome is unknown, outcomeOf).
 */
export class LeftBehind {
  readonly #bounds: LeftBehindBounds;
  #open = 0;
  /** The end of each exchange holding a place: keeping one twice returns the same end (one place, given back once). */
  readonly #kept = new WeakMap<RequestProgress, () => void>();

  constructor(bounds: Partial<LeftBehindBounds> = {}) {
    this.#bounds = { max: MAX_LEFT_BEHIND, bodyMs: LEFT_BEHIND_BODY_MS, bodyBytes: LEFT_BEHIND_BODY_BYTES, ...bounds };
  }

  /** Exchanges being read for agents that left. */
  get open(): number { return this.#open; }

  /**
   * The agent left (`reason`): aborts `upstream` unless the request was sent whole and a place is
   * free, in which case the exchange goes on within the bounds. Returns what ends the watch (called
   * when the exchange ends, either way). For an exchange already over (RequestProgress.end) it does
   * nothing: there is no answer left to read, and a place taken then would never be given back
   * (round 12b: 64 such places and no answer was read for any agent that left).
   */
  keep(progress: RequestProgress, upstream: AbortController, reason: Error): () => void {
    if (progress.over) return () => undefined;
    const kept = this.#kept.get(progress);
    if (kept !== undefined) return kept;
    if (progress.stage !== 'sent') {
      upstream.abort(reason);
      return () => undefined;
    }
    if (this.#open >= this.#bounds.max) {
      upstream.abort(new Error(`${reason.message}, and ${this.#bounds.max} answers of other agents that left are being read already (the sidecar reads no more at once)`));
      return () => undefined;
    }
    return this.#place(progress, upstream);
  }

  /** Takes a place for `progress` and bounds the rest of its answer; returns what gives the place back (once). */
  #place(progress: RequestProgress, upstream: AbortController): () => void {
    this.#open++;
    let timer: NodeJS.Timeout | undefined;
    const { bodyMs, bodyBytes } = this.#bounds;
    const limit = progress.bytes + bodyBytes;
    progress.watch(() => {
      timer ??= setTimeout(() => upstream.abort(new Error(`the agent left, and the rest of the upstream's answer did not arrive within ${bodyMs} ms (not read further)`)), bodyMs);
      timer.unref();
    }, (total) => {
      if (total > limit) upstream.abort(new Error(`the agent left, and the upstream's answer went on past ${bodyBytes} more bytes (not read further)`));
    });
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.#open--;
      this.#kept.delete(progress);
      clearTimeout(timer);
      progress.unwatch();
    };
    this.#kept.set(progress, end);
    return end;
  }
}

/** What an exchange that did not end normally lets its record say. */
export interface KnownOutcome { status?: number; outcomeUnknown?: true; error: string }

/**
 * What the record of an exchange that failed can state, and nothing more (a record never holds a
 * status nobody sent): `status` is the one the agent got (`toAgent`: headers already sent, or the
 * refusal the proxy is about to send it) while the agent is there; once it left, the upstream's
 * own status when its answer's head was read, else none. `outcomeUnknown` when the request reached
 * the upstream (in part or whole) and no answer was read: the upstream may have acted on it.
 * `error` says what happened, starting with the agent's departure when it left.
 */
export function outcomeOf(o: { progress: RequestProgress; agentLeft: boolean; toAgent: number; error: string }): KnownOutcome {
  const { progress } = o;
  const unknown = progress.stage !== 'queued' && progress.status === undefined;
  const status = o.agentLeft ? progress.status : o.toAgent;
  return { ...(status === undefined ? {} : { status }), ...(unknown ? { outcomeUnknown: true as const } : {}), error: errorText(o.agentLeft, progress, o.error) };
}

function errorText(agentLeft: boolean, progress: RequestProgress, error: string): string {
  if (progress.status !== undefined) return error;
  if (progress.stage === 'queued') return agentLeft ? `the agent left before its request was sent to the upstream; nothing was forwarded (${error})` : error;
  const upstream = progress.stage === 'writing' ? 'the upstream got part of the request' : 'the upstream got the whole request';
  if (agentLeft) return `the agent left before the upstream answered; ${upstream}, and its answer was not read (${error})`;
  return `${error}; ${upstream}, and its answer was not read: what it did is unknown`;
}
