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

  /** Whether the pod may register `chainId`: always if it counts already, else while under the cap. */
  allows(podUid: string, chainId: string): boolean {
    const chains = this.#byPod.get(podUid);
    return chains === undefined || chains.has(chainId) || chains.size < this.#max;
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
