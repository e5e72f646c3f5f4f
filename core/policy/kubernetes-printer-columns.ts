// The fields behind the apiserver's built-in Table columns (kubectl get's default output and -o wide), per
// group/resource: the JSON keys whose values a column's cells show. Built-in columns are named for display
// (`Requestor`, `Holder`, `IP`, `Users`, `Message`) and described by the field's documentation, not by a JSONPath,
// so a field rule written for the object's key (`username`, `holderIdentity`) would never reach the cell by the
// column's name alone (round 11b review, finding 2). kubernetes-table.ts names each cell by these keys too, as it
// does by a CRD column's JSONPath leaf.
//
// Read from kubernetes/kubernetes pkg/printers/internalversion/printers.go (AddHandlers and the print* functions)
// as of Kubernetes 1.33–1.34 (the tree with coordination/v1alpha2 LeaseCandidate, MutatingAdmissionPolicy and
// resource.k8s.io printers), and kube-aggregator's APIService table (Name, Service, Available, Age). Each entry
// lists every column of its printer; a column a newer release adds is not here, and kubernetes-table.ts redacts
// its cells when the policy has field rules (fail closed) unless it is one of SAFE_COLUMNS. Pure data.

type Columns = Readonly<Record<string, readonly string[]>>;

const NAME = { Name: ['name'] } as const;
const AGE = { Age: ['creationTimestamp'] } as const;
/** A pod template's containers, printed by layoutContainerCells: names, then images. */
const TEMPLATE = { Containers: ['containers', 'name'], Images: ['image'], Selector: ['selector', 'matchLabels', 'matchExpressions'] } as const;
/** rbac.SubjectsStrings: subjects[].name (kind User / Group), namespace/name (ServiceAccount). */
const BINDING = { ...NAME, Role: ['roleRef', 'kind', 'name'], ...AGE, Users: ['subjects', 'name'], Groups: ['subjects', 'name'], ServiceAccounts: ['subjects', 'namespace', 'name'] } as const;
const WEBHOOKS = { ...NAME, Webhooks: ['webhooks'], ...AGE } as const;
const PARAM_KIND = { ParamKind: ['paramKind', 'apiVersion', 'kind'] } as const;
const POLICY_BINDING = { ...NAME, PolicyName: ['policyName'], ParamRef: ['paramRef', 'namespace', 'name', 'selector'], ...AGE } as const;
/**
 * printEvent, for core/v1 Events and events.k8s.io/v1 Events alike (one storage, converted): events.k8s.io names
 * the message `note`, the object `regarding`, the source `reportingController`/`deprecatedSource`.
 */
const EVENT = {
  'Last Seen': ['lastTimestamp', 'deprecatedLastTimestamp', 'eventTime', 'lastObservedTime'], Type: ['type'], Reason: ['reason'],
  Object: ['involvedObject', 'regarding', 'kind', 'name'], Subobject: ['fieldPath'],
  Source: ['source', 'deprecatedSource', 'component', 'host', 'reportingComponent', 'reportingController', 'reportingInstance'],
  Message: ['message', 'note'], 'First Seen': ['firstTimestamp', 'deprecatedFirstTimestamp', 'eventTime'],
  Count: ['count', 'deprecatedCount'], ...NAME,
} as const;

