// Before initPolicyEngine() resolves nothing is allowed: evaluate denies, classifySql throws.
import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy } from '../../crds/types.ts';
import { classifySql, compilePolicy, policyEngineReady } from './index.ts';

const policy = {
  apiVersion: 'guarita.io/v1alpha1',
  kind: 'AccessPolicy',
  metadata: { name: 'p' },
  spec: {
    podSelector: {},
    target: { name: 'db', protocol: 'postgres', endpoint: 'db:5432', listenPort: 15432 },
    identity: { serviceAccounts: { audiences: ['guarita'] } },
    subjects: [{ kind: 'Group', name: 'support' }],
    purposes: [{ name: 'support' }],
    rules: [{ name: 'allow-all', action: 'allow' }],
  },
} satisfies AccessPolicy;

describe('before initPolicyEngine()', () => {
  it('denies SQL and throws from classifySql', () => {
    expect(policyEngineReady()).toBe(false);
    const d = compilePolicy(policy).evaluate({
      identity: { subject: 'a', groups: ['support'], kind: 'User' }, purpose: 'support', command: { protocol: 'postgres', sql: 'SELECT 1' },
    });
    expect(d).toMatchObject({ decision: 'deny', code: 'Unparseable' });
    expect(d.reason).toMatch(/initPolicyEngine/);
    expect(() => classifySql('SELECT 1')).toThrow(/initPolicyEngine/);
  });
});
