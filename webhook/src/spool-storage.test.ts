// The spool under the kubelet's pod ephemeral-storage limit (round 8b, finding C): once any
// container limits ephemeral-storage, the pod's limit is the sum of the containers' and counts the
// spool emptyDir, so the proxy's own limit must hold the spool and its logs. The injector adds it;
// the pod guard refuses a pod without it, in every place a limit can come from.
import { describe, expect, it } from '@jest/globals';
import { parseQuantity } from '../../core/kube/quantity.ts';
import { decideInjection } from './inject.ts';
import type { Container, Pod } from './kube-types.ts';
import { podViolations, type GuardConfig } from './pod-guard.ts';
import type { SidecarConfig } from './sidecar.ts';
import { PROXY_STORAGE_MARGIN_BYTES, proxyStorageFloor, proxyStorageLimit, spoolStorageViolations, withSpoolInPodLimit } from './spool-storage.ts';
import { examplePod, examplePolicy, OPTED_IN, TEST_INJECTOR, TEST_SIDECAR } from '../test/fixtures.ts';

const policies = [examplePolicy('accesspolicy.yaml')];
const SPOOL: SidecarConfig = { ...TEST_SIDECAR, spoolSizeLimit: '256Mi', spoolMaxBytes: 255 * 1024 * 1024 };
const FLOOR_BYTES = 320 * 1024 * 1024;

function inject(pod: Pod, sidecar: SidecarConfig = SPOOL): Pod {
  const d = decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: { ...TEST_INJECTOR, sidecar } });
  if (d.action === 'inject') return d.pod;
  if (d.action === 'skip' && d.reason === 'already-injected') return pod;
  throw new Error(d.action);
}

function agentPod(limit?: string, where: 'containers' | 'initContainers' = 'containers'): Pod {
  const pod = examplePod();
  if (limit === undefined) return pod;
  if (where === 'containers') pod.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': limit } };
  else pod.spec.initContainers = [{ name: 'setup', image: 'busybox', resources: { limits: { 'ephemeral-storage': limit } } }];
  return pod;
}

function proxy(pod: Pod): Container {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === 'guarita-proxy')!;
}

function proxyStorage(pod: Pod): unknown {
  return (proxy(pod).resources as { limits?: Record<string, unknown> } | undefined)?.limits?.['ephemeral-storage'];
}

function bytes(q: unknown): number {
  const v = typeof q === 'string' ? parseQuantity(q) : undefined;
  return v === undefined ? Number.NaN : Number(v.numerator / v.denominator);
}

/** The kubelet's pod limit (component-helpers PodLimits): containers and restartable init containers summed, the largest init container (with the sidecars before it) if larger. */
function kubeletPodLimit(pod: Pod): number {
  const of = (c: Container): number | undefined => {
    const l = (c.resources as { limits?: Record<string, unknown> } | undefined)?.limits?.['ephemeral-storage'];
    return l === undefined ? undefined : bytes(l);
  };
  const init = pod.spec.initContainers ?? [];
  const sidecars = init.filter((c) => c.restartPolicy === 'Always');
  const all = [...pod.spec.containers, ...init];
  if (all.every((c) => of(c) === undefined)) return Number.POSITIVE_INFINITY;
  const sum = [...pod.spec.containers, ...sidecars].reduce((s, c) => s + (of(c) ?? 0), 0);
  let before = 0;
  let largest = 0;
  for (const c of init) {
    if (c.restartPolicy === 'Always') before += of(c) ?? 0;
    else largest = Math.max(largest, (of(c) ?? 0) + before);
  }
  return Math.max(sum, largest);
}

const guard = (sidecar: SidecarConfig = SPOOL): GuardConfig => ({ sidecar, allowedCsiDrivers: [] });

