import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseAccessPolicy } from '../../crds/validators.ts';
import type { AccessPolicy } from '../../crds/types.ts';
import { compilePolicy, initPolicyEngine, PolicyCompileError, type Command, type CompiledPolicy, type Identity } from './index.ts';
import { jsonPath } from './http.ts';

beforeAll(async () => {
  await initPolicyEngine();
});

const user = (subject: string, ...groups: string[]): Identity => ({ subject, groups, kind: 'User' });
const sa = (subject: string, namespace?: string): Identity => ({ subject, groups: ['system:serviceaccounts'], kind: 'ServiceAccount', ...(namespace === undefined ? {} : { namespace }) });
const sql = (text: string): Command => ({ protocol: 'postgres', sql: text });

function postgresPolicy(spec: Record<string, unknown>): AccessPolicy {
  return parseAccessPolicy({
    apiVersion: 'guarita.io/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name: 'p', namespace: 'ns' },
    spec: {
      podSelector: {},
      target: { name: 'db', protocol: 'postgres', endpoint: 'db:5432', listenPort: 15432 },
      identity: { oidc: { issuer: 'https://idp.example', audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: 'customer-support' }, { name: 'fraud-investigation' }],
      rules: [{ name: 'allow-all', action: 'allow' }],
      ...spec,
    },
  });
}

function examplePolicy(file: string): CompiledPolicy {
  const text = readFileSync(new URL(`../../examples/lgpd-orders/${file}`, import.meta.url), 'utf8');
  return compilePolicy(parseAccessPolicy(parse(text)));
}

describe('subjects, revocations and purposes', () => {
  const policy = compilePolicy(postgresPolicy({
    subjects: [
      { kind: 'Group', name: 'support' },
      { kind: 'User', name: 'alice' },
      { kind: 'ServiceAccount', name: 'agent', namespace: 'lgpd-orders' },
    ],
    revokedSubjects: [
      { kind: 'User', name: 'mallory', reason: 'contractor off-boarded' },
      { kind: 'ServiceAccount', name: 'old-agent' },
    ],
  }));
  const check = (id: Identity, ...purpose: [string | undefined] | []): string => policy.checkAccess(id, purpose.length === 0 ? 'customer-support' : purpose[0])?.code ?? 'ok';

  it('admits listed users, groups and service accounts', () => {
    expect(check(user('alice'))).toBe('ok');
    expect(check(user('bob', 'support'))).toBe('ok');
    expect(check(sa('system:serviceaccount:lgpd-orders:agent'))).toBe('ok');
    expect(check(sa('agent', 'lgpd-orders'))).toBe('ok');
  });

  it('denies everyone else', () => {
    expect(check(user('bob', 'sales'))).toBe('SubjectNotAllowed');
    expect(check(sa('system:serviceaccount:other:agent'))).toBe('SubjectNotAllowed');
    expect(check(sa('agent'))).toBe('SubjectNotAllowed');
    // A User subject does not admit a service account that happens to carry the same name.
    expect(check(sa('alice', 'lgpd-orders'))).toBe('SubjectNotAllowed');
  });

  it('revocation wins over subjects and matches liberally', () => {
    const d = policy.checkAccess(user('mallory', 'support'), 'customer-support');
    expect(d).toMatchObject({ decision: 'deny', code: 'SubjectRevoked' });
    expect(d?.reason).toContain('contractor off-boarded');
    expect(check(sa('system:serviceaccount:anywhere:old-agent'))).toBe('SubjectRevoked');
    expect(check({ subject: 'old-agent', groups: ['support'], kind: 'ServiceAccount', namespace: 'x' })).toBe('SubjectRevoked');
  });

  it('requires a listed purpose', () => {
    expect(check(user('alice'), undefined)).toBe('PurposeMissing');
    expect(check(user('alice'), '')).toBe('PurposeMissing');
    expect(check(user('alice'), 'marketing')).toBe('PurposeNotAllowed');
    expect(check(user('alice'), 'fraud-investigation')).toBe('ok');
  });

  it('does not echo a purpose that is not a purpose name', () => {
    expect(policy.checkAccess(user('alice'), 'CPF 590.830.166-33')?.reason).not.toContain('590');
  });

  it('evaluate applies the same checks before any rule', () => {
    const d = policy.evaluate({ identity: user('bob'), purpose: 'customer-support', command: sql('SELECT 1') });
    expect(d).toMatchObject({ decision: 'deny', code: 'SubjectNotAllowed' });
    expect(d.rule).toBeUndefined();
  });
});

