// What an agent leaving means for an upstream exchange (round 12 evidence review, finding 2): how far
// the request got (RequestProgress, against a real node:http server on loopback), which exchanges
// are read on for the record and within which bounds (LeftBehind), and what a record can state
// (outcomeOf: never a status nobody sent, an outcome marked unknown whenever the upstream got the
// request and no answer was read).
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { Pool } from '../undici.ts';
import { dispatchUpstream, LeftBehind, outcomeOf, RequestProgress } from './upstream.ts';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

describe('RequestProgress: how far a request got, as undici reports it', () => {
  let server: Server;
  let pool: Pool;
  let single: Pool;
  const routes = new Map<string, Route>();
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      received.push(`${req.method ?? ''} ${req.url ?? ''}`);
      const route = routes.get(req.url ?? '');
      if (route === undefined) res.writeHead(404).end();
      else route(req, res);
    });
    server.on('connection', (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    pool = new Pool(origin, { connections: 4 });
    single = new Pool(origin, { connections: 1 });
    routes.set('/json', (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': 9 }).end('{"a":"b"}'));
    routes.set('/hold', (_req, res) => { held.push(res); });
    routes.set('/created-later', (req, res) => { req.resume(); req.on('end', () => setTimeout(() => res.writeHead(201, { 'content-length': 4 }).end('done'), 150)); });
    routes.set('/early', (_req, res) => res.writeHead(413, { connection: 'close', 'content-length': 0 }).end());
    routes.set('/trickle', (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.write('start'); held.push(res); });
  });
  afterAll(async () => {
    for (const r of held) r.destroy();
    await pool.destroy();
    await single.destroy();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('a request written whole is `sent`, and its answer\'s status and body bytes are followed', async () => {
    const progress = new RequestProgress();
    expect(progress.stage).toBe('queued');
    const up = await dispatchUpstream(pool, { path: '/json', method: 'GET', headers: {} }, new AbortController().signal, progress);
    expect({ stage: progress.stage, status: progress.status }).toEqual({ stage: 'sent', status: 200 });
    await up.body.whole();
    expect(progress.bytes).toBe(9);
  });

  it('a request queued behind a busy connection is `queued`: aborted then, the upstream never sees it', async () => {
    const first = dispatchUpstream(single, { path: '/hold', method: 'GET', headers: {} }, new AbortController().signal);
    void first.catch(() => undefined);
    const progress = new RequestProgress();
    const gone = new AbortController();
    const second = dispatchUpstream(single, { path: '/json?queued', method: 'GET', headers: {} }, gone.signal, progress);
    await new Promise((r) => setTimeout(r, 50));
    expect(progress.stage).toBe('queued');
    gone.abort(new Error('the client closed the connection'));
    await expect(second).rejects.toThrow('the client closed the connection');
    expect(received).not.toContain('GET /json?queued');
    expect(progress.stage).toBe('queued');
  });

  it('a streamed body is `writing` until its last byte is written, then `sent`', async () => {
    const body = new PassThrough();
    const progress = new RequestProgress();
    const answer = dispatchUpstream(pool, { path: '/created-later', method: 'POST', headers: { 'content-length': '10' }, body }, new AbortController().signal, progress);
    body.write('12345');
    await new Promise((r) => setTimeout(r, 50));
    expect(progress.stage).toBe('writing');
    body.end('67890');
    const up = await answer;
    expect({ stage: progress.stage, status: up.statusCode }).toEqual({ stage: 'sent', status: 201 });
    expect((await up.body.whole()).toString()).toBe('done');
  });

  it('an answer before the request was written whole (an early 413) has its status while the stage is still `writing`', async () => {
    const body = new PassThrough();
    const progress = new RequestProgress();
    const answer = dispatchUpstream(pool, { path: '/early', method: 'POST', headers: { 'content-length': '100000' }, body }, new AbortController().signal, progress);
    body.write(Buffer.alloc(10, 'a'));
    const up = await answer.catch(() => undefined);
    // undici may fail the exchange instead (the connection closed mid-body): either way no false 'sent'.
    if (up !== undefined) expect(progress.status).toBe(413);
    expect(progress.stage).toBe('writing');
    body.destroy();
  });

  it('an exchange kept for an agent that left is read to its answer: the upstream\'s 201 and its body', async () => {
    const progress = new RequestProgress();
    const upstream = new AbortController();
    const answer = dispatchUpstream(pool, { path: '/created-later', method: 'POST', headers: { 'content-length': '2' }, body: Buffer.from('{}') }, upstream.signal, progress);
    await new Promise((r) => setTimeout(r, 50));
    const end = new LeftBehind().keep(progress, upstream, new Error('the client closed the connection'));
    const up = await answer;
    expect((await up.body.whole()).toString()).toBe('done');
    end();
    expect(upstream.signal.aborted).toBe(false);
  });

  it('a body that does not end within the bound is cut, with the reason, once the agent left', async () => {
    const progress = new RequestProgress();
    const upstream = new AbortController();
    const up = await dispatchUpstream(pool, { path: '/trickle', method: 'GET', headers: {} }, upstream.signal, progress);
    const end = new LeftBehind({ bodyMs: 100 }).keep(progress, upstream, new Error('gone'));
    await expect(up.body.whole()).rejects.toThrow('did not arrive within 100 ms');
    end();
  });
});

/** A RequestProgress moved to `stage` (and the answer's head, when `status`). */
function progressAt(stage: 'queued' | 'writing' | 'sent', status?: number): RequestProgress {
  const p = new RequestProgress();
  if (stage !== 'queued') p.writing();
  if (stage === 'sent') p.sent();
  if (status !== undefined) p.head(status);
  return p;
}

describe('LeftBehind: an agent that left, and what is read on for the record', () => {
  afterEach(() => { jest.useRealTimers(); });

  it('a request not sent whole (queued, or written in part) is aborted at once with the reason', () => {
    for (const stage of ['queued', 'writing'] as const) {
      const upstream = new AbortController();
      new LeftBehind().keep(progressAt(stage), upstream, new Error('the client closed the connection'));
      expect(upstream.signal.reason).toEqual(new Error('the client closed the connection'));
    }
  });

  it('a request sent whole goes on: its head is waited for without a bound of its own (the exchange\'s headers timeout)', async () => {
    jest.useFakeTimers();
    const upstream = new AbortController();
    const left = new LeftBehind({ bodyMs: 1000 });
    const progress = progressAt('sent');
    const end = left.keep(progress, upstream, new Error('gone'));
    await jest.advanceTimersByTimeAsync(60_000);
    expect(upstream.signal.aborted).toBe(false);
    expect(left.open).toBe(1);
    // The head arrives: now the body has bodyMs.
    progress.head(201);
    await jest.advanceTimersByTimeAsync(999);
    expect(upstream.signal.aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(String(upstream.signal.reason)).toMatch(/did not arrive within 1000 ms/);
    end();
    expect(left.open).toBe(0);
  });

  it('a head already read starts the body bound at once; ending the watch clears it', async () => {
    jest.useFakeTimers();
    const upstream = new AbortController();
    const end = new LeftBehind({ bodyMs: 500 }).keep(progressAt('sent', 200), upstream, new Error('gone'));
    end();
    end();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(upstream.signal.aborted).toBe(false);
  });

  it('bytes past the bound, counted from the agent\'s leaving, cut the exchange', () => {
    const upstream = new AbortController();
    const progress = progressAt('sent', 200);
    progress.received(5000); // before the agent left: not counted
    const end = new LeftBehind({ bodyBytes: 100 }).keep(progress, upstream, new Error('gone'));
    progress.received(100);
    expect(upstream.signal.aborted).toBe(false);
    progress.received(1);
    expect(String(upstream.signal.reason)).toMatch(/past 100 more bytes/);
    end();
    // After the watch ended, further bytes call nothing.
    progress.received(1_000_000);
  });

  it('beyond `max` exchanges at once, the next is aborted, naming the bound; a place freed is taken again', () => {
    const left = new LeftBehind({ max: 2 });
    const ends = [0, 1].map(() => left.keep(progressAt('sent'), new AbortController(), new Error('gone')));
    const third = new AbortController();
    left.keep(progressAt('sent'), third, new Error('the client closed the connection'));
    expect(String(third.signal.reason)).toMatch(/the client closed the connection, and 2 answers of other agents that left are being read already/);
    ends[0]?.();
    const fourth = new AbortController();
    left.keep(progressAt('sent'), fourth, new Error('gone'));
    expect(fourth.signal.aborted).toBe(false);
    expect(left.open).toBe(2);
  });
});

describe('LeftBehind: an exchange already over takes no place (round 12b, finding 1)', () => {
  afterEach(() => { jest.useRealTimers(); });

  it('keep() after RequestProgress.end() does nothing, at every stage and whether the head was read or not', () => {
    const left = new LeftBehind({ max: 2 });
    for (const [stage, status] of [['queued'], ['writing'], ['sent'], ['sent', 200], ['writing', 413]] as const) {
      const progress = progressAt(stage, status);
      progress.end();
      const upstream = new AbortController();
      const end = left.keep(progress, upstream, new Error('the client closed the connection'));
      // Nothing to abort (it is over) and no place taken.
      expect([stage, status, left.open, upstream.signal.aborted]).toEqual([stage, status, 0, false]);
      end();
      expect(left.open).toBe(0);
    }
  });

  it(`N exchanges whose agent leaves after they ended: the count is back to 0 and the next agent that leaves still gets a place`, () => {
    const left = new LeftBehind({ max: 4 });
    for (let i = 0; i < 100; i++) {
      const progress = progressAt('sent', 200);
      progress.end();
      left.keep(progress, new AbortController(), new Error('gone'));
    }
    expect(left.open).toBe(0);
    const next = new AbortController();
    const end = left.keep(progressAt('sent'), next, new Error('gone'));
    expect({ open: left.open, aborted: next.signal.aborted }).toEqual({ open: 1, aborted: false });
    end();
    expect(left.open).toBe(0);
  });

  it('an exchange kept, then over: ending it gives the place back, and a later keep() takes none', () => {
    const left = new LeftBehind({ max: 1 });
    const progress = progressAt('sent');
    const end = left.keep(progress, new AbortController(), new Error('gone'));
    expect(left.open).toBe(1);
    progress.end();
    end();
    left.keep(progress, new AbortController(), new Error('gone again'));
    expect(left.open).toBe(0);
  });

  it('keeping the same exchange twice takes one place, and its end (either one returned) gives it back once', () => {
    const left = new LeftBehind({ max: 2 });
    const progress = progressAt('sent');
    const first = left.keep(progress, new AbortController(), new Error('gone'));
    const second = left.keep(progress, new AbortController(), new Error('gone'));
    expect(left.open).toBe(1);
    second();
    first();
    expect(left.open).toBe(0);
  });

  it('the body bound of an exchange that ends is cleared: no timer fires for it, and its bytes call nothing', async () => {
    jest.useFakeTimers();
    const left = new LeftBehind({ bodyMs: 100, bodyBytes: 10 });
    const progress = progressAt('sent', 200);
    const upstream = new AbortController();
    const end = left.keep(progress, upstream, new Error('gone'));
    progress.end();
    end();
    progress.received(1_000);
    await jest.advanceTimersByTimeAsync(1_000);
    expect({ open: left.open, aborted: upstream.signal.aborted }).toEqual({ open: 0, aborted: false });
  });

  it('RequestProgress.end() drops what watch() registered, and a watch() after it registers nothing', () => {
    const progress = progressAt('sent');
    const seen: string[] = [];
    progress.watch(() => seen.push('head'), (n) => seen.push(`bytes ${n}`));
    progress.end();
    progress.head(200);
    progress.received(5);
    progress.watch(() => seen.push('late head'), (n) => seen.push(`late bytes ${n}`));
    progress.received(5);
    expect({ seen, over: progress.over }).toEqual({ seen: [], over: true });
  });
});

describe('outcomeOf: what a failed exchange\'s record states', () => {
  const stages = [['queued'], ['writing'], ['sent'], ['sent', 201], ['writing', 413]] as const;

  it('an agent that left is never recorded with a status nobody sent: the upstream\'s own when read, else none', () => {
    for (const [stage, status] of stages) {
      const o = outcomeOf({ progress: progressAt(stage, status), agentLeft: true, toAgent: 502, error: 'the client closed the connection' });
      expect(o.status).toBe(status);
    }
  });

  it('the outcome is unknown exactly when the upstream got the request (in part or whole) and no answer was read', () => {
    for (const agentLeft of [true, false]) {
      for (const [stage, status] of stages) {
        const o = outcomeOf({ progress: progressAt(stage, status), agentLeft, toAgent: 502, error: 'x' });
        expect([stage, status, agentLeft, o.outcomeUnknown]).toEqual([stage, status, agentLeft, stage !== 'queued' && status === undefined ? true : undefined]);
      }
    }
  });

  it('an agent still there is recorded with the status it gets (the refusal, or the one already sent)', () => {
    expect(outcomeOf({ progress: progressAt('queued'), agentLeft: false, toAgent: 502, error: 'connect ECONNREFUSED' })).toEqual({ status: 502, error: 'connect ECONNREFUSED' });
    expect(outcomeOf({ progress: progressAt('sent', 200), agentLeft: false, toAgent: 200, error: 'other side closed' })).toEqual({ status: 200, error: 'other side closed' });
  });

  it('the error says what is known: nothing forwarded, part of the request, or the whole request without an answer', () => {
    expect(outcomeOf({ progress: progressAt('queued'), agentLeft: true, toAgent: 502, error: 'gone' }).error).toBe('the agent left before its request was sent to the upstream; nothing was forwarded (gone)');
    expect(outcomeOf({ progress: progressAt('writing'), agentLeft: true, toAgent: 502, error: 'gone' }).error).toBe('the agent left before the upstream answered; the upstream got part of the request, and its answer was not read (gone)');
    expect(outcomeOf({ progress: progressAt('sent'), agentLeft: true, toAgent: 502, error: 'gone' }).error).toBe('the agent left before the upstream answered; the upstream got the whole request, and its answer was not read (gone)');
    // Agent there, the session revoked or a headers timeout after the upstream got it all.
    expect(outcomeOf({ progress: progressAt('sent'), agentLeft: false, toAgent: 502, error: 'the session was revoked' })).toEqual({
      status: 502, outcomeUnknown: true, error: 'the session was revoked; the upstream got the whole request, and its answer was not read: what it did is unknown',
    });
    expect(outcomeOf({ progress: progressAt('sent', 201), agentLeft: true, toAgent: 502, error: 'the rest did not arrive' })).toEqual({ status: 201, error: 'the rest did not arrive' });
  });
});
