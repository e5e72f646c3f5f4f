// Where a container or volume a pod carries differs from what the injector writes
// ("guarita-proxy.image is X, the injector writes Y"), for the pod guard's "genuine proxy" test and
// its frozen-proxy rule. Every field is compared exactly, except what the apiserver legitimately
// changes between the injector and the validating webhook:
// - defaults it fills in (DEFAULTED);
// - quantities (`resources`, `sizeLimit`), which it re-spells in canonical form ("0.5" → "500m",
//   "268435456" → "256Mi"): compared BY VALUE (core/kube/quantity.ts), never skipped. They carry
//   security decisions: the spool's sizeLimit is what the kubelet evicts the pod at, losing its
//   unshipped records, so it must be the one the proxy's GUARITA_SPOOL_MAX_BYTES budget was
//   computed from; the proxy's extended resources and claims would hand it devices;
// - a container request the injector did not write, equal to the limit it wrote for that
//   resource: the apiserver defaults a missing request to its limit (containers and init
//   containers alike);
// - resource entries that decide nothing this comparison guards (NOT_COMPARED: requests, CPU
//   and memory limits; the ephemeral-storage limit is judged for the whole pod, spool-storage.ts).
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
 * The proxy's resources are judged by what each entry decides, not field by field, so that
 * mutators that raise requests and limits (GKE Autopilot, Kyverno "add ephemeral-storage
 * requests" policies, a LimitRange's defaults, which the apiserver's LimitRanger adds after the
 * injector on reinvocation) keep working. Entries not compared, whatever their value, added,
 * changed or removed:
 * - requests of cpu, memory and ephemeral-storage: they only place the pod on a node;
 * - limits of cpu and memory: they bound only this proxy's own CPU time and memory, so the worst a
 *   pod's author gets is a slow or restarting proxy for their own agents (the spool is an emptyDir
 *   a restart keeps; answered records are written before their answers). Pod-level
 *   spec.resources bound the same two, and are admitted for the same reason;
 * - limits of ephemeral-storage: judged for the whole pod by spool-storage.ts (it must hold the
 *   spool once any container has one; the kubelet evicts the pod past the sum of the limits).
 * Every other entry the injector writes is compared by value, and any other resource (extended
 * resources such as nvidia.com/gpu, hugepages-*) and `claims` are refused: they hand the proxy
 * devices or memory the injector did not give it.
 */
const NOT_COMPARED = {
  requests: new Set(['cpu', 'memory', 'ephemeral-storage']),
  limits: new Set(['cpu', 'memory', 'ephemeral-storage']),
} as const;
/** What to do about an entry the injector never writes (a mutator's or LimitRange default included). */
const EXTRA_FIX = `${RESOURCES_FIX}; only requests of cpu, memory and ephemeral-storage and limits of cpu, memory and ephemeral-storage may be added to it (by a LimitRange or a mutating policy): remove the entry from the mutator, or set it in sidecar.resources`;
const SIZE_LIMIT_FIX = 'the spool\'s sizeLimit is the webhook\'s GUARITA_SIDECAR_SPOOL_SIZE_LIMIT (chart value sidecar.spoolSizeLimit), from which the proxy\'s GUARITA_SPOOL_MAX_BYTES is computed';

/** One quantity: the same value, whatever the spelling; an unreadable one is different. */
function quantityDifference(expected: unknown, actual: unknown, path: string, fix: string): string | undefined {
  return sameQuantity(expected, actual) ? undefined : `${path} is ${short(actual)}, the injector writes ${short(expected)} (${fix})`;
}

/**
 * A ResourceList (`requests` or `limits`): the entries in `free` are not compared; every other
 * quantity the injector writes must be present with the same value, and any other entry is refused
 * unless `defaulted` accepts it.
 */
function listDifference(expected: unknown, actual: unknown, path: string, free: ReadonlySet<string>, defaulted: (name: string, value: unknown) => boolean): string | undefined {
  const e = isObject(expected) ? expected : {};
  if (actual !== undefined && !isObject(actual)) return `${path} is ${short(actual)}, the injector writes ${short(e)} (${RESOURCES_FIX})`;
  const a = actual ?? {};
  for (const name of Object.keys(e).filter((n) => !free.has(n))) {
    const d = quantityDifference(e[name], a[name], `${path}.${name}`, RESOURCES_FIX);
    if (d !== undefined) return d;
  }
  const extra = Object.keys(a).find((name) => !free.has(name) && !Object.hasOwn(e, name) && !defaulted(name, a[name]));
  return extra === undefined ? undefined : `${path}.${extra} is set (${short(a[extra])}), which the injector never writes (${EXTRA_FIX})`;
}

/**
 * A container's `resources` (NOT_COMPARED says which entries decide nothing here). A request the
 * injector leaves out may carry the apiserver's default, the limit the injector wrote for that
 * resource; nothing else may be added (another resource; `claims`: DRA claims hand the proxy a
 * device the injector did not give it).
 */
function resourcesDifference(expected: unknown, actual: unknown, path: string): string | undefined {
  const e = isObject(expected) ? expected : {};
  if (actual !== undefined && !isObject(actual)) return `${path} is ${short(actual)}, the injector writes an object (${RESOURCES_FIX})`;
  const a = actual ?? {};
  const limits = isObject(e.limits) ? e.limits : {};
  const requestIsLimit = (name: string, value: unknown): boolean => Object.hasOwn(limits, name) && sameQuantity(value, limits[name]);
  const d = listDifference(e.limits, a.limits, `${path}.limits`, NOT_COMPARED.limits, () => false)
    ?? listDifference(e.requests, a.requests, `${path}.requests`, NOT_COMPARED.requests, requestIsLimit);
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
