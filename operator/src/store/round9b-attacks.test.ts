// Round 9b review (adversarial) of the round 9 evidence fixes.
// Finding A: --max-chains-per-pod is checked before the (awaited, fsync'd) registration and counted
// after it, so registrations sent together all pass the check: one pod's token registers as many
// chains as it sends at once, and the cap only holds for registrations sent one after another.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { generateSigningKey, SignedChainWriter } from '../../../core/recording/index.ts';
import { EvidenceSources } from '../auth/evidence-source.ts';
import { KubeAuth } from '../auth/kube-auth.ts';
import { EventRecorder } from '../events.ts';
import { KubeError, type KubeApi } from '../kube/client.ts';
import { createMetrics } from '../metrics.ts';
import { FileStore } from './file-store.ts';
import { event, fakeSidecar, type FakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { registerIngest } from '../ingest/plugin.ts';
import { AJV_OPTIONS } from '../ingest/schemas.ts';
import type { SessionEvent } from '../../../core/recording/session-event.ts';

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

describe('round 9b: the chain cap under concurrent registrations', () => {
  let dir: string;
  let store: FileStore;
  let app: FastifyInstance;
  const events: unknown[] = [];
  const pods = new Map<string, PodSpec>();
  const metrics = createMetrics(false);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'guarita-ingest-r9b-'));
    store = await FileStore.open({ dir, key: generateSigningKey(), segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet });
    const api = fakeApi(pods, events);
    app = Fastify({ ajv: { customOptions: AJV_OPTIONS } });
    registerIngest(app, {
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

  it('FINDING A: 40 registrations sent at once by one pod all pass a cap of 3', async () => {
    pods.set('burst', { uid: 'uid-burst', annotations: { 'guarita.io/policies': 'orders-db' } });
    const register = (sc: FakeSidecar) => post('/v1/chains', 'sa:shop:agent:burst', { chainId: sc.chainId, namespace: 'shop', pod: 'burst', publicJwk: sc.key.publicJwk });
    const answers = await Promise.all(Array.from({ length: 40 }, () => register(fakeSidecar('shop', 'burst'))));
    const created = answers.filter((a) => a.statusCode === 201).length;
    const refused = answers.filter((a) => a.statusCode === 429).length;
    // The cap is 3: at most 3 chains may be created, the rest refused with 429.
    expect({ created, refused }).toEqual({ created: 3, refused: 37 });
  });

  it('control: sent one after another, the cap holds', async () => {
    pods.set('serial', { uid: 'uid-serial', annotations: { 'guarita.io/policies': 'orders-db' } });
    const register = (sc: FakeSidecar) => post('/v1/chains', 'sa:shop:agent:serial', { chainId: sc.chainId, namespace: 'shop', pod: 'serial', publicJwk: sc.key.publicJwk });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await register(fakeSidecar('shop', 'serial'))).statusCode);
    expect(codes).toEqual([201, 201, 201, 429, 429]);
  });
});

// Finding B: the downgrade rule (a format 1 record after format 2 ones, 422 downgrade) rests on
// in-memory facts rebuilt from the segments at open (chain.formatTwo, chain.newest). Once retention
// has removed every segment of a format 2 chain and the operator restarts (any restart, a new
// leader), the chain is taken for format 1 again: the same chain's next format 1 record is stored.
describe('round 9b: the downgrade rule after retention and a restart', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  async function expiredFormatTwoChain(restart: boolean): Promise<{ result: Awaited<ReturnType<FileStore['append']>>; store: FileStore }> {
    const dir = mkdtempSync(join(tmpdir(), 'guarita-r9b-downgrade-'));
    dirs.push(dir);
    const key = generateSigningKey();
    const opts = { dir, key, segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet };
    let store = await FileStore.open(opts);
    const sc = fakeSidecar('shop', 'agent-old');
    await store.registerChain(sc.registration());
    const b = sc.batch(3);
    expect((await store.append(sc.chainId, b.records, b.checkpoint)).ok).toBe(true);
    const last = b.records[2]!;
    // Ten days later, one day of retention: every segment of the policy expires.
    const outcomes = await store.applyRetention(() => 86_400_000, Date.now() + 10 * 86_400_000);
    expect(outcomes.length).toBeGreaterThan(0);
    if (restart) {
      await store.close();
      store = await FileStore.open(opts);
    }
    // The same chain (its key, its head), now writing format 1: records signed one by one, no checkpoint.
    const v1 = new SignedChainWriter<SessionEvent>(sc.chainId, sc.key, { seq: last.seq, head: last.hash });
    const record = v1.append(event('shop', 'agent-old'));
    return { result: await store.append(sc.chainId, [record]), store };
  }

  it('control: without a restart the format 1 record is refused (422 downgrade)', async () => {
    const { result, store } = await expiredFormatTwoChain(false);
    await store.close();
    expect(result).toMatchObject({ ok: false, problem: 'downgrade' });
  });

  it('FINDING B: after the restart the same format 1 record is stored', async () => {
    const { result, store } = await expiredFormatTwoChain(true);
    await store.close();
    expect(result).toMatchObject({ ok: false, problem: 'downgrade' });
  });
});
