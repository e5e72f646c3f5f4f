import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy, ApprovalRequest } from '../../../crds/types.ts';
import { durationMs } from '../../../core/duration.ts';
import { decideApproval, type ApprovalOptions } from './approval-state.ts';

const T0 = Date.parse('2026-03-01T10:00:00Z');
// The apiserver names users of https://idp as oidc:<sub> (claimMappings.username {claim: sub, prefix: "oidc:"}).
const opts: ApprovalOptions = { approvedGraceMs: 600_000, defaultRetentionMs: 30 * 86_400_000, usernameMappings: [{ issuer: 'https://idp', claim: 'sub', prefix: 'oidc:' }], parseDuration: durationMs };

function policy(minApprovals = 2, retention?: string): AccessPolicy {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'orders-db', namespace: 'shop' },
    spec: {
      podSelector: {}, target: { name: 'orders-db', protocol: 'postgres', endpoint: 'db:5432', listenPort: 15432 },
      identity: { oidc: { issuer: 'https://idp', audiences: ['guarita'] } }, subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: 'support' }],
      rules: [{ name: 'exports', action: 'requireApproval', approval: { approverGroups: ['dpo'], minApprovals } }, { name: 'rest', action: 'allow' }],
      ...(retention === undefined ? {} : { retention: { approvals: retention } }),
    },
  };
}

type Review = NonNullable<ApprovalRequest['spec']['reviews']>[number];

function review(reviewer: string, decision: 'Approved' | 'Denied', minute = 1, groups = ['dpo']): Review {
  return { reviewer, reviewerGroups: groups, decision, reason: `ticket by ${reviewer}`, time: new Date(T0 + minute * 60_000).toISOString().replace(/\.\d+Z/, 'Z') };
}

function request(reviews: Review[] = [], status?: ApprovalRequest['status'], rule = 'exports'): ApprovalRequest {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name: 'ar-1', namespace: 'shop', creationTimestamp: '2026-03-01T10:00:00Z' },
    spec: {
      policyRef: { name: 'orders-db' }, rule, requester: { username: 'alice', kind: 'User', groups: ['support'], issuer: 'https://idp', claims: { sub: 'alice', email: 'alice@example.com' } }, purpose: 'support',
      target: { name: 'orders-db', protocol: 'postgres' }, command: { text: 'COPY customers TO STDOUT', preview: 'COPY customers TO STDOUT', sha256: 'a'.repeat(64) },
      podRef: { name: 'agent' }, sessionId: 's1', expiresAt: '2026-03-01T10:15:00Z', reviews,
    },
    ...(status === undefined ? {} : { status }),
  };
}

/** Applies a decision's patch the way the apiserver would. */
function apply(req: ApprovalRequest, now: number, p = policy()): ApprovalRequest {
  const d = decideApproval(req, p, now, opts);
  return d.patch === undefined ? req : { ...req, status: { ...req.status, ...d.patch } };
}

