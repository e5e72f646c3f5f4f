// The client half of a connection's pipeline (pipeline.ts explains the design): each client
// message, in order, is decided before anything of it reaches the upstream; what goes upstream
// leaves an entry in the shared queue saying which answers it will produce. A denied statement
// is replaced by a message certain to fail without side effects, and the rest of its batch is
// discarded here.
import { serialize } from 'pg-protocol';
import { copyStatementRefusal } from './copy-refusal.ts';
import { Execution, type Allowed } from './execution.ts';
import type { FrontendMessage } from './frontend.ts';
import { answered, DENIED_NAME, DENIED_SQL, filedIn, RESERVED_PREFIX, type Denial, type Entry, type PipelineState, type PortalState, type StatementState } from './pipeline-state.ts';
import { binaryRefusal, withResultFormats } from './rows.ts';
import type { ServerNames } from './server-names.ts';
import type { SettingsProbe } from './settings-probe.ts';
import type { StatementDecider } from './statement-decision.ts';
import { quoteIdent, statementFacts, type CopyPlan, type StatementFacts } from './statements.ts';

function reservedName(what: string, name: string): Denial {
  return { code: '42602', message: `${what} name "${name}" is reserved by the Guarita sidecar (names starting with "${RESERVED_PREFIX}")` };
}

function isBlank(sql: string): boolean {
  return /^[\s;]*$/.test(sql);
}

export class ClientHalf {
  private readonly clientHandlers: Record<FrontendMessage['type'], (m: never) => Promise<void> | void>;

  private readonly s: PipelineState;
  private readonly decider: StatementDecider;
  private readonly probe: SettingsProbe;

  constructor(s: PipelineState, decider: StatementDecider, probe: SettingsProbe) {
    this.s = s;
    this.decider = decider;
    this.probe = probe;
    this.clientHandlers = {
      query: (m: Extract<FrontendMessage, { type: 'query' }>) => this.onQuery(m),
      parse: (m: Extract<FrontendMessage, { type: 'parse' }>) => this.onParse(m),
      bind: (m: Extract<FrontendMessage, { type: 'bind' }>) => this.onBind(m),
      describe: (m: Extract<FrontendMessage, { type: 'describe' }>) => this.onDescribe(m),
      execute: (m: Extract<FrontendMessage, { type: 'execute' }>) => this.onExecute(m),
      close: (m: Extract<FrontendMessage, { type: 'close' }>) => this.onClose(m),
      sync: (m: FrontendMessage) => this.onSync(m),
      flush: (m: FrontendMessage) => this.forwardExtended(m.raw),
      terminate: () => s.io.clientTerminated(),
      copyData: (m: FrontendMessage) => s.io.toUpstream(m.raw),
      copyDone: (m: FrontendMessage) => s.io.toUpstream(m.raw),
      copyFail: (m: FrontendMessage) => s.io.toUpstream(m.raw),
      functionCall: () => this.denyQuery({ code: '42501', message: 'the fast-path function call protocol is not allowed through the Guarita sidecar' }),
      password: () => s.io.terminate('08P01', 'unexpected password message after authentication'),
    };
  }

  /** Handles one client message; the caller awaits it before the next. */
  handleClient(m: FrontendMessage): Promise<void> | void {
    if (this.discarding() && m.type !== 'sync' && m.type !== 'terminate') return undefined;
    return (this.clientHandlers[m.type] as (m: FrontendMessage) => Promise<void> | void)(m);
  }

  private discarding(): boolean {
    return this.s.discardBatch === this.s.batch;
  }


  // The statement path awaits only what is pending (a step that has nothing to wait for returns
  // undefined): an await of a settled value still costs a microtask turn and a promise per
  // statement, measurable at line rate (docs/benchmarks.md, listener CPU per statement).
  private async onQuery(m: Extract<FrontendMessage, { type: 'query' }>): Promise<void> {
    // A simple Query destroys the unnamed statement and portal.
    const dropped = this.dropUnnamed();
    if (dropped !== undefined) await dropped;
    if (isBlank(m.sql)) {
      this.s.send(m.raw, { kind: 'query', batch: this.s.batch, plans: [], planIndex: 0, result: {} });
      return;
    }
    const d = await this.decider.decide(m.sql);
    if ('denial' in d) {
      this.denyQuery(d.denial);
      return;
    }
    const refusal = this.fetchRefusal(d.facts) ?? copyStatementRefusal(d.facts, { extended: false, unsynced: this.s.unsynced });
    if (refusal !== undefined) {
      await this.s.completeUnrun(d.exec, refusal.message);
      this.denyQuery(refusal);
      return;
    }
    await this.portalEffects(d.facts);
    const exec = new Execution(d.exec, this.s.session);
    const ready = this.probedAndIdle();
    if (ready !== undefined) await ready;
    if (this.s.stopped) {
      await this.s.finishExec(exec, 'not run: the session ended');
      return;
    }
    // Never while unsynced: copyStatementRefusal refused that (the description's Sync would end the client's batch).
    if (d.facts.copyOut.some((p) => p.describeSql !== undefined)) this.describeCopySources(d.facts.copyOut);
    this.s.send(m.raw, { kind: 'query', batch: this.s.batch, exec, plans: d.facts.copyOut, planIndex: 0, result: {} });
    this.queryRanInBatch();
    const backpressure = this.s.io.upstreamBackpressure();
    if (backpressure !== undefined) await backpressure;
  }

