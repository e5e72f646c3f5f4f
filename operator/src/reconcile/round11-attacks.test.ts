// Round 11 adversarial review: one agent's flood of ApprovalRequests against the operator's
// approval reconciler, work queue and Event recorder as the controller wires them (16 workers, the
// real EventRecorder), over a fake apiserver that answers every write after the same short delay.
// The test FAILED on the code it was written against (report: docs/security-model.md, "Round 11" operator sections).
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

function request(namespace: string, name: string, requester: string): ApprovalRequest {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest',
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: '1', creationTimestamp: new Date().toISOString() },
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

/** The controller's wiring of one kind's work: the reconciler behind a WorkQueue of --workers (16). */
function rig(writeDelayMs: number) {
  const approvals = new Map<string, ApprovalRequest>();
  const policies = new Map<string, AccessPolicy>();
  const eventsWritten: { namespace: string; name: string; reason: string }[] = [];
  const slow = <T>(v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), writeDelayMs));
  const api = {
    mergePatch: (path: string, body: { status?: Record<string, unknown> }) => {
      const m = /namespaces\/([^/]+)\/approvalrequests\/([^/]+)\/status$/.exec(path);
      if (m !== null) {
        const cur = approvals.get(`${m[1]}/${m[2]}`);
        if (cur !== undefined) approvals.set(`${m[1]}/${m[2]}`, { ...cur, metadata: { ...cur.metadata, resourceVersion: String(Number(cur.metadata.resourceVersion) + 1) }, status: { ...cur.status, ...body.status } });
      }
      return slow({});
    },
    create: (path: string, body: { involvedObject?: { namespace: string; name: string }; reason?: string }) => {
      if (path.endsWith('/events') && body.involvedObject !== undefined) eventsWritten.push({ namespace: body.involvedObject.namespace, name: body.involvedObject.name, reason: body.reason ?? '' });
      return slow({});
    },
    remove: () => slow(undefined),
  } as unknown as KubeApi;
  const informer = <T extends KubeObject>(m: Map<string, T>) => ({ get: (ns: string, name: string) => m.get(`${ns}/${name}`), list: () => [...m.values()] }) as unknown as Informer<T>;
  const events = new EventRecorder(api, { component: 'guarita-operator', instance: 'test', log: quiet });
  const reconciler = new ApprovalReconciler({
    api, approvals: informer(approvals), policies: informer(policies), events, metrics: createMetrics(false), log: quiet,
    options: { approvedGraceMs: 60_000, defaultRetentionMs: 3_600_000, usernameMappings: [], parseDuration: () => undefined },
  });
  const queue = new WorkQueue((k) => reconciler.reconcile(k), { concurrency: 16, baseDelayMs: 250, maxDelayMs: 60_000 });
  const create = (r: ApprovalRequest): void => {
    approvals.set(`${r.metadata.namespace ?? ''}/${r.metadata.name}`, r);
    queue.add(`${r.metadata.namespace ?? ''}/${r.metadata.name}`);
  };
  return { approvals, policies, eventsWritten, queue, create };
}

describe('one agent floods ApprovalRequests', () => {
  it('another team\'s request still gets its ApprovalRequested Event, the approvers\' cue (the flood\'s Events push it out of the recorder\'s queue)', async () => {
    const r = rig(2);
    for (const ns of ['team-a', 'team-b']) r.policies.set(`${ns}/orders-db`, accessPolicy(ns, 'orders-db') as unknown as AccessPolicy);
    // The flooding agent (no per-requester cap anywhere: the webhook admits each, the operator queues
    // each), with other teams' genuine requests arriving among its requests (one every 400).
    const others: string[] = [];
    for (let i = 0; i < 8000; i++) {
      r.create(request('team-a', `flood-${i}`, 'agent-a'));
      if (i % 400 === 399) {
        others.push(`refund-export-${i}`);
        r.create(request('team-b', `refund-export-${i}`, 'bob'));
      }
    }
    await r.queue.idle();
    // Let the Event recorder drain what it kept.
    await new Promise((res) => setTimeout(res, 3_000));
    expect(others.map((n) => r.approvals.get(`team-b/${n}`)?.status?.phase)).toEqual(others.map(() => 'Pending'));
    const cued = new Set(r.eventsWritten.filter((e) => e.namespace === 'team-b' && e.reason === 'ApprovalRequested').map((e) => e.name));
    const floodCues = r.eventsWritten.filter((e) => e.namespace === 'team-a' && e.reason === 'ApprovalRequested').length;
    console.log(JSON.stringify({ teamB: others.length, teamBCued: cued.size, flood: 8000, floodCues }));
    // Every other team's request was announced to its approvers.
    expect(others.filter((n) => !cued.has(n))).toEqual([]);
    // The flood itself costs approvers at most the cap (GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER,
    // default 20): the rest expired at once, naming the limit, with no ApprovalRequested cue.
    const flood = [...r.approvals.values()].filter((a) => a.metadata.namespace === 'team-a');
    expect(flood.filter((a) => a.status?.phase === 'Pending')).toHaveLength(20);
    expect(flood.filter((a) => a.status?.phase === 'Expired')).toHaveLength(7980);
    expect(flood.find((a) => a.status?.phase === 'Expired')?.status?.message).toContain('GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER');
    expect(floodCues).toBe(20);
  }, 60_000);
});
