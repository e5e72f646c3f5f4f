// Round 12b adversarial review of 43897db (an agent leaving mid-request, HTTP and Kubernetes API).
// The in-process Kubernetes listener in front of a stand-in apiserver over TLS (as in
// evidence-round12-http-fixes.int), records read back from the sidecar's spool.
//
// Finding 1: the Kubernetes proxy's 'close' listener on the agent's response stays registered after
// the exchange ended. A response closed unfinished after that (the proxy itself destroying it when
// an answer breaks after its head, or the agent leaving while the held answer is still being
// flushed) calls LeftBehind.keep() for an exchange that is over: the place it takes is never given
// back. After MAX_LEFT_BEHIND such exchanges the listener reads no answer for any agent that
// leaves: a create the apiserver answered 201 is recorded as "outcome unknown".
//
// Finding 2: the Kubernetes proxy notices the agent leaving only from a 'close' listener added in
// #forward; an agent that leaves earlier (while it is authenticated and the request judged) is never
// noticed: the request is still forwarded, a watch is held open upstream for nobody (until the
// session closes), and a non-stream answer is read outside the LeftBehind bounds. The HTTP proxy
// handles the same case (#forward: `if (out.abort.signal.aborted) left()`: nothing is forwarded).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Server, ServerResponse } from 'node:http';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { silentLogger } from '../src/log.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { KubeProxy } from '../src/kubernetes/proxy.ts';
import { MAX_LEFT_BEHIND } from '../src/http/upstream.ts';
import { startStandInKube } from './kubernetes-sidecar.ts';
import { namespaceSpoolRecords } from './spool-read.ts';

jest.setTimeout(180_000);

interface Rec { type?: string; command?: string; decision?: string; result?: { status?: number; bytes?: number; error?: string; outcomeUnknown?: boolean } }

const spoolLines = (namespace: string): Rec[] => namespaceSpoolRecords<Rec>(namespace);

const recordsOf = (ns: string, path: string): Rec[] => spoolLines(ns).filter((r) => r.type === 'command' && (r.command ?? '').split('\n').slice(0, 2).some((line) => line.endsWith(` ${path}`)));

function recordFor(ns: string, path: string, ms = 20_000): Promise<Rec> {
  return eventually(`the record of ${path}`, () => Promise.resolve(recordsOf(ns, path)[0]), ms, 100);
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  await eventually(what, () => Promise.resolve(check() ? true : undefined), ms, 10);
}

const outcome = (r: Rec): { status?: number; error?: string; outcomeUnknown?: boolean } => ({ status: r.result?.status, error: r.result?.error, outcomeUnknown: r.result?.outcomeUnknown });

/** What a listener holding nothing for any exchange reports (KubeProxy.held). */
const NOTHING_HELD = { inFlight: 0, leftBehind: 0, streams: 0, bodyBytes: 0, answerBytes: 0, unrecorded: 0 };

/**
 * A second Kubernetes listener on the running sidecar's enforcer (its policies, sessions' records and
 * spool), whose counters the tests read: what it holds for exchanges must be back to 0 once they end.
 */
async function countedListener(sidecar: RunningSidecar): Promise<{ proxy: KubeProxy; port: number }> {
  const { config } = sidecar;
  const target = config.targets[0];
  if (target === undefined) throw new Error('the sidecar has no target');
  const caDir = join(tmpdir(), `h12b-counted-${suffix()}`);
  mkdirSync(caDir);
  const proxy = new KubeProxy({
    host: '127.0.0.1', port: 0, target, enforcer: sidecar.enforcer, credentialsDir: config.credentialsDir, caDir, logger: silentLogger(), metrics: sidecar.metrics,
    maxBufferedBody: config.httpMaxBufferedBody, maxResponseBytes: config.kubeMaxResponseBytes, memoryLimitBytes: config.kubeMemoryLimit, maxWatches: config.kubeMaxWatches,
  });
  const { port } = await proxy.listen();
  return { proxy, port };
}

/** The agent's TLS connection to the listener at `port`, once its handshake is done (errors ignored). */
async function tlsAgentSocket(port: number): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
  return socket;
}

