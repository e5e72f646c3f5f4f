// The kubernetes listener: an https reverse proxy on 127.0.0.1:<listenPort> in front of one
// apiserver, which agents reach with kubectl through the KUBECONFIG the injector writes. Per
// request: refuse what would act as someone else (Impersonate-*, other credentials, client
// certificates), authenticate the agent's own bearer token, read the request's attributes as the
// apiserver does (core/policy/kubernetes-request.ts), decide under the live policy, then answer a
// denial as a metav1.Status kubectl prints, hold for approval, or forward with the target's own
// credential and mask what comes back: JSON objects, lists and Tables whole (Secrets redacted),
// watch streams event by event, logs as text. What cannot be inspected (protobuf, CBOR, unknown
// types) is refused, never passed. Every request is recorded before its last bytes are released.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import { Pool } from '../undici.ts';
import { kubernetesCommandText } from '../../../core/policy/kubernetes-command.ts';
import { kubernetesRequestInfo, streamsAnswer, type KubernetesAttributes } from '../../../core/policy/kubernetes-request.ts';
import { carriesRedaction, maskKubernetesValue } from '../../../core/policy/kubernetes-response.ts';
import { maskedSelectorKey } from '../../../core/policy/kubernetes-selectors.ts';
import type { TargetConfig } from '../config.ts';
import type { Authorization, MaskSession, Session } from '../enforcement.ts';
import type { SidecarEnforcer } from '../enforcer.ts';
import { HttpSessions } from '../http/sessions.ts';
import { dispatchUpstream, LeftBehind, outcomeOf, RequestProgress, type UpstreamResponse } from '../http/upstream.ts';
import { errorMessage, type Logger } from '../log.ts';
import { type Metrics, type RequestOutcome, refusedOutcome } from '../metrics.ts';
import { opt } from '../util.ts';
import { ContinueSeal, openContinue, targetPath } from './continue-seal.ts';
import { bearerToken, forwardedHeaders, headerProblem } from './request-headers.ts';
import { createServingIdentity, publishCa } from './serving-cert.ts';
import { sendStatus, statusOnSocket } from './status.ts';
import { serveStreaming, STREAMING_SUBRESOURCES } from './streaming.ts';
import { kubeUpstream, type KubeUpstream } from './upstream.ts';
import { drainedOrClosed, drainServer, listenerTimeouts } from '../listener-lifecycle.ts';
import { BodyAbandoned, BodyBudget, BodyRefusal, collectBody, hasRequestBody, type BodyHold } from '../body-budget.ts';
import { answerExtraCost, answerMemory, MaskingCharge, MemoryRefusal, type AnswerMemory } from './answer-memory.ts';
import { goneSignal } from './agent-gone.ts';

export interface KubeListenerOptions {
  host: string;
  /** 0 picks a free port (see `address`). */
  port: number;
  target: TargetConfig;
  enforcer: SidecarEnforcer;
  credentialsDir: string;
  /** Where the serving CA is published for the agents' KUBECONFIG (<caDir>/<target>/ca.crt). */
  caDir: string;
  logger: Logger;
  metrics: Metrics;
  /** Largest request body accepted (bodies are always read whole: they are bound to approvals). */
  maxBufferedBody: number;
  /** Largest JSON response (object, list page, one watch event) buffered for masking. */
  maxResponseBytes: number;
  /** GUARITA_KUBE_MEMORY_LIMIT: the container's memory limit when its cgroup states none (answer-memory.ts). */
  memoryLimitBytes?: number;
  /** Watches and followed logs open at once (each may hold an event and its socket buffers); beyond, 429. */
  maxWatches?: number;
  requestTimeoutMs?: number;
  maxConnections?: number;
  sessionIdleMs?: number;
}

export interface KubeListener {
  readonly address: { host: string; port: number };
  /** The CA file agents trust. */
  readonly caFile: string;
  close(drainMs: number): Promise<void>;
}

/** The path prefix that declares a purpose from a KUBECONFIG (kubectl cannot add headers): server https://127.0.0.1:<port>/guarita-purpose/<purpose>. */
const PURPOSE_PREFIX = /^\/guarita-purpose\/([a-z0-9][-a-z0-9_.]{0,62})(?=\/|\?|$)/;
const RESPONSE_HEADERS = ['audit-id', 'cache-control', 'retry-after', 'x-kubernetes-pf-flowschema-uid', 'x-kubernetes-pf-prioritylevel-uid'] as const;
const STATUS_FOR_REFUSAL = { Unauthenticated: 401, Forbidden: 403, Unavailable: 503 } as const;
/** The bytes of all answers being read or held, in units of GUARITA_KUBE_MAX_RESPONSE (answer-memory.ts bounds their cost too). */
const HELD_BUDGET = 4;
/** How long an agent may take to read a whole JSON answer before its connection is cut. */
const READ_DEADLINE_MS = 60_000;

class Refusal extends Error {
  readonly code: number;
  /** The request's body was left unread: the answer closes the connection, which is out of step. */
  readonly closes: boolean;
  constructor(code: number, message: string, closes = false) {
    super(message);
    this.code = code;
    this.closes = closes;
  }
}

/** How a request went; `status` absent when none was sent to the agent nor read from the apiserver (outcomeOf). */
interface Forwarded { status?: number; bytes: number; sample?: string; truncated?: boolean; error?: string; outcomeUnknown?: true }

