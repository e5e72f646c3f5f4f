// The I/O half of "evidence only from injected proxies" (core/kube/evidence-source.ts decides):
// reads the token's bound Pod and its Namespace (RBAC: get pods, get namespaces; no list/watch)
// and caches the verdict per pod UID. Registration (rare) always asks the apiserver; batches
// (frequent) reuse a verdict for a short while, so ingest costs no apiserver call per batch. A
// cached "yes" outlives a namespace un-labelling or a pod edit by at most the positive TTL; a
// deleted pod's bound token stops authenticating at TokenReview anyway.
import { judgeEvidenceSource, type BoundPod, type EvidenceSourceVerdict, type NamespaceFacts, type PodFacts } from '../../../core/kube/evidence-source.ts';
import { isNotFound, paths, type KubeApi } from '../kube/client.ts';

export interface EvidenceSourceOptions {
  positiveTtlMs?: number;
  negativeTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export class EvidenceSources {
  readonly #api: KubeApi;
  readonly #cache = new Map<string, { verdict: EvidenceSourceVerdict; until: number }>();
  readonly #positiveTtl: number;
  readonly #negativeTtl: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(api: KubeApi, opts: EvidenceSourceOptions = {}) {
    this.#api = api;
    this.#positiveTtl = opts.positiveTtlMs ?? 30_000;
    this.#negativeTtl = opts.negativeTtlMs ?? 2_000;
    this.#max = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** `fresh`: ignore the cache (chain registration). Apiserver errors other than 404 propagate (the caller answers 503: fail closed). */
  async check(pod: BoundPod, fresh = false): Promise<EvidenceSourceVerdict> {
    const key = `${pod.namespace}/${pod.name}/${pod.uid}`;
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (!fresh && hit !== undefined && hit.until > now) return hit.verdict;
    const [ns, obj] = await Promise.all([
      orUndefined(this.#api.get<NamespaceFacts>(`/api/v1/namespaces/${pod.namespace}`)),
      orUndefined(this.#api.get<PodFacts>(paths.pod(pod.namespace, pod.name))),
    ]);
    const verdict = judgeEvidenceSource(pod, ns, obj);
    this.#cache.delete(key);
    if (this.#cache.size >= this.#max) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, { verdict, until: now + (verdict.ok ? this.#positiveTtl : this.#negativeTtl) });
    return verdict;
  }
}

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
