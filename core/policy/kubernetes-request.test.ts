// URL → attributes, as k8s.io/apiserver's RequestInfoFactory derives them (requestinfo.go and its
// requestinfo_test.go cases), plus the adversarial forms the sidecar refuses instead of guessing.
import { describe, expect, it } from '@jest/globals';
import { describeKubernetesRequest, kubernetesRequestInfo, type KubernetesAttributes } from './kubernetes-request.ts';

type Expected = Partial<KubernetesAttributes>;

const CORPUS: ReadonlyArray<[string, string, Expected]> = [
  // Resource requests (requestinfo_test.go TestGetAPIRequestInfo).
  ['GET', '/api/v1/namespaces', { resourceRequest: true, verb: 'list', apiGroup: '', apiVersion: 'v1', namespace: '', resource: 'namespaces', name: '' }],
  ['GET', '/api/v1/namespaces/other', { verb: 'get', namespace: 'other', resource: 'namespaces', name: 'other' }],
  ['GET', '/api/v1/namespaces/other/pods', { verb: 'list', namespace: 'other', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/other/pods/foo', { verb: 'get', namespace: 'other', resource: 'pods', name: 'foo' }],
  ['HEAD', '/api/v1/namespaces/other/pods/foo', { verb: 'get', name: 'foo' }],
  ['GET', '/api/v1/pods', { verb: 'list', namespace: '', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/log', { verb: 'get', resource: 'pods', subresource: 'log', name: 'foo' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/log/extra/parts', { verb: 'get', resource: 'pods', subresource: 'log', name: 'foo' }],
  ['POST', '/api/v1/namespaces/other/pods', { verb: 'create', resource: 'pods', name: '' }],
  ['POST', '/api/v1/namespaces/other/pods/foo/exec', { verb: 'create', resource: 'pods', subresource: 'exec', name: 'foo' }],
  // WebSocket exec/attach/port-forward: GET, authorized by the apiserver (1.31+) as create.
  ['GET', '/api/v1/namespaces/other/pods/foo/exec?command=ls', { verb: 'create', resource: 'pods', subresource: 'exec', name: 'foo' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/portforward?ports=5432', { verb: 'create', resource: 'pods', subresource: 'portforward', name: 'foo' }],
  ['POST', '/api/v1/namespaces/other/pods/foo/attach?stdin=true', { verb: 'create', resource: 'pods', subresource: 'attach', name: 'foo' }],
  ['HEAD', '/api/v1/namespaces/other/pods/foo/exec', { verb: 'create', resource: 'pods', subresource: 'exec', name: 'foo' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/attach', { verb: 'create', subresource: 'attach' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/portforward', { verb: 'create', subresource: 'portforward' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/log', { verb: 'get', subresource: 'log' }],
  ['PUT', '/api/v1/namespaces/other/pods/foo', { verb: 'update', name: 'foo' }],
  ['PATCH', '/api/v1/namespaces/other/pods/foo', { verb: 'patch', name: 'foo' }],
  ['DELETE', '/api/v1/namespaces/other/pods/foo', { verb: 'delete', name: 'foo' }],
  ['DELETE', '/api/v1/namespaces/other/pods', { verb: 'deletecollection', name: '' }],
  ['DELETE', '/api/v1/namespaces/other/pods?dryRun=All', { verb: 'deletecollection' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=true', { verb: 'watch', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=1', { verb: 'watch' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=T', { verb: 'watch' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=false', { verb: 'list' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=0', { verb: 'list' }],
  ['GET', '/api/v1/watch/namespaces/other/pods', { verb: 'watch', resource: 'pods', namespace: 'other' }],
  ['GET', '/api/v1/watch/namespaces/other/pods/foo', { verb: 'watch', resource: 'pods', name: 'foo' }],
  ['GET', '/api/v1/watch/pods', { verb: 'watch', resource: 'pods', namespace: '' }],
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo/some/path', { verb: 'proxy', resource: 'pods', name: 'foo', subresource: '' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/proxy/some/path', { verb: 'get', resource: 'pods', name: 'foo', subresource: 'proxy' }],
  ['GET', '/api/v1/namespaces/other/status', { resource: 'namespaces', name: 'other', subresource: 'status', namespace: 'other' }],
  ['PUT', '/api/v1/namespaces/other/finalize', { verb: 'update', resource: 'namespaces', name: 'other', subresource: 'finalize' }],
  ['GET', '/apis/apps/v1/namespaces/other/deployments', { apiGroup: 'apps', apiVersion: 'v1', verb: 'list', resource: 'deployments' }],
  ['GET', '/apis/apps/v1/namespaces/other/deployments/web/scale', { apiGroup: 'apps', resource: 'deployments', name: 'web', subresource: 'scale' }],
  ['GET', '/apis/unknown.example.com/v9/things', { apiGroup: 'unknown.example.com', apiVersion: 'v9', resource: 'things', verb: 'list' }],
  ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/admin', { apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'admin', namespace: '' }],
  // A list narrowed to one name counts as naming it (RequiresExactMatch on metadata.name).
  ['GET', '/api/v1/namespaces/other/secrets?fieldSelector=metadata.name%3Dtoken', { verb: 'list', resource: 'secrets', name: 'token' }],
  ['GET', '/api/v1/namespaces/other/secrets?fieldSelector=metadata.name%3D%3Dtoken&watch=true', { verb: 'watch', name: 'token' }],
  ['GET', '/api/v1/namespaces/other/secrets?fieldSelector=type%3Dopaque,metadata.name%3Dtoken', { verb: 'list', name: 'token' }],
  ['GET', '/api/v1/namespaces/other/secrets?fieldSelector=metadata.name!%3Dtoken', { verb: 'list', name: '' }],
  // Case is the apiserver's too: /API is a non-resource path, PODS an (unknown) resource.
  ['GET', '/api/v1/namespaces/other/PODS', { resourceRequest: true, resource: 'PODS' }],
  ['GET', '/API/v1/namespaces/other/pods', { resourceRequest: false, verb: 'get', path: '/API/v1/namespaces/other/pods' }],
  // Non-resource URLs: discovery, /version, openapi, health.
  ['GET', '/api', { resourceRequest: false, verb: 'get', path: '/api' }],
  ['GET', '/api/v1', { resourceRequest: false, path: '/api/v1' }],
  ['GET', '/apis', { resourceRequest: false, path: '/apis' }],
  ['GET', '/apis/apps', { resourceRequest: false, path: '/apis/apps' }],
  ['GET', '/apis/apps/v1', { resourceRequest: false, path: '/apis/apps/v1' }],
  ['GET', '/version', { resourceRequest: false, path: '/version' }],
  ['GET', '/version/', { resourceRequest: false, path: '/version' }],
  ['GET', '/openapi/v3/apis/apps/v1?hash=abc', { resourceRequest: false, path: '/openapi/v3/apis/apps/v1' }],
  ['POST', '/healthz', { resourceRequest: false, verb: 'post' }],
  ['GET', '/', { resourceRequest: false, path: '/' }],
  // Trailing slashes are ignored, as the apiserver's splitPath trims them.
  ['GET', '/api/v1/namespaces/other/pods/', { verb: 'list', resource: 'pods' }],
  // Proxy subresources take [scheme:]name[:port] (net.SplitSchemeNamePort): judged as the object they reach.
  ['GET', '/api/v1/namespaces/other/pods/orders-db-0:8443/proxy/admin', { verb: 'get', resource: 'pods', subresource: 'proxy', name: 'orders-db-0' }],
  ['GET', '/api/v1/namespaces/other/pods/https:orders-db-0:8443/proxy/', { resource: 'pods', subresource: 'proxy', name: 'orders-db-0' }],
  ['POST', '/api/v1/namespaces/other/services/http:web:/proxy/api', { verb: 'create', resource: 'services', subresource: 'proxy', name: 'web' }],
  ['POST', '/api/v1/nodes/node-1:10250/proxy/run/other/orders-db-0/db?cmd=id', { verb: 'create', resource: 'nodes', subresource: 'proxy', name: 'node-1', namespace: '' }],
  ['GET', '/api/v1/nodes/node-1/proxy/containerLogs/kube-system/etcd-0/etcd', { verb: 'get', resource: 'nodes', subresource: 'proxy', name: 'node-1' }],
  ['GET', '/api/v1/proxy/namespaces/other/pods/https:foo:443/x', { verb: 'proxy', resource: 'pods', name: 'foo' }],
  // Other subresources that reach beyond the object: judged as themselves (the verb the apiserver authorizes).
  ['POST', '/api/v1/namespaces/other/serviceaccounts/default/token', { verb: 'create', resource: 'serviceaccounts', subresource: 'token', name: 'default' }],
  ['PATCH', '/api/v1/namespaces/other/pods/foo/ephemeralcontainers', { verb: 'patch', resource: 'pods', subresource: 'ephemeralcontainers', name: 'foo' }],
  ['POST', '/api/v1/namespaces/other/pods/foo/eviction', { verb: 'create', resource: 'pods', subresource: 'eviction', name: 'foo' }],
  ['POST', '/api/v1/namespaces/other/pods/foo/binding', { verb: 'create', resource: 'pods', subresource: 'binding', name: 'foo' }],
  ['POST', '/api/v1/namespaces/other/bindings', { verb: 'create', resource: 'bindings', name: '' }],
  ['PUT', '/apis/apps/v1/namespaces/other/statefulsets/db/scale', { verb: 'update', resource: 'statefulsets', subresource: 'scale', name: 'db' }],
  ['PATCH', '/api/v1/namespaces/other/pods/foo/status', { verb: 'patch', subresource: 'status', name: 'foo' }],
  // ?dryRun=All is still the verb it names (admission webhooks with side effects run; the decision is the rule's).
  ['POST', '/api/v1/namespaces/other/pods?dryRun=All', { verb: 'create', resource: 'pods' }],
  ['DELETE', '/api/v1/namespaces/other/pods?labelSelector=app%3Dweb&dryRun=All', { verb: 'deletecollection', name: '' }],
  // Uppercase and lowercase percent escapes of unreserved characters read the same.
  ['GET', '/api/v1/namespaces/other/%73ecrets/%74oken', { resource: 'secrets', name: 'token' }],
  ['GET', '/api/v1/namespaces/other/%53ecrets', { resource: 'Secrets' }],
  // Parameters other than watch and fieldSelector do not change the attributes, repeated or not.
  ['GET', '/api/v1/namespaces/other/pods?labelSelector=a%3D1&labelSelector=b%3D2&limit=1&continue=abc', { verb: 'list', name: '' }],
];

const REFUSED: ReadonlyArray<[string, string, RegExp]> = [
  ['GET', '/api/v1/namespaces/other/secrets%2Ftoken', /encoded/],
  ['GET', '/api/v1/namespaces/other/pods/..%2Fsecrets', /encoded|dot/],
  ['GET', '/api/v1/namespaces/other/pods/../../secrets/token', /dot segment/],
  ['GET', '/api/v1/namespaces/other/pods/%2e%2e/secrets', /dot segment/],
  ['GET', '/api/v1/namespaces//secrets', /empty segment/],
  ['GET', '//api/v1/secrets', /empty segment/],
  ['GET', '/api/v1/namespaces/other/pods;x=1', /matrix/],
  ['GET', '/api/v1/namespaces/other/pods#frag', /fragment/],
  ['GET', 'https://evil.example/api/v1/pods', /absolute/],
  ['GET', '/api/v1/namespaces/other/pods\\x', /byte/],
  ['GET', '/api/v1/namespaces/other/pods?watch=yes', /not a boolean/],
  ['GET', '/api/v1/namespaces/other/pods?watch=f', /not a boolean/],
  ['GET', '/api/v1/namespaces/other/pods?watch=', /not a boolean/],
  ['GET', '/api/v1/namespaces/other/pods?watch=false&watch=true', /repeats watch/],
  ['GET', '/api/v1/namespaces/other/secrets?fieldSelector=a%3D1&fieldSelector=metadata.name%3Dx', /repeats fieldSelector/],
  ['GET', '/api/v1/namespaces/other/secrets?fieldSelector=metadata.name%3Da%5C,b', /backslash/],
  ['GET', '/api/v1/namespaces/other/secrets?fieldSelector=metadata.name%3Da,metadata.name%3Db', /twice/],
  ['GET', '/api/v1/watch', /no resource/],
  ['OPTIONS', '/api/v1/namespaces/other/pods', /no Kubernetes verb/],
  ['GET', '/api/v1/namespaces/other/pods?x=%25', /double encoding/],
  // Proxy targets the apiserver would not split as [scheme:]name[:port].
  ['GET', '/api/v1/namespaces/other/pods/ftp:foo:21/proxy', /scheme http or https/],
  ['GET', '/api/v1/namespaces/other/pods/a:b:c:d/proxy', /not \[scheme:\]name/],
  ['GET', '/api/v1/namespaces/other/services/:8080/proxy', /not \[scheme:\]name/],
  // Encoded separators, dot segments in every spelling, invalid UTF-8 and overlong encodings.
  ['GET', '/api/v1/namespaces/other/pods%2ffoo/exec', /encoded/],
  ['GET', '/api/v1/namespaces/other/pods/foo/%2E%2E/%2e%2E/secrets', /dot segment/],
  ['GET', '/api/v1/namespaces/other/pods/.%2e/secrets', /dot segment/],
  ['GET', '/api/v1/namespaces/other/secrets/%c0%ae%c0%ae', /UTF-8/],
  ['GET', '/api/v1/namespaces/other/secrets/%ff', /UTF-8/],
  ['GET', '/api/v1/namespaces/other/secrets/%zz', /percent/],
  ['GET', '/api/v1/namespaces/other/secrets/x%00', /encoded/],
  ['GET', '/api/v1/namespaces/other/secrets;/token', /matrix/],
  ['GET', '/api/v1/namespaces/other/secrets?watch=true;watch=false', /;/],
  ['GET', '/api/v1/namespaces/other/pods?watch=true&watch=true', /repeats watch/],
  ['GET', '/api/v1/namespaces/other/secrets?fieldSelector=metadata.name%3Dx&fieldSelector=metadata.name%3Dy', /repeats fieldSelector/],
  ['GET', '/api/v1/namespaces/other/pods?x=%2525', /double encoding/],
  // exec, attach and port-forward with another method than GET or POST: read as delete, patch or
  // update they would be judged as something other than the create the apiserver runs (round 7).
  ...['PUT', 'PATCH', 'DELETE'].flatMap((method) => ['exec?command=sh', 'attach?stdin=true', 'portforward?ports=5432', 'exec'].map((sub): [string, string, RegExp] => [method, `/api/v1/namespaces/other/pods/vault-0/${sub}`, /GET \(a WebSocket upgrade\) or POST/])),
];

describe('Kubernetes request attributes (apiserver request info)', () => {
  it.each(CORPUS)('%s %s', (method, target, expected) => {
    const r = kubernetesRequestInfo(method, target);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.attributes).toMatchObject(expected);
    // The forwarded target reads the same as the one judged.
    const again = kubernetesRequestInfo(method, r.target);
    expect(again).toEqual(r);
  });

  it.each(REFUSED)('refuses %s %s', (method, target, problem) => {
    const r = kubernetesRequestInfo(method, target);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(problem);
  });

  it('describes a request as a kubectl-like line', () => {
    const line = (m: string, t: string): string => {
      const r = kubernetesRequestInfo(m, t);
      if (!r.ok) throw new Error(r.problem);
      return describeKubernetesRequest(r.attributes);
    };
    expect(line('DELETE', '/api/v1/namespaces/orders/pods/orders-db-0')).toBe('kubectl delete pods orders-db-0 -n orders');
    expect(line('GET', '/apis/apps/v1/namespaces/orders/deployments?watch=true')).toBe('kubectl watch deployments.apps -n orders');
    expect(line('POST', '/api/v1/namespaces/orders/pods/orders-db-0/exec?command=sh')).toBe('kubectl create pods/exec orders-db-0 -n orders');
    expect(line('GET', '/version')).toBe('kubectl get --raw /version');
  });
});