describe('decideApproval', () => {
  it('starts Pending, waiting for the threshold, and wakes at expiresAt', () => {
    const d = decideApproval(request(), policy(), T0, opts);
    expect(d.patch).toMatchObject({ phase: 'Pending', approvals: 0, required: 2, reviews: [] });
    expect(d.patch?.message).toContain('2 more approval(s) from dpo');
    expect(d.wakeAt).toBe(Date.parse('2026-03-01T10:15:00Z'));
  });

  it('needs two distinct approvers when minApprovals is 2', () => {
    let req = apply(request([review('dana', 'Approved')]), T0 + 60_000);
    expect(req.status).toMatchObject({ phase: 'Pending', approvals: 1 });
    req = apply({ ...req, spec: { ...req.spec, reviews: [...req.spec.reviews!, review('dana', 'Approved', 2)] } }, T0 + 120_000);
    expect(req.status).toMatchObject({ phase: 'Pending', approvals: 1 });
    req = apply({ ...req, spec: { ...req.spec, reviews: [...req.spec.reviews!, review('dave', 'Approved', 3)] } }, T0 + 180_000);
    expect(req.status).toMatchObject({ phase: 'Approved', approvals: 2, decidedAt: '2026-03-01T10:03:00Z' });
    expect(req.status?.reviews?.map((r) => r.reviewer)).toEqual(['dana', 'dave']);
  });

  it('is Denied by any single valid denial, even after an approval', () => {
    const req = apply(request([review('dana', 'Approved'), review('dave', 'Denied', 2)]), T0 + 120_000);
    expect(req.status).toMatchObject({ phase: 'Denied', approvals: 1, message: 'denied by dave: ticket by dave' });
  });

  it('ignores unstamped reviews, outsiders, self-review and reviews after expiry', () => {
    const reviews: Review[] = [
      { decision: 'Approved', reason: 'forged' },
      review('eve', 'Denied', 1, []),
      review('oidc:alice', 'Approved', 1, ['dpo']),
      review('dana', 'Approved', 20),
    ];
    const d = decideApproval(request(reviews), policy(1), T0 + 60_000, opts);
    expect(d.patch).toMatchObject({ phase: 'Pending', approvals: 0 });
    expect(d.ignored.map((i) => i.why)).toEqual([
      expect.stringContaining('not stamped'), expect.stringContaining('approver group'), expect.stringContaining('requester'), expect.stringContaining('after the request expired'),
    ]);
  });

  it('expires on time with the approvals it had', () => {
    const req = apply(request([review('dana', 'Approved')]), Date.parse('2026-03-01T10:15:00Z'));
    expect(req.status).toMatchObject({ phase: 'Expired', approvals: 1, decidedAt: '2026-03-01T10:15:00Z' });
  });

  it('expires an approved request the sidecar never ran, after the grace period', () => {
    const approved = apply(request([review('dana', 'Approved')]), T0 + 60_000, policy(1));
    expect(approved.status?.phase).toBe('Approved');
    expect(decideApproval(approved, policy(1), T0 + 20 * 60_000, opts)).toMatchObject({ to: 'Approved', wakeAt: Date.parse('2026-03-01T10:25:00Z') });
    expect(apply(approved, Date.parse('2026-03-01T10:25:00Z'), policy(1)).status).toMatchObject({ phase: 'Expired', decidedAt: '2026-03-01T10:01:00Z' });
  });

  it('never leaves Consumed, Denied or Expired, and deletes them after the retention', () => {
    const consumed = request([review('dana', 'Approved')], { phase: 'Consumed', consumedAt: '2026-03-01T10:02:00Z' });
    const d = decideApproval(consumed, policy(1, '1h'), T0 + 30 * 60_000, opts);
    expect(d).toMatchObject({ to: 'Consumed', delete: false, wakeAt: Date.parse('2026-03-01T11:02:00Z') });
    expect(d.patch).toBeUndefined();
    expect(decideApproval(consumed, policy(1, '1h'), Date.parse('2026-03-01T11:02:00Z'), opts)).toMatchObject({ delete: true });
    expect(decideApproval(consumed, undefined, T0 + 86_400_000, opts)).toMatchObject({ delete: false });
  });

  it('keeps a request whose rule is gone Pending (nobody can approve) until it expires', () => {
    const d = decideApproval(request([review('dana', 'Approved')], undefined, 'missing-rule'), policy(1), T0 + 60_000, opts);
    expect(d.patch).toMatchObject({ phase: 'Pending', approvals: 0 });
    expect(d.patch?.message).toContain('nobody can approve');
  });

  describe('four-eyes whatever the apiserver calls the requester', () => {
    const countedBy = (reviewer: string, o: ApprovalOptions, req = request([review(reviewer, 'Approved')])): { approvals: number; why: string[] } => {
      const d = decideApproval(req, policy(1), T0 + 60_000, o);
      return { approvals: d.patch?.approvals ?? -1, why: d.ignored.map((i) => i.why) };
    };
    const MAPPINGS: [string, { claim: string; prefix: string }, string][] = [
      ['legacy default prefix <issuer>#', { claim: 'sub', prefix: 'https://idp#' }, 'https://idp#alice'],
      ['email, no prefix', { claim: 'email', prefix: '' }, 'alice@example.com'],
      ['email, prefix oidc:', { claim: 'email', prefix: 'oidc:' }, 'oidc:alice@example.com'],
    ];
    for (const [how, mapping, aliceIs] of MAPPINGS) {
      it(`${how}: does not count ${aliceIs}, counts someone else`, () => {
        const o = { ...opts, usernameMappings: [{ issuer: 'https://idp', ...mapping }] };
        expect(countedBy(aliceIs, o)).toEqual({ approvals: 0, why: ['the requester cannot review their own command'] });
        expect(countedBy(aliceIs.replace('alice', 'dana'), o)).toEqual({ approvals: 1, why: [] });
      });
    }
    it('uid mapped from sub: does not count the requester under a new username, by the stamped reviewerUid', () => {
      const o = { ...opts, usernameMappings: [{ issuer: 'https://idp', claim: 'email', prefix: 'oidc:', uidClaim: 'sub' }] };
      const renamed = request([{ ...review('oidc:alice.new@example.com', 'Approved'), reviewerUid: 'alice' }]);
      expect(countedBy('', o, renamed)).toEqual({ approvals: 0, why: ['the requester cannot review their own command'] });
      const other = request([{ ...review('oidc:dana@example.com', 'Approved'), reviewerUid: 'dana' }]);
      expect(countedBy('', o, other)).toEqual({ approvals: 1, why: [] });
    });

    it('counts a reviewer once by uid: the same person under a renamed username does not make two approvals', () => {
      const o = { ...opts, usernameMappings: [{ issuer: 'https://idp', claim: 'email', prefix: 'oidc:', uidClaim: 'sub' }] };
      const req = request([{ ...review('oidc:dana@example.com', 'Approved'), reviewerUid: 'dana' }, { ...review('oidc:dana.new@example.com', 'Approved', 2), reviewerUid: 'dana' }]);
      const d = decideApproval(req, policy(2), T0 + 180_000, o);
      expect(d.patch).toMatchObject({ phase: 'Pending', approvals: 1 });
      expect(d.ignored).toEqual([{ reviewer: 'oidc:dana.new@example.com', why: 'already reviewed' }]);
    });

    it('counts a reviewer once whatever the case or compatibility form of their username (no uid to tell them apart)', () => {
      const o = { ...opts, usernameMappings: [{ issuer: 'https://idp', claim: 'email', prefix: 'oidc:' }] };
      const req = request([review('oidc:dana@example.com', 'Approved'), review('oidc:Dana@Example.com', 'Approved', 2), review('oidc:ｄａｎａ@example.com', 'Approved', 3)]);
      const d = decideApproval(req, policy(2), T0 + 180_000, o);
      expect(d.patch).toMatchObject({ phase: 'Pending', approvals: 1 });
      expect(d.ignored).toEqual([{ reviewer: 'oidc:Dana@Example.com', why: 'already reviewed' }, { reviewer: 'oidc:ｄａｎａ@example.com', why: 'already reviewed' }]);
    });

    it('counts no review of an OIDC requester whose issuer has no mapping, and says which setting is missing', () => {
      const r = countedBy('dana', { ...opts, usernameMappings: [] });
      expect(r.approvals).toBe(0);
      expect(r.why[0]).toContain('GUARITA_OIDC_USERNAME_MAPPINGS');
    });
    it('counts no review of a request that does not record the requester\'s issuer', () => {
      const req = request([review('dana', 'Approved')]);
      delete req.spec.requester.issuer;
      expect(countedBy('dana', opts, req).why[0]).toContain('spec.requester.issuer');
    });
    it('service accounts: the full name only', () => {
      const req = request([review('system:serviceaccount:shop:agent', 'Approved'), review('system:serviceaccount:other:agent', 'Approved', 2)]);
      req.spec.requester = { username: 'system:serviceaccount:shop:agent', kind: 'ServiceAccount' };
      expect(countedBy('', opts, req)).toEqual({ approvals: 1, why: ['the requester cannot review their own command'] });
    });
  });

  it('writes nothing when the status is already right', () => {
    const req = apply(request(), T0);
    expect(decideApproval(req, policy(), T0 + 1000, opts).patch).toBeUndefined();
  });
});

