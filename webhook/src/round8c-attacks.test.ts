// Round 8c review of the round 8b fixes (6e86efd, d80c4b8): the pure half of findings E, F and H
// (the integration half, through kubectl and the apiserver, is
// webhook/test/round8c-attacks.int.test.ts; report docs/security-model.md). Each test
// states what SHOULD happen; the "finding" tests failed on the code under review and pass with the
// round 8c fixes (spool-storage.ts, configurations.ts; their own tests cover the other spellings).
import { describe, expect, it } from '@jest/globals';
import { parseQuantity } from '../../core/kube/quantity.ts';
import { loadConfig } from './config.ts';
import { validatingWebhookConfiguration } from './configurations.ts';
import { decideInjection } from './inject.ts';
import type { Pod } from './kube-types.ts';
import { examplePod, examplePolicy, OPTED_IN, TEST_INJECTOR } from '../test/fixtures.ts';

const policies = [examplePolicy('accesspolicy.yaml')];
const base = { GUARITA_NAMESPACE: 'guarita-system', GUARITA_SIDECAR_IMAGE: 'ghcr.io/guarita/guarita:0.1.0', GUARITA_WEBHOOK_CLIENT_CA_FILE: '/var/run/guarita/client-ca/ca.crt' };

function bytes(q: unknown): number {
  const v = typeof q === 'string' ? parseQuantity(q) : undefined;
  return v === undefined ? Number.NaN : Number(v.numerator / v.denominator);
}

interface Webhook { name: string; rules: { resources: string[] }[]; matchConditions?: { expression: string }[] }

function webhooks(): Webhook[] {
  return (validatingWebhookConfiguration({ name: 'guarita-webhook', namespace: 'guarita-system', endpoint: { url: 'https://127.0.0.1:1' } }) as { webhooks: Webhook[] }).webhooks;
}

describe('F: a sidecar.resources ephemeral-storage request above sizeLimit + 64Mi, and no limit', () => {
  const env = { ...base, GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: '256Mi', GUARITA_SIDECAR_RESOURCES: JSON.stringify({ requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '512Mi' }, limits: { memory: '256Mi' } }) };

  it('finding: the webhook starts and injects a proxy whose limit is at least its request (else the apiserver refuses every pod with a limited agent)', () => {
    const config = loadConfig([], env);
    const pod: Pod = examplePod();
    pod.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': '1Gi' } };
    const d = decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: { ...TEST_INJECTOR, sidecar: { ...TEST_INJECTOR.sidecar, ...config.injector.sidecar } } });
    if (d.action !== 'inject') throw new Error(d.action);
    const proxy = d.pod.spec.initContainers?.find((c) => c.name === 'guarita-proxy') as unknown as { resources: { requests: Record<string, string>; limits: Record<string, string> } };
    const request = bytes(proxy.resources.requests['ephemeral-storage']);
    const limit = bytes(proxy.resources.limits['ephemeral-storage']);
    expect({ request: proxy.resources.requests['ephemeral-storage'], limit: proxy.resources.limits['ephemeral-storage'], valid: request <= limit }).toEqual({ request: '512Mi', limit: '512Mi', valid: true });
  });
});

describe('E: a Binding\'s labels (copied into the pod by the apiserver from 1.35)', () => {
  it('finding: binding.pods.guarita.io is called for a Binding carrying labels (its CEL reads labels too, topology labels aside)', () => {
    const binding = webhooks().find((w) => w.name === 'binding.pods.guarita.io');
    expect(binding?.matchConditions?.map((c) => c.expression).join(' ')).toContain('object.metadata.labels');
  });
});

describe('H: namespace labels written through namespaces/status and namespaces/finalize', () => {
  it('finding: optin.namespaces.guarita.io covers the namespace subresources that keep the request\'s labels', () => {
    const optIn = webhooks().find((w) => w.name === 'optin.namespaces.guarita.io');
    const resources = optIn?.rules.flatMap((r) => r.resources) ?? [];
    expect(resources).toEqual(expect.arrayContaining(['namespaces', 'namespaces/status', 'namespaces/finalize']));
  });
});
