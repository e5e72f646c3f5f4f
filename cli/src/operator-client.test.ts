// Reaching the operator: where it is (flag, env, or a message with the port-forward to run), the
// user's bearer token from the kubeconfig, and errors that say what to do next.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { UsageError } from './args.ts';
import { bearerToken, explainStatus, explainTransportError, OperatorClient, operatorEndpoint } from './operator-client.ts';

let dir: string;
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'guarita-cli-op-'));
  writeFileSync(join(dir, 'ca.crt'), PEM);
  writeFileSync(join(dir, 'token'), 'file-token\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443' } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
  }));
  return kc;
}

describe('operator endpoint', () => {
  it('comes from --operator-url, else GUARITA_OPERATOR_URL, with the CA and TLS server name', () => {
    const fromFlag = operatorEndpoint({ 'operator-url': 'https://127.0.0.1:8443', 'operator-ca': join(dir, 'ca.crt'), 'operator-tls-server-name': 'guarita-operator.guarita-system.svc' }, { GUARITA_OPERATOR_URL: 'https://elsewhere:1' });
    expect(fromFlag).toEqual({ url: new URL('https://127.0.0.1:8443'), ca: PEM, servername: 'guarita-operator.guarita-system.svc' });
    expect(operatorEndpoint({}, { GUARITA_OPERATOR_URL: 'https://op.example:8443', GUARITA_OPERATOR_CA: join(dir, 'ca.crt') })).toMatchObject({ url: new URL('https://op.example:8443'), ca: PEM });
  });

  it('says how to reach the operator when nothing is configured', () => {
    expect(() => operatorEndpoint({}, {})).toThrow(UsageError);
    expect(() => operatorEndpoint({}, {})).toThrow(/kubectl -n guarita-system port-forward svc\/guarita-operator 8443:8443\nthen pass --operator-url https:\/\/127\.0\.0\.1:8443/);
  });

  it('refuses plain HTTP, bad URLs and unreadable CA files', () => {
    expect(() => operatorEndpoint({ 'operator-url': 'http://127.0.0.1:8443' }, {})).toThrow(/must use https/);
    expect(() => operatorEndpoint({ 'operator-url': '127.0.0.1:8443:x' }, {})).toThrow(/must be a URL/);
    expect(() => operatorEndpoint({ 'operator-url': 'https://x', 'operator-ca': join(dir, 'missing.crt') }, {})).toThrow(/cannot read --operator-ca/);
    expect(() => operatorEndpoint({ 'operator-url': 'https://x', 'operator-ca': join(dir, 'token') }, {})).toThrow(/holds no PEM certificate/);
  });

  it('builds read API URLs under the base path, escaping the namespace and parameters', () => {
    const client = new OperatorClient({ url: new URL('https://op.example:8443/guarita/') }, 't', 'shop');
    expect(client.url('/sessions', { since: '2026-01-01T00:00:00.000Z', policy: undefined, subject: 'a b' }).href).toBe('https://op.example:8443/guarita/v1/namespaces/shop/sessions?since=2026-01-01T00%3A00%3A00.000Z&subject=a+b');
    return client.close();
  });
});

describe('the user\'s bearer token', () => {
  it('is the kubeconfig token, or the token file\'s content without its newline', async () => {
    await expect(bearerToken(kubeconfig({ token: 'abc' }))).resolves.toBe('abc');
    await expect(bearerToken(kubeconfig({ 'token-file': join(dir, 'token') }))).resolves.toBe('file-token');
    // kubectl's spelling, which @kubernetes/client-node ignores: read from the kubeconfig file.
    const file = join(dir, 'kubectl.kubeconfig');
    writeFileSync(file, stringify({ users: [{ name: 'u', user: { tokenFile: 'token' } }] }));
    await expect(bearerToken(kubeconfig({ tokenFile: 'token' }), file)).resolves.toBe('file-token');
  });

  it('runs an exec credential plugin, like kubectl', async () => {
    const plugin = join(dir, 'plugin.sh');
    writeFileSync(plugin, '#!/bin/sh\necho \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-token"}}\'\n', { mode: 0o755 });
    await expect(bearerToken(kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' } }))).resolves.toBe('exec-token');
  });

  it('explains that client-certificate users need a token for the read API', async () => {
    await expect(bearerToken(kubeconfig({ 'client-certificate-data': Buffer.from(PEM).toString('base64'), 'client-key-data': 'a2V5' }))).rejects.toThrow(/authenticates with a client certificate, but the operator's read API needs a bearer token/);
    await expect(bearerToken(kubeconfig({}))).rejects.toThrow(/has no bearer token/);
  });
});

describe('errors', () => {
  const url = new URL('https://127.0.0.1:8443');

  it('phrases HTTP answers with what to do next', () => {
    expect(explainStatus(403, '{"message":"eve cannot list sessions.guarita.io in namespace shop"}', 'listing sessions').message).toBe('listing sessions: not authorized (403): eve cannot list sessions.guarita.io in namespace shop');
    expect(explainStatus(401, '{"message":"token expired"}', 'x').message).toMatch(/not authenticated.*log in again/);
    expect(explainStatus(503, '{"message":"not the leader"}', 'x', '2').message).toContain('retry in 2 seconds');
    expect(explainStatus(404, 'nope', 'x')).toMatchObject({ status: 404, message: 'x: not found: nope' });
  });

  it('phrases connection and TLS failures with the port-forward, CA or server name to use', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8443'), { code: 'ECONNREFUSED' });
    expect(explainTransportError(refused, 'listing sessions', url).message).toMatch(/cannot reach the Guarita operator at https:\/\/127\.0\.0\.1:8443.*port-forward/s);
    const untrusted = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    expect(explainTransportError(untrusted, 'x', url).message).toMatch(/not trusted.*--operator-ca FILE.*never switched off/);
    const altname = Object.assign(new Error('Hostname/IP does not match certificate\'s altnames'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(explainTransportError(altname, 'x', url).message).toContain('--operator-tls-server-name guarita-operator.guarita-system.svc');
  });
});
