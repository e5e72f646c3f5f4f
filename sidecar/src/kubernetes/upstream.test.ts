// The proxy's own credential for the apiserver, from the target's mounted Secret: a token with
// ca.crt beside it (a service-account token Secret), tls.caSecretRef, or a kubeconfig.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { AccessPolicy } from '../../../crds/types.ts';
import { kubeUpstream } from './upstream.ts';

const dir = mkdtempSync(join(tmpdir(), 'guarita-kube-upstream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function policy(target: Record<string, unknown>): AccessPolicy {
  return { metadata: { name: 'p' }, spec: { target: { name: 't', protocol: 'kubernetes', endpoint: 'https://kubernetes.default.svc', listenPort: 16443, ...target } } } as unknown as AccessPolicy;
}

function mount(files: Record<string, string>): void {
  rmSync(join(dir, 't'), { recursive: true, force: true });
  mkdirSync(join(dir, 't'));
  for (const [k, v] of Object.entries(files)) writeFileSync(join(dir, 't', k), v);
}

describe('kubeUpstream', () => {
  it('reads token and ca.crt of a service-account token Secret by default', () => {
    mount({ token: 'tok\n', 'ca.crt': 'CA', namespace: 'x' });
    expect(kubeUpstream(policy({ credentialsSecretRef: { name: 's' } }), dir)).toEqual({ origin: 'https://kubernetes.default.svc', token: 'tok', tls: { rejectUnauthorized: true, ca: 'CA' } });
  });

  it('reads a kubeconfig: client certificate, key and CA', () => {
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    mount({ config: stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: 'https://elsewhere:6443', 'certificate-authority-data': b64('CA2') } }],
      users: [{ name: 'u', user: { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
    }) });
    const up = kubeUpstream(policy({ credentialsSecretRef: { name: 's', kubeconfigKey: 'config' } }), dir);
    expect(up).toEqual({ origin: 'https://kubernetes.default.svc', tls: { rejectUnauthorized: true, ca: 'CA2', cert: 'CERT', key: 'KEY' } });
  });

  it('names the field and the fix when the credential is missing or unusable', () => {
    mount({});
    expect(() => kubeUpstream(policy({ credentialsSecretRef: { name: 's' } }), dir)).toThrow(/spec.target.credentialsSecretRef.tokenKey: .*put key "token" in that Secret/);
    mount({ token: '   ' });
    expect(() => kubeUpstream(policy({ credentialsSecretRef: { name: 's' } }), dir)).toThrow(/key "token" is empty/);
    mount({ config: 'apiVersion: v1\nkind: Config\nusers: [{name: u, user: {exec: {command: aws}}}]\nclusters: [{name: k, cluster: {server: "https://x"}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\ncurrent-context: c\n' });
    expect(() => kubeUpstream(policy({ credentialsSecretRef: { name: 's', kubeconfigKey: 'config' } }), dir)).toThrow(/neither token nor client-certificate-data/);
    expect(() => kubeUpstream(policy({}), dir)).toThrow(/credentialsSecretRef is required/);
  });
});
