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
//
// The modules, one job each: pipeline-state.ts (the queue of pending answers, statements,
// portals and batch counters both halves share), client-half.ts (client → upstream),
// upstream-half.ts (upstream → client), statement-decision.ts (authorization and approval
// waits), settings-probe.ts (pinned settings read inside an extended batch). This class wires
// them and is the connection's only view of them.
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import type { TransactionStatus } from './backend.ts';
import { ClientHalf } from './client-half.ts';
import { Execution } from './execution.ts';
import type { FrontendMessage } from './frontend.ts';
import { PipelineState, runOf, type PipelineOptions } from './pipeline-state.ts';
import { SettingsProbe } from './settings-probe.ts';
import { StatementDecider } from './statement-decision.ts';
import { UpstreamHalf } from './upstream-half.ts';

export { DENIED_NAME, DENIED_SQL, RESERVED_PREFIX, type Denial, type PipelineIO, type PipelineOptions } from './pipeline-state.ts';
export { PROBE_SQL } from './settings-probe.ts';

export class Pipeline {
  private readonly s: PipelineState;
  private readonly decider: StatementDecider;
  private readonly client: ClientHalf;
  private readonly upstream: UpstreamHalf;

  constructor(opts: PipelineOptions) {
    this.s = new PipelineState(opts);
    this.decider = new StatementDecider(this.s);
    const probe = new SettingsProbe(this.s);
    this.client = new ClientHalf(this.s, this.decider, probe);
    this.upstream = new UpstreamHalf(this.s, probe);
  }

  get status(): TransactionStatus {
    return this.s.status;
  }

  /** Handles one client message; the caller awaits it before the next. */
  handleClient(m: FrontendMessage): Promise<void> | void {
    return this.client.handleClient(m);
  }

  /** Handles one upstream message; the caller awaits it before the next. */
  handleUpstream(msg: BackendMessage, raw: Buffer): void | Promise<void> {
    return this.upstream.handleUpstream(msg, raw);
  }

  /** A CancelRequest for this connection: abandons an approval wait. Returns true when one was abandoned. */
  cancelWait(): boolean {
    return this.decider.cancelWait();
  }

  /** Whether a statement is being held for approval (or being decided). */
  get waiting(): boolean {
    return this.decider.waiting;
  }

  /** Called after each upstream message is handled (and at shutdown): wakes a Query waiting for idle. */
  progressed(): void {
    this.s.progressed();
  }

  /** Messages sent upstream whose answers are still due. */
  get pending(): number {
    return this.s.entries.length;
  }

  /**
   * The statement the server is running now: the oldest one sent whose answers are still due
   * (a simple Query or an Execute of an allowed statement). A token for `statementTimedOut`.
   */
  get runningStatement(): object | undefined {
    const head = this.s.entries[0];
    return head !== undefined && (head.kind === 'query' || head.kind === 'execute') && head.exec !== undefined ? head : undefined;
  }

  /**
   * The listener canceled `statement` for outliving the policy's statementTimeout: the server's
   * "canceling statement due to user request" is rewritten to say so. False when it already ended.
   */
  statementTimedOut(statement: object, message: string): boolean {
    const head = this.s.entries[0];
    if (head !== statement || head === undefined || (head.kind !== 'query' && head.kind !== 'execute')) return false;
    head.denial = { code: '57014', message };
    return true;
  }

  /** A COPY ... FROM STDIN is waiting for the client's data. */
  get copyIn(): boolean {
    return this.s.copyIn;
  }

  /** Extended-protocol messages were sent since the last Sync (the server may hold their answers until a Flush). */
  get unsynced(): boolean {
    return this.s.unsynced;
  }

  /** The connection wrote everything handed to it so far to the upstream socket. */
  flushed(): void {
    this.s.flushed();
  }

  /** Runs whose bytes the connection dropped before they left: recorded at shutdown as not run. */
  private readonly dropped: Execution[] = [];

  /** The connection dropped what it had not written yet (the sidecar ended the session). */
  dropUnflushed(): void {
    for (const e of this.s.dropUnflushed()) {
      const exec = runOf(e);
      if (exec !== undefined) this.dropped.push(exec);
    }
  }

  /**
   * The connection is ending (the client left, or the sidecar ended the session): nothing more is
   * decided or sent, and a statement held for approval is abandoned. What was already sent is
   * still answered, and attributed as usual, while the connection reads on (until shutdown()).
   */
  stop(reason: string): void {
    this.s.stopped = true;
    this.s.progressed();
    this.decider.abort(reason);
  }

  /**
   * The listener is about to cancel the running statement (its client is gone): the server's
   * "canceling statement due to user request" is recorded as `message`, which says why.
   */
  canceling(message: string): void {
    const head = this.s.entries[0];
    if (head === undefined || runOf(head) === undefined || (head.kind !== 'query' && head.kind !== 'execute')) return;
    head.denial ??= { code: '57014', message };
  }

  /**
   * Records whatever is still open when the connection ends, saying what is known of each:
   * - sent and unanswered (`unanswered` says why the answer was not read): outcome unknown, unless
   *   the server's ErrorResponse was read (a FATAL ends a Query with no ReadyForQuery);
   * - a portal that ran and was suspended: what it returned, and `reason`;
   * - never sent (bound, not executed; dropped before it left): not run.
   */
  async shutdown(reason: string, unanswered: string): Promise<void> {
    this.stop(reason);
    const seen = new Set<Execution>();
    const open = [...this.unanswered(seen, unanswered), ...this.unsent(seen, reason)];
    for (const e of this.s.entries) if (e.kind === 'probe') e.done();
    this.s.entries.length = 0;
    open.push(...this.unexecuted());
    const results = await Promise.allSettled(open);
    for (const r of results) if (r.status === 'rejected') this.s.log.error({ err: r.reason as unknown }, 'recording at connection end failed');
  }

  /** Runs sent whose answers were not all read: unknown, unless the server's ErrorResponse was read. */
  private unanswered(seen: Set<Execution>, why: string): Array<Promise<void>> {
    const open: Array<Promise<void>> = [];
    for (const e of this.s.entries) {
      const exec = runOf(e);
      if (exec === undefined || seen.has(exec)) continue;
      seen.add(exec);
      open.push(exec.answeredByError ? exec.finish() : exec.abandon(why));
    }
    return open;
  }

  /** Runs with no answer due: a suspended portal (what it returned is known), or never sent (not run). */
  private unsent(seen: Set<Execution>, reason: string): Array<Promise<void>> {
    const open: Array<Promise<void>> = [];
    for (const exec of [...[...this.s.portals.values()].map((p) => p.exec), ...this.dropped.splice(0)]) {
      if (exec === undefined || seen.has(exec)) continue;
      seen.add(exec);
      open.push(exec.finish(exec.wasSent ? reason : `not run: the session ended (${reason})`));
    }
    return open;
  }

  /** Statements prepared (and allowed at Parse) that no Execute ran. */
  private unexecuted(): Array<Promise<void>> {
    const open: Array<Promise<void>> = [];
    for (const stmt of this.s.statements.values()) {
      stmt.resolveDescribed();
      const auth = stmt.pendingAuth;
      stmt.pendingAuth = undefined;
      if (auth !== undefined) open.push(new Execution(auth, this.s.session).finish('prepared but not executed'));
    }
    return open;
  }
}