/** Keyed by group/resource as Kubernetes writes it: `pods` (core), `leases.coordination.k8s.io`. */
export const PRINTER_COLUMNS: Readonly<Record<string, Columns>> = {
  pods: {
    ...NAME, Ready: [], Status: ['phase', 'reason'], Restarts: ['restartCount'], ...AGE, IP: ['podIP', 'podIPs', 'ip'],
    Node: ['nodeName'], 'Nominated Node': ['nominatedNodeName'], 'Readiness Gates': ['readinessGates', 'conditionType'],
  },
  podtemplates: { ...NAME, Containers: TEMPLATE.Containers, Images: TEMPLATE.Images, 'Pod Labels': ['labels'] },
  'poddisruptionbudgets.policy': { ...NAME, 'Min Available': ['minAvailable'], 'Max Unavailable': ['maxUnavailable'], 'Allowed Disruptions': ['disruptionsAllowed'], ...AGE },
  replicationcontrollers: { ...NAME, Desired: ['replicas'], Current: ['replicas'], Ready: ['readyReplicas'], ...AGE, ...TEMPLATE },
  'replicasets.apps': { ...NAME, Desired: ['replicas'], Current: ['replicas'], Ready: ['readyReplicas'], ...AGE, ...TEMPLATE },
  'daemonsets.apps': {
    ...NAME, Desired: ['desiredNumberScheduled'], Current: ['currentNumberScheduled'], Ready: ['numberReady'], 'Up-to-date': ['updatedNumberScheduled'],
    Available: ['numberAvailable'], 'Node Selector': ['nodeSelector'], ...AGE, ...TEMPLATE,
  },
  'jobs.batch': { ...NAME, Status: ['conditions'], Completions: ['succeeded', 'completions', 'parallelism'], Duration: ['startTime', 'completionTime'], ...AGE, ...TEMPLATE },
  'cronjobs.batch': {
    ...NAME, Schedule: ['schedule'], Timezone: ['timeZone'], Suspend: ['suspend'], Active: ['active'], 'Last Schedule': ['lastScheduleTime'], ...AGE, ...TEMPLATE,
  },
  services: {
    ...NAME, Type: ['type'], 'Cluster-IP': ['clusterIP', 'clusterIPs'], 'External-IP': ['externalIPs', 'externalName', 'ip', 'hostname'],
    'Port(s)': ['ports', 'port', 'nodePort', 'protocol'], ...AGE, Selector: ['selector'],
  },
  'ingresses.networking.k8s.io': { ...NAME, Class: ['ingressClassName'], Hosts: ['rules', 'host'], Address: ['loadBalancer', 'ip', 'hostname'], Ports: ['tls'], ...AGE },
  'ingressclasses.networking.k8s.io': { ...NAME, Controller: ['controller'], Parameters: ['parameters', 'kind', 'apiGroup', 'name'], ...AGE },
  'statefulsets.apps': { ...NAME, Ready: ['readyReplicas', 'replicas'], ...AGE, Containers: TEMPLATE.Containers, Images: TEMPLATE.Images },
  endpoints: { ...NAME, Endpoints: ['subsets', 'addresses', 'ip', 'ports', 'port'], ...AGE },
  nodes: {
    ...NAME, Status: ['conditions', 'unschedulable'], Roles: ['labels'], ...AGE, Version: ['kubeletVersion'], 'Internal-IP': ['addresses', 'address'],
    'External-IP': ['addresses', 'address'], 'OS-Image': ['osImage'], 'Kernel-Version': ['kernelVersion'], 'Container-Runtime': ['containerRuntimeVersion'],
  },
  events: EVENT,
  'events.events.k8s.io': EVENT,
  namespaces: { ...NAME, Status: ['phase'], ...AGE },
  secrets: { ...NAME, Type: ['type'], Data: ['data'], ...AGE },
  serviceaccounts: { ...NAME, Secrets: ['secrets'], ...AGE },
  persistentvolumes: {
    ...NAME, Capacity: ['capacity', 'storage'], 'Access Modes': ['accessModes'], 'Reclaim Policy': ['persistentVolumeReclaimPolicy'], Status: ['phase'],
    Claim: ['claimRef', 'namespace', 'name'], StorageClass: ['storageClassName'], VolumeAttributesClass: ['volumeAttributesClassName'], Reason: ['reason'], ...AGE,
    VolumeMode: ['volumeMode'],
  },
  persistentvolumeclaims: {
    ...NAME, Status: ['phase'], Volume: ['volumeName'], Capacity: ['capacity', 'storage'], 'Access Modes': ['accessModes'], StorageClass: ['storageClassName'],
    VolumeAttributesClass: ['volumeAttributesClassName'], ...AGE, VolumeMode: ['volumeMode'],
  },
  componentstatuses: { ...NAME, Status: ['conditions', 'status'], Message: ['message'], Error: ['error'] },
  'deployments.apps': { ...NAME, Ready: ['readyReplicas', 'replicas'], 'Up-to-date': ['updatedReplicas'], Available: ['availableReplicas'], ...AGE, ...TEMPLATE },
  'horizontalpodautoscalers.autoscaling': {
    ...NAME, Reference: ['scaleTargetRef', 'kind', 'name'], Targets: ['metrics', 'currentMetrics'], MinPods: ['minReplicas'], MaxPods: ['maxReplicas'],
    Replicas: ['currentReplicas'], ...AGE,
  },
  configmaps: { ...NAME, Data: ['data', 'binaryData'], ...AGE },
  'networkpolicies.networking.k8s.io': { ...NAME, 'Pod-Selector': ['podSelector', 'matchLabels', 'matchExpressions'], ...AGE },
  'rolebindings.rbac.authorization.k8s.io': BINDING,
  'clusterrolebindings.rbac.authorization.k8s.io': BINDING,
  'certificatesigningrequests.certificates.k8s.io': {
    ...NAME, ...AGE, SignerName: ['signerName'], Requestor: ['username'], RequestedDuration: ['expirationSeconds'], Condition: ['conditions', 'certificate'],
  },
  'clustertrustbundles.certificates.k8s.io': { ...NAME, SignerName: ['signerName'] },
  'leases.coordination.k8s.io': { ...NAME, Holder: ['holderIdentity'], ...AGE },
  'leasecandidates.coordination.k8s.io': { ...NAME, LeaseName: ['leaseName'], BinaryVersion: ['binaryVersion'], EmulationVersion: ['emulationVersion'], ...AGE },
  'storageclasses.storage.k8s.io': {
    ...NAME, Provisioner: ['provisioner'], ReclaimPolicy: ['reclaimPolicy'], VolumeBindingMode: ['volumeBindingMode'], AllowVolumeExpansion: ['allowVolumeExpansion'], ...AGE,
  },
  'volumeattributesclasses.storage.k8s.io': { ...NAME, DriverName: ['driverName'], ...AGE },
  'controllerrevisions.apps': { ...NAME, Controller: ['ownerReferences', 'kind', 'name'], Revision: ['revision'], ...AGE },
  resourcequotas: { ...NAME, Request: ['hard', 'used'], Limit: ['hard', 'used'], ...AGE },
  'priorityclasses.scheduling.k8s.io': { ...NAME, Value: ['value'], 'Global-Default': ['globalDefault'], ...AGE, PreemptionPolicy: ['preemptionPolicy'] },
  'runtimeclasses.node.k8s.io': { ...NAME, Handler: ['handler'], ...AGE },
  'volumeattachments.storage.k8s.io': { ...NAME, Attacher: ['attacher'], PV: ['persistentVolumeName'], Node: ['nodeName'], Attached: ['attached'], ...AGE },
  'endpointslices.discovery.k8s.io': { ...NAME, AddressType: ['addressType'], Ports: ['ports', 'port', 'name'], Endpoints: ['endpoints', 'addresses'], ...AGE },
  'csinodes.storage.k8s.io': { ...NAME, Drivers: ['drivers'], ...AGE },
  'csidrivers.storage.k8s.io': {
    ...NAME, AttachRequired: ['attachRequired'], PodInfoOnMount: ['podInfoOnMount'], StorageCapacity: ['storageCapacity'], TokenRequests: ['tokenRequests', 'audience'],
    RequiresRepublish: ['requiresRepublish'], Modes: ['volumeLifecycleModes'], ...AGE,
  },
  'csistoragecapacities.storage.k8s.io': { ...NAME, StorageClassName: ['storageClassName'], Capacity: ['capacity'] },
  'mutatingwebhookconfigurations.admissionregistration.k8s.io': WEBHOOKS,
  'validatingwebhookconfigurations.admissionregistration.k8s.io': WEBHOOKS,
  'validatingadmissionpolicies.admissionregistration.k8s.io': { ...NAME, Validations: ['validations'], ...PARAM_KIND, ...AGE },
  'validatingadmissionpolicybindings.admissionregistration.k8s.io': POLICY_BINDING,
  'mutatingadmissionpolicies.admissionregistration.k8s.io': { ...NAME, Mutations: ['mutations'], ...PARAM_KIND, ...AGE },
  'mutatingadmissionpolicybindings.admissionregistration.k8s.io': POLICY_BINDING,
  'flowschemas.flowcontrol.apiserver.k8s.io': {
    ...NAME, PriorityLevel: ['priorityLevelConfiguration', 'name'], MatchingPrecedence: ['matchingPrecedence'], DistinguisherMethod: ['distinguisherMethod', 'type'], ...AGE,
    MissingPL: ['conditions', 'status'],
  },
  'prioritylevelconfigurations.flowcontrol.apiserver.k8s.io': {
    ...NAME, Type: ['type'], NominalConcurrencyShares: ['nominalConcurrencyShares'], Queues: ['queues'], HandSize: ['handSize'], QueueLengthLimit: ['queueLengthLimit'], ...AGE,
  },
  'storageversions.internal.apiserver.k8s.io': { ...NAME, CommonEncodingVersion: ['commonEncodingVersion'], StorageVersions: ['storageVersions', 'apiServerID', 'encodingVersion'], ...AGE },
  'deviceclasses.resource.k8s.io': { ...NAME, ...AGE },
  'resourceclaims.resource.k8s.io': { ...NAME, State: ['allocation', 'reservedFor'], ...AGE },
  'resourceclaimtemplates.resource.k8s.io': { ...NAME, ...AGE },
  'resourceslices.resource.k8s.io': { ...NAME, Node: ['nodeName'], Driver: ['driver'], Pool: ['pool', 'name'], ...AGE },
  'servicecidrs.networking.k8s.io': { ...NAME, CIDRs: ['cidrs'], ...AGE },
  'ipaddresses.networking.k8s.io': { ...NAME, ParentRef: ['parentRef', 'group', 'resource', 'namespace', 'name'] },
  'storageversionmigrations.storagemigration.k8s.io': { ...NAME, Resource: ['resource', 'group', 'version'] },
  'apiservices.apiregistration.k8s.io': { ...NAME, Service: ['service', 'namespace', 'name'], Available: ['conditions', 'status', 'reason'], ...AGE },
};

