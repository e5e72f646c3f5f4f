// Where the anchored store logs hold the sidecar checkpoints an export uses (CheckpointLine.store):
// the store.checkpoint link of each, per policy, with its inclusion proof in the policy's newest
// store head the export carries. Pure: the operator's read side streams a policy's log through it.
import { hexList, type CheckpointStoreLink } from './export-format.ts';
import type { StoreLink } from './store-types.ts';

const keyOf = (chainId: string, size: number): string => `${chainId}\n${String(size)}`;

export class CheckpointLinks {
  readonly #wanted: ReadonlySet<string>;
  readonly #found = new Map<string, CheckpointStoreLink[]>();

  /** `wanted`: the checkpoints the export may use (every stored checkpoint of its chains). */
  constructor(wanted: Iterable<{ chainId: string; size: number }>) {
    this.#wanted = new Set([...wanted].map((c) => keyOf(c.chainId, c.size)));
  }

  /** Whether a link of a store log stores one of the wanted checkpoints. */
  wants(link: StoreLink): boolean {
    const cp = link.checkpoint;
    return link.type === 'store.checkpoint' && cp !== undefined && this.#wanted.has(keyOf(cp.chainId, cp.size));
  }

  /**
   * Keeps the links of `policy`'s log that store wanted checkpoints, each with its inclusion proof
   * in the log's tree of `size` links (the policy's newest store head in the export; `proofOf` gives
   * the proof of leaf index seq - 1). A link past that head, or without a proof, is left out.
   */
  add(policy: string, links: readonly StoreLink[], proofOf: (index: number) => readonly Buffer[] | undefined, size: number): void {
    for (const link of links) {
      const cp = link.checkpoint;
      const proof = cp === undefined || link.seq > size ? undefined : proofOf(link.seq - 1);
      if (cp === undefined || proof === undefined) continue;
      const key = keyOf(cp.chainId, cp.size);
      const list = this.#found.get(key) ?? [];
      if (list.some((l) => l.policy === policy)) continue;
      list.push({ policy, link, inclusion: hexList(proof) });
      this.#found.set(key, list);
    }
  }

  /** The store links of a chain's checkpoint, one per policy whose log holds it. */
  readonly of = (chainId: string, size: number): readonly CheckpointStoreLink[] | undefined => this.#found.get(keyOf(chainId, size));
}
