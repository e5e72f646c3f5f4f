// Round 7c adversarial review: after an unauthenticated ingest request is answered 401 in onRequest
// ("connection closed"), the client's connection must not go on to be read (a pipelined or
// kept-alive request on it answered), nor wait for the rest of an announced body. Probed on a real
// loopback listener. Both HELD on the code reviewed: kept as guards.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { EvidenceSources } from '../auth/evidence-source.ts';
import { KubeAuth } from '../auth/kube-auth.ts';
import { EventRecorder } from '../events.ts';
import type { KubeApi } from '../kube/client.ts';
import { createMetrics } from '../metrics.ts';
import type { SessionStore } from '../store/types.ts';
import { registerIngest } from './plugin.ts';
import { AJV_OPTIONS } from './schemas.ts';

const quiet = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };

function refusingApi(): KubeApi {
  const fail = (): Promise<never> => Promise.reject(new Error('unused'));
  return {
    create: <T>(): Promise<T> => Promise.resolve({ status: { authenticated: false } } as T),
    get: fail, list: fail, replace: fail, mergePatch: fail, remove: fail, watch: fail,
  };
}

describe('the connection after a 401 in onRequest', () => {
  let app: FastifyInstance;
  let port = 0;
  beforeAll(async () => {
    const api = refusingApi();
    app = Fastify({ bodyLimit: 16 * 1024 * 1024, ajv: { customOptions: AJV_OPTIONS }, requestTimeout: 30_000 });
    registerIngest(app, {
      store: () => ({}) as SessionStore, auth: new KubeAuth(api), sources: new EvidenceSources(api), audience: 'guarita-operator', metrics: createMetrics(false),
      events: new EventRecorder(api, { component: 't', instance: 't', log: quiet }), log: quiet, maxBatchRecords: 100,
      eventTarget: (namespace, _p, pod) => ({ apiVersion: 'v1', kind: 'Pod', name: pod, namespace }),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => { await app.close(); });

  it('(held, kept as a guard) a request pipelined after an unauthenticated one is not answered', async () => {
    const text = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => { got += d.toString('latin1'); });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      const req = (n: number) => `GET /v1/chains/ns%2Fpod%2F${n} HTTP/1.1\r\nHost: x\r\n\r\n`;
      s.write(req(1) + req(2) + req(3));
      setTimeout(() => { s.destroy(); resolve(got); }, 1500);
    });
    const answers = text.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    expect(answers.length).toBe(1);
  });

  it('(held, kept as a guard) a POST announcing 10 MiB without a token is answered 401 and its connection closed before the body arrives', async () => {
    const started = Date.now();
    const text = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => { got += d.toString('latin1'); });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      s.write(`POST /v1/chains/ns%2Fpod%2Fx/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n{"records":[`);
      setTimeout(() => { s.destroy(); resolve(`${got}(still open)`); }, 3000);
    });
    expect(text).toMatch(/^HTTP\/1\.1 401/);
    expect(text).not.toContain('(still open)');
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
