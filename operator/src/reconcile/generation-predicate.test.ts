import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { AccessPolicy } from '../../../crds/types.ts';
import type { KubeApi } from '../kube/client.ts';
import type { Informer } from '../../../core/kube/informer.ts';
import { createMetrics } from '../metrics.ts';
import { AccessPolicyReconciler } from './access-policy.ts';
import { GenerationPredicate, type PolicyEvent } from './generation-predicate.ts';

function example(uid = 'uid-1'): AccessPolicy {
  const doc = parse(readFileSync(new URL('../../../examples/lgpd-orders/accesspolicy.yaml', import.meta.url), 'utf8')) as AccessPolicy;
  return { ...doc, metadata: { ...doc.metadata, namespace: 'shop', uid, generation: 1, resourceVersion: '1' } };
}

/**
 * An apiserver for one namespace as the operator sees it: writes bump resourceVersion (and
 * generation on spec changes only, as the apiserver does with the status subresource) and
 * deliver informer events (type, new, old) to the controller's handler, which filters with the
 * predicate and runs the real AccessPolicyReconciler, counting validations.
 */
class Cluster {
  readonly objects = new Map<string, AccessPolicy>();
  readonly queued: string[] = [];
  readonly metrics = createMetrics(false);
  readonly reconciler: AccessPolicyReconciler;
  #rv = 1;

  constructor() {
    const fail = (): Promise<never> => Promise.reject(new Error('unused'));
    const api = {
      mergePatch: <T>(path: string, body: unknown): Promise<T> => {
        const name = /accesspolicies\/([^/]+)\/status$/.exec(path)?.[1] ?? '';
        const cur = this.objects.get(`shop/${name}`) as AccessPolicy;
        // Go's map re-serialization: the stored status comes back with its keys sorted.
        const status = JSON.parse(JSON.stringify({ ...cur.status, ...(body as { status: object }).status }, (_k, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v))) as AccessPolicy['status'];
        this.write({ ...cur, ...(status === undefined ? {} : { status }) }, false);
        return Promise.resolve(undefined as T);
      },
      get: fail, create: fail, replace: fail, list: fail, remove: fail, watch: fail,
    } as unknown as KubeApi;
    const policies = { get: (ns: string, name: string) => this.objects.get(`${ns}/${name}`) } as unknown as Informer<AccessPolicy>;
    this.reconciler = new AccessPolicyReconciler({ api, policies, events: { emit: () => undefined } as never, metrics: this.metrics, now: () => Date.parse('2026-03-01T10:00:00Z') });
  }

