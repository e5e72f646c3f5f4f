// What the two halves of a connection's pipeline share (pipeline.ts explains the design): the
// FIFO of messages sent upstream whose answers are still due, the statements and portals the
// client created through the listener, the batch counters, and the few operations both halves
// perform on them (sending with an entry, skipping a failed batch, recording a command).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import type { Authorization, MaskSession, Session } from '../enforcement.ts';
import type { TransactionStatus } from './backend.ts';
import type { CopyOutMasker } from './copy.ts';
import { Execution, type Allowed } from './execution.ts';
import type { BinaryColumnsMode, ColumnInfo, RowMasker } from './rows.ts';
import { maskErrorOrNotice } from './server-messages.ts';
import { ServerNames } from './server-names.ts';
import type { CopyPlan, StatementFacts } from './statements.ts';

/** Sent upstream in place of a denied statement: fails in the parser, runs nothing. */
export const DENIED_SQL = '/* guarita: denied by policy */ guarita_denied';
/** Names the listener keeps for itself: clients cannot create statements or portals under them. */
export const RESERVED_PREFIX = 'guarita.';
/** A statement and portal name that cannot exist upstream: Bind/Execute on it fail without side effects. */
export const DENIED_NAME = `${RESERVED_PREFIX}denied.${randomBytes(6).toString('hex')}`;

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
  /**
   * The database the session runs in, when the client chose it (the policy names no
   * spec.target.database): every statement is decided, recorded and approved as a text that names
   * it (approval-binding.ts), so an approval given in one database does not run in another.
   */
  database?: string;
}

/**
 * A statement or portal as the listener filed it when it sent the Parse or Bind that creates it.
 * Until the server answers that message it may not exist upstream as filed (a Parse under a name
 * the server holds fails with 42P05 and the server keeps its old statement; a failed Bind leaves
 * the old portal): `confirmed` says the answer came, `batch` which batch sent it.
 */
interface Filed {
  batch: number;
  confirmed: boolean;
  /** The server refused the Parse or Bind that filed it: it never existed there. */
  rejected?: boolean;
  /** Resolved once the server answered the Parse or Bind, either way (or skipped it). */
  answered: Promise<void>;
  resolveAnswered: () => void;
}

/** The bookkeeping of a statement or portal filed now, in `batch`, not yet answered. */
export function filedIn(batch: number): Filed {
  let resolveAnswered: () => void = () => undefined;
  const answered = new Promise<void>((r) => { resolveAnswered = r; });
  return { batch, confirmed: false, answered, resolveAnswered };
}

/** The server answered the Parse or Bind that filed `f` (or skipped it). */
export function answered(f: Filed): void {
  f.confirmed = true;
  f.resolveAnswered();
}

export interface StatementState extends Filed {
  name: string;
  /** What the listener filed under the name before this (what the server keeps if this is refused). */
  replaced?: StatementState;
  sql: string;
  /** Parameter types the Parse declared: every run is decided knowing the statement has parameters. */
  declaredParameters: number;
  facts: StatementFacts;
  /** The Parse-time authorization, used by the first Execute. */
  pendingAuth: Allowed | undefined;
  /** Result columns (formats as described: text), once the upstream described the statement. */
  columns: ColumnInfo[] | undefined;
  described: Promise<void>;
  resolveDescribed: () => void;
}

export interface PortalState extends Filed {
  name: string;
  /** What the listener filed under the name before this (what the server keeps if this is refused). */
  replaced?: PortalState;
  stmt: StatementState | undefined;
  resultFormats: number[];
  /** (Also) a ReadyForQuery outside a transaction ends the portals of its batch and before. */
  /** Columns with actual formats (from Describe portal), when known. */
  columns: ColumnInfo[] | undefined;
  exec: Execution | undefined;
  /**
   * An SQL statement may have dropped it in the server, or put a cursor under its name, since it
   * was bound (CLOSE, DECLARE, a transaction's end, ROLLBACK TO SAVEPOINT): its next Execute is
   * refused rather than decided and recorded as a statement the server may not run.
   */
  doubtful?: boolean;
}

export interface ResultState {
  rows?: RowMasker;
  copy?: CopyOutMasker;
  /** Set when a result is refused mid-stream (simple protocol): rows are swallowed, the tag becomes an error. */
  refused?: string;
}

