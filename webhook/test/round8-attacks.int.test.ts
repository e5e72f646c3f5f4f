// Round 8 adversarial review of the admission webhook, through the real path: kubectl against the
// harness kube-apiserver, which calls the webhook process (least-privilege token, client
// certificate required). The webhook runs with the chart's default spool limit
// (GUARITA_SIDECAR_SPOOL_SIZE_LIMIT=256Mi, values.yaml sidecar.spoolSizeLimit).
//
// Each test states what SHOULD happen; on the code under review the first five failed (see
// docs/security-model.md); the others pin the class and what must stay admitted (the
// apiserver's spellings and defaults, agent resizes, unrelated label changes):
// 1. a pod created already "injected" with the genuine proxy but a spool emptyDir whose sizeLimit
//    is not the injector's is accepted as genuine (sizeLimit is skipped as a "quantity");
// 2. the pods/resize subresource changes the injected proxy's resources after admission (the
//    validating webhook's rules do not cover it), although the proxy is "frozen";
// 3. a pod admitted without the proxy (opted out by label, or not selected) is relabelled into an
//    AccessPolicy's podSelector and keeps running ungoverned.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadHarnessState } from '../../e2e/harness/state.ts';
import type { Container, Pod, Volume } from '../src/kube-types.ts';
import { applyJson, createNamespace, installCrds, k, kFails, registerWebhooks, startWebhookProcess, suffix, unregisterWebhooks, webhookIdentity, type WebhookProcess } from './cluster.ts';
import { examplePod, examplePolicy, exampleYaml } from './fixtures.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-r8-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `r8-${id}`;
let webhook: WebhookProcess;

const denied = 'admission webhook "validate.pods.guarita.io" denied the request';

async function getPod(name: string): Promise<Pod> {
  return JSON.parse(await k(['-n', ns, 'get', 'pod', name, '-o', 'json'])) as Pod;
}

async function podExists(name: string): Promise<boolean> {
  const res = await kFails(['-n', ns, 'get', 'pod', name]).catch(() => 'exists');
  return res === 'exists';
}

/** The genuine injected pod, copied as its author would (kubectl get -o json), under a new name. */
function copyOf(genuine: Pod, name: string): Pod {
  const copy: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: genuine.metadata.labels, annotations: genuine.metadata.annotations }, spec: structuredClone(genuine.spec) };
  delete copy.spec.nodeName;
  return copy;
}

function spoolVolume(pod: Pod): Volume {
  const v = pod.spec.volumes?.find((x) => x.name === 'guarita-spool');
  if (v === undefined) throw new Error('no guarita-spool volume');
  return v;
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

describe('finding 1: the spool emptyDir sizeLimit of a pod created already "injected"', () => {
  it('the injector writes sizeLimit 256Mi and tells the proxy its budget (GUARITA_SPOOL_MAX_BYTES)', async () => {
    const genuine = await getPod('agent-1');
    expect(spoolVolume(genuine).emptyDir?.sizeLimit).toBe('256Mi');
    const proxy = genuine.spec.initContainers?.find((c) => c.name === 'guarita-proxy');
    expect(proxy?.env?.find((e) => e.name === 'GUARITA_SPOOL_MAX_BYTES')?.value).toBe(String(255 * 1024 * 1024));
  });

  it('refuses the genuine proxy with a spool sizeLimit below its budget (kubelet evicts the pod, unshipped records lost)', async () => {
    const forged = copyOf(await getPod('agent-1'), `agent-spool-${suffix()}`);
    // Below one pre-sized 8 MiB spool segment; the proxy still believes it may fill 255 MiB.
    spoolVolume(forged).emptyDir = { sizeLimit: '4Mi' };
    const res = await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(forged)).then((out) => JSON.parse(out) as Pod, (err: unknown) => err as Error);
    if (!(res instanceof Error)) {
      // Admitted: show what was stored before failing.
      expect({ stored: spoolVolume(res).emptyDir?.sizeLimit, proxyBudget: res.spec.initContainers?.[0]?.env?.find((e) => e.name === 'GUARITA_SPOOL_MAX_BYTES')?.value }).toEqual('refused by validate.pods.guarita.io');
    }
    const message = res instanceof Error ? res.message : '';
    expect(message).toContain(denied);
    expect(message).toContain('volume guarita-spool');
  });
});

