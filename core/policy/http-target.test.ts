// Issue 18, item 15: what the policy judges is exactly what the upstream receives. Every corpus
// target is refused, or normalized to one canonical target that normalizes to itself (so the
// forwarded target and the judged one cannot differ) and that the policy matches as it was judged.
import { describe, expect, it } from '@jest/globals';
import { TARGET_CORPUS } from './corpus/http-targets.corpus.ts';
import { canonicalQuery, normalizePath } from './http.ts';
import { compilePolicy } from './decide.ts';
import type { AccessPolicy } from '../../crds/types.ts';

describe('request targets (corpus)', () => {
  it.each(TARGET_CORPUS.map((c) => [c.class, JSON.stringify(c.raw), c] as const))('%s %s', (_class, _raw, c) => {
    const n = normalizePath(c.raw);
    if ('refused' in c) {
      expect(n.ok).toBe(false);
      if (!n.ok) expect(n.problem).toMatch(c.refused);
      return;
    }
    expect(n).toMatchObject({ ok: true, target: c.forwarded });
    if (!n.ok) return;
    // Idempotent: the forwarded target is judged exactly like the raw one was.
    const again = normalizePath(n.target);
    expect(again).toEqual(n);
  });

  it('covers every class the issue names', () => {
    const classes = new Set(TARGET_CORPUS.map((c) => c.class));
    for (const c of ['fragment', 'dot segment', 'encoded slash', 'backslash', 'double slash', 'absolute form', 'authority form', 'asterisk form', 'non-ASCII', 'overlong utf-8', 'matrix parameter', 'encoded NUL', 'control byte', 'encoded query']) {
      expect(classes).toContain(c);
    }
  });
});

describe('canonical query', () => {
  it.each([
    ['a=1&a=2', 'a=1&a=2'],
    ['q=a+b', 'q=a%20b'],
    ['q=a%2Bb', 'q=a%2Bb'],
    ['q=%26%3D%23%3F%25', 'q=%26%3D%23%3F%25'],
    ['__proto__=1', '__proto__=1'],
    ['', ''],
  ])('%s → %s, and reads back as the same pairs', (raw, canonical) => {
    expect(canonicalQuery(raw)).toBe(canonical);
    expect([...new URLSearchParams(canonical)]).toEqual([...new URLSearchParams(raw)]);
  });
});

describe('policy decisions on normalized targets', () => {
  const policy = {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'p', namespace: 'n' },
    spec: {
      podSelector: {}, target: { name: 'api', protocol: 'http', endpoint: 'http://upstream', credentialsSecretRef: { name: 's' } },
      identity: { serviceAccounts: { audiences: ['guarita'] } }, subjects: [{ kind: 'Group', name: 'support' }], purposes: [{ name: 'support' }],
      rules: [
        { name: 'export-needs-dpo', match: { http: { paths: ['/customers/export', '/customers/export/**'] } }, action: 'requireApproval', approval: { approverGroups: ['dpo'] } },
        { name: 'read-customers', match: { http: { methods: ['GET'], paths: ['/customers', '/customers/**'] } }, action: 'allow' },
      ],
    },
  } as unknown as AccessPolicy;
  const compiled = compilePolicy(policy);
  const evaluate = (path: string): string => compiled.evaluate({ identity: { kind: 'User', subject: 'a', groups: ['support'] }, purpose: 'support', command: { protocol: 'http', method: 'GET', path } }).decision;

  it('refuses the issue\'s fragment example instead of allowing it as /customers/1', () => {
    expect(evaluate('/customers/1')).toBe('allow');
    expect(evaluate('/customers/1#/../export')).toBe('deny');
  });

  it('judges an encoded path as its decoded segments', () => {
    expect(evaluate('/customers/%65xport')).toBe('requireApproval');
    expect(evaluate('/customers/export/')).toBe('requireApproval');
  });
});

describe('restrictive query rules read every spelling upstreams bind to the parameter (round 10)', () => {
  const policy = {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'p', namespace: 'n' },
    spec: {
      podSelector: {}, target: { name: 'api', protocol: 'http', endpoint: 'http://upstream', credentialsSecretRef: { name: 's' } },
      identity: { serviceAccounts: { audiences: ['guarita'] } }, subjects: [{ kind: 'Group', name: 'support' }], purposes: [{ name: 'support' }],
      rules: [
        { name: 'deny-csv', match: { http: { methods: ['GET'], paths: ['/customers'], query: { format: 'csv' } } }, action: 'deny' },
        { name: 'json-only', match: { http: { methods: ['GET'], paths: ['/reports'], query: { format: 'json' } } }, action: 'allow' },
        { name: 'deny-xml-report', match: { http: { methods: ['GET'], paths: ['/reports'], query: { Format: 'XML' } } }, action: 'deny' },
        { name: 'customers', match: { http: { methods: ['GET'], paths: ['/customers'] } }, action: 'allow' },
      ],
    },
  } as unknown as AccessPolicy;
  const compiled = compilePolicy(policy);
  const rule = (path: string): string | undefined => compiled.evaluate({ identity: { kind: 'User', subject: 'a', groups: ['support'] }, purpose: 'support', command: { protocol: 'http', method: 'GET', path } }).rule;

  it.each([
    'format=csv', 'FORMAT=csv', 'Format=Csv', 'format=CSV', 'format=%20csv%20', 'format%5B%5D=csv', 'format%5B0%5D=csv', 'format%5Bx%5D=csv',
    '%5Bformat%5D=csv', '%20format=csv', 'format=json&format=csv', 'format=csv&format=json', 'format%5B%5D=json&format%5B%5D=CSV', 'FORMAT=csv&format=json',
    'format=%C5%BF', // not csv: stays allowed below
  ].slice(0, -1))('?%s is denied', (q) => {
    expect(rule(`/customers?${q}`)).toBe('deny-csv');
  });

  it('other values and names are not the rule\'s: allowed', () => {
    for (const q of ['format=json', 'formats=csv', 'format_x=csv', 'xformat=csv', 'format=csvx']) expect(rule(`/customers?${q}`)).toBe('customers');
  });

  it('allow rules stay exact, and a folded spelling an allow does not read is still denied by a deny that folds', () => {
    expect(rule('/reports?format=json')).toBe('json-only');
    expect(rule('/reports?FORMAT=json')).toBeUndefined();
    expect(rule('/reports?format=JSON')).toBeUndefined();
    // The deny's own key and value are folded too (Format: XML).
    expect(rule('/reports?format=json&format=xml')).toBe('deny-xml-report');
  });
});
