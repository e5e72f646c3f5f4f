// A small Kubernetes REST client: exactly the calls the operator makes, with JSON bodies sent as
// they are (merge patches on the status subresource, MicroTime fields of Leases) and typed errors.
// Credentials and TLS come from @kubernetes/client-node's KubeConfig (kubeconfig file or in-cluster
// service account, token re-read as it rotates); watches use its Watch.
import type { RequestOptions } from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { Agent, request } from 'undici';
import { compact } from '../util.ts';

export class KubeError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeError';
    this.status = status;
    this.reason = reason;
  }
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeError && err.status === 409;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeError && err.status === 404;
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeError && err.status === 409 && err.reason === 'AlreadyExists';
}

export type WatchEvent<T> = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T } | { type: 'ERROR'; object: { code?: number; reason?: string; message?: string } };

export interface ListResult<T> { items: T[]; metadata: { resourceVersion?: string; continue?: string } }

export interface KubeApi {
  get<T>(path: string): Promise<T>;
  list<T>(path: string, query?: Record<string, string>): Promise<ListResult<T>>;
  create<T>(path: string, body: unknown): Promise<T>;
  replace<T>(path: string, body: unknown): Promise<T>;
  mergePatch<T>(path: string, body: unknown): Promise<T>;
  remove(path: string, body?: unknown): Promise<void>;
  watch<T>(path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<{ abort(): void }>;
}

interface TlsMaterial { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean }

const AUTH_CACHE_MS = 10_000;

export class KubeClient implements KubeApi {
  readonly kc: KubeConfig;
  readonly #server: string;
  #agent: Agent | undefined;
  #headers: { value: Record<string, string>; at: number } | undefined;
  readonly #timeoutMs: number;

  constructor(kc: KubeConfig, timeoutMs = 30_000) {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error('kubeconfig has no current cluster');
    this.kc = kc;
    this.#server = cluster.server.replace(/\/$/, '');
    this.#timeoutMs = timeoutMs;
  }

  /** In-cluster service account, or $KUBECONFIG / ~/.kube/config, or an explicit file. */
  static load(kubeconfig?: string): KubeClient {
    const kc = new KubeConfig();
    if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
    return new KubeClient(kc);
  }

  async #prepare(): Promise<{ agent: Agent; headers: Record<string, string> }> {
    const now = Date.now();
    if (this.#agent !== undefined && this.#headers !== undefined && now - this.#headers.at < AUTH_CACHE_MS) return { agent: this.#agent, headers: this.#headers.value };
    const opts: RequestOptions & TlsMaterial = {};
    await this.kc.applyToHTTPSOptions(opts);
    this.#agent ??= new Agent({ connect: compact({ ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized }), keepAliveTimeout: 30_000 });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    this.#headers = { value: headers, at: now };
    return { agent: this.#agent, headers };
  }

  async #call<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const { agent, headers } = await this.#prepare();
    const res = await request(`${this.#server}${path}`, {
      method, dispatcher: agent,
      headers: { ...headers, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': contentType }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headersTimeout: this.#timeoutMs, bodyTimeout: this.#timeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode >= 400) throw toError(res.statusCode, method, path, text);
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  get<T>(path: string): Promise<T> { return this.#call<T>('GET', path); }

  list<T>(path: string, query: Record<string, string> = {}): Promise<ListResult<T>> {
    const qs = new URLSearchParams(query).toString();
    return this.#call<ListResult<T>>('GET', qs === '' ? path : `${path}?${qs}`);
  }

  create<T>(path: string, body: unknown): Promise<T> { return this.#call<T>('POST', path, body); }
  replace<T>(path: string, body: unknown): Promise<T> { return this.#call<T>('PUT', path, body); }
  mergePatch<T>(path: string, body: unknown): Promise<T> { return this.#call<T>('PATCH', path, body, 'application/merge-patch+json'); }
  async remove(path: string, body?: unknown): Promise<void> { await this.#call('DELETE', path, body); }

  async watch<T>(path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<{ abort(): void }> {
    const w = new Watch(this.kc);
    const ctrl = await w.watch(path, query, (type: string, object: unknown) => onEvent({ type, object } as WatchEvent<T>), onDone);
    return { abort: () => ctrl.abort() };
  }

  async close(): Promise<void> {
    await this.#agent?.close();
  }
}

function toError(status: number, method: string, path: string, text: string): KubeError {
  let reason = '';
  let message = text.slice(0, 500);
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    reason = s.reason ?? '';
    message = s.message ?? message;
  } catch { /* not a Status */ }
  return new KubeError(status, reason, `${method} ${path}: ${status} ${reason}: ${message}`);
}

// ---- paths -------------------------------------------------------------------------------------

const GV = '/apis/guarita.io/v1alpha1';

export const paths = {
  accessPolicies: (ns?: string): string => (ns === undefined ? `${GV}/accesspolicies` : `${GV}/namespaces/${ns}/accesspolicies`),
  accessPolicy: (ns: string, name: string): string => `${GV}/namespaces/${ns}/accesspolicies/${name}`,
  approvalRequests: (ns?: string): string => (ns === undefined ? `${GV}/approvalrequests` : `${GV}/namespaces/${ns}/approvalrequests`),
  approvalRequest: (ns: string, name: string): string => `${GV}/namespaces/${ns}/approvalrequests/${name}`,
  lease: (ns: string, name: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
  leases: (ns: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
  events: (ns: string): string => `/api/v1/namespaces/${ns}/events`,
  secret: (ns: string, name: string): string => `/api/v1/namespaces/${ns}/secrets/${name}`,
  secrets: (ns: string): string => `/api/v1/namespaces/${ns}/secrets`,
  pod: (ns: string, name: string): string => `/api/v1/namespaces/${ns}/pods/${name}`,
  tokenReviews: '/apis/authentication.k8s.io/v1/tokenreviews',
  subjectAccessReviews: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
} as const;
