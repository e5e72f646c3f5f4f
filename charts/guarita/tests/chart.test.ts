// The chart without a cluster: helm lint, helm template with default and non-default values, the
// schema's messages for bad values, and the places where the chart must mirror the components:
// the webhook configurations (webhook/src/configurations.ts) and the webhook's environment
// (webhook/src/config.ts parses exactly what the chart renders).
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig as loadOperatorConfig, SETTINGS as OPERATOR_SETTINGS } from '../../../operator/src/config.ts';
import { loadConfig, SETTINGS } from '../../../webhook/src/config.ts';
import { webhookConfigurations } from '../../../webhook/src/configurations.ts';
import { SIDECAR_COMMAND } from '../../../webhook/src/constants.ts';
import { CHART_DIR, find, helm, one, REQUIRED_VALUES, rules, template, templateRaw, type K8sObject } from './helm.ts';

/** approvals.oidcUsernameMappings of values-non-default.yaml, as both components read it. */
const MAPPINGS = [{ issuer: 'https://login.example.com', claim: 'email', prefix: 'oidc:' }, { issuer: 'https://agents.example.com', apiserver: false }];

// helm and kubectl are real processes; a loaded machine makes them slow.
jest.setTimeout(60_000);

const NON_DEFAULT = join(import.meta.dirname, 'values-non-default.yaml');

interface Container { name: string; command?: string[]; image: string; env?: { name: string; value?: string; valueFrom?: unknown }[]; securityContext?: Record<string, unknown>; volumeMounts?: { name: string; mountPath: string }[] }
interface PodSpec { containers: Container[]; securityContext?: Record<string, unknown>; affinity?: Record<string, unknown>; volumes?: Record<string, unknown>[]; serviceAccountName?: string }

function podSpec(deployment: K8sObject): PodSpec {
  return (deployment.spec as { template: { spec: PodSpec } }).template.spec;
}

function container(deployment: K8sObject): Container {
  return podSpec(deployment).containers[0]!;
}

/** The environment the chart gives a container, with the downward-API fields filled in. */
function envOf(deployment: K8sObject, namespace: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const e of container(deployment).env ?? []) env[e.name] = e.value ?? (e.valueFrom === undefined ? undefined : namespace);
  return env;
}

const allRules = (objects: readonly K8sObject[]): { role: string; rule: ReturnType<typeof rules>[number] }[] =>
  objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole').flatMap((r) => rules(r).map((rule) => ({ role: `${r.kind}/${r.metadata.name}`, rule })));

