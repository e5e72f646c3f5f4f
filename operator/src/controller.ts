// Everything only the leader does: open the store, watch AccessPolicies and ApprovalRequests,
// reconcile them through work queues, anchor chain heads, apply retention. Followers run none
// of it; the ingest and read APIs answer 503 until the store is open here.
import type { AccessPolicy, ApprovalRequest } from '../../crds/types.ts';
import type { OperatorConfig } from './config.ts';
import { durationMs } from '../../core/duration.ts';
import type { EventRecorder, ObjectRef } from './events.ts';
import { paths, type KubeApi } from './kube/client.ts';
import { Informer, keyOf, type ChangeType } from '../../core/kube/informer.ts';
import type { Metrics } from './metrics.ts';
import { AccessPolicyReconciler, policyRef } from './reconcile/access-policy.ts';
import { Anchorer } from './reconcile/anchor.ts';
import { ApprovalReconciler } from './reconcile/approval-request.ts';
import { WorkQueue } from './reconcile/queue.ts';
import { FileStore, type StoreLogger } from './store/file-store.ts';
import { loadKeyFile, loadKeySecret } from './store/key.ts';
import type { AnchoredHead, SessionRecord, SessionStore } from './store/types.ts';
import { retry } from './util.ts';

export interface Logger extends StoreLogger {
  debug(obj: object, msg: string): void;
}

export interface ControllerDeps {
  config: OperatorConfig;
  api: KubeApi;
  events: EventRecorder;
  metrics: Metrics;
  log: Logger;
  /** The store failed (I/O error): the process must restart to recover from disk. */
  onFatal: (err: Error) => void;
}

export class Controller {
  readonly #d: ControllerDeps;
  store: SessionStore | undefined;
  #policies: Informer<AccessPolicy> | undefined;
  #approvals: Informer<ApprovalRequest> | undefined;
  #policyQueue: WorkQueue | undefined;
  #approvalQueue: WorkQueue | undefined;
  #approvalReconciler: ApprovalReconciler | undefined;
  #policyReconciler: AccessPolicyReconciler | undefined;
  #anchorer: Anchorer | undefined;
  #timers: NodeJS.Timeout[] = [];
  #retentionRunning = false;

  constructor(deps: ControllerDeps) {
    this.#d = deps;
  }

