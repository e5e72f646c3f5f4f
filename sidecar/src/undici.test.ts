import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, Pool, request } from './undici.ts';

describe("undici without its index (sidecar/src/undici.ts)", () => {
  let server: Server;
  let origin: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => res.end(JSON.stringify({ method: req.method, url: req.url, body })));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => { await new Promise((r) => server.close(r)); });

  it('request(url) as the index has it: origin and path with query from the URL, GET by default, PUT with a body, on the given dispatcher', async () => {
    const agent = new Agent();
    try {
      const get = await request(`${origin}/a/b?x=1&y=%20`, { dispatcher: agent });
      expect(await get.body.json()).toEqual({ method: 'GET', url: '/a/b?x=1&y=%20', body: '' });
      const put = await request(new URL(`${origin}/c`), { dispatcher: agent, body: 'payload' });
      expect(await put.body.json()).toEqual({ method: 'PUT', url: '/c', body: 'payload' });
      const post = await request(`${origin}/d`, { dispatcher: agent, method: 'POST', body: 'x' });
      expect(await post.body.json()).toEqual({ method: 'POST', url: '/d', body: 'x' });
    } finally {
      await agent.close();
    }
  });

  it('without a dispatcher: the global one', async () => {
    const res = await request(`${origin}/global`);
    expect(await res.body.json()).toEqual({ method: 'GET', url: '/global', body: '' });
  });

  it("dispatchers carry the request API (the index's Object.assign onto Dispatcher.prototype)", async () => {
    const pool = new Pool(origin, { connections: 1 });
    try {
      const res = await pool.request({ path: '/pool', method: 'GET' });
      expect(res.statusCode).toBe(200);
      expect(await res.body.json()).toEqual({ method: 'GET', url: '/pool', body: '' });
    } finally {
      await pool.close();
    }
  });
});
