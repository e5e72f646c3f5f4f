// For the listener's unit tests only: an Enforcer with the real policy engine and masking
// engine but without Kubernetes, IdP or spool (tokens map to identities, approvals are granted
// by the test, outcomes are kept in memory). The integration tests use the real enforcer.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { compileMasker, type MaskingSpec } from '../../core/masking/index.ts';
import { compilePolicy, initPolicyEngine } from '../../core/policy/index.ts';
import { parseAccessPolicy } from '../../crds/validators.ts';
import type { Authorization, CommandOutcome, Enforcer, Identity, Session, SessionRequest } from '../src/enforcement.ts';

export interface RecordedCommand {
  sessionId: string;
  sql: string;
  verdict: Authorization['verdict'];
  rule?: string;
  outcome?: CommandOutcome;
}

export interface LocalEnforcer extends Enforcer {
  readonly records: RecordedCommand[];
  /** Approves the next run of exactly this SQL. */
  approve(sql: string): void;
  revoke(subject: string, reason: string): void;
  readonly sessions: Set<Session>;
}

export async function localEnforcer(opts: { policyFile: string; tokens: Record<string, Identity>; approvalWaitMs?: number }): Promise<LocalEnforcer> {
  await initPolicyEngine();
  const docs = readFileSync(opts.policyFile, 'utf8');
  const policy = parseAccessPolicy(parseYaml(docs));
  const compiled = compilePolicy(policy);
  const maskingSpec: MaskingSpec = policy.spec.masking ?? {};
  const masker = compileMasker(maskingSpec);
  const records: RecordedCommand[] = [];
  const approved = new Map<string, number>();
  const waiters = new Set<() => void>();
  const sessions = new Set<Session & { abort(reason: string): void }>();
  let seq = 0;
  let approvalSeq = 0;

  /** Holds like the real enforcer; true (and one approval consumed) when approved in time. */
  async function awaitApproval(sql: string, name: string, hooks: Parameters<Session['authorize']>[1], closed: AbortSignal): Promise<boolean> {
    if ((approved.get(sql) ?? 0) === 0) {
      hooks?.onApprovalPending?.(name, `statement held for approval: ApprovalRequest ${name}`);
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(t); waiters.delete(wake); resolve(); };
        const wake = (): void => { if ((approved.get(sql) ?? 0) > 0) done(); };
        const t = setTimeout(done, opts.approvalWaitMs ?? 200);
        waiters.add(wake);
        // Like the real enforcer: the wait ends when the client cancels or the session closes.
        hooks?.signal?.addEventListener('abort', done, { once: true });
        closed.addEventListener('abort', done, { once: true });
      });
    }
    const left = approved.get(sql) ?? 0;
    if (left === 0) return false;
    approved.set(sql, left - 1);
    return true;
  }

  function openSession(req: SessionRequest): Promise<{ ok: true; session: Session } | { ok: false; code: 'Unauthenticated' | 'Forbidden' | 'Unavailable'; message: string }> {
    const identity = opts.tokens[req.credential];
    if (identity === undefined) return Promise.resolve({ ok: false, code: 'Unauthenticated', message: 'invalid token' });
    const denied = compiled.checkAccess(identity, req.purpose);
    if (denied !== undefined) return Promise.resolve({ ok: false, code: 'Forbidden', message: denied.reason });
    const controller = new AbortController();
    const id = `s${++seq}`;
    const purpose = req.purpose ?? '';
    const session: Session & { abort(reason: string): void } = {
      id, identity, purpose, policyName: policy.metadata.name ?? 'policy', target: req.target,
      closed: controller.signal,
      abort: (reason: string) => controller.abort(reason),
      async authorize(command, hooks): Promise<Authorization> {
        const decision = compiled.evaluate({ identity, purpose, command });
        const sql = command.protocol === 'postgres' ? command.sql : '';
        const record = (verdict: Authorization['verdict']): RecordedCommand => {
          const r: RecordedCommand = { sessionId: id, sql, verdict, ...(decision.rule === undefined ? {} : { rule: decision.rule }) };
          records.push(r);
          return r;
        };
        if (decision.decision === 'deny') {
          record('deny');
          return { verdict: 'deny', decision, message: `denied by rule ${decision.rule ?? '(none)'}: ${decision.reason}` };
        }
        let approvalRequest: string | undefined;
        if (decision.decision === 'requireApproval') {
          const name = `ar-${++approvalSeq}`;
          if (!(await awaitApproval(sql, name, hooks, controller.signal))) {
            record('pending');
            return { verdict: 'pending', approvalRequest: name, message: `approval pending: ApprovalRequest ${name} was not decided in time` };
          }
          approvalRequest = name;
        }
        const r = record('allow');
        return {
          verdict: 'allow', decision, ...(approvalRequest === undefined ? {} : { approvalRequest }),
          complete(outcome: CommandOutcome): Promise<void> {
            if (r.outcome !== undefined) return Promise.reject(new Error('complete() called twice'));
            r.outcome = outcome;
            return Promise.resolve();
          },
        };
      },
      newMaskSession: () => masker.newSession(),
      recordingLimits: () => ({ maxRows: policy.spec.recording?.maxRows ?? 20, maxBytes: policy.spec.recording?.maxBytes ?? 16384 }),
      close(): Promise<void> {
        sessions.delete(session);
        return Promise.resolve();
      },
    };
    sessions.add(session);
    return Promise.resolve({ ok: true, session });
  }

  return {
    records,
    sessions,
    openSession,
    approve(sql: string): void {
      approved.set(sql, (approved.get(sql) ?? 0) + 1);
      for (const w of [...waiters]) w();
    },
    revoke(subject: string, reason: string): void {
      for (const s of [...sessions]) if (s.identity.subject === subject) s.abort(reason);
    },
  };
}