  #listPaths(all: string, per: (ns: string) => string): string[] {
    const ns = this.#d.config.watchNamespaces;
    return ns === undefined ? [all] : ns.map(per);
  }

  #queue(kind: string, handler: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>): WorkQueue {
    return new WorkQueue(handler, {
      concurrency: this.#d.config.workers, baseDelayMs: 250, maxDelayMs: 60_000,
      onError: (key, err, retryInMs) => this.#d.log.warn({ kind, key, retryInMs, err: err instanceof Error ? err.message : String(err) }, 'reconcile failed; retrying with backoff'),
      onDepth: (depth) => this.#d.metrics.queueDepth.set({ kind }, depth),
    });
  }

  /** Every served AccessPolicy's status.chain, by namespace/name. */
  async #anchoredHeads(): Promise<Map<string, AnchoredHead>> {
    const out = new Map<string, AnchoredHead>();
    for (const path of this.#listPaths(paths.accessPolicies(), (ns) => paths.accessPolicies(ns))) {
      for (const p of (await this.#d.api.list<AccessPolicy>(path)).items) {
        const chain = p.status?.chain;
        if (chain !== undefined) out.set(`${p.metadata.namespace ?? ''}/${p.metadata.name}`, { head: chain.head, records: chain.records });
      }
    }
    return out;
  }

  async start(): Promise<void> {
    const { config, api, metrics, log } = this.#d;
    const key = await retry('loading the store key', () => (config.storeKeyFile === undefined ? loadKeySecret(api, config.namespace, config.storeKeySecret) : loadKeyFile(config.storeKeyFile)), log);
    // The anchored heads vouch for each policy's log up to them; after them the store accepts only
    // this operator's seals (store-open.ts): the volume's writer cannot write AccessPolicy status.
    const anchored = await retry('reading the anchored heads (AccessPolicy status.chain)', () => this.#anchoredHeads(), log);
    const store = await FileStore.open({
      dir: config.dataDir, key, segmentMaxBytes: config.segmentMaxBytes, segmentMaxAgeMs: config.segmentMaxAgeMs, log,
      anchors: (namespace, policy) => anchored.get(`${namespace}/${policy}`),
      hooks: {
        quarantined: (namespace, policy, bytes) => metrics.storeQuarantinedBytes.inc({ namespace, policy }, bytes),
        committed: (records, seconds) => { metrics.commitFsyncSeconds.observe(seconds); metrics.commitRecords.observe(records); },
        failed: (err) => this.#d.onFatal(err),
      },
    });
    log.info({ dataDir: config.dataDir, storeKey: key.keyId, chains: store.policyHeads().length }, 'session store open');

    const policies = new Informer<AccessPolicy>(api, {
      paths: this.#listPaths(paths.accessPolicies(), (ns) => paths.accessPolicies(ns)), log,
      onChange: (type, obj) => this.#policyChanged(type, obj),
    });
    const approvals = new Informer<ApprovalRequest>(api, {
      paths: this.#listPaths(paths.approvalRequests(), (ns) => paths.approvalRequests(ns)), log,
      onChange: (type, obj, old) => {
        this.#approvalReconciler?.onChange(type, obj, old);
        this.#approvalQueue?.add(keyOf(obj));
      },
    });
    this.#policies = policies;
    this.#approvals = approvals;
    const policyReconciler = new AccessPolicyReconciler({ api, policies, events: this.#d.events, metrics, log });
    this.#policyReconciler = policyReconciler;
    this.#approvalReconciler = new ApprovalReconciler({
      api, approvals, policies, events: this.#d.events, metrics, log,
      options: { approvedGraceMs: config.approvedGraceMs, defaultRetentionMs: config.defaultApprovalRetentionMs, usernameMappings: config.usernameMappings, parseDuration: durationMs, maxPendingPerRequester: config.maxPendingApprovalsPerRequester, maxPendingPerPod: config.maxPendingApprovalsPerPod },
    });
    const approvalReconciler = this.#approvalReconciler;
    this.#policyQueue = this.#queue('AccessPolicy', (k) => policyReconciler.reconcile(k));
    this.#approvalQueue = this.#queue('ApprovalRequest', (k) => approvalReconciler.reconcile(k));
    await Promise.all([policies.start(), approvals.start()]);
    this.#anchorer = new Anchorer({ api, store, policies, metrics, events: this.#d.events, log, intervalMs: config.anchorIntervalMs });
    this.#anchorer.start();
    this.#timers.push(setInterval(() => this.#resync(), config.resyncPeriodMs), setInterval(() => void this.#retention(), config.retentionIntervalMs));
    for (const t of this.#timers) t.unref();
    this.store = store;
    void this.#retention();
  }

  #policyChanged(type: ChangeType, obj: AccessPolicy): void {
    const ns = obj.metadata.namespace ?? '';
    const key = keyOf(obj);
    if (type === 'added') this.#anchorer?.invalidate(ns, obj.metadata.name);
    // A deleted policy is reconciled once more so the reconciler forgets it (its pending retries too).
    if (type === 'deleted') this.#policyQueue?.forget(key);
    this.#queuePolicy(type, obj, key);
    for (const k of this.#approvalReconciler?.keysFor(ns, obj.metadata.name) ?? []) this.#approvalQueue?.add(k);
  }

  /** The generation predicate: status writes (ours, the anchorer's) and metadata-only edits queue nothing. */
  #queuePolicy(type: ChangeType, obj: AccessPolicy, key: string): void {
    const predicate = this.#policyReconciler?.predicate;
    if (predicate === undefined || predicate.admits(type, obj)) {
      this.#policyQueue?.add(key);
      return;
    }
    this.#d.metrics.reconciles.inc({ kind: 'AccessPolicy', result: 'skipped' });
    this.#d.log.debug({ kind: 'AccessPolicy', key, type, generation: obj.metadata.generation, resourceVersion: obj.metadata.resourceVersion }, 'event skipped: generation and owned status as last reconciled');
  }

  #resync(): void {
    this.#resyncPolicies();
    for (const a of this.#approvals?.list() ?? []) this.#approvalQueue?.add(keyOf(a));
  }

  /**
   * Only policies whose generation or owned status moved since their last reconcile (a missed
   * event, a status someone overwrote); controller-runtime's predicate would drop every resync.
   */
  #resyncPolicies(): void {
    const predicate = this.#policyReconciler?.predicate;
    const policies = this.#policies?.list() ?? [];
    for (const p of policies) if (predicate === undefined || predicate.needsReconcile(p)) this.#policyQueue?.add(keyOf(p));
  }

  /** Ingest hook. */
  recordsStored(records: readonly SessionRecord[]): void {
    for (const k of this.#approvalReconciler?.noteRecords(records) ?? []) this.#approvalQueue?.add(k);
  }

  /** Where a chain-integrity Event goes: the AccessPolicy if it exists, else the Pod. */
  eventTarget(namespace: string, policy: string | undefined, pod: string): ObjectRef {
    const p = policy === undefined ? undefined : this.#policies?.get(namespace, policy);
    if (p !== undefined) return policyRef(p);
    return { apiVersion: 'v1', kind: 'Pod', name: pod, namespace };
  }

  anchored(namespace: string, policy: string): { head: string; records: number; anchoredAt: string } | undefined {
    return this.#policies?.get(namespace, policy)?.status?.chain;
  }

  #retentionFor(namespace: string, policy: string): number {
    const d = this.#policies?.get(namespace, policy)?.spec.retention?.sessions;
    return (d === undefined ? undefined : durationMs(d)) ?? this.#d.config.defaultSessionRetentionMs;
  }

  async #retention(): Promise<void> {
    const store = this.store;
    if (store === undefined || this.#retentionRunning) return;
    this.#retentionRunning = true;
    try {
      const outcomes = await store.applyRetention((ns, p) => this.#retentionFor(ns, p), Date.now());
      for (const o of outcomes) this.#d.metrics.retentionSegments.inc({ namespace: o.namespace, policy: o.policy }, o.segmentsRemoved.length);
      if (outcomes.length > 0) await this.#anchorer?.flush();
    } catch (err) {
      this.#d.log.error({ err: err instanceof Error ? err.message : String(err) }, 'retention failed');
    } finally {
      this.#retentionRunning = false;
    }
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#policyQueue?.stop();
    this.#approvalQueue?.stop();
    this.#policies?.stop();
    this.#approvals?.stop();
    await this.#anchorer?.stop();
    await this.store?.close();
    this.store = undefined;
  }
}
