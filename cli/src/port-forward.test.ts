import { describe, expect, it } from '@jest/globals';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { DEFAULT_OPERATOR_SERVICE, parseServiceRef, targetPortOf } from './port-forward.ts';

describe('--operator-service', () => {
  it('is NAMESPACE/NAME, the chart\'s default when unset', () => {
    expect(parseServiceRef(undefined)).toEqual(DEFAULT_OPERATOR_SERVICE);
    expect(parseServiceRef(' ')).toEqual(DEFAULT_OPERATOR_SERVICE);
    expect(parseServiceRef('audit/guarita-prod-operator')).toEqual({ namespace: 'audit', name: 'guarita-prod-operator' });
  });

  it('names the field and the form when malformed', () => {
    for (const bad of ['guarita-operator', 'a/b/c', 'A/b', '/x', 'x/']) expect(() => parseServiceRef(bad)).toThrow(/--operator-service must be NAMESPACE\/NAME/);
  });
});

describe('the port to forward to', () => {
  const pod: V1Pod = { spec: { containers: [{ name: 'operator', ports: [{ name: 'metrics', containerPort: 9090 }, { name: 'https', containerPort: 8443 }] }] } };

  it('is the Service\'s https port, its named targetPort looked up in the pod', () => {
    const service: V1Service = { spec: { ports: [{ name: 'metrics', port: 9090, targetPort: 'metrics' }, { name: 'https', port: 443, targetPort: 'https' }] } };
    expect(targetPortOf(service, pod)).toBe(8443);
  });

  it('takes a numeric targetPort as it is, and the port when none is given', () => {
    expect(targetPortOf({ spec: { ports: [{ name: 'https', port: 443, targetPort: 9443 }] } }, pod)).toBe(9443);
    expect(targetPortOf({ spec: { ports: [{ port: 8443 }] } }, pod)).toBe(8443);
  });

  it('is none for a Service without ports or a name no container has', () => {
    expect(targetPortOf({ spec: { ports: [] } }, pod)).toBeUndefined();
    expect(targetPortOf({ spec: { ports: [{ name: 'https', port: 443, targetPort: 'web' }] } }, pod)).toBeUndefined();
  });
});
