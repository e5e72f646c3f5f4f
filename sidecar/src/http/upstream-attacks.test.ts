// Issue 19 round 4 review of dispatchUpstream (undici dispatch() with the proxy's own handler),
// attacked by an upstream that lies about framing, as a penetration tester's server would: more
// bytes than its Content-Length (a second, forged response behind the first: desync), a body on
// 204 and 304, chunked bodies with trailers and extensions, interim answers, resets at every stage,
// and a flood of exchanges the agent abandons mid-body. A raw TCP server writes the bytes exactly.
// What the proxy reads is never more than the declared body, never another request's answer, and
// the connection pool keeps answering each request with its own response.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Pool } from '../undici.ts';
import { dispatchUpstream, type UpstreamResponse } from './upstream.ts';

/** Raw answers by request path: the exact bytes the upstream writes (then, optionally, it closes). */
const ANSWERS: Record<string, { bytes: string; close?: boolean }> = {
  '/ok': { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}' },
  // The body is 2 bytes; what follows is a forged answer for whoever asks next on this connection.
  '/desync': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\n{"cpf":"590.830.166-33"}' },
  '/no-content-with-body': { bytes: 'HTTP/1.1 204 No Content\r\nContent-Length: 23\r\n\r\n{"cpf":"590.830.166-33"}' },
  '/not-modified-with-body': { bytes: 'HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\n{"cpf":"590.830.166-33"}' },
  '/chunked-trailers': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-cpf\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-cpf: 590.830.166-33\r\n\r\n' },
  '/chunked-and-length': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  '/two-lengths': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 23\r\n\r\n{"cpf":"590.830.166-33"}' },
  '/continue-then-ok': { bytes: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine' },
  '/reset-in-headers': { bytes: 'HTTP/1.1 200 OK\r\nContent-Len', close: true },
  '/reset-in-chunk': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly-', close: true },
  '/close-delimited': { bytes: 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end', close: true },
};

describe('dispatchUpstream against an upstream that lies about framing', () => {
  let server: Server;
  let pool: Pool;
  const sockets = new Set<Socket>();
  /** The slow route's sockets: the flood test reads how many are still open. */
  const flood = new Set<Socket>();

  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => { sockets.delete(socket); flood.delete(socket); });
      socket.on('error', () => undefined);
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
          const head = pending.slice(0, end);
          pending = pending.slice(end + 4);
          const path = head.split(' ')[1] ?? '';
          if (path === '/flood') {
            // A large answer sent as fast as the socket takes it; the agent abandons it midway.
            flood.add(socket);
            socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`);
            const piece = Buffer.alloc(64 * 1024, 'x');
            const pump = (): void => { while (socket.writable && socket.write(piece)) { /* until the socket pushes back */ } };
            socket.on('drain', pump);
            pump();
            continue;
          }
          const answer = ANSWERS[path] ?? { bytes: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n' };
          socket.write(answer.bytes);
          if (answer.close === true) socket.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // One connection: every exchange reuses it when undici can, so a desync would show.
    pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1, pipelining: 1 });
  });

  afterAll(async () => {
    await pool.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const get = (path: string, method = 'GET', signal = new AbortController().signal): Promise<UpstreamResponse> => dispatchUpstream(pool, { path, method, headers: {} }, signal);
  const text = async (path: string, method = 'GET'): Promise<{ status: number; body: string }> => {
    const up = await get(path, method);
    return { status: up.statusCode, body: (await up.body.whole()).toString('latin1') };
  };
  /** The answer's body, or the error reading it failed with. */
  const outcome = async (path: string, method = 'GET'): Promise<string> => {
    try {
      const t = await text(path, method);
      return `${t.status} ${t.body}`;
    } catch (err) {
      return `error ${(err as Error).message}`;
    }
  };

  it('bytes after a declared body never become the next request\'s answer (response desync)', async () => {
    const first = await outcome('/desync');
    expect(first).not.toContain('590.830');
    for (let i = 0; i < 3; i++) expect(await outcome('/ok')).toBe('200 {"ok":true}');
  });

  it('a 204 or a 304 carrying a body: no body is read, and what followed is never the next answer', async () => {
    for (const path of ['/no-content-with-body', '/not-modified-with-body']) {
      const got = await outcome(path);
      expect(got).not.toContain('590.830');
      expect(await outcome('/ok')).toBe('200 {"ok":true}');
    }
  });

  it('HEAD answered with a body: the body is not read, and the next answer is its own', async () => {
    expect(await outcome('/desync', 'HEAD')).not.toContain('590.830');
    expect(await outcome('/ok')).toBe('200 {"ok":true}');
  });

  it('a chunked body with extensions and trailers is the chunks\' bytes (trailers are not body), read whole and as a stream', async () => {
    expect(await outcome('/chunked-trailers')).toBe('200 hello world');
    const up = await get('/chunked-trailers');
    const parts: Buffer[] = [];
    for await (const c of up.body.stream()) parts.push(c as Buffer);
    expect(Buffer.concat(parts).toString()).toBe('hello world');
  });

  it('ambiguous framing (Content-Length with chunked, two Content-Lengths) fails the exchange or reads one framing, never the forged bytes', async () => {
    for (const path of ['/chunked-and-length', '/two-lengths']) {
      const got = await outcome(path);
      expect(got).not.toContain('590.830');
      expect(await outcome('/ok')).toBe('200 {"ok":true}');
    }
  });

  it('unsolicited 100 and 102 answers: the exchange fails (undici calls it a bad response) or the final answer is read; never an interim head as the answer, and the pool goes on', async () => {
    expect(await outcome('/continue-then-ok')).toMatch(/^(200 fine|error )/);
    expect(await outcome('/ok')).toBe('200 {"ok":true}');
  });

  it('resets in the headers, in a chunk and a close-delimited body: failed or read to the close, never hanging, and the pool goes on', async () => {
    expect(await outcome('/reset-in-headers')).toMatch(/^error /);
    expect(await outcome('/reset-in-chunk')).toMatch(/^error /);
    expect(await outcome('/close-delimited')).toBe('200 until the end');
    expect(await outcome('/ok')).toBe('200 {"ok":true}');
  });

  it('a flood of large answers abandoned midway (stream destroyed, agent gone, refused): every exchange ends, no unhandled error, the pool answers next', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => { unhandled.push(e); };
    process.on('unhandledRejection', onUnhandled);
    try {
      for (let i = 0; i < 12; i++) {
        const agent = new AbortController();
        const up = await get('/flood', 'GET', agent.signal);
        const how = i % 3;
        if (how === 0) {
          const stream = up.body.stream();
          stream.on('error', () => undefined);
          // Read a little, then stop (leaving the iteration destroys the stream).
          const reader = stream[Symbol.asyncIterator]();
          await reader.next();
          await reader.return?.();
        } else if (how === 1) {
          const reading = up.body.whole().catch((e: unknown) => e);
          agent.abort(new Error('the agent went away'));
          expect(await reading).toBeInstanceOf(Error);
        } else {
          up.body.discard();
        }
        expect(await outcome('/ok')).toBe('200 {"ok":true}');
      }
      // Every abandoned exchange's connection was closed (an abandoned body is never read to its end).
      expect(flood.size).toBe(0);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
