// Anchoring: every interval, each policy whose stored state changed gets ONE status merge patch
// with its session counters and the store log's newest checkpointed head (status.sessions, status.chain). A busy policy
// costs one apiserver write per interval however many records arrive, and altering the store
// afterwards also requires altering the AccessPolicy status, which needs different privileges
// (the status subresource) than the store's volume.
//
// status.chain is owned state: whoever holds `accesspolicies/status` can overwrite it, so every
// interval it is compared with what was written last (anchor-drift.ts), and a policy whose anchor
// moved is anchored again at once with a Warning Event (AnchorOverwritten), idle or not. After a
// start, an anchor that is not a position of the stored log, or that another field manager than
// the operator's wrote last, is anchored over with AnchorMismatch. A new head is never written over a mismatched one without that Warning.
import type { AccessPolicy } from '../../../crds/types.ts';
import { kubeTime } from '../../../core/duration.ts';
import type { EventRecorder } from '../events.ts';
import { isNotFound, OPERATOR_FIELD_MANAGER, paths, type KubeApi } from '../kube/client.ts';
import type { Informer } from '../../../core/kube/informer.ts';
import type { Metrics } from '../metrics.ts';
import type { AnchoredHead, PolicyHead, SessionStore } from '../store/types.ts';
import { policyRef } from './access-policy.ts';
import { chainWriter, foreignWriter, mismatched, needsStoredLink, overwritten, sameChain, storedLinkHash, type Drift } from './anchor-drift.ts';

export interface AnchorDeps {
  api: KubeApi;
  store: SessionStore;
  policies: Informer<AccessPolicy>;
  metrics: Metrics;
  /** Where AnchorOverwritten and AnchorMismatch Warnings go (always logged as well). */
  events?: Pick<EventRecorder, 'emit'>;
  log: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  intervalMs: number;
  concurrency?: number;
  now?: () => number;
}

/** The position anchoring writes for a policy head (status.chain's head and records). */
export function anchoredAt(h: PolicyHead): AnchoredHead {
  // The root too: a head pins its link (and the links before it through `prev`), not the tree an
  // export's inclusion proofs are checked in; the root does (review 36).
  return h.checkpoint === undefined ? { head: h.head, records: h.records } : { head: h.checkpoint.head, records: h.checkpoint.size, root: h.checkpoint.root };
}

/**
 * The status fields anchoring owns for one policy. status.chain names the store log's newest
 * checkpoint (format 2): `records` its size and `head` the link hash at that size, the last leaf of
 * the tree whose root the store checkpoint signs (the read API serves the note; a verifier ties the
 * two with an inclusion proof). A format 1 store chain anchors its newest link, as before.
 */
export function anchorPatch(h: PolicyHead, now: number): { status: Record<string, unknown> } {
  const at = anchoredAt(h);
  return {
    status: {
      sessions: { total: h.counters.total, denied: h.counters.denied, approvalsRequested: h.counters.approvalsRequested, ...(h.counters.lastSessionTime === undefined ? {} : { lastSessionTime: h.counters.lastSessionTime }) },
      chain: { ...at, anchoredAt: kubeTime(now) },
    },
  };
}

/** What was written for a policy: the store version and the anchored position. */
interface Written { version: number; chain: AnchoredHead }

interface Due { h: PolicyHead; policy: AccessPolicy; written: Written | undefined }

/** ok: write if the store moved; lag: the informer has not seen the last write yet; drift: write with the Warning. */
type Check = { kind: 'ok' } | { kind: 'lag' } | { kind: 'drift'; drift: Drift };

export class Anchorer {
  readonly #d: AnchorDeps;
  /** Policy key → what was last written. */
  readonly #written = new Map<string, Written>();
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

  /** Policies whose store moved, seen for the first time, or whose status.chain is not what was written. */
  #due(): Due[] {
    return this.#d.store.policyHeads().flatMap((h) => {
      const policy = h.records > 0 ? this.#d.policies.get(h.namespace, h.policy) : undefined;
      if (policy === undefined) return [];
      const written = this.#written.get(`${h.namespace}/${h.policy}`);
      const moved = written === undefined || written.version !== h.version || !sameChain(policy.status?.chain, written.chain);
      return moved ? [{ h, policy, written }] : [];
    });
  }

  async #flushAll(): Promise<void> {
    const due = this.#due();
    const width = this.#d.concurrency ?? 4;
    for (let i = 0; i < due.length; i += width) await Promise.all(due.slice(i, i + width).map((d) => this.#anchor(d)));
  }

  async #check(d: Due): Promise<Check> {
    const { h, policy, written } = d;
    const desired = anchoredAt(h);
    const cached = policy.status?.chain;
    if (written === undefined) {
      const stored = needsStoredLink(cached, desired) ? await storedLinkHash(this.#d.store, h.namespace, h.policy, cached.records) : undefined;
      // Who wrote it counts too: a real position set by someone else is how a rollback would look.
      const drift = mismatched(cached, desired, stored, cached === undefined ? undefined : foreignWriter(policy.metadata, OPERATOR_FIELD_MANAGER));
      return drift === undefined ? { kind: 'ok' } : { kind: 'drift', drift };
    }
    if (sameChain(cached, written.chain)) return { kind: 'ok' };
    // The cache may not have seen the last write yet: the apiserver's copy decides.
    const fresh = await this.#d.api.get<AccessPolicy>(paths.accessPolicy(h.namespace, h.policy));
    const drift = overwritten(fresh.status?.chain, written.chain, desired, chainWriter(fresh.metadata));
    if (drift !== undefined) return { kind: 'drift', drift };
    return written.version === h.version ? { kind: 'lag' } : { kind: 'ok' };
  }

  async #anchor(d: Due): Promise<void> {
    const { h } = d;
    const key = `${h.namespace}/${h.policy}`;
    try {
      const check = await this.#check(d);
      if (check.kind === 'lag') return;
      await this.#d.api.mergePatch(`${paths.accessPolicy(h.namespace, h.policy)}/status`, anchorPatch(h, (this.#d.now ?? Date.now)()), { fieldManager: OPERATOR_FIELD_MANAGER });
      this.#written.set(key, { version: h.version, chain: anchoredAt(h) });
      this.#d.metrics.anchors.inc({ result: 'ok' });
      if (check.kind === 'drift') this.#warn(d, check.drift);
    } catch (err) {
      this.#d.metrics.anchors.inc({ result: isNotFound(err) ? 'not-found' : 'error' });
      // Left dirty: the next interval retries (the interval is the backoff).
      if (!isNotFound(err)) this.#d.log.warn({ policy: key, err: err instanceof Error ? err.message : String(err) }, 'could not anchor the chain head in AccessPolicy status');
    }
  }

  #warn(d: Due, drift: Drift): void {
    const { namespace, policy } = d.h;
    this.#d.metrics.anchorMismatches.inc({ namespace, policy, reason: drift.reason });
    this.#d.log.warn({ policy: `${namespace}/${policy}`, reason: drift.reason }, drift.message);
    this.#d.events?.emit(policyRef(d.policy), 'Warning', drift.reason, drift.message);
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.flush();
  }
}
