// How many chains one pod may register (POST /v1/chains). A proxy registers one chain per spool
// (a new pod, or a spool lost), yet each registration costs a TokenReview, a Pod and a Namespace
// read, a durable file and the chain's memory for the life of the store: without a cap one pod's
// token registers chains without end. Counted per pod UID (a pod recreated under the same name, as
// a StatefulSet's are, starts again at zero) and in memory: an operator restart or a new leader
// forgives the count, which a sender cannot cause.

/** Pods remembered at most; the oldest is forgotten first (a sender would need that many pods of its own). */
const MAX_PODS = 10_000;

export class ChainQuota {
  readonly #max: number;
  readonly #byPod = new Map<string, Set<string>>();

  constructor(maxPerPod: number) {
    this.#max = maxPerPod;
  }

  get maxPerPod(): number { return this.#max; }

  /**
   * Takes a slot for `chainId` at once, before the registration's awaits, so registrations sent
   * together cannot all pass the check before any is counted (round 9b review: 40 at once passed a
   * cap of 3). `counted`: the pod counts it already; `reserved`: counted now, to be released if the
   * registration fails; `full`: the pod is at the cap.
   */
  reserve(podUid: string, chainId: string): 'counted' | 'reserved' | 'full' {
    const chains = this.#byPod.get(podUid);
    if (chains?.has(chainId) === true) return 'counted';
    if (chains !== undefined && chains.size >= this.#max) return 'full';
    this.add(podUid, chainId);
    return 'reserved';
  }

  /** Gives back a slot `reserve` took for a registration that failed. */
  release(podUid: string, chainId: string): void {
    this.#byPod.get(podUid)?.delete(chainId);
  }

  /** Counts a chain the pod registered (created now, or registered before and asked for again). */
  add(podUid: string, chainId: string): void {
    let chains = this.#byPod.get(podUid);
    if (chains === undefined) {
      if (this.#byPod.size >= MAX_PODS) {
        const oldest = this.#byPod.keys().next().value;
        if (oldest !== undefined) this.#byPod.delete(oldest);
      }
      chains = new Set();
      this.#byPod.set(podUid, chains);
    }
    chains.add(chainId);
  }
}