describe('rules', () => {
  const ana = user('ana', 'support');
  const run = (p: CompiledPolicy, text: string, purpose = 'customer-support') => p.evaluate({ identity: ana, purpose, command: sql(text) });

  it('first match wins and no match denies', () => {
    const p = compilePolicy(postgresPolicy({
      rules: [
        { name: 'deny-deletes', match: { sql: { statementKinds: ['delete'] } }, action: 'deny' },
        { name: 'allow-deletes', match: { sql: { statementKinds: ['delete'] } }, action: 'allow' },
        { name: 'allow-reads', match: { sql: { statementKinds: ['select'] } }, action: 'allow' },
      ],
    }));
    expect(run(p, 'DELETE FROM t WHERE id = 1')).toMatchObject({ decision: 'deny', rule: 'deny-deletes', code: 'RuleDenied' });
    expect(run(p, 'SELECT 1')).toMatchObject({ decision: 'allow', rule: 'allow-reads', code: 'Allowed' });
    const none = run(p, 'INSERT INTO t VALUES (1)');
    expect(none).toMatchObject({ decision: 'deny', code: 'NoMatchingRule' });
    expect(none.rule).toBeUndefined();
  });

  it('ANDs the fields of match.sql and ORs the entries of each list', () => {
    const p = compilePolicy(postgresPolicy({
      rules: [{ name: 'r', match: { sql: { statementKinds: ['update', 'delete'], traits: ['unboundedWrite'] } }, action: 'deny' }, { name: 'rest', action: 'allow' }],
    }));
    expect(run(p, 'DELETE FROM t').rule).toBe('r');
    expect(run(p, 'UPDATE t SET a = 1').rule).toBe('r');
    expect(run(p, 'DELETE FROM t WHERE id = 1').rule).toBe('rest');
    expect(run(p, 'TRUNCATE t').rule).toBe('rest'); // unboundedWrite, but kind ddl
  });

  it('restricts rules to their purposes', () => {
    const p = compilePolicy(postgresPolicy({
      rules: [
        { name: 'fraud-reads', purposes: ['fraud-investigation'], match: { sql: { tables: ['payments'] } }, action: 'allow' },
        { name: 'support-reads', match: { sql: { tables: ['orders'] } }, action: 'allow' },
      ],
    }));
    expect(run(p, 'SELECT * FROM payments', 'fraud-investigation').rule).toBe('fraud-reads');
    expect(run(p, 'SELECT * FROM payments', 'customer-support').code).toBe('NoMatchingRule');
  });

  it('an allow rule with tables needs every touched table listed; a deny rule any', () => {
    const p = compilePolicy(postgresPolicy({
      rules: [
        { name: 'no-secrets', match: { sql: { tables: ['secrets'] } }, action: 'deny' },
        { name: 'orders-only', match: { sql: { tables: ['orders', 'public.order_items'] } }, action: 'allow' },
      ],
    }));
    expect(run(p, 'SELECT * FROM orders o JOIN order_items i ON i.order_id = o.id').rule).toBe('orders-only');
    expect(run(p, 'SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id').code).toBe('NoMatchingRule');
    expect(run(p, 'SELECT * FROM orders WHERE id IN (SELECT id FROM hr.SECRETS)').rule).toBe('no-secrets');
    expect(run(p, 'SELECT 1').code).toBe('NoMatchingRule');
  });

  it('reports the strictest statement of a multi-statement string, and every verdict', () => {
    const p = examplePolicy('accesspolicy.yaml');
    const d = run(p, 'SELECT 1; COPY customers TO STDOUT; DELETE FROM orders; DROP TABLE x');
    expect(d).toMatchObject({ decision: 'deny', rule: 'deny-unbounded-writes', code: 'RuleDenied' });
    expect(d.reason).toContain('statement 3 of 4');
    expect(d.statements?.map((s) => [s.verdict, s.rule])).toEqual([
      ['allow', 'allow-the-rest'], ['requireApproval', 'exports-need-dpo'], ['deny', 'deny-unbounded-writes'], ['deny', 'deny-ddl-and-dcl'],
    ]);
    expect(d.masking).toBeUndefined();
  });

  it('returns the approval plan and the masking plan', () => {
    const p = examplePolicy('accesspolicy.yaml');
    const d = run(p, 'SELECT 1; COPY customers TO STDOUT');
    expect(d).toMatchObject({
      decision: 'requireApproval', rule: 'exports-need-dpo', code: 'ApprovalRequired',
      approval: { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 },
    });
    expect(d.masking?.detectors).toEqual(['cpf', 'cnpj', 'email', 'phone']);
    expect(run(p, 'SELECT 1').masking).toEqual(p.policy.spec.masking);
  });

  it('fills approval defaults', () => {
    const p = compilePolicy(postgresPolicy({
      rules: [{ name: 'ask', action: 'requireApproval', approval: { approverGroups: ['dpo', 'security'] } }],
    }));
    expect(run(p, 'SELECT 1').approval).toEqual({ approverGroups: ['dpo', 'security'], minApprovals: 1, ttlSeconds: 900 });
  });

  it('denies what it cannot parse, without a rule', () => {
    const p = examplePolicy('accesspolicy.yaml');
    const d = run(p, "SELECT * FROM customers WHERE cpf = '590.830.166-33' ORDER");
    expect(d).toMatchObject({ decision: 'deny', code: 'Unparseable' });
    expect(d.rule).toBeUndefined();
    expect(d.reason).not.toContain('590');
  });

  it('denies a command of the other protocol', () => {
    const p = examplePolicy('accesspolicy.yaml');
    const d = p.evaluate({ identity: ana, purpose: 'customer-support', command: { protocol: 'http', method: 'GET', path: '/' } });
    expect(d).toMatchObject({ decision: 'deny', code: 'ProtocolMismatch' });
  });
});