/** The apiserver's answer: its status, headers and body as a stream (destroying it aborts the exchange). */
interface ApiAnswer { statusCode: number; headers: Dispatcher.ResponseData['headers']; body: Readable }

/** One allowed request on its way upstream and back; `progress`: how far it got (upstream.ts). */
interface Relay {
  req: IncomingMessage; res: ServerResponse; session: Session; auth: Extract<Authorization, { verdict: 'allow' }>; attrs: KubernetesAttributes;
  target: string; body: Buffer | undefined; signal: AbortSignal; maskSession: MaskSession; progress: RequestProgress;
}

/** The decision on one request; `attributes` is undefined only for an unreadable request, which is always denied. */
interface Judged { session: Session; attributes: KubernetesAttributes | undefined; target: string; auth: Authorization }

type Allowed = Extract<Authorization, { verdict: 'allow' }>;

/** Resolves when `res` can take more data, or has closed (a client that never reads holds only socket buffers). */
async function write(res: ServerResponse, chunk: Buffer | string): Promise<void> {
  if (chunk.length === 0 || res.destroyed) return;
  if (res.write(chunk)) return;
  await drainedOrClosed(res);
}

/** The upstream's JSON media type with its parameters (only JSON responses get here). */
function contentType(up: ApiAnswer): string {
  const type = up.headers['content-type'];
  return typeof type === 'string' && /^application\/json\b/i.test(type) ? type : 'application/json';
}

function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * JSON from the apiserver (a whole answer or one watch event), parsed; JSON that cannot be parsed
 * cannot be masked, so it is refused with `refusal` (what happens to the answer or watch).
 */
function parseApiserverJson(data: Buffer, refusal: string): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch {
    throw new Refusal(502, `guarita: ${refusal}`);
  }
}

