// Pods bound to ingest tokens, as an injected proxy holds them: the namespace opted in, the Pod
// (hand-made as the webhook leaves it, or injected by a live webhook), and a TokenRequest bound
// to that Pod. The operator accepts evidence only from such tokens.
import { isNotFound } from '../../operator/src/kube/client.ts';
import { adminApi, createServiceAccount } from './kube-apply.ts';

/** Labels a namespace opted in, as an administrator does (docs/webhook.md). */
export async function optInNamespace(namespace: string): Promise<void> {
  await adminApi().mergePatch(`/api/v1/namespaces/${namespace}`, { metadata: { labels: { 'guarita.io/injection': 'enabled' } } });
}

export interface PodShape {
  /** Stamp the injector's status annotation (default true). */
  injected?: boolean;
  /** Add a guarita-proxy container (default true). */
  proxy?: boolean;
  /** Extra volumeMounts of the agent container (e.g. guarita-spool: the item 4 attack). */
  agentMounts?: string[];
  /** Pod labels (the fallback through a live webhook needs a policy's podSelector to match). */
  labels?: Record<string, string>;
  /**
   * The guarita.io/policies annotation the injector stamps: the policies the proxy records under
   * (the operator refuses records naming any other). Default: every AccessPolicy of the namespace
   * when the pod is created, as if each selected it, else orders-db (store-testkit's records).
   */
  policies?: string[];
}

/**
 * The Pod object an ingest token is bound to, shaped as the webhook leaves an injected pod (the
 * guarita.io/status annotation, a guarita-proxy container) unless `shape` says otherwise. There is
 * no kubelet: the pod stays Pending and the test process plays its proxy. Where a live webhook
 * guards the namespace (scenarios with `webhook: true`) it refuses such a hand-made "injected" pod,
 * so the pod is created as an agent asks (guarita.io/inject: "true") and the webhook injects it.
 * Created once per name; returns its UID.
 */
export async function agentPod(namespace: string, sa: string, name: string, shape: PodShape = {}): Promise<string> {
  const api = adminApi();
  try {
    return (await api.get<{ metadata: { uid: string } }>(`/api/v1/namespaces/${namespace}/pods/${name}`)).metadata.uid;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    return await handMadePod(namespace, sa, name, shape);
  } catch (err) {
    const genuineWanted = shape.injected !== false && shape.proxy !== false;
    if (!(genuineWanted && err instanceof Error && /admission webhook/.test(err.message))) throw err;
  }
  return webhookInjectedPod(namespace, sa, name, shape.labels ?? {});
}

async function webhookInjectedPod(namespace: string, sa: string, name: string, labels: Record<string, string>): Promise<string> {
  const injected = await adminApi().create<{ metadata: { uid: string; annotations?: Record<string, string> } }>(`/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels, annotations: { 'guarita.io/inject': 'true' } },
    spec: { serviceAccountName: sa, containers: [{ name: 'agent', image: 'registry.invalid/agent:test' }] },
  });
  if (injected.metadata.annotations?.['guarita.io/status'] !== 'injected') throw new Error(`pod ${namespace}/${name}: the live webhook refused a hand-made injected pod but did not inject it either`);
  return injected.metadata.uid;
}

async function handMadePod(namespace: string, sa: string, name: string, shape: PodShape): Promise<string> {
  const volumes = [{ name: 'guarita-spool', emptyDir: {} }, { name: 'guarita-tokens', emptyDir: {} }];
  const proxy = { name: 'guarita-proxy', image: 'registry.invalid/guarita:test', volumeMounts: volumes.map((v) => ({ name: v.name, mountPath: `/var/run/guarita/${v.name}` })) };
  const agent = { name: 'agent', image: 'registry.invalid/agent:test', volumeMounts: (shape.agentMounts ?? []).map((n) => ({ name: n, mountPath: `/mnt/${n}` })) };
  const policies = shape.policies ?? await namespacePolicies(namespace);
  const annotations = { 'guarita.io/status': 'injected', 'guarita.io/policies': policies.join(',') };
  const pod = await adminApi().create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels: shape.labels ?? {}, annotations: shape.injected === false ? {} : annotations },
    spec: { serviceAccountName: sa, automountServiceAccountToken: false, volumes, containers: [agent, ...(shape.proxy === false ? [] : [proxy])] },
  });
  return pod.metadata.uid;
}

/** The AccessPolicies of a namespace now (orders-db when it has none yet: the store testkit's records name it). */
async function namespacePolicies(namespace: string): Promise<string[]> {
  const list = await adminApi().list<{ metadata: { name: string } }>(`/apis/guarita.io/v1alpha1/namespaces/${namespace}/accesspolicies`);
  const names = list.items.map((p) => p.metadata.name);
  return names.length > 0 ? names : ['orders-db'];
}

/**
 * Adds `policies` to a pod's guarita.io/policies, as the injector would have stamped them for a
 * proxy serving them (the operator takes records only under these): for hand-made pods created
 * before the test's AccessPolicies. A pod that lists them already is left alone.
 */
export async function governedBy(namespace: string, pod: string, policies: readonly string[]): Promise<void> {
  const api = adminApi();
  const path = `/api/v1/namespaces/${namespace}/pods/${pod}`;
  const annotations = (await api.get<{ metadata: { annotations?: Record<string, string> } }>(path)).metadata.annotations ?? {};
  const current = (annotations['guarita.io/policies'] ?? '').split(',').filter((p) => p !== '');
  if (annotations['guarita.io/status'] !== 'injected' || policies.every((p) => current.includes(p))) return;
  await api.mergePatch(path, { metadata: { annotations: { 'guarita.io/policies': [...new Set([...current, ...policies])].join(',') } } });
}

/** A TokenRequest bound to a Pod, as the kubelet projects it (TokenReview then names the pod in user.extra). */
export async function podBoundToken(namespace: string, sa: string, pod: string, uid: string, audience: string, seconds = 3600): Promise<string> {
  const res = await adminApi().create<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
    spec: { expirationSeconds: seconds, audiences: [audience], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid } },
  });
  return res.status.token;
}

/**
 * What a genuine injected proxy holds: its namespace opted in, its Pod (with the proxy), and an
 * operator-audience token bound to that Pod. The operator accepts evidence only from such tokens.
 */
export async function injectedProxyToken(namespace: string, sa: string, pod: string, seconds = 3600, labels: Record<string, string> = { app: sa }): Promise<{ token: string; uid: string }> {
  await createServiceAccount(namespace, sa);
  await optInNamespace(namespace);
  const uid = await agentPod(namespace, sa, pod, { labels });
  return { token: await podBoundToken(namespace, sa, pod, uid, 'guarita-operator', seconds), uid };
}
