// The operator's configuration: command-line flags (--name=value or --name value) override
// environment variables (GUARITA_*), which override defaults, read by the settings reader the
// webhook shares (core/settings.ts). Validated once at start; a bad setting stops the process with
// a message naming the flag and the variable.
import { accessSync, constants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { MAPPINGS_ENV, MAPPINGS_FLAG, parseUsernameMappings, type OidcUsernameMapping } from '../../core/approvals/requester.ts';
import { durationMs } from '../../core/duration.ts';
import { flagThenEnv, parseFlags, SettingsError, SettingsReader, type Setting } from '../../core/settings.ts';

export interface OperatorConfig {
  kubeconfig?: string;
  namespace: string;
  identity: string;
  podName?: string;
  watchNamespaces?: string[];
  listenHost: string;
  listenPort: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  metricsHost: string;
  metricsPort: number;
  dataDir: string;
  storeKeySecret: string;
  storeKeyFile?: string;
  ingestAudience: string;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  anchorIntervalMs: number;
  retentionIntervalMs: number;
  defaultSessionRetentionMs: number;
  defaultApprovalRetentionMs: number;
  approvedGraceMs: number;
  resyncPeriodMs: number;
  workers: number;
  maxBatchRecords: number;
  /** Chains one pod may register at ingest (operator/src/ingest/chain-quota.ts). */
  maxChainsPerPod: number;
  maxBodyBytes: number;
  /** Connections the API listener holds at once, and from one client address (operator/src/connection-limits.ts). */
  maxConnections: number;
  maxConnectionsPerClient: number;
  /** How the apiserver names users of each OIDC issuer: the four-eyes check (core/approvals/requester.ts). */
  usernameMappings: OidcUsernameMapping[];
  eventRepeatIntervalMs: number;
  logLevel: string;

  /** Pending ApprovalRequests one requester may have per namespace; more expire at once (operator/src/reconcile/approval-cap.ts). */
  maxPendingApprovalsPerRequester: number;
  /** Pending ApprovalRequests one creating pod (or user outside a pod) may have, whatever requesters they name; more expire at once (approval-cap.ts). */
  maxPendingApprovalsPerPod: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Every setting, for --help and docs/recording.md. */
export const SETTINGS: Setting[] = [
  { flag: 'kubeconfig', env: 'KUBECONFIG', help: 'kubeconfig file (default: in-cluster service account, else ~/.kube/config)' },
  { flag: 'namespace', env: 'GUARITA_NAMESPACE', help: 'namespace of the operator: Lease, store-key Secret (default: POD_NAMESPACE, else the service account\'s namespace)' },
  { flag: 'identity', env: 'GUARITA_IDENTITY', help: 'leader-election identity (default: <POD_NAME or hostname>_<random>)' },
  { flag: 'pod-name', env: 'POD_NAME', help: 'this pod\'s name: the leader labels it guarita.io/leader=true so the ingest Service routes to it' },
  { flag: 'watch-namespaces', env: 'GUARITA_WATCH_NAMESPACES', help: 'comma-separated namespaces to serve (default: all)' },
  { flag: 'listen', env: 'GUARITA_LISTEN', help: 'HTTPS address of the ingest and read APIs', default: '0.0.0.0:8443' },
  { flag: 'tls-cert-file', env: 'GUARITA_TLS_CERT_FILE', help: 'serving certificate (PEM), re-read when it changes' },
  { flag: 'tls-key-file', env: 'GUARITA_TLS_KEY_FILE', help: 'serving key (PEM)' },
  { flag: 'metrics-listen', env: 'GUARITA_METRICS_LISTEN', help: 'plain-HTTP address of /metrics, /healthz, /readyz, /status', default: '0.0.0.0:9090' },
  { flag: 'data-dir', env: 'GUARITA_DATA_DIR', help: 'session store directory (a PVC)', default: '/var/lib/guarita' },
  { flag: 'store-key-secret', env: 'GUARITA_STORE_KEY_SECRET', help: 'Secret (in --namespace) holding the store-chain signing key, created if missing', default: 'guarita-store-key' },
  { flag: 'store-key-file', env: 'GUARITA_STORE_KEY_FILE', help: 'keep the store-chain key in this file instead of a Secret' },
  { flag: 'ingest-audience', env: 'GUARITA_INGEST_AUDIENCE', help: 'audience sidecar tokens must be bound to', default: 'guarita-operator' },
  { flag: 'lease-name', env: 'GUARITA_LEASE_NAME', help: 'leader-election Lease name', default: 'guarita-operator-leader' },
  { flag: 'lease-duration', env: 'GUARITA_LEASE_DURATION', help: 'how long a silent leader keeps the Lease', default: '15s' },
  { flag: 'renew-deadline', env: 'GUARITA_RENEW_DEADLINE', help: 'a leader that cannot renew for this long steps down (exits)', default: '10s' },
  { flag: 'retry-period', env: 'GUARITA_RETRY_PERIOD', help: 'interval between Lease renewals and attempts', default: '2s' },
  { flag: 'segment-max-bytes', env: 'GUARITA_SEGMENT_MAX_BYTES', help: 'segment size before rotation (bytes, or Ki/Mi/Gi)', default: '64Mi' },
  { flag: 'segment-max-age', env: 'GUARITA_SEGMENT_MAX_AGE', help: 'segment age before rotation (retention granularity)', default: '1h' },
  { flag: 'anchor-interval', env: 'GUARITA_ANCHOR_INTERVAL', help: 'how often chain heads and counters are written to AccessPolicy status', default: '15s' },
  { flag: 'retention-interval', env: 'GUARITA_RETENTION_INTERVAL', help: 'how often expired segments are looked for', default: '10m' },
  { flag: 'default-session-retention', env: 'GUARITA_DEFAULT_SESSION_RETENTION', help: 'retention of records whose policy does not exist', default: '180d' },
  { flag: 'default-approval-retention', env: 'GUARITA_DEFAULT_APPROVAL_RETENTION', help: 'retention of finished ApprovalRequests whose policy does not exist', default: '30d' },
  { flag: 'approved-grace', env: 'GUARITA_APPROVED_GRACE', help: 'how long after expiresAt an Approved request may still be consumed before it expires', default: '10m' },
  { flag: 'resync-period', env: 'GUARITA_RESYNC_PERIOD', help: 'full re-reconcile interval (safety net)', default: '10m' },
  { flag: 'workers', env: 'GUARITA_WORKERS', help: 'reconciles running at once, per kind', default: '16' },
  { flag: 'max-batch-records', env: 'GUARITA_MAX_BATCH_RECORDS', help: 'records per ingest batch', default: '5000' },
  { flag: 'max-chains-per-pod', env: 'GUARITA_MAX_CHAINS_PER_POD', help: 'chains one pod may register (a proxy registers one per spool)', default: '8' },
  { flag: 'max-body-bytes', env: 'GUARITA_MAX_BODY_BYTES', help: 'request body limit (bytes, or Ki/Mi/Gi)', default: '16Mi' },
  { flag: 'max-connections', env: 'GUARITA_MAX_CONNECTIONS', help: 'connections the API listener holds at once; more are closed on accept', default: '1024' },
  { flag: 'max-connections-per-client', env: 'GUARITA_MAX_CONNECTIONS_PER_CLIENT', help: 'connections not yet authorized one client address may hold (a pod\'s IP; authorized sidecars and auditors do not count)', default: '64' },
  { flag: MAPPINGS_FLAG, env: MAPPINGS_ENV, help: 'JSON list: how the apiserver names the users of each OIDC issuer ([{"issuer":"https://idp","claim":"email","prefix":""}] or {"issuer":...,"apiserver":false}); reviews of an OIDC requester whose issuer has none are not counted' },
  { flag: 'event-repeat-interval', env: 'GUARITA_EVENT_REPEAT_INTERVAL', help: 'minimum interval between Events with the same object and reason', default: '60s' },
  { flag: 'log-level', env: 'GUARITA_LOG_LEVEL', help: 'fatal, error, warn, info, debug or trace', default: 'info' },

  // Approvals under a flood (round 11 review, finding 3).
  { flag: 'max-pending-approvals-per-requester', env: 'GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER', help: 'Pending ApprovalRequests one requester may have per namespace; a new one past it expires at once, naming the limit, and approvers are not asked', default: '20' },
  // ... and per creating pod, as the webhook stamps it: the agent can rename the requester, not its pod.
  { flag: 'max-pending-approvals-per-pod', env: 'GUARITA_MAX_PENDING_APPROVALS_PER_POD', help: 'Pending ApprovalRequests one creating pod (or user outside a pod) may have, whatever requester each names; a new one past it expires at once, naming the limit, and approvers are not asked', default: '50' },
];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DNS = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The flags given (core/settings.ts, node:util parseArgs); a bad argument is a ConfigError naming it. */
export function parseArgs(argv: readonly string[]): Record<string, string | undefined> {
  try {
    return parseFlags(argv, SETTINGS).values;
  } catch (err) {
    if (err instanceof SettingsError) throw new ConfigError(err.message);
    throw err;
  }
}

export function usage(): string {
  return ['Usage: node operator/src/main.ts [--flag=value ...]', '', ...SETTINGS.map((s) => `  --${s.flag.padEnd(28)} ${s.env.padEnd(36)} ${s.help}${s.default === undefined ? '' : ` (default ${s.default === '' ? '""' : s.default})`}`)].join('\n');
}

/** The operator stops at the first problem: the shared reader's lookups, each failure thrown as a ConfigError. */
class Reader {
  readonly #settings: SettingsReader;
  constructor(flags: Record<string, string | undefined>, env: Record<string, string | undefined>) {
    this.#settings = new SettingsReader(flags, env, flagThenEnv);
  }

  #setting(flag: string): Setting {
    const s = SETTINGS.find((x) => x.flag === flag);
    if (s === undefined) throw new Error(`no setting ${flag}`);
    return s;
  }

  name(flag: string): string {
    return this.#settings.name(this.#setting(flag));
  }

  optional(flag: string): string | undefined {
    return this.#settings.raw(this.#setting(flag));
  }

  required(flag: string, hint: string): string {
    const v = this.optional(flag);
    if (v === undefined) throw new ConfigError(`${this.name(flag)} is required: ${hint}`);
    return v;
  }

  duration(flag: string, minMs = 1): number {
    const raw = this.required(flag, 'a duration such as 30s, 15m, 24h or 180d');
    const ms = durationMs(raw);
    if (ms === undefined) throw new ConfigError(`${this.name(flag)}: expected a duration such as 30s, 15m, 24h or 180d, got ${JSON.stringify(raw)}`);
    if (ms < minMs) throw new ConfigError(`${this.name(flag)}: must be at least ${minMs}ms, got ${raw}`);
    return ms;
  }

  size(flag: string, min: number): number {
    const raw = this.required(flag, 'a size such as 65536 or 64Mi');
    const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(raw);
    const n = m === null ? Number.NaN : Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] ?? ''] ?? 1);
    if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${this.name(flag)}: expected a size of at least ${min} bytes such as 65536 or 64Mi, got ${JSON.stringify(raw)}`);
    return n;
  }

  address(flag: string): { host: string; port: number } {
    const raw = this.required(flag, 'host:port');
    const m = /^(.*):(\d{1,5})$/.exec(raw);
    const port = Number(m?.[2]);
    if (m === null || m[1] === undefined || port > 65535) throw new ConfigError(`${this.name(flag)}: expected host:port such as 0.0.0.0:8443, got ${JSON.stringify(raw)}`);
    return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
  }

  readable(flag: string, hint: string): string {
    const file = this.required(flag, hint);
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new ConfigError(`${this.name(flag)}: cannot read ${file}`);
    }
    return file;
  }
}

function operatorNamespace(r: Reader, env: Record<string, string | undefined>): string {
  const ns = r.optional('namespace') ?? env.POD_NAMESPACE ?? readServiceAccountNamespace();
  if (ns === undefined) throw new ConfigError(`${r.name('namespace')} is required outside a pod (the namespace of the Lease and the store-key Secret)`);
  if (!DNS.test(ns)) throw new ConfigError(`${r.name('namespace')}: ${JSON.stringify(ns)} is not a namespace name`);
  return ns;
}

function readServiceAccountNamespace(): string | undefined {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return undefined;
  }
}

function watchNamespaces(r: Reader): string[] | undefined {
  const raw = r.optional('watch-namespaces');
  if (raw === undefined) return undefined;
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = list.find((n) => !DNS.test(n));
  if (bad !== undefined) throw new ConfigError(`${r.name('watch-namespaces')}: ${JSON.stringify(bad)} is not a namespace name`);
  return list.length === 0 ? undefined : list;
}

function leaderTimings(r: Reader): Pick<OperatorConfig, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'> {
  const leaseDurationMs = r.duration('lease-duration', 1000);
  const renewDeadlineMs = r.duration('renew-deadline', 500);
  const retryPeriodMs = r.duration('retry-period', 100);
  if (renewDeadlineMs >= leaseDurationMs) throw new ConfigError(`${r.name('renew-deadline')} must be shorter than ${r.name('lease-duration')}`);
  if (retryPeriodMs >= renewDeadlineMs) throw new ConfigError(`${r.name('retry-period')} must be shorter than ${r.name('renew-deadline')}`);
  return { leaseDurationMs, renewDeadlineMs, retryPeriodMs };
}

function positiveInt(r: Reader, flag: string): number {
  const raw = r.required(flag, 'a positive integer');
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${r.name(flag)}: expected a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** The four-eyes mapping; the old prefix setting guessed the claim and is refused rather than half-honoured. */
function usernameMappings(r: Reader, env: Record<string, string | undefined>): OidcUsernameMapping[] {
  if ((env.GUARITA_OIDC_USERNAME_PREFIX ?? '') !== '') throw new ConfigError(`GUARITA_OIDC_USERNAME_PREFIX: replaced by ${r.name(MAPPINGS_FLAG)}, which also names the claim the apiserver maps: see docs/approvals.md`);
  const { mappings, problems } = parseUsernameMappings(r.optional(MAPPINGS_FLAG));
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${p} (--${MAPPINGS_FLAG})`).join('\n'));
  return mappings;
}

