// A small Kubernetes REST client for the few calls the webhook makes off the admission hot path
// (TLS bootstrap, caBundle patches, Secret existence checks, the policy cache's confirm-on-miss),
// over the transport the operator shares (core/kube/rest.ts); every call has a deadline.
import type { KubeConfig } from '@kubernetes/client-node';
import { isNotFound } from '../../core/kube/errors.ts';
import type { ListWatch } from '../../core/kube/informer.ts';
import { KubeRest, type ListResult, type WatchEvent } from '../../core/kube/rest.ts';

export { isConflict, isNotFound, KubeError } from '../../core/kube/errors.ts';

export interface KubeRequest { accept?: string; timeoutMs?: number }

export interface KubeApi {
  /** undefined on 404. */
  get<T>(path: string, opts?: KubeRequest): Promise<T | undefined>;
  create<T>(path: string, body: unknown): Promise<T>;
  replace<T>(path: string, body: unknown): Promise<T>;
  jsonPatch<T>(path: string, ops: unknown[]): Promise<T>;
}

const DEFAULT_TIMEOUT_MS = 5000;

export class KubeClient implements KubeApi, ListWatch {
  readonly #rest: KubeRest;

  constructor(kc: KubeConfig) {
    this.#rest = new KubeRest(kc, DEFAULT_TIMEOUT_MS);
  }

  async get<T>(path: string, opts: KubeRequest = {}): Promise<T | undefined> {
    try {
      return await this.#rest.json<T>('GET', path, opts);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  create<T>(path: string, body: unknown): Promise<T> {
    return this.#rest.json<T>('POST', path, { body });
  }

  replace<T>(path: string, body: unknown): Promise<T> {
    return this.#rest.json<T>('PUT', path, { body });
  }

  jsonPatch<T>(path: string, ops: unknown[]): Promise<T> {
    return this.#rest.json<T>('PATCH', path, { body: ops, contentType: 'application/json-patch+json' });
  }

  /** The policy cache's informer (core/kube/informer.ts): list with the list deadline of 30 s, then watch. */
  list<T>(path: string, query: Record<string, string> = {}): Promise<ListResult<T>> {
    const qs = new URLSearchParams(query).toString();
    return this.#rest.json<ListResult<T>>('GET', qs === '' ? path : `${path}?${qs}`, { timeoutMs: 30_000 });
  }

  watch<T>(path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<{ abort(): void }> {
    return this.#rest.watch<T>(path, query, onEvent, onDone);
  }
}

/** Accept header for metadata-only reads (existence checks without reading a Secret's data). */
export const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
