// Validation of pods in opted-in namespaces (after every mutating webhook ran): governed secrets
// (a target's credentials, the masking HMAC key) reach the genuine guarita-proxy container only.
// Covers pod creation, ephemeral (debug) containers and exec/attach into the proxy. Pure.
import type { AccessPolicy } from '../../crds/types.ts';
import { SIDECAR_COMMAND, SIDECAR_NAME } from './constants.ts';
import { deepEqual } from './json-patch.ts';
import type { Container, Pod, Volume } from './kube-types.ts';
import { isSidecarVolume } from './sidecar.ts';

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

function volumeSecrets(v: Volume): string[] {
  const direct = v.secret?.secretName === undefined ? [] : [v.secret.secretName];
  const projected = (v.projected?.sources ?? []).flatMap((s) => (s.secret?.name === undefined ? [] : [s.secret.name]));
  return [...direct, ...projected];
}

/** Which governed secrets a container can read, and how. */
function containerLeaks(c: Container, volumes: readonly Volume[], governed: GovernedSecrets): string[] {
  const byVolume = new Map(volumes.map((v) => [v.name, v]));
  const viaMounts = (c.volumeMounts ?? []).flatMap((m) => {
    const v = byVolume.get(m.name);
    return (v === undefined ? [] : volumeSecrets(v)).filter((s) => governed.has(s)).map((s) => ({ s, how: `volume ${m.name}` }));
  });
  const viaEnvFrom = (c.envFrom ?? []).flatMap((e) => (e.secretRef?.name !== undefined && governed.has(e.secretRef.name) ? [{ s: e.secretRef.name, how: 'envFrom' }] : []));
  const viaEnv = (c.env ?? []).flatMap((e) => {
    const name = e.valueFrom?.secretKeyRef?.name;
    return name !== undefined && governed.has(name) ? [{ s: name, how: `env ${e.name}` }] : [];
  });
  return [...viaMounts, ...viaEnvFrom, ...viaEnv].map(({ s, how }) => `container ${c.name} reads Secret ${s} (${how}), ${governed.get(s)}`);
}

function emptyOrAbsent(list: readonly unknown[] | undefined): boolean {
  return list === undefined || list.length === 0;
}

/** The guarita-proxy the injector writes: configured image, contract command, only our volumes, no envFrom. */
export function isGenuineSidecar(c: Container, image: string): boolean {
  const envOk = (c.env ?? []).every((e) => e.name.startsWith('GUARITA_') && e.valueFrom?.secretKeyRef === undefined);
  const mountsOk = (c.volumeMounts ?? []).every((m) => isSidecarVolume(m.name));
  return c.name === SIDECAR_NAME && c.image === image && deepEqual(c.command, SIDECAR_COMMAND)
    && emptyOrAbsent(c.args) && emptyOrAbsent(c.envFrom) && envOk && mountsOk;
}

function containersOf(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers, ...(pod.spec.ephemeralContainers ?? [])];
}

const FIX = 'only the injected guarita-proxy container may read it: remove the mount or reference (agents reach the target through the proxy, see <TARGET>_URL)';

/** Violations of a pod being created (or any full pod): one message per leak. */
export function podViolations(pod: Pod, policies: readonly AccessPolicy[], sidecarImage: string): string[] {
  const governed = governedSecrets(policies);
  const volumes = pod.spec.volumes ?? [];
  const leaks = containersOf(pod)
    .filter((c) => !isGenuineSidecar(c, sidecarImage))
    .flatMap((c) => containerLeaks(c, volumes, governed));
  return leaks.map((l) => `${l}; ${FIX}`);
}

/** Ephemeral (debug) containers added to a running pod must not mount the proxy's volumes or share its process namespace. */
export function ephemeralViolations(pod: Pod, oldPod: Pod, policies: readonly AccessPolicy[]): string[] {
  const before = new Set((oldPod.spec.ephemeralContainers ?? []).map((c) => c.name));
  const added = (pod.spec.ephemeralContainers ?? []).filter((c) => !before.has(c.name));
  const governed = governedSecrets(policies);
  return added.flatMap((c) => [
    ...((c.targetContainerName === SIDECAR_NAME) ? [`ephemeral container ${c.name} targets ${SIDECAR_NAME}, whose files hold target credentials; target an agent container instead`] : []),
    ...(c.volumeMounts ?? []).filter((m) => isSidecarVolume(m.name)).map((m) => `ephemeral container ${c.name} mounts ${m.name}, which belongs to ${SIDECAR_NAME}`),
    ...containerLeaks(c, pod.spec.volumes ?? [], governed),
  ]);
}

/** exec/attach into the proxy would hand over the credentials it guards. */
export function connectViolation(subResource: string, options: unknown): string | undefined {
  const container = (options as { container?: unknown } | undefined)?.container;
  if (container !== SIDECAR_NAME) return undefined;
  return `${subResource} into ${SIDECAR_NAME} is not allowed: it holds the target credentials; use its admin endpoints (GUARITA_ADMIN_URL) or logs`;
}
