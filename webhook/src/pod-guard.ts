// Validation of pods in opted-in namespaces (after every mutating webhook ran). Two things reach
// the genuine guarita-proxy container only:
// - governed secrets: a target's credentials, the masking HMAC key, and the projected
//   service-account token for the operator's audience (the ingest credential);
// - the volumes the injector adds (guarita-spool holds the chain's signing key and unsent
//   records, guarita-tokens the operator token, guarita-target-* the credentials). Every volume
//   name starting with guarita- is reserved for them.
// "Genuine" is decided by recomputing what the injector writes for the policies the proxy lists and
// comparing field by field (injector-difference.ts: apiserver defaults aside, quantities by value,
// resource entries that only place the pod or bound the proxy's own availability not compared),
// so a pod created already "injected" (forged annotation and a look-alike proxy) is refused, and an
// UPDATE (pods/resize included) may not change the proxy at all. Once any container limits
// ephemeral-storage, the proxy's own limit must hold its spool (spool-storage.ts). Covers init, regular and
// ephemeral (debug) containers, exec/attach into the proxy, and label changes that would make the
// injector's decision differ from what the pod runs. Next to the proxy, no other container may be
// or become root (run-as-non-root.ts: it would rewrite the /etc/hosts the proxy resolves with). Pure.
import type { AccessPolicy } from '../../crds/types.ts';
import { AGENT_VOLUME_PREFIX, INJECT_ANNOTATION, INJECTION_NAMESPACE_LABEL, INJECTION_NAMESPACE_VALUE, SIDECAR_NAME, STATUS_ANNOTATION, STATUS_INJECTED, VOLUME_PREFIX } from './constants.ts';
import { decisionAtCreate, matchingPolicies, targetOf, type InjectionDecision, type InjectorConfig } from './inject.ts';
import { firstDifference, short } from './injector-difference.ts';
import { deepEqual } from './json-patch.ts';
import type { Container, Pod, Volume } from './kube-types.ts';
import { dnsViolations, hostnameViolations, resolvedHosts } from './name-resolution.ts';
import { rootViolations } from './run-as-non-root.ts';
import { capabilityName, dropsRawNetwork, sidecarContainer, sidecarVolumes, targetsJson, type SidecarConfig } from './sidecar.ts';
import { spoolStorageViolations } from './spool-storage.ts';

/** What the guard needs from the webhook's configuration. */
export interface GuardConfig {
  sidecar: SidecarConfig;
  /** Inline CSI drivers pods of opted-in namespaces may use (a CSI driver can expose node paths). */
  allowedCsiDrivers: readonly string[];
}

/** Secret name → why it is governed (for the rejection message). */
export type GovernedSecrets = Map<string, string>;

export function governedSecrets(policies: readonly AccessPolicy[]): GovernedSecrets {
  const secrets: GovernedSecrets = new Map();
  for (const p of policies) {
    const creds = p.spec.target.credentialsSecretRef?.name;
    if (creds !== undefined) secrets.set(creds, `the credentials of target ${p.spec.target.name} (AccessPolicy ${p.metadata.name})`);
    const hashKey = p.spec.masking?.hashKeySecretRef?.name;
    if (hashKey !== undefined && !secrets.has(hashKey)) secrets.set(hashKey, `the masking hash key of AccessPolicy ${p.metadata.name}`);
  }
  return secrets;
}

type ContainerKind = 'init container' | 'container' | 'ephemeral container';
interface Placed { c: Container; kind: ContainerKind }

function placed(pod: Pod): Placed[] {
  return [
    ...(pod.spec.initContainers ?? []).map((c) => ({ c, kind: 'init container' as const })),
    ...(pod.spec.containers ?? []).map((c) => ({ c, kind: 'container' as const })),
    ...(pod.spec.ephemeralContainers ?? []).map((c) => ({ c, kind: 'ephemeral container' as const })),
  ];
}

