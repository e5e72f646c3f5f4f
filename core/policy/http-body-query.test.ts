// Round 10b: a body rule's field names as PHP registers them (phpFieldPath, checked against PHP 8.2's
// parse_str), and restrictive body rules reading the query's fields too (Laravel input(), PHP
// $_REQUEST and Rails params read the query and the body together); allow rules read the body only.
import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy } from '../../crds/types.ts';
import { compilePolicy } from './decide.ts';
import { fieldPath, fieldPaths, phpFieldPath } from './http.ts';

describe('field names as PHP registers them', () => {
  it.each([
    // name, PHP 8.2 parse_str's reading (php -r 'parse_str(...)')
    ['include.pii', ['include_pii']],
    ['include pii', ['include_pii']],
    ['include[pii', ['include_pii']],
    ['a[b.c', ['a_b_c']],
    [' a.b', ['a_b']],
    ['a.b[c.d]', ['a_b', 'c.d']],
    ['a b[c]x', ['a_b', 'c']],
    ['a[b][c', ['a', 'b']],
    ['a[b]x[c]', ['a', 'b']],
    ['a[b[c]', ['a', 'b[c']],
    ['a.[b]', ['a_', 'b']],
    ['a]b', ['a]b']],
    ['[a]', []],
    ['', []],
    ['a\0.b', ['a']],
    ['tags[]', ['tags']],
    ['items[0]', ['items']],
  ])('%j is registered as %j', (name, path) => {
    expect(phpFieldPath(name)).toEqual(path);
  });

  it('fieldPaths: the nested reading, and PHP\'s when it differs', () => {
    expect(fieldPaths('include.pii')).toEqual([['include', 'pii'], ['include_pii']]);
    expect(fieldPaths('filter[status]')).toEqual([['filter', 'status']]);
    expect(fieldPaths('action')).toEqual([['action']]);
    expect(fieldPath('a.b[c]')).toEqual(['a', 'b', 'c']);
  });
});

const policy = {
  apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'p', namespace: 'n' },
  spec: {
    podSelector: {}, target: { name: 't', protocol: 'http', endpoint: 'http://u', credentialsSecretRef: { name: 's' } },
    identity: { serviceAccounts: { audiences: ['guarita'] } }, subjects: [{ kind: 'Group', name: 'g' }], purposes: [{ name: 'p' }],
    rules: [
      { name: 'deny-export', match: { http: { methods: ['POST'], paths: ['/orders'], jsonBody: [{ path: 'action', equals: 'export' }] } }, action: 'deny' },
      { name: 'deny-pii', match: { http: { methods: ['POST'], paths: ['/reports'], jsonBody: [{ path: 'include_pii', equals: 'true' }] } }, action: 'deny' },
      { name: 'hold-closed', match: { http: { methods: ['POST'], paths: ['/orders'], jsonBody: [{ path: 'filter.status', equals: 'closed' }, { path: 'confirm' }] } }, action: 'requireApproval', approval: { approverGroups: ['dpo'] } },
      { name: 'allow-view', match: { http: { methods: ['POST'], paths: ['/views'], jsonBody: [{ path: 'action', equals: 'view' }] } }, action: 'allow' },
      { name: 'orders', match: { http: { methods: ['POST'], paths: ['/orders', '/reports'] } }, action: 'allow' },
    ],
  },
} as unknown as AccessPolicy;
const compiled = compilePolicy(policy);

function rule(path: string, jsonBody?: unknown): string {
  const command = { protocol: 'http' as const, method: 'POST', path, ...(jsonBody === undefined ? {} : { jsonBody }) };
  const d = compiled.evaluate({ identity: { kind: 'User', subject: 'a', groups: ['g'] }, purpose: 'p', command });
  return d.rule ?? d.code;
}

describe('restrictive body rules read the query\'s fields too', () => {
  it.each([
    ['/orders?action=export', {}],
    ['/orders?action=export', undefined],
    ['/orders?ACTION=Export', { id: 1 }],
    ['/orders?action[]=export', {}],
    ['/orders?action=view&action=export', {}],
    ['/orders?action=export', { action: 'view' }],
  ])('POST %s with %j: denied', (path, body) => {
    expect(rule(path, body)).toBe('deny-export');
  });

  it.each([
    ['/reports?include_pii=true'],
    ['/reports?include.pii=true'],
    ['/reports?include%20pii=true'],
    ['/reports?include%5Bpii=true'],
  ])('POST %s: the PHP reading of the name is read', (path) => {
    expect(rule(path, {})).toBe('deny-pii');
  });

  it('a nested field in the query, one condition in the body and one in the query', () => {
    expect(rule('/orders?filter%5Bstatus%5D=closed&confirm=1', {})).toBe('hold-closed');
    expect(rule('/orders?filter.status=closed', { confirm: true })).toBe('hold-closed');
    // `filter` alone is an object in the query: not the value closed.
    expect(rule('/orders?filter%5Bstatus%5D%5Bx%5D=closed&confirm=1', {})).toBe('orders');
  });

  it('other values and names are not read as the field; allow rules read the body only', () => {
    expect(rule('/orders?action=view', {})).toBe('orders');
    expect(rule('/orders?actions=export', {})).toBe('orders');
    expect(rule('/orders?x=action', {})).toBe('orders');
    expect(rule('/views?action=view', {})).toBe('NoMatchingRule');
    expect(rule('/views', { action: 'view' })).toBe('allow-view');
  });
});
