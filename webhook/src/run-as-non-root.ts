// Who may be root next to the proxy (round 10). The kubelet bind-mounts ONE /etc/hosts file
// writable into every container of the pod, guarita-proxy included, whatever readOnlyRootFilesystem
// says (kubelet_pods.go makeHostsMount; kubernetes/kubernetes#91981), owned by root and 0644; the
// CRI runtime does the same with the sandbox's resolv.conf. The proxy resolves its target, the
// operator and the identity provider through them on every connection, so uid 0 in any other
// container (the default user of most images) is enough to point the target's name at a host
// that asks for the target's password. The pod spec's own ways to do this (hostAliases,
// nameservers, the pod's hostname) are refused by name-resolution.ts; this closes the run-time way.
//
// Two halves, like NET_RAW (sidecar.ts withoutRawNetwork): the injector sets runAsNonRoot: true and
// allowPrivilegeEscalation: false where the container and the pod leave them unset (a root image
// then fails to start at the kubelet, visibly: fail closed), and the validating webhook refuses a
// container whose effective settings (container over pod) still let it be or become uid 0. Windows
// pods never get the proxy (inject.ts refuses spec.os.name: windows, and the apiserver refuses the
// proxy's Linux settings in one); windowsOptions mean nothing on Linux, so they count for nothing.
// Pure.
import type { Container } from './kube-types.ts';
import { capabilityName } from './sidecar.ts';

interface RootFields {
  runAsUser?: unknown;
  runAsNonRoot?: unknown;
  allowPrivilegeEscalation?: unknown;
  privileged?: unknown;
  capabilities?: { add?: unknown; [key: string]: unknown };
  [key: string]: unknown;
}

type Kind = 'init container' | 'container' | 'ephemeral container';

function contextOf(sc: unknown): RootFields {
  return typeof sc === 'object' && sc !== null && !Array.isArray(sc) ? sc as RootFields : {};
}

function added(sc: RootFields): string[] {
  const add = sc.capabilities?.add;
  return Array.isArray(add) ? add.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * The apiserver refuses allowPrivilegeEscalation: false next to privileged: true or an added
 * CAP_SYS_ADMIN; such a container is left as it is, for the guard to refuse by name (escapes).
 */
function escalationRequired(sc: RootFields): boolean {
  return sc.privileged === true || added(sc).some((cap) => capabilityName(cap) === 'SYS_ADMIN');
}

/**
 * At injection, for every container but the proxy: runAsNonRoot: true unless the container or the
 * pod says either way, allowPrivilegeEscalation: false unless the container says. The container's
 * other settings are kept; an unchanged container is returned as is (reinvocation stays a no-op).
 */
export function withoutRoot(c: Container, podSecurityContext: unknown): Container {
  const sc = contextOf(c.securityContext);
  const nonRoot = sc.runAsNonRoot === undefined && contextOf(podSecurityContext).runAsNonRoot === undefined ? { runAsNonRoot: true } : {};
  const noEscalation = sc.allowPrivilegeEscalation === undefined && !escalationRequired(sc) ? { allowPrivilegeEscalation: false } : {};
  if (Object.keys(nonRoot).length === 0 && Object.keys(noEscalation).length === 0) return c;
  return { ...c, securityContext: { ...sc, ...nonRoot, ...noEscalation } };
}

/**
 * Capabilities a non-root process could write a root-owned 0644 file with, or become root with:
 * DAC_OVERRIDE writes it past its mode, FOWNER chmods it, CHOWN takes it over, SETUID and SETGID
 * switch to uid or gid 0, SETFCAP and SETPCAP hand capabilities to binaries or processes. Runtimes
 * give a non-root process none of its added capabilities today (no ambient set), but that is the
 * runtime's choice, not the pod's: refused rather than relied on. SYS_ADMIN, DAC_READ_SEARCH and
 * ALL are refused in every pod already (pod-guard.ts FILE_CAPABILITIES).
 */
const ROOT_CAPABILITIES = new Set(['DAC_OVERRIDE', 'FOWNER', 'CHOWN', 'SETUID', 'SETGID', 'SETFCAP', 'SETPCAP']);

const WHY = 'the kubelet mounts one /etc/hosts (and the runtime one resolv.conf) writable into every container of the pod, and root in any of them rewrites the names guarita-proxy connects to, sending the target\'s credentials to another host';

/** The effective uid settings: the container's, else the pod's, with where each came from. */
function effective(sc: RootFields, pod: RootFields, field: 'runAsUser' | 'runAsNonRoot'): { value: unknown; where: string } {
  if (sc[field] !== undefined) return { value: sc[field], where: `securityContext.${field}` };
  return { value: pod[field], where: `spec.securityContext.${field}` };
}

function isNonZeroUid(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

/** Why this container may run as uid 0, or undefined. */
function rootUid(sc: RootFields, pod: RootFields): string | undefined {
  const user = effective(sc, pod, 'runAsUser');
  const nonRoot = effective(sc, pod, 'runAsNonRoot');
  if (user.value !== undefined && !isNonZeroUid(user.value)) return `${user.where} is ${JSON.stringify(user.value)}: it runs as root`;
  if (nonRoot.value === false) return `${nonRoot.where} is false: it may run as its image's user, root for most images`;
  if (nonRoot.value !== true && user.value === undefined) return 'neither runAsNonRoot: true nor a non-zero runAsUser is set (container or pod securityContext): it runs as its image\'s user, root for most images';
  return undefined;
}

function fixFor(kind: Kind, what: string): string {
  return kind === 'ephemeral container' ? `${what} (kubectl debug --profile=restricted does)` : `${what} (the injector sets it where the container and pod leave it unset; the image must run as a non-root user)`;
}

/**
 * In a pod with the proxy, every other container (init, regular, ephemeral): one message per way
 * it could be or become root, naming the field and the fix.
 */
export function rootViolations(c: Container, kind: Kind, podSecurityContext: unknown): string[] {
  const sc = contextOf(c.securityContext);
  const pod = contextOf(podSecurityContext);
  const out: string[] = [];
  const uid = rootUid(sc, pod);
  if (uid !== undefined) out.push(`${kind} ${c.name} can run as root (${uid}); ${WHY}; ${fixFor(kind, 'set securityContext.runAsNonRoot: true, and runAsUser to a non-zero uid or leave it to the image')}`);
  if (sc.allowPrivilegeEscalation !== false) {
    const now = sc.allowPrivilegeEscalation === undefined ? 'unset' : JSON.stringify(sc.allowPrivilegeEscalation);
    out.push(`${kind} ${c.name} may regain root (securityContext.allowPrivilegeEscalation is ${now}: a setuid binary in its image gives it uid 0); ${WHY}; ${fixFor(kind, 'set securityContext.allowPrivilegeEscalation: false')}`);
  }
  const caps = added(sc).filter((cap) => ROOT_CAPABILITIES.has(capabilityName(cap)));
  if (caps.length > 0) out.push(`${kind} ${c.name} adds capabilities ${caps.join(', ')}, with which a non-root process writes root-owned files such as /etc/hosts or becomes root; ${WHY}; remove them from securityContext.capabilities.add`);
  return out;
}