  /** A simple Query inside an extended batch: a later Parse of the batch is probed (the Query may switch a setting). */
  private queryRanInBatch(): void {
    if (this.s.unsynced) this.s.batchRan = true;
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
  private idle(): Promise<void> | undefined {
    if (this.s.entries.length === 0 || this.s.copyIn) return undefined;
    return this.idleWait();
  }

  private async idleWait(): Promise<void> {
    // Answers of an unsynced extended batch may sit in the server's buffer: ask for them.
    if (this.s.unsynced) this.s.io.toUpstream(serialize.flush());
    while (this.s.entries.length > 0 && !this.s.copyIn && !this.s.stopped) await new Promise<void>((r) => this.s.idleWaiters.push(r));
  }

  /** The unnamed statement, then the unnamed portal, dropped (recorded if allowed and unrun); undefined when nothing was to record. */
  private dropUnnamed(): Promise<void> | undefined {
    const dropped = this.dropStatement('');
    if (dropped !== undefined) return dropped.then(() => this.dropPortal(''));
    return this.dropPortal('');
  }

  /** A probe if the batch needs one, then idle(); undefined when neither waits. */
  private probedAndIdle(): Promise<void> | undefined {
    const probed = this.probe.ifNeeded();
    if (probed !== undefined) return probed.then(() => this.idle());
    return this.idle();
  }

  private denyQuery(denial: Denial): void {
    this.s.send(serialize.query(DENIED_SQL), { kind: 'query', batch: this.s.batch, denial, plans: [], planIndex: 0, result: {} });
  }

  /** Columns of COPY sources, asked upstream in a batch of their own before the COPY runs. */
  private describeCopySources(plans: CopyPlan[]): void {
    for (const plan of plans) {
      if (plan.describeSql === undefined) continue;
      this.s.send(serialize.parse({ text: plan.describeSql }), { kind: 'parse', batch: -1, internal: true });
      this.s.send(serialize.describe({ type: 'S' }), {
        kind: 'describe', batch: -1, internal: true, target: 'S',
        onColumns: (cols) => { plan.columns = cols.map((c) => c.name); },
      });
    }
    this.s.send(serialize.sync(), { kind: 'sync', batch: -1, internal: true });
  }


  private forwardExtended(raw: Buffer, entry?: Entry): void {
    this.s.unsynced = true;
    this.s.send(raw, entry);
  }

  private newStatement(m: Extract<FrontendMessage, { type: 'parse' }>, facts: StatementFacts, auth: Allowed | undefined): StatementState {
    let resolveDescribed: () => void = () => undefined;
    const described = new Promise<void>((r) => { resolveDescribed = r; });
    return { name: m.name, sql: m.sql, declaredParameters: m.paramTypes.length, facts, pendingAuth: auth, columns: undefined, described, resolveDescribed, ...filedIn(this.s.batch) };
  }

  /** A reserved name or blank text is answered here; other text is decided (a promise). */
  private parseDecision(m: Extract<FrontendMessage, { type: 'parse' }>): ReturnType<StatementDecider['decide']> | { denial: Denial } | { exec: undefined; facts: StatementFacts } {
    if (m.name.startsWith(RESERVED_PREFIX)) return { denial: reservedName('statement', m.name) };
    if (isBlank(m.sql)) return { exec: undefined, facts: statementFacts('') };
    return this.decider.decide(m.sql, m.paramTypes.length).then((d) => this.copyRefused(d));
  }

  /** An allowed Parse of a COPY ... TO STDOUT the listener refuses (copy-refusal.ts) becomes that denial, recorded as not run. */
  private async copyRefused(d: Awaited<ReturnType<StatementDecider['decide']>>): Promise<Awaited<ReturnType<StatementDecider['decide']>>> {
    if ('denial' in d) return d;
    const refusal = copyStatementRefusal(d.facts, { extended: true, unsynced: this.s.unsynced });
    if (refusal === undefined) return d;
    await this.s.completeUnrun(d.exec, refusal.message);
    return { denial: refusal };
  }

  /**
   * A Parse waits, like a simple Query, until earlier batches and simple Queries are answered up
   * to their ReadyForQuery (where the server reports changed settings), and is preceded by a probe
   * when its own batch already ran code (a Bind, an Execute, a simple Query). Whether earlier work
   * is pending is read from the queue, not from whether this batch has begun: a Flush, Close or
   * Describe begins a batch without running anything, and once let a Parse pass an unanswered
   * Query (round 12 review). False when the session ended meanwhile (the allowed statement is
   * recorded as not run).
   */
  private async readyToParse(auth: Allowed | undefined): Promise<boolean> {
    const probed = this.probe.ifNeeded();
    if (probed !== undefined) await probed;
    const earlier = this.earlierPending() ? this.idle() : undefined;
    if (earlier !== undefined) await earlier;
    if (!this.s.stopped) return true;
    await this.s.completeUnrun(auth, 'not run: the session ended');
    return false;
  }

  /**
   * An answer to an earlier batch or a simple Query is still pending. Both wait for everything
   * before them when sent (a Query for idle(), a batch's Parse here), so such an entry is always at
   * the head of the queue: the head alone says it.
   */
  private earlierPending(): boolean {
    const head = this.s.entries[0];
    return head !== undefined && (head.kind === 'query' || head.batch < this.s.batch);
  }

  private denyParse(name: string, denial: Denial): void {
    this.s.discardBatch = this.s.batch;
    this.forwardExtended(serialize.parse({ name: name.startsWith(RESERVED_PREFIX) ? DENIED_NAME : name, text: DENIED_SQL }), { kind: 'parse', batch: this.s.batch, internal: false, denial });
  }

  private async onParse(m: Extract<FrontendMessage, { type: 'parse' }>): Promise<void> {
    const dropped = m.name === '' ? this.dropStatement('') : undefined;
    if (dropped !== undefined) await dropped;
    const decision = this.parseDecision(m);
    const d = decision instanceof Promise ? await decision : decision;
    if ('denial' in d) {
      this.denyParse(m.name, d.denial);
      return;
    }
    const forgotten = this.forgetDeallocated(d.facts);
    if (forgotten !== undefined) await forgotten;
    if (!isBlank(m.sql) && !await this.readyToParse(d.exec)) return;
    const stmt = this.newStatement(m, d.facts, d.exec);
    const prev = this.s.statements.get(m.name);
    stmt.replaced = prev;
    this.s.statements.set(m.name, stmt);
    this.forwardExtended(m.raw, { kind: 'parse', batch: this.s.batch, internal: false, stmt, ...(prev === undefined ? {} : { prev }) });
    // Learn the result columns now: Bind/Execute need them to mask, and clients need not Describe.
    this.forwardExtended(serialize.describe({ type: 'S', name: m.name }), { kind: 'describe', batch: this.s.batch, internal: true, target: 'S', stmt });
    const backpressure = this.s.io.upstreamBackpressure();
    if (backpressure !== undefined) await backpressure;
  }

  /**
   * SQL `DEALLOCATE` about to be sent: the listener forgets those names now, so a Bind of one is
   * refused here (26000) instead of binding whatever the server holds under it by then (`PREPARE`
   * under a freed name creates a statement whose text the listener never decided). Forgotten at
   * the decision, before the server runs it: if it then fails, a later Bind is refused, never
   * misread. Undefined when nothing was forgotten.
   */
  private forgetDeallocated(facts: StatementFacts): Promise<void> | undefined {
    const names = facts.deallocates === 'all' ? [...this.s.statements.values()].map((st) => st.name).filter((n) => n !== '') : facts.deallocates;
    const dropped = names.map((n) => this.dropStatement(n)).filter((p) => p !== undefined);
    return dropped.length === 0 ? undefined : Promise.all(dropped).then(() => undefined);
  }

  /** Undefined when there was nothing to record (no promise to await). */
  private dropStatement(name: string): Promise<void> | undefined {
    const stmt = this.s.statements.get(name);
    if (stmt === undefined) return undefined;
    this.s.statements.delete(name);
    const auth = stmt.pendingAuth;
    stmt.pendingAuth = undefined;
    return this.s.completeUnrun(auth);
  }

  /** Undefined when there was nothing to record (no promise to await). */
  private dropPortal(name: string): Promise<void> | undefined {
    const portal = this.s.portals.get(name);
    if (portal === undefined) return undefined;
    this.s.portals.delete(name);
    return portal.exec?.finish();
  }

  /**
   * The statement or portal filed under `name`, once the server said whether it holds it as filed.
   * Filed by an earlier batch whose Parse or Bind is still unanswered, it may not exist upstream
   * as filed (a Parse under a name the server holds fails, 42P05, and the server keeps its old
   * statement): a Bind or Execute pipelined behind it would then be decided and recorded as the
   * new text while the server runs the old one. So that lookup waits for that message's own
   * answer (not for the connection to be idle, which a COPY FROM STDIN in progress skips). Within
   * one batch no wait is needed: after a failure the server skips the rest of the batch, and so
   * does the listener. Undefined when nothing is filed under the name.
   */
  private settled<T extends StatementState | PortalState>(map: ServerNames<T>, name: string): T | undefined | Promise<T | undefined> {
    const filed = map.get(name);
    if (filed === undefined || filed.confirmed || filed.batch === this.s.batch) return filed;
    return filed.answered.then(() => map.get(name));
  }

  private async onBind(m: Extract<FrontendMessage, { type: 'bind' }>): Promise<void> {
    if (m.portal.startsWith(RESERVED_PREFIX)) {
      this.denyBind('', reservedName('portal', m.portal));
      return;
    }
    const stmt = await this.statementToBind(m);
    if ('denial' in stmt) {
      this.denyBind(m.portal, stmt.denial);
      return;
    }
    const prev = this.s.portals.get(m.portal);
    const dropped = m.portal === '' ? this.dropPortal('') : undefined;
    if (dropped !== undefined) await dropped;
    const portal: PortalState = { name: m.portal, stmt, resultFormats: m.resultFormats, columns: undefined, exec: undefined, replaced: prev, ...filedIn(this.s.batch) };
    this.s.portals.set(m.portal, portal);
    this.forwardExtended(m.raw, { kind: 'bind', batch: this.s.batch, portal, ...this.optional('prev', prev) });
    // Bind runs code too (a domain's CHECK or a type's input function on a parameter; planning folds
    // immutable functions): a later Parse of the batch is probed as after an Execute.
    this.s.batchRan = true;
    const backpressure = this.s.io.upstreamBackpressure();
    if (backpressure !== undefined) await backpressure;
  }

  /**
   * Rows are masked by the columns the server describes for the portal just before it runs, not
   * those it described for the statement at Parse: a statement's result can change between the two
   * while its text does not (`FETCH 1 FROM c` after c was closed and declared again over other
   * columns; a name resolving elsewhere once search_path or a temporary table changed, which a
   * re-plan accepts while the column types match; a portal name an SQL statement reused), and
   * masking by a column's name needs the name of the cell being sent. The Describe travels in the
   * same write as the Execute.
   */
  private describePortal(portal: PortalState): void {
    this.forwardExtended(serialize.describe({ type: 'P', name: portal.name }), { kind: 'describe', batch: this.s.batch, internal: true, target: 'P', portal });
  }

  /** The statement a Bind names, as the server holds it, or why it cannot be bound. */
  private async statementToBind(m: Extract<FrontendMessage, { type: 'bind' }>): Promise<StatementState | { denial: Denial }> {
    const filed = this.settled(this.s.statements, m.statement);
    const stmt = filed instanceof Promise ? await filed : filed;
    if (stmt === undefined) return { denial: { code: '26000', message: `prepared statement "${m.statement}" does not exist (statements must be prepared through the Guarita sidecar)` } };
    const refusal = await this.binaryResultRefusal(stmt, m.resultFormats);
    return refusal === undefined ? stmt : { denial: refusal };
  }

  /**
   * A binary result format the policy refuses for the statement's columns, as a denial; undefined
   * when none. (Rows are refused cell by cell too, by the portal's own description.)
   */
  private async binaryResultRefusal(stmt: StatementState, formats: number[]): Promise<Denial | undefined> {
    if (!formats.includes(1)) return undefined;
    if (stmt.columns === undefined) {
      // The statement's description is on its way; make the upstream send it now.
      this.s.io.toUpstream(serialize.flush());
      await stmt.described;
    }
    if (stmt.columns === undefined) return undefined;
    const refusal = binaryRefusal(withResultFormats(stmt.columns, formats), this.s.binaryMode);
    return refusal === undefined ? undefined : { code: '0A000', message: refusal };
  }

  private denyBind(portal: string, denial: Denial): void {
    this.s.discardBatch = this.s.batch;
    this.forwardExtended(serialize.bind({ portal, statement: DENIED_NAME }), { kind: 'bind', batch: this.s.batch, denial });
  }

  private onDescribe(m: Extract<FrontendMessage, { type: 'describe' }>): void {
    const entry: Entry = m.target === 'S'
      ? { kind: 'describe', batch: this.s.batch, internal: false, target: 'S', ...this.optional('stmt', this.s.statements.get(m.name)) }
      : { kind: 'describe', batch: this.s.batch, internal: false, target: 'P', ...this.optional('portal', this.s.portals.get(m.name)) };
    this.forwardExtended(m.raw, entry);
  }

  private optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
    return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
  }

