// Round 8b: adversarial review of the round 8 webhook fixes (commit a619c41), through the real
// path: kubectl against the harness kube-apiserver (1.34), which calls the webhook process
// (least-privilege token, client certificate required), as webhook/test/round8-attacks.int does.
// Report: docs/security-model.md.
//
// Each test states what SHOULD happen; the "finding" tests FAIL on the code under review, the
// "control" tests pass and show the rule the finding gets around:
// A. pods/status UPDATE changes a pod's labels and annotations (the status strategy resets spec,
//    not metadata) and is not in the validating webhook's rules: the round 8 governance rule
//    (opt-out label removed) and the older selection rule (a proxied pod leaving its policy) are
//    both bypassed with `kubectl patch --subresource=status`.
// B. pods/binding CREATE merges the Binding's annotations into the pod (not in the rules either):
//    guarita.io/inject: "true" overrides an opt-out annotation on an unscheduled pod.
// C. an agent container's ephemeral-storage limit gives the pod a pod-level ephemeral-storage limit
//    (the kubelet sums the containers' limits) that counts the spool emptyDir: the eviction the
//    round 8 fix refuses on the proxy's own resources is admitted one container over.
// D. pod-level resources (spec.resources, beta and on by default in 1.34) bound the proxy's memory
//    below the limit the injector gives it, which the webhook refuses when written on the proxy.
//
// Round 8b fixes, asserted below: A, status.pods.guarita.io judges pods/status writes that change
// labels or annotations (matchConditions; the kubelet's status writes never call it, checked with
// a webhook that cannot answer); B, binding.pods.guarita.io refuses Bindings with a guarita.io/
// annotation (pods/binding and the legacy bindings); C, the injector gives the proxy an
// ephemeral-storage limit of sizeLimit + 64Mi once another container has one, and a pod whose
// proxy limit is below that is refused; D, decided: CPU and memory limits bound only the pod's own
// proxy, so both spellings (on the proxy, at the pod level) are admitted, devices still refused.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadHarnessState } from '../../e2e/harness/state.ts';
import { parseQuantity } from '../../core/kube/quantity.ts';
import type { Pod } from '../src/kube-types.ts';
import { validatingWebhookConfiguration } from '../src/configurations.ts';
import { applyJson, createNamespace, installCrds, k, kFails, registerWebhooks, startWebhookProcess, suffix, unregisterWebhooks, webhookIdentity, type WebhookProcess } from './cluster.ts';
import { examplePod, examplePolicy, exampleYaml } from './fixtures.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-r8b-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `r8b-${id}`;
let webhook: WebhookProcess;

const denied = 'admission webhook "validate.pods.guarita.io" denied the request';
const deniedStatus = 'admission webhook "status.pods.guarita.io" denied the request';
const deniedBinding = 'admission webhook "binding.pods.guarita.io" denied the request';

async function getPod(name: string): Promise<Pod> {
  return JSON.parse(await k(['-n', ns, 'get', 'pod', name, '-o', 'json'])) as Pod;
}

function hasProxy(pod: Pod): boolean {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].some((c) => c.name === 'guarita-proxy');
}

/** A quantity in bytes (rounded down), or NaN. */
function bytes(q: unknown): number {
  const v = typeof q === 'string' ? parseQuantity(q) : undefined;
  return v === undefined ? Number.NaN : Number(v.numerator / v.denominator);
}

/**
 * The kubelet's pod ephemeral-storage limit (component-helpers resource.PodLimits, as
 * eviction_manager.go podEphemeralStorageLimitEviction reads it): the sum over containers and
 * restartable init containers; Infinity when no container sets one (no pod limit at all).
 */
