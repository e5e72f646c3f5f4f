// Issue 20, item 6 (webhook half), through the real path: a pod the injector does not inject
// carries the reason as an audit annotation of its AdmissionReview response, and the webhook logs
// one info line. The harness apiserver writes no audit log (no --audit-policy-file), so the
// annotation is read from the webhook's own answer, called the way the apiserver calls it (its
// admission client certificate); the log line is produced by pods created through kubectl.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { loadHarnessState, requireKube } from '../../e2e/harness/state.ts';
import type { AdmissionResponse, AdmissionReview, Pod } from '../src/kube-types.ts';
import { applyJson, createNamespace, installCrds, k, registerWebhooks, startWebhookProcess, suffix, unregisterWebhooks, waitFor, webhookIdentity, type WebhookProcess } from './cluster.ts';
import { admissionReview, examplePod, examplePolicy, exampleYaml } from './fixtures.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-skip-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `skip-${id}`;
const empty = `skip-empty-${id}`;
let webhook: WebhookProcess;

function apiserverClientCert(): { cert: string; key: string } {
  const ca = requireKube().webhookClientCaFile;
  if (ca === undefined) throw new Error('the harness predates the apiserver\'s webhook client certificate: restart it');
  return { cert: readFileSync(join(dirname(ca), 'webhook-client.crt'), 'utf8'), key: readFileSync(join(dirname(ca), 'webhook-client.key'), 'utf8') };
}

/** One AdmissionReview POSTed to the live webhook as the apiserver sends it. */
function review(body: AdmissionReview): Promise<AdmissionResponse> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${webhook.url}/mutate/pods`, {
      method: 'POST', rejectUnauthorized: false, timeout: 10_000,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      ...apiserverClientCert(),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text}`));
        const answer = JSON.parse(text) as AdmissionReview;
        if (answer.response === undefined) return reject(new Error(`no response in ${text}`));
        resolve(answer.response);
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  await installCrds();
  await createNamespace(system, {});
  const kubeconfig = await webhookIdentity(system, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  webhook = await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig, name: 'webhook-skip' });
  await registerWebhooks(configuration, system, webhook.url, scope);
  for (const n of [ns, empty]) await createNamespace(n, { 'guarita.io/injection': 'enabled', ...scope });
  const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
  secret.metadata.namespace = ns;
  await applyJson(secret);
  await applyJson(examplePolicy('accesspolicy.yaml', ns));
}, 120_000);

afterAll(async () => {
  await unregisterWebhooks(configuration);
  await webhook?.stop();
});

describe('why a pod was not injected (issue 20, item 6)', () => {
  it('answers each skip with the reason as an audit annotation, an injection with none', async () => {
    const optedOut = examplePod(ns, 'opted-out');
    optedOut.metadata.annotations = { ...optedOut.metadata.annotations, 'guarita.io/inject': 'false' };
    const injected = await review(admissionReview({ operation: 'CREATE', namespace: ns, name: 'agent', object: examplePod(ns, 'agent') }));
    expect(injected).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    expect(injected.auditAnnotations?.['injection-skipped']).toBeUndefined();
    const cases: [string, string, Pod][] = [
      ['opted-out', ns, optedOut],
      // Opted-in namespace, no AccessPolicy: the webhook also confirms the miss live before skipping.
      ['no-matching-policy', empty, examplePod(empty, 'lonely')],
      ['excluded-namespace', system, examplePod(system, 'system-pod')],
    ];
    for (const [reason, namespace, pod] of cases) {
      const res = await review(admissionReview({ operation: 'CREATE', namespace, name: pod.metadata.name, object: pod }));
      expect({ reason, res }).toEqual({ reason, res: { uid: expect.any(String), allowed: true, auditAnnotations: { 'injection-skipped': reason } } });
    }
  });

  it('logs one info line naming the pod and the reason when kubectl creates a pod it does not inject', async () => {
    const pod = examplePod(empty, `no-policy-${id}`);
    const created = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(pod))) as Pod;
    expect(created.spec.initContainers?.some((c) => c.name === 'guarita-proxy') ?? false).toBe(false);
    const line = await waitFor('the webhook\'s skip log line', () => Promise.resolve(webhook.log().split('\n')
      .map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return undefined; } })
      .find((l) => l?.msg === 'pod not injected' && l.name === pod.metadata.name)));
    expect(line).toMatchObject({ level: 30, namespace: empty, reason: 'no-matching-policy', dryRun: false });
  });
});
