// The upstream half of a connection's pipeline (pipeline.ts explains the design): each upstream
// message is attributed to the oldest entry of the shared queue and masked (or rewritten into a
// denial, or refused) before it reaches the client; messages that answer no request (notices,
// ParameterStatus, notifications) are masked on their own.
import type {
  BackendMessage, CommandCompleteMessage, MessageName, CopyResponse, DatabaseError,
  NotificationResponseMessage, ParameterStatusMessage, ReadyForQueryMessage, RowDescriptionMessage,
} from 'pg-protocol/dist/messages.js';
import type { MaskSession } from '../enforcement.ts';
import { copyData, fieldsMessage, type TransactionStatus } from './backend.ts';
import { CopyOutMasker, CopyRowRefused } from './copy.ts';
import { copyOutRefusal } from './copy-refusal.ts';
import type { Execution } from './execution.ts';
import { answered, type Denial, type Entry, type PipelineState, type PortalState, type ResultState } from './pipeline-state.ts';
import { binaryRefusal, RowMasker, withResultFormats, type ColumnInfo } from './rows.ts';
import { isFatalError, maskNotification, maskParameterStatus, maskRowDescription, NO_DATA_MESSAGES, pinnedMismatch, pinnedMismatchMessage } from './server-messages.ts';
import type { SettingsProbe } from './settings-probe.ts';
import type { CopyPlan } from './statements.ts';

type Handler<E> = (entry: E, msg: BackendMessage, raw: Buffer) => void | Promise<void>;
type ResultHandler<E> = (entry: E, msg: BackendMessage, raw: Buffer, mask: MaskSession) => void | Promise<void>;

function columnsOf(msg: RowDescriptionMessage): ColumnInfo[] {
  return msg.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID, format: f.format === 'binary' ? 1 : 0 }));
}

export class UpstreamHalf {
  private readonly upstreamHandlers: { [K in Entry['kind']]: Handler<Extract<Entry, { kind: K }>> };

  private readonly s: PipelineState;
  private readonly probe: SettingsProbe;

  constructor(s: PipelineState, probe: SettingsProbe) {
    this.s = s;
    this.probe = probe;
    this.upstreamHandlers = {
      query: (e, m, r) => this.onQueryResponse(e, m, r),
      parse: (e, m, r) => this.onParseResponse(e, m, r),
      bind: (e, m, r) => this.onBindResponse(e, m, r),
      describe: (e, m, r) => this.onDescribeResponse(e, m, r),
      execute: (e, m, r) => this.onExecuteResponse(e, m, r),
      close: (e, m, r) => this.onSimpleAck(e, m, r, 'closeComplete'),
      sync: (e, m, r) => this.onSyncResponse(e, m, r),
      probe: (e, m, r) => this.probe.onResponse(e, m, r),
    };
  }

  /** Handles one upstream message; the caller awaits it before the next. */
  handleUpstream(msg: BackendMessage, raw: Buffer): void | Promise<void> {
    if (msg.name === 'error' && isFatalError(raw)) return this.onFatal(msg as DatabaseError, raw);
    switch (msg.name) {
      case 'notice':
        return this.s.forwardMasked('N', raw, this.currentMask());
      case 'replicationStart':
        // CopyBothResponse (pg-protocol names 'W' replicationStart): replication streams cannot be masked.
        return this.s.refuseMessage(msg);
      case 'parameterStatus':
        return this.onParameterStatus(msg as ParameterStatusMessage, raw);
      case 'notification':
        return this.onNotification(msg as NotificationResponseMessage, raw);
      default:
        break;
    }
    const head = this.s.entries[0];
    if (head === undefined) return this.unexpected(msg, raw);
    return (this.upstreamHandlers[head.kind] as Handler<Entry>)(head, msg, raw);
  }

  /**
   * The server ends the session (pg_terminate_backend's 57P01, a crash's 57P02, idle timeouts):
   * its FATAL goes to the client as it came (masked), never rewritten into a denial or swallowed
   * as the answer to a message of the sidecar's own; the connection then closes as the server
   * does, with nothing of the sidecar's after it. The statement it interrupted is recorded with
   * the server's message when the connection ends.
   */
  private onFatal(msg: DatabaseError, raw: Buffer): void {
    const head = this.s.entries[0];
    if (head !== undefined && (head.kind === 'query' || head.kind === 'execute')) head.exec?.fail(msg.message);
    this.s.forwardMasked('E', raw, this.currentMask());
  }

