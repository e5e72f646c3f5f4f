// Issue 19 round 4 review of the HTTP upstream's own dispatch() handler: an agent that asks for a
// large answer and never reads it must not make the sidecar read (and hold) the upstream's whole
// body. Every body path is attacked: masked text streamed without a length, JSON of declared length
// past the whole-body bound, a gzip body decoded and masked, a binary body passed through. The agent
// is a raw socket that stops reading after the request; the upstream pumps a 1 GiB answer as fast
// as its socket takes it. The upstream must stall far short of its body (backpressure reaches it through
// the sidecar); once the agent reads again the answer flows again, masked, and when the agent
// then leaves, the sidecar ends the upstream exchange.
// The sidecar runs in-process (the same startSidecar main.ts runs) on the harness apiserver and IdP.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { startSidecar, type RunningSidecar } from '../src/sidecar.ts';
import { dechunk, httpPolicy, mountCredentials, NO_OPERATOR, sidecarEnv, sidecarFixture } from './support.ts';

jest.setTimeout(180_000);

const ns = `sc-backpressure-${suffix()}`;
const POLICY = 'customers-api';
const PURPOSE = 'customer-support';
const CPF = '590.830.166-33';
/** More than any kernel socket buffers and the sidecar's own could hold (loopback receive buffers autotune up to 32 MiB here). */
const TOTAL = 1024 * 1024 * 1024;
/** Where the upstream must have stalled by. */
const STALL_BOUND = 48 * 1024 * 1024;

interface Pumped { written: number; finished: boolean; closed: Promise<void> }
const pumped = new Map<string, Pumped>();

/** Writes `total` bytes of `piece` repeated, as fast as the socket takes them (write() until false, then 'drain'). */
function pump(res: ServerResponse, state: Pumped, piece: Buffer, total: number): void {
  const go = (): void => {
    while (state.written < total && !res.destroyed) {
      state.written += piece.length;
      if (!res.write(piece)) return;
    }
    res.end();
  };
  res.on('drain', go);
  res.once('finish', () => { state.finished = true; });
  go();
}

let upstream: Server;
let upstreamUrl = '';
let sidecar: RunningSidecar;
let token: string;
let listenPort: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  // Text lines with a random part, so that gzip members of them stay large.
  const text = Buffer.from(Array.from({ length: 8192 }, () => `cliente cpf ${CPF} ${randomBytes(30).toString('hex')}\n`).join(''));
  const member = gzipSync(text, { level: 1 });
  upstream = createServer((req, res) => {
    const name = (req.url ?? '').split('/').pop() ?? '';
    const state: Pumped = { written: 0, finished: false, closed: new Promise((r) => res.once('close', () => r())) };
    pumped.set(name, state);
    if (name === 'text') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      pump(res, state, text, TOTAL);
    } else if (name === 'json-sized') {
      // A JSON array of strings of declared length (far past the 256 KiB the sidecar reads whole).
      const item = Buffer.from(`"cpf ${CPF} ${'y'.repeat(46)}",`.repeat(4096));
      const count = Math.floor(TOTAL / item.length);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1 + count * item.length + 2) });
      res.write('[');
      pump(res, state, item, count * item.length);
    } else if (name === 'gzip') {
      // Concatenated gzip members: one gzip body to any decoder.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
      pump(res, state, member, TOTAL);
    } else {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      pump(res, state, Buffer.alloc(64 * 1024, 0xa5), TOTAL);
    }
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const addr = upstream.address();
  upstreamUrl = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  await installCrds();
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const ports = await freePorts(2);
  listenPort = ports[0] ?? 0;
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } },
    httpPolicy(ns, POLICY, { endpoint: upstreamUrl, issuer: requireIdp().issuer, listenPort }),
  ]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
  const config = loadConfig(sidecarEnv(fx, { targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }], operatorUrl: NO_OPERATOR }, ports[1] ?? 0));
  sidecar = await startSidecar(config, silentLogger());
  await sidecar.ready;
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await sidecar?.shutdown('test over');
  upstream?.closeAllConnections();
  await new Promise<void>((r) => upstream?.close(() => r()));
});

/** Polls until the upstream's written count has not moved for `quiet` consecutive polls (it stalled), or it finished. */
async function stalled(state: Pumped, quiet = 15): Promise<void> {
  let last = -1;
  let still = 0;
  await eventually('the upstream stalled or finished', () => {
    if (state.finished) return Promise.resolve(true);
    still = state.written === last ? still + 1 : 0;
    last = state.written;
    return Promise.resolve(still >= quiet ? true : undefined);
  }, 120_000, 100);
}

describe('an agent that never reads a large answer', () => {
  it.each(['text', 'json-sized', 'gzip', 'binary'])('%s: the upstream stalls far short of its body; reading again resumes it, masked; leaving ends it', async (name) => {
    const socket = connect(listenPort, '127.0.0.1');
    sockets.push(socket);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(`GET /customers/big/${name} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\nx-guarita-purpose: ${PURPOSE}\r\naccept-encoding: gzip\r\nconnection: close\r\n\r\n`);
    // Never read: the socket is paused before any data is taken.
    socket.pause();
    const state = await eventually('the upstream answering', () => Promise.resolve(pumped.get(name)), 30_000, 50);
    await stalled(state);
    expect(state.finished).toBe(false);
    expect(state.written).toBeLessThan(STALL_BOUND);
    // Reading again: the answer flows again (the upstream writes well past where it stalled), masked.
    const atStall = state.written;
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on('data', (c: Buffer) => { chunks.push(c); received += c.length; });
    socket.resume();
    await eventually('the answer flowing again', () => Promise.resolve(state.written > atStall + 16 * 1024 * 1024 && received > 8 * 1024 * 1024 ? true : undefined), 120_000, 50);
    // Leaving mid-body: the sidecar ends the upstream exchange (its response closes unfinished).
    socket.destroy();
    await state.closed;
    expect(state.finished).toBe(false);
    const raw = Buffer.concat(chunks);
    const headEnd = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, headEnd).toString('latin1');
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    let body: Buffer = raw.subarray(headEnd + 4);
    body = dechunk(body, head);
    if (/\r\ncontent-encoding: gzip/i.test(head)) body = gunzipSync(body, { finishFlush: constants.Z_SYNC_FLUSH });
    if (name === 'binary') {
      expect(body.every((b) => b === 0xa5)).toBe(true);
      return;
    }
    const text = body.toString('latin1');
    expect(text).toContain('cpf');
    expect(text.includes(CPF)).toBe(false);
    expect(text.includes('59083016633')).toBe(false);
  });
});
