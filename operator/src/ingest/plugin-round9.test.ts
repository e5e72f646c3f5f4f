// Round 9 (evidence path): what the ingest API refuses before the store since the round 9 review.
// - Finding 2: a record's policy must be one governing the sending pod (its guarita.io/policies,
//   narrowed by the proxy's GUARITA_TARGETS): else 422 wrong-policy, nothing of the batch stored.
// - Finding 3: the same check keeps made-up policy names out of the store; a pod registers at
//   most --max-chains-per-pod chains (429 too-many-chains).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { generateSigningKey } from '../../../core/recording/index.ts';
import { EvidenceSources } from '../auth/evidence-source.ts';
import { KubeAuth } from '../auth/kube-auth.ts';
import { EventRecorder } from '../events.ts';
import { KubeError, type KubeApi } from '../kube/client.ts';
import { createMetrics } from '../metrics.ts';
import { FileStore } from '../store/file-store.ts';
import { fakeSidecar, type FakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { registerIngest } from './plugin.ts';
import { AJV_OPTIONS } from './schemas.ts';

const quiet = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };

interface PodSpec { uid: string; annotations: Record<string, string>; targets?: string }

/**
 * TokenReview: "sa:shop:agent:<pod>[:<uid>]" is bound to <pod> (uid default uid-<pod>). Namespace
 * shop is opted in; its pods are injected proxies as `pods` describes them (mutable: an annotation
 * edited, a pod recreated).
 */
function fakeApi(pods: Map<string, PodSpec>, events: unknown[]): KubeApi {
  const fail = (): Promise<never> => Promise.reject(new Error('unused'));
  return {
    create: <T>(path: string, body: unknown): Promise<T> => {
      if (!path.includes('tokenreviews')) {
        events.push(body);
        return Promise.resolve({} as T);
      }
      const [kind, ns, sa, pod = 'pod-1', uid = `uid-${pod}`] = (body as { spec: { token: string } }).spec.token.split(':');
      if (kind !== 'sa') return Promise.resolve({ status: { authenticated: false } } as T);
      const extra = { 'authentication.kubernetes.io/pod-name': [pod], 'authentication.kubernetes.io/pod-uid': [uid] };
      return Promise.resolve({ status: { authenticated: true, audiences: ['guarita-operator'], user: { username: `system:serviceaccount:${ns}:${sa}`, groups: [], extra } } } as T);
    },
    get: <T>(path: string): Promise<T> => {
      if (path === '/api/v1/namespaces/shop') return Promise.resolve({ metadata: { labels: { 'guarita.io/injection': 'enabled' } } } as T);
      const name = /^\/api\/v1\/namespaces\/shop\/pods\/([^/]+)$/.exec(path)?.[1];
      const pod = name === undefined ? undefined : pods.get(name);
      if (pod === undefined) return Promise.reject(new KubeError(404, 'NotFound', `${path} not found`));
      const env = pod.targets === undefined ? [] : [{ name: 'GUARITA_TARGETS', value: pod.targets }];
      return Promise.resolve({
        metadata: { uid: pod.uid, annotations: { 'guarita.io/status': 'injected', ...pod.annotations } },
        spec: { containers: [{ name: 'agent' }, { name: 'guarita-proxy', env }] },
      } as T);
    },
    list: fail, replace: fail, mergePatch: fail, remove: fail, watch: fail,
  };
}

