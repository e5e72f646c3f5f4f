// The Enforcer: authentication, live policy, approvals and recording behind the listener-facing
// interface of enforcement.ts. Every answer is recorded durably before the listener may act on
// it (denials and holds at once, allowed commands through complete()).
import { hash, randomBytes } from 'node:crypto';
import { TextDecoder } from 'node:util';
import { approvalShortfall } from '../../core/approvals/plan.ts';
import { backoffCeiling } from '../../core/backoff.ts';
import { maskedPrefix } from '../../core/masking/prefix.ts';
import { describeKubernetesRequest } from '../../core/policy/kubernetes-request.ts';
import { sshCommandText, type SshRequest } from '../../core/policy/ssh.ts';
import type { SensitiveColumnsConfig } from '../../core/policy/sql-columns.ts';
import type { SessionEvent, StreamFrame } from '../../core/recording/index.ts';
import type { ApprovalRequest } from '../../crds/types.ts';
import { describe as describeApproval, type ApprovalOutcome, type Approvals } from './approvals.ts';
import { approvalEvidence } from './approval-evidence.ts';
import type { SidecarConfig, TargetConfig } from './config.ts';
import type {
  Authorization, Command, CommandOutcome, EnforcementDecision, Enforcer, Identity, MaskSession, Session, SessionRefusal, SessionRequest, AuthorizeOptions,
} from './enforcement.ts';
import { AuthError, type Authenticator, type VerifiedToken } from './identity/index.ts';
import { unauthenticated } from './identity/errors.ts';
import { errorMessage, type Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { PolicyState, PolicyWatch } from './policy-watch.ts';
import type { Spool, SpoolRecord } from './spool.ts';
import type { CompiledTarget } from './targets.ts';
import { opt } from './util.ts';

export interface EnforcerDeps {
  config: Pick<SidecarConfig, 'namespace' | 'podName' | 'targets' | 'approvalWaitMs'>;
  policies: PolicyWatch<CompiledTarget>;
  authenticator: Authenticator;
  approvals: Approvals;
  spool: Spool;
  metrics: Metrics;
  logger: Logger;
}

type Available = { ok: true; target: CompiledTarget } | { ok: false; message: string };

export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

/** The exact text a command is bound to (approvals) and hashed as (records): SQL, or METHOD path. */
export function commandText(command: Command): string {
  if (command.protocol === 'postgres') return command.sql;
  if (command.protocol === 'ssh') return sshCommandText(command.ssh);
  if (command.protocol === 'kubernetes') return 'problem' in command.request ? `[unreadable Kubernetes request: ${command.request.problem}]` : describeKubernetesRequest(command.request);
  const pairs = Object.entries(command.query ?? {}).flatMap(([k, v]): [string, string][] => (Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v]]));
  const query = pairs.length === 0 ? '' : `?${new URLSearchParams(pairs).toString()}`;
  return `${command.method.toUpperCase()} ${command.path}${query}`;
}

function truncate(text: string, maxBytes: number): { text: string; truncated: boolean } {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most samples fit without encoding them.
  if (text.length * 3 <= maxBytes) return { text, truncated: false };
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, truncated: false };
  // Cut on a character boundary.
  return { text: new TextDecoder().decode(buf.subarray(0, maxBytes)).replace(/\uFFFD$/, ''), truncated: true };
}

/**
 * The most of a command's masked text one record carries, in UTF-8 bytes (docs/recording.md,
 * "Long commands"). A longer text is recorded as the first 64 KiB of its masked form, marked
 * `commandTruncated`, with `commandSha256` of the whole text. The policy engine refuses SQL past
 * 256 K characters unread, but the listener takes Query messages of up to 16 MiB: masked and
 * recorded whole, one costs seconds of the event loop and one record larger than the spool's signing
 * window and the shipper's batch (1 MiB each) and than the operator's default request body. 64 KiB
 * keeps sixteen such records per window, and masking at most COMMAND_MASK_MAX_CHARS of input.
 */
export const COMMAND_RECORD_MAX_BYTES = 64 * 1024;
/** The input masked at most to fill COMMAND_RECORD_MAX_BYTES (masking can shorten a text: an address becomes a few characters). */
const COMMAND_MASK_MAX_CHARS = 4 * COMMAND_RECORD_MAX_BYTES;

/** Sample bounds when no policy was ever in force for the session (never written to: shared). */
const DEFAULT_RECORDING_LIMITS: Readonly<{ maxRows: number; maxBytes: number }> = Object.freeze({ maxRows: 20, maxBytes: 16384 });

/**
 * The current time as ISO 8601 with milliseconds, as `new Date().toISOString()` writes it. The
 * string is kept for the millisecond it names: at line rate several records share a millisecond,
 * and formatting a Date is most of the cost of building a record's event.
 */
let isoMs = Number.NaN;
let isoText = '';
export function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

const identityKeys = new WeakMap<CompiledTarget, string>();

/** The identity configuration a credential was verified under (a change re-verifies open sessions); once per compiled policy. */
function identityKey(target: CompiledTarget): string {
  let key = identityKeys.get(target);
  if (key === undefined) {
    key = JSON.stringify(target.policy.spec.identity);
    identityKeys.set(target, key);
  }
  return key;
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return a.subject === b.subject && a.kind === b.kind && a.namespace === b.namespace && [...a.groups].sort().join('\u0000') === [...b.groups].sort().join('\u0000');
}

