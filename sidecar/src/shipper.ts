// Delivers the spool to the operator's ingest API (docs/ingest-contract.md): registers the chain's
// public key, then sends batches in order, each ending at a signed checkpoint it carries; records leave the spool only after the operator says
// they are durably stored. Retries with backoff while the operator is away; resends are safe (the
// operator skips records it already has with the same hash).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { Agent, request } from './undici.ts';
import { upstreamLookup } from './upstream-address.ts';
import type { ChainPosition } from '../../core/recording/index.ts';
import { errorMessage, type Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { Spool } from './spool.ts';
import { TokenFile } from './token-file.ts';
import { backoff } from '../../core/backoff.ts';
import { opt, sleep } from './util.ts';

export interface ShipperOptions {
  spool: Spool;
  operatorUrl: string;
  operatorCaFile?: string;
  tokenDir: string;
  namespace: string;
  podName: string;
  logger: Logger;
  metrics?: Metrics;
  batchRecords?: number;
  batchBytes?: number;
  /** Wait this long after an append before sending, to batch bursts (default 50ms). */
  lingerMs?: number;
}

class IngestError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(what: string, status: number, body: Record<string, unknown>) {
    super(`${what}: HTTP ${status}${typeof body.message === 'string' ? `: ${body.message}` : typeof body.error === 'string' ? `: ${body.error}` : ''}`);
    this.status = status;
    this.body = body;
  }
}

interface ChainState { chainId?: string; keyId?: string; seq: number; head: string }

/** A request body already serialized as JSON. */
class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export class Shipper {
  readonly #opts: ShipperOptions;
  readonly #agent: Agent;
  readonly #token: TokenFile;
  readonly #stop = new AbortController();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #registered = false;
  #lastError: string | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(opts: ShipperOptions) {
    this.#opts = opts;
    this.#token = new TokenFile(join(opts.tokenDir, 'operator'));
    const ca = opts.operatorCaFile === undefined ? undefined : readFileSync(opts.operatorCaFile, 'utf8');
    // The operator is reached by name: never at this pod's own addresses (upstream-address.ts), where an agent could take the ingest token.
    this.#agent = new Agent({ connect: { ...opt('ca', ca), lookup: upstreamLookup }, keepAliveTimeout: 30_000 });
  }

  /** Last delivery problem, if the latest attempt failed. */
  get lastError(): string | undefined { return this.#lastError; }

  start(): void {
    this.#unsubscribe = this.#opts.spool.onAppend(() => this.#wake?.());
    this.#loop ??= this.#run();
  }

  /** Tries to deliver everything pending within `timeoutMs`; true when the spool is fully acknowledged. */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#opts.spool.pendingCount > 0 && Date.now() < deadline) {
      this.#wake?.();
      await sleep(Math.min(100, Math.max(1, deadline - Date.now())));
    }
    return this.#opts.spool.pendingCount === 0;
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#stop.abort();
    this.#wake?.();
    await this.#loop;
    await this.#agent.close();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      try {
        const progressed = await this.#step();
        failures = 0;
        this.#lastError = undefined;
        if (!progressed) await this.#idle(30_000);
      } catch (err) {
        this.#lastError = errorMessage(err);
        this.#opts.metrics?.shipFailures.inc({ reason: err instanceof IngestError ? String(err.status) : 'network' });
        const delay = backoff(failures++, { baseMs: 250, capMs: 10_000 });
        this.#opts.logger.warn({ err: this.#lastError, retryInMs: delay, pending: this.#opts.spool.pendingCount }, 'delivering session records to the operator failed; they stay in the spool');
        await sleep(delay, this.#stop.signal);
      }
    }
  }

  /** Waits for an append (plus a short linger to batch a burst), `ms`, or stop. */
  #idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let linger: NodeJS.Timeout | undefined;
      const wake = (): void => { linger ??= setTimeout(done, this.#opts.lingerMs ?? 50); };
      const done = (): void => {
        clearTimeout(timer);
        clearTimeout(linger);
        if (this.#wake === wake) this.#wake = undefined;
        this.#stop.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = wake;
      this.#stop.signal.addEventListener('abort', done, { once: true });
      if (this.#stop.signal.aborted) done();
    });
  }

  /** One registration or one batch. False when there is nothing to send. */
  async #step(): Promise<boolean> {
    if (!this.#registered) {
      await this.#register();
      return true;
    }
    const spool = this.#opts.spool;
    if (spool.pendingCount === 0) return false;
    // Records ending at a commit group's checkpoint, and that checkpoint: the operator checks the
    // records against its root and verifies its one signature for the whole batch.
    const { records, lines, checkpoint } = await spool.readAfter(spool.acked.seq, this.#opts.batchRecords ?? 500, this.#opts.batchBytes ?? 1024 * 1024);
    if (records.length === 0) return false;
    try {
      // {records, checkpoint} from the records' lines as the spool wrote them: no record serialized again.
      const body = new JsonText(`{"records":[${lines.join(',')}],"checkpoint":${JSON.stringify(checkpoint)}}`);
      const stored = await this.#call<ChainState>('POST', `/v1/chains/${encodeURIComponent(spool.chainId)}/records`, body);
      await this.#ack(stored);
      this.#opts.metrics?.shipped.inc(records.length);
    } catch (err) {
      if (err instanceof IngestError && err.status === 409) await this.#reconcile();
      throw err;
    }
    return true;
  }

  async #register(): Promise<void> {
    const spool = this.#opts.spool;
    const body = { chainId: spool.chainId, namespace: this.#opts.namespace, pod: this.#opts.podName, publicJwk: spool.key.publicJwk };
    const state = await this.#call<ChainState>('POST', '/v1/chains', body);
    this.#registered = true;
    this.#opts.logger.info({ chainId: spool.chainId, operatorSeq: state.seq, spoolSeq: spool.position.seq }, 'chain registered with the operator');
    await this.#ack(state);
  }

  /** After a 409: ask what the operator has, and skip what it already stored. */
  async #reconcile(): Promise<void> {
    const state = await this.#call<ChainState>('GET', `/v1/chains/${encodeURIComponent(this.#opts.spool.chainId)}`);
    await this.#ack(state);
  }

  async #ack(state: ChainState): Promise<void> {
    const spool = this.#opts.spool;
    const position: ChainPosition = { seq: state.seq, head: state.head };
    if (position.seq > spool.position.seq) {
      this.#opts.logger.error({ operatorSeq: position.seq, spoolSeq: spool.position.seq }, 'the operator has more records of this chain than the spool: not acknowledging');
      return;
    }
    if (position.seq < spool.acked.seq) {
      this.#opts.logger.error({ operatorSeq: position.seq, acked: spool.acked.seq }, 'the operator lost records it had acknowledged; they cannot be resent from the spool');
      return;
    }
    await spool.ack(position);
  }

  async #call<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    const res = await request(`${this.#opts.operatorUrl}${path}`, {
      method,
      dispatcher: this.#agent,
      headers: { authorization: `Bearer ${this.#token.read()}`, accept: 'application/json', ...opt('content-type', body === undefined ? undefined : 'application/json') },
      ...opt('body', body === undefined ? undefined : body instanceof JsonText ? body.text : JSON.stringify(body)),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
      signal: this.#stop.signal,
    });
    const text = await res.body.text();
    let json: Record<string, unknown>;
    try {
      json = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      json = { message: text.slice(0, 300) };
    }
    if (res.statusCode < 200 || res.statusCode > 299) throw new IngestError(`${method} ${path}`, res.statusCode, json);
    return json as T;
  }
}