// Round 9 (approvals, finding 1): an Approved request kept Approved after its rule became stricter
// was consumed under the new rule. It now expires, naming the change; a change elsewhere keeps it.
describe('decideApproval: an Approved request whose rule changed', () => {
  const withRule = (edit: (rule: AccessPolicy['spec']['rules'][number]) => void, p = policy(1)): AccessPolicy => {
    const changed = structuredClone(p);
    edit(changed.spec.rules[0]!);
    return changed;
  };
  const approvedUnder = (p = policy(1)): ApprovalRequest => {
    const req = apply(request([review('dana', 'Approved')]), T0 + 60_000, p);
    req.spec.approval = { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 };
    return req;
  };
  const later = T0 + 5 * 60_000;

  it('records until when the sidecar may run it (status.consumeBy = expiresAt + grace)', () => {
    expect(approvedUnder().status).toMatchObject({ phase: 'Approved', consumeBy: '2026-03-01T10:25:00Z' });
  });

  it.each<[string, AccessPolicy, RegExp]>([
    ['more approvals', policy(2), /the rule now needs 2 approval\(s\), the request asked for 1/],
    ['another approver group', withRule((r) => { r.approval = { approverGroups: ['auditors'], minApprovals: 1 }; }), /approver group\(s\) dpo no longer approve/],
    ['the rule no longer requiring approval', withRule((r) => { r.action = 'allow'; delete r.approval; }), /rule exports of AccessPolicy orders-db no longer requires approval/],
  ])('expires it after %s, naming the change', (_what, changed, why) => {
    const d = decideApproval(approvedUnder(), changed, later, opts);
    expect(d).toMatchObject({ from: 'Approved', to: 'Expired' });
    expect(d.patch?.message).toMatch(/^the policy changed after the approval: /);
    expect(d.patch?.message).toMatch(why);
  });

  it('expires one of an older sidecar (no recorded plan) whose reviews fall short of the rule in force', () => {
    const legacy = approvedUnder();
    delete legacy.spec.approval;
    expect(decideApproval(legacy, policy(2), later, opts)).toMatchObject({ to: 'Expired' });
    expect(decideApproval(legacy, policy(1), later, opts)).toMatchObject({ to: 'Approved' });
  });

  it('keeps it Approved after a change elsewhere, a looser rule, a shorter ttl (the sidecar judges the lifetime), or while the policy is not seen', () => {
    expect(decideApproval(approvedUnder(), withRule((r) => { r.approval = { approverGroups: ['dpo'], minApprovals: 1, ttl: '5m' }; }), later, opts)).toMatchObject({ to: 'Approved' });
    expect(decideApproval(approvedUnder(), withRule((r) => { r.description = 'reworded'; }), later, opts)).toMatchObject({ to: 'Approved' });
    expect(decideApproval(approvedUnder(), withRule((r) => { r.approval = { approverGroups: ['dpo', 'legal'], minApprovals: 1, ttl: '1h' }; }), later, opts)).toMatchObject({ to: 'Approved' });
    expect(decideApproval(approvedUnder(), undefined, later, opts)).toMatchObject({ to: 'Approved' });
  });
});