/** An agent's request under purpose troubleshooting with `bearer`, as raw bytes (a JSON body when `body` is given). */
function kubeRequest(bearer: string, method: string, path: string, body?: string): string {
  const head = [`${method} /guarita-purpose/troubleshooting${path} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${bearer}`];
  if (body !== undefined) head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  return `${head.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

/** On `socket`, the agent (`bearer`) creates ConfigMap `refund` in `ns` and leaves once the apiserver got the whole create (`ended`); its record. */
async function createThenLeave(ns: string, socket: TLSSocket, bearer: string, ended: string[]): Promise<Rec> {
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  socket.write(kubeRequest(bearer, 'POST', path, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'refund' } })));
  await until('the apiserver got the whole create', () => ended.includes(`POST ${path}`));
  socket.destroy();
  return recordFor(ns, path);
}

describe('Kubernetes API: round 12b attacks on the left-behind answers', () => {
  const ns = `h12b-kube-${suffix()}`;
  let sidecar: RunningSidecar;
  let apiserver: Server;
  let port = 0;
  let token = '';
  const ended: string[] = [];
  /** Watches open at the stand-in apiserver (their responses, until the sidecar closes them). */
  const watches = new Set<ServerResponse>();
  /** The counted listener (countedListener) and its port. */
  let counted: KubeProxy;
  let countedPort = 0;
  const BIG = JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'big' }, data: { blob: 'a'.repeat(4 * 1024 * 1024) } });

  beforeAll(async () => {
    // A stand-in apiserver: a create answers 201 after 400 ms; a pod's log sends its head and one
    // line, then breaks the connection; a watch sends nothing and stays open; anything else 200 {}.
    ({ apiserver, sidecar, port, token } = await startStandInKube(ns, (req, res) => {
      const url = req.url ?? '';
      ended.push(`${req.method ?? ''} ${url}`);
      if (req.method === 'POST') {
        setTimeout(() => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'refund', namespace: ns } })), 400);
      } else if (url.includes('/log')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first line\n');
        setTimeout(() => res.socket?.destroy(), 50);
      } else if (url.includes('/configmaps/big')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(BIG);
      } else if (url.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        watches.add(res);
        res.on('close', () => watches.delete(res));
      } else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }, [{ name: 'all', match: { kubernetes: { verbs: ['create', 'get', 'list', 'watch'], resources: ['configmaps', 'pods', 'pods/log'], namespaces: [ns] } }, action: 'allow' }]));
    ({ proxy: counted, port: countedPort } = await countedListener(sidecar));
  }, 120_000);

  afterAll(async () => {
    for (const r of watches) r.destroy();
    await counted?.close(1000);
    await sidecar?.shutdown('test over');
    apiserver?.closeAllConnections();
    await new Promise((r) => apiserver?.close(r));
  });

  const agentSocket = (to = port): Promise<TLSSocket> => tlsAgentSocket(to);
  const request = (method: string, path: string, body?: string, bearer = token): string => kubeRequest(bearer, method, path, body);

  it(`finding 1: answers broken after their head, with the agent still there, leak the places of the left-behind bound: after ${MAX_LEFT_BEHIND} of them a create answered 201 after its agent left is no longer recorded with its 201`, async () => {
    // The agent stays: each log answer breaks after its head (the proxy destroys the agent's
    // response, which is then closed unfinished, after the exchange was recorded).
    for (let i = 0; i < MAX_LEFT_BEHIND; i++) {
      const path = `/api/v1/namespaces/${ns}/pods/p${i}/log`;
      const socket = await agentSocket();
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      socket.resume();
      socket.write(request('GET', path));
      await closed;
      await recordFor(ns, path);
    }
    // Now an agent leaves a create once the apiserver got it whole: the apiserver answers 201.
    const rec = await createThenLeave(ns, await agentSocket(), token, ended);
    // What 43897db promises for one agent leaving (no other answer is being read for a gone agent): the apiserver's 201.
    expect(outcome(rec)).toEqual({ status: 201, error: undefined, outcomeUnknown: undefined });
  });

  it('finding 2: a watch whose agent left before it was forwarded (while its fresh token was reviewed) is forwarded anyway and held open upstream for nobody', async () => {
    let forwarded = 0;
    const paths: string[] = [];
    for (let i = 0; i < 3; i++) {
      // A fresh token: the sidecar reviews it at the apiserver (TokenReview) before judging the request.
      const fresh = await serviceAccountToken(ns, 'support-agent', 'guarita', 3600 + i);
      const path = `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${i}`;
      paths.push(path);
      const socket = await agentSocket();
      const head = [`GET /guarita-purpose/troubleshooting${path} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${fresh}`];
      // The whole request, then the agent is gone at once.
      socket.write(`${head.join('\r\n')}\r\n\r\n`, () => socket.destroy());
      await until('the watch reached the apiserver, or was not forwarded', () => ended.includes(`GET ${path}`), 3_000).catch(() => undefined);
      if (ended.includes(`GET ${path}`)) forwarded++;
    }
    // Every agent has left; a watch lasts "only as long as the agent keeps it" (proxy.ts #forward).
    await new Promise((r) => setTimeout(r, 5_000));
    // The HTTP proxy's rule for the same case: nothing is forwarded for an agent already gone; at the least, a forwarded watch is cut.
    expect({ forwardedForGoneAgents: forwarded, watchesOpenUpstream: watches.size }).toEqual({ forwardedForGoneAgents: 0, watchesOpenUpstream: 0 });
    // Each is recorded as what happened: judged, nothing forwarded, no status (nobody got one).
    for (const path of paths) {
      const rec = await recordFor(ns, path);
      expect(outcome(rec)).toEqual({ status: undefined, error: expect.stringMatching(/^the agent left before its request was sent to the upstream; nothing was forwarded/), outcomeUnknown: undefined });
    }
  });

  describe('what the listener holds is back to 0 once the exchanges end (KubeProxy.held)', () => {
    const N = 12;
    // Waits for the condition (not for time); the expect after it shows what is still held if it never comes.
    const idle = (): Promise<void> => until('the counted listener holds nothing', () => JSON.stringify(counted.held) === JSON.stringify(NOTHING_HELD)).catch(() => undefined);

    it(`${N} answers broken after their head, the agent still there: no LeftBehind place stays taken`, async () => {
      for (let i = 0; i < N; i++) {
        const path = `/api/v1/namespaces/${ns}/pods/held${i}/log`;
        const socket = await agentSocket(countedPort);
        const closed = new Promise<void>((r) => socket.once('close', () => r()));
        socket.resume();
        socket.write(request('GET', path));
        await closed;
        await recordFor(ns, path);
      }
      await idle();
      expect(counted.held).toEqual(NOTHING_HELD);
    });

    it(`${N} large answers left unread by agents that leave once they are recorded: no place, no answer memory stays taken`, async () => {
      for (let i = 0; i < N; i++) {
        const path = `/api/v1/namespaces/${ns}/configmaps/big${i}`;
        const socket = await agentSocket(countedPort);
        socket.pause();
        socket.write(request('GET', path));
        await recordFor(ns, path);
        socket.destroy();
      }
      await idle();
      expect(counted.held).toEqual(NOTHING_HELD);
    });

    it(`${N} creates whose agents leave once the apiserver has them: each recorded with the apiserver's 201, every place given back`, async () => {
      for (let i = 0; i < N; i++) {
        const path = `/api/v1/namespaces/${ns}/configmaps?n=${i}`;
        const socket = await agentSocket(countedPort);
        socket.write(request('POST', path, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `refund-${i}` } })));
        await until('the apiserver got the whole create', () => ended.includes(`POST ${path}`));
        socket.destroy();
        expect(outcome(await recordFor(ns, path))).toEqual({ status: 201, error: undefined, outcomeUnknown: undefined });
      }
      await idle();
      expect(counted.held).toEqual(NOTHING_HELD);
    });

    it('agents leaving during authentication (a watch, a get, a create with its body): nothing forwarded, no watch slot or body bytes held', async () => {
      const cases = [
        { method: 'GET', path: `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=gone` },
        { method: 'GET', path: `/api/v1/namespaces/${ns}/configmaps/gone-get` },
        { method: 'POST', path: `/api/v1/namespaces/${ns}/configmaps?gone=post`, body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'gone' } }) },
      ];
      for (const [i, c] of cases.entries()) {
        // A fresh token: the sidecar reviews it at the apiserver before anything else.
        const fresh = await serviceAccountToken(ns, 'support-agent', 'guarita', 3700 + i);
        const socket = await agentSocket(countedPort);
        socket.write(request(c.method, c.path, c.body, fresh), () => socket.destroy());
      }
      // Judged requests are recorded as not forwarded (each record is written once its exchange is
      // over); the create's body was never read, so it was not judged either.
      for (const c of cases.filter((x) => x.body === undefined)) {
        expect(outcome(await recordFor(ns, c.path))).toEqual({ status: undefined, error: expect.stringMatching(/nothing was forwarded/), outcomeUnknown: undefined });
      }
      await idle();
      expect(ended.filter((e) => cases.some((c) => e === `${c.method} ${c.path}`))).toEqual([]);
      expect(counted.held).toEqual(NOTHING_HELD);
    });

    it('agents leaving halfway through their request body: the body bytes charged are given back', async () => {
      for (let i = 0; i < N; i++) {
        const socket = await agentSocket(countedPort);
        const path = `/api/v1/namespaces/${ns}/configmaps?half=${i}`;
        const head = request('POST', path, 'x'.repeat(200_000));
        socket.write(head.slice(0, head.length - 100_000), () => setTimeout(() => socket.destroy(), 20));
      }
      await idle();
      expect(counted.held).toEqual(NOTHING_HELD);
      expect(ended.filter((e) => e.includes('half='))).toEqual([]);
    });
  });
});

