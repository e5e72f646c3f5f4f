// The matchConditions of the webhooks that judge writes of pod and namespace metadata through
// subresources, evaluated with a CEL interpreter: which writes call the webhook (the apiserver sends
// nothing else). webhook/test/round8b-attacks.int and round8c-attacks.int check the same on the real
// apiserver; the chart's copy is compared with these objects in charts/guarita/tests/chart.test.ts.
import { describe, expect, it } from '@jest/globals';
import * as cel from '@marcbachmann/cel-js';
import { validatingWebhookConfiguration } from './configurations.ts';

interface Webhook { name: string; rules: { operations: string[]; resources: string[] }[]; matchConditions?: { name: string; expression: string }[] }

function webhook(name: string): Webhook {
  const all = (validatingWebhookConfiguration({ name: 'guarita-webhook', namespace: 'guarita-system', endpoint: { url: 'https://127.0.0.1:1' } }) as { webhooks: Webhook[] }).webhooks;
  const found = all.find((w) => w.name === name);
  if (found === undefined) throw new Error(name);
  return found;
}

/** Whether the apiserver calls the webhook: every matchCondition true (they are AND-ed). */
function calls(w: Webhook, object: unknown, oldObject: unknown = null): boolean {
  return (w.matchConditions ?? []).every((c) => cel.evaluate(c.expression, { object, oldObject }) === true);
}

describe('binding.pods.guarita.io (a Binding\'s annotations merge into the pod; from 1.35 its labels are written over the pod\'s)', () => {
  const w = webhook('binding.pods.guarita.io');
  const binding = (metadata: Record<string, unknown>): unknown => ({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p', ...metadata }, target: { kind: 'Node', name: 'n1' } });
  const topology = { 'topology.kubernetes.io/zone': 'z1', 'topology.kubernetes.io/region': 'r1', 'topology.k8s.io/zone': 'z1', 'topology.k8s.io/region': 'r1' };

  it('is called for a Binding with any label other than the topology labels, or a guarita.io/ annotation', () => {
    for (const key of ['app', 'guarita.io/inject', 'pod-template-hash', 'Topology.kubernetes.io/zone', 'topology.kubernetes.io/zone2', 'topology.kubernetes.io/hostname', 'kubernetes.io/hostname', 'topology.k8s.io/rack', 'example.com/topology.kubernetes.io/zone']) {
      expect(calls(w, binding({ labels: { [key]: '' } }))).toBe(true);
      expect(calls(w, binding({ labels: { ...topology, [key]: 'x' } }))).toBe(true);
    }
    for (const key of ['guarita.io/inject', 'guarita.io/status', 'guarita.io/']) {
      expect(calls(w, binding({ annotations: { [key]: 'true' } }))).toBe(true);
      expect(calls(w, binding({ labels: topology, annotations: { 'example.com/a': 'b', [key]: 'true' } }))).toBe(true);
    }
  });

  it('is not called for what the scheduler sends with what the apiserver adds', () => {
    for (const metadata of [{}, { labels: {} }, { annotations: {} }, { labels: topology }, { labels: { 'topology.kubernetes.io/zone': 'z1' } }, { labels: { 'topology.k8s.io/region': 'r1' }, annotations: { 'example.com/guarita.io': 'x', 'guarita.iox/inject': 'true', 'Guarita.io/inject': 'true' } }]) {
      expect(calls(w, binding(metadata))).toBe(false);
    }
  });

  it('has one condition (matchConditions are AND-ed: two would call it only for Bindings with both)', () => {
    expect(w.matchConditions).toHaveLength(1);
  });
});

describe('optin.namespaces.guarita.io (the label written through the namespace, namespaces/status or namespaces/finalize)', () => {
  const w = webhook('optin.namespaces.guarita.io');
  const ns = (labels?: Record<string, string>): unknown => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n', ...(labels === undefined ? {} : { labels }) } });
  const on = { 'guarita.io/injection': 'enabled' };

  it('covers UPDATE of the namespace and of both subresources that keep the request\'s labels', () => {
    expect(w.rules).toEqual([expect.objectContaining({ operations: ['UPDATE'], resources: ['namespaces', 'namespaces/status', 'namespaces/finalize'] })]);
  });

  it('selects namespaces by name only: for the subresources the apiserver matches the selector against the stored namespace, not yet opted in', () => {
    expect((w as unknown as { namespaceSelector: Record<string, unknown> }).namespaceSelector).toEqual({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'guarita-system'] }] });
  });

  it('is called when the new labels turn it on, and only then (other namespaces\' writes, and the namespace controller\'s finalize and status writes, never call it)', () => {
    expect(calls(w, ns(on), ns())).toBe(true);
    expect(calls(w, ns({ ...on, a: 'b' }), ns({ 'guarita.io/injection': 'disabled' }))).toBe(true);
    expect(calls(w, ns(on), ns(on))).toBe(false);
    expect(calls(w, ns(), ns(on))).toBe(false);
    expect(calls(w, ns(), ns())).toBe(false);
    expect(calls(w, ns({ a: 'b' }), ns())).toBe(false);
    for (const value of ['Enabled', 'true', 'enabled ', '']) expect(calls(w, ns({ 'guarita.io/injection': value }), ns())).toBe(false);
  });

  it('with scope labels, only for namespaces that carry them in the new labels', () => {
    const all = (validatingWebhookConfiguration({ name: 'g', namespace: 'guarita-system', endpoint: { url: 'https://127.0.0.1:1' }, scopeLabels: { 'guarita.io/test-scope': 'abc' } }) as { webhooks: Webhook[] }).webhooks;
    const scoped = all.find((x) => x.name === 'optin.namespaces.guarita.io')!;
    expect(calls(scoped, ns({ ...on, 'guarita.io/test-scope': 'abc' }), ns({ 'guarita.io/test-scope': 'abc' }))).toBe(true);
    expect(calls(scoped, ns({ ...on, 'guarita.io/test-scope': 'abc' }), ns())).toBe(true);
    expect(calls(scoped, ns(on), ns())).toBe(false);
    expect(calls(scoped, ns({ ...on, 'guarita.io/test-scope': 'other' }), ns())).toBe(false);
  });
});
