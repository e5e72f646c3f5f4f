// Round 12 evidence review, finding 2, fixed as a class: an agent that leaves while its request is
// in flight never makes the record state an outcome nobody observed. The in-process HTTP listener
// (harness apiserver and IdP) in front of an upstream of the test's own that notes each request as
// it arrives; records are read back from the sidecar's spool. Once the upstream got the request
// whole, its answer is read for the record (any kind of body, masked as usual, bounded in time and
// bytes); a request sent in part, or an answer that cannot be read, is recorded without a status and
// with `outcomeUnknown`; a 502 is recorded only when the agent got one; agents leaving many requests
// at once hold no more than the listener's bound of answers open.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, type Socket } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import WebSocket from 'ws';
import { readFileSync } from 'node:fs';
import { getToken, requireIdp, requireKube } from '../../e2e/harness/state.ts';
import { startKubeletStandIn, type KubeletStandIn } from '../../e2e/support/kubelet-stand-in.ts';
import { readerCredential } from './kube-agent.ts';
import { apply, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { LEFT_BEHIND_BODY_BYTES, LEFT_BEHIND_BODY_MS, MAX_LEFT_BEHIND } from '../src/http/upstream.ts';
import { startInProcessKubeSidecar, startStandInKube } from './kubernetes-sidecar.ts';
import { namespaceSpoolRecords } from './spool-read.ts';
import { startInProcessHttpSidecar } from './support.ts';

jest.setTimeout(120_000);

const CPF = '590.830.166-33';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** An upstream that notes each request as its head arrives (and once its body ended), and answers by route prefix. */
interface NotingUpstream { port: number; arrived: string[]; ended: string[]; held: ServerResponse[]; routes: Map<string, Route>; close(): Promise<void> }

async function notingUpstream(): Promise<NotingUpstream> {
  const arrived: string[] = [];
  const ended: string[] = [];
  const held: ServerResponse[] = [];
  const routes = new Map<string, Route>();
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    arrived.push(url);
    req.on('end', () => ended.push(url));
    const route = [...routes.entries()].find(([prefix]) => url.startsWith(prefix))?.[1];
    if (route === undefined) {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    } else route(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port, arrived, ended, held, routes,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

interface Rec { type?: string; command?: string; decision?: string; result?: { status?: number; bytes?: number; sample?: string; error?: string; outcomeUnknown?: boolean } }

/** Every record line in the spools of the sidecars of `namespace`. */
const spoolLines = (namespace: string): Rec[] => namespaceSpoolRecords<Rec>(namespace);

/** `check`'s value once it has one (polled). */
function poll<T>(what: string, check: () => T | undefined, ms = 20_000, intervalMs = 100): Promise<T> {
  return eventually(what, () => Promise.resolve(check()), ms, intervalMs);
}

/** The command record whose request line (HTTP: the first; Kubernetes: after kubectl's description) targets `path`. */
const recordOf = (ns: string, path: string): Rec | undefined => spoolLines(ns).find((r) => r.type === 'command' && (r.command ?? '').split('\n').slice(0, 2).some((line) => line.endsWith(` ${path}`)));

/** The request's record once written. */
function recordFor(ns: string, path: string, ms = 20_000): Promise<Rec> {
  return poll(`the record of ${path}`, () => recordOf(ns, path), ms);
}

/** Sends a request on a raw connection (the agent), without waiting for anything. */
function send(port: number, token: string, method: string, path: string, body?: string, headers: string[] = []): Socket {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, 'X-Guarita-Purpose: customer-support', ...headers];
  if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`);
  return socket;
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  await poll(what, () => (check() ? true : undefined), ms, 10);
}

/** What the agent got on `socket`, once it holds `end` (or the connection closed); the connection is closed then. */
function answered(socket: Socket, end: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const done = (): void => { socket.destroy(); resolve(text); };
    socket.on('data', (c: Buffer) => { text += c.toString(); if (text.includes(end)) done(); });
    socket.on('close', done);
  });
}

/** A record that states no status and an unknown outcome, with an error matching `error`. */
function expectUnknown(r: Rec, error: RegExp): void {
  expect({ status: r.result?.status, outcomeUnknown: r.result?.outcomeUnknown }).toEqual({ status: undefined, outcomeUnknown: true });
  expect(r.result?.error).toMatch(error);
}

/** What a record says about the exchange's outcome. */
const outcome = (r: Rec): { status?: number; error?: string; outcomeUnknown?: boolean } => ({ status: r.result?.status, error: r.result?.error, outcomeUnknown: r.result?.outcomeUnknown });

/** A noting upstream and the in-process HTTP sidecar in front of it (target `refunds`) allowing `methods` on every path; the agent's token. */
async function startRefunds(ns: string, methods: string[]): Promise<{ upstream: NotingUpstream; sidecar: RunningSidecar; port: number; token: string }> {
  await installCrds();
  const upstream = await notingUpstream();
  try {
    const { sidecar, listenPort: port } = await startInProcessHttpSidecar(ns, 'refunds', {
      upstreamUrl: `http://127.0.0.1:${upstream.port}`, issuer: requireIdp().issuer,
      rules: [{ name: 'all', match: { http: { methods, paths: ['/**'] } }, action: 'allow' }],
    });
    const token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
    return { upstream, sidecar, port, token };
  } catch (err) {
    // The caller never gets the upstream to close: a listening server left here keeps the Jest
    // process that ran the suite from exiting.
    await upstream.close();
    throw err;
  }
}

