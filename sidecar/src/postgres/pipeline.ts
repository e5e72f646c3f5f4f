// The ready phase of one connection: every client message is decided before it reaches the
// upstream, every upstream response is masked before it reaches the client.
//
// Ordering. Client messages are handled one at a time, in order (a statement held for approval
// holds the ones behind it). Each message sent upstream leaves an entry in a FIFO saying which
// responses it will produce, so responses are attributed to statements (masking columns, row
// counts, the record) even when the client pipelines.
//
// Denials ride the upstream stream. A denied statement is not sent; in its place goes a message
// that is certain to fail without side effects (a syntax error, a statement or portal that does
// not exist), and its ErrorResponse is rewritten into the denial. The upstream thus reacts
// exactly as to any failed statement: an explicit transaction is aborted, an extended-protocol
// batch is skipped up to Sync, and ReadyForQuery carries the right transaction status. The
// listener discards the rest of such a batch itself too, so nothing behind a denial is
// authorized (or held for approval) in vain.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { serialize } from 'pg-protocol';
import type {
  BackendMessage, CommandCompleteMessage, MessageName, CopyResponse, DatabaseError, DataRowMessage,
  NotificationResponseMessage, ParameterStatusMessage, ReadyForQueryMessage, RowDescriptionMessage,
} from 'pg-protocol/dist/messages.js';
import type { Authorization, MaskSession, Session } from '../enforcement.ts';
import { copyData, fieldsMessage, noticeResponse, type TransactionStatus } from './backend.ts';
import { CopyOutMasker } from './copy.ts';
import { Execution, type Allowed } from './execution.ts';
import type { FrontendMessage } from './frontend.ts';
import { binaryRefusal, RowMasker, withResultFormats, type BinaryColumnsMode, type ColumnInfo } from './rows.ts';
import { PINNED_SERVER_SETTINGS } from '../../../core/policy/pg-settings.ts';
import { maskErrorOrNotice, maskNotification, maskParameterStatus, maskRowDescription, NO_DATA_MESSAGES, pinnedMismatch, pinnedMismatchMessage } from './server-messages.ts';
import { statementFacts, type CopyPlan, type StatementFacts } from './statements.ts';

/** Sent upstream in place of a denied statement: fails in the parser, runs nothing. */
export const DENIED_SQL = '/* guarita: denied by policy */ guarita_denied';
/** Names the listener keeps for itself: clients cannot create statements or portals under them. */
export const RESERVED_PREFIX = 'guarita.';
/** A statement and portal name that cannot exist upstream: Bind/Execute on it fail without side effects. */
export const DENIED_NAME = `${RESERVED_PREFIX}denied.${randomBytes(6).toString('hex')}`;
/** Reads every pinned setting (names are the sidecar's own constants). */
const PINNED_NAMES = Object.keys(PINNED_SERVER_SETTINGS);
export const PROBE_SQL = `SELECT ${PINNED_NAMES.map((n) => `current_setting('${n}')`).join(', ')}`;
const PROBE_PORTAL = `${RESERVED_PREFIX}probe`;
/** Non-data answers of a probe: ParseComplete, BindComplete, CommandComplete, two CloseComplete. */
const PROBE_ACKS = 5;

export interface Denial {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

export interface PipelineIO {
  toClient(buf: Buffer): void;
  toUpstream(buf: Buffer): void;
  /** A promise while the upstream socket's buffer is full. */
  upstreamBackpressure(): Promise<void> | undefined;
  /** FATAL error to the client, then both sockets closed. */
  terminate(code: string, message: string): void;
  /** The client sent Terminate. */
  clientTerminated(): void;
}

export interface PipelineOptions {
  session: Session;
  io: PipelineIO;
  logger: Logger;
  onVerdict?: (verdict: Authorization['verdict']) => void;
}

interface StatementState {
  name: string;
  sql: string;
  facts: StatementFacts;
  /** The Parse-time authorization, used by the first Execute. */
  pendingAuth: Allowed | undefined;
  /** Result columns (formats as described: text), once the upstream described the statement. */
  columns: ColumnInfo[] | undefined;
  described: Promise<void>;
  resolveDescribed: () => void;
}

interface PortalState {
  name: string;
  stmt: StatementState | undefined;
  resultFormats: number[];
  /** The batch that bound it: a ReadyForQuery outside a transaction ends the portals of its batch and before. */
  batch: number;
  /** Columns with actual formats (from Describe portal), when known. */
  columns: ColumnInfo[] | undefined;
  exec: Execution | undefined;
}

interface ResultState {
  rows?: RowMasker;
  copy?: CopyOutMasker;
  /** Set when a result is refused mid-stream (simple protocol): rows are swallowed, the tag becomes an error. */
  refused?: string;
}

type Entry =
  | { kind: 'query'; batch: number; exec?: Execution; denial?: Denial; plans: CopyPlan[]; planIndex: number; result: ResultState; mask?: MaskSession }
  | { kind: 'parse'; batch: number; internal: boolean; denial?: Denial; stmt?: StatementState; prev?: StatementState }
  | { kind: 'bind'; batch: number; denial?: Denial; portal?: PortalState }
  | { kind: 'describe'; batch: number; internal: boolean; target: 'S' | 'P'; stmt?: StatementState; portal?: PortalState; onColumns?: (c: ColumnInfo[]) => void }
  | { kind: 'execute'; batch: number; portal: PortalState; exec?: Execution; denial?: Denial; result: ResultState; mask?: MaskSession }
  | { kind: 'close'; batch: number }
  | { kind: 'sync'; batch: number; internal: boolean }
  | { kind: 'probe'; batch: number; acks: number; done: () => void };

type Handler<E> = (entry: E, msg: BackendMessage, raw: Buffer) => void | Promise<void>;
type ResultHandler<E> = (entry: E, msg: BackendMessage, raw: Buffer, mask: MaskSession) => void | Promise<void>;

function columnsOf(msg: RowDescriptionMessage): ColumnInfo[] {
  return msg.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID, format: f.format === 'binary' ? 1 : 0 }));
}

