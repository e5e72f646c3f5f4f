// The HTTP listener: a reverse proxy on 127.0.0.1:<listenPort> in front of one http target.
// Per request: authenticate (Authorization: Bearer), declared purpose (X-Guarita-Purpose), decide
// under the live policy, then deny (403 naming the rule), hold for approval (409 naming the
// ApprovalRequest when the wait ends first), or forward with undici (keep-alive pool, streaming
// both ways) and mask JSON/text responses in stream. The last bytes of a response are released
// only after the exchange is durably recorded: a client never sees a complete answer that the
// spool does not have.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from '../node-http.ts';
import type { Transform } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import { TextDecoder } from 'node:util';
import type { Dispatcher } from 'undici';
import { Pool, readContinueAsInterim } from '../undici.ts';
import type { TargetConfig } from '../config.ts';
import type { Authorization, Command, CommandOutcome, Session } from '../enforcement.ts';
import type { SidecarEnforcer } from '../enforcer.ts';
import { errorMessage, type Logger } from '../log.ts';
import { type Metrics, type RequestOutcome, refusedOutcome } from '../metrics.ts';
import { httpUpstream, type HttpUpstream } from '../targets.ts';
import { opt } from '../util.ts';
import { bodyKind, decoderFor, MaskingPipeline, maskedContentType, maskWholeUtf8, parseContentType, passesUnchanged, sniffText, textDecoderFor, UnmaskableBody, type MaskedWhole } from './body.ts';
import { normalizePath, parseQueryString } from '../../../core/policy/http.ts';
import { isJsonLabel, readJsonBody } from '../../../core/policy/http-json.ts';
import {
  acceptEncoding, boundHeaderLines, boundTarget, endToEnd, headerValue, MASKED_RESPONSE_DROP, maskHeaderValue, maskResponseHeaders, methodOverrideParam, multipartOverride, REQUEST_DROP, requestContentCoding, requestProblem,
} from './headers.ts';
import { HttpSessions } from './sessions.ts';
import { CredentialRedactor, redactedWhole, type CredentialStream } from './credential-redaction.ts';
import { isFormType, mergedReadings, readFormBody } from './form-body.ts';
import { dispatchUpstream, LeftBehind, outcomeOf, RequestProgress, type UpstreamBody, type UpstreamResponse } from './upstream.ts';
import { drainedOrClosed, drainServer, listenerTimeouts } from '../listener-lifecycle.ts';
import { BodyAbandoned, BodyBudget, BodyRefusal, collectBody, hasRequestBody, NO_BODY, type CollectedBody } from '../body-budget.ts';

export interface HttpListenerOptions {
  host: string;
  /** 0 picks a free port (see `address`). */
  port: number;
  target: TargetConfig;
  enforcer: SidecarEnforcer;
  credentialsDir: string;
  logger: Logger;
  metrics: Metrics;
  /** Non-text responses: passed through unmasked, or refused (502). */
  binary: 'passthrough' | 'refuse';
  /** Request bodies up to this size are buffered (policy matching on JSON, exact approval binding). */
  maxBufferedBody: number;
  /** Longest an agent may take to send one whole request; then 408 and the connection is closed. */
  requestTimeoutMs?: number;
  /** Open agent connections; beyond it new connections are closed at once (the others keep being served). */
  maxConnections?: number;
  sessionIdleMs?: number;
}

export interface HttpListener {
  readonly address: { host: string; port: number };
  readonly inFlight: number;
  /** Stops accepting, waits up to `drainMs` for in-flight requests, then cuts what is left. */
  close(drainMs: number): Promise<void>;
}

/** Buffered up to GUARITA_HTTP_MAX_BUFFERED_BODY; beyond that streamed upstream as is. */
type RequestBody = CollectedBody;

/**
 * The request as judged, and as it is forwarded (target, method and headers are the same); `abort`
 * fires when the agent goes away: one per request (what it means for the upstream exchange depends
 * on how far the request got, #forward).
 */
interface Outgoing {
  method: string; target: string; headers: Record<string, string | string[]>; masking: boolean; body: RequestBody; abort: AbortController;
  /** The credentials the forwarded request carries, redacted in all that comes back of it (set once the upstream is known). */
  redactor?: CredentialRedactor | undefined;
}

const STATUS_FOR_REFUSAL = { Unauthenticated: 401, Forbidden: 403, Unavailable: 503 } as const;
const MAX_TEXT_IN_COMMAND = 60 * 1024;
/** How much of a body labelled binary is read to tell whether it is text in disguise. */
const SNIFF_BYTES = 1024;
/** Largest declared body read whole to see whether masking can leave it as it is (passesUnchanged). */
const WHOLE_BODY_LIMIT = 256 * 1024;

/** The first `n` bytes of `source` (fewer when it ends first), and the whole of it again as `rest`. */
async function peek(source: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; complete: boolean; rest: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let size = 0;
  let complete = false;
  while (size < n) {
    const r = await it.next();
    if (r.done === true) {
      complete = true;
      break;
    }
    parts.push(r.value);
    size += r.value.length;
  }
  const head = Buffer.concat(parts);
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      for (let r = complete ? undefined : await it.next(); r !== undefined && r.done !== true; r = await it.next()) yield r.value;
    } finally {
      await it.return?.();
    }
  }
  return { head, complete, rest: rest() };
}

/** The body as a stream, decoded from its content-encoding (the decoder fails with the body). */
function decodedBody(upstream: UpstreamBody, decoder: Transform | undefined): AsyncIterable<Buffer> {
  const body = upstream.stream();
  if (decoder === undefined) return body;
  body.on('error', (err) => decoder.destroy(err));
  return body.pipe(decoder);
}

function sendJson(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

function isUtf8Text(data: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(data);
    return true;
  } catch {
    return false;
  }
}

/**
 * The exact text a request is recorded and approved as: method and the forwarded target, the
 * forwarded headers that change what the upstream does (one per line, like HTTP), and the body.
 */
function requestText(method: string, target: string, headerLines: readonly string[], body: RequestBody, sha256: (b: Buffer) => string): string {
  const head = [`${method} ${target}`, ...headerLines].join('\n');
  if (body.kind === 'none') return head;
  if (body.kind === 'streamed') return `${head}\n\n[request body over the buffering limit, streamed without inspection]`;
  if (body.data.length === 0) return head;
  if (body.data.length <= MAX_TEXT_IN_COMMAND && isUtf8Text(body.data)) return `${head}\n\n${body.data.toString('utf8')}`;
  return `${head}\n\n[request body: ${body.data.length} bytes, sha256 ${sha256(body.data)}]`;
}

const FORM_REQUEST = /^application\/x-www-form-urlencoded\b/i;
const MULTIPART_REQUEST = /^multipart\//i;

/**
 * The JSON body the policy judges (core/policy/http-json.ts): strict JSON with each key once, under
 * a JSON label (isJsonLabel: also text/json, any +json), and under another label or none whenever a
 * lenient reader could take it as JSON (it starts with { or [ after a byte-order mark, in UTF-16/32,
 * after any whitespace); a body upstreams could read otherwise (repeated keys, comments, a
 * byte-order mark...) is refused.
 */
