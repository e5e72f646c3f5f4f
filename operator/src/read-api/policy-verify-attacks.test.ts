// Round 7 evidence review (noted): GET /v1/namespaces/{ns}/policies/{name}/verify reads the policy's
// whole store log into memory and checks it, and anyone the namespace's RBAC lets get sessions could
// ask for it many times at once; like the store-log proof, one verification runs at a time.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Fastify, { type FastifyInstance } from 'fastify';
import type { KubeAuth } from '../auth/kube-auth.ts';
import { createMetrics } from '../metrics.ts';
import type { SessionStore } from '../store/types.ts';
import { registerReadApi } from './plugin.ts';

/** Verifications the store was asked for, and how the test lets each finish reading. */
const reading: (() => void)[] = [];

const store = {
  policyChain: () => ({ seq: 0 }),
  policyEntries: async function* () {
    await new Promise<void>((resolve) => { reading.push(resolve); });
    yield* [];
  },
} as unknown as SessionStore;

const auth = {
  authenticate: (token: string) => Promise.resolve(token === 'user:audrey' ? { ok: true, identity: { username: 'audrey', groups: [] } } : { ok: false, reason: 'invalid token' }),
  allowed: () => Promise.resolve(true),
} as unknown as KubeAuth;

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  registerReadApi(app, { store: () => store, auth, metrics: createMetrics(false), anchored: () => undefined });
  await app.ready();
});

afterAll(() => app.close());

const verify = () => app.inject({ method: 'GET', url: '/v1/namespaces/shop/policies/orders/verify', headers: { authorization: 'Bearer user:audrey' } });

describe('the policy-verification route', () => {
  it('one verification at a time: another asked meanwhile gets 503 with Retry-After, then is served', async () => {
    const first = verify();
    while (reading.length === 0) await new Promise((r) => setImmediate(r));
    const second = await verify();
    expect(second.statusCode).toBe(503);
    expect(second.headers['retry-after']).toBeDefined();
    expect(second.json<{ message: string }>().message).toMatch(/another policy log is being verified/);
    expect(reading).toHaveLength(1);
    reading[0]?.();
    expect((await first).statusCode).toBe(200);
    const third = verify();
    while (reading.length === 1) await new Promise((r) => setImmediate(r));
    reading[1]?.();
    expect((await third).statusCode).toBe(200);
  });
});
