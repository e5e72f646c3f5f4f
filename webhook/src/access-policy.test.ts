import { describe, expect, it } from '@jest/globals';
import { checkAccessPolicy, durationSeconds, referencedSecrets, type AccessPolicyContext } from './access-policy.ts';
import { examplePolicy, OPTED_IN } from '../test/fixtures.ts';

const ctx: AccessPolicyContext = {
  existingSecrets: new Set(['orders-db-credentials']),
  otherPolicies: [],
  adminPort: 15090,
  maskingCheck: (m, prefix) => (m.customPatterns ?? []).flatMap((p, i) => (p.pattern.includes('(?=') ? [{ field: `${prefix}.customPatterns[${i}].pattern`, message: 'invalid RE2 syntax' }] : [])),
  missingSecret: 'reject',
  namespaceLabels: OPTED_IN,
};

describe('checkAccessPolicy', () => {
  it('accepts the example policies', () => {
    expect(checkAccessPolicy(examplePolicy('accesspolicy.yaml'), ctx)).toEqual({ errors: [], warnings: [] });
    expect(checkAccessPolicy(examplePolicy('accesspolicy-http.yaml'), { ...ctx, otherPolicies: [examplePolicy('accesspolicy.yaml')] })).toEqual({ errors: [], warnings: [] });
  });

  it('names every referenced Secret that does not exist', () => {
    const p = examplePolicy('accesspolicy.yaml');
    p.spec.masking = { ...p.spec.masking, style: 'hash', hashKeySecretRef: { name: 'mask-key', key: 'key' } };
    expect(referencedSecrets(p).map((r) => r.field)).toEqual(['spec.target.credentialsSecretRef.name', 'spec.masking.hashKeySecretRef.name']);
    expect(checkAccessPolicy(p, ctx).errors).toEqual(['spec.masking.hashKeySecretRef.name: Secret mask-key does not exist in namespace lgpd-orders; create it first (the sidecar cannot start without it)']);
    expect(checkAccessPolicy(p, { ...ctx, missingSecret: 'warn' })).toEqual({ errors: [], warnings: [expect.stringContaining('Secret mask-key does not exist')] });
  });

  it('reports masking problems with their field', () => {
    const p = examplePolicy('accesspolicy.yaml');
    p.spec.masking = { ...p.spec.masking, customPatterns: [{ name: 'ticket', pattern: 'T-(?=\\d)' }] };
    expect(checkAccessPolicy(p, ctx).errors).toEqual(['spec.masking.customPatterns[0].pattern: invalid RE2 syntax']);
  });

  it('rejects listen ports and target names that collide with a policy selecting the same pods', () => {
    const http = examplePolicy('accesspolicy-http.yaml');
    http.spec.target = { ...http.spec.target, name: 'orders-db', listenPort: 15432 };
    expect(checkAccessPolicy(http, { ...ctx, otherPolicies: [examplePolicy('accesspolicy.yaml')] }).errors).toEqual([
      'spec.target.listenPort: port 15432 is already used by AccessPolicy orders-db (target orders-db), whose podSelector can select the same pods; pick another port',
      'spec.target.name: target orders-db is already defined by AccessPolicy orders-db, whose podSelector can select the same pods (agents would get two orders-db endpoints); rename it',
    ]);
    http.spec.podSelector = { matchLabels: { app: 'billing-agent' } };
    expect(checkAccessPolicy(http, { ...ctx, otherPolicies: [examplePolicy('accesspolicy.yaml')] }).errors).toEqual([]);
  });

  it('ignores itself among the namespace\'s policies (an update), and rejects the admin port', () => {
    const p = examplePolicy('accesspolicy.yaml');
    expect(checkAccessPolicy(p, { ...ctx, otherPolicies: [examplePolicy('accesspolicy.yaml')] }).errors).toEqual([]);
    p.spec.target.listenPort = 15090;
    expect(checkAccessPolicy(p, ctx).errors).toEqual(['spec.target.listenPort: 15090 is the Guarita sidecar\'s admin port; pick another port']);
  });

  it('rejects a zero approval ttl and warns when the namespace is not opted in', () => {
    const p = examplePolicy('accesspolicy.yaml');
    // The first rule holding for approval, wherever the example puts it.
    const i = p.spec.rules.findIndex((r) => r.approval !== undefined);
    p.spec.rules[i]!.approval!.ttl = '0m';
    const verdict = checkAccessPolicy(p, { ...ctx, namespaceLabels: {} });
    expect(verdict.errors).toEqual([`spec.rules[${i}].approval.ttl: 0m leaves no time to review; use a positive duration such as 15m`]);
    expect(verdict.warnings).toEqual(['namespace lgpd-orders is not labelled guarita.io/injection=enabled: no pod will get the Guarita sidecar until it is']);
  });

  it('tells a requester who may not read them nothing about Secrets, labels or other policies (no oracle)', () => {
    const http = examplePolicy('accesspolicy-http.yaml');
    http.spec.target = { ...http.spec.target, name: 'orders-db', listenPort: 15432, credentialsSecretRef: { name: 'orders-db-credentials' } };
    const blind = { ...ctx, otherPolicies: [examplePolicy('accesspolicy.yaml')], nameOtherPolicies: false };
    const existing = checkAccessPolicy(http, { ...blind, existingSecrets: new Set(['orders-db-credentials']), unreadableSecrets: new Set(['orders-db-credentials']) });
    const madeUp = checkAccessPolicy(http, { ...blind, existingSecrets: new Set(), unreadableSecrets: new Set(['orders-db-credentials']) });
    expect(existing).toEqual(madeUp);
    expect(existing.warnings).toContain('spec.target.credentialsSecretRef.name: Secret orders-db-credentials was not checked: you may not get Secrets in namespace lgpd-orders; make sure it exists before pods start (the sidecar cannot start without it)');
    expect(existing.errors.join('\n')).not.toContain('AccessPolicy orders-db');
    expect(existing.errors[0]).toBe('spec.target.listenPort: port 15432 is already used by another AccessPolicy of this namespace, whose podSelector can select the same pods; pick another port');
  });

  it('parses durations', () => {
    expect(durationSeconds('1h30m')).toBe(5400);
    expect(durationSeconds('90d')).toBe(90 * 86400);
    expect(durationSeconds('1x')).toBeUndefined();
  });
});