describe('HTTP', () => {
  const p = examplePolicy('accesspolicy-http.yaml');
  const ana = user('ana', 'support');
  const http = (method: string, path: string, extra: Partial<Extract<Command, { protocol: 'http' }>> = {}) =>
    p.evaluate({ identity: ana, purpose: 'customer-support', command: { protocol: 'http', method, path, ...extra } });

  it('decides by method and path glob, first match wins', () => {
    expect(http('GET', '/customers/42')).toMatchObject({ decision: 'allow', rule: 'read-customers' });
    expect(http('get', '/customers')).toMatchObject({ decision: 'allow', rule: 'read-customers' });
    expect(http('GET', '/orders/1/items')).toMatchObject({ decision: 'allow', rule: 'read-customers' });
    expect(http('DELETE', '/customers/42')).toMatchObject({ decision: 'deny', rule: 'deny-deletes' });
    expect(http('GET', '/customers/export')).toMatchObject({ decision: 'requireApproval', rule: 'export-needs-dpo', approval: { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 } });
    expect(http('POST', '/customers/export/csv')).toMatchObject({ decision: 'requireApproval', rule: 'export-needs-dpo' });
    expect(http('POST', '/customers/42')).toMatchObject({ decision: 'deny', code: 'NoMatchingRule' });
    expect(http('GET', '/admin')).toMatchObject({ decision: 'deny', code: 'NoMatchingRule' });
  });

  it('matches restrictive rules without regard to case and trailing slashes', () => {
    expect(http('GET', '/Customers/Export/')).toMatchObject({ decision: 'requireApproval', rule: 'export-needs-dpo' });
    expect(http('GET', '/customers/%65xport')).toMatchObject({ decision: 'requireApproval' });
  });

  it.each([
    '/customers/..%2Fadmin', '/customers/%2e%2e/admin', '/customers/../admin', '/customers/export;x=1', '//customers/export',
    '/customers/%252e', '/customers\\export', '/customers/%zz', 'customers',
  ])('refuses the ambiguous path %s', (path) => {
    const d = http('GET', path);
    expect(d).toMatchObject({ decision: 'deny', code: 'Unparseable' });
    expect(d.reason).not.toContain(path);
  });

  it('never puts the path in the reason', () => {
    expect(http('GET', '/customers/590.830.166-33').reason).not.toContain('590');
  });

  it('matches query parameters and JSON body fields', () => {
    const q = compilePolicy(parseAccessPolicy({
      ...p.policy,
      spec: {
        ...p.policy.spec,
        rules: [
          { name: 'bulk-search', match: { http: { methods: ['POST'], paths: ['/search'], jsonBody: [{ path: 'filter.all', equals: 'true' }] } }, action: 'deny' },
          { name: 'csv', match: { http: { query: { format: 'csv' } } }, action: 'requireApproval', approval: { approverGroups: ['dpo'] } },
          { name: 'any-page', match: { http: { methods: ['GET'], query: { page: '*' } } }, action: 'allow' },
          { name: 'search', match: { http: { methods: ['POST'], paths: ['/search'], jsonBody: [{ path: 'filter.customerId' }] } }, action: 'allow' },
        ],
      },
    }));
    const ev = (c: Extract<Command, { protocol: 'http' }>) => q.evaluate({ identity: ana, purpose: 'customer-support', command: c }).rule;
    expect(ev({ protocol: 'http', method: 'POST', path: '/search', jsonBody: { filter: { all: true } } })).toBe('bulk-search');
    expect(ev({ protocol: 'http', method: 'POST', path: '/search', jsonBody: { filter: { customerId: 7 } } })).toBe('search');
    expect(ev({ protocol: 'http', method: 'POST', path: '/search', jsonBody: { filter: {} } })).toBeUndefined();
    // Deny and hold rules read keys and values whatever their case (upstreams binding names
    // case-insensitively); allow rules exactly.
    expect(ev({ protocol: 'http', method: 'POST', path: '/search', jsonBody: { Filter: { ALL: 'True' } } })).toBe('bulk-search');
    expect(ev({ protocol: 'http', method: 'POST', path: '/search', jsonBody: { FILTER: { aLL: true } } })).toBe('bulk-search');
    // Go's encoding/json folds the long s and the Kelvin sign onto s and k (Unicode simple folding).
    expect(jsonPath({ ſtatus: { Kind: 'x' } }, ['status', 'kind'], true)).toBe('x');
    expect(jsonPath({ ſtatus: 'x' }, ['status'], false)).toBeUndefined();
    expect(ev({ protocol: 'http', method: 'POST', path: '/search', jsonBody: { filter: { CustomerId: 7 } } })).toBeUndefined();
    expect(ev({ protocol: 'http', method: 'GET', path: '/customers?format=csv' })).toBe('csv');
    expect(ev({ protocol: 'http', method: 'GET', path: '/customers', query: { format: ['json', 'csv'] } })).toBe('csv');
    expect(ev({ protocol: 'http', method: 'GET', path: '/customers', query: { page: '2' } })).toBe('any-page');
    expect(ev({ protocol: 'http', method: 'GET', path: '/customers', query: { page: ['1', '2'] } })).toBe('any-page');
    expect(ev({ protocol: 'http', method: 'GET', path: '/customers' })).toBeUndefined();
    expect(ev({ protocol: 'http', method: 'GET', path: '/customers?__proto__=x&constructor=y&page=1' })).toBe('any-page');
  });
});

