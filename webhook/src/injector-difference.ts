// Where a container or volume a pod carries differs from what the injector writes
// ("guarita-proxy.image is X, the injector writes Y"), for the pod guard's "genuine proxy" test and
// its frozen-proxy rule. Every field is compared exactly, except what the apiserver legitimately
// changes between the injector and the validating webhook:
// - defaults it fills in (DEFAULTED);
// - quantities (`resources`, `sizeLimit`), which it re-spells in canonical form ("0.5" → "500m",
//   "268435456" → "256Mi"): compared BY VALUE (core/kube/quantity.ts), never skipped. They carry
//   security decisions: the spool's sizeLimit is what the kubelet evicts the pod at, losing its
//   unshipped records, so it must be the one the proxy's GUARITA_SPOOL_MAX_BYTES budget was
//   computed from; the proxy's memory limit and CPU decide whether it is OOM-killed or starved;
// - a container request the injector did not write, equal to the limit it wrote for that
//   resource: the apiserver defaults a missing request to its limit (containers and init
//   containers alike);
// - CPU and memory requests and limits the injector leaves out (OWN_AVAILABILITY).
// Pure.
import { sameQuantity } from '../../core/kube/quantity.ts';
import { deepEqual } from './json-patch.ts';

type Compare = (expected: unknown, actual: unknown, path: string) => string | undefined;
type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function short(v: unknown): string {
  const s = JSON.stringify(v) ?? 'nothing';
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Fields the apiserver fills in with these defaults after the injector ran. */
const DEFAULTED = new Map<string, unknown>([['terminationMessagePath', '/dev/termination-log'], ['successThreshold', 1]]);

function isDefaulted(key: string, value: unknown): boolean {
  return value === undefined || (DEFAULTED.has(key) && deepEqual(value, DEFAULTED.get(key)));
}

const RESOURCES_FIX = 'the proxy\'s resources are the webhook\'s GUARITA_SIDECAR_RESOURCES (chart value sidecar.resources)';
/**
 * Resources the injector leaves out whose requests and limits may be added. The apiserver's
 * LimitRanger runs again after the injector (admission reinvocation) and fills in a namespace
 * LimitRange's defaults, which a pod's own entry cannot be told from without reading LimitRanges;
 * namespaces commonly default CPU and memory. These two bound only this proxy's own CPU time and
 * memory: the worst a pod's author gets is a slow or restarting proxy for their own agents (the
 * spool is an emptyDir a restart keeps; answered records are written before their answers).
 * Every other resource is refused: an ephemeral-storage limit makes the kubelet evict the pod,
 * deleting the spool with its unshipped records, once the pod's storage passes the sum of its
 * containers' limits; extended resources hand the proxy devices the injector did not give it.
 */
const OWN_AVAILABILITY = new Set(['cpu', 'memory']);
/** What to do about an entry the injector never writes (a LimitRange default included). */
const EXTRA_FIX = `${RESOURCES_FIX}; a LimitRange default of the namespace adds the requests and limits it leaves out: set them in sidecar.resources`;
const SIZE_LIMIT_FIX = 'the spool\'s sizeLimit is the webhook\'s GUARITA_SIDECAR_SPOOL_SIZE_LIMIT (chart value sidecar.spoolSizeLimit), from which the proxy\'s GUARITA_SPOOL_MAX_BYTES is computed';

/** One quantity: the same value, whatever the spelling; an unreadable one is different. */
function quantityDifference(expected: unknown, actual: unknown, path: string, fix: string): string | undefined {
  return sameQuantity(expected, actual) ? undefined : `${path} is ${short(actual)}, the injector writes ${short(expected)} (${fix})`;
}

/**
 * A ResourceList (`requests` or `limits`): every quantity the injector writes present with the
 * same value; any other entry refused unless `defaulted` accepts it.
 */
function listDifference(expected: unknown, actual: unknown, path: string, defaulted: (name: string, value: unknown) => boolean): string | undefined {
  const e = isObject(expected) ? expected : {};
  if (actual !== undefined && !isObject(actual)) return `${path} is ${short(actual)}, the injector writes ${short(e)} (${RESOURCES_FIX})`;
  const a = actual ?? {};
  for (const name of Object.keys(e)) {
    const d = quantityDifference(e[name], a[name], `${path}.${name}`, RESOURCES_FIX);
    if (d !== undefined) return d;
  }
  const extra = Object.keys(a).find((name) => !Object.hasOwn(e, name) && !defaulted(name, a[name]));
  return extra === undefined ? undefined : `${path}.${extra} is set (${short(a[extra])}), which the injector never writes (${EXTRA_FIX})`;
}

/**
 * A container's `resources`. Requests the injector leaves out may carry the apiserver's default,
 * the limit the injector wrote for that resource; CPU and memory entries it leaves out may be
 * added (OWN_AVAILABILITY); nothing else may (another resource, `claims`: DRA claims hand the
 * proxy a device the injector did not give it).
 */
function resourcesDifference(expected: unknown, actual: unknown, path: string): string | undefined {
  const e = isObject(expected) ? expected : {};
  if (actual !== undefined && !isObject(actual)) return `${path} is ${short(actual)}, the injector writes an object (${RESOURCES_FIX})`;
  const a = actual ?? {};
  const limits = isObject(e.limits) ? e.limits : {};
  const requestIsLimit = (name: string, value: unknown): boolean => Object.hasOwn(limits, name) && sameQuantity(value, limits[name]);
  const ownAvailability = (name: string): boolean => OWN_AVAILABILITY.has(name);
  const d = listDifference(e.limits, a.limits, `${path}.limits`, ownAvailability)
    ?? listDifference(e.requests, a.requests, `${path}.requests`, (name, value) => ownAvailability(name) || requestIsLimit(name, value));
  if (d !== undefined) return d;
  const extra = Object.keys(a).find((key) => key !== 'limits' && key !== 'requests' && a[key] !== undefined);
  return extra === undefined ? undefined : `${path}.${extra} is set (${short(a[extra])}), which the injector never writes (${RESOURCES_FIX})`;
}

/** Fields compared by value rather than spelling (the apiserver re-spells them). */
const BY_VALUE = new Map<string, Compare>([
  ['resources', resourcesDifference],
  ['sizeLimit', (e, a, path) => quantityDifference(e, a, path, SIZE_LIMIT_FIX)],
]);

function arrayDifference(expected: unknown[], actual: unknown, path: string): string | undefined {
  if (!Array.isArray(actual) || actual.length !== expected.length) return `${path} is ${short(actual)}, the injector writes ${short(expected)}`;
  for (let i = 0; i < expected.length; i++) {
    const name = (expected[i] as { name?: unknown } | null)?.name;
    const d = firstDifference(expected[i], actual[i], `${path}[${typeof name === 'string' ? name : i}]`);
    if (d !== undefined) return d;
  }
  return undefined;
}

function objectDifference(e: Obj, actual: unknown, path: string): string | undefined {
  if (!isObject(actual)) return `${path} is ${short(actual)}, the injector writes an object`;
  for (const key of Object.keys(e)) {
    const d = (BY_VALUE.get(key) ?? firstDifference)(e[key], actual[key], `${path}.${key}`);
    if (d !== undefined) return d;
  }
  const extra = Object.keys(actual).find((key) => !Object.hasOwn(e, key) && !isDefaulted(key, actual[key]));
  return extra === undefined ? undefined : `${path}.${extra} is set (${short(actual[extra])}), which the injector never writes`;
}

/** The first place `actual` differs from what the injector writes (`expected`), or undefined. */
export function firstDifference(expected: unknown, actual: unknown, path: string): string | undefined {
  if (Array.isArray(expected)) return arrayDifference(expected, actual, path);
  if (isObject(expected)) return objectDifference(expected, actual, path);
  return expected === actual ? undefined : `${path} is ${short(actual)}, the injector writes ${short(expected)}`;
}