function podEphemeralStorageLimit(pod: Pod): number {
  const limits = [...pod.spec.containers, ...(pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')]
    .map((c) => (c.resources as { limits?: Record<string, string> } | undefined)?.limits?.['ephemeral-storage']);
  return limits.every((l) => l === undefined) ? Number.POSITIVE_INFINITY : limits.reduce((sum, l) => sum + (l === undefined ? 0 : bytes(l)), 0);
}

/** Runs kubectl; its error (the refusal) as a string, or undefined when it succeeded. */
async function refusal(args: string[], input?: string): Promise<string | undefined> {
  return k(args, 'admin', input).then(() => undefined, (err: unknown) => String(err));
}

beforeAll(async () => {
  await installCrds();
  await createNamespace(system, {});
  const kubeconfig = await webhookIdentity(system, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  webhook = await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig, env: { GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: '256Mi' } });
  await registerWebhooks(configuration, system, webhook.url, scope);
  await createNamespace(ns, { 'guarita.io/injection': 'enabled', ...scope });
  const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
  secret.metadata.namespace = ns;
  await applyJson(secret);
  await applyJson(examplePolicy('accesspolicy.yaml', ns));
  await k(['create', '-f', '-'], 'admin', JSON.stringify(examplePod(ns, 'agent-1')));
}, 120_000);

afterAll(async () => {
  await unregisterWebhooks(configuration);
  await webhook?.stop();
});

describe('A: pods/status changes labels and annotations the pod rules judge', () => {
  async function optedOutPod(): Promise<string> {
    const name = `out-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    expect(hasProxy(await getPod(name))).toBe(false);
    return name;
  }

  it('control: removing the opt-out label through the pod itself is refused (round 8 governance rule)', async () => {
    const name = await optedOutPod();
    const err = await kFails(['-n', ns, 'label', 'pod', name, 'guarita.io/inject-']);
    expect(err).toContain(denied);
  });

  it('finding: removing the opt-out label through pods/status is refused too', async () => {
    const name = await optedOutPod();
    const patch = JSON.stringify({ metadata: { labels: { 'guarita.io/inject': null }, annotations: { 'guarita.io/inject': 'true' } } });
    const err = await refusal(['-n', ns, 'patch', 'pod', name, '--subresource=status', '--type=merge', '-p', patch]);
    if (err === undefined) {
      const stored = await getPod(name);
      expect({ labels: stored.metadata.labels, annotations: stored.metadata.annotations, proxy: hasProxy(stored) }).toEqual('refused by status.pods.guarita.io');
    }
    expect(err).toContain(deniedStatus);
    expect(err).toContain('the new labels or annotations make this pod one the injector governs');
    // Each half alone too: the label removed, or the annotation added.
    // (The annotation alone is allowed, as on the pod itself: the label still skips the injector.)
    expect(await refusal(['-n', ns, 'patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ metadata: { labels: { 'guarita.io/inject': null } } })])).toContain(deniedStatus);
    expect(await refusal(['-n', ns, 'patch', 'pod', name, '--subresource=status', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/metadata/labels/guarita.io~1inject', value: 'False' }])])).toContain(deniedStatus);
    expect((await getPod(name)).metadata.labels).toEqual(expect.objectContaining({ 'guarita.io/inject': 'false' }));
  });

  it('control: relabelling a pod with the proxy out of its AccessPolicy is refused (selection rule)', async () => {
    const err = await kFails(['-n', ns, 'label', 'pod', 'agent-1', '--overwrite', 'app=billing-agent']);
    expect(err).toContain(denied);
  });

  it('finding: relabelling a pod with the proxy out of its AccessPolicy through pods/status is refused too', async () => {
    const name = `prx-${suffix()}`;
    await k(['create', '-f', '-'], 'admin', JSON.stringify(examplePod(ns, name)));
    expect(hasProxy(await getPod(name))).toBe(true);
    const err = await refusal(['-n', ns, 'patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ metadata: { labels: { app: 'billing-agent' } } })]);
    if (err === undefined) {
      const stored = await getPod(name);
      expect({ labels: stored.metadata.labels, proxy: hasProxy(stored), proxyServes: stored.metadata.annotations?.['guarita.io/policies'] }).toEqual('refused by status.pods.guarita.io');
    }
    expect(err).toContain(deniedStatus);
    expect(err).toContain('the new labels change which AccessPolicies select this pod');
    // A JSON patch removing every label, and a strategic one, go the same way.
    expect(await refusal(['-n', ns, 'patch', 'pod', name, '--subresource=status', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/metadata/labels' }])])).toContain(deniedStatus);
    expect(await refusal(['-n', ns, 'patch', 'pod', name, '--subresource=status', '--type=strategic', '-p', JSON.stringify({ metadata: { labels: { app: 'billing-agent' } } })])).toContain(deniedStatus);
  });

  it('held: status writes (the kubelet\'s) and unrelated metadata through pods/status still pass', async () => {
    const name = `st-${suffix()}`;
    await k(['create', '-f', '-'], 'admin', JSON.stringify(examplePod(ns, name)));
    await k(['-n', ns, 'patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions: [{ type: 'example.com/Ready', status: 'True' }] } })]);
    await k(['-n', ns, 'patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ metadata: { annotations: { 'example.com/x': 'y' }, labels: { 'pod-template-hash': 'abc' } } })]);
    const stored = await getPod(name);
    expect(stored.metadata.annotations?.['example.com/x']).toBe('y');
    expect(stored.metadata.labels?.['pod-template-hash']).toBe('abc');
  });
});

describe('A and B: which writes call the webhook at all (the CEL matchConditions, on the real apiserver)', () => {
  // The two new webhooks of the configuration, pointed at an address nothing answers: a write that
  // calls them fails ("failed calling webhook", failurePolicy Fail); one that does not goes through.
  const cid = suffix();
  const deadConfiguration = `guarita-webhook-r8b-cel-${cid}`;
  const celScope = { 'guarita.io/test-scope': cid };
  const celNs = `r8b-cel-${cid}`;
  const failed = 'failed calling webhook';

  beforeAll(async () => {
    const all = validatingWebhookConfiguration({ name: deadConfiguration, namespace: system, endpoint: { url: 'https://127.0.0.1:1' }, scopeLabels: celScope }) as { webhooks: { name: string }[] };
    await applyJson({ ...all, webhooks: all.webhooks.filter((w) => ['status.pods.guarita.io', 'binding.pods.guarita.io'].includes(w.name)) });
    await createNamespace(celNs, { 'guarita.io/injection': 'enabled', ...celScope });
  }, 60_000);

  afterAll(async () => {
    await k(['delete', '--ignore-not-found', `validatingwebhookconfiguration/${deadConfiguration}`]);
  });

  /** A pod of the namespace, with no labels or annotations at all unless given. */
  async function bare(metadata: Record<string, unknown> = {}): Promise<string> {
    const name = `bare-${suffix()}`;
    await k(['create', '-f', '-'], 'admin', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: celNs, ...metadata }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }));
    return name;
  }

  const status = (name: string, type: 'merge' | 'json', patch: unknown): Promise<string | undefined> => refusal(['-n', celNs, 'patch', 'pod', name, '--subresource=status', `--type=${type}`, '-p', JSON.stringify(patch)]);

  it('status-only writes never call it, on pods without labels or annotations and with them', async () => {
    for (const metadata of [{}, { labels: { app: 'x' }, annotations: { 'example.com/a': 'b' } }, { labels: {}, annotations: {} }]) {
      const name = await bare(metadata);
      expect(await status(name, 'merge', { status: { conditions: [{ type: 'example.com/Ready', status: 'True' }] } })).toBeUndefined();
      expect(await status(name, 'merge', { status: { phase: 'Running' } })).toBeUndefined();
      // A finalizer changes neither map.
      expect(await status(name, 'merge', { metadata: { finalizers: ['example.com/hold'] } })).toBeUndefined();
      expect(await status(name, 'json', [{ op: 'remove', path: '/metadata/finalizers' }])).toBeUndefined();
    }
  });

  it('writes that add, change or remove a label or an annotation call it', async () => {
    const plain = await bare();
    expect(await status(plain, 'merge', { metadata: { labels: { app: 'x' } } })).toContain(failed);
    expect(await status(plain, 'merge', { metadata: { annotations: { 'guarita.io/inject': 'true' } } })).toContain(failed);
    const labelled = await bare({ labels: { app: 'x', 'guarita.io/inject': 'false' }, annotations: { 'example.com/a': 'b' } });
    expect(await status(labelled, 'merge', { metadata: { labels: { app: 'y' } } })).toContain(failed);
    expect(await status(labelled, 'merge', { metadata: { labels: { 'guarita.io/inject': null } } })).toContain(failed);
    expect(await status(labelled, 'json', [{ op: 'remove', path: '/metadata/labels' }])).toContain(failed);
    expect(await status(labelled, 'json', [{ op: 'remove', path: '/metadata/annotations' }])).toContain(failed);
    expect(await status(labelled, 'merge', { metadata: { annotations: { 'example.com/a': 'c' } } })).toContain(failed);
    expect((await k(['-n', celNs, 'get', 'pod', labelled, '-o', 'jsonpath={.metadata.labels}']))).toContain('"guarita.io/inject":"false"');
  });

  const bind = (pod: string, annotations: Record<string, string> | undefined, legacy = false): Promise<string | undefined> => {
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name: pod, ...(annotations === undefined ? {} : { annotations }) }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-r8b' } };
    const path = legacy ? `/api/v1/namespaces/${celNs}/bindings` : `/api/v1/namespaces/${celNs}/pods/${pod}/binding`;
    return refusal(['create', '--raw', path, '-f', '-'], JSON.stringify(binding));
  };

  it('a Binding calls it only with a guarita.io/ annotation (the scheduler\'s never do), through pods/binding and the legacy bindings', async () => {
    for (const legacy of [false, true]) {
      expect(await bind(await bare(), undefined, legacy)).toBeUndefined();
      expect(await bind(await bare(), { 'example.com/guarita.io': 'x', 'guarita.iox/inject': 'true' }, legacy)).toBeUndefined();
      expect(await bind(await bare(), { 'guarita.io/inject': 'true' }, legacy)).toContain(failed);
      expect(await bind(await bare(), { 'example.com/a': 'b', 'guarita.io/status': 'injected' }, legacy)).toContain(failed);
    }
  });
});

describe('held: legitimate metadata updates of pods without the proxy pass the governance rule', () => {
  it('finalizers, unrelated labels and annotations on an opted-out pod the policy would select', async () => {
    const name = `legit-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    await k(['-n', ns, 'patch', 'pod', name, '--type=merge', '-p', JSON.stringify({ metadata: { finalizers: ['example.com/hold'], labels: { 'pod-template-hash': 'abc' }, annotations: { 'example.com/x': 'y' } } })]);
    await k(['-n', ns, 'patch', 'pod', name, '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/metadata/finalizers' }])]);
    expect((await getPod(name)).metadata.labels).toEqual({ app: 'support-agent', 'guarita.io/inject': 'false', 'pod-template-hash': 'abc' });
  });
});