function reservedName(what: string, name: string): Denial {
  return { code: '42602', message: `${what} name "${name}" is reserved by the Guarita sidecar (names starting with "${RESERVED_PREFIX}")` };
}

function isBlank(sql: string): boolean {
  return /^[\s;]*$/.test(sql);
}

function denialOf(auth: Exclude<Authorization, { verdict: 'allow' }>, canceled: boolean): Denial {
  if (auth.verdict === 'deny') {
    const rule = auth.decision.rule;
    // The sidecar's own fail-closed states are "try again later", not a policy denial.
    const code = auth.decision.code === 'Unavailable' || auth.decision.code === 'ApprovalUnavailable' ? '57P03' : '42501';
    return { code, message: auth.message, ...(rule === undefined ? {} : { detail: `policy rule: ${rule}` }) };
  }
  if (canceled) return { code: '57014', message: `canceling statement due to user request (ApprovalRequest ${auth.approvalRequest} stays open)` };
  return { code: '42501', message: auth.message, hint: `once ApprovalRequest ${auth.approvalRequest} is approved, run the same statement again` };
}

export class Pipeline {
  private readonly session: Session;
  private readonly io: PipelineIO;
  private readonly log: Logger;
  private readonly opts: PipelineOptions;
  private readonly entries: Entry[] = [];
  private readonly statements = new Map<string, StatementState>();
  private readonly portals = new Map<string, PortalState>();
  /** Extended-protocol batch number: incremented by each Sync the client sends. */
  private batch = 0;
  /** The batch the listener itself is discarding (after a denial), or the upstream is (after an error). */
  private discardBatch = -1;
  /** Extended messages were sent since the last Sync. */
  private unsynced = false;
  status: TransactionStatus = 'I';
  /** masking.binaryColumns of the policy, as of the latest allowed statement. */
  private binaryMode: BinaryColumnsMode = 'refuse';
  private wait: { controller: AbortController; canceled: boolean } | undefined;
  /** A COPY ... FROM STDIN is waiting for the client's data (the server answers nothing else meanwhile). */
  private copyIn = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  /** An Execute was sent in the current extended batch (it may have changed a setting the server reports only at Sync). */
  private batchRan = false;
  private probeSeq = 0;
  private readonly clientHandlers: Record<FrontendMessage['type'], (m: never) => Promise<void> | void>;
  private readonly upstreamHandlers: { [K in Entry['kind']]: Handler<Extract<Entry, { kind: K }>> };

  constructor(opts: PipelineOptions) {
    this.opts = opts;
    this.session = opts.session;
    this.io = opts.io;
    this.log = opts.logger;
    this.clientHandlers = {
      query: (m: Extract<FrontendMessage, { type: 'query' }>) => this.onQuery(m),
      parse: (m: Extract<FrontendMessage, { type: 'parse' }>) => this.onParse(m),
      bind: (m: Extract<FrontendMessage, { type: 'bind' }>) => this.onBind(m),
      describe: (m: Extract<FrontendMessage, { type: 'describe' }>) => this.onDescribe(m),
      execute: (m: Extract<FrontendMessage, { type: 'execute' }>) => this.onExecute(m),
      close: (m: Extract<FrontendMessage, { type: 'close' }>) => this.onClose(m),
      sync: (m: FrontendMessage) => this.onSync(m),
      flush: (m: FrontendMessage) => this.forwardExtended(m.raw),
      terminate: () => this.io.clientTerminated(),
      copyData: (m: FrontendMessage) => this.io.toUpstream(m.raw),
      copyDone: (m: FrontendMessage) => this.io.toUpstream(m.raw),
      copyFail: (m: FrontendMessage) => this.io.toUpstream(m.raw),
      functionCall: () => this.denyQuery({ code: '42501', message: 'the fast-path function call protocol is not allowed through the Guarita sidecar' }),
      password: () => this.io.terminate('08P01', 'unexpected password message after authentication'),
    };
    this.upstreamHandlers = {
      query: (e, m, r) => this.onQueryResponse(e, m, r),
      parse: (e, m, r) => this.onParseResponse(e, m, r),
      bind: (e, m, r) => this.onBindResponse(e, m, r),
      describe: (e, m, r) => this.onDescribeResponse(e, m, r),
      execute: (e, m, r) => this.onExecuteResponse(e, m, r),
      close: (e, m, r) => this.onSimpleAck(e, m, r, 'closeComplete'),
      sync: (e, m, r) => this.onSyncResponse(e, m, r),
      probe: (e, m, r) => this.onProbeResponse(e, m, r),
    };
  }

  // ---------------------------------------------------------------- client → upstream

  /** Handles one client message; the caller awaits it before the next. */
  handleClient(m: FrontendMessage): Promise<void> | void {
    if (this.discarding() && m.type !== 'sync' && m.type !== 'terminate') return undefined;
    return (this.clientHandlers[m.type] as (m: FrontendMessage) => Promise<void> | void)(m);
  }

  private discarding(): boolean {
    return this.discardBatch === this.batch;
  }

  /** A CancelRequest for this connection: abandons an approval wait. Returns true when one was abandoned. */
  cancelWait(): boolean {
    if (this.wait === undefined) return false;
    this.wait.canceled = true;
    this.wait.controller.abort(new Error('canceled by the client'));
    return true;
  }

  /** Messages sent upstream whose answers are still due. */
  get pending(): number {
    return this.entries.length;
  }

  /**
   * The statement the server is running now: the oldest one sent whose answers are still due
   * (a simple Query or an Execute of an allowed statement). A token for `statementTimedOut`.
   */
  get runningStatement(): object | undefined {
    const head = this.entries[0];
    return head !== undefined && (head.kind === 'query' || head.kind === 'execute') && head.exec !== undefined ? head : undefined;
  }

