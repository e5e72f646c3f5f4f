// The injector as a pure function: from the pod the apiserver sent, its namespace's labels, the
// AccessPolicies of that namespace and the configuration, decide to skip, reject or inject, and
// compute the desired pod and the JSON Patch to it. No I/O: the HTTP route only feeds it.
//
// Idempotent by construction: an injected pod (status annotation AND a guarita-proxy container)
// keeps its sidecar and volumes untouched; only agent containers added since (by another mutating
// webhook, on reinvocation) get the endpoint variables, and the proxy is moved back to the front.
// The one exception: the proxy gets an ephemeral-storage limit holding its spool once another
// container has one (spool-storage.ts), whichever invocation first sees that limit.
// Running the injector on its own output yields an empty patch.
import type { AccessPolicy } from '../../crds/types.ts';
import {
  INJECT_ANNOTATION, INJECTION_NAMESPACE_LABEL, INJECTION_NAMESPACE_VALUE, POLICIES_ANNOTATION, SIDECAR_NAME,
  KUBECONFIG_ANNOTATION, STATUS_ANNOTATION, STATUS_INJECTED, VOLUME_PREFIX,
} from './constants.ts';
import { diff, type PatchOp } from './json-patch.ts';
import type { Container, EnvVar, Pod, VolumeMount } from './kube-types.ts';
import { matchesSelector } from './selector.ts';
import { missingSidecarAccess, type SidecarNamespaces } from './sidecar-namespaces.ts';
import { withoutRoot } from './run-as-non-root.ts';
import { withSpoolInPodLimit } from './spool-storage.ts';
import { agentEnv, agentMounts, isSidecarVolume, kubeconfigFor, sidecarContainer, sidecarVolumes, withAgentEnv, withAgentMounts, withoutRawNetwork, type SecretSource, type SidecarConfig, type SidecarMode, type TargetPlan } from './sidecar.ts';

export interface InjectorConfig {
  sidecar: SidecarConfig;
  /** Namespaces never injected, whatever their labels (kube-system..., Guarita's own). */
  excludedNamespaces: readonly string[];
  /** Where the chart gave the sidecar its RBAC and the operator's CA; absent: not checked. */
  sidecarNamespaces?: SidecarNamespaces;
}

export interface InjectionInput {
  pod: Pod;
  namespace: { name: string; labels: Record<string, string> };
  /** The AccessPolicies of the pod's namespace (the cache's view). */
  policies: readonly AccessPolicy[];
  config: InjectorConfig;
}

export type SkipReason = 'namespace-not-enabled' | 'excluded-namespace' | 'opted-out' | 'no-matching-policy' | 'already-injected';

export type InjectionDecision =
  | { action: 'skip'; reason: SkipReason; message: string }
  | { action: 'reject'; message: string }
  | { action: 'inject'; pod: Pod; patch: PatchOp[]; policies: string[]; warnings: string[]; reinvocation: boolean };

function addKey(sources: SecretSource[], ref: { name: string; key: string }): void {
  const same = sources.find((src) => src.name === ref.name);
  if (same === undefined) sources.push({ name: ref.name, keys: [ref.key] });
  else if (same.keys !== undefined && !same.keys.includes(ref.key)) same.keys.push(ref.key);
}

/** The credentials Secret whole, then single keys of other Secrets the sidecar reads for this target. */
function targetSecrets(policy: AccessPolicy): SecretSource[] {
  const t = policy.spec.target;
  const whole = t.credentialsSecretRef?.name;
  const sources: SecretSource[] = whole === undefined ? [] : [{ name: whole }];
  const refs = [t.tls?.caSecretRef, policy.spec.masking?.hashKeySecretRef].filter((r): r is { name: string; key: string } => r !== undefined && r.name !== whole);
  refs.forEach((ref) => addKey(sources, ref));
  return sources;
}

/** kubernetes targets: the purposes (KUBECONFIG contexts) and the audience of the agent's projected token. */
function kubernetesPlan(policy: AccessPolicy): NonNullable<TargetPlan['kubernetes']> {
  const audience = policy.spec.identity.serviceAccounts?.audiences[0];
  return { purposes: policy.spec.purposes.map((p) => p.name), ...(audience === undefined ? {} : { tokenAudience: audience }) };
}

/** What a policy contributes to the pod. */
export function targetOf(policy: AccessPolicy): TargetPlan {
  const t = policy.spec.target;
  return {
    policy: policy.metadata.name,
    target: t.name,
    protocol: t.protocol,
    listenPort: t.listenPort,
    ...(t.database === undefined ? {} : { database: t.database }),
    ...(t.protocol === 'kubernetes' ? { kubernetes: kubernetesPlan(policy) } : {}),
    secrets: targetSecrets(policy),
  };
}

