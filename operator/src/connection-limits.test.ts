// The API listener's connection bounds, through createApiServer (the operator's real listener):
// connections nobody authenticated cannot hold it (round 11 review: idle TLS connections held every
// descriptor), while requests in progress, keep-alive clients and other clients are served.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createCa, mintServingCert, writePemFiles } from '../../e2e/harness/certs.ts';
import { markAuthorized } from './connection-limits.ts';
import { createMetrics } from './metrics.ts';
import { createApiServer } from './server.ts';

const FIRST_REQUEST_MS = 400;
const HANDSHAKE_MS = 400;
const PER_CLIENT = 4;
const MAX = 10;

/** Bounds far past any test's length: what the whole-listener tests count is never cut by a timeout on a loaded machine. */
const PATIENT_MS = 60_000;

let dir: string;
/** The listener with the short bounds, for the tests of those bounds. */
let bounded: FastifyInstance;
/** The same listener with bounds that never fire, for the tests of the counts. */
let patient: FastifyInstance;
let port: number;
let patientPort: number;
const metrics = createMetrics(false);
const open: Socket[] = [];

const refused = async (reason: string): Promise<number> => {
  const m = await metrics.connectionsRefused.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
};

async function listener(files: { certFile: string; keyFile: string }, handshakeMs: number, firstRequestMs: number): Promise<FastifyInstance> {
  const app = createApiServer({
    certFile: files.certFile, keyFile: files.keyFile, bodyLimit: 1024, logger: pino({ level: 'silent' }), metrics,
    connections: { maxConnections: MAX, maxPerClient: PER_CLIENT, handshakeMs, firstRequestMs },
  });
  // As the ingest and read APIs do once a token authenticated.
  app.get('/authorized', (req, reply) => { markAuthorized(req.raw.socket); void reply.send({ ok: true }); });
  // An answer that takes longer than the first-request bound: a request in progress is not cut.
  app.get('/slow', async () => { await new Promise((r) => setTimeout(r, FIRST_REQUEST_MS * 3)); return { ok: true }; });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'guarita-conn-'));
  const ca = await createCa();
  const files = writePemFiles(dir, 'serving', await mintServingCert(ca, { dnsNames: ['localhost'], ips: ['127.0.0.1'] }));
  bounded = await listener(files, HANDSHAKE_MS, FIRST_REQUEST_MS);
  patient = await listener(files, PATIENT_MS, PATIENT_MS);
  port = (bounded.server.address() as { port: number }).port;
  patientPort = (patient.server.address() as { port: number }).port;
});

afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

afterAll(async () => {
  await bounded.close();
  await patient.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A TLS connection from `localAddress` that completes its handshake (undefined when the listener closed it first). */
function handshake(localAddress = '127.0.0.1', to = port): Promise<TLSSocket | undefined> {
  return new Promise((resolve) => {
    const s = tlsConnect({ socket: netConnect({ host: '127.0.0.1', port: to, localAddress }), rejectUnauthorized: false });
    open.push(s);
    s.once('secureConnect', () => resolve(s));
    s.once('error', () => resolve(undefined));
    s.once('close', () => resolve(undefined));
  });
}

const closed = (s: Socket, withinMs: number): Promise<boolean> => new Promise((resolve) => {
  if (s.destroyed) { resolve(true); return; }
  const t = setTimeout(() => resolve(false), withinMs);
  s.once('close', () => { clearTimeout(t); resolve(true); });
});

/** One HTTP/1.1 request on `s` (kept alive), its status line. */
function get(s: TLSSocket, path: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      if (/\r\n\r\n[\s\S]*\}/.test(text)) { s.off('data', onData); resolve(text.split('\r\n')[0] ?? ''); }
    };
    s.on('data', onData);
    s.once('close', () => resolve(text.split('\r\n')[0] ?? 'closed'));
    s.write(`GET ${path} HTTP/1.1\r\nhost: localhost\r\n\r\n`);
  });
}