function jsonBody(req: IncomingMessage, body: RequestBody): unknown {
  if (body.kind !== 'buffered') return undefined;
  const reading = readJsonBody(body.data, isJsonLabel(req.headers['content-type']));
  if (!reading.ok) throw new ExchangeError(400, 'AmbiguousBody', `the request body cannot be judged: ${reading.problem}; send strict UTF-8 JSON (RFC 8259) with each key once`);
  return reading.json;
}

/**
 * The body the policy judges, with a form's fields read as the body (form-body.ts) when the body
 * reaches the upstream as a form (urlencoded, multipart, or unlabelled, which Rack reads as one);
 * merged with its JSON reading when it has both. A form that cannot be judged is refused (400).
 */
function withFormFields(req: IncomingMessage, body: RequestBody, json: unknown): unknown {
  const type = upstreamType(req);
  if (body.kind !== 'buffered' || body.data.length === 0 || !isFormType(type)) return json;
  const form = readFormBody(body.data, type);
  const merged = form.ok ? (json === undefined ? { ok: true as const, body: form.fields } : mergedReadings(json, form.fields)) : form;
  if (!merged.ok) throw new ExchangeError(400, 'AmbiguousBody', `the request body cannot be judged: ${merged.problem}; send strict UTF-8 JSON (RFC 8259) labelled application/json, or a form whose fields are each a value or an object`);
  return merged.body;
}

/**
 * A method override hidden in the query or the body (`_method=DELETE`, as Rails, Laravel, Symfony
 * and Express's method-override read it); a body of a type frameworks read such fields from that
 * is too large to inspect is refused too (413).
 */
function overrideField(type: string, query: string, body: RequestBody, json: unknown): string | undefined {
  const data = body.kind === 'buffered' ? body.data.toString('latin1') : '';
  // An unlabelled body is read as a form too: Rack parses the fields of a POST without Content-Type
  // (Rack::Request#form_data?), and Rack::MethodOverride then runs it as the `_method` it names.
  const form = FORM_REQUEST.test(type) || type.trim() === '' ? parseQueryString(data) : undefined;
  const found = methodOverrideParam(parseQueryString(query), form, json);
  if (found !== undefined || !MULTIPART_REQUEST.test(type)) return found;
  return multipartOverride(data);
}

/** The Content-Type the upstream reads: none when the agent names it in Connection (endToEnd drops it). */
function upstreamType(req: IncomingMessage): string {
  return connectionNames(req.headers.connection, 'content-type') ? '' : req.headers['content-type'] ?? '';
}

/** Whether frameworks read fields (a method override) from a body of this type: none, JSON, a form, multipart. */
function readsFields(type: string): boolean {
  return type.trim() === '' || isJsonLabel(type) || FORM_REQUEST.test(type) || MULTIPART_REQUEST.test(type);
}

/** The refusal of a request that carries a method override (or may, unseen); undefined when none. */
function overrideProblem(req: IncomingMessage, query: string, body: RequestBody, json: unknown, maxBuffered: number): ExchangeError | undefined {
  const type = upstreamType(req);
  const unlabelled = type.trim() === '';
  if (body.kind === 'streamed' && readsFields(type)) return uncheckedBody(type, unlabelled, maxBuffered);
  const found = overrideField(type, query, body, json);
  if (found === undefined) return undefined;
  return new ExchangeError(400, 'MethodOverride', `the request carries ${found}, which asks the upstream to treat this ${req.method ?? 'GET'} request as another method the policy did not judge; send the request with that method instead`);
}

/** The refusal of a body too large to be checked for method-override fields, of a type frameworks read them from. */
function uncheckedBody(type: string, unlabelled: boolean, maxBuffered: number): ExchangeError {
  const what = unlabelled ? 'an unlabelled request body (no Content-Type reaches the upstream, and frameworks read it as a form)' : `a ${type.split(';')[0] ?? ''} request body`;
  return new ExchangeError(413, 'BodyTooLarge', `${what} over ${maxBuffered} bytes cannot be checked for method-override fields (_method); send a smaller body${unlabelled ? ', or label it with its Content-Type' : ''}`);
}

/** Whether a Connection header value names `name` (so the header is hop-by-hop and never forwarded). */
function connectionNames(connection: string | undefined, name: string): boolean {
  return connection !== undefined && connection.split(',').some((t) => t.trim().toLowerCase() === name);
}

/** The headers of a body sent whole: its length, unless the upstream's (of these very bytes) is there. */
function sized(headers: Record<string, string | string[]>, length: number): Record<string, string | string[]> {
  return headerValue(headers, 'content-length') === undefined ? { ...headers, 'content-length': String(length) } : headers;
}

/** What an exchange that failed is recorded and answered with; it can quote the upstream (a Content-Type it answered): redacted like its answers. */
function exchangeError(err: unknown, signal: AbortSignal, redactor: CredentialRedactor | undefined): string {
  const error = signal.aborted ? errorMessage(signal.reason) : errorMessage(err);
  return redactor === undefined ? error : redactor.text(error);
}

/**
 * Whether the agent is gone: its connection closed (`clientGone`), or is closing while the failure
 * it caused (a request body cut short) is handled first.
 */
function agentLeft(res: ServerResponse, clientGone: AbortSignal): boolean {
  return clientGone.aborted || res.destroyed || res.socket?.destroyed === true;
}

/** Resolves when `res` can take more data, or has closed (no listener left behind: a long slow answer waits many times). */
async function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (chunk.length === 0 || res.destroyed) return;
  if (res.write(chunk)) return;
  await drainedOrClosed(res);
}

class ExchangeError extends Error {
  readonly status: number;
  readonly code: string;
  /** The request's body was left unread: the answer closes the connection, which is out of step. */
  readonly closes: boolean;
  constructor(status: number, code: string, message: string, closes = false) {
    super(message);
    this.status = status;
    this.code = code;
    this.closes = closes;
  }
}

/** A request target normalized (what is judged and forwarded, its query, and how it is recorded), or not. */
type CheckedTarget = Readonly<{ ok: true; target: string; query: string; bound: string } | { ok: false }>;
const NOT_NORMALIZED: CheckedTarget = Object.freeze({ ok: false });
const CHECKED_TARGETS_KEPT = 512;
/** Longer targets are checked every time rather than kept. */
const CHECKED_TARGET_MAX_LENGTH = 2048;

/** judgesBodies: a restrictive rule reads request bodies; readsBodies: any rule does (forms are read as bodies then). */
interface PolicyTraits { masking: boolean; judgesBodies: boolean; readsBodies: boolean }
const NO_POLICY: PolicyTraits = { masking: true, judgesBodies: false, readsBodies: false };

/**
 * Methods that ask the upstream to echo the request back (TRACE; TRACK, IIS's), with the
 * credential the sidecar adds to it: judged and recorded like any request, never forwarded (405).
 */
const ECHO_METHODS: ReadonlySet<string> = new Set(['TRACE', 'TRACK']);

/**
 * How an exchange went; `last`: the last bytes of the answer, held back until the exchange is
 * recorded. `status` is absent when no status was sent to the agent nor read from the upstream
 * (outcomeOf), and `outcomeUnknown` set when the upstream got the request but its answer was not read.
 */
interface Forwarded { status?: number; bytes: number; sample?: { sample: string; truncated: boolean }; error?: string; outcomeUnknown?: true; last?: Buffer }