  private async onExecute(m: Extract<FrontendMessage, { type: 'execute' }>): Promise<void> {
    const filed = this.settled(this.s.portals, m.portal);
    const portal = filed instanceof Promise ? await filed : filed;
    if (portal === undefined) {
      await this.executeCursor(m);
      return;
    }
    const refusal = this.portalRefusal(portal) ?? (portal.exec === undefined ? await this.decideRun(portal) : undefined);
    if (refusal !== undefined) {
      this.denyExecute(portal, refusal);
      return;
    }
    if (!await this.readyToRun(portal)) return;
    portal.exec?.begin();
    this.describePortal(portal);
    this.forwardExtended(m.raw, { kind: 'execute', batch: this.s.batch, portal, result: {}, ...this.optional('exec', portal.exec) });
    this.s.batchRan = true;
    const backpressure = this.s.io.upstreamBackpressure();
    if (backpressure !== undefined) await backpressure;
  }

  /** The statement's effects on filed names, then the probe before a COPY; false when the Execute must not be sent. */
  private async readyToRun(portal: PortalState): Promise<boolean> {
    await this.portalEffects(portal.stmt?.facts);
    const go = this.probedForCopy(portal);
    return go === true || go;
  }

  /**
   * A COPY ... TO STDOUT run after another Execute of the same batch: a function that Execute ran
   * may have changed client_encoding (reported only at the batch's ReadyForQuery), and COPY writes
   * in the client_encoding it starts with. The pinned settings are probed first, as before a
   * Parse. False when the COPY must not be sent (the session ended, or the probe failed the batch);
   * true, not a promise, when there is nothing to probe (the Execute path awaits only what is pending).
   */
  private probedForCopy(portal: PortalState): true | Promise<boolean> {
    if ((portal.stmt?.facts.copyOut.length ?? 0) === 0) return true;
    const probed = this.probe.ifNeeded();
    return probed === undefined ? true : probed.then(() => this.afterCopyProbe(portal));
  }

