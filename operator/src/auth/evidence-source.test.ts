import { describe, expect, it } from '@jest/globals';
import { KubeError, type KubeApi } from '../kube/client.ts';
import { EvidenceSources } from './evidence-source.ts';

/** An apiserver with one namespace and its pods; counts GETs; `broken` answers 500. */
function api(state: { labelled: boolean; injected: boolean; broken?: boolean }, gets: string[]): KubeApi {
  const fail = (): Promise<never> => Promise.reject(new Error('unused'));
  return {
    get: <T>(path: string): Promise<T> => {
      gets.push(path);
      if (state.broken === true) return Promise.reject(new KubeError(500, 'InternalError', `${path}: etcd unavailable`));
      if (path === '/api/v1/namespaces/team') return Promise.resolve({ metadata: { labels: state.labelled ? { 'guarita.io/injection': 'enabled' } : {} } } as T);
      if (path === '/api/v1/namespaces/team/pods/agent-0') {
        return Promise.resolve({ metadata: { uid: 'u-1', annotations: state.injected ? { 'guarita.io/status': 'injected', 'guarita.io/policies': 'orders-db' } : {} }, spec: { containers: [{ name: 'guarita-proxy' }] } } as T);
      }
      return Promise.reject(new KubeError(404, 'NotFound', `${path} not found`));
    },
    create: fail, list: fail, replace: fail, mergePatch: fail, remove: fail, watch: fail,
  };
}

const pod = { namespace: 'team', name: 'agent-0', uid: 'u-1' };

describe('EvidenceSources', () => {
  it('reuses a verdict for batches within its TTL, asks again for registration and after the TTL', async () => {
    const gets: string[] = [];
    const state = { labelled: true, injected: true };
    let now = 0;
    const sources = new EvidenceSources(api(state, gets), { positiveTtlMs: 1000, negativeTtlMs: 100, now: () => now });
    expect(await sources.check(pod, true)).toEqual({ ok: true, policies: ['orders-db'] });
    expect(gets).toHaveLength(2);
    state.labelled = false;
    expect(await sources.check(pod)).toEqual({ ok: true, policies: ['orders-db'] }); // cached: a batch costs no apiserver call
    expect(gets).toHaveLength(2);
    expect((await sources.check(pod, true)).ok).toBe(false); // registration asks again
    state.labelled = true;
    now = 50;
    expect((await sources.check(pod)).ok).toBe(false); // the refusal is cached briefly
    now = 200;
    expect(await sources.check(pod)).toEqual({ ok: true, policies: ['orders-db'] });
    expect(gets).toHaveLength(6);
  });

  it('refuses a pod or namespace the apiserver does not know, and fails closed (throws) when it cannot answer', async () => {
    const gets: string[] = [];
    const sources = new EvidenceSources(api({ labelled: true, injected: true }, gets));
    expect(await sources.check({ ...pod, name: 'gone' })).toMatchObject({ ok: false, reason: expect.stringMatching(/does not exist/) });
    expect(await sources.check({ ...pod, namespace: 'nowhere' })).toMatchObject({ ok: false, reason: expect.stringMatching(/namespace nowhere does not exist/) });
    const broken = new EvidenceSources(api({ labelled: true, injected: true, broken: true }, gets));
    await expect(broken.check(pod)).rejects.toThrow(/etcd unavailable/);
  });

  it('keeps at most maxEntries verdicts', async () => {
    const gets: string[] = [];
    const sources = new EvidenceSources(api({ labelled: true, injected: true }, gets), { maxEntries: 2 });
    for (const uid of ['a', 'b', 'c']) await sources.check({ ...pod, uid });
    const before = gets.length;
    await sources.check({ ...pod, uid: 'c' }); // still cached
    expect(gets.length).toBe(before);
    await sources.check({ ...pod, uid: 'a' }); // evicted: asked again
    expect(gets.length).toBe(before + 2);
  });
});
