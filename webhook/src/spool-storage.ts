// The spool under the kubelet's pod ephemeral-storage limit (round 8b, finding C). Once ANY
// container of a pod has an ephemeral-storage limit, the kubelet gives the pod a limit: the sum of
// its containers' limits (restartable init containers included, a container without one counting
// 0; component-helpers PodLimits), compared with the pod's whole local storage, the writable
// layers, the logs and every disk-backed emptyDir, guarita-spool included
// (eviction_manager.go podEphemeralStorageLimitEviction). An agent's 1Mi limit would then evict the
// pod, and the spool with its unshipped records, at the first pre-sized spool segment. So the
// proxy's OWN limit must hold the whole spool: the injector gives it one when another container
// has a limit, and the pod guard refuses a pod where it is absent or lower. The sum of the
// containers' limits is then at least the proxy's, whatever the others set (an init container's
// limit is added to the sidecars started before it, and the largest wins). Pure.
import { parseQuantity, type QuantityValue } from '../../core/kube/quantity.ts';
import { SIDECAR_NAME } from './constants.ts';
import type { Container, Pod } from './kube-types.ts';

const STORAGE = 'ephemeral-storage';
const MiB = 1024n * 1024n;

/**
 * What the proxy writes to local storage besides the spool: its container log, which the kubelet
 * rotates at 10 MiB and keeps 5 files of by default (containerLogMaxSize, containerLogMaxFiles:
 * 50 MiB), and its writable layer, nearly empty under a read-only root filesystem. The kubelet
 * counts both against the pod's limit.
 */
export const PROXY_STORAGE_MARGIN_BYTES = 64n * MiB;

/** The proxy's `limits.ephemeral-storage`, as written (any type), or undefined. */
function storageLimit(c: Container): unknown {
  const limits = (c.resources as { limits?: unknown } | undefined)?.limits;
  return typeof limits === 'object' && limits !== null ? (limits as Record<string, unknown>)[STORAGE] : undefined;
}

function podContainers(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])];
}

/** sizeLimit + PROXY_STORAGE_MARGIN_BYTES, in bytes; undefined without a readable sizeLimit. */
export function proxyStorageFloor(sizeLimit: string | undefined): QuantityValue | undefined {
  const v = sizeLimit === undefined ? undefined : parseQuantity(sizeLimit);
  return v === undefined ? undefined : { numerator: v.numerator + PROXY_STORAGE_MARGIN_BYTES * v.denominator, denominator: v.denominator };
}

/** A byte count as the injector writes it: Mi when whole, bytes otherwise (rounded up). */
function bytesQuantity(v: QuantityValue): string {
  const bytes = (v.numerator + v.denominator - 1n) / v.denominator;
  return bytes % MiB === 0n ? `${bytes / MiB}Mi` : String(bytes);
}

function atLeast(value: unknown, floor: QuantityValue): boolean {
  const v = typeof value === 'string' ? parseQuantity(value) : undefined;
  return v !== undefined && v.numerator * floor.denominator >= floor.numerator * v.denominator;
}

/** The pod with the proxy (wherever it is listed) replaced by `change(proxy)`. */
function withProxy(pod: Pod, change: (proxy: Container) => Container): Pod {
  const swap = (list: Container[] | undefined): Container[] | undefined => list?.map((c) => (c.name === SIDECAR_NAME ? change(c) : c));
  const spec = { ...pod.spec, containers: swap(pod.spec.containers) ?? [] };
  if (pod.spec.initContainers !== undefined) spec.initContainers = swap(pod.spec.initContainers);
  return { ...pod, spec };
}

/** The proxy's `requests.ephemeral-storage` when readable, else undefined. */
function storageRequest(c: Container): QuantityValue | undefined {
  const requests = (c.resources as { requests?: unknown } | undefined)?.requests;
  const value = typeof requests === 'object' && requests !== null ? (requests as Record<string, unknown>)[STORAGE] : undefined;
  return typeof value === 'string' ? parseQuantity(value) : undefined;
}

/**
 * The limit the injector gives the proxy: the floor, or the proxy's own request when that is
 * larger (sidecar.resources reserving node room for the spool), since the apiserver refuses a
 * container whose request exceeds its limit. An unreadable request is left to the apiserver, which
 * reads quantities the same way (the webhook's settings only accept readable ones).
 */