describe('the margin', () => {
  it('is 64 MiB over the spool sizeLimit, read exactly in any spelling', () => {
    expect(PROXY_STORAGE_MARGIN_BYTES).toBe(64n * 1024n * 1024n);
    for (const s of ['256Mi', '268435456', '0.25Gi', '262144Ki', '2.68435456e8']) {
      const f = proxyStorageFloor(s)!;
      expect(f.numerator / f.denominator).toBe(BigInt(FLOOR_BYTES));
    }
    expect(proxyStorageFloor(undefined)).toBeUndefined();
    expect(proxyStorageFloor('lots')).toBeUndefined();
  });
});

describe('the injector gives the proxy a limit that holds the spool once another container has one', () => {
  it.each([
    ['an agent container', agentPod('1Mi')],
    ['an agent container, a large limit', agentPod('10Gi')],
    ['an init container that runs before the agents', agentPod('1Mi', 'initContainers')],
  ])('%s', (_name, pod) => {
    const injected = inject(pod);
    expect(proxyStorage(injected)).toBe('320Mi');
    expect(kubeletPodLimit(injected)).toBeGreaterThanOrEqual(FLOOR_BYTES);
    expect(podViolations(injected, policies, guard())).toEqual([]);
    // Idempotent: the apiserver's reinvocation changes nothing.
    expect(decideInjection({ pod: injected, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: { ...TEST_INJECTOR, sidecar: SPOOL } })).toMatchObject({ action: 'skip', reason: 'already-injected' });
  });

  it('in container mode too (the proxy as an ordinary container)', () => {
    const injected = inject(agentPod('1Mi'), { ...SPOOL, mode: 'container' });
    expect(proxyStorage(injected)).toBe('320Mi');
    expect(kubeletPodLimit(injected)).toBeGreaterThanOrEqual(FLOOR_BYTES);
    expect(podViolations(injected, policies, guard({ ...SPOOL, mode: 'container' }))).toEqual([]);
  });

  it('on reinvocation, when a later mutating webhook added the agents\' limits after the injection', () => {
    const injected = inject(agentPod());
    expect(proxyStorage(injected)).toBeUndefined();
    injected.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': '100Mi' } };
    expect(podViolations(injected, policies, guard()).join('\n')).toContain('guarita-proxy.resources.limits.ephemeral-storage is not set');
    const again = inject(injected);
    expect(proxyStorage(again)).toBe('320Mi');
    expect(podViolations(again, policies, guard())).toEqual([]);
  });

  it('leaves pods without any ephemeral-storage limit without a pod limit (no limit of its own)', () => {
    const injected = inject(agentPod());
    expect(proxyStorage(injected)).toBeUndefined();
    expect(kubeletPodLimit(injected)).toBe(Number.POSITIVE_INFINITY);
    expect(podViolations(injected, policies, guard())).toEqual([]);
  });

  it('keeps a limit sidecar.resources sets, and the guard judges it', () => {
    const own = { ...SPOOL, resources: { ...SPOOL.resources, limits: { memory: '256Mi', 'ephemeral-storage': '1Gi' } } };
    expect(proxyStorage(inject(agentPod('1Mi'), own))).toBe('1Gi');
    expect(podViolations(inject(agentPod('1Mi'), own), policies, guard(own))).toEqual([]);
    const low = { ...SPOOL, resources: { ...SPOOL.resources, limits: { memory: '256Mi', 'ephemeral-storage': '300Mi' } } };
    expect(podViolations(inject(agentPod(), low), policies, guard(low)).join('\n')).toContain('guarita-proxy.resources.limits.ephemeral-storage is "300Mi", below the spool\'s sizeLimit 256Mi plus 64Mi for the proxy\'s logs (320Mi)');
  });

  it('writes bytes when the sum is not whole MiB', () => {
    const odd = { ...SPOOL, spoolSizeLimit: '300M' };
    expect(proxyStorage(inject(agentPod('1Mi'), odd))).toBe(String(300_000_000 + 64 * 1024 * 1024));
  });

  it('adds nothing without a spool sizeLimit (and the guard refuses the pod, naming the setting)', () => {
    const injected = inject(agentPod('1Mi'), TEST_SIDECAR);
    expect(proxyStorage(injected)).toBeUndefined();
    expect(podViolations(injected, policies, guard(TEST_SIDECAR)).join('\n')).toContain('the spool has no sizeLimit (GUARITA_SIDECAR_SPOOL_SIZE_LIMIT, chart value sidecar.spoolSizeLimit)');
    expect(withSpoolInPodLimit(agentPod('1Mi'), '256Mi')).toEqual(agentPod('1Mi'));
  });
});