export function loadConfig(argv: readonly string[], env: Record<string, string | undefined>): OperatorConfig {
  const r = new Reader(parseArgs(argv), env);
  const logLevel = r.required('log-level', LOG_LEVELS.join(', '));
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`${r.name('log-level')}: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const podName = r.optional('pod-name');
  const listen = r.address('listen');
  const metrics = r.address('metrics-listen');
  const kubeconfig = r.optional('kubeconfig');
  const storeKeyFile = r.optional('store-key-file');
  const watch = watchNamespaces(r);
  return {
    ...(kubeconfig === undefined ? {} : { kubeconfig }),
    namespace: operatorNamespace(r, env),
    identity: r.optional('identity') ?? `${podName ?? hostname()}_${randomBytes(4).toString('hex')}`,
    ...(podName === undefined ? {} : { podName }),
    ...(watch === undefined ? {} : { watchNamespaces: watch }),
    listenHost: listen.host, listenPort: listen.port,
    tlsCertFile: r.readable('tls-cert-file', 'the ingest and read APIs are HTTPS only'),
    tlsKeyFile: r.readable('tls-key-file', 'the ingest and read APIs are HTTPS only'),
    metricsHost: metrics.host, metricsPort: metrics.port,
    dataDir: r.required('data-dir', 'the session store directory'),
    storeKeySecret: r.required('store-key-secret', 'a Secret name'),
    ...(storeKeyFile === undefined ? {} : { storeKeyFile }),
    ingestAudience: r.required('ingest-audience', 'an audience'),
    leaseName: r.required('lease-name', 'a Lease name'),
    ...leaderTimings(r),
    segmentMaxBytes: r.size('segment-max-bytes', 1024),
    segmentMaxAgeMs: r.duration('segment-max-age', 1000),
    anchorIntervalMs: r.duration('anchor-interval', 100),
    retentionIntervalMs: r.duration('retention-interval', 100),
    defaultSessionRetentionMs: r.duration('default-session-retention', 1000),
    defaultApprovalRetentionMs: r.duration('default-approval-retention', 1000),
    approvedGraceMs: r.duration('approved-grace', 0),
    resyncPeriodMs: r.duration('resync-period', 1000),
    workers: positiveInt(r, 'workers'),
    maxBatchRecords: positiveInt(r, 'max-batch-records'),
    maxChainsPerPod: positiveInt(r, 'max-chains-per-pod'),
    maxBodyBytes: r.size('max-body-bytes', 1024),
    maxConnections: positiveInt(r, 'max-connections'),
    maxConnectionsPerClient: positiveInt(r, 'max-connections-per-client'),
    usernameMappings: usernameMappings(r, env),
    eventRepeatIntervalMs: r.duration('event-repeat-interval', 0),
    logLevel,

    maxPendingApprovalsPerRequester: positiveInt(r, 'max-pending-approvals-per-requester'),
    maxPendingApprovalsPerPod: positiveInt(r, 'max-pending-approvals-per-pod'),
  };
}
