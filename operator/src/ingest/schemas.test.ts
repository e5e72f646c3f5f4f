// The ingest shape check of the approval evidence an approved command's records carry (issue 18, item 11).
import { describe, expect, it } from '@jest/globals';
import { Ajv } from 'ajv';
import { AJV_OPTIONS, batchSchema } from './schemas.ts';

const validate = new Ajv(AJV_OPTIONS).compile(batchSchema(10));
const H = 'a'.repeat(64);

function record(approval: unknown): Record<string, unknown> {
  return {
    chainId: 'c', seq: 1, prev: H, keyId: 'k', hash: H, sig: 's', type: 'approval.consumed', time: '2026-01-10T12:00:00Z', namespace: 'shop', pod: 'p', policy: 'orders', sessionId: 's-1',
    approvalRequest: 'areq-1', approval,
  };
}

const good = {
  request: 'areq-1', rule: 'export-needs-dpo', required: 1, approvals: 1, approverGroups: ['dpo'], decidedAt: '2026-01-10T11:59:00Z',
  reviews: [{ reviewer: 'dana', groups: ['dpo'], decision: 'Approved', reason: 'ticket 1', time: '2026-01-10T11:58:00Z' }],
};

describe('approval evidence at ingest', () => {
  it('accepts the evidence, and records without it', () => {
    expect(validate({ records: [record(good)] })).toBe(true);
    const { approval: _omit, ...without } = record(good);
    expect(validate({ records: [without] })).toBe(true);
  });

  it.each([
    ['a review without reviewer', { ...good, reviews: [{ ...good.reviews[0], reviewer: undefined }] }],
    ['an unknown decision', { ...good, reviews: [{ ...good.reviews[0], decision: 'Maybe' }] }],
    ['a bad time', { ...good, reviews: [{ ...good.reviews[0], time: 'yesterday' }] }],
    ['no rule', { ...good, rule: undefined }],
    ['required 0', { ...good, required: 0 }],
    ['not an object', 'dana approved'],
  ])('refuses %s', (_what, approval) => {
    expect(validate({ records: [record(JSON.parse(JSON.stringify(approval)) as unknown)] })).toBe(false);
  });
});