/** The first `limit` bytes of masked output kept for the record. */
class Sample {
  #text = '';
  #truncated = false;
  readonly #limit: number;
  constructor(limit: number) { this.#limit = limit; }
  add(text: string): void {
    if (this.#text.length >= this.#limit) {
      if (text.length > 0) this.#truncated = true;
      return;
    }
    this.#text += text.slice(0, this.#limit - this.#text.length);
    if (this.#text.length >= this.#limit && text.length > 0) this.#truncated = this.#truncated || this.#text.length < text.length;
  }
  result(): { sample?: string; truncated?: boolean } {
    return { ...(this.#text === '' ? {} : { sample: this.#text }), ...(this.#truncated ? { truncated: true } : {}) };
  }
}

/** A watch or a followed log (follow read as the apiserver reads it): an answer that lasts as long as the agent keeps it open. */
function isStream(x: Pick<Relay, 'attrs' | 'target'>): boolean {
  return streamsAnswer(x.attrs, x.target);
}

/** A refusal for memory (answer-memory.ts) as the agent gets it: 503 with Retry-After when waiting may help, else 502. */
function asRefusal(err: unknown): unknown {
  return err instanceof MemoryRefusal ? new Refusal(err.retry ? 503 : 502, err.message) : err;
}

/** Charges `bytes` more of an answer being read; a memory refusal becomes the agent's (503 or 502). */
async function chargeOrRefuse(charge: MaskingCharge, bytes: number): Promise<void> {
  try {
    await charge.add(bytes);
  } catch (err) {
    throw asRefusal(err);
  }
}

/** The deciding policy masks fields by name (masking on, `fields` not empty). */
function hasFieldRules(masking: Allowed['decision']['masking']): boolean {
  return masking !== undefined && masking.enabled !== false && (masking.fields?.length ?? 0) > 0;
}

/** Splits the agent's target into the declared purpose (path prefix) and the apiserver target. */
function splitPurpose(url: string): { purpose?: string; target: string } {
  const m = PURPOSE_PREFIX.exec(url);
  if (m === null) return { target: url };
  const rest = url.slice(m[0].length);
  return { purpose: m[1] ?? '', target: rest === '' || rest.startsWith('?') ? `/${rest}` : rest };
}

export class KubeProxy {
  readonly #opts: KubeListenerOptions;
  readonly #sessions: HttpSessions;
  readonly #sockets = new Set<Socket>();
  readonly #pools = new Map<string, Pool>();
  /** Seals list continue tokens on the way out and opens them on the way back (continue-seal.ts). */
  readonly #continueSeal = new ContinueSeal();
  #upstream: { target: object; upstream: KubeUpstream; at: number } | undefined;
  #server: Server | undefined;
  #inFlight = 0;
  /** Memory for answers being masked or held for agents still to read them (answer-memory.ts, see #hold). */
  readonly #memory: AnswerMemory;
  /** Watches and followed logs open now (see #admitStream). */
  #streams = 0;
  /** Request bodies being read or forwarded (body-budget.ts). */
  readonly #bodies: BodyBudget;
  /** Requests whose answer is read after their agent left (bounded: upstream.ts). */
  readonly #leftBehind = new LeftBehind();
  /** Their records being written, waited for at shutdown. */
  readonly #unrecorded = new Set<Promise<void>>();

  constructor(opts: KubeListenerOptions) {
    this.#opts = opts;
    this.#sessions = new HttpSessions(opts.enforcer, opts.target.target, opts.sessionIdleMs);
    this.#bodies = new BodyBudget(opts.maxBufferedBody);
    this.#memory = answerMemory(opts.memoryLimitBytes, HELD_BUDGET * opts.maxResponseBytes);
  }

  /**
   * What the listener holds for exchanges now: requests in flight, answers read for agents that
   * left (LeftBehind places), watch slots, request-body bytes, answer-memory bytes and records not
   * yet written. Each is back to 0 once the exchanges end (the round 12b tests assert it).
   */
  get held(): { inFlight: number; leftBehind: number; streams: number; bodyBytes: number; answerBytes: number; unrecorded: number } {
    return {
      inFlight: this.#inFlight, leftBehind: this.#leftBehind.open, streams: this.#streams, bodyBytes: this.#bodies.held,
      answerBytes: this.#memory.charged, unrecorded: this.#unrecorded.size,
    };
  }

  async listen(): Promise<{ host: string; port: number; caFile: string }> {
    const identity = await createServingIdentity(this.#opts.target.target);
    const caFile = publishCa(this.#opts.caDir, this.#opts.target.target, identity.caPem);
    // requestCert: a client certificate meant for the apiserver is detected and refused (never forwarded, never trusted).
    const server = createServer({
      cert: identity.certPem, key: identity.keyPem, requestCert: true, rejectUnauthorized: false,
      ...listenerTimeouts(this.#opts.requestTimeoutMs), maxHeaderSize: 32 * 1024,
    }, (req, res) => {
      this.#inFlight++;
      res.once('close', () => { this.#inFlight--; });
      void this.#handle(req, res);
    });
    server.on('secureConnection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('tlsClientError', (err) => this.#opts.logger.debug({ err: errorMessage(err) }, 'TLS handshake with an agent failed'));
    server.maxConnections = this.#opts.maxConnections ?? 1024;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.#upgrade(req, socket, head));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return { host: this.#opts.host, port: (server.address() as AddressInfo).port, caFile };
  }

  async close(drainMs: number): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    await drainServer(server, () => this.#inFlight, this.#sockets, drainMs);
    // Closing the sessions cuts the requests still being read for agents that left; their records are written before the pools close.
    await this.#sessions.closeAll('the Guarita sidecar is shutting down');
    await Promise.allSettled([...this.#unrecorded]);
    await Promise.all([...this.#pools.values()].map((p) => p.close()));
  }

  #count(outcome: RequestOutcome): void {
    this.#opts.metrics.requests.inc({ target: this.#opts.target.target, protocol: 'kubernetes', outcome });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.#exchange(req, res);
    } catch (err) {
      const code = err instanceof Refusal ? err.code : 503;
      this.#count(refusedOutcome(code));
      if (!(err instanceof Refusal)) this.#opts.logger.error({ err: errorMessage(err) }, 'kubernetes request failed');
      if (err instanceof Refusal && err.closes) res.shouldKeepAlive = false;
      sendStatus(res, code, err instanceof Refusal ? err.message : `guarita: ${errorMessage(err)}`, code === 401 ? { 'www-authenticate': 'Bearer realm="guarita"' } : {});
    }
  }

  /** Credentials meant for the apiserver, and impersonation: refused before anything else. */
  #refuseForeignCredentials(req: IncomingMessage): void {
    const problem = headerProblem(req.headers);
    if (problem !== undefined) throw new Refusal(problem.code, problem.message);
    const peer = (req.socket as TLSSocket).getPeerCertificate?.();
    if (peer !== undefined && Object.keys(peer).length > 0) {
      throw new Refusal(403, 'guarita: client certificates are not accepted (they would be credentials for the apiserver); authenticate with your own bearer token');
    }
  }

  /** The agent's session: its own token, and the purpose from the KUBECONFIG's path prefix or X-Guarita-Purpose. */
  async #session(req: IncomingMessage, fromPath: string | undefined): Promise<Session> {
    const token = bearerToken(req.headers);
    if (token === undefined) throw new Refusal(401, 'guarita: send Authorization: Bearer <your OIDC or service-account token> (the injected KUBECONFIG does: use it)');
    const header = req.headers['x-guarita-purpose'];
    const declared = fromPath ?? (typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined);
    const remote = req.socket.remoteAddress ?? 'unknown';
    const opened = await this.#sessions.get(token, declared, { remoteAddress: remote, connection: `${remote}:${req.socket.remotePort ?? 0}`, ...opt('application', req.headers['user-agent']?.slice(0, 200)) });
    if (!opened.ok) throw new Refusal(STATUS_FOR_REFUSAL[opened.code], `guarita: ${opened.message}`);
    return opened.session;
  }

  /** Foreign credentials refused, then the agent's session: everything a request needs before its body is read. */
  async #authenticated(req: IncomingMessage): Promise<Session> {
    this.#refuseForeignCredentials(req);
    return this.#session(req, splitPurpose(req.url ?? '/').purpose);
  }

  /** Attributes and the decision itself (recorded), for an authenticated session. */
  async #judge(req: IncomingMessage, session: Session, body: Buffer | undefined, signal: AbortSignal): Promise<Judged> {
    const { target: raw } = splitPurpose(req.url ?? '/');
    const method = req.method ?? 'GET';
    const reading = kubernetesRequestInfo(method, raw);
    const attributes = reading.ok ? reading.attributes : undefined;
    const target = reading.ok ? reading.target : raw;
    const text = kubernetesCommandText(attributes, { method, target, ...opt('contentType', req.headers['content-type']), ...opt('body', body) });
    const auth = await session.authorize({ protocol: 'kubernetes', request: reading.ok ? reading.attributes : { problem: reading.problem } }, { commandText: text, signal });
    return { session, attributes, target, auth };
  }

  /** A denial or a pending approval as kubectl shows it; undefined when the request may run. */
  #refusal(judged: Judged): Refusal | undefined {
    const { auth } = judged;
    const policy = this.#opts.target.policy;
    if (auth.verdict === 'deny') {
      const code = auth.decision.code;
      const unavailable = code === 'Unavailable' || code === 'ApprovalUnavailable' || code === 'SessionClosed';
      const badRequest = code === 'Unparseable';
      this.#count(unavailable ? 'unavailable' : 'denied');
      return new Refusal(unavailable ? 503 : badRequest ? 400 : 403, `guarita: AccessPolicy ${policy}: ${auth.message}`);
    }
    if (auth.verdict === 'pending') {
      this.#count('pending');
      return new Refusal(403, `guarita: AccessPolicy ${policy}: approval pending: ${auth.message}; run the same command again once ApprovalRequest ${auth.approvalRequest} is approved`);
    }
    return undefined;
  }

  /** The allowed request's attributes, or the refusal kubectl shows (denied, pending, unreadable). */
  #allowed(judged: Judged): { auth: Allowed; attrs: KubernetesAttributes } {
    const refusal = this.#refusal(judged);
    if (refusal !== undefined) throw refusal;
    if (judged.attributes === undefined) throw new Refusal(400, 'guarita: the request cannot be read');
    return { auth: judged.auth as Allowed, attrs: judged.attributes };
  }

  /**
   * The request body, read whole (it is judged and bound to approvals) and charged to the listener's
   * body budget as it arrives; refused over GUARITA_HTTP_MAX_BUFFERED_BODY (413), beyond the budget
   * (503) or when it does not arrive within the deadline (408), the connection closed after the answer.
   */
  async #readBody(req: IncomingMessage, hold: BodyHold, gone: AbortSignal): Promise<Buffer | undefined> {
    // A gone agent's request is destroyed with it: its body would never arrive (the 30 s deadline would end the wait).
    if (gone.aborted && hasRequestBody(req)) throw new Refusal(400, `guarita: ${new BodyAbandoned().message}`, true);
    try {
      const body = await collectBody(req, { max: this.#opts.maxBufferedBody, overMax: 'refuse', hold, budget: this.#bodies });
      return body.kind === 'buffered' ? body.data : undefined;
    } catch (err) {
      if (err instanceof BodyRefusal) throw new Refusal(err.status, err.message, true);
      // The agent left halfway through its body: its doing, not the sidecar failing (it was answered 503 and logged as an error).
      if (err instanceof BodyAbandoned) throw new Refusal(400, `guarita: ${err.message}`, true);
      throw err;
    }
  }

  async #exchange(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'CONNECT') throw new Refusal(405, 'guarita: CONNECT is not supported');
    // Both subscribed before the first await: 'close' fires once, and an agent that leaves while it
    // is authenticated (a TokenReview), its body read or its request judged would go unseen by a
    // listener added later (round 12b, finding 2). The hold takes nothing until the body is read.
    const hold = this.#bodies.open();
    const clientGone = new AbortController();
    res.once('close', () => {
      hold.release();
      if (!res.writableFinished) clientGone.abort(new Error('the client closed the connection'));
    });
    // Foreign credentials and unauthenticated requests are refused before the body is read: they do
    // not get to make the sidecar hold one (round 9 review).
    const session = await this.#authenticated(req);
    const body = await this.#readBody(req, hold, clientGone.signal);
    const judged = await this.#judge(req, session, body, clientGone.signal);
    const { auth, attrs } = this.#allowed(judged);
    if (attrs.resourceRequest && STREAMING_SUBRESOURCES.has(attrs.subresource)) {
      await auth.complete({ result: { status: 400, bytes: 0, error: 'not a protocol upgrade' }, masked: {}, durationMs: 0 });
      throw new Refusal(400, `guarita: ${attrs.resource}/${attrs.subresource} needs a protocol upgrade (WebSocket or SPDY), as kubectl sends`);
    }
    const unsendable = this.#unsendable(judged, body);
    if (unsendable !== undefined) {
      await auth.complete({ result: { status: unsendable.status, bytes: 0, error: unsendable.error }, masked: {}, durationMs: 0 });
      throw new Refusal(unsendable.status, unsendable.message);
    }
    const opened = openContinue(judged.target, this.#continueSeal);
    if ('problem' in opened) {
      await auth.complete({ result: { status: 410, bytes: 0, error: opened.problem }, masked: {}, durationMs: 0 });
      throw new Refusal(410, `guarita: ${opened.problem}`);
    }
    this.#count('allowed');
    await this.#forward({ req, res, session: judged.session, auth, attrs, target: opened.target, body }, clientGone.signal);
  }

  /** Why an allowed request is still not sent (a redacted value written back, a selector on masked values), if it is not. */
  #unsendable(judged: Judged, body: Buffer | undefined): { status: number; error: string; message: string } | undefined {
    if (body !== undefined && carriesRedaction(body)) {
      return { status: 422, error: 'request body carries a redacted value', message: 'guarita: the request body carries a value the proxy redacted ([redacted by guarita]); sent, it would overwrite the real value. Write only the fields you change (kubectl patch), with their real values' };
    }
    const query = judged.target.includes('?') ? new URLSearchParams(judged.target.slice(judged.target.indexOf('?') + 1)) : undefined;
    if (query === undefined || (!query.has('labelSelector') && !query.has('fieldSelector'))) return undefined;
    // A fresh session: the check neither counts in the record nor shares the answer's state.
    const check = judged.session.newMaskSession();
    const key = maskedSelectorKey(query, (k, v) => check.maskCell(k, v) !== v || check.maskText(v) !== v);
    if (key === undefined) return undefined;
    return { status: 400, error: 'selector compares a value the answers mask', message: `guarita: the selector compares ${key} with a value the answers mask (which objects match would tell it); select by other labels or fields` };
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    // An approval wait ends when the agent leaves (serveStreaming opens nothing for a gone agent).
    const gone = goneSignal(socket);
    try {
      const judged = await this.#judge(req, await this.#authenticated(req), undefined, gone.signal);
      const { auth, attrs } = this.#allowed(judged);
      if (!attrs.resourceRequest || !STREAMING_SUBRESOURCES.has(attrs.subresource)) {
        await auth.complete({ result: { status: 400, bytes: 0, error: 'upgrade refused' }, masked: {}, durationMs: 0 });
        throw new Refusal(400, 'guarita: protocol upgrades are accepted only for pods/exec, pods/attach and pods/portforward');
      }
      this.#count('allowed');
      await serveStreaming({ req, socket, head, session: judged.session, auth, attributes: attrs, target: judged.target, upstream: this.#upstreamFor(), logger: this.#opts.logger });
    } catch (err) {
      const code = err instanceof Refusal ? err.code : 503;
      if (!(err instanceof Refusal)) this.#opts.logger.error({ err: errorMessage(err) }, 'kubernetes upgrade request failed');
      socket.end(statusOnSocket(code, err instanceof Refusal ? err.message : `guarita: ${errorMessage(err)}`));
    } finally {
      gone.stop();
    }
  }

  #upstreamFor(): KubeUpstream {
    const available = this.#opts.enforcer.available(this.#opts.target);
    if (!available.ok) throw new Refusal(503, `guarita: ${available.message}`);
    const cached = this.#upstream;
    // Mounted Secrets change in place (rotation): re-read the credential every few seconds.
    if (cached !== undefined && cached.target === available.target && Date.now() - cached.at < 5000) return cached.upstream;
    try {
      const upstream = kubeUpstream(available.target.policy, this.#opts.credentialsDir);
      this.#upstream = { target: available.target, upstream, at: Date.now() };
      return upstream;
    } catch (err) {
      throw new Refusal(503, `guarita: target ${this.#opts.target.target}: ${errorMessage(err)}`);
    }
  }

  #pool(upstream: KubeUpstream): Pool {
    const key = JSON.stringify([upstream.origin, upstream.tls]);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new Pool(upstream.origin, { connections: 128, keepAliveTimeout: 30_000, pipelining: 1, connect: { ...upstream.tls } });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /**
   * Forwards an allowed request and records it. The session closing cuts the upstream request, and
   * so does the agent leaving a watch or followed log (it lasts only as long as the agent keeps it) or
   * a request the apiserver had not got whole; once it had, the apiserver acts on it (a create, a
   * delete) whatever the agent does, so its answer is read for the record (bounded, LeftBehind)
   * rather than aborted into an outcome nobody observed. `gone` is the exchange's own signal, so an
   * agent that left before this point is seen (nothing is forwarded for it, and its record says so);
   * both listeners go when the exchange ends, so a connection closing later takes no LeftBehind place.
   */
  #forward(r: Pick<Relay, 'req' | 'res' | 'session' | 'auth' | 'attrs' | 'target' | 'body'>, gone: AbortSignal): Promise<void> {
    const { session } = r;
    const abort = new AbortController();
    const progress = new RequestProgress();
    const onClosed = (): void => abort.abort(session.closed.reason);
    // Closed already while the request was judged: nothing is forwarded (the same race as `gone`'s).
    if (session.closed.aborted) onClosed();
    else session.closed.addEventListener('abort', onClosed, { once: true });
    const agent = { left: false, endWatch: (): void => undefined };
    const left = (): void => {
      agent.left = true;
      const reason = gone.reason instanceof Error ? gone.reason : new Error('the client closed the connection');
      if (isStream(r)) abort.abort(reason);
      else agent.endWatch = this.#leftBehind.keep(progress, abort, reason);
    };
    if (gone.aborted) left();
    else gone.addEventListener('abort', left, { once: true });
    const done = this.#exchangeUpstream({ ...r, signal: abort.signal, progress }, agent).finally(() => {
      session.closed.removeEventListener('abort', onClosed);
      gone.removeEventListener('abort', left);
      progress.end();
      agent.endWatch();
    });
    this.#unrecorded.add(done);
    void done.finally(() => this.#unrecorded.delete(done));
    return done;
  }

  async #exchangeUpstream(x: Omit<Relay, 'maskSession'>, agent: { left: boolean }): Promise<void> {
    const { res } = x;
    const started = performance.now();
    let relayed: { forwarded: Forwarded; held?: Buffer };
    let maskSession: MaskSession | undefined;
    try {
      maskSession = x.session.newMaskSession();
      relayed = await this.#relay({ ...x, maskSession });
    } catch (err) {
      relayed = { forwarded: this.#failed(x, agent.left, err) };
    }
    if (await this.#record(res, x.auth, relayed.forwarded, maskSession, performance.now() - started)) this.#release(res, relayed);
  }

  /** What the record of a request that failed states (outcomeOf: no status nobody sent, an outcome nobody read marked unknown). */
  #failed(x: Omit<Relay, 'maskSession'>, agentLeft: boolean, err: unknown): Forwarded {
    const { res, signal } = x;
    const message = signal.aborted ? errorMessage(signal.reason) : errorMessage(err);
    // What the agent gets: the status already sent, the refusal's, or the 502 #release sends.
    const toAgent = res.headersSent ? res.statusCode : err instanceof Refusal ? err.code : 502;
    // Gone also when its connection is closing while the failure it caused is handled first.
    const left = agentLeft || res.destroyed || res.socket?.destroyed === true;
    if (!res.headersSent && !(err instanceof Refusal)) this.#opts.logger.warn({ err: message, target: this.#opts.target.target }, 'apiserver request failed');
    return { bytes: 0, ...outcomeOf({ progress: x.progress, agentLeft: left, toAgent, error: message }) };
  }

  /** Records the request's outcome; false (and the response failed) when it cannot be recorded. */
  async #record(res: ServerResponse, auth: Allowed, f: Forwarded, maskSession: MaskSession | undefined, durationMs: number): Promise<boolean> {
    try {
      await auth.complete({
        result: {
          ...opt('status', f.status), bytes: f.bytes, ...opt('sample', f.sample), ...(f.truncated === true ? { truncated: true } : {}), ...opt('error', f.error),
          ...(f.outcomeUnknown === true ? { outcomeUnknown: true } : {}),
        },
        masked: maskSession?.counts() ?? {}, durationMs,
      });
      return true;
    } catch (err) {
      this.#opts.logger.error({ err: errorMessage(err) }, 'the request could not be recorded: failing the response');
      sendStatus(res, 503, `guarita: the request could not be recorded (${errorMessage(err)}); recording is mandatory`);
      return false;
    }
  }

  /** Releases the held-back end of a recorded response, or the error that cut it. */
  #release(res: ServerResponse, relayed: { forwarded: Forwarded; held?: Buffer }): void {
    const error = relayed.forwarded.error;
    if (error === undefined) res.end(relayed.held);
    else if (res.headersSent) res.destroy();
    else {
      const status = relayed.forwarded.status ?? 502;
      sendStatus(res, status >= 400 ? status : 502, error.startsWith('guarita:') ? error : `guarita: ${error}`, [429, 503].includes(status) ? { 'retry-after': '1' } : {});
    }
  }

  /** The upstream request: the checked target, the allowlisted headers, the target's own credential. */
  async #request(x: Relay, upstream: KubeUpstream): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { ...forwardedHeaders(x.req.headers), host: new URL(upstream.origin).host };
    if (upstream.token !== undefined) headers.authorization = `Bearer ${upstream.token}`;
    if (x.body !== undefined) headers['content-length'] = String(x.body.length);
    // Watches and followed logs may stay quiet for long: no body timeout for them.
    const streaming = isStream(x);
    const t0 = performance.now();
    const up = await dispatchUpstream(this.#pool(upstream), {
      path: x.target, method: x.req.method ?? 'GET', headers, ...opt('body', x.body),
      headersTimeout: 300_000, bodyTimeout: streaming ? 0 : 300_000,
    }, x.signal, x.progress);
    this.#opts.metrics.upstreamLatency.observe({ target: this.#opts.target.target, protocol: 'kubernetes' }, (performance.now() - t0) / 1000);
    return up;
  }

  /** The response headers the agent gets: an allowlist, Warning masked. */
  #responseHeaders(up: Pick<ApiAnswer, 'headers'>, maskSession: MaskSession): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of RESPONSE_HEADERS) {
      const v = up.headers[name];
      if (typeof v === 'string') out[name] = v;
    }
    const warning = up.headers.warning;
    if (warning !== undefined) out.warning = maskSession.maskText(Array.isArray(warning) ? warning.join(', ') : warning);
    return out;
  }

