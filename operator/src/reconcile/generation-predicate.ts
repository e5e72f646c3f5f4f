// controller-runtime's GenerationChangedPredicate, adapted: an AccessPolicy is validated and
// compiled again only when that can change the outcome. Pure: no I/O, no clock.
//
// controller-runtime drops every update event whose metadata.generation did not change. The
// apiserver bumps generation on spec changes only, so the operator's own status writes (conditions,
// and the anchorer's status.chain/sessions every interval) and label or annotation edits no longer
// wake the validator. Taken literally it has two gaps, closed here:
//  - it also drops resync events (old and new are the same object), so a status someone else
//    overwrote would never be repaired; here an object is reconciled again when the status fields
//    this reconciler owns (observedGeneration, conditions, ruleCount) differ from what it last
//    wrote or saw, whatever event or resync brought it;
//  - generation restarts at 1 when a policy is deleted and created again under the same name;
//    here the memory is per UID, and a deletion forgets it.
// The comparison is against the last reconcile of the object, not the event's old object, so an
// event lost during a watch restart (relist) cannot leave a spec change unvalidated. Filtering
// only decides what is queued: the informer's cache still takes every update, so status the
// anchorer wrote (status.chain, read back by the read API) is never lost.
import type { AccessPolicy } from '../../../crds/types.ts';

type Owned = Pick<NonNullable<AccessPolicy['status']>, 'observedGeneration' | 'conditions' | 'ruleCount'>;

interface Seen { uid: string | undefined; generation: number | undefined; status: string }

/** Keys sorted, so the apiserver's re-serialization (Go maps: sorted keys) compares equal to what was sent. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

function owned(status: Owned | undefined): string {
  return canonical({ observedGeneration: status?.observedGeneration, conditions: status?.conditions, ruleCount: status?.ruleCount });
}

function keyOf(p: AccessPolicy): string {
  return `${p.metadata.namespace ?? ''}/${p.metadata.name}`;
}

export type PolicyEvent = 'added' | 'modified' | 'deleted';

export class GenerationPredicate {
  readonly #seen = new Map<string, Seen>();

  /**
   * Whether `obj` must be validated again: never reconciled (this process, this UID), its
   * generation changed since, or the status fields the reconciler owns drifted from what it left.
   */
  needsReconcile(obj: AccessPolicy): boolean {
    const seen = this.#seen.get(keyOf(obj));
    if (seen === undefined || seen.uid !== obj.metadata.uid || seen.generation !== obj.metadata.generation) return true;
    return seen.status !== owned(obj.status);
  }

  /**
   * Whether an informer event should queue the policy. Deletions always pass (the reconciler
   * forgets the object); additions and updates pass when needsReconcile says so.
   */
  admits(type: PolicyEvent, obj: AccessPolicy): boolean {
    if (type === 'deleted') return true;
    return this.needsReconcile(obj);
  }

  /** Records a successful reconcile of `obj` that left `status` (what was written, or found right). */
  reconciled(obj: AccessPolicy, status: Owned | undefined): void {
    this.#seen.set(keyOf(obj), { uid: obj.metadata.uid, generation: obj.metadata.generation, status: owned(status) });
  }

  /** The object is gone: a policy created again under its name starts fresh. */
  forget(key: string): void {
    this.#seen.delete(key);
  }

  get size(): number { return this.#seen.size; }
}
