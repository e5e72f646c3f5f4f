// Reads what `guarita check` judges, as the user (their kubeconfig identity): CRDs, the release's
// Deployments, their certificates and Lease, a server-side dry-run pod through the injection
// webhook, the namespace, its policies and the Secrets they name. Every read failure is kept as a
// fact (evaluate.ts reports it with what to do) instead of ending the check.
import { ApiextensionsV1Api, ApiException, AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../../crds/definitions.ts';
import type { AccessPolicy } from '../../../crds/types.ts';
import { loadX509 } from '../../../core/tls/x509.ts';
import type { KubeAccess } from '../kube.ts';
import { admissionVerdict } from './admission.ts';
import type { CertificateFact, ClusterFacts, CrdFact, DeploymentFact, LeaseFact, NamespaceFact, PolicyFact, Readable, SecretKeysFact, WebhookProbe } from './facts.ts';

export interface GatherOptions {
  /** The agents' namespace to check. */
  namespace: string;
  /** The release namespace; undefined: search every namespace. */
  guaritaNamespace?: string;
  certMinRemainingMs: number;
  now?: Date;
}

const PART_OF = 'app.kubernetes.io/part-of=guarita';

function reason(err: unknown): string {
  if (err instanceof ApiException) {
    let message = String(err.body);
    try { message = (JSON.parse(String(err.body)) as { message?: string }).message ?? message; } catch { /* keep the raw body */ }
    return `${err.code}: ${message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

const notFound = (err: unknown): boolean => err instanceof ApiException && err.code === 404;

async function readable<T>(read: () => Promise<T>): Promise<Readable<T>> {
  try { return { value: await read() }; } catch (err) { return { error: reason(err) }; }
}

async function crds(kube: KubeAccess): Promise<CrdFact[]> {
  const api = kube.kc.makeApiClient(ApiextensionsV1Api);
  const out: CrdFact[] = [];
  for (const name of [`accesspolicies.${GROUP}`, `approvalrequests.${GROUP}`]) {
    try {
      const crd = await api.readCustomResourceDefinition({ name });
      out.push({
        name,
        served: crd.spec.versions.filter((v) => v.served).map((v) => v.name),
        storage: crd.spec.versions.find((v) => v.storage)?.name,
        storedVersions: crd.status?.storedVersions ?? [],
        established: (crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True'),
      });
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }
  return out;
}

function replicaCounts(d: V1Deployment): Pick<DeploymentFact, 'replicas' | 'readyReplicas' | 'updatedReplicas' | 'message'> {
  const status = d.status ?? {};
  const problem = (status.conditions ?? []).find((c) => (c.type === 'Available' || c.type === 'Progressing') && c.status !== 'True');
  return { replicas: d.spec?.replicas ?? 1, readyReplicas: status.readyReplicas ?? 0, updatedReplicas: status.updatedReplicas ?? 0, message: problem?.message };
}

function containerFacts(d: V1Deployment): Pick<DeploymentFact, 'image' | 'env'> {
  const container = d.spec?.template.spec?.containers[0];
  const env = (container?.env ?? []).filter((e) => e.value !== undefined);
  return { image: container?.image, env: Object.fromEntries(env.map((e) => [e.name, e.value ?? ''])) };
}

function deploymentFact(d: V1Deployment): DeploymentFact | undefined {
  const meta = d.metadata ?? {};
  const labels = meta.labels ?? {};
  const component = labels['app.kubernetes.io/component'];
  if (component !== 'operator' && component !== 'webhook') return undefined;
  return {
    namespace: meta.namespace ?? '', name: meta.name ?? '', component,
    release: labels['app.kubernetes.io/instance'], version: labels['app.kubernetes.io/version'],
    ...replicaCounts(d), ...containerFacts(d),
  };
}

/** The Guarita Deployments (webhook, operator) of the release namespace, or of every namespace. */
export async function guaritaDeployments(kube: KubeAccess, namespace?: string): Promise<DeploymentFact[]> {
  const api = kube.kc.makeApiClient(AppsV1Api);
  const list = namespace === undefined
    ? await api.listDeploymentForAllNamespaces({ labelSelector: PART_OF })
    : await api.listNamespacedDeployment({ namespace, labelSelector: PART_OF });
  return list.items.map(deploymentFact).filter((d): d is DeploymentFact => d !== undefined);
}

async function certificate(kube: KubeAccess, d: DeploymentFact): Promise<CertificateFact> {
  const secret = `${d.name}-tls`;
  const source = `${d.namespace}/${secret}:tls.crt`;
  try {
    const s = await kube.kc.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace: d.namespace, name: secret });
    const data = s.data?.['tls.crt'];
    if (data === undefined) return { source, component: d.component, error: `Secret ${d.namespace}/${secret} has no tls.crt` };
    const pem = Buffer.from(data, 'base64').toString('utf8');
    const x509 = await loadX509();
    // The serving certificate is the first of the chain.
    const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
    if (first === undefined) return { source, component: d.component, error: 'tls.crt holds no PEM certificate' };
    const cert = new x509.X509Certificate(first);
    return { source, component: d.component, notBefore: cert.notBefore, notAfter: cert.notAfter, subject: cert.subject };
  } catch (err) {
    return { source, component: d.component, error: notFound(err) ? `Secret ${d.namespace}/${secret} not found` : reason(err) };
  }
}

async function lease(kube: KubeAccess, d: DeploymentFact): Promise<Readable<LeaseFact>> {
  const name = d.env.GUARITA_LEASE_NAME ?? 'guarita-operator-leader';
  const namespace = d.env.GUARITA_NAMESPACE ?? d.namespace;
  try {
    const spec = (await kube.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name })).spec ?? {};
    const renew = spec.renewTime ?? spec.acquireTime;
    return { value: { namespace, name, holder: spec.holderIdentity, renewTime: renew === undefined ? undefined : new Date(renew), leaseDurationSeconds: spec.leaseDurationSeconds } };
  } catch (err) {
    return notFound(err) ? { value: { namespace, name } } : { error: reason(err) };
  }
}

async function namespaceFact(kube: KubeAccess, name: string): Promise<NamespaceFact> {
  const core = kube.kc.makeApiClient(CoreV1Api);
  let labels: Record<string, string>;
  try {
    labels = (await core.readNamespace({ name })).metadata?.labels ?? {};
  } catch (err) {
    if (notFound(err)) return { name, exists: false, labels: {}, sidecarBindings: [], operatorCaConfigMaps: [] };
    throw err;
  }
  const bindings = await kube.kc.makeApiClient(RbacAuthorizationV1Api).listNamespacedRoleBinding({ namespace: name, labelSelector: PART_OF });
  const configMaps = await core.listNamespacedConfigMap({ namespace: name, labelSelector: PART_OF });
  return {
    name, exists: true, labels,
    sidecarBindings: bindings.items.filter((b) => b.roleRef.name.endsWith('-sidecar')).map((b) => b.metadata?.name ?? ''),
    operatorCaConfigMaps: configMaps.items.filter((c) => c.data?.['ca.crt'] !== undefined).map((c) => c.metadata?.name ?? ''),
  };
}

function policyFact(p: AccessPolicy): PolicyFact {
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name: p.metadata.name, generation: p.metadata.generation, target: p.spec.target, masking: p.spec.masking,
    ready: ready === undefined ? undefined : { status: ready.status, reason: ready.reason, message: ready.message, observedGeneration: ready.observedGeneration },
  };
}

async function secretKeys(kube: KubeAccess, namespace: string, name: string): Promise<SecretKeysFact> {
  try {
    const s = await kube.kc.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace, name });
    return { name, keys: [...Object.keys(s.data ?? {}), ...Object.keys(s.stringData ?? {})] };
  } catch (err) {
    return notFound(err) ? { name } : { name, error: reason(err) };
  }
}

/**
 * A pod created with dryRun=All in the namespace: the apiserver calls the mutating webhooks as for a
 * real pod and stores nothing. Admitted with the proxy, or refused by the webhook itself
 * ("denied the request"), proves the apiserver reaches it; "failed calling webhook" proves it does not.
 */
async function probeWebhook(kube: KubeAccess, namespace: string, { serviceAccount, labels }: { serviceAccount: string; labels: Record<string, string> }): Promise<WebhookProbe> {
  const pod: V1Pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { generateName: 'guarita-check-', namespace, labels: { ...labels, 'app.kubernetes.io/name': 'guarita-check' } },
    spec: {
      serviceAccountName: serviceAccount,
      // Compliant with the restricted Pod Security Standard, so that a namespace enforcing it judges the webhook, not the probe.
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'check', image: 'registry.k8s.io/pause:3.10', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
  try {
    const created = await kube.kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace, body: pod, dryRun: 'All' });
    const names = [...(created.spec?.initContainers ?? []), ...(created.spec?.containers ?? [])].map((c) => c.name);
    return { reached: names.includes('guarita-proxy'), injected: names.includes('guarita-proxy'), ...(names.includes('guarita-proxy') ? {} : { message: 'admitted without the guarita-proxy sidecar: no Guarita webhook covers this namespace (or no AccessPolicy selects the dry-run pod)' }) };
  } catch (err) {
    const verdict = admissionVerdict(err instanceof ApiException ? err.code : 0, reason(err));
    if (verdict === undefined) throw err;
    return verdict;
  }
}


/** The dry-run pod as an agent of the first policy: its ServiceAccount subject (else default) and podSelector labels. */
function probeIdentity(policies: readonly AccessPolicy[], namespace: string): { serviceAccount: string; labels: Record<string, string> } {
  const first = policies[0];
  const labels = first?.spec.podSelector.matchLabels ?? {};
  const subjects = (first?.spec.subjects ?? []) as Array<{ kind?: string; name?: string; namespace?: string }>;
  const sa = subjects.find((s) => s.kind === 'ServiceAccount' && (s.namespace ?? namespace) === namespace);
  return { serviceAccount: sa?.name ?? 'default', labels };
}

export async function gather(kube: KubeAccess, opts: GatherOptions): Promise<ClusterFacts> {
  const ns = opts.namespace;
  const [crdFacts, deployments, namespace, rawPolicies] = await Promise.all([
    readable(() => crds(kube)),
    readable(() => guaritaDeployments(kube, opts.guaritaNamespace)),
    readable(() => namespaceFact(kube, ns)),
    readable(async () => (await kube.kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'accesspolicies' }) as { items: AccessPolicy[] }).items),
  ]);
  const found = deployments.value ?? [];
  const policies: Readable<PolicyFact[]> = rawPolicies.error !== undefined ? { error: rawPolicies.error } : { value: (rawPolicies.value ?? []).map(policyFact) };
  const secretNames = [...new Set((rawPolicies.value ?? []).flatMap((p) => {
    const t = p.spec.target;
    return [t?.credentialsSecretRef?.name, t?.tls?.caSecretRef?.name, p.spec.masking?.hashKeySecretRef?.name].filter((n): n is string => n !== undefined);
  }))];
  const webhook = namespace.value?.exists === true && namespace.value.labels['guarita.io/injection'] === 'enabled'
    ? await readable(() => probeWebhook(kube, ns, probeIdentity(rawPolicies.value ?? [], ns)))
    : undefined;
  const [certificates, leases, secrets] = await Promise.all([
    Promise.all(found.map((d) => certificate(kube, d))),
    Promise.all(found.filter((d) => d.component === 'operator').map((d) => lease(kube, d))),
    Promise.all(secretNames.map((n) => secretKeys(kube, ns, n))),
  ]);
  return {
    now: opts.now ?? new Date(), certMinRemainingMs: opts.certMinRemainingMs, expectedVersion: VERSION,
    crds: crdFacts, deployments, certificates, ...(webhook === undefined ? {} : { webhook }), namespace, policies, secrets, leases,
  };
}