  /**
   * Admits a watch or a followed log: each holds up to one event and its socket's buffers for as
   * long as it lasts, so their number is bounded (GUARITA_KUBE_MAX_WATCHES); beyond it, 429 with
   * Retry-After, which client-go's watches and kubectl retry. Returns the release.
   */
  #admitStream(): () => void {
    const max = this.#opts.maxWatches ?? 128;
    if (this.#streams >= max) {
      throw new Refusal(429, `guarita: ${max} watches and followed logs are open through this proxy already (GUARITA_KUBE_MAX_WATCHES); retry once one ends`);
    }
    this.#streams++;
    let released = false;
    return () => {
      if (!released) this.#streams--;
      released = true;
    };
  }

  async #relay(x: Relay): Promise<{ forwarded: Forwarded; held?: Buffer }> {
    if (!isStream(x)) return this.#relayAnswer(x);
    const release = this.#admitStream();
    try {
      return await this.#relayAnswer(x);
    } finally {
      release();
    }
  }

  async #relayAnswer(x: Relay): Promise<{ forwarded: Forwarded; held?: Buffer }> {
    const answer = await this.#request(x, this.#upstreamFor());
    const headers = this.#responseHeaders(answer, x.maskSession);
    const type = String(answer.headers['content-type'] ?? '').toLowerCase();
    const sample = new Sample(x.session.recordingLimits().maxBytes);
    const listPath = targetPath(x.target);
    const maskOpts = {
      secrets: x.attrs.resource === 'secrets', revealSecretData: x.auth.decision.revealSecretData === true,
      // What a pod, service or node answers through the proxy subresources is the application's data throughout.
      apiserverAnswer: !(x.attrs.verb === 'proxy' || x.attrs.subresource === 'proxy'),
      sealContinue: (token: string): string => this.#continueSeal.seal(token, listPath),
      // A watch of Tables names its columns in the first event only: kept for the later ones.
      tableColumns: {},
      // A built-in resource's Table columns are named by the fields their printer shows (kubernetes-table.ts).
      tableSource: { group: x.attrs.apiGroup, resource: x.attrs.resource, subresource: x.attrs.subresource, fieldRules: hasFieldRules(x.auth.decision.masking) },
    };
    const maskValue = (v: unknown): unknown => maskKubernetesValue(v, x.maskSession, maskOpts);
    if (x.req.method === 'HEAD' || answer.statusCode === 204 || answer.statusCode === 304) {
      await answer.body.dump();
      x.res.writeHead(answer.statusCode, headers);
      return { forwarded: { status: answer.statusCode, bytes: 0 } };
    }
    const up: ApiAnswer = { statusCode: answer.statusCode, headers: answer.headers, body: answer.body.stream() };
    if (/^application\/json\b/.test(type)) {
      if (x.attrs.verb === 'watch' && up.statusCode === 200) return this.#watch(x.res, up, headers, maskValue, sample, x.signal);
      return this.#json(x.res, up, headers, maskValue, sample, x.signal);
    }
    if (/^text\/plain\b/.test(type)) return this.#text(x.res, up, headers, x.maskSession, sample);
    return this.#uninspectable(x.res, up, headers, type);
  }

  /** An empty answer has nothing to inspect; anything else the sidecar cannot read is refused, never passed. */
  async #uninspectable(res: ServerResponse, up: ApiAnswer, headers: Record<string, string>, type: string): Promise<{ forwarded: Forwarded }> {
    const first = await this.#readAtMost(up, 1);
    if (first.length === 0) {
      res.writeHead(up.statusCode, headers);
      return { forwarded: { status: up.statusCode, bytes: 0 } };
    }
    discard(up.body);
    throw new Refusal(502, `guarita: the apiserver answered ${type === '' ? 'an unlabelled body' : type}, which cannot be inspected for personal data; refused rather than passed unmasked (the sidecar asks for JSON)`);
  }

  async #readAtMost(up: ApiAnswer, limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of up.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) break;
    }
    return Buffer.concat(chunks);
  }

  /**
   * Accounts for a whole masked JSON answer until the agent has read it (or is gone), and cuts an
   * agent that does not read it within READ_DEADLINE_MS: answers held and answers being masked
   * share the listener's answer memory (answer-memory.ts), so agents that never read cannot grow
   * the proxy's memory; beyond it, the answer is refused (503, Retry-After) and others are served.
   */
  #hold(res: ServerResponse, bytes: number): void {
    // An agent that left holds nothing: its answer was read for the record only (and 'close' has fired already).
    if (res.destroyed) return;
    this.#memory.charge(bytes);
    const deadline = setTimeout(() => res.destroy(new Error('the agent did not read the answer in time')), READ_DEADLINE_MS);
    deadline.unref();
    res.once('close', () => {
      clearTimeout(deadline);
      this.#memory.release(bytes);
    });
  }

  /**
   * The answer's JSON read whole (at most GUARITA_KUBE_MAX_RESPONSE), charged to `charge` as it
   * arrives (the next chunk is read only once it is charged: a waiting answer stays in the
   * apiserver's socket), then parsed and charged what its content costs beyond its bytes
   * (answerExtraCost); the bytes and their text are garbage once it returns.
   */
  async #readJson(up: ApiAnswer, charge: MaskingCharge): Promise<unknown> {
    const max = this.#opts.maxResponseBytes;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of up.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw new Refusal(502, `guarita: the apiserver's response is over ${max} bytes (GUARITA_KUBE_MAX_RESPONSE) and cannot be masked whole; page the list (kubectl --chunk-size, ?limit=)`);
      await chargeOrRefuse(charge, chunk.length);
      chunks.push(chunk);
    }
    const value = parseApiserverJson(Buffer.concat(chunks), 'the apiserver\'s JSON response cannot be parsed, so it cannot be masked; refused');
    // What it holds costs more than its bytes say (many values, text read in extra views): charged before masking.
    charge.addCost(answerExtraCost(value));
    return value;
  }

  /** One JSON document (object, list page, Table, Status): read whole (bounded), masked, sent with its length. */
  async #json(res: ServerResponse, up: ApiAnswer, headers: Record<string, string>, maskValue: (v: unknown) => unknown, sample: Sample, signal: AbortSignal): Promise<{ forwarded: Forwarded; held: Buffer }> {
    const charge = new MaskingCharge(this.#memory, signal);
    let out: Buffer;
    try {
      const text = `${JSON.stringify(maskValue(await this.#readJson(up, charge)))}\n`;
      sample.add(text);
      out = Buffer.from(text, 'utf8');
    } catch (err) {
      discard(up.body);
      throw asRefusal(err);
    } finally {
      charge.end();
    }
    try {
      this.#hold(res, out.length);
    } catch (err) {
      throw asRefusal(err);
    }
    // The apiserver's own label: its parameters say what the JSON is (as=Table, aggregated discovery's g/v/as).
    res.writeHead(up.statusCode, { ...headers, 'content-type': contentType(up), 'content-length': String(out.length) });
    return { forwarded: { status: up.statusCode, bytes: out.length, ...sample.result() }, held: out };
  }

  /**
   * A watch: newline-delimited JSON events, each parsed and masked on its own. Only one event is
   * buffered (bounded); the next is read only once the agent took the previous one, so an agent
   * that never reads holds socket buffers, not sidecar memory.
   */
  async #watch(res: ServerResponse, up: ApiAnswer, headers: Record<string, string>, maskValue: (v: unknown) => unknown, sample: Sample, signal: AbortSignal): Promise<{ forwarded: Forwarded; held?: Buffer }> {
    const max = this.#opts.maxResponseBytes;
    res.writeHead(200, { ...headers, 'content-type': contentType(up) });
    let bytes = 0;
    const emit = async (line: Buffer, charge: MaskingCharge): Promise<void> => {
      const text = this.#maskEvent(line, charge, maskValue);
      if (text === undefined) return;
      // Once masked, the event's text is charged until the agent takes it, as whole answers are.
      try {
        sample.add(text);
        bytes += Buffer.byteLength(text);
        await write(res, text);
      } finally {
        this.#memory.release(text.length);
      }
    };
    // The event being read is charged what masking it will cost as its bytes arrive (and waits its
    // turn once large): the next chunk is read only then.
    let pending: Buffer[] = [];
    let size = 0;
    let charge = new MaskingCharge(this.#memory, signal);
    try {
      for await (const chunk of up.body as AsyncIterable<Buffer>) {
        let rest = chunk;
        for (let nl = rest.indexOf(0x0a); nl >= 0; nl = rest.indexOf(0x0a)) {
          await chargeOrRefuse(charge, nl);
          const line = Buffer.concat([...pending, rest.subarray(0, nl)]);
          [pending, size] = [[], 0];
          const done = charge;
          charge = new MaskingCharge(this.#memory, signal);
          await emit(line, done);
          rest = rest.subarray(nl + 1);
        }
        await chargeOrRefuse(charge, rest.length);
        pending.push(rest);
        size += rest.length;
        if (size > max) throw new Refusal(502, `guarita: a watch event is over ${max} bytes (GUARITA_KUBE_MAX_RESPONSE) and cannot be masked; the watch is cut`);
      }
      await emit(Buffer.concat(pending), charge);
    } catch (err) {
      discard(up.body);
      throw err;
    } finally {
      charge.end();
    }
    return { forwarded: { status: 200, bytes, ...sample.result() } };
  }

  /** One watch event masked (its masking charge ended), its text charged until written; undefined for a blank line. */
  #maskEvent(line: Buffer, charge: MaskingCharge, maskValue: (v: unknown) => unknown): string | undefined {
    try {
      if (line.toString('utf8').trim() === '') return undefined;
      const event = parseApiserverJson(line, 'a watch event from the apiserver cannot be parsed, so it cannot be masked; the watch is cut');
      charge.addCost(answerExtraCost(event));
      const text = `${JSON.stringify(maskValue(event))}\n`;
      this.#memory.charge(text.length);
      return text;
    } catch (err) {
      throw asRefusal(err);
    } finally {
      charge.end();
    }
  }

  /** Text (pods/log, also followed): masked as a stream, a bounded tail held back between chunks. */
  async #text(res: ServerResponse, up: ApiAnswer, headers: Record<string, string>, maskSession: MaskSession, sample: Sample): Promise<{ forwarded: Forwarded; held: Buffer }> {
    const stream = maskSession.textStream();
    const decoder = new TextDecoder('utf-8');
    res.writeHead(up.statusCode, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
    let bytes = 0;
    for await (const chunk of up.body as AsyncIterable<Buffer>) {
      const text = stream.push(decoder.decode(chunk, { stream: true }));
      sample.add(text);
      bytes += Buffer.byteLength(text);
      await write(res, text);
    }
    const tail = stream.push(decoder.decode()) + stream.end();
    sample.add(tail);
    const held = Buffer.from(tail, 'utf8');
    bytes += held.length;
    return { forwarded: { status: up.statusCode, bytes, ...sample.result() }, held };
  }
}

export async function startKubeListener(opts: KubeListenerOptions): Promise<KubeListener> {
  const proxy = new KubeProxy(opts);
  const { host, port, caFile } = await proxy.listen();
  opts.logger.info({ address: { host, port }, caFile }, 'kubernetes listener started');
  return { address: { host, port }, caFile, close: (drainMs: number) => proxy.close(drainMs) };
}