  private currentMask(): MaskSession {
    const head = this.s.entries[0];
    if (head !== undefined && (head.kind === 'query' || head.kind === 'execute')) {
      const m = head.exec?.mask ?? head.mask;
      if (m !== undefined) return m;
    }
    return this.s.session.newMaskSession();
  }



  /**
   * A pinned setting reported with another value (a function's SET clause, set_config inside a
   * function, a role default...) means the server now reads statement text differently from the
   * classifier: the session ends before anything after this message reaches the client.
   */
  private onParameterStatus(msg: ParameterStatusMessage, raw: Buffer): void {
    const mismatch = pinnedMismatch(msg.parameterName, msg.parameterValue);
    if (mismatch !== undefined) {
      this.s.log.warn({ setting: mismatch.setting, value: msg.parameterValue }, 'the server reported a pinned setting changed: closing the session');
      this.s.io.terminate('42501', pinnedMismatchMessage(mismatch.setting, msg.parameterValue, mismatch.expected));
      return;
    }
    this.s.io.toClient(maskParameterStatus(msg.parameterName, msg.parameterValue, raw, this.currentMask()));
  }

  private onNotification(msg: NotificationResponseMessage, raw: Buffer): void {
    this.s.io.toClient(maskNotification(msg, raw, this.s.session.newMaskSession()));
  }

  /** Messages without data go as bytes; anything else without a handler of its own ends the session (fail closed). */
  private forwardNoData(msg: BackendMessage, raw: Buffer, internal = false): void {
    if (!NO_DATA_MESSAGES.has(msg.name)) {
      this.s.refuseMessage(msg);
      return;
    }
    if (!internal) this.s.io.toClient(raw);
  }

  private unexpected(msg: BackendMessage, raw: Buffer): void {
    if (msg.name === 'error') {
      // A FATAL with nothing pending (idle timeout, administrator): pass it on; the close follows.
      this.s.forwardMasked('E', raw, this.s.session.newMaskSession());
      return;
    }
    this.s.log.warn({ message: msg.name }, 'unexpected upstream message with nothing pending');
    this.s.io.terminate('08P01', `unexpected ${msg.name} from the upstream server`);
  }

  private rewriteError(entry: { denial?: Denial }, msg: DatabaseError, raw: Buffer, mask: MaskSession): void {
    const denial = entry.denial;
    if (denial !== undefined) {
      entry.denial = undefined;
      this.s.io.toClient(fieldsMessage('E', [
        ['S', 'ERROR'], ['V', 'ERROR'], ['C', denial.code], ['M', denial.message],
        ...(denial.detail === undefined ? [] : [['D', denial.detail] as [string, string]]),
        ...(denial.hint === undefined ? [] : [['H', denial.hint] as [string, string]]),
      ]));
      return;
    }
    this.s.forwardMasked('E', raw, mask);
  }

  // simple Query ----------------------------------------------------------------------

