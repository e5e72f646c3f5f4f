// Round 9 (approvals, finding 1 and its observations): which existing ApprovalRequest the sidecar
// claims for a resent command. An approval the rule in force no longer accepts (more approvals,
// other approvers), one past its time to be used, or one of another pod with the same name is
// left alone and the command is held on a new request, which records the rule's plan.
import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest } from '../../crds/types.ts';
import { commandPreview, commandSha256 } from '../../core/approvals/command.ts';
import { Approvals, type ApprovalBinding } from './approvals.ts';
import type { KubeClient } from './kube/client.ts';
import type { Logger } from './log.ts';

const TEXT = 'COPY (SELECT id FROM orders) TO STDOUT';
const PLAN = { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 };
const iso = (ms: number): string => new Date(ms).toISOString();

function binding(plan = PLAN): ApprovalBinding {
  return {
    policy: 'orders-db', rule: 'exports-need-dpo', identity: { subject: 'support-agent', groups: ['support'], kind: 'User' }, purpose: 'support', target: 'orders-db', protocol: 'postgres',
    commandText: TEXT, commandSha256: commandSha256(TEXT), sessionId: 's-1', plan,
  };
}

/** An Approved request as this sidecar created it (under `recorded`) and the operator approved it (dana, group dpo). */
function approved(name: string, opts: { recorded?: typeof PLAN; podUid?: string; consumeBy?: string; groups?: string[] } = {}): ApprovalRequest {
  const created = Date.now() - 60_000;
  const time = iso(created + 1000);
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name, namespace: 'shop', creationTimestamp: iso(created), resourceVersion: '7' },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'exports-need-dpo', requester: { username: 'support-agent', groups: ['support'], kind: 'User' }, purpose: 'support',
      target: { name: 'orders-db', protocol: 'postgres' }, command: { text: TEXT, preview: commandPreview(TEXT), sha256: commandSha256(TEXT) },
      podRef: { name: 'agent', ...(opts.podUid === undefined ? {} : { uid: opts.podUid }) }, sessionId: 's-0', expiresAt: iso(created + 900_000),
      ...(opts.recorded === undefined ? {} : { approval: opts.recorded }),
      reviews: [{ decision: 'Approved', reason: 'ticket', reviewer: 'dana', reviewerGroups: opts.groups ?? ['dpo'], time }],
    },
    status: {
      phase: 'Approved', approvals: 1, required: 1, reviews: [{ reviewer: 'dana', decision: 'Approved', reason: 'ticket', time }],
      ...(opts.consumeBy === undefined ? {} : { consumeBy: opts.consumeBy }),
    },
  };
}

/** A fake apiserver: lists `items`, answers a create with the body, a claim with the request Consumed. */
function harness(items: ApprovalRequest[], pod: { podUid?: string } = {}): { approvals: Approvals; created: ApprovalRequest[]; claimed: string[] } {
  const created: ApprovalRequest[] = [];
  const claimed: string[] = [];
  const kube = {
    request: (path: string, opts: { method?: string; body?: unknown } = {}): Promise<unknown> => {
      if (opts.method === 'POST') {
        const body = { ...(opts.body as ApprovalRequest) };
        body.metadata = { ...body.metadata, creationTimestamp: iso(Date.now()), resourceVersion: '1' };
        created.push(body);
        return Promise.resolve(body);
      }
      if (opts.method === 'PATCH') {
        const name = decodeURIComponent(path.split('/').at(-2) ?? '');
        claimed.push(name);
        const r = items.find((i) => i.metadata.name === name);
        return Promise.resolve({ ...r, status: { ...r?.status, phase: 'Consumed' } });
      }
      return Promise.resolve({ items });
    },
    watch: () => Promise.resolve(),
  } as unknown as KubeClient;
  const logger = { info() {}, warn() {}, error() {}, debug() {}, child() { return logger; } } as unknown as Logger;
  return { approvals: new Approvals({ kube, namespace: 'shop', podName: 'agent', ...(pod.podUid === undefined ? {} : { podUid: pod.podUid }), logger }), created, claimed };
}

