// The pod's name resolution is guarita-proxy's (round 7 and round 9), as a corpus: every spelling
// of a pod's own /etc/hosts line answering for a host the proxy resolves, and every resolv.conf
// setting that chooses which name is asked or who answers. Governed pods are judged through
// podViolations (only pods with the genuine proxy); each case is refused naming the field.
import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy } from '../../crds/types.ts';
import type { Pod } from './kube-types.ts';
import { dnsViolations, effectiveHostname, endpointHost, hostnameViolations, resolvedHosts } from './name-resolution.ts';
import { podViolations, type GuardConfig } from './pod-guard.ts';
import { examplePod, examplePolicy, injectedExamplePod, TEST_SIDECAR } from '../test/fixtures.ts';

const cfg: GuardConfig = { sidecar: TEST_SIDECAR, allowedCsiDrivers: [] };

function policyWith(endpoint: string, name = 'orders-db', issuer?: string): AccessPolicy {
  const p = examplePolicy('accesspolicy.yaml');
  p.metadata.name = name;
  p.spec.target = { ...p.spec.target, name, endpoint };
  if (issuer !== undefined) p.spec.identity = { ...p.spec.identity, oidc: { issuer, audiences: ['guarita'] } };
  return p;
}

function governed(policies: AccessPolicy[], change: (pod: Pod) => void): string[] {
  const pod = injectedExamplePod(policies);
  change(pod);
  return podViolations(pod, policies, cfg);
}

describe('endpointHost: the host as the sidecar reads it', () => {
  it.each([
    ['orders-db.orders-data.svc.cluster.local:5432', 'orders-db.orders-data.svc.cluster.local'],
    ['ORDERS-DB:5432', 'orders-db'],
    ['orders-db.:5432', 'orders-db'],
    ['[fd00::1]:5432', 'fd00::1'],
    ['http://Customers-API.orders-data.svc:8080/v1', 'customers-api.orders-data.svc'],
    ['https://kubernetes.default.svc', 'kubernetes.default.svc'],
    ['http://orders%2Ddb:80/', 'orders-db'],
    ['http://ｏｒｄｅｒｓ-db:80/', 'orders-db'],
    ['https://user:pw@idp.example.com./realms/x', 'idp.example.com'],
  ])('%s → %s', (endpoint, host) => {
    expect(endpointHost(endpoint)).toBe(host);
  });

  it('has no host for what is not an endpoint', () => {
    expect(endpointHost('no-port')).toBeUndefined();
    expect(endpointHost(':5432')).toBeUndefined();
  });
});

describe('effectiveHostname: what the kubelet writes for the pod IP', () => {
  it('is spec.hostname, else the name cut to 63 characters without a final dash or dot', () => {
    const pod = examplePod();
    pod.metadata.name = 'a'.repeat(62) + '.b';
    expect(effectiveHostname(pod)).toBe('a'.repeat(62));
    pod.metadata.name = `${'x'.repeat(61)}--yz`;
    expect(effectiveHostname(pod)).toBe('x'.repeat(61));
    pod.spec.hostname = 'orders-db';
    expect(effectiveHostname(pod)).toBe('orders-db');
    pod.spec.hostname = '';
    expect(effectiveHostname(pod)).toBe(`${'x'.repeat(61)}`);
  });
});