describe('finding 1, the class: every quantity of a forged proxy compared by value, genuine spellings admitted', () => {
  it('stores the chart\'s default sidecar.resources as written (canonical already, nothing defaulted)', async () => {
    const proxy = (await getPod('agent-1')).spec.initContainers?.find((c) => c.name === 'guarita-proxy');
    expect(proxy?.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });
  });

  it('admits an exact copy whose quantities are respelled (the apiserver keeps or canonicalises the spelling, the values are the same)', async () => {
    const copy = copyOf(await getPod('agent-1'), `agent-respelled-${suffix()}`);
    spoolVolume(copy).emptyDir = { sizeLimit: '268435456' };
    copy.spec.initContainers![0]!.resources = { requests: { cpu: '0.05', memory: '67108864' }, limits: { memory: '0.25Gi' } };
    const stored = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(copy))) as Pod;
    // What the apiserver sends the webhook: a plain number of bytes stays one (its canonical
    // decimal form), "0.05" becomes "50m", "0.25Gi" becomes "256Mi".
    expect(spoolVolume(stored).emptyDir?.sizeLimit).toBe('268435456');
    expect(stored.spec.initContainers?.[0]?.resources).toEqual({ requests: { cpu: '50m', memory: '67108864' }, limits: { memory: '256Mi' } });
  });

  // Round 8b: requests, and CPU and memory limits, are judged by what they decide (scheduling, the
  // proxy's own availability) and admitted whatever their value; what can lose evidence (the
  // spool's sizeLimit, an ephemeral-storage limit below the spool) or hand the proxy a device is
  // refused.
  it.each([
    ['a lower memory limit', { requests: { cpu: '50m', memory: '8Mi' }, limits: { memory: '8Mi' } }],
    ['a starved CPU request', { requests: { cpu: '1m', memory: '64Mi' }, limits: { memory: '256Mi' } }],
    ['raised requests, ephemeral-storage included (GKE Autopilot, Kyverno)', { requests: { cpu: '250m', memory: '512Mi', 'ephemeral-storage': '1Gi' }, limits: { memory: '512Mi' } }],
    // The apiserver defaults the missing ephemeral-storage request to the limit.
    ['an ephemeral-storage limit that holds the spool and its logs', { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '320Mi' } }, { requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '320Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '320Mi' } }],
  ])('admits a copy whose proxy has %s', async (_name, resources, as: unknown = resources) => {
    const copy = copyOf(await getPod('agent-1'), `agent-res-${suffix()}`);
    copy.spec.initContainers![0]!.resources = resources;
    const stored = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(copy))) as Pod;
    expect(stored.spec.initContainers?.[0]?.resources).toEqual(as);
  });

  it.each([
    ['an ephemeral-storage limit below the spool (the kubelet evicts the pod)', { requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '1Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '1Mi' } }, 'guarita-proxy.resources.limits.ephemeral-storage is "1Mi", below the spool\'s sizeLimit 256Mi plus 64Mi for the proxy\'s logs (320Mi)', 'sidecar.resources.limits.ephemeral-storage (GUARITA_SIDECAR_RESOURCES)'],
    ['the spool alone, without the margin for its logs', { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '256Mi' } }, 'guarita-proxy.resources.limits.ephemeral-storage is "256Mi", below', 'LimitRange\'s default ephemeral-storage'],
    ['an extended resource (a device)', { requests: { cpu: '50m', memory: '64Mi', 'example.com/device': '1' }, limits: { memory: '256Mi', 'example.com/device': '1' } }, 'guarita-proxy.resources.limits.example.com/device is set ("1"), which the injector never writes', 'GUARITA_SIDECAR_RESOURCES (chart value sidecar.resources)'],
    ['hugepages', { requests: { cpu: '50m', memory: '64Mi', 'hugepages-2Mi': '4Mi' }, limits: { memory: '256Mi', 'hugepages-2Mi': '4Mi' } }, 'guarita-proxy.resources.limits.hugepages-2Mi is set ("4Mi"), which the injector never writes', 'GUARITA_SIDECAR_RESOURCES (chart value sidecar.resources)'],
  ])('refuses a forged proxy with %s', async (_name, resources, message, fix) => {
    const forged = copyOf(await getPod('agent-1'), `agent-res-${suffix()}`);
    forged.spec.initContainers![0]!.resources = resources;
    const err = await kFails(['create', '-f', '-'], 'admin', JSON.stringify(forged));
    expect(err).toContain(denied);
    expect(err).toContain(message);
    expect(err).toContain(fix);
  });

  it('refuses a forged spool sizeLimit in every spelling of another value, and admits the same value in every spelling', async () => {
    for (const sizeLimit of ['255Mi', '256M', '0.5Gi']) {
      const forged = copyOf(await getPod('agent-1'), `agent-sl-${suffix()}`);
      spoolVolume(forged).emptyDir = { sizeLimit };
      const err = await kFails(['create', '-f', '-'], 'admin', JSON.stringify(forged));
      expect(err).toContain('volume guarita-spool.emptyDir.sizeLimit is');
      expect(err).toContain('the injector writes "256Mi"');
    }
    const stored: Record<string, string | undefined> = {};
    for (const sizeLimit of ['0.25Gi', '262144Ki', '2.68435456e8', '268435456000m']) {
      const copy = copyOf(await getPod('agent-1'), `agent-sl-${suffix()}`);
      spoolVolume(copy).emptyDir = { sizeLimit };
      stored[sizeLimit] = spoolVolume(JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(copy))) as Pod).emptyDir?.sizeLimit;
    }
    // The forms the apiserver (1.34) stores and sends the webhook for these spellings: not always
    // canonical. It keeps a spelling it parsed on its fast path verbatim ("2.68435456e8"), so only a
    // comparison by value admits every genuine spelling.
    expect(stored).toEqual({ '0.25Gi': '256Mi', '262144Ki': '256Mi', '2.68435456e8': '2.68435456e8', '268435456000m': '268435456' });
  });
});