export class HttpProxy {
  readonly #opts: HttpListenerOptions;
  readonly #sessions: HttpSessions;
  /** Request bodies being read or forwarded (body-budget.ts). */
  readonly #bodies: BodyBudget;
  readonly #pools = new Map<string, Pool>();
  /** The pool and Host header of an upstream setting (re-read every few seconds), found once per setting. */
  readonly #upstreamRoutes = new WeakMap<HttpUpstream, { pool: Pool; host: string }>();
  /** What the proxy needs of a compiled policy per request, worked out once per policy generation. */
  readonly #policyTraits = new WeakMap<object, PolicyTraits>();
  readonly #counters = new Map<RequestOutcome, { inc(): void }>();
  #upstreamLatency: { observe(seconds: number): void } | undefined;
  readonly #sockets = new Set<Socket>();
  #upstream: { target: object; upstream: HttpUpstream; at: number } | undefined;
  /** The exchanges being forwarded per session, cut together when it closes: one listener per session, not per exchange. */
  readonly #forwarding = new WeakMap<Session, Set<AbortController>>();
  /** Exchanges read to their answer after their agent left (bounded: upstream.ts). */
  readonly #leftBehind = new LeftBehind();
  /** Their records being written, waited for at shutdown (the agent's connection no longer counts them in #inFlight). */
  readonly #unrecorded = new Set<Promise<void>>();
  #inFlight = 0;
  #server: Server | undefined;
  readonly #sha256: (b: Buffer) => string;
  #lastAuthorization: { value: string; credential: string | undefined } | undefined;
  readonly #checkedTargets = new Map<string, CheckedTarget>();
  /** The credential redactor of each upstream setting (null: it sends no credential). */
  readonly #redactors = new WeakMap<HttpUpstream, CredentialRedactor | null>();

  constructor(opts: HttpListenerOptions, sha256: (b: Buffer) => string) {
    this.#opts = opts;
    this.#sha256 = sha256;
    this.#sessions = new HttpSessions(opts.enforcer, opts.target.target, opts.sessionIdleMs);
    this.#bodies = new BodyBudget(opts.maxBufferedBody);
  }

