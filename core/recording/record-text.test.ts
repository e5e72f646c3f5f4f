import { describe, expect, it } from '@jest/globals';
import { canonicalJsonWithout } from './canonical.ts';
import { recordCanonicalText } from './record-text.ts';

const base = {
  chainId: 'shop/agent-1/abc', seq: 3, prev: '0'.repeat(64), keyId: 'k', v: 2, hash: 'a'.repeat(64),
  type: 'command', time: '2026-01-01T00:00:00.000Z', namespace: 'shop', pod: 'agent-1', policy: 'orders-db', target: 'orders-db', protocol: 'postgres',
  sessionId: 's', subject: 'agent', subjectKind: 'User', groups: ['b', 'a'],
};

describe('recordCanonicalText', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['a minimal record', base],
    ['every optional member, nested out of order', {
      ...base, purpose: 'support', command: 'SELECT "x" \\ \n é 😀 \u2028 \u0001', commandSha256: 'c'.repeat(64), commandTruncated: true, decision: 'allow', rule: 'r', reason: 'why',
      approvalRequest: 'ar-1', approval: { rule: 'r', request: 'ar-1', required: 1, approvals: 1, reviews: [{ time: 't', reviewer: 'x', groups: [], decision: 'Approved', reason: '' }] },
      result: { sample: 'id=1', rows: 1, bytes: 1e21, truncated: false, error: undefined }, masked: { z: 1, cpf: 2, 'é': 3, '\u0080': 4 }, durationMs: 0.5,
      frames: [{ t: 0, ch: 'o', data: 'x' }], channel: 0,
    }],
    ['members whose value is undefined (left out, as JSON.stringify does)', { ...base, purpose: undefined, result: undefined }],
    ['a format 1 record with its sig', { ...base, v: undefined, sig: 'sig' }],
    ['a member the list does not know (the generic path)', { ...base, zeta: 1, Alpha: { b: 1, a: 2 } }],
    ['null and -0', { ...base, reason: null, durationMs: -0 }],
    ['no members but hash', { hash: 'x' }],
    ['top-level numbers in every notation', { ...base, seq: 9007199254740991, durationMs: 0.1 + 0.2, channel: 1e21, v: -1e-7 }],
    ['members in reverse order (as a sidecar may send them)', Object.fromEntries(Object.entries({ ...base, purpose: 'support', result: { rows: 1 } }).reverse())],
  ];
  for (const [name, record] of cases) {
    it(`is canonicalJsonWithout(record, [hash, sig]): ${name}`, () => {
      expect(recordCanonicalText(record)).toBe(canonicalJsonWithout(record, ['hash', 'sig']));
    });
  }

  it('reads own members only (an inherited one is not the record\'s)', () => {
    const record = Object.assign(Object.create({ purpose: 'inherited' }) as Record<string, unknown>, base);
    expect(recordCanonicalText(record)).toBe(canonicalJsonWithout(record, ['hash', 'sig']));
    expect(recordCanonicalText(record)).not.toContain('inherited');
  });

  it('writes every record of a sequence whose members repeat, change and come back (each member\'s last JSON is reused)', () => {
    const long = `SELECT '${'x'.repeat(300)}' "é"`;
    const values = ['support', 'support', 'a "quoted" \\ \n purpose', 'support', long, long, 'é😀\u2028', '', 'support'];
    for (const [i, purpose] of values.entries()) {
      // The same strings in other members too (a value memoized for one member is not another's).
      const record = { ...base, purpose, rule: values[(i + 3) % values.length], subject: i % 2 === 0 ? purpose : 'agent', seq: i + 1 };
      expect(recordCanonicalText(record)).toBe(canonicalJsonWithout(record, ['hash', 'sig']));
    }
  });

  it('leaves out a non-enumerable own member, as canonicalJson does', () => {
    const record: Record<string, unknown> = { ...base };
    Object.defineProperty(record, 'purpose', { value: 'hidden', enumerable: false });
    expect(recordCanonicalText(record)).toBe(canonicalJsonWithout(record, ['hash', 'sig']));
    expect(recordCanonicalText(record)).not.toContain('hidden');
  });

  it('refuses what canonical JSON refuses (a non-finite number)', () => {
    expect(() => recordCanonicalText({ ...base, durationMs: Number.NaN })).toThrow('non-finite');
    expect(() => recordCanonicalText({ ...base, seq: Number.POSITIVE_INFINITY })).toThrow('non-finite');
  });
});
