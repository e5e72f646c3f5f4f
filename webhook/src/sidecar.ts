// The pieces the injector adds to a pod, as the injection contract (docs/injection-contract.md)
// fixes them: the guarita-proxy container, its volumes, and the environment of agent containers.
// Pure functions of the targets and the injector configuration.
import { SIDECAR_START_ENV, sidecarV8Flags } from '../../core/sidecar-start.ts';
import {
  AGENT_VOLUME_PREFIX, KUBE_CA_DIR, KUBE_CA_VOLUME, SSH_DIR, SSH_VOLUME, KUBECONFIG_ANNOTATION, KUBECONFIG_DIR, KUBECONFIG_VOLUME,
  CREDENTIALS_DIR, KUBE_CA_FILE, KUBE_TOKEN_FILE, OPERATOR_CA_FILE, OPERATOR_TOKEN_FILE, SIDECAR_COMMAND, SIDECAR_NAME,
  SPOOL_DIR, SPOOL_VOLUME, TARGET_VOLUME_PREFIX, TOKEN_DIR, TOKEN_EXPIRATION_SECONDS, TOKENS_VOLUME,
} from './constants.ts';
import type { Container, EnvVar, ProjectedSource, Volume, VolumeMount } from './kube-types.ts';

export type SidecarMode = 'native' | 'container';

export interface ResourceRequirements { requests?: Record<string, string>; limits?: Record<string, string> }

/** What the injector needs to build the sidecar; every field comes from the webhook's configuration. */
export interface SidecarConfig {
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  resources: ResourceRequirements;
  /** native: init container with restartPolicy Always (Kubernetes ≥ 1.29); container: first ordinary container. */
  mode: SidecarMode;
  adminPort: number;
  operatorUrl: string;
  /** Audience of the projected token the sidecar presents to the operator. */
  operatorAudience: string;
  /** ConfigMap (key ca.crt) with the CA of the operator's serving certificate, if it is not publicly trusted. */
  operatorCaConfigMap?: string;
  uid: number;
  /** How long the proxy may take to become ready before the kubelet restarts it. */
  startupTimeoutSeconds: number;
  spoolSizeLimit?: string;
  /** The spool's budget inside spoolSizeLimit (GUARITA_SPOOL_MAX_BYTES; core/recording/spool-budget.ts). */
  spoolMaxBytes?: number;
  approvalWait?: string;
  policyStaleness?: string;
}

/** One governed target of a pod: what GUARITA_TARGETS lists, plus what the volumes and agent env need. */
export interface TargetPlan {
  policy: string;
  target: string;
  protocol: 'postgres' | 'http' | 'kubernetes' | 'ssh';
  listenPort: number;
  database?: string;
  /** kubernetes only: the policy's purposes (one KUBECONFIG context each) and the audience of the agent's projected token. */
  kubernetes?: { purposes: string[]; tokenAudience?: string };
  /**
   * What goes into `<GUARITA_CREDENTIALS_DIR>/<target>/`: the whole credentials Secret, plus the
   * single keys of the TLS CA and masking hash-key Secrets when they are other Secrets (the
   * sidecar reads every key of a target from that one directory).
   */
  secrets: SecretSource[];
}

/** A Secret projected into the target directory: all its keys, or only `keys`. */
export interface SecretSource { name: string; keys?: string[] }

/** `orders-db` → `ORDERS_DB_URL`. */
export function targetEnvName(target: string): string {
  return `${target.toUpperCase().replace(/-/g, '_')}_URL`;
}

export function targetUrl(t: TargetPlan): string {
  if (t.protocol === 'http') return `http://127.0.0.1:${t.listenPort}`;
  if (t.protocol === 'kubernetes') return `https://127.0.0.1:${t.listenPort}`;
  if (t.protocol === 'ssh') return `ssh://127.0.0.1:${t.listenPort}`;
  return `postgresql://127.0.0.1:${t.listenPort}${t.database === undefined ? '' : `/${encodeURIComponent(t.database)}`}`;
}

