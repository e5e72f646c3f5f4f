// Round 5 review of the HTTP listener's request checks (0e97c31: request heads checked in one pass,
// Connection values parsed once, targets remembered): what the upstream reads must be what the
// policy judged. Through the real listener (the sidecar in-process, on the harness apiserver and
// IdP) to a node:http upstream that keeps what it receives, from a raw agent: a Connection header
// naming the headers the sidecar reads (Authorization, X-Guarita-Purpose, Host, Content-Type,
// Content-Length, a method-override header) must not make the upstream read the request another
// way, and a POST body the upstream's framework reads as a form (Rack reads the fields of a POST
// without Content-Type as a form, and Rack::MethodOverride then runs it as the `_method` it names)
// is checked for method-override fields like a labelled form.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { TARGET_CORPUS } from '../../core/policy/corpus/http-targets.corpus.ts';
import { rawExchange, startInProcessHttpSidecar, startRecordingUpstream, type RecordingUpstream } from './support.ts';

jest.setTimeout(90_000);

const ns = `sc-heads-${suffix()}`;
const PURPOSE = 'customer-support';

let upstream: RecordingUpstream;
let sidecar: RunningSidecar;
let token: string;
let listenPort = 0;

beforeAll(async () => {
  await installCrds();
  upstream = await startRecordingUpstream();
  const upstreamPort = upstream.port;
  // Orders may be read and created, never deleted (the rule a method override would get around).
  ({ sidecar, listenPort } = await startInProcessHttpSidecar(ns, 'heads', { upstreamUrl: `http://127.0.0.1:${upstreamPort}`, issuer: requireIdp().issuer, rules: [{ name: 'orders', match: { http: { methods: ['GET', 'POST'], paths: ['/orders', '/orders/**'] } }, action: 'allow' }] }));
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
});

afterAll(async () => {
  await sidecar?.shutdown('test over');
  await upstream?.close();
});

/** One raw request on a fresh connection: the status and the sidecar's JSON answer, if any. */
async function send(method: string, target: string, headers: [string, string][], body = ''): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, `X-Guarita-Purpose: ${PURPOSE}`, ...headers.map(([n, v]) => `${n}: ${v}`)];
  if (body !== '' && !headers.some(([n]) => n.toLowerCase() === 'content-length')) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  const text = (await rawExchange(listenPort, `${[...lines, 'Connection: close'].join('\r\n')}\r\n\r\n${body}`)).toString('utf8');
  const [head = '', rest = ''] = text.split('\r\n\r\n');
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(rest) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: Number(head.split(' ')[1] ?? 0), json };
}

/** The upstream's target for a raw request target (undefined: refused, never forwarded), and the status. */
async function targetOutcome(raw: string): Promise<{ status: number; forwarded: string | undefined }> {
  const before = upstream.received.length;
  const res = await send('GET', raw, []);
  return { status: res.status, forwarded: upstream.received.length > before ? upstream.received.at(-1)?.url : undefined };
}

/** The request was refused as a method override before anything reached the upstream. */
async function expectRefusedOverride(method: string, target: string, headers: [string, string][], body: string): Promise<void> {
  const before = upstream.received.length;
  const res = await send(method, target, headers, body);
  expect({ status: res.status, error: res.json?.error }).toEqual({ status: 400, error: 'MethodOverride' });
  expect(upstream.received.length).toBe(before);
}

