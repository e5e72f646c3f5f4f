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
import { PipelineState, type PipelineOptions } from './pipeline-state.ts';
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

  /** Records whatever is still open when the connection ends. */
  private openExecutions(): Set<Execution> {
    const execs = new Set<Execution>();
    for (const e of this.s.entries) if ((e.kind === 'query' || e.kind === 'execute') && e.exec !== undefined) execs.add(e.exec);
    for (const p of this.s.portals.values()) if (p.exec !== undefined) execs.add(p.exec);
    return execs;
  }

  async shutdown(reason: string): Promise<void> {
    this.s.stopped = true;
    this.s.progressed();
    this.decider.abort(reason);
    const open = [...this.openExecutions()].map((x) => x.finish(reason));
    for (const e of this.s.entries) if (e.kind === 'probe') e.done();
    this.s.entries.length = 0;
    for (const stmt of this.s.statements.values()) {
      stmt.resolveDescribed();
      const auth = stmt.pendingAuth;
      stmt.pendingAuth = undefined;
      if (auth !== undefined) open.push(new Execution(auth, this.s.session).finish('prepared but not executed'));
    }
    const results = await Promise.allSettled(open);
    for (const r of results) if (r.status === 'rejected') this.s.log.error({ err: r.reason as unknown }, 'recording at connection end failed');
  }
}