/**
 * How often the open sessions are looked over for service-account reviews coming due, and how far
 * ahead of its due time a review is asked again: an idle session (a PostgreSQL or SSH connection,
 * an HTTP or Kubernetes credential between requests) is closed when its service account is gone
 * without waiting for a command, and a session in use rarely reaches the due time itself (its
 * command would wait for the review then).
 */
export const REVIEW_SWEEP_MS = 5000;
/**
 * At most this many re-reviews are started per sweep (768 a minute), the most overdue first: a
 * session due is asked within ceil(N / 64) sweeps of its due time, N the sessions due with it or
 * before it (every session asked gets its next due time a minute on, behind the ones still waiting),
 * and at its next command at the latest (round 12b, finding B: the sweep used to restart at the
 * oldest sessions, and sessions behind the first ~704 were never reached).
 */
export const REVIEWS_PER_SWEEP = 64;
/**
 * How long past its due time a service-account session keeps its last TokenReview answer while the
 * apiserver cannot answer (Unavailable: a reset connection, a restart or leader change, a 429 of
 * priority and fairness, a timeout; round 12b, finding A). It is asked again meanwhile (sweeps and
 * commands, spaced by REVIEW_RETRY), and closed at the end of the grace unless an answer came; an
 * answer that the token no longer verifies closes it at once. 60 s is what the policy watch rides
 * out by default (GUARITA_POLICY_STALENESS): an apiserver outage that does not stop the sidecar's
 * decisions does not close its sessions either. A constant, not that setting: it bounds how long a
 * revoked service account keeps a session while the apiserver cannot say so (review TTL + grace +
 * the apiserver's authentication cache), and that bound must not move with an availability knob.
 */
export const REVIEW_GRACE_MS = 60_000;
/**
 * The spacing of re-asks during the grace: 1 s, doubling, at most 10 s (five or more asks in the
 * grace). No jitter: the sessions sharing a token fail together and should ask together, so they
 * share one review in flight (ServiceAccountVerifier); the sweep's cap spreads the rest.
 */
export const REVIEW_RETRY: Readonly<{ baseMs: number; capMs: number }> = Object.freeze({ baseMs: 1000, capMs: 10_000 });

const sidecarDenial = (code: EnforcementDecision['code'], reason: string, rule?: string): EnforcementDecision => ({ decision: 'deny', code, reason, ...opt('rule', rule) });

/**
 * The client names its application itself (PostgreSQL application_name): any text, so an
 * identifier in it reaches the signed record only masked, like every other client text.
 */
function maskedApplication(req: SessionRequest, target: CompiledTarget): string | undefined {
  return req.client.application === undefined ? undefined : target.recordMasker.newSession().maskText(req.client.application);
}

export class SidecarEnforcer implements Enforcer {
  readonly deps: EnforcerDeps;
  readonly #sessions = new Set<SidecarSession>();
  readonly #targets: Map<string, TargetConfig>;
  readonly #reviewTimer: NodeJS.Timeout;
  #closing = false;

