// The cap on Pending ApprovalRequests per requester through the reconciler as the controller wires
// it (16 workers, the real EventRecorder), over a fake apiserver and informer (round 11 review,
// finding 3).
import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy, ApprovalRequest } from '../../../crds/types.ts';
import type { Informer, KubeObject } from '../../../core/kube/informer.ts';
import { accessPolicy } from '../../../e2e/support/access-policy.ts';
import { EventRecorder } from '../events.ts';
import type { KubeApi } from '../kube/client.ts';
import { createMetrics } from '../metrics.ts';
import { ApprovalReconciler } from './approval-request.ts';
import { WorkQueue } from './queue.ts';

const quiet = { info: () => undefined, warn: () => undefined, debug: () => undefined };
const CREATED = '2026-03-01T10:00:00Z';

/** `pod`: the creating pod the webhook stamped (guarita.io/created-by-pod); none: created before the stamp. */
function request(namespace: string, name: string, requester: string, pod?: string): ApprovalRequest {
  const annotations = pod === undefined ? {} : { annotations: { 'guarita.io/created-by': `system:serviceaccount:${namespace}:agent`, 'guarita.io/created-by-pod': pod } };
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest',
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: '1', creationTimestamp: CREATED, ...annotations },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'exports-need-dpo',
      requester: { username: requester, groups: ['support'], kind: 'User', issuer: 'https://idp.example.com', claims: { sub: requester } },
      purpose: 'customer-support', target: { name: 'orders-db', protocol: 'postgres' },
      command: { text: 'COPY customers TO STDOUT', preview: 'COPY customers TO STDOUT', sha256: 'c'.repeat(64) },
      podRef: { name: `${requester}-pod` }, sessionId: `s-${name}`,
      expiresAt: new Date(Date.now() + 15 * 60_000).toISOString().replace(/\.\d+Z$/, 'Z'), reviews: [],
    },
  } as unknown as ApprovalRequest;
}

/**
 * The informer tells the reconciler of every change, then queues the key, as the controller does.
 * `lag`: status writes reach the apiserver but not the informer until `catchUp()` (a watch event
 * not delivered yet).
 */
