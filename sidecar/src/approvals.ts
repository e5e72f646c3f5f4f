// Just-in-time approval. A command the policy marks requireApproval is bound, by the SHA-256 of its
// exact text, to an ApprovalRequest (created with `spec.reviews: []`); the sidecar then watches
// that one object (no polling) until the operator decides it or the wait ends. An Approved
// request is claimed by patching its status Approved → Consumed guarded by resourceVersion, so it
// runs exactly once; a retry of the same command by the same subject (same policy, rule, purpose,
// target and pod) finds the request again by label and consumes it, while it still answers the
// rule in force (core/approvals/plan.ts): the plan recorded in spec.approval covers the rule's plan
// now, its counted reviews satisfy it, and its time to be used has not passed. Otherwise the command
// is held on a new request.
import { createHash, randomUUID } from 'node:crypto';
import { API_VERSION, apiPath } from '../../crds/api.ts';
import type { ApprovalRequest } from '../../crds/types.ts';
import { commandPreview } from '../../core/approvals/command.ts';
import { approvalShortfall, claimTimeShortfall, lifetimeShortfall, planField, planShortfall, recordedPlan } from '../../core/approvals/plan.ts';
import type { ApprovalPlan, Identity } from './core-types.ts';
import { isConflict, isNotFound, kubeStatusError, type KubeClient, type WatchEvent } from './kube/client.ts';
import { errorMessage, type Logger } from './log.ts';
import { opt } from './util.ts';

export interface ApprovalBinding {
  policy: string;
  rule: string;
  identity: Identity;
  purpose: string;
  target: string;
  protocol: 'http' | 'postgres' | 'kubernetes' | 'ssh';
  /** The exact command (SQL text; HTTP method, path, query and body). Shown to reviewers unmasked. */
  commandText: string;
  commandSha256: string;
  sessionId: string;
  plan: ApprovalPlan;
}

export type ApprovalOutcome =
  | { kind: 'approved'; request: ApprovalRequest }
  | { kind: 'denied' | 'expired' | 'pending'; request: ApprovalRequest; message: string };

export interface ResolveOptions {
  waitMs: number;
  signal?: AbortSignal;
  /** A new ApprovalRequest was created (record it durably before holding). */
  onCreated?(request: ApprovalRequest): Promise<void>;
  /** The command is now held on this request. */
  onHeld?(request: ApprovalRequest): void;
}

const LABEL_COMMAND = 'guarita.io/command-sha256';
const LABEL_REQUESTER = 'guarita.io/requester';
const MAX_TEXT = 65536;

type Phase = 'Pending' | 'Approved' | 'Denied' | 'Expired' | 'Consumed';

const phaseOf = (r: ApprovalRequest): Phase => r.status?.phase ?? 'Pending';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Everything #matches compares (the pod is this sidecar's): one key per approvable command. */
function bindingKey(b: ApprovalBinding): string {
  return JSON.stringify([b.commandSha256, b.policy, b.rule, b.identity.kind, b.identity.subject, b.purpose, b.target]);
}

export function requesterLabel(identity: Identity): string {
  return sha256(`${identity.kind}\u0000${identity.subject}`).slice(0, 40);
}

const preview = commandPreview;

