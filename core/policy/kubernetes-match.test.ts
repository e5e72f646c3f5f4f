// match.kubernetes: RBAC's matching for allow rules, and the restrictive reading for deny and
// requireApproval rules (a request broader than the rule still reaches what it names).
import { describe, expect, it } from '@jest/globals';
import { parseAccessPolicy } from '../../crds/validators.ts';
import { compilePolicy } from './decide.ts';
import { compileKubernetesMatch } from './kubernetes-match.ts';
import { kubernetesRequestInfo, type KubernetesAttributes } from './kubernetes-request.ts';

function req(method: string, target: string): KubernetesAttributes {
  const r = kubernetesRequestInfo(method, target);
  if (!r.ok) throw new Error(r.problem);
  return r.attributes;
}

describe('match.kubernetes', () => {
  it('matches resources as RBAC does: a resource alone is not its subresources; */sub and res/* are', () => {
    const pods = compileKubernetesMatch({ resources: ['pods'] });
    expect(pods.matches(req('GET', '/api/v1/namespaces/a/pods/x'), 'permissive')).toBe(true);
    expect(pods.matches(req('GET', '/api/v1/namespaces/a/pods/x/log'), 'permissive')).toBe(false);
    expect(compileKubernetesMatch({ resources: ['pods/*'] }).matches(req('GET', '/api/v1/namespaces/a/pods/x/log'), 'permissive')).toBe(true);
    expect(compileKubernetesMatch({ resources: ['*/scale'] }).matches(req('GET', '/apis/apps/v1/namespaces/a/deployments/d/scale'), 'permissive')).toBe(true);
  });

  it('an allow rule with names never matches a request without one; a deny rule does', () => {
    const m = compileKubernetesMatch({ resources: ['secrets'], names: ['token'] });
    const list = req('GET', '/api/v1/namespaces/a/secrets');
    expect(m.matches(list, 'permissive')).toBe(false);
    expect(m.matches(list, 'restrictive')).toBe(true);
    expect(m.matches(req('GET', '/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dtoken'), 'permissive')).toBe(true);
    expect(m.matches(req('GET', '/api/v1/namespaces/a/secrets/other'), 'restrictive')).toBe(false);
  });

  it('an allow rule with namespaces never matches a request across all namespaces; a deny rule does', () => {
    const m = compileKubernetesMatch({ resources: ['pods'], namespaces: ['orders-*'] });
    expect(m.matches(req('GET', '/api/v1/namespaces/orders-data/pods'), 'permissive')).toBe(true);
    expect(m.matches(req('GET', '/api/v1/pods'), 'permissive')).toBe(false);
    expect(m.matches(req('GET', '/api/v1/pods'), 'restrictive')).toBe(true);
  });

  it('keeps resource and non-resource rules apart; verbs include watch and deletecollection', () => {
    const discovery = compileKubernetesMatch({ verbs: ['get'], nonResourceURLs: ['/apis/*', '/version'] });
    expect(discovery.matches(req('GET', '/apis/apps/v1'), 'permissive')).toBe(true);
    expect(discovery.matches(req('GET', '/version'), 'permissive')).toBe(true);
    expect(discovery.matches(req('GET', '/apis/apps/v1/deployments'), 'permissive')).toBe(false);
    expect(compileKubernetesMatch({ resources: ['*'] }).matches(req('GET', '/version'), 'permissive')).toBe(false);
    expect(compileKubernetesMatch({ verbs: ['watch'] }).matches(req('GET', '/api/v1/watch/namespaces/a/pods'), 'permissive')).toBe(true);
    expect(compileKubernetesMatch({ verbs: ['deletecollection'] }).matches(req('DELETE', '/api/v1/namespaces/a/pods'), 'restrictive')).toBe(true);
  });

  // Proxy (any backend, the kubelet's run and containerLogs), code in a pod and minted tokens: an
  // allow rule must name them; deny and requireApproval rules reach them through wildcards.
  const REACHING: ReadonlyArray<[string, string, string]> = [
    ['GET', '/api/v1/namespaces/a/pods/https:x:8443/proxy/admin', 'pods/proxy'],
    ['POST', '/api/v1/namespaces/a/services/web/proxy/drop', 'services/proxy'],
    ['POST', '/api/v1/nodes/n1:10250/proxy/run/a/x/c', 'nodes/proxy'],
    ['GET', '/api/v1/nodes/n1/proxy/containerLogs/kube-system/etcd-0/etcd', 'nodes/proxy'],
    ['POST', '/api/v1/namespaces/a/pods/x/exec', 'pods/exec'],
    ['GET', '/api/v1/namespaces/a/pods/x/exec?command=sh', 'pods/exec'],
    ['GET', '/api/v1/namespaces/a/pods/x/attach', 'pods/attach'],
    ['POST', '/api/v1/namespaces/a/pods/x/portforward', 'pods/portforward'],
    ['PATCH', '/api/v1/namespaces/a/pods/x/ephemeralcontainers', 'pods/ephemeralcontainers'],
    ['POST', '/api/v1/namespaces/a/serviceaccounts/default/token', 'serviceaccounts/token'],
  ];

  it.each(REACHING)('%s %s is allowed only by a rule naming %s', (method, target, named) => {
    const r = req(method, target);
    const sub = named.slice(named.indexOf('/'));
    for (const resources of [['*'], [`${named.split('/')[0] ?? ''}/*`], undefined]) {
      expect(compileKubernetesMatch({ verbs: ['*'], ...(resources === undefined ? {} : { resources }) }).matches(r, 'permissive')).toBe(false);
      expect(compileKubernetesMatch({ verbs: ['*'], ...(resources === undefined ? {} : { resources }) }).matches(r, 'restrictive')).toBe(true);
    }
    expect(compileKubernetesMatch({ resources: [named] }).matches(r, 'permissive')).toBe(true);
    expect(compileKubernetesMatch({ resources: [`*${sub}`] }).matches(r, 'permissive')).toBe(true);
  });

  it('judges a proxy request by the object it reaches, whatever scheme and port it names', () => {
    const deny = compileKubernetesMatch({ resources: ['pods/proxy'], names: ['orders-db-0'] });
    for (const id of ['orders-db-0', 'orders-db-0:5432', 'https:orders-db-0:8443', 'http:orders-db-0:']) {
      expect(deny.matches(req('GET', `/api/v1/namespaces/a/pods/${id}/proxy/x`), 'restrictive')).toBe(true);
    }
    const legacy = req('GET', '/api/v1/proxy/namespaces/a/pods/x/y');
    expect(compileKubernetesMatch({ resources: ['pods'] }).matches(legacy, 'permissive')).toBe(false);
    expect(compileKubernetesMatch({ verbs: ['proxy'], resources: ['pods'] }).matches(legacy, 'permissive')).toBe(true);
  });

  it('restrictive rules fold case; allow rules do not', () => {
    const m = compileKubernetesMatch({ resources: ['secrets'] });
    expect(m.matches(req('GET', '/api/v1/namespaces/a/Secrets/x'), 'restrictive')).toBe(true);
    expect(m.matches(req('GET', '/api/v1/namespaces/a/Secrets/x'), 'permissive')).toBe(false);
  });
});