  /**
   * The listener canceled `statement` for outliving the policy's statementTimeout: the server's
   * "canceling statement due to user request" is rewritten to say so. False when it already ended.
   */
  statementTimedOut(statement: object, message: string): boolean {
    const head = this.entries[0];
    if (head !== statement || head === undefined || (head.kind !== 'query' && head.kind !== 'execute')) return false;
    head.denial = { code: '57014', message };
    return true;
  }

  /** Whether a statement is being held for approval (or being decided). */
  get waiting(): boolean {
    return this.wait !== undefined;
  }

  private async authorize(sql: string): Promise<{ auth: Authorization; canceled: boolean } | { denial: Denial }> {
    const wait = { controller: new AbortController(), canceled: false };
    this.wait = wait;
    const onClosed = (): void => wait.controller.abort(new Error('session closed'));
    this.session.closed.addEventListener('abort', onClosed, { once: true });
    try {
      const auth = await this.session.authorize({ protocol: 'postgres', sql }, {
        onApprovalPending: (requestName, message) => {
          this.io.toClient(noticeResponse({ code: '00000', message, hint: `waiting for ApprovalRequest ${requestName}` }));
        },
        signal: wait.controller.signal,
      });
      this.opts.onVerdict?.(auth.verdict);
      return { auth, canceled: wait.canceled };
    } catch (err) {
      this.log.error({ err }, 'authorization failed');
      return { denial: { code: '57P03', message: `the Guarita sidecar could not decide the statement: ${err instanceof Error ? err.message : String(err)}` } };
    } finally {
      this.session.closed.removeEventListener('abort', onClosed);
      this.wait = undefined;
    }
  }

  /** Refusals of the listener itself, after the policy allowed. */
  private factsRefusal(facts: StatementFacts): Denial | undefined {
    if (facts.copyOut.some((p) => p.format === 'binary')) {
      return { code: '0A000', message: 'COPY ... TO STDOUT in binary format is refused by the Guarita sidecar: its data cannot be masked; use text or csv format' };
    }
    if (facts.binaryCursor && this.binaryMode === 'refuse') {
      return { code: '0A000', message: 'binary cursors are refused by the policy (masking.binaryColumns: refuse)' };
    }
    return undefined;
  }

  private async decide(sql: string): Promise<{ exec: Allowed; facts: StatementFacts } | { denial: Denial }> {
    const decided = await this.authorize(sql);
    if ('denial' in decided) return decided;
    const { auth, canceled } = decided;
    if (auth.verdict !== 'allow') return { denial: denialOf(auth, canceled) };
    this.binaryMode = auth.decision.masking?.binaryColumns ?? 'refuse';
    const facts = statementFacts(sql);
    const refusal = this.factsRefusal(facts);
    if (refusal !== undefined) {
      await this.completeUnrun(auth, refusal.message);
      return { denial: refusal };
    }
    return { exec: auth, facts };
  }

  /** Records an allowed statement that never ran (prepared, then closed or replaced; refused by the listener; rejected upstream). */
  private async completeUnrun(auth: Allowed | undefined, error = 'prepared but not executed'): Promise<void> {
    if (auth === undefined) return;
    await new Execution(auth, this.session).finish(error);
  }

  private async onQuery(m: Extract<FrontendMessage, { type: 'query' }>): Promise<void> {
    // A simple Query destroys the unnamed statement and portal.
    await this.dropStatement('');
    await this.dropPortal('');
    if (isBlank(m.sql)) {
      this.send(m.raw, { kind: 'query', batch: this.batch, plans: [], planIndex: 0, result: {} });
      return;
    }
    const d = await this.decide(m.sql);
    if ('denial' in d) {
      this.denyQuery(d.denial);
      return;
    }
    const exec = new Execution(d.exec, this.session);
    await this.probeIfNeeded();
    await this.idle();
    if (this.stopped) {
      await this.finishExec(exec, 'not run: the session ended');
      return;
    }
    if (d.facts.copyOut.some((p) => p.describeSql !== undefined) && !this.unsynced) this.describeCopySources(d.facts.copyOut);
    this.send(m.raw, { kind: 'query', batch: this.batch, exec, plans: d.facts.copyOut, planIndex: 0, result: {} });
    await this.io.upstreamBackpressure();
  }

  /**
   * An allowed simple Query (and the first Parse of an extended-protocol batch) goes upstream
   * only once everything sent before it was answered. The server reports a changed setting
   * (ParameterStatus) just before the ReadyForQuery that ends the statement or batch that changed
   * it: waiting for that answer means a statement lexed under a pinned setting the classifier did
   * not assume is never sent (the session ends first). Drivers do not pipeline simple queries or
   * batches (libpq's pipeline mode does, and pays a round trip per batch); a Parse later in the
   * same batch is not held (docs/postgres.md, what stays out of reach). It also bounds a
   * pipelining client's in-flight simple queries to one.
   */
  private async idle(): Promise<void> {
    if (this.entries.length === 0 || this.copyIn) return;
    // Answers of an unsynced extended batch may sit in the server's buffer: ask for them.
    if (this.unsynced) this.io.toUpstream(serialize.flush());
    while (this.entries.length > 0 && !this.copyIn && !this.stopped) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /**
   * Inside an extended batch the server reports changed settings only at its ReadyForQuery, so
   * text sent after an Execute of the same batch (a Parse, a Query) could be lexed under a value
   * nobody reported yet. Before such text, the sidecar reads the pinned settings itself, in the
   * batch (a statement and portal of its own, closed after), and ends the session if one moved.
   * If the batch already failed the server skips the probe, and the client's text with it.
   */
  private async probeIfNeeded(): Promise<void> {
    if (!this.unsynced || !this.batchRan) return;
    this.batchRan = false;
    const name = `${RESERVED_PREFIX}probe.${this.probeSeq++}`;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => { done = r; });
    this.send(serialize.parse({ name, text: PROBE_SQL }), { kind: 'probe', batch: this.batch, acks: 0, done });
    this.io.toUpstream(Buffer.concat([
      serialize.bind({ portal: PROBE_PORTAL, statement: name }), serialize.execute({ portal: PROBE_PORTAL }),
      serialize.close({ type: 'P', name: PROBE_PORTAL }), serialize.close({ type: 'S', name }), serialize.flush(),
    ]));
    await finished;
  }

