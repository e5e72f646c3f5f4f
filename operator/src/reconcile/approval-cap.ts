// The cap on Pending ApprovalRequests per requester (per namespace and subject), pure. Without it
// one agent's flood of requests is announced to approvers request by request and queues ahead of
// everyone else's (round 11 review, finding 3). A request over the cap is never put before
// approvers: the operator expires it at its first decision, with a message naming the cap and the
// setting, so the sidecar holding the command answers at once instead of waiting for a review.
//
// Who is ahead of a request must not depend on which worker reconciles first (16 run at once) nor
// on whether the informer has shown our last status write yet, so the line is fixed by the objects:
// every Pending request of the requester, and every not-yet-decided one created before it
// (creationTimestamp, then name: timestamps have one-second resolution). A request already Pending
// is never expired by the cap, so a cap lowered at a restart leaves requests approvers may already
// be reading alone.
//
// RequesterLines keeps those requests per requester, fed by the informer's changes, by each
// reconcile and by the operator's own writes: counting costs O(1) per request Pending and stops at
// the cap, where scanning the namespace's requests (finished ones stay for their retention) would
// cost a flood of N requests N² (round 11: 8000 requests took over a minute).
import type { ApprovalRequest } from '../../../crds/types.ts';
import { foldUsername } from '../../../core/approvals/requester.ts';

export const DEFAULT_MAX_PENDING_PER_REQUESTER = 20;
export const CAP_SETTING = '--max-pending-approvals-per-requester / GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER';

/** The subject the cap counts: kind, issuer and username (folded like the four-eyes check: Alice and alice are one requester). */
export function requesterKey(r: ApprovalRequest): string {
  const q = r.spec.requester;
  return [r.metadata.namespace ?? '', q.kind ?? '', q.issuer ?? '', foldUsername(q.username)].join('\u0000');
}

const keyOf = (r: ApprovalRequest): string => `${r.metadata.namespace ?? ''}/${r.metadata.name}`;

interface Entry { uid: string; name: string; created: string; phase: 'Pending' | undefined; requester: string }

/** Created before `b` in the line: creationTimestamp, then name. */
function before(a: Entry, b: ApprovalRequest): boolean {
  const tb = b.metadata.creationTimestamp ?? '';
  return a.created < tb || (a.created === tb && a.name < b.metadata.name);
}

export interface Ahead {
  /** The requester's Pending requests. */
  pending: number;
  /** Its requests created before this one and not decided yet (counted up to the cap). */
  undecided: number;
}

/** One requester's live requests: Pending ones, and the not-yet-decided ones in creation order. */
interface Line { pending: Set<string>; undecided: Map<string, Entry> }

/** Every requester's requests that are Pending or not decided yet (see the top of this file). */
export class RequesterLines {
  readonly #entries = new Map<string, Entry>();
  readonly #lines = new Map<string, Line>();

  /**
   * The request as last seen (informer, reconcile) or as just written (`phase`). An object without
   * a phase never hides a phase already known for the same uid: the informer may lag our write.
   */
  observe(r: ApprovalRequest, phase: string | undefined = r.status?.phase): void {
    const key = keyOf(r);
    const uid = r.metadata.uid ?? '';
    if (phase === undefined && this.#knownPending(key, uid)) return;
    this.forget(key);
    if (phase === undefined || phase === 'Pending') this.#add(key, { uid, name: r.metadata.name, created: r.metadata.creationTimestamp ?? '', phase, requester: requesterKey(r) });
  }

  #knownPending(key: string, uid: string): boolean {
    const known = this.#entries.get(key);
    return known?.phase === 'Pending' && known.uid === uid;
  }

  #add(key: string, e: Entry): void {
    this.#entries.set(key, e);
    let line = this.#lines.get(e.requester);
    if (line === undefined) this.#lines.set(e.requester, line = { pending: new Set(), undecided: new Map() });
    if (e.phase === 'Pending') line.pending.add(key);
    else line.undecided.set(key, e);
  }

  /** The request is gone. */
  forget(key: string): void {
    const e = this.#entries.get(key);
    if (e === undefined) return;
    this.#entries.delete(key);
    const line = this.#lines.get(e.requester);
    line?.pending.delete(key);
    line?.undecided.delete(key);
    if (line?.pending.size === 0 && line.undecided.size === 0) this.#lines.delete(e.requester);
  }

  /** The requester's requests ahead of `req`, counting the undecided ones only until the cap is reached. */
  ahead(req: ApprovalRequest, cap: number): Ahead {
    const key = keyOf(req);
    const line = this.#lines.get(requesterKey(req)) ?? { pending: new Set<string>(), undecided: new Map<string, Entry>() };
    const pending = line.pending.size - (line.pending.has(key) ? 1 : 0);
    let undecided = 0;
    for (const [k, e] of line.undecided) {
      if (pending + undecided >= cap) break;
      if (k !== key && before(e, req)) undecided++;
    }
    return { pending, undecided };
  }
}

/** Why `req`, not decided yet, is not put before approvers (undefined: it is within the cap). */
export function overCap(req: ApprovalRequest, ahead: Ahead, cap: number): string | undefined {
  if (ahead.pending + ahead.undecided < cap) return undefined;
  const earlier = ahead.undecided === 0 ? '' : ` and ${ahead.undecided} earlier one(s) not decided yet`;
  return `not put before approvers: ${req.spec.requester.username} already has ${ahead.pending} Pending ApprovalRequest(s)${earlier} in namespace ${req.metadata.namespace ?? ''}, `
    + `and the limit per requester is ${cap} (${CAP_SETTING}); run the command again once some of them are decided or expired`;
}