describe('ingest round 9: record policies and chain registrations', () => {
  let dir: string;
  let store: FileStore;
  let app: FastifyInstance;
  const events: unknown[] = [];
  const pods = new Map<string, PodSpec>();
  const metrics = createMetrics(false);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'guarita-ingest-r9-'));
    store = await FileStore.open({ dir, key: generateSigningKey(), segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet });
    const api = fakeApi(pods, events);
    app = Fastify({ ajv: { customOptions: AJV_OPTIONS } });
    registerIngest(app, {
      // No cache: each batch sees the pod as the test leaves it.
      store: () => store, auth: new KubeAuth(api), sources: new EvidenceSources(api, { positiveTtlMs: 0, negativeTtlMs: 0 }), audience: 'guarita-operator',
      metrics, events: new EventRecorder(api, { component: 't', instance: 't', log: quiet }), log: quiet, maxBatchRecords: 500, maxChainsPerPod: 3,
      eventTarget: (namespace, _p, pod) => ({ apiVersion: 'v1', kind: 'Pod', name: pod, namespace }),
    });
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (url: string, token: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object, headers: { authorization: `Bearer ${token}` } });
  const tokenOf = (pod: string, uid?: string): string => `sa:shop:agent:${pod}${uid === undefined ? '' : `:${uid}`}`;
  const records = (sc: FakeSidecar): string => `/v1/chains/${encodeURIComponent(sc.chainId)}/records`;

  /** A proxy of `pod` (annotated with `policies`), its chain registered. */
  async function proxy(pod: string, policies: string | undefined, targets?: string[]): Promise<FakeSidecar> {
    pods.set(pod, {
      uid: `uid-${pod}`, annotations: policies === undefined ? {} : { 'guarita.io/policies': policies },
      ...(targets === undefined ? {} : { targets: JSON.stringify(targets.map((policy) => ({ policy, target: policy }))) }),
    });
    const sc = fakeSidecar('shop', pod);
    const reg = await post('/v1/chains', tokenOf(pod), { chainId: sc.chainId, namespace: 'shop', pod, publicJwk: sc.key.publicJwk });
    expect(reg.statusCode).toBe(201);
    return sc;
  }

  const policyDirs = (): string[] => { try { return readdirSync(join(dir, 'policies', 'shop')).sort(); } catch { return []; } };

  it('stores records under a policy governing the pod; refuses another policy of the namespace (422 wrong-policy, nothing stored, alerted)', async () => {
    const sc = await proxy('orders-agent', 'orders-db');
    const own = sc.batch(2, { policy: 'orders-db' });
    expect((await post(records(sc), tokenOf('orders-agent'), own)).json()).toMatchObject({ seq: 2 });
    // Two more of its own, then one "under payments-db": the whole batch is refused.
    const mixed = sc.batch(3, (i) => ({ policy: i === 2 ? 'payments-db' : 'orders-db', command: 'SELECT card_number FROM cards' }));
    const res = await post(records(sc), tokenOf('orders-agent'), mixed);
    expect([res.statusCode, res.json()]).toEqual([422, expect.objectContaining({
      problem: 'wrong-policy', index: 2, seq: 5, message: expect.stringMatching(/record #3 \(seq 5\): wrong-policy: .*"payments-db".*governed by orders-db/),
    })]);
    expect(store.getChain(sc.chainId)?.seq).toBe(2);
    expect(policyDirs()).toEqual(['orders-db']);
    expect(store.policyChain('shop', 'payments-db')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 20));
    expect(events.some((e) => (e as { reason?: string; message?: string }).reason === 'ChainIntegrity' && String((e as { message?: string }).message).includes('wrong-policy'))).toBe(true);
    expect(await metrics.registry.metrics()).toMatch(/guarita_chain_integrity_failures_total\{problem="wrong-policy",namespace="shop"\} 1/);
  });

  it('refuses made-up policy names before the store: no directory, segment or open file per name', async () => {
    const sc = await proxy('fanout-agent', 'orders-db');
    const before = policyDirs();
    const b = sc.batch(300, (i) => ({ policy: `made-up-${i}` }));
    const res = await post(records(sc), tokenOf('fanout-agent'), b);
    expect([res.statusCode, res.json().problem, res.json().index]).toEqual([422, 'wrong-policy', 0]);
    expect(policyDirs()).toEqual(before);
  });

  it('takes no record from a pod without the guarita.io/policies annotation (fail closed)', async () => {
    const sc = await proxy('unannotated', undefined);
    const res = await post(records(sc), tokenOf('unannotated'), sc.batch(1));
    expect([res.statusCode, res.json().problem, res.json().message]).toEqual([422, 'wrong-policy', expect.stringContaining('no guarita.io/policies annotation')]);
  });

  it('an annotation edited after admission widens nothing the proxy\'s GUARITA_TARGETS does not name', async () => {
    const sc = await proxy('edited', 'orders-db,payments-db', ['orders-db']);
    const foreign = await post(records(sc), tokenOf('edited'), sc.batch(1, { policy: 'payments-db' }));
    expect([foreign.statusCode, foreign.json().problem]).toEqual([422, 'wrong-policy']);
    const sc2 = await proxy('edited-2', 'orders-db,payments-db', ['orders-db', 'payments-db']);
    expect((await post(records(sc2), tokenOf('edited-2'), sc2.batch(1, { policy: 'payments-db' }))).statusCode).toBe(200);
  });

  it('follows the annotation as the pod has it now (a policy removed is refused from the next verdict)', async () => {
    const sc = await proxy('narrowed', 'orders-db,customers-api');
    expect((await post(records(sc), tokenOf('narrowed'), sc.batch(1, { policy: 'customers-api' }))).statusCode).toBe(200);
    pods.get('narrowed')!.annotations['guarita.io/policies'] = 'orders-db';
    const res = await post(records(sc), tokenOf('narrowed'), sc.batch(1, { policy: 'customers-api' }));
    expect([res.statusCode, res.json().problem]).toEqual([422, 'wrong-policy']);
  });

  it('caps the chains one pod registers (429 too-many-chains); re-registering, other pods and a recreated pod are not held back', async () => {
    pods.set('greedy', { uid: 'uid-greedy', annotations: { 'guarita.io/policies': 'orders-db' } });
    const register = (sc: FakeSidecar, token = tokenOf('greedy')) => post('/v1/chains', token, { chainId: sc.chainId, namespace: 'shop', pod: 'greedy', publicJwk: sc.key.publicJwk });
    const chains = [0, 1, 2].map(() => fakeSidecar('shop', 'greedy'));
    for (const sc of chains) expect((await register(sc)).statusCode).toBe(201);
    const fourth = await register(fakeSidecar('shop', 'greedy'));
    expect([fourth.statusCode, fourth.json().message]).toEqual([429, expect.stringMatching(/pod shop\/greedy registered 3 chains already \(--max-chains-per-pod\)/)]);
    // Its registered chains still answer, and still take records.
    expect((await register(chains[1]!)).statusCode).toBe(200);
    expect((await post(records(chains[2]!), tokenOf('greedy'), chains[2]!.batch(1))).statusCode).toBe(200);
    // The same pod name recreated (a StatefulSet's): a new UID, a new count.
    pods.set('greedy', { uid: 'uid-greedy-2', annotations: { 'guarita.io/policies': 'orders-db' } });
    expect((await register(fakeSidecar('shop', 'greedy'), tokenOf('greedy', 'uid-greedy-2'))).statusCode).toBe(201);
    // The old pod's token no longer passes (UID mismatch), whatever its count.
    expect((await register(fakeSidecar('shop', 'greedy'))).statusCode).toBe(403);
  });

  it('40 registrations sent at once by one pod pass a cap of 3 only three times (round 9b: all passed)', async () => {
    pods.set('burst', { uid: 'uid-burst', annotations: { 'guarita.io/policies': 'orders-db' } });
    const register = (sc: FakeSidecar): ReturnType<typeof post> => post('/v1/chains', 'sa:shop:agent:burst', { chainId: sc.chainId, namespace: 'shop', pod: 'burst', publicJwk: sc.key.publicJwk });
    const answers = await Promise.all(Array.from({ length: 40 }, () => register(fakeSidecar('shop', 'burst'))));
    const created = answers.filter((a) => a.statusCode === 201).length;
    const refused = answers.filter((a) => a.statusCode === 429).length;
    // The cap is 3: at most 3 chains may be created, the rest refused with 429.
    expect({ created, refused }).toEqual({ created: 3, refused: 37 });
  });

  it('registrations sent one after another stop at the cap too', async () => {
    pods.set('serial', { uid: 'uid-serial', annotations: { 'guarita.io/policies': 'orders-db' } });
    const register = (sc: FakeSidecar): ReturnType<typeof post> => post('/v1/chains', 'sa:shop:agent:serial', { chainId: sc.chainId, namespace: 'shop', pod: 'serial', publicJwk: sc.key.publicJwk });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await register(fakeSidecar('shop', 'serial'))).statusCode);
    expect(codes).toEqual([201, 201, 201, 429, 429]);
  });
});