describe('a configured ephemeral-storage request above the floor (round 8c, finding F): the added limit is the larger of the two', () => {
  // The apiserver refuses a container whose request exceeds its limit, so a limit at the floor under
  // sidecar.resources' request (reserving node room for the spool) got every pod with a limited
  // agent refused. The limit is max(floor, request), exact in every spelling of the request.
  const floor = proxyStorageFloor('256Mi')!;
  const withRequest = (request: string): SidecarConfig => ({ ...SPOOL, resources: { requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': request }, limits: { memory: '256Mi' } } });

  it.each([
    ['no request', undefined, '320Mi'],
    ['a request below the floor', '10Mi', '320Mi'],
    ['a request equal to the floor', '320Mi', '320Mi'],
    ['the floor respelled in bytes', '335544320', '320Mi'],
    ['one byte above the floor', '335544321', '335544321'],
    ['512Mi', '512Mi', '512Mi'],
    ['0.5Gi', '0.5Gi', '512Mi'],
    ['524288Ki', '524288Ki', '512Mi'],
    ['an exponent', '5.36870912e8', '512Mi'],
    ['decimal G', '1G', '1000000000'],
    ['decimal with a fraction of a byte (rounded up)', '400000000.5', '400000001'],
    ['milli-bytes', '400000000500m', '400000001'],
  ])('%s', (_name, request, limit) => {
    const v = request === undefined ? undefined : parseQuantity(request);
    expect(proxyStorageLimit(floor, v)).toBe(limit);
    if (request === undefined) return;
    expect(bytes(limit)).toBeGreaterThanOrEqual(bytes(request));
    expect(bytes(limit)).toBeGreaterThanOrEqual(FLOOR_BYTES);
  });

  it.each([['512Mi'], ['1Gi'], ['0.75Gi'], ['1G'], ['10Mi']])('an injected pod with a limited agent and request %s is one the apiserver accepts, and the guard admits', (request) => {
    for (const pod of [agentPod('1Mi'), agentPod('1Mi', 'initContainers'), agentPod('100Gi')]) {
      const injected = inject(pod, withRequest(request));
      const r = proxy(injected).resources as { requests: Record<string, string>; limits: Record<string, string> };
      expect(r.requests['ephemeral-storage']).toBe(request);
      expect(bytes(r.limits['ephemeral-storage'])).toBeGreaterThanOrEqual(Math.max(bytes(request), FLOOR_BYTES));
      expect(kubeletPodLimit(injected)).toBeGreaterThanOrEqual(FLOOR_BYTES);
      expect(podViolations(injected, policies, guard(withRequest(request)))).toEqual([]);
    }
  });

  it('in container mode, and on reinvocation, when a later webhook limited the agent', () => {
    const injected = inject(agentPod('1Mi'), { ...withRequest('512Mi'), mode: 'container' });
    expect(proxyStorage(injected)).toBe('512Mi');
    const later = inject(agentPod(), withRequest('512Mi'));
    expect(proxyStorage(later)).toBeUndefined();
    later.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': '100Mi' } };
    expect(proxyStorage(inject(later, withRequest('512Mi')))).toBe('512Mi');
  });

  it('reads the request the pod carries (a mutator may have changed it) and leaves an unreadable one to the apiserver', () => {
    const pod = inject(agentPod(), withRequest('512Mi'));
    pod.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': '1Mi' } };
    (proxy(pod).resources as { requests: Record<string, unknown> }).requests['ephemeral-storage'] = '2Gi';
    expect(proxyStorage(withSpoolInPodLimit(pod, '256Mi'))).toBe('2048Mi');
    (proxy(pod).resources as { requests: Record<string, unknown> }).requests['ephemeral-storage'] = 512;
    expect(proxyStorage(withSpoolInPodLimit(pod, '256Mi'))).toBe('320Mi');
  });
});

describe('the pod guard refuses a pod whose proxy limit does not hold the spool, once any container has a limit', () => {
  const withProxyLimit = (agentLimit: string | undefined, proxyLimit: unknown): Pod => {
    const pod = inject(agentPod());
    const p = proxy(pod);
    const r = p.resources as { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
    p.resources = { ...r, limits: { ...r.limits, ...(proxyLimit === undefined ? {} : { 'ephemeral-storage': proxyLimit }) } };
    if (agentLimit !== undefined) pod.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': agentLimit } };
    return pod;
  };

  it.each([
    ['exactly the floor', '1Mi', '320Mi'],
    ['the floor respelled', '1Mi', '335544320'],
    ['the floor in Ki', '1Mi', '327680Ki'],
    ['the floor as a fraction', '1Mi', '0.3125Gi'],
    ['the floor with an exponent', '1Mi', '3.3554432e8'],
    ['above it', undefined, '1Gi'],
    ['a LimitRange default above it on every container', '1Gi', '1Gi'],
  ])('admits %s', (_name, agent, proxyLimit) => {
    expect(spoolStorageViolations(withProxyLimit(agent, proxyLimit), '256Mi')).toEqual([]);
    expect(podViolations(withProxyLimit(agent, proxyLimit), policies, guard())).toEqual([]);
  });

  it.each([
    ['no proxy limit, an agent\'s 1Mi', '1Mi', undefined, 'is not set'],
    ['no proxy limit, an agent\'s 10Gi (the pod limit counts the agent\'s own use too)', '10Gi', undefined, 'is not set'],
    ['one byte below', '1Mi', '335544319', 'is "335544319"'],
    ['the spool alone, no margin', '1Mi', '256Mi', 'is "256Mi"'],
    ['decimal instead of binary', '1Mi', '320M', 'is "320M"'],
    ['a LimitRange default below it on every container', '100Mi', '100Mi', 'is "100Mi"'],
    ['the proxy alone, below it', undefined, '1Mi', 'is "1Mi"'],
    ['an unreadable quantity', '1Mi', '320 Mi', 'is "320 Mi"'],
    ['a number', '1Mi', 335544320, 'is 335544320'],
    ['an exponent apimachinery wraps', '1Mi', '1e4294967299', 'is "1e4294967299"'],
  ])('refuses %s', (_name, agent, proxyLimit, is) => {
    const message = podViolations(withProxyLimit(agent, proxyLimit), policies, guard()).join('\n');
    expect(message).toContain(`guarita-proxy.resources.limits.ephemeral-storage ${is}, below the spool's sizeLimit 256Mi plus 64Mi for the proxy's logs (320Mi)`);
    expect(message).toContain('the kubelet evicts the pod, deleting the spool with its unshipped records');
    expect(message).toContain('sidecar.resources.limits.ephemeral-storage (GUARITA_SIDECAR_RESOURCES) or the namespace LimitRange\'s default ephemeral-storage');
  });

  it('names the containers whose limits set the pod limit, init containers included', () => {
    const pod = withProxyLimit(undefined, undefined);
    pod.spec.initContainers = [...pod.spec.initContainers!, { name: 'setup', image: 'busybox', resources: { limits: { 'ephemeral-storage': '1Mi' } } }];
    expect(spoolStorageViolations(pod, '256Mi').join('\n')).toContain('container setup ("1Mi") limits ephemeral-storage');
  });
});