function rig(opts: { cap?: number; podCap?: number; lag?: boolean } = {}) {
  const approvals = new Map<string, ApprovalRequest>();
  const apiserver = new Map<string, ApprovalRequest>();
  const policies = new Map<string, AccessPolicy>();
  const events: { namespace: string; name: string; reason: string; message: string }[] = [];
  let informed: (next: ApprovalRequest, old: ApprovalRequest | undefined) => void = () => undefined;
  const api = {
    mergePatch: (path: string, body: { status?: Record<string, unknown> }) => {
      const m = /namespaces\/([^/]+)\/approvalrequests\/([^/]+)\/status$/.exec(path);
      const key = `${m?.[1]}/${m?.[2]}`;
      const cur = apiserver.get(key) ?? approvals.get(key);
      if (cur !== undefined) {
        const next = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(Number(cur.metadata.resourceVersion) + 1) }, status: { ...cur.status, ...body.status } } as ApprovalRequest;
        apiserver.set(key, next);
        if (opts.lag !== true) setImmediate(() => informed(next, approvals.get(key)));
      }
      return Promise.resolve({});
    },
    create: (path: string, body: { involvedObject?: { namespace: string; name: string }; reason?: string; message?: string }) => {
      if (path.endsWith('/events') && body.involvedObject !== undefined) events.push({ namespace: body.involvedObject.namespace, name: body.involvedObject.name, reason: body.reason ?? '', message: body.message ?? '' });
      return Promise.resolve({});
    },
    remove: () => Promise.resolve(undefined),
  } as unknown as KubeApi;
  const informer = <T extends KubeObject>(m: Map<string, T>) => ({
    get: (ns: string, name: string) => m.get(`${ns}/${name}`),
    list: (ns?: string) => [...m.values()].filter((o) => ns === undefined || o.metadata.namespace === ns),
  }) as unknown as Informer<T>;
  const metrics = createMetrics(false);
  const recorder = new EventRecorder(api, { component: 'guarita-operator', instance: 'test', log: quiet, metrics });
  const reconciler = new ApprovalReconciler({
    api, approvals: informer(approvals), policies: informer(policies), events: recorder, metrics, log: quiet,
    options: { approvedGraceMs: 60_000, defaultRetentionMs: 3_600_000, usernameMappings: [], parseDuration: () => undefined, ...(opts.cap === undefined ? {} : { maxPendingPerRequester: opts.cap }), ...(opts.podCap === undefined ? {} : { maxPendingPerPod: opts.podCap }) },
  });
  const queue = new WorkQueue((k) => reconciler.reconcile(k), { concurrency: 16, baseDelayMs: 250, maxDelayMs: 60_000 });
  for (const ns of ['team-a', 'team-b']) policies.set(`${ns}/orders-db`, accessPolicy(ns, 'orders-db') as unknown as AccessPolicy);
  informed = (next, old) => {
    const key = `${next.metadata.namespace ?? ''}/${next.metadata.name}`;
    approvals.set(key, next);
    reconciler.onChange(old === undefined ? 'added' : 'modified', next, old);
    queue.add(key);
  };
  const create = (r: ApprovalRequest): void => informed(r, undefined);
  /** Someone else (an approver's review decided by another replica, a break-glass edit) changes the status. */
  const setStatus = (key: string, status: ApprovalRequest['status']): void => {
    const cur = apiserver.get(key) as ApprovalRequest;
    apiserver.set(key, { ...cur, status: { ...cur.status, ...status } });
    informed(apiserver.get(key) as ApprovalRequest, approvals.get(key));
  };
  const catchUp = (): void => { for (const [k, v] of apiserver) informed(v, approvals.get(k)); };
  const phases = (ns: string, prefix: string) => [...apiserver.values()].filter((r) => r.metadata.namespace === ns && r.metadata.name.startsWith(prefix)).map((r) => r.status?.phase);
  const count = (list: (string | undefined)[], phase: string): number => list.filter((p) => p === phase).length;
  /** Until no watch event is on its way and no reconcile is queued or running. */
  const drain = async (): Promise<void> => {
    for (let quiet = 0; quiet < 5;) {
      await queue.idle();
      await new Promise((r) => setImmediate(r));
      quiet = queue.depth === 0 ? quiet + 1 : 0;
    }
  };
  return { apiserver, approvals, events, metrics, queue, create, setStatus, catchUp, phases, count, drain };
}

/** Pending plus earlier undecided requests a refusal names (NaN when it names neither as expected). */
function aheadIn(message: string | undefined): number {
  const m = /already has (\d+) Pending ApprovalRequest\(s\)(?: and (\d+) earlier one\(s\) not decided yet)? in namespace team-a, and the limit per requester is 20 /.exec(message ?? '');
  return m === null ? Number.NaN : Number(m[1]) + Number(m[2] ?? 0);
}