/** What a volume hands to whoever mounts it, when that is governed: one phrase per item. */
function volumeReads(v: Volume, governed: GovernedSecrets, operatorAudience: string): string[] {
  const secrets = [
    ...(v.secret?.secretName === undefined ? [] : [v.secret.secretName]),
    ...(v.projected?.sources ?? []).flatMap((s) => (s.secret?.name === undefined ? [] : [s.secret.name])),
  ].filter((s) => governed.has(s)).map((s) => `Secret ${s} (volume ${v.name}), ${governed.get(s)}`);
  const tokens = (v.projected?.sources ?? []).filter((s) => s.serviceAccountToken !== undefined && s.serviceAccountToken.audience === operatorAudience)
    .map(() => `a service-account token for audience ${operatorAudience} (volume ${v.name}), the sidecar's credential for the operator's ingest API`);
  return [...secrets, ...tokens];
}

const FIX = 'only the injected guarita-proxy container may read it: remove the mount or reference (agents reach the target through the proxy, see <TARGET>_URL)';

/** Which governed secrets or tokens a container can read, and how. */
function containerLeaks(p: Placed, volumes: readonly Volume[], governed: GovernedSecrets, operatorAudience: string): string[] {
  const { c, kind } = p;
  const byVolume = new Map(volumes.map((v) => [v.name, v]));
  const names = [...(c.volumeMounts ?? []).map((m) => m.name), ...volumeDevices(c).map((d) => d.name)];
  // Reserved volumes are reported by reservedMounts already, with their role.
  const viaMounts = [...new Set(names)].filter((name) => !isReservedVolume(name)).flatMap((name) => {
    const v = byVolume.get(name);
    return v === undefined ? [] : volumeReads(v, governed, operatorAudience);
  });
  const viaEnvFrom = (c.envFrom ?? []).flatMap((e) => (e.secretRef?.name !== undefined && governed.has(e.secretRef.name) ? [`Secret ${e.secretRef.name} (envFrom), ${governed.get(e.secretRef.name)}`] : []));
  const viaEnv = (c.env ?? []).flatMap((e) => {
    const name = e.valueFrom?.secretKeyRef?.name;
    return name !== undefined && governed.has(name) ? [`Secret ${name} (env ${e.name}), ${governed.get(name)}`] : [];
  });
  return [...viaMounts, ...viaEnvFrom, ...viaEnv].map((what) => `${kind} ${c.name} reads ${what}; ${FIX}`);
}

function volumeDevices(c: Container): { name: string; devicePath?: string }[] {
  const devices = c.volumeDevices;
  return Array.isArray(devices) ? devices.filter((d): d is { name: string } => typeof (d as { name?: unknown } | null)?.name === 'string') : [];
}

export function isReservedVolume(name: string): boolean {
  return name.startsWith(VOLUME_PREFIX);
}

const VOLUME_ROLE: Record<string, string> = {
  'guarita-spool': 'the proxy\'s spool (its chain signing key and unsent records)',
  'guarita-tokens': 'the proxy\'s tokens (the operator ingest token)',
};

function volumeRole(name: string): string {
  return VOLUME_ROLE[name] ?? (name.startsWith('guarita-target-') ? 'a target\'s credentials' : 'a name reserved for the volumes the injector adds');
}

/** Mounts (any subPath/subPathExpr) and block devices of reserved volumes by anything but the genuine proxy. */
function reservedMounts(p: Placed): string[] {
  const { c, kind } = p;
  // The agent-facing volumes of kubernetes targets (the proxy's CA, the KUBECONFIG) are the exception, read-only.
  const mounts = (c.volumeMounts ?? []).filter((m) => isReservedVolume(m.name) && !(m.name.startsWith(AGENT_VOLUME_PREFIX) && m.readOnly === true)).map((m) => {
    const sub = typeof m.subPath === 'string' && m.subPath !== '' ? ` (subPath ${m.subPath})` : typeof m.subPathExpr === 'string' && m.subPathExpr !== '' ? ` (subPathExpr ${m.subPathExpr})` : '';
    return `${kind} ${c.name} mounts volume ${m.name}${sub}, ${volumeRole(m.name)}`;
  });
  const devices = volumeDevices(c).filter((d) => isReservedVolume(d.name)).map((d) => `${kind} ${c.name} uses volume ${d.name} as a block device (volumeDevices), ${volumeRole(d.name)}`);
  return [...mounts, ...devices].map((m) => `${m}; only the injected ${SIDECAR_NAME} may mount it: remove the mount (agents reach targets through the proxy, see <TARGET>_URL)`);
}

