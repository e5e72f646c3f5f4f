// ApprovalRequest reconciler: applies the state machine (approval-state.ts) through the status
// subresource, guarded by resourceVersion so it never overwrites the sidecar's Consumed; wakes at
// expiresAt (a timer per request, so expiry is on time, not at the next resync); deletes finished
// requests after the policy's retention; notifies through Events (the approvers' cue). A new
// request over a cap on Pending requests, per requester or per creating pod (approval-cap.ts),
// expires at once. Phase
// Events are approval transitions for the Event recorder (never shed for routine Events) and carry
// the requester, so a flood of one requester's Events collapses into one (events.ts).
import { API_VERSION } from '../../../crds/definitions.ts';
import type { AccessPolicy, ApprovalRequest, ApprovalRequestStatus } from '../../../crds/types.ts';
import type { EventRecorder, EventType, ObjectRef } from '../events.ts';
import { isConflict, isNotFound, paths, type KubeApi } from '../kube/client.ts';
import type { ChangeType, Informer } from '../../../core/kube/informer.ts';
import type { Metrics } from '../metrics.ts';
import type { SessionRecord } from '../store/types.ts';
import { splitKey } from './access-policy.ts';
import { CreatorLines, creatorKey, DEFAULT_MAX_PENDING_PER_POD, DEFAULT_MAX_PENDING_PER_REQUESTER, RequesterLines, requesterKey, type Ahead } from './approval-cap.ts';
import { decideApproval, findApprovalRule, type ApprovalDecision, type ApprovalOptions, type Phase } from './approval-state.ts';
import type { HandlerResult } from './queue.ts';

export interface ApprovalDeps {
  api: KubeApi;
  approvals: Informer<ApprovalRequest>;
  policies: Informer<AccessPolicy>;
  events: EventRecorder;
  metrics: Metrics;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  options: ApprovalOptions;
  now?: () => number;
}

type Execution = NonNullable<ApprovalRequestStatus['execution']>;

export function approvalRef(r: ApprovalRequest): ObjectRef {
  return {
    apiVersion: API_VERSION, kind: 'ApprovalRequest', name: r.metadata.name, namespace: r.metadata.namespace ?? '',
    ...(r.metadata.uid === undefined ? {} : { uid: r.metadata.uid }), ...(r.metadata.resourceVersion === undefined ? {} : { resourceVersion: r.metadata.resourceVersion }),
  };
}

/**
 * How the approved command ended, as its record says. Unknown when the sidecar never read the
 * upstream's answer (result.outcomeUnknown, any target: the agent left, the upstream closed, the
 * sidecar ended the session): the command may have taken effect, so neither Succeeded nor Failed
 * would be true. Records of older sidecars, without the member, keep their mapping.
 */
export function outcomeOf(res: NonNullable<SessionRecord['result']>): Execution['outcome'] {
  if (res.outcomeUnknown === true) return 'Unknown';
  return res.error === undefined ? 'Succeeded' : 'Failed';
}

/** The execution summary an `approval.consumed` (or the executed `command`) record carries. */
export function executionFrom(r: SessionRecord): Execution {
  const finished = Date.parse(r.time);
  const started = finished - (r.durationMs ?? 0);
  const res = r.result ?? {};
  const outcome = outcomeOf(res);
  return {
    startedAt: new Date(started).toISOString(), finishedAt: r.time,
    outcome,
    // A count beside an unknown outcome would not be one (the sidecar writes none; older or odd records may).
    ...(res.rows === undefined || outcome === 'Unknown' ? {} : { rows: res.rows }), ...(res.bytes === undefined ? {} : { bytes: res.bytes }),
    ...(res.error === undefined ? {} : { error: res.error.slice(0, 4096) }), recordSequence: r.seq,
  };
}

/** The Consumed Event's words for an execution: an Unknown outcome says so, and never carries a row count. */
export function executionSummary(ex: Execution): string {
  const error = ex.error === undefined ? '' : `: ${ex.error}`;
  if (ex.outcome === 'Unknown') return `outcome unknown, it may have taken effect${error}`;
  return `${ex.outcome}${ex.rows === undefined ? '' : `, ${ex.rows} row(s)`}${error}`;
}

const EVENT: Record<Phase, { type: EventType; reason: string }> = {
  Pending: { type: 'Normal', reason: 'ApprovalRequested' },
  Approved: { type: 'Normal', reason: 'Approved' },
  Denied: { type: 'Warning', reason: 'Denied' },
  Expired: { type: 'Warning', reason: 'Expired' },
  Consumed: { type: 'Normal', reason: 'Consumed' },
};

/** The decision lines a request waits in: its requester's, and its creator's when the webhook stamped one. */
function linesOf(req: ApprovalRequest): string[] {
  const creator = creatorKey(req);
  return [`requester:${requesterKey(req)}`, ...(creator === undefined ? [] : [`creator:${creator}`])];
}

