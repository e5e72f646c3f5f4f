import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { generateSigningKey } from '../../../core/recording/index.ts';
import { signChainCheckpoint } from '../../../core/recording/chain-checkpoint.ts';
import { EvidenceSources } from '../auth/evidence-source.ts';
import { KubeAuth } from '../auth/kube-auth.ts';
import { EventRecorder } from '../events.ts';
import { KubeError, type KubeApi } from '../kube/client.ts';
import { createMetrics } from '../metrics.ts';
import { registerReadApi } from '../read-api/plugin.ts';
import { FileStore } from '../store/file-store.ts';
import { fakeSidecar } from '../../../e2e/support/store-testkit.ts';
import type { SessionStore } from '../store/types.ts';
import { registerIngest } from './plugin.ts';
import { AJV_OPTIONS } from './schemas.ts';

const quiet = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };

/**
 * TokenReview: "sa:<ns>:<name>[:<pod>]" tokens are service accounts bound to guarita-operator and to
 * pod <pod> (default pod-1), "unbound:<ns>:<name>" the same without a bound pod, "wrong-aud:..." to
 * another audience, "user:<name>" users. Namespaces shop and other are opted in, plain is not; pod-1
 * and pod-2 are injected proxies (for policy orders-db), bare is not.
 */
function fakeApi(events: unknown[]): KubeApi {
  const review = (token: string, audiences: string[] | undefined): unknown => {
    const [kind, a, b, pod = 'pod-1'] = token.split(':');
    const extra = { 'authentication.kubernetes.io/pod-name': [pod], 'authentication.kubernetes.io/pod-uid': [`uid-${pod}`] };
    if (kind === 'sa') return { authenticated: true, audiences: ['guarita-operator'], user: { username: `system:serviceaccount:${a}:${b}`, groups: [], extra } };
    if (kind === 'unbound') return { authenticated: true, audiences: ['guarita-operator'], user: { username: `system:serviceaccount:${a}:${b}`, groups: [] } };
    if (kind === 'wrong-aud') return audiences === undefined ? { authenticated: true, user: { username: 'x' } } : { authenticated: false, error: 'token audiences ["other"] is invalid for the target audiences ["guarita-operator"]' };
    if (kind === 'user') return { authenticated: true, audiences: audiences ?? ['https://kubernetes.default.svc'], user: { username: a, groups: a === 'audrey' ? ['auditors'] : [] } };
    return { authenticated: false };
  };
  const fail = (): Promise<never> => Promise.reject(new Error('unused'));
  return {
    create: <T>(path: string, body: unknown): Promise<T> => {
      const b = body as { spec: { token: string; audiences?: string[]; groups?: string[] } };
      if (path.includes('tokenreviews')) return Promise.resolve({ status: review(b.spec.token, b.spec.audiences) } as T);
      if (path.includes('subjectaccessreviews')) return Promise.resolve({ status: { allowed: (b.spec.groups ?? []).includes('auditors') } } as T);
      events.push(body);
      return Promise.resolve({} as T);
    },
    get: <T>(path: string): Promise<T> => {
      const ns = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path)?.[1];
      if (ns !== undefined) return Promise.resolve({ metadata: { labels: ns === 'plain' ? {} : { 'guarita.io/injection': 'enabled' } } } as T);
      const pod = /^\/api\/v1\/namespaces\/[^/]+\/pods\/([^/]+)$/.exec(path)?.[1];
      if (pod === undefined || pod === 'gone') return Promise.reject(new KubeError(404, 'NotFound', `${path} not found`));
      const proxy = pod === 'bare' ? [] : [{ name: 'guarita-proxy' }];
      return Promise.resolve({ metadata: { uid: `uid-${pod}`, annotations: pod === 'bare' ? {} : { 'guarita.io/status': 'injected', 'guarita.io/policies': 'orders-db' } }, spec: { containers: [{ name: 'agent' }, ...proxy] } } as T);
    },
    list: fail, replace: fail, mergePatch: fail, remove: fail, watch: fail,
  };
}