/** Capabilities that reach other containers' files or processes (mount, trace, read around permissions, kernel memory). */
const FILE_CAPABILITIES = new Set(['ALL', 'SYS_ADMIN', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYS_MODULE', 'SYS_RAWIO', 'BPF', 'PERFMON']);
/**
 * Capabilities over the network namespace every container of the pod shares with the proxy:
 * NET_ADMIN rewrites its routes and iptables (redirecting the proxy's upstream connection, where
 * rows travel unmasked, or its operator connection), NET_RAW captures that traffic. kubectl debug
 * --profile=netadmin adds both.
 */
const NETWORK_CAPABILITIES = new Set(['NET_ADMIN', 'NET_RAW']);

/** Windows host process, at the container or (inherited by every container) the pod level. */
function hostProcess(sc: unknown): boolean {
  return (sc as { windowsOptions?: { hostProcess?: unknown } } | undefined)?.windowsOptions?.hostProcess === true;
}

/** A container that can reach the node or the proxy (privileged, or a capability to mount, trace, read around permissions or take over the pod's network). */
function escapes(p: Placed): string[] {
  const sc = p.c.securityContext as { privileged?: unknown; capabilities?: { add?: unknown } } | undefined;
  const out: string[] = [];
  if (sc?.privileged === true) out.push(`${p.kind} ${p.c.name} is privileged: it can reach the node's disks and the proxy's volumes; remove securityContext.privileged`);
  if (hostProcess(sc)) out.push(`${p.kind} ${p.c.name} is a Windows host process: it runs on the node itself; remove securityContext.windowsOptions.hostProcess`);
  const add = Array.isArray(sc?.capabilities?.add) ? (sc.capabilities.add as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  const files = add.filter((cap) => FILE_CAPABILITIES.has(capabilityName(cap)));
  if (files.length > 0) out.push(`${p.kind} ${p.c.name} adds capabilities ${files.join(', ')}: they reach other containers' files; remove them from securityContext.capabilities.add`);
  const network = add.filter((cap) => NETWORK_CAPABILITIES.has(capabilityName(cap)));
  if (network.length > 0) out.push(`${p.kind} ${p.c.name} adds capabilities ${network.join(', ')}: the pod's network is ${SIDECAR_NAME}'s too, and they redirect or capture its connections (rows from the target travel there unmasked); remove them from securityContext.capabilities.add`);
  return out;
}

/** In a pod with the proxy, every other container must give up the runtime's default NET_RAW (the injector drops it). */
function keepsRawNetwork(p: Placed): string[] {
  if (dropsRawNetwork(p.c)) return [];
  const debug = p.kind === 'ephemeral container' ? ' (kubectl debug --profile=restricted does)' : ' (the injector does this for the containers it sees)';
  return [`${p.kind} ${p.c.name} keeps the NET_RAW capability container runtimes grant by default, with which it can capture the pod's network, where rows travel unmasked between ${SIDECAR_NAME} and its target; add NET_RAW (or ALL) to securityContext.capabilities.drop${debug}`];
}

/** Pod-level security context: a Windows host-process pod makes every container a host process. */
function podEscapes(pod: Pod): string[] {
  return hostProcess(pod.spec.securityContext) ? ['spec.securityContext.windowsOptions.hostProcess: true makes every container a Windows host process, running on the node itself; remove it'] : [];
}

/** Volumes that open the node's filesystem (where every pod's spool lives, under the kubelet's directory). */
function nodeVolumes(pod: Pod, cfg: GuardConfig): string[] {
  return (pod.spec.volumes ?? []).flatMap((v) => {
    if (v.hostPath !== undefined) return [`volume ${v.name} is a hostPath: it can reach the kubelet's directory, where every pod's spool (chain signing keys) and projected tokens live; Guarita refuses hostPath volumes in namespaces labelled guarita.io/injection=enabled: use another volume type, or run node agents in a namespace without the label`];
    // gitRepo runs git as root on the node with the pod's arguments (CVE-2024-10220); flexVolume
    // runs a node-side driver with the pod's options, like an inline CSI driver.
    if (v.gitRepo !== undefined) return [`volume ${v.name} is a gitRepo volume: the kubelet runs git on the node for it, which has been used to run commands there (CVE-2024-10220); clone in an init container into an emptyDir instead`];
    if (v.flexVolume !== undefined) return [`volume ${v.name} is a flexVolume: its driver runs on the node with the pod's options and can expose node paths such as the proxy's spool; use a PersistentVolumeClaim`];
    const driver = (v.csi as { driver?: unknown } | undefined)?.driver;
    if (v.csi !== undefined && !(typeof driver === 'string' && cfg.allowedCsiDrivers.includes(driver))) {
      return [`volume ${v.name} uses CSI driver ${String(driver)} inline, which is not in GUARITA_WEBHOOK_ALLOWED_CSI_DRIVERS (chart: webhook.allowedCsiDrivers): a CSI driver can expose node paths such as the proxy's spool; ask the cluster admin to allow the driver, or use a PersistentVolumeClaim`];
    }
    return [];
  });
}

/** Pod-level settings that let agent containers see into their own pod's proxy (its /proc/<pid>/root). */
function sharedNamespaces(pod: Pod): string[] {
  return pod.spec.shareProcessNamespace === true ? [`spec.shareProcessNamespace: true lets agent containers read ${SIDECAR_NAME}'s files through /proc; remove it (kubectl debug --share-processes included)`] : [];
}

const HOST_FIX = 'remove it, or run the pod in a namespace without the guarita.io/injection=enabled label';

/**
 * The node's namespaces, in any pod of an opted-in namespace, proxy or not (opted out with
 * guarita.io/inject=false, or no policy selecting it): they reach every OTHER pod's proxy on the
 * node. hostPID: /proc/<pid>/root and environ of every proxy running as the same uid, no
 * capability needed; hostNetwork: the node's interfaces, where every pod's upstream traffic
 * (unmasked rows) passes, captured with the runtime's default NET_RAW; hostIPC: the node's shared
 * memory. For the pod's own proxy, hostNetwork would also put its loopback listeners on the node.
 */
function hostNamespaces(pod: Pod): string[] {
  const out: string[] = [];
  if (pod.spec.hostPID === true) out.push(`spec.hostPID: true lets the pod's containers read the files of every process on the node through /proc, ${SIDECAR_NAME} of every governed pod included; ${HOST_FIX}`);
  if (pod.spec.hostNetwork === true) out.push(`spec.hostNetwork: true puts the pod on the node's network, where it can capture every pod's traffic (rows between each ${SIDECAR_NAME} and its target travel unmasked) and a proxy's loopback listeners would be the node's; ${HOST_FIX}`);
  if (pod.spec.hostIPC === true) out.push(`spec.hostIPC: true shares the node's IPC namespace with every host-IPC process; ${HOST_FIX}`);
  return out;
}

interface Expected { container: Container; volumes: Volume[] }

/**
 * What the injector writes for the policies the proxy's GUARITA_TARGETS lists, or why that cannot
 * be known. The list must be the policies that select the pod (a forged proxy could otherwise
 * serve a target whose podSelector excludes this pod).
 */
function listedPolicies(raw: string | undefined): unknown[] | string {
  let listed: unknown;
  try {
    listed = JSON.parse(raw ?? 'null') as unknown;
  } catch {
    return 'its GUARITA_TARGETS is not JSON';
  }
  if (!Array.isArray(listed) || listed.length === 0) return 'its GUARITA_TARGETS lists no target';
  return listed.map((t) => (typeof t === 'object' && t !== null ? (t as { policy?: unknown }).policy : undefined));
}

function expectedInjection(pod: Pod, proxy: Container, policies: readonly AccessPolicy[], cfg: SidecarConfig): Expected | string {
  const raw = proxy.env?.find((e) => e.name === 'GUARITA_TARGETS')?.value;
  const names = listedPolicies(raw);
  if (typeof names === 'string') return names;
  const missing = names.find((name) => !policies.some((p) => p.metadata.name === name));
  if (missing !== undefined || names.includes(undefined)) return `its GUARITA_TARGETS names AccessPolicy ${String(missing)}, which does not exist in this namespace`;
  const found = names.map((name) => policies.find((p) => p.metadata.name === name) as AccessPolicy);
  const selecting = matchingPolicies(pod, policies).map((p) => p.metadata.name);
  if (!deepEqual(selecting, names)) return `its GUARITA_TARGETS names ${names.map(String).join(', ')}, but the AccessPolicies selecting this pod are ${selecting.join(', ') || 'none'}`;
  const targets = found.map(targetOf);
  if (targetsJson(targets) !== raw) return 'its GUARITA_TARGETS differs from the AccessPolicies it names';
  return { container: sidecarContainer(targets, cfg), volumes: sidecarVolumes(targets, cfg) };
}

interface ProxyVerdict { genuine: Placed | undefined; problems: string[]; expectedVolumes: Volume[] }

const RECREATE = `do not write ${SIDECAR_NAME} or the guarita.io/status annotation yourself: remove both and the injector adds the genuine proxy`;

function judgeProxy(pod: Pod, policies: readonly AccessPolicy[], cfg: SidecarConfig): ProxyVerdict {
  const named = placed(pod).filter((p) => p.c.name === SIDECAR_NAME);
  if (named.length === 0) return { genuine: undefined, problems: [], expectedVolumes: [] };
  const problems: string[] = [];
  for (const p of named.filter((x) => x.kind === 'ephemeral container')) problems.push(`ephemeral container ${p.c.name}: the name ${SIDECAR_NAME} is reserved for the injected proxy; rename the debug container`);
  const candidate = named.find((x) => x.kind !== 'ephemeral container');
  if (candidate === undefined) return { genuine: undefined, problems, expectedVolumes: [] };
  const expected = expectedInjection(pod, candidate.c, policies, cfg);
  const why = typeof expected === 'string' ? expected : proxyDifference(candidate, expected, cfg);
  if (why !== undefined || typeof expected === 'string') {
    problems.push(`${candidate.kind} ${SIDECAR_NAME} is not the proxy the injector writes: ${why ?? ''}; ${RECREATE}`);
    return { genuine: undefined, problems, expectedVolumes: [] };
  }
  return { genuine: candidate, problems, expectedVolumes: expected.volumes };
}

const ARTICLE: Record<ContainerKind, string> = { 'init container': 'an init container', container: 'a container', 'ephemeral container': 'an ephemeral container' };

function proxyDifference(candidate: Placed, expected: Expected, cfg: SidecarConfig): string | undefined {
  const wanted: ContainerKind = cfg.mode === 'native' ? 'init container' : 'container';
  if (candidate.kind !== wanted) return `it is listed as ${ARTICLE[candidate.kind]}, the injector writes it as ${ARTICLE[wanted]}`;
  return firstDifference(expected.container, candidate.c, SIDECAR_NAME);
}

/** Reserved volume names: each must be exactly the injector's volume of that name, for a genuine proxy. */
function reservedVolumes(pod: Pod, expected: readonly Volume[]): string[] {
  return (pod.spec.volumes ?? []).filter((v) => isReservedVolume(v.name)).flatMap((v) => {
    const mine = expected.find((e) => e.name === v.name);
    if (mine === undefined) return [`volume ${v.name}: names starting with ${VOLUME_PREFIX} are reserved for the volumes the injector adds to ${SIDECAR_NAME}; rename the volume`];
    const d = firstDifference(mine, v, `volume ${v.name}`);
    return d === undefined ? [] : [`${d}: the volumes named ${VOLUME_PREFIX}* are the injector's; ${RECREATE}`];
  });
}

/** Violations of a whole pod (CREATE): one message per problem, each naming the container, volume and fix. */
export function podViolations(pod: Pod, policies: readonly AccessPolicy[], cfg: GuardConfig): string[] {
  const governed = governedSecrets(policies);
  const volumes = pod.spec.volumes ?? [];
  const proxy = judgeProxy(pod, policies, cfg.sidecar);
  const others = placed(pod).filter((p) => p.c !== proxy.genuine?.c);
  return [
    ...proxy.problems,
    ...reservedVolumes(pod, proxy.expectedVolumes),
    ...others.flatMap(reservedMounts),
    ...others.flatMap((p) => containerLeaks(p, volumes, governed, cfg.sidecar.operatorAudience)),
    ...others.flatMap(escapes),
    ...podEscapes(pod),
    ...nodeVolumes(pod, cfg),
    ...hostNamespaces(pod),
    ...(proxy.genuine === undefined ? [] : proxiedPodViolations(pod, others, policies, cfg)),
  ];
}

/** What only matters where the proxy runs: what shares its processes, its network and its name resolution (root in any container rewrites its /etc/hosts), and its spool. */
function proxiedPodViolations(pod: Pod, others: readonly Placed[], policies: readonly AccessPolicy[], cfg: GuardConfig): string[] {
  return [
    ...sharedNamespaces(pod),
    ...dnsViolations(pod),
    ...hostnameViolations(pod, resolvedHosts(matchingPolicies(pod, policies), cfg.sidecar.operatorUrl)),
    ...others.flatMap(keepsRawNetwork),
    ...others.flatMap((p) => rootViolations(p.c, p.kind, pod.spec.securityContext)),
    ...spoolStorageViolations(pod, cfg.sidecar.spoolSizeLimit),
  ];
}

function proxiesOf(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])].filter((c) => c.name === SIDECAR_NAME);
}