  private async afterCopyProbe(portal: PortalState): Promise<boolean> {
    if (!this.s.stopped && !this.discarding()) return true;
    const exec = portal.exec;
    portal.exec = undefined;
    if (exec !== undefined) await this.s.finishExec(exec, 'not run: an earlier message of the batch failed');
    return false;
  }

  /** A portal an SQL statement may have dropped or replaced since it was bound, or a statement that would FETCH a portal the listener bound. */
  private portalRefusal(portal: PortalState): Denial | undefined {
    if (portal.doubtful === true) {
      return { code: '34000', message: `portal "${portal.name}" may have been closed or replaced by an SQL statement (CLOSE, DECLARE, a transaction's end, ROLLBACK TO SAVEPOINT) since it was bound through the Guarita sidecar; bind it again` };
    }
    return portal.stmt === undefined ? undefined : this.fetchRefusal(portal.stmt.facts);
  }

  /**
   * SQL FETCH or MOVE of a portal the listener bound would run that portal's statement decided as
   * `FETCH` (no table): a run the policy never judged as its statement (one approval, many runs).
   */
  private fetchRefusal(facts: StatementFacts): Denial | undefined {
    const bound = facts.fetchesPortals.find((name) => this.s.portals.has(name));
    return bound === undefined ? undefined : { code: '0A000', message: `portal "${bound}" was bound through the Guarita sidecar's protocol: run it with Execute, where each run is decided as its statement, not with SQL FETCH or MOVE` };
  }

