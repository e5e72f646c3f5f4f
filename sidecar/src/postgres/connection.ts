// One client connection: SSLRequest, StartupMessage, the cleartext password (the caller's
// OIDC or service-account token, over loopback), the enforcer's session, the upstream
// connection with the target's own credentials, then the pipeline. Nothing the client sends
// reaches the upstream before the token is verified and the session is open.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { serialize } from 'pg-protocol';
import type { CatalogProblem } from '../../../core/policy/sql-columns-catalog.ts';
import type { SensitiveColumnsConfig } from '../../../core/policy/sql-columns.ts';
import type { Enforcer, Session } from '../enforcement.ts';
import { boundCommandText } from './approval-binding.ts';
import { authenticationCleartextPassword, authenticationOk, backendKeyData, errorResponse, negotiateProtocolVersion, parameterStatus, readyForQuery } from './backend.ts';
import { FrontendReader, ProtocolError, type FrontendMessage, type StartupPacket } from './frontend.ts';
import { catalogProblems } from './catalog-check.ts';
import { tooManyConnections, type ConnectionSlots } from './connection-slots.ts';
import { Pipeline } from './pipeline.ts';
import { tempSchemaLast } from './temp-schema-last.ts';
import { isFatalError, maskErrorOrNotice, maskParameterStatus, startupPinnedProblem } from './server-messages.ts';
import { clientSearchPath, parseStartup, upstreamDatabase, upstreamParams, type StartupRequest } from './startup.ts';
import { connectUpstream, sendCancelRequest, UpstreamConnectError, type PostgresTargetConfig, type UpstreamConnection } from './upstream.ts';
import { UpstreamProtocolError, type BackendMessage } from './upstream-reader.ts';

/** What the catalog comparison depends on (not action or approvalRule). */
function declarationsKey(cfg: SensitiveColumnsConfig | undefined): string {
  return JSON.stringify(cfg === undefined ? null : [cfg.columns, cfg.relations ?? [], cfg.views ?? []]);
}

export interface PostgresListenerMetrics {
  connectionOpened?(): void;
  connectionClosed?(): void;
  /** A client was refused at startup (SQLSTATE). */
  connectionRefused?(sqlstate: string): void;
  statementDecided?(verdict: 'allow' | 'deny' | 'pending'): void;
  protocolError?(): void;
}

export interface ConnectionContext {
  target: PostgresTargetConfig;
  enforcer: Enforcer;
  logger: Logger;
  metrics: PostgresListenerMetrics | undefined;
  /** Offer TLS to clients that ask (SSLRequest); declined when absent. */
  tls: SecureContext | undefined;
  maxMessageBytes: number;
  startupTimeoutMs: number;
  registry: CancelRegistry;
  /** Sessions this listener holds at once (GUARITA_PG_MAX_CONNECTIONS). */
  slots: ConnectionSlots;
}

/** Live connections by the BackendKeyData their clients got, for CancelRequest. */
export class CancelRegistry {
  private readonly byKey = new Map<string, ProxyConnection>();
  private static key(pid: number, secret: number): string {
    return `${pid}:${secret}`;
  }
  add(pid: number, secret: number, conn: ProxyConnection): void {
    this.byKey.set(CancelRegistry.key(pid, secret), conn);
  }
  remove(pid: number, secret: number, conn: ProxyConnection): void {
    const k = CancelRegistry.key(pid, secret);
    if (this.byKey.get(k) === conn) this.byKey.delete(k);
  }
  get(pid: number, secret: number): ProxyConnection | undefined {
    return this.byKey.get(CancelRegistry.key(pid, secret));
  }
}

/** PostgreSQL's own bound on an authentication message (PG_MAX_AUTH_TOKEN_LENGTH). */
const MAX_PASSWORD_MESSAGE = 65_535;

// Memory per connection is bounded (docs/postgres.md, "Memory per connection"). A client that
// pipelines without reading its results is read no further while (a) more than
// MAX_PENDING_MESSAGES messages sent upstream still await their answers, or (b) more than
// CLIENT_OUT_HIGH bytes of answers wait for the client to read them; what it keeps sending then
// stays in its own socket (TCP flow control), as with PostgreSQL itself.
/** Unparsed client bytes beyond this (besides one partial message) pause reading from the client. */
const CLIENT_HIGH_WATER = 1024 * 1024;
/** Answers queued towards the client (Node's socket buffer) beyond this stop both pumps. */
export const CLIENT_OUT_HIGH = 1024 * 1024;
/** Messages sent upstream whose answers are still due, per connection (a Query counts one, Parse two). */
export const MAX_PENDING_MESSAGES = 1024;
/** Parsed upstream messages not yet handled, in count and bytes, beyond which the upstream is not read. */
const UPSTREAM_QUEUE_HIGH = 4096;
const UPSTREAM_QUEUE_HIGH_BYTES = 1024 * 1024;
/** The server's own statement_timeout (pinned at startup) fires first; the listener cancels only what outlived it. */
const STATEMENT_TIMEOUT_GRACE_MS = 1000;
// A connection that ends with statements already sent upstream (the agent left or reset its
// connection, sent Terminate right behind them; a revocation or shutdown ended the session) keeps
// reading the server's answers, which record them as the normal path does (docs/postgres.md,
// "Sessions, revocation, cancel"). PostgreSQL itself runs a statement to its end when its client
// is gone, so a record written at the agent's departure would state an outcome nobody observed.
/**
 * How long the answers are awaited when the agent left and the policy sets no statementTimeout
 * (with one, the server's pinned statement_timeout ends a statement first: the wait is that
 * timeout plus STATEMENT_TIMEOUT_GRACE_MS).
 */
export const ABANDONED_READ_MS = 30_000;
/**
 * After that wait, or at once when the sidecar ends the session (revocation, shutdown: 57P01), the
 * running statement is canceled, and its answer read for this long more; a sidecar shutdown thus
 * waits at most this for a session's statements before it closes it.
 */
export const CANCELED_READ_MS = 2_000;

type Phase = 'startup' | 'password' | 'opening' | 'ready' | 'draining' | 'closed';

let nextConnectionId = 1;