  get inFlight(): number { return this.#inFlight; }

  async listen(): Promise<{ host: string; port: number }> {
    const server = createServer(listenerTimeouts(this.#opts.requestTimeoutMs), (req, res) => {
      this.#inFlight++;
      // One controller for the whole exchange: an approval wait ends when the agent leaves, and so
      // does the upstream request (also one not yet sent when the agent left during the wait).
      const clientGone = new AbortController();
      res.once('close', () => {
        this.#inFlight--;
        if (!res.writableFinished) clientGone.abort(new Error('the client closed the connection'));
      });
      void this.#handle(req, res, clientGone);
    });
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.maxConnections = this.#opts.maxConnections ?? 1024;
    server.on('drop', () => this.#opts.logger.warn({ maxConnections: server.maxConnections }, 'agent connection refused: the listener holds GUARITA_HTTP_MAX_CONNECTIONS connections'));
    server.on('upgrade', (_req, socket: Socket) => {
      socket.end('HTTP/1.1 501 Not Implemented\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nprotocol upgrades (WebSocket) cannot be governed by the Guarita sidecar\n');
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    return { host: this.#opts.host, port: addr.port };
  }

  async close(drainMs: number): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    await drainServer(server, () => this.#inFlight, this.#sockets, drainMs);
    // Closing the sessions cuts the exchanges still being read for agents that left; their records are written before the pools close.
    await this.#sessions.closeAll('the Guarita sidecar is shutting down');
    await Promise.allSettled([...this.#unrecorded]);
    await Promise.all([...this.#pools.values()].map((p) => p.close()));
  }

  #count(outcome: RequestOutcome): void {
    // A prom-client child still hashes and validates its label set on every inc() (~0.24 us measured here); a count
    // cell is a plain number added to the counter when it is read (metrics.ts), found once per outcome.
    let counter = this.#counters.get(outcome);
    if (counter === undefined) {
      counter = this.#opts.metrics.requestCell(this.#opts.target.target, 'http', outcome);
      this.#counters.set(outcome, counter);
    }
    counter.inc();
  }

  async #handle(req: IncomingMessage, res: ServerResponse, clientGone: AbortController): Promise<void> {
    try {
      await this.#exchange(req, res, clientGone);
    } catch (err) {
      const status = err instanceof ExchangeError ? err.status : 503;
      const code = err instanceof ExchangeError ? err.code : 'Unavailable';
      this.#count(refusedOutcome(status));
      if (!(err instanceof ExchangeError)) this.#opts.logger.error({ err: errorMessage(err) }, 'request failed');
      if (err instanceof ExchangeError && err.closes) res.shouldKeepAlive = false;
      sendJson(res, status, { error: code, message: errorMessage(err) }, status === 401 ? { 'www-authenticate': 'Bearer realm="guarita"' } : {});
    }
  }

  /** The agent's session: the open one of its credential and purpose (no promise), or one opened now. */
  /** The bearer credential of an Authorization value (the last value's, remembered: agents repeat it, and the ~1 KB token was scanned per request). */
  #bearer(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    if (value === this.#lastAuthorization?.value) return this.#lastAuthorization.credential;
    const credential = BEARER.exec(value)?.[1];
    this.#lastAuthorization = { value, credential };
    return credential;
  }

  #open(req: IncomingMessage): Session | Promise<Session> {
    const credential = this.#bearer(req.headers.authorization);
    if (credential === undefined) throw new ExchangeError(401, 'Unauthenticated', 'send Authorization: Bearer <OIDC or service-account token>');
    const declared = headerValue(req.headers, 'x-guarita-purpose')?.trim();
    const purpose = declared === '' ? undefined : declared;
    return this.#sessions.cached(credential, purpose, req.socket) ?? this.#opened(req, credential, purpose);
  }

  async #opened(req: IncomingMessage, credential: string, purpose: string | undefined): Promise<Session> {
    const opened = await this.#sessions.get(credential, purpose, {
      remoteAddress: req.socket.remoteAddress ?? 'unknown', connection: `${req.socket.remoteAddress ?? 'unknown'}:${req.socket.remotePort ?? 0}`, ...opt('application', headerValue(req.headers, 'user-agent')?.slice(0, 200)),
    }, req.socket);
    if (!opened.ok) throw new ExchangeError(STATUS_FOR_REFUSAL[opened.code], opened.code, opened.message);
    return opened.session;
  }

  /**
   * The request target as judged and forwarded (normalizePath) and as recorded (boundTarget), or
   * not ok when it cannot be normalized; remembered per target as sent (bounded), since agents
   * repeat theirs (polling, paging), and both are pure functions of it.
   */
  #checkedTarget(url: string): CheckedTarget {
    const known = this.#checkedTargets.get(url);
    if (known !== undefined) return known;
    const norm = normalizePath(url);
    const checked: CheckedTarget = norm.ok ? Object.freeze({ ok: true, target: norm.target, query: norm.query, bound: boundTarget(norm.target) }) : NOT_NORMALIZED;
    if (url.length <= CHECKED_TARGET_MAX_LENGTH) {
      if (this.#checkedTargets.size >= CHECKED_TARGETS_KEPT) this.#checkedTargets.clear();
      this.#checkedTargets.set(url, checked);
    }
    return checked;
  }

  /** The request's method, once its method and framing are ones the sidecar forwards (else the refusal is thrown). */
  #checkedMethod(req: IncomingMessage, res: ServerResponse): string {
    if (req.method === 'CONNECT') throw new ExchangeError(405, 'MethodNotAllowed', 'CONNECT is not supported by the Guarita sidecar');
    const method = req.method ?? 'GET';
    const framing = requestProblem(method, req.rawHeaders);
    if (framing !== undefined) {
      // The body is not read: the connection cannot be trusted to be in step with the client.
      res.shouldKeepAlive = false;
      throw new ExchangeError(framing.status, framing.code, framing.message);
    }
    return method;
  }

  /**
   * The request's body, charged to the listener's budget until its exchange ends. An agent gone
   * already (it left during authentication) sends no more of it: refused at once rather than after
   * the body deadline, nothing judged or forwarded; so is one that leaves while it is read.
   */
  async #readBody(req: IncomingMessage, res: ServerResponse, gone: AbortSignal): Promise<RequestBody> {
    if (gone.aborted) throw new ExchangeError(400, 'ClientGone', new BodyAbandoned().message, true);
    const hold = this.#bodies.open();
    res.once('close', () => hold.release());
    try {
      return await collectBody(req, { max: this.#opts.maxBufferedBody, overMax: 'stream', hold, budget: this.#bodies });
    } catch (err) {
      if (err instanceof BodyRefusal) throw new ExchangeError(err.status, err.status === 408 ? 'BodyTimeout' : 'Unavailable', err.message, true);
      // The agent's doing, not the sidecar failing (it was answered 503 Unavailable and logged as an error).
      if (err instanceof BodyAbandoned) throw new ExchangeError(400, 'ClientGone', err.message, true);
      throw err;
    }
  }

  async #exchange(req: IncomingMessage, res: ServerResponse, clientGone: AbortController): Promise<void> {
    const method = this.#checkedMethod(req, res);
    const open = this.#open(req);
    const session = open instanceof Promise ? await open : open;
    // Most requests (GET) have no body: no promise and no turn of the event loop for it.
    const body = hasRequestBody(req) ? await this.#readBody(req, res, clientGone.signal) : NO_BODY;
    // What the policy judges is what the upstream receives: the normalized target (never the raw
    // one), and the headers exactly as they will be forwarded. A target that cannot be normalized
    // goes to the policy as sent, which refuses it (Unparseable) and records the attempt.
    const norm = this.#checkedTarget(req.url ?? '/');
    const target = norm.ok ? norm.target : req.url ?? '/';
    const json = this.#judgedBody(req, body, norm.ok ? norm : undefined);
    const masking = this.#traits().masking;
    const forwarded = this.#forwardHeaders(req, masking);
    const command: Command = { protocol: 'http', method, path: target, ...opt('jsonBody', json) };
    const auth = await session.authorize(command, {
      commandText: requestText(method, norm.ok ? norm.bound : target, boundHeaderLines(forwarded), body, this.#sha256),
      signal: clientGone.signal,
      ...opt('unapprovable', this.#unapprovable(method, body)),
    });
    const forwarding = this.#answer(res, session, auth, { method, target, headers: forwarded, masking, body, abort: clientGone });
    if (forwarding !== undefined) await forwarding;
  }

  /** Why a request cannot be held for approval (a requireApproval decision denies it then); undefined when it can. */
  #unapprovable(method: string, body: RequestBody): string | undefined {
    if (ECHO_METHODS.has(method)) return `${method} is never forwarded (the upstream would echo the request back, with the credential the sidecar adds)`;
    return body.kind === 'streamed' ? `the request body is larger than ${this.#opts.maxBufferedBody} bytes and cannot be bound to an approval` : undefined;
  }

  /**
   * An allowed TRACE or TRACK: the upstream would echo the request, with the target credential the
   * sidecar adds, back to the agent (Apache answers TRACE so by default). Recorded as refused, then
   * answered 405, as CONNECT is.
   */
  async #refuseEcho(res: ServerResponse, auth: Extract<Authorization, { verdict: 'allow' }>, method: string): Promise<void> {
    this.#count(refusedOutcome(405));
    const message = `${method} is not forwarded by the Guarita sidecar: the upstream would echo the request back, with the credential the sidecar adds to it; send the request you want to see with its own method`;
    try {
      await auth.complete({ result: { status: 405, bytes: 0, error: message }, masked: {}, durationMs: 0 });
    } catch (err) {
      this.#opts.logger.error({ err: errorMessage(err) }, 'the refusal could not be recorded');
      sendJson(res, 503, { error: 'Unavailable', message: errorMessage(err) });
      return;
    }
    sendJson(res, 405, { error: 'MethodNotAllowed', message });
  }

  /** Answers a refusal or a hold at once; an allowed request is forwarded (the promise of its exchange). */
  #answer(res: ServerResponse, session: Session, auth: Authorization, out: Outgoing): Promise<void> | undefined {
    if (auth.verdict === 'deny') {
      const unavailable = auth.decision.code === 'Unavailable' || auth.decision.code === 'ApprovalUnavailable' || auth.decision.code === 'SessionClosed';
      this.#count(unavailable ? 'unavailable' : 'denied');
      sendJson(res, unavailable ? 503 : 403, { error: unavailable ? 'Unavailable' : 'Forbidden', code: auth.decision.code, ...opt('rule', auth.decision.rule), message: auth.message });
      return;
    }
    if (auth.verdict === 'pending') {
      this.#count('pending');
      sendJson(res, 409, { error: 'ApprovalPending', approvalRequest: auth.approvalRequest, message: auth.message }, { 'x-guarita-approval-request': auth.approvalRequest, 'retry-after': '10' });
      return;
    }
    if (ECHO_METHODS.has(out.method)) return this.#refuseEcho(res, auth, out.method);
    this.#count('allowed');
    return this.#forward(res, session, auth, out);
  }

