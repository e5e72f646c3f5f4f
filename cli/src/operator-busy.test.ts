// The operator answers 503 while it builds another store-log proof (one at a time) or is not
// ready: the CLI asks again after the Retry-After it names, a bounded number of times, and never
// waits longer than BUSY_WAIT_MAX_MS for one answer.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BUSY_ATTEMPTS, busyWaitMs, OperatorClient } from './operator-client.ts';

let server: Server;
let port = 0;
const asked = new Map<string, number>();

/** What the operator answers the n-th time a shape is asked. */
function answer(shape: string, n: number): 200 | { code: number; retryAfter?: string } {
  switch (shape) {
    case 'twice': return n <= 2 ? { code: 503, retryAfter: '1' } : 200;
    case 'always': return { code: 503, retryAfter: '1' };
    case 'hour': return { code: 503, retryAfter: '3600' };
    case 'date': return n === 1 ? { code: 503, retryAfter: 'Wed, 21 Oct 2026 07:28:00 GMT' } : 200;
    case 'forbidden': return { code: 403 };
    default: return 200;
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const shape = url.searchParams.get('shape') ?? '';
    const n = (asked.get(shape) ?? 0) + 1;
    asked.set(shape, n);
    const status = answer(shape, n);
    if (status === 200) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(`{"shape":"${shape}","asked":${n}}`);
    }
    res.writeHead(status.code, { 'content-type': 'application/json', ...(status.retryAfter === undefined ? {} : { 'retry-after': status.retryAfter }) });
    res.end('{"message":"another store-log proof is being built"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

async function ask(shape: string): Promise<unknown> {
  const client = new OperatorClient({ url: new URL(`http://127.0.0.1:${port}`) }, 't', 'ns');
  try {
    return await client.json('/policies/p/chain/proof', { shape }, 'reading the proof');
  } finally {
    await client.close();
  }
}

describe('a busy operator (503)', () => {
  it('is asked again after its Retry-After, and the answer that follows is used', async () => {
    await expect(ask('twice')).resolves.toEqual({ shape: 'twice', asked: 3 });
  });

  it('an HTTP-date Retry-After waits one second', async () => {
    await expect(ask('date')).resolves.toEqual({ shape: 'date', asked: 2 });
  });

  it(`still busy after ${BUSY_ATTEMPTS} attempts: the error says when to retry`, async () => {
    await expect(ask('always')).rejects.toThrow(/reading the proof: the operator is not serving right now .*retry in 1 seconds/);
    expect(asked.get('always')).toBe(BUSY_ATTEMPTS);
  });

  it('a Retry-After longer than the CLI waits is not waited for', async () => {
    const started = Date.now();
    await expect(ask('hour')).rejects.toThrow(/retry in 3600 seconds/);
    expect(asked.get('hour')).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('other errors are not retried', async () => {
    await expect(ask('forbidden')).rejects.toThrow(/reading the proof/);
    expect(asked.get('forbidden')).toBe(1);
  });

  it('busyWaitMs: digits are seconds (at least 0.1 s), anything else one second, past the bound undefined', () => {
    expect(busyWaitMs('2')).toBe(2000);
    expect(busyWaitMs(' 0 ')).toBe(100);
    expect(busyWaitMs(undefined)).toBe(1000);
    expect(busyWaitMs('soon')).toBe(1000);
    expect(busyWaitMs('11')).toBeUndefined();
    expect(busyWaitMs('9999999')).toBeUndefined();
    expect(busyWaitMs('9'.repeat(400))).toBeUndefined();
  });
});