export class ApprovalReconciler {
  readonly #d: ApprovalDeps;
  /** Execution summaries from ingested records, until written to status. */
  readonly #executions = new Map<string, Execution>();
  /** Ignored reviews already reported, so each gets one Event. */
  readonly #reported = new Set<string>();
  /** Each requester's Pending and undecided requests, for the cap (approval-cap.ts). */
  readonly #lines = new RequesterLines();
  /** Each creating pod's (or user's) Pending and undecided requests, for the cap per pod. */
  readonly #creators = new CreatorLines();
  /** The last decision in each requester's and each creator's line (see #inLines). */
  readonly #deciding = new Map<string, Promise<void>>();

  constructor(deps: ApprovalDeps) {
    this.#d = deps;
  }

  /** Informer hook: keeps the requesters' lines (the cap); the sidecar's Approved→Consumed is not ours, so it is announced here. */
  onChange(type: ChangeType, obj: ApprovalRequest, old: ApprovalRequest | undefined): void {
    if (type === 'deleted') {
      this.#forget(`${obj.metadata.namespace ?? ''}/${obj.metadata.name}`);
      return;
    }
    // Every request is in its lines before any worker decides one (the controller calls this before queueing).
    this.#observe(obj);
    if (obj.status?.phase === 'Consumed' && old !== undefined && old.status?.phase !== 'Consumed') this.#announceConsumed(obj);
  }