  constructor(deps: EnforcerDeps) {
    this.deps = deps;
    this.#targets = new Map(deps.config.targets.map((t) => [t.target, t]));
    deps.policies.onChange((name, current) => this.#sweep(name, current));
    this.#reviewTimer = setInterval(() => this.reviewSweep(), REVIEW_SWEEP_MS).unref();
  }

  get openSessions(): number { return this.#sessions.size; }

  /** The policy in force for a target, or why its requests are refused. */
  available(target: TargetConfig): Available {
    const watch = this.deps.policies.availability();
    if (!watch.ok) return watch;
    const state = this.deps.policies.get(target.policy);
    if (state.state === 'missing') return { ok: false, message: `AccessPolicy ${target.policy} does not exist in namespace ${this.deps.config.namespace}: target ${target.target} refuses requests` };
    if (state.state === 'invalid') return { ok: false, message: `${state.message}: target ${target.target} refuses requests until it is fixed` };
    const spec = state.policy.spec.target;
    if (spec.name !== target.target || spec.protocol !== target.protocol) {
      return { ok: false, message: `AccessPolicy ${target.policy} now governs target ${spec.name} (${spec.protocol}), but this listener serves ${target.target} (${target.protocol}): the pod must be re-created` };
    }
    return { ok: true, target: state.compiled };
  }

  targetConfig(name: string): TargetConfig | undefined {
    return this.#targets.get(name);
  }

  async openSession(req: SessionRequest): Promise<{ ok: true; session: Session } | SessionRefusal> {
    const target = this.#targets.get(req.target);
    if (target === undefined) return { ok: false, code: 'Unavailable', message: `unknown target ${req.target}` };
    if (this.#closing) return { ok: false, code: 'Unavailable', message: 'the Guarita sidecar is shutting down' };
    const available = this.available(target);
    if (!available.ok) return { ok: false, code: 'Unavailable', message: available.message };
    const spool = this.deps.spool.health();
    if (!spool.ok) return { ok: false, code: 'Unavailable', message: `${spool.message}; recording is mandatory, so requests are refused` };
    const verified = await this.#authenticate(target, req, available.target);
    if ('ok' in verified) return verified;
    const purpose = req.purpose ?? verified.purpose;
    const session = new SidecarSession(this, target, verified.identity, purpose ?? '', verified.expiresAt, {
      credential: req.credential, identityKey: identityKey(available.target), purposeFromToken: req.purpose === undefined, ...opt('reviewDueAt', verified.reviewDueAt),
    });
    const application = maskedApplication(req, available.target);
    const denied = available.target.compiled.checkAccess(verified.identity, purpose);
    if (denied !== undefined) {
      this.deps.metrics.decisions.inc({ target: target.target, decision: 'deny', rule: '' });
      await this.deps.spool.append(session.event('session.start', { decision: 'deny', reason: denied.reason, ...opt('command', application) }), available.target.durability);
      return { ok: false, code: 'Forbidden', message: denied.reason };
    }
    await this.deps.spool.append(session.event('session.start', { decision: 'allow', reason: `from ${req.client.remoteAddress}${application === undefined ? '' : ` (${application})`}` }), available.target.durability);
    this.#sessions.add(session);
    this.deps.metrics.sessionsOpen.inc({ target: target.target });
    session.armExpiry();
    this.deps.logger.info({ sessionId: session.id, target: target.target, subject: verified.identity.subject, purpose }, 'session opened');
    return { ok: true, session };
  }

  async #authenticate(target: TargetConfig, req: SessionRequest, compiled: CompiledTarget): Promise<VerifiedToken | SessionRefusal> {
    let verified;
    try {
      verified = await this.deps.authenticator.authenticate(req.credential, compiled.policy.spec.identity, { source: req.client.remoteAddress, ...opt('connection', req.client.connection) });
    } catch (err) {
      return this.#authRefusal(target, err);
    }
    // The verifiers allow clock skew on exp; a session does not: it would end the moment it opened.
    if (verified.expiresAt !== undefined && verified.expiresAt <= Date.now()) return this.#authRefusal(target, unauthenticated('expired', 'the token has expired (exp)'));
    return verified;
  }

  #authRefusal(target: TargetConfig, err: unknown): SessionRefusal {
    const auth = err instanceof AuthError ? err : new AuthError('Unavailable', 'error', errorMessage(err));
    this.deps.metrics.authFailures.inc({ target: target.target, reason: auth.reason });
    this.deps.logger.info({ target: target.target, reason: auth.reason, message: auth.message }, 'credential rejected');
    return { ok: false, code: auth.code, message: auth.message };
  }

  /**
   * Re-checks the open sessions of a policy that changed: revocation closes them, and so does a
   * credential that no longer verifies under a changed spec.identity (re-verified in the background;
   * the session's next command waits for that answer).
   */
  #sweep(policy: string, current: PolicyState<CompiledTarget>): void {
    for (const session of this.#sessions) {
      if (session.policyName !== policy) continue;
      const reason = this.#closeReason(session, current);
      if (reason !== undefined) void session.close(reason.message, reason.kind);
      else if (current.state === 'ok') void session.identityHolds(current.compiled);
    }
  }

  /**
   * Asks the apiserver again about the open service-account sessions whose review is due before the
   * next sweep (ahead of it: a cached answer about to be due is not reused), or whose re-ask after an
   * unanswered review is due (the grace, REVIEW_GRACE_MS), the most overdue first and at most
   * REVIEWS_PER_SWEEP of them; a credential that no longer verifies closes its session
   * (SidecarSession.identityHolds). Sessions still waiting for a review are not counted twice.
   * Sorting only the sessions due costs O(n log n) every 5 s, nothing when none is due.
   */
  reviewSweep(now = Date.now()): void {
    const due: { session: SidecarSession; at: number }[] = [];
    for (const session of this.#sessions) {
      const at = session.reviewAskAt(REVIEW_SWEEP_MS);
      if (at !== undefined && at <= now) due.push({ session, at });
    }
    // Stable: sessions due at the same time are asked in the order they opened.
    due.sort((a, b) => a.at - b.at);
    let started = 0;
    for (const { session } of due) {
      if (started >= REVIEWS_PER_SWEEP) break;
      const config = this.#targets.get(session.target);
      const available = config === undefined ? undefined : this.available(config);
      // No policy in force: the policy sweep closes or keeps the session; nothing to verify against.
      if (available?.ok !== true) continue;
      started++;
      void session.identityHolds(available.target, REVIEW_SWEEP_MS);
    }
  }

