// KubeRest repeats what the apiserver asks to have repeated (429, or a 5xx with Retry-After on a
// read), within the call's deadline, and nothing else.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeRest, retryDelayMs } from './rest.ts';

describe('retryDelayMs', () => {
  it('repeats a 429 for every verb, after the asked delay (1 s when none), capped at 10 s', () => {
    expect(retryDelayMs('POST', 429, '0', 1)).toBe(0);
    expect(retryDelayMs('PATCH', 429, undefined, 1)).toBe(1000);
    expect(retryDelayMs('GET', 429, '3', 1)).toBe(3000);
    expect(retryDelayMs('GET', 429, '3600', 1)).toBe(10_000);
    expect(retryDelayMs('GET', 429, 'soon', 1)).toBe(1000);
  });

  it('repeats a 5xx only for a read that carries Retry-After: a write may have run', () => {
    expect(retryDelayMs('GET', 503, '1', 1)).toBe(1000);
    expect(retryDelayMs('GET', 503, undefined, 1)).toBeUndefined();
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) expect(retryDelayMs(method, 504, '1', 1)).toBeUndefined();
  });

  it('never repeats other answers, and stops after ten repeats', () => {
    for (const status of [200, 201, 400, 401, 403, 404, 409, 422]) expect(retryDelayMs('GET', status, '1', 1)).toBeUndefined();
    expect(retryDelayMs('GET', 429, '0', 10)).toBe(0);
    expect(retryDelayMs('GET', 429, '0', 11)).toBeUndefined();
  });
});

describe('KubeRest.send', () => {
  let server: Server | undefined;
  let rest: KubeRest | undefined;
  afterEach(async () => {
    await rest?.close();
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  });

  /** A server answering each call with the next of `answers` (the last one repeats; `hang`: never answers; `delayMs`: answers that late); the calls it saw. */
  async function serve(answers: Array<{ status: number; retryAfter?: string; hang?: boolean; delayMs?: number }>, timeoutMs = 5000): Promise<{ calls: string[]; rest: KubeRest }> {
    const calls: string[] = [];
    server = createServer((req, res) => {
      calls.push(`${req.method} ${req.url}`);
      const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!;
      req.resume();
      if (answer.hang === true) return;
      setTimeout(() => respond(answer, res), answer.delayMs ?? 0);
    });
    const respond = (answer: { status: number; retryAfter?: string }, res: ServerResponse): void => {
      res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter }) });
      res.end(JSON.stringify(answer.status < 300 ? { ok: calls.length } : { kind: 'Status', code: answer.status, reason: 'TooManyRequests', message: 'storage is (re)initializing' }));
    };
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
    });
    rest = new KubeRest(kc, timeoutMs);
    return { calls, rest };
  }

  it('a resource whose storage is (re)initializing answers 429 until it is ready: the call gets the ready answer', async () => {
    const { calls, rest } = await serve([{ status: 429, retryAfter: '0' }, { status: 429, retryAfter: '0' }, { status: 200 }]);
    await expect(rest.json('GET', '/apis/guarita.io/v1alpha1/accesspolicies')).resolves.toEqual({ ok: 3 });
    expect(calls).toHaveLength(3);
  });

  it('a create answered 429 is sent again with its body', async () => {
    const { calls, rest } = await serve([{ status: 429, retryAfter: '0' }, { status: 201 }]);
    await expect(rest.json('POST', '/api/v1/namespaces/a/configmaps', { body: { a: 1 } })).resolves.toEqual({ ok: 2 });
    expect(calls).toEqual(['POST /api/v1/namespaces/a/configmaps', 'POST /api/v1/namespaces/a/configmaps']);
  });

  it('a write answered 503 with Retry-After is not sent twice', async () => {
    const { calls, rest } = await serve([{ status: 503, retryAfter: '0' }, { status: 201 }]);
    await expect(rest.json('PATCH', '/api/v1/namespaces/a')).rejects.toThrow(/503/);
    expect(calls).toHaveLength(1);
  });

  it('a repeat gets what is left of the call\'s deadline, not a fresh one', async () => {
    // The 429 comes 2.5 s into a 3 s call: the repeat may wait 0.5 s more, not 3 s (undici's
    // timers fire up to about a second late, hence the margin).
    const { calls, rest } = await serve([{ status: 429, retryAfter: '0', delayMs: 2500 }, { status: 200, hang: true }], 3000);
    const started = Date.now();
    await expect(rest.json('GET', '/api/v1/pods')).rejects.toThrow(/Headers Timeout|timeout/i);
    expect(calls).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(4500);
    server?.closeAllConnections();
  });

  it('a delay past the deadline returns the 429 at once', async () => {
    const { calls, rest } = await serve([{ status: 429, retryAfter: '30' }]);
    const started = Date.now();
    await expect(rest.json('GET', '/api/v1/pods')).rejects.toThrow(/429 TooManyRequests: storage is \(re\)initializing/);
    expect(calls).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