export class ProxyConnection {
  private client: Socket | TLSSocket;
  private readonly ctx: ConnectionContext;
  private log: Logger;
  private readonly reader: FrontendReader;
  private phase: Phase = 'startup';
  private startup: StartupRequest | undefined;
  private session: Session | undefined;
  private upstream: UpstreamConnection | undefined;
  /** The spec.sensitiveColumns this session's database was compared with (catalogHolds), as object and as declarationsKey. */
  private catalogChecked: { cfg: SensitiveColumnsConfig | undefined; json: string } | undefined;
  private pipeline: Pipeline | undefined;
  private pumping = false;
  private readonly upQueue: Array<[BackendMessage, Buffer]> = [];
  private upQueueBytes = 0;
  private upPumping = false;
  /** The upstream socket closed; the queue is relayed before the session ends. */
  private upstreamEnded = false;
  /** The connection holds one of the listener's session slots (from its StartupMessage until it is wholly closed). */
  private holdsSlot = false;
  /** SQLSTATE of a FATAL (or PANIC) the server sent: the connection then closes with nothing after it. */
  private serverFatal: string | undefined;
  /** The statement the statementTimeout backstop watches, and its timer. */
  private watched: { statement: object; timer: NodeJS.Timeout } | undefined;
  /** Pumps waiting for room: woken when answers were handled, the client drained, or the connection closed. */
  private roomWaiters: Array<() => void> = [];
  private upstreamDrain: Promise<void> | undefined;
  private clientPausedForUpstream = false;
  private clientOut: Buffer[] = [];
  private upstreamOut: Buffer[] = [];
  private upstreamOutBytes = 0;
  private upstreamFlushScheduled = false;
  private clientOutBytes = 0;
  private flushScheduled = false;
  private startupTimer: NodeJS.Timeout | undefined;
  private closeReason = 'client disconnected';
  /** The answers of statements sent before the connection ended are being read (teardown → settle). */
  private settling = false;
  /** Why reading them stopped early (the sidecar could not handle an answer). */
  private settleStopped: string | undefined;
  /** The sidecar closed the connection with a FATAL error (a client's protocol error, or terminate). */
  private refused = false;
  /** The SQLSTATE the sidecar ended the session with (terminate). */
  private endCode: string | undefined;
  private resolveClosed: () => void = () => undefined;
  /** Resolves when both sockets are gone and the session is closed. */
  readonly closed: Promise<void>;

  constructor(socket: Socket, ctx: ConnectionContext) {
    this.client = socket;
    this.ctx = ctx;
    // Until the client is authenticated, nothing bigger than a password message is buffered.
    this.reader = new FrontendReader({ maxMessageBytes: MAX_PASSWORD_MESSAGE + 4 });
    this.log = ctx.logger.child({ conn: nextConnectionId++, remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}` });
    this.closed = new Promise((r) => { this.resolveClosed = r; });
  }

  start(): void {
    this.ctx.metrics?.connectionOpened?.();
    this.client.setNoDelay(true);
    this.attachClient(this.client);
    this.startupTimer = setTimeout(() => this.refuse('08006', 'the client did not complete authentication in time'), this.ctx.startupTimeoutMs);
  }

  private attachClient(s: Socket | TLSSocket): void {
    s.on('data', (chunk: Buffer) => this.onClientData(chunk));
    s.on('error', (err) => this.log.debug({ err }, 'client socket error'));
    s.on('close', () => void this.teardown(this.closeReason));
  }

  private onClientData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    this.reader.push(chunk);
    if (this.reader.buffered > CLIENT_HIGH_WATER) this.client.pause();
    if (this.phase === 'ready') void this.pumpClient();
    else this.handshakeStep();
  }

  // ------------------------------------------------------------------ startup and authentication

  private handshakeStep(): void {
    try {
      while (this.phase === 'startup' || this.phase === 'password') {
        const done = this.phase === 'startup' ? this.startupStep() : this.passwordStep();
        if (!done) return;
      }
    } catch (err) {
      this.protocolFailure(err);
    }
  }

  /** Returns false when more data is needed. */
  private startupStep(): boolean {
    const packet = this.reader.nextStartup();
    if (packet === undefined) return false;
    this.onStartupPacket(packet);
    return true;
  }

  private onStartupPacket(p: StartupPacket): void {
    switch (p.type) {
      case 'sslRequest':
        this.onSslRequest();
        return;
      case 'gssEncRequest':
        this.client.write('N');
        return;
      case 'cancel':
        this.onCancelRequest(p.processId, p.secretKey);
        return;
      case 'startup':
        this.onStartupMessage(p.minor, p.params);
        return;
    }
  }

  private onSslRequest(): void {
    // Bytes sent after SSLRequest before our answer would be injected into the encrypted stream (CVE-2021-23214).
    if (this.reader.buffered > 0) throw new ProtocolError('received unencrypted data after SSL request');
    if (this.ctx.tls === undefined || this.client instanceof TLSSocket) {
      this.client.write('N');
      return;
    }
    const raw = this.client;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.write('S');
    const secure = new TLSSocket(raw, { isServer: true, secureContext: this.ctx.tls });
    this.client = secure;
    this.attachClient(secure);
  }

  private onCancelRequest(pid: number, secret: number): void {
    this.phase = 'closed';
    const target = this.ctx.registry.get(pid, secret);
    this.client.end();
    if (target === undefined) {
      this.log.debug('CancelRequest for an unknown backend');
      return;
    }
    target.cancel();
  }

  private onStartupMessage(minor: number, params: Array<[string, string]>): void {
    if (!this.ctx.slots.take()) {
      this.log.warn({ max: this.ctx.slots.max }, 'postgres connection refused: the listener holds GUARITA_PG_MAX_CONNECTIONS sessions');
      this.refuse('53300', tooManyConnections(this.ctx.target.name, this.ctx.slots.max));
      return;
    }
    this.holdsSlot = true;
    const req = parseStartup(params);
    this.startup = req;
    if (minor > 0 || req.protocolOptions.length > 0) this.client.write(negotiateProtocolVersion(0, req.protocolOptions));
    this.client.write(authenticationCleartextPassword());
    this.phase = 'password';
  }

  private passwordStep(): boolean {
    const m = this.reader.next();
    if (m === undefined) return false;
    // PostgreSQL's words (the type as a number): a client that sends Terminate here gets them too.
    if (m.type !== 'password') throw new ProtocolError(`expected password response, got message type ${m.raw[0] ?? 0}`);
    const token = passwordText(m);
    this.phase = 'opening';
    this.client.pause();
    void this.open(token);
    return true;
  }

  private async open(token: string): Promise<void> {
    const req = this.startup;
    if (req === undefined) return;
    const database = this.tryDatabase(req);
    if (database === undefined) return;
    const opened = await this.ctx.enforcer.openSession({
      target: this.ctx.target.name,
      credential: token,
      ...(req.purpose === undefined ? {} : { purpose: req.purpose }),
      client: { remoteAddress: this.client.remoteAddress ?? '', ...(req.applicationName === undefined ? {} : { application: req.applicationName }) },
    }).catch((err: unknown) => ({ ok: false as const, code: 'Unavailable' as const, message: `the Guarita sidecar could not open a session: ${err instanceof Error ? err.message : String(err)}` }));
    if (!opened.ok) {
      const code = { Unauthenticated: '28P01', Forbidden: '42501', Unavailable: '57P03' }[opened.code];
      this.refuse(code, opened.message);
      return;
    }
    this.session = opened.session;
    this.log = this.log.child({ session: opened.session.id, subject: opened.session.identity.subject, purpose: opened.session.purpose });
    if (this.phase === 'closed') {
      await opened.session.close(this.closeReason);
      return;
    }
    if (!(await this.judgeStartupSettings(opened.session, req, this.boundDatabase(database)))) return;
    await this.connect(opened.session, req, database);
  }

  /**
   * A setting in the startup packet is the same change as its SET statement, without a statement
   * the pipeline would see: `-c search_path=evil,public` or `row_security=off` would otherwise
   * skip every rule a policy has on those settings (securitySetting, timeoutChange). Each one is
   * decided and recorded as `SET name TO 'value'`, before anything reaches the server.
   */
  private async judgeStartupSettings(session: Session, req: StartupRequest, database: string | undefined): Promise<boolean> {
    for (const [name, value] of req.settings) {
      const sql = `SET ${name.toLowerCase()} TO '${value.replaceAll("'", "''")}'`;
      const hooks = database === undefined ? {} : { commandText: boundCommandText(sql, database) };
      const auth = await session.authorize({ protocol: 'postgres', sql }, hooks).catch((err: unknown) => ({
        verdict: 'deny' as const, message: `the Guarita sidecar could not decide the startup setting ${name}: ${err instanceof Error ? err.message : String(err)}`,
      }));
      if (this.phase === 'closed') return false;
      if (auth.verdict === 'allow') {
        await auth.complete({ masked: {}, durationMs: 0 });
        continue;
      }
      this.refuse('42501', `startup parameter ${name}: ${auth.message}`);
      return false;
    }
    return true;
  }

