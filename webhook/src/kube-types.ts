// The slice of the Kubernetes Pod and admission APIs the webhook reads and writes, as the JSON the
// apiserver sends (not @kubernetes/client-node's classes, whose field names and Date fields differ
// from the wire format). Unknown fields are kept: the injector must round-trip what it does not touch.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface OwnerReference { apiVersion: string; kind: string; name: string; uid?: string; controller?: boolean }

export interface ObjectMetaJson {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string; apiVersion?: string };
    secretKeyRef?: { name?: string; key: string; optional?: boolean };
    configMapKeyRef?: { name?: string; key: string; optional?: boolean };
    [key: string]: unknown;
  };
}

export interface EnvFromSource {
  prefix?: string;
  secretRef?: { name?: string; optional?: boolean };
  configMapRef?: { name?: string; optional?: boolean };
}

export interface VolumeMount { name: string; mountPath: string; readOnly?: boolean; subPath?: string; [key: string]: unknown }

export interface ContainerPort { containerPort: number; name?: string; protocol?: string; hostPort?: number }

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  volumeMounts?: VolumeMount[];
  ports?: ContainerPort[];
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface ProjectedSource {
  serviceAccountToken?: { path: string; audience?: string; expirationSeconds?: number };
  secret?: { name?: string; items?: { key: string; path: string }[]; optional?: boolean };
  configMap?: { name?: string; items?: { key: string; path: string }[]; optional?: boolean };
  [key: string]: unknown;
}

export interface Volume {
  name: string;
  secret?: { secretName?: string; defaultMode?: number; optional?: boolean; items?: { key: string; path: string }[] };
  projected?: { sources?: ProjectedSource[]; defaultMode?: number };
  emptyDir?: { medium?: string; sizeLimit?: string };
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  volumes?: Volume[];
  restartPolicy?: string;
  hostNetwork?: boolean;
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMetaJson;
  spec: PodSpec;
  [key: string]: unknown;
}

export interface UserInfo { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }

export interface GroupVersionResource { group: string; version: string; resource: string }

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: GroupVersionResource;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  userInfo: UserInfo;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  options?: unknown;
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code?: number; message?: string; reason?: string };
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface LabelSelectorRequirement { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }
export interface LabelSelector { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] }
