// The webhook's configuration: environment variables (what the Helm chart sets), each overridable
// by a command-line flag, read by the settings reader the operator shares (core/settings.ts).
// Every problem is reported at once, naming the variable and the flag.
import { MAPPINGS_ENV, MAPPINGS_FLAG, parseUsernameMappings, type OidcUsernameMapping } from '../../core/approvals/requester.ts';
import { envThenFlag, parseFlags, SettingsError, SettingsReader, type Setting } from '../../core/settings.ts';
import { parseQuantity } from '../../core/kube/quantity.ts';
import { MIN_SPOOL_SIZE_LIMIT_BYTES, SPOOL_SEGMENT_BYTES, spoolBudgetFor } from '../../core/recording/spool-budget.ts';
import { durationSeconds } from './access-policy.ts';
import { DEFAULT_CONFIGURATION_NAME, DEFAULT_OPERATOR_SERVICE_ACCOUNT, SYSTEM_NAMESPACES } from './constants.ts';
import type { InjectorConfig } from './inject.ts';
import { parseSidecarNamespaces } from './sidecar-namespaces.ts';
import { storageShortfall } from './spool-storage.ts';
import type { ResourceRequirements, SidecarConfig } from './sidecar.ts';
import type { TlsPolicy } from './tls-certs.ts';

export type TlsMode = 'self' | 'files';

/**
 * Who may call the admission endpoints. certificate: a TLS client certificate issued by caFile
 * (the apiserver presents one when its AdmissionConfiguration gives the webhook a kubeConfigFile),
 * optionally with a subject CN or DNS name among `names`. none: anyone who reaches the port; only
 * with a NetworkPolicy that admits the control plane alone (docs/webhook.md, "Who may call the webhook").
 */
export type ClientAuthConfig = { mode: 'certificate'; caFile: string; names: string[] } | { mode: 'none' };

export interface WebhookConfig {
  namespace: string;
  host: string;
  port: number;
  /** Plain-HTTP /metrics, /healthz, /readyz; 0 turns it off. */
  metricsPort: number;
  tls: {
    mode: TlsMode;
    secretName: string;
    dir: string;
    policy: TlsPolicy;
    checkIntervalMs: number;
  };
  /** Name of the MutatingWebhookConfiguration and the ValidatingWebhookConfiguration. */
  configurationName: string;
  injector: InjectorConfig;
  clientAuth: ClientAuthConfig;
  /** Inline CSI drivers pods of opted-in namespaces may use (any other could expose the proxy's spool on the node). */
  allowedCsiDrivers: string[];
  missingSecret: 'reject' | 'warn';
  /** How the apiserver names users of each OIDC issuer: the four-eyes check (core/approvals/requester.ts). */
  usernameMappings: OidcUsernameMapping[];
  /** The operator's ServiceAccount: the only identity that decides ApprovalRequest phases. */
  operatorServiceAccount: { namespace: string; name: string };
  kubeconfig: string | undefined;
  logLevel: string;
}