describe('a Pending request under a rule that tightened while it waited', () => {
  const recorded = (req: ApprovalRequest): ApprovalRequest => ({ ...req, spec: { ...req.spec, approval: { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 } } });
  const withRule = (approval: { approverGroups: string[]; minApprovals?: number }): AccessPolicy => {
    const p = policy(1);
    return { ...p, spec: { ...p.spec, rules: [{ name: 'exports', action: 'requireApproval', approval }, { name: 'rest', action: 'allow' }] } };
  };

  it('expires at once, naming the change, when the rule needs more approvals or other approvers', () => {
    for (const [approval, change] of [
      [{ approverGroups: ['dpo'], minApprovals: 2 }, /the rule now needs 2 approval\(s\), the request asked for 1/],
      [{ approverGroups: ['security'] }, /approver group\(s\) dpo no longer approve/],
    ] as const) {
      const d = decideApproval(recorded(request([review('dana', 'Approved')])), withRule({ ...approval, approverGroups: [...approval.approverGroups] }), T0 + 60_000, opts);
      expect(d.to).toBe('Expired');
      expect(d.patch?.message).toMatch(/^the policy changed while the request waited: /);
      expect(d.patch?.message).toMatch(change);
    }
  });

  it('keeps waiting when the rule loosened (more groups, fewer approvals), records no plan, or the policy is not seen; a denial still wins', () => {
    expect(decideApproval(recorded(request()), withRule({ approverGroups: ['dpo', 'security'] }), T0 + 60_000, opts).to).toBe('Pending');
    expect(decideApproval(request(), withRule({ approverGroups: ['security'] }), T0 + 60_000, opts).to).toBe('Pending');
    expect(decideApproval(recorded(request()), undefined, T0 + 60_000, opts).to).toBe('Pending');
    expect(decideApproval(recorded(request([review('dana', 'Denied', 1, ['security'])])), withRule({ approverGroups: ['security'] }), T0 + 60_000, opts).to).toBe('Denied');
  });
});
