// Certificate rotation under load: two real webhook replicas share one Secret with short-lived
// certificates (serving 12 s, CA 40 s), so within ~35 s the serving certificate is renewed
// several times and the CA is staged and promoted. Pods are created throughout; every one must
// be admitted and injected, and both replicas must always present a certificate the apiserver's
// caBundle trusts (the apiserver is switched from one replica to the other half-way).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:tls';
import { loadHarnessState } from '../../e2e/harness/state.ts';
import type { Pod } from '../src/kube-types.ts';
import { splitPem } from '../src/tls-certs.ts';
import {
  applyJson, caBundles, createNamespace, installCrds, k, registerWebhooks, startWebhookProcess, suffix, unregisterWebhooks,
  waitFor, webhookIdentity, type WebhookProcess,
} from './cluster.ts';
import { examplePod, examplePolicy } from './fixtures.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-rot-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `rotation-${id}`;
const replicas: WebhookProcess[] = [];

const SHORT_LIVED = { GUARITA_WEBHOOK_CERT_VALIDITY: '12s', GUARITA_WEBHOOK_CA_VALIDITY: '40s', GUARITA_WEBHOOK_TLS_CHECK_INTERVAL: '1s' };

interface Seen { fingerprint: string; issuer: string }

/** A TLS handshake trusting exactly the apiserver's caBundle, as the apiserver does. */
function handshake(port: number, caPem: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: caPem, timeout: 3000 }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.end();
      if (raw === undefined) return reject(new Error('no peer certificate'));
      resolve({ fingerprint: raw.fingerprint256, issuer: raw.issuer });
    });
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  await installCrds();
  await createNamespace(system, {});
  const kubeconfig = await webhookIdentity(system, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  for (const name of ['replica-a', 'replica-b']) {
    replicas.push(await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig, env: SHORT_LIVED, name }));
  }
  await registerWebhooks(configuration, system, replicas[0]?.url ?? '', scope);
  await waitFor('caBundle', async () => ((await caBundles(configuration)).every((b) => b.includes('BEGIN CERTIFICATE')) ? true : undefined));
  await createNamespace(ns, { 'guarita.io/injection': 'enabled', ...scope });
  const policy = examplePolicy('accesspolicy-http.yaml', ns);
  await applyJson(policy);
}, 120_000);

afterAll(async () => {
  await unregisterWebhooks(configuration);
  await Promise.all(replicas.map((r) => r.stop()));
});

describe('webhook certificate rotation', () => {
  it('keeps admission working while serving certificates renew and the CA rotates, across replicas', async () => {
    const served = new Map<string, Seen>();
    const issuers = new Set<string>();
    const [a, b] = replicas as [WebhookProcess, WebhookProcess];
    const start = Date.now();
    let switched = false;
    for (let i = 0; Date.now() - start < 36_000; i++) {
      if (!switched && Date.now() - start > 18_000) {
        await registerWebhooks(configuration, system, b.url, scope);
        switched = true;
      }
      const pod = examplePod(ns, `rot-${i}`);
      const created = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(pod))) as Pod;
      expect(created.spec.initContainers?.[0]?.name).toBe('guarita-proxy');
      const bundle = (await caBundles(configuration))[0] ?? '';
      for (const r of [a, b]) {
        const seen = await handshake(r.port, bundle);
        served.set(seen.fingerprint, seen);
        issuers.add(seen.issuer);
      }
      // Pacing, not waiting: the loop samples admission and both replicas' certificates across the
      // whole rotation window (the 36 s above), with no condition to await; the pause only spreads
      // ~60 samples over it instead of flooding the apiserver with pods.
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(served.size).toBeGreaterThanOrEqual(3);
    expect(issuers.size).toBeGreaterThanOrEqual(2);
    // Both replicas converge on the same certificate (each re-reads the Secret every second).
    const bundle = (await caBundles(configuration))[0] ?? '';
    expect(splitPem(bundle).every((c) => c.ca)).toBe(true);
    await waitFor('both replicas serving the same certificate', async () => {
      const [x, y] = await Promise.all([handshake(a.port, bundle), handshake(b.port, bundle)]);
      return x.fingerprint === y.fingerprint ? true : undefined;
    }, 5000);
  }, 90_000);
});
