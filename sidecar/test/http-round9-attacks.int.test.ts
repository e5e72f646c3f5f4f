// Round 9: request bodies the HTTP listener holds to judge them are charged to one budget per
// listener (sidecar/src/body-budget.ts; docs/security-model.md, "Round 9"). The Kubernetes listener
// held stalled bodies without a bound (kubernetes-round9-attacks.int: +337 MiB for 300 connections);
// the HTTP listener read them after authentication but, like it, without a bound across
// connections. Through the real listener (in-process, harness apiserver and IdP) from raw sockets.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, type Socket } from 'node:net';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { rawExchange, startInProcessHttpSidecar, startRecordingUpstream, type RecordingUpstream } from './support.ts';

jest.setTimeout(90_000);

const ns = `sc-r9-${suffix()}`;
const PURPOSE = 'customer-support';
const DECLARED = 1024 * 1024; // GUARITA_HTTP_MAX_BUFFERED_BODY, the default

let upstream: RecordingUpstream;
let sidecar: RunningSidecar;
let token: string;
let listenPort = 0;

beforeAll(async () => {
  await installCrds();
  upstream = await startRecordingUpstream();
  const rules = [{ name: 'orders', match: { http: { methods: ['GET', 'POST'], paths: ['/orders', '/orders/**'] } }, action: 'allow' }];
  ({ sidecar, listenPort } = await startInProcessHttpSidecar(ns, 'round9', { upstreamUrl: `http://127.0.0.1:${upstream.port}`, issuer: requireIdp().issuer, rules }));
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
});

afterAll(async () => {
  await sidecar?.shutdown('test over');
  await upstream?.close();
});

function head(contentLength: number): string {
  return [`POST /orders HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, `X-Guarita-Purpose: ${PURPOSE}`, 'Content-Type: application/json', `Content-Length: ${contentLength}`, '', ''].join('\r\n');
}

describe('request bodies held across connections', () => {
  it('stalled bodies are held up to the budget of the listener (16 x 1 MiB), then answered 503 with the connection closed', async () => {
    const sockets: Socket[] = [];
    const answers: string[] = [];
    const closed: boolean[] = [];
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    try {
      for (let i = 0; i < 40; i++) {
        const s = connect(listenPort, '127.0.0.1');
        const at = sockets.push(s) - 1;
        s.on('error', () => undefined);
        s.on('data', (d: Buffer) => answers.push(d.toString('latin1').split('\r\n')[0] ?? ''));
        s.on('close', () => { closed[at] = true; });
        await new Promise<void>((resolve) => s.once('connect', () => resolve()));
        s.write(head(DECLARED));
        for (let sent = 0; sent < DECLARED - 1; sent += chunk.length) s.write(chunk.subarray(0, Math.min(chunk.length, DECLARED - 1 - sent)));
      }
      // Up to 30 s for the answers (a loaded machine reads 40 MiB slower than any fixed pause), then 1 s for any beyond.
      const deadline = Date.now() + 30_000;
      while (answers.length < 40 - 16 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 1000));
      const refused = answers.filter((a) => a.includes(' 503 ')).length;
      expect(refused).toBeGreaterThanOrEqual(40 - 16);
      // Every refused connection is closed: its unread body would put it out of step.
      expect(closed.filter(Boolean).length).toBeGreaterThanOrEqual(refused);
    } finally {
      for (const s of sockets) s.destroy();
    }
    // The budget is released with the connections: an ordinary request goes through again.
    await new Promise((r) => setTimeout(r, 300));
    const body = Buffer.from('{"item":"book"}');
    const answer = (await rawExchange(listenPort, Buffer.concat([Buffer.from(head(body.length).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'), 'latin1'), body]))).toString('latin1');
    expect(answer.split(' ')[1]).toBe('200');
  });
});
