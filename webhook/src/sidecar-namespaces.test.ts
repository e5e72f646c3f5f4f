// Opt-in without surprises: an agent pod whose sidecar would have no RBAC or operator CA (its
// namespace or service account is not in the chart's sidecar.rbac.namespaces) is refused with the
// exact helm upgrade that grants it, which keeps the other entries as they are.
import { describe, expect, it } from '@jest/globals';
import { examplePod, examplePolicy, OPTED_IN, TEST_INJECTOR } from '../test/fixtures.ts';
import { decideInjection } from './inject.ts';
import { missingSidecarAccess, optInRefusal, parseSidecarNamespaces, upgradeCommand, type SidecarNamespaces } from './sidecar-namespaces.ts';

const listed: SidecarNamespaces = {
  entries: [{ namespace: 'lgpd-orders', serviceAccounts: ['support-agent'], create: true }, { namespace: 'batch', serviceAccounts: [] }],
  release: 'guarita', releaseNamespace: 'guarita-system', chart: 'charts/guarita',
};

describe('parseSidecarNamespaces', () => {
  it('reads the list the chart renders (null: none)', () => {
    expect(parseSidecarNamespaces('[{"create":true,"namespace":"lgpd-orders","serviceAccounts":["support-agent"]}]')).toEqual({ entries: [{ create: true, namespace: 'lgpd-orders', serviceAccounts: ['support-agent'] }] });
    expect(parseSidecarNamespaces('null')).toEqual({ entries: [] });
    expect(parseSidecarNamespaces('[]')).toEqual({ entries: [] });
  });

  it.each([
    ['not JSON', '[{', 'must be a JSON list like'],
    ['an object', '{"namespace":"a"}', 'must be a JSON list of'],
    ['an entry without namespace', '[{"serviceAccounts":["a"]}]', 'entry 0 must be'],
    ['a bad name', '[{"namespace":"a"},{"namespace":"Bad_Name"}]', 'entry 1 must be'],
    ['a bad service account', '[{"namespace":"a","serviceAccounts":[3]}]', 'entry 0 must be'],
  ])('refuses %s, saying what it expects', (_what, text, message) => {
    expect(parseSidecarNamespaces(text)).toEqual({ problem: expect.stringContaining(message) });
  });
});

describe('missingSidecarAccess', () => {
  it('accepts listed service accounts, and every one where the entry lists none', () => {
    expect(missingSidecarAccess(listed, 'lgpd-orders', 'support-agent')).toBeUndefined();
    expect(missingSidecarAccess(listed, 'batch', 'default')).toBeUndefined();
    expect(missingSidecarAccess(listed, 'batch', 'anything')).toBeUndefined();
  });

  it('refuses a namespace the chart does not know, with the upgrade adding it for that service account only', () => {
    const message = missingSidecarAccess(listed, 'reports', 'nightly') ?? '';
    expect(message).toContain('namespace reports is opted in (guarita.io/injection=enabled) but Guarita\'s sidecar has no RBAC and no operator CA there');
    expect(message).toContain(`helm upgrade guarita charts/guarita -n guarita-system --reuse-values --set-json 'sidecar.rbac.namespaces=[{"namespace":"lgpd-orders","serviceAccounts":["support-agent"],"create":true},{"namespace":"batch","serviceAccounts":[]},{"namespace":"reports","serviceAccounts":["nightly"]}]'`);
    expect(message).toContain('kubectl label namespace reports guarita.io/injection-');
  });

  it('refuses a service account the entry does not list, adding it to that entry', () => {
    const message = missingSidecarAccess(listed, 'lgpd-orders', 'default') ?? '';
    expect(message).toContain('service account default is not among the sidecar\'s service accounts of namespace lgpd-orders (sidecar.rbac.namespaces: support-agent)');
    expect(message).toContain('"namespace":"lgpd-orders","serviceAccounts":["support-agent","default"],"create":true}');
  });

  it('quotes the list for a POSIX shell', () => {
    expect(upgradeCommand({ ...listed, entries: [] }, 'x', 'y')).toBe(`helm upgrade guarita charts/guarita -n guarita-system --reuse-values --set-json 'sidecar.rbac.namespaces=[{"namespace":"x","serviceAccounts":["y"]}]'`);
  });
});

describe('optInRefusal', () => {
  it('refuses to opt in a namespace the chart does not list (the webhook may list pods only in listed ones), with the helm upgrade that adds it', () => {
    const refusal = optInRefusal(listed, 'team-a') ?? '';
    expect(refusal).toContain('namespace team-a is not in the chart\'s sidecar.rbac.namespaces: the webhook may list pods');
    expect(/^\s*(helm upgrade .*)$/m.exec(refusal)?.[1]).toBe(`helm upgrade guarita charts/guarita -n guarita-system --reuse-values --set-json 'sidecar.rbac.namespaces=[{"namespace":"lgpd-orders","serviceAccounts":["support-agent"],"create":true},{"namespace":"batch","serviceAccounts":[]},{"namespace":"team-a"}]'`);
    expect(optInRefusal(listed, 'lgpd-orders')).toBeUndefined();
    expect(optInRefusal(listed, 'batch')).toBeUndefined();
  });
});

describe('the injector with the chart\'s list', () => {
  const policy = examplePolicy('accesspolicy.yaml');
  const decide = (namespace: string, serviceAccountName?: string): ReturnType<typeof decideInjection> => {
    const pod = examplePod(namespace);
    if (serviceAccountName !== undefined) pod.spec.serviceAccountName = serviceAccountName;
    return decideInjection({ pod, namespace: { name: namespace, labels: OPTED_IN }, policies: [{ ...policy, metadata: { ...policy.metadata, namespace } }], config: { ...TEST_INJECTOR, sidecarNamespaces: listed } });
  };

  it('injects the listed service account', () => {
    expect(decide('lgpd-orders', 'support-agent').action).toBe('inject');
  });

  it('refuses the default service account of a listed namespace (the pod names none)', () => {
    expect(decide('lgpd-orders')).toEqual({ action: 'reject', message: expect.stringContaining('guarita cannot inject this pod: service account default is not among') });
  });

  it('refuses an opted-in namespace the chart does not know', () => {
    expect(decide('elsewhere', 'support-agent')).toEqual({ action: 'reject', message: expect.stringContaining('namespace elsewhere is opted in') });
  });

  it('does not check without the list (installs outside the chart)', () => {
    const pod = examplePod('elsewhere');
    expect(decideInjection({ pod, namespace: { name: 'elsewhere', labels: OPTED_IN }, policies: [{ ...policy, metadata: { ...policy.metadata, namespace: 'elsewhere' } }], config: TEST_INJECTOR }).action).toBe('inject');
  });
});
