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

  const FIX = '(the proxy\'s resources are the webhook\'s GUARITA_SIDECAR_RESOURCES (chart value sidecar.resources)';
  it.each([
    ['a lower memory limit (OOM under load)', { ...INJECTED, limits: { memory: '8Mi' } }, 'guarita-proxy.resources.limits.memory is "8Mi", the injector writes "256Mi"'],
    ['the limit one byte off', { ...INJECTED, limits: { memory: '268435455' } }, 'guarita-proxy.resources.limits.memory is "268435455", the injector writes "256Mi"'],
    ['decimal instead of binary', { ...INJECTED, limits: { memory: '256M' } }, 'guarita-proxy.resources.limits.memory is "256M"'],
    ['a starved CPU request', { ...INJECTED, requests: { cpu: '1m', memory: '64Mi' } }, 'guarita-proxy.resources.requests.cpu is "1m", the injector writes "50m"'],
    ['a request missing', { ...INJECTED, requests: { memory: '64Mi' } }, 'guarita-proxy.resources.requests.cpu is nothing, the injector writes "50m"'],
    ['the limits missing', { requests: INJECTED.requests }, 'guarita-proxy.resources.limits.memory is nothing, the injector writes "256Mi"'],
    ['no resources at all', {}, 'guarita-proxy.resources.limits.memory is nothing'],
    ['an added resource request', { ...INJECTED, requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '1Mi' } }, 'guarita-proxy.resources.requests.ephemeral-storage is set ("1Mi"), which the injector never writes'],
    ['an extended resource', { ...INJECTED, limits: { memory: '256Mi', 'nvidia.com/gpu': '1' }, requests: { ...INJECTED.requests, 'nvidia.com/gpu': '1' } }, 'guarita-proxy.resources.limits.nvidia.com/gpu is set ("1")'],
    ['DRA claims', { ...INJECTED, claims: [{ name: 'gpu' }] }, 'guarita-proxy.resources.claims is set ([{"name":"gpu"}]), which the injector never writes'],
    ['an unknown field', { ...INJECTED, extra: {} }, 'guarita-proxy.resources.extra is set ({})'],
    ['an unreadable quantity', { ...INJECTED, limits: { memory: '256 Mi' } }, 'guarita-proxy.resources.limits.memory is "256 Mi", the injector writes "256Mi"'],
    ['a number instead of a quantity string', { ...INJECTED, limits: { memory: 268435456 } }, 'guarita-proxy.resources.limits.memory is 268435456, the injector writes "256Mi"'],
    ['a list instead of a map', { ...INJECTED, limits: ['256Mi'] }, 'guarita-proxy.resources.limits is ["256Mi"], the injector writes {"memory":"256Mi"}'],
    ['resources that are not an object', 'big', 'guarita-proxy.resources is "big", the injector writes an object'],
  ])('refuses %s', (_name, actual, message) => {
    expect(resources(actual)).toContain(message);
    expect(resources(actual)).toContain(FIX);
  });

  it('admits CPU and memory entries the injector leaves out (a LimitRange\'s defaults; they bound only this proxy), never a change to those it writes', () => {
    expect(resources({ ...INJECTED, limits: { memory: '256Mi', cpu: '1' } })).toBeUndefined();
    expect(resources({ ...INJECTED, limits: { memory: '256Mi', cpu: '1m' }, requests: { cpu: '50m', memory: '64Mi' } })).toBeUndefined();
    const limitsOnly: ResourceRequirements = { limits: { memory: '256Mi' } };
    expect(resources({ limits: { memory: '256Mi' }, requests: { cpu: '100m', memory: '256Mi' } }, limitsOnly)).toBeUndefined();
    expect(resources({ ...INJECTED, limits: { memory: '512Mi', cpu: '1' } })).toContain('guarita-proxy.resources.limits.memory is "512Mi", the injector writes "256Mi"');
  });

  it('names the LimitRange fix for entries the injector never writes (the apiserver\'s LimitRanger adds defaults after it)', () => {
    expect(resources({ ...INJECTED, limits: { memory: '256Mi', 'ephemeral-storage': '1Gi' } })).toContain('which the injector never writes (the proxy\'s resources are the webhook\'s GUARITA_SIDECAR_RESOURCES (chart value sidecar.resources); a LimitRange default of the namespace adds the requests and limits it leaves out: set them in sidecar.resources)');
  });

  it('refuses a defaulted-looking request of another resource, and compares the requests the injector writes with its own values', () => {
    // A request for a resource the injector set no limit for is no apiserver default.
    expect(resources({ ...INJECTED, requests: { ...INJECTED.requests, 'ephemeral-storage': '256Mi' } })).toContain('requests.ephemeral-storage is set');
    // A request the injector wrote is compared with its own value, never with the limit.
    expect(resources({ ...INJECTED, requests: { cpu: '50m', memory: '256Mi' } })).toContain('guarita-proxy.resources.requests.memory is "256Mi", the injector writes "64Mi"');
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