  /**
   * The database statements are bound to (approval-binding.ts): the session's, when the client
   * chose it; undefined when the policy names it (spec.target.database: every session runs there).
   */
  private boundDatabase(database: string): string | undefined {
    const pinned = this.ctx.target.database;
    return pinned === undefined || pinned === '' ? database : undefined;
  }

  private tryDatabase(req: StartupRequest): string | undefined {
    try {
      return upstreamDatabase(req, this.ctx.target.database);
    } catch (err) {
      this.protocolFailure(err);
      return undefined;
    }
  }

  private async connect(session: Session, req: StartupRequest, database: string): Promise<void> {
    try {
      this.upstream = await connectUpstream(this.ctx.target, database, upstreamParams(req, this.ctx.target.statementTimeoutMs));
    } catch (err) {
      const e = err instanceof UpstreamConnectError ? err : new UpstreamConnectError(String(err));
      // The server's words can repeat what the client sent (an application_name, a setting's value): masked for the log and the client.
      const message = session.newMaskSession().maskText(e.message);
      this.log.warn({ err: message, sqlstate: e.sqlstate }, 'upstream connection failed');
      this.closeReason = `upstream connection failed: ${message}`;
      // The client's own credential was fine: an authentication failure upstream is the Secret's, not 28xxx for the client.
      this.refuse(e.sqlstate.startsWith('28') ? '08006' : e.sqlstate, message);
      return;
    }
    if (this.phase === 'closed') {
      this.upstream.socket.destroy();
      return;
    }
    if (clientSearchPath(req) === undefined && !(await this.tempSchemaIsLast(session, this.upstream))) return;
    if (!(await this.catalogHolds(session, this.upstream))) return;
    this.ready(session, this.upstream, database);
  }

  /** The session's default search_path with pg_temp last (temp-schema-last.ts); a failure refuses the session. */
  private async tempSchemaIsLast(session: Session, up: UpstreamConnection): Promise<boolean> {
    try {
      await tempSchemaLast(up, this.ctx.target.connectTimeoutMs ?? 10_000);
      return this.phase !== 'closed';
    } catch (err) {
      const message = session.newMaskSession().maskText(`the Guarita sidecar could not put the temporary schema last in the session's search_path: ${err instanceof Error ? err.message : String(err)}`);
      this.log.warn({ reason: message }, 'upstream session refused: search_path');
      if (this.phase !== 'closed') this.refuse('57P03', message);
      return false;
    }
  }

