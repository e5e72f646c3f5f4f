// A small Kubernetes REST client: exactly the calls the operator makes, with JSON bodies sent as
// they are (merge patches on the status subresource, MicroTime fields of Leases) and typed errors,
// over the transport the webhook shares (core/kube/rest.ts, whose watches use client-node's Watch).
import { KubeConfig } from '@kubernetes/client-node';
import { KubeRest, type ListResult, type WatchEvent } from '../../../core/kube/rest.ts';
import { apiPath } from '../../../crds/definitions.ts';

// The one error type and its predicates (core/kube/errors.ts), re-exported for the operator's modules.
export { isAlreadyExists, isConflict, isNotFound, KubeError } from '../../../core/kube/errors.ts';

export type { ListResult, WatchEvent } from '../../../core/kube/rest.ts';

/**
 * The field manager the operator names on its status writes. The apiserver records it in
 * managedFields for the fields the write changed (without one it derives a name from the user
 * agent), so the anchorer can tell at a start whether status.chain was last written by the operator
 * (reconcile/anchor-drift.ts). A name any client can choose: a tripwire, not an identity.
 */
export const OPERATOR_FIELD_MANAGER = 'guarita-operator';

/** Options of a write: `fieldManager` is sent as the `fieldManager` query parameter. */
export interface WriteOptions { fieldManager?: string }

export interface KubeApi {
  get<T>(path: string): Promise<T>;
  list<T>(path: string, query?: Record<string, string>): Promise<ListResult<T>>;
  create<T>(path: string, body: unknown): Promise<T>;
  replace<T>(path: string, body: unknown): Promise<T>;
  mergePatch<T>(path: string, body: unknown, opts?: WriteOptions): Promise<T>;
  remove(path: string, body?: unknown): Promise<void>;
  watch<T>(path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<{ abort(): void }>;
}

export class KubeClient implements KubeApi {
  readonly kc: KubeConfig;
  readonly #rest: KubeRest;

  constructor(kc: KubeConfig, timeoutMs = 30_000) {
    this.kc = kc;
    this.#rest = new KubeRest(kc, timeoutMs);
  }

  /** In-cluster service account, or $KUBECONFIG / ~/.kube/config, or an explicit file. */
  static load(kubeconfig?: string): KubeClient {
    const kc = new KubeConfig();
    if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
    return new KubeClient(kc);
  }

  #call<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, contentType?: string): Promise<T> {
    return this.#rest.json<T>(method, path, { body, ...(contentType === undefined ? {} : { contentType }) });
  }

  get<T>(path: string): Promise<T> { return this.#call<T>('GET', path); }

  list<T>(path: string, query: Record<string, string> = {}): Promise<ListResult<T>> {
    return this.#rest.list<T>(path, query);
  }

  create<T>(path: string, body: unknown): Promise<T> { return this.#call<T>('POST', path, body); }
  replace<T>(path: string, body: unknown): Promise<T> { return this.#call<T>('PUT', path, body); }
  mergePatch<T>(path: string, body: unknown, opts: WriteOptions = {}): Promise<T> {
    return this.#call<T>('PATCH', withFieldManager(path, opts.fieldManager), body, 'application/merge-patch+json');
  }
  async remove(path: string, body?: unknown): Promise<void> { await this.#call('DELETE', path, body); }

  watch<T>(path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<{ abort(): void }> {
    return this.#rest.watch<T>(path, query, onEvent, onDone);
  }

  close(): Promise<void> {
    return this.#rest.close();
  }
}

/** `path` with the `fieldManager` query parameter (encoded), or as it is without one. */
export function withFieldManager(path: string, fieldManager: string | undefined): string {
  if (fieldManager === undefined) return path;
  return `${path}${path.includes('?') ? '&' : '?'}${new URLSearchParams({ fieldManager }).toString()}`;
}

// ---- paths -------------------------------------------------------------------------------------

export const paths = {
  accessPolicies: (ns?: string): string => apiPath('accesspolicies', ns),
  accessPolicy: (ns: string, name: string): string => apiPath('accesspolicies', ns, name),
  approvalRequests: (ns?: string): string => apiPath('approvalrequests', ns),
  approvalRequest: (ns: string, name: string): string => apiPath('approvalrequests', ns, name),
  lease: (ns: string, name: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
  leases: (ns: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
  events: (ns: string): string => `/api/v1/namespaces/${ns}/events`,
  secret: (ns: string, name: string): string => `/api/v1/namespaces/${ns}/secrets/${name}`,
  secrets: (ns: string): string => `/api/v1/namespaces/${ns}/secrets`,
  pod: (ns: string, name: string): string => `/api/v1/namespaces/${ns}/pods/${name}`,
  tokenReviews: '/apis/authentication.k8s.io/v1/tokenreviews',
  subjectAccessReviews: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
} as const;
