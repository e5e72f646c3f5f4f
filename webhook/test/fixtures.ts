// Shared test data: the example LGPD policies (validated, so defaults are filled in), an agent pod,
// and an injector configuration. Used by unit tests, integration tests and the benchmark.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { AccessPolicy, ApprovalRequest } from '../../crds/types.ts';
import { parseAccessPolicy } from '../../crds/validators.ts';
import { decideInjection, type InjectorConfig } from '../src/inject.ts';
import type { AdmissionRequest, AdmissionReview, Container, Pod } from '../src/kube-types.ts';
import type { SidecarConfig } from '../src/sidecar.ts';

const EXAMPLES = new URL('../../examples/lgpd-orders/', import.meta.url);

export function exampleYaml(file: string): unknown {
  return parse(readFileSync(new URL(file, EXAMPLES), 'utf8'));
}

/** An example AccessPolicy, optionally moved to another namespace. */
export function examplePolicy(file: 'accesspolicy.yaml' | 'accesspolicy-http.yaml' | 'accesspolicy-kubernetes.yaml' | 'accesspolicy-ssh.yaml', namespace = 'lgpd-orders'): AccessPolicy {
  const policy = parseAccessPolicy(exampleYaml(file), file);
  policy.metadata.namespace = namespace;
  return policy;
}

export function examplePod(namespace = 'lgpd-orders', name = 'support-agent'): Pod {
  const pod = exampleYaml('agent-pod.yaml') as Pod;
  pod.metadata.namespace = namespace;
  pod.metadata.name = name;
  return pod;
}

export const TEST_SIDECAR: SidecarConfig = {
  image: 'ghcr.io/guarita/guarita:test',
  imagePullPolicy: 'IfNotPresent',
  resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
  mode: 'native',
  adminPort: 15090,
  operatorUrl: 'https://guarita-operator.guarita-system.svc:8443',
  operatorAudience: 'guarita-operator',
  uid: 65532,
  startupTimeoutSeconds: 60,
};

export const TEST_INJECTOR: InjectorConfig = {
  sidecar: TEST_SIDECAR,
  excludedNamespaces: ['kube-system', 'kube-public', 'kube-node-lease', 'guarita-system'],
};

export const OPTED_IN = { 'guarita.io/injection': 'enabled' };

/** The example agent pod as the injector writes it for these policies, in the opted-in example namespace. */
export function injectedExamplePod(policies: readonly AccessPolicy[]): Pod {
  const d = decideInjection({ pod: examplePod(), namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies: [...policies], config: TEST_INJECTOR });
  if (d.action !== 'inject') throw new Error(d.action);
  return d.pod;
}

/** The injected proxy (a native sidecar: an init container). */
export function proxyContainer(pod: Pod): Container {
  const c = pod.spec.initContainers?.find((x) => x.name === 'guarita-proxy');
  if (c === undefined) throw new Error('no proxy');
  return c;
}

/** A pod shaped like the one the Job controller creates for Job `name`. */
export function jobPod(namespace: string, name: string): Pod {
  const pod = examplePod(namespace, `${name}-x7k2p`);
  pod.metadata.labels = { app: 'support-agent', 'batch.kubernetes.io/job-name': name, 'job-name': name };
  pod.metadata.ownerReferences = [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: '5d1c7f0e-0000-4000-8000-000000000001', controller: true }];
  pod.spec.restartPolicy = 'Never';
  return pod;
}

/** The OIDC issuer of the fixture's requesters; tests map it as the apiserver would (GUARITA_OIDC_USERNAME_MAPPINGS). */
export const FIXTURE_ISSUER = 'https://idp.guarita.test';

/** An ApprovalRequest as the sidecar creates it: alice's export, held for the DPO (rule exports-need-dpo). */
export function approvalRequest(namespace: string, name: string, opts: { requester?: string; expiresAt?: Date } = {}): ApprovalRequest {
  const text = 'COPY (SELECT * FROM customers) TO STDOUT';
  return {
    apiVersion: 'guarita.io/v1alpha1',
    kind: 'ApprovalRequest',
    metadata: { name, namespace },
    spec: {
      policyRef: { name: 'orders-db' },
      rule: 'exports-need-dpo',
      requester: { username: opts.requester ?? 'alice', groups: ['support'], kind: 'User', issuer: FIXTURE_ISSUER, claims: { sub: opts.requester ?? 'alice' } },
      purpose: 'customer-support',
      target: { name: 'orders-db', protocol: 'postgres' },
      command: { text, preview: text.slice(0, 80), sha256: createHash('sha256').update(text).digest('hex') },
      podRef: { name: 'support-agent' },
      sessionId: 'session-1',
      expiresAt: (opts.expiresAt ?? new Date(Date.now() + 15 * 60_000)).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      reviews: [],
    },
  };
}

let uidCounter = 0;

/** An AdmissionReview as the apiserver sends it. */
export function admissionReview(request: Partial<AdmissionRequest> & Pick<AdmissionRequest, 'operation'>): AdmissionReview {
  const gvr = request.resource ?? { group: '', version: 'v1', resource: 'pods' };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `00000000-0000-4000-8000-${String(++uidCounter).padStart(12, '0')}`,
      kind: { group: gvr.group, version: gvr.version, kind: gvr.resource === 'pods' ? 'Pod' : gvr.resource === 'approvalrequests' ? 'ApprovalRequest' : 'AccessPolicy' },
      resource: gvr,
      userInfo: { username: 'system:serviceaccount:kube-system:job-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
      ...request,
    },
  };
}

export const APPROVALS_GVR = { group: 'guarita.io', version: 'v1alpha1', resource: 'approvalrequests' };
export const POLICIES_GVR = { group: 'guarita.io', version: 'v1alpha1', resource: 'accesspolicies' };