/**
 * Where an update changed the proxy, exactly (spelling included), for a change the admission
 * comparison accepts from the apiserver and mutators (a CPU limit the LimitRanger adds, a raised
 * request) but an update may not make.
 */
function changedPath(before: unknown, after: unknown, path: string): string {
  const nested = typeof before === 'object' && before !== null && typeof after === 'object' && after !== null;
  if (nested) {
    const b = before as Record<string, unknown>;
    const a = after as Record<string, unknown>;
    const key = [...new Set([...Object.keys(b), ...Object.keys(a)])].find((k) => !deepEqual(b[k], a[k]));
    if (key !== undefined) return changedPath(b[key], a[key], `${path}.${key}`);
  }
  return `${path} is ${short(after)}, it was ${short(before)}`;
}

/**
 * UPDATE of the pod itself or of pods/resize: the injected proxy (image and resources included) is
 * frozen; everything else the apiserver already keeps immutable, and agent containers stay resizable.
 */
export function updateViolations(pod: Pod, oldPod: Pod): string[] {
  if (deepEqual(proxiesOf(pod), proxiesOf(oldPod))) return [];
  const before = proxiesOf(oldPod)[0];
  const after = proxiesOf(pod)[0];
  const where = before === undefined || after === undefined ? 'it was added or removed' : firstDifference(before, after, SIDECAR_NAME) ?? changedPath(before, after, SIDECAR_NAME);
  return [`container ${SIDECAR_NAME} cannot change after admission (${where}); delete the pod and create it again to get a new proxy`];
}