const S = {
  namespace: { env: 'GUARITA_NAMESPACE', flag: 'namespace', help: 'Namespace Guarita runs in (downward API metadata.namespace). Required.' },
  host: { env: 'GUARITA_WEBHOOK_HOST', flag: 'host', help: 'Address the HTTPS server binds.', default: '0.0.0.0' },
  port: { env: 'GUARITA_WEBHOOK_PORT', flag: 'port', help: 'HTTPS port (10250 passes the control-plane firewalls of private GKE/EKS clusters; 0: any free port, for tests).', default: '10250' },
  metricsPort: { env: 'GUARITA_WEBHOOK_METRICS_PORT', flag: 'metrics-port', help: 'Plain-HTTP port for /metrics, /healthz, /readyz (0: off).', default: '9090' },
  tlsMode: { env: 'GUARITA_WEBHOOK_TLS_MODE', flag: 'tls-mode', help: 'self (CA and certificate managed in a Secret) or files (cert-manager writes tls.crt/tls.key).', default: 'self' },
  tlsSecret: { env: 'GUARITA_WEBHOOK_TLS_SECRET', flag: 'tls-secret', help: 'self mode: Secret holding the CA and serving certificate.', default: 'guarita-webhook-tls' },
  tlsDir: { env: 'GUARITA_WEBHOOK_TLS_DIR', flag: 'tls-dir', help: 'files mode: directory with tls.crt and tls.key.', default: '/var/run/guarita/webhook-tls' },
  service: { env: 'GUARITA_WEBHOOK_SERVICE', flag: 'service', help: 'Service name: the certificate covers <service>.<namespace>.svc and its variants.', default: 'guarita-webhook' },
  certHosts: { env: 'GUARITA_WEBHOOK_CERT_HOSTS', flag: 'cert-hosts', help: 'Extra DNS names and IP addresses for the certificate, comma-separated.', default: '' },
  certValidity: { env: 'GUARITA_WEBHOOK_CERT_VALIDITY', flag: 'cert-validity', help: 'Serving certificate lifetime; renewed when a third remains.', default: '720h' },
  caValidity: { env: 'GUARITA_WEBHOOK_CA_VALIDITY', flag: 'ca-validity', help: 'CA lifetime; rotated (with overlap) when a third remains.', default: '8760h' },
  tlsCheck: { env: 'GUARITA_WEBHOOK_TLS_CHECK_INTERVAL', flag: 'tls-check-interval', help: 'How often certificates and caBundles are checked.', default: '30s' },
  configuration: { env: 'GUARITA_WEBHOOK_CONFIGURATION', flag: 'configuration', help: 'Name of the Mutating- and ValidatingWebhookConfiguration (self mode patches their caBundle).', default: DEFAULT_CONFIGURATION_NAME },
  excluded: { env: 'GUARITA_WEBHOOK_EXCLUDED_NAMESPACES', flag: 'excluded-namespaces', help: 'Namespaces never injected besides kube-system, kube-public, kube-node-lease and Guarita\'s own (comma-separated).', default: '' },
  clientAuth: { env: 'GUARITA_WEBHOOK_CLIENT_AUTH', flag: 'client-auth', help: 'Who may call the admission endpoints: certificate (a TLS client certificate issued by GUARITA_WEBHOOK_CLIENT_CA_FILE, which the apiserver presents when its AdmissionConfiguration names a kubeConfigFile) or none (anyone who reaches the port: restrict it with a NetworkPolicy to the control plane).', default: 'certificate' },
  clientCa: { env: 'GUARITA_WEBHOOK_CLIENT_CA_FILE', flag: 'client-ca-file', help: 'PEM file with the CA(s) that issue the apiserver\'s webhook client certificate. Required with GUARITA_WEBHOOK_CLIENT_AUTH=certificate.' },
  clientNames: { env: 'GUARITA_WEBHOOK_CLIENT_NAMES', flag: 'client-names', help: 'Subject common names or DNS names accepted in the client certificate, comma-separated (empty: any certificate the CA issued).', default: '' },
  csiDrivers: { env: 'GUARITA_WEBHOOK_ALLOWED_CSI_DRIVERS', flag: 'allowed-csi-drivers', help: 'Inline CSI volume drivers pods of opted-in namespaces may use, comma-separated (others could expose node paths such as the proxy\'s spool).', default: '' },
  missingSecret: { env: 'GUARITA_WEBHOOK_MISSING_SECRET', flag: 'missing-secret', help: 'AccessPolicy naming a Secret that does not exist: reject or warn.', default: 'reject' },
  usernameMappings: { env: MAPPINGS_ENV, flag: MAPPINGS_FLAG, help: 'JSON list: how the apiserver turns each OIDC issuer\'s tokens into usernames ([{"issuer":"https://idp","claim":"email","prefix":""}], or {"issuer":...,"apiserver":false}). Without an entry for its issuer, reviews of an OIDC requester are refused (four-eyes check; docs/approvals.md).' },
  operatorSa: { env: 'GUARITA_OPERATOR_SERVICE_ACCOUNT', flag: 'operator-service-account', help: `namespace:name of the operator's ServiceAccount, the only identity that may decide ApprovalRequest phases (status writes) (default <namespace>:${DEFAULT_OPERATOR_SERVICE_ACCOUNT}).` },
  kubeconfig: { env: 'GUARITA_KUBECONFIG', flag: 'kubeconfig', help: 'Kubeconfig file (default: in-cluster service account).' },
  logLevel: { env: 'GUARITA_LOG_LEVEL', flag: 'log-level', help: 'trace, debug, info, warn, error.', default: 'info' },
  image: { env: 'GUARITA_SIDECAR_IMAGE', flag: 'sidecar-image', help: 'Image of the guarita-proxy sidecar. Required.' },
  pullPolicy: { env: 'GUARITA_SIDECAR_IMAGE_PULL_POLICY', flag: 'sidecar-image-pull-policy', help: 'Always, IfNotPresent or Never.', default: 'IfNotPresent' },
  resources: { env: 'GUARITA_SIDECAR_RESOURCES', flag: 'sidecar-resources', help: 'Sidecar resources as JSON ({"requests":{...},"limits":{...}}).', default: '{"requests":{"cpu":"50m","memory":"64Mi"},"limits":{"memory":"256Mi"}}' },
  mode: { env: 'GUARITA_SIDECAR_MODE', flag: 'sidecar-mode', help: 'native (Kubernetes >= 1.29) or container (fallback for older clusters).', default: 'native' },
  adminPort: { env: 'GUARITA_SIDECAR_ADMIN_PORT', flag: 'sidecar-admin-port', help: 'Sidecar admin port (/healthz, /readyz, /metrics).', default: '15090' },
  uid: { env: 'GUARITA_SIDECAR_UID', flag: 'sidecar-uid', help: 'Non-root uid/gid of the sidecar.', default: '65532' },
  startup: { env: 'GUARITA_SIDECAR_STARTUP_TIMEOUT', flag: 'sidecar-startup-timeout', help: 'How long the proxy may take to become ready.', default: '120s' },
  spool: { env: 'GUARITA_SIDECAR_SPOOL_SIZE_LIMIT', flag: 'sidecar-spool-size-limit', help: 'sizeLimit of the spool emptyDir (e.g. 256Mi).' },
  operatorUrl: { env: 'GUARITA_OPERATOR_URL', flag: 'operator-url', help: 'Operator ingest URL given to sidecars (default https://guarita-operator.<namespace>.svc:8443).' },
  operatorAudience: { env: 'GUARITA_OPERATOR_AUDIENCE', flag: 'operator-audience', help: 'Audience of the sidecar\'s projected token for the operator.', default: 'guarita-operator' },
  operatorCa: { env: 'GUARITA_OPERATOR_CA_CONFIGMAP', flag: 'operator-ca-configmap', help: 'ConfigMap (key ca.crt) with the operator\'s CA, mounted into sidecars.' },
  approvalWait: { env: 'GUARITA_SIDECAR_APPROVAL_WAIT', flag: 'sidecar-approval-wait', help: 'GUARITA_APPROVAL_WAIT for sidecars (default: the sidecar\'s).' },
  sidecarNamespaces: { env: 'GUARITA_SIDECAR_NAMESPACES', flag: 'sidecar-namespaces', help: 'JSON list of the namespaces (and service accounts) where the chart gave the sidecar its RBAC and the operator\'s CA (sidecar.rbac.namespaces). Set: agent pods elsewhere are refused with the helm upgrade that adds them. Unset: not checked.' },
  helmRelease: { env: 'GUARITA_HELM_RELEASE', flag: 'helm-release', help: 'Helm release name, for the helm upgrade in refusals.', default: 'guarita' },
  helmChart: { env: 'GUARITA_HELM_CHART', flag: 'helm-chart', help: 'Chart reference, for the helm upgrade in refusals.', default: 'charts/guarita' },
  staleness: { env: 'GUARITA_SIDECAR_POLICY_STALENESS', flag: 'sidecar-policy-staleness', help: 'GUARITA_POLICY_STALENESS for sidecars (default: the sidecar\'s).' },
} as const satisfies Record<string, Setting>;

