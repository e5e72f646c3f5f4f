// dispatchUpstream against a real node:http server on loopback: the answer read whole or as a
// stream gives the upstream's bytes; every way an exchange ends early (the agent leaves before or
// after the answer's headers, the proxy refuses the body, the upstream sends fewer bytes than it
// declared or resets) fails what the proxy reads, never hangs and never leaves an unhandled error;
// a reader that stops reading stops the upstream socket (backpressure), as undici's request() did.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { Pool, readContinueAsInterim } from '../undici.ts';
import { dispatchUpstream, MAX_INTERIM_ANSWERS } from './upstream.ts';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

const BIG = Buffer.alloc(32 * 1024 * 1024, 'a');

describe('dispatchUpstream (undici dispatch() with the proxy\'s own handler)', () => {
  let server: Server;
  let pool: Pool;
  const routes = new Map<string, Route>();
  const sockets = new Set<Socket>();
  /** What the server saw of each request: whether its response finished, and the request body. */
  const seen = new Map<string, { finished: boolean; closed: Promise<void>; res: ServerResponse; body: string }>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      const entry = { finished: false, closed: once(res, 'close').then(() => undefined), res, body: '' };
      seen.set(req.url ?? '', entry);
      res.once('finish', () => { entry.finished = true; });
      req.on('data', (c: Buffer) => { entry.body += c.toString(); });
      const route = routes.get(req.url ?? '');
      if (route === undefined) res.writeHead(404).end();
      else route(req, res);
    });
    server.on('connection', (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 8 });
    routes.set('/json', (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': 9 }).end('{"a":"b"}'));
    routes.set('/chunked', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('one,');
      setImmediate(() => res.end('two'));
    });
    routes.set('/early-hints', (_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.writeHead(201, { 'x-kind': 'final' }).end('done');
    });
    routes.set('/short', (req, res) => {
      res.writeHead(200, { 'content-length': 100 });
      res.write('only part');
      setImmediate(() => req.socket.destroy());
    });
    routes.set('/slow-headers', () => undefined);
    routes.set('/slow-body', (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.write('start'); });
    routes.set('/big', (_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length }).end(BIG));
    routes.set('/echo', (req, res) => { req.on('end', () => res.writeHead(200).end('ok')); });
    routes.set('/head', (_req, res) => res.writeHead(200, { 'content-length': 1234 }).end());
  });
  afterAll(async () => {
    await pool.destroy();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  const get = (path: string, signal = new AbortController().signal, method = 'GET'): ReturnType<typeof dispatchUpstream> =>
    dispatchUpstream(pool, { path, method, headers: {} }, signal);

  it('reads a body of declared length whole, and a chunked one as a stream, byte for byte', async () => {
    const json = await get('/json');
    expect(json.statusCode).toBe(200);
    expect(json.headers['content-type']).toBe('application/json');
    expect((await json.body.whole()).toString()).toBe('{"a":"b"}');
    const chunked = await get('/chunked');
    const parts: Buffer[] = [];
    for await (const c of chunked.body.stream()) parts.push(c as Buffer);
    expect(Buffer.concat(parts).toString()).toBe('one,two');
    // Read whole after the body has already arrived (nothing asked for it while it came in).
    const late = await get('/chunked');
    await new Promise((r) => setTimeout(r, 50));
    expect((await late.body.whole()).toString()).toBe('one,two');
  });

  it('skips interim 1xx answers (103 Early Hints): the final status and headers are the answer', async () => {
    const up = await get('/early-hints');
    expect(up.statusCode).toBe(201);
    expect(up.headers['x-kind']).toBe('final');
    expect((await up.body.whole()).toString()).toBe('done');
  });

  it('HEAD with a Content-Length: no body is waited for (dump resolves)', async () => {
    const up = await get('/head', undefined, 'HEAD');
    expect(up.headers['content-length']).toBe('1234');
    await up.body.dump();
  });

  it('fails a body shorter than its Content-Length (whole and stream), never resolving it as complete', async () => {
    await expect((await get('/short')).body.whole()).rejects.toThrow();
    const streamed = (await get('/short')).body.stream();
    await expect((async () => { for await (const c of streamed) void c; })()).rejects.toThrow();
  });

  it('the agent leaving before the answer rejects with its reason and closes the upstream request', async () => {
    const gone = new AbortController();
    const pending = get('/slow-headers', gone.signal);
    await new Promise((r) => setTimeout(r, 50));
    gone.abort(new Error('the client closed the connection'));
    await expect(pending).rejects.toThrow('the client closed the connection');
    await seen.get('/slow-headers')?.closed;
    // Already aborted: nothing is sent at all.
    await expect(get('/json', AbortSignal.abort(new Error('gone already')))).rejects.toThrow('gone already');
  });

  it('the agent leaving during the body fails the body (whole and stream) with its reason', async () => {
    const gone = new AbortController();
    const up = await get('/slow-body', gone.signal);
    const whole = up.body.whole();
    gone.abort(new Error('the client closed the connection'));
    await expect(whole).rejects.toThrow('the client closed the connection');
    const gone2 = new AbortController();
    const streamed = (await get('/slow-body', gone2.signal)).body.stream();
    const reading = (async () => { for await (const c of streamed) void c; })();
    gone2.abort(new Error('left mid-stream'));
    await expect(reading).rejects.toThrow('left mid-stream');
  });

  it('discard() of a refused answer ends the upstream exchange, before or after the stream was made, without an unhandled error', async () => {
    const up = await get('/slow-body');
    up.body.discard();
    await seen.get('/slow-body')?.closed;
    expect(seen.get('/slow-body')?.finished).toBe(false);
    const again = await get('/slow-body');
    const stream = again.body.stream();
    again.body.discard();
    expect(stream.destroyed).toBe(true);
    await seen.get('/slow-body')?.closed;
    // A completed answer: discard is harmless.
    const done = await get('/json');
    expect((await done.body.whole()).toString()).toBe('{"a":"b"}');
    done.body.discard();
  });

  it('a body is read one way only', async () => {
    const up = await get('/json');
    await up.body.whole();
    expect(() => up.body.stream()).toThrow('already being read');
  });

  /**
   * Waits until the server's 32 MiB answer stops moving (what the socket still holds is the same
   * twice in a row) or is all sent; then says whether it is all sent.
   */
  async function serverStalled(): Promise<boolean> {
    let last = -1;
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const entry = seen.get('/big');
      if (entry === undefined || entry.finished) return false;
      const held = entry.res.socket?.writableLength ?? 0;
      if (held > 0 && held === last) return true;
      last = held;
    }
    return false;
  }

  it('a reader that does not read pauses the upstream socket (backpressure), and reading resumes it to the last byte', async () => {
    const up = await get('/big');
    const stream = up.body.stream();
    // Without backpressure the sidecar would read the whole answer into memory and the server would finish.
    expect(await serverStalled()).toBe(true);
    expect(stream.readableLength).toBeLessThan(1024 * 1024);
    let bytes = 0;
    for await (const c of stream) bytes += (c as Buffer).length;
    expect(bytes).toBe(BIG.length);
    // Nobody asked for the body yet: the socket is held past a bound before the proxy picks how to read it.
    const unasked = await get('/big');
    expect(await serverStalled()).toBe(true);
    expect((await unasked.body.whole()).length).toBe(BIG.length);
  });

  it('sends a streamed request body, and destroys it when the exchange fails', async () => {
    const body = new PassThrough();
    const sending = dispatchUpstream(pool, { path: '/echo', method: 'POST', headers: {}, body }, new AbortController().signal);
    body.end('payload');
    expect((await (await sending).body.whole()).toString()).toBe('ok');
    expect(seen.get('/echo')?.body).toBe('payload');
    const stuck = new PassThrough();
    const gone = new AbortController();
    const failing = dispatchUpstream(pool, { path: '/echo', method: 'POST', headers: {}, body: stuck }, gone.signal);
    stuck.write('part');
    await new Promise((r) => setTimeout(r, 50));
    gone.abort(new Error('agent gone'));
    await expect(failing).rejects.toThrow('agent gone');
    expect(stuck.destroyed).toBe(true);
  });
});