  /**
   * The sensitive-column guard resolves `*`, `ORDER BY 2` and column aliases with the policy's
   * declared column lists: a database that contradicts them (ALTER TABLE since the policy was
   * written, a view defined otherwise, an undeclared table with a cpf column) is refused before
   * the client gets the session, naming the relation and the fix. Fails closed: a catalog that
   * cannot be read refuses the session too.
   */
  private async catalogHolds(session: Session, up: UpstreamConnection): Promise<boolean> {
    let problems: CatalogProblem[];
    try {
      const cfg = session.sensitiveColumns?.();
      this.catalogChecked = { cfg, json: declarationsKey(cfg) };
      if (cfg === undefined) return true;
      problems = await catalogProblems(up, cfg, this.ctx.target.connectTimeoutMs ?? 10_000);
    } catch (err) {
      const message = session.newMaskSession().maskText(`the Guarita sidecar could not compare spec.sensitiveColumns with the database's catalog: ${err instanceof Error ? err.message : String(err)}`);
      this.log.warn({ reason: message }, 'upstream session refused: catalog check failed');
      if (this.phase !== 'closed') this.refuse('57P03', message);
      return false;
    }
    if (this.phase === 'closed') return false;
    if (problems.length === 0) return true;
    // A view definition may hold a literal identifier (WHERE cpf = '...'): masked like any server text.
    const mask = session.newMaskSession();
    const message = mask.maskText(`the database contradicts the AccessPolicy's spec.sensitiveColumns (the sensitive-column guard would resolve columns wrongly): ${problems.map((p) => p.message).join('; ')}`);
    // Counted by connectionRefused (guarita_requests_total outcome "forbidden"); the log names the relations.
    this.log.warn({ relations: problems.map((p) => p.relation), fields: problems.map((p) => `spec.sensitiveColumns.${p.field}`), reason: message }, 'upstream session refused: catalog contradicts spec.sensitiveColumns');
    this.refuse('42501', message);
    return false;
  }

  private ready(session: Session, up: UpstreamConnection, database: string): void {
    // Role or database defaults (ALTER ROLE ... SET) are outranked by the pinned startup options;
    // a server that still reports another value (or none) is not one the classifier can judge for.
    const pinned = startupPinnedProblem(up.parameters);
    if (pinned !== undefined) {
      this.log.warn({ reason: pinned }, 'upstream session refused: pinned setting');
      this.refuse('42501', pinned);
      return;
    }
    clearTimeout(this.startupTimer);
    this.phase = 'ready';
    this.reader.maxMessageBytes = this.ctx.maxMessageBytes;
    this.pipeline = new Pipeline({
      session,
      database: this.boundDatabase(database),
      logger: this.log,
      onVerdict: (v) => this.ctx.metrics?.statementDecided?.(v),
      io: {
        toClient: (b) => this.toClient(b),
        toUpstream: (b) => this.toUpstream(b),
        upstreamBackpressure: () => this.upstreamDrain,
        terminate: (code, message) => this.terminate(code, message),
        clientTerminated: () => this.clientTerminated(),
      },
    });
    up.socket.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
    up.socket.on('error', (err) => this.log.debug({ err }, 'upstream socket error'));
    up.socket.on('close', () => this.onUpstreamClosed());
    up.socket.on('drain', () => this.onUpstreamDrain());
    session.closed.addEventListener('abort', () => this.terminate('57P01', reasonText(session.closed.reason)), { once: true });
    if (session.closed.aborted) {
      this.terminate('57P01', reasonText(session.closed.reason));
      return;
    }
    const key = up.backendKey;
    if (key !== undefined) this.ctx.registry.add(key.processId, key.secretKey, this);
    const mask = session.newMaskSession();
    const hello = [
      authenticationOk(),
      ...up.noticeMessages.map((n) => maskErrorOrNotice('N', n, mask)),
      ...[...up.parameters].map(([name, value]) => maskParameterStatus(name, value, parameterStatus(name, value), mask)),
    ];
    if (key !== undefined) hello.push(backendKeyData(key.processId, key.secretKey));
    hello.push(readyForQuery(up.status));
    this.client.write(Buffer.concat(hello));
    const application = this.startup?.applicationName;
    // The client names its application freely (it may carry an identifier): logged masked.
    this.log.info({ database: this.ctx.target.database, application: application === undefined ? undefined : mask.maskText(application) }, 'postgres session opened');
    this.client.resume();
    void this.pumpClient();
  }

  // ------------------------------------------------------------------ ready: client → upstream

  private async pumpClient(): Promise<void> {
    const pipeline = this.pipeline;
    if (this.pumping || pipeline === undefined) return;
    this.pumping = true;
    try {
      await this.pumpMessages(pipeline);
    } catch (err) {
      this.protocolFailure(err);
    } finally {
      this.pumping = false;
    }
    if (this.phase === 'ready' && this.client.isPaused()) this.client.resume();
  }

  private async pumpMessages(pipeline: Pipeline): Promise<void> {
    let m: FrontendMessage | undefined;
    while (this.phase === 'ready' && (m = this.reader.next()) !== undefined) {
      if (this.declarationsChanged()) {
        this.terminate('57P01', 'the AccessPolicy\'s spec.sensitiveColumns changed since this session\'s database was compared with it: connect again (a new session is checked against the new declarations)');
        return;
      }
      const step = pipeline.handleClient(m);
      if (step !== undefined) await step;
      this.watchStatement(pipeline);
      const bp = this.upstreamDrain;
      if (bp !== undefined) await bp;
      const room = this.roomForMore(pipeline);
      if (room !== undefined) await room;
    }
  }

  /**
   * The guard now judges with declarations this session's catalog was not compared with (the
   * policy changed): its statements could be resolved against a column order the database does not
   * have. A reference check per message; JSON only when the policy object changed.
   */
  private declarationsChanged(): boolean {
    const checked = this.catalogChecked;
    if (checked === undefined || this.session?.sensitiveColumns === undefined) return false;
    let now: SensitiveColumnsConfig | undefined;
    try {
      now = this.session.sensitiveColumns();
    } catch {
      // No policy in force: every statement is refused by authorize() with the reason.
      return false;
    }
    if (now === checked.cfg) return false;
    if (declarationsKey(now) !== checked.json) return true;
    checked.cfg = now;
    return false;
  }

  private clientBacklog(): number {
    return this.client.writableLength + this.clientOutBytes;
  }

  /**
   * Waits while the client has too much outstanding: answers due from upstream, or answers it
   * has not read. Nothing more is read from the client meanwhile (its data waits in the reader,
   * up to CLIENT_HIGH_WATER, then in the kernel). Undefined when there is room (nothing to await).
   */
  private roomForMore(pipeline: Pipeline): Promise<void> | undefined {
    if (this.phase !== 'ready' || (pipeline.pending < MAX_PENDING_MESSAGES && this.clientBacklog() < CLIENT_OUT_HIGH)) return undefined;
    return this.waitForRoom(pipeline);
  }

