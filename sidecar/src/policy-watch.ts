// Live AccessPolicies: list + watch the namespace's AccessPolicy objects through the Kubernetes
// API, validate each with validateAccessPolicy and compile it. A change applies to the next
// request; listeners hear about it (the enforcer re-checks open sessions: revocation).
// Fail closed: until the first list succeeded, and while the watch has been broken longer than
// the staleness bound, `availability()` says why requests must be refused.
import { apiPath } from '../../crds/api.ts';
import { validateAccessPolicy } from '../../crds/access-policy-validator.ts';
import type { AccessPolicy } from '../../crds/types.ts';
import { kubeStatusError, type KubeClient, type WatchEvent } from './kube/client.ts';
import { errorMessage, type Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import { backoff } from '../../core/backoff.ts';
import { sleep } from './util.ts';
import { formatDuration } from '../../core/duration.ts';

export type PolicyState<C> =
  | { state: 'ok'; policy: AccessPolicy; compiled: C; generation: number | undefined }
  | { state: 'invalid'; message: string; generation: number | undefined }
  | { state: 'missing' };

export type PolicyListener<C> = (name: string, current: PolicyState<C>, previous: PolicyState<C>) => void;

export interface PolicyWatchOptions<C> {
  kube: KubeClient;
  namespace: string;
  /** The AccessPolicies this sidecar enforces. */
  names: readonly string[];
  /** Compiles a validated policy; a throw makes the policy invalid (its target refuses requests). */
  compile(policy: AccessPolicy): C;
  stalenessMs: number;
  logger: Logger;
  metrics?: Metrics;
  /** Server-side watch timeout; the watch is re-established after it (default 45-60s). */
  watchTimeoutSeconds?: number;
  now?: () => number;
}

interface KubeList { metadata?: { resourceVersion?: string }; items?: unknown[] }
interface KubeObject { metadata?: { name?: string; resourceVersion?: string; generation?: number; uid?: string }; code?: number; message?: string }

class Gone extends Error {}

const MISSING = { state: 'missing' } as const;

export class PolicyWatch<C> {
  readonly #opts: PolicyWatchOptions<C>;
  readonly #states = new Map<string, PolicyState<C>>();
  readonly #listeners = new Set<PolicyListener<C>>();
  readonly #abort = new AbortController();
  readonly #now: () => number;
  #synced = false;
  #brokenSince: number | undefined;
  #lastError = '';
  #loop: Promise<void> | undefined;
  #firstSync: { promise: Promise<void>; resolve(): void };

  constructor(opts: PolicyWatchOptions<C>) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    let resolve = (): void => undefined;
    const promise = new Promise<void>((r) => { resolve = r; });
    this.#firstSync = { promise, resolve };
    for (const name of opts.names) this.#states.set(name, MISSING);
  }

  get synced(): boolean { return this.#synced; }

  /** Resolves after the first successful list. */
  whenSynced(): Promise<void> { return this.#firstSync.promise; }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort(new Error('stopping'));
    await this.#loop;
  }

  onChange(listener: PolicyListener<C>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Whether policy decisions can be trusted right now; otherwise the message for the client. */
  availability(): { ok: true } | { ok: false; message: string } {
    if (!this.#synced) return { ok: false, message: `AccessPolicies of namespace ${this.#opts.namespace} are not synced yet${this.#lastError === '' ? '' : ` (${this.#lastError})`}; refusing until they are` };
    const broken = this.brokenForMs();
    if (broken > this.#opts.stalenessMs) {
      return { ok: false, message: `the AccessPolicy watch has been broken for ${formatDuration(Math.round(broken / 1000) * 1000)} (bound ${formatDuration(this.#opts.stalenessMs)}): ${this.#lastError}; refusing until it is restored` };
    }
    return { ok: true };
  }

  brokenForMs(): number {
    return this.#brokenSince === undefined ? 0 : this.#now() - this.#brokenSince;
  }

  get(name: string): PolicyState<C> {
    return this.#states.get(name) ?? MISSING;
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#abort.signal.aborted) {
      try {
        let resourceVersion = await this.#list();
        attempt = 0;
        while (!this.#abort.signal.aborted) resourceVersion = await this.#watch(resourceVersion);
      } catch (err) {
        if (this.#abort.signal.aborted) break;
        this.#broken(err instanceof Gone ? undefined : err);
        if (!(err instanceof Gone)) await sleep(backoff(attempt++, { baseMs: 500, capMs: 10_000 }), this.#abort.signal);
      }
    }
  }

  #healthy(): void {
    this.#brokenSince = undefined;
    this.#lastError = '';
    this.#opts.metrics?.policyWatchBroken.set(0);
  }

  #broken(err: unknown): void {
    if (err === undefined) return; // 410 Gone: relist at once, not a failure
    this.#lastError = errorMessage(err);
    this.#brokenSince ??= this.#now();
    this.#opts.metrics?.policyWatchBroken.set(this.brokenForMs() / 1000);
    this.#opts.logger.warn({ err: this.#lastError, brokenForMs: this.brokenForMs() }, 'AccessPolicy watch broken; retrying');
  }

  #path(): string {
    return apiPath('accesspolicies', this.#opts.namespace);
  }

  async #list(): Promise<string> {
    const list = await this.#opts.kube.request<KubeList>(this.#path(), { signal: this.#abort.signal });
    const seen = new Set<string>();
    for (const item of list.items ?? []) {
      const name = (item as KubeObject).metadata?.name;
      if (name === undefined || !this.#states.has(name)) continue;
      seen.add(name);
      this.#apply(name, item);
    }
    for (const name of this.#states.keys()) if (!seen.has(name)) this.#set(name, MISSING);
    this.#healthy();
    this.#markSynced();
    return list.metadata?.resourceVersion ?? '';
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    this.#firstSync.resolve();
    this.#opts.logger.info({ policies: Object.fromEntries([...this.#states].map(([n, s]) => [n, s.state])) }, 'AccessPolicies synced');
  }

  async #watch(resourceVersion: string): Promise<string> {
    const timeout = this.#opts.watchTimeoutSeconds ?? 45 + Math.floor(Math.random() * 15);
    const query = new URLSearchParams({ watch: '1', allowWatchBookmarks: 'true', timeoutSeconds: String(timeout), resourceVersion });
    let rv = resourceVersion;
    await this.#opts.kube.watch<KubeObject>(`${this.#path()}?${query.toString()}`, {
      onConnected: () => this.#healthy(),
      onEvent: (ev) => { rv = this.#event(ev) ?? rv; },
    }, { signal: this.#abort.signal, idleTimeoutMs: (timeout + 20) * 1000 });
    return rv;
  }

  /** Applies one watch event; returns the new resourceVersion. */
  #event(ev: WatchEvent<KubeObject>): string | undefined {
    if (ev.type === 'ERROR') {
      if (ev.object.code === 410) throw new Gone();
      throw kubeStatusError(ev.object.code ?? 500, 'WATCH', this.#path(), { message: ev.object.message ?? 'watch error' });
    }
    const name = ev.object.metadata?.name ?? '';
    if (ev.type !== 'BOOKMARK' && this.#states.has(name)) this.#objectEvent(name, ev);
    return ev.object.metadata?.resourceVersion;
  }

  #objectEvent(name: string, ev: WatchEvent<KubeObject>): void {
    if (ev.type === 'DELETED') this.#set(name, MISSING);
    else this.#apply(name, ev.object);
  }

  #apply(name: string, object: unknown): void {
    const { generation, uid } = (object as KubeObject).metadata ?? {};
    const previous = this.get(name);
    // Status updates (by the operator) do not change the generation: nothing to recompile. A policy
    // deleted and created again starts again at generation 1: when a relist is all the watch saw
    // of it, only its uid tells it from the one compiled.
    const sameObject = previous.state !== 'ok' || previous.policy.metadata.uid === uid;
    if (previous.state !== 'missing' && generation !== undefined && previous.generation === generation && sameObject) return;
    this.#set(name, this.#compile(name, object, generation));
  }

  #compile(name: string, object: unknown, generation: number | undefined): PolicyState<C> {
    const checked = validateAccessPolicy(object);
    if (!checked.ok) {
      return { state: 'invalid', generation, message: `AccessPolicy ${name} is invalid: ${checked.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}` };
    }
    try {
      return { state: 'ok', policy: checked.value, compiled: this.#opts.compile(checked.value), generation };
    } catch (err) {
      return { state: 'invalid', generation, message: `AccessPolicy ${name} cannot be enforced: ${errorMessage(err)}` };
    }
  }

  #set(name: string, current: PolicyState<C>): void {
    const previous = this.get(name);
    if (previous.state === 'missing' && current.state === 'missing') return;
    this.#states.set(name, current);
    this.#opts.metrics?.policySynced.set({ policy: name }, current.state === 'ok' ? 1 : 0);
    this.#opts.logger.info({ policy: name, state: current.state, generation: current.state === 'missing' ? undefined : current.generation, ...(current.state === 'invalid' ? { problem: current.message } : {}) }, 'AccessPolicy changed');
    for (const listener of this.#listeners) {
      try {
        listener(name, current, previous);
      } catch (err) {
        this.#opts.logger.error({ err: errorMessage(err), policy: name }, 'policy change listener failed');
      }
    }
  }
}