  /** This run's decision, set on the portal; the denial when refused. */
  private async decideRun(portal: PortalState): Promise<Denial | undefined> {
    if (portal.stmt === undefined || isBlank(portal.stmt.sql)) return undefined;
    const exec = await this.executionFor(portal.stmt);
    if ('denial' in exec) return exec.denial;
    portal.exec = exec;
    return undefined;
  }

  /**
   * What a statement about to run does to names the listener filed: DEALLOCATE frees statements,
   * CLOSE, DECLARE and a transaction's end drop or replace portals (each run: a prepared DEALLOCATE
   * frees its names every time it runs).
   */
  private async portalEffects(facts: StatementFacts | undefined): Promise<void> {
    if (facts === undefined) return;
    const forgotten = this.forgetDeallocated(facts);
    if (forgotten !== undefined) await forgotten;
    const dropped = facts.dropsPortals === 'all' ? [...this.s.portals.values()] : facts.dropsPortals.map((n) => this.s.portals.get(n));
    for (const p of dropped) if (p !== undefined) p.doubtful = true;
  }

  private denyExecute(portal: PortalState, denial: Denial): void {
    this.s.discardBatch = this.s.batch;
    this.forwardExtended(serialize.execute({ portal: DENIED_NAME }), { kind: 'execute', batch: this.s.batch, portal, denial, result: {} });
  }