describe('a rule without match.kubernetes', () => {
  const policy = (action: 'allow' | 'deny'): ReturnType<typeof compilePolicy> => compilePolicy(parseAccessPolicy({
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'p', namespace: 'ns' },
    spec: {
      podSelector: {},
      target: { name: 'cluster', protocol: 'kubernetes', endpoint: 'https://kubernetes.default.svc', listenPort: 16443, credentialsSecretRef: { name: 'token' } },
      identity: { oidc: { issuer: 'https://idp.example', audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: 'troubleshooting' }],
      rules: [{ name: 'everything', action }],
    },
  }));
  const judge = (p: ReturnType<typeof compilePolicy>, method: string, target: string): string => p.evaluate({
    identity: { subject: 'ana', groups: ['support'], kind: 'User' }, purpose: 'troubleshooting', command: { protocol: 'kubernetes', request: req(method, target) },
  }).decision;

  it('allows every request except those reaching beyond the object; denies them all', () => {
    const allow = policy('allow');
    expect(judge(allow, 'GET', '/api/v1/namespaces/a/pods')).toBe('allow');
    expect(judge(allow, 'POST', '/api/v1/nodes/n1/proxy/run/a/x/c')).toBe('deny');
    expect(judge(allow, 'POST', '/api/v1/namespaces/a/serviceaccounts/default/token')).toBe('deny');
    expect(judge(allow, 'POST', '/api/v1/namespaces/a/pods/x/exec')).toBe('deny');
    expect(judge(policy('deny'), 'POST', '/api/v1/nodes/n1/proxy/run/a/x/c')).toBe('deny');
  });
});