/** The scale subresource's Table (printScale), whatever resource it scales. */
const SCALE: Columns = { ...NAME, Desired: ['replicas'], Available: ['replicas'], ...AGE };

/**
 * Columns whose cells the printers compute from counts, times and states, not from a field's free text: safe
 * to show when a built-in resource's printer is not in PRINTER_COLUMNS (a newer release's resource). `Name` is
 * the object's name (masked like metadata.name, by its column's name); `Created At` is the apiserver's default
 * TableConvertor's (resources without a printer: roles, clusterroles, limitranges, customresourcedefinitions).
 */
export const SAFE_COLUMNS: ReadonlySet<string> = new Set(['Name', 'Age', 'Created At', 'Ready', 'Status', 'Restarts', 'Desired', 'Current', 'Up-to-date', 'Available']);

/**
 * The API groups the apiserver (and kube-aggregator) serve themselves: their Tables come from printers.go or
 * the default TableConvertor, never from a CRD's printer columns (which state their JSONPath).
 */
const BUILTIN_GROUPS: ReadonlySet<string> = new Set([
  '', 'apps', 'batch', 'autoscaling', 'policy', 'extensions', 'rbac.authorization.k8s.io', 'certificates.k8s.io', 'coordination.k8s.io',
  'networking.k8s.io', 'discovery.k8s.io', 'storage.k8s.io', 'scheduling.k8s.io', 'node.k8s.io', 'admissionregistration.k8s.io',
  'flowcontrol.apiserver.k8s.io', 'internal.apiserver.k8s.io', 'resource.k8s.io', 'events.k8s.io', 'storagemigration.k8s.io',
  'apiregistration.k8s.io', 'apiextensions.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io',
]);