describe('finding 2: pods/resize changes the injected proxy after admission', () => {
  it('refuses resizing guarita-proxy (as kubectl set image is refused)', async () => {
    const patch = JSON.stringify({ spec: { initContainers: [{ name: 'guarita-proxy', resources: { requests: { cpu: '1m', memory: '8Mi' }, limits: { memory: '8Mi' } } }] } });
    const res = await k(['-n', ns, 'patch', 'pod', 'agent-1', '--subresource', 'resize', '--type=strategic', '-p', patch, '-o', 'json']).then((out) => JSON.parse(out) as Pod, (err: unknown) => err as Error);
    if (!(res instanceof Error)) {
      const stored = (await getPod('agent-1')).spec.initContainers?.find((c) => c.name === 'guarita-proxy')?.resources;
      expect({ proxyResourcesAfterResize: stored }).toEqual('refused by validate.pods.guarita.io');
    }
    const message = res instanceof Error ? res.message : '';
    expect(message).toContain(denied);
    expect(message).toContain('guarita-proxy cannot change after admission');
  });
});

describe('finding 2, what stays allowed', () => {
  it('resizes an agent container in place (only the proxy is frozen)', async () => {
    const patch = JSON.stringify({ spec: { containers: [{ name: 'agent', resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } } }] } });
    await k(['-n', ns, 'patch', 'pod', 'agent-1', '--subresource', 'resize', '--type=strategic', '-p', patch]);
    const pod = await getPod('agent-1');
    expect(pod.spec.containers.find((c) => c.name === 'agent')?.resources).toEqual({ requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } });
    expect(pod.spec.initContainers?.find((c) => c.name === 'guarita-proxy')?.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });
  });

  it('refuses a resize of the proxy by one byte', async () => {
    const patch = JSON.stringify({ spec: { initContainers: [{ name: 'guarita-proxy', resources: { limits: { memory: '268435455' } } }] } });
    const err = await kFails(['-n', ns, 'patch', 'pod', 'agent-1', '--subresource', 'resize', '--type=strategic', '-p', patch]);
    expect(err).toContain(denied);
    expect(err).toContain('guarita-proxy cannot change after admission (guarita-proxy.resources.limits.memory is "268435455", it was "256Mi")');
  });
});

