// The client half of a connection's pipeline (pipeline.ts explains the design): each client
// message, in order, is decided before anything of it reaches the upstream; what goes upstream
// leaves an entry in the shared queue saying which answers it will produce. A denied statement
// is replaced by a message certain to fail without side effects, and the rest of its batch is
// discarded here.
import { serialize } from 'pg-protocol';
import { Execution, type Allowed } from './execution.ts';
import type { FrontendMessage } from './frontend.ts';
import { DENIED_NAME, DENIED_SQL, RESERVED_PREFIX, type Denial, type Entry, type PipelineState, type PortalState, type StatementState } from './pipeline-state.ts';
import { binaryRefusal, withResultFormats } from './rows.ts';
import type { SettingsProbe } from './settings-probe.ts';
import type { StatementDecider } from './statement-decision.ts';
import { statementFacts, type CopyPlan, type StatementFacts } from './statements.ts';

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


  private async onQuery(m: Extract<FrontendMessage, { type: 'query' }>): Promise<void> {
    // A simple Query destroys the unnamed statement and portal.
    await this.dropStatement('');
    await this.dropPortal('');
    if (isBlank(m.sql)) {
      this.s.send(m.raw, { kind: 'query', batch: this.s.batch, plans: [], planIndex: 0, result: {} });
      return;
    }
    const d = await this.decider.decide(m.sql);
    if ('denial' in d) {
      this.denyQuery(d.denial);
      return;
    }
    const exec = new Execution(d.exec, this.s.session);
    await this.probe.ifNeeded();
    await this.idle();
    if (this.s.stopped) {
      await this.s.finishExec(exec, 'not run: the session ended');
      return;
    }
    if (d.facts.copyOut.some((p) => p.describeSql !== undefined) && !this.s.unsynced) this.describeCopySources(d.facts.copyOut);
    this.s.send(m.raw, { kind: 'query', batch: this.s.batch, exec, plans: d.facts.copyOut, planIndex: 0, result: {} });
    await this.s.io.upstreamBackpressure();
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
    if (this.s.entries.length === 0 || this.s.copyIn) return;
    // Answers of an unsynced extended batch may sit in the server's buffer: ask for them.
    if (this.s.unsynced) this.s.io.toUpstream(serialize.flush());
    while (this.s.entries.length > 0 && !this.s.copyIn && !this.s.stopped) await new Promise<void>((r) => this.s.idleWaiters.push(r));
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

  private newStatement(name: string, sql: string, facts: StatementFacts, auth: Allowed | undefined): StatementState {
    let resolveDescribed: () => void = () => undefined;
    const described = new Promise<void>((r) => { resolveDescribed = r; });
    return { name, sql, facts, pendingAuth: auth, columns: undefined, described, resolveDescribed };
  }

  private async onParse(m: Extract<FrontendMessage, { type: 'parse' }>): Promise<void> {
    if (m.name === '') await this.dropStatement('');
    const d = m.name.startsWith(RESERVED_PREFIX) ? { denial: reservedName('statement', m.name) }
      : isBlank(m.sql) ? { exec: undefined, facts: statementFacts('') } : await this.decider.decide(m.sql);
    if ('denial' in d) {
      this.s.discardBatch = this.s.batch;
      this.forwardExtended(serialize.parse({ name: m.name.startsWith(RESERVED_PREFIX) ? DENIED_NAME : m.name, text: DENIED_SQL }), { kind: 'parse', batch: this.s.batch, internal: false, denial: d.denial });
      return;
    }
    if (!isBlank(m.sql)) {
      // The first Parse of a batch waits, like a simple Query, until earlier batches are answered
      // up to their ReadyForQuery (where the server reports changed settings); a later one is
      // preceded by a probe when the batch already ran something.
      await (this.s.unsynced ? this.probe.ifNeeded() : this.idle());
      if (this.s.stopped) {
        await this.s.completeUnrun(d.exec, 'not run: the session ended');
        return;
      }
    }
    const stmt = this.newStatement(m.name, m.sql, d.facts, d.exec);
    const prev = this.s.statements.get(m.name);
    this.s.statements.set(m.name, stmt);
    this.forwardExtended(m.raw, { kind: 'parse', batch: this.s.batch, internal: false, stmt, ...(prev === undefined ? {} : { prev }) });
    // Learn the result columns now: Bind/Execute need them to mask, and clients need not Describe.
    this.forwardExtended(serialize.describe({ type: 'S', name: m.name }), { kind: 'describe', batch: this.s.batch, internal: true, target: 'S', stmt });
    await this.s.io.upstreamBackpressure();
  }

  private async dropStatement(name: string): Promise<void> {
    const stmt = this.s.statements.get(name);
    if (stmt === undefined) return;
    this.s.statements.delete(name);
    const auth = stmt.pendingAuth;
    stmt.pendingAuth = undefined;
    await this.s.completeUnrun(auth);
  }

  private async dropPortal(name: string): Promise<void> {
    const portal = this.s.portals.get(name);
    if (portal === undefined) return;
    this.s.portals.delete(name);
    await portal.exec?.finish();
  }

  private async onBind(m: Extract<FrontendMessage, { type: 'bind' }>): Promise<void> {
    if (m.portal.startsWith(RESERVED_PREFIX)) {
      this.denyBind('', reservedName('portal', m.portal));
      return;
    }
    const stmt = this.s.statements.get(m.statement);
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
    const portal: PortalState = { name: m.portal, stmt, resultFormats: m.resultFormats, batch: this.s.batch, columns: undefined, exec: undefined };
    this.s.portals.set(m.portal, portal);
    this.forwardExtended(m.raw, { kind: 'bind', batch: this.s.batch, portal });
    await this.s.io.upstreamBackpressure();
  }

  private async binaryResultRefusal(stmt: StatementState, formats: number[]): Promise<string | undefined> {
    if (stmt.columns === undefined) {
      // The statement's description is on its way; make the upstream send it now.
      this.s.io.toUpstream(serialize.flush());
      await stmt.described;
    }
    if (stmt.columns === undefined) return undefined;
    return binaryRefusal(withResultFormats(stmt.columns, formats), this.s.binaryMode);
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
    let portal = this.s.portals.get(m.portal);
    if (portal === undefined) {
      // Not bound through the listener: an SQL cursor (DECLARE ran as a statement and was
      // decided then), or nothing (the upstream says so). Describe it to mask by column.
      portal = { name: m.portal, stmt: undefined, resultFormats: [], batch: this.s.batch, columns: undefined, exec: undefined };
      this.forwardExtended(serialize.describe({ type: 'P', name: m.portal }), { kind: 'describe', batch: this.s.batch, internal: true, target: 'P', portal });
      this.forwardExtended(m.raw, { kind: 'execute', batch: this.s.batch, portal, result: {}, mask: this.s.session.newMaskSession() });
      this.s.batchRan = true;
      return;
    }
    if (portal.exec === undefined && portal.stmt !== undefined && !isBlank(portal.stmt.sql)) {
      const exec = await this.executionFor(portal.stmt);
      if ('denial' in exec) {
        this.s.discardBatch = this.s.batch;
        this.forwardExtended(serialize.execute({ portal: DENIED_NAME }), { kind: 'execute', batch: this.s.batch, portal, denial: exec.denial, result: {} });
        return;
      }
      portal.exec = exec;
    }
    portal.exec?.begin();
    this.forwardExtended(m.raw, { kind: 'execute', batch: this.s.batch, portal, result: {}, ...this.optional('exec', portal.exec) });
    this.s.batchRan = true;
    await this.s.io.upstreamBackpressure();
  }

  /** The Parse-time authorization for the first run; every later run is decided again (live policy, one approval per run). */
  private async executionFor(stmt: StatementState): Promise<Execution | { denial: Denial }> {
    const pending = stmt.pendingAuth;
    if (pending !== undefined) {
      stmt.pendingAuth = undefined;
      return new Execution(pending, this.s.session);
    }
    const d = await this.decider.decide(stmt.sql);
    return 'denial' in d ? d : new Execution(d.exec, this.s.session);
  }

  private async onClose(m: Extract<FrontendMessage, { type: 'close' }>): Promise<void> {
    if (m.target === 'S') await this.dropStatement(m.name);
    else await this.dropPortal(m.name);
    this.forwardExtended(m.raw, { kind: 'close', batch: this.s.batch });
  }

  private onSync(m: FrontendMessage): void {
    this.s.send(m.raw, { kind: 'sync', batch: this.s.batch, internal: false });
    this.s.batch++;
    this.s.unsynced = false;
    this.s.batchRan = false;
  }
}
