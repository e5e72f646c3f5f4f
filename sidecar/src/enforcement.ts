// The protocol-independent enforcement core, as the listeners see it. The HTTP proxy
// (http/proxy.ts) and the PostgreSQL listener (postgres/) do only protocol work: they hand the
// caller's credential and purpose to `Enforcer.openSession`, ask `Session.authorize` for every
// command, mask what flows back with `Session.newMaskSession()`, and report the outcome with
// `complete()`. Authentication, live policy, approvals and tamper-evident recording live behind
// this interface (enforcer.ts).
import type { SshRequest } from '../../core/policy/ssh.ts';
import type { SensitiveColumnsConfig } from '../../core/policy/sql-columns.ts';
import type { SessionEvent, StreamFrame } from '../../core/recording/session-event.ts';
import type { Command, Decision, DecisionCode, Identity, MaskSession } from './core-types.ts';

export type { Command, Decision, DecisionCode, Identity, MaskSession, StreamMasker } from './core-types.ts';

/**
 * Codes of denials the sidecar itself makes (beyond the policy engine's DecisionCode):
 * Unavailable (policy not synced/stale/missing/invalid), SessionClosed (revoked, expired, shutdown),
 * ApprovalDenied / ApprovalExpired (the ApprovalRequest's decision), ApprovalUnavailable (the
 * ApprovalRequest could not be created or watched). Listeners may answer Unavailable and
 * ApprovalUnavailable as "try again later" (HTTP 503, PG 57P03) rather than as a policy denial.
 */
export type SidecarDecisionCode = 'Unavailable' | 'SessionClosed' | 'ApprovalDenied' | 'ApprovalExpired' | 'ApprovalUnavailable';

/** A policy Decision, or one of the sidecar's own denials. */
export type EnforcementDecision = Omit<Decision, 'code'> & { code: DecisionCode | SidecarDecisionCode };

export interface AuthorizeOptions {
  /** Called once when the command is held for approval (a listener may tell the client it waits). */
  onApprovalPending?(requestName: string, message: string): void;
  /** Abandons an approval wait (client went away): resolves as pending. */
  signal?: AbortSignal;
  /**
   * The exact command text to hash, record (masked) and bind an approval to. Default: the SQL, or
   * `METHOD path?query` for HTTP. The HTTP proxy passes method, target and request body so that an
   * approval covers exactly the body that was reviewed.
   */
  commandText?: string;
  /**
   * When set, a requireApproval decision is denied with this reason instead of creating an
   * ApprovalRequest: the command cannot be bound exactly (e.g. an HTTP body too large to buffer).
   */
  unapprovable?: string;
  /** SSH: the channel (exec, shell or SFTP session) the command arrives on, named in its records as in the channel's stream records. */
  channel?: number;
}

/** What a listener knows when a client connects (HTTP: per request; PostgreSQL: per connection). */
export interface SessionRequest {
  /** Target name (GUARITA_TARGETS[].target). */
  target: string;
  /** The bearer token: HTTP `Authorization: Bearer`, or the PostgreSQL password. */
  credential: string;
  /** Declared purpose (X-Guarita-Purpose, or `-c guarita.purpose=`); falls back to the token's purposeClaim. */
  purpose?: string;
  /** `connection` (address:port) identifies one client connection: service-account reviews are rate-limited per connection and per address. */
  client: { remoteAddress: string; application?: string; connection?: string };
}

/**
 * Why a session was not opened. Unauthenticated: bad/missing token (HTTP 401, PG 28P01).
 * Forbidden: authenticated but not a subject, revoked, or an undeclared/unknown purpose (HTTP 403, PG 42501).
 * Unavailable: fail-closed states: policy not synced yet / stale / invalid, spool not writable (HTTP 503, PG 57P03).
 */
export type SessionRefusal = { ok: false; code: 'Unauthenticated' | 'Forbidden' | 'Unavailable'; message: string };

export interface Enforcer {
  openSession(req: SessionRequest): Promise<{ ok: true; session: Session } | SessionRefusal>;
}

/**
 * The answer for one command.
 * - allow: run it, then call `complete()` exactly once with what happened. complete() appends the
 *   record to the durable spool (it rejects if the spool cannot be written: fail the command then)
 *   and, when the command ran on an approval, marks the ApprovalRequest Consumed.
 * - deny: do not run it; answer with `message` (it names the rule). Already recorded.
 * - pending: an approval was requested and not decided within the configured wait; answer with
 *   `message` naming the ApprovalRequest so the agent retries the same command later. Already recorded.
 */
export type Authorization =
  | { verdict: 'allow'; decision: EnforcementDecision; approvalRequest?: string; complete(outcome: CommandOutcome): Promise<void> }
  | { verdict: 'deny'; decision: EnforcementDecision; message: string }
  | { verdict: 'pending'; approvalRequest: string; message: string };

/** What the listener observed while running an allowed command. Everything in here is already masked. */
export interface CommandOutcome {
  result?: { rows?: number; bytes?: number; bytesIn?: number; status?: number; sample?: string; truncated?: boolean; error?: string; outcomeUnknown?: boolean };
  /** Per-type counts of masked values (MaskSession.counts()). */
  masked: Record<string, number>;
  durationMs: number;
}

export interface Session {
  readonly id: string;
  readonly identity: Identity;
  readonly purpose: string;
  readonly policyName: string;
  readonly target: string;
  /** Aborted on revocation, purpose removal, policy deletion/invalidity, staleness or shutdown; `reason` is a message for the client. */
  readonly closed: AbortSignal;
  /**
   * Decides one command under the policy in force now (see AuthorizeOptions). Rejects only when
   * the decision cannot be recorded (spool unwritable): fail the command as unavailable then.
   */
  authorize(command: Command, hooks?: AuthorizeOptions): Promise<Authorization>;
  /** A fresh masking session with the masking plan of the policy in force right now. */
  newMaskSession(): MaskSession;
  /** How much of a result to keep (masked) in the record: the policy's spec.recording. */
  recordingLimits(): { maxRows: number; maxBytes: number };
  /**
   * The policy's spec.sensitiveColumns in force now (undefined: none). The PostgreSQL listener
   * compares its declarations with the database's catalog before handing over a new session.
   * Throws when no policy is in force.
   */
  sensitiveColumns?(): SensitiveColumnsConfig | undefined;
  /**
   * SSH targets: whether the policy in force now allows this session an interactive shell outright
   * (no approval), without deciding or recording anything. An exec asking for a terminal gets one
   * only then: a program that pages its output under a terminal (git log, journalctl) opens less,
   * whose `!command` is a shell. Absent: no terminal for execs.
   */
  sshAllowsShell?(): boolean;
  /**
   * SSH targets: whether resolving an exec's paths on the host can change its decision under the
   * policy in force now (CompiledPolicy.resolutionMatters). Absent: the listener always resolves.
   */
  sshResolutionMatters?(request: SshRequest): boolean;
  /**
   * The policy in force now, as an opaque mark that changes whenever the policy does (undefined:
   * none is in force). Long-lived grants (an open SFTP handle) compare it with the mark they were
   * judged under and are judged again when it differs. Absent: grants are not re-judged.
   */
  policyMark?(): object | undefined;
  /** Interactive targets: records masked, timed frames of a channel (SSH exec and shell) as a 'stream' record; rejects when the spool cannot be written. */
  recordStream?(frames: StreamFrame[], extra?: Pick<SessionEvent, 'channel' | 'commandSha256'>): Promise<unknown>;
  /** Records session.end (once) and releases the session. */
  close(reason?: string): Promise<void>;
}
