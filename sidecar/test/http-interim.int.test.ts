// Interim (1xx) answers an HTTP upstream sends before its final answer without being asked (RFC 9110
// §15.2: a client must parse any number of them): 100 Continue without Expect, 102 Processing, 103
// Early Hints. Through the real listener (the sidecar in-process, as main.ts starts it, on the
// harness apiserver and IdP), from a real node:http server (writeContinue, writeProcessing,
// writeEarlyHints) and from a raw socket (glued, flooded, cut): the agent gets the final answer,
// masked, and never an interim answer's headers; a flood fails closed (502) after a bound, and so
// does an upstream that closes after an interim answer or switches protocols unasked (101).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { startSidecar, type RunningSidecar } from '../src/sidecar.ts';
import { MAX_INTERIM_ANSWERS } from '../src/http/upstream.ts';
import { agentRequest, dechunk, httpPolicy, mountCredentials, NO_OPERATOR, rawExchange, sidecarEnv, sidecarFixture } from './support.ts';

jest.setTimeout(90_000);

const ns = `sc-interim-${suffix()}`;
const PURPOSE = 'customer-support';
const CPF = '590.830.166-33';
const CPF_DIGITS = '59083016633';
const ANSWER = `{"cliente":{"nome":"Larissa","cpf":"${CPF}"}}`;
const HINT_LINK = `</customers/${CPF_DIGITS}.json>; rel=preload`;

// The raw upstream's scripts, by path: parts written apart (10 ms between them), `|` marks a pause.
const FINAL = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(ANSWER)}\r\n\r\n${ANSWER}`;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const PROCESSING = 'HTTP/1.1 102 Processing\r\n\r\n';
const HINTS = `HTTP/1.1 103 Early Hints\r\nlink: ${HINT_LINK}\r\nx-customer: ${CPF}\r\n\r\n`;
const HELD_TEXT = `start ${'pedido pago '.repeat(300)}`;
const HELD_PIECE = `${Buffer.byteLength(HELD_TEXT).toString(16)}\r\n${HELD_TEXT}\r\n`;
const RAW: Record<string, { parts: string[]; close?: boolean }> = {
  '/raw/glued': { parts: [CONTINUE + PROCESSING + HINTS + FINAL] },
  '/raw/apart': { parts: [CONTINUE, HINTS, PROCESSING, FINAL] },
  '/raw/bound': { parts: [HINTS.repeat(MAX_INTERIM_ANSWERS), FINAL] },
  '/raw/flood': { parts: [PROCESSING.repeat(5000) + FINAL] },
  '/raw/endless': { parts: Array.from({ length: 200 }, () => HINTS) },
  '/raw/then-close': { parts: [CONTINUE + HINTS], close: true },
  '/raw/switch': { parts: ['HTTP/1.1 101 Switching Protocols\r\n\r\n', FINAL] },
  // An answer begun and never finished: the exchange stays in flight until something cuts it.
  // (Two large chunks: the masker holds back a short tail and the listener writes a masked piece
  // once the next one exists.)
  '/raw/hold': { parts: [`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n${HELD_PIECE}`, HELD_PIECE] },
  '/raw/switch-upgrade': { parts: ['HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n', CPF] },
};

let nodeUpstream: Server;
let rawUpstream: NetServer;
const upstreamSockets = new Set<Socket>();
let nodePort: number;
let rawPort: number;
let sidecar: RunningSidecar;
let token: string;
const ports: Record<'node' | 'raw', number> = { node: 0, raw: 0 };

/** A node:http upstream that sends interim answers unasked, then its answer with a length or chunked. */
function startNodeUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    const [path = ''] = (req.url ?? '').split('?');
    const chunked = path.endsWith('/chunked');
    if (path.startsWith('/continue')) res.writeContinue();
    if (path.startsWith('/processing')) res.writeProcessing();
    if (path.startsWith('/hints') || path.startsWith('/all')) res.writeEarlyHints({ link: HINT_LINK, 'x-customer': CPF });
    if (path.startsWith('/all')) {
      res.writeContinue();
      res.writeProcessing();
      res.writeEarlyHints({ link: HINT_LINK });
    }
    // The body is read after the interim answers: a 100 unasked before the request body arrives.
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString();
      const answer = body === '' ? ANSWER : JSON.stringify({ echo: JSON.parse(body) as unknown, cpf: CPF });
      if (chunked) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(answer.slice(0, 10));
        setTimeout(() => res.end(answer.slice(10)), 5);
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
      }
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

function startRawUpstream(): Promise<NetServer> {
  const server = createNetServer((socket) => {
    upstreamSockets.add(socket);
    socket.once('close', () => upstreamSockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = /^\w+ (\S+)/.exec(head)?.[1] ?? '';
      head = '';
      const script = RAW[path];
      if (script === undefined) {
        socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      void (async () => {
        for (const part of script.parts) {
          if (socket.destroyed) return;
          socket.write(part);
          await new Promise((r) => setTimeout(r, 10));
        }
        if (script.close === true) socket.end();
      })();
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

const portOf = (s: Server | NetServer): number => { const a = s.address(); return typeof a === 'object' && a !== null ? a.port : 0; };

beforeAll(async () => {
  await installCrds();
  [nodeUpstream, rawUpstream] = await Promise.all([startNodeUpstream(), startRawUpstream()]);
  nodePort = portOf(nodeUpstream);
  rawPort = portOf(rawUpstream);
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const [nodeListen = 0, rawListen = 0, adminPort = 0] = await freePorts(3);
  ports.node = nodeListen;
  ports.raw = rawListen;
  const issuer = requireIdp().issuer;
  const fx = await sidecarFixture(ns);
  const targets = [{ name: 'interim-node', port: nodeListen, upstream: nodePort }, { name: 'interim-raw', port: rawListen, upstream: rawPort }];
  for (const t of targets) mountCredentials(fx, t.name, { token: 'upstream-service-token' });
  await apply(targets.flatMap((t) => [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${t.name}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } },
    // POST /orders allowed too (a body the upstream answers 100 Continue to before reading it).
    httpPolicy(ns, t.name, { endpoint: `http://127.0.0.1:${t.upstream}`, issuer, listenPort: t.port, over: { rules: [{ name: 'orders', match: { http: { methods: ['GET', 'POST'], paths: ['/**'] } }, action: 'allow' }] } }),
  ]));
  const config = loadConfig(sidecarEnv(fx, {
    targets: targets.map((t) => ({ policy: t.name, target: t.name, protocol: 'http', listenPort: t.port })), operatorUrl: NO_OPERATOR,
  }, adminPort));
  sidecar = await startSidecar(config, silentLogger());
  await sidecar.ready;
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
});