describe('HTTP: the agent leaves while its request is in flight', () => {
  const ns = `ev12-httpfix-${suffix()}`;
  let upstream: NotingUpstream;
  let sidecar: RunningSidecar;
  let port = 0;
  let token = '';

  beforeAll(async () => {
    ({ upstream, sidecar, port, token } = await startRefunds(ns, ['GET', 'POST', 'DELETE']));
  }, 120_000);

  afterAll(async () => {
    for (const r of upstream?.held ?? []) r.destroy();
    await sidecar?.shutdown('test over');
    await upstream?.close();
  });

  /** The agent sends, the upstream gets the request whole, the agent resets; then the upstream answers (`answer`, 400 ms later). */
  async function leaveThenAnswer(path: string, answer: (res: ServerResponse) => void, method = 'POST'): Promise<Rec> {
    upstream.routes.set(path, (req, res) => { req.resume(); req.on('end', () => setTimeout(() => answer(res), 400)); });
    const agent = send(port, token, method, path, method === 'POST' ? JSON.stringify({ order: 7, cents: 4990 }) : undefined);
    await until('the upstream got the whole request', () => upstream.ended.includes(path));
    agent.resetAndDestroy();
    return recordFor(ns, path);
  }

  it('whatever the answer\'s kind (JSON, JSON masked in stream, text, binary, no body, an error), the record holds the upstream\'s status, never a 502 nobody sent', async () => {
    const big = JSON.stringify(Array.from({ length: 6000 }, (_, i) => ({ id: i, cpf: CPF, nota: 'cliente' })));
    const cases: Array<[string, number, (res: ServerResponse) => void, string?]> = [
      [`/refunds/${ns}/json`, 201, (res) => res.writeHead(201, { 'content-type': 'application/json' }).end('{"refund":"done"}')],
      [`/refunds/${ns}/big`, 200, (res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.write(big.slice(0, 1000)); setTimeout(() => res.end(big.slice(1000)), 50); }],
      [`/refunds/${ns}/text`, 202, (res) => res.writeHead(202, { 'content-type': 'text/plain' }).end(`aceito para CPF ${CPF}`)],
      [`/refunds/${ns}/binary`, 200, (res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from([0, 1, 2, 255, 254, 0, 7]))],
      [`/refunds/${ns}/none`, 204, (res) => res.writeHead(204).end()],
      [`/refunds/${ns}/failed`, 500, (res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"ledger down"}')],
      [`/refunds/${ns}/deleted`, 200, (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"deleted":true}'), 'DELETE'],
    ];
    const records = await Promise.all(cases.map(([path, , answer, method]) => leaveThenAnswer(path, answer, method)));
    expect(records.map((r) => ({ decision: r.decision, ...outcome(r) }))).toEqual(cases.map(([, status]) => ({ decision: 'allow', status, error: undefined, outcomeUnknown: undefined })));
    // Read as the agent would have got it: masked as usual (the record never holds the raw CPF).
    for (const r of records) expect(JSON.stringify(r)).not.toContain(CPF);
    expect(records[1]?.result?.bytes).toBeGreaterThan(big.length / 2);
  });

  it('an answer longer than the bound is read up to it and no further: the real status, and why the rest was not read', async () => {
    const path = `/refunds/${ns}/endless`;
    const rec = await leaveThenAnswer(path, (res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const pump = (): void => { while (!res.destroyed && res.write(chunk)); if (!res.destroyed) res.once('drain', pump); };
      pump();
      upstream.held.push(res);
    });
    expect(outcome(rec)).toEqual({ status: 200, error: `the agent left, and the upstream's answer went on past ${LEFT_BEHIND_BODY_BYTES} more bytes (not read further)`, outcomeUnknown: undefined });
  });

  it('an answer whose body does not end in time is cut at the bound: the real status, and why', async () => {
    const path = `/refunds/${ns}/trickle`;
    const rec = await leaveThenAnswer(path, (res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.write('processing...'); upstream.held.push(res); });
    expect(outcome(rec)).toEqual({ status: 200, error: `the agent left, and the rest of the upstream's answer did not arrive within ${LEFT_BEHIND_BODY_MS} ms (not read further)`, outcomeUnknown: undefined });
  }, LEFT_BEHIND_BODY_MS + 30_000);

  it('a request body cut off by the agent leaving: no status, outcome unknown, and the record says the upstream got part of it', async () => {
    const path = `/uploads/${ns}/partial`;
    upstream.routes.set(path, (req) => { req.resume(); });
    const total = 3 * 1024 * 1024;
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write([`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, 'X-Guarita-Purpose: customer-support',
      'Content-Type: application/octet-stream', `Content-Length: ${total}`, '', ''].join('\r\n'));
    socket.write(Buffer.alloc(2 * 1024 * 1024, 'b'));
    await until('the upstream got the head of the streamed request', () => upstream.arrived.includes(path));
    socket.resetAndDestroy();
    const rec = await recordFor(ns, path);
    expect(rec.result?.status).toBeUndefined();
    expect(rec.result?.outcomeUnknown).toBe(true);
    expect(rec.result?.error).toMatch(/^the agent left before the upstream answered; the upstream got part of the request, and its answer was not read/);
    expect(upstream.ended).not.toContain(path);
  });

  it('the agent still there, the upstream drops the connection after getting the request: the 502 the agent got, and the outcome unknown', async () => {
    const path = `/refunds/${ns}/reset`;
    upstream.routes.set(path, (req) => { req.resume(); req.on('end', () => req.socket.destroy()); });
    const agent = send(port, token, 'POST', path, '{"order":8}');
    expect(await answered(agent, '"BadGateway"')).toMatch(/^HTTP\/1\.1 502 /);
    const rec = await recordFor(ns, path);
    expect(rec.result?.status).toBe(502);
    expect(rec.result?.outcomeUnknown).toBe(true);
    expect(rec.result?.error).toMatch(/the upstream got the whole request, and its answer was not read: what it did is unknown$/);
  });

  it(`many requests left at once: at most ${MAX_LEFT_BEHIND} answers are waited for, the rest are cut and recorded as unknown; others are still served`, async () => {
    const prefix = `/flood/${ns}/`;
    upstream.routes.set(prefix, (req, res) => { req.resume(); upstream.held.push(res); });
    const n = MAX_LEFT_BEHIND + 6;
    const paths = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    const agents = paths.map((p) => send(port, token, 'POST', p, '{}'));
    await until('the upstream got every request', () => paths.every((p) => upstream.ended.includes(p)), 20_000);
    for (const a of agents) a.resetAndDestroy();
    // The ones beyond the bound are cut at once.
    const cut = await poll('the cut ones\' records', () => {
      const recs = paths.map((p) => recordOf(ns, p)).filter((r): r is Rec => r !== undefined);
      return recs.length >= n - MAX_LEFT_BEHIND ? recs : undefined;
    }, 10_000);
    expect(cut.length).toBe(n - MAX_LEFT_BEHIND);
    for (const r of cut) expectUnknown(r, new RegExp(`${MAX_LEFT_BEHIND} answers of other agents that left are being read already`));
    // Others are served meanwhile.
    expect(await answered(send(port, token, 'GET', `/ping/${ns}`), '{"ok":true}')).toMatch(/^HTTP\/1\.1 200 /);
    // The upstream then drops the held ones: recorded as sent, unanswered, unknown (never a 502).
    for (const r of upstream.held.splice(0)) r.socket?.destroy();
    const all = await poll('every flood record', () => {
      const recs = paths.map((p) => recordOf(ns, p)).filter((r): r is Rec => r !== undefined);
      return recs.length === n ? recs : undefined;
    });
    for (const r of all) expectUnknown(r, /^the agent left before the upstream answered; the upstream got the whole request, and its answer was not read/);
  });
});

describe('HTTP: the sidecar shuts down while answers are read for agents that left', () => {
  const ns = `ev12-httpdown-${suffix()}`;
  let upstream: NotingUpstream;
  let sidecar: RunningSidecar;
  let port = 0;
  let token = '';

  beforeAll(async () => {
    ({ upstream, sidecar, port, token } = await startRefunds(ns, ['POST']));
  }, 120_000);

  afterAll(async () => {
    for (const r of upstream?.held ?? []) r.destroy();
    await upstream?.close();
  });

  it('the exchange is cut, and recorded before the spool closes: no status, outcome unknown, the shutdown named', async () => {
    const path = `/refunds/${ns}/slow`;
    upstream.routes.set(path, (req, res) => { req.resume(); upstream.held.push(res); });
    const agent = send(port, token, 'POST', path, '{"order":9}');
    await until('the upstream got the whole request', () => upstream.ended.includes(path));
    agent.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 200));
    await sidecar.shutdown('test over');
    const rec = recordOf(ns, path);
    expect(rec?.result?.status).toBeUndefined();
    expect(rec?.result?.outcomeUnknown).toBe(true);
    expect(rec?.result?.error).toMatch(/^the agent left before the upstream answered; the upstream got the whole request, and its answer was not read \(.*shutting down/);
  });
});

describe('Kubernetes API: the agent leaves after its request reached the apiserver', () => {
  const ns = `ev12-kubefix-${suffix()}`;
  let sidecar: RunningSidecar;
  let apiserver: Server;
  let port = 0;
  let token = '';
  const ended: string[] = [];
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    // A stand-in apiserver over TLS: a create takes 400 ms and answers 201 with the object; a
    // delete of `stuck` never answers (until the test ends); anything else answers 200 {}.
    ({ apiserver, sidecar, port, token } = await startStandInKube(ns, (req, res) => {
      ended.push(`${req.method ?? ''} ${req.url ?? ''}`);
      if (req.method === 'POST') setTimeout(() => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'refund', namespace: ns }, data: { cpf: CPF } })), 400);
      else if ((req.url ?? '').includes('/stuck')) held.push(res);
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }, [{ name: 'configmaps', match: { kubernetes: { verbs: ['create', 'delete', 'get'], resources: ['configmaps'], namespaces: [ns] } }, action: 'allow' }]));
  }, 120_000);

  afterAll(async () => {
    for (const r of held) r.destroy();
    await sidecar?.shutdown('test over');
    await new Promise((r) => apiserver?.close(r));
  });

  /** The agent's request on a TLS connection of its own; reset once the apiserver got it whole. */
  async function sendThenLeave(method: string, path: string, body?: string): Promise<Rec> {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    const head = [`${method} /guarita-purpose/troubleshooting${path} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body ?? '')}`];
    socket.write(`${head.join('\r\n')}\r\n\r\n${body ?? ''}`);
    await until('the apiserver got the whole request', () => ended.includes(`${method} ${path}`));
    socket.destroy();
    return recordFor(ns, path);
  }

  it('a create the apiserver answered 201 is recorded with its 201 (the answer masked as usual), not a 502 nobody sent', async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const rec = await sendThenLeave('POST', path, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'refund' } }));
    expect({ decision: rec.decision, ...outcome(rec) }).toEqual({ decision: 'allow', status: 201, error: undefined, outcomeUnknown: undefined });
    expect(JSON.stringify(rec)).not.toContain(CPF);
  });

  it('a delete the apiserver never answered, cut when the sidecar shuts down: no status, outcome unknown, the shutdown named', async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps/stuck`;
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write([`DELETE /guarita-purpose/troubleshooting${path} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, '', ''].join('\r\n'));
    await until('the apiserver got the whole request', () => ended.includes(`DELETE ${path}`));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 200));
    await sidecar.shutdown('test over');
    const rec = recordOf(ns, path);
    expect(rec === undefined ? undefined : outcome(rec)).toEqual({
      status: undefined, outcomeUnknown: true,
      error: expect.stringMatching(/^the agent left before the upstream answered; the upstream got the whole request, and its answer was not read \(.*shutting down/) as unknown as string,
    });
  });
});

describe('Kubernetes exec: the agent leaves while the command runs', () => {
  const ns = `ev12-execfix-${suffix()}`;
  let sidecar: RunningSidecar;
  let standIn: KubeletStandIn;
  let port = 0;
  let token = '';

  beforeAll(async () => {
    await installCrds();
    await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
    standIn = await startKubeletStandIn(`ev12-node-${suffix()}`);
    await standIn.runPod(ns, 'worker-0');
    const reader = await readerCredential(ns, 'cluster-reader', [{ apiGroups: [''], resources: ['pods', 'pods/exec'], verbs: ['get', 'create'] }]);
    ({ sidecar, port } = await startInProcessKubeSidecar(ns, {
      endpoint: requireKube().apiserverUrl, token: reader, caPem: readFileSync(requireKube().caFile, 'utf8'),
      rules: [{ name: 'exec', match: { kubernetes: { resources: ['pods/exec'], names: ['worker-*'], namespaces: [ns] } }, action: 'allow' }],
    }));
    token = await serviceAccountToken(ns, 'support-agent', 'guarita', 3600);
  }, 180_000);

  afterAll(async () => {
    await sidecar?.shutdown('test over');
    await standIn?.stop();
  });

  /** An exec of `command` as the agent's WebSocket (v5 channel protocol), open once upgraded. */
  async function exec(command: string[]): Promise<{ ws: WebSocket; path: string }> {
    const query = command.map((c) => `command=${encodeURIComponent(c)}`).join('&');
    const path = `/api/v1/namespaces/${ns}/pods/worker-0/exec?${query}&stdout=true&stderr=true`;
    const ws = new WebSocket(`wss://127.0.0.1:${port}/guarita-purpose/troubleshooting${path}`, ['v5.channel.k8s.io'], { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false });
    ws.on('error', () => undefined);
    await once(ws, 'open');
    return { ws, path };
  }

  const execRecord = (command: string): Rec | undefined => spoolLines(ns).find((r) => r.type === 'command' && (r.command ?? '').includes('/exec?') && (r.command ?? '').includes(encodeURIComponent(command)));

  it('an exec that ended on its own has its exit code; one the agent left before its exit status has no status and an unknown outcome', async () => {
    const done = await exec(['sh', '-c', 'exit 3']);
    await once(done.ws, 'close');
    const finished = await poll('the finished exec\'s record', () => execRecord('exit 3'));
    expect(outcome(finished)).toEqual({ status: 3, error: undefined, outcomeUnknown: undefined });
    const left = await exec(['sh', '-c', 'sleep 20']);
    await new Promise((r) => setTimeout(r, 300));
    left.ws.terminate();
    const rec = await poll('the left exec\'s record', () => execRecord('sleep 20'));
    expect(outcome(rec)).toEqual({
      status: undefined, outcomeUnknown: true,
      error: 'the agent left before the command\'s exit status arrived; the stream was closed, and whether the command went on in the container, and how it ended, is unknown',
    });
  });
});
