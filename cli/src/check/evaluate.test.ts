// guarita check's rules on planted facts: a healthy installation passes every check; each fault
// (CRD missing, not serving this version, unserved stored version, Deployment not ready, webhook
// unreachable, certificate expired, expiring or not yet valid, Lease unheld or stale, namespace
// missing or not opted in, RBAC missing, policy invalid or not reconciled, Secret or key missing,
// a read refused) fails exactly its check, and says what to run.
import { describe, expect, it } from '@jest/globals';
import { evaluate, requiredSecretKeys, type CheckResult } from './evaluate.ts';
import { checklistJson, renderChecklist } from './render.ts';
import { admissionVerdict } from './admission.ts';
import type { ClusterFacts, PolicyFact } from './facts.ts';

const NOW = new Date('2026-12-05T12:00:00Z');
const DAY = 86_400_000;
const crd = (name: string): NonNullable<ClusterFacts['crds']['value']>[number] => ({ name, served: ['v1alpha1'], storage: 'v1alpha1', storedVersions: ['v1alpha1'], established: true });
const deployment = (component: 'operator' | 'webhook'): NonNullable<ClusterFacts['deployments']['value']>[number] => ({
  namespace: 'guarita-system', name: `guarita-${component}`, component, release: 'guarita', version: '0.1.0', image: 'ghcr.io/guarita/guarita:0.1.0',
  replicas: 1, readyReplicas: 1, updatedReplicas: 1, env: component === 'operator' ? { GUARITA_LEASE_NAME: 'guarita-operator-leader' } : {},
});
const policy: PolicyFact = {
  name: 'orders-db', generation: 2, ready: { status: 'True', reason: 'Compiled', observedGeneration: 2 },
  target: { name: 'orders-db', protocol: 'postgres', endpoint: 'db:5432', listenPort: 15432, credentialsSecretRef: { name: 'orders-db' } },
};

function healthy(): ClusterFacts {
  return {
    now: NOW, certMinRemainingMs: 7 * DAY, expectedVersion: 'v1alpha1',
    crds: { value: [crd('accesspolicies.guarita.io'), crd('approvalrequests.guarita.io')] },
    deployments: { value: [deployment('webhook'), deployment('operator')] },
    certificates: (['webhook', 'operator'] as const).map((component) => ({ component, source: `guarita-system/guarita-${component}-tls:tls.crt`, notBefore: new Date(NOW.getTime() - DAY), notAfter: new Date(NOW.getTime() + 90 * DAY) })),
    webhook: { value: { reached: true, injected: true } },
    namespace: { value: { name: 'lgpd-orders', exists: true, labels: { 'guarita.io/injection': 'enabled' }, sidecarBindings: ['guarita-sidecar'], operatorCaConfigMaps: ['guarita-operator-ca'] } },
    policies: { value: [policy] },
    secrets: [{ name: 'orders-db', keys: ['username', 'password'] }],
    leases: [{ value: { namespace: 'guarita-system', name: 'guarita-operator-leader', holder: 'guarita-operator-abc', renewTime: new Date(NOW.getTime() - 3000), leaseDurationSeconds: 15 } }],
  };
}

const failures = (f: ClusterFacts): CheckResult[] => evaluate(f).filter((r) => !r.ok);
const one = (f: ClusterFacts): CheckResult => {
  const found = failures(f);
  expect(found).toHaveLength(1);
  return found[0] as CheckResult;
};