describe('B: pods/binding merges annotations into an unscheduled pod', () => {
  it('control: replacing the opt-out annotation with inject: "true" through the pod itself is refused', async () => {
    const name = `ann-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.annotations = { 'guarita.io/inject': 'false' };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    const err = await kFails(['-n', ns, 'annotate', 'pod', name, '--overwrite', 'guarita.io/inject=true']);
    expect(err).toContain(denied);
  });

  it('finding: a Binding carrying guarita.io/inject: "true" is refused like the annotate', async () => {
    const name = `bind-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.annotations = { 'guarita.io/inject': 'false' };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name, annotations: { 'guarita.io/inject': 'true' } }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-r8b' } };
    const err = await refusal(['create', '--raw', `/api/v1/namespaces/${ns}/pods/${name}/binding`, '-f', '-'], JSON.stringify(binding));
    if (err === undefined) {
      const stored = await getPod(name);
      expect({ annotations: stored.metadata.annotations, labels: stored.metadata.labels, nodeName: stored.spec.nodeName, proxy: hasProxy(stored) }).toEqual('refused by validate.pods.guarita.io');
    }
    expect(err).toContain(deniedBinding);
    expect(err).toContain('a Binding may not set guarita.io/inject');
    const stored = await getPod(name);
    expect({ annotations: stored.metadata.annotations, nodeName: stored.spec.nodeName }).toEqual({ annotations: { 'guarita.io/inject': 'false' }, nodeName: undefined });
  });

  it('finding: the same through the legacy bindings resource, and any guarita.io/ annotation', async () => {
    for (const [key, value] of [['guarita.io/inject', 'true'], ['guarita.io/status', 'injected'], ['guarita.io/policies', 'orders-db']]) {
      const name = `bindl-${suffix()}`;
      const pod = examplePod(ns, name);
      pod.metadata.annotations = { 'guarita.io/inject': 'false' };
      await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
      const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name, annotations: { [key!]: value! } }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-r8b' } };
      const err = await refusal(['create', '--raw', `/api/v1/namespaces/${ns}/bindings`, '-f', '-'], JSON.stringify(binding));
      expect(err).toContain(deniedBinding);
    }
  });

  it('held: the scheduler\'s Binding (no guarita.io/ annotation) binds', async () => {
    const name = `bindok-${suffix()}`;
    await k(['create', '-f', '-'], 'admin', JSON.stringify(examplePod(ns, name)));
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name, annotations: { 'example.com/scheduled-by': 'x' } }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-r8b' } };
    expect(await refusal(['create', '--raw', `/api/v1/namespaces/${ns}/pods/${name}/binding`, '-f', '-'], JSON.stringify(binding))).toBeUndefined();
    expect((await getPod(name)).spec.nodeName).toBe('node-r8b');
  });
});