  private async waitForRoom(pipeline: Pipeline): Promise<void> {
    if (pipeline.pending >= MAX_PENDING_MESSAGES && this.phase === 'ready') {
      // Without Sync or Flush the server may keep its answers buffered; ask for them (Flush has
      // no answer and no effect on the batch). Reading resumes at half the bound, so a client
      // pipelining at the bound costs one Flush per MAX_PENDING_MESSAGES / 2 messages.
      this.toUpstream(serialize.flush());
      this.flushUpstream();
      while (this.phase === 'ready' && pipeline.pending > MAX_PENDING_MESSAGES / 2) await this.nextProgress();
    }
    while (this.phase === 'ready' && this.clientBacklog() >= CLIENT_OUT_HIGH) await this.nextProgress();
  }

  private nextProgress(): Promise<void> {
    return new Promise<void>((r) => this.roomWaiters.push(r));
  }

  /**
   * The policy's statementTimeout is pinned upstream at startup; a session that raised it anyway
   * (a SET the classifier let through, a function's SET clause) is held to it here: a statement
   * still running STATEMENT_TIMEOUT_GRACE_MS after the timeout is canceled. The clock starts when
   * the statement becomes the oldest one the server has not answered, i.e. when it starts running.
   */
  private watchStatement(pipeline: Pipeline): void {
    const timeoutMs = this.ctx.target.statementTimeoutMs;
    if (timeoutMs === undefined || timeoutMs <= 0) return;
    const running = pipeline.runningStatement;
    if (running === this.watched?.statement) return;
    clearTimeout(this.watched?.timer);
    this.watched = undefined;
    if (running === undefined || this.phase === 'closed') return;
    const timer = setTimeout(() => {
      const message = `canceling statement: it ran longer than the policy's statementTimeout (${timeoutMs} ms)`;
      if (!pipeline.statementTimedOut(running, message)) return;
      this.log.info({ timeoutMs }, 'statement outlived the policy statementTimeout: canceling it');
      this.cancelUpstream();
    }, timeoutMs + STATEMENT_TIMEOUT_GRACE_MS);
    timer.unref();
    this.watched = { statement: running, timer };
  }

  private wakeRoom(): void {
    for (const w of this.roomWaiters.splice(0)) w();
  }

  /** Like toClient: what one step sends upstream (Bind, Execute, Sync, ...) goes in one write. */
  private toUpstream(buf: Buffer): void {
    if (this.upstream === undefined || !this.clientFacing() || this.upstreamEnded) return;
    this.upstreamOut.push(buf);
    this.upstreamOutBytes += buf.length;
    if (this.upstreamOutBytes >= 256 * 1024) this.flushUpstream();
    else if (!this.upstreamFlushScheduled) {
      // After the event loop's I/O phase, not a microtask later: every message the client sent in
      // one read (Bind, Execute, Sync; a pipeline) is decided with microtask waits only, so all of
      // them leave in one write. Anything that waits for the server waits on I/O, which lets this
      // run first.
      this.upstreamFlushScheduled = true;
      setImmediate(() => this.flushUpstream());
    }
  }

  private flushUpstream(): void {
    this.upstreamFlushScheduled = false;
    const up = this.upstream;
    const out = this.upstreamOut;
    if (out.length === 0 || up === undefined) return;
    this.upstreamOut = [];
    this.upstreamOutBytes = 0;
    if (!this.clientFacing()) return;
    this.pipeline?.flushed();
    if (!up.socket.write(out.length === 1 ? (out[0] ?? Buffer.alloc(0)) : Buffer.concat(out)) && this.upstreamDrain === undefined) {
      this.upstreamDrain = new Promise((r) => up.socket.once('drain', () => r()));
    }
  }

  /** The client is served: its messages go upstream (also while a protocol error waits for earlier answers: draining). */
  private clientFacing(): boolean {
    return this.phase === 'ready' || this.phase === 'draining';
  }

  /** Upstream responses are read: while the client is served, and after it left while the answers of what was sent are read (settle). */
  private upstreamActive(): boolean {
    return this.clientFacing() || this.settling;
  }

  private onUpstreamDrain(): void {
    this.upstreamDrain = undefined;
  }

  // ------------------------------------------------------------------ ready: upstream → client

