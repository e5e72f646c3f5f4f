// The sidecar's configuration: what the admission webhook injects (docs/injection-contract.md),
// plus a few optional tuning knobs of this process. Validated once at start; a bad setting stops
// the process with a message naming it, before anything listens.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { durationMs } from '../../core/duration.ts';
import { MIN_SPOOL_BUDGET_BYTES, SPOOL_SEGMENT_BYTES } from '../../core/recording/spool-budget.ts';
import { parsePodIps, POD_IPS_VARIABLE } from './upstream-address.ts';
import { opt } from './util.ts';

export interface TargetConfig {
  /** AccessPolicy (same namespace) that governs the target. */
  policy: string;
  /** Target name (the policy's spec.target.name). */
  target: string;
  protocol: 'http' | 'postgres' | 'kubernetes' | 'ssh';
  /** Port on 127.0.0.1 the agents connect to. */
  listenPort: number;
}

export interface SidecarConfig {
  namespace: string;
  podName: string;
  podUid?: string;
  /** GUARITA_POD_IPS (status.podIPs): the pod's own addresses, never connected to upstream (upstream-address.ts); unset outside a pod. */
  podIps?: string[];
  targets: TargetConfig[];
  adminPort: number;
  operatorUrl: string;
  operatorCaFile?: string;
  spoolDir: string;
  /** GUARITA_SPOOL_MAX_BYTES: what the spool's files may take at most (core/recording/spool-budget.ts); unset, no budget but the volume's free space. */
  spoolMaxBytes?: number;
  credentialsDir: string;
  tokenDir: string;
  kubeconfig?: string;
  approvalWaitMs: number;
  policyStalenessMs: number;
  // Optional tuning of this process (not part of the injection contract; defaults suit a pod).
  drainTimeoutMs: number;
  logLevel: string;
  /** HTTP responses of non-text types: passthrough (default) or refuse. */
  httpBinary: 'passthrough' | 'refuse';
  /** Largest request body buffered for policy matching and approval binding (HTTP). */
  httpMaxBufferedBody: number;
  /** Longest an agent may take to send one whole HTTP request (head and body); 408 after it. */
  httpRequestTimeoutMs: number;
  /** Open agent connections per HTTP listener; further ones are closed at once. */
  httpMaxConnections: number;
  /** Host the listeners and the admin server bind to. */
  bindHost: string;
  /** How long the last good OIDC key set keeps verifying while its issuer is unreachable. */
  oidcJwksMaxStaleMs: number;
  /** Age at which an OIDC key set is refreshed (in the background). */
  oidcJwksRefreshMs: number;
  /** The apiserver's service-account issuers, checked locally before a TokenReview (empty: read from the pod's own token). */
  serviceAccountIssuers: string[];
  /** TokenReviews per source address: burst, and refill per minute (per connection: a quarter and a fifth). */
  tokenReviewBurst: number;
  tokenReviewPerMinute: number;
  /** How long one TokenReview answer stands before a service-account session is reviewed again. */
  tokenReviewCacheTtlMs: number;
  /** kubernetes targets: where the listener's serving CA is written (<dir>/<target>/ca.crt) for the agents' KUBECONFIG. */
  kubeCaDir: string;
  /** kubernetes targets: largest JSON response (one object or list page, one watch event) buffered for masking; larger ones are refused. */
  kubeMaxResponseBytes: number;
  /** kubernetes targets: watches and followed logs open at once per listener. */
  kubeMaxWatches: number;
  /**
   * kubernetes targets: the container's memory limit in bytes, used when its cgroup states none; the
   * listener masks answers within half of what it leaves (sidecar/src/kubernetes/answer-memory.ts).
   */
  kubeMemoryLimit?: number;
  /**
   * postgres targets: agent connections per listener, counting those whose statements' answers are
   * still read after the agent left (each holds a server backend); a newcomer beyond it is refused
   * with 53300.
   */
  pgMaxConnections: number;
  /** ssh targets: where the listener's host key is published (<dir>/<target>/known_hosts, ssh_config) for the agents. */
  sshDir: string;
  /** ssh targets: open agent connections per listener; further ones are closed at once. */
  sshMaxConnections: number;
  /** ssh targets: most characters of one channel (exec, shell) recorded as frames; the rest is counted, not recorded. */
  sshRecordMaxChars: number;
}

