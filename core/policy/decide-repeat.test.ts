// evaluate() remembers the last HTTP request it allowed without a query record or a body (decide.ts,
// lastHttpAllow): a repeat of it by the same identity object for the same purpose gets the same
// decision without being evaluated again; anything that differs, or is not allowed, is evaluated.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseAccessPolicy } from '../../crds/validators.ts';
import type { AccessPolicy } from '../../crds/types.ts';
import { compilePolicy, initPolicyEngine, type Command, type CompiledPolicy, type Identity } from './index.ts';

beforeAll(async () => {
  await initPolicyEngine();
});

function exampleHttpPolicy(): AccessPolicy {
  return parseAccessPolicy(parse(readFileSync(new URL('../../examples/lgpd-orders/accesspolicy-http.yaml', import.meta.url), 'utf8')));
}

const user = (subject: string, ...groups: string[]): Identity => ({ subject, groups, kind: 'User' });
type Http = Extract<Command, { protocol: 'http' }>;
const get = (path: string, extra: Partial<Http> = {}): Http => ({ protocol: 'http', method: 'GET', path, ...extra });

describe('a repeated HTTP request', () => {
  it('gets the decision of the same request allowed before, unchanged', () => {
    const p = compilePolicy(exampleHttpPolicy());
    const ana = user('ana', 'support');
    const first = p.evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/1') });
    const again = p.evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/1') });
    expect(first).toMatchObject({ decision: 'allow', rule: 'read-customers' });
    expect(again).toBe(first);
    expect(Object.isFrozen(again)).toBe(true);
    // A fresh compile of the same policy decides the same.
    expect(compilePolicy(exampleHttpPolicy()).evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/1') })).toEqual(first);
  });

  it('is evaluated again for another identity, purpose, method or path', () => {
    const p = compilePolicy(exampleHttpPolicy());
    const ana = user('ana', 'support');
    expect(p.evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/1') }).decision).toBe('allow');
    // Another identity with the same subject name but not in the subjects' group.
    expect(p.evaluate({ identity: user('ana'), purpose: 'customer-support', command: get('/customers/1') })).toMatchObject({ decision: 'deny', code: 'SubjectNotAllowed' });
    expect(p.evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/1') }).decision).toBe('allow');
    expect(p.evaluate({ identity: ana, purpose: 'marketing', command: get('/customers/1') })).toMatchObject({ decision: 'deny', code: 'PurposeNotAllowed' });
    expect(p.evaluate({ identity: ana, purpose: undefined, command: get('/customers/1') })).toMatchObject({ decision: 'deny', code: 'PurposeMissing' });
    expect(p.evaluate({ identity: ana, purpose: 'customer-support', command: { ...get('/customers/1'), method: 'DELETE' } })).toMatchObject({ decision: 'deny', rule: 'deny-deletes' });
    expect(p.evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/export') })).toMatchObject({ decision: 'requireApproval', rule: 'export-needs-dpo' });
    expect(p.evaluate({ identity: ana, purpose: 'customer-support', command: get('/payments/1') })).toMatchObject({ decision: 'deny', code: 'NoMatchingRule' });
    expect(p.evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/1') }).decision).toBe('allow');
  });

  it('is not remembered when it carries a query record or a body, or was not allowed', () => {
    const p = compilePolicy(exampleHttpPolicy());
    const ana = user('ana', 'support');
    const withQuery = get('/customers', { query: { page: '2' } });
    const q1 = p.evaluate({ identity: ana, purpose: 'customer-support', command: withQuery });
    expect(q1.decision).toBe('allow');
    expect(p.evaluate({ identity: ana, purpose: 'customer-support', command: withQuery })).not.toBe(q1);
    const withBody = get('/customers', { jsonBody: { id: 1 } });
    const b1 = p.evaluate({ identity: ana, purpose: 'customer-support', command: withBody });
    expect(p.evaluate({ identity: ana, purpose: 'customer-support', command: withBody })).not.toBe(b1);
    const del = { ...get('/customers/1'), method: 'DELETE' };
    const d1 = p.evaluate({ identity: ana, purpose: 'customer-support', command: del });
    expect(d1.decision).toBe('deny');
    expect(p.evaluate({ identity: ana, purpose: 'customer-support', command: del })).not.toBe(d1);
  });

  it('is denied under the next compile of a policy that revokes its subject', () => {
    const ana = user('ana', 'support');
    const before: CompiledPolicy = compilePolicy(exampleHttpPolicy());
    expect(before.evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/1') }).decision).toBe('allow');
    const revoked = exampleHttpPolicy();
    revoked.spec.revokedSubjects = [{ kind: 'User', name: 'ana', reason: 'left the team' }];
    const after = compilePolicy(revoked);
    expect(after.evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/1') })).toMatchObject({ decision: 'deny', code: 'SubjectRevoked' });
    // The compiled policy the agent's earlier requests ran under is not what decides after the change.
    expect(before.evaluate({ identity: ana, purpose: 'customer-support', command: get('/customers/1') }).decision).toBe('allow');
  });
});
