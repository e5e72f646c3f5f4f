import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTls, SelfManagedTls, type ServingPair, type TlsMaterial } from './tls.ts';
import { createCa, issueServing, planTls, splitPem, type TlsPolicy } from './tls-certs.ts';
import { FakeKube } from '../test/fake-kube.ts';

const DAY = 86_400_000;
const policy: TlsPolicy = { dnsNames: ['guarita-webhook.guarita-system.svc'], ips: ['127.0.0.1'], caValidityMs: 90 * DAY, certValidityMs: 9 * DAY, renewFraction: 1 / 3 };
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/guarita-webhook';
const VWC = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/guarita-webhook';
const SECRET = '/api/v1/namespaces/guarita-system/secrets/guarita-webhook-tls';

function cluster(): FakeKube {
  const kube = new FakeKube();
  kube.put(MWC, { metadata: { name: 'guarita-webhook' }, webhooks: [{ name: 'a', clientConfig: { url: 'https://x' } }, { name: 'b', clientConfig: { url: 'https://y', caBundle: '' } }] });
  kube.put(VWC, { metadata: { name: 'guarita-webhook' }, webhooks: [{ name: 'c', clientConfig: { url: 'https://z' } }] });
  return kube;
}

function replica(kube: FakeKube, clock: { now: Date }): { tls: SelfManagedTls; reloads: ServingPair[]; material: () => TlsMaterial | undefined } {
  const reloads: ServingPair[] = [];
  const tls = new SelfManagedTls({
    api: kube, namespace: 'guarita-system', secretName: 'guarita-webhook-tls', policy,
    mutatingConfigurations: ['guarita-webhook'], validatingConfigurations: ['guarita-webhook'],
    checkIntervalMs: 1000, log: silent, now: () => clock.now,
    onReload: (pair) => { reloads.push(pair); },
  });
  return { tls, reloads, material: () => tls.material() };
}