describe('helm lint', () => {
  it('passes --strict with the default values and the one required choice (webhook.clientAuth)', async () => {
    const result = await helm(['lint', '--strict', CHART_DIR, '-f', REQUIRED_VALUES]);
    expect(result.stdout).toContain('0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it('passes --strict with non-default values', async () => {
    const result = await helm(['lint', '--strict', CHART_DIR, '-f', REQUIRED_VALUES, '-f', NON_DEFAULT]);
    expect(result.stdout).toContain('0 chart(s) failed');
    expect(result.code).toBe(0);
  });
});

describe('default values', () => {
  let objects: K8sObject[];
  const ns = 'guarita-system';

  beforeAll(async () => {
    objects = await template();
  });

  it('renders every component and nothing optional', () => {
    const kinds = [...new Set(objects.map((o) => o.kind))].sort();
    expect(kinds).toEqual([
      'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'MutatingWebhookConfiguration', 'NetworkPolicy', 'PersistentVolumeClaim',
      'PodDisruptionBudget', 'Role', 'RoleBinding', 'Secret', 'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration',
    ]);
    expect(find(objects, 'Deployment').map((d) => d.metadata.name).sort()).toEqual(['guarita-operator', 'guarita-webhook']);
    expect(find(objects, 'ClusterRole').map((d) => d.metadata.name).sort()).toEqual(['guarita-approver', 'guarita-auditor', 'guarita-operator', 'guarita-webhook']);
    // Namespaced objects all land in the release namespace.
    const namespaced = objects.filter((o) => !['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].includes(o.kind));
    expect(namespaced.every((o) => o.metadata.namespace === ns)).toBe(true);
  });

  it('runs every container non-root on a read-only root filesystem with no capabilities', () => {
    for (const d of find(objects, 'Deployment')) {
      const spec = podSpec(d);
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      expect(container(d).securityContext).toEqual({
        allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: true,
        capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(container(d).image).toBe('ghcr.io/guarita/guarita:0.1.0');
      // The only writable paths are volumes.
      expect(container(d).volumeMounts?.map((m) => m.mountPath)).toContain('/tmp');
    }
  });

  it('starts each component from its entry point in the one image', () => {
    expect(container(one(objects, 'Deployment', 'guarita-webhook')).command).toEqual(['node', '/app/webhook/src/main.js']);
    expect(container(one(objects, 'Deployment', 'guarita-operator')).command).toEqual(['node', '/app/operator/src/main.js']);
    // The sidecar command is fixed by the injection contract; the image must carry it at the same path.
    expect(SIDECAR_COMMAND).toEqual(['node', '/app/sidecar/src/main.js']);
  });

  it('runs the webhook highly available: 2 replicas, PDB, spread over nodes, no unavailable pod during rollouts', () => {
    const d = one(objects, 'Deployment', 'guarita-webhook');
    expect(d.spec).toMatchObject({ replicas: 2, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } });
    expect(podSpec(d).affinity).toMatchObject({ podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } }] } });
    expect(one(objects, 'PodDisruptionBudget', 'guarita-webhook').spec).toMatchObject({ minAvailable: 1, selector: { matchLabels: { 'app.kubernetes.io/component': 'webhook' } } });
  });

  it('runs one operator writer on a persistent store that outlives the release', () => {
    const d = one(objects, 'Deployment', 'guarita-operator');
    expect(d.spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
    expect(podSpec(d).volumes).toContainEqual({ name: 'store', persistentVolumeClaim: { claimName: 'guarita-operator-store' } });
    expect(container(d).volumeMounts).toContainEqual({ name: 'store', mountPath: '/var/lib/guarita' });
    const pvc = one(objects, 'PersistentVolumeClaim', 'guarita-operator-store');
    expect(pvc.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(pvc.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } });
  });

  it('gives the operator an environment its own configuration parser accepts', () => {
    const d = one(objects, 'Deployment', 'guarita-operator');
    const env = envOf(d, ns);
    const known = new Set(OPERATOR_SETTINGS.map((s) => s.env));
    expect(Object.keys(env).filter((name) => !known.has(name))).toEqual([]);
    expect(env).toMatchObject({ GUARITA_TLS_CERT_FILE: '/var/run/guarita/operator-tls/tls.crt', GUARITA_TLS_KEY_FILE: '/var/run/guarita/operator-tls/tls.key' });
    expect(podSpec(d).volumes).toContainEqual({ name: 'tls', secret: { secretName: 'guarita-operator-tls' } });
    // The mounted files, written where the parser can check they are readable.
    const dir = mkdtempSync(join(tmpdir(), 'guarita-chart-'));
    const secret = one(objects, 'Secret', 'guarita-operator-tls').data as Record<string, string>;
    for (const key of ['tls.crt', 'tls.key']) writeFileSync(join(dir, key), Buffer.from(secret[key]!, 'base64'));
    const config = loadOperatorConfig([], { ...env, GUARITA_TLS_CERT_FILE: join(dir, 'tls.crt'), GUARITA_TLS_KEY_FILE: join(dir, 'tls.key') });
    expect(config).toMatchObject({
      namespace: ns, listenPort: 8443, metricsPort: 9090, dataDir: '/var/lib/guarita', storeKeySecret: 'guarita-store-key', ingestAudience: 'guarita-operator',
      leaseName: 'guarita-operator-leader', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, logLevel: 'info',
      maxPendingApprovalsPerRequester: 20, maxPendingApprovalsPerPod: 50,
    });
    expect(config.watchNamespaces).toBeUndefined();
    expect(config.podName).toBeUndefined();
  });

  it('generates an operator certificate for its Service, signed by the CA the sidecars get', async () => {
    const withAgents = await template({ set: ['sidecar.rbac.namespaces[0].namespace=lgpd-orders'] });
    const data = one(withAgents, 'Secret', 'guarita-operator-tls').data as Record<string, string>;
    const cert = new X509Certificate(Buffer.from(data['tls.crt']!, 'base64'));
    const ca = new X509Certificate((one(withAgents, 'ConfigMap', 'guarita-operator-ca', 'lgpd-orders').data as Record<string, string>)['ca.crt']!);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost('guarita-operator.guarita-system.svc')).toBe('guarita-operator.guarita-system.svc');
    expect(ca.ca).toBe(true);
    expect(Buffer.from(data['ca.crt']!, 'base64').toString()).toBe(ca.toString());
    const webhookEnv = envOf(one(withAgents, 'Deployment', 'guarita-webhook'), ns);
    expect(webhookEnv.GUARITA_OPERATOR_CA_CONFIGMAP).toBe('guarita-operator-ca');
  });

  it('renders webhook configurations identical to webhook/src/configurations.ts', () => {
    const expected = webhookConfigurations({ name: 'guarita-webhook', namespace: ns, endpoint: { service: { name: 'guarita-webhook', namespace: ns, port: 443 } } });
    for (const want of expected) {
      const got = one(objects, want.kind as string, 'guarita-webhook');
      expect(got.webhooks).toEqual(want.webhooks);
      expect(got.metadata.labels).toMatchObject((want.metadata as { labels: Record<string, string> }).labels);
      expect(got.metadata.annotations).toBeUndefined();
    }
    // The Service the configurations call.
    expect(one(objects, 'Service', 'guarita-webhook').spec).toMatchObject({ ports: [{ name: 'https', port: 443, targetPort: 'https' }, { name: 'metrics' }] });
  });

  it('gives the webhook an environment its own configuration parser accepts', () => {
    const d = one(objects, 'Deployment', 'guarita-webhook');
    const env = envOf(d, ns);
    const known = new Set(SETTINGS.map((s) => s.env));
    expect(Object.keys(env).filter((name) => !known.has(name))).toEqual([]);
    const config = loadConfig([], env);
    expect(config).toMatchObject({
      namespace: ns, port: 10250, metricsPort: 9090, configurationName: 'guarita-webhook', missingSecret: 'reject',
      tls: { mode: 'self', secretName: 'guarita-webhook-tls' },
      // The ServiceAccount the operator Deployment runs as: the only identity deciding approval phases.
      operatorServiceAccount: { namespace: ns, name: podSpec(one(objects, 'Deployment', 'guarita-operator')).serviceAccountName },
    });
    expect(config.tls.policy.dnsNames).toContain('guarita-webhook.guarita-system.svc');
    expect(config.injector.excludedNamespaces).toEqual(['kube-system', 'kube-public', 'kube-node-lease', ns]);
    expect(config.injector.sidecar).toMatchObject({
      image: 'ghcr.io/guarita/guarita:0.1.0', imagePullPolicy: 'IfNotPresent', mode: 'native', adminPort: 15090, uid: 65532,
      operatorUrl: 'https://guarita-operator.guarita-system.svc:8443', operatorAudience: 'guarita-operator', operatorCaConfigMap: 'guarita-operator-ca',
      spoolSizeLimit: '256Mi', resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    });
  });

  it('creates the webhook\'s self-managed TLS Secret empty, so its certificates never enter the release', () => {
    const secret = one(objects, 'Secret', 'guarita-webhook-tls');
    expect(secret.data).toBeUndefined();
    expect(secret.stringData).toBeUndefined();
  });

  it('grants the operator status patches, its Lease and its store key, and nothing on pods or other Secrets', () => {
    expect(rules(one(objects, 'Role', 'guarita-operator'))).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['guarita-operator-leader'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['guarita-store-key'], verbs: ['get'] },
    ]);
    const cluster = rules(one(objects, 'ClusterRole', 'guarita-operator'));
    expect(cluster).toContainEqual({ apiGroups: ['guarita.io'], resources: ['accesspolicies/status', 'approvalrequests/status'], verbs: ['patch'] });
    // Pods and Namespaces: get by name only (the pod an ingest token is bound to), never list/watch or write.
    expect(cluster).toContainEqual({ apiGroups: [''], resources: ['namespaces', 'pods'], verbs: ['get'] });
    expect(cluster.filter((r) => r.resources?.some((res) => ['pods', 'namespaces'].includes(res))).flatMap((r) => r.verbs)).toEqual(['get']);
    expect(cluster.some((r) => r.resources?.some((res) => ['secrets', 'configmaps'].includes(res)))).toBe(false);
  });

  it('lets the webhook list pods only in sidecar.rbac.namespaces (round 10, B1), cluster-wide only with refuseUnlisted=false', async () => {
    const listsPods = (r: { resources?: string[]; verbs: string[] }): boolean => (r.resources ?? []).includes('pods') && r.verbs.includes('list');
    expect(rules(one(objects, 'ClusterRole', 'guarita-webhook')).some(listsPods)).toBe(false);
    expect(find(objects, 'Role').filter((r) => rules(r).some(listsPods))).toEqual([]);
    const scoped = await template({ set: ['sidecar.rbac.namespaces[0].namespace=team-a', 'sidecar.rbac.namespaces[1].namespace=team-b'] });
    expect(rules(one(scoped, 'ClusterRole', 'guarita-webhook')).some(listsPods)).toBe(false);
    const roles = find(scoped, 'Role', 'guarita-webhook-pods');
    expect(roles.map((r) => [r.metadata.namespace, rules(r)])).toEqual(['team-a', 'team-b'].map((n) => [n, [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]]));
    const bindings = find(scoped, 'RoleBinding', 'guarita-webhook-pods');
    expect(bindings.map((b) => [b.metadata.namespace, b.subjects])).toEqual(['team-a', 'team-b'].map((n) => [n, [{ kind: 'ServiceAccount', name: 'guarita-webhook', namespace: 'guarita-system' }]]));
    const open = await template({ set: ['sidecar.rbac.refuseUnlisted=false', 'sidecar.rbac.namespaces[0].namespace=team-a'] });
    expect(rules(one(open, 'ClusterRole', 'guarita-webhook')).filter(listsPods)).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]);
    expect(find(open, 'Role', 'guarita-webhook-pods')).toEqual([]);
  });

  it('grants the webhook get/update on its own Secret and get/patch on its own configurations only', () => {
    expect(rules(one(objects, 'Role', 'guarita-webhook'))).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['guarita-webhook-tls'], verbs: ['get', 'update'] }]);
    const cluster = rules(one(objects, 'ClusterRole', 'guarita-webhook'));
    expect(cluster).toContainEqual({ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], resourceNames: ['guarita-webhook'], verbs: ['get', 'patch'] });
    expect(cluster).toContainEqual({ apiGroups: [''], resources: ['secrets'], verbs: ['get'] });
    expect(cluster).toContainEqual({ apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] });
  });

  it('never grants wildcards, secret listing, or writes to ApprovalRequest spec outside the approver role', () => {
    for (const { role, rule } of allRules(objects)) {
      expect({ role, wildcard: [...rule.verbs, ...(rule.resources ?? []), ...(rule.apiGroups ?? [])].includes('*') }).toEqual({ role, wildcard: false });
      if (rule.resources?.includes('secrets')) expect({ role, verbs: rule.verbs.filter((v) => ['list', 'watch', 'delete', 'patch'].includes(v)) }).toEqual({ role, verbs: [] });
      if (rule.resources?.includes('approvalrequests') && role !== 'ClusterRole/guarita-approver') {
        expect({ role, verbs: rule.verbs.filter((v) => ['update', 'patch'].includes(v)) }).toEqual({ role, verbs: [] });
      }
    }
  });

  it('gives approvers patch on ApprovalRequests (not their status) and auditors read-only access', () => {
    expect(rules(one(objects, 'ClusterRole', 'guarita-approver'))).toEqual([{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }]);
    expect(one(objects, 'ClusterRole', 'guarita-approver').metadata.labels).not.toHaveProperty(['rbac.authorization.k8s.io/aggregate-to-edit']);
    const auditor = rules(one(objects, 'ClusterRole', 'guarita-auditor'));
    expect(auditor).toContainEqual({ apiGroups: ['guarita.io'], resources: ['sessions'], verbs: ['get', 'list'] });
    expect(auditor.flatMap((r) => r.verbs).every((v) => ['get', 'list', 'watch'].includes(v))).toBe(true);
  });

  it('confines network traffic: webhook and operator ports in, DNS and the API out', () => {
    const webhook = one(objects, 'NetworkPolicy', 'guarita-webhook').spec as Record<string, unknown>;
    expect(webhook.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(webhook.ingress).toEqual([{ ports: [{ port: 10250, protocol: 'TCP' }] }, { ports: [{ port: 9090, protocol: 'TCP' }] }]);
    expect(webhook.egress).toEqual([
      { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
      { ports: [{ port: 443, protocol: 'TCP' }, { port: 6443, protocol: 'TCP' }] },
    ]);
    const operator = one(objects, 'NetworkPolicy', 'guarita-operator').spec as { ingress: unknown[] };
    expect(operator.ingress[0]).toEqual({ from: [{ namespaceSelector: { matchLabels: { 'guarita.io/injection': 'enabled' } } }], ports: [{ port: 8443, protocol: 'TCP' }] });
  });

  it('renders no sidecar RBAC until namespaces are listed', () => {
    expect(objects.filter((o) => o.metadata.name.includes('sidecar'))).toEqual([]);
  });
});

