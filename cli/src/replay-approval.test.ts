// Issue 18, item 11: `guarita replay` shows who approved and why from the signed records alone,
// so the answer survives the ApprovalRequest's deletion by retention.
import { describe, expect, it } from '@jest/globals';
import { fakeSidecar } from '../../e2e/support/store-testkit.ts';
import { paint } from './output.ts';
import { play } from './replay-render.ts';

const plain = paint({ isTTY: false }, {});

describe('replay of an approved command', () => {
  it('shows the reviewers, groups, decisions, times, reasons, rule and required count from the record', async () => {
    const sc = fakeSidecar('shop', 'agent-1');
    const approval = {
      request: 'areq-7', rule: 'exports-need-dpo', required: 2, approvals: 2, approverGroups: ['dpo'], decidedAt: '2026-01-10T12:09:00Z',
      reviews: [
        { reviewer: 'dana', groups: ['dpo'], decision: 'Approved' as const, reason: 'ticket 42', time: '2026-01-10T12:05:00Z' },
        { reviewer: 'dave', groups: ['dpo', 'legal'], decision: 'Approved' as const, reason: 'ANPD request 7', time: '2026-01-10T12:09:00Z' },
      ],
    };
    const base = { sessionId: 's-1', subject: 'support-agent', approvalRequest: 'areq-7', approval };
    const records = [
      ...sc.next(1, { ...base, time: '2026-01-10T12:10:00Z', command: 'COPY customers TO STDOUT', decision: 'allow', rule: 'exports-need-dpo', result: { rows: 3 } }),
      ...sc.next(1, { ...base, type: 'approval.consumed', time: '2026-01-10T12:10:01Z', result: { rows: 3 } }),
    ];
    const out: string[] = [];
    // No reviews from the apiserver: the request is gone.
    await play(records, { timing: false, speed: 1, maxIdleMs: 0, reviews: new Map() }, { write: (s) => out.push(s) }, plain, () => Promise.resolve());
    const text = out.join('');
    expect(text).toContain('✓ approved by dana (groups dpo) at 2026-01-10T12:05:00Z: "ticket 42"');
    expect(text).toContain('✓ approved by dave (groups dpo, legal) at 2026-01-10T12:09:00Z: "ANPD request 7"');
    expect(text).toContain('✓ ApprovalRequest areq-7 consumed: the approved command ran once (3 rows) · rule exports-need-dpo: 2 of 2 required approvals from dpo, decided 2026-01-10T12:09:00Z');
  });
});