async function resend(items: ApprovalRequest[], plan = PLAN, pod: { podUid?: string } = {}): Promise<{ kind: string; claimed: string[]; created: ApprovalRequest[] }> {
  const h = harness(items, pod);
  const outcome = await h.approvals.resolve(binding(plan), { waitMs: 0 });
  return { kind: outcome.kind, claimed: h.claimed, created: h.created };
}

describe('a resent command claims an approval only while it answers the rule in force', () => {
  it('claims one given under the same plan (recorded, or by an older sidecar)', async () => {
    expect(await resend([approved('ar-1', { recorded: PLAN })])).toMatchObject({ kind: 'approved', claimed: ['ar-1'], created: [] });
    expect(await resend([approved('ar-1')])).toMatchObject({ kind: 'approved', claimed: ['ar-1'] });
  });

  it.each([
    ['the rule now needs 2 approvals', { ...PLAN, minApprovals: 2 }],
    ['the rule now needs another approver group', { ...PLAN, approverGroups: ['auditors'] }],
    ['the rule now needs 2 approvals from another group', { approverGroups: ['auditors'], minApprovals: 2, ttlSeconds: 900 }],
  ])('holds the command on a new request when %s (recorded plan, or reviews of an older sidecar\'s request)', async (_what, now) => {
    for (const item of [approved('ar-1', { recorded: PLAN }), approved('ar-1')]) {
      const r = await resend([item], now);
      expect(r).toMatchObject({ kind: 'pending', claimed: [] });
      expect(r.created).toHaveLength(1);
      expect(r.created[0]?.spec.approval).toEqual(now);
    }
  });

  it('holds it when the reviewer is not in an approver group now, even though the recorded plan is covered', async () => {
    // The counted review's stamped groups are what counts: a review the operator counted under another rule's groups does not satisfy this one.
    expect(await resend([approved('ar-1', { recorded: PLAN, groups: ['support'] })])).toMatchObject({ kind: 'pending', claimed: [] });
  });

  it('claims it under a looser rule (another group added, a longer ttl)', async () => {
    const recorded = approved('ar-1', { recorded: PLAN });
    expect(await resend([recorded], { approverGroups: ['dpo', 'legal'], minApprovals: 1, ttlSeconds: 3600 })).toMatchObject({ kind: 'approved', claimed: ['ar-1'] });
  });

  it('holds it past its time to be used (status.consumeBy, or spec.expiresAt), even with the operator down', async () => {
    expect(await resend([approved('ar-1', { recorded: PLAN, consumeBy: iso(Date.now() - 10 * 60_000) })])).toMatchObject({ kind: 'pending', claimed: [] });
    const stale = approved('ar-1', { recorded: PLAN });
    stale.metadata.creationTimestamp = iso(Date.now() - 30 * 60_000);
    stale.spec.expiresAt = iso(Date.now() - 15 * 60_000);
    stale.spec.reviews![0]!.time = stale.status!.reviews![0]!.time = iso(Date.now() - 29 * 60_000);
    expect(await resend([stale])).toMatchObject({ kind: 'pending', claimed: [] });
    expect(await resend([approved('ar-1', { recorded: PLAN, consumeBy: iso(Date.now() + 60_000) })])).toMatchObject({ kind: 'approved', claimed: ['ar-1'] });
  });

  it('compares the pod by uid when both sides have one', async () => {
    expect(await resend([approved('ar-1', { recorded: PLAN, podUid: 'uid-old' })], PLAN, { podUid: 'uid-new' })).toMatchObject({ kind: 'pending', claimed: [] });
    expect(await resend([approved('ar-1', { recorded: PLAN, podUid: 'uid-1' })], PLAN, { podUid: 'uid-1' })).toMatchObject({ kind: 'approved', claimed: ['ar-1'] });
    expect(await resend([approved('ar-1', { recorded: PLAN })], PLAN, { podUid: 'uid-1' })).toMatchObject({ kind: 'approved', claimed: ['ar-1'] });
  });

  it('records the rule\'s plan in every request it creates', async () => {
    const r = await resend([]);
    expect(r.created[0]?.spec.approval).toEqual(PLAN);
  });
});
