// The MutatingWebhookConfiguration and ValidatingWebhookConfiguration, as objects: integration
// tests apply them (clientConfig.url on loopback), and the Helm chart copies their shape
// (clientConfig.service). Every choice below answers a failure users hit with other injectors:
//
// - Opt-in by namespace LABEL (namespaceSelector): pods of other namespaces never reach the
//   webhook, so an outage cannot block them and failurePolicy Fail is safe for the opted-in scope.
// - kube-system, kube-public, kube-node-lease and Guarita's own namespace are excluded by the
//   selector (kubernetes.io/metadata.name), so the webhook can always restart itself.
// - Pod label guarita.io/inject=false skips the call entirely (objectSelector): an escape hatch
//   that works even while the webhook is down.
// - reinvocationPolicy IfNeeded: when a later mutating webhook adds containers, the injector runs
//   again and gives them the endpoints (its output is idempotent).
// - sideEffects None: handlers have no side effects, so dry runs are answered like real requests.
// - Short timeouts: a slow webhook fails fast with a clear error instead of a 30 s stall.
import { BINDING_TOPOLOGY_LABELS, GROUP, INJECT_ANNOTATION, INJECTION_NAMESPACE_LABEL, INJECTION_NAMESPACE_VALUE, PATHS, SYSTEM_NAMESPACES, VERSION, WEBHOOK_NAMES } from './constants.ts';

export type Endpoint =
  | { service: { name: string; namespace: string; port: number } }
  /** Base URL (https://127.0.0.1:PORT) for webhooks outside the cluster: tests, local runs. */
  | { url: string };

export interface ConfigurationOptions {
  name: string;
  /** Guarita's namespace: never injected. */
  namespace: string;
  endpoint: Endpoint;
  /** Base64 PEM; omit in self mode (the webhook patches it) and with cert-manager (cainjector sets it). */
  caBundle?: string;
  /** cert-manager mode: namespace/name of the Certificate whose CA cainjector injects. */
  certManagerCertificate?: string;
  extraExcludedNamespaces?: readonly string[];
  /**
   * Labels a namespace must also carry for ANY of these webhooks to apply, e.g. to run two
   * installations side by side (canary) or, in tests, to keep one test's webhooks to its own
   * namespaces on a shared apiserver.
   */
  scopeLabels?: Record<string, string>;
  labels?: Record<string, string>;
}

interface Rule { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[]; scope: 'Namespaced' | 'Cluster' | '*' }

function clientConfig(o: ConfigurationOptions, path: string): Record<string, unknown> {
  const base = 'url' in o.endpoint ? { url: `${o.endpoint.url.replace(/\/$/, '')}${path}` } : { service: { ...o.endpoint.service, path } };
  return o.caBundle === undefined ? base : { ...base, caBundle: o.caBundle };
}

/** The namespaces never judged, by name (immutable, so the stored and the new namespace agree). */
function excludedNamespaces(o: ConfigurationOptions): Record<string, unknown> {
  return { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...SYSTEM_NAMESPACES, o.namespace, ...(o.extraExcludedNamespaces ?? [])] }] };
}

function namespaceSelector(o: ConfigurationOptions): Record<string, unknown> {
  return { matchLabels: { [INJECTION_NAMESPACE_LABEL]: INJECTION_NAMESPACE_VALUE, ...o.scopeLabels }, ...excludedNamespaces(o) };
}

function metadata(o: ConfigurationOptions): Record<string, unknown> {
  const annotations = o.certManagerCertificate === undefined ? undefined : { 'cert-manager.io/inject-ca-from': o.certManagerCertificate };
  return {
    name: o.name,
    labels: { 'app.kubernetes.io/name': 'guarita', 'app.kubernetes.io/component': 'webhook', 'app.kubernetes.io/part-of': 'guarita', ...o.labels },
    ...(annotations === undefined ? {} : { annotations }),
  };
}

/** The ApprovalRequest/AccessPolicy webhooks cover every namespace, unless scoped. */
function scope(o: ConfigurationOptions): Record<string, unknown> {
  return o.scopeLabels === undefined ? {} : { namespaceSelector: { matchLabels: { ...o.scopeLabels } } };
}

/**
 * CEL: the namespace's old labels did not opt in (the namespaceSelector checks the new ones). Scope
 * labels (tests, side-by-side installations) are not part of it: a namespace already opted in that
 * only gains this installation's scope label is not judged again.
 */
