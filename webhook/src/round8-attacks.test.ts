// Round 8 adversarial review, the pure half (the integration half, through kubectl and the
// apiserver, is webhook/test/round8-attacks.int.test.ts). Each test states what SHOULD happen; on
// the code under review two failed (see docs/security-model.md). The classes' corpora are in
// injector-difference.test.ts, pod-guard.test.ts and core/kube/quantity.test.ts.
import { describe, expect, it } from '@jest/globals';
import { decideInjection } from './inject.ts';
import type { Pod, Volume } from './kube-types.ts';
import { podViolations, selectionViolations, updateViolations, type GuardConfig } from './pod-guard.ts';
import type { SidecarConfig } from './sidecar.ts';
import { examplePod, examplePolicy, OPTED_IN, TEST_INJECTOR, TEST_SIDECAR } from '../test/fixtures.ts';

const policies = [examplePolicy('accesspolicy.yaml')];
// The chart's default: sidecar.spoolSizeLimit 256Mi (budget 255 MiB).
const sidecar: SidecarConfig = { ...TEST_SIDECAR, spoolSizeLimit: '256Mi', spoolMaxBytes: 255 * 1024 * 1024 };
const cfg: GuardConfig = { sidecar, allowedCsiDrivers: [] };

function injected(): Pod {
  const d = decideInjection({ pod: examplePod(), namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: { ...TEST_INJECTOR, sidecar } });
  if (d.action !== 'inject') throw new Error(d.action);
  return d.pod;
}

function spool(pod: Pod): Volume {
  return pod.spec.volumes!.find((v) => v.name === 'guarita-spool')!;
}

describe('finding 1: the spool sizeLimit is a security quantity', () => {
  it('the genuine pod passes', () => {
    expect(spool(injected()).emptyDir?.sizeLimit).toBe('256Mi');
    expect(podViolations(injected(), policies, cfg)).toEqual([]);
  });

  it('refuses a genuine proxy whose spool emptyDir is smaller than its GUARITA_SPOOL_MAX_BYTES budget', () => {
    const pod = injected();
    spool(pod).emptyDir = { sizeLimit: '4Mi' };
    expect(podViolations(pod, policies, cfg).join('\n')).toContain('volume guarita-spool');
  });

  it('accepts the same limit in canonical form (what the QUANTITIES exception is for)', () => {
    const pod = injected();
    spool(pod).emptyDir = { sizeLimit: String(256 * 1024 * 1024) };
    expect(podViolations(pod, policies, cfg)).toEqual([]);
  });
});

describe('finding 2: the proxy\'s resources after admission (what pods/resize changes)', () => {
  it('updateViolations refuses the change, when it is asked (the webhook rules never route pods/resize to it)', () => {
    const before = injected();
    const after = structuredClone(before);
    after.spec.initContainers![0]!.resources = { requests: { cpu: '1m', memory: '8Mi' }, limits: { memory: '8Mi' } };
    expect(updateViolations(after, before).join('\n')).toContain('guarita-proxy cannot change after admission');
  });
});

describe('finding 3: label changes of a pod admitted without the proxy', () => {
  it('refuses an UPDATE after which a policy selects a pod that has no proxy', () => {
    const before = examplePod();
    before.metadata.labels = { app: 'support-agent', 'guarita.io/inject': 'false' };
    const after = structuredClone(before);
    after.metadata.labels = { app: 'support-agent' };
    expect(selectionViolations(after, before, policies, { namespace: 'lgpd-orders', config: { ...TEST_INJECTOR, sidecar } })).not.toEqual([]);
  });
});