const sortedClaims = (claims: Record<string, string> | undefined): string => JSON.stringify(Object.entries(claims ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/**
 * The request names this session's identity exactly as the sidecar records it: subject and kind,
 * and the issuer and claims the webhook and the operator map to Kubernetes usernames for the
 * four-eyes check. A request the agent created itself with another person's claims would let the
 * agent's own human approve it as "someone else"; it is never consumed.
 */
function sameRequester(r: ApprovalRequest['spec']['requester'], id: Identity): boolean {
  return r.username === id.subject && r.kind === id.kind && (r.issuer ?? '') === (id.issuer ?? '') && sortedClaims(r.claims) === sortedClaims(id.claims)
    && JSON.stringify(r.groups ?? []) === JSON.stringify(id.groups.slice(0, 64));
}

/**
 * Why the request cannot answer the plan in force for any phase (undefined: it can): it lives
 * longer than the rule's ttl now (one the agent created with a far expiresAt would keep an approval
 * usable long after reviewers meant), or it records a plan the rule's now is not covered by.
 */
function planProblem(r: ApprovalRequest, plan: ApprovalPlan): string | undefined {
  const given = recordedPlan(r);
  return lifetimeShortfall(r, plan.ttlSeconds) ?? (given === undefined ? undefined : planShortfall(given, plan));
}

/** Why an Approved request cannot be claimed now under `plan` (undefined: it can). */
function claimProblem(r: ApprovalRequest, plan: ApprovalPlan): string | undefined {
  return claimTimeShortfall(r, Date.now()) ?? approvalShortfall(r, plan);
}

/** The pod is this sidecar's: by name, and by uid when both sides have one (a pod re-created under the same name is another pod). */
function samePod(ref: ApprovalRequest['spec']['podRef'], pod: { name: string; uid?: string }): boolean {
  return ref.name === pod.name && (ref.uid === undefined || pod.uid === undefined || ref.uid === pod.uid);
}

function lastReviewReason(r: ApprovalRequest, decision: 'Denied'): string {
  const review = [...(r.status?.reviews ?? [])].reverse().find((v) => v.decision === decision);
  return review === undefined ? '' : ` by ${review.reviewer}: ${review.reason}`;
}

/** The operator's status.message of an Expired request, as a suffix (none when absent). */
function expiryReason(r: ApprovalRequest): string {
  const message = r.status?.message;
  return typeof message === 'string' && message !== '' ? `: ${message}` : '';
}

export function describe(r: ApprovalRequest, phase: Phase = phaseOf(r)): string {
  const name = r.metadata.name;
  switch (phase) {
    case 'Denied': return `ApprovalRequest ${name} was denied${lastReviewReason(r, 'Denied')}`;
    // The operator's message says why (e.g. the per-requester cap: not put before approvers at all).
    case 'Expired': return `ApprovalRequest ${name} expired without enough approvals${expiryReason(r)}`;
    case 'Consumed': return `ApprovalRequest ${name} was already used`;
    case 'Approved': return `ApprovalRequest ${name} is approved`;
    default: return `the command is held for approval: ApprovalRequest ${name} awaits ${r.spec.rule} approvers (kubectl get approvalrequest ${name} -n ${r.metadata.namespace ?? ''}); retry the same command once it is approved`;
  }
}

export class Approvals {
  readonly #kube: KubeClient;
  readonly #namespace: string;
  readonly #pod: { name: string; uid?: string };
  readonly #logger: Logger;
  /** Per-binding tails of the #exclusive chains. */
  readonly #locks = new Map<string, Promise<void>>();

  constructor(opts: { kube: KubeClient; namespace: string; podName: string; podUid?: string; logger: Logger }) {
    this.#kube = opts.kube;
    this.#namespace = opts.namespace;
    this.#pod = { name: opts.podName, ...opt('uid', opts.podUid) };
    this.#logger = opts.logger;
  }

  #collection(): string {
    return apiPath('approvalrequests', this.#namespace);
  }

  /** Finds the request for this command or creates one, holds up to `waitMs`, and claims an approval. */
  async resolve(binding: ApprovalBinding, opts: ResolveOptions): Promise<ApprovalOutcome> {
    if (binding.commandText.length > MAX_TEXT) {
      throw new Error(`the command is longer than ${MAX_TEXT} characters and cannot be shown to approvers; split it`);
    }
    const deadline = Date.now() + opts.waitMs;
    for (let attempt = 0; attempt < 5; attempt++) {
      const outcome = await this.#attempt(binding, opts, deadline, attempt);
      if (outcome !== 'retry') return outcome;
    }
    throw new Error('the ApprovalRequest kept changing under the sidecar (claimed elsewhere?); retry the command');
  }

  async #attempt(binding: ApprovalBinding, opts: ResolveOptions, deadline: number, attempt: number): Promise<ApprovalOutcome | 'retry'> {
    const key = bindingKey(binding);
    // Find, claim and create run one at a time per binding (issue 18, item 14): of concurrent
    // retries of an approved command one claims it, and every other one then finds, or creates
    // once, the same new Pending request and is held on it like a new command. Holding is not
    // serialized. The request name is unique per call, so two creations can never collide.
    const step = await this.#exclusive(key, async (): Promise<{ outcome: ApprovalOutcome | 'retry' } | { request: ApprovalRequest; created: boolean }> => {
      const found = await this.find(binding);
      const settled = found === undefined ? undefined : await this.#settle(found, binding, false);
      if (settled !== undefined) return { outcome: settled };
      if (found !== undefined && phaseOf(found) === 'Pending') return { request: found, created: false };
      return { request: await this.#create(binding, attempt), created: true };
    });
    if ('outcome' in step) return step.outcome;
    if (step.created) await opts.onCreated?.(step.request);
    opts.onHeld?.(step.request);
    const latest = await this.#hold(step.request, deadline, opts.signal);
    if (phaseOf(latest) === 'Pending') return { kind: 'pending', request: latest, message: describe(latest) };
    return (await this.#exclusive(key, () => this.#settle(latest, binding, true))) ?? 'retry';
  }

  /** Runs `fn` after every earlier call with the same key has finished (an in-process mutex). */
  async #exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = previous.then(() => new Promise<void>((resolve) => { release = resolve; }));
    this.#locks.set(key, mine);
    try {
      await previous;
      return await fn();
    } finally {
      release();
      if (this.#locks.get(key) === mine) this.#locks.delete(key);
    }
  }

  /**
   * Turns a decided request into an outcome; undefined when a new request is needed (or it is
   * still pending). A request decided while this command was held is its answer; one found on a
   * retry answers only if it still stands: a denial until its expiresAt, never an expiry.
   */
  async #settle(request: ApprovalRequest, binding: ApprovalBinding, heldOnIt: boolean): Promise<ApprovalOutcome | 'retry' | undefined> {
    const phase = phaseOf(request);
    // An approval the rule in force no longer accepts is left alone: the command is held on a new request.
    if (phase === 'Approved') return this.#unclaimable(request, binding) === undefined ? ((await this.#claim(request)) ?? 'retry') : 'retry';
    const stands = heldOnIt || (phase === 'Denied' && !this.#pastExpiry(request));
    if (phase === 'Denied' && stands) return { kind: 'denied', request, message: describe(request) };
    if (phase === 'Expired' && stands) return { kind: 'expired', request, message: describe(request) };
    return undefined;
  }

  #pastExpiry(request: ApprovalRequest): boolean {
    return Date.parse(request.spec.expiresAt) <= Date.now();
  }

  #matches(r: ApprovalRequest, b: ApprovalBinding): boolean {
    const s = r.spec;
    // The text and preview reviewers read must be the command's own, not only its hash: the agent's
    // service account may create ApprovalRequests (the sidecar shares it), so a request showing a
    // harmless text under the hash of another command would otherwise approve the unseen one.
    return s.command.sha256 === b.commandSha256 && s.command.text === b.commandText && s.command.preview === preview(b.commandText) && s.policyRef.name === b.policy && s.rule === b.rule
      && sameRequester(s.requester, b.identity) && s.purpose === b.purpose && s.target.name === b.target && samePod(s.podRef, this.#pod);
  }

  /**
   * Why a request of this binding cannot be used under the plan in force (undefined: it can). Any
   * phase: its lifetime and recorded plan. Approved: also its reviews and its time to be used,
   * checked here rather than left to the operator, which may be down or not have seen the change.
   */
  #unclaimable(r: ApprovalRequest, b: ApprovalBinding): string | undefined {
    const approved = phaseOf(r) === 'Approved';
    const problem = planProblem(r, b.plan) ?? (approved ? claimProblem(r, b.plan) : undefined);
    if (problem !== undefined && approved) this.#logger.info({ approvalRequest: r.metadata.name, rule: b.rule, problem }, 'approved ApprovalRequest does not answer the rule in force; the command is held on a new request');
    return problem;
  }

  /** The most useful existing request for this binding: Approved, then Pending, then a standing denial. */
  async find(binding: ApprovalBinding): Promise<ApprovalRequest | undefined> {
    const selector = `${LABEL_COMMAND}=${binding.commandSha256.slice(0, 63)},${LABEL_REQUESTER}=${requesterLabel(binding.identity)}`;
    const list = await this.#kube.request<{ items?: ApprovalRequest[] }>(`${this.#collection()}?labelSelector=${encodeURIComponent(selector)}`);
    const rank: Record<Phase, number> = { Approved: 0, Pending: 1, Denied: 2, Expired: 3, Consumed: 4 };
    const candidates = (list.items ?? []).filter((r) => this.#matches(r, binding) && phaseOf(r) !== 'Consumed' && this.#unclaimable(r, binding) === undefined)
      .sort((a, b) => rank[phaseOf(a)] - rank[phaseOf(b)] || (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''));
    return candidates[0];
  }

  #nameFor(binding: ApprovalBinding, attempt: number): string {
    const policy = binding.policy.slice(0, 40).replace(/[-.]+$/, '');
    return `${policy}-${binding.commandSha256.slice(0, 12)}-${sha256(`${binding.sessionId}/${binding.commandSha256}/${attempt}/${Date.now()}/${randomUUID()}`).slice(0, 8)}`;
  }

  async #create(binding: ApprovalBinding, attempt: number): Promise<ApprovalRequest> {
    const body: ApprovalRequest = {
      apiVersion: API_VERSION,
      kind: 'ApprovalRequest',
      metadata: {
        name: this.#nameFor(binding, attempt),
        namespace: this.#namespace,
        labels: { [LABEL_COMMAND]: binding.commandSha256.slice(0, 63), [LABEL_REQUESTER]: requesterLabel(binding.identity), 'guarita.io/policy': binding.policy.slice(0, 63).replace(/[-.]+$/, '') },
      },
      spec: {
        policyRef: { name: binding.policy },
        rule: binding.rule,
        // issuer and claims: what the webhook and the operator map to the reviewer's Kubernetes username (four-eyes).
        requester: { username: binding.identity.subject, groups: binding.identity.groups.slice(0, 64), kind: binding.identity.kind, ...opt('issuer', binding.identity.issuer), ...opt('claims', binding.identity.claims) },
        purpose: binding.purpose,
        target: { name: binding.target, protocol: binding.protocol },
        command: { text: binding.commandText, preview: preview(binding.commandText), sha256: binding.commandSha256 },
        podRef: this.#pod,
        sessionId: binding.sessionId,
        expiresAt: new Date(Date.now() + binding.plan.ttlSeconds * 1000).toISOString(),
        // The plan this request asks approvers to answer: the approval is used only while the rule in force asks no more.
        approval: planField(binding.plan),
        reviews: [],
      },
    };
    const created = await this.#kube.request<ApprovalRequest>(this.#collection(), { method: 'POST', body });
    this.#logger.info({ approvalRequest: created.metadata.name, policy: binding.policy, rule: binding.rule, commandSha256: binding.commandSha256 }, 'ApprovalRequest created');
    return created;
  }

  async #get(name: string): Promise<ApprovalRequest | undefined> {
    try {
      return await this.#kube.request<ApprovalRequest>(`${this.#collection()}/${encodeURIComponent(name)}`);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Watches one request until it leaves Pending, the deadline passes, or `signal` aborts. */
  async #hold(request: ApprovalRequest, deadline: number, signal: AbortSignal | undefined): Promise<ApprovalRequest> {
    let latest = request;
    while (phaseOf(latest) === 'Pending' && Date.now() < deadline && signal?.aborted !== true) {
      const stop = AbortSignal.any([AbortSignal.timeout(Math.max(1, deadline - Date.now())), ...(signal === undefined ? [] : [signal])]);
      try {
        latest = await this.#watchOnce(latest, stop);
      } catch (err) {
        if (stop.aborted) break;
        this.#logger.warn({ err: errorMessage(err), approvalRequest: latest.metadata.name }, 'ApprovalRequest watch interrupted; re-reading');
        latest = (await this.#get(latest.metadata.name)) ?? markDeleted(latest);
      }
    }
    return latest;
  }

  async #watchOnce(request: ApprovalRequest, stop: AbortSignal): Promise<ApprovalRequest> {
    const query = new URLSearchParams({
      watch: '1', fieldSelector: `metadata.name=${request.metadata.name}`, resourceVersion: request.metadata.resourceVersion ?? '', timeoutSeconds: '300', allowWatchBookmarks: 'true',
    });
    let latest = request;
    const done = new AbortController();
    const both = AbortSignal.any([stop, done.signal]);
    try {
      await this.#kube.watch<ApprovalRequest>(`${this.#collection()}?${query.toString()}`, {
        onEvent: (ev: WatchEvent<ApprovalRequest>) => {
          latest = applyEvent(latest, ev);
          if (phaseOf(latest) !== 'Pending') done.abort();
        },
      }, { signal: both, idleTimeoutMs: 330_000 });
    } catch (err) {
      if (!done.signal.aborted) throw err;
    }
    return latest;
  }

  /** Approved → Consumed, guarded by resourceVersion: exactly one caller wins. Undefined on conflict. */
  async #claim(request: ApprovalRequest): Promise<ApprovalOutcome | undefined> {
    const name = request.metadata.name;
    try {
      const claimed = await this.#kube.request<ApprovalRequest>(`${this.#collection()}/${encodeURIComponent(name)}/status`, {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: {
          metadata: { resourceVersion: request.metadata.resourceVersion },
          status: { phase: 'Consumed', consumedAt: new Date().toISOString(), message: `Consumed by pod ${this.#pod.name} (session ${request.spec.sessionId}); running the command` },
        },
      });
      this.#logger.info({ approvalRequest: name }, 'approval consumed');
      return { kind: 'approved', request: claimed };
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return undefined;
      throw err;
    }
  }
}

function applyEvent(latest: ApprovalRequest, ev: WatchEvent<ApprovalRequest>): ApprovalRequest {
  if (ev.type === 'ERROR') throw kubeStatusError((ev.object as { code?: number }).code ?? 500, 'WATCH', 'approvalrequests', { message: 'watch error' });
  if (ev.type === 'DELETED') return markDeleted(latest);
  if (ev.type === 'BOOKMARK') return { ...latest, metadata: { ...latest.metadata, ...opt('resourceVersion', ev.object.metadata.resourceVersion) } };
  return ev.object;
}

/** A request deleted while held counts as denied. */
function markDeleted(r: ApprovalRequest): ApprovalRequest {
  return { ...r, status: { ...r.status, phase: 'Denied', message: 'the ApprovalRequest was deleted', reviews: [] } };
}