/** A configuration problem, naming the setting. */
export class ConfigError extends Error {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

type Env = Record<string, string | undefined>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function required(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === '') throw new ConfigError(name, 'is required (the admission webhook sets it; see docs/injection-contract.md)');
  return value;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function port(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(name, `must be a port number 1-65535, got ${JSON.stringify(raw)}`);
  return n;
}

function durationSetting(env: Env, name: string, fallback: string, minMs: number): number {
  const raw = optional(env, name) ?? fallback;
  const ms = durationMs(raw);
  if (ms === undefined) throw new ConfigError(name, `must be a duration such as 30s, 2m or 1m30s, got ${JSON.stringify(raw)}`);
  if (ms < minMs) throw new ConfigError(name, `must be at least ${minMs}ms, got ${raw}`);
  return ms;
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(name, `must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** GUARITA_SPOOL_MAX_BYTES, set by the injector from the spool emptyDir's sizeLimit; refused when no spool could work in it. */
function spoolBudget(env: Env): number | undefined {
  if (optional(env, 'GUARITA_SPOOL_MAX_BYTES') === undefined) return undefined;
  const n = positiveInt(env, 'GUARITA_SPOOL_MAX_BYTES', 0);
  if (n < MIN_SPOOL_BUDGET_BYTES) {
    throw new ConfigError('GUARITA_SPOOL_MAX_BYTES', `must be at least ${MIN_SPOOL_BUDGET_BYTES} bytes (a segment awaiting shipment, the open one pre-sized to ${SPOOL_SEGMENT_BYTES} and a commit group past its end), got ${n}: raise the spool emptyDir's sizeLimit (the chart's sidecar.spoolSizeLimit, GUARITA_SIDECAR_SPOOL_SIZE_LIMIT)`);
  }
  return n;
}

function checkName(where: string, key: string, s: unknown): string {
  if (typeof s !== 'string' || !DNS_LABEL.test(s) || s.length > 253) throw new ConfigError('GUARITA_TARGETS', `${where}.${key} must be a DNS label, got ${JSON.stringify(s)}`);
  return s;
}

function checkPort(where: string, p: unknown): number {
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw new ConfigError('GUARITA_TARGETS', `${where}.listenPort must be a port number, got ${JSON.stringify(p)}`);
  return p;
}

function targetEntry(value: unknown, index: number): TargetConfig {
  const where = `GUARITA_TARGETS[${index}]`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('GUARITA_TARGETS', `${where} must be an object {policy, target, protocol, listenPort}`);
  const v = value as Record<string, unknown>;
  if (v.protocol !== 'http' && v.protocol !== 'postgres' && v.protocol !== 'kubernetes' && v.protocol !== 'ssh') throw new ConfigError('GUARITA_TARGETS', `${where}.protocol must be http, postgres, kubernetes or ssh, got ${JSON.stringify(v.protocol)}`);
  return { policy: checkName(where, 'policy', v.policy), target: checkName(where, 'target', v.target), protocol: v.protocol, listenPort: checkPort(where, v.listenPort) };
}

function parseTargets(raw: string, adminPort: number): TargetConfig[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError('GUARITA_TARGETS', `is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new ConfigError('GUARITA_TARGETS', 'must be a non-empty JSON array of {policy, target, protocol, listenPort}');
  const targets = parsed.map((v: unknown, i) => targetEntry(v, i));
  const names = new Set<string>();
  const ports = new Set<number>([adminPort]);
  for (const t of targets) {
    if (names.has(t.target)) throw new ConfigError('GUARITA_TARGETS', `target ${t.target} appears twice`);
    if (ports.has(t.listenPort)) throw new ConfigError('GUARITA_TARGETS', `listenPort ${t.listenPort} of target ${t.target} is used twice (or is the admin port)`);
    names.add(t.target);
    ports.add(t.listenPort);
  }
  return targets;
}

function checkOperatorUrl(raw: string): string {
  if (!URL.canParse(raw)) throw new ConfigError('GUARITA_OPERATOR_URL', `is not a URL: ${JSON.stringify(raw)}`);
  const url = new URL(raw);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('GUARITA_OPERATOR_URL', `must be https:// (or http:// for local tests), got ${url.protocol}`);
  return raw.replace(/\/+$/, '');
}

function readableFile(name: string, file: string): void {
  try {
    if (!statSync(file).isFile()) throw new Error('not a regular file');
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new ConfigError(name, `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function writableDir(name: string, dir: string): void {
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK | constants.R_OK);
  } catch (err) {
    throw new ConfigError(name, `cannot use ${dir} as a writable directory: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function checkTokenDir(dir: string, kubeconfig: string | undefined): void {
  readableFile('GUARITA_TOKEN_DIR', join(dir, 'operator'));
  // With a kubeconfig, its user may authenticate instead of the projected `kube` token.
  if (kubeconfig === undefined) readableFile('GUARITA_TOKEN_DIR', join(dir, 'kube'));
  const tokenFile = join(dir, 'operator');
  if (readFileSync(tokenFile, 'utf8').trim() === '') throw new ConfigError('GUARITA_TOKEN_DIR', `${tokenFile} is empty`);
}

function checkKubeAccess(env: Env, kubeconfig: string | undefined): void {
  if (kubeconfig !== undefined) {
    readableFile('GUARITA_KUBECONFIG', kubeconfig);
    return;
  }
  if (optional(env, 'KUBERNETES_SERVICE_HOST') === undefined) {
    throw new ConfigError('GUARITA_KUBECONFIG', 'is not set and KUBERNETES_SERVICE_HOST is missing: outside a pod, point GUARITA_KUBECONFIG at a kubeconfig');
  }
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const value = optional(env, name) ?? fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** Bounds of GUARITA_TOKENREVIEW_CACHE_TTL: above the review sweep's 5 s look-ahead; at most what the revocation promise can bear. */
const TOKENREVIEW_TTL_MIN_MS = 10_000;
const TOKENREVIEW_TTL_MAX_MS = 600_000;

function identityTuning(env: Env): Pick<SidecarConfig, 'oidcJwksMaxStaleMs' | 'oidcJwksRefreshMs' | 'serviceAccountIssuers' | 'tokenReviewBurst' | 'tokenReviewCacheTtlMs' | 'tokenReviewPerMinute'> {
  const oidcJwksRefreshMs = durationSetting(env, 'GUARITA_OIDC_JWKS_REFRESH', '10m', 1000);
  const oidcJwksMaxStaleMs = durationSetting(env, 'GUARITA_OIDC_JWKS_MAX_STALE', '24h', 0);
  if (oidcJwksMaxStaleMs < oidcJwksRefreshMs) throw new ConfigError('GUARITA_OIDC_JWKS_MAX_STALE', `must be at least GUARITA_OIDC_JWKS_REFRESH (${oidcJwksRefreshMs}ms): keys are refreshed before they may be served stale`);
  const issuers = (optional(env, 'GUARITA_SERVICE_ACCOUNT_ISSUERS') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const iss of issuers) if (!URL.canParse(iss) && !/^[\x21-\x7e]+$/.test(iss)) throw new ConfigError('GUARITA_SERVICE_ACCOUNT_ISSUERS', `must be a comma-separated list of issuers (the apiserver's --service-account-issuer values), got ${JSON.stringify(iss)}`);
  return {
    oidcJwksRefreshMs, oidcJwksMaxStaleMs, serviceAccountIssuers: issuers,
    tokenReviewBurst: positiveInt(env, 'GUARITA_TOKENREVIEW_BURST', 20),
    tokenReviewPerMinute: positiveInt(env, 'GUARITA_TOKENREVIEW_PER_MINUTE', 300),
    tokenReviewCacheTtlMs: tokenReviewCacheTtl(env),
  };
}

function tokenReviewCacheTtl(env: Env): number {
  const ms = durationSetting(env, 'GUARITA_TOKENREVIEW_CACHE_TTL', '60s', TOKENREVIEW_TTL_MIN_MS);
  // A longer answer is a longer life for a deleted service account's sessions.
  if (ms > TOKENREVIEW_TTL_MAX_MS) throw new ConfigError('GUARITA_TOKENREVIEW_CACHE_TTL', `must be at most 10m (a deleted service account keeps its sessions that long), got ${optional(env, 'GUARITA_TOKENREVIEW_CACHE_TTL') ?? ''}`);
  return ms;
}

function tuning(env: Env): Pick<SidecarConfig, 'drainTimeoutMs' | 'logLevel' | 'httpBinary' | 'httpMaxBufferedBody' | 'httpRequestTimeoutMs' | 'httpMaxConnections' | 'bindHost'> {
  return {
    drainTimeoutMs: durationSetting(env, 'GUARITA_DRAIN_TIMEOUT', '20s', 0),
    logLevel: oneOf(env, 'GUARITA_LOG_LEVEL', LOG_LEVELS, 'info'),
    httpBinary: oneOf(env, 'GUARITA_HTTP_BINARY', ['passthrough', 'refuse'] as const, 'passthrough'),
    httpMaxBufferedBody: positiveInt(env, 'GUARITA_HTTP_MAX_BUFFERED_BODY', 1024 * 1024),
    httpRequestTimeoutMs: durationSetting(env, 'GUARITA_HTTP_REQUEST_TIMEOUT', '5m', 1000),
    httpMaxConnections: positiveInt(env, 'GUARITA_HTTP_MAX_CONNECTIONS', 1024),
    bindHost: optional(env, 'GUARITA_BIND_HOST') ?? '127.0.0.1',
  };
}

function kubeTuning(env: Env, targets: readonly TargetConfig[]): Pick<SidecarConfig, 'kubeCaDir' | 'kubeMaxResponseBytes' | 'kubeMaxWatches' | 'kubeMemoryLimit'> {
  const kubeCaDir = optional(env, 'GUARITA_KUBE_CA_DIR') ?? '/var/run/guarita/kube';
  // Written at start only when a kubernetes target needs it (the injector mounts it then).
  if (targets.some((t) => t.protocol === 'kubernetes')) writableDir('GUARITA_KUBE_CA_DIR', kubeCaDir);
  // In bytes, as the downward API's resourceFieldRef limits.memory gives them; the default (256 MiB) is answer-memory.ts's.
  const memoryLimit = optional(env, 'GUARITA_KUBE_MEMORY_LIMIT') === undefined ? undefined : positiveInt(env, 'GUARITA_KUBE_MEMORY_LIMIT', 0);
  return {
    kubeCaDir, kubeMaxResponseBytes: positiveInt(env, 'GUARITA_KUBE_MAX_RESPONSE', 64 * 1024 * 1024), kubeMaxWatches: positiveInt(env, 'GUARITA_KUBE_MAX_WATCHES', 128),
    ...(memoryLimit === undefined ? {} : { kubeMemoryLimit: memoryLimit }),
  };
}

function sshTuning(env: Env, targets: readonly TargetConfig[]): Pick<SidecarConfig, 'sshDir' | 'sshMaxConnections' | 'sshRecordMaxChars'> {
  const sshDir = optional(env, 'GUARITA_SSH_DIR') ?? '/var/run/guarita/ssh';
  // Written at start only when an ssh target publishes its host key there (the injector mounts it then).
  if (targets.some((t) => t.protocol === 'ssh')) writableDir('GUARITA_SSH_DIR', sshDir);
  return { sshDir, sshMaxConnections: positiveInt(env, 'GUARITA_SSH_MAX_CONNECTIONS', 256), sshRecordMaxChars: positiveInt(env, 'GUARITA_SSH_RECORD_MAX_CHARS', 16 * 1024 * 1024) };
}

/**
 * GUARITA_PG_MAX_CONNECTIONS (64): each PostgreSQL session holds a backend of the target server,
 * whose max_connections the application shares; without a bound an agent could spend them all.
 */
function pgTuning(env: Env): Pick<SidecarConfig, 'pgMaxConnections'> {
  return { pgMaxConnections: positiveInt(env, 'GUARITA_PG_MAX_CONNECTIONS', 64) };
}

/** GUARITA_POD_IPS, checked at start: upstream-address.ts reads it again at each connection and would refuse every one. */
function podIps(env: Env): string[] | undefined {
  try {
    return parsePodIps(env[POD_IPS_VARIABLE]);
  } catch (err) {
    throw new ConfigError(POD_IPS_VARIABLE, err instanceof Error ? err.message : String(err));
  }
}

/** Reads and checks the configuration. Throws ConfigError naming the first bad setting. */
export function loadConfig(env: Env = process.env): SidecarConfig {
  const namespace = required(env, 'GUARITA_NAMESPACE');
  if (!DNS_LABEL.test(namespace)) throw new ConfigError('GUARITA_NAMESPACE', `must be a namespace name, got ${JSON.stringify(namespace)}`);
  const podName = required(env, 'GUARITA_POD_NAME');
  const adminPort = port(env, 'GUARITA_ADMIN_PORT', 15090);
  const targets = parseTargets(required(env, 'GUARITA_TARGETS'), adminPort);
  const operatorUrl = checkOperatorUrl(required(env, 'GUARITA_OPERATOR_URL'));
  const operatorCaFile = optional(env, 'GUARITA_OPERATOR_CA_FILE');
  if (operatorCaFile !== undefined) readableFile('GUARITA_OPERATOR_CA_FILE', operatorCaFile);
  const kubeconfig = optional(env, 'GUARITA_KUBECONFIG');
  checkKubeAccess(env, kubeconfig);
  const spoolDir = optional(env, 'GUARITA_SPOOL_DIR') ?? '/var/run/guarita/spool';
  writableDir('GUARITA_SPOOL_DIR', spoolDir);
  const spoolMaxBytes = spoolBudget(env);
  const tokenDir = optional(env, 'GUARITA_TOKEN_DIR') ?? '/var/run/guarita/tokens';
  checkTokenDir(tokenDir, kubeconfig);
  return {
    namespace, podName, ...opt('podUid', optional(env, 'GUARITA_POD_UID')), ...opt('podIps', podIps(env)), targets, adminPort, operatorUrl,
    ...opt('operatorCaFile', operatorCaFile),
    spoolDir,
    ...opt('spoolMaxBytes', spoolMaxBytes),
    credentialsDir: optional(env, 'GUARITA_CREDENTIALS_DIR') ?? '/var/run/guarita/targets',
    tokenDir,
    ...opt('kubeconfig', kubeconfig),
    approvalWaitMs: durationSetting(env, 'GUARITA_APPROVAL_WAIT', '30s', 0),
    policyStalenessMs: durationSetting(env, 'GUARITA_POLICY_STALENESS', '60s', 1000),
    ...tuning(env),
    ...identityTuning(env),
    ...kubeTuning(env, targets),
    ...sshTuning(env, targets),
    ...pgTuning(env),
  };
}
