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
// A second line binds who creates the requests (round 11 follow-up): spec.requester is what the
// creator wrote, and the agent shares its pod's service account, so it could create requests with
// a new requester name each time and stay under the first cap. The admission webhook stamps the
// creator from the apiserver's userInfo (core/approvals/creator.ts): the pod whose bound token
// created the request, else the creating username. That line has its own cap
// (--max-pending-approvals-per-pod, 50: a pod may serve several requesters, each within its own
// 20) and counts across namespaces (the pod is one agent wherever it writes). A request without a
// stamp (created before the webhook stamped creators) is counted per requester only.
//
// Lines keep those requests per line, fed by the informer's changes, by each reconcile and by the
// operator's own writes: counting costs O(1) per request Pending and stops at the cap, where
// scanning the namespace's requests (finished ones stay for their retention) would cost a flood of
// N requests N² (round 11: 8000 requests took over a minute).
import type { ApprovalRequest } from '../../../crds/types.ts';
import { creatorKey as stampedCreator, describeCreator } from '../../../core/approvals/creator.ts';
import { foldUsername } from '../../../core/approvals/requester.ts';

export const DEFAULT_MAX_PENDING_PER_REQUESTER = 20;
export const CAP_SETTING = '--max-pending-approvals-per-requester / GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER';
export const DEFAULT_MAX_PENDING_PER_POD = 50;
export const POD_CAP_SETTING = '--max-pending-approvals-per-pod / GUARITA_MAX_PENDING_APPROVALS_PER_POD';

/** The subject the cap counts: kind, issuer and username (folded like the four-eyes check: Alice and alice are one requester). */
export function requesterKey(r: ApprovalRequest): string {
  const q = r.spec.requester;
  return [r.metadata.namespace ?? '', q.kind ?? '', q.issuer ?? '', foldUsername(q.username)].join('\u0000');
}

/** The creating pod (`pod:<ns>/<name>`) or, outside a pod, user (`user:<name>`), as the webhook stamped it; undefined without a stamp. */
export function creatorKey(r: ApprovalRequest): string | undefined {
  return stampedCreator(r.metadata.annotations);
}

const keyOf = (r: ApprovalRequest): string => `${r.metadata.namespace ?? ''}/${r.metadata.name}`;

interface Entry { uid: string; key: string; created: string; phase: 'Pending' | undefined; line: string }

/** Created before `b` in the line: creationTimestamp, then namespace/name (a creator's line spans namespaces). */
function before(a: Entry, b: ApprovalRequest): boolean {
  const tb = b.metadata.creationTimestamp ?? '';
  return a.created < tb || (a.created === tb && a.key < keyOf(b));
}

export interface Ahead {
  /** The requester's Pending requests. */
  pending: number;
  /** Its requests created before this one and not decided yet (counted up to the cap). */
  undecided: number;
}

/** One requester's live requests: Pending ones, and the not-yet-decided ones in creation order. */
interface Line { pending: Set<string>; undecided: Map<string, Entry> }

/** Every line's requests that are Pending or not decided yet (see the top of this file); `lineOf` undefined: in no line. */
export class CapLines {
  readonly #lineOf: (r: ApprovalRequest) => string | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #lines = new Map<string, Line>();

  constructor(lineOf: (r: ApprovalRequest) => string | undefined) {
    this.#lineOf = lineOf;
  }

  /**
   * The request as last seen (informer, reconcile) or as just written (`phase`). An object without
   * a phase never hides a phase already known for the same uid: the informer may lag our write.
   */
  observe(r: ApprovalRequest, phase: string | undefined = r.status?.phase): void {
    const key = keyOf(r);
    const uid = r.metadata.uid ?? '';
    if (phase === undefined && this.#knownPending(key, uid)) return;
    this.forget(key);
    const line = this.#lineOf(r);
    if (line !== undefined && (phase === undefined || phase === 'Pending')) this.#add(key, { uid, key, created: r.metadata.creationTimestamp ?? '', phase, line });
  }

  #knownPending(key: string, uid: string): boolean {
    const known = this.#entries.get(key);
    return known?.phase === 'Pending' && known.uid === uid;
  }

  #add(key: string, e: Entry): void {
    this.#entries.set(key, e);
    let line = this.#lines.get(e.line);
    if (line === undefined) this.#lines.set(e.line, line = { pending: new Set(), undecided: new Map() });
    if (e.phase === 'Pending') line.pending.add(key);
    else line.undecided.set(key, e);
  }

  /** The request is gone. */
  forget(key: string): void {
    const e = this.#entries.get(key);
    if (e === undefined) return;
    this.#entries.delete(key);
    const line = this.#lines.get(e.line);
    line?.pending.delete(key);
    line?.undecided.delete(key);
    if (line?.pending.size === 0 && line.undecided.size === 0) this.#lines.delete(e.line);
  }

  /** The requests ahead of `req` in its line, counting the undecided ones only until the cap is reached (none for a request in no line). */
  ahead(req: ApprovalRequest, cap: number): Ahead {
    const key = keyOf(req);
    const name = this.#lineOf(req);
    const line = (name === undefined ? undefined : this.#lines.get(name)) ?? { pending: new Set<string>(), undecided: new Map<string, Entry>() };
    const pending = line.pending.size - (line.pending.has(key) ? 1 : 0);
    let undecided = 0;
    for (const [k, e] of line.undecided) {
      if (pending + undecided >= cap) break;
      if (k !== key && before(e, req)) undecided++;
    }
    return { pending, undecided };
  }
}

/** Each requester's requests (the first cap). */
export class RequesterLines extends CapLines {
  constructor() {
    super(requesterKey);
  }
}

/** Each creating pod's (or user's) requests, as the webhook stamped them (the second cap); unstamped requests are in none. */
export class CreatorLines extends CapLines {
  constructor() {
    super(creatorKey);
  }
}

/** Why `req`, not decided yet, is not put before approvers (undefined: it is within the cap). */
export function overCap(req: ApprovalRequest, ahead: Ahead, cap: number): string | undefined {
  if (ahead.pending + ahead.undecided < cap) return undefined;
  const earlier = ahead.undecided === 0 ? '' : ` and ${ahead.undecided} earlier one(s) not decided yet`;
  return `not put before approvers: ${req.spec.requester.username} already has ${ahead.pending} Pending ApprovalRequest(s)${earlier} in namespace ${req.metadata.namespace ?? ''}, `
    + `and the limit per requester is ${cap} (${CAP_SETTING}); run the command again once some of them are decided or expired`;
}

/** Why `req`, not decided yet, is not put before approvers by its creator's line (undefined: within the cap, or no stamp). */
export function overPodCap(req: ApprovalRequest, ahead: Ahead, cap: number): string | undefined {
  const creator = creatorKey(req);
  if (creator === undefined || ahead.pending + ahead.undecided < cap) return undefined;
  const earlier = ahead.undecided === 0 ? '' : ` and ${ahead.undecided} earlier one(s) not decided yet`;
  return `not put before approvers: ${describeCreator(creator)}, which created it, already has ${ahead.pending} Pending ApprovalRequest(s)${earlier}, `
    + `and the limit per creating pod (or user outside a pod) is ${cap} whatever requester each names (${POD_CAP_SETTING}); run the command again once some of them are decided or expired`;
}
