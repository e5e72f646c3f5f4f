import { afterEach, describe, expect, it } from '@jest/globals';
import { request } from 'undici';
import { startAdmin } from './admin.ts';
import { Metrics } from './metrics.ts';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function admin(ready: boolean): Promise<string> {
  const a = await startAdmin({
    host: '127.0.0.1', port: 0, metrics: new Metrics({ defaultMetrics: false }),
    readiness: () => ({ ready, reasons: ready ? [] : ['AccessPolicy customers-api not synced yet'] }),
    details: () => ({ chainId: 'ns/pod/abc', spoolPending: 3 }),
  });
  close = () => a.close();
  return `http://127.0.0.1:${a.port}`;
}

async function get(url: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const res = await request(url, { method });
  return { status: res.statusCode, type: String(res.headers['content-type']), body: await res.body.text() };
}

describe('admin server', () => {
  it('answers /healthz, and /readyz with the reasons it is not ready', async () => {
    const base = await admin(false);
    expect(await get(`${base}/healthz`)).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    const readyz = await get(`${base}/readyz`);
    expect(readyz.status).toBe(503);
    expect(JSON.parse(readyz.body)).toEqual({ status: 'not ready', reasons: ['AccessPolicy customers-api not synced yet'], chainId: 'ns/pod/abc', spoolPending: 3 });
  });

  it('serves Prometheus metrics, and names the endpoints on a wrong path or method', async () => {
    const base = await admin(true);
    expect((await get(`${base}/readyz`)).status).toBe(200);
    const metrics = await get(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain');
    expect(metrics.body).toContain('guarita_sidecar_requests_total');
    expect(await get(`${base}/nope`)).toMatchObject({ status: 404, body: expect.stringContaining('/healthz, /readyz, /metrics') });
    expect(await get(`${base}/readyz`, 'POST')).toMatchObject({ status: 405, body: expect.stringContaining('GET only') });
  });
});