export type Entry =
  | { kind: 'query'; batch: number; exec?: Execution; denial?: Denial; plans: CopyPlan[]; planIndex: number; result: ResultState; mask?: MaskSession }
  | { kind: 'parse'; batch: number; internal: boolean; denial?: Denial; stmt?: StatementState; prev?: StatementState }
  | { kind: 'bind'; batch: number; denial?: Denial; portal?: PortalState; prev?: PortalState }
  | { kind: 'describe'; batch: number; internal: boolean; target: 'S' | 'P'; stmt?: StatementState; portal?: PortalState; onColumns?: (c: ColumnInfo[]) => void }
  | { kind: 'execute'; batch: number; portal: PortalState; exec?: Execution; denial?: Denial; result: ResultState; mask?: MaskSession }
  | { kind: 'close'; batch: number; portal?: PortalState }
  | { kind: 'sync'; batch: number; internal: boolean }
  | { kind: 'probe'; batch: number; acks: number; done: () => void };

/**
 * What the server holds under a refused filing's name: the nearest earlier filing it did not
 * refuse. Two Parses (or Binds) of one name pipelined in a batch both fail when the first does (the
 * server skips the rest of the batch); putting back the first, refused, one would file a text the
 * server never held (round 8d review).
 */
function kept<T extends { replaced?: T; rejected?: boolean }>(refused: T): T | undefined {
  let prev = refused.replaced;
  while (prev?.rejected === true) prev = prev.replaced;
  return prev;
}

/** Whether a refused portal, or one refused between it and `kept`, was marked doubtful. */
function markedSince(refused: PortalState, keptPortal: PortalState): boolean {
  for (let p: PortalState | undefined = refused; p !== undefined && p !== keptPortal; p = p.replaced) if (p.doubtful === true) return true;
  return false;
}

/** The allowed run a Query or Execute entry carries (none for denials and the listener's own messages). */
export function runOf(e: Entry): Execution | undefined {
  return e.kind === 'query' || e.kind === 'execute' ? e.exec : undefined;
}

export class PipelineState {
  readonly session: Session;
  readonly io: PipelineIO;
  readonly log: Logger;
  readonly opts: PipelineOptions;
  readonly entries: Entry[] = [];
  readonly statements = new ServerNames<StatementState>();
  readonly portals = new ServerNames<PortalState>();
  /** Extended-protocol batch number: incremented by each Sync the client sends. */
  batch = 0;
  /** The batch the listener itself is discarding (after a denial), or the upstream is (after an error). */
  discardBatch = -1;
  /** Extended messages were sent since the last Sync. */
  unsynced = false;
  status: TransactionStatus = 'I';
  /** masking.binaryColumns of the policy, as of the latest allowed statement. */
  binaryMode: BinaryColumnsMode = 'refuse';
  /** A COPY ... FROM STDIN is waiting for the client's data (the server answers nothing else meanwhile). */
  copyIn = false;
  stopped = false;
  /** Client-half waits for everything sent to be answered (ClientHalf.idle), woken by progressed(). */
  readonly idleWaiters: Array<() => void> = [];
  /** Code ran in the current extended batch (an Execute, a Bind, a simple Query inside it): it may have changed a setting the server reports only at Sync. */
  batchRan = false;

  constructor(opts: PipelineOptions) {
    this.opts = opts;
    this.session = opts.session;
    this.io = opts.io;
    this.log = opts.logger;
  }

  /** Entries at the tail of `entries` whose bytes the connection has not written to the upstream socket yet. */
  private unflushed = 0;

  /**
   * Hands a message to the upstream, with the entry its answers will be attributed to. Once the
   * session is stopping nothing more goes: an allowed run that would have gone is recorded as not
   * run (its answers can never come).
   */
  send(buf: Buffer, entry: Entry | undefined): void {
    const exec = entry === undefined ? undefined : runOf(entry);
    if (this.stopped) {
      if (exec !== undefined) void this.finishExec(exec, 'not run: the session ended').catch(() => undefined);
      return;
    }
    if (entry !== undefined) {
      this.entries.push(entry);
      this.unflushed++;
    }
    exec?.sent();
    this.io.toUpstream(buf);
  }

  /** The connection wrote everything handed to it so far to the upstream socket. */
  flushed(): void {
    this.unflushed = 0;
  }

