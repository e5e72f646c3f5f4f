// Anchoring: every interval, each policy whose stored state changed gets ONE status merge patch
// with its session counters and the store log's newest checkpointed head (status.sessions, status.chain). A busy policy
// costs one apiserver write per interval however many records arrive, and altering the store
// afterwards also requires altering the AccessPolicy status, which needs different privileges
// (the status subresource) than the store's volume.
import type { AccessPolicy } from '../../../crds/types.ts';
import { kubeTime } from '../../../core/duration.ts';
import { isNotFound, paths, type KubeApi } from '../kube/client.ts';
import type { Informer } from '../../../core/kube/informer.ts';
import type { Metrics } from '../metrics.ts';
import type { PolicyHead, SessionStore } from '../store/types.ts';

export interface AnchorDeps {
  api: KubeApi;
  store: SessionStore;
  policies: Informer<AccessPolicy>;
  metrics: Metrics;
  log: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  intervalMs: number;
  concurrency?: number;
  now?: () => number;
}

/**
 * The status fields anchoring owns for one policy. status.chain names the store log's newest
 * checkpoint (format 2): `records` its size and `head` the link hash at that size, the last leaf of
 * the tree whose root the store checkpoint signs (the read API serves the note; a verifier ties the
 * two with an inclusion proof). A format 1 store chain anchors its newest link, as before.
 */
export function anchorPatch(h: PolicyHead, now: number): { status: Record<string, unknown> } {
  const at = h.checkpoint === undefined ? { head: h.head, records: h.records } : { head: h.checkpoint.head, records: h.checkpoint.size };
  return {
    status: {
      sessions: { total: h.counters.total, denied: h.counters.denied, approvalsRequested: h.counters.approvalsRequested, ...(h.counters.lastSessionTime === undefined ? {} : { lastSessionTime: h.counters.lastSessionTime }) },
      chain: { ...at, anchoredAt: kubeTime(now) },
    },
  };
}

export class Anchorer {
  readonly #d: AnchorDeps;
  /** Policy key → store version last written. */
  readonly #written = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(deps: AnchorDeps) {
    this.#d = deps;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#d.intervalMs);
    this.#timer.unref();
  }

  /** Forget what was written for a policy (its status was replaced, e.g. the policy was recreated). */
  invalidate(namespace: string, policy: string): void {
    this.#written.delete(`${namespace}/${policy}`);
  }

  flush(): Promise<void> {
    this.#running ??= this.#flushAll().finally(() => { this.#running = undefined; });
    return this.#running;
  }

  async #flushAll(): Promise<void> {
    const due = this.#d.store.policyHeads().filter((h) => h.records > 0 && this.#written.get(`${h.namespace}/${h.policy}`) !== h.version && this.#d.policies.get(h.namespace, h.policy) !== undefined);
    const width = this.#d.concurrency ?? 4;
    for (let i = 0; i < due.length; i += width) await Promise.all(due.slice(i, i + width).map((h) => this.#anchor(h)));
  }

  async #anchor(h: PolicyHead): Promise<void> {
    const key = `${h.namespace}/${h.policy}`;
    try {
      await this.#d.api.mergePatch(`${paths.accessPolicy(h.namespace, h.policy)}/status`, anchorPatch(h, (this.#d.now ?? Date.now)()));
      this.#written.set(key, h.version);
      this.#d.metrics.anchors.inc({ result: 'ok' });
    } catch (err) {
      this.#d.metrics.anchors.inc({ result: isNotFound(err) ? 'not-found' : 'error' });
      // Left dirty: the next interval retries (the interval is the backoff).
      if (!isNotFound(err)) this.#d.log.warn({ policy: key, err: err instanceof Error ? err.message : String(err) }, 'could not anchor the chain head in AccessPolicy status');
    }
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.flush();
  }
}
