// The comparison behind "the genuine proxy": exact, apiserver defaults aside, and quantities by
// value (round 8, finding 1: they were skipped, so a forged proxy picked its own spool sizeLimit
// and resources). Every spelling the apiserver writes back must pass; every other value, extra
// entry or unreadable quantity must be refused with the field's path.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { loadConfig } from './config.ts';
import { firstDifference } from './injector-difference.ts';
import { sidecarContainer, sidecarVolumes, type ResourceRequirements } from './sidecar.ts';
import { TEST_SIDECAR } from '../test/fixtures.ts';

const INJECTED: ResourceRequirements = { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } };

function resources(actual: unknown, expected: ResourceRequirements = INJECTED): string | undefined {
  return firstDifference({ resources: expected }, { resources: actual }, 'guarita-proxy');
}

describe('firstDifference: exact fields', () => {
  it('reports the first difference with a path', () => {
    expect(firstDifference({ a: [1, { b: 'x' }] }, { a: [1, { b: 'y' }] }, 'c')).toBe('c.a[1].b is "y", the injector writes "x"');
    expect(firstDifference({ a: 1 }, { a: 1, terminationMessagePath: '/dev/termination-log' }, 'c')).toBeUndefined();
    expect(firstDifference({ a: 1 }, { a: 1, terminationMessagePath: '/spool/x' }, 'c')).toBe('c.terminationMessagePath is set ("/spool/x"), which the injector never writes');
  });

  it('does not take inherited names for defaults or compared fields', () => {
    expect(firstDifference({ a: 1 }, { a: 1, constructor: 'x' }, 'c')).toBe('c.constructor is set ("x"), which the injector never writes');
    expect(firstDifference({ a: 1 }, { a: 1, toString: 'x' }, 'c')).toBe('c.toString is set ("x"), which the injector never writes');
  });
});