/** The variables agent containers get (the contract's "Environment given to agent containers"). */
export function agentEnv(targets: readonly TargetPlan[], adminPort: number): EnvVar[] {
  const env: EnvVar[] = targets.map((t) => ({ name: targetEnvName(t.target), value: targetUrl(t) }));
  const postgres = targets.filter((t) => t.protocol === 'postgres');
  if (postgres.length === 1 && postgres[0] !== undefined) {
    env.push({ name: 'PGHOST', value: '127.0.0.1' }, { name: 'PGPORT', value: String(postgres[0].listenPort) }, { name: 'PGSSLMODE', value: 'disable' });
  }
  if (targets.some((t) => t.protocol === 'kubernetes')) env.push({ name: 'KUBECONFIG', value: `${KUBECONFIG_DIR}/config` });
  // ssh targets: `ssh -F $ORDERS_HOST_SSH_CONFIG PURPOSE@orders-host` (the config the proxy writes: port, host key).
  for (const t of sshTargets(targets)) env.push({ name: targetEnvName(t.target).replace(/_URL$/, '_SSH_CONFIG'), value: `${SSH_DIR}/${t.target}/ssh_config` });
  env.push({ name: 'GUARITA_ADMIN_URL', value: `http://127.0.0.1:${adminPort}` });
  return env;
}

function kubeTargets(targets: readonly TargetPlan[]): TargetPlan[] {
  return targets.filter((t) => t.protocol === 'kubernetes');
}

/**
 * The KUBECONFIG agent containers get (as the pod annotation the downward API projects): one
 * context per target and purpose (the purpose travels as a path prefix: kubectl cannot add
 * headers), the proxy's serving CA, and the agent's own projected token as its credential. No
 * cluster credential: the proxy holds the target's.
 */
export function kubeconfigFor(targets: readonly TargetPlan[], namespace: string): string | undefined {
  const kube = kubeTargets(targets);
  if (kube.length === 0) return undefined;
  const entries = kube.flatMap((t) => (t.kubernetes?.purposes ?? []).map((p) => ({ t, p, name: `${t.target}-${p}` })));
  const config = {
    apiVersion: 'v1', kind: 'Config', preferences: {},
    'current-context': entries[0]?.name ?? '',
    clusters: entries.map((e) => ({ name: e.name, cluster: { server: `https://127.0.0.1:${e.t.listenPort}/guarita-purpose/${e.p}`, 'certificate-authority': `${KUBE_CA_DIR}/${e.t.target}/ca.crt` } })),
    users: [{ name: 'agent', user: { tokenFile: `${KUBECONFIG_DIR}/token` } }],
    contexts: entries.map((e) => ({ name: e.name, context: { cluster: e.name, user: 'agent', namespace } })),
  };
  return JSON.stringify(config);
}

function sshTargets(targets: readonly TargetPlan[]): TargetPlan[] {
  return targets.filter((t) => t.protocol === 'ssh');
}

/** What agent containers mount for kubernetes and ssh targets: read-only, nothing of the target's credential. */
export function agentMounts(targets: readonly TargetPlan[]): VolumeMount[] {
  const ssh: VolumeMount[] = sshTargets(targets).length === 0 ? [] : [{ name: SSH_VOLUME, mountPath: SSH_DIR, readOnly: true }];
  if (kubeTargets(targets).length === 0) return ssh;
  return [{ name: KUBE_CA_VOLUME, mountPath: KUBE_CA_DIR, readOnly: true }, { name: KUBECONFIG_VOLUME, mountPath: KUBECONFIG_DIR, readOnly: true }, ...ssh];
}

/** Ours first, theirs without the mount paths and volume names we use. */
export function withAgentMounts(container: Container, mounts: readonly VolumeMount[]): Container {
  if (mounts.length === 0) return container;
  const names = new Set(mounts.map((m) => m.name));
  const paths = new Set(mounts.map((m) => m.mountPath));
  return { ...container, volumeMounts: [...mounts, ...(container.volumeMounts ?? []).filter((m) => !names.has(m.name) && !paths.has(m.mountPath))] };
}

