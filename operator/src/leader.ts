// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: the holder renews
// every retryPeriod; a candidate takes over only after it has seen the same lease record unchanged
// for leaseDuration (measured on its own clock, so clock skew does not matter); a leader that has
// not renewed within renewDeadline steps down. Replace is guarded by resourceVersion, so two
// candidates never both win. On a clean shutdown the leader releases the lease at once.
import { isConflict, isNotFound, paths, type KubeApi } from './kube/client.ts';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Called once when this replica becomes leader. */
  onStartedLeading: () => void;
  /** Called once when leadership is lost (the process should stop leader work; main.ts exits). */
  onStoppedLeading: () => void;
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease { metadata: { name: string; namespace?: string; resourceVersion?: string }; spec?: LeaseSpec }

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

export class LeaderElector {
  readonly #api: KubeApi;
  readonly #o: LeaderOptions;
  readonly #now: () => number;
  #leader = false;
  #lastRenew = 0;
  #observed: { record: string; at: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #holder: string | undefined;

  constructor(api: KubeApi, opts: LeaderOptions) {
    this.#api = api;
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  get isLeader(): boolean { return this.#leader; }
  /** Holder identity as last observed. */
  get holder(): string | undefined { return this.#holder; }

  start(): void {
    void this.#tick();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#tryAcquireOrRenew();
    } catch (err) {
      this.#o.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'leader election: lease request failed');
    }
    if (this.#leader && this.#now() - this.#lastRenew > this.#o.renewDeadlineMs) this.#lose('could not renew the lease within the renew deadline');
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), this.#o.retryPeriodMs);
  }

  #spec(lease: LeaseSpec | undefined, now: number, takeover: boolean): LeaseSpec {
    const seconds = Math.max(1, Math.ceil(this.#o.leaseDurationMs / 1000));
    return {
      holderIdentity: this.#o.identity, leaseDurationSeconds: seconds,
      acquireTime: takeover || lease?.acquireTime === undefined ? microTime(now) : lease.acquireTime,
      renewTime: microTime(now),
      leaseTransitions: (lease?.leaseTransitions ?? 0) + (takeover && lease !== undefined ? 1 : 0),
    };
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const now = this.#now();
    let lease: Lease;
    try {
      lease = await this.#api.get<Lease>(paths.lease(this.#o.namespace, this.#o.name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.#create(now);
      return;
    }
    const spec = lease.spec ?? {};
    const mine = spec.holderIdentity === this.#o.identity;
    if (!mine && this.#leader) this.#lose(`lease taken by ${spec.holderIdentity ?? '(nobody)'}`);
    if (!mine && !this.#available(spec, now)) return;
    await this.#replace(lease, this.#spec(spec, now, !mine), now, !mine);
  }

  /** Free, or held by someone whose record this replica has seen unchanged for the lease duration. */
  #available(spec: LeaseSpec, now: number): boolean {
    this.#holder = spec.holderIdentity;
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
    if (this.#observed?.record !== record) this.#observed = { record, at: now };
    if (spec.holderIdentity === undefined || spec.holderIdentity === '') return true;
    return now - this.#observed.at > (spec.leaseDurationSeconds ?? 0) * 1000;
  }

  async #create(now: number): Promise<void> {
    try {
      await this.#api.create(paths.leases(this.#o.namespace), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.#o.name, namespace: this.#o.namespace }, spec: this.#spec(undefined, now, true) });
    } catch (err) {
      if (isConflict(err)) return;
      throw err;
    }
    this.#won(now, 'created the lease');
  }

  async #replace(lease: Lease, spec: LeaseSpec, now: number, takeover: boolean): Promise<void> {
    try {
      await this.#api.replace(paths.lease(this.#o.namespace, this.#o.name), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { ...lease.metadata }, spec });
    } catch (err) {
      if (isConflict(err)) return;
      throw err;
    }
    if (takeover || !this.#leader) this.#won(now, takeover ? `took over from ${lease.spec?.holderIdentity ?? '(nobody)'}` : 'renewed');
    else this.#lastRenew = now;
  }

  #won(now: number, how: string): void {
    this.#lastRenew = now;
    this.#holder = this.#o.identity;
    if (this.#leader) return;
    this.#leader = true;
    this.#o.log.info({ identity: this.#o.identity, lease: `${this.#o.namespace}/${this.#o.name}`, how }, 'became leader');
    this.#o.onStartedLeading();
  }

  #lose(why: string): void {
    if (!this.#leader) return;
    this.#leader = false;
    this.#o.log.warn({ identity: this.#o.identity, why }, 'lost leadership');
    this.#o.onStoppedLeading();
  }

  /** Stops campaigning; a leader gives the lease up so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (!this.#leader) return;
    this.#leader = false;
    try {
      const lease = await this.#api.get<Lease>(paths.lease(this.#o.namespace, this.#o.name));
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      const now = this.#now();
      await this.#api.replace(paths.lease(this.#o.namespace, this.#o.name), {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(now), acquireTime: microTime(now) },
      });
      this.#o.log.info({ identity: this.#o.identity }, 'released the lease');
    } catch (err) {
      this.#o.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not release the lease');
    }
  }
}
