// dispatchUpstream against a real node:http server on loopback: the answer read whole or as a
// stream gives the upstream's bytes; every way an exchange ends early (the agent leaves before or
// after the answer's headers, the proxy refuses the body, the upstream sends fewer bytes than it
// declared or resets) fails what the proxy reads, never hangs and never leaves an unhandled error;
// a reader that stops reading stops the upstream socket (backpressure), as undici's request() did.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { Pool } from '../undici.ts';
import { dispatchUpstream } from './upstream.ts';

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
