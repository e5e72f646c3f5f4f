// A kubelet stand-in for one container of a stored Pod: there is no kubelet on the local control
// plane, so this materialises the container's volumes (emptyDir, Secret and projected volumes with
// bound service-account tokens and downward API items) under a local root, resolves its
// environment (values, downward API fields) and rewrites mount paths to the local directories, in
// the command, the environment and the downward API files (a KUBECONFIG that names its token and
// CA files by their mount paths). Containers of one pod materialised under the same root share
// their emptyDirs, as in a pod. The process then runs with exactly
// the command, arguments and environment the admission webhook put into the pod spec.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KubeError, type KubeClient } from '../../operator/src/kube/client.ts';

interface KeyToPath { key: string; path: string }
interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }
interface VolumeMount { name: string; mountPath: string }
export interface Container { name: string; command?: string[]; args?: string[]; env?: EnvVar[]; volumeMounts?: VolumeMount[] }
interface ProjectionSource {
  serviceAccountToken?: { path: string; audience?: string; expirationSeconds?: number };
  secret?: { name: string; items?: KeyToPath[]; optional?: boolean };
  configMap?: { name: string; items?: KeyToPath[]; optional?: boolean };
  downwardAPI?: { items: { path: string; fieldRef?: { fieldPath: string } }[] };
}
/** Rewrites the container's mount paths in a text to their local directories. */
type LocalPaths = (text: string) => string;
interface Volume { name: string; emptyDir?: object; secret?: { secretName: string; items?: KeyToPath[]; optional?: boolean }; projected?: { sources: ProjectionSource[] } }
/** The parts of a stored Pod the local kubelet reads. */
export interface Pod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { serviceAccountName?: string; containers: Container[]; initContainers?: Container[]; volumes?: Volume[] };
}

export interface MaterialisedContainer { command: string[]; env: Record<string, string>; mounts: Record<string, string> }

async function getOptional<T>(api: KubeClient, path: string): Promise<T | undefined> {
  try {
    return await api.get<T>(path);
  } catch (err) {
    if (err instanceof KubeError && err.status === 404) return undefined;
    throw err;
  }
}

async function secretData(api: KubeClient, ns: string, name: string, optional: boolean): Promise<Record<string, string> | undefined> {
  const secret = await getOptional<{ data?: Record<string, string> }>(api, `/api/v1/namespaces/${ns}/secrets/${name}`);
  if (secret === undefined && !optional) throw new Error(`Secret ${ns}/${name} referenced by the pod does not exist`);
  return secret?.data;
}

async function configMapData(api: KubeClient, ns: string, name: string, optional: boolean): Promise<Record<string, string> | undefined> {
  const cm = await getOptional<{ data?: Record<string, string> }>(api, `/api/v1/namespaces/${ns}/configmaps/${name}`);
  if (cm === undefined && !optional) throw new Error(`ConfigMap ${ns}/${name} referenced by the pod does not exist`);
  return cm?.data;
}

function writeFile(dir: string, path: string, content: string | Buffer): void {
  const file = join(dir, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content, { mode: 0o600 });
}

function selectItems(data: Record<string, string>, items: { key: string; path: string }[] | undefined): [string, string][] {
  if (items === undefined) return Object.entries(data).map(([k, v]) => [k, v]);
  return items.filter((i) => data[i.key] !== undefined).map((i) => [i.path, data[i.key] ?? '']);
}

