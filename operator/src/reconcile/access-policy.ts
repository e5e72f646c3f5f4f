// AccessPolicy reconciler: validates and compiles each policy and writes Ready/Invalid conditions
// (with observedGeneration) and ruleCount through the status subresource, with an Event when the
// state changes. Session counters and the chain head are written by the Anchorer (anchor.ts).
// A policy whose generation and owned status are as the last reconcile left them is not validated
// again (generation-predicate.ts): the status writes of both would otherwise re-validate it.
import { API_VERSION } from '../../../crds/definitions.ts';
import type { AccessPolicy } from '../../../crds/types.ts';
import type { EventRecorder, ObjectRef } from '../events.ts';
import { paths, type KubeApi } from '../kube/client.ts';
import type { Informer } from '../../../core/kube/informer.ts';
import type { Metrics } from '../metrics.ts';
import { GenerationPredicate } from './generation-predicate.ts';
import { initPolicyEngine } from '../../../core/policy/index.ts';
import { evaluatePolicy, policyStatus } from './policy-status.ts';
import type { HandlerResult } from './queue.ts';

/**
 * Declared view definitions are SQL the sidecar parses at start: without the parser loaded the
 * compiler cannot check them, and a policy the sidecar will refuse would be reported Ready. The
 * parser is loaded on the first policy that declares views (it costs every operator memory otherwise).
 */
async function evaluateWithParser(obj: AccessPolicy): Promise<ReturnType<typeof evaluatePolicy>> {
  if ((obj.spec?.sensitiveColumns?.views?.length ?? 0) > 0) await initPolicyEngine();
  return evaluatePolicy(obj);
}

export interface AccessPolicyDeps {
  api: KubeApi;
  policies: Informer<AccessPolicy>;
  events: EventRecorder;
  metrics: Metrics;
  /** Debug lines per validation and per skipped reconcile (what the generation predicate saves). */
  log?: { debug(obj: object, msg: string): void };
  now?: () => number;
}

export function policyRef(p: AccessPolicy): ObjectRef {
  return {
    apiVersion: API_VERSION, kind: 'AccessPolicy', name: p.metadata.name, namespace: p.metadata.namespace ?? '',
    ...(p.metadata.uid === undefined ? {} : { uid: p.metadata.uid }), ...(p.metadata.resourceVersion === undefined ? {} : { resourceVersion: p.metadata.resourceVersion }),
  };
}

export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

export class AccessPolicyReconciler {
  readonly #d: AccessPolicyDeps;
  /** Shared with the controller, which filters informer events and resyncs with it. */
  readonly predicate = new GenerationPredicate();

  constructor(deps: AccessPolicyDeps) {
    this.#d = deps;
  }

  /** Queued by an event the filter let through just before the previous reconcile finished. */
  #skip(key: string, obj: AccessPolicy): boolean {
    if (this.predicate.needsReconcile(obj)) return false;
    this.#d.metrics.reconciles.inc({ kind: 'AccessPolicy', result: 'skipped' });
    this.#d.log?.debug({ kind: 'AccessPolicy', key, generation: obj.metadata.generation, resourceVersion: obj.metadata.resourceVersion }, 'reconcile skipped: generation and owned status as last reconciled');
    return true;
  }

  async reconcile(key: string): Promise<HandlerResult | undefined> {
    const [ns, name] = splitKey(key);
    const obj = this.#d.policies.get(ns, name);
    if (obj === undefined) {
      this.predicate.forget(key);
      return undefined;
    }
    if (this.#skip(key, obj)) return undefined;
    const decision = policyStatus(obj, await evaluateWithParser(obj), (this.#d.now ?? Date.now)());
    this.#d.log?.debug({ kind: 'AccessPolicy', key, generation: obj.metadata.generation, resourceVersion: obj.metadata.resourceVersion }, 'policy validated');
    try {
      if (decision.patch !== undefined) await this.#d.api.mergePatch(`${paths.accessPolicy(ns, name)}/status`, { status: decision.patch });
      this.#d.metrics.reconciles.inc({ kind: 'AccessPolicy', result: decision.patch === undefined ? 'unchanged' : 'updated' });
      this.predicate.reconciled(obj, decision.patch ?? obj.status);
    } catch (err) {
      this.#d.metrics.reconciles.inc({ kind: 'AccessPolicy', result: 'error' });
      throw err;
    }
    const t = decision.transition;
    if (t !== undefined) this.#d.events.emit(policyRef(obj), t.type, t.reason, t.message);
    return undefined;
  }
}