describe('the cap on Pending ApprovalRequests per requester, through the reconciler', () => {
  it('puts exactly N of one requester\'s burst before approvers, expires the rest at once, and leaves other requesters and namespaces alone', async () => {
    const r = rig({ cap: 20 });
    // Interleaved: 25 of agent-a in team-a, bob's 3 there, and agent-a's 3 in team-b; all in one second.
    for (let i = 0; i < 25; i++) {
      r.create(request('team-a', `flood-${String(i).padStart(2, '0')}`, 'agent-a'));
      if (i % 8 === 0 && i < 24) {
        r.create(request('team-a', `bob-${i}`, 'bob'));
        r.create(request('team-b', `flood-${i}`, 'agent-a'));
      }
    }
    await r.drain();
    const flood = r.phases('team-a', 'flood-');
    expect([r.count(flood, 'Pending'), r.count(flood, 'Expired')]).toEqual([20, 5]);
    expect(r.phases('team-a', 'bob-')).toEqual(['Pending', 'Pending', 'Pending']);
    expect(r.phases('team-b', 'flood-')).toEqual(['Pending', 'Pending', 'Pending']);
    // The first 20 in the line (creation time, then name) are the ones put before approvers.
    expect([...r.apiserver.values()].filter((x) => x.metadata.namespace === 'team-a' && x.status?.phase === 'Expired').map((x) => x.metadata.name).sort()).toEqual(['flood-20', 'flood-21', 'flood-22', 'flood-23', 'flood-24']);
    const refused = r.apiserver.get('team-a/flood-24');
    // Pending, or created earlier and not decided yet when it was judged: 20 ahead of it either way.
    expect(aheadIn(refused?.status?.message)).toBe(20);
    expect(refused?.status?.message).toContain('GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER');
    // Approvers are cued for the 26 requests they must read, not for the 5 over the cap.
    const cues = r.events.filter((e) => e.reason === 'ApprovalRequested');
    expect(cues).toHaveLength(26);
    expect(cues.filter((e) => /^flood-2[0-4]$/.test(e.name) && e.namespace === 'team-a')).toEqual([]);
    expect(r.events.filter((e) => e.reason === 'TooManyPending').map((e) => e.name).sort()).toEqual(['flood-20', 'flood-21', 'flood-22', 'flood-23', 'flood-24']);
    expect((await r.metrics.approvalsOverCap.get()).values).toEqual([{ labels: { namespace: 'team-a' }, value: 5 }]);
    r.queue.stop();
  });

  it('admits N and refuses N+1 one at a time, and admits again once one is decided', async () => {
    const r = rig({ cap: 3 });
    for (let i = 0; i < 3; i++) {
      r.create(request('team-a', `r-${i}`, 'agent-a'));
      await r.drain();
    }
    expect(r.phases('team-a', 'r-')).toEqual(['Pending', 'Pending', 'Pending']);
    r.create(request('team-a', 'r-3', 'agent-a'));
    await r.drain();
    expect(r.apiserver.get('team-a/r-3')?.status).toMatchObject({ phase: 'Expired' });
    expect(r.apiserver.get('team-a/r-3')?.status?.message).toContain('already has 3 Pending ApprovalRequest(s) in namespace team-a, and the limit per requester is 3');
    // An approver denies one: a slot is free for the next command.
    r.setStatus('team-a/r-0', { phase: 'Denied' });
    r.create(request('team-a', 'r-4', 'agent-a'));
    await r.drain();
    expect(r.apiserver.get('team-a/r-4')?.status?.phase).toBe('Pending');
    r.queue.stop();
  });

  it('counts the requests it just made Pending before the informer shows them', async () => {
    const r = rig({ cap: 3, lag: true });
    for (let i = 0; i < 3; i++) {
      r.create(request('team-a', `m-${i}`, 'agent-a'));
      await r.drain();
    }
    expect(r.phases('team-a', 'm-')).toEqual(['Pending', 'Pending', 'Pending']);
    expect([...r.approvals.values()].map((x) => x.status?.phase)).toEqual([undefined, undefined, undefined]); // the informer lags
    // Created in the same second with a name that sorts first: by the informer alone nothing is ahead of it.
    r.create(request('team-a', 'a-first', 'agent-a'));
    await r.drain();
    expect(r.apiserver.get('team-a/a-first')?.status?.phase).toBe('Expired');
    // Once the informer catches up, the three stay Pending (the cap never expires a Pending request).
    r.catchUp();
    await r.drain();
    expect(r.phases('team-a', 'm-')).toEqual(['Pending', 'Pending', 'Pending']);
    r.queue.stop();
  });
});

