// Round 11b adversarial review of the API listener's connection bounds (connection-limits.ts).
// The global bound is shared by everyone, with nothing reserved and no eviction: a handful of
// addresses, each under its per-client bound, hold every slot with keep-alive connections that
// sent one unauthenticated request (/healthz), and honest sidecars are refused on accept.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createCa, mintServingCert, writePemFiles } from '../../e2e/harness/certs.ts';
import { createMetrics } from './metrics.ts';
import { createApiServer } from './server.ts';

const FIRST_REQUEST_MS = 300;
const PER_CLIENT = 4;
const MAX = 12; // the defaults are 1024 and 64: 16 addresses
let dir: string;
let app: FastifyInstance;
let port: number;
const open: Socket[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'guarita-conn11b-'));
  const ca = await createCa();
  const files = writePemFiles(dir, 'serving', await mintServingCert(ca, { dnsNames: ['localhost'], ips: ['127.0.0.1'] }));
  app = createApiServer({
    certFile: files.certFile, keyFile: files.keyFile, bodyLimit: 1024, logger: pino({ level: 'silent' }), metrics: createMetrics(false),
    connections: { maxConnections: MAX, maxPerClient: PER_CLIENT, handshakeMs: 300, firstRequestMs: FIRST_REQUEST_MS },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
afterEach(() => { for (const s of open.splice(0)) s.destroy(); });
afterAll(async () => { await app.close(); rmSync(dir, { recursive: true, force: true }); });

function handshake(localAddress: string): Promise<TLSSocket | undefined> {
  return new Promise((resolve) => {
    const s = tlsConnect({ socket: netConnect({ host: '127.0.0.1', port, localAddress }), rejectUnauthorized: false });
    open.push(s);
    s.once('secureConnect', () => resolve(s));
    s.once('error', () => resolve(undefined));
    s.once('close', () => resolve(undefined));
  });
}
function get(s: TLSSocket, path: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      if (/\r\n\r\n[\s\S]*\}/.test(text)) { s.off('data', onData); resolve(text.split('\r\n')[0] ?? ''); }
    };
    s.on('data', onData);
    s.once('close', () => resolve('closed'));
    s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the global connection bound, filled by a few clients each under the per-client bound', () => {
  it('an honest sidecar from another address is still answered while MAX/PER_CLIENT addresses hold idle keep-alive connections', async () => {
    // MAX / PER_CLIENT = 3 attacker addresses (16 with the defaults: 16 pods anywhere in the cluster).
    const held: TLSSocket[] = [];
    for (const addr of ['127.0.0.21', '127.0.0.22', '127.0.0.23']) {
      for (let i = 0; i < PER_CLIENT; i++) {
        const s = await handshake(addr);
        if (s !== undefined) { expect(await get(s, '/healthz')).toBe('HTTP/1.1 200 OK'); held.push(s); }
      }
    }
    expect(held).toHaveLength(MAX);
    // Past the first-request bound: these are ordinary keep-alive connections now (72 s each, renewed by one /healthz).
    await sleep(FIRST_REQUEST_MS * 3);
    expect(held.filter((s) => !s.destroyed)).toHaveLength(MAX);
    const honest = await handshake('127.0.0.99');
    const answer = honest === undefined ? 'refused on accept' : await get(honest, '/healthz');
    expect(answer).toBe('HTTP/1.1 200 OK');
  });
});

describe('the per-client count after errors (held)', () => {
  it('connections that fail the handshake, are refused over the bound, or reset mid-request give their slot back', async () => {
    const addr = '127.0.0.31';
    const raw = (bytes: string): Promise<void> => new Promise((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port, localAddress: addr }, () => s.write(bytes));
      open.push(s);
      s.on('error', () => undefined);
      s.once('close', () => resolve());
    });
    // Plain-text garbage (TLS error), twice the bound at once (half refused on accept).
    await Promise.all(Array.from({ length: PER_CLIENT * 2 }, () => raw('GET / HTTP/1.1\r\n\r\n')));
    // Handshakes then a reset mid-request.
    for (let i = 0; i < PER_CLIENT; i++) {
      const s = await handshake(addr);
      s?.write('GET /healthz HTTP/1.1\r\nHo');
      s?.destroy();
    }
    await sleep(200);
    const again = await Promise.all(Array.from({ length: PER_CLIENT }, () => handshake(addr)));
    expect(await Promise.all(again.map(async (s) => (s === undefined ? 'refused' : get(s, '/healthz'))))).toEqual(Array(PER_CLIENT).fill('HTTP/1.1 200 OK'));
  });
});