/** Where the pod lives, and the injector's configuration: what its CREATE would have got. */
export interface InjectionContext { namespace: string; config: InjectorConfig }

/** The pod webhooks are only called for opted-in namespaces (namespaceSelector). */
const OPTED_IN_NAMESPACE = { [INJECTION_NAMESPACE_LABEL]: INJECTION_NAMESPACE_VALUE };

/**
 * UPDATE of a pod admitted without the proxy (opted out, or selected by no policy): its labels and
 * annotations may not change so that the injector, asked about the new pod, would inject it or
 * refuse it. An update cannot add the proxy, so the pod would keep running ungoverned while looking
 * like a governed one (selected by an AccessPolicy's podSelector, or insisting with
 * guarita.io/inject: "true") to inventories, NetworkPolicies written against the same selector, and
 * auditors. The injector's own decision (decisionAtCreate) judges old and new pod, so the two can
 * never disagree; pods that stay skipped, and pods the current policies would govern already (a
 * policy created after them), keep their other updates.
 */
function governanceViolations(pod: Pod, oldPod: Pod, policies: readonly AccessPolicy[], at: InjectionContext): string[] {
  const decide = (p: Pod): InjectionDecision => decisionAtCreate({ pod: p, namespace: { name: at.namespace, labels: OPTED_IN_NAMESPACE }, policies, config: at.config });
  const before = decide(oldPod);
  if (before.action !== 'skip') return [];
  const after = decide(pod);
  if (after.action === 'skip') return [];
  const created = after.action === 'inject' ? `created with them it would get ${SIDECAR_NAME} for AccessPolicies ${after.policies.join(', ')}` : `created with them it would be refused (${after.message})`;
  return [`the new labels or annotations make this pod one the injector governs (${created}), but it was admitted without ${SIDECAR_NAME} (${before.message}) and an update cannot add it; delete the pod and create it with the new labels`];
}

