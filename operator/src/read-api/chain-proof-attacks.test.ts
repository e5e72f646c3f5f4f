// Round 5 review: GET /v1/namespaces/{ns}/policies/{name}/chain/proof?from=&to= builds the store
// log's growth from link #from to link #to, reading the policy's store log from its start and
// holding every link hash between the two in a Merkle tree (about 65 bytes a link). Anyone the
// namespace's RBAC lets get sessions chooses from and to: a proof from link 1 to the newest of a
// store log of millions of links, asked several times at once, held the operator (limit 512 MiB,
// the one process ingesting every sidecar's evidence) past its memory. The route bounds the
// growth one proof spans and builds one proof at a time; bad parameters and callers without get
// are answered before the store is touched.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Fastify, { type FastifyInstance } from 'fastify';
import type { KubeAuth } from '../auth/kube-auth.ts';
import { createMetrics } from '../metrics.ts';
import type { SessionStore } from '../store/types.ts';
import { MAX_PROOF_GROWTH, registerReadApi } from './plugin.ts';

/** Proofs the store was asked for, and how the test lets each finish. */
const asked: { ns: string; policy: string; from: number; to: number; finish: (v: unknown) => void }[] = [];

const store = {
  storeProof: (ns: string, policy: string, from: number, to: number) => new Promise((resolve) => { asked.push({ ns, policy, from, to, finish: resolve }); }),
} as unknown as SessionStore;

/** Tokens "user:NAME": audrey may get sessions in shop only; eve nowhere. */
const auth = {
  authenticate: (token: string) => Promise.resolve(token.startsWith('user:') ? { ok: true, identity: { username: token.slice(5), groups: [] } } : { ok: false, reason: 'invalid token' }),
  allowed: (identity: { username: string }, verb: string, namespace: string) => Promise.resolve(identity.username === 'audrey' && verb === 'get' && namespace === 'shop'),
} as unknown as KubeAuth;

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  registerReadApi(app, { store: () => store, auth, metrics: createMetrics(false), anchored: () => undefined });
  await app.ready();
});

afterAll(() => app.close());

function get(query: string, token = 'user:audrey', ns = 'shop') {
  return app.inject({ method: 'GET', url: `/v1/namespaces/${ns}/policies/orders/chain/proof?${query}`, headers: { authorization: `Bearer ${token}` } });
}

describe('the store-log proof route', () => {
  it.each([
    ['from=-1&to=5', /from: expected a store link number/], ['from=0&to=5', /from: expected a store link number/], ['from=1.5&to=5', /from: expected/],
    ['from=1e3&to=5000', /from: expected/], ['from=0x10&to=50', /from: expected/], ['from=&to=5', /from: expected/], ['to=5', /from: expected/],
    ['from=1&to=99999999999999999', /to: expected/], ['from=1&to=9007199254740993', /to: expected/], ['from=7&to=3', /from \(7\) must be smaller than to \(3\)/],
    ['from=1&from=2&to=5', /from: expected/], ['from=%201&to=5', /from: expected/],
  ])('%s: 400 naming the parameter, the store is not read', async (query, message) => {
    asked.length = 0;
    const res = await get(query);
    expect(res.statusCode).toBe(400);
    expect(res.json<{ message: string }>().message).toMatch(message);
    expect(asked).toEqual([]);
  });

  it('a growth larger than one proof may span: 400 naming the bound and --anchor, the store is not read', async () => {
    asked.length = 0;
    const res = await get(`from=1&to=${MAX_PROOF_GROWTH + 2}`);
    expect(res.statusCode).toBe(400);
    expect(res.json<{ message: string }>().message).toMatch(/spans more than 1000000 store links, .*--anchor/);
    expect(asked).toEqual([]);
  });

  it('one proof at a time: another asked meanwhile gets 503 with Retry-After, then is served', async () => {
    asked.length = 0;
    const first = get('from=3&to=10');
    while (asked.length === 0) await new Promise((r) => setImmediate(r));
    const second = await get('from=3&to=10');
    expect(second.statusCode).toBe(503);
    expect(second.headers['retry-after']).toBeDefined();
    expect(second.json<{ message: string }>().message).toMatch(/another store-log proof is being built/);
    expect(asked).toHaveLength(1);
    asked[0]?.finish({ policy: 'orders', from: 3, records: 10 });
    expect((await first).statusCode).toBe(200);
    const third = get('from=3&to=10');
    while (asked.length === 1) await new Promise((r) => setImmediate(r));
    asked[1]?.finish('store link #10 of policy orders is not a stored store checkpoint');
    expect((await third).statusCode).toBe(404);
  });

  it('callers without get on sessions in the namespace, or without a valid token, are refused before the store is read', async () => {
    asked.length = 0;
    expect((await get('from=1&to=2', 'user:eve')).statusCode).toBe(403);
    expect((await get('from=1&to=2', 'user:audrey', 'other')).statusCode).toBe(403);
    expect((await get('from=1&to=2', 'garbage')).statusCode).toBe(401);
    expect((await get('from=1&to=2', 'user:audrey', 'Shop')).statusCode).toBe(400);
    expect(asked).toEqual([]);
  });
});
