import { describe, expect, it } from '@jest/globals';
import type { KubeApi } from '../kube/client.ts';
import { KubeAuth } from './kube-auth.ts';

/** An apiserver that allows only tokens whose extra carries the scope `sessions:read`, counting the reviews. */
function scopedApi(): { api: KubeApi; reviews: number } {
  const state = { reviews: 0 };
  const api = {
    create: (_path: string, body: unknown) => {
      state.reviews++;
      const extra = (body as { spec: { extra?: Record<string, string[]> } }).spec.extra ?? {};
      return Promise.resolve({ status: { allowed: (extra.scopes ?? []).includes('sessions:read') } });
    },
  } as unknown as KubeApi;
  return { api, get reviews() { return state.reviews; } };
}

describe('KubeAuth.allowed (SubjectAccessReview cache)', () => {
  it('two tokens of one user with other extras (scopes) do not share a verdict; the same extra in another order does', async () => {
    const s = scopedApi();
    const auth = new KubeAuth(s.api, { now: () => 1_000 });
    const base = { username: 'audrey', groups: ['auditors'] };
    expect(await auth.allowed({ ...base, extra: { scopes: ['sessions:read'] } }, 'get', 'orders')).toBe(true);
    expect(await auth.allowed({ ...base, extra: { scopes: ['user:info'] } }, 'get', 'orders')).toBe(false);
    expect(await auth.allowed(base, 'get', 'orders')).toBe(false);
    expect(s.reviews).toBe(3);
    expect(await auth.allowed({ ...base, extra: { b: ['1'], scopes: ['sessions:read'] } }, 'get', 'orders')).toBe(true);
    expect(await auth.allowed({ ...base, extra: { scopes: ['sessions:read'], b: ['1'] } }, 'get', 'orders')).toBe(true);
    expect(s.reviews).toBe(4);
  });
});