describe('Kubernetes API: finding 1 driven by the agent alone (large answers it leaves unread once recorded)', () => {
  const ns = `h12b-kube1b-${suffix()}`;
  let sidecar: RunningSidecar;
  let apiserver: Server;
  let port = 0;
  let token = '';
  const ended: string[] = [];
  const BIG = JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'big' }, data: { blob: 'a'.repeat(8 * 1024 * 1024) } });

  beforeAll(async () => {
    ({ apiserver, sidecar, port, token } = await startStandInKube(ns, (req, res) => {
      ended.push(`${req.method ?? ''} ${req.url ?? ''}`);
      if (req.method === 'POST') setTimeout(() => res.writeHead(201, { 'content-type': 'application/json' }).end('{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"refund"}}'), 400);
      else res.writeHead(200, { 'content-type': 'application/json' }).end(BIG);
    }, [{ name: 'all', match: { kubernetes: { verbs: ['create', 'get'], resources: ['configmaps'], namespaces: [ns] } }, action: 'allow' }]));
  }, 120_000);

  afterAll(async () => {
    await sidecar?.shutdown('test over');
    apiserver?.closeAllConnections();
    await new Promise((r) => apiserver?.close(r));
  });

  const agentSocket = (): Promise<TLSSocket> => tlsAgentSocket(port);
  const request = (method: string, path: string, body?: string): string => kubeRequest(token, method, path, body);

  it(`${MAX_LEFT_BEHIND} agents each reading nothing of a large answer and leaving once it is recorded: the next agent's create answered 201 is still recorded with its 201`, async () => {
    for (let i = 0; i < MAX_LEFT_BEHIND; i++) {
      const path = `/api/v1/namespaces/${ns}/configmaps/big${i}`;
      const socket = await agentSocket();
      socket.pause();
      socket.write(request('GET', path));
      // The exchange is over (recorded, its answer released to the agent's connection), then the agent leaves unread.
      await recordFor(ns, path);
      await new Promise((r) => setTimeout(r, 50));
      socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    const rec = await createThenLeave(ns, await agentSocket(), token, ended);
    expect(outcome(rec)).toEqual({ status: 201, error: undefined, outcomeUnknown: undefined });
  });
});