/** TokenRequest bound to the pod, like the kubelet asks for projected tokens. */
async function podToken(api: KubeClient, pod: Pod, source: NonNullable<ProjectionSource['serviceAccountToken']>): Promise<string> {
  const res = await api.create<{ status: { token: string } }>(`/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${pod.spec.serviceAccountName ?? 'default'}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
    spec: {
      ...(source.audience === undefined ? {} : { audiences: [source.audience] }),
      expirationSeconds: source.expirationSeconds ?? 3600,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
    },
  });
  return res.status.token;
}

/** A downward API item's value: a label, an annotation, or one of the fields fieldValue knows. */
function downwardValue(pod: Pod, fieldPath: string): string {
  const keyed = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
  if (keyed === null) return fieldValue(pod, fieldPath);
  const map = keyed[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
  return map?.[keyed[2] ?? ''] ?? '';
}

function projectDownwardApi(pod: Pod, items: NonNullable<ProjectionSource['downwardAPI']>['items'], dir: string, localPaths: LocalPaths): void {
  for (const item of items) {
    if (item.fieldRef === undefined) throw new Error(`downward API item ${item.path}: only fieldRef is supported locally`);
    writeFile(dir, item.path, localPaths(downwardValue(pod, item.fieldRef.fieldPath)));
  }
}

async function projectSource(api: KubeClient, pod: Pod, source: ProjectionSource, dir: string, localPaths: LocalPaths): Promise<void> {
  const ns = pod.metadata.namespace;
  if (source.downwardAPI !== undefined) projectDownwardApi(pod, source.downwardAPI.items, dir, localPaths);
  if (source.serviceAccountToken !== undefined) writeFile(dir, source.serviceAccountToken.path, await podToken(api, pod, source.serviceAccountToken));
  if (source.secret !== undefined) {
    const data = await secretData(api, ns, source.secret.name, source.secret.optional === true) ?? {};
    for (const [path, value] of selectItems(data, source.secret.items)) writeFile(dir, path, Buffer.from(value, 'base64'));
  }
  if (source.configMap !== undefined) {
    const data = await configMapData(api, ns, source.configMap.name, source.configMap.optional === true) ?? {};
    for (const [path, value] of selectItems(data, source.configMap.items)) writeFile(dir, path, value);
  }
}

async function materialiseVolume(api: KubeClient, pod: Pod, volume: Volume, dir: string, localPaths: LocalPaths): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (volume.projected !== undefined) {
    for (const source of volume.projected.sources) await projectSource(api, pod, source, dir, localPaths);
  } else if (volume.secret !== undefined) {
    await projectSource(api, pod, { secret: { name: volume.secret.secretName, items: volume.secret.items, optional: volume.secret.optional } }, dir, localPaths);
  } else if (volume.emptyDir === undefined) {
    throw new Error(`volume ${volume.name}: only emptyDir, secret and projected volumes are supported locally`);
  }
}

function fieldValue(pod: Pod, fieldPath: string): string {
  const values: Record<string, string | undefined> = {
    'metadata.name': pod.metadata.name, 'metadata.namespace': pod.metadata.namespace, 'metadata.uid': pod.metadata.uid,
    'spec.serviceAccountName': pod.spec.serviceAccountName, 'spec.nodeName': 'local', 'status.podIP': '127.0.0.1',
  };
  const value = values[fieldPath];
  if (value === undefined) throw new Error(`downward API field ${fieldPath} is not supported locally`);
  return value;
}

/** Paths inside or above a mount move under the local root, where the volumes were materialised. */
function rewritePaths(value: string, root: string, mountPaths: string[]): string {
  if (!value.startsWith('/')) return value;
  const related = mountPaths.some((m) => m === value || m.startsWith(`${value}/`) || value.startsWith(`${m}/`));
  return related ? join(root, value) : value;
}

/** Finds a container (or init container) by name in a stored Pod. */
export function containerOf(pod: Pod, name: string): Container {
  const container = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === name);
  if (container === undefined) throw new Error(`pod ${pod.metadata.name} has no container ${name}`);
  return container;
}

export async function materialiseContainer(api: KubeClient, pod: Pod, containerName: string, root: string): Promise<MaterialisedContainer> {
  const container = containerOf(pod, containerName);
  const fsRoot = join(root, 'fs');
  const mounts = await materialiseMounts(api, pod, container, fsRoot);
  const mountPaths = Object.keys(mounts);
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    const fieldRef = e.valueFrom?.fieldRef;
    // The local stand-in runs every "pod" on the host's loopback: it has no pod addresses for the
    // proxy to refuse (sidecar/src/upstream-address.ts), so GUARITA_POD_IPS is left unset.
    if (fieldRef?.fieldPath === 'status.podIPs') continue;
    env[e.name] = rewritePaths(fieldRef !== undefined ? fieldValue(pod, fieldRef.fieldPath) : e.value ?? '', fsRoot, mountPaths);
  }
  const command = [...(container.command ?? []), ...(container.args ?? [])].map((part) => rewritePaths(part, fsRoot, mountPaths));
  return { command, env, mounts };
}

/** Replaces each mount path that starts a path in a text (one pass, longest first) with its local directory. */
function localPathsOf(fsRoot: string, mountPaths: string[]): LocalPaths {
  if (mountPaths.length === 0) return (text) => text;
  const alternatives = [...mountPaths].sort((a, b) => b.length - a.length).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const pattern = new RegExp(`(?<![\\w./-])(?:${alternatives.join('|')})(?=/|$|[\\s"'])`, 'gm');
  return (text) => text.replace(pattern, (path) => join(fsRoot, path));
}

/** Each volume is written where it is mounted, under `fsRoot` (a local stand-in for the container's filesystem). */
async function materialiseMounts(api: KubeClient, pod: Pod, container: Container, fsRoot: string): Promise<Record<string, string>> {
  const mounts: Record<string, string> = {};
  const localPaths = localPathsOf(fsRoot, (container.volumeMounts ?? []).map((m) => m.mountPath));
  for (const mount of container.volumeMounts ?? []) {
    const volume = (pod.spec.volumes ?? []).find((v) => v.name === mount.name);
    if (volume === undefined) throw new Error(`volumeMount ${mount.name} has no volume`);
    const dir = join(fsRoot, mount.mountPath);
    await materialiseVolume(api, pod, volume, dir, localPaths);
    mounts[mount.mountPath] = dir;
  }
  return mounts;
}
