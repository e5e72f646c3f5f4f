// Names shared by the injector, the validators, the webhook configurations and the docs. The
// injection contract (docs/injection-contract.md) fixes most of them: change both sides together.

export const INJECTION_NAMESPACE_LABEL = 'guarita.io/injection';
export const INJECTION_NAMESPACE_VALUE = 'enabled';
/** Pod annotation (and, for skipping the webhook call entirely, pod label): "true" opts in, "false" opts out. */
export const INJECT_ANNOTATION = 'guarita.io/inject';
export const STATUS_ANNOTATION = 'guarita.io/status';
export const STATUS_INJECTED = 'injected';
export const POLICIES_ANNOTATION = 'guarita.io/policies';
/**
 * Audit annotation of a pod the injector let through without the proxy; the value is the skip
 * reason (inject.ts SkipReason). The apiserver records it as `inject.pods.guarita.io/injection-skipped`.
 */
export const SKIP_AUDIT_KEY = 'injection-skipped';

export const SIDECAR_NAME = 'guarita-proxy';
// The image runs the production build (tsconfig.build.json), not the .ts sources: see Dockerfile.
export const SIDECAR_COMMAND: readonly string[] = ['node', '/app/sidecar/src/main.js'];
export const SIDECAR_UID = 65532;

export const SPOOL_VOLUME = 'guarita-spool';
export const TOKENS_VOLUME = 'guarita-tokens';
export const TARGET_VOLUME_PREFIX = 'guarita-target-';
export const VOLUME_PREFIX = 'guarita-';

export const SPOOL_DIR = '/var/run/guarita/spool';
export const CREDENTIALS_DIR = '/var/run/guarita/targets';
export const TOKEN_DIR = '/var/run/guarita/tokens';
export const OPERATOR_TOKEN_FILE = 'operator';
export const KUBE_TOKEN_FILE = 'kube';
/** The cluster CA (ConfigMap kube-root-ca.crt), so the sidecar can verify the apiserver with the `kube` token. */
export const KUBE_CA_FILE = 'ca.crt';
export const OPERATOR_CA_FILE = 'operator-ca.crt';
export const TOKEN_EXPIRATION_SECONDS = 3600;

// kubernetes targets (docs/kubernetes.md): what agent containers get so kubectl goes through the
// proxy. Volumes named guarita-agent-* are the only guarita volumes agents mount, read-only; they
// hold no credential of a target: the proxy's serving CA, and a KUBECONFIG with the agent's own token.
export const AGENT_VOLUME_PREFIX = 'guarita-agent-';
/** emptyDir the proxy writes its serving CA into (<dir>/<target>/ca.crt) before agents start. */
export const KUBE_CA_VOLUME = 'guarita-agent-kube-ca';
export const KUBE_CA_DIR = '/var/run/guarita/kube';
/** Projected: the KUBECONFIG (from the pod annotation below, through the downward API) and the agent's token. */
export const KUBECONFIG_VOLUME = 'guarita-agent-kubeconfig';
export const KUBECONFIG_DIR = '/var/run/guarita/kubeconfig';
export const KUBECONFIG_ANNOTATION = 'guarita.io/kubeconfig';
/**
 * ssh targets (docs/ssh.md): emptyDir the proxy writes its host key into (<dir>/<target>/known_hosts
 * and ssh_config) before agents start, so the agent's ssh checks the proxy strictly (no trust on
 * first use). The host key is generated per start inside the pod; agents mount it read-only.
 */
export const SSH_VOLUME = 'guarita-agent-ssh';
export const SSH_DIR = '/var/run/guarita/ssh';

/** Namespaces whose pods never reach the pod webhooks (plus Guarita's own namespace). */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

// The API group and version come from the CRD definitions (the one source of both).
export { GROUP, VERSION } from '../../crds/definitions.ts';

/**
 * The labels the apiserver's PodTopologyLabels admission plugin copies from the Node onto a Binding
 * (Kubernetes 1.33+, on by default from 1.35), which the Binding then writes over the pod's labels:
 * topology.kubernetes.io/ in 1.35's plugin, topology.k8s.io/ in the 1.33-1.34 alpha. Schedulers set
 * no labels of their own; a Binding carrying any other label is refused (binding.pods.guarita.io).
 */
export const BINDING_TOPOLOGY_LABELS = ['topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'topology.k8s.io/zone', 'topology.k8s.io/region'] as const;

/** HTTP paths of the admission endpoints. */
export const PATHS = {
  mutatePods: '/mutate/pods',
  validatePods: '/validate/pods',
  validatePodStatus: '/validate/pods/status',
  validateBindings: '/validate/bindings',
  mutateApprovalRequests: '/mutate/approvalrequests',
  validateApprovalRequests: '/validate/approvalrequests',
  validateApprovalStatus: '/validate/approvalrequests/status',
  validateAccessPolicies: '/validate/accesspolicies',
  validateNamespaceOptIn: '/validate/namespaces',
} as const;

/** Names of the individual webhooks inside the configurations. */
export const WEBHOOK_NAMES = {
  injectPods: 'inject.pods.guarita.io',
  validatePods: 'validate.pods.guarita.io',
  validatePodStatus: 'status.pods.guarita.io',
  validateBindings: 'binding.pods.guarita.io',
  stampReviews: 'stamp.approvalrequests.guarita.io',
  validateApprovalRequests: 'validate.approvalrequests.guarita.io',
  validateApprovalStatus: 'status.approvalrequests.guarita.io',
  validateAccessPolicies: 'validate.accesspolicies.guarita.io',
  validateNamespaceOptIn: 'optin.namespaces.guarita.io',
} as const;

export const DEFAULT_CONFIGURATION_NAME = 'guarita-webhook';
/** Name of the operator's ServiceAccount the chart creates (release "guarita"), in Guarita's namespace. */
export const DEFAULT_OPERATOR_SERVICE_ACCOUNT = 'guarita-operator';