describe('C: an agent container\'s ephemeral-storage limit makes the kubelet evict on the spool\'s usage', () => {
  it('a proxy limit that holds the spool and its logs (sizeLimit + 64Mi) is admitted; one below it is refused; none beside an agent\'s gets it from the injector', async () => {
    const genuine = await getPod('agent-1');
    const copy = (resources: unknown, agentLimit?: string): Pod => {
      const forged: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `es-${suffix()}`, namespace: ns, labels: genuine.metadata.labels, annotations: genuine.metadata.annotations }, spec: structuredClone(genuine.spec) };
      delete forged.spec.nodeName;
      forged.spec.initContainers![0]!.resources = resources;
      if (agentLimit !== undefined) forged.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': agentLimit } };
      return forged;
    };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(copy({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '1Gi' } })));
    await k(['create', '-f', '-'], 'admin', JSON.stringify(copy({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '320Mi' } }, '1Mi')));
    const below = await kFails(['create', '-f', '-'], 'admin', JSON.stringify(copy({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '335544319' } })));
    expect(below).toContain('guarita-proxy.resources.limits.ephemeral-storage is "335544319", below the spool\'s sizeLimit 256Mi plus 64Mi for the proxy\'s logs (320Mi)');
    expect(below).toContain(denied);
    // A copy created "already injected" without it: the injector's reinvocation adds it (the guard
    // refuses a pod that reaches it without: spool-storage unit tests).
    const none = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(copy({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } }, '1Mi')))) as Pod;
    expect(none.spec.initContainers?.[0]?.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '320Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '320Mi' } });
    expect(podEphemeralStorageLimit(none)).toBe(321 * 1024 * 1024);
  });

  it('finding: an injected pod whose agent limits ephemeral-storage below the spool\'s sizeLimit is refused, or stored with a pod limit that holds the spool', async () => {
    const pod = examplePod(ns, `agent-es-${suffix()}`);
    // The kubelet's pod limit is the SUM of the containers' ephemeral-storage limits (the proxy's
    // is none, 0): 1Mi, against the pod's whole usage, spool emptyDir included (256Mi allowed).
    pod.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': '1Mi' } };
    const err = await refusal(['create', '-f', '-'], JSON.stringify(pod));
    if (err !== undefined) {
      expect(err).toContain(denied);
      return;
    }
    const stored = await getPod(pod.metadata.name!);
    const spool = stored.spec.volumes?.find((v) => v.name === 'guarita-spool')?.emptyDir?.sizeLimit;
    const podLimit = podEphemeralStorageLimit(stored);
    expect({ spoolSizeLimit: spool, podEphemeralStorageLimitBytes: podLimit, holdsTheSpool: podLimit >= bytes(spool) }).toEqual(expect.objectContaining({ holdsTheSpool: true }));
    // Held by the proxy's own limit (the spool and its logs), whatever the agents set.
    const proxy = stored.spec.initContainers?.find((c) => c.name === 'guarita-proxy');
    expect((proxy?.resources as { limits?: Record<string, string> } | undefined)?.limits?.['ephemeral-storage']).toBe('320Mi');
  });
});