/** The agent-facing volumes of kubernetes targets (the CA the proxy writes; the KUBECONFIG and the agent's token). */
function agentVolumes(targets: readonly TargetPlan[]): Volume[] {
  const ssh: Volume[] = sshTargets(targets).length === 0 ? [] : [{ name: SSH_VOLUME, emptyDir: {} }];
  return [...kubeAgentVolumes(targets), ...ssh];
}

function kubeAgentVolumes(targets: readonly TargetPlan[]): Volume[] {
  const kube = kubeTargets(targets);
  if (kube.length === 0) return [];
  const audience = kube.map((t) => t.kubernetes?.tokenAudience).find((a) => a !== undefined);
  return [
    { name: KUBE_CA_VOLUME, emptyDir: {} },
    { name: KUBECONFIG_VOLUME, projected: { defaultMode: 0o444, sources: [
      { downwardAPI: { items: [{ path: 'config', fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${KUBECONFIG_ANNOTATION}']` } }] } },
      ...(audience === undefined ? [] : [{ serviceAccountToken: { path: 'token', audience, expirationSeconds: TOKEN_EXPIRATION_SECONDS } }]),
    ] } },
  ];
}

/** Ours first (so `$(ORDERS_DB_URL)` in the agent's own variables expands), theirs without the names we set. */
export function withAgentEnv(container: Container, env: readonly EnvVar[]): Container {
  const ours = new Set(env.map((e) => e.name));
  return { ...container, env: [...env, ...(container.env ?? []).filter((e) => !ours.has(e.name))] };
}

interface Capabilities { add?: unknown; drop?: unknown; [key: string]: unknown }

function dropped(c: Container): string[] {
  const drop = (c.securityContext as { capabilities?: Capabilities } | undefined)?.capabilities?.drop;
  return Array.isArray(drop) ? drop.filter((x): x is string => typeof x === 'string') : [];
}

/** A capability as the runtime reads it: case and a CAP_ prefix aside (cap_net_raw is NET_RAW). */
export function capabilityName(cap: string): string {
  return cap.toUpperCase().replace(/^CAP_/, '');
}

/** Whether a container gives up NET_RAW (dropped by name, CAP_ prefix or case aside, or with ALL). */
export function dropsRawNetwork(c: Container): boolean {
  return dropped(c).some((cap) => ['NET_RAW', 'ALL'].includes(capabilityName(cap)));
}

/**
 * Agent containers share the pod's network namespace with the proxy, and container runtimes grant
 * NET_RAW by default: a root agent could capture the proxy's upstream connection, where rows travel
 * before masking. The injector drops it from every container but the proxy (ping aside, agents do
 * not need it); the pod guard refuses a governed pod where one keeps it.
 */
export function withoutRawNetwork(c: Container): Container {
  if (dropsRawNetwork(c)) return c;
  const sc = (c.securityContext ?? {}) as { capabilities?: Capabilities; [key: string]: unknown };
  const capabilities = { ...sc.capabilities, drop: [...dropped(c), 'NET_RAW'] };
  return { ...c, securityContext: { ...sc, capabilities } };
}

function fieldEnv(name: string, fieldPath: string): EnvVar {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

/** GUARITA_TARGETS: exactly the four fields of the contract, in a stable order. */
export function targetsJson(targets: readonly TargetPlan[]): string {
  return JSON.stringify(targets.map((t) => ({ policy: t.policy, target: t.target, protocol: t.protocol, listenPort: t.listenPort })));
}

function sidecarEnv(targets: readonly TargetPlan[], cfg: SidecarConfig): EnvVar[] {
  const env: EnvVar[] = [
    fieldEnv('GUARITA_NAMESPACE', 'metadata.namespace'),
    fieldEnv('GUARITA_POD_NAME', 'metadata.name'),
    fieldEnv('GUARITA_POD_UID', 'metadata.uid'),
    // The pod's own addresses, which the proxy never connects upstream to (the kubelet's /etc/hosts
    // maps the pod's hostname there; sidecar/src/upstream-address.ts).
    fieldEnv('GUARITA_POD_IPS', 'status.podIPs'),
    { name: 'GUARITA_TARGETS', value: targetsJson(targets) },
    { name: 'GUARITA_ADMIN_PORT', value: String(cfg.adminPort) },
    { name: 'GUARITA_OPERATOR_URL', value: cfg.operatorUrl },
    { name: 'GUARITA_SPOOL_DIR', value: SPOOL_DIR },
    { name: 'GUARITA_CREDENTIALS_DIR', value: CREDENTIALS_DIR },
    { name: 'GUARITA_TOKEN_DIR', value: TOKEN_DIR },
  ];
  if (cfg.operatorCaConfigMap !== undefined) env.push({ name: 'GUARITA_OPERATOR_CA_FILE', value: `${TOKEN_DIR}/${OPERATOR_CA_FILE}` });
  if (cfg.spoolMaxBytes !== undefined) env.push({ name: 'GUARITA_SPOOL_MAX_BYTES', value: String(cfg.spoolMaxBytes) });
  if (cfg.approvalWait !== undefined) env.push({ name: 'GUARITA_APPROVAL_WAIT', value: cfg.approvalWait });
  if (cfg.policyStaleness !== undefined) env.push({ name: 'GUARITA_POLICY_STALENESS', value: cfg.policyStaleness });
  if (kubeTargets(targets).length > 0) env.push({ name: 'GUARITA_KUBE_CA_DIR', value: KUBE_CA_DIR });
  if (sshTargets(targets).length > 0) env.push({ name: 'GUARITA_SSH_DIR', value: SSH_DIR });
  // Read by the C library only at process start (core/sidecar-start.ts).
  for (const [name, value] of Object.entries(SIDECAR_START_ENV)) env.push({ name, value });
  return env;
}

export function targetVolumeName(target: string): string {
  return `${TARGET_VOLUME_PREFIX}${target}`;
}

function sidecarMounts(targets: readonly TargetPlan[]): VolumeMount[] {
  return [
    { name: SPOOL_VOLUME, mountPath: SPOOL_DIR },
    { name: TOKENS_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
    ...targets.filter((t) => t.secrets.length > 0)
      .map((t) => ({ name: targetVolumeName(t.target), mountPath: `${CREDENTIALS_DIR}/${t.target}`, readOnly: true })),
    // The one volume the proxy shares with agents, and the only one it writes besides the spool: its serving CA.
    ...(kubeTargets(targets).length === 0 ? [] : [{ name: KUBE_CA_VOLUME, mountPath: KUBE_CA_DIR }]),
    // ssh targets: where the proxy publishes its host key for the agents.
    ...(sshTargets(targets).length === 0 ? [] : [{ name: SSH_VOLUME, mountPath: SSH_DIR }]),
  ];
}

/** `node -e` probe: works whether the admin server binds 127.0.0.1 (the contract) or the pod IP. */
function readyScript(adminPort: number, waitSeconds: number): string {
  const url = `http://127.0.0.1:${adminPort}/readyz`;
  if (waitSeconds === 0) return `fetch('${url}',{signal:AbortSignal.timeout(1500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`;
  return `const d=Date.now()+${waitSeconds * 1000};(async()=>{for(;;){try{if((await fetch('${url}',{signal:AbortSignal.timeout(1000)})).ok)process.exit(0)}catch{}`
    + `if(Date.now()>d)process.exit(1);await new Promise(r=>setTimeout(r,250))}})()`;
}

export const SIDECAR_SECURITY_CONTEXT = (uid: number): Record<string, unknown> => ({
  runAsNonRoot: true,
  runAsUser: uid,
  runAsGroup: uid,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

function copyResources(r: ResourceRequirements): ResourceRequirements {
  return { ...(r.requests === undefined ? {} : { requests: { ...r.requests } }), ...(r.limits === undefined ? {} : { limits: { ...r.limits } }) };
}

/**
 * `node`, the V8 flags its targets need (core/sidecar-start.ts), the entry point: given here, the sidecar starts once
 * instead of re-executing itself to add them.
 */
export function sidecarCommand(targets: readonly TargetPlan[]): string[] {
  const [node = 'node', ...entry] = SIDECAR_COMMAND;
  return [node, ...sidecarV8Flags(targets.map((t) => t.protocol)), ...entry];
}

/** The guarita-proxy container, native (restartPolicy Always) or ordinary per `cfg.mode`. */
export function sidecarContainer(targets: readonly TargetPlan[], cfg: SidecarConfig): Container {
  const container: Container = {
    name: SIDECAR_NAME,
    image: cfg.image,
    imagePullPolicy: cfg.imagePullPolicy,
    command: sidecarCommand(targets),
    env: sidecarEnv(targets, cfg),
    resources: copyResources(cfg.resources),
    securityContext: SIDECAR_SECURITY_CONTEXT(cfg.uid),
    startupProbe: {
      exec: { command: ['node', '-e', readyScript(cfg.adminPort, 0)] },
      periodSeconds: 1, timeoutSeconds: 2, failureThreshold: Math.max(1, cfg.startupTimeoutSeconds),
    },
    volumeMounts: sidecarMounts(targets),
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (cfg.mode === 'native') return { ...container, restartPolicy: 'Always' };
  // Without native sidecars the kubelet starts containers in order and waits for each postStart
  // hook: holding here keeps agent containers from starting before the proxy is ready.
  return { ...container, lifecycle: { postStart: { exec: { command: ['node', '-e', readyScript(cfg.adminPort, cfg.startupTimeoutSeconds)] } } } };
}

function secretProjection(src: SecretSource): ProjectedSource {
  return { secret: { name: src.name, ...(src.keys === undefined ? {} : { items: src.keys.map((key) => ({ key, path: key })) }) } };
}

function tokenSources(cfg: SidecarConfig): ProjectedSource[] {
  const sources: ProjectedSource[] = [
    { serviceAccountToken: { path: OPERATOR_TOKEN_FILE, audience: cfg.operatorAudience, expirationSeconds: TOKEN_EXPIRATION_SECONDS } },
    { serviceAccountToken: { path: KUBE_TOKEN_FILE, expirationSeconds: TOKEN_EXPIRATION_SECONDS } },
    { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: KUBE_CA_FILE }], optional: true } },
  ];
  if (cfg.operatorCaConfigMap !== undefined) sources.push({ configMap: { name: cfg.operatorCaConfigMap, items: [{ key: 'ca.crt', path: OPERATOR_CA_FILE }] } });
  return sources;
}

/** Volumes mounted into the sidecar only. Files are world-readable inside the volume (0444) because the
 * sidecar's uid differs from the agents' and no fsGroup is imposed on the pod; no other container mounts them. */
export function sidecarVolumes(targets: readonly TargetPlan[], cfg: SidecarConfig): Volume[] {
  return [
    { name: SPOOL_VOLUME, emptyDir: cfg.spoolSizeLimit === undefined ? {} : { sizeLimit: cfg.spoolSizeLimit } },
    { name: TOKENS_VOLUME, projected: { defaultMode: 0o444, sources: tokenSources(cfg) } },
    ...targets.filter((t) => t.secrets.length > 0).map((t) => ({ name: targetVolumeName(t.target), projected: { defaultMode: 0o444, sources: t.secrets.map(secretProjection) } })),
    ...agentVolumes(targets),
  ];
}

export function isSidecarVolume(name: string): boolean {
  return name === SPOOL_VOLUME || name === TOKENS_VOLUME || name.startsWith(TARGET_VOLUME_PREFIX) || name.startsWith(AGENT_VOLUME_PREFIX);
}