  #route(upstream: HttpUpstream): { pool: Pool; host: string } {
    let route = this.#upstreamRoutes.get(upstream);
    if (route !== undefined) return route;
    const key = JSON.stringify([upstream.origin, upstream.tls]);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new Pool(upstream.origin, { connections: 256, keepAliveTimeout: 30_000, pipelining: 1, connect: { ...upstream.tls } });
      readContinueAsInterim(pool);
      this.#pools.set(key, pool);
    }
    route = { pool, host: new URL(upstream.origin).host };
    this.#upstreamRoutes.set(upstream, route);
    return route;
  }

  #upstreamFor(): HttpUpstream {
    const available = this.#opts.enforcer.available(this.#opts.target);
    if (!available.ok) throw new ExchangeError(503, 'Unavailable', available.message);
    const cached = this.#upstream;
    // Mounted Secrets change in place (rotation): re-read the credentials every few seconds.
    if (cached !== undefined && cached.target === available.target && Date.now() - cached.at < 5000) return cached.upstream;
    try {
      const upstream = httpUpstream(available.target.policy, this.#opts.credentialsDir);
      this.#upstream = { target: available.target, upstream, at: Date.now() };
      return upstream;
    } catch (err) {
      throw new ExchangeError(503, 'Unavailable', `target ${this.#opts.target.target}: ${errorMessage(err)}`);
    }
  }

  /** The JSON body the policy judges, or the refusal of a body it cannot judge (too large, ambiguous, a method override). */
  #judgedBody(req: IncomingMessage, body: RequestBody, target: { query: string } | undefined): unknown {
    const encoded = this.#encodedBody(req, body);
    if (encoded !== undefined) throw encoded;
    const json = jsonBody(req, body);
    if (body.kind === 'streamed' && this.#traits().judgesBodies) {
      throw new ExchangeError(413, 'BodyTooLarge', `a deny or requireApproval rule of the policy matches request bodies (match.http.jsonBody), and a body over ${this.#opts.maxBufferedBody} bytes cannot be judged; send a smaller body`);
    }
    if (target === undefined) return json;
    const judged = this.#traits().readsBodies ? withFormFields(req, body, json) : json;
    const query = target.query;
    // Without a body and a query there is no field an override could hide in (the headers were checked).
    if (query !== '' || body.kind !== 'none') {
      const override = overrideProblem(req, query, body, json, this.#opts.maxBufferedBody);
      if (override !== undefined) throw override;
    }
    return judged;
  }

  /**
   * The refusal of a compressed body (any Content-Encoding but identity) that the sidecar reads:
   * every buffered body (its JSON reading and method-override fields), and one too large to buffer
   * that a body rule or the override check would read (refused as too large otherwise). The checks
   * read the bytes as they arrive, while Express's body-parser, ASP.NET Core's RequestDecompression
   * and gateways inflate them first: a gzip form's `_method` or a gzip `{"action":"export"}` would
   * pass unseen. Refused rather than decoded: decoding would need its own bound against
   * decompression bombs (a few KiB inflating to gigabytes) and could still differ from the
   * upstream's decoder (stacked codings, x-gzip, zlib-wrapped or raw deflate, concatenated gzip
   * members), and clients can always send the body uncompressed.
   */
  #encodedBody(req: IncomingMessage, body: RequestBody): ExchangeError | undefined {
    if (body.kind === 'none') return undefined;
    const coding = requestContentCoding(req.rawHeaders);
    if (coding === undefined) return undefined;
    // A body over the buffering limit, of a type no check reads fields from, under a policy without
    // body rules, is forwarded unread whether compressed or not: the sidecar judges none of its
    // bytes, so a coding hides nothing from it (and such a body cannot be approved: unapprovable).
    if (body.kind === 'streamed' && !this.#traits().judgesBodies && !readsFields(upstreamType(req))) return undefined;
    return new ExchangeError(415, 'EncodedBody', `the request has Content-Encoding: ${coding}; the upstream may decode the body into another one than the policy judged (which reads the bytes as sent); send the body uncompressed, without Content-Encoding`);
  }

  /**
   * Whether masking is on (also without a policy: the request is refused then anyway, by the
   * enforcer) and whether a restrictive rule looks into request bodies (then a body too large to
   * read cannot pass unjudged), for the policy in force.
   */
  #traits(): PolicyTraits {
    const available = this.#opts.enforcer.available(this.#opts.target);
    if (!available.ok) return NO_POLICY;
    let traits = this.#policyTraits.get(available.target);
    if (traits === undefined) {
      const spec = available.target.policy.spec;
      const bodyRules = spec.rules.filter((r) => (r.match?.http?.jsonBody?.length ?? 0) > 0);
      traits = { masking: spec.masking?.enabled !== false, judgesBodies: bodyRules.some((r) => r.action !== 'allow'), readsBodies: bodyRules.length > 0 };
      this.#policyTraits.set(available.target, traits);
    }
    return traits;
  }

  /** The agent's headers as the upstream gets them, before the sidecar's Host and credential. */
  #forwardHeaders(req: IncomingMessage, masking: boolean): Record<string, string | string[]> {
    // Hop-by-hop headers (and those Connection names) and forgeable forwarding claims are dropped.
    const headers = endToEnd(req.headers, REQUEST_DROP, true);
    if (masking) {
      // Partial content cannot be masked reliably; encodings are limited to what can be decoded.
      delete headers.range;
      delete headers['if-range'];
      // Nor is an answer in a charset the agent picked (Accept-Charset: utf-16) worth the risk of a
      // mislabelled one: the upstream chooses, and the sidecar decodes what it labels.
      delete headers['accept-charset'];
      headers['accept-encoding'] = acceptEncoding(headerValue(req.headers, 'accept-encoding'));
    }
    return headers;
  }

  /** The forwarded headers plus the sidecar's Host and credential (set on them: they were bound and recorded before this). */
  #requestHeaders(out: Outgoing, upstream: HttpUpstream, host: string): Record<string, string | string[]> {
    const { headers } = out;
    headers.host = host;
    if (upstream.token !== undefined) headers.authorization = `Bearer ${upstream.token}`;
    if (out.body.kind === 'streamed' && out.body.length !== undefined) headers['content-length'] = out.body.length;
    return headers;
  }

  /**
   * Forwards an allowed request and records it. The upstream exchange has its own abort: the
   * session closing cuts it, and so does the agent leaving before the upstream got the request whole;
   * once it did, the upstream acts on it whatever the agent does, so the answer is read for the
   * record (bounded, LeftBehind) rather than aborted into an outcome nobody observed.
   */
  #forward(res: ServerResponse, session: Session, auth: Extract<Authorization, { verdict: 'allow' }>, out: Outgoing): Promise<void> {
    const upstream = new AbortController();
    const progress = new RequestProgress();
    let endWatch = (): void => undefined;
    const left = (): void => {
      const reason = out.abort.signal.reason instanceof Error ? out.abort.signal.reason : new Error('the client closed the connection');
      endWatch = this.#leftBehind.keep(progress, upstream, reason);
    };
    if (out.abort.signal.aborted) left();
    else out.abort.signal.addEventListener('abort', left, { once: true });
    const done = this.#exchangeUpstream(res, session, auth, out, { upstream, progress }).finally(() => {
      out.abort.signal.removeEventListener('abort', left);
      // Over: a LeftBehind.keep() from here on (a listener that outlived this) takes no place.
      progress.end();
      endWatch();
    });
    // Once the agent left, the exchange is no longer counted by its connection: shutdown waits for its record.
    this.#unrecorded.add(done);
    void done.finally(() => this.#unrecorded.delete(done));
    return done;
  }

  async #exchangeUpstream(res: ServerResponse, session: Session, auth: Extract<Authorization, { verdict: 'allow' }>, out: Outgoing, up: { upstream: AbortController; progress: RequestProgress }): Promise<void> {
    const started = performance.now();
    const cutWithSession = this.#cutWithSession(session, up.upstream);
    let forwarded: Forwarded = { bytes: 0 };
    let maskSession;
    try {
      maskSession = session.newMaskSession();
      forwarded = await this.#relay(res, session, out, up, maskSession);
    } catch (err) {
      const error = exchangeError(err, up.upstream.signal, out.redactor);
      // What the agent gets: the status already sent, or the 502 #finish sends.
      const known = outcomeOf({ progress: up.progress, agentLeft: agentLeft(res, out.abort.signal), toAgent: res.headersSent ? res.statusCode : 502, error });
      forwarded = { ...forwarded, ...known };
      if (!res.headersSent && !(err instanceof ExchangeError)) this.#opts.logger.warn({ err: known.error, target: this.#opts.target.target }, 'upstream request failed');
    } finally {
      cutWithSession.delete(up.upstream);
    }
    await this.#finish(res, auth, forwarded, maskSession?.counts() ?? {}, performance.now() - started);
  }

  /**
   * Registers an exchange to be cut when its session closes (revocation, policy change, expiry,
   * shutdown), at once when it already has; the set it is in, to leave when the exchange ends.
   */
  #cutWithSession(session: Session, abort: AbortController): Set<AbortController> {
    let exchanges = this.#forwarding.get(session);
    if (exchanges === undefined) {
      const these = new Set<AbortController>();
      exchanges = these;
      this.#forwarding.set(session, these);
      session.closed.addEventListener('abort', () => {
        for (const a of these) a.abort(session.closed.reason);
        these.clear();
      }, { once: true });
    }
    if (session.closed.aborted) abort.abort(session.closed.reason);
    else exchanges.add(abort);
    return exchanges;
  }

  /** Records the exchange, then releases the held-back end of the response (or the error). */
  async #finish(res: ServerResponse, auth: Extract<Authorization, { verdict: 'allow' }>, f: Forwarded, masked: Record<string, number>, durationMs: number): Promise<void> {
    // Members assigned only when present (an undefined member is not the same JSON as an absent one).
    const result: NonNullable<CommandOutcome['result']> = f.status === undefined ? { bytes: f.bytes } : { status: f.status, bytes: f.bytes };
    if (f.outcomeUnknown === true) result.outcomeUnknown = true;
    if (f.sample !== undefined) {
      result.sample = f.sample.sample;
      if (f.sample.truncated) result.truncated = true;
    }
    if (f.error !== undefined) result.error = f.error;
    const outcome: CommandOutcome = { result, masked, durationMs };
    try {
      await auth.complete(outcome);
    } catch (err) {
      this.#opts.logger.error({ err: errorMessage(err) }, 'the exchange could not be recorded: failing the response');
      if (res.headersSent) res.destroy();
      else sendJson(res, 503, { error: 'Unavailable', message: errorMessage(err) });
      return;
    }
    if (f.error === undefined) {
      res.end(f.last);
    } else if (res.headersSent) {
      res.destroy();
    } else {
      sendJson(res, 502, { error: 'BadGateway', message: f.error });
    }
  }

  async #relay(res: ServerResponse, session: Session, out: Outgoing, exchange: { upstream: AbortController; progress: RequestProgress }, maskSession: ReturnType<Session['newMaskSession']>): Promise<Forwarded> {
    const upstream = this.#upstreamFor();
    const redactor = this.#redactorFor(upstream);
    out.redactor = redactor;
    const { masking, body } = out;
    const t0 = performance.now();
    const route = this.#route(upstream);
    const request: Dispatcher.DispatchOptions = {
      // The checked target, never the raw one the agent sent.
      path: `${upstream.basePath}${out.target}`,
      method: out.method,
      headers: this.#requestHeaders(out, upstream, route.host),
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
    };
    if (body.kind !== 'none') request.body = body.kind === 'buffered' ? body.data : body.stream;
    const up = await dispatchUpstream(route.pool, request, exchange.upstream.signal, exchange.progress);
    this.#upstreamLatency ??= this.#opts.metrics.upstreamLatency.labels({ target: this.#opts.target.target, protocol: 'http' });
    this.#upstreamLatency.observe((performance.now() - t0) / 1000);
    const headersFor = answerHeaders(up, masking, maskSession, redactor);
    if (hasNoBody(out.method, up.statusCode)) {
      await up.body.dump();
      res.writeHead(up.statusCode, headersFor());
      return { status: up.statusCode, bytes: 0 };
    }
    const type = parseContentType(headerValue(up.headers, 'content-type'));
    const kind = bodyKind(type);
    const sampleLimit = session.recordingLimits().maxBytes;
    const answer: Answer = { res, up, type, maskSession, sampleLimit, redactor };
    if (!masking) return redactor === undefined ? this.#passthrough(answer, kind, headersFor()) : this.#unmaskedRedacted(answer, kind, headersFor);
    if (kind === 'binary') return this.#binary(answer, headersFor);
    // A JSON or text answer's Content-Type is set again from its parsed value, masked then (#text).
    return this.#text(answer, kind, headersFor(MASKED_RESPONSE_DROP, type === undefined ? undefined : 'content-type'));
  }

  /** The redactor of the credentials the sidecar sends this upstream (one per upstream setting), or undefined when it sends none. */
  #redactorFor(upstream: HttpUpstream): CredentialRedactor | undefined {
    if (upstream.token === undefined) return undefined;
    let redactor = this.#redactors.get(upstream);
    if (redactor === undefined) {
      redactor = CredentialRedactor.of([upstream.token]) ?? null;
      this.#redactors.set(upstream, redactor);
    }
    return redactor ?? undefined;
  }

  /**
   * A body with masking off, from an upstream the sidecar sends a credential: decoded from its
   * content-encoding so the credential can be found in it (an encoding the sidecar cannot decode
   * is refused), then passed through redacted.
   */
  async #unmaskedRedacted(a: Answer, kind: string, headersFor: HeadersFor): Promise<Forwarded> {
    const decoder = decoderFor(headerValue(a.up.headers, 'content-encoding'));
    if (typeof decoder === 'string') {
      a.up.body.discard();
      throw new ExchangeError(502, 'BadGateway', `the response cannot be checked for the target credential the sidecar sent: ${decoder}; refused rather than passed unchecked`);
    }
    if (decoder === undefined) return this.#passthrough(a, kind, headersFor());
    return this.#passthrough(a, kind, headersFor(MASKED_RESPONSE_DROP), decodedBody(a.up.body, decoder));
  }

  /** A JSON or text body with masking on: decoded and masked in stream, or forwarded as it is when masking cannot change it. */
  async #text(a: Answer, kind: 'json' | 'text', headers: Record<string, string | string[]>): Promise<Forwarded> {
    const { up, type } = a;
    const { decoder, text } = this.#decoders(up, type);
    const declared = Number(headerValue(up.headers, 'content-length') ?? Number.NaN);
    // A small UTF-8 body of declared length is read whole (a stream of unknown length, such as
    // server-sent events, is never waited for): when masking cannot change it, it goes out as the
    // bytes it arrived in, without decoding, masking and re-encoding; otherwise it is masked in one
    // pass when it is strict UTF-8 without a byte-order mark (what the pipeline would send for it).
    if (decoder === undefined && (text === UTF8 || text.encoding === 'utf-8') && Number.isSafeInteger(declared) && declared <= WHOLE_BODY_LIMIT) {
      const whole = await up.body.whole();
      if (passesUnchanged(whole, kind, a.maskSession)) return this.#unchanged(a, whole, headers);
      let masked;
      try {
        masked = maskWholeUtf8(whole, kind, a.maskSession, a.sampleLimit);
      } catch (err) {
        throw unmaskable(type, err);
      }
      if (masked !== undefined) return this.#maskedWhole(a, masked, headers);
      return this.#masked(a, kind, whole, textDecoderOf(text), headers);
    }
    return this.#masked(a, kind, decodedBody(up.body, decoder), textDecoderOf(text), headers);
  }

  /** A body masked whole (maskWholeUtf8): the masking path's answer, in one write with its length, released once recorded. */
  #maskedWhole(a: Answer, masked: MaskedWhole, headers: Record<string, string | string[]>): Forwarded {
    relabel(headers, maskedContentType(a.type), a);
    const sent = a.redactor === undefined ? masked : redactedWhole(a.redactor, masked.bytes, a.sampleLimit);
    // The upstream's Content-Length was dropped with what masking changes (MASKED_RESPONSE_DROP).
    headers['content-length'] = String(sent.bytes.length);
    a.res.writeHead(a.up.statusCode, headers);
    return { status: a.up.statusCode, bytes: sent.bytes.length, sample: { sample: sent.sample.sample, truncated: sent.sample.truncated || masked.sample.truncated }, last: sent.bytes };
  }

  /**
   * A JSON or text body masking leaves as it is (passesUnchanged): the same answer the masking path
   * gives (headers masked, Content-Type as the pipeline labels UTF-8, the body's own length), in one
   * write released once recorded; the record's sample is the body's start, as the pipeline keeps it.
   */
  #unchanged(a: Answer, whole: Buffer, headers: Record<string, string | string[]>): Forwarded {
    relabel(headers, maskedContentType(a.type), a);
    const body = a.redactor === undefined ? whole : a.redactor.bytes(whole);
    headers['content-length'] = String(body.length);
    a.res.writeHead(a.up.statusCode, headers);
    // Cut to the recording limit here (on a byte; the enforcer cuts on a character boundary).
    const sample = body.subarray(0, a.sampleLimit + 4).toString('utf8');
    return { status: a.up.statusCode, bytes: body.length, sample: { sample, truncated: body.length > a.sampleLimit }, last: body };
  }

  /**
   * A body labelled binary, with masking on: decoded from its content-encoding (an encoding the
   * sidecar cannot decode is refused: the client could), and masked as text when its first bytes
   * are text (JSON or CSV served as application/octet-stream, multipart, UTF-16); otherwise passed
   * through or refused as GUARITA_HTTP_BINARY says.
   */
  async #binary(a: Answer, headersFor: HeadersFor): Promise<Forwarded> {
    const { up, type } = a;
    const decoder = decoderFor(headerValue(up.headers, 'content-encoding'));
    if (typeof decoder === 'string') {
      up.body.discard();
      throw new ExchangeError(502, 'BadGateway', `the ${type?.mime ?? 'unlabelled'} response cannot be checked for identifiers: ${decoder}; refused rather than passed unmasked`);
    }
    const { head, complete, rest } = await peek(decodedBody(up.body, decoder), SNIFF_BYTES);
    const text = sniffText(head, complete);
    if (text !== undefined) return this.#masked(a, 'text', rest, new TextDecoder(text), headersFor(MASKED_RESPONSE_DROP));
    return this.#passthrough(a, 'binary', headersFor(decoder === undefined ? undefined : MASKED_RESPONSE_DROP), rest);
  }

  /** A body passed through as it is (masking off, or binary), but for the target credential (redacted when the sidecar sent one). */
  async #passthrough(a: Answer, kind: string, headers: Record<string, string | string[]>, source?: AsyncIterable<Buffer>): Promise<Forwarded> {
    const { res, up } = a;
    if (kind === 'binary' && this.#opts.binary === 'refuse') {
      up.body.discard();
      throw new ExchangeError(502, 'BadGateway', `the upstream answered ${headerValue(up.headers, 'content-type') ?? 'a binary body'}, which cannot be masked, and GUARITA_HTTP_BINARY=refuse`);
    }
    let bytes = 0;
    let held: Buffer | undefined;
    for await (const chunk of redacted(source ?? up.body.stream(), a)) {
      bytes += chunk.length;
      if (held !== undefined) {
        if (!res.headersSent) res.writeHead(up.statusCode, headers);
        await write(res, held);
      }
      held = chunk;
    }
    // A body that came whole goes out in one write with the headers.
    if (!res.headersSent) res.writeHead(up.statusCode, sized(headers, bytes));
    return { status: up.statusCode, bytes, ...(held === undefined ? {} : { last: held }) };
  }

  /** The body's content decoder and text decoder (UTF8 for UTF-8: a TextDecoder is made only for the pipeline, textDecoderOf). */
  #decoders(up: UpstreamResponse, type: ReturnType<typeof parseContentType>): { decoder: ReturnType<typeof decoderFor> & object | undefined; text: TextDecoder | typeof UTF8 } {
    const decoder = decoderFor(headerValue(up.headers, 'content-encoding'));
    const text = isUtf8Label(type?.charset) ? UTF8 : textDecoderFor(type?.charset);
    const problem = typeof decoder === 'string' ? decoder : typeof text === 'string' ? text : undefined;
    if (problem !== undefined || typeof decoder === 'string' || typeof text === 'string') {
      up.body.discard();
      throw new ExchangeError(502, 'BadGateway', `the response cannot be masked: ${problem ?? ''}; refused rather than passed unmasked`);
    }
    return { decoder, text };
  }

  async #masked(a: Answer, kind: 'json' | 'text', source: AsyncIterable<Buffer> | Buffer, text: TextDecoder, headers: Record<string, string | string[]>): Promise<Forwarded> {
    const { res, up, type } = a;
    const pipeline = new MaskingPipeline(a.maskSession, kind, text, a.sampleLimit);
    const output = new MaskedOutput(pipeline, a.redactor?.stream(a.sampleLimit));
    // Headers wait until masked bytes are written (the second piece of masked output, or the end):
    // a body found unmaskable before then is refused with a 502 naming why; one found later is cut
    // (the connection closes, the record says why).
    const writeHead = (): void => {
      if (res.headersSent) return;
      // Rebuilt from the upstream's value: masked like every other header (a parameter can carry an identifier).
      relabel(headers, pipeline.bomEncoding !== undefined && type !== undefined ? `${type.mime}; charset=utf-8` : maskedContentType(type), a);
      res.writeHead(up.statusCode, headers);
    };
    let held: Buffer | undefined;
    let tail: Buffer;
    try {
      // A body in hand whole (read by its declared length) is masked in this turn, without an iterator.
      // A quiet upstream releases the held piece of a text stream only (review 39): a JSON document
      // is read whole by its client, and holding its last piece keeps a complete document from
      // arriving before its record; nor while another reading of the body is checked behind it.
      const mayRelease = (): boolean => kind === 'text' && output.releasesFinal;
      held = Buffer.isBuffer(source) ? nonEmpty(output.push(source)) : await maskStream(res, source, output, writeHead, mayRelease);
      tail = output.end();
    } catch (err) {
      up.body.discard();
      throw unmaskable(type, err);
    }
    const last = held === undefined ? tail : tail.length === 0 ? held : Buffer.concat([held, tail]);
    // Nothing written yet: the whole masked body is in hand, and goes out with its own length in
    // one write with the headers (released once recorded), instead of chunk framing and a last chunk.
    if (!res.headersSent) Object.assign(headers, sized(headers, last.length));
    writeHead();
    return { status: up.statusCode, bytes: output.bytesOut(), sample: output.sample(), last };
  }
}