  #closeReason(session: SidecarSession, current: PolicyState<CompiledTarget>): { message: string; kind: string } | undefined {
    if (current.state === 'missing') return { kind: 'policy', message: `AccessPolicy ${session.policyName} was deleted` };
    if (current.state === 'invalid') return { kind: 'policy', message: current.message };
    const denied = current.compiled.compiled.checkAccess(session.identity, session.purpose);
    if (denied === undefined) return undefined;
    return { kind: denied.code === 'SubjectRevoked' ? 'revoked' : 'policy', message: `session closed: ${denied.reason}` };
  }

  forget(session: SidecarSession, kind: string): void {
    if (!this.#sessions.delete(session)) return;
    this.deps.metrics.sessionsOpen.dec({ target: session.target });
    this.deps.metrics.sessionsClosed.inc({ target: session.target, reason: kind });
  }

  /** Shutdown: refuse new sessions and close the open ones (recording session.end). */
  async closeAll(reason: string): Promise<void> {
    this.#closing = true;
    clearInterval(this.#reviewTimer);
    await Promise.all([...this.#sessions].map((s) => s.close(reason, 'shutdown')));
  }
}

interface Running { decision: EnforcementDecision; text: string; place: CommandPlace; approval?: ApprovalRequest }

/** Where in its session a command ran, carried by every record of it (SSH: the channel of the exec, shell or SFTP session). */
type CommandPlace = Pick<SessionEvent, 'channel'>;
const NO_PLACE: CommandPlace = Object.freeze({});

function placeOf(hooks: AuthorizeOptions): CommandPlace {
  return hooks.channel === undefined ? NO_PLACE : { channel: hooks.channel };
}

/** What a record carries for one command text under one masking plan. */
interface CommandMemo {
  readonly text: string; readonly plan: CompiledTarget | undefined; readonly masked: string; readonly sha256: string;
  /** `masked` is only a prefix of the masked text (COMMAND_RECORD_MAX_BYTES). */
  readonly truncated: boolean;
}

/** A record's command members: the masked text, its SHA-256, and the mark of a text cut at the bound. */
function commandFields(command: CommandMemo): Pick<SessionEvent, 'command' | 'commandSha256' | 'commandTruncated'> {
  const fields: Pick<SessionEvent, 'command' | 'commandSha256' | 'commandTruncated'> = { command: command.masked, commandSha256: command.sha256 };
  // Only when cut: the record of every other command is the same bytes as before the bound existed.
  if (command.truncated) fields.commandTruncated = true;
  return fields;
}

export class SidecarSession implements Session {
  readonly id = `s-${randomBytes(9).toString('base64url')}`;
  readonly identity: Identity;
  readonly purpose: string;
  readonly policyName: string;
  readonly target: string;
  readonly protocol: 'http' | 'postgres' | 'kubernetes' | 'ssh';
  readonly #enforcer: SidecarEnforcer;
  readonly #targetConfig: TargetConfig;
  readonly #closed = new AbortController();
  readonly #expiresAt: number | undefined;
  // Kept for the session's life only to re-verify it (spec.identity changed, or its review is due); dropped at close.
  #credential: string | undefined;
  #verifiedFor: string;
  /**
   * When the credential's authority must be asked again (ms since epoch): service-account tokens,
   * whose TokenReview answer lasts 60 s. Undefined for OIDC tokens: a JWT is not introspected, so
   * a change at the IdP ends the session at the token's exp only (docs/access-policy.md).
   */
  #reviewDueAt: number | undefined;
  #rechecking: { key: string; holds: Promise<boolean> } | undefined;
  /**
   * Set while the apiserver has not answered the review due at #reviewDueAt (Unavailable): the
   * session keeps that answer until `graceEnd` (REVIEW_GRACE_MS past the due time), is asked again
   * from `retryAt`, and is closed by `timer` at `graceEnd` unless an answer came first.
   */
  #outage: { graceEnd: number; retryAt: number; failures: number; lastError: string; timer: NodeJS.Timeout } | undefined;
  /** The purpose came from the token's purposeClaim (none was declared): a re-check must find the same. */
  readonly #purposeFromToken: boolean;
  #expiryTimer: NodeJS.Timeout | undefined;
  #last: CompiledTarget | undefined;
  #closing: Promise<void> | undefined;
  /** The last command's record text (see #command); dropped at close like the credential. */
  #lastCommand: CommandMemo | undefined;

  constructor(
    enforcer: SidecarEnforcer, target: TargetConfig, identity: Identity, purpose: string, expiresAt: number | undefined,
    verified: { credential: string; identityKey: string; purposeFromToken: boolean; reviewDueAt?: number },
  ) {
    this.#enforcer = enforcer;
    this.#targetConfig = target;
    this.identity = identity;
    this.purpose = purpose;
    this.policyName = target.policy;
    this.target = target.target;
    this.protocol = target.protocol;
    this.#expiresAt = expiresAt;
    this.#credential = verified.credential;
    this.#verifiedFor = verified.identityKey;
    this.#reviewDueAt = verified.reviewDueAt;
    this.#purposeFromToken = verified.purposeFromToken;
  }

  /**
   * When the sweep should ask about the credential (ms since epoch): `aheadMs` before its review is
   * due, or, after a review the apiserver did not answer, the time to ask again. Undefined when there
   * is nothing to ask (OIDC), a re-check is under way, or the session is closed.
   */
  reviewAskAt(aheadMs: number): number | undefined {
    if (this.#reviewDueAt === undefined || this.#rechecking !== undefined || this.closed.aborted) return undefined;
    return this.#outage === undefined ? this.#reviewDueAt - aheadMs : this.#outage.retryAt;
  }

  /**
   * Whether the session's credential verifies under the identity configuration of `target` (the
   * policy in force). When spec.identity changed since it was verified, the credential is verified
   * again (issuer, audiences, methods, claims) and must map to the same identity; otherwise the
   * session is closed, naming why. The same when the credential's review is due (service-account
   * tokens: the apiserver is asked again; `aheadMs`: already that long before it is due, the
   * sweep). Fails closed: a verifier that cannot answer closes it too, but for a review due, after
   * the grace (REVIEW_GRACE_MS) during which the last answer holds and the apiserver is asked again
   * (from the backoff's time on; the answer meanwhile is true).
   */
  identityHolds(target: CompiledTarget, aheadMs = 0): Promise<boolean> {
    const known = this.#identityKnown(target, aheadMs);
    if (known === false || (known === true && !this.#retryDue())) return Promise.resolve(known);
    return this.#recheck(target, aheadMs);
  }

  /** During the grace: whether the apiserver may be asked again now (the backoff passed, nothing in flight). */
  #retryDue(): boolean {
    return this.#outage !== undefined && this.#rechecking === undefined && Date.now() >= this.#outage.retryAt;
  }

  /** Verifies the credential again under `target`, one re-check at a time (concurrent callers share it). */
  #recheck(target: CompiledTarget, aheadMs: number): Promise<boolean> {
    const key = identityKey(target);
    if (this.#rechecking?.key !== key) {
      const holds = this.#reverify(target, key, aheadMs).finally(() => { if (this.#rechecking?.holds === holds) this.#rechecking = undefined; });
      this.#rechecking = { key, holds };
    }
    return this.#rechecking.holds;
  }

  /** How a re-verified credential differs from what the session was opened as, if it does. */
  #differs(verified: VerifiedToken): string | undefined {
    const { identity } = verified;
    if (!sameIdentity(identity, this.identity)) return `the session's credential now maps to ${identity.kind} ${identity.subject} (groups ${identity.groups.join(', ') || 'none'}), not the identity the session was opened as`;
    if (this.#purposeFromToken && (verified.purpose ?? '') !== this.purpose) return `the session's purpose, taken from the token, would now be ${JSON.stringify(verified.purpose ?? '')}, not ${JSON.stringify(this.purpose)}`;
    return undefined;
  }

  async #reverify(target: CompiledTarget, key: string, aheadMs: number): Promise<boolean> {
    const d = this.#enforcer.deps;
    const credential = this.#credential;
    if (credential === undefined) return false;
    const why = key === this.#verifiedFor ? 'the session\'s service-account token was reviewed again (a TokenReview answer lasts 60 s)' : 'the AccessPolicy\'s spec.identity changed';
    let verified;
    try {
      // No rate-limit context: re-checks are bounded by the sessions already open.
      verified = await d.authenticator.authenticate(credential, target.policy.spec.identity, undefined, aheadMs);
    } catch (err) {
      return this.#unverified(err, key, why);
    }
    const differs = this.#differs(verified);
    if (differs !== undefined) {
      await this.close(`session closed: ${why} and ${differs}`, 'identity');
      return false;
    }
    this.#verifiedFor = key;
    this.#reviewDueAt = verified.reviewDueAt;
    this.#endOutage();
    return !this.closed.aborted;
  }

  /** A re-verification that failed: the grace when the apiserver could not answer a review due, else the session closes. */
  async #unverified(err: unknown, key: string, why: string): Promise<boolean> {
    const auth = err instanceof AuthError ? err : undefined;
    this.#enforcer.deps.metrics.authFailures.inc({ target: this.target, reason: `recheck-${auth?.reason ?? 'error'}` });
    // The apiserver could not answer a review due (not: the token no longer verifies): ride it out.
    if (auth?.code === 'Unavailable' && key === this.#verifiedFor && this.#rideOut(auth.message)) return !this.closed.aborted;
    await this.close(`session closed: ${why} and the session's credential no longer verifies: ${errorMessage(err)}`, 'identity');
    return false;
  }

  /**
   * After a review the apiserver could not answer: keeps the session on its last answer until the
   * grace ends (REVIEW_GRACE_MS past the due time) and says when to ask again; false once the grace
   * has run out (the caller closes the session).
   */
  #rideOut(error: string): boolean {
    const due = this.#reviewDueAt;
    const now = Date.now();
    if (due === undefined || now >= due + REVIEW_GRACE_MS) return false;
    const graceEnd = due + REVIEW_GRACE_MS;
    const failures = (this.#outage?.failures ?? 0) + 1;
    const retryAt = Math.min(graceEnd, now + backoffCeiling(failures - 1, REVIEW_RETRY));
    const timer = this.#outage?.timer ?? this.#armGraceEnd(graceEnd - now, due);
    this.#outage = { graceEnd, retryAt, failures, lastError: error, timer };
    return true;
  }

  /** The grace's end: closes the session unless an answer ended the outage first. */
  #armGraceEnd(ms: number, due: number): NodeJS.Timeout {
    const d = this.#enforcer.deps;
    d.logger.warn({ sessionId: this.id, target: this.target, subject: this.identity.subject, dueAt: new Date(due).toISOString(), graceMs: REVIEW_GRACE_MS }, 'service-account review unanswered by the apiserver; the session keeps its last answer for the grace');
    const timer = setTimeout(() => {
      const last = this.#outage?.lastError ?? 'no answer';
      void this.close(`session closed: the session's service-account token was due for review at ${new Date(due).toISOString()} and the apiserver did not answer within the ${REVIEW_GRACE_MS / 1000} s grace past it (last: ${last})`, 'identity');
    }, ms);
    timer.unref();
    return timer;
  }

  #endOutage(): void {
    clearTimeout(this.#outage?.timer);
    this.#outage = undefined;
  }

  get closed(): AbortSignal { return this.#closed.signal; }

  /** The credential's expiry ends the session. */
  armExpiry(): void {
    if (this.#expiresAt === undefined) return;
    const ms = Math.max(0, Math.min(this.#expiresAt - Date.now(), 2 ** 31 - 1));
    this.#expiryTimer = setTimeout(() => void this.close('the credential expired', 'expired'), ms);
    this.#expiryTimer.unref();
  }

  event(type: SessionEvent['type'], extra: Partial<SessionEvent>): SessionEvent {
    const d = this.#enforcer.deps;
    const event: SessionEvent = {
      type, time: isoNow(), namespace: d.config.namespace, pod: d.config.podName, policy: this.policyName, target: this.target,
      protocol: this.protocol, sessionId: this.id, subject: this.identity.subject, subjectKind: this.identity.kind, groups: this.identity.groups,
    };
    if (this.purpose !== '') event.purpose = this.purpose;
    // Like a spread: every own member of extra (one object fewer per record).
    return Object.assign(event, extra);
  }

  #masked(text: string, target: CompiledTarget | undefined): string {
    const masker = target ?? this.#last;
    if (masker === undefined) return '[unavailable: no masking plan]';
    return masker.recordMasker.newSession().maskText(text);
  }

  /**
   * The masked text and SHA-256 a record carries for `text`. A connection repeats its texts (a
   * prepared statement run again, an application's fixed queries), so the last answer is kept and
   * reused while the text and the masking plan are the same: the same inputs, the same bytes.
   */
  #command(text: string): CommandMemo {
    const plan = this.#last;
    const last = this.#lastCommand;
    if (last !== undefined && last.plan === plan && last.text === text) return last;
    const recorded = plan === undefined ? { text: '[unavailable: no masking plan]', truncated: false } : maskedPrefix(plan.recordMasker.newSession(), text, COMMAND_RECORD_MAX_BYTES, COMMAND_MASK_MAX_CHARS);
    const memo: CommandMemo = { text, plan, masked: recorded.text, sha256: sha256Hex(text), truncated: recorded.truncated };
    // A text past the input bound is not kept for the session's next command (up to 16 MiB held for
    // a comparison): such a text is refused by the policy engine unread, and rarely repeated.
    if (text.length <= COMMAND_MASK_MAX_CHARS) this.#lastCommand = memo;
    return memo;
  }

  async #record(type: SessionEvent['type'], extra: Partial<SessionEvent>): Promise<SpoolRecord> {
    return this.#recordIn(this.#enforcer.available(this.#targetConfig), type, extra);
  }

  /** Appends the record under `available`, which must be the policy in force now (taken in the same synchronous step). */
  #recordIn(available: Available, type: SessionEvent['type'], extra: Partial<SessionEvent>): Promise<SpoolRecord> {
    // The policy in force decides; without one (it was deleted or broke), the strict default.
    const durability = available.ok ? available.target.durability : 'Synced';
    return this.#enforcer.deps.spool.append(this.event(type, extra), durability);
  }

  async #deny(decision: EnforcementDecision, text: string, extra: Partial<SessionEvent> = {}): Promise<Authorization> {
    const d = this.#enforcer.deps;
    d.metrics.decisionCell(this.target, 'deny', decision.rule ?? '').inc();
    const command = this.#command(text);
    await this.#record('command', {
      ...commandFields(command), decision: 'deny', reason: decision.reason, ...opt('rule', decision.rule), ...extra,
    });
    const rule = decision.rule === undefined ? '' : ` (rule ${decision.rule})`;
    return { verdict: 'deny', decision, message: `denied${rule}: ${decision.reason}` };
  }

  /**
   * Whether the session's identity holds under `target` when that is known without verifying
   * again (closed: false; verified under this spec.identity and its review not due within
   * `aheadMs`, or within the grace after a review the apiserver did not answer: true); undefined
   * when a re-check is due. OIDC sessions have no review to come due:
   * they never read the clock here.
   */
  #identityKnown(target: CompiledTarget, aheadMs = 0): boolean | undefined {
    if (this.closed.aborted) return false;
    if (identityKey(target) !== this.#verifiedFor) return undefined;
    if (this.#reviewDueAt === undefined) return true;
    const now = Date.now();
    if (now + aheadMs < this.#reviewDueAt) return true;
    // The apiserver did not answer the review due: its last answer holds until the grace ends.
    return this.#outage !== undefined && now < this.#outage.graceEnd ? true : undefined;
  }

  /**
   * The policy in force for the next command, or the recorded denial when there is none. Answers
   * without a promise when nothing has to wait (the identity holds as verified): the statement
   * path's common case, where each promise and microtask turn is measurable.
   */
  #inForce(text: string, place: CommandPlace): CompiledTarget | Promise<CompiledTarget | Authorization> {
    if (this.closed.aborted) return this.#deny(sidecarDenial('SessionClosed', `the session is closed: ${errorMessage(this.closed.reason)}`), text, place);
    const available = this.#enforcer.available(this.#targetConfig);
    if (!available.ok) return this.#deny(sidecarDenial('Unavailable', available.message), text, place);
    const known = this.#identityKnown(available.target);
    if (known === true) {
      // During the grace the command runs on the last answer, and the apiserver is asked again behind it.
      if (this.#outage !== undefined) void this.identityHolds(available.target);
      return this.#ready(available.target);
    }
    return this.#inForceAfterRecheck(text, place, available.target);
  }

  async #inForceAfterRecheck(text: string, place: CommandPlace, target: CompiledTarget): Promise<CompiledTarget | Authorization> {
    if (!(await this.identityHolds(target))) return this.#deny(sidecarDenial('SessionClosed', `the session is closed: ${errorMessage(this.closed.reason)}`), text, place);
    return this.#ready(target);
  }

  /** The policy in force, once the session may run a command under it; throws while recording is impossible. */
  #ready(target: CompiledTarget): CompiledTarget {
    this.#last = target;
    const spool = this.#enforcer.deps.spool.health();
    if (!spool.ok) throw new Error(`${spool.message}; recording is mandatory, so the command is refused`);
    return target;
  }

  async authorize(command: Command, hooks: AuthorizeOptions = {}): Promise<Authorization> {
    const text = hooks.commandText ?? commandText(command);
    const place = placeOf(hooks);
    const inForce = this.#inForce(text, place);
    const target = inForce instanceof Promise ? await inForce : inForce;
    if ('verdict' in target) return target;
    const decision: EnforcementDecision = target.compiled.evaluate({ identity: this.identity, purpose: this.purpose, command });
    if (decision.decision === 'deny') return this.#deny(decision, text, place);
    this.#enforcer.deps.metrics.decisionCell(this.target, decision.decision, decision.rule ?? '').inc();
    if (decision.decision === 'allow') return this.#allow({ decision, text, place });
    if (hooks.unapprovable !== undefined) return this.#deny(sidecarDenial('ApprovalUnavailable', `rule ${decision.rule ?? ''} requires approval, but ${hooks.unapprovable}`, decision.rule), text, place);
    return this.#approval(decision, command, text, hooks, place);
  }

  #allow(run: Running): Authorization {
    let done = false;
    return {
      verdict: 'allow',
      decision: run.decision,
      ...opt('approvalRequest', run.approval?.metadata.name),
      // #complete is async: what it throws still arrives as a rejection.
      complete: (outcome: CommandOutcome): Promise<void> => {
        if (done) return Promise.resolve();
        done = true;
        return this.#complete(run, outcome);
      },
    };
  }

  #boundedResult(outcome: CommandOutcome, limits: { maxBytes: number }): CommandOutcome['result'] {
    const result = outcome.result;
    if (result?.sample === undefined) return result;
    const sample = truncate(result.sample, limits.maxBytes);
    if (!sample.truncated && sample.text === result.sample) return result;
    return { ...result, sample: sample.text, ...(sample.truncated ? { truncated: true } : {}) };
  }

  async #complete(run: Running, outcome: CommandOutcome): Promise<void> {
    const d = this.#enforcer.deps;
    // One look at the policy in force for the sample's bound and the record's durability (nothing
    // between them waits, so it is the policy in force when the record is appended).
    const available = this.#enforcer.available(this.#targetConfig);
    const result = this.#boundedResult(outcome, this.#limitsOf(available));
    d.metrics.countMasked(this.target, outcome.masked);
    // Members assigned only when present (an undefined member is not the same JSON as an absent one).
    const command = this.#command(run.text);
    const fields: Partial<SessionEvent> = commandFields(command);
    if (run.place.channel !== undefined) fields.channel = run.place.channel;
    fields.decision = 'allow';
    fields.reason = run.decision.reason;
    if (run.decision.rule !== undefined) fields.rule = run.decision.rule;
    if (run.approval !== undefined) fields.approvalRequest = run.approval.metadata.name;
    if (result !== undefined) fields.result = result;
    fields.masked = outcome.masked;
    fields.durationMs = Math.round(outcome.durationMs);
    // Who approved and why, signed into the record: it outlives the ApprovalRequest (retention).
    if (run.approval !== undefined) fields.approval = approvalEvidence(run.approval, run.decision.approval, (t) => this.#masked(t, undefined));
    await this.#recordIn(available, 'command', fields);
    // The operator writes the ApprovalRequest's status.execution from this record.
    if (run.approval !== undefined) await this.#record('approval.consumed', fields);
  }

  async #approval(decision: EnforcementDecision, command: Command, text: string, hooks: AuthorizeOptions, place: CommandPlace): Promise<Authorization> {
    const d = this.#enforcer.deps;
    const plan = decision.approval ?? { approverGroups: [], minApprovals: 1, ttlSeconds: 900 };
    const started = performance.now();
    const memo = this.#command(text);
    const recorded = { ...commandFields(memo), ...place };
    const commandSha256 = memo.sha256;
    let outcome: ApprovalOutcome;
    try {
      outcome = await d.approvals.resolve({
        policy: this.policyName, rule: decision.rule ?? '', identity: this.identity, purpose: this.purpose, target: this.target, protocol: command.protocol,
        commandText: text, commandSha256, sessionId: this.id, plan,
      }, {
        waitMs: d.config.approvalWaitMs,
        signal: AbortSignal.any([this.closed, ...(hooks.signal === undefined ? [] : [hooks.signal])]),
        onCreated: async (request) => {
          await this.#record('approval.requested', { ...recorded, decision: 'requireApproval', ...opt('rule', decision.rule), reason: decision.reason, approvalRequest: request.metadata.name });
        },
        onHeld: (request) => hooks.onApprovalPending?.(request.metadata.name, describeApproval(request)),
      });
    } catch (err) {
      d.metrics.approvalWait.observe({ target: this.target, outcome: 'error' }, (performance.now() - started) / 1000);
      if (err instanceof Error && err.name === 'SpoolError') throw err;
      return this.#deny(sidecarDenial('ApprovalUnavailable', `approval could not be obtained: ${errorMessage(err)}`, decision.rule), text, place);
    }
    d.metrics.approvalWait.observe({ target: this.target, outcome: outcome.kind }, (performance.now() - started) / 1000);
    return this.#approvalAnswer(outcome, decision, command, text, recorded, place);
  }

  async #approvalAnswer(
    outcome: ApprovalOutcome, decision: EnforcementDecision, asked: Command, text: string, command: Pick<SessionEvent, 'command' | 'commandSha256' | 'commandTruncated' | 'channel'>, place: CommandPlace,
  ): Promise<Authorization> {
    const name = outcome.request.metadata.name;
    if (outcome.kind === 'approved') {
      const changed = await this.#stillApprovable(decision, asked, text, outcome.request, place);
      if (changed !== undefined) return changed;
      return this.#allow({ decision: { ...decision, decision: 'allow', reason: `approved: ApprovalRequest ${name}` }, text, place, approval: outcome.request });
    }
    if (outcome.kind === 'pending') {
      await this.#record('command', { ...command, decision: 'requireApproval', ...opt('rule', decision.rule), reason: outcome.message, approvalRequest: name });
      return { verdict: 'pending', approvalRequest: name, message: outcome.message };
    }
    const code = outcome.kind === 'denied' ? 'ApprovalDenied' : 'ApprovalExpired';
    return this.#deny(sidecarDenial(code, outcome.message, decision.rule), text, { ...place, approvalRequest: name });
  }

  /**
   * An approval answers the policy in force when it was asked for; the wait can last minutes (an
   * approval given earlier is found at once), and the policy may have changed since. The command
   * runs only if the policy in force now still lets it: allowed, or held by the same rule with a
   * plan the approval answers (core/approvals/plan.ts: the plan recorded in the request covers it,
   * and the request's counted reviews satisfy it). Otherwise the denial (undefined: it may run).
   */
  async #stillApprovable(asked: EnforcementDecision, command: Command, text: string, request: ApprovalRequest, place: CommandPlace): Promise<Authorization | undefined> {
    const inForce = this.#inForce(text, place);
    const target = inForce instanceof Promise ? await inForce : inForce;
    if ('verdict' in target) return target;
    const now: EnforcementDecision = target.compiled.evaluate({ identity: this.identity, purpose: this.purpose, command });
    if (now.decision === 'allow') return undefined;
    const extra = { ...place, approvalRequest: request.metadata.name };
    if (now.decision === 'deny') return this.#deny({ ...now, reason: `the policy changed while approval was awaited, and now denies it: ${now.reason}` }, text, extra);
    const shortfall = now.rule !== asked.rule || now.approval === undefined ? 'another rule' : approvalShortfall(request, now.approval);
    if (shortfall === undefined) return undefined;
    return this.#deny(sidecarDenial('ApprovalRequired', `the policy changed while approval was awaited: rule ${now.rule ?? ''} now holds the command for another approval than the one given (rule ${asked.rule ?? ''}: ${shortfall}); run it again to ask for approval under the rule in force`, now.rule), text, extra);
  }

  /** Interactive targets (SSH channels): appends masked, timed frames as a 'stream' record. */
  recordStream(frames: StreamFrame[], extra: Pick<SessionEvent, 'channel' | 'commandSha256'> = {}): Promise<SpoolRecord> {
    return this.#record('stream', { frames, ...extra });
  }

  newMaskSession(): MaskSession {
    const available = this.#enforcer.available(this.#targetConfig);
    const target = available.ok ? available.target : this.#last;
    if (target === undefined) throw new Error('no masking plan is available (the AccessPolicy is not in force)');
    return target.masker.newSession();
  }

  sensitiveColumns(): SensitiveColumnsConfig | undefined {
    const available = this.#enforcer.available(this.#targetConfig);
    const target = available.ok ? available.target : this.#last;
    if (target === undefined) throw new Error('the AccessPolicy is not in force');
    return target.policy.spec.sensitiveColumns;
  }

  policyMark(): object | undefined {
    const available = this.#enforcer.available(this.#targetConfig);
    // Each policy version compiles to its own CompiledTarget: the object is the mark.
    return available.ok ? available.target : undefined;
  }

  sshAllowsShell(): boolean {
    const available = this.#enforcer.available(this.#targetConfig);
    if (!available.ok) return false;
    const d = available.target.compiled.evaluate({ identity: this.identity, purpose: this.purpose, command: { protocol: 'ssh', ssh: { kind: 'shell' } } });
    return d.decision === 'allow';
  }

  sshResolutionMatters(request: SshRequest): boolean {
    const available = this.#enforcer.available(this.#targetConfig);
    // No policy in force: the request is refused anyway; resolving is still the safe answer.
    if (!available.ok) return true;
    const access = available.target.compiled.checkAccess(this.identity, this.purpose) === undefined;
    return available.target.compiled.resolutionMatters(request, { purpose: this.purpose, access });
  }

  recordingLimits(): { maxRows: number; maxBytes: number } {
    return this.#limitsOf(this.#enforcer.available(this.#targetConfig));
  }

  #limitsOf(available: Available): { maxRows: number; maxBytes: number } {
    return (available.ok ? available.target : this.#last)?.limits ?? DEFAULT_RECORDING_LIMITS;
  }

  close(reason = 'closed by the client', kind = 'client'): Promise<void> {
    this.#closing ??= this.#doClose(reason, kind);
    return this.#closing;
  }

  async #doClose(reason: string, kind: string): Promise<void> {
    clearTimeout(this.#expiryTimer);
    this.#endOutage();
    this.#credential = undefined;
    this.#lastCommand = undefined;
    this.#closed.abort(new Error(reason));
    this.#enforcer.forget(this, kind);
    this.#enforcer.deps.logger.info({ sessionId: this.id, target: this.target, subject: this.identity.subject, reason }, 'session closed');
    try {
      await this.#record('session.end', { reason });
    } catch (err) {
      this.#enforcer.deps.logger.error({ err: errorMessage(err), sessionId: this.id }, 'could not record session.end');
    }
  }
}