  /** A write through the API: spec changes bump generation, status and metadata writes do not. */
  write(obj: AccessPolicy, specChanged: boolean): void {
    const key = `shop/${obj.metadata.name}`;
    const old = this.objects.get(key);
    const generation = old === undefined ? 1 : (old.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    const next = { ...obj, metadata: { ...obj.metadata, generation, resourceVersion: String(++this.#rv) } };
    this.objects.set(key, next);
    this.event(old === undefined ? 'added' : 'modified', next);
  }

  delete(name: string): void {
    const key = `shop/${name}`;
    const old = this.objects.get(key) as AccessPolicy;
    this.objects.delete(key);
    this.event('deleted', old);
  }

  event(type: PolicyEvent, obj: AccessPolicy): void {
    if (this.reconciler.predicate.admits(type, obj)) this.queued.push(`${obj.metadata.namespace}/${obj.metadata.name}`);
  }

  /** Runs the queue dry (each reconcile may write status, which delivers more events). */
  async drain(): Promise<void> {
    while (this.queued.length > 0) await this.reconciler.reconcile(this.queued.shift() as string);
  }

  async count(result: string): Promise<number> {
    const m = (await this.metrics.reconciles.get()).values.find((v) => v.labels.kind === 'AccessPolicy' && v.labels.result === result);
    return m?.value ?? 0;
  }

  /** Validations so far: every reconcile that evaluated the policy. */
  async validations(): Promise<number> {
    return (await this.count('updated')) + (await this.count('unchanged'));
  }
}

describe('GenerationPredicate with the informer events of a policy', () => {
  it('validates a new policy once; its own status write queues nothing', async () => {
    const c = new Cluster();
    c.write(example(), true);
    expect(c.queued).toEqual(['shop/orders-db']);
    await c.drain();
    expect(await c.count('updated')).toBe(1);
    expect(c.objects.get('shop/orders-db')?.status).toMatchObject({ observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' }, { type: 'Invalid' }] });
    // The status write's event arrived before the patch call returned, so it was queued; that
    // reconcile found nothing to do and did not validate.
    expect(await c.count('skipped')).toBe(1);
    expect(await c.validations()).toBe(1);
    c.write({ ...(c.objects.get('shop/orders-db') as AccessPolicy) }, false); // the same status again: filtered
    expect(c.queued).toEqual([]);
  });

  it('skips status writes of the anchorer, labels and annotations; validates again on a spec change', async () => {
    const c = new Cluster();
    c.write(example(), true);
    await c.drain();
    const cur = (): AccessPolicy => c.objects.get('shop/orders-db') as AccessPolicy;
    for (let i = 1; i <= 5; i++) c.write({ ...cur(), status: { ...cur().status, sessions: { total: i, denied: 0, approvalsRequested: 0 }, chain: { head: `h${i}`, records: i, anchoredAt: '2026-03-01T10:00:00Z' } } }, false);
    c.write({ ...cur(), metadata: { ...cur().metadata, labels: { team: 'data' }, annotations: { note: 'x' } } }, false);
    expect(c.queued).toEqual([]);
    await c.drain();
    expect(await c.validations()).toBe(1);

    c.write({ ...cur(), spec: { ...cur().spec, rules: cur().spec.rules.slice(0, 1) } }, true);
    expect(c.queued).toEqual(['shop/orders-db']);
    await c.drain();
    expect(await c.validations()).toBe(2);
    expect(cur().status).toMatchObject({ observedGeneration: 2, chain: { head: 'h5', records: 5 } }); // the anchor stays
  });

  it('repairs owned status someone else overwrote, on the event and on resync', async () => {
    const c = new Cluster();
    c.write(example(), true);
    await c.drain();
    const cur = (): AccessPolicy => c.objects.get('shop/orders-db') as AccessPolicy;
    const good = structuredClone(cur().status);
    const forged = [{ type: 'Ready', status: 'False' as const, reason: 'Forged', message: 'x', observedGeneration: 1, lastTransitionTime: '2026-03-01T10:00:00Z' }];
    c.write({ ...cur(), status: { ...cur().status, conditions: forged } }, false);
    expect(c.queued).toEqual(['shop/orders-db']);
    await c.drain();
    expect(cur().status?.conditions).toEqual(good?.conditions);

    // A lost event (a watch restart relisted): the resync finds the drift without it.
    c.objects.set('shop/orders-db', { ...cur(), status: { ...cur().status, ruleCount: 99 } });
    expect(c.reconciler.predicate.needsReconcile(cur())).toBe(true);
    await c.reconciler.reconcile('shop/orders-db');
    expect(cur().status?.ruleCount).toBe(good?.ruleCount);
    expect(c.reconciler.predicate.needsReconcile(cur())).toBe(false); // the next resync skips it
    expect(await c.validations()).toBe(3);
  });

  it('a policy deleted and created again under its name (generation 1 again) is validated', async () => {
    const c = new Cluster();
    c.write(example(), true);
    await c.drain();
    c.delete('orders-db');
    expect(c.queued).toEqual(['shop/orders-db']); // deletion passes: the reconciler forgets the object
    await c.drain();
    expect(c.reconciler.predicate.size).toBe(0);
    const again = example('uid-2');
    c.write({ ...again, spec: { ...again.spec, rules: [] } }, true);
    await c.drain();
    expect(c.objects.get('shop/orders-db')?.status).toMatchObject({ observedGeneration: 1, ruleCount: 0 });
    expect(await c.validations()).toBe(2);
  });

  it('a UID change without the deletion event (missed while the watch was down) is validated', () => {
    const p = new GenerationPredicate();
    const a = example('uid-1');
    p.reconciled(a, a.status);
    expect(p.admits('modified', a)).toBe(false);
    expect(p.admits('added', example('uid-2'))).toBe(true);
    expect(p.admits('modified', { ...a, metadata: { ...a.metadata, generation: 2 } })).toBe(true);
  });

  it('a reconcile that was queued before the previous one finished is skipped without validating', async () => {
    const c = new Cluster();
    c.write(example(), true);
    await c.drain();
    const skipped = await c.count('skipped');
    await c.reconciler.reconcile('shop/orders-db');
    expect(await c.count('skipped')).toBe(skipped + 1);
    expect(await c.validations()).toBe(1);
  });
});