/**
 * CREATE of a pod that reaches validation without guarita-proxy: refused when the injector, asked
 * about this final pod, would inject it or refuse it. A later mutating webhook (reinvoked, or run
 * after the injector's reinvocation) can remove what the injector added; the pod would then run
 * ungoverned while looking governed (its AccessPolicy's podSelector, guarita.io/inject: "true",
 * the injector's annotations and agent variables). The injector's own decision (decisionAtCreate,
 * the objectSelector's opt-out label included) judges, so pods it skips (opted out, selected by no
 * policy, excluded namespaces) keep passing. guarita.io/status: injected without the proxy is
 * refused in any pod: only the injector writes it, and the operator accepts evidence by it.
 * A pod whose guarita-proxy is not genuine is refused by podViolations already.
 */
export function missingProxyViolations(pod: Pod, policies: readonly AccessPolicy[], at: InjectionContext): string[] {
  if (proxiesOf(pod).length > 0) return [];
  const out: string[] = [];
  if (pod.metadata.annotations?.[STATUS_ANNOTATION] === STATUS_INJECTED) {
    out.push(`the pod carries ${STATUS_ANNOTATION}: ${STATUS_INJECTED} but has no ${SIDECAR_NAME}: only the injector writes that annotation, with the proxy; remove the annotation (and ${SIDECAR_NAME}'s other annotations), or find the mutating webhook that removed the proxy and exclude these pods from it`);
  }
  const decision = decisionAtCreate({ pod, namespace: { name: at.namespace, labels: OPTED_IN_NAMESPACE }, policies, config: at.config });
  if (decision.action === 'inject') {
    out.push(`the injector governs this pod (AccessPolicies ${decision.policies.join(', ')} select it) but it reached validation without ${SIDECAR_NAME}: another mutating webhook removed the proxy after the injector ran (reinvocationPolicy IfNeeded runs it again after ours); exclude these pods from that webhook, or opt the pod out with the label ${INJECT_ANNOTATION}=false`);
  } else if (decision.action === 'reject') {
    out.push(`this pod reached validation without ${SIDECAR_NAME}, and the injector refuses it as it is: ${decision.message}`);
  }
  return out;
}

