import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy, ApprovalRequest } from '../../../crds/types.ts';
import { durationMs } from '../../../core/duration.ts';
import { overCap, RequesterLines, requesterKey, type Ahead } from './approval-cap.ts';
import { decideApproval, type ApprovalOptions, type Phase } from './approval-state.ts';

// Round 11 review, finding 3: nothing capped one requester's Pending requests, so a flood was put
// before approvers request by request. The cap expires a request at its first decision.

const T0 = Date.parse('2026-03-01T10:00:00Z');
const opts: ApprovalOptions = { approvedGraceMs: 600_000, defaultRetentionMs: 30 * 86_400_000, usernameMappings: [], parseDuration: durationMs };

type Requester = ApprovalRequest['spec']['requester'];
const agent: Requester = { username: 'agent-a', kind: 'User', groups: ['agents'], issuer: 'https://idp', claims: { sub: 'agent-a' } };

function request(name: string, o: { ns?: string; requester?: Requester; created?: string; phase?: Phase } = {}): ApprovalRequest {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest',
    metadata: { name, namespace: o.ns ?? 'team-a', uid: `uid-${name}`, creationTimestamp: o.created ?? '2026-03-01T10:00:00Z' },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'exports', requester: o.requester ?? agent, purpose: 'support',
      target: { name: 'orders-db', protocol: 'postgres' }, command: { text: 'COPY t TO STDOUT', preview: 'COPY t TO STDOUT', sha256: 'a'.repeat(64) },
      podRef: { name: 'agent' }, sessionId: 's1', expiresAt: '2026-03-01T10:15:00Z', reviews: [],
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

/** The requester's requests ahead of `req` among `siblings`, as the reconciler's lines count them. */
function requestsAhead(req: ApprovalRequest, siblings: readonly ApprovalRequest[], cap = 1000): Ahead {
  const lines = new RequesterLines();
  for (const s of siblings) lines.observe(s);
  return lines.ahead(req, cap);
}
const pendings = (n: number, o: Parameters<typeof request>[1] = {}): ApprovalRequest[] => Array.from({ length: n }, (_, i) => request(`p-${i}`, { ...o, phase: 'Pending' }));

describe('the cap on Pending ApprovalRequests per requester', () => {
  it('puts the request before approvers at N-1 Pending, and expires it at N, naming the cap, the setting and the count', () => {
    const req = request('new');
    expect(decideApproval(req, policy, T0, { ...opts, maxPendingPerRequester: 3 }, requestsAhead(req, pendings(2))).to).toBe('Pending');
    const d = decideApproval(req, policy, T0, { ...opts, maxPendingPerRequester: 3 }, requestsAhead(req, pendings(3)));
    expect(d).toMatchObject({ to: 'Expired', overCap: true, patch: { phase: 'Expired', decidedAt: '2026-03-01T10:00:00Z' } });
    expect(d.patch?.message).toBe('not put before approvers: agent-a already has 3 Pending ApprovalRequest(s) in namespace team-a, and the limit per requester is 3 '
      + '(--max-pending-approvals-per-requester / GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER); run the command again once some of them are decided or expired');
  });

  it('defaults to 20', () => {
    const req = request('new');
    expect(decideApproval(req, policy, T0, opts, requestsAhead(req, pendings(19))).to).toBe('Pending');
    expect(decideApproval(req, policy, T0, opts, requestsAhead(req, pendings(20))).to).toBe('Expired');
  });

  it('never expires a request already Pending (a cap lowered at a restart), nor checks one without the count', () => {
    const req = request('p-0', { phase: 'Pending' });
    expect(decideApproval(req, policy, T0, { ...opts, maxPendingPerRequester: 1 }, requestsAhead(req, pendings(50))).to).toBe('Pending');
    expect(decideApproval(request('new'), policy, T0, { ...opts, maxPendingPerRequester: 1 }).to).toBe('Pending');
  });

  it('counts only the same requester\'s requests in the same namespace, Pending or created before and undecided', () => {
    const req = request('new', { created: '2026-03-01T10:00:05Z' });
    const others = [
      ...pendings(5, { ns: 'team-b' }), // the same agent in another namespace
      ...pendings(5, { requester: { ...agent, username: 'bob', claims: { sub: 'bob' } } }),
      ...pendings(5, { requester: { ...agent, issuer: 'https://other-idp' } }), // another identity provider: another subject
      ...pendings(5, { requester: { username: 'agent-a', kind: 'ServiceAccount', groups: [] } }),
      ...(['Approved', 'Denied', 'Expired', 'Consumed'] as const).map((p) => request(`done-${p}`, { phase: p })),
      request('later', { created: '2026-03-01T10:00:06Z' }), // undecided, created after: behind it
    ];
    expect(requestsAhead(req, others)).toEqual({ pending: 0, undecided: 0 });
    const mine = [request('p', { phase: 'Pending' }), request('earlier', { created: '2026-03-01T10:00:04Z' }), request('a-same-second', { created: '2026-03-01T10:00:05Z' }), request('z-same-second', { created: '2026-03-01T10:00:05Z' })];
    expect(requestsAhead(req, [...others, ...mine])).toEqual({ pending: 1, undecided: 2 });
  });

  it('counts one subject however its username is cased (folded like the four-eyes check)', () => {
    const shouting = { ...agent, username: 'AGENT-A' };
    expect(requesterKey(request('x', { requester: shouting }))).toBe(requesterKey(request('y')));
    expect(requestsAhead(request('new'), pendings(2, { requester: shouting })).pending).toBe(2);
  });

  it('puts exactly N of a burst before approvers whatever order the workers take them in', () => {
    // 25 requests created in the same second, none decided yet: each is judged alone, in any order.
    const burst = Array.from({ length: 25 }, (_, i) => request(`b-${String(i).padStart(2, '0')}`));
    const shuffled = [...burst].sort(() => 0.5 - Math.random());
    const admitted = shuffled.filter((r) => overCap(r, requestsAhead(r, burst), 20) === undefined).map((r) => r.metadata.name).sort();
    expect(admitted).toEqual(burst.slice(0, 20).map((r) => r.metadata.name));
    // The 21st, judged after the first 20 became Pending (and the rest still undecided): still over.
    const settled = burst.map((r, i) => (i < 20 ? { ...r, status: { phase: 'Pending' as const } } : r));
    expect(overCap(burst[20] as ApprovalRequest, requestsAhead(burst[20] as ApprovalRequest, settled), 20)).toContain('already has 20 Pending');
  });

  it('reports the earlier undecided requests it counted', () => {
    const req = request('new', { created: '2026-03-01T10:00:09Z' });
    const siblings = [...pendings(2), request('u1', { created: '2026-03-01T10:00:01Z' })];
    expect(overCap(req, requestsAhead(req, siblings), 3)).toContain('already has 2 Pending ApprovalRequest(s) and 1 earlier one(s) not decided yet in namespace team-a');
  });

  describe('RequesterLines', () => {
    it('keeps a request it saw Pending when a lagging informer shows it undecided, but not a re-created one (another uid)', () => {
      const lines = new RequesterLines();
      const r = request('p');
      lines.observe(r, 'Pending'); // our write
      lines.observe(r); // the informer's older copy
      expect(lines.ahead(request('z-new'), 10)).toEqual({ pending: 1, undecided: 0 });
      lines.observe({ ...r, metadata: { ...r.metadata, uid: 'uid-recreated' } }); // deleted and created again under the name
      expect(lines.ahead(request('z-new'), 10)).toEqual({ pending: 0, undecided: 1 });
    });

    it('drops decided and deleted requests from the line, and frees the slot', () => {
      const lines = new RequesterLines();
      for (const name of ['a', 'b', 'c']) lines.observe(request(name, { phase: 'Pending' }));
      lines.observe(request('a', { phase: 'Approved' }));
      lines.forget('team-a/b');
      lines.forget('team-a/never-seen');
      expect(lines.ahead(request('new'), 10)).toEqual({ pending: 1, undecided: 0 });
      lines.observe(request('c', { phase: 'Expired' }));
      expect(lines.ahead(request('new'), 10)).toEqual({ pending: 0, undecided: 0 });
    });

    it('does not count the request itself, and stops counting undecided ones at the cap', () => {
      const lines = new RequesterLines();
      for (let i = 0; i < 5000; i++) lines.observe(request(`u-${String(i).padStart(4, '0')}`));
      lines.observe(request('p', { phase: 'Pending' }));
      expect(lines.ahead(request('u-0000'), 20)).toEqual({ pending: 1, undecided: 0 });
      expect(lines.ahead(request('u-4999'), 20)).toEqual({ pending: 1, undecided: 19 });
      lines.observe(request('u-0000', { phase: 'Pending' }));
      expect(lines.ahead(request('u-0000'), 20)).toEqual({ pending: 1, undecided: 0 });
    });
  });
});
