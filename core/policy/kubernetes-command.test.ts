// The text a Kubernetes request is approved and recorded as: exact (bound by hash), and without
// Secret values or unreadable bodies in clear.
import { describe, expect, it } from '@jest/globals';
import { kubectlAttributes, kubernetesCommandText } from './kubernetes-command.ts';
import { kubernetesRequestInfo } from './kubernetes-request.ts';

function attrs(method: string, target: string) {
  const r = kubernetesRequestInfo(method, target);
  if (!r.ok) throw new Error(r.problem);
  return r.attributes;
}

describe('kubernetesCommandText', () => {
  it('states the kubectl-like line, the exact request and the body', () => {
    const text = kubernetesCommandText(attrs('PATCH', '/api/v1/namespaces/o/configmaps/c'), {
      method: 'PATCH', target: '/api/v1/namespaces/o/configmaps/c', contentType: 'application/merge-patch+json', body: Buffer.from('{"data":{"a":"1"}}'),
    });
    expect(text).toBe('kubectl patch configmaps c -n o\nPATCH /api/v1/namespaces/o/configmaps/c\ncontent-type: application/merge-patch+json\n\n{"data":{"a":"1"}}');
  });

  it('states exec, attach and portforward as one CONNECT command whether they come as a WebSocket GET or a SPDY POST', () => {
    for (const sub of ['exec?command=sh&stdin=true', 'attach?stdin=true', 'portforward?ports=5432']) {
      const target = `/api/v1/namespaces/o/pods/db-0/${sub}`;
      const get = kubernetesCommandText(attrs('GET', target), { method: 'GET', target });
      expect(get).toBe(kubernetesCommandText(attrs('POST', target), { method: 'POST', target }));
      expect(get.split('\n')[1]).toBe(`CONNECT ${target}`);
    }
    // Other requests keep their method: a GET and a POST of a collection are different commands.
    const list = kubernetesCommandText(attrs('GET', '/api/v1/namespaces/o/pods'), { method: 'GET', target: '/api/v1/namespaces/o/pods' });
    expect(list.split('\n')[1]).toBe('GET /api/v1/namespaces/o/pods');
  });

  it('hashes Secret values, and shows bodies that are not text by size and hash only', () => {
    const secret = kubernetesCommandText(attrs('POST', '/api/v1/namespaces/o/secrets'), {
      method: 'POST', target: '/api/v1/namespaces/o/secrets', contentType: 'application/json', body: Buffer.from('{"kind":"Secret","data":{"password":"aHVudGVyMg=="},"stringData":{"token":"abc"}}'),
    });
    expect(secret).not.toContain('aHVudGVyMg==');
    expect(secret).not.toContain('"abc"');
    expect(secret).toMatch(/"password":"\[sha256 [0-9a-f]{64}\]"/);
    const yamlSecret = kubernetesCommandText(attrs('PATCH', '/api/v1/namespaces/o/secrets/s'), { method: 'PATCH', target: '/x', contentType: 'application/apply-patch+yaml', body: Buffer.from('data:\n  password: aHVudGVyMg==\n') });
    expect(yamlSecret).toMatch(/\[Secret request body: \d+ bytes, sha256 [0-9a-f]{64}\]/);
    const protobuf = kubernetesCommandText(attrs('POST', '/api/v1/namespaces/o/configmaps'), { method: 'POST', target: '/x', contentType: 'application/vnd.kubernetes.protobuf', body: Buffer.from('k8s\u0000\n\u0002v1') });
    expect(protobuf).toMatch(/\[request body: \d+ bytes, sha256 [0-9a-f]{64}\]$/);
  });

  it('hashes the applied copy kubectl apply sends in the last-applied annotation', () => {
    const applied = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { token: 'tr0ub4dor' }, data: { password: 'aHVudGVyMg==' } });
    const body = JSON.stringify({ metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied, owner: 'ops' } }, stringData: { token: 'tr0ub4dor' } });
    const text = kubernetesCommandText(attrs('PATCH', '/api/v1/namespaces/o/secrets/s'), { method: 'PATCH', target: '/api/v1/namespaces/o/secrets/s', contentType: 'application/strategic-merge-patch+json', body: Buffer.from(body) });
    expect(text).not.toContain('tr0ub4dor');
    expect(text).not.toContain('aHVudGVyMg==');
    expect(text).toContain('"owner":"ops"');
    expect(text).toMatch(/"kubectl.kubernetes.io\/last-applied-configuration":"\[sha256 [0-9a-f]{64}\]"/);
  });

  it('binds a Secret body by its bytes: a repeated key JSON.parse drops still changes the text', () => {
    const a = attrs('PATCH', '/api/v1/namespaces/o/secrets/s');
    const t = (b: string): string => kubernetesCommandText(a, { method: 'PATCH', target: '/t', contentType: 'application/merge-patch+json', body: Buffer.from(b) });
    expect(t('{"data":{"a":"MQ=="},"data":{"b":"eA=="}}')).not.toBe(t('{"data":{"a":"Mg=="},"data":{"b":"eA=="}}'));
    expect(t('{"data":{"a":"MQ=="},"data":{"b":"eA=="}}')).not.toContain('MQ==');
  });

  it('different bodies make different texts (an approval covers one body)', () => {
    const a = attrs('PATCH', '/api/v1/namespaces/o/configmaps/c');
    const t = (b: string): string => kubernetesCommandText(a, { method: 'PATCH', target: '/t', contentType: 'application/json', body: Buffer.from(b) });
    expect(t('{"data":{"x":"1"}}')).not.toBe(t('{"data":{"x":"2"}}'));
  });
});

describe('kubectlAttributes (policy eval --k8s)', () => {
  it('reads verb, resource, group, subresource, namespace and name in kubectl order', () => {
    expect(kubectlAttributes('create pods/exec -n orders orders-db-0')).toMatchObject({ resourceRequest: true, verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'orders', name: 'orders-db-0', apiGroup: '' });
    expect(kubectlAttributes('list deployments.apps --namespace=orders')).toMatchObject({ verb: 'list', resource: 'deployments', apiGroup: 'apps', namespace: 'orders', name: '' });
    expect(kubectlAttributes('get --raw /version')).toMatchObject({ resourceRequest: false, verb: 'get', path: '/version' });
    expect(kubectlAttributes('watch pods -A')).toMatchObject({ verb: 'watch', namespace: '' });
  });

  it('refuses what it cannot read, naming the form', () => {
    expect(kubectlAttributes('fetch pods')).toEqual({ problem: expect.stringMatching(/not a request verb/) });
    expect(kubectlAttributes('get Pods!')).toEqual({ problem: expect.stringMatching(/RESOURCE\[\.GROUP\]/) });
    expect(kubectlAttributes('get --raw version')).toEqual({ problem: expect.stringMatching(/starting with \//) });
  });
});