describe('the pod\'s own hostname answering for a host the proxy resolves (round 9, A)', () => {
  const example = examplePolicy('accesspolicy.yaml');
  const cases: [string, AccessPolicy[], (pod: Pod) => void, RegExp][] = [
    ['the pod named like the target host', [example], (p) => { p.metadata.name = 'orders-db.orders-data.svc.cluster.local'; }, /^the pod's name .* is orders-db.orders-data.svc.cluster.local, the endpoint of target orders-db/],
    ['the name in upper case', [example], (p) => { p.metadata.name = 'ORDERS-DB.orders-data.svc.cluster.local'; }, /is orders-db.orders-data.svc.cluster.local/],
    ['a name whose first 63 characters are the host', [policyWith(`${'a'.repeat(48)}.orders.example:5432`)], (p) => { p.metadata.name = `${'a'.repeat(48)}.orders.examplezzzz`; }, /the pod's name/],
    ['a name cut to the host with a trailing dot removed', [policyWith(`${'a'.repeat(62)}:5432`)], (p) => { p.metadata.name = `${'a'.repeat(62)}.x`; }, /the pod's name/],
    ['a target endpoint with a final dot', [policyWith('orders-db.:5432')], (p) => { p.spec.hostname = 'orders-db'; }, /^spec.hostname orders-db is orders-db/],
    ['spec.hostname as a short target name', [policyWith('orders-db:5432')], (p) => { p.spec.hostname = 'orders-db'; }, /^spec.hostname orders-db is orders-db, the endpoint/],
    ['spec.hostname in upper case', [policyWith('ORDERS-DB:5432')], (p) => { p.spec.hostname = 'orders-db'; }, /^spec.hostname orders-db/],
    ['an http target by its short name', [policyWith('http://customers-api:8080')], (p) => { p.spec.hostname = 'customers-api'; }, /^spec.hostname customers-api is customers-api/],
    ['hostname and subdomain spelling a StatefulSet target', [policyWith('orders-db-0.orders-db.lgpd-orders.svc.cluster.local:5432')], (p) => { p.spec.hostname = 'orders-db-0'; p.spec.subdomain = 'orders-db'; }, /^spec.hostname and spec.subdomain make the kubelet map orders-db-0.orders-db.lgpd-orders.svc.<cluster domain>/],
    ['the same under another cluster domain', [policyWith('orders-db-0.orders-db.lgpd-orders.svc.corp.internal:5432')], (p) => { p.spec.hostname = 'orders-db-0'; p.spec.subdomain = 'orders-db'; }, /spec.subdomain/],
    ['hostname and subdomain in a pod without its namespace (any namespace refused)', [policyWith('orders-db-0.orders-db.other.svc.cluster.local:5432')], (p) => { delete p.metadata.namespace; p.spec.hostname = 'orders-db-0'; p.spec.subdomain = 'orders-db'; }, /spec.subdomain make the kubelet map orders-db-0.orders-db.<cluster domain>/],
    ['the pod name with a subdomain', [policyWith('agent-0.orders-db.lgpd-orders.svc.cluster.local:5432')], (p) => { p.metadata.name = 'agent-0'; p.spec.subdomain = 'orders-db'; }, /spec.subdomain/],
    ['the operator\'s host', [example], (p) => { p.metadata.name = 'guarita-operator.guarita-system.svc'; }, /the operator, to which the proxy sends its records/],
    ['an OIDC issuer\'s host', [policyWith('orders-db.orders-data.svc:5432', 'orders-db', 'https://idp.example.com/realms/x')], (p) => { p.metadata.name = 'idp.example.com'; }, /the OIDC issuer of AccessPolicy orders-db/],
    ['spec.hostnameOverride, whatever its value', [example], (p) => { p.spec.hostnameOverride = 'anything.example'; }, /^spec.hostnameOverride sets the hostname/],
  ];
  it.each(cases)('refuses %s', (_what, policies, change, message) => {
    expect(governed(policies, change)).toEqual([expect.stringMatching(message)]);
  });

  it('names the fix', () => {
    const [v] = governed([example], (p) => { p.metadata.name = 'orders-db.orders-data.svc.cluster.local'; });
    expect(v).toContain('/etc/hosts');
    expect(v).toContain('choose another name (or spec.hostname) for the pod');
  });

  it('admits other names, prefixes and subdomains that spell no resolved host', () => {
    const policies = [policyWith('orders-db-0.orders-db.lgpd-orders.svc.cluster.local:5432')];
    for (const change of [
      (p: Pod) => { p.spec.hostname = 'support-agent'; },
      (p: Pod) => { p.metadata.name = 'orders-db-0'; },
      (p: Pod) => { p.spec.hostname = 'orders-db-0'; p.spec.subdomain = 'orders'; },
      (p: Pod) => { p.spec.hostname = 'orders-db'; p.spec.subdomain = 'x'; },
      (p: Pod) => { p.metadata.name = 'orders-db-0.orders-db'; },
    ]) expect(governed(policies, change)).toEqual([]);
  });

  it('leaves pods without the proxy alone', () => {
    const pod = examplePod();
    pod.metadata.name = 'orders-db.orders-data.svc.cluster.local';
    pod.metadata.labels = { app: 'nobody' };
    pod.spec.hostnameOverride = 'x';
    expect(podViolations(pod, [examplePolicy('accesspolicy.yaml')], cfg)).toEqual([]);
  });

  it('lists each selecting policy\'s endpoint and issuer and the operator', () => {
    expect(resolvedHosts([policyWith('a:1', 'a', 'https://idp.example/'), policyWith('http://b:2', 'b')], 'https://op.example:8443').map((h) => h.host)).toEqual(['a', 'idp.example', 'b', 'op.example']);
    const pod = examplePod();
    pod.metadata.name = '';
    expect(hostnameViolations(pod, [{ host: 'x', role: 'r' }])).toEqual([]);
  });
});

describe('resolv.conf settings that choose which name is asked (round 9, B)', () => {
  const refused: [string, unknown, RegExp][] = [
    ['a search domain', { searches: ['r9.attacker.example'] }, /^spec.dnsConfig.searches \(r9.attacker.example\) adds search domains/],
    ['a search domain with ndots raised', { searches: ['r9.attacker.example'], options: [{ name: 'ndots', value: '15' }] }, /ndots with spec.dnsConfig.searches/],
    ['an option outside the allowlist', { options: [{ name: 'rotate' }] }, /^spec.dnsConfig.options\[0\] "rotate" is not one of timeout, attempts, ndots/],
    ['an option in another case', { options: [{ name: 'NDOTS', value: '1' }] }, /"NDOTS" is not one of/],
    ['inet6 and no-check-names', { options: [{ name: 'inet6' }, { name: 'no-check-names' }] }, /"inet6"/],
    ['a name with a newline', { options: [{ name: 'ndots:1\nnameserver 203.0.113.7\noptions rotate' }] }, /holds whitespace or a control character/],
    ['a value with a newline', { options: [{ name: 'timeout', value: '1\nnameserver 203.0.113.7' }] }, /holds whitespace or a control character/],
    ['a value with a space', { options: [{ name: 'attempts', value: '2 rotate' }] }, /holds whitespace/],
    ['a value with a tab', { options: [{ name: 'edns0', value: '\t' }] }, /holds whitespace/],
    ['a name with a carriage return', { options: [{ name: 'edns0\r' }] }, /holds whitespace/],
    ['a name with a NUL', { options: [{ name: 'edns0\u0000' }] }, /control character/],
    ['a name with a no-break space', { options: [{ name: 'edns0\u00a0' }] }, /holds whitespace/],
    ['a number option with letters', { options: [{ name: 'ndots', value: '1x' }] }, /ndots takes a number/],
    ['a flag with a value', { options: [{ name: 'use-vc', value: 'yes' }] }, /use-vc takes no value/],
    ['a name that is not a string', { options: [{ name: 5 }] }, /"" is not one of/],
  ];
  it.each(refused)('refuses %s', (_what, dnsConfig, message) => {
    const v = governed([examplePolicy('accesspolicy.yaml')], (p) => { p.spec.dnsConfig = dnsConfig; });
    expect(v).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
    for (const line of v) expect(line).toMatch(/guarita-proxy/);
  });

  it('admits the timing and transport options, and ndots without searches', () => {
    const options = [{ name: 'timeout', value: '2' }, { name: 'attempts', value: '3' }, { name: 'ndots', value: '2' }, { name: 'single-request' }, { name: 'single-request-reopen' }, { name: 'edns0', value: '' }, { name: 'use-vc' }, { name: 'trust-ad' }];
    expect(governed([examplePolicy('accesspolicy.yaml')], (p) => { p.spec.dnsConfig = { options, searches: [] }; })).toEqual([]);
  });

  it('leaves pods without the proxy alone', () => {
    const pod = examplePod();
    pod.spec.dnsConfig = { searches: ['corp.example'], options: [{ name: 'rotate' }] };
    expect(dnsViolations(pod)).toHaveLength(2);
    pod.metadata.labels = { app: 'nobody' };
    expect(podViolations(pod, [examplePolicy('accesspolicy.yaml')], cfg)).toEqual([]);
  });
});
