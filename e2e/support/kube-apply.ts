// Kubernetes objects the integration tests create and read against the harness apiserver:
// server-side apply, namespaces, service accounts and their tokens, the session-reader Role,
// objects and their Events.
import { stringify } from 'yaml';
import { kubeConfigFor, requireKube, type TestUser } from '../harness/state.ts';
import { KubeClient } from '../../operator/src/kube/client.ts';
import { k } from './kubectl.ts';

export function adminApi(): KubeClient {
  return new KubeClient(kubeConfigFor('admin'));
}

export async function apply(docs: unknown[], user: TestUser = 'admin'): Promise<void> {
  await k(['apply', '--server-side', '--force-conflicts', '-f', '-'], user, docs.map((d) => stringify(d)).join('---\n'));
}

export async function createNamespaces(...names: string[]): Promise<void> {
  await apply(names.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })));
}

export async function createServiceAccount(namespace: string, name: string): Promise<void> {
  await apply([{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } }]);
}

export async function serviceAccountToken(namespace: string, sa: string, audience?: string, seconds = 3600): Promise<string> {
  const res = await adminApi().create<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: seconds, ...(audience === undefined ? {} : { audiences: [audience] }) },
  });
  return res.status.token;
}

/** The harness's static token for a test user (the apiserver's token file). */
export function userToken(user: TestUser): string {
  return requireKube().tokens[user];
}

/** Lets `group` (or a user) read recordings in `namespace`: the Role the docs recommend for auditors. */
export async function grantSessionReaders(namespace: string, subject: { kind: 'Group' | 'User'; name: string }): Promise<void> {
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'guarita-session-reader', namespace }, rules: [{ apiGroups: ['guarita.io'], resources: ['sessions'], verbs: ['get', 'list'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `guarita-session-reader-${subject.name}`, namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'guarita-session-reader' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', ...subject }] },
  ]);
}

export async function getObject<T = Record<string, unknown>>(kind: string, namespace: string, name: string): Promise<T> {
  return JSON.parse(await k(['get', kind, name, '-n', namespace, '-o', 'json'])) as T;
}

export async function eventsFor(namespace: string, name: string): Promise<{ reason: string; message: string; type: string }[]> {
  const out = JSON.parse(await k(['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${name}`, '-o', 'json'])) as { items: { reason: string; message: string; type: string }[] };
  return out.items;
}