  private async onProbeResponse(e: Extract<Entry, { kind: 'probe' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    if (msg.name === 'error') {
      // As if the client's own next message had failed: the server skips the batch up to Sync.
      this.shift();
      this.forwardMasked('E', raw, this.session.newMaskSession());
      await this.skipUntilSync(e.batch);
      e.done();
      return;
    }
    if (msg.name === 'dataRow') {
      const values = (msg as DataRowMessage).fields as Array<string | null>;
      for (const [i, setting] of PINNED_NAMES.entries()) {
        const value = values[i] ?? '';
        const mismatch = pinnedMismatch(setting, value);
        if (mismatch === undefined) continue;
        this.log.warn({ setting, value }, 'a pinned setting changed inside an extended batch: closing the session');
        this.io.terminate('42501', pinnedMismatchMessage(setting, value, mismatch.expected));
        e.done();
        return;
      }
      return;
    }
    if (!['parseComplete', 'bindComplete', 'commandComplete', 'closeComplete'].includes(msg.name)) {
      this.refuseMessage(msg);
      e.done();
      return;
    }
    if (++e.acks < PROBE_ACKS) return;
    this.shift();
    e.done();
  }

  /** Called after each upstream message is handled (and at shutdown): wakes a Query waiting for idle. */
  progressed(): void {
    if (this.entries.length > 0 && !this.copyIn && !this.stopped) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private denyQuery(denial: Denial): void {
    this.send(serialize.query(DENIED_SQL), { kind: 'query', batch: this.batch, denial, plans: [], planIndex: 0, result: {} });
  }

  /** Columns of COPY sources, asked upstream in a batch of their own before the COPY runs. */
  private describeCopySources(plans: CopyPlan[]): void {
    for (const plan of plans) {
      if (plan.describeSql === undefined) continue;
      this.send(serialize.parse({ text: plan.describeSql }), { kind: 'parse', batch: -1, internal: true });
      this.send(serialize.describe({ type: 'S' }), {
        kind: 'describe', batch: -1, internal: true, target: 'S',
        onColumns: (cols) => { plan.columns = cols.map((c) => c.name); },
      });
    }
    this.send(serialize.sync(), { kind: 'sync', batch: -1, internal: true });
  }

  private send(buf: Buffer, entry: Entry | undefined): void {
    if (entry !== undefined) this.entries.push(entry);
    this.io.toUpstream(buf);
  }

  private forwardExtended(raw: Buffer, entry?: Entry): void {
    this.unsynced = true;
    this.send(raw, entry);
  }

  private newStatement(name: string, sql: string, facts: StatementFacts, auth: Allowed | undefined): StatementState {
    let resolveDescribed: () => void = () => undefined;
    const described = new Promise<void>((r) => { resolveDescribed = r; });
    return { name, sql, facts, pendingAuth: auth, columns: undefined, described, resolveDescribed };
  }

  private async onParse(m: Extract<FrontendMessage, { type: 'parse' }>): Promise<void> {
    if (m.name === '') await this.dropStatement('');
    const d = m.name.startsWith(RESERVED_PREFIX) ? { denial: reservedName('statement', m.name) }
      : isBlank(m.sql) ? { exec: undefined, facts: statementFacts('') } : await this.decide(m.sql);
    if ('denial' in d) {
      this.discardBatch = this.batch;
      this.forwardExtended(serialize.parse({ name: m.name.startsWith(RESERVED_PREFIX) ? DENIED_NAME : m.name, text: DENIED_SQL }), { kind: 'parse', batch: this.batch, internal: false, denial: d.denial });
      return;
    }
    if (!isBlank(m.sql)) {
      // The first Parse of a batch waits, like a simple Query, until earlier batches are answered
      // up to their ReadyForQuery (where the server reports changed settings); a later one is
      // preceded by a probe when the batch already ran something.
      await (this.unsynced ? this.probeIfNeeded() : this.idle());
      if (this.stopped) {
        await this.completeUnrun(d.exec, 'not run: the session ended');
        return;
      }
    }
    const stmt = this.newStatement(m.name, m.sql, d.facts, d.exec);
    const prev = this.statements.get(m.name);
    this.statements.set(m.name, stmt);
    this.forwardExtended(m.raw, { kind: 'parse', batch: this.batch, internal: false, stmt, ...(prev === undefined ? {} : { prev }) });
    // Learn the result columns now: Bind/Execute need them to mask, and clients need not Describe.
    this.forwardExtended(serialize.describe({ type: 'S', name: m.name }), { kind: 'describe', batch: this.batch, internal: true, target: 'S', stmt });
    await this.io.upstreamBackpressure();
  }

  private async dropStatement(name: string): Promise<void> {
    const stmt = this.statements.get(name);
    if (stmt === undefined) return;
    this.statements.delete(name);
    const auth = stmt.pendingAuth;
    stmt.pendingAuth = undefined;
    await this.completeUnrun(auth);
  }

  private async dropPortal(name: string): Promise<void> {
    const portal = this.portals.get(name);
    if (portal === undefined) return;
    this.portals.delete(name);
    await portal.exec?.finish();
  }

  private async onBind(m: Extract<FrontendMessage, { type: 'bind' }>): Promise<void> {
    if (m.portal.startsWith(RESERVED_PREFIX)) {
      this.denyBind('', reservedName('portal', m.portal));
      return;
    }
    const stmt = this.statements.get(m.statement);
    if (stmt === undefined) {
      this.denyBind(m.portal, { code: '26000', message: `prepared statement "${m.statement}" does not exist (statements must be prepared through the Guarita sidecar)` });
      return;
    }
    if (m.resultFormats.includes(1)) {
      const refusal = await this.binaryResultRefusal(stmt, m.resultFormats);
      if (refusal !== undefined) {
        this.denyBind(m.portal, { code: '0A000', message: refusal });
        return;
      }
    }
    if (m.portal === '') await this.dropPortal('');
    const portal: PortalState = { name: m.portal, stmt, resultFormats: m.resultFormats, batch: this.batch, columns: undefined, exec: undefined };
    this.portals.set(m.portal, portal);
    this.forwardExtended(m.raw, { kind: 'bind', batch: this.batch, portal });
    await this.io.upstreamBackpressure();
  }

  private async binaryResultRefusal(stmt: StatementState, formats: number[]): Promise<string | undefined> {
    if (stmt.columns === undefined) {
      // The statement's description is on its way; make the upstream send it now.
      this.io.toUpstream(serialize.flush());
      await stmt.described;
    }
    if (stmt.columns === undefined) return undefined;
    return binaryRefusal(withResultFormats(stmt.columns, formats), this.binaryMode);
  }

  private denyBind(portal: string, denial: Denial): void {
    this.discardBatch = this.batch;
    this.forwardExtended(serialize.bind({ portal, statement: DENIED_NAME }), { kind: 'bind', batch: this.batch, denial });
  }

  private onDescribe(m: Extract<FrontendMessage, { type: 'describe' }>): void {
    const entry: Entry = m.target === 'S'
      ? { kind: 'describe', batch: this.batch, internal: false, target: 'S', ...this.optional('stmt', this.statements.get(m.name)) }
      : { kind: 'describe', batch: this.batch, internal: false, target: 'P', ...this.optional('portal', this.portals.get(m.name)) };
    this.forwardExtended(m.raw, entry);
  }

  private optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
    return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
  }

  private async onExecute(m: Extract<FrontendMessage, { type: 'execute' }>): Promise<void> {
    let portal = this.portals.get(m.portal);
    if (portal === undefined) {
      // Not bound through the listener: an SQL cursor (DECLARE ran as a statement and was
      // decided then), or nothing (the upstream says so). Describe it to mask by column.
      portal = { name: m.portal, stmt: undefined, resultFormats: [], batch: this.batch, columns: undefined, exec: undefined };
      this.forwardExtended(serialize.describe({ type: 'P', name: m.portal }), { kind: 'describe', batch: this.batch, internal: true, target: 'P', portal });
      this.forwardExtended(m.raw, { kind: 'execute', batch: this.batch, portal, result: {}, mask: this.session.newMaskSession() });
      this.batchRan = true;
      return;
    }
    if (portal.exec === undefined && portal.stmt !== undefined && !isBlank(portal.stmt.sql)) {
      const exec = await this.executionFor(portal.stmt);
      if ('denial' in exec) {
        this.discardBatch = this.batch;
        this.forwardExtended(serialize.execute({ portal: DENIED_NAME }), { kind: 'execute', batch: this.batch, portal, denial: exec.denial, result: {} });
        return;
      }
      portal.exec = exec;
    }
    portal.exec?.begin();
    this.forwardExtended(m.raw, { kind: 'execute', batch: this.batch, portal, result: {}, ...this.optional('exec', portal.exec) });
    this.batchRan = true;
    await this.io.upstreamBackpressure();
  }

  /** The Parse-time authorization for the first run; every later run is decided again (live policy, one approval per run). */
  private async executionFor(stmt: StatementState): Promise<Execution | { denial: Denial }> {
    const pending = stmt.pendingAuth;
    if (pending !== undefined) {
      stmt.pendingAuth = undefined;
      return new Execution(pending, this.session);
    }
    const d = await this.decide(stmt.sql);
    return 'denial' in d ? d : new Execution(d.exec, this.session);
  }

  private async onClose(m: Extract<FrontendMessage, { type: 'close' }>): Promise<void> {
    if (m.target === 'S') await this.dropStatement(m.name);
    else await this.dropPortal(m.name);
    this.forwardExtended(m.raw, { kind: 'close', batch: this.batch });
  }

  private onSync(m: FrontendMessage): void {
    this.send(m.raw, { kind: 'sync', batch: this.batch, internal: false });
    this.batch++;
    this.unsynced = false;
    this.batchRan = false;
  }

  // ---------------------------------------------------------------- upstream → client

  /** Handles one upstream message; the caller awaits it before the next. */
  handleUpstream(msg: BackendMessage, raw: Buffer): void | Promise<void> {
    switch (msg.name) {
      case 'notice':
        return this.forwardMasked('N', raw, this.currentMask());
      case 'replicationStart':
        // CopyBothResponse (pg-protocol names 'W' replicationStart): replication streams cannot be masked.
        return this.refuseMessage(msg);
      case 'parameterStatus':
        return this.onParameterStatus(msg as ParameterStatusMessage, raw);
      case 'notification':
        return this.onNotification(msg as NotificationResponseMessage, raw);
      default:
        break;
    }
    const head = this.entries[0];
    if (head === undefined) return this.unexpected(msg, raw);
    return (this.upstreamHandlers[head.kind] as Handler<Entry>)(head, msg, raw);
  }

  private currentMask(): MaskSession {
    const head = this.entries[0];
    if (head !== undefined && (head.kind === 'query' || head.kind === 'execute')) {
      const m = head.exec?.mask ?? head.mask;
      if (m !== undefined) return m;
    }
    return this.session.newMaskSession();
  }

  private forwardMasked(kind: 'E' | 'N', raw: Buffer, mask: MaskSession): void {
    this.io.toClient(maskErrorOrNotice(kind, raw, mask));
  }

  /**
   * A pinned setting reported with another value (a function's SET clause, set_config inside a
   * function, a role default...) means the server now reads statement text differently from the
   * classifier: the session ends before anything after this message reaches the client.
   */
  private onParameterStatus(msg: ParameterStatusMessage, raw: Buffer): void {
    const mismatch = pinnedMismatch(msg.parameterName, msg.parameterValue);
    if (mismatch !== undefined) {
      this.log.warn({ setting: mismatch.setting, value: msg.parameterValue }, 'the server reported a pinned setting changed: closing the session');
      this.io.terminate('42501', pinnedMismatchMessage(mismatch.setting, msg.parameterValue, mismatch.expected));
      return;
    }
    this.io.toClient(maskParameterStatus(msg.parameterName, msg.parameterValue, raw, this.currentMask()));
  }

  private onNotification(msg: NotificationResponseMessage, raw: Buffer): void {
    this.io.toClient(maskNotification(msg, raw, this.session.newMaskSession()));
  }

  /** Messages without data go as bytes; anything else without a handler of its own ends the session (fail closed). */
  private forwardNoData(msg: BackendMessage, raw: Buffer, internal = false): void {
    if (!NO_DATA_MESSAGES.has(msg.name)) {
      this.refuseMessage(msg);
      return;
    }
    if (!internal) this.io.toClient(raw);
  }

  private refuseMessage(msg: BackendMessage): void {
    this.log.warn({ message: msg.name }, 'upstream message the sidecar cannot mask here');
    this.io.terminate('0A000', `the server sent ${msg.name}, which the Guarita sidecar cannot mask here; the session is closed`);
  }

  private unexpected(msg: BackendMessage, raw: Buffer): void {
    if (msg.name === 'error') {
      // A FATAL with nothing pending (idle timeout, administrator): pass it on; the close follows.
      this.forwardMasked('E', raw, this.session.newMaskSession());
      return;
    }
    this.log.warn({ message: msg.name }, 'unexpected upstream message with nothing pending');
    this.io.terminate('08P01', `unexpected ${msg.name} from the upstream server`);
  }

  private shift(): void {
    this.entries.shift();
  }

  /** After an extended-protocol error the upstream skips everything up to Sync: so do the entries. */
  private async skipUntilSync(failedBatch: number): Promise<void> {
    if (failedBatch >= 0) this.discardBatch = Math.max(this.discardBatch, failedBatch);
    let e: Entry | undefined;
    while (this.entries[0] !== undefined && this.entries[0].kind !== 'sync' && (e = this.entries.shift()) !== undefined) await this.skipped(e);
  }

  private async skipped(e: Entry): Promise<void> {
    switch (e.kind) {
      case 'probe':
        e.done();
        return;
      case 'describe':
        e.stmt?.resolveDescribed();
        return;
      case 'parse':
        await this.parseFailed(e);
        return;
      case 'execute':
        if (e.portal.exec === e.exec) e.portal.exec = undefined;
        if (e.exec !== undefined) await this.finishExec(e.exec, 'not run: an earlier message of the batch failed');
        return;
      case 'query':
        if (e.exec !== undefined) await this.finishExec(e.exec, 'not run: an earlier message of the batch failed');
        return;
      default:
        return;
    }
  }

  private async finishExec(exec: Execution, error?: string): Promise<void> {
    try {
      await exec.finish(error);
    } catch (err) {
      this.log.error({ err }, 'recording the command failed');
      this.io.terminate('58030', 'the Guarita sidecar could not record the command; the session is closed');
      throw err;
    }
  }

  private rewriteError(entry: { denial?: Denial }, msg: DatabaseError, raw: Buffer, mask: MaskSession): void {
    const denial = entry.denial;
    if (denial !== undefined) {
      entry.denial = undefined;
      this.io.toClient(fieldsMessage('E', [
        ['S', 'ERROR'], ['V', 'ERROR'], ['C', denial.code], ['M', denial.message],
        ...(denial.detail === undefined ? [] : [['D', denial.detail] as [string, string]]),
        ...(denial.hint === undefined ? [] : [['H', denial.hint] as [string, string]]),
      ]));
      return;
    }
    this.forwardMasked('E', raw, mask);
  }

  // simple Query ----------------------------------------------------------------------

  private readonly queryHandlers: Partial<Record<MessageName, ResultHandler<Extract<Entry, { kind: 'query' }>>>> = {
    rowDescription: (e, msg, raw, mask) => this.queryRowDescription(e, msg as RowDescriptionMessage, raw, mask),
    dataRow: (e, msg, raw, mask) => this.dataRow(e, msg as DataRowMessage, raw, mask),
    commandComplete: (e, msg, raw) => this.queryCommandComplete(e, msg as CommandCompleteMessage, raw),
    copyOutResponse: (e, msg, raw, mask) => this.copyOutResponse(e, msg as CopyResponse, raw, mask, e.plans[e.planIndex++]),
    copyData: (e, _msg, raw) => this.copyData(e, raw),
    copyInResponse: (_e, _msg, raw) => {
      this.copyIn = true;
      this.io.toClient(raw);
    },
    error: (e, msg, raw, mask) => {
      this.copyIn = false;
      e.exec?.fail((msg as DatabaseError).message);
      this.rewriteError(e, msg as DatabaseError, raw, mask);
    },
    readyForQuery: (e, msg, raw) => this.queryReady(e, msg as ReadyForQueryMessage, raw),
  };

  private onQueryResponse(e: Extract<Entry, { kind: 'query' }>, msg: BackendMessage, raw: Buffer): void | Promise<void> {
    const handler = this.queryHandlers[msg.name];
    if (handler === undefined) {
      this.forwardNoData(msg, raw);
      return undefined;
    }
    return handler(e, msg, raw, e.exec?.mask ?? (e.mask ??= this.session.newMaskSession()));
  }

  private queryRowDescription(e: Extract<Entry, { kind: 'query' }>, msg: RowDescriptionMessage, raw: Buffer, mask: MaskSession): void {
    const columns = columnsOf(msg);
    const refusal = binaryRefusal(columns, this.binaryMode);
    if (refusal !== undefined) {
      e.result = { refused: refusal };
      return;
    }
    e.result = { rows: new RowMasker(columns, mask, this.binaryMode, e.exec?.sample) };
    this.io.toClient(maskRowDescription(msg, raw, mask));
  }

  private dataRow(e: { result: ResultState; exec?: Execution }, msg: DataRowMessage, raw: Buffer, mask: MaskSession): void {
    if (e.result.refused !== undefined) return;
    e.result.rows ??= new RowMasker(undefined, mask, this.binaryMode, e.exec?.sample);
    e.exec?.row(raw.length);
    this.io.toClient(e.result.rows.maskRow(raw, msg.fields as Array<string | null>));
  }

  private queryCommandComplete(e: Extract<Entry, { kind: 'query' }>, msg: CommandCompleteMessage, raw: Buffer): void {
    this.copyIn = false;
    const refused = e.result.refused;
    e.result = {};
    if (refused !== undefined) {
      e.exec?.fail(refused);
      this.io.toClient(fieldsMessage('E', [['S', 'ERROR'], ['V', 'ERROR'], ['C', '0A000'], ['M', refused]]));
      return;
    }
    e.exec?.commandComplete(msg.text);
    this.io.toClient(raw);
  }

  private copyOutResponse(e: { result: ResultState; exec?: Execution }, msg: CopyResponse, raw: Buffer, mask: MaskSession, plan: CopyPlan | undefined): void {
    if (msg.binary) {
      this.io.terminate('0A000', 'binary COPY data cannot be masked; the Guarita sidecar closed the session');
      return;
    }
    e.result = { copy: new CopyOutMasker(plan, mask, e.exec?.sample) };
    this.io.toClient(raw);
  }

  private copyData(e: { result: ResultState; exec?: Execution }, raw: Buffer): void {
    const copy = e.result.copy;
    if (copy === undefined) {
      // CopyData outside a COPY OUT the listener saw start (no plan to split it by): never forwarded unmasked.
      this.io.terminate('0A000', 'the server sent COPY data the Guarita sidecar cannot attribute to a COPY ... TO STDOUT; the session is closed');
      return;
    }
    e.exec?.row(raw.length);
    const data = raw.subarray(5);
    const masked = copy.maskRow(data);
    if (masked === data) {
      this.io.toClient(raw);
      return;
    }
    this.io.toClient(copyData(masked));
  }

  private async queryReady(e: Extract<Entry, { kind: 'query' }>, msg: ReadyForQueryMessage, raw: Buffer): Promise<void> {
    this.shift();
    if (e.exec !== undefined) await this.finishExec(e.exec);
    await this.ready(msg, raw, false, e.batch);
  }

  private async ready(msg: ReadyForQueryMessage, raw: Buffer, internal: boolean, batch: number): Promise<void> {
    this.status = msg.status as TransactionStatus;
    this.copyIn = false;
    if (this.status === 'I' && batch >= 0) {
      // Outside a transaction block no portal survives (those bound by later batches are not there yet).
      for (const p of [...this.portals.values()]) {
        if (p.batch > batch) continue;
        this.portals.delete(p.name);
        if (p.exec !== undefined && !p.exec.isFinished) await this.finishExec(p.exec);
      }
    }
    if (!internal) this.io.toClient(raw);
  }

  // extended protocol -------------------------------------------------------------------

  private async failExtended(e: { batch: number; denial?: Denial }, msg: BackendMessage, raw: Buffer, internal: boolean): Promise<void> {
    this.shift();
    if (!internal || e.denial !== undefined) this.rewriteError(e, msg as DatabaseError, raw, this.session.newMaskSession());
    await this.skipUntilSync(e.batch);
  }

  private async onParseResponse(e: Extract<Entry, { kind: 'parse' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    if (msg.name === 'error') {
      if (e.stmt !== undefined) await this.parseFailed(e);
      return this.failExtended(e, msg, raw, e.internal);
    }
    if (msg.name !== 'parseComplete') return this.refuseMessage(msg);
    this.shift();
    if (e.prev !== undefined && e.prev !== e.stmt) {
      const auth = e.prev.pendingAuth;
      e.prev.pendingAuth = undefined;
      await this.completeUnrun(auth);
    }
    if (!e.internal) this.io.toClient(raw);
    return undefined;
  }

  /** A Parse the upstream rejected: the statement does not exist; a named one keeps its predecessor. */
  private async parseFailed(e: Extract<Entry, { kind: 'parse' }>): Promise<void> {
    const stmt = e.stmt;
    if (stmt === undefined) return;
    stmt.resolveDescribed();
    if (this.statements.get(stmt.name) === stmt) {
      if (e.prev !== undefined && stmt.name !== '') this.statements.set(stmt.name, e.prev);
      else this.statements.delete(stmt.name);
    }
    const auth = stmt.pendingAuth;
    stmt.pendingAuth = undefined;
    await this.completeUnrun(auth, 'the server rejected the statement');
  }

  private async onBindResponse(e: Extract<Entry, { kind: 'bind' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    if (msg.name === 'error') {
      if (e.portal !== undefined && this.portals.get(e.portal.name) === e.portal) this.portals.delete(e.portal.name);
      return this.failExtended(e, msg, raw, false);
    }
    if (msg.name !== 'bindComplete') return this.refuseMessage(msg);
    this.shift();
    this.io.toClient(raw);
    return undefined;
  }

  private async onSimpleAck(e: Extract<Entry, { kind: 'close' }>, msg: BackendMessage, raw: Buffer, expected: string): Promise<void> {
    if (msg.name === 'error') return this.failExtended(e, msg, raw, false);
    if (msg.name === expected) this.shift();
    this.forwardNoData(msg, raw);
    return undefined;
  }

  private async onDescribeResponse(e: Extract<Entry, { kind: 'describe' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    if (msg.name === 'error') {
      e.stmt?.resolveDescribed();
      return this.failExtended(e, msg, raw, false);
    }
    if (msg.name === 'rowDescription' || msg.name === 'noData') {
      this.shift();
      this.described(e, msg.name === 'noData' ? [] : columnsOf(msg as RowDescriptionMessage));
    }
    if (msg.name === 'rowDescription') {
      if (!e.internal) this.io.toClient(maskRowDescription(msg as RowDescriptionMessage, raw, this.session.newMaskSession()));
      return undefined;
    }
    this.forwardNoData(msg, raw, e.internal);
    return undefined;
  }

  private described(e: Extract<Entry, { kind: 'describe' }>, columns: ColumnInfo[]): void {
    e.onColumns?.(columns);
    if (e.target === 'S' && e.stmt !== undefined) {
      e.stmt.columns = columns;
      e.stmt.resolveDescribed();
    }
    if (e.target === 'P' && e.portal !== undefined) e.portal.columns = columns;
  }

  private portalColumns(portal: PortalState): ColumnInfo[] | undefined {
    if (portal.columns !== undefined) return portal.columns;
    const cols = portal.stmt?.columns;
    return cols === undefined ? undefined : withResultFormats(cols, portal.resultFormats);
  }

  private readonly executeHandlers: Partial<Record<MessageName, ResultHandler<Extract<Entry, { kind: 'execute' }>>>> = {
    dataRow: (e, msg, raw, mask) => this.executeDataRow(e, msg as DataRowMessage, raw, mask),
    copyOutResponse: (e, msg, raw, mask) => this.copyOutResponse(e, msg as CopyResponse, raw, mask, e.portal.stmt?.facts.copyOut[0]),
    copyData: (e, _msg, raw) => this.copyData(e, raw),
    copyInResponse: (_e, _msg, raw) => {
      this.copyIn = true;
      this.io.toClient(raw);
    },
    commandComplete: (e, msg, raw) => this.executeDone(e, msg, raw),
    emptyQuery: (e, msg, raw) => this.executeDone(e, msg, raw),
    portalSuspended: (_e, _msg, raw) => {
      this.shift();
      this.io.toClient(raw);
    },
    error: (e, msg, raw) => this.executeFailed(e, msg, raw),
  };

  private onExecuteResponse(e: Extract<Entry, { kind: 'execute' }>, msg: BackendMessage, raw: Buffer): void | Promise<void> {
    const handler = this.executeHandlers[msg.name];
    if (handler === undefined) {
      this.forwardNoData(msg, raw);
      return undefined;
    }
    return handler(e, msg, raw, e.exec?.mask ?? (e.mask ??= this.session.newMaskSession()));
  }

  private async executeFailed(e: Extract<Entry, { kind: 'execute' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    this.copyIn = false;
    e.exec?.fail((msg as DatabaseError).message);
    if (e.exec !== undefined) await this.finishExec(e.exec);
    e.portal.exec = undefined;
    await this.failExtended(e, msg, raw, false);
  }

  private executeDataRow(e: Extract<Entry, { kind: 'execute' }>, msg: DataRowMessage, raw: Buffer, mask: MaskSession): void {
    if (e.result.rows === undefined) {
      const columns = this.portalColumns(e.portal);
      const refusal = columns === undefined ? undefined : binaryRefusal(columns, this.binaryMode);
      if (refusal !== undefined) {
        this.io.terminate('0A000', refusal);
        return;
      }
      e.result.rows = new RowMasker(columns, mask, this.binaryMode, e.exec?.sample);
    }
    this.dataRow(e, msg, raw, mask);
  }

  private async executeDone(e: Extract<Entry, { kind: 'execute' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    this.copyIn = false;
    this.shift();
    if (msg.name === 'commandComplete') e.exec?.commandComplete((msg as CommandCompleteMessage).text);
    if (e.exec !== undefined) await this.finishExec(e.exec);
    e.portal.exec = undefined;
    this.io.toClient(raw);
  }

  private async onSyncResponse(e: Extract<Entry, { kind: 'sync' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    if (msg.name !== 'readyForQuery') {
      // Errors after Sync (e.g. a failed COMMIT of the implicit transaction) come before ReadyForQuery.
      if (msg.name === 'error') this.forwardMasked('E', raw, this.session.newMaskSession());
      else this.forwardNoData(msg, raw, e.internal);
      return;
    }
    this.shift();
    await this.ready(msg as ReadyForQueryMessage, raw, e.internal, e.batch);
  }

  /** Records whatever is still open when the connection ends. */
  private openExecutions(): Set<Execution> {
    const execs = new Set<Execution>();
    for (const e of this.entries) if ((e.kind === 'query' || e.kind === 'execute') && e.exec !== undefined) execs.add(e.exec);
    for (const p of this.portals.values()) if (p.exec !== undefined) execs.add(p.exec);
    return execs;
  }

  async shutdown(reason: string): Promise<void> {
    this.stopped = true;
    this.progressed();
    this.wait?.controller.abort(new Error(reason));
    const open = [...this.openExecutions()].map((x) => x.finish(reason));
    for (const e of this.entries) if (e.kind === 'probe') e.done();
    this.entries.length = 0;
    for (const s of this.statements.values()) {
      s.resolveDescribed();
      const auth = s.pendingAuth;
      s.pendingAuth = undefined;
      if (auth !== undefined) open.push(new Execution(auth, this.session).finish('prepared but not executed'));
    }
    const results = await Promise.allSettled(open);
    for (const r of results) if (r.status === 'rejected') this.log.error({ err: r.reason as unknown }, 'recording at connection end failed');
  }
}