export function isBuiltinGroup(group: string): boolean {
  return BUILTIN_GROUPS.has(group);
}

/** A group/resource as Kubernetes writes it (`pods`, `leases.coordination.k8s.io`). */
export function groupResource(group: string, resource: string): string {
  return group === '' ? resource : `${resource}.${group}`;
}

/**
 * The printer's columns for a request's resource: its own printer's (status shares it), the scale printer's, or
 * undefined (another subresource, or a resource printers.go does not know).
 */
export function printerColumns(group: string, resource: string, subresource = ''): Columns | undefined {
  if (subresource === 'scale') return SCALE;
  if (subresource !== '' && subresource !== 'status') return undefined;
  return Object.hasOwn(PRINTER_COLUMNS, groupResource(group, resource)) ? PRINTER_COLUMNS[groupResource(group, resource)] : undefined;
}

/** Every key any built-in printer shows under a column name: for a Table whose resource is not known. */
const BY_COLUMN: ReadonlyMap<string, readonly string[]> = (() => {
  const out = new Map<string, Set<string>>();
  for (const columns of [...Object.values(PRINTER_COLUMNS), SCALE]) {
    for (const [column, keys] of Object.entries(columns)) {
      const set = out.get(column) ?? new Set<string>();
      for (const k of keys) set.add(k);
      out.set(column, set);
    }
  }
  return new Map([...out].map(([column, keys]) => [column, [...keys]]));
})();

/** The keys any built-in printer shows under `column` (empty when none does). */
export function anyPrinterFields(column: string): readonly string[] {
  return BY_COLUMN.get(column) ?? [];
}