afterAll(async () => {
  await sidecar?.shutdown('test over');
  for (const s of upstreamSockets) s.destroy();
  nodeUpstream?.closeAllConnections();
  await Promise.all([new Promise((r) => nodeUpstream?.close(r)), new Promise((r) => rawUpstream?.close(r))]);
});

/** One request on a fresh connection, every byte of what the agent receives kept (interim answers would show). */
async function rawGet(port: number, target: string, body?: string): Promise<{ raw: string; heads: string[]; status: number; body: string }> {
  const lines = [body === undefined ? `GET ${target} HTTP/1.1` : `POST ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, `X-Guarita-Purpose: ${PURPOSE}`, 'Connection: close'];
  if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  const raw = await rawExchange(port, [...lines, '', body ?? ''].join('\r\n'));
  const text = raw.toString('latin1');
  const heads = [...text.matchAll(/(?:^|\r\n)(HTTP\/1\.1 \d{3}[^\r]*)/g)].map((m) => m[1] ?? '');
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end).toString('latin1');
  return { raw: text, heads, status: Number(head.split(' ')[1] ?? 0), body: dechunk(raw.subarray(end + 4), head).toString('utf8') };
}

/** The agent received exactly one answer (no interim one), masked, with no identifier anywhere in its bytes. */
function expectFinalMasked(a: { raw: string; heads: string[]; status: number; body: string }): void {
  expect(a.heads).toHaveLength(1);
  expect(a.status).toBe(200);
  expect(a.raw).not.toContain(CPF);
  expect(a.raw).not.toContain(CPF_DIGITS);
  expect(a.raw.toLowerCase()).not.toContain('link:');
  expect(JSON.parse(a.body)).toMatchObject({ cliente: { nome: 'Larissa', cpf: expect.stringMatching(/\*/) } });
}

describe('interim answers from a node:http upstream (writeContinue, writeProcessing, writeEarlyHints)', () => {
  it.each(['/continue', '/processing', '/hints', '/all', '/continue/chunked', '/hints/chunked', '/all/chunked'])('%s: skipped; the agent gets the final answer alone, masked', async (path) => {
    expectFinalMasked(await rawGet(ports.node, path));
  });

  it('100 Continue to a POST without Expect (sent before the body is read): the body is forwarded, the answer masked', async () => {
    const a = await rawGet(ports.node, '/continue/orders', '{"pedido":42}');
    expect(a.heads).toHaveLength(1);
    expect(a.status).toBe(200);
    expect(a.raw).not.toContain(CPF);
    expect(JSON.parse(a.body)).toMatchObject({ echo: { pedido: 42 }, cpf: expect.stringMatching(/\*/) });
  });

  it('a keep-alive agent (undici) gets each answer in step on one connection', async () => {
    for (const path of ['/all', '/continue/chunked', '/hints', '/processing/chunked']) {
      const res = await agentRequest(`http://127.0.0.1:${ports.node}${path}`, { token, purpose: PURPOSE });
      expect(res.status).toBe(200);
      expect(res.headers.link).toBeUndefined();
      expect(res.text).not.toContain(CPF);
      expect(res.json()).toMatchObject({ cliente: { nome: 'Larissa' } });
    }
  });
});