/**
 * UPDATE of a pod with the proxy: a label change may not change which AccessPolicies select it.
 * The proxy serves the policies that selected the pod at admission and keeps serving them, so a
 * label removed to take a pod out of a policy (revoking its access) would otherwise change nothing
 * while looking done. Compared with the current policies, old labels against new, so a policy
 * whose podSelector changed since does not block unrelated updates. A pod without the proxy is
 * judged by governanceViolations.
 */
export function selectionViolations(pod: Pod, oldPod: Pod, policies: readonly AccessPolicy[], at: InjectionContext): string[] {
  if (proxiesOf(oldPod).length === 0) return governanceViolations(pod, oldPod, policies, at);
  const before = matchingPolicies(oldPod, policies).map((p) => p.metadata.name);
  const after = matchingPolicies(pod, policies).map((p) => p.metadata.name);
  if (deepEqual(before, after)) return [];
  return [`the new labels change which AccessPolicies select this pod (${before.join(', ') || 'none'} before, ${after.join(', ') || 'none'} after), but ${SIDECAR_NAME} keeps serving what it was injected with; delete the pod and create it with the new labels`];
}

/** Ephemeral (debug) containers added to a running pod: no proxy volumes, no governed secrets, no sharing the proxy's namespaces, no root next to it. */
export function ephemeralViolations(pod: Pod, oldPod: Pod, policies: readonly AccessPolicy[], cfg: GuardConfig): string[] {
  const before = new Set((oldPod.spec.ephemeralContainers ?? []).map((c) => c.name));
  const added = (pod.spec.ephemeralContainers ?? []).filter((c) => !before.has(c.name)).map((c) => ({ c, kind: 'ephemeral container' as const }));
  const governed = governedSecrets(policies);
  const volumes = pod.spec.volumes ?? [];
  return [
    ...updateViolations(pod, oldPod),
    ...added.flatMap((p) => [
      ...(p.c.name === SIDECAR_NAME ? [`ephemeral container ${p.c.name}: the name ${SIDECAR_NAME} is reserved for the injected proxy; rename the debug container`] : []),
      ...(p.c.targetContainerName === SIDECAR_NAME ? [`ephemeral container ${p.c.name} targets ${SIDECAR_NAME}, whose files hold target credentials; target an agent container instead`] : []),
      ...reservedMounts(p),
      ...containerLeaks(p, volumes, governed, cfg.sidecar.operatorAudience),
      ...escapes(p),
      ...(proxiesOf(pod).length === 0 ? [] : [...keepsRawNetwork(p), ...rootViolations(p.c, p.kind, pod.spec.securityContext)]),
    ]),
  ];
}