describe('evaluate', () => {
  it('passes every check of a healthy installation', () => {
    const results = evaluate(healthy());
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results).toHaveLength(13);
  });

  it('a CRD missing: how to install it', () => {
    const f = healthy();
    f.crds = { value: [crd('approvalrequests.guarita.io')] };
    expect(one(f)).toMatchObject({ title: 'accesspolicies.guarita.io installed and serving v1alpha1', detail: 'not installed', fix: [`helm show crds oci://ghcr.io/guarita/charts/guarita --version "$(guarita --version | cut -d' ' -f2)" | kubectl apply --server-side -f -`] });
  });

  it('a CRD serving another version, or with objects stored in a version it no longer serves', () => {
    const f = healthy();
    f.crds = { value: [{ ...crd('accesspolicies.guarita.io'), served: ['v1beta1'], storage: 'v1beta1' }, crd('approvalrequests.guarita.io')] };
    expect(one(f).detail).toBe('serves v1beta1; this CLI speaks guarita.io/v1alpha1');
    f.crds = { value: [{ ...crd('accesspolicies.guarita.io'), storedVersions: ['v1alpha0', 'v1alpha1'] }, crd('approvalrequests.guarita.io')] };
    expect(one(f)).toMatchObject({ detail: expect.stringContaining('stored as v1alpha0'), fix: [expect.stringContaining('status.storedVersions')] });
    f.crds = { value: [{ ...crd('accesspolicies.guarita.io'), established: false }, crd('approvalrequests.guarita.io')] };
    expect(one(f).fix).toEqual(['kubectl describe crd accesspolicies.guarita.io']);
  });

  it('a Deployment missing or not ready', () => {
    const f = healthy();
    f.deployments = { value: [deployment('webhook')] };
    expect(failures(f).map((r) => r.title)).toEqual(['operator Deployment ready']);
    f.deployments = { value: [{ ...deployment('webhook'), replicas: 2, readyReplicas: 1, message: 'ReplicaSet has timed out progressing.' }, deployment('operator')] };
    expect(one(f)).toMatchObject({ detail: 'guarita-system/guarita-webhook 1/2 ready, version 0.1.0 (ReplicaSet has timed out progressing.)', fix: expect.arrayContaining(['kubectl -n guarita-system rollout status deploy/guarita-webhook']) });
  });

  it('the webhook unreachable, a refusal by the webhook itself (reachable), the dry run forbidden', () => {
    const f = healthy();
    f.webhook = { value: { reached: false, injected: false, message: 'Internal error occurred: failed calling webhook "pods.guarita.io": connection refused' } };
    expect(one(f)).toMatchObject({ detail: expect.stringContaining('failed calling webhook'), fix: expect.arrayContaining(['kubectl -n guarita-system get endpoints guarita-webhook (no endpoints: the webhook pods are not ready)']) });
    f.webhook = { value: { reached: true, injected: false, message: 'admission webhook "pods.guarita.io" denied the request: no AccessPolicy selects this pod' } };
    expect(failures(f)).toEqual([]);
    f.webhook = { error: '403: pods is forbidden' };
    expect(one(f).fix).toEqual([expect.stringContaining('kubectl auth can-i create pods -n lgpd-orders')]);
    delete f.webhook;
    expect(evaluate(f).some((r) => r.title.startsWith('apiserver reaches'))).toBe(false);
  });

  it('certificates expired, expiring within the margin, not yet valid, or unreadable', () => {
    const f = healthy();
    const [webhook, operator] = f.certificates;
    f.certificates = [{ ...webhook!, notAfter: new Date(NOW.getTime() - 3600_000) }, operator!];
    expect(one(f)).toMatchObject({ section: 'Certificates', detail: expect.stringMatching(/^expired: .*\(60m ago\)$/), fix: [expect.stringContaining('kubectl -n guarita-system logs deploy/guarita-webhook'), expect.stringContaining('kubectl -n guarita-system rollout restart deploy/guarita-webhook (it renews at start')] });
    f.certificates = [webhook!, { ...operator!, notAfter: new Date(NOW.getTime() + 2 * DAY) }];
    expect(one(f)).toMatchObject({ detail: expect.stringMatching(/^expiring soon: .*\(in 2d\)$/), fix: expect.arrayContaining(['kubectl -n guarita-system rollout restart deploy/guarita-operator']) });
    f.certificates = [{ ...webhook!, notBefore: new Date(NOW.getTime() + DAY) }, operator!];
    expect(one(f).detail).toMatch(/not valid before .*clock skew/);
    f.certificates = [{ component: 'webhook', source: 'guarita-system/guarita-webhook-tls:tls.crt', error: 'Secret guarita-system/guarita-webhook-tls has no tls.crt' }, operator!];
    expect(one(f).detail).toBe('Secret guarita-system/guarita-webhook-tls has no tls.crt');
  });

  it('the store Lease unheld or not renewed', () => {
    const f = healthy();
    f.leases = [{ value: { namespace: 'guarita-system', name: 'guarita-operator-leader' } }];
    expect(one(f)).toMatchObject({ detail: 'no operator holds it: recordings are not being ingested', fix: [expect.stringContaining('kubectl -n guarita-system logs deploy/guarita-operator')] });
    f.leases = [{ value: { namespace: 'guarita-system', name: 'guarita-operator-leader', holder: 'old-pod', renewTime: new Date(NOW.getTime() - 10 * 60_000), leaseDurationSeconds: 15 } }];
    expect(one(f).detail).toBe('last renewed by old-pod 10m ago: the operator stopped');
  });

  it('the namespace missing, not opted in, without sidecar RBAC or operator CA', () => {
    const f = healthy();
    f.namespace = { value: { name: 'lgpd-orders', exists: false, labels: {}, sidecarBindings: [], operatorCaConfigMaps: [] } };
    expect(failures(f).map((r) => r.fix)).toContainEqual(['kubectl create namespace lgpd-orders']);
    f.namespace = { value: { name: 'lgpd-orders', exists: true, labels: { 'guarita.io/injection': 'disabled' }, sidecarBindings: [], operatorCaConfigMaps: [] } };
    expect(failures(f)).toEqual([
      expect.objectContaining({ detail: "label is 'disabled'", fix: ['kubectl label namespace lgpd-orders guarita.io/injection=enabled --overwrite'] }),
      expect.objectContaining({ title: 'sidecar RBAC present', fix: [expect.stringContaining("helm upgrade guarita oci://ghcr.io/guarita/charts/guarita -n guarita-system --reuse-values --set 'sidecar.rbac.namespaces[N].namespace=lgpd-orders'")] }),
      expect.objectContaining({ title: 'operator CA ConfigMap present' }),
    ]);
  });

  it('a policy invalid (with its reason), not reconciled at its generation, or none at all', () => {
    const f = healthy();
    f.policies = { value: [{ ...policy, ready: { status: 'False', reason: 'MaskingInvalid', message: 'customPatterns[0].regex: invalid perl operator: (?<', observedGeneration: 2 } }] };
    expect(one(f)).toMatchObject({ title: 'AccessPolicy orders-db Ready', detail: 'MaskingInvalid: customPatterns[0].regex: invalid perl operator: (?<', fix: ['kubectl -n lgpd-orders describe accesspolicy orders-db', expect.stringContaining('guarita policy validate')] });
    f.policies = { value: [{ ...policy, generation: 3 }] };
    expect(one(f).detail).toBe('Ready reports generation 2, the policy is at 3: the operator has not reconciled the last change');
    f.policies = { value: [{ ...policy, ready: undefined }] };
    expect(one(f).detail).toMatch(/^no Ready condition/);
    f.policies = { value: [] };
    expect(one(f).title).toBe('at least one AccessPolicy');
    f.policies = { error: '403: accesspolicies.guarita.io is forbidden' };
    expect(one(f).fix).toEqual(['kubectl auth can-i list accesspolicies.guarita.io -n lgpd-orders']);
  });

  it('a Secret missing or lacking keys: the command that creates or completes it', () => {
    const f = healthy();
    f.secrets = [{ name: 'orders-db' }];
    expect(one(f).fix).toEqual(['kubectl -n lgpd-orders create secret generic orders-db --from-literal=username=... --from-literal=password=...']);
    f.secrets = [{ name: 'orders-db', keys: ['user'] }];
    expect(one(f)).toMatchObject({ detail: 'missing username, password (has user)', fix: [`kubectl -n lgpd-orders patch secret orders-db --type merge -p '{"stringData":{"username":"...","password":"..."}}'`] });
  });
});