/** AccessPolicies whose podSelector matches the pod, sorted by name (stable output). */
export function matchingPolicies(pod: Pod, policies: readonly AccessPolicy[]): AccessPolicy[] {
  return policies.filter((p) => matchesSelector(p.spec.podSelector, pod.metadata.labels)).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

function optInValue(pod: Pod): string | undefined {
  return pod.metadata.annotations?.[INJECT_ANNOTATION] ?? pod.metadata.labels?.[INJECT_ANNOTATION];
}

function allContainers(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
}

function findSidecar(pod: Pod): Container | undefined {
  return allContainers(pod).find((c) => c.name === SIDECAR_NAME);
}

export function isInjected(pod: Pod): boolean {
  return pod.metadata.annotations?.[STATUS_ANNOTATION] === STATUS_INJECTED && findSidecar(pod) !== undefined;
}

/** Port and name clashes that would make the sidecar unable to start, as messages naming the policies. */
export function targetConflicts(targets: readonly TargetPlan[], adminPort: number): string[] {
  const problems: string[] = [];
  targets.forEach((t, i) => {
    if (t.listenPort === adminPort) problems.push(`AccessPolicy ${t.policy}: spec.target.listenPort ${t.listenPort} is the sidecar's admin port`);
    for (const u of targets.slice(0, i)) {
      if (u.listenPort === t.listenPort) problems.push(`AccessPolicies ${u.policy} and ${t.policy} both listen on port ${t.listenPort} (spec.target.listenPort)`);
      if (u.target === t.target) problems.push(`AccessPolicies ${u.policy} and ${t.policy} both define target ${t.target} (spec.target.name)`);
    }
  });
  return problems;
}

function portClashes(pod: Pod, targets: readonly TargetPlan[], adminPort: number): string[] {
  const ours = new Map<number, string>([[adminPort, 'the sidecar admin port'], ...targets.map((t) => [t.listenPort, `target ${t.target}`] as [number, string])]);
  return allContainers(pod).filter((c) => c.name !== SIDECAR_NAME).flatMap((c) => (c.ports ?? [])
    .filter((p) => ours.has(p.containerPort))
    .map((p) => `container ${c.name} declares port ${p.containerPort}, which guarita-proxy uses for ${ours.get(p.containerPort)}`));
}

function preconditions(input: InjectionInput): InjectionDecision | undefined {
  const { pod, namespace, config } = input;
  if (config.excludedNamespaces.includes(namespace.name)) return { action: 'skip', reason: 'excluded-namespace', message: `namespace ${namespace.name} is never injected` };
  if (namespace.labels[INJECTION_NAMESPACE_LABEL] !== INJECTION_NAMESPACE_VALUE) {
    return { action: 'skip', reason: 'namespace-not-enabled', message: `namespace ${namespace.name} is not labelled ${INJECTION_NAMESPACE_LABEL}=${INJECTION_NAMESPACE_VALUE}` };
  }
  if (optInValue(pod) === 'false') return { action: 'skip', reason: 'opted-out', message: `pod opted out with ${INJECT_ANNOTATION}: "false"` };
  return undefined;
}

/**
 * A pod that brings its own guarita-proxy or guarita-* volumes (a hostPath named guarita-spool, a
 * projected guarita-tokens...) is refused rather than silently rewritten: those names are the
 * injector's alone, and the pod's author should learn that.
 */
function reservedNames(pod: Pod): string[] {
  const proxy = allContainers(pod).some((c) => c.name === SIDECAR_NAME)
    ? [`container ${SIDECAR_NAME}: the name is reserved for the proxy the injector adds; rename the container (or remove it: the injector adds the genuine one)`]
    : [];
  const volumes = (pod.spec.volumes ?? []).filter((v) => v.name.startsWith(VOLUME_PREFIX))
    .map((v) => `volume ${v.name}: names starting with ${VOLUME_PREFIX} are reserved for the volumes the injector adds to ${SIDECAR_NAME}; rename the volume`);
  return [...proxy, ...volumes];
}

function rejections(pod: Pod, targets: readonly TargetPlan[], adminPort: number): string[] {
  const hostNetwork = pod.spec.hostNetwork === true
    ? ['hostNetwork pods cannot be governed: the proxy\'s loopback listeners would be the node\'s, and the node\'s network carries every governed pod\'s traffic; remove hostNetwork, or run the pod in a namespace without the guarita.io/injection=enabled label']
    : [];
  // The proxy is a Linux container with Linux security settings, which the apiserver refuses in a Windows pod.
  const windows = (pod.spec.os as { name?: unknown } | undefined)?.name === 'windows'
    ? ['Windows pods cannot be governed: guarita-proxy is a Linux container; run the agent on Linux (remove spec.os.name: windows), or opt the pod out with guarita.io/inject: "false"']
    : [];
  return [...hostNetwork, ...windows, ...reservedNames(pod), ...targetConflicts(targets, adminPort), ...portClashes(pod, targets, adminPort)];
}

function warningsFor(pod: Pod, config: SidecarConfig): string[] {
  if (config.mode === 'container' && pod.spec.restartPolicy !== undefined && pod.spec.restartPolicy !== 'Always') {
    return ['guarita sidecarMode is "container" (clusters older than 1.29): this pod\'s proxy keeps running after the agent exits, so a Job never completes; use Kubernetes 1.29+ (native sidecars)'];
  }
  return [];
}

function withoutSidecar(list: Container[] | undefined): Container[] {
  return (list ?? []).filter((c) => c.name !== SIDECAR_NAME);
}

function agentContainers(list: Container[], env: EnvVar[], mounts: readonly VolumeMount[]): Container[] {
  return list.map((c) => withAgentMounts(withAgentEnv(c, env), mounts));
}

/**
 * Places the sidecar and applies agent env; init containers get the env only when they run after
 * the proxy. Every other container drops NET_RAW (sidecar.ts withoutRawNetwork) and, where it and
 * the pod leave them unset, gets runAsNonRoot: true and allowPrivilegeEscalation: false
 * (run-as-non-root.ts: root in any container rewrites the /etc/hosts the proxy resolves with).
 */
function assemble(pod: Pod, sidecar: Container, env: EnvVar[], mode: SidecarMode, mounts: readonly VolumeMount[] = []): Pod {
  const harden = (c: Container): Container => withoutRoot(withoutRawNetwork(c), pod.spec.securityContext);
  const init = withoutSidecar(pod.spec.initContainers).map(harden);
  const main = agentContainers(withoutSidecar(pod.spec.containers), env, mounts).map(harden);
  const spec = { ...pod.spec };
  if (mode === 'native') {
    spec.initContainers = [sidecar, ...agentContainers(init, env, mounts)];
    spec.containers = main;
  } else {
    if (pod.spec.initContainers !== undefined) spec.initContainers = init;
    spec.containers = [sidecar, ...main];
  }
  return { ...pod, spec };
}

const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

function injectedAnnotations(pod: Pod, targets: readonly TargetPlan[], cfg: SidecarConfig): Record<string, string> {
  const annotations: Record<string, string> = { [STATUS_ANNOTATION]: STATUS_INJECTED, [POLICIES_ANNOTATION]: targets.map((t) => t.policy).join(',') };
  // As an ordinary first container the proxy would become kubectl's default for logs and exec.
  const agent = withoutSidecar(pod.spec.containers)[0];
  if (cfg.mode === 'container' && agent !== undefined && pod.metadata.annotations?.[DEFAULT_CONTAINER_ANNOTATION] === undefined) {
    annotations[DEFAULT_CONTAINER_ANNOTATION] = agent.name;
  }
  return annotations;
}

function freshInjection(input: InjectionInput, targets: TargetPlan[]): Pod {
  const { pod, config } = input;
  const sidecarCfg = config.sidecar;
  const stripped: Pod = { ...pod, spec: { ...pod.spec, volumes: (pod.spec.volumes ?? []).filter((v) => !isSidecarVolume(v.name)) } };
  const assembled = assemble(stripped, sidecarContainer(targets, sidecarCfg), agentEnv(targets, sidecarCfg.adminPort), sidecarCfg.mode, agentMounts(targets));
  const desired = withSpoolInPodLimit(assembled, sidecarCfg.spoolSizeLimit);
  desired.spec.volumes = [...(desired.spec.volumes ?? []), ...sidecarVolumes(targets, sidecarCfg)];
  // Projected service-account tokens need a service account; the ServiceAccount admission plugin
  // normally sets "default" before webhooks run. Do the same where it does not run.
  if (desired.spec.serviceAccountName === undefined && desired.spec.serviceAccount === undefined) desired.spec.serviceAccountName = 'default';
  const kubeconfig = kubeconfigFor(targets, input.namespace.name);
  desired.metadata = { ...pod.metadata, annotations: { ...pod.metadata.annotations, ...injectedAnnotations(pod, targets, sidecarCfg), ...(kubeconfig === undefined ? {} : { [KUBECONFIG_ANNOTATION]: kubeconfig }) } };
  return desired;
}

function envValue(c: Container, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

/** The targets an injected sidecar was given (its GUARITA_TARGETS), so reinvocation stays consistent with it. */
function injectedTargets(sidecar: Container): TargetPlan[] | undefined {
  try {
    const parsed = JSON.parse(envValue(sidecar, 'GUARITA_TARGETS') ?? 'null') as unknown;
    return Array.isArray(parsed) ? (parsed as TargetPlan[]) : undefined;
  } catch {
    return undefined;
  }
}

/** The endpoint variables an agent container got at injection (they carry what GUARITA_TARGETS does not, e.g. the database). */
function injectedAgentEnv(pod: Pod, computed: EnvVar[]): EnvVar[] {
  const names = computed.map((e) => e.name);
  const reference = allContainers(pod).find((c) => c.name !== SIDECAR_NAME && names.every((n) => c.env?.some((e) => e.name === n)));
  if (reference === undefined) return computed;
  return names.map((n) => reference.env?.find((e) => e.name === n) ?? { name: n });
}

function reinvocation(pod: Pod, sidecar: Container, targets: TargetPlan[], config: InjectorConfig): Pod {
  const adminPort = Number(envValue(sidecar, 'GUARITA_ADMIN_PORT') ?? config.sidecar.adminPort);
  const native = sidecar.restartPolicy === 'Always';
  const env = injectedAgentEnv(pod, agentEnv(targets, adminPort));
  return withSpoolInPodLimit(assemble(pod, sidecar, env, native ? 'native' : 'container', agentMounts(targets)), config.sidecar.spoolSizeLimit);
}

function injectedDecision(original: Pod, desired: Pod, policies: string[], warnings: string[], again: boolean): InjectionDecision {
  const patch = diff(original, desired);
  if (again && patch.length === 0) return { action: 'skip', reason: 'already-injected', message: 'pod is already injected' };
  return { action: 'inject', pod: desired, patch, policies, warnings, reinvocation: again };
}

function alreadyInjected(input: InjectionInput): InjectionDecision | undefined {
  const sidecar = findSidecar(input.pod);
  if (sidecar === undefined || !isInjected(input.pod)) return undefined;
  const targets = injectedTargets(sidecar);
  if (targets === undefined) return undefined; // not our sidecar's shape: judged as a fresh pod, which refuses a guarita-proxy it brought
  const desired = reinvocation(input.pod, sidecar, targets, input.config);
  return injectedDecision(input.pod, desired, targets.map((t) => t.policy), [], true);
}

/**
 * No policy selects the pod. Without the opt-in annotation: not ours. With it, the pod insists on
 * being governed, but a sidecar without targets cannot start (GUARITA_TARGETS must list one):
 * refuse with the reason rather than create a pod stuck in initialisation. Controllers retry, so
 * the pod appears once its AccessPolicy exists.
 */
function noPolicy(pod: Pod, namespace: string): InjectionDecision {
  if (optInValue(pod) !== 'true') {
    return { action: 'skip', reason: 'no-matching-policy', message: `no AccessPolicy in ${namespace} selects this pod and it does not carry ${INJECT_ANNOTATION}: "true"` };
  }
  return { action: 'reject', message: `guarita cannot inject this pod: it carries ${INJECT_ANNOTATION}: "true" but no AccessPolicy in namespace ${namespace} selects it (check the pod's labels against the policies' spec.podSelector, or create the AccessPolicy first)` };
}

export function decideInjection(input: InjectionInput): InjectionDecision {
  const early = preconditions(input) ?? alreadyInjected(input);
  if (early !== undefined) return early;
  const { pod, config } = input;
  const policies = matchingPolicies(pod, input.policies);
  if (policies.length === 0) return noPolicy(pod, input.namespace.name);
  const serviceAccount = [pod.spec.serviceAccountName, pod.spec.serviceAccount].find((n): n is string => typeof n === 'string' && n !== '') ?? 'default';
  const access = config.sidecarNamespaces === undefined ? undefined : missingSidecarAccess(config.sidecarNamespaces, input.namespace.name, serviceAccount);
  if (access !== undefined) return { action: 'reject', message: `guarita cannot inject this pod: ${access}` };
  const targets = policies.map(targetOf);
  const problems = rejections(pod, targets, config.sidecar.adminPort);
  if (problems.length > 0) return { action: 'reject', message: `guarita cannot inject this pod: ${problems.join('; ')}` };
  return injectedDecision(pod, freshInjection(input, targets), policies.map((p) => p.metadata.name), warningsFor(pod, config.sidecar), false);
}

/**
 * What a CREATE of this pod gets, the apiserver's part included: the mutating webhook's
 * objectSelector (configurations.ts) never sends a pod labelled guarita.io/inject=false to the
 * injector, whatever its annotation says; every other pod gets decideInjection's answer.
 */
export function decisionAtCreate(input: InjectionInput): InjectionDecision {
  if (input.pod.metadata.labels?.[INJECT_ANNOTATION] === 'false') {
    return { action: 'skip', reason: 'opted-out', message: `pod opted out with the label ${INJECT_ANNOTATION}=false (the apiserver does not call the injector)` };
  }
  return decideInjection(input);
}