  /**
   * An Execute of a portal the listener did not bind: an SQL cursor (`DECLARE c ...` ran as a
   * statement), or nothing (the upstream says so). The protocol's Execute of a cursor is what
   * `FETCH n FROM c` is in SQL, so it is decided and recorded as that statement (its rows, masked
   * counts and sample in the record; a policy denying FETCH denies it), and described first to
   * mask by column.
   */
  private async executeCursor(m: Extract<FrontendMessage, { type: 'execute' }>): Promise<void> {
    const portal: PortalState = { name: m.portal, stmt: undefined, resultFormats: [], columns: undefined, exec: undefined, ...filedIn(this.s.batch) };
    answered(portal);
    const d = await this.decider.decide(`FETCH ${m.maxRows > 0 ? String(m.maxRows) : 'ALL'} FROM ${quoteIdent(m.portal)}`);
    if ('denial' in d) {
      this.denyExecute(portal, d.denial);
      return;
    }
    const exec = new Execution(d.exec, this.s.session);
    exec.begin();
    this.describePortal(portal);
    this.forwardExtended(m.raw, { kind: 'execute', batch: this.s.batch, portal, result: {}, exec });
    this.s.batchRan = true;
  }

  /** The Parse-time authorization for the first run; every later run is decided again (live policy, one approval per run). */
  private async executionFor(stmt: StatementState): Promise<Execution | { denial: Denial }> {
    const pending = stmt.pendingAuth;
    if (pending !== undefined) {
      stmt.pendingAuth = undefined;
      return new Execution(pending, this.s.session);
    }
    const d = await this.decider.decide(stmt.sql, stmt.declaredParameters);
    return 'denial' in d ? d : new Execution(d.exec, this.s.session);
  }

  private async onClose(m: Extract<FrontendMessage, { type: 'close' }>): Promise<void> {
    if (m.target === 'S') {
      const dropped = this.dropStatement(m.name);
      if (dropped !== undefined) await dropped;
      this.forwardExtended(m.raw, { kind: 'close', batch: this.s.batch });
      return;
    }
    const portal = await this.closingPortal(m.name);
    this.forwardExtended(m.raw, { kind: 'close', batch: this.s.batch, ...this.optional('portal', portal) });
  }

  /**
   * A portal being closed stays filed, marked, until the server's CloseComplete: a Close the
   * server skips (an earlier message of its batch failed) leaves the portal there, and forgotten,
   * its next Execute would be taken for a cursor's (decided as a FETCH of no table) and SQL FETCH
   * of it would not be refused (round 8e review). Its run ends (recorded) now either way; a closed
   * statement needs no mark: a Bind of a name the listener forgot is refused.
   */
  private async closingPortal(name: string): Promise<PortalState | undefined> {
    const portal = this.s.portals.get(name);
    if (portal === undefined) return undefined;
    portal.doubtful = true;
    const exec = portal.exec;
    portal.exec = undefined;
    if (exec !== undefined) await exec.finish();
    return portal;
  }

  private onSync(m: FrontendMessage): void {
    this.s.send(m.raw, { kind: 'sync', batch: this.s.batch, internal: false });
    this.s.batch++;
    this.s.unsynced = false;
    this.s.batchRan = false;
  }
}