  private readonly queryHandlers: Partial<Record<MessageName, ResultHandler<Extract<Entry, { kind: 'query' }>>>> = {
    rowDescription: (e, msg, raw, mask) => this.queryRowDescription(e, msg as RowDescriptionMessage, raw, mask),
    dataRow: (e, _msg, raw, mask) => this.dataRow(e, raw, mask),
    commandComplete: (e, msg, raw) => this.queryCommandComplete(e, msg as CommandCompleteMessage, raw),
    copyOutResponse: (e, msg, raw, mask) => this.copyOutResponse(e, msg as CopyResponse, raw, mask, e.plans[e.planIndex++], (why) => this.cutQueryCopy(e, why)),
    copyData: (e, _msg, raw) => this.copyData(e, raw, (why) => this.cutQueryCopy(e, why)),
    copyDone: (e, _msg, raw) => {
      if (e.result.refused === undefined) this.s.io.toClient(raw);
    },
    copyInResponse: (_e, _msg, raw) => {
      this.s.copyIn = true;
      this.s.io.toClient(raw);
    },
    error: (e, msg, raw, mask) => {
      this.s.copyIn = false;
      // A run the listener canceled (statementTimeout, the session ending) is recorded with why.
      e.exec?.failedUpstream(e.denial?.message ?? (msg as DatabaseError).message);
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
    return handler(e, msg, raw, e.exec?.mask ?? (e.mask ??= this.s.session.newMaskSession()));
  }

  private queryRowDescription(e: Extract<Entry, { kind: 'query' }>, msg: RowDescriptionMessage, raw: Buffer, mask: MaskSession): void {
    const columns = columnsOf(msg);
    const refusal = binaryRefusal(columns, this.s.binaryMode);
    if (refusal !== undefined) {
      e.result = { refused: refusal };
      return;
    }
    e.result = { rows: new RowMasker(columns, mask, this.s.binaryMode, e.exec?.sample) };
    this.s.io.toClient(maskRowDescription(msg, raw, mask));
  }

  /** A result row: forwarded as its own bytes unless masking changes a cell (rows.ts decodes only what it must). */
  private dataRow(e: { result: ResultState; exec?: Execution }, raw: Buffer, mask: MaskSession): void {
    if (e.result.refused !== undefined) return;
    e.result.rows ??= new RowMasker(undefined, mask, this.s.binaryMode, e.exec?.sample);
    e.exec?.row(raw.length);
    this.s.io.toClient(e.result.rows.maskRow(raw));
  }

  private queryCommandComplete(e: Extract<Entry, { kind: 'query' }>, msg: CommandCompleteMessage, raw: Buffer): void {
    this.s.copyIn = false;
    const refused = e.result.refused;
    e.result = {};
    if (refused !== undefined) {
      e.exec?.fail(refused);
      this.s.io.toClient(fieldsMessage('E', [['S', 'ERROR'], ['V', 'ERROR'], ['C', '0A000'], ['M', refused]]));
      return;
    }
    e.exec?.commandComplete(msg.text);
    this.s.io.toClient(raw);
  }

  /**
   * A COPY OUT starts: masked row by row under the columns it writes, or refused (`cut`) when the
   * sidecar does not know them as the server writes them (copy-refusal.ts).
   */
  private copyOutResponse(e: { result: ResultState; exec?: Execution }, msg: CopyResponse, raw: Buffer, mask: MaskSession, plan: CopyPlan | undefined, cut: (why: string) => void): void {
    if (msg.binary) {
      this.s.io.terminate('0A000', 'binary COPY data cannot be masked; the Guarita sidecar closed the session');
      return;
    }
    const refusal = copyOutRefusal(plan, msg.columnTypes.length, mask);
    if (refusal !== undefined || plan === undefined) {
      cut(refusal ?? 'no COPY plan');
      return;
    }
    e.result = { copy: new CopyOutMasker(plan, mask, e.exec?.sample) };
    this.s.io.toClient(raw);
  }

  private copyData(e: { result: ResultState; exec?: Execution }, raw: Buffer, cut: (why: string) => void): void {
    if (e.result.refused !== undefined) return;
    const copy = e.result.copy;
    if (copy === undefined) {
      // CopyData outside a COPY OUT the listener saw start (no plan to split it by): never forwarded unmasked.
      this.s.io.terminate('0A000', 'the server sent COPY data the Guarita sidecar cannot attribute to a COPY ... TO STDOUT; the session is closed');
      return;
    }
    const data = raw.subarray(5);
    let masked: Buffer;
    try {
      masked = copy.maskRow(data);
    } catch (err) {
      if (!(err instanceof CopyRowRefused)) throw err;
      cut(`COPY ... TO STDOUT was cut by the Guarita sidecar: ${err.message}, so its fields cannot be masked under their columns`);
      return;
    }
    e.exec?.row(raw.length);
    this.s.io.toClient(masked === data ? raw : copyData(masked));
  }

  /**
   * A simple Query's COPY the sidecar refuses: nothing more of it reaches the client (CopyData and
   * CopyDone are dropped), and its CommandComplete becomes an ErrorResponse with the reason
   * (queryCommandComplete), which also ends a COPY OUT the client was in. The rest of the Query's
   * results go on as the server sends them.
   */
  private cutQueryCopy(e: { result: ResultState; exec?: Execution }, why: string): void {
    this.s.log.warn({ reason: why }, 'COPY ... TO STDOUT refused');
    e.exec?.fail(why);
    e.result = { refused: why };
  }

  /** An Execute's COPY the sidecar refuses: the server goes on with the batch, so the session ends (as for binary COPY). */
  private cutExecuteCopy(e: { exec?: Execution }, why: string): void {
    e.exec?.fail(why);
    this.s.io.terminate('0A000', why);
  }

  /** The ReadyForQuery goes to the client only once the statement's record is kept. */
  private queryReady(e: Extract<Entry, { kind: 'query' }>, msg: ReadyForQueryMessage, raw: Buffer): Promise<void> | undefined {
    this.s.shift();
    if (e.exec !== undefined) return this.s.finishExec(e.exec).then(() => this.ready(msg, raw, false, e.batch));
    return this.ready(msg, raw, false, e.batch);
  }

  /** Undefined when no portal had to be recorded first (a simple query's common case: no promise). */
  private ready(msg: ReadyForQueryMessage, raw: Buffer, internal: boolean, batch: number): Promise<void> | undefined {
    this.s.status = msg.status as TransactionStatus;
    this.s.copyIn = false;
    if (this.s.status === 'I' && batch >= 0 && this.s.portals.size > 0) return this.endPortals(batch, raw, internal);
    if (!internal) this.s.io.toClient(raw);
    return undefined;
  }

  private async endPortals(batch: number, raw: Buffer, internal: boolean): Promise<void> {
    // Outside a transaction block no portal survives (those bound by later batches are not there yet).
    for (const p of [...this.s.portals.values()]) {
      if (p.batch > batch) continue;
      this.s.portals.delete(p.name);
      if (p.exec !== undefined && !p.exec.isFinished) await this.s.finishExec(p.exec);
    }
    if (!internal) this.s.io.toClient(raw);
  }

  // extended protocol -------------------------------------------------------------------

  private async failExtended(e: { batch: number; denial?: Denial }, msg: BackendMessage, raw: Buffer, internal: boolean): Promise<void> {
    this.s.shift();
    if (!internal || e.denial !== undefined) this.rewriteError(e, msg as DatabaseError, raw, this.s.session.newMaskSession());
    await this.s.skipUntilSync(e.batch);
  }

  private async onParseResponse(e: Extract<Entry, { kind: 'parse' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    if (msg.name === 'error') {
      if (e.stmt !== undefined) await this.s.parseFailed(e);
      return this.failExtended(e, msg, raw, e.internal);
    }
    if (msg.name !== 'parseComplete') return this.s.refuseMessage(msg);
    this.s.shift();
    if (e.stmt !== undefined) {
      answered(e.stmt);
      // The server holds this one now: what it replaced no longer matters (and a name re-parsed per
      // statement, as the unnamed one is, must not chain every earlier statement in memory).
      e.stmt.replaced = undefined;
    }
    if (e.prev !== undefined && e.prev !== e.stmt) {
      const auth = e.prev.pendingAuth;
      e.prev.pendingAuth = undefined;
      await this.s.completeUnrun(auth);
    }
    if (!e.internal) this.s.io.toClient(raw);
    return undefined;
  }


  private async onBindResponse(e: Extract<Entry, { kind: 'bind' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    if (msg.name === 'error') {
      this.s.bindFailed(e);
      return this.failExtended(e, msg, raw, false);
    }
    if (msg.name !== 'bindComplete') return this.s.refuseMessage(msg);
    this.s.shift();
    if (e.portal !== undefined) {
      answered(e.portal);
      e.portal.replaced = undefined;
    }
    this.s.io.toClient(raw);
    return undefined;
  }

  private async onSimpleAck(e: Extract<Entry, { kind: 'close' }>, msg: BackendMessage, raw: Buffer, expected: string): Promise<void> {
    if (msg.name === 'error') return this.failExtended(e, msg, raw, false);
    if (msg.name === expected) {
      this.s.shift();
      // The server closed it: forgotten now (a portal filed since under the name stays).
      if (e.portal !== undefined && this.s.portals.get(e.portal.name) === e.portal) this.s.portals.delete(e.portal.name);
    }
    this.forwardNoData(msg, raw);
    return undefined;
  }

  private async onDescribeResponse(e: Extract<Entry, { kind: 'describe' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    if (msg.name === 'error') {
      e.stmt?.resolveDescribed();
      return this.failExtended(e, msg, raw, false);
    }
    if (msg.name === 'rowDescription' || msg.name === 'noData') {
      this.s.shift();
      this.described(e, msg.name === 'noData' ? [] : columnsOf(msg as RowDescriptionMessage));
    }
    if (msg.name === 'rowDescription') {
      if (!e.internal) this.s.io.toClient(maskRowDescription(msg as RowDescriptionMessage, raw, this.s.session.newMaskSession()));
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
    dataRow: (e, _msg, raw, mask) => this.executeDataRow(e, raw, mask),
    copyOutResponse: (e, msg, raw, mask) => this.copyOutResponse(e, msg as CopyResponse, raw, mask, e.portal.stmt?.facts.copyOut[0], (why) => this.cutExecuteCopy(e, why)),
    copyData: (e, _msg, raw) => this.copyData(e, raw, (why) => this.cutExecuteCopy(e, why)),
    copyInResponse: (_e, _msg, raw) => {
      this.s.copyIn = true;
      this.s.io.toClient(raw);
    },
    commandComplete: (e, msg, raw) => this.executeDone(e, msg, raw),
    emptyQuery: (e, msg, raw) => this.executeDone(e, msg, raw),
    portalSuspended: (e, _msg, raw) => this.executeSuspended(e, raw),
    error: (e, msg, raw) => this.executeFailed(e, msg, raw),
  };

  private onExecuteResponse(e: Extract<Entry, { kind: 'execute' }>, msg: BackendMessage, raw: Buffer): void | Promise<void> {
    const handler = this.executeHandlers[msg.name];
    if (handler === undefined) {
      this.forwardNoData(msg, raw);
      return undefined;
    }
    return handler(e, msg, raw, e.exec?.mask ?? (e.mask ??= this.s.session.newMaskSession()));
  }

  private async executeFailed(e: Extract<Entry, { kind: 'execute' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    this.s.copyIn = false;
    e.exec?.failedUpstream(e.denial?.message ?? (msg as DatabaseError).message);
    if (e.exec !== undefined) await this.s.finishExec(e.exec);
    e.portal.exec = undefined;
    await this.failExtended(e, msg, raw, false);
  }

  private executeDataRow(e: Extract<Entry, { kind: 'execute' }>, raw: Buffer, mask: MaskSession): void {
    if (e.result.rows === undefined) {
      const columns = this.portalColumns(e.portal);
      const refusal = columns === undefined ? undefined : binaryRefusal(columns, this.s.binaryMode);
      if (refusal !== undefined) {
        this.s.io.terminate('0A000', refusal);
        return;
      }
      e.result.rows = new RowMasker(columns, mask, this.s.binaryMode, e.exec?.sample);
    }
    this.dataRow(e, raw, mask);
  }

  /**
   * A row-limited Execute paused. A portal the listener bound keeps its run open for the next
   * Execute; an Execute of a cursor was decided and recorded as one `FETCH n`, which ends here.
   */
  private async executeSuspended(e: Extract<Entry, { kind: 'execute' }>, raw: Buffer): Promise<void> {
    this.s.shift();
    if (e.exec !== undefined && e.portal.exec !== e.exec) await this.s.finishExec(e.exec);
    this.s.io.toClient(raw);
  }

  private async executeDone(e: Extract<Entry, { kind: 'execute' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    this.s.copyIn = false;
    this.s.shift();
    if (msg.name === 'commandComplete') e.exec?.commandComplete((msg as CommandCompleteMessage).text);
    if (e.exec !== undefined) await this.s.finishExec(e.exec);
    e.portal.exec = undefined;
    this.s.io.toClient(raw);
  }

  private async onSyncResponse(e: Extract<Entry, { kind: 'sync' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    if (msg.name !== 'readyForQuery') {
      // Errors after Sync (e.g. a failed COMMIT of the implicit transaction) come before ReadyForQuery.
      if (msg.name === 'error') this.s.forwardMasked('E', raw, this.s.session.newMaskSession());
      else this.forwardNoData(msg, raw, e.internal);
      return;
    }
    this.s.shift();
    await this.ready(msg as ReadyForQueryMessage, raw, e.internal, e.batch);
  }
}
