// The second line of the cap on Pending ApprovalRequests: per creating pod (round 11 follow-up).
// spec.requester is what the creator wrote; the agent shares its pod's service account and may
// create requests itself with a new requester name each time. The webhook stamps the creator from
// the apiserver's userInfo (guarita.io/created-by, guarita.io/created-by-pod), which it cannot rename.
import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy, ApprovalRequest } from '../../../crds/types.ts';
import { durationMs } from '../../../core/duration.ts';
import { creatorKey, CreatorLines, overCap, overPodCap, RequesterLines, type Ahead } from './approval-cap.ts';
import { decideApproval, type ApprovalOptions, type Phase } from './approval-state.ts';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const opts: ApprovalOptions = { approvedGraceMs: 600_000, defaultRetentionMs: 30 * 86_400_000, usernameMappings: [], parseDuration: durationMs };
const SA = 'system:serviceaccount:team-a:agent';

interface Shape { ns?: string; requester?: string; annotations?: Record<string, string>; created?: string; phase?: Phase }

/** Created by pod team-a/agent-7 unless `annotations` says otherwise; a new requester name unless given. */
function request(name: string, o: Shape = {}): ApprovalRequest {
  const requester = o.requester ?? `renamed-${name}`;
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest',
    metadata: {
      name, namespace: o.ns ?? 'team-a', uid: `uid-${o.ns ?? 'team-a'}-${name}`, creationTimestamp: o.created ?? '2026-03-01T10:00:00Z',
      annotations: o.annotations ?? { 'guarita.io/created-by': SA, 'guarita.io/created-by-pod': 'team-a/agent-7' },
    },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'exports', requester: { username: requester, kind: 'User', groups: ['agents'], issuer: 'https://idp', claims: { sub: requester } }, purpose: 'support',
      target: { name: 'orders-db', protocol: 'postgres' }, command: { text: 'COPY t TO STDOUT', preview: 'COPY t TO STDOUT', sha256: 'a'.repeat(64) },
      podRef: { name: 'agent-7' }, sessionId: 's1', expiresAt: '2026-03-01T10:15:00Z', reviews: [],
    },
    ...(o.phase === undefined ? {} : { status: { phase: o.phase } }),
  };
}

const policy: AccessPolicy = {
  apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'orders-db', namespace: 'team-a' },
  spec: {
    podSelector: {}, target: { name: 'orders-db', protocol: 'postgres', endpoint: 'db:5432', listenPort: 15432 },
    identity: { oidc: { issuer: 'https://idp', audiences: ['guarita'] } }, subjects: [{ kind: 'Group', name: 'agents' }], purposes: [{ name: 'support' }],
    rules: [{ name: 'exports', action: 'requireApproval', approval: { approverGroups: ['dpo'], minApprovals: 1 } }],
  },
};

function byCreator(req: ApprovalRequest, siblings: readonly ApprovalRequest[], cap = 1000): Ahead {
  const lines = new CreatorLines();
  for (const s of siblings) lines.observe(s);
  return lines.ahead(req, cap);
}
function byRequester(req: ApprovalRequest, siblings: readonly ApprovalRequest[], cap = 1000): Ahead {
  const lines = new RequesterLines();
  for (const s of siblings) lines.observe(s);
  return lines.ahead(req, cap);
}
const pendings = (n: number, o: Shape = {}): ApprovalRequest[] => Array.from({ length: n }, (_, i) => request(`p-${String(i).padStart(3, '0')}`, { ...o, phase: 'Pending' }));