/** How many refused pods a namespace opt-in refusal names (the message stays readable). */
const OPT_IN_REPORTED = 5;

/**
 * A namespace gaining guarita.io/injection=enabled: its running pods were admitted without the pod
 * guard (created before the label, or while it was removed). Each is judged as on CREATE; pods
 * that finished (Succeeded, Failed) run nothing and are skipped. One message per refused pod.
 */
export function optInViolations(pods: readonly Pod[], policies: readonly AccessPolicy[], cfg: GuardConfig): string[] {
  const running = pods.filter((p) => !['Succeeded', 'Failed'].includes(String((p.status as { phase?: unknown } | undefined)?.phase)));
  const refused = running.flatMap((p) => {
    const v = podViolations(p, policies, cfg);
    return v.length === 0 ? [] : [`pod ${p.metadata.name ?? '(unnamed)'}: ${v.join('; ')}`];
  });
  return refused.length > OPT_IN_REPORTED ? [...refused.slice(0, OPT_IN_REPORTED), `and ${refused.length - OPT_IN_REPORTED} more pods`] : refused;
}

/** exec/attach into the proxy would hand over the credentials it guards. */
export function connectViolation(subResource: string, options: unknown): string | undefined {
  const container = (options as { container?: unknown } | undefined)?.container;
  if (container !== SIDECAR_NAME) return undefined;
  return `${subResource} into ${SIDECAR_NAME} is not allowed: it holds the target credentials; use its admin endpoints (GUARITA_ADMIN_URL) or logs`;
}