describe('requiredSecretKeys', () => {
  const target = (over: Record<string, unknown>): PolicyFact => ({ name: 'p', target: { name: 't', endpoint: 'x', listenPort: 2000, ...over } as PolicyFact['target'] });
  it.each([
    ['postgres defaults', { protocol: 'postgres', credentialsSecretRef: { name: 's' } }, { s: ['username', 'password'] }],
    ['postgres own keys', { protocol: 'postgres', credentialsSecretRef: { name: 's', usernameKey: 'u', passwordKey: 'p' } }, { s: ['u', 'p'] }],
    ['http with a token', { protocol: 'http', credentialsSecretRef: { name: 's', tokenKey: 'api-token' } }, { s: ['api-token'] }],
    ['http without', { protocol: 'http', credentialsSecretRef: { name: 's' } }, { s: [] }],
    ['kubernetes token', { protocol: 'kubernetes', credentialsSecretRef: { name: 's' } }, { s: ['token'] }],
    ['kubernetes kubeconfig', { protocol: 'kubernetes', credentialsSecretRef: { name: 's', kubeconfigKey: 'kc' } }, { s: ['kc'] }],
    ['ssh', { protocol: 'ssh', credentialsSecretRef: { name: 's' } }, { s: ['username', 'ssh-privatekey', 'known_hosts'] }],
    ['a TLS CA in another Secret', { protocol: 'postgres', tls: { mode: 'verify-full', caSecretRef: { name: 'ca', key: 'ca.crt' } } }, { ca: ['ca.crt'] }],
  ])('%s', (_label, over, expected) => {
    expect(Object.fromEntries(requiredSecretKeys(target(over)))).toEqual(expected);
  });

  it('the masking hash key', () => {
    expect(Object.fromEntries(requiredSecretKeys({ name: 'p', masking: { style: 'hash', hashKeySecretRef: { name: 'k', key: 'hmac' } } }))).toEqual({ k: ['hmac'] });
  });
});