describe('non-default values (tests/values-non-default.yaml)', () => {
  let objects: K8sObject[];
  const ns = 'guarita';

  beforeAll(async () => {
    objects = await template({ release: 'audit', namespace: ns, values: [NON_DEFAULT] });
  });

  it('prefixes names with the release and uses the digest of the sidecar image', () => {
    const d = one(objects, 'Deployment', 'audit-guarita-webhook');
    const config = loadConfig([], envOf(d, ns));
    expect(config.injector.sidecar.image).toBe(`registry.example.com/guarita-proxy@sha256:${'a'.repeat(64)}`);
    expect(config.injector.sidecar).toMatchObject({ mode: 'container', imagePullPolicy: 'Always', approvalWait: '45s', policyStaleness: '2m', operatorUrl: 'https://audit-guarita-operator.guarita.svc:8443' });
    expect(config.injector.sidecar.spoolSizeLimit).toBeUndefined();
    expect(config.injector.sidecar.operatorCaConfigMap).toBe('corp-operator-ca');
    expect(config.injector.excludedNamespaces).toEqual(['kube-system', 'kube-public', 'kube-node-lease', ns, 'monitoring', 'batch-legacy']);
    expect(config).toMatchObject({ missingSecret: 'warn', usernameMappings: MAPPINGS, logLevel: 'debug', tls: { mode: 'files', dir: '/var/run/guarita/webhook-tls' } });
    expect(config.clientAuth).toEqual({ mode: 'certificate', caFile: '/var/run/guarita/webhook-client-ca/ca.crt', names: ['kube-apiserver-admission', 'apiserver.example.com'] });
    expect(config.allowedCsiDrivers).toEqual(['secrets-store.csi.k8s.io']);
    expect(podSpec(d).volumes).toContainEqual({ name: 'client-ca', configMap: { name: 'kube-apiserver-client-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(config.operatorServiceAccount).toEqual({ namespace: ns, name: 'audit-guarita-operator' });
    expect(podSpec(one(objects, 'Deployment', 'audit-guarita-operator')).serviceAccountName).toBe('audit-guarita-operator');
    expect(container(d).image).toBe('registry.example.com/guarita:1.2.3');
  });

  it('uses cert-manager: Certificates from the given issuer, cainjector annotations, no self-managed Secrets or caBundle patching', () => {
    const certs = find(objects, 'Certificate');
    expect(certs.map((c) => c.metadata.name).sort()).toEqual(['audit-guarita-operator', 'audit-guarita-webhook']);
    expect(certs[0]!.spec).toMatchObject({ issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' }, duration: '720h', renewBefore: '240h' });
    expect(one(objects, 'Certificate', 'audit-guarita-webhook').spec).toMatchObject({ secretName: 'audit-guarita-webhook-tls', dnsNames: expect.arrayContaining(['audit-guarita-webhook.guarita.svc']) });
    expect(find(objects, 'Issuer')).toEqual([]);
    expect(find(objects, 'Secret')).toEqual([]);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      expect(one(objects, kind).metadata.annotations).toEqual({ 'cert-manager.io/inject-ca-from': 'guarita/audit-guarita-webhook' });
    }
    expect(rules(one(objects, 'ClusterRole', 'audit-guarita-webhook')).some((r) => r.resources?.includes('mutatingwebhookconfigurations'))).toBe(false);
    expect(find(objects, 'Role', 'audit-guarita-webhook')).toEqual([]);
    expect(podSpec(one(objects, 'Deployment', 'audit-guarita-webhook')).volumes).toContainEqual({ name: 'tls', secret: { secretName: 'audit-guarita-webhook-tls' } });
  });

  it('leaves the pods/status and Binding webhooks out for an apiserver before 1.28 (no matchConditions: every status write would wait on the webhook)', async () => {
    const names = (objs: K8sObject[]): string[] => (one(objs, 'ValidatingWebhookConfiguration').webhooks as { name: string }[]).map((w) => w.name);
    expect(names(objects)).toEqual(expect.arrayContaining(['status.pods.guarita.io', 'binding.pods.guarita.io']));
    const old = names(await template({ kubeVersion: '1.27.3' }));
    expect(old).not.toContain('status.pods.guarita.io');
    expect(old).not.toContain('binding.pods.guarita.io');
    expect(old).toContain('validate.pods.guarita.io');
  });

  it('judges namespaces/status and namespaces/finalize opt-ins from 1.28 (the label matched by CEL on the new object), the namespace itself only before', async () => {
    interface W { name: string; rules: { resources: string[] }[]; namespaceSelector: { matchLabels?: Record<string, string> }; matchConditions: { name: string }[] }
    const optIn = (objs: K8sObject[]): W => (one(objs, 'ValidatingWebhookConfiguration').webhooks as W[]).find((w) => w.name === 'optin.namespaces.guarita.io')!;
    const now = optIn(objects);
    expect(now.rules.flatMap((r) => r.resources)).toEqual(['namespaces', 'namespaces/status', 'namespaces/finalize']);
    expect(now.namespaceSelector.matchLabels).toBeUndefined();
    expect(now.matchConditions.map((c) => c.name)).toEqual(['newly-opted-in', 'opts-in']);
    const old = optIn(await template({ kubeVersion: '1.27.3' }));
    expect(old.rules.flatMap((r) => r.resources)).toEqual(['namespaces']);
    expect(old.namespaceSelector.matchLabels).toEqual({ 'guarita.io/injection': 'enabled' });
  });

  it('keeps every webhook failing closed', () => {
    const policies = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']
      .flatMap((kind) => (one(objects, kind).webhooks as { failurePolicy: string }[]).map((w) => w.failurePolicy));
    expect(policies).toEqual(['Fail', 'Fail', 'Fail', 'Fail', 'Fail', 'Fail', 'Fail', 'Fail', 'Fail']);
  });

  it('renders per-namespace sidecar Roles bound to the listed service accounts, and TokenReview for them', () => {
    for (const namespace of ['lgpd-orders', 'billing']) {
      expect(rules(one(objects, 'Role', 'audit-guarita-sidecar', namespace))).toEqual([
        { apiGroups: ['guarita.io'], resources: ['accesspolicies'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'create'] },
        { apiGroups: ['guarita.io'], resources: ['approvalrequests/status'], verbs: ['patch'] },
      ]);
    }
    expect(one(objects, 'RoleBinding', 'audit-guarita-sidecar', 'lgpd-orders').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'support-agent', namespace: 'lgpd-orders' }, { kind: 'ServiceAccount', name: 'batch-agent', namespace: 'lgpd-orders' },
    ]);
    expect(one(objects, 'RoleBinding', 'audit-guarita-sidecar', 'billing').subjects).toEqual([{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:serviceaccounts:billing' }]);
    expect((one(objects, 'ClusterRoleBinding', 'audit-guarita-sidecar-tokenreview').subjects as unknown[]).length).toBe(3);
  });

  it('binds approvers per namespace and auditors cluster-wide, and aggregates the approver role into edit', () => {
    expect(one(objects, 'RoleBinding', 'audit-guarita-approver-0', 'lgpd-orders')).toMatchObject({ roleRef: { kind: 'ClusterRole', name: 'audit-guarita-approver' }, subjects: [{ kind: 'Group', name: 'dpo' }] });
    expect(one(objects, 'ClusterRoleBinding', 'audit-guarita-auditor-0')).toMatchObject({ roleRef: { name: 'audit-guarita-auditor' }, subjects: [{ kind: 'Group', name: 'auditors' }, { kind: 'User', name: 'ana@example.com' }] });
    expect(one(objects, 'ClusterRole', 'audit-guarita-approver').metadata.labels).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' });
  });

  it('passes watched namespaces and extra environment to the operator', () => {
    const env = envOf(one(objects, 'Deployment', 'audit-guarita-operator'), ns);
    expect(env).toMatchObject({ GUARITA_WATCH_NAMESPACES: 'lgpd-orders,billing', GUARITA_SEGMENT_MAX_AGE: '30m', GUARITA_TLS_CERT_FILE: '/var/run/guarita/operator-tls/tls.crt', GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER: '5', GUARITA_MAX_PENDING_APPROVALS_PER_POD: '12' });
    expect(JSON.parse(env.GUARITA_OIDC_USERNAME_MAPPINGS ?? '')).toEqual(MAPPINGS);
    expect(podSpec(one(objects, 'Deployment', 'audit-guarita-operator')).volumes).toContainEqual({ name: 'tls', secret: { secretName: 'audit-guarita-operator-tls' } });
    // cert-manager mode: the CA ConfigMaps are the user's (trust-manager), not the chart's.
    expect(find(objects, 'ConfigMap')).toEqual([]);
  });

  it('uses an existing claim, hard anti-affinity, 3 webhook replicas, ServiceMonitors, and no NetworkPolicies', () => {
    expect(find(objects, 'PersistentVolumeClaim')).toEqual([]);
    expect(podSpec(one(objects, 'Deployment', 'audit-guarita-operator')).volumes).toContainEqual({ name: 'store', persistentVolumeClaim: { claimName: 'recordings' } });
    const webhook = one(objects, 'Deployment', 'audit-guarita-webhook');
    expect((webhook.spec as { replicas: number }).replicas).toBe(3);
    expect(podSpec(webhook).affinity).toHaveProperty(['podAntiAffinity', 'requiredDuringSchedulingIgnoredDuringExecution']);
    expect(one(objects, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: 2 });
    expect(find(objects, 'ServiceMonitor').map((s) => s.metadata.labels?.release)).toEqual(['prometheus', 'prometheus']);
    expect(find(objects, 'NetworkPolicy')).toEqual([]);
    expect(find(objects, 'Deployment').every((d) => podSpec(d).serviceAccountName?.startsWith('audit-guarita-'))).toBe(true);
  });
});

describe('smaller variations', () => {
  it('renders no webhook configurations when they are turned off', async () => {
    const objects = await template({ set: ['webhook.configurations.create=false'] });
    expect(find(objects, 'MutatingWebhookConfiguration')).toEqual([]);
    expect(find(objects, 'ValidatingWebhookConfiguration')).toEqual([]);
  });

  it('renders a self-signed Issuer when cert-manager mode has no issuerRef', async () => {
    const objects = await template({ set: ['tls.mode=certManager', 'operator.tls.caConfigMap=operator-ca'] });
    expect(one(objects, 'Issuer', 'guarita-selfsigned').spec).toEqual({ selfSigned: {} });
    expect(one(objects, 'Certificate', 'guarita-webhook').spec).toMatchObject({ issuerRef: { name: 'guarita-selfsigned', kind: 'Issuer' } });
  });

  it('drops the PodDisruptionBudget with a single webhook replica and mounts an emptyDir store without persistence', async () => {
    const objects = await template({ set: ['webhook.replicas=1', 'operator.store.persistence.enabled=false'] });
    expect(find(objects, 'PodDisruptionBudget')).toEqual([]);
    expect(find(objects, 'PersistentVolumeClaim')).toEqual([]);
    expect(podSpec(one(objects, 'Deployment', 'guarita-operator')).volumes).toContainEqual({ name: 'store', emptyDir: {} });
  });
});

describe('opting namespaces in (sidecar.rbac.namespaces)', () => {
  const entry = ['sidecar.rbac.namespaces[0].namespace=lgpd-orders', 'sidecar.rbac.namespaces[0].serviceAccounts[0]=support-agent'];

  it('creates a namespace with create: true, opted in and kept on uninstall, and none without', async () => {
    const created = await template({ set: [...entry, 'sidecar.rbac.namespaces[0].create=true'] });
    const namespace = one(created, 'Namespace', 'lgpd-orders');
    expect(namespace.metadata.labels).toMatchObject({ 'guarita.io/injection': 'enabled', 'app.kubernetes.io/component': 'sidecar' });
    expect(namespace.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(find(await template({ set: entry }), 'Namespace')).toEqual([]);
  });

  it('tells the webhook which namespaces and service accounts have the sidecar RBAC, and how to upgrade the release', async () => {
    const objects = await template({ release: 'prod', namespace: 'guarita', set: [...entry, 'chartReference=oci://ghcr.io/guarita/charts/guarita'] });
    const config = loadConfig([], envOf(one(objects, 'Deployment', 'prod-guarita-webhook'), 'guarita'));
    expect(config.injector.sidecarNamespaces).toEqual({ entries: [{ namespace: 'lgpd-orders', serviceAccounts: ['support-agent'] }], release: 'prod', releaseNamespace: 'guarita', chart: 'oci://ghcr.io/guarita/charts/guarita' });
    const none = await template({});
    expect(loadConfig([], envOf(one(none, 'Deployment', 'guarita-webhook'), 'guarita-system')).injector.sidecarNamespaces).toMatchObject({ entries: [], release: 'guarita', chart: 'charts/guarita' });
  });

  it('does not check with refuseUnlisted=false (sidecar RBAC managed outside the chart)', async () => {
    const objects = await template({ set: [...entry, 'sidecar.rbac.refuseUnlisted=false'] });
    const env = envOf(one(objects, 'Deployment', 'guarita-webhook'), 'guarita-system');
    expect(env.GUARITA_SIDECAR_NAMESPACES).toBeUndefined();
    expect(loadConfig([], env).injector.sidecarNamespaces).toBeUndefined();
  });
});

describe('who may call the webhook (webhook.clientAuth, networkPolicy.webhookFrom)', () => {
  const webhookOf = (objects: K8sObject[]): K8sObject => one(objects, 'Deployment', 'guarita-webhook');

  it('refuses to render until the operator chooses: no silent install with an open or a broken webhook', async () => {
    const bare = await templateRaw({ bare: true });
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toContain('webhook.clientAuth: the admission endpoints accept only the kube-apiserver\'s client certificate (mode certificate, the default), but neither webhook.clientAuth.caBundle nor webhook.clientAuth.caConfigMap gives the CA');
    for (const set of [['webhook.clientAuth.mode=none'], ['webhook.clientAuth.mode=none', 'networkPolicy.enabled=false', 'networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.0/28']]) {
      const open = await templateRaw({ bare: true, set });
      expect(open.code).not.toBe(0);
      expect(open.stderr).toContain('webhook.clientAuth.mode=none leaves the admission endpoints to anyone who reaches the port: set networkPolicy.enabled=true and networkPolicy.webhookFrom');
    }
  });

  it('certificate mode: the CA as a ConfigMap, mounted where the webhook reads it, with the accepted names', async () => {
    const objects = await template({ set: ['webhook.clientAuth.allowedNames[0]=kube-apiserver-admission'] });
    const d = webhookOf(objects);
    expect(one(objects, 'ConfigMap', 'guarita-webhook-client-ca').data).toEqual({ 'ca.crt': expect.stringContaining('BEGIN CERTIFICATE') });
    expect(podSpec(d).volumes).toContainEqual({ name: 'client-ca', configMap: { name: 'guarita-webhook-client-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(container(d).volumeMounts).toContainEqual({ name: 'client-ca', mountPath: '/var/run/guarita/webhook-client-ca', readOnly: true });
    expect(loadConfig([], envOf(d, 'guarita-system')).clientAuth).toEqual({ mode: 'certificate', caFile: '/var/run/guarita/webhook-client-ca/ca.crt', names: ['kube-apiserver-admission'] });
    const existing = await template({ bare: true, set: ['webhook.clientAuth.caConfigMap=apiserver-client-ca'] });
    expect(find(existing, 'ConfigMap')).toEqual([]);
    expect(podSpec(webhookOf(existing)).volumes).toContainEqual({ name: 'client-ca', configMap: { name: 'apiserver-client-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
  });

  it('none mode: the NetworkPolicy admits only the control plane to the admission port', async () => {
    const objects = await template({ bare: true, set: ['webhook.clientAuth.mode=none', 'networkPolicy.webhookFrom[0].ipBlock.cidr=172.16.0.0/28', 'webhook.allowedCsiDrivers[0]=secrets-store.csi.k8s.io'] });
    const np = one(objects, 'NetworkPolicy', 'guarita-webhook').spec as { ingress: unknown[] };
    expect(np.ingress[0]).toEqual({ ports: [{ port: 10250, protocol: 'TCP' }], from: [{ ipBlock: { cidr: '172.16.0.0/28' } }] });
    const config = loadConfig([], envOf(webhookOf(objects), 'guarita-system'));
    expect(config.clientAuth).toEqual({ mode: 'none' });
    expect(config.allowedCsiDrivers).toEqual(['secrets-store.csi.k8s.io']);
    expect(podSpec(webhookOf(objects)).volumes?.some((v) => v.name === 'client-ca')).toBe(false);
  });
});

describe('bad values fail at install with a message naming the field', () => {
  const cases: [string, string[], string][] = [
    ['zero webhook replicas', ['webhook.replicas=0'], "at '/webhook/replicas': minimum: got 0, want 1"],
    ['an unknown TLS mode', ['tls.mode=manual'], "at '/tls/mode': value must be one of 'selfManaged', 'certManager'"],
    ['a misspelled key', ['webhook.replica=2'], "at '/webhook': additional properties 'replica' not allowed"],
    ['a bad duration', ['sidecar.approvalWait=soon'], "at '/sidecar/approvalWait'"],
    ['a bad digest', ['image.digest=latest'], "at '/image/digest'"],
    ['an unknown sidecar mode', ['sidecar.mode=ambient'], "at '/sidecar/mode': value must be one of 'native', 'container'"],
    ['a privileged admin port', ['sidecar.adminPort=80'], "at '/sidecar/adminPort': minimum: got 80"],
    ['an invalid namespace', ['sidecar.rbac.namespaces[0].namespace=Bad_NS'], "at '/sidecar/rbac/namespaces/0/namespace'"],
    ['a binding without subjects', ['rbac.approver.bindings[0].namespace=x'], "at '/rbac/approver/bindings/0': missing property 'subjects'"],
    ['a failure policy that fails open', ['webhook.configurations.podFailurePolicy=Ignore'], "at '/webhook/configurations': additional properties 'podFailurePolicy' not allowed"],
    ['two operator writers on the file store', ['operator.replicas=2'], 'the file store (operator.store.type=file) has exactly one writer'],
    ['a PDB that blocks every drain', ['webhook.podDisruptionBudget.minAvailable=2'], 'webhook.podDisruptionBudget.minAvailable (2) must be lower than webhook.replicas (2)'],
    ['the same port twice', ['webhook.metricsPort=10250'], 'webhook.port and webhook.metricsPort must differ'],
    ['cert-manager self-signed without a CA for the sidecars', ['tls.mode=certManager'], 'sidecars cannot verify the operator'],
    ['a namespace listed twice', ['sidecar.rbac.namespaces[0].namespace=a', 'sidecar.rbac.namespaces[1].namespace=a'], "sidecar.rbac.namespaces[1].namespace: a is listed twice (also sidecar.rbac.namespaces[0]); merge the entries' serviceAccounts into one"],
    ['create that is not a boolean', ['sidecar.rbac.namespaces[0].namespace=a', 'sidecar.rbac.namespaces[0].create=yes'], "at '/sidecar/rbac/namespaces/0/create'"],
    ['an empty chart reference', ['chartReference='], "at '/chartReference'"],
  ];

  it.each(cases)('%s', async (_name, set, message) => {
    const result = await templateRaw({ set });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });
});