  #announceConsumed(obj: ApprovalRequest): void {
    const ex = obj.status?.execution;
    const summary = ex === undefined ? '' : ` (${executionSummary(ex)})`;
    this.#d.events.emit(approvalRef(obj), 'Normal', 'Consumed', `The sidecar ran the approved command${summary}: ${obj.spec.command.preview}`, { priority: true, by: obj.spec.requester.username });
    this.#d.metrics.approvalTransitions.inc({ phase: 'Consumed' });
  }

  /** Ingest hook: remember execution summaries of consumed approvals. Returns the keys to reconcile. */
  noteRecords(records: readonly SessionRecord[]): string[] {
    const keys: string[] = [];
    for (const r of records) {
      if (r.type !== 'approval.consumed' || r.approvalRequest === undefined) continue;
      const key = `${r.namespace}/${r.approvalRequest}`;
      this.#executions.set(key, executionFrom(r));
      keys.push(key);
    }
    return keys;
  }

  /** Requests that depend on a policy (re-checked when it changes). */
  keysFor(namespace: string, policy: string): string[] {
    return this.#d.approvals.list().filter((r) => r.metadata.namespace === namespace && r.spec.policyRef.name === policy).map((r) => `${namespace}/${r.metadata.name}`);
  }

  async reconcile(key: string): Promise<HandlerResult | undefined> {
    const [ns, name] = splitKey(key);
    const req = this.#d.approvals.get(ns, name);
    if (req === undefined) {
      this.#executions.delete(key);
      this.#forget(key);
      return undefined;
    }
    this.#observe(req);
    // A request not decided yet is decided in its requester's and its creator's lines, one at a time
    // in each: the caps count the decisions before it, which a concurrent worker's write in flight
    // would otherwise not show.
    const decide = (): Promise<HandlerResult | undefined> => this.#decideAndWrite(req);
    return req.status?.phase === undefined ? this.#inLines(linesOf(req), decide) : decide();
  }

  /** `phase` as just written; undefined: as the object says (observe's default). */
  #observe(req: ApprovalRequest, phase?: string): void {
    this.#lines.observe(req, phase);
    this.#creators.observe(req, phase);
  }

  #forget(key: string): void {
    this.#lines.forget(key);
    this.#creators.forget(key);
  }

  async #decideAndWrite(req: ApprovalRequest): Promise<HandlerResult | undefined> {
    const ns = req.metadata.namespace ?? '';
    const now = (this.#d.now ?? Date.now)();
    const policy = this.#d.policies.get(ns, req.spec.policyRef.name);
    const d = decideApproval(req, policy, now, this.#d.options, ...this.#ahead(req));
    this.#reportIgnored(req, d);
    try {
      if (d.delete) return await this.#collect(req);
      await this.#write(req, d, policy);
      await this.#recordExecution(req);
      this.#d.metrics.reconciles.inc({ kind: 'ApprovalRequest', result: d.patch === undefined ? 'unchanged' : 'updated' });
    } catch (err) {
      this.#d.metrics.reconciles.inc({ kind: 'ApprovalRequest', result: isConflict(err) ? 'conflict' : 'error' });
      throw err;
    }
    return d.wakeAt === undefined ? undefined : { requeueAfterMs: Math.max(0, d.wakeAt - now) };
  }

  /**
   * Runs `fn` after every earlier call sharing one of `lines` has finished. Each call waits only on
   * calls queued before it, so two lines never wait on each other in a cycle.
   */
  async #inLines<T>(lines: readonly string[], fn: () => Promise<T>): Promise<T> {
    const previous = Promise.all(lines.map((l) => this.#deciding.get(l) ?? Promise.resolve()));
    const run = previous.then(fn);
    const tail = run.then(() => undefined, () => undefined);
    for (const l of lines) this.#deciding.set(l, tail);
    try {
      return await run;
    } finally {
      for (const l of lines) if (this.#deciding.get(l) === tail) this.#deciding.delete(l);
    }
  }

  /** The requests ahead of a request not decided yet in its requester's and its creator's lines (the caps); none once it has a phase. */
  #ahead(req: ApprovalRequest): [Ahead?, Ahead?] {
    if (req.status?.phase !== undefined) return [];
    const o = this.#d.options;
    return [this.#lines.ahead(req, o.maxPendingPerRequester ?? DEFAULT_MAX_PENDING_PER_REQUESTER), this.#creators.ahead(req, o.maxPendingPerPod ?? DEFAULT_MAX_PENDING_PER_POD)];
  }

  async #write(req: ApprovalRequest, d: ApprovalDecision, policy: AccessPolicy | undefined): Promise<void> {
    if (d.patch === undefined) return;
    const { namespace = '', name } = req.metadata;
    // resourceVersion makes this a compare-and-swap: a concurrent Consumed (the sidecar) wins; we requeue.
    await this.#d.api.mergePatch(`${paths.approvalRequest(namespace, name)}/status`, { metadata: { resourceVersion: req.metadata.resourceVersion }, status: d.patch });
    // Counted at once: the informer shows this write only when its watch event arrives.
    this.#observe(req, d.to);
    if (d.from === d.to) return;
    this.#d.metrics.approvalTransitions.inc({ phase: d.to });
    if (d.overCap === true) this.#d.metrics.approvalsOverCap.inc({ namespace });
    this.#d.log.info({ approvalRequest: `${namespace}/${name}`, from: d.from ?? '(new)', to: d.to, ...(d.overCap === true ? { overCap: true } : {}) }, 'approval request phase changed');
    // A request over the cap is not an approver's business: a routine Event, shed first when the namespace's Events back up.
    const e = d.overCap === true ? { type: 'Warning' as const, reason: 'TooManyPending' } : EVENT[d.to];
    this.#d.events.emit(approvalRef(req), e.type, e.reason, this.#message(req, d, policy), { priority: d.overCap !== true, by: req.spec.requester.username });
  }


  #message(req: ApprovalRequest, d: ApprovalDecision, policy: AccessPolicy | undefined): string {
    const cmd = req.spec.command.preview;
    if (d.to !== 'Pending') return `${d.to}: ${d.patch?.message ?? ''}: ${cmd}`;
    const rule = findApprovalRule(policy, req.spec.rule);
    const groups = rule?.approval?.approverGroups.join(', ') ?? '(no approver group: the rule does not exist)';
    return `${req.spec.requester.username} asks to run "${cmd}" on ${req.spec.target.name} for purpose ${req.spec.purpose}; needs ${d.patch?.required ?? 1} approval(s) from ${groups} before ${req.spec.expiresAt}. `
      + `Approve: kubectl patch approvalrequest ${req.metadata.name} -n ${req.metadata.namespace ?? ''} --type=json -p '[{"op":"add","path":"/spec/reviews/-","value":{"decision":"Approved","reason":"..."}}]'`;
  }

  #reportIgnored(req: ApprovalRequest, d: ApprovalDecision): void {
    for (const i of d.ignored) {
      const id = `${req.metadata.uid ?? req.metadata.name}/${i.reviewer}/${i.why}`;
      if (this.#reported.has(id)) continue;
      if (this.#reported.size >= 10_000) this.#reported.clear();
      this.#reported.add(id);
      this.#d.events.emit(approvalRef(req), 'Warning', 'ReviewIgnored', `Review by ${i.reviewer} not counted: ${i.why}`, { by: i.reviewer });
    }
  }

  async #recordExecution(req: ApprovalRequest): Promise<void> {
    const key = `${req.metadata.namespace ?? ''}/${req.metadata.name}`;
    const execution = this.#executions.get(key);
    if (execution === undefined || req.status?.phase !== 'Consumed') return;
    if (req.status.execution === undefined) {
      await this.#d.api.mergePatch(`${paths.approvalRequest(req.metadata.namespace ?? '', req.metadata.name)}/status`, {
        metadata: { resourceVersion: req.metadata.resourceVersion }, status: { execution },
      });
    }
    this.#executions.delete(key);
  }

  async #collect(req: ApprovalRequest): Promise<undefined> {
    const { namespace = '', name, uid } = req.metadata;
    try {
      await this.#d.api.remove(paths.approvalRequest(namespace, name), { apiVersion: 'v1', kind: 'DeleteOptions', ...(uid === undefined ? {} : { preconditions: { uid } }) });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.#d.log.info({ approvalRequest: `${namespace}/${name}`, phase: req.status?.phase }, 'deleted a finished approval request after its retention');
    this.#d.metrics.reconciles.inc({ kind: 'ApprovalRequest', result: 'collected' });
    return undefined;
  }
}