/** Whether an answer has no body (HEAD, 204, 304). */
const hasNoBody = (method: string, status: number): boolean => method === 'HEAD' || status === 204 || status === 304;

/** One upstream answer being relayed, and what shapes the agent's copy and the record of it. */
interface Answer {
  res: ServerResponse;
  up: UpstreamResponse;
  type: ReturnType<typeof parseContentType>;
  maskSession: ReturnType<Session['newMaskSession']>;
  /** How much of the answer the record keeps (spec.recording.maxBytes). */
  sampleLimit: number;
  /** The credentials the request carried, redacted in the answer and its record. */
  redactor: CredentialRedactor | undefined;
}

/** The answer's headers for the agent, without those in `drop`; `rewritten`: one the caller sets again itself. */
type HeadersFor = (drop?: ReadonlySet<string>, rewritten?: string) => Record<string, string | string[]>;

/**
 * The upstream's end-to-end headers as the agent gets them: masked like bodies (custom headers,
 * Content-Disposition, Location...), and the credentials the request carried redacted. Set-Cookie
 * is kept (masked and redacted): a cookie the upstream issues may be a session opened by the
 * sidecar's credential, but the sidecar cannot tell one from a preference or CSRF cookie, and
 * APIs the agent reaches through it keep working by cookie only when it is passed (see
 * docs/sidecar.md, Headers).
 */