describe('interim (1xx) answers the upstream sends unasked (RFC 9110 §15.2)', () => {
  // A raw upstream: each request on a connection is answered by the next script of the test, its
  // parts written apart (a pause between them) or glued in one write.
  let server: NetServer;
  let scripts: { parts: string[]; close?: boolean }[] = [];
  const sockets = new Set<Socket>();
  const origin = (): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  beforeAll(async () => {
    server = createNetServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.on('data', () => {
        const script = scripts.shift();
        if (script === undefined) return;
        void (async () => {
          for (const part of script.parts) {
            socket.write(part);
            await new Promise((r) => setTimeout(r, 10));
          }
          if (script.close === true) socket.end();
        })();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  const OK = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nfinal';
  const CHUNKED = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n2\r\nfi\r\n3\r\nnal\r\n0\r\n\r\n';
  const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
  const PROCESSING = 'HTTP/1.1 102 Processing\r\n\r\n';
  const HINTS = 'HTTP/1.1 103 Early Hints\r\nlink: </customers/59083016633.json>; rel=preload\r\n\r\n';

  /** One pool (one connection) per case, with the proxy's reading of 100 Continue; `read` the body whole. */
  async function exchange(parts: string[], opts: { close?: boolean; plain?: boolean; then?: string[] } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown>; next?: string }> {
    scripts = [{ parts, ...(opts.close === true ? { close: true } : {}) }, ...(opts.then === undefined ? [] : [{ parts: opts.then }])];
    const pool = new Pool(origin(), { connections: 1 });
    if (opts.plain !== true) readContinueAsInterim(pool);
    try {
      const up = await dispatchUpstream(pool, { path: '/', method: 'GET', headers: {} }, new AbortController().signal);
      const body = (await up.body.whole()).toString();
      let next: string | undefined;
      if (opts.then !== undefined) next = (await (await dispatchUpstream(pool, { path: '/next', method: 'GET', headers: {} }, new AbortController().signal)).body.whole()).toString();
      return { status: up.statusCode, body, headers: up.headers, ...(next === undefined ? {} : { next }) };
    } finally {
      await pool.destroy();
    }
  }

  it.each([
    ['100 Continue, apart', [CONTINUE, OK]],
    ['100 Continue glued to the answer', [CONTINUE + OK]],
    ['102 Processing', [PROCESSING, OK]],
    ['103 Early Hints', [HINTS, OK]],
    ['several, of each kind, apart and glued', [PROCESSING, HINTS + CONTINUE, CONTINUE + HINTS + OK]],
    ['a chunked answer after them', [CONTINUE, HINTS + CHUNKED]],
    [`${MAX_INTERIM_ANSWERS} (the bound)`, [HINTS.repeat(MAX_INTERIM_ANSWERS), OK]],
  ])('%s: skipped, the final answer is the answer', async (_name, parts) => {
    const answer = await exchange(parts);
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('final');
    // The interim answers' headers are not the answer's (103's Link is dropped).
    expect(answer.headers.link).toBeUndefined();
  });

  it('the connection stays in step: the next request on it gets its own answer', async () => {
    const answer = await exchange([CONTINUE + HINTS, OK], { then: ['HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext'] });
    expect(answer.body).toBe('final');
    expect(answer.next).toBe('next');
  });

  it('without readContinueAsInterim undici fails the exchange on a 100 (why the proxy needs it)', async () => {
    await expect(exchange([CONTINUE, OK], { plain: true })).rejects.toThrow('bad response');
  });

  it(`more than ${MAX_INTERIM_ANSWERS} interim answers fail the exchange (an upstream cannot hold it forever)`, async () => {
    await expect(exchange([HINTS.repeat(MAX_INTERIM_ANSWERS + 1), OK])).rejects.toThrow(`more than ${MAX_INTERIM_ANSWERS} interim (1xx) answers`);
    await expect(exchange([PROCESSING.repeat(1000) + OK])).rejects.toThrow('interim (1xx) answers');
  });

  it('101 Switching Protocols to a request that asked for no upgrade is refused, with or without Upgrade headers', async () => {
    await expect(exchange(['HTTP/1.1 101 Switching Protocols\r\n\r\n', OK])).rejects.toThrow('101 Switching Protocols');
    await expect(exchange(['HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n', 'not http'])).rejects.toThrow();
  });

  it('an interim answer, then the connection closed: fails (no final answer), never hangs', async () => {
    await expect(exchange([CONTINUE], { close: true })).rejects.toThrow();
    await expect(exchange([HINTS + PROCESSING], { close: true })).rejects.toThrow();
  });
});