describe('finding 3: a pod admitted without the proxy is relabelled into an AccessPolicy', () => {
  it('refuses removing the guarita.io/inject=false label from a pod the policy selects', async () => {
    const name = `out-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    const res = await k(['-n', ns, 'label', 'pod', name, 'guarita.io/inject-']).then(() => undefined, (err: unknown) => err as Error);
    if (res === undefined) {
      const stored = await getPod(name);
      expect({ labels: stored.metadata.labels, proxy: stored.spec.initContainers?.some((c) => c.name === 'guarita-proxy') ?? false }).toEqual('refused by validate.pods.guarita.io');
    }
    expect(String(res)).toContain(denied);
  });

  it('refuses relabelling an unselected pod so that the policy selects it (and it insists on injection)', async () => {
    const name = `unsel-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.labels = { app: 'billing-agent' };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    expect((await getPod(name)).spec.initContainers?.some((c) => c.name === 'guarita-proxy') ?? false).toBe(false);
    // The same pod created with these labels and annotation would be injected; as an update it stays without the proxy.
    const res = await k(['-n', ns, 'patch', 'pod', name, '--type=merge', '-p', JSON.stringify({ metadata: { labels: { app: 'support-agent' }, annotations: { 'guarita.io/inject': 'true' } } })]).then(() => undefined, (err: unknown) => err as Error);
    if (res === undefined) {
      const stored = await getPod(name);
      expect({ labels: stored.metadata.labels, annotations: stored.metadata.annotations, proxy: stored.spec.initContainers?.some((c) => c.name === 'guarita-proxy') ?? false }).toEqual('refused by validate.pods.guarita.io');
    }
    expect(String(res)).toContain(denied);
    expect(await podExists(name)).toBe(true);
  });

  it('keeps unrelated updates of pods without the proxy working (opted out, or unselected)', async () => {
    const out = `keep-${suffix()}`;
    const pod = examplePod(ns, out);
    pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    await k(['-n', ns, 'label', 'pod', out, 'team=b']);
    await k(['-n', ns, 'annotate', 'pod', out, 'note=x']);
    const unselected = `billing-${suffix()}`;
    const other = examplePod(ns, unselected);
    other.metadata.labels = { app: 'billing-agent' };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(other));
    await k(['-n', ns, 'label', 'pod', unselected, 'team=b']);
    // Opting out explicitly while unselected changes nothing the injector would do.
    await k(['-n', ns, 'annotate', 'pod', unselected, 'guarita.io/inject=false']);
    expect((await getPod(unselected)).metadata.labels).toEqual({ app: 'billing-agent', team: 'b' });
  });

  it('refuses removing the opt-out annotation (the message names the fix)', async () => {
    const name = `ann-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.annotations = { 'guarita.io/inject': 'false' };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    const err = await kFails(['-n', ns, 'annotate', 'pod', name, 'guarita.io/inject-']);
    expect(err).toContain(denied);
    expect(err).toContain('delete the pod and create it with the new labels');
  });
});

describe('canonical forms and apiserver defaults: a webhook whose sidecar values the apiserver respells', () => {
  // Non-canonical values, limits without requests (the apiserver defaults each request to its limit).
  const id2 = suffix();
  const system2 = `guarita-system-${id2}`;
  const configuration2 = `guarita-webhook-r8b-${id2}`;
  const scope2 = { 'guarita.io/test-scope': id2 };
  const ns2 = `r8b-${id2}`;
  let webhook2: WebhookProcess;

  beforeAll(async () => {
    await createNamespace(system2, {});
    const kubeconfig = await webhookIdentity(system2, configuration2, 'guarita-webhook-tls', loadHarnessState().runDir);
    webhook2 = await startWebhookProcess({ namespace: system2, configurationName: configuration2, kubeconfig, name: 'webhook-r8b', env: { GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: '268435456', GUARITA_SIDECAR_RESOURCES: JSON.stringify({ limits: { cpu: '0.5', memory: '268435456' } }) } });
    await registerWebhooks(configuration2, system2, webhook2.url, scope2);
    await createNamespace(ns2, { 'guarita.io/injection': 'enabled', ...scope2 });
    const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
    secret.metadata.namespace = ns2;
    await applyJson(secret);
    await applyJson(examplePolicy('accesspolicy.yaml', ns2));
  }, 120_000);

  afterAll(async () => {
    await unregisterWebhooks(configuration2);
    await webhook2?.stop();
  });

  it('admits the injected pod; the apiserver stores its own forms and requests defaulted from limits', async () => {
    const stored = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(examplePod(ns2, 'agent-b')))) as Pod;
    const proxy = stored.spec.initContainers?.find((c) => c.name === 'guarita-proxy');
    // "0.5" → "500m"; a plain number of bytes stays one; each missing request is its limit.
    expect(proxy?.resources).toEqual({ limits: { cpu: '500m', memory: '268435456' }, requests: { cpu: '500m', memory: '268435456' } });
    expect(stored.spec.volumes?.find((v) => v.name === 'guarita-spool')?.emptyDir?.sizeLimit).toBe('268435456');
  });

  it('admits a copy created "already injected" with those forms, and with a request the injector leaves out (a mutator\'s); refuses a device', async () => {
    const genuine = JSON.parse(await k(['-n', ns2, 'get', 'pod', 'agent-b', '-o', 'json'])) as Pod;
    const copy = { ...genuine, metadata: { name: `agent-b-${suffix()}`, namespace: ns2, labels: genuine.metadata.labels, annotations: genuine.metadata.annotations }, spec: structuredClone(genuine.spec) };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(copy));
    const raised = { ...copy, metadata: { ...copy.metadata, name: `agent-b-${suffix()}` }, spec: structuredClone(genuine.spec) };
    raised.spec.initContainers![0]!.resources = { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '1Mi' } };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(raised));
    const forged = { ...copy, metadata: { ...copy.metadata, name: `agent-b-${suffix()}` }, spec: structuredClone(genuine.spec) };
    forged.spec.initContainers![0]!.resources = { limits: { cpu: '500m', memory: '256Mi', 'example.com/device': '1' }, requests: { cpu: '500m', memory: '256Mi', 'example.com/device': '1' } };
    const err = await kFails(['create', '-f', '-'], 'admin', JSON.stringify(forged));
    expect(err).toContain(denied);
    expect(err).toContain('guarita-proxy.resources.limits.example.com/device is set ("1"), which the injector never writes');
  });

  /** The proxy's and the agent's ephemeral-storage limits as stored. */
  function storageLimits(stored: Pod): { proxy: unknown; agent: unknown } {
    const limit = (c: Container | undefined): unknown => (c?.resources as { limits?: Record<string, unknown> } | undefined)?.limits?.['ephemeral-storage'];
    return { proxy: limit(stored.spec.initContainers?.find((c) => c.name === 'guarita-proxy')), agent: limit(stored.spec.containers.find((c) => c.name === 'agent')) };
  }

  it('admits injected pods in a namespace whose LimitRange defaults CPU and memory', async () => {
    await applyJson({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'defaults', namespace: ns }, spec: { limits: [{ type: 'Container', default: { cpu: '2', memory: '1Gi' }, defaultRequest: { cpu: '100m', memory: '128Mi' } }] } });
    try {
      const stored = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(examplePod(ns, `agent-lrc-${suffix()}`)))) as Pod;
      // The LimitRanger added the CPU limit the injector leaves out: admitted.
      const resources = stored.spec.initContainers?.find((c) => c.name === 'guarita-proxy')?.resources as { limits?: Record<string, string> } | undefined;
      expect(resources?.limits).toEqual(expect.objectContaining({ cpu: '2' }));
    } finally {
      await k(['-n', ns, 'delete', 'limitrange', 'defaults']);
    }
  });

  it.each([
    ['above the spool and its logs', '1Gi'],
    ['exactly the spool and its logs', '320Mi'],
    ['below them (the agents\' limits set a pod limit the proxy\'s must hold)', '1Mi'],
  ])('admits injected pods in a namespace whose LimitRange defaults ephemeral storage %s, with a pod limit that holds the spool', async (_name, limit) => {
    await applyJson({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'defaults', namespace: ns2 }, spec: { limits: [{ type: 'Container', default: { 'ephemeral-storage': limit } }] } });
    try {
      const stored = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(examplePod(ns2, `agent-lr-${suffix()}`)))) as Pod;
      const limits = storageLimits(stored);
      expect(limits.agent).toBe(limit);
      // The apiserver's LimitRanger runs before the mutating webhooks: the injector sees the
      // agent's default and gives the proxy sizeLimit + 64Mi, which the LimitRanger then keeps.
      expect(limits.proxy).toBe('320Mi');
    } finally {
      await k(['-n', ns2, 'delete', 'limitrange', 'defaults']);
    }
  });

  it('refuses, naming the fix, a pod whose proxy limit a mutator lowered below the spool (a copy created with it)', async () => {
    await applyJson({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'defaults', namespace: ns2 }, spec: { limits: [{ type: 'Container', default: { 'ephemeral-storage': '1Mi' } }] } });
    try {
      const stored = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(examplePod(ns2, `agent-lr-${suffix()}`)))) as Pod;
      const forged = { ...stored, metadata: { name: `agent-lr-${suffix()}`, namespace: ns2, labels: stored.metadata.labels, annotations: stored.metadata.annotations }, spec: structuredClone(stored.spec) };
      delete forged.spec.nodeName;
      // Without the proxy's own limit the LimitRanger gives it the namespace default, 1Mi.
      const proxy = forged.spec.initContainers![0]!;
      proxy.resources = { limits: { cpu: '500m', memory: '268435456' }, requests: { cpu: '500m', memory: '268435456' } };
      const err = await kFails(['create', '-f', '-'], 'admin', JSON.stringify(forged));
      expect(err).toContain(denied);
      expect(err).toContain('guarita-proxy.resources.limits.ephemeral-storage is "1Mi", below the spool\'s sizeLimit 268435456 plus 64Mi for the proxy\'s logs (320Mi)');
      expect(err).toContain('the namespace LimitRange\'s default ephemeral-storage');
    } finally {
      await k(['-n', ns2, 'delete', 'limitrange', 'defaults']);
    }
  });
});
