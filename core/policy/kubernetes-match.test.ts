// match.kubernetes: RBAC's matching for allow rules, and the restrictive reading for deny and
// requireApproval rules (a request broader than the rule still reaches what it names).
import { describe, expect, it } from '@jest/globals';
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
    expect(compileKubernetesMatch({ resources: ['pods/*'] }).matches(req('POST', '/api/v1/namespaces/a/pods/x/exec'), 'permissive')).toBe(true);
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

  it('restrictive rules fold case; allow rules do not', () => {
    const m = compileKubernetesMatch({ resources: ['secrets'] });
    expect(m.matches(req('GET', '/api/v1/namespaces/a/Secrets/x'), 'restrictive')).toBe(true);
    expect(m.matches(req('GET', '/api/v1/namespaces/a/Secrets/x'), 'permissive')).toBe(false);
  });
});
