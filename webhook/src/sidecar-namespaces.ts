// Which namespaces and service accounts the chart gave the sidecar what it needs (the Role its
// proxy uses to watch AccessPolicies and create ApprovalRequests, TokenReview, and the operator's
// CA ConfigMap): the chart's sidecar.rbac.namespaces, handed to the webhook as JSON. An agent pod
// elsewhere would get a proxy that cannot start (a missing ConfigMap volume) or cannot read its
// policy; the injector refuses it instead, with the exact `helm upgrade` that grants it. Pure: the
// injector calls it; config.ts parses the setting with it.

/** One entry of the chart's sidecar.rbac.namespaces, as the chart renders it. */
export interface SidecarNamespace {
  namespace: string;
  /** Empty or absent: every service account of the namespace. */
  serviceAccounts?: string[];
  create?: boolean;
}

/** The list, and how `helm upgrade` names the release that owns it. */
export interface SidecarNamespaces {
  entries: SidecarNamespace[];
  release: string;
  releaseNamespace: string;
  chart: string;
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

const isName = (v: unknown): boolean => typeof v === 'string' && NAME.test(v);

function isNameList(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) && v.every(isName));
}

function isEntry(v: unknown): v is SidecarNamespace {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const e = v as Record<string, unknown>;
  return isName(e.namespace) && isNameList(e.serviceAccounts) && (e.create === undefined || typeof e.create === 'boolean');
}

/** Parses the JSON the chart renders; a problem says what was expected. */
export function parseSidecarNamespaces(text: string): { entries: SidecarNamespace[] } | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { problem: `must be a JSON list like [{"namespace":"lgpd-orders","serviceAccounts":["support-agent"]}] (${err instanceof Error ? err.message : String(err)})` };
  }
  if (parsed === null) return { entries: [] };
  if (!Array.isArray(parsed)) return { problem: 'must be a JSON list of {"namespace":...,"serviceAccounts":[...]} (the chart\'s sidecar.rbac.namespaces)' };
  const bad = parsed.findIndex((e) => !isEntry(e));
  if (bad >= 0) return { problem: `entry ${bad} must be {"namespace":"<name>","serviceAccounts":["<name>",...],"create":true|false}, got ${JSON.stringify(parsed[bad])}` };
  return { entries: (parsed as SidecarNamespace[]).map((e) => ({ ...e, ...(e.serviceAccounts === null ? { serviceAccounts: [] } : {}) })) };
}

function covers(entry: SidecarNamespace, serviceAccount: string): boolean {
  return (entry.serviceAccounts ?? []).length === 0 || (entry.serviceAccounts ?? []).includes(serviceAccount);
}

/** The list with this namespace and service account added (least privilege: that account only; none: every account of the namespace). */
function withAccount(entries: readonly SidecarNamespace[], namespace: string, serviceAccount: string | undefined): SidecarNamespace[] {
  const listed = entries.some((e) => e.namespace === namespace);
  if (!listed) return [...entries, { namespace, ...(serviceAccount === undefined ? {} : { serviceAccounts: [serviceAccount] }) }];
  if (serviceAccount === undefined) return [...entries];
  return entries.map((e) => (e.namespace === namespace ? { ...e, serviceAccounts: [...(e.serviceAccounts ?? []), serviceAccount] } : e));
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The exact command that grants it: the whole list, since --set-json replaces it (other entries kept as they are). */
export function upgradeCommand(config: SidecarNamespaces, namespace: string, serviceAccount?: string): string {
  const list = JSON.stringify(withAccount(config.entries, namespace, serviceAccount));
  return `helm upgrade ${config.release} ${config.chart} -n ${config.releaseNamespace} --reuse-values --set-json ${shellQuote(`sidecar.rbac.namespaces=${list}`)}`;
}

/**
 * Undefined when the chart gave the sidecar of this pod's service account what it needs;
 * otherwise the reason to refuse the pod, with the command that fixes it.
 */
export function missingSidecarAccess(config: SidecarNamespaces, namespace: string, serviceAccount: string): string | undefined {
  const entry = config.entries.find((e) => e.namespace === namespace);
  if (entry !== undefined && covers(entry, serviceAccount)) return undefined;
  const what = entry === undefined
    ? `namespace ${namespace} is opted in (guarita.io/injection=enabled) but Guarita's sidecar has no RBAC and no operator CA there (it is not in the chart's sidecar.rbac.namespaces)`
    : `service account ${serviceAccount} is not among the sidecar's service accounts of namespace ${namespace} (sidecar.rbac.namespaces: ${(entry.serviceAccounts ?? []).join(', ')})`;
  return `${what}, so the proxy could not start or read its AccessPolicy. A cluster admin grants it with:\n  ${upgradeCommand(config, namespace, serviceAccount)}\nthen create the pod again (controllers retry by themselves); or remove the label: kubectl label namespace ${namespace} guarita.io/injection-`;
}

/**
 * Why a namespace the chart does not list cannot be opted in, or undefined when it is listed. The
 * label is judged by listing the namespace's pods (they were admitted without the pod guard), and
 * the chart lets this webhook list pods only in sidecar.rbac.namespaces (round 10: not every pod
 * spec of the cluster); its agent pods would be refused there anyway. The command adds the
 * namespace for every service account; narrow it with serviceAccounts.
 */
export function optInRefusal(config: SidecarNamespaces, namespace: string): string | undefined {
  if (config.entries.some((e) => e.namespace === namespace)) return undefined;
  return `namespace ${namespace} is not in the chart's sidecar.rbac.namespaces: the webhook may list pods (to judge the namespace's running pods before the label) only there, and Guarita's sidecar has no RBAC and no operator CA in it. A cluster admin adds it with:\n  ${upgradeCommand(config, namespace)}\n(add "serviceAccounts":[...] to its entry to narrow it to the agents' service accounts), then label the namespace again`;
}