  private onUpstreamData(chunk: Buffer): void {
    if (!this.upstreamActive() || this.upstream === undefined) return;
    try {
      this.upstream.reader.push(chunk, (msg, raw) => {
        this.upQueue.push([msg, raw]);
        this.upQueueBytes += raw.length;
      });
    } catch (err) {
      this.log.error({ err }, 'invalid data from the upstream server');
      if (err instanceof UpstreamProtocolError && err.sqlstate !== '08P01') this.terminate(err.sqlstate, err.message);
      else this.terminate('08P01', `invalid data from the upstream server: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (this.upQueue.length > UPSTREAM_QUEUE_HIGH || this.upQueueBytes > UPSTREAM_QUEUE_HIGH_BYTES) this.upstream.socket.pause();
    void this.pumpUpstream();
  }

  private async pumpUpstream(): Promise<void> {
    const pipeline = this.pipeline;
    if (this.upPumping || pipeline === undefined) return;
    this.upPumping = true;
    try {
      let item: [BackendMessage, Buffer] | undefined;
      while (this.upstreamActive() && (item = this.upQueue.shift()) !== undefined) {
        // Awaited only when pending (a ReadyForQuery behind its record, a client that does not read):
        // RowDescription, DataRows and CommandComplete are relayed without a promise each.
        const relayed = this.relayUpstream(pipeline, item[0], item[1]);
        if (relayed !== undefined) await relayed;
      }
    } catch (err) {
      this.log.error({ err }, 'handling an upstream message failed');
      this.terminate('XX000', 'the Guarita sidecar failed to process the server response');
    } finally {
      this.upPumping = false;
      this.flushClient();
      // A settle waits for the last answer's record, not only for the answer.
      if (this.settling) this.wakeRoom();
    }
    if (this.upstreamEnded && this.upQueue.length === 0) this.upstreamGone();
    else this.resumeUpstreamIfDrained();
  }

  /** Undefined when the message was handled without waiting. */
  private relayUpstream(pipeline: Pipeline, msg: BackendMessage, raw: Buffer): Promise<void> | undefined {
    this.upQueueBytes -= raw.length;
    if (msg.name === 'error' && isFatalError(raw)) this.serverFatal = (msg as { code?: string }).code ?? 'unknown';
    const step = pipeline.handleUpstream(msg, raw);
    if (step !== undefined) return step.then(() => this.afterRelay(pipeline));
    return this.afterRelay(pipeline);
  }

  private afterRelay(pipeline: Pipeline): Promise<void> | undefined {
    pipeline.progressed();
    this.watchStatement(pipeline);
    this.wakeRoom();
    // A client that does not read: stop handling answers until it does (the upstream is paused meanwhile).
    if (this.clientBacklog() >= CLIENT_OUT_HIGH) return this.clientDrained();
    return undefined;
  }

  /**
   * The server closed the connection. What it sent before may still wait in the queue (behind a
   * record being made durable): it is all relayed first, then the session ends as the server
   * ended it (upstreamGone).
   */
  private onUpstreamClosed(): void {
    this.upstreamEnded = true;
    this.upstreamOut = [];
    this.upstreamOutBytes = 0;
    // What had not left never reached the server (recorded as not run).
    this.pipeline?.dropUnflushed();
    this.wakeRoom();
    if (this.upPumping) return;
    if (this.upQueue.length > 0) void this.pumpUpstream();
    else this.upstreamGone();
  }

  /**
   * Everything the server sent is relayed. After its own FATAL the client's connection just
   * closes, as PostgreSQL's does (a second error would be a second 'error' event in drivers, and
   * pools decide on retries from the server's code); a server that vanished without a word gets
   * the sidecar's 08006.
   */
  private upstreamGone(): void {
    if (this.phase === 'closed') return;
    const code = this.serverFatal;
    if (code !== undefined) {
      this.log.info({ sqlstate: code }, 'the upstream server ended the session');
      this.closeSilently(`the upstream server ended the session (${code})`);
      return;
    }
    this.terminate('08006', 'the upstream server closed the connection');
  }

  private resumeUpstreamIfDrained(): void {
    const up = this.upstream;
    if (up === undefined || !this.upstreamActive()) return;
    if (this.upQueue.length < UPSTREAM_QUEUE_HIGH / 2 && this.upQueueBytes < UPSTREAM_QUEUE_HIGH_BYTES / 2 && !this.clientPausedForUpstream && up.socket.isPaused()) up.socket.resume();
  }

  /** Flushes what is gathered for the client, then resolves once its socket buffer is below CLIENT_OUT_HIGH (or the connection ends). */
  private async clientDrained(): Promise<void> {
    this.flushClient();
    while (this.phase !== 'closed' && this.client.writableLength >= CLIENT_OUT_HIGH) {
      this.upstream?.socket.pause();
      await this.nextProgress();
    }
  }

  /**
   * Messages for the client are gathered and written together once the current batch of work is
   * done (a microtask later): a result of RowDescription, DataRows, CommandComplete and
   * ReadyForQuery goes out in one write instead of one per message.
   */
  private toClient(buf: Buffer): void {
    if (this.phase === 'closed') return;
    this.clientOut.push(buf);
    this.clientOutBytes += buf.length;
    if (this.clientOutBytes >= 256 * 1024) this.flushClient();
    // While upstream messages are being handled, the pump flushes when it is done: a result and
    // its ReadyForQuery (released after the record is durable) leave in one write.
    else if (!this.flushScheduled && !this.upPumping) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flushClient());
    }
  }

  private flushClient(): void {
    this.flushScheduled = false;
    const out = this.clientOut;
    if (out.length === 0) return;
    this.clientOut = [];
    this.clientOutBytes = 0;
    if (this.phase === 'closed') return;
    if (this.client.write(out.length === 1 ? (out[0] ?? Buffer.alloc(0)) : Buffer.concat(out)) || this.clientPausedForUpstream) return;
    // The client reads slower than the upstream answers: stop reading the upstream until it catches up.
    this.clientPausedForUpstream = true;
    this.upstream?.socket.pause();
    this.client.once('drain', () => {
      this.clientPausedForUpstream = false;
      this.wakeRoom();
      this.resumeUpstreamIfDrained();
    });
  }

  // ------------------------------------------------------------------ cancel, errors, teardown

  /** A CancelRequest carrying this connection's key. */
  cancel(): void {
    if (this.pipeline?.cancelWait() === true) {
      this.log.info('approval wait canceled by the client');
      return;
    }
    this.cancelUpstream();
  }

  private cancelUpstream(): void {
    const key = this.upstream?.backendKey;
    if (key === undefined) return;
    sendCancelRequest(this.ctx.target, key.processId, key.secretKey).catch((err: unknown) => this.log.warn({ err }, 'forwarding CancelRequest failed'));
  }

  private protocolFailure(err: unknown): void {
    if (err instanceof ProtocolError && err.silent) {
      this.ctx.metrics?.protocolError?.();
      this.log.info(`closing connection without an answer: ${err.message}`);
      this.closeSilently(err.message);
      return;
    }
    if (err instanceof ProtocolError) {
      this.ctx.metrics?.protocolError?.();
      this.log.info({ sqlstate: err.code }, `closing connection: ${err.message}`);
      void this.refuseAfterPending(err.code, err.message);
      return;
    }
    this.log.error({ err }, 'connection failed');
    this.refuse('XX000', 'internal error in the Guarita sidecar');
  }

  /**
   * Like a server reading messages one by one: what came before the bad message is answered
   * first (bounded wait), then the FATAL error. Nothing more is read from the client meanwhile.
   */
  private async refuseAfterPending(code: string, message: string): Promise<void> {
    const pipeline = this.pipeline;
    if (this.phase === 'ready' && pipeline !== undefined) {
      this.phase = 'draining';
      this.client.pause();
      // Answered means handled and written: the last answer (ReadyForQuery) waits for its record.
      const deadline = Date.now() + 5000;
      while ((pipeline.pending > 0 || this.upPumping || this.upQueue.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      // The session may have ended meanwhile (the server closed it, a revocation): nothing more to say.
      if (this.isClosed()) return;
      this.phase = 'ready';
    }
    this.refuse(code, message);
  }

  private isClosed(): boolean {
    return this.phase === 'closed';
  }

  /** FATAL error to the client, then closed (before or after the session is ready). */
  private refuse(code: string, message: string): void {
    if (this.phase === 'closed') return;
    this.refused = true;
    if (this.phase !== 'ready') this.ctx.metrics?.connectionRefused?.(code);
    this.closeReason = message;
    this.flushClient();
    this.phase = 'closed';
    this.client.end(errorResponse({ severity: 'FATAL', code, message }));
    this.client.resume();
    void this.teardown(message);
  }

  /** Closes the client connection without a message of the sidecar's own (after the server's FATAL; an unreadable startup packet). */
  private closeSilently(reason: string): void {
    if (this.phase === 'closed') return;
    this.closeReason = reason;
    this.flushClient();
    this.phase = 'closed';
    this.client.end();
    this.client.resume();
    void this.teardown(reason);
  }

  /**
   * Ends the session from the server side (revocation, upstream gone, shutdown). `cancelReadMs`: how
   * long the running statement's answer is read after its CancelRequest (a shutdown passes what is
   * left of GUARITA_DRAIN_TIMEOUT when that is shorter than CANCELED_READ_MS).
   */
  terminate(code: string, message: string, cancelReadMs = CANCELED_READ_MS): void {
    if (this.settling) {
      this.endWhileSettling(code, message, cancelReadMs);
      return;
    }
    if (this.phase === 'closed') return;
    this.endedBySidecar = true;
    this.endCode = code;
    this.cancelReadMs = Math.max(0, Math.min(CANCELED_READ_MS, cancelReadMs));
    this.log.info({ sqlstate: code }, `terminating connection: ${message}`);
    this.refuse(code, message);
  }

  /**
   * The session ends while the answers of statements sent before the connection ended are read
   * (settle). 57P01 is the sidecar ending the session (a revocation, an expired credential, a
   * policy change or deletion, an identity re-review, a shutdown): as when the agent is still there,
   * the running statement is canceled now, not left to run (and commit) until the abandoned-read
   * bound, and its answer read for CANCELED_READ_MS (a shutdown: at most what is left of its
   * drain). A later one only shortens that read. Any other code is an answer the sidecar cannot
   * handle (a stream it cannot attribute or mask, a record it could not write): reading stops, the
   * rest is unknown.
   */
  private endWhileSettling(code: string, message: string, cancelReadMs: number): void {
    if (code !== '57P01') {
      this.settleStopped ??= message;
      this.wakeRoom();
      return;
    }
    const now = Date.now();
    const bound = Math.max(0, Math.min(CANCELED_READ_MS, cancelReadMs));
    this.log.info({ sqlstate: code }, `terminating connection while reading the answers of statements the agent left: ${message}`);
    this.settleEndedBy ??= message;
    this.cancelReadMs = Math.min(this.cancelReadMs, bound);
    this.cancelAt = Math.min(this.cancelAt, now);
    this.readBy = Math.min(this.readBy, now + bound);
    this.wakeRoom();
  }

  private clientTerminated(): void {
    this.flushClient();
    this.closeReason = 'client sent Terminate';
    this.phase = 'closed';
    this.client.end();
    void this.teardown(this.closeReason);
  }

  private tornDown = false;
  /** Set when the sidecar ends the session (terminate): nothing more of the client's goes upstream. */
  private endedBySidecar = false;
  /** How long a canceled statement's answer is read (settle): CANCELED_READ_MS, or less within a shutdown's drain. */
  private cancelReadMs = CANCELED_READ_MS;
  /** Settle: when the running statement is canceled (the abandoned-read bound; now, once the sidecar ends the session). */
  private cancelAt = Number.POSITIVE_INFINITY;
  /** Settle: when reading stops after the cancel (CANCELED_READ_MS after it, or a shutdown's drain). */
  private readBy = Number.POSITIVE_INFINITY;
  /** Why the sidecar ended the session while the answers were read after the agent left (57P01 during settle). */
  private settleEndedBy: string | undefined;

  private closeUpstream(): void {
    const up = this.upstream;
    if (up === undefined) return;
    const key = up.backendKey;
    if (key !== undefined) this.ctx.registry.remove(key.processId, key.secretKey, this);
    up.socket.removeAllListeners('close');
    up.socket.on('error', () => undefined);
    // Before the session was ready (settle() sends what the client sent once it is): a Query right before Terminate still goes.
    const pending = this.upstreamOut.splice(0);
    up.socket.end(Buffer.concat([...(this.endedBySidecar ? [] : pending), serialize.end()]));
    setTimeout(() => up.socket.destroy(), 1000).unref();
  }

  private async teardown(reason: string): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    this.phase = 'closed';
    this.wakeRoom();
    clearTimeout(this.watched?.timer);
    clearTimeout(this.startupTimer);
    setTimeout(() => this.client.destroy(), 1000).unref();
    try {
      const unanswered = await this.settle(reason).finally(() => this.closeUpstream());
      await this.pipeline?.shutdown(reason, unanswered);
      await this.session?.close(reason);
    } catch (err) {
      this.log.error({ err }, 'closing the session failed');
    } finally {
      if (this.session !== undefined) this.log.info({ reason }, 'postgres session closed');
      // Only now: a session whose answers were read after the agent left held its backend until here.
      if (this.holdsSlot) this.ctx.slots.release();
      this.holdsSlot = false;
      this.ctx.metrics?.connectionClosed?.();
      this.resolveClosed();
    }
  }

  /**
   * The connection ended with statements already sent upstream. The server runs them anyway
   * (PostgreSQL does not notice a gone client while a statement runs), so their answers are read
   * and recorded as in the normal path: nothing is forwarded to the client or buffered for it,
   * rows are counted and sampled as usual. Bounded: until everything sent is answered, or
   * abandonedReadMs(); then the running statement is canceled and its answer read for
   * CANCELED_READ_MS. When the sidecar ends the session (57P01: revocation, shutdown) the
   * statement is canceled at once, as pg_terminate_backend would. Nothing else is sent upstream
   * but what lets the server answer what it holds (CopyFail, Flush), then Terminate
   * (closeUpstream). Returns what the record of a statement still unanswered says.
   */
  private async settle(reason: string): Promise<string> {
    const pipeline = this.pipeline;
    const up = this.upstream;
    const cause = this.endedBySidecar ? `the Guarita sidecar ended the session (${reason})` : this.refused ? `the Guarita sidecar closed the connection (${reason})` : `the agent left (${reason})`;
    if (pipeline === undefined || up === undefined) return `${cause}; the server's outcome was not read`;
    pipeline.stop(reason);
    this.sendPending(up, pipeline);
    if (this.upstreamEnded) return this.endedBySidecar ? 'the server closed the connection before answering; its outcome was not read' : `${cause}; the server closed the connection before answering, so its outcome was not read`;
    // After an answer the sidecar could not relay (a stream it cannot attribute or mask, a record it could not write), no more is read.
    if (this.endedBySidecar && this.endCode !== '57P01') return `${cause} before the server answered; the server's outcome was not read`;
    this.settling = true;
    this.clientPausedForUpstream = false;
    this.resumeUpstreamIfDrained();
    if (this.upQueue.length > 0) void this.pumpUpstream();
    try {
      return await this.readAnswers(pipeline, cause);
    } finally {
      this.settling = false;
    }
  }

  /**
   * What the client sent before it left still goes (a Query right before Terminate), with what
   * lets the server answer it: CopyFail ends a COPY FROM STDIN it waits data for (the COPY fails,
   * an answer), Flush releases the answers of a batch the client did not Sync (no Sync: it would
   * commit an implicit transaction the client never ended). When the sidecar ended the session,
   * what had not left does not go (a pinned setting changed: the server would misread it).
   */
  private sendPending(up: UpstreamConnection, pipeline: Pipeline): void {
    const pending = this.upstreamOut.splice(0);
    this.upstreamOutBytes = 0;
    if (this.upstreamEnded) return;
    if (this.endedBySidecar) pipeline.dropUnflushed();
    const out = this.endedBySidecar ? [] : pending;
    pipeline.flushed();
    if (pipeline.copyIn) out.push(serialize.copyFail(`the client left during COPY FROM STDIN (${this.closeReason})`));
    if (pipeline.unsynced) out.push(serialize.flush());
    if (out.length > 0) up.socket.write(Buffer.concat(out));
  }

  /**
   * Reads the answers (settle), canceling what still runs at the bound, or at once when the sidecar
   * ends the session meanwhile (endWhileSettling); the record text of what stayed unanswered.
   */
  private async readAnswers(pipeline: Pipeline, cause: string): Promise<string> {
    const started = Date.now();
    const waitMs = this.endedBySidecar ? 0 : this.abandonedReadMs();
    this.cancelAt = Math.min(this.cancelAt, started + waitMs);
    await this.readUntil(pipeline, () => this.cancelAt);
    const waited = this.settleEndedBy === undefined ? waitMs : 0;
    if (!this.answered(pipeline)) {
      pipeline.canceling(`canceling statement: ${this.cancelText(cause, waited)}`);
      this.cancelUpstream();
      this.readBy = Math.min(this.readBy, Date.now() + this.cancelReadMs);
      await this.readUntil(pipeline, () => this.readBy);
    }
    const why = this.endedText(cause);
    if (this.settleStopped !== undefined) return `${why}; the server's outcome was not read: ${this.settleStopped}`;
    if (this.upstreamEnded) return `${why}; the server closed the connection before answering, so its outcome was not read`;
    return `${why}; the server's outcome was not read: no answer ${waited > 0 ? `within ${waited} ms, nor ` : ''}within ${this.cancelReadMs} ms of a CancelRequest`;
  }

  /** Why the running statement is canceled: the sidecar ended the session, or it outlived the abandoned-read bound (`waited` ms). */
  private cancelText(cause: string, waited: number): string {
    if (waited === 0) return this.endedText(cause);
    return `${cause} and the statement still ran ${waited} ms later; the Guarita sidecar canceled it`;
  }

  /** The cause, and the sidecar ending the session after the agent had left when it did. */
  private endedText(cause: string): string {
    return this.settleEndedBy === undefined ? cause : `${cause}, then the Guarita sidecar ended the session (${this.settleEndedBy})`;
  }

  /** The policy's statementTimeout (the server ends the statement then) plus a grace, else ABANDONED_READ_MS. */
  private abandonedReadMs(): number {
    const timeoutMs = this.ctx.target.statementTimeoutMs;
    return timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs + STATEMENT_TIMEOUT_GRACE_MS : ABANDONED_READ_MS;
  }

  /** Everything sent is answered and recorded, or no more answers will be read. */
  private answered(pipeline: Pipeline): boolean {
    if (this.settleStopped !== undefined) return true;
    const idle = !this.upPumping && this.upQueue.length === 0;
    return idle && (pipeline.pending === 0 || this.upstreamEnded);
  }

  /** Reads until everything is answered or `deadline()` (read again at each wake-up: a 57P01 moves it) passes. */
  private async readUntil(pipeline: Pipeline, deadline: () => number): Promise<void> {
    while (!this.answered(pipeline) && Date.now() < deadline()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(250, Math.max(0, deadline() - Date.now())));
        this.roomWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

function passwordText(m: Extract<FrontendMessage, { type: 'password' }>): string {
  if (m.body.length > MAX_PASSWORD_MESSAGE) throw new ProtocolError(`password message of ${m.body.length} bytes is too long`);
  const nul = m.body.indexOf(0);
  if (nul !== m.body.length - 1) throw new ProtocolError('malformed password message');
  const token = m.body.toString('utf8', 0, nul);
  if (token === '') throw new ProtocolError('empty password: send the OIDC or service-account token as the password', '28P01');
  return token;
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  if (typeof reason === 'string' && reason !== '') return reason;
  return 'the session was closed by the Guarita sidecar';
}
