import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { KubeError, type KubeApi } from './kube/client.ts';
import { LeaderElector, microTime } from './leader.ts';

interface Stored { metadata: { name: string; namespace: string; resourceVersion: string }; spec: Record<string, unknown> }

/** An apiserver holding one Lease, with resourceVersion checks; `broken` cuts one client off. */
class LeaseServer {
  lease: Stored | undefined;
  #rv = 0;

  client(): KubeApi & { broken: boolean } {
    const fail = (): Promise<never> => Promise.reject(new Error('unused'));
    const self = {
      broken: false,
      get: <T>(): Promise<T> => {
        if (self.broken) return Promise.reject(new Error('connection refused'));
        return this.lease === undefined ? Promise.reject(new KubeError(404, 'NotFound', 'no lease')) : Promise.resolve(structuredClone(this.lease) as T);
      },
      create: <T>(_p: string, body: unknown): Promise<T> => {
        if (self.broken) return Promise.reject(new Error('connection refused'));
        if (this.lease !== undefined) return Promise.reject(new KubeError(409, 'AlreadyExists', 'exists'));
        const b = body as Stored;
        this.lease = { metadata: { ...b.metadata, resourceVersion: String(++this.#rv) }, spec: b.spec };
        return Promise.resolve(structuredClone(this.lease) as T);
      },
      replace: <T>(_p: string, body: unknown): Promise<T> => {
        if (self.broken) return Promise.reject(new Error('connection refused'));
        const b = body as Stored;
        if (this.lease?.metadata.resourceVersion !== b.metadata.resourceVersion) return Promise.reject(new KubeError(409, 'Conflict', 'modified'));
        this.lease = { metadata: { ...b.metadata, resourceVersion: String(++this.#rv) }, spec: b.spec };
        return Promise.resolve(structuredClone(this.lease) as T);
      },
      list: fail, mergePatch: fail, remove: fail, watch: fail,
    };
    return self;
  }
}

const quiet = { info: (): void => undefined, warn: (): void => undefined };
// Jest's fake timers drive setTimeout and Date.now: each test is the same sequence of ticks on
// every run, however loaded the machine (advanceTimersByTimeAsync also settles the fake API's
// promises between timers).
const sleep = (ms: number): Promise<void> => jest.advanceTimersByTimeAsync(ms);

function elector(server: LeaseServer, identity: string, events: string[]): { e: LeaderElector; api: ReturnType<LeaseServer['client']> } {
  const api = server.client();
  const e = new LeaderElector(api, {
    namespace: 'ops', name: 'lease', identity, leaseDurationMs: 1000, renewDeadlineMs: 300, retryPeriodMs: 50, log: quiet,
    onStartedLeading: () => events.push(`${identity} leads`), onStoppedLeading: () => events.push(`${identity} stops`),
  });
  return { e, api };
}

describe('LeaderElector', () => {
  beforeEach(() => { jest.useFakeTimers({ now: Date.parse('2026-01-02T03:04:05Z') }); });
  afterEach(() => { jest.useRealTimers(); });

  it('writes MicroTime with six fractional digits', () => {
    expect(microTime(Date.parse('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02T03:04:05.678000Z');
  });

  it('elects one leader; the other takes over only after the lease expires', async () => {
    const server = new LeaseServer();
    const events: string[] = [];
    const a = elector(server, 'a', events);
    const b = elector(server, 'b', events);
    a.e.start();
    await sleep(30);
    b.e.start();
    await sleep(300);
    expect(events).toEqual(['a leads']);
    expect([a.e.isLeader, b.e.isLeader]).toEqual([true, false]);
    expect(server.lease?.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 1 });

    a.api.broken = true; // a is cut off (a crash, as far as b can tell)
    const cut = Date.now();
    await sleep(600);
    expect(events).toEqual(['a leads', 'a stops']);
    expect(b.e.isLeader).toBe(false);
    await sleep(900);
    expect(b.e.isLeader).toBe(true);
    expect(Date.now() - cut).toBeGreaterThanOrEqual(1000);
    expect(server.lease?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    await a.e.stop();
    await b.e.stop();
  });

  it('judges expiry on its own clock: a candidate an hour ahead or behind never takes a lease that is being renewed', async () => {
    for (const skew of [3_600_000, -3_600_000]) {
      const server = new LeaseServer();
      const events: string[] = [];
      const a = elector(server, 'a', events);
      const api = server.client();
      const b = new LeaderElector(api, {
        namespace: 'ops', name: 'lease', identity: 'b', leaseDurationMs: 1000, renewDeadlineMs: 300, retryPeriodMs: 50, log: quiet,
        onStartedLeading: () => events.push('b leads'), onStoppedLeading: () => events.push('b stops'), now: () => Date.now() + skew,
      });
      a.e.start();
      await sleep(20);
      b.start();
      await sleep(5000); // five lease durations by either clock, a renewing all along
      expect(events).toEqual(['a leads']);
      a.api.broken = true;
      await sleep(1000);
      expect(b.isLeader).toBe(false); // seen unchanged for at most 1000 ms: not yet expired
      await sleep(200);
      expect(events).toEqual(['a leads', 'a stops', 'b leads']);
      await a.e.stop();
      await b.stop();
    }
  });

  it('a leader that finds the lease taken by another steps down at its next renewal', async () => {
    const server = new LeaseServer();
    const events: string[] = [];
    const a = elector(server, 'a', events);
    a.e.start();
    await sleep(10);
    expect(a.e.isLeader).toBe(true);
    const lease = server.lease as Stored;
    server.lease = { metadata: { ...lease.metadata, resourceVersion: '99' }, spec: { ...lease.spec, holderIdentity: 'intruder' } };
    await sleep(50);
    expect(events).toEqual(['a leads', 'a stops']);
    expect(a.e.holder).toBe('intruder');
    await a.e.stop();
    expect(server.lease.spec).toMatchObject({ holderIdentity: 'intruder' }); // not released: not ours
  });

  it('releases the lease on a clean stop so a candidate need not wait', async () => {
    const server = new LeaseServer();
    const events: string[] = [];
    const a = elector(server, 'a', events);
    a.e.start();
    await sleep(100);
    const b = elector(server, 'b', events);
    b.e.start();
    await sleep(100);
    await a.e.stop();
    expect(server.lease?.spec).toMatchObject({ holderIdentity: '' });
    await sleep(150);
    expect(b.e.isLeader).toBe(true);
    await b.e.stop();
  });
});