export const SETTINGS: readonly Setting[] = Object.values(S);

export class ConfigError extends Error {
  constructor(problems: string[]) {
    super(`invalid webhook configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nRun with --help for every setting.`);
    this.name = 'ConfigError';
  }
}

/** The shared reader's lookups; every problem is collected and reported at once. */
class Reader {
  readonly #settings: SettingsReader;
  readonly problems: string[];

  constructor(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv) {
    this.#settings = new SettingsReader(flags, env, envThenFlag);
    this.problems = this.#settings.problems;
  }

  raw(s: Setting): string | undefined {
    return this.#settings.raw(s);
  }

  #fail<T>(s: Setting, message: string, fallback: T): T {
    this.#settings.problem(s, message);
    return fallback;
  }

  required(s: Setting): string {
    return this.raw(s) ?? this.#fail(s, 'is required', '');
  }

  str(s: Setting): string {
    return this.raw(s) ?? '';
  }

  int(s: Setting, min: number, max: number): number {
    const v = this.raw(s) ?? '';
    const n = Number(v);
    return Number.isInteger(n) && n >= min && n <= max ? n : this.#fail(s, `must be an integer from ${min} to ${max}, got "${v}"`, min);
  }

  oneOf<T extends string>(s: Setting, values: readonly T[]): T {
    const v = this.raw(s) ?? '';
    return (values as readonly string[]).includes(v) ? (v as T) : this.#fail(s, `must be one of ${values.join(', ')}, got "${v}"`, values[0] as T);
  }

  durationMs(s: Setting): number {
    const v = this.raw(s) ?? '';
    const seconds = durationSeconds(v);
    return seconds !== undefined && seconds > 0 ? seconds * 1000 : this.#fail(s, `must be a positive duration such as 30s, 15m, 720h or 90d, got "${v}"`, 1000);
  }

  list(s: Setting): string[] {
    return (this.raw(s) ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  }

  optional(s: Setting): string | undefined {
    return this.raw(s);
  }

  /**
   * The spool emptyDir's sizeLimit, a Kubernetes quantity of bytes, and the spool's budget in it
   * (core/recording/spool-budget.ts). Under MIN_SPOOL_SIZE_LIMIT_BYTES it is refused: kubelet
   * would evict the pod (losing its unshipped records) before the spool could fail closed.
   */
  spoolSizeLimit(s: Setting): { sizeLimit: string; maxBytes: number } | undefined {
    const v = this.raw(s);
    if (v === undefined) return undefined;
    const min = `${MIN_SPOOL_SIZE_LIMIT_BYTES / (1024 * 1024)}Mi`;
    // Whole numbers with a suffix only (Kubernetes also takes 0.5Gi and 1e9): one reading, no rounding.
    const m = /^([0-9]{1,15})(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(v);
    if (m === null) return this.#fail(s, `must be a whole number of bytes with an optional suffix (Ki, Mi, Gi, Ti, k, M, G, T), at least ${min}, e.g. 256Mi; got "${v}"`, undefined);
    // The grammar above is a subset of Kubernetes quantities: read by the one quantity reader.
    const q = parseQuantity(v);
    const bytes = q === undefined ? Number.NaN : Number(q.numerator / q.denominator);
    if (!Number.isSafeInteger(bytes)) return this.#fail(s, `is larger than this setting can hold (2^53 bytes); got "${v}"`, undefined);
    if (bytes < MIN_SPOOL_SIZE_LIMIT_BYTES) {
      return this.#fail(s, `must be at least ${min}: a spool segment is pre-sized to ${SPOOL_SEGMENT_BYTES / (1024 * 1024)} MiB and one awaits shipment while the next fills; below that kubelet evicts the pod (losing its unshipped records) before the sidecar can refuse requests; got "${v}"`, undefined);
    }
    return { sizeLimit: v, maxBytes: spoolBudgetFor(bytes) };
  }

  /** `namespace:name` of a ServiceAccount (DNS labels / subdomain, as Kubernetes validates them). */
  serviceAccount(s: Setting, fallback: { namespace: string; name: string }): { namespace: string; name: string } {
    const v = this.raw(s);
    if (v === undefined) return fallback;
    const m = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?):([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/.exec(v);
    if (m?.[1] !== undefined && m[3] !== undefined) return { namespace: m[1], name: m[3] };
    return this.#fail(s, `must be namespace:name of a ServiceAccount (e.g. guarita-system:guarita-operator), got "${v}"`, { namespace: '', name: '' });
  }

  resources(s: Setting): ResourceRequirements {
    const v = this.raw(s) ?? '{}';
    try {
      const parsed = JSON.parse(v) as unknown;
      if (isResources(parsed)) return parsed;
    } catch { /* reported below */ }
    return this.#fail(s, `must be JSON like {"requests":{"cpu":"50m","memory":"64Mi"},"limits":{"memory":"256Mi"}} whose values are Kubernetes quantities (50m, 0.5, 64Mi, 1e9), got ${v}`, {});
  }
}

/** Quantities the pod guard can read (core/kube/quantity.ts): it compares the proxy's resources with these by value. */
function isQuantityMap(v: unknown): boolean {
  return v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((q) => typeof q === 'string' && parseQuantity(q) !== undefined));
}

function isResources(v: unknown): v is ResourceRequirements {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  return Object.keys(r).every((k) => k === 'requests' || k === 'limits') && isQuantityMap(r.requests) && isQuantityMap(r.limits);
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function tlsPolicy(r: Reader, namespace: string): TlsPolicy {
  const service = r.str(S.service);
  const extra = r.list(S.certHosts);
  const dnsNames = [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
  return {
    dnsNames: [...dnsNames, ...extra.filter((h) => !IPV4.test(h) && !h.includes(':'))],
    ips: extra.filter((h) => IPV4.test(h) || h.includes(':')),
    caValidityMs: r.durationMs(S.caValidity),
    certValidityMs: r.durationMs(S.certValidity),
    renewFraction: 1 / 3,
  };
}

function sidecarConfig(r: Reader, namespace: string): SidecarConfig {
  const optional = <K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> => (value === undefined ? {} : { [key]: value } as Record<K, string>);
  return {
    image: r.required(S.image),
    imagePullPolicy: r.oneOf(S.pullPolicy, ['IfNotPresent', 'Always', 'Never'] as const),
    resources: r.resources(S.resources),
    mode: r.oneOf(S.mode, ['native', 'container'] as const),
    adminPort: r.int(S.adminPort, 1024, 65535),
    uid: r.int(S.uid, 1, 2_147_483_647),
    startupTimeoutSeconds: Math.ceil(r.durationMs(S.startup) / 1000),
    operatorUrl: r.optional(S.operatorUrl) ?? `https://guarita-operator.${namespace}.svc:8443`,
    operatorAudience: r.str(S.operatorAudience),
    ...optional('operatorCaConfigMap', r.optional(S.operatorCa)),
    ...spoolLimit(r.spoolSizeLimit(S.spool)),
    ...optional('approvalWait', r.optional(S.approvalWait)),
    ...optional('policyStaleness', r.optional(S.staleness)),
  };
}

/** An ephemeral-storage limit in sidecar.resources must hold the spool, else every injected pod is refused (spool-storage.ts). */
function checkProxyStorage(r: Reader, sidecar: SidecarConfig): SidecarConfig {
  const limit = sidecar.resources.limits?.['ephemeral-storage'];
  const problem = limit === undefined ? undefined : storageShortfall(limit, sidecar.spoolSizeLimit);
  if (problem !== undefined) r.problems.push(`${S.resources.env} (--${S.resources.flag}): limits.ephemeral-storage ${problem}`);
  return sidecar;
}

/**
 * A request above its limit in sidecar.resources (an ephemeral-storage request reserving room for
 * the spool, say): the apiserver refuses every container so written, so every injected pod.
 */
function checkRequestsWithinLimits(r: Reader, sidecar: SidecarConfig): SidecarConfig {
  const { requests = {}, limits = {} } = sidecar.resources;
  for (const [name, limit] of Object.entries(limits)) {
    const request = requests[name];
    const l = parseQuantity(limit);
    const q = request === undefined ? undefined : parseQuantity(request);
    if (l === undefined || q === undefined || q.numerator * l.denominator <= l.numerator * q.denominator) continue;
    r.problems.push(`${S.resources.env} (--${S.resources.flag}): requests.${name} ${JSON.stringify(request)} is above limits.${name} ${JSON.stringify(limit)}: the apiserver would refuse every injected pod; lower the request or raise the limit`);
  }
  return sidecar;
}

function spoolLimit(limit: { sizeLimit: string; maxBytes: number } | undefined): Pick<SidecarConfig, 'spoolSizeLimit' | 'spoolMaxBytes'> {
  return limit === undefined ? {} : { spoolSizeLimit: limit.sizeLimit, spoolMaxBytes: limit.maxBytes };
}

/** Fails closed: certificate is the default, and it needs the CA; "none" must be chosen explicitly. */
function clientAuth(r: Reader): ClientAuthConfig {
  const mode = r.oneOf(S.clientAuth, ['certificate', 'none'] as const);
  if (mode === 'none') return { mode };
  const caFile = r.optional(S.clientCa);
  if (caFile === undefined) {
    r.problems.push(`${S.clientCa.env} (--${S.clientCa.flag}): is required with ${S.clientAuth.env}=certificate (the default): give the CA that issues the apiserver's webhook client certificate (AdmissionConfiguration kubeConfigFile, docs/webhook.md "Who may call the webhook"), or set ${S.clientAuth.env}=none where the apiserver cannot present one and restrict the NetworkPolicy to the control plane`);
  }
  return { mode, caFile: caFile ?? '', names: r.list(S.clientNames) };
}

/** The four-eyes mapping; the old prefix setting guessed the claim and is refused rather than half-honoured. */
function usernameMappings(r: Reader, env: NodeJS.ProcessEnv): OidcUsernameMapping[] {
  if ((env.GUARITA_WEBHOOK_USERNAME_PREFIX ?? '') !== '') r.problems.push(`GUARITA_WEBHOOK_USERNAME_PREFIX: replaced by ${MAPPINGS_ENV} (--${MAPPINGS_FLAG}), which also names the claim the apiserver maps: see docs/approvals.md`);
  const { mappings, problems } = parseUsernameMappings(r.optional(S.usernameMappings));
  r.problems.push(...problems.map((p) => `${p} (--${MAPPINGS_FLAG})`));
  return mappings;
}

/** The chart's sidecar.rbac.namespaces (GUARITA_SIDECAR_NAMESPACES); absent when not set. */
function sidecarNamespaces(r: Reader, namespace: string): Pick<InjectorConfig, 'sidecarNamespaces'> {
  const text = r.optional(S.sidecarNamespaces);
  if (text === undefined) return {};
  const parsed = parseSidecarNamespaces(text);
  if ('problem' in parsed) {
    r.problems.push(`${S.sidecarNamespaces.env} (--${S.sidecarNamespaces.flag}): ${parsed.problem}`);
    return {};
  }
  return { sidecarNamespaces: { entries: parsed.entries, release: r.str(S.helmRelease), releaseNamespace: namespace, chart: r.str(S.helmChart) } };
}

export function usage(): string {
  const lines = SETTINGS.map((s) => `  --${s.flag.padEnd(26)} ${s.env}\n      ${s.help}${s.default === undefined || s.default === '' ? '' : ` Default: ${s.default}`}`);
  return `guarita webhook: admission webhooks (sidecar injection, ApprovalRequest and AccessPolicy validation)\n\nSettings (flag, environment variable):\n${lines.join('\n')}\n`;
}

/** Parses flags (argv without node and script) over the environment. Throws ConfigError listing every problem. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): WebhookConfig {
  let flags: Record<string, string | undefined>;
  try {
    flags = parseFlags(argv, SETTINGS).values;
  } catch (err) {
    if (err instanceof SettingsError) throw new ConfigError([...err.problems]);
    throw err;
  }
  const r = new Reader(flags, env);
  const namespace = r.required(S.namespace);
  const config: WebhookConfig = {
    namespace,
    host: r.str(S.host),
    port: r.int(S.port, 0, 65535),
    metricsPort: r.int(S.metricsPort, 0, 65535),
    tls: { mode: r.oneOf(S.tlsMode, ['self', 'files'] as const), secretName: r.str(S.tlsSecret), dir: r.str(S.tlsDir), policy: tlsPolicy(r, namespace), checkIntervalMs: r.durationMs(S.tlsCheck) },
    configurationName: r.str(S.configuration),
    injector: { sidecar: checkRequestsWithinLimits(r, checkProxyStorage(r, sidecarConfig(r, namespace))), excludedNamespaces: [...SYSTEM_NAMESPACES, namespace, ...r.list(S.excluded)], ...sidecarNamespaces(r, namespace) },
    clientAuth: clientAuth(r),
    allowedCsiDrivers: r.list(S.csiDrivers),
    missingSecret: r.oneOf(S.missingSecret, ['reject', 'warn'] as const),
    usernameMappings: usernameMappings(r, env),
    operatorServiceAccount: r.serviceAccount(S.operatorSa, { namespace, name: DEFAULT_OPERATOR_SERVICE_ACCOUNT }),
    kubeconfig: r.optional(S.kubeconfig),
    logLevel: r.oneOf(S.logLevel, ['trace', 'debug', 'info', 'warn', 'error'] as const),
  };
  if (config.tls.policy.caValidityMs < 3 * config.tls.policy.certValidityMs) {
    r.problems.push('GUARITA_WEBHOOK_CA_VALIDITY (--ca-validity): must be at least 3 times GUARITA_WEBHOOK_CERT_VALIDITY (the CA is rotated in two phases within its last half)');
  }
  if (config.port !== 0 && config.port === config.metricsPort) r.problems.push(`GUARITA_WEBHOOK_METRICS_PORT (--metrics-port): must differ from the HTTPS port ${config.port}`);
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
