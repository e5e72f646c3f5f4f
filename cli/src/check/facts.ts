// What `guarita check` read from the cluster, as plain data: gather.ts fills it (the only module
// that talks to the apiserver), evaluate.ts judges it. Undefined means "not found"; a string
// `error` means "could not be read" (forbidden, unreachable), which is a failure of its own.
import type { PolicyMasking, PolicyTarget } from '../../../crds/types.ts';

export interface Readable<T> { value?: T; error?: string }

export interface CrdFact {
  name: string;
  /** Versions the CRD serves, and the one it stores. */
  served: string[];
  storage?: string;
  /** status.storedVersions: versions objects may still be stored in etcd. */
  storedVersions: string[];
  established: boolean;
}

export interface DeploymentFact {
  namespace: string;
  name: string;
  component: 'operator' | 'webhook';
  /** app.kubernetes.io/instance: the Helm release. */
  release?: string;
  /** app.kubernetes.io/version (the chart's appVersion) and the image. */
  version?: string;
  image?: string;
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  /** The Available/Progressing condition's message when not ready. */
  message?: string;
  /** Container environment with literal values (GUARITA_LEASE_NAME, ...). */
  env: Record<string, string>;
}

export interface CertificateFact {
  /** Where it came from: Secret namespace/name and key. */
  source: string;
  component: 'operator' | 'webhook';
  notBefore?: Date;
  notAfter?: Date;
  subject?: string;
  /** The Secret is missing, has no tls.crt, or the PEM does not parse. */
  error?: string;
}

export interface WebhookProbe {
  /** The dry-run pod was admitted (mutated) or refused by the webhook itself: the apiserver reached it. */
  reached: boolean;
  /** The webhook answered and injected the proxy into the dry-run pod. */
  injected: boolean;
  /** The apiserver's answer when it was not admitted. */
  message?: string;
}

export interface NamespaceFact {
  name: string;
  exists: boolean;
  labels: Record<string, string>;
  /** RoleBindings in the namespace bound to a Role or ClusterRole named *-sidecar of a Guarita release. */
  sidecarBindings: string[];
  /** ConfigMaps in the namespace holding the operator's CA (key ca.crt) of a Guarita release. */
  operatorCaConfigMaps: string[];
}

export interface PolicyFact {
  name: string;
  generation?: number;
  ready?: { status: string; reason?: string; message?: string; observedGeneration?: number };
  target?: PolicyTarget;
  masking?: PolicyMasking;
}

export interface SecretKeysFact {
  name: string;
  /** Keys of data and stringData; undefined when the Secret does not exist. */
  keys?: string[];
  error?: string;
}

export interface LeaseFact {
  namespace: string;
  name: string;
  holder?: string;
  renewTime?: Date;
  leaseDurationSeconds?: number;
}

export interface ClusterFacts {
  now: Date;
  /** How close to expiry a certificate may get before check fails. */
  certMinRemainingMs: number;
  crds: Readable<CrdFact[]>;
  expectedVersion: string;
  deployments: Readable<DeploymentFact[]>;
  certificates: CertificateFact[];
  webhook?: Readable<WebhookProbe>;
  namespace: Readable<NamespaceFact>;
  policies: Readable<PolicyFact[]>;
  secrets: SecretKeysFact[];
  leases: Readable<LeaseFact>[];
}