describe('a POST body the upstream reads as a form is checked for method-override fields', () => {
  it.each([
    ['no Content-Type (Rack reads the fields of an unlabelled POST as a form)', [] as [string, string][]],
    ['an empty Content-Type', [['Content-Type', '']] as [string, string][]],
    ['Content-Type named in Connection (the upstream gets none)', [['Content-Type', 'text/plain'], ['Connection', 'content-type']] as [string, string][]],
    ['Content-Type named in Connection among others', [['Content-Type', 'application/octet-stream'], ['Connection', 'keep-alive, Content-Type']] as [string, string][]],
  ])('%s: _method=DELETE is refused, the upstream never sees it', async (_what, headers) => {
    await expectRefusedOverride('POST', '/orders', headers, '_method=DELETE&id=1');
    await expectRefusedOverride('POST', '/orders', headers, 'id=1&__method=delete');
  });

  it('a labelled form is refused too, also with its Content-Type named in Connection (control)', async () => {
    await expectRefusedOverride('POST', '/orders', [['Content-Type', 'application/x-www-form-urlencoded']], '_method=DELETE');
    await expectRefusedOverride('POST', '/orders', [['Content-Type', 'application/x-www-form-urlencoded'], ['Connection', 'content-type']], '_method=DELETE');
  });

  it('a JSON body whose Content-Type is named in Connection is read as the form the upstream gets: a _method pair inside a string is refused', async () => {
    await expectRefusedOverride('POST', '/orders', [['Content-Type', 'application/json'], ['Connection', 'content-type']], '{"nota":"&_method=DELETE&"}');
    // Labelled and forwarded labelled, the same text is a JSON string and goes through (control).
    const before = upstream.received.length;
    expect((await send('POST', '/orders', [['Content-Type', 'application/json']], '{"nota":"&_method=DELETE&"}')).status).toBe(200);
    expect(upstream.received.length).toBe(before + 1);
  });

  it('an unlabelled body too large to check (over GUARITA_HTTP_MAX_BUFFERED_BODY) is refused (413) naming the fix, and never forwarded', async () => {
    const before = upstream.received.length;
    const res = await send('POST', '/orders', [], `id=1&${'x'.repeat(1024 * 1024)}&_method=DELETE`);
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ error: 'BodyTooLarge', message: expect.stringMatching(/unlabelled request body.*label it with its Content-Type/) });
    expect(upstream.received.length).toBe(before);
  });

  it('an unlabelled POST without override fields is forwarded as sent (control)', async () => {
    const before = upstream.received.length;
    const res = await send('POST', '/orders', [], 'id=1&item=livro');
    expect(res.status).toBe(200);
    expect(upstream.received.slice(before)).toEqual([expect.objectContaining({ method: 'POST', url: '/orders', body: Buffer.from('id=1&item=livro') })]);
  });
});

describe('Connection naming the headers the sidecar reads changes nothing the upstream reads', () => {
  it('Authorization, X-Guarita-Purpose and Host named in Connection: the agent is still judged by its own, the upstream gets the sidecar\'s credential and Host', async () => {
    const before = upstream.received.length;
    const res = await send('GET', '/orders/1', [['Connection', 'authorization, x-guarita-purpose, host']]);
    expect(res.status).toBe(200);
    const got = upstream.received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]?.headers.authorization).toBe('Bearer upstream-service-token');
    expect(got[0]?.headers.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(got[0]?.headers['x-guarita-purpose']).toBeUndefined();
  });

  it('Content-Length named in Connection: the body reaches the upstream whole, with its own length', async () => {
    const before = upstream.received.length;
    const body = '{"item":"livro","quantidade":2}';
    const res = await send('POST', '/orders', [['Content-Type', 'application/json'], ['Connection', 'content-length']], body);
    expect(res.status).toBe(200);
    const got = upstream.received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]?.body.toString()).toBe(body);
    expect(got[0]?.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('a method-override header named in Connection (so a proxy would strip it) is still refused', async () => {
    await expectRefusedOverride('GET', '/orders/1', [['X-HTTP-Method-Override', 'DELETE'], ['Connection', 'x-http-method-override']], '');
    await expectRefusedOverride('POST', '/orders', [['Connection', 'X_HTTP_Method_Override'], ['X_HTTP_Method_Override', 'DELETE'], ['Content-Type', 'application/json']], '{}');
  });

  it('a Connection value seen before (remembered) names the same headers: the cache never lets a header through', async () => {
    for (let i = 0; i < 3; i++) await expectRefusedOverride('POST', '/orders', [['Content-Type', 'text/plain'], ['Connection', 'content-type']], '_method=DELETE');
  });
});

describe('request targets remembered per target as sent (0e97c31) are judged as the first time', () => {
  it('each corpus target sent again, and again after more than 512 others flushed what was remembered: the same refusal or the same forwarded target', async () => {
    // The policy allows /orders/**: the corpus targets live under /customers, so they go to /orders here.
    const targets = TARGET_CORPUS.map((c) => c.raw.replace('/customers', '/orders'));
    const first = [];
    for (const t of targets) first.push(await targetOutcome(t));
    for (const [i, t] of targets.entries()) expect({ t, again: await targetOutcome(t) }).toEqual({ t, again: first[i] });
    // More targets than the cache keeps (512): it is cleared, and every target is worked out anew.
    for (let i = 0; i < 520; i++) await targetOutcome(`/orders/${i}?p=${i}`);
    for (const [i, t] of targets.entries()) expect({ t, flushed: await targetOutcome(t) }).toEqual({ t, flushed: first[i] });
    // Nothing refused the first time reached the upstream, and a dot segment never did.
    expect(first.filter((o) => o.forwarded !== undefined && /(^|\/)\.\.?(\/|$)/.test(o.forwarded))).toEqual([]);
  });
});