describe('ingest and read API handlers', () => {
  let dir: string;
  let store: FileStore;
  let serving: SessionStore | undefined;
  let app: FastifyInstance;
  const events: unknown[] = [];
  const metrics = createMetrics(false);
  const sc = fakeSidecar('shop', 'pod-1');
  const sa = 'sa:shop:agent';
  const path = `/v1/chains/${encodeURIComponent(sc.chainId)}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'guarita-ingest-'));
    store = await FileStore.open({ dir, key: generateSigningKey(), segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet });
    serving = store;
    const api = fakeApi(events);
    const auth = new KubeAuth(api);
    app = Fastify({ ajv: { customOptions: AJV_OPTIONS } });
    registerIngest(app, {
      store: () => serving, auth, sources: new EvidenceSources(api), audience: 'guarita-operator', metrics, events: new EventRecorder(api, { component: 't', instance: 't', log: quiet }), log: quiet,
      maxBatchRecords: 100, namespaces: new Set(['shop', 'other', 'plain']), eventTarget: (namespace, _p, pod) => ({ apiVersion: 'v1', kind: 'Pod', name: pod, namespace }),
    });
    registerReadApi(app, { store: () => serving, auth, metrics, anchored: () => undefined });
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (url: string, token: string | undefined, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const get = (url: string, token: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  const registration = { chainId: sc.chainId, namespace: 'shop', pod: 'pod-1', publicJwk: sc.key.publicJwk };

  it('answers 503 with Retry-After while this replica has no store', async () => {
    serving = undefined;
    const res = await post('/v1/chains', sa, registration);
    serving = store;
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('2');
  });

  it('authenticates with the audience and authorizes by namespace', async () => {
    expect((await post('/v1/chains', undefined, registration)).statusCode).toBe(401);
    const wrong = await post('/v1/chains', 'wrong-aud:x', registration);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().message).toContain('audiences');
    expect((await post('/v1/chains', 'user:alice', registration)).statusCode).toBe(403);
    expect((await post('/v1/chains', 'sa:other:agent', registration)).statusCode).toBe(403);
    expect((await post('/v1/chains', 'sa:elsewhere:agent', { ...registration, namespace: 'elsewhere', chainId: 'elsewhere/pod-1/x' })).statusCode).toBe(403);
    // Only a token bound to the injected proxy of an opted-in namespace sends evidence.
    const unbound = await post('/v1/chains', 'unbound:shop:agent', registration);
    expect([unbound.statusCode, unbound.json().message]).toEqual([403, expect.stringMatching(/not bound to a pod/)]);
    const bare = await post('/v1/chains', 'sa:shop:agent:bare', { ...registration, pod: 'bare', chainId: 'shop/bare/x' });
    expect([bare.statusCode, bare.json().message]).toEqual([403, expect.stringMatching(/not injected by the guarita webhook/)]);
    const gone = await post('/v1/chains', 'sa:shop:agent:gone', { ...registration, pod: 'gone', chainId: 'shop/gone/x' });
    expect([gone.statusCode, gone.json().message]).toEqual([403, expect.stringMatching(/does not exist/)]);
    const plain = await post('/v1/chains', 'sa:plain:agent', { ...registration, namespace: 'plain', chainId: 'plain/pod-1/x' });
    expect([plain.statusCode, plain.json().message]).toEqual([403, expect.stringMatching(/namespace plain is not opted in/)]);
    const otherPod = await post('/v1/chains', 'sa:shop:agent:pod-2', registration);
    expect([otherPod.statusCode, otherPod.json().message]).toEqual([403, expect.stringMatching(/bound to pod pod-2, not pod-1/)]);
    expect((await post('/v1/chains', sa, { ...registration, chainId: 'shop/other-pod/x' })).statusCode).toBe(400);
    expect((await post('/v1/chains', sa, { ...registration, publicJwk: { kty: 'RSA' } })).statusCode).toBe(400);
  });

  it('registers (201, 200, 409) and reports the position', async () => {
    expect((await post('/v1/chains', sa, registration)).statusCode).toBe(201);
    expect((await post('/v1/chains', sa, registration)).json()).toMatchObject({ chainId: sc.chainId, seq: 0 });
    expect((await post('/v1/chains', sa, { ...registration, publicJwk: generateSigningKey().publicJwk })).statusCode).toBe(409);
    expect((await get(path, sa)).json()).toMatchObject({ seq: 0, keyId: sc.key.keyId });
    expect((await get(path, 'sa:other:agent')).statusCode).toBe(403);
    // Another injected proxy of the same namespace neither reads nor extends this pod's chain.
    const sibling = await get(path, 'sa:shop:agent:pod-2');
    expect([sibling.statusCode, sibling.json().message]).toEqual([403, expect.stringMatching(/belongs to pod pod-1, the token is bound to pod pod-2/)]);
    expect((await post(`${path}/records`, 'sa:shop:agent:pod-2', { records: fakeSidecar('shop', 'pod-1').next(1) })).statusCode).toBe(403);
    expect((await get(path, 'unbound:shop:agent')).statusCode).toBe(403);
    expect((await get(`/v1/chains/${encodeURIComponent('shop/nope/1')}`, sa)).statusCode).toBe(404);
  });

  it('maps store outcomes onto the contract and alerts on integrity failures', async () => {
    const records = sc.next(4);
    expect((await post(`${path}/records`, sa, { records: records.slice(0, 2), checkpoint: sc.checkpointAt(2) })).json()).toEqual({ seq: 2, head: records[1]!.hash });
    const gap = await post(`${path}/records`, sa, { records: records.slice(3), checkpoint: sc.checkpointAt(4) });
    expect(gap.statusCode).toBe(409);
    expect(gap.json()).toMatchObject({ problem: 'gap', expectedSeq: 3 });
    const forged = await post(`${path}/records`, sa, { records: records.slice(2), checkpoint: signChainCheckpoint(sc.chainId, 4, Buffer.alloc(32), generateSigningKey(), new Date()) });
    expect([forged.statusCode, forged.json()]).toEqual([422, expect.objectContaining({ problem: 'root-mismatch', index: 1, seq: 4, message: expect.stringContaining('not the root of the records') })]);
    const missing = await post(`${path}/records`, sa, { records: records.slice(2) });
    expect([missing.statusCode, missing.json().problem]).toEqual([422, 'checkpoint-missing']);
    const coerced = await post(`${path}/records`, sa, { records: [{ ...records[2]!, seq: '3' }], checkpoint: sc.checkpointAt(3) });
    expect(coerced.statusCode).toBe(400);
    // A record claiming both formats, a checkpoint that is not a string or too large: refused by shape.
    expect((await post(`${path}/records`, sa, { records: [{ ...records[2]!, sig: 'c2ln' }], checkpoint: sc.checkpointAt(3) })).statusCode).toBe(400);
    expect((await post(`${path}/records`, sa, { records: records.slice(2), checkpoint: { size: 4 } })).statusCode).toBe(400);
    expect((await post(`${path}/records`, sa, { records: records.slice(2), checkpoint: 'x'.repeat(17 * 1024) })).statusCode).toBe(400);
    expect((await post(`${path}/records`, sa, { records: records.slice(2), checkpoint: sc.checkpointAt(4) })).json()).toMatchObject({ seq: 4 });
    await new Promise((r) => setTimeout(r, 20));
    expect(events.filter((e) => (e as { reason?: string }).reason === 'ChainIntegrity')).toHaveLength(3);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/guarita_chain_integrity_failures_total\{problem="gap",namespace="shop"\} 1/);
    expect(text).toMatch(/guarita_ingest_records_total\{result="stored"\} 4/);
  });

  it('lets the read API decide by SubjectAccessReview', async () => {
    expect((await get('/v1/namespaces/shop/sessions', 'user:eve')).statusCode).toBe(403);
    expect((await get('/v1/namespaces/shop/sessions', 'nonsense')).statusCode).toBe(401);
    const list = await get('/v1/namespaces/shop/sessions?since=1h', 'user:audrey');
    expect(list.json().items).toMatchObject([{ sessionId: 'session-1', commands: 4, records: 4 }]);
    expect((await get('/v1/namespaces/shop/sessions?since=yesterday-ish', 'user:audrey')).statusCode).toBe(400);
    expect((await get('/v1/namespaces/shop/sessions/session-1', 'user:audrey')).json().records).toHaveLength(4);
    expect((await get('/v1/namespaces/shop/sessions/none', 'user:audrey')).statusCode).toBe(404);
    const exported = await get('/v1/namespaces/shop/export', 'user:audrey');
    expect(exported.headers['content-type']).toBe('application/x-ndjson');
    expect(exported.body.trim().split('\n').map((l) => JSON.parse(l) as { seq?: number }).filter((l) => l.seq !== undefined)).toHaveLength(4);
    // Four record links and the two batches' checkpoint links.
    expect((await get('/v1/namespaces/shop/policies/orders-db/chain', 'user:audrey')).json()).toMatchObject({ records: 6, chainId: 'store/shop/orders-db' });
    expect((await get('/v1/namespaces/shop/policies/orders-db/verify', 'user:audrey')).json()).toMatchObject({ ok: true, count: 6 });
    expect((await get('/v1/namespaces/shop/policies/nope/chain', 'user:audrey')).statusCode).toBe(404);
  });
});