describe('the cap on Pending ApprovalRequests per creating pod', () => {
  it('admits at N-1 of the pod\'s Pending requests and expires at N, though every one names another requester', () => {
    const req = request('new');
    const o = { ...opts, maxPendingPerPod: 3 };
    expect(decideApproval(req, policy, T0, o, byRequester(req, pendings(2)), byCreator(req, pendings(2))).to).toBe('Pending');
    // Per requester nothing is ahead of it: every request named a new one.
    expect(byRequester(req, pendings(3))).toEqual({ pending: 0, undecided: 0 });
    const d = decideApproval(req, policy, T0, o, byRequester(req, pendings(3)), byCreator(req, pendings(3)));
    expect(d).toMatchObject({ to: 'Expired', overCap: true, patch: { phase: 'Expired', decidedAt: '2026-03-01T10:00:00Z' } });
    expect(d.patch?.message).toBe('not put before approvers: pod team-a/agent-7, which created it, already has 3 Pending ApprovalRequest(s), and the limit per creating pod (or user outside a pod) is 3 '
      + 'whatever requester each names (--max-pending-approvals-per-pod / GUARITA_MAX_PENDING_APPROVALS_PER_POD); run the command again once some of them are decided or expired');
  });

  it('defaults to 50, and names the requester\'s cap first when both are reached', () => {
    const req = request('new', { requester: 'same' });
    expect(decideApproval(req, policy, T0, opts, undefined, byCreator(req, pendings(49))).to).toBe('Pending');
    expect(decideApproval(req, policy, T0, opts, undefined, byCreator(req, pendings(50))).to).toBe('Expired');
    const both = pendings(20, { requester: 'same' });
    expect(decideApproval(req, policy, T0, { ...opts, maxPendingPerPod: 5 }, byRequester(req, both), byCreator(req, both)).patch?.message).toContain('the limit per requester is 20');
  });

  it('counts the pod\'s requests in every namespace and every requester, and no other creator\'s', () => {
    const req = request('new', { created: '2026-03-01T10:00:05Z' });
    const others = [
      ...pendings(4, { annotations: { 'guarita.io/created-by': SA, 'guarita.io/created-by-pod': 'team-a/agent-8' } }), // another pod of the same service account
      ...pendings(4, { annotations: { 'guarita.io/created-by': SA } }), // the service account's unbound token: a user outside a pod
      ...pendings(4, { annotations: { 'guarita.io/created-by': SA, 'guarita.io/created-by-pod': 'team-b/agent-7' } }), // a pod of that name elsewhere
      ...pendings(4, { annotations: {} }), // created before the stamp
      ...(['Approved', 'Denied', 'Expired', 'Consumed'] as const).map((p) => request(`done-${p}`, { phase: p })),
      request('later', { created: '2026-03-01T10:00:06Z' }),
    ];
    expect(byCreator(req, others)).toEqual({ pending: 0, undecided: 0 });
    const mine = [request('p', { ns: 'team-b', phase: 'Pending' }), request('earlier', { ns: 'team-c', created: '2026-03-01T10:00:04Z' }), request('a-same-second', { created: '2026-03-01T10:00:05Z' })];
    expect(byCreator(req, [...others, ...mine])).toEqual({ pending: 1, undecided: 2 });
  });

  it('counts a creator outside a pod by username, exactly as stamped', () => {
    const alice = { 'guarita.io/created-by': 'alice' };
    expect(creatorKey(request('x', { annotations: alice }))).toBe('user:alice');
    expect(byCreator(request('new', { annotations: alice }), pendings(3, { annotations: alice })).pending).toBe(3);
    expect(byCreator(request('new', { annotations: alice }), pendings(3, { annotations: { 'guarita.io/created-by': 'Alice' } })).pending).toBe(0);
    // An empty pod stamp (never written by the webhook) is no pod: the username decides.
    expect(creatorKey(request('x', { annotations: { ...alice, 'guarita.io/created-by-pod': '' } }))).toBe('user:alice');
    expect(overPodCap(request('new', { annotations: alice }), { pending: 2, undecided: 0 }, 2)).toContain('user alice, which created it, already has 2 Pending');
  });

  it('counts an unstamped request (created before the upgrade) per requester only', () => {
    const legacy = request('new', { annotations: {} });
    expect(creatorKey(legacy)).toBeUndefined();
    expect(byCreator(legacy, pendings(60))).toEqual({ pending: 0, undecided: 0 });
    expect(overPodCap(legacy, { pending: 99, undecided: 0 }, 1)).toBeUndefined();
    expect(decideApproval(legacy, policy, T0, { ...opts, maxPendingPerPod: 1 }, byRequester(legacy, pendings(60)), byCreator(legacy, pendings(60))).to).toBe('Pending');
    expect(overCap(legacy, byRequester(legacy, pendings(25, { requester: 'renamed-new', annotations: {} })), 20)).toContain('the limit per requester is 20');
  });

  it('puts exactly N of a renamed burst before approvers whatever order the workers take them in', () => {
    const burst = Array.from({ length: 60 }, (_, i) => request(`b-${String(i).padStart(2, '0')}`, { ns: i % 2 === 0 ? 'team-a' : 'team-b' }));
    const shuffled = [...burst].sort(() => 0.5 - Math.random());
    const admitted = shuffled.filter((r) => overPodCap(r, byCreator(r, burst, 50), 50) === undefined).map((r) => `${r.metadata.namespace}/${r.metadata.name}`).sort();
    const expected = burst.map((r) => `${r.metadata.namespace}/${r.metadata.name}`).sort().slice(0, 50);
    expect(admitted).toEqual(expected);
  });

  it('never expires a request already Pending (a cap lowered at a restart)', () => {
    const req = request('p-000', { phase: 'Pending' });
    expect(decideApproval(req, policy, T0, { ...opts, maxPendingPerPod: 1 }, undefined, byCreator(req, pendings(10))).to).toBe('Pending');
  });

  it('moves a request re-created under the same name into its new creator\'s line', () => {
    const lines = new CreatorLines();
    lines.observe(request('x', { phase: 'Pending' }));
    lines.observe({ ...request('x', { annotations: { 'guarita.io/created-by': 'alice' } }), metadata: { ...request('x').metadata, uid: 'uid-2', annotations: { 'guarita.io/created-by': 'alice' } } });
    expect(lines.ahead(request('new'), 10)).toEqual({ pending: 0, undecided: 0 });
    expect(lines.ahead(request('z-new', { annotations: { 'guarita.io/created-by': 'alice' } }), 10)).toEqual({ pending: 0, undecided: 1 });
  });
});
