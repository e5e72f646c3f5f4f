// Who may send evidence to the operator (issue 18, item 4, the operator's half). The webhook keeps
// the sidecar's volumes and the operator-audience token away from agent containers, but only in
// opted-in namespaces: in any other namespace (or in one briefly un-labelled during a webhook
// outage) a pod can project a token for the operator's audience itself. So the operator accepts
// records only from a token bound to a pod that (a) lives in an opted-in namespace, (b) still
// exists with the token's pod UID, and (c) carries the injected proxy: the status annotation the
// injector stamps, a guarita-proxy container, and no other container mounting the volumes only
// the proxy may read. Pure: the operator fetches the Namespace and Pod and asks this.
//
// The names are the injection contract's (docs/injection-contract.md, webhook/src/constants.ts):
// they are repeated here because components never import each other's src/.

export const INJECTION_NAMESPACE_LABEL = 'guarita.io/injection';
export const INJECTION_NAMESPACE_VALUE = 'enabled';
export const STATUS_ANNOTATION = 'guarita.io/status';
export const STATUS_INJECTED = 'injected';
/** The AccessPolicies whose podSelector chose the pod at admission, comma-separated (the injector stamps it). */
export const POLICIES_ANNOTATION = 'guarita.io/policies';
/** The proxy's targets, a JSON list of { policy, ... } (the injector sets it; a container's env cannot change after admission). */
export const TARGETS_ENV = 'GUARITA_TARGETS';
export const SIDECAR_NAME = 'guarita-proxy';
/** Volumes the injector adds and only the proxy may mount (the webhook reserves every guarita-* name). */
export const SIDECAR_VOLUME_PREFIX = 'guarita-';
/**
 * The exceptions: what the injector gives agent containers of kubernetes targets, read-only (the
 * proxy's serving CA; the agents' KUBECONFIG and their own token), and of ssh targets (the proxy's
 * published host key). Nothing in them can sign or send
 * evidence (the webhook refuses a pod whose agent token would have the operator's audience).
 */
// guarita-agent-ssh: an ssh target's published host key (known_hosts, ssh_config), public by nature.
export const AGENT_READ_ONLY_VOLUMES: readonly string[] = ['guarita-agent-kube-ca', 'guarita-agent-kubeconfig', 'guarita-agent-ssh'];

/** The TokenReview's bound-pod claims (status.user.extra authentication.kubernetes.io/pod-*). */
export interface BoundPod { namespace: string; name: string; uid: string }

interface ContainerFacts { name: string; volumeMounts?: readonly { name: string; readOnly?: boolean }[]; env?: readonly { name: string; value?: string }[] }

/** The parts of a Namespace and a Pod the decision reads (as the apiserver returns them). */
export interface NamespaceFacts { metadata?: { labels?: Record<string, string> } }
export interface PodFacts {
  metadata?: { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string> };
  spec?: { containers?: readonly ContainerFacts[]; initContainers?: readonly ContainerFacts[]; ephemeralContainers?: readonly ContainerFacts[] };
}

/**
 * `policies`: the AccessPolicies the pod's proxy records under (governingPolicies); a record naming
 * any other is refused at ingest.
 */
export type EvidenceSourceVerdict = { ok: true; policies: readonly string[] } | { ok: false; reason: string };

function namespaceProblem(bound: BoundPod, namespace: NamespaceFacts | undefined): string | undefined {
  if (namespace === undefined) return `namespace ${bound.namespace} does not exist`;
  const label = namespace.metadata?.labels?.[INJECTION_NAMESPACE_LABEL];
  if (label === INJECTION_NAMESPACE_VALUE) return undefined;
  const found = label === undefined ? 'is missing' : `is "${label}"`;
  return `namespace ${bound.namespace} is not opted in (label ${INJECTION_NAMESPACE_LABEL}=${INJECTION_NAMESPACE_VALUE} ${found}): only sidecars the webhook injected send evidence; label the namespace and recreate the pod so the webhook injects it`;
}

function podProblem(bound: BoundPod, pod: PodFacts | undefined): string | undefined {
  const where = `pod ${bound.namespace}/${bound.name}`;
  if (pod === undefined) return `${where}, the token's bound pod, does not exist: tokens of deleted pods send no evidence`;
  const uid = pod.metadata?.uid;
  if (uid !== bound.uid) return `${where} has UID ${uid ?? '(none)'}, the token is bound to UID ${bound.uid} (a pod of the same name was recreated): use the token of the running pod`;
  if (pod.metadata?.annotations?.[STATUS_ANNOTATION] !== STATUS_INJECTED) {
    return `${where} was not injected by the guarita webhook (annotation ${STATUS_ANNOTATION}: ${STATUS_INJECTED} is missing): recreate the pod in the opted-in namespace so the webhook injects it`;
  }
  return proxyProblem(where, containersOf(pod));
}

