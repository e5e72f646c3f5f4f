// The sidecar's apiserver client repeats what the apiserver asks to have repeated, as client-go
// does (core/kube/retry.ts): a 429 from API priority and fairness never ran the call. Before, a
// burst of sessions' TokenReviews or ApprovalRequests refused the agents' statements outright.
// A real HTTP server on loopback plays the apiserver's answers.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { KubeClient, KubeError } from './client.ts';

type Answer = { status: number; retryAfter?: string; body?: unknown };

let server: Server | undefined;

afterEach(async () => {
  await new Promise((r) => (server === undefined ? r(undefined) : server.close(r)));
  server = undefined;
});

/** A server answering each call with the next of `answers` (the last one repeats); returns its URL and the calls seen. */
async function apiserver(answers: Answer[]): Promise<{ client: KubeClient; calls: Array<{ method: string; body: string }> }> {
  const calls: Array<{ method: string; body: string }> = [];
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      calls.push({ method: req.method ?? '', body });
      const a = answers[Math.min(calls.length - 1, answers.length - 1)] as Answer;
      res.writeHead(a.status, { 'content-type': 'application/json', ...(a.retryAfter === undefined ? {} : { 'retry-after': a.retryAfter }) });
      res.end(JSON.stringify(a.body ?? { kind: 'Status', code: a.status, reason: a.status === 429 ? 'TooManyRequests' : 'X', message: `answer ${calls.length}` }));
    });
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { client: new KubeClient({ server: `http://127.0.0.1:${port}` }), calls };
}

describe('KubeClient.request repeats what the apiserver asks to have repeated', () => {
  it('a create refused with 429 (priority and fairness) is sent again after Retry-After, and succeeds', async () => {
    const { client, calls } = await apiserver([{ status: 429, retryAfter: '0' }, { status: 429, retryAfter: '0' }, { status: 201, body: { metadata: { name: 'ar-1' } } }]);
    const created = await client.request<{ metadata: { name: string } }>('/apis/guarita.io/v1alpha1/namespaces/n/approvalrequests', { method: 'POST', body: { kind: 'ApprovalRequest' } });
    expect(created.metadata.name).toBe('ar-1');
    expect(calls.map((c) => c.method)).toEqual(['POST', 'POST', 'POST']);
    // The same body each time.
    expect(new Set(calls.map((c) => c.body)).size).toBe(1);
    await client.close();
  });

  it('a read answered 503 with Retry-After is repeated; a write answered so is not (it may have run)', async () => {
    const read = await apiserver([{ status: 503, retryAfter: '0' }, { status: 200, body: { ok: true } }]);
    expect(await read.client.request('/api/v1/x')).toEqual({ ok: true });
    expect(read.calls).toHaveLength(2);
    await read.client.close();
    await new Promise((r) => server?.close(r));
    const write = await apiserver([{ status: 503, retryAfter: '0' }, { status: 200, body: { ok: true } }]);
    await expect(write.client.request('/api/v1/x', { method: 'PATCH', body: {} })).rejects.toMatchObject({ status: 503 });
    expect(write.calls).toHaveLength(1);
    await write.client.close();
  });

  it('stops at the call deadline and throws the 429 with its Status (fails closed)', async () => {
    const { client, calls } = await apiserver([{ status: 429, retryAfter: '1' }]);
    const started = Date.now();
    const err = await client.request('/api/v1/x', { timeoutMs: 2_500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ status: 429 });
    // Repeated once a second while the deadline allowed another wait: 2 or 3 calls, never past it.
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(Date.now() - started).toBeLessThan(2_500 + 1_000);
    await client.close();
  });

  it('a 404 or 409 is final at once', async () => {
    const { client, calls } = await apiserver([{ status: 409 }, { status: 200, body: {} }]);
    await expect(client.request('/api/v1/x', { method: 'POST', body: {} })).rejects.toMatchObject({ status: 409 });
    expect(calls).toHaveLength(1);
    await client.close();
  });
});