function answerHeaders(up: UpstreamResponse, masking: boolean, maskSession: ReturnType<Session['newMaskSession']>, redactor: CredentialRedactor | undefined): HeadersFor {
  return (drop, rewritten) => {
    const h = endToEnd(up.headers, drop);
    const masked = masking ? maskResponseHeaders(h, (t) => maskSession.maskText(t), rewritten) : h;
    return redactor === undefined ? masked : redactor.headers(masked);
  };
}

/** Sets the Content-Type of a rewritten body from the upstream's value: masked, and the credentials redacted. */
function relabel(headers: Record<string, string | string[]>, contentType: string | undefined, a: Answer): void {
  if (contentType === undefined) return;
  const masked = maskHeaderValue(contentType, (t) => a.maskSession.maskText(t));
  headers['content-type'] = a.redactor === undefined ? masked : a.redactor.text(masked);
}

/** A body's chunks as the agent gets them: as they are, or with the credentials redacted (redactedChunks). */
function redacted(source: AsyncIterable<Buffer>, a: Answer): AsyncIterable<Buffer> {
  return a.redactor === undefined ? source : redactedChunks(source, a.redactor.stream(a.sampleLimit));
}

/** A body's chunks with the credentials redacted (CredentialStream: a credential split over two chunks is found whole). */
async function* redactedChunks(source: AsyncIterable<Buffer>, stream: CredentialStream): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    const out = stream.push(chunk);
    if (out.length > 0) yield out;
  }
  const last = stream.end();
  if (last.length > 0) yield last;
}