describe('firstDifference: the proxy\'s resources, by value', () => {
  it.each([
    ['as written', INJECTED],
    ['respelled (canonical or not)', { requests: { cpu: '0.05', memory: '67108864' }, limits: { memory: '0.25Gi' } }],
    ['with exponents and fractions', { requests: { cpu: '5e-2', memory: '65536Ki' }, limits: { memory: '268435456e0' } }],
    ['with the keys in another order', { limits: { memory: '256Mi' }, requests: { memory: '64Mi', cpu: '50m' } }],
  ])('accepts the injector\'s values %s', (_name, actual) => {
    expect(resources(actual)).toBeUndefined();
  });

  it('accepts the requests the apiserver defaults from limits (containers and init containers), by value', () => {
    const limitsOnly: ResourceRequirements = { limits: { cpu: '500m', memory: '256Mi' } };
    expect(resources({ limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '500m', memory: '256Mi' } }, limitsOnly)).toBeUndefined();
    expect(resources({ limits: { cpu: '0.5', memory: '268435456' }, requests: { cpu: '500m', memory: '256Mi' } }, limitsOnly)).toBeUndefined();
    expect(resources({ limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '500m' } }, { requests: {}, limits: { cpu: '500m', memory: '256Mi' } })).toBeUndefined();
    // The chart's default: a memory request of its own, no CPU limit, so nothing is defaulted.
    expect(resources({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } })).toBeUndefined();
    // No resources at all: nothing to default.
    expect(resources({}, {})).toBeUndefined();
    expect(resources(undefined, {})).toBeUndefined();
  });

  // Round 8b: judged by what each entry decides. Requests only place the pod, CPU and memory
  // limits bound only this proxy's own availability, the ephemeral-storage limit is judged for
  // the whole pod (spool-storage.ts): mutators that raise them (GKE Autopilot, Kyverno, LimitRange
  // defaults, VPA) keep working, whatever value, spelling, addition or removal.
  it.each([
    ['a lower memory limit', { ...INJECTED, limits: { memory: '8Mi' } }],
    ['a raised memory limit', { ...INJECTED, limits: { memory: '1Gi' } }],
    ['the memory limit one byte off, or decimal', { ...INJECTED, limits: { memory: '256M' } }],
    ['a CPU limit added (a LimitRange default)', { ...INJECTED, limits: { memory: '256Mi', cpu: '1m' } }],
    ['a starved CPU request', { ...INJECTED, requests: { cpu: '1m', memory: '64Mi' } }],
    ['raised requests (GKE Autopilot)', { requests: { cpu: '250m', memory: '512Mi', 'ephemeral-storage': '1Gi' }, limits: { memory: '512Mi' } }],
    ['an ephemeral-storage request added (a Kyverno policy)', { ...INJECTED, requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '1Mi' } }],
    ['an ephemeral-storage limit (judged for the pod, not here)', { ...INJECTED, limits: { memory: '256Mi', 'ephemeral-storage': '1Mi' } }],
    ['a request missing', { ...INJECTED, requests: { memory: '64Mi' } }],
    ['the limits missing', { requests: INJECTED.requests }],
    ['no resources at all', {}],
    ['resources absent', undefined],
    ['unreadable values of those entries (the apiserver refuses them before us)', { requests: { cpu: 'x' }, limits: { memory: '256 Mi', cpu: 5 } }],
  ])('admits %s', (_name, actual) => {
    expect(resources(actual)).toBeUndefined();
  });

  const FIX = '(the proxy\'s resources are the webhook\'s GUARITA_SIDECAR_RESOURCES (chart value sidecar.resources)';
  // Every other resource name, in requests or limits, hands the proxy devices or memory the
  // injector did not give it; names are exact (the apiserver's are case-sensitive).
  const OTHER_NAMES = ['nvidia.com/gpu', 'example.com/device', 'hugepages-2Mi', 'hugepages-1Gi', 'CPU', 'Memory', 'ephemeral_storage', 'storage', 'pods', 'cpu ', 'requests.cpu', 'limits.memory', '__proto__', 'constructor'];
  it.each(OTHER_NAMES.flatMap((name) => [['requests', name], ['limits', name]]))('refuses %s.%s', (list, name) => {
    const actual = { requests: { ...INJECTED.requests }, limits: { ...INJECTED.limits } } as Record<string, Record<string, string>>;
    Object.defineProperty(actual[list], name, { value: '1', enumerable: true });
    expect(resources(actual)).toContain(`guarita-proxy.resources.${list}.${name} is set ("1"), which the injector never writes`);
    expect(resources(actual)).toContain(FIX);
  });

  it.each([
    ['DRA claims', { ...INJECTED, claims: [{ name: 'gpu' }] }, 'guarita-proxy.resources.claims is set ([{"name":"gpu"}]), which the injector never writes'],
    ['empty DRA claims', { ...INJECTED, claims: [] }, 'guarita-proxy.resources.claims is set ([])'],
    ['an unknown field', { ...INJECTED, extra: {} }, 'guarita-proxy.resources.extra is set ({})'],
    ['a list instead of a map', { ...INJECTED, limits: ['256Mi'] }, 'guarita-proxy.resources.limits is ["256Mi"], the injector writes {"memory":"256Mi"}'],
    ['requests that are not a map', { ...INJECTED, requests: 'big' }, 'guarita-proxy.resources.requests is "big"'],
    ['resources that are not an object', 'big', 'guarita-proxy.resources is "big", the injector writes an object'],
  ])('refuses %s', (_name, actual, message) => {
    expect(resources(actual)).toContain(message);
    expect(resources(actual)).toContain(FIX);
  });

  it('names the fix for entries the injector never writes (a LimitRange or a mutating policy adds them after it)', () => {
    expect(resources({ ...INJECTED, limits: { memory: '256Mi', 'nvidia.com/gpu': '1' } })).toContain('which the injector never writes (the proxy\'s resources are the webhook\'s GUARITA_SIDECAR_RESOURCES (chart value sidecar.resources); only requests of cpu, memory and ephemeral-storage and limits of cpu, memory and ephemeral-storage may be added to it (by a LimitRange or a mutating policy): remove the entry from the mutator, or set it in sidecar.resources)');
  });

  it('compares by value the other resources the injector writes, and accepts their requests defaulted from its limits', () => {
    const gpu: ResourceRequirements = { requests: { cpu: '50m' }, limits: { memory: '256Mi', 'example.com/device': '1' } };
    expect(resources({ requests: { cpu: '50m', 'example.com/device': '1' }, limits: { memory: '256Mi', 'example.com/device': '1' } }, gpu)).toBeUndefined();
    expect(resources({ requests: { cpu: '50m' }, limits: { memory: '256Mi', 'example.com/device': '1000m' } }, gpu)).toBeUndefined();
    expect(resources({ requests: { cpu: '50m' }, limits: { memory: '256Mi', 'example.com/device': '2' } }, gpu)).toContain('guarita-proxy.resources.limits.example.com/device is "2", the injector writes "1"');
    expect(resources({ requests: { cpu: '50m' }, limits: { memory: '256Mi' } }, gpu)).toContain('guarita-proxy.resources.limits.example.com/device is nothing');
    // A request of it other than the limit is no apiserver default.
    expect(resources({ requests: { cpu: '50m', 'example.com/device': '2' }, limits: { memory: '256Mi', 'example.com/device': '1' } }, gpu)).toContain('requests.example.com/device is set ("2")');
  });
});