describe('the checklist', () => {
  const plain = { bold: (s: string) => s, red: (s: string) => s, green: (s: string) => s, yellow: (s: string) => s, dim: (s: string) => s };
  it('prints sections, ✔ with what was found, ✖ with what was found and the fix, and the status line', () => {
    const f = healthy();
    f.secrets = [{ name: 'orders-db' }];
    const text = renderChecklist(evaluate(f), plain);
    expect(text).toContain('Custom resource definitions\n  ✔ accesspolicies.guarita.io installed and serving v1alpha1 (stored as v1alpha1)');
    expect(text).toContain('  ✖ Secret orders-db of orders-db present with username, password\n      found: not found: pods this policy selects are refused at admission\n      fix:   kubectl -n lgpd-orders create secret generic orders-db');
    expect(text.trimEnd().split('\n').at(-1)).toBe('Status: ✖ 1 of 13 checks failed');
    expect(renderChecklist(evaluate(healthy()), plain).trimEnd().split('\n').at(-1)).toBe('Status: ✔ all 13 checks passed');
    expect(checklistJson(evaluate(f))).toMatchObject({ ok: false, failures: 1 });
  });
});

describe('admissionVerdict (the dry-run pod refused)', () => {
  it.each([
    [500, 'Internal error occurred: failed calling webhook "inject.guarita.io": Post "https://guarita-webhook.guarita-system.svc:443/inject": dial tcp: connection refused', false],
    [400, 'admission webhook "inject.guarita.io" denied the request: no AccessPolicy selects this pod', true],
    [403, 'pods "guarita-check-x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false', true],
    [422, 'Pod "guarita-check-x" is invalid: spec.containers[0].image: Required value', true],
  ])('%i %s → reached %s', (code, message, reached) => {
    expect(admissionVerdict(code, message)).toEqual({ reached, injected: false, message });
  });

  it('says nothing about the webhook for RBAC or quota refusals', () => {
    expect(admissionVerdict(403, 'pods is forbidden: User "ana" cannot create resource "pods" in API group "" in the namespace "lgpd-orders"')).toBeUndefined();
    expect(admissionVerdict(403, 'pods "x" is forbidden: exceeded quota: compute')).toBeUndefined();
  });
});
