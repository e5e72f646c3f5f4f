// Round 9b: adversarial review of the round 9 webhook fixes (dc41ec4), through the real path:
// kubectl against the harness kube-apiserver (1.34.4), which calls the webhook process, set up as in
// round9-attacks.int. Report: docs/security-model.md, "Round 9b review: the webhook, upstream-address, COPY and evidence fixes".
//
// The webhook half of the fixes held against what was tried here; these tests record that on the
// real apiserver (they pass). The demonstrated finding of this round is in the sidecar
// (sidecar/src/upstream-address-round9b-attacks.test.ts: the kubernetes target's exec/attach and
// port-forward connections skip the upstream lookup).
// - The kubelet's 63-character cut (kubelet_pods.go truncatePodHostnameIfNeeded: the first 63
//   characters, then trailing '-' and '.' trimmed) is applied before comparing: a longer pod name
//   whose cut is the target's host is refused.
// - A kubernetes target's apiserver host (the example's kubernetes.default.svc) is compared too.
// - A server-side dry run gets the same refusal (the handlers have no side effects).
// - Round 9 C (a pod without the proxy the injector would govern is refused at CREATE) does not
//   touch pods opted out by label, pods of namespaces not opted in, or pods no policy selects; a
//   generateName pod is injected and admitted as before.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AccessPolicy } from '../../crds/types.ts';
import type { Container, Pod } from '../src/kube-types.ts';
import { applyJson, createNamespace, installCrds, k, registerWebhooks, startWebhookProcess, suffix, unregisterWebhooks, webhookIdentity, type WebhookProcess } from './cluster.ts';
import { examplePod, examplePolicy, exampleYaml } from './fixtures.ts';
import { loadHarnessState } from '../../e2e/harness/state.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-r9b-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `r9b-${id}`;
const nsOff = `r9b-off-${id}`;
let webhook: WebhookProcess;

const denied = 'admission webhook "validate.pods.guarita.io" denied the request';
/** A target host of exactly 62 characters: a pod named `<host>.x` gets the hostname `<host>` (cut at 63, '.' trimmed). */
const LONG_HOST = (() => {
  const tail = '.orders-data.svc.cluster.local';
  return `${'orders-db-replica-'.padEnd(62 - tail.length, 'z')}${tail}`;
})();

function proxyOf(pod: Pod): Container | undefined {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === 'guarita-proxy');
}

async function createPod(pod: Pod, extra: string[] = []): Promise<string | undefined> {
  return k(['create', ...extra, '-f', '-'], 'admin', JSON.stringify(pod)).then(() => undefined, (err: unknown) => String(err));
}

async function getPod(namespace: string, name: string): Promise<Pod> {
  return JSON.parse(await k(['-n', namespace, 'get', 'pod', name, '-o', 'json'])) as Pod;
}

function longHostPolicy(namespace: string): AccessPolicy {
  const policy = examplePolicy('accesspolicy.yaml', namespace);
  policy.metadata.name = 'orders-db-long';
  policy.spec.podSelector = { matchLabels: { app: 'long-agent' } };
  policy.spec.target = { ...policy.spec.target, name: 'orders-db-long', endpoint: `${LONG_HOST}:5432`, listenPort: 15434 };
  return policy;
}

function kubePolicy(namespace: string): AccessPolicy {
  const policy = examplePolicy('accesspolicy-kubernetes.yaml', namespace);
  policy.spec.podSelector = { matchLabels: { app: 'kube-agent' } };
  return policy;
}

beforeAll(async () => {
  await installCrds();
  await createNamespace(system, {});
  const kubeconfig = await webhookIdentity(system, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  webhook = await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig });
  await registerWebhooks(configuration, system, webhook.url, scope);
  await createNamespace(ns, { 'guarita.io/injection': 'enabled', ...scope });
  await createNamespace(nsOff, { ...scope });
  for (const namespace of [ns, nsOff]) {
    const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
    secret.metadata.namespace = namespace;
    await applyJson(secret);
    // The kubernetes target's credentials Secret (an opaque stand-in for the example's token Secret).
    await applyJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kubernetes-api-credentials', namespace }, stringData: { token: 'stand-in', 'ca.crt': 'stand-in' } });
    await applyJson(examplePolicy('accesspolicy.yaml', namespace));
    await applyJson(longHostPolicy(namespace));
    await applyJson(kubePolicy(namespace));
  }
}, 120_000);

afterAll(async () => {
  await unregisterWebhooks(configuration);
  await webhook?.stop();
});

describe('round 9b, A (webhook half): the pod\'s own hostname', () => {
  it('held: a pod name longer than 63 characters whose kubelet cut is the target\'s host is refused', async () => {
    expect(LONG_HOST.length).toBe(62);
    const name = `${LONG_HOST}.x${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.labels = { app: 'long-agent' };
    const err = await createPod(pod);
    expect(err).toContain(denied);
    expect(err).toContain(`is ${LONG_HOST}, the endpoint of target orders-db-long`);
  });

  it('held: a pod named like its kubernetes target\'s apiserver host (kubernetes.default.svc) is refused', async () => {
    const pod = examplePod(ns, 'kubernetes.default.svc');
    pod.metadata.labels = { app: 'kube-agent' };
    const err = await createPod(pod);
    expect(err).toContain(denied);
    expect(err).toContain('is kubernetes.default.svc, the endpoint of target kubernetes-api');
  });

  it('held: a server-side dry run of a pod named like its target\'s host gets the same refusal', async () => {
    const pod = examplePod(ns, 'orders-db.orders-data.svc.cluster.local');
    const err = await createPod(pod, ['--dry-run=server']);
    expect(err).toContain(denied);
  });
});

describe('round 9b, C: no regression for pods the injector leaves alone', () => {
  it('held: a pod opted out by label, which its AccessPolicy selects, is admitted without the proxy', async () => {
    const pod = examplePod(ns, `opted-out-${suffix()}`);
    pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
    expect(await createPod(pod)).toBeUndefined();
    expect(proxyOf(await getPod(ns, pod.metadata.name ?? ''))).toBeUndefined();
  });

  it('held: a pod of a namespace not opted in, which an AccessPolicy there selects, is admitted without the proxy', async () => {
    const pod = examplePod(nsOff, `off-${suffix()}`);
    expect(await createPod(pod)).toBeUndefined();
    expect(proxyOf(await getPod(nsOff, pod.metadata.name ?? ''))).toBeUndefined();
  });

  it('held: a pod no policy selects is admitted without the proxy', async () => {
    const pod = examplePod(ns, `unselected-${suffix()}`);
    pod.metadata.labels = { app: 'nobody-selects-this' };
    expect(await createPod(pod)).toBeUndefined();
  });

  it('held: a generateName pod is injected and admitted (the name is assigned between the mutating and the validating call)', async () => {
    const pod = examplePod(ns, 'unused');
    delete pod.metadata.name;
    pod.metadata.generateName = 'support-agent-';
    const out = await k(['create', '-f', '-', '-o', 'jsonpath={.metadata.name}'], 'admin', JSON.stringify(pod));
    expect(out).toMatch(/^support-agent-[a-z0-9]{5}$/);
    expect(proxyOf(await getPod(ns, out))).toBeDefined();
  });
});