describe('the API listener bounds connections nobody authenticated', () => {
  it('closes a TLS connection that never sends a request, and counts it', async () => {
    const before = await refused('first-request-timeout');
    const s = await handshake();
    expect(s).toBeDefined();
    expect(await closed(s as TLSSocket, FIRST_REQUEST_MS * 5)).toBe(true);
    expect(await refused('first-request-timeout')).toBe(before + 1);
  });

  it('closes a TCP connection that never finishes its TLS handshake', async () => {
    const before = await refused('handshake-timeout');
    const s = netConnect({ host: '127.0.0.1', port });
    open.push(s);
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from([0x16, 0x03, 0x01])); // the first bytes of a ClientHello, and nothing more
    expect(await closed(s, HANDSHAKE_MS * 5)).toBe(true);
    expect(await refused('handshake-timeout')).toBe(before + 1);
  });

  it('serves a request that takes longer than the first-request bound, and the next one on the same connection', async () => {
    const s = await handshake();
    expect(await get(s as TLSSocket, '/slow')).toBe('HTTP/1.1 200 OK');
    await new Promise((r) => setTimeout(r, FIRST_REQUEST_MS * 2));
    expect(s?.destroyed).toBe(false);
    expect(await get(s as TLSSocket, '/healthz')).toBe('HTTP/1.1 200 OK');
  });

  it('one client address holds at most its share; another address is still served', async () => {
    const before = await refused('per-client');
    const flood = await Promise.all(Array.from({ length: PER_CLIENT + 3 }, () => handshake('127.0.0.2', patientPort)));
    expect(flood.filter((s) => s !== undefined)).toHaveLength(PER_CLIENT);
    expect(await refused('per-client')).toBe(before + 3);
    const honest = await handshake('127.0.0.1', patientPort);
    expect(await get(honest as TLSSocket, '/healthz')).toBe('HTTP/1.1 200 OK');
    // Once the flood's connections close, its address gets its share back.
    for (const s of flood) s?.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await handshake('127.0.0.2', patientPort)).toBeDefined();
  });

  it('authorized connections do not count against their address: a sidecar and an auditor behind one address are still served', async () => {
    const mine: TLSSocket[] = [];
    for (let i = 0; i < PER_CLIENT + 2; i++) {
      const s = await handshake('127.0.0.11', patientPort);
      expect(await get(s as TLSSocket, '/authorized')).toBe('HTTP/1.1 200 OK');
      mine.push(s as TLSSocket);
    }
    expect(mine.every((s) => !s.destroyed)).toBe(true);
    for (const s of mine) s.destroy();
  });

  it('the listener as a whole holds at most max-connections: a newcomer replaces the oldest connection that never authenticated', async () => {
    const before = await refused('evicted');
    const addresses = ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
    const all: (TLSSocket | undefined)[] = [];
    for (const a of addresses) for (let i = 0; i < PER_CLIENT; i++) all.push(await handshake(a, patientPort));
    await new Promise((r) => setTimeout(r, 100));
    const live = all.filter((s) => s !== undefined && !s.destroyed);
    expect(live).toHaveLength(MAX);
    // The oldest were closed for the newest, in order.
    expect(all.slice(addresses.length * PER_CLIENT - MAX).every((s) => s !== undefined && !s.destroyed)).toBe(true);
    expect(await refused('evicted')).toBe(before + addresses.length * PER_CLIENT - MAX);
  });

  it('connections that carried an authenticated request are never replaced; with all of them authenticated a newcomer is refused', async () => {
    const before = await refused('max-connections');
    const addresses = ['127.0.0.7', '127.0.0.8', '127.0.0.9'];
    const trusted: TLSSocket[] = [];
    for (const a of addresses) {
      for (let i = 0; i < PER_CLIENT && trusted.length < MAX; i++) {
        const s = await handshake(a, patientPort);
        expect(await get(s as TLSSocket, '/authorized')).toBe('HTTP/1.1 200 OK');
        trusted.push(s as TLSSocket);
      }
    }
    expect(trusted).toHaveLength(MAX);
    // Unauthenticated keep-alives (one /healthz each) from elsewhere cannot take their places.
    expect(await handshake('127.0.0.10', patientPort)).toBeUndefined();
    expect(await refused('max-connections')).toBe(before + 1);
    expect(trusted.every((s) => !s.destroyed)).toBe(true);
    // One authenticated connection closes: its place is free again.
    trusted[0]?.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const next = await handshake('127.0.0.10', patientPort);
    expect(await get(next as TLSSocket, '/healthz')).toBe('HTTP/1.1 200 OK');
  });
});