describe('interim answers from a raw upstream', () => {
  it.each(['/raw/glued', '/raw/apart', '/raw/bound'])('%s: skipped; the agent gets the final answer alone, masked', async (path) => {
    expectFinalMasked(await rawGet(ports.raw, path));
  });

  it(`a flood (more than ${MAX_INTERIM_ANSWERS}, in one write or one by one) fails closed: 502 naming it, nothing of it forwarded`, async () => {
    for (const path of ['/raw/flood', '/raw/endless']) {
      const a = await rawGet(ports.raw, path);
      expect(a.heads).toHaveLength(1);
      expect(a.status).toBe(502);
      expect(a.body).toContain(`more than ${MAX_INTERIM_ANSWERS} interim (1xx) answers`);
      expect(a.raw).not.toContain(CPF);
    }
  });

  it('an interim answer, then the upstream closes: 502, never a hang', async () => {
    const a = await rawGet(ports.raw, '/raw/then-close');
    expect(a.heads).toHaveLength(1);
    expect(a.status).toBe(502);
    expect(a.raw).not.toContain(CPF);
  });

  it('101 Switching Protocols to a request that asked for no upgrade stays refused (502), with or without Upgrade headers', async () => {
    const bare = await rawGet(ports.raw, '/raw/switch');
    expect(bare.status).toBe(502);
    expect(bare.body).toContain('101 Switching Protocols');
    const upgrade = await rawGet(ports.raw, '/raw/switch-upgrade');
    expect(upgrade.status).toBe(502);
    expect(upgrade.raw).not.toContain(CPF);
  });

  it('the listener keeps serving after all of it', async () => {
    expectFinalMasked(await rawGet(ports.raw, '/raw/glued'));
  });
});

describe('an exchange in flight when its session closes', () => {
  it('is cut when the subject is revoked mid-answer (the policy changes under it), and the next request is refused', async () => {
    const issuer = requireIdp().issuer;
    const policy = (subjects: unknown[]): Record<string, unknown> => httpPolicy(ns, 'interim-raw', { endpoint: `http://127.0.0.1:${rawPort}`, issuer, listenPort: ports.raw, over: { subjects, rules: [{ name: 'orders', match: { http: { methods: ['GET', 'POST'], paths: ['/**'] } }, action: 'allow' }] } });
    const socket = connect(ports.raw, '127.0.0.1');
    let received = '';
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    const started = new Promise<void>((r) => socket.on('data', (c: Buffer) => { received += c.toString('latin1'); if (received.includes('start')) r(); }));
    socket.write(['GET /raw/hold HTTP/1.1', 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, `X-Guarita-Purpose: ${PURPOSE}`, '', ''].join('\r\n'));
    await started;
    try {
      await apply([policy([{ kind: 'Group', name: 'nobody-here' }])]);
      // The answer is cut (the connection closes) without its last chunk: never completed as if whole.
      await closed;
      expect(received).toMatch(/^HTTP\/1\.1 200 /);
      expect(received).not.toContain('0\r\n\r\n');
      const after = await agentRequest(`http://127.0.0.1:${ports.raw}/raw/glued`, { token, purpose: PURPOSE });
      expect(after.status).toBe(403);
    } finally {
      socket.destroy();
      await apply([policy([{ kind: 'Group', name: 'support' }, { kind: 'ServiceAccount', name: 'batch-runner', namespace: ns }])]);
    }
  });
});
