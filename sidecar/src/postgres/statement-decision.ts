// Deciding one statement's text: the session's authorization (with the approval wait a
// CancelRequest can abandon), turned into either an allowed execution or the denial the client
// sees, plus the refusals of the listener itself once the policy allowed.
import { MAX_SQL_TEXT } from '../../../core/policy/sql.ts';
import type { Authorization } from '../enforcement.ts';
import { boundCommandText, unapprovableReason } from './approval-binding.ts';
import { noticeResponse } from './backend.ts';
import type { Allowed } from './execution.ts';
import type { Denial, PipelineState } from './pipeline-state.ts';
import { statementFacts, type StatementFacts } from './statements.ts';

/** The SQLSTATE of a denial: `unapprovable` says whether the statement was decided as one an approval cannot bind. */
function denialCode(code: string, unapprovable: boolean): string {
  // With an unapprovable reason given, ApprovalUnavailable is that refusal (no request is made):
  // the statement can never be approved in this form, so not "try again later" but a policy
  // denial whose message names the fix.
  if (code === 'ApprovalUnavailable' && unapprovable) return '42501';
  // The sidecar's own fail-closed states are "try again later", not a policy denial.
  return code === 'Unavailable' || code === 'ApprovalUnavailable' ? '57P03' : '42501';
}

function denialOf(auth: Exclude<Authorization, { verdict: 'allow' }>, canceled: boolean, unapprovable: boolean): Denial {
  if (auth.verdict === 'deny') {
    const rule = auth.decision.rule;
    return { code: denialCode(auth.decision.code, unapprovable), message: auth.message, ...(rule === undefined ? {} : { detail: `policy rule: ${rule}` }) };
  }
  if (canceled) return { code: '57014', message: `canceling statement due to user request (ApprovalRequest ${auth.approvalRequest} stays open)` };
  return { code: '42501', message: auth.message, hint: `once ApprovalRequest ${auth.approvalRequest} is approved, run the same statement again` };
}

export class StatementDecider {
  private wait: { controller: AbortController; canceled: boolean } | undefined;
  /** The last text's unapprovable reason: a prepared statement runs its text again and again (scanned once). */
  private lastBinding: { sql: string; declaredParameters: number; reason: string | undefined } | undefined;

  private readonly s: PipelineState;

  constructor(s: PipelineState) {
    this.s = s;
  }

  /** Whether a statement is being held for approval (or being decided). */
  get waiting(): boolean {
    return this.wait !== undefined;
  }

  /** A CancelRequest for this connection: abandons an approval wait. Returns true when one was abandoned. */
  cancelWait(): boolean {
    if (this.wait === undefined) return false;
    this.wait.canceled = true;
    this.wait.controller.abort(new Error('canceled by the client'));
    return true;
  }

  /** The connection ends: a statement still being decided is abandoned. */
  abort(reason: string): void {
    this.wait?.controller.abort(new Error(reason));
  }

  /**
   * The session's answer for one statement; an approval wait is abandoned by cancelWait() or
   * abort(). The statement is bound as its text naming the session's database when the client
   * chose it, and one whose parameters or prepared body an approval could not bind is refused
   * instead of held (approval-binding.ts).
   */
  private async authorize(sql: string, unapprovable: string | undefined): Promise<Authorization | { denial: Denial }> {
    const s = this.s;
    const wait = { controller: new AbortController(), canceled: false };
    this.wait = wait;
    const database = s.opts.database;
    // No listener on the session's own closing here: the only wait (an approval) already ends
    // with the session (the enforcer combines its signal with this one), and an EventTarget
    // listener added and removed per statement is measurable on the statement path.
    try {
      const auth = await s.session.authorize({ protocol: 'postgres', sql }, {
        onApprovalPending: this.onApprovalPending,
        signal: wait.controller.signal,
        ...(database === undefined ? {} : { commandText: boundCommandText(sql, database) }),
        ...(unapprovable === undefined ? {} : { unapprovable }),
      });
      s.opts.onVerdict?.(auth.verdict);
      // Read once the answer is in: a CancelRequest during the approval wait set it.
      this.canceled = wait.canceled;
      return auth;
    } catch (err) {
      s.log.error({ err }, 'authorization failed');
      return { denial: { code: '57P03', message: `the Guarita sidecar could not decide the statement: ${err instanceof Error ? err.message : String(err)}` } };
    } finally {
      this.wait = undefined;
    }
  }

  /** The client hears that its statement is held (a NOTICE), while it waits. */
  private readonly onApprovalPending = (requestName: string, message: string): void => {
    this.s.io.toClient(noticeResponse({ code: '00000', message, hint: `waiting for ApprovalRequest ${requestName}` }));
  };

  /** Whether the latest authorize() ended with the client's CancelRequest. */
  private canceled = false;

  /** Refusals of the listener itself, after the policy allowed. */
  private factsRefusal(facts: StatementFacts): Denial | undefined {
    if (facts.copyOut.some((p) => p.format === 'binary')) {
      return { code: '0A000', message: 'COPY ... TO STDOUT in binary format is refused by the Guarita sidecar: its data cannot be masked; use text or csv format' };
    }
    if (facts.binaryCursor && this.s.binaryMode === 'refuse') {
      return { code: '0A000', message: 'binary cursors are refused by the policy (masking.binaryColumns: refuse)' };
    }
    return undefined;
  }

  private unapprovable(sql: string, declaredParameters: number): string | undefined {
    const last = this.lastBinding;
    if (last?.sql === sql && last.declaredParameters === declaredParameters) return last.reason;
    const reason = unapprovableReason(sql, declaredParameters);
    // A text past the policy engine's bound is refused unread: not kept (up to 16 MiB held for a comparison).
    if (sql.length <= MAX_SQL_TEXT) this.lastBinding = { sql, declaredParameters, reason };
    return reason;
  }

  /** `declaredParameters`: the parameter types a Parse declared (the statement runs with values bound to them). */
  async decide(sql: string, declaredParameters = 0): Promise<{ exec: Allowed; facts: StatementFacts } | { denial: Denial }> {
    const unapprovable = this.unapprovable(sql, declaredParameters);
    const auth = await this.authorize(sql, unapprovable);
    if ('denial' in auth) return auth;
    if (auth.verdict !== 'allow') return { denial: denialOf(auth, this.canceled, unapprovable !== undefined) };
    this.s.binaryMode = auth.decision.masking?.binaryColumns ?? 'refuse';
    const facts = statementFacts(sql);
    const refusal = this.factsRefusal(facts);
    if (refusal !== undefined) {
      await this.s.completeUnrun(auth, refusal.message);
      return { denial: refusal };
    }
    return { exec: auth, facts };
  }
}
