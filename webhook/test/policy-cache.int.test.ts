// The webhook's AccessPolicy cache on the shared informer (core/kube/informer.ts, issue 20 item 2)
// against the real apiserver: the first list, then watch events indexed per namespace (create,
// change, delete), and stop.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PolicyCache } from '../src/policy-cache.ts';
import { adminApi, applyJson, createNamespace, installCrds, k, suffix, waitFor } from './cluster.ts';
import { examplePolicy } from './fixtures.ts';

const id = suffix();
const [nsA, nsB] = [`cache-a-${id}`, `cache-b-${id}`];
const errors: unknown[] = [];
let cache: PolicyCache;

const names = (ns: string): string[] => cache.list(ns).map((p) => p.metadata.name).sort();

beforeAll(async () => {
  await installCrds();
  for (const ns of [nsA, nsB]) await createNamespace(ns, {});
  await applyJson(examplePolicy('accesspolicy.yaml', nsA));
  cache = new PolicyCache(adminApi(), { onError: (e) => errors.push(e) });
  await cache.start(30_000);
}, 60_000);

afterAll(async () => {
  await cache?.stop();
  await k(['delete', 'namespace', nsA, nsB, '--wait=false'], 'admin');
});

describe('the webhook\'s AccessPolicy cache on the shared informer', () => {
  it('is synced after the first list and holds what existed, by namespace', () => {
    expect(cache.synced()).toBe(true);
    expect(names(nsA)).toEqual(['orders-db']);
    expect(names(nsB)).toEqual([]);
  });

  it('follows creations, changes and deletions from the watch, per namespace', async () => {
    await applyJson(examplePolicy('accesspolicy-http.yaml', nsB));
    await waitFor('the policy created in B', () => Promise.resolve(names(nsB).length === 1 ? true : undefined));
    expect(names(nsA)).toEqual(['orders-db']);
    await k(['label', 'accesspolicy', 'orders-db', '-n', nsA, `cache-test=${id}`], 'admin');
    await waitFor('the change in A', () => Promise.resolve(cache.get(nsA, 'orders-db')?.metadata.labels?.['cache-test'] === id ? true : undefined));
    await k(['delete', 'accesspolicy', 'orders-db', '-n', nsA], 'admin');
    await waitFor('the deletion in A', () => Promise.resolve(names(nsA).length === 0 ? true : undefined));
    expect(names(nsB)).toHaveLength(1);
    expect(errors).toEqual([]);
  });
});
