// AccessPolicies of the whole cluster in an informer cache (list + watch, core/kube/informer.ts:
// relist on 410, backoff with full jitter after errors, an index per namespace), so pod admission
// never waits for the API. `fetch*` are live reads for the rare paths that must not act on a stale
// view: the injector confirms a cache miss in an opted-in namespace before skipping a pod, and
// approval validation reads a policy the cache does not know.
import { isNotFound } from '../../core/kube/errors.ts';
import { Informer, type ListWatch } from '../../core/kube/informer.ts';
import type { ListResult, WatchEvent } from '../../core/kube/rest.ts';
import { apiPath } from '../../crds/definitions.ts';
import type { AccessPolicy } from '../../crds/types.ts';
import type { KubeApi } from './kube.ts';

export interface PolicySource {
  list(namespace: string): readonly AccessPolicy[];
  get(namespace: string, name: string): AccessPolicy | undefined;
  fetchNamespace(namespace: string): Promise<AccessPolicy[]>;
  fetchOne(namespace: string, name: string): Promise<AccessPolicy | undefined>;
  synced(): boolean;
}

interface PolicyList { apiVersion?: string; kind?: string; metadata: { resourceVersion?: string }; items: AccessPolicy[] }

export interface PolicyCacheEvents {
  /** A failed list or a watch that ended in an error, before the informer retries with backoff. */
  onError?: (err: unknown) => void;
  onChange?: () => void;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

const SILENT = { warn: (): void => undefined, info: (): void => undefined };

export class PolicyCache implements PolicySource {
  readonly #api: KubeApi;
  readonly #informer: Informer<AccessPolicy>;

  constructor(api: KubeApi & ListWatch, events: PolicyCacheEvents = {}) {
    this.#api = api;
    // A 404 on the list means the CRD is missing: say what to install rather than "not found".
    const source: ListWatch = {
      list: async <T>(path: string, query?: Record<string, string>): Promise<ListResult<T>> => {
        try {
          return await api.list<T>(path, query);
        } catch (err) {
          if (isNotFound(err)) throw new Error(`${path} not found: install the Guarita CRDs (crds/)`, { cause: err });
          throw err;
        }
      },
      watch: <T>(path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void) => api.watch<T>(path, query, onEvent, onDone),
    };
    this.#informer = new Informer<AccessPolicy>(source, {
      paths: [apiPath('accesspolicies')],
      onChange: () => events.onChange?.(),
      log: events.log ?? SILENT,
      ...(events.onError === undefined ? {} : { onError: events.onError }),
    });
  }

  /** Resolves once the first list has been loaded, or rejects after `timeoutMs` (the informer keeps trying; synced() turns true when it lists). */
  async start(timeoutMs = 60_000): Promise<void> {
    const started = this.#informer.start();
    started.catch(() => undefined); // rejects only when stop() ends the retries; the race below reports the rest
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`AccessPolicy cache: no successful list within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([started, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  stop(): Promise<void> {
    this.#informer.stop();
    return Promise.resolve();
  }

  synced(): boolean {
    return this.#informer.synced();
  }

  list(namespace: string): readonly AccessPolicy[] {
    return this.#informer.list(namespace);
  }

  get(namespace: string, name: string): AccessPolicy | undefined {
    return this.#informer.get(namespace, name);
  }

  async fetchNamespace(namespace: string): Promise<AccessPolicy[]> {
    const list = await this.#api.get<PolicyList>(apiPath('accesspolicies', namespace), { timeoutMs: 2000 });
    return list?.items ?? [];
  }

  fetchOne(namespace: string, name: string): Promise<AccessPolicy | undefined> {
    return this.#api.get<AccessPolicy>(apiPath('accesspolicies', namespace, name), { timeoutMs: 2000 });
  }
}

/** A fixed set of policies (unit tests, the benchmark). */
export class StaticPolicies implements PolicySource {
  readonly #policies: AccessPolicy[];
  constructor(policies: readonly AccessPolicy[]) {
    this.#policies = [...policies];
  }
  list(namespace: string): readonly AccessPolicy[] {
    return this.#policies.filter((p) => p.metadata.namespace === namespace);
  }
  get(namespace: string, name: string): AccessPolicy | undefined {
    return this.list(namespace).find((p) => p.metadata.name === name);
  }
  fetchNamespace(namespace: string): Promise<AccessPolicy[]> {
    return Promise.resolve([...this.list(namespace)]);
  }
  fetchOne(namespace: string, name: string): Promise<AccessPolicy | undefined> {
    return Promise.resolve(this.get(namespace, name));
  }
  synced(): boolean {
    return true;
  }
}