describe('D: pod-level resources (Kubernetes 1.34 beta) bound the proxy below its own limits', () => {
  // Decided (round 8b): CPU and memory limits bound only this pod's own proxy (a slow or restarting
  // proxy for the author's own agents; the spool survives a restart, answered records are written
  // before their answers), so both spellings are admitted, consistently; devices are not.
  it('a forged proxy with a lower memory limit is admitted, like the pod-level one', async () => {
    const genuine = await getPod('agent-1');
    const forged: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `mem-${suffix()}`, namespace: ns, labels: genuine.metadata.labels, annotations: genuine.metadata.annotations }, spec: structuredClone(genuine.spec) };
    delete forged.spec.nodeName;
    forged.spec.initContainers![0]!.resources = { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '64Mi' } };
    const stored = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(forged))) as Pod;
    expect(stored.spec.initContainers?.[0]?.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '64Mi' } });
  });

  it('an injected pod whose pod-level memory limit is below the proxy\'s own is admitted, the proxy as the injector writes it', async () => {
    const pod = examplePod(ns, `agent-plr-${suffix()}`);
    (pod.spec as Record<string, unknown>).resources = { limits: { memory: '64Mi', cpu: '50m' } };
    const stored = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(pod))) as Pod;
    expect((stored.spec as Record<string, unknown>).resources).toEqual(expect.objectContaining({ limits: { memory: '64Mi', cpu: '50m' } }));
    expect(stored.spec.initContainers?.find((c) => c.name === 'guarita-proxy')?.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });
  });

  it('a device on the proxy is still refused in a pod with pod-level resources', async () => {
    const genuine = await getPod('agent-1');
    const forged: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `dev-${suffix()}`, namespace: ns, labels: genuine.metadata.labels, annotations: genuine.metadata.annotations }, spec: structuredClone(genuine.spec) };
    delete forged.spec.nodeName;
    (forged.spec as Record<string, unknown>).resources = { limits: { memory: '1Gi' } };
    forged.spec.initContainers![0]!.resources = { requests: { cpu: '50m', memory: '64Mi', 'example.com/device': '1' }, limits: { memory: '256Mi', 'example.com/device': '1' } };
    const err = await kFails(['create', '-f', '-'], 'admin', JSON.stringify(forged));
    expect(err).toContain(denied);
    expect(err).toContain('guarita-proxy.resources.limits.example.com/device is set ("1")');
  });
});