export function proxyStorageLimit(floor: QuantityValue, request: QuantityValue | undefined): string {
  const larger = request !== undefined && request.numerator * floor.denominator > floor.numerator * request.denominator;
  return bytesQuantity(larger ? request : floor);
}

/**
 * The injector's part: when a container other than the proxy limits ephemeral-storage and the
 * proxy has no limit of its own (sidecar.resources sets none), the proxy gets sizeLimit + margin,
 * or its request when larger. Runs on every invocation, reinvocation included (a later mutating
 * webhook may add the agents' limits); a pod that needs nothing is returned as it is.
 */
export function withSpoolInPodLimit(pod: Pod, sizeLimit: string | undefined): Pod {
  const floor = proxyStorageFloor(sizeLimit);
  const proxy = podContainers(pod).find((c) => c.name === SIDECAR_NAME);
  if (floor === undefined || proxy === undefined || storageLimit(proxy) !== undefined) return pod;
  if (!podContainers(pod).some((c) => c !== proxy && storageLimit(c) !== undefined)) return pod;
  return withProxy(pod, (c) => {
    const resources = (c.resources ?? {}) as { requests?: Record<string, string>; limits?: Record<string, string> };
    return { ...c, resources: { ...resources, limits: { ...resources.limits, [STORAGE]: proxyStorageLimit(floor, storageRequest(c)) } } };
  });
}

/**
 * Why a proxy ephemeral-storage limit cannot hold the spool, or undefined when it can: for the
 * webhook's own settings, where such a limit in sidecar.resources would get every injected pod
 * refused.
 */
export function storageShortfall(limit: unknown, sizeLimit: string | undefined): string | undefined {
  const floor = proxyStorageFloor(sizeLimit);
  if (floor === undefined) return `${JSON.stringify(limit)} cannot hold the spool, which has no sizeLimit: set GUARITA_SIDECAR_SPOOL_SIZE_LIMIT (chart value sidecar.spoolSizeLimit), or remove the limit`;
  if (atLeast(limit, floor)) return undefined;
  return `${JSON.stringify(limit)} is below the spool's sizeLimit ${sizeLimit ?? ''} plus ${PROXY_STORAGE_MARGIN_BYTES / MiB}Mi for the proxy's logs: every injected pod would be refused; raise it to at least ${bytesQuantity(floor)}, or remove it (the injector then sets ${bytesQuantity(floor)} where another container has a limit)`;
}

const FIX = `set ${SIDECAR_NAME}'s limit through the chart value sidecar.resources.limits.${STORAGE} (GUARITA_SIDECAR_RESOURCES) or the namespace LimitRange's default ${STORAGE}, or remove the containers' ${STORAGE} limits`;

/**
 * The pod guard's part, for a pod with the genuine proxy: if any container limits
 * ephemeral-storage, the proxy's own limit must hold the spool's sizeLimit and the margin.
 */
export function spoolStorageViolations(pod: Pod, sizeLimit: string | undefined): string[] {
  const limited = podContainers(pod).filter((c) => storageLimit(c) !== undefined);
  if (limited.length === 0) return [];
  const proxy = podContainers(pod).find((c) => c.name === SIDECAR_NAME);
  const which = limited.slice(0, 3).map((c) => `${c.name} (${JSON.stringify(storageLimit(c))})`).join(', ');
  const why = `container ${which} limits ${STORAGE}, so the kubelet evicts the pod, deleting the spool with its unshipped records, once the pod's local storage (the spool emptyDir included) passes the sum of its containers' limits`;
  const floor = proxyStorageFloor(sizeLimit);
  if (floor === undefined) return [`${why}; the spool has no sizeLimit (GUARITA_SIDECAR_SPOOL_SIZE_LIMIT, chart value sidecar.spoolSizeLimit), so no limit of ${SIDECAR_NAME} holds it: set sidecar.spoolSizeLimit, or remove the ${STORAGE} limits`];
  const value = proxy === undefined ? undefined : storageLimit(proxy);
  if (atLeast(value, floor)) return [];
  const is = value === undefined ? 'is not set' : `is ${JSON.stringify(value)}`;
  return [`${SIDECAR_NAME}.resources.limits.${STORAGE} ${is}, below the spool's sizeLimit ${String(sizeLimit)} plus ${PROXY_STORAGE_MARGIN_BYTES / MiB}Mi for the proxy's logs (${bytesQuantity(floor)}): ${why}; ${FIX} (at least ${bytesQuantity(floor)})`];
}
