// AccessPolicies of the whole cluster in an informer cache (list + watch), so pod admission never
// waits for the API. Watch errors restart the informer with backoff (client-node's ListWatch does
// not restart itself after an error). `fetch*` are live reads for the rare paths that must not act
// on a stale view: the injector confirms a cache miss in an opted-in namespace before skipping a
// pod, and approval validation reads a policy the cache does not know.
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import { backoff } from '../../core/backoff.ts';
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
  onError?: (err: unknown) => void;
  onChange?: () => void;
}

export class PolicyCache implements PolicySource {
  readonly #api: KubeApi;
  readonly #informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  readonly #events: PolicyCacheEvents;
  #listed = false;
  #stopped = false;
  /** Restarts since the last successful list: the backoff attempt. */
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(kc: KubeConfig, api: KubeApi, events: PolicyCacheEvents = {}) {
    this.#api = api;
    this.#events = events;
    this.#informer = makeInformer<KubernetesObject>(kc, apiPath('accesspolicies'), async () => (await this.#list()) as unknown as KubernetesListObject<KubernetesObject>);
    this.#informer.on('error', (err) => this.#onError(err));
    this.#informer.on('change', () => this.#events.onChange?.());
  }

  async #list(): Promise<PolicyList> {
    const list = await this.#api.get<PolicyList>(apiPath('accesspolicies'), { timeoutMs: 30_000 });
    if (list === undefined) throw new Error(`${apiPath('accesspolicies')} not found: install the Guarita CRDs (crds/)`);
    this.#listed = true;
    this.#failures = 0;
    return list;
  }

  #onError(err: unknown): void {
    if (this.#stopped) return; // the abort of our own stop()
    this.#events.onError?.(err);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#restart(), backoff(this.#failures++, { baseMs: 500, capMs: 30_000 }));
    this.#timer.unref();
  }

  async #restart(): Promise<void> {
    if (!this.#stopped) await this.#informer.start();
  }

  /** Resolves once the first list has been loaded (or rejects after `timeoutMs`). */
  async start(timeoutMs = 60_000): Promise<void> {
    this.#stopped = false;
    await this.#informer.start();
    const deadline = Date.now() + timeoutMs;
    while (!this.#listed) {
      if (Date.now() > deadline) throw new Error(`AccessPolicy cache: no successful list within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#informer.stop();
  }

  synced(): boolean {
    return this.#listed;
  }

  list(namespace: string): readonly AccessPolicy[] {
    return this.#informer.list(namespace) as unknown as readonly AccessPolicy[];
  }

  get(namespace: string, name: string): AccessPolicy | undefined {
    return this.#informer.get(name, namespace) as unknown as AccessPolicy | undefined;
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