function containersOf(pod: PodFacts): ContainerFacts[] {
  const spec = pod.spec ?? {};
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
}

function proxyProblem(where: string, containers: readonly ContainerFacts[]): string | undefined {
  if (!containers.some((c) => c.name === SIDECAR_NAME)) return `${where} has no ${SIDECAR_NAME} container: only the injected proxy sends evidence; recreate the pod so the webhook injects it`;
  const reserved = (m: { name: string; readOnly?: boolean }): boolean => m.name.startsWith(SIDECAR_VOLUME_PREFIX) && !(m.readOnly === true && AGENT_READ_ONLY_VOLUMES.includes(m.name));
  const intruders = containers.filter((c) => c.name !== SIDECAR_NAME && (c.volumeMounts ?? []).some(reserved));
  if (intruders.length === 0) return undefined;
  return `${where}: container ${intruders.map((c) => c.name).join(', ')} mounts a volume reserved for ${SIDECAR_NAME} (${SIDECAR_VOLUME_PREFIX}*), so the evidence could come from it: remove the mount and recreate the pod`;
}

/**
 * May the pod a token is bound to send evidence? `namespace`/`pod` are undefined when the
 * apiserver answered 404. Every refusal names what failed and the fix.
 */
export function judgeEvidenceSource(bound: BoundPod, namespace: NamespaceFacts | undefined, pod: PodFacts | undefined): EvidenceSourceVerdict {
  const reason = namespaceProblem(bound, namespace) ?? podProblem(bound, pod);
  // podProblem refuses a missing pod, so `pod` is there past it.
  return reason === undefined ? { ok: true, policies: governingPolicies(pod ?? {}) } : { ok: false, reason };
}

/** The policy names of a proxy's GUARITA_TARGETS; undefined without the variable, [] when it is not a list of { policy }. */
function targetPolicies(pod: PodFacts): string[] | undefined {
  const env = containersOf(pod).find((c) => c.name === SIDECAR_NAME)?.env?.find((e) => e.name === TARGETS_ENV);
  if (env === undefined) return undefined;
  try {
    const targets = JSON.parse(env.value ?? '') as unknown;
    if (!Array.isArray(targets)) return [];
    return targets.flatMap((t: unknown) => typeof (t as { policy?: unknown } | null)?.policy === 'string' ? [(t as { policy: string }).policy] : []);
  } catch {
    return [];
  }
}

/**
 * The AccessPolicies a pod's proxy may record under: those its guarita.io/policies annotation names
 * (what the injector stamped), and, where the proxy carries GUARITA_TARGETS, only those of them it
 * also names. The annotation is an annotation: anyone who may patch the pod can edit it, and the
 * webhook does not guard it on UPDATE; the proxy's environment cannot change after admission. So an
 * edit can only narrow the list (refusing the pod's own evidence), never widen it. No annotation:
 * no policy (fail closed).
 */
export function governingPolicies(pod: PodFacts): string[] {
  const annotated = (pod.metadata?.annotations?.[POLICIES_ANNOTATION] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  const targets = targetPolicies(pod);
  const allowed = targets === undefined ? annotated : annotated.filter((p) => targets.includes(p));
  return [...new Set(allowed)];
}

/**
 * The bound pod from a TokenReview's user.extra, or a refusal: a token without pod claims (a
 * TokenRequest without a bound object, a legacy Secret token) cannot be tied to an injected proxy.
 */
export function boundPodOf(namespace: string, extra: Record<string, readonly string[]> | undefined): { ok: true; pod: BoundPod } | { ok: false; reason: string } {
  const one = (key: string): string | undefined => {
    const v = extra?.[key];
    return v?.length === 1 && v[0] !== '' ? v[0] : undefined;
  };
  const name = one('authentication.kubernetes.io/pod-name');
  const uid = one('authentication.kubernetes.io/pod-uid');
  if (name === undefined || uid === undefined) {
    return { ok: false, reason: 'the token is not bound to a pod (no authentication.kubernetes.io/pod-name and pod-uid in the TokenReview): send the projected service-account token the webhook mounts into guarita-proxy (audience of the operator), not a TokenRequest without a bound Pod' };
  }
  return { ok: true, pod: { namespace, name, uid } };
}