  /**
   * The connection dropped what it had not written yet (the sidecar ended the session): those
   * entries will never be answered, and their runs never reached the server.
   */
  dropUnflushed(): Entry[] {
    // Answers (or a failed batch's skip) remove entries from the head only: the unflushed ones are the tail.
    const dropped = this.entries.splice(this.entries.length - Math.min(this.unflushed, this.entries.length));
    this.unflushed = 0;
    for (const e of dropped) runOf(e)?.unsent();
    return dropped;
  }

  shift(): void {
    this.entries.shift();
  }

  /** Called after each upstream message is handled (and at shutdown): wakes a Query waiting for idle. */
  progressed(): void {
    if (this.entries.length > 0 && !this.copyIn && !this.stopped) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  async finishExec(exec: Execution, error?: string): Promise<void> {
    try {
      await exec.finish(error);
    } catch (err) {
      this.log.error({ err }, 'recording the command failed');
      this.io.terminate('58030', 'the Guarita sidecar could not record the command; the session is closed');
      throw err;
    }
  }

  /** Records an allowed statement that never ran (prepared, then closed or replaced; refused by the listener; rejected upstream). */
  async completeUnrun(auth: Allowed | undefined, error = 'prepared but not executed'): Promise<void> {
    if (auth === undefined) return;
    await new Execution(auth, this.session).finish(error);
  }

  forwardMasked(kind: 'E' | 'N', raw: Buffer, mask: MaskSession): void {
    this.io.toClient(maskErrorOrNotice(kind, raw, mask));
  }

  refuseMessage(msg: BackendMessage): void {
    this.log.warn({ message: msg.name }, 'upstream message the sidecar cannot mask here');
    this.io.terminate('0A000', `the server sent ${msg.name}, which the Guarita sidecar cannot mask here; the session is closed`);
  }

  /** After an extended-protocol error the upstream skips everything up to Sync: so do the entries. */
  async skipUntilSync(failedBatch: number): Promise<void> {
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
      case 'bind':
        this.bindFailed(e);
        return;
      case 'execute':
        if (e.portal.exec === e.exec) e.portal.exec = undefined;
        return this.skippedRun(e.exec);
      case 'query':
        return this.skippedRun(e.exec);
      default:
        return;
    }
  }

  private async skippedRun(exec: Execution | undefined): Promise<void> {
    if (exec !== undefined) await this.finishExec(exec, 'not run: an earlier message of the batch failed');
  }

  /**
   * A Bind the upstream rejected (or skipped): the portal does not exist as bound. A failure before
   * the server creates the portal (unknown statement, parameter count, an aborted transaction, a
   * duplicate name: 42P03) leaves the portal it held under that name, which survives a ROLLBACK TO
   * SAVEPOINT: the listener's previous portal goes back under the name, to be decided again at its
   * next Execute (its earlier run was recorded when it ended).
   */
  bindFailed(e: Extract<Entry, { kind: 'bind' }>): void {
    const portal = e.portal;
    if (portal === undefined) return;
    answered(portal);
    portal.rejected = true;
    if (this.portals.get(portal.name) !== portal) return;
    const prev = kept(portal);
    if (prev === undefined) {
      this.portals.delete(portal.name);
      return;
    }
    if (prev.exec?.isFinished === true) prev.exec = undefined;
    // A statement that may have replaced the name while a refused Bind was pending marked the
    // portal then filed: the mark holds for the one put back.
    if (markedSince(portal, prev)) prev.doubtful = true;
    this.portals.set(portal.name, prev);
  }

  /** A Parse the upstream rejected: the statement does not exist; a named one keeps its predecessor. */
  async parseFailed(e: Extract<Entry, { kind: 'parse' }>): Promise<void> {
    const stmt = e.stmt;
    if (stmt === undefined) return;
    answered(stmt);
    stmt.rejected = true;
    stmt.resolveDescribed();
    if (this.statements.get(stmt.name) === stmt) {
      const prev = kept(stmt);
      if (prev !== undefined && stmt.name !== '') this.statements.set(stmt.name, prev);
      else this.statements.delete(stmt.name);
    }
    const auth = stmt.pendingAuth;
    stmt.pendingAuth = undefined;
    await this.completeUnrun(auth, 'the server rejected the statement');
  }
}