describe('firstDifference: the spool sizeLimit, by value', () => {
  const spool = (sizeLimit: unknown): string | undefined => firstDifference({ name: 'guarita-spool', emptyDir: { sizeLimit: '256Mi' } }, { name: 'guarita-spool', emptyDir: { sizeLimit } }, 'volume guarita-spool');

  it.each(['256Mi', '268435456', '0.25Gi', '262144Ki', '268435456000m', '2.68435456e8'])('accepts %s', (v) => {
    expect(spool(v)).toBeUndefined();
  });

  it.each([['4Mi'], ['256M'], ['255Mi'], ['257Mi'], ['1Ti'], ['256mi'], [''], [undefined], [256]])('refuses %j', (v) => {
    expect(spool(v)).toMatch(/^volume guarita-spool\.emptyDir\.sizeLimit is .*, the injector writes "256Mi" \(the spool's sizeLimit is the webhook's GUARITA_SIDECAR_SPOOL_SIZE_LIMIT/);
  });

  it('refuses a sizeLimit where the injector writes none, and another medium', () => {
    const none = firstDifference({ name: 'guarita-spool', emptyDir: {} }, { name: 'guarita-spool', emptyDir: { sizeLimit: '4Mi' } }, 'volume guarita-spool');
    expect(none).toBe('volume guarita-spool.emptyDir.sizeLimit is set ("4Mi"), which the injector never writes');
    const memory = firstDifference({ name: 'guarita-spool', emptyDir: { sizeLimit: '256Mi' } }, { name: 'guarita-spool', emptyDir: { sizeLimit: '256Mi', medium: 'Memory' } }, 'volume guarita-spool');
    expect(memory).toBe('volume guarita-spool.emptyDir.medium is set ("Memory"), which the injector never writes');
  });
});

describe('the chart\'s defaults pass the comparison', () => {
  const values = parse(readFileSync(new URL('../../charts/guarita/values.yaml', import.meta.url), 'utf8')) as { sidecar: { resources: ResourceRequirements; spoolSizeLimit: string } };
  // What the chart's webhook Deployment passes (templates/webhook/deployment.yaml).
  const config = loadConfig([], {
    GUARITA_NAMESPACE: 'guarita-system', GUARITA_SIDECAR_IMAGE: TEST_SIDECAR.image, GUARITA_WEBHOOK_CLIENT_CA_FILE: '/ca.crt',
    GUARITA_SIDECAR_RESOURCES: JSON.stringify(values.sidecar.resources), GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: values.sidecar.spoolSizeLimit,
  }).injector.sidecar;

  it('as the apiserver stores them (canonical forms, requests defaulted from limits)', () => {
    const container = sidecarContainer([], config);
    // What the harness apiserver stores for the chart's values (webhook/test/round8-attacks.int.test.ts checks it).
    const stored = { ...container, resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } } };
    expect(firstDifference(container, stored, 'guarita-proxy')).toBeUndefined();
    const spool = sidecarVolumes([], config).find((v) => v.name === 'guarita-spool')!;
    expect(firstDifference(spool, { name: 'guarita-spool', emptyDir: { sizeLimit: '256Mi' } }, 'volume guarita-spool')).toBeUndefined();
    expect(firstDifference(spool, { name: 'guarita-spool', emptyDir: { sizeLimit: '268435456' } }, 'volume guarita-spool')).toBeUndefined();
  });

  it('and every value in it is a quantity the comparison reads (else every injected pod would be refused)', () => {
    const quantities = [...Object.values(values.sidecar.resources.requests ?? {}), ...Object.values(values.sidecar.resources.limits ?? {}), values.sidecar.spoolSizeLimit];
    expect(quantities.length).toBeGreaterThan(0);
    for (const q of quantities) expect(firstDifference({ sizeLimit: q }, { sizeLimit: q }, 'q')).toBeUndefined();
  });
});
