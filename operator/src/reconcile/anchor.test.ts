import { describe, expect, it } from '@jest/globals';
import { anchorPatch } from './anchor.ts';
import type { PolicyHead } from '../store/types.ts';

const head: PolicyHead = { namespace: 'shop', policy: 'orders-db', records: 12, head: 'a'.repeat(64), counters: { total: 9, denied: 1, approvalsRequested: 0 }, version: 3 };
const now = Date.parse('2026-01-10T12:00:00Z');

describe('anchorPatch', () => {
  it('anchors the store log\'s newest checkpoint (durable), not a link a commit in flight may still lose', () => {
    const patch = anchorPatch({ ...head, checkpoint: { size: 10, root: 'r'.repeat(64), note: 'store/shop/orders-db\n10\n…', head: 'b'.repeat(64) } }, now);
    expect(patch.status.chain).toEqual({ head: 'b'.repeat(64), records: 10, anchoredAt: '2026-01-10T12:00:00Z' });
    expect(patch.status.sessions).toEqual({ total: 9, denied: 1, approvalsRequested: 0 });
  });

  it('anchors the newest link of a format 1 store chain (no checkpoints), as before', () => {
    expect(anchorPatch(head, now).status.chain).toEqual({ head: 'a'.repeat(64), records: 12, anchoredAt: '2026-01-10T12:00:00Z' });
  });
});
