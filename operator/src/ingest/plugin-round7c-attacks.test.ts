// Round 7c adversarial review of the round 7 "work before authentication" fix (0c7db12): the ingest
// routes authenticate in onRequest, before Fastify reads and parses the body. Requests to the same
// listener that match no route with that method (unknown paths, OPTIONS/PUT/DELETE/PATCH on the
// ingest paths, POST on the read API's paths) still have their body read and JSON-parsed up to the
// body limit (16 MiB) before the 404 is sent, with no token at all. Each test here FAILED on the
// code it was written against.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { EvidenceSources } from '../auth/evidence-source.ts';
import { KubeAuth } from '../auth/kube-auth.ts';
import { EventRecorder } from '../events.ts';
import type { KubeApi } from '../kube/client.ts';
import { createMetrics } from '../metrics.ts';
import { registerReadApi } from '../read-api/plugin.ts';
import type { SessionStore } from '../store/types.ts';
import { answerUnroutedBeforeBody } from '../server.ts';
import { registerIngest } from './plugin.ts';
import { AJV_OPTIONS } from './schemas.ts';

const quiet = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };

/** An apiserver that authenticates no token (every TokenReview says no). */
function refusingApi(): KubeApi {
  const fail = (): Promise<never> => Promise.reject(new Error('unused'));
  return {
    create: <T>(): Promise<T> => Promise.resolve({ status: { authenticated: false } } as T),
    get: fail, list: fail, replace: fail, mergePatch: fail, remove: fail, watch: fail,
  };
}

describe('bodies read before authentication on the API listener', () => {
  let app: FastifyInstance;
  /** Per request id: whether its body was read and parsed (req.body set) by the time it was answered. */
  const parsed = new Map<string, boolean>();
  const store = {} as SessionStore;

  beforeAll(async () => {
    const api = refusingApi();
    const auth = new KubeAuth(api);
    // As createApiServer: the same body limit, the same AJV options.
    app = Fastify({ bodyLimit: 16 * 1024 * 1024, ajv: { customOptions: AJV_OPTIONS } });
    // As createApiServer does (its TLS listener is the only difference).
    answerUnroutedBeforeBody(app);
    // Instrumentation only (not part of the code under test): was the body parsed for this request?
    app.addHook('onResponse', (req: FastifyRequest, _reply, done) => { parsed.set(String(req.headers['x-probe']), req.body !== undefined); done(); });
    registerIngest(app, {
      store: () => store, auth, sources: new EvidenceSources(api), audience: 'guarita-operator', metrics: createMetrics(false),
      events: new EventRecorder(api, { component: 't', instance: 't', log: quiet }), log: quiet, maxBatchRecords: 100,
      eventTarget: (namespace, _p, pod) => ({ apiVersion: 'v1', kind: 'Pod', name: pod, namespace }),
    });
    registerReadApi(app, { store: () => store, auth, metrics: createMetrics(false), anchored: () => undefined });
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
  });

  // 4 MiB of valid JSON: what an unauthenticated client makes the operator buffer and parse.
  const big = JSON.stringify({ records: [{ pad: 'x'.repeat(4 * 1024 * 1024) }] });
  const send = (method: 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS', url: string, probe: string) =>
    app.inject({ method, url, payload: big, headers: { 'content-type': 'application/json', 'x-probe': probe } });

  it('(held, kept as a guard) POST /v1/chains/:id/records without a token: 401, body not read', async () => {
    const res = await send('POST', '/v1/chains/ns%2Fpod%2Fx/records', 'held');
    expect(res.statusCode).toBe(401);
    expect(parsed.get('held')).toBe(false);
  });

  it('no request without a token has its body parsed: unknown paths, other methods on the ingest paths, POST on the read API', async () => {
    const probes: [Parameters<typeof send>[0], string][] = [
      ['POST', '/v1/chains/ns%2Fpod%2Fx/recordz'],
      ['POST', '/v1/anything'],
      ['PUT', '/v1/chains'],
      ['DELETE', '/v1/chains/ns%2Fpod%2Fx'],
      ['OPTIONS', '/v1/chains/ns%2Fpod%2Fx/records'],
      ['PATCH', '/v1/chains/ns%2Fpod%2Fx'],
      ['POST', '/v1/namespaces/shop/export'],
    ];
    const results: Record<string, { status: number; bodyParsed: boolean | undefined }> = {};
    for (const [method, url] of probes) {
      const probe = `${method} ${url}`;
      const res = await send(method, url, probe);
      results[probe] = { status: res.statusCode, bodyParsed: parsed.get(probe) };
    }
    const before = Object.entries(results).filter(([, r]) => r.bodyParsed === true).map(([p, r]) => `${p} -> ${r.status}`);
    expect(before).toEqual([]);
  });

  it('malformed JSON to an unknown path is answered as a parse error (400), i.e. the body was parsed, not 404/401', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/nope', payload: '{"records": [', headers: { 'content-type': 'application/json', 'x-probe': 'bad' } });
    expect(res.statusCode).not.toBe(400);
  });
});