describe('compilePolicy', () => {
  const compileError = (spec: Record<string, unknown>, protocol: 'postgres' | 'http' = 'postgres'): PolicyCompileError => {
    const policy = postgresPolicy({});
    const target = protocol === 'http' ? { name: 'api', protocol: 'http', endpoint: 'http://api:8080', listenPort: 18080 } : policy.spec.target;
    try {
      compilePolicy({ ...policy, spec: { ...policy.spec, target, ...spec } as AccessPolicy['spec'] });
    } catch (err) {
      if (err instanceof PolicyCompileError) return err;
      throw err;
    }
    throw new Error('expected a PolicyCompileError');
  };

  it.each([
    [{ subjects: [{ kind: 'ServiceAccount', name: 'agent' }] }, 'spec.subjects[0].namespace'],
    [{ rules: [{ name: 'r', match: { sql: { tables: ['a.b.c'] } }, action: 'deny' }] }, 'spec.rules[0].match.sql.tables[0]'],
    [{ rules: [{ name: 'r', purposes: ['nope'], action: 'allow' }] }, 'spec.rules[0].purposes[0]'],
    [{ rules: [{ name: 'r', action: 'requireApproval' }] }, 'spec.rules[0].approval'],
    [{ rules: [{ name: 'r', action: 'requireApproval', approval: { approverGroups: ['x'], ttl: 'soon' } }] }, 'spec.rules[0].approval.ttl'],
    [{ rules: [{ name: 'ok', action: 'allow' }, { name: 'r', match: { http: { methods: ['GET'] } }, action: 'deny' }] }, 'spec.rules[1].match.http'],
  ])('names the field: %j', (spec, field) => {
    expect(compileError(spec).field).toBe(field);
  });

  it('checks path globs of http rules', () => {
    expect(compileError({ rules: [{ name: 'r', match: { http: { paths: ['/a**'] } }, action: 'deny' }] }, 'http').field).toBe('spec.rules[0].match.http.paths[0]');
    expect(compileError({ rules: [{ name: 'r', match: { sql: { statementKinds: ['select'] } }, action: 'deny' }] }, 'http').field).toBe('spec.rules[0].match.sql');
  });

  it('accepts a service account named in full without a namespace', () => {
    expect(() => compilePolicy(postgresPolicy({ subjects: [{ kind: 'ServiceAccount', name: 'system:serviceaccount:ns:agent' }] }))).not.toThrow();
  });
});
