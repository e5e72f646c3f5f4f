// The operator's status writes name its field manager (round 11b, finding A2): the apiserver
// records it in managedFields, where the anchorer reads who last wrote status.chain.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, OPERATOR_FIELD_MANAGER, withFieldManager } from './client.ts';

describe('withFieldManager', () => {
  it.each([
    ['/apis/x/status', undefined, '/apis/x/status'],
    ['/apis/x/status', 'guarita-operator', '/apis/x/status?fieldManager=guarita-operator'],
    ['/apis/x/status?dryRun=All', 'guarita-operator', '/apis/x/status?dryRun=All&fieldManager=guarita-operator'],
    ['/apis/x', 'a b&c=d', '/apis/x?fieldManager=a+b%26c%3Dd'],
  ])('%s with %s → %s', (path, manager, out) => {
    expect(withFieldManager(path, manager)).toBe(out);
  });
});

describe('KubeClient.mergePatch', () => {
  let server: Server | undefined;
  let client: KubeClient | undefined;
  afterEach(async () => {
    await client?.close();
    await new Promise<void>((resolve) => { if (server === undefined) resolve(); else server.close(() => { resolve(); }); });
  });

  it('sends the field manager as a query parameter, and nothing when none is given', async () => {
    const seen: { url: string | undefined; method: string | undefined; type: string | undefined }[] = [];
    server = createServer((req, res) => {
      seen.push({ url: req.url, method: req.method, type: req.headers['content-type'] });
      req.resume();
      req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end('{}'); });
    });
    await new Promise<void>((resolve) => { server!.listen(0, '127.0.0.1', resolve); });
    const kc = new KubeConfig();
    const { port } = server.address() as AddressInfo;
    kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    client = new KubeClient(kc);
    await client.mergePatch('/apis/guarita.io/v1alpha1/namespaces/ns/accesspolicies/p/status', { status: {} }, { fieldManager: OPERATOR_FIELD_MANAGER });
    await client.mergePatch('/api/v1/namespaces/ns/pods/p', { metadata: {} });
    expect(seen).toEqual([
      { url: '/apis/guarita.io/v1alpha1/namespaces/ns/accesspolicies/p/status?fieldManager=guarita-operator', method: 'PATCH', type: 'application/merge-patch+json' },
      { url: '/api/v1/namespaces/ns/pods/p', method: 'PATCH', type: 'application/merge-patch+json' },
    ]);
  });
});