/** The masking pipeline's output, through the credential redactor when the request carried a credential; the record's sample is of what is sent. */
class MaskedOutput {
  readonly #pipeline: MaskingPipeline;
  readonly #redacting: CredentialStream | undefined;

  constructor(pipeline: MaskingPipeline, redacting: CredentialStream | undefined) {
    this.#pipeline = pipeline;
    this.#redacting = redacting;
  }

  push(chunk: Buffer): Buffer {
    const out = this.#pipeline.push(chunk);
    return this.#redacting === undefined ? out : this.#redacting.push(out);
  }

  /** What push() returned can go out before the next piece: no check of the body lags behind it. */
  get releasesFinal(): boolean {
    return this.#pipeline.releasesFinal;
  }

  end(): Buffer {
    const out = this.#pipeline.end();
    if (this.#redacting === undefined) return out;
    const before = this.#redacting.push(out);
    const rest = this.#redacting.end();
    return rest.length === 0 ? before : Buffer.concat([before, rest]);
  }

  bytesOut(): number {
    return this.#redacting?.bytesOut ?? this.#pipeline.bytesOut;
  }

  sample(): { sample: string; truncated: boolean } {
    const masked = this.#pipeline.sample();
    if (this.#redacting === undefined) return masked;
    const sent = this.#redacting.sample();
    return { sample: sent.sample, truncated: sent.truncated || masked.truncated };
  }
}

/** A UTF-8 body's text decoder before one is needed (UTF-8 bodies masked whole need none). */
const UTF8 = Symbol('utf-8');

const isUtf8Label = (charset: string | undefined): boolean => charset === undefined || charset === 'utf-8' || charset === 'utf8';

function textDecoderOf(text: TextDecoder | typeof UTF8): TextDecoder {
  return text === UTF8 ? new TextDecoder('utf-8', { fatal: false }) : text;
}

/** The refusal of a body found unmaskable before its headers were sent (anything else is rethrown as is). */
function unmaskable(type: ReturnType<typeof parseContentType>, err: unknown): unknown {
  if (err instanceof UnmaskableBody) return new ExchangeError(502, 'BadGateway', `the ${type?.mime ?? 'unlabelled'} response cannot be masked: ${err.message}; refused rather than passed unmasked`);
  return err;
}

/**
 * How long a masked piece waits for the next one before it goes out anyway (ms). A piece is held
 * until the next exists because the last one goes out only once the exchange is recorded; but an
 * upstream that sends and then pauses (server-sent events, a long poll, a model streaming tokens)
 * would have its latest piece held until its next event, and a stream that pauses for good would
 * never show its first one (headers included: a CI run under load caught two pieces read as one).
 */
export const STREAM_IDLE_FLUSH_MS = 20;

const IDLE = Symbol('idle');

/** The next chunk, or IDLE once `ms` passed without one (the read stays pending). */
function nextOrIdle<T>(next: Promise<T>, ms: number): Promise<T | typeof IDLE> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<typeof IDLE>((resolve) => { timer = setTimeout(() => resolve(IDLE), ms); });
  return Promise.race([next, idle]).finally(() => clearTimeout(timer));
}

/**
 * Masks a streamed body, writing each masked piece once the next one exists, or once the upstream
 * has been quiet for STREAM_IDLE_FLUSH_MS; returns the last piece, held back (the end arrived
 * before it went out).
 */
async function maskStream(res: ServerResponse, source: AsyncIterable<Buffer>, output: MaskedOutput, writeHead: () => void, mayRelease: () => boolean): Promise<Buffer | undefined> {
  const chunks = source[Symbol.asyncIterator]();
  const state: Held = { piece: undefined };
  let next = chunks.next();
  try {
    for (;;) {
      const r = state.piece === undefined || !mayRelease() ? await next : await nextOrIdle(next, STREAM_IDLE_FLUSH_MS);
      // Quiet upstream: the held piece goes out, and the read stays pending.
      if (r === IDLE) {
        await release(res, state, writeHead);
        continue;
      }
      if (r.done === true) return state.piece;
      const out = output.push(r.value);
      if (out.length > 0) {
        await release(res, state, writeHead);
        state.piece = out;
      }
      next = chunks.next();
    }
  } finally {
    // Left by a throw (a write to a closed agent, an unmaskable piece) with a read still pending:
    // its failure (the caller discards the body) must not surface as an unhandled rejection.
    next.catch(() => undefined);
  }
}

interface Held { piece: Buffer | undefined }

/** Writes the held piece (the headers first, once). */
async function release(res: ServerResponse, state: Held, writeHead: () => void): Promise<void> {
  if (state.piece === undefined) return;
  writeHead();
  await write(res, state.piece);
  state.piece = undefined;
}

function nonEmpty(b: Buffer): Buffer | undefined {
  return b.length === 0 ? undefined : b;
}

export async function startHttpListener(opts: HttpListenerOptions, sha256: (b: Buffer) => string): Promise<HttpListener> {
  const proxy = new HttpProxy(opts, sha256);
  const address = await proxy.listen();
  opts.logger.info({ address }, 'http listener started');
  return {
    address,
    get inFlight(): number { return proxy.inFlight; },
    close: (drainMs: number) => proxy.close(drainMs),
  };
}