const NEWLY_OPTED_IN = `!(has(oldObject.metadata.labels) && '${INJECTION_NAMESPACE_LABEL}' in oldObject.metadata.labels && oldObject.metadata.labels['${INJECTION_NAMESPACE_LABEL}'] == '${INJECTION_NAMESPACE_VALUE}')`;

/**
 * CEL: the namespace's NEW labels opt it in (this installation's scope labels included). The opt-in
 * webhook says so here rather than in its namespaceSelector: for namespaces/status and
 * namespaces/finalize the apiserver matches the namespaceSelector against the STORED namespace,
 * whose labels do not opt in yet (its matcher reads the request's object for the namespace itself
 * only), so a selector on the label would never send the very writes that turn it on.
 */
function optsInNow(o: ConfigurationOptions): string {
  return Object.entries({ [INJECTION_NAMESPACE_LABEL]: INJECTION_NAMESPACE_VALUE, ...o.scopeLabels })
    .map(([key, value]) => `'${key}' in object.metadata.labels && object.metadata.labels['${key}'] == '${value}'`)
    .reduce((all, one) => `${all} && ${one}`, 'has(object.metadata.labels)');
}

/** A map field of the object, or an empty map when it is absent (CEL's has() on objects without labels or annotations). */
const mapOf = (object: string, field: string): string => `(has(${object}.metadata.${field}) ? ${object}.metadata.${field} : {})`;

/**
 * CEL: a pods/status write that changes labels or annotations (the status strategy keeps the
 * request's metadata). The kubelet's and the scheduler's status writes change neither, so they
 * never call the webhook and never wait on it.
 */
const METADATA_CHANGED = ['labels', 'annotations'].map((f) => `${mapOf('object', f)} != ${mapOf('oldObject', f)}`).join(' || ');

/**
 * CEL: a Binding carrying a guarita.io/ annotation (the apiserver merges a Binding's annotations
 * into the pod), or any label but the topology labels the apiserver itself adds (from 1.35 it
 * writes a Binding's labels over the pod's). One expression: matchConditions are AND-ed.
 */
const BINDING_WRITES_METADATA = `(has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('${GROUP}/'))) || (has(object.metadata.labels) && object.metadata.labels.exists(k, !(k in [${BINDING_TOPOLOGY_LABELS.map((l) => `'${l}'`).join(', ')}])))`;

const common = { admissionReviewVersions: ['v1'], sideEffects: 'None', matchPolicy: 'Equivalent', failurePolicy: 'Fail' } as const;

const podRule = (operations: string[], resources: string[]): Rule => ({ apiGroups: [''], apiVersions: ['v1'], operations, resources, scope: 'Namespaced' });
const guaritaRule = (resource: string, operations: string[]): Rule => ({ apiGroups: [GROUP], apiVersions: [VERSION], operations, resources: [resource], scope: 'Namespaced' });

export function mutatingWebhookConfiguration(o: ConfigurationOptions): Record<string, unknown> {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: metadata(o),
    webhooks: [
      {
        name: WEBHOOK_NAMES.injectPods,
        clientConfig: clientConfig(o, PATHS.mutatePods),
        rules: [podRule(['CREATE'], ['pods'])],
        namespaceSelector: namespaceSelector(o),
        objectSelector: { matchExpressions: [{ key: INJECT_ANNOTATION, operator: 'NotIn', values: ['false'] }] },
        reinvocationPolicy: 'IfNeeded',
        timeoutSeconds: 5,
        ...common,
      },
      {
        // CREATE: stamps the creator (userInfo, the per-pod cap's line); UPDATE: stamps reviews.
        name: WEBHOOK_NAMES.stampReviews,
        clientConfig: clientConfig(o, PATHS.mutateApprovalRequests),
        rules: [guaritaRule('approvalrequests', ['CREATE', 'UPDATE'])],
        ...scope(o),
        reinvocationPolicy: 'Never',
        timeoutSeconds: 5,
        ...common,
      },
    ],
  };
}