// Round 11 follow-up: the agent may create requests itself and name a new requester in each; the
// creating pod, stamped by the webhook from userInfo, is capped too.
describe('the cap on Pending ApprovalRequests per creating pod, through the reconciler', () => {
  it('puts exactly N of one pod\'s burst before approvers whatever requester each names, and leaves other pods and unstamped requests alone', async () => {
    const r = rig({ cap: 20, podCap: 10 });
    for (let i = 0; i < 14; i++) {
      const n = String(i).padStart(2, '0');
      r.create(request('team-a', `renamed-${n}`, `agent-${n}`, 'team-a/agent-7'));
      if (i % 4 === 0) r.create(request('team-a', `other-${n}`, `agent-${n}`, 'team-a/agent-8'));
      if (i % 4 === 0) r.create(request('team-a', `legacy-${n}`, `agent-${n}`));
    }
    await r.drain();
    const flood = r.phases('team-a', 'renamed-');
    expect([r.count(flood, 'Pending'), r.count(flood, 'Expired')]).toEqual([10, 4]);
    expect([...r.apiserver.values()].filter((x) => x.status?.phase === 'Expired').map((x) => x.metadata.name).sort()).toEqual(['renamed-10', 'renamed-11', 'renamed-12', 'renamed-13']);
    expect(r.phases('team-a', 'other-')).toEqual(['Pending', 'Pending', 'Pending', 'Pending']);
    expect(r.phases('team-a', 'legacy-')).toEqual(['Pending', 'Pending', 'Pending', 'Pending']);
    const message = r.apiserver.get('team-a/renamed-13')?.status?.message ?? '';
    expect(message).toMatch(/^not put before approvers: pod team-a\/agent-7, which created it, already has \d+ Pending ApprovalRequest\(s\)/);
    expect(message).toContain('and the limit per creating pod (or user outside a pod) is 10 whatever requester each names (--max-pending-approvals-per-pod / GUARITA_MAX_PENDING_APPROVALS_PER_POD)');
    expect(r.events.filter((e) => e.reason === 'TooManyPending').map((e) => e.name).sort()).toEqual(['renamed-10', 'renamed-11', 'renamed-12', 'renamed-13']);
    expect(r.events.filter((e) => e.reason === 'ApprovalRequested' && /^renamed-1[0-3]$/.test(e.name))).toEqual([]);
    r.queue.stop();
  });

  it('admits N and refuses N+1 one at a time, counts the pod across namespaces, and admits again once one is decided', async () => {
    const r = rig({ podCap: 3 });
    for (const [ns, i] of [['team-a', 0], ['team-b', 1], ['team-a', 2]] as const) {
      r.create(request(ns, `r-${i}`, `name-${i}`, 'team-a/agent-7'));
      await r.drain();
    }
    r.create(request('team-b', 'r-3', 'name-3', 'team-a/agent-7'));
    await r.drain();
    expect(r.apiserver.get('team-b/r-3')?.status).toMatchObject({ phase: 'Expired', message: expect.stringContaining('pod team-a/agent-7, which created it, already has 3 Pending ApprovalRequest(s), and the limit per creating pod (or user outside a pod) is 3') });
    r.setStatus('team-a/r-0', { phase: 'Denied' });
    r.create(request('team-a', 'r-4', 'name-4', 'team-a/agent-7'));
    await r.drain();
    expect(r.apiserver.get('team-a/r-4')?.status?.phase).toBe('Pending');
    r.queue.stop();
  });

  it('defaults to 50 per pod', async () => {
    const r = rig();
    for (let i = 0; i < 51; i++) r.create(request('team-a', `d-${String(i).padStart(2, '0')}`, `name-${i}`, 'team-a/agent-7'));
    await r.drain();
    const all = r.phases('team-a', 'd-');
    expect([r.count(all, 'Pending'), r.count(all, 'Expired')]).toEqual([50, 1]);
    expect(r.apiserver.get('team-a/d-50')?.status?.message).toContain('is 50 whatever requester');
    r.queue.stop();
  });
});
