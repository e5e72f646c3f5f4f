// Round 11 review, finding 3: the operator expires a request over the cap on Pending requests per
// requester at its first decision. The sidecar holding the command must answer at once with a
// refusal, not wait out GUARITA_APPROVAL_WAIT, and a resent command must ask again (the expiry
// does not stand, unlike a denial).
import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest } from '../../crds/types.ts';
import { commandSha256 } from '../../core/approvals/command.ts';
import { Approvals, type ApprovalBinding } from './approvals.ts';
import type { KubeClient, WatchEvent } from './kube/client.ts';
import type { Logger } from './log.ts';

const TEXT = 'COPY (SELECT id FROM orders) TO STDOUT';
const OVER_CAP = 'not put before approvers: support-agent already has 20 Pending ApprovalRequest(s) in namespace shop, and the limit per requester is 20 '
  + '(--max-pending-approvals-per-requester / GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER); run the command again once some of them are decided or expired';

const binding: ApprovalBinding = {
  policy: 'orders-db', rule: 'exports-need-dpo', identity: { subject: 'support-agent', groups: ['support'], kind: 'User' }, purpose: 'support', target: 'orders-db', protocol: 'postgres',
  commandText: TEXT, commandSha256: commandSha256(TEXT), sessionId: 's-1', plan: { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 },
};

/** A fake apiserver whose operator expires every new request over the cap (the watch's first event). */
function overCapApiserver(): { approvals: Approvals; created: ApprovalRequest[] } {
  const created: ApprovalRequest[] = [];
  const kube = {
    request: (_path: string, opts: { method?: string; body?: unknown } = {}): Promise<unknown> => {
      if (opts.method === 'POST') {
        const body = { ...(opts.body as ApprovalRequest) };
        body.metadata = { ...body.metadata, creationTimestamp: new Date().toISOString(), resourceVersion: '1' };
        created.push(body);
        return Promise.resolve(body);
      }
      // Listing finds the earlier requests expired by the cap: they do not answer a resend.
      return Promise.resolve({ items: created.map((r) => ({ ...r, status: { phase: 'Expired', message: OVER_CAP } })) });
    },
    watch: (_path: string, handlers: { onEvent(ev: WatchEvent<ApprovalRequest>): void }): Promise<void> => {
      const last = created.at(-1) as ApprovalRequest;
      handlers.onEvent({ type: 'MODIFIED', object: { ...last, metadata: { ...last.metadata, resourceVersion: '2' }, status: { phase: 'Expired', message: OVER_CAP } } });
      return Promise.resolve();
    },
  } as unknown as KubeClient;
  const logger = { info() {}, warn() {}, error() {}, debug() {}, child() { return logger; } } as unknown as Logger;
  return { approvals: new Approvals({ kube, namespace: 'shop', podName: 'agent', logger }), created };
}

describe('a command held on a request the operator expired over the cap', () => {
  it('is refused at once, not after the approval wait, and a resend asks again on a new request', async () => {
    const h = overCapApiserver();
    const started = Date.now();
    const first = await h.approvals.resolve(binding, { waitMs: 30_000 });
    expect(first.kind).toBe('expired');
    expect(first.request.status?.message).toBe(OVER_CAP);
    expect(Date.now() - started).toBeLessThan(5_000);
    const again = await h.approvals.resolve(binding, { waitMs: 30_000 });
    expect(again.kind).toBe('expired');
    expect(h.created).toHaveLength(2);
  });
});