export function validatingWebhookConfiguration(o: ConfigurationOptions): Record<string, unknown> {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: metadata(o),
    webhooks: [
      {
        name: WEBHOOK_NAMES.validatePods,
        clientConfig: clientConfig(o, PATHS.validatePods),
        // UPDATE of pods: the injected proxy may not change (kubectl set image); of pods/resize:
        // nor its resources (in-place resize, on by default since 1.33, goes through that
        // subresource only, which a rule for pods does not match); of pods/ephemeralcontainers:
        // kubectl debug adds containers through that subresource only.
        rules: [
          podRule(['CREATE', 'UPDATE'], ['pods']), podRule(['UPDATE'], ['pods/ephemeralcontainers']), podRule(['UPDATE'], ['pods/resize']),
          podRule(['CONNECT'], ['pods/exec', 'pods/attach']),
        ],
        namespaceSelector: namespaceSelector(o),
        timeoutSeconds: 5,
        ...common,
      },
      {
        // pods/status writes keep the request's labels and annotations: judged with the label
        // rules of a pod update, only when they change them (matchConditions; apiservers before
        // 1.28 ignore them and send every status write).
        name: WEBHOOK_NAMES.validatePodStatus,
        clientConfig: clientConfig(o, PATHS.validatePodStatus),
        rules: [podRule(['UPDATE'], ['pods/status'])],
        namespaceSelector: namespaceSelector(o),
        matchConditions: [{ name: 'metadata-changed', expression: METADATA_CHANGED }],
        timeoutSeconds: 5,
        ...common,
      },
      {
        // A Binding's annotations are merged into the pod (pods/binding, and the legacy bindings
        // resource), and from 1.35 its labels are written over the pod's: a guarita.io/ annotation
        // or any label would change the pod past the pod rules. The scheduler sets neither (the
        // apiserver adds the node's topology labels); only such Bindings call the webhook, and
        // they are refused.
        name: WEBHOOK_NAMES.validateBindings,
        clientConfig: clientConfig(o, PATHS.validateBindings),
        rules: [podRule(['CREATE'], ['pods/binding', 'bindings'])],
        namespaceSelector: namespaceSelector(o),
        matchConditions: [{ name: 'pod-metadata', expression: BINDING_WRITES_METADATA }],
        timeoutSeconds: 5,
        ...common,
      },
      {
        name: WEBHOOK_NAMES.validateApprovalRequests,
        clientConfig: clientConfig(o, PATHS.validateApprovalRequests),
        rules: [guaritaRule('approvalrequests', ['CREATE', 'UPDATE'])],
        ...scope(o),
        timeoutSeconds: 5,
        ...common,
      },
      {
        // The status carries the decision the sidecar acts on: only the operator decides phases,
        // a sidecar only consumes (src/approval-status.ts).
        name: WEBHOOK_NAMES.validateApprovalStatus,
        clientConfig: clientConfig(o, PATHS.validateApprovalStatus),
        rules: [guaritaRule('approvalrequests/status', ['UPDATE'])],
        ...scope(o),
        timeoutSeconds: 5,
        ...common,
      },
      {
        // A namespace that gains guarita.io/injection=enabled: its pods were created without the
        // pod guard (or while the label was briefly removed), so they are judged now, once, on the
        // transition only (matchConditions), so an outage blocks no other namespace update.
        // namespaces/status and namespaces/finalize keep the request's labels (their strategies
        // reset only status or spec), so they turn the label on too; the label is matched on the
        // new object by CEL (optsInNow), the namespaceSelector only excludes by name.
        name: WEBHOOK_NAMES.validateNamespaceOptIn,
        clientConfig: clientConfig(o, PATHS.validateNamespaceOptIn),
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['namespaces', 'namespaces/status', 'namespaces/finalize'], scope: 'Cluster' }],
        namespaceSelector: excludedNamespaces(o),
        matchConditions: [{ name: 'newly-opted-in', expression: NEWLY_OPTED_IN }, { name: 'opts-in', expression: optsInNow(o) }],
        timeoutSeconds: 10,
        ...common,
      },
      {
        name: WEBHOOK_NAMES.validateAccessPolicies,
        clientConfig: clientConfig(o, PATHS.validateAccessPolicies),
        rules: [guaritaRule('accesspolicies', ['CREATE', 'UPDATE'])],
        ...scope(o),
        timeoutSeconds: 10,
        ...common,
      },
    ],
  };
}

export function webhookConfigurations(o: ConfigurationOptions): [Record<string, unknown>, Record<string, unknown>] {
  return [mutatingWebhookConfiguration(o), validatingWebhookConfiguration(o)];
}
