// List-then-watch cache of one resource, per namespace or cluster-wide: the one informer of the
// long-running components (the operator's controllers, the webhook's AccessPolicy cache). Relists
// on 410 Gone and after errors (with exponential backoff and full jitter, core/backoff.ts),
// restarts watches when the apiserver closes them, reports every change with the previous object,
// so handlers see transitions, and indexes objects by namespace (the webhook's lookup per pod).
// It needs only list and watch (ListWatch): core/kube/rest.ts provides both.
import { backoff } from '../backoff.ts';
import type { ListResult, WatchEvent } from './rest.ts';

/** The two calls an informer makes. */
export interface ListWatch {
  list<T>(path: string, query?: Record<string, string>): Promise<ListResult<T>>;
  watch<T>(path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<{ abort(): void }>;
}

export interface KubeObject {
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number; creationTimestamp?: string; deletionTimestamp?: string };
}

export type ChangeType = 'added' | 'modified' | 'deleted';

export interface InformerOptions<T> {
  /** List/watch URLs, e.g. one per served namespace. */
  paths: string[];
  onChange: (type: ChangeType, obj: T, old: T | undefined) => void;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Every failed list and every watch that ended in an error (not 410 Gone, not a normal close), before the retry. */
  onError?: (err: unknown) => void;
  watchTimeoutSeconds?: number;
  maxBackoffMs?: number;
}

export function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export class Informer<T extends KubeObject> {
  readonly #api: ListWatch;
  readonly #opts: InformerOptions<T>;
  readonly #cache = new Map<string, T>();
  /** namespace -> name -> object, kept in step with #cache by #put and #drop. */
  readonly #byNamespace = new Map<string, Map<string, T>>();
  readonly #aborts = new Map<string, () => void>();
  #stopped = false;
  #synced = false;

  constructor(api: ListWatch, opts: InformerOptions<T>) {
    this.#api = api;
    this.#opts = opts;
  }

  get(namespace: string, name: string): T | undefined {
    return this.#cache.get(`${namespace}/${name}`);
  }

  /** Every object, or those of one namespace (from the index). */
  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.#cache.values()];
    return [...(this.#byNamespace.get(namespace)?.values() ?? [])];
  }

  /** True once every path has been listed (the cache is complete). */
  synced(): boolean {
    return this.#synced;
  }

  #put(key: string, obj: T): void {
    this.#cache.set(key, obj);
    const ns = obj.metadata.namespace ?? '';
    let names = this.#byNamespace.get(ns);
    if (names === undefined) this.#byNamespace.set(ns, names = new Map<string, T>());
    names.set(obj.metadata.name, obj);
  }

  #drop(key: string, obj: T): void {
    this.#cache.delete(key);
    const ns = obj.metadata.namespace ?? '';
    const names = this.#byNamespace.get(ns);
    names?.delete(obj.metadata.name);
    if (names?.size === 0) this.#byNamespace.delete(ns);
  }

  /** Lists every path once (the cache is then complete; transient errors are retried) and keeps watching. */
  async start(): Promise<void> {
    await Promise.all(this.#opts.paths.map(async (path) => {
      const rv = await this.#initialList(path);
      this.#watch(path, rv, 0);
    }));
    this.#synced = true;
  }

  async #initialList(path: string): Promise<string> {
    for (let failures = 0; ; failures++) {
      try {
        return await this.#relist(path);
      } catch (err) {
        // A CRD being (re)established answers 429/503 for a moment; RBAC may still be propagating.
        const delay = backoff(failures, { baseMs: 250, capMs: this.#opts.maxBackoffMs ?? 30_000 });
        this.#opts.onError?.(err);
        this.#opts.log.warn({ path, err: err instanceof Error ? err.message : String(err), retryInMs: delay }, 'initial list failed; retrying');
        if (this.#stopped) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const abort of this.#aborts.values()) abort();
    this.#aborts.clear();
  }

  #inPath(path: string, o: T): boolean {
    const ns = /\/namespaces\/([^/]+)\//.exec(path)?.[1];
    return ns === undefined || o.metadata.namespace === ns;
  }

  async #relist(path: string): Promise<string> {
    const res = await this.#api.list<T>(path);
    const seen = new Set<string>();
    for (const obj of res.items) {
      const key = keyOf(obj);
      seen.add(key);
      const old = this.#cache.get(key);
      this.#put(key, obj);
      if (old === undefined) this.#opts.onChange('added', obj, undefined);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.#opts.onChange('modified', obj, old);
    }
    for (const [key, old] of [...this.#cache.entries()]) {
      if (this.#inPath(path, old) && !seen.has(key)) {
        this.#drop(key, old);
        this.#opts.onChange('deleted', old, old);
      }
    }
    return res.metadata.resourceVersion ?? '';
  }

  #apply(e: WatchEvent<T>): string | undefined {
    if (e.type === 'ERROR') return undefined;
    const obj = e.object;
    if (e.type === 'BOOKMARK') return obj.metadata.resourceVersion;
    const key = keyOf(obj);
    const old = this.#cache.get(key);
    if (e.type === 'DELETED') {
      this.#drop(key, obj);
      this.#opts.onChange('deleted', obj, old);
    } else {
      this.#put(key, obj);
      this.#opts.onChange(old === undefined ? 'added' : 'modified', obj, old);
    }
    return obj.metadata.resourceVersion;
  }

  #watch(path: string, resourceVersion: string, failures: number): void {
    if (this.#stopped) return;
    let rv = resourceVersion;
    let gone = false;
    let progressed = false;
    const query = { resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: String(this.#opts.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 60)) };
    const onEvent = (e: WatchEvent<T>): void => {
      if (e.type === 'ERROR') {
        gone = e.object.code === 410;
        if (!gone) this.#opts.log.warn({ path, status: e.object }, 'watch error event');
        return;
      }
      progressed = true;
      rv = this.#apply(e) ?? rv;
    };
    const onDone = (err: unknown): void => {
      this.#aborts.delete(path);
      if (this.#stopped) return;
      if (err === null && !gone) {
        this.#watch(path, rv, 0);
        return;
      }
      this.#restart(path, gone, err, progressed ? 0 : failures + 1);
    };
    this.#api.watch<T>(path, query, onEvent, onDone).then((h) => {
      if (this.#stopped) h.abort();
      else this.#aborts.set(path, () => h.abort());
    }, (err: unknown) => this.#restart(path, false, err, failures + 1));
  }

  #restart(path: string, gone: boolean, err: unknown, failures: number): void {
    const delay = gone ? 0 : backoff(failures, { baseMs: 500, capMs: this.#opts.maxBackoffMs ?? 30_000 });
    if (!gone) {
      this.#opts.onError?.(err);
      this.#opts.log.warn({ path, err: err instanceof Error ? err.message : String(err), retryInMs: delay }, 'watch ended; relisting');
    }
    setTimeout(() => {
      if (this.#stopped) return;
      this.#relist(path).then((rv) => this.#watch(path, rv, failures), (e: unknown) => this.#restart(path, false, e, failures + 1));
    }, delay).unref();
  }
}