function caBundles(kube: FakeKube): X509Certificate[][] {
  return [MWC, VWC].flatMap((p) => ((kube.objects.get(p)?.webhooks ?? []) as { clientConfig: { caBundle?: string } }[])
    .map((w) => splitPem(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8'))));
}

function trusted(kube: FakeKube, certPem: string): boolean {
  const leaf = new X509Certificate(certPem);
  return caBundles(kube).every((bundle) => bundle.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey)));
}

describe('self-managed webhook TLS', () => {
  it('bootstraps a CA and serving certificate into a Secret and every webhook\'s caBundle', async () => {
    const kube = cluster();
    const a = replica(kube, { now: new Date() });
    const pair = await a.tls.init();
    expect(kube.objects.has(SECRET)).toBe(true);
    expect(caBundles(kube)).toHaveLength(3);
    expect(trusted(kube, pair.certPem)).toBe(true);
    const leaf = new X509Certificate(pair.certPem);
    expect(leaf.checkHost('guarita-webhook.guarita-system.svc')).toBeDefined();
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('fills a Secret created beforehand (the Helm chart\'s), keeping its type and metadata', async () => {
    const kube = cluster();
    kube.put(SECRET, { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'guarita-webhook-tls', namespace: 'guarita-system', labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'guarita' } } });
    await replica(kube, { now: new Date() }).tls.init();
    const stored = kube.objects.get(SECRET) as unknown as { type: string; metadata: { labels: Record<string, string>; annotations: Record<string, string> }; data: Record<string, string> };
    expect(stored.type).toBe('Opaque');
    expect(stored.metadata.labels['app.kubernetes.io/managed-by']).toBe('Helm');
    expect(stored.metadata.annotations['meta.helm.sh/release-name']).toBe('guarita');
    expect(Object.keys(stored.data).sort()).toEqual(['ca-bundle.crt', 'ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(kube.calls.filter((c) => c.startsWith('POST'))).toEqual([]);
  });

  it('replicas share one certificate, also when they start at the same moment', async () => {
    const kube = cluster();
    const clock = { now: new Date() };
    const [p1, p2, p3] = await Promise.all([replica(kube, clock), replica(kube, clock), replica(kube, clock)].map((r) => r.tls.init()));
    expect(p2?.certPem).toBe(p1?.certPem);
    expect(p3?.certPem).toBe(p1?.certPem);
    expect(trusted(kube, p1?.certPem ?? '')).toBe(true);
  });

  it('renews the serving certificate before it expires and hot-reloads it, keeping the CA', async () => {
    const kube = cluster();
    const clock = { now: new Date() };
    const a = replica(kube, clock);
    const b = replica(kube, clock);
    const first = await a.tls.init();
    await b.tls.init();
    const ca = a.material()?.caCertPem;
    clock.now = new Date(clock.now.getTime() + 7 * DAY);
    await a.tls.reconcile();
    await b.tls.reconcile();
    expect(a.reloads).toHaveLength(2);
    expect(a.reloads[1]?.certPem).not.toBe(first.certPem);
    expect(b.reloads[1]?.certPem).toBe(a.reloads[1]?.certPem);
    expect(a.material()?.caCertPem).toBe(ca);
    expect(trusted(kube, a.reloads[1]?.certPem ?? '')).toBe(true);
  });

  it('rotates the CA in two phases: the successor is trusted everywhere long before it signs', async () => {
    const kube = cluster();
    const clock = { now: new Date() };
    const a = replica(kube, clock);
    const b = replica(kube, clock);
    const old = await a.tls.init();
    await b.tls.init();
    const firstCa = a.material()?.caCertPem;
    // Half the CA's lifetime left: its successor is staged into every caBundle, nothing is re-signed.
    clock.now = new Date(clock.now.getTime() + 46 * DAY);
    await b.tls.reconcile();
    const staged = b.material();
    expect(staged?.caCertPem).toBe(firstCa);
    expect(staged?.nextCaCertPem).toBeDefined();
    expect(caBundles(kube).every((bundle) => bundle.length === 2)).toBe(true);
    // A third left: the staged CA (trusted for weeks) becomes the signer; the old one stays trusted.
    clock.now = new Date(clock.now.getTime() + 15 * DAY);
    await a.tls.reconcile();
    const fresh = a.reloads.at(-1)?.certPem ?? '';
    expect(a.material()?.caCertPem).toBe(staged?.nextCaCertPem);
    expect(a.material()?.nextCaCertPem).toBeUndefined();
    expect(caBundles(kube).every((bundle) => bundle.length === 2)).toBe(true);
    expect(trusted(kube, fresh)).toBe(true);
    expect(trusted(kube, old.certPem)).toBe(true);
    await b.tls.reconcile();
    expect(b.reloads.at(-1)?.certPem).toBe(fresh);
  });

  it('replaces unusable material and plans nothing for good material', async () => {
    const kube = cluster();
    const clock = { now: new Date() };
    const a = replica(kube, clock);
    await a.tls.init();
    const m = a.material();
    expect(m && planTls(m, policy, clock.now)).toEqual({ action: 'keep' });
    expect(planTls(m && { ...m, keyPem: m.caKeyPem }, policy, clock.now)).toMatchObject({ action: 'renew-serving' });
    expect(planTls(m && { ...m, caKeyPem: m.keyPem }, policy, clock.now)).toMatchObject({ action: 'create' });
    expect(planTls(m, { ...policy, dnsNames: ['other.svc'] }, clock.now)).toMatchObject({ action: 'renew-serving', reason: expect.stringContaining('names') });
  });
});

describe('certificate files (cert-manager mode)', () => {
  it('loads tls.crt/tls.key and hot-reloads them when they change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'guarita-webhook-tls-'));
    try {
      const ca = await createCa(90 * DAY, new Date());
      const first = await issueServing(ca, policy, new Date());
      writeFileSync(join(dir, 'tls.crt'), first.certPem);
      writeFileSync(join(dir, 'tls.key'), first.keyPem);
      const reloads: ServingPair[] = [];
      const files = new FileTls({ dir, checkIntervalMs: 20, log: silent, onReload: (p) => reloads.push(p) });
      expect((await files.init()).certPem).toBe(first.certPem);
      files.start();
      const second = await issueServing(ca, policy, new Date());
      writeFileSync(join(dir, 'tls.key'), second.keyPem);
      writeFileSync(join(dir, 'tls.crt'), second.certPem);
      const deadline = Date.now() + 2000;
      while (!reloads.some((p) => p.certPem === second.certPem && p.keyPem === second.keyPem) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      files.stop();
      expect(reloads.at(-1)).toEqual({ certPem: second.certPem, keyPem: second.keyPem });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
