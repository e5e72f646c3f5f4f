// Issue 18, item 16, the response side, attacked as a penetration tester would: an upstream that
// answers identifiers in every place and encoding a client could read them from (bodies whose bytes
// are in another encoding than their label says, JSON served as application/octet-stream or
// multipart, compressed bodies, 103 Early Hints, reason phrases, trailers), through the real sidecar
// process, read as raw bytes. Every answer is either masked or refused: the raw bytes the client
// receives never hold the identifier in any decoding (as sent, NULs removed as UTF-16/UTF-32 readers
// see it, or decompressed).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { brotliCompressSync, brotliDecompressSync, deflateSync, gunzipSync, gzipSync, inflateSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { dechunk, httpPolicy, startHttpSidecar, type SidecarProcess } from './support.ts';

jest.setTimeout(120_000);

const POLICY = 'customers-api';
const PURPOSE = 'customer-support';
const CPF = '590.830.166-33';
const CPF_DIGITS = '59083016633';
const JSON_DOC = `{"cliente":{"nome":"Larissa","cpf":"${CPF}","nota":"cpf ${CPF_DIGITS}"}}`;

const utf16be = (text: string): Buffer => Buffer.from(text, 'utf16le').swap16();
const withBom = (b: Buffer, bom: number[]): Buffer => Buffer.concat([Buffer.from(bom), b]);

/** What the upstream answers on /customers/leak/<name>: status, headers and body, or a custom writer. */
interface Leak { type?: string; encoding?: string; body: Buffer; expect: 'masked' | 'refused' | 'binary' | 'unchanged' }

const LEAKS: Record<string, Leak> = {
  // The label says UTF-8 (or says nothing about the charset); the bytes are UTF-16 or UTF-32.
  'utf16le-bom-labelled-utf8': { type: 'text/plain; charset=utf-8', body: withBom(Buffer.from(`cpf ${CPF}`, 'utf16le'), [0xff, 0xfe]), expect: 'masked' },
  'utf16be-bom-json': { type: 'application/json', body: withBom(utf16be(JSON_DOC), [0xfe, 0xff]), expect: 'masked' },
  'utf16le-no-bom-json': { type: 'application/json', body: Buffer.from(JSON_DOC, 'utf16le'), expect: 'refused' },
  'utf16be-no-bom-csv': { type: 'text/csv', body: utf16be(`nome,cpf\nLarissa,${CPF}\n`), expect: 'refused' },
  'utf32-text': { type: 'text/plain', body: Buffer.concat([...`cpf ${CPF}`].map((c) => { const b = Buffer.alloc(4); b.writeUInt32LE(c.codePointAt(0) ?? 0); return b; })), expect: 'refused' },
  // The label says binary; the body is text the agent can read.
  'json-as-octet-stream': { type: 'application/octet-stream', body: Buffer.from(JSON_DOC), expect: 'masked' },
  'csv-as-image': { type: 'image/png', body: Buffer.from(`nome,cpf\nLarissa,${CPF}\n`), expect: 'masked' },
  'json-as-octet-stream-gzip': { type: 'application/octet-stream', encoding: 'gzip', body: gzipSync(JSON_DOC), expect: 'masked' },
  'utf16-json-as-octet-stream': { type: 'application/octet-stream', body: Buffer.from(JSON_DOC, 'utf16le'), expect: 'masked' },
  'utf16be-json-as-octet-stream': { type: 'application/octet-stream', body: utf16be(JSON_DOC), expect: 'masked' },
  'multipart-mixed': { type: 'multipart/mixed; boundary=b', body: Buffer.from(`--b\r\nContent-Type: application/json\r\n\r\n${JSON_DOC}\r\n--b--\r\n`), expect: 'masked' },
  'no-content-type-utf16-bom': { body: withBom(Buffer.from(`cpf ${CPF}`, 'utf16le'), [0xff, 0xfe]), expect: 'masked' },
  // A binary body in an encoding the sidecar cannot decode: a client could, so it is refused.
  'octet-stream-unknown-encoding': { type: 'application/octet-stream', encoding: 'compress', body: Buffer.from(JSON_DOC), expect: 'refused' },
  // Labels the sidecar cannot decode: refused (the sidecar process survives them: it used to end on
  // the abort error of the upstream body it dropped).
  'unknown-charset': { type: 'text/plain; charset=x-klingon', body: Buffer.from(`cpf ${CPF}`), expect: 'refused' },
  'text-unknown-encoding': { type: 'application/json', encoding: 'compress', body: Buffer.from(JSON_DOC), expect: 'refused' },
  // The label itself: its parameters are a header value like any other.
  'identifier-in-content-type': { type: `text/csv; header=present; name="cliente-${CPF_DIGITS}.csv"`, body: Buffer.from('nome\nLarissa\n'), expect: 'masked' },
  // Controls: labelled right, masked as before.
  'vnd-json': { type: 'application/vnd.guarita.customer+json', body: Buffer.from(JSON_DOC), expect: 'masked' },
  'latin1-text': { type: 'text/plain; charset=iso-8859-1', body: Buffer.from(`Conceição ${CPF}`, 'latin1'), expect: 'masked' },
  'utf16-labelled': { type: 'text/plain; charset=utf-16le', body: Buffer.from(`cpf ${CPF}`, 'utf16le'), expect: 'masked' },
  'gzip-json': { type: 'application/json', encoding: 'gzip', body: gzipSync(JSON_DOC), expect: 'masked' },
  'br-json': { type: 'application/json', encoding: 'br', body: brotliCompressSync(JSON_DOC), expect: 'masked' },
  'deflate-json': { type: 'application/json', encoding: 'deflate', body: deflateSync(JSON_DOC), expect: 'masked' },
  'zstd-json': { type: 'application/json', encoding: 'zstd', body: zstdCompressSync(JSON_DOC), expect: 'masked' },
  // Nothing to mask: with a declared length the sidecar forwards the bytes as they arrived (issue 19).
  'plain-json': { type: 'application/json; charset=utf-8', body: Buffer.from('{"cliente":{"nome":"Larissa","status":"ativo","nota":"café ☕"}}'), expect: 'unchanged' },
  'plain-text': { type: 'text/plain', body: Buffer.from('Larissa: cliente satisfeita, sem pendências.\n'), expect: 'unchanged' },
  // No candidate for any detector, but keys a name rule masks whatever the value (built-in names):
  // masked like on the streaming path, never forwarded as its bytes.
  'named-keys-json': { type: 'application/json', body: Buffer.from('{"nome":"Larissa","email":"larissa at exemplo dot com","telefone":"não informado","contato":{"celular":"ver ficha"}}'), expect: 'masked' },
  // A real binary still passes through byte for byte (GUARITA_HTTP_BINARY=passthrough, the default).
  'png': { type: 'image/png', body: Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '00'.repeat(40), 'hex'), expect: 'binary' },
};

interface Received { method: string; target: string; rawHeaders: string[]; rawTrailers: string[]; body: string }

class AdversarialUpstream {
  readonly #server: Server;
  readonly received: Received[] = [];
  /** Every byte each connection carried: a smuggled second request would show here. */
  readonly wire: Buffer[] = [];
  url = '';
  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ method: req.method ?? '', target: req.url ?? '', rawHeaders: req.rawHeaders, rawTrailers: req.rawTrailers, body: Buffer.concat(chunks).toString('latin1') });
        this.#answer(req, res);
      });
    });
    this.#server.on('connection', (socket) => {
      const i = this.wire.push(Buffer.alloc(0)) - 1;
      socket.on('data', (c: Buffer) => { this.wire[i] = Buffer.concat([this.wire[i] ?? Buffer.alloc(0), c]); });
    });
  }

  allBytes(): string {
    return Buffer.concat(this.wire).toString('latin1');
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    const addr = this.#server.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  }

  close(): Promise<void> {
    return new Promise((r) => { this.#server.closeAllConnections(); this.#server.close(() => r()); });
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    const [path = '', query = ''] = (req.url ?? '').split('?');
    const name = path.replace('/customers/leak/', '');
    if (!this.#outsideBody(name, res)) this.#leak(name, res, query === 'sized');
  }

  /** Identifiers outside the body; false when `name` is not one of these cases. */
  #outsideBody(name: string, res: ServerResponse): boolean {
    if (name === 'early-hints') {
      // 103 Early Hints carry headers before the answer (Link preloads, sometimes with ids in them).
      res.writeEarlyHints({ link: `</customers/${CPF_DIGITS}.json>; rel=preload`, 'x-customer': CPF });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
      return true;
    }
    if (name === 'reason-phrase') {
      res.writeHead(200, `OK ${CPF}`, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
      return true;
    }
    if (name === 'trailers') {
      res.writeHead(200, { 'content-type': 'application/json', trailer: 'x-customer-cpf' });
      res.write('{"ok":');
      res.addTrailers({ 'x-customer-cpf': CPF });
      res.end('true}');
      return true;
    }
    if (name === 'redirect') {
      res.writeHead(302, { location: `http://other.invalid/customers?cpf=${CPF_DIGITS}` });
      res.end();
      return true;
    }
    return false;
  }

  /** `sized`: the body with its Content-Length, in one write (the sidecar reads such a body whole). */
  #leak(name: string, res: ServerResponse, sized: boolean): void {
    const leak = LEAKS[name];
    if (leak === undefined) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
      return;
    }
    const headers: Record<string, string> = {};
    if (leak.type !== undefined) headers['content-type'] = leak.type;
    if (leak.encoding !== undefined) headers['content-encoding'] = leak.encoding;
    if (sized) {
      res.writeHead(200, { ...headers, 'content-length': String(leak.body.length) });
      res.end(leak.body);
      return;
    }
    res.writeHead(200, headers);
    // Three bytes at a time, so no byte-order mark, character or identifier arrives whole.
    for (let i = 0; i < leak.body.length; i += 3) res.write(leak.body.subarray(i, i + 3));
    res.end();
  }
}

interface RawAnswer { raw: Buffer; status: number; head: string; body: Buffer }

/** One request on a fresh connection (Connection: close), every byte of the answer kept. */
function rawGet(port: number, target: string, token: string, extra: string[] = []): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      // The last head (interim 1xx answers, if any, come first).
      let start = 0;
      for (;;) {
        const end = raw.indexOf('\r\n\r\n', start);
        const line = raw.subarray(start, raw.indexOf('\r\n', start)).toString('latin1');
        if (end < 0 || !/^HTTP\/1\.1 1\d\d /.test(line)) break;
        start = end + 4;
      }
      const end = raw.indexOf('\r\n\r\n', start);
      const head = raw.subarray(start, end).toString('latin1');
      resolve({ raw, status: Number(head.split(' ')[1] ?? 0), head, body: dechunk(raw.subarray(end + 4), head) });
    });
    socket.write([`GET ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, `X-Guarita-Purpose: ${PURPOSE}`, 'Accept-Encoding: gzip, deflate, br, zstd', ...extra, 'Connection: close', '', ''].join('\r\n'));
  });
}

/** Every way a client could read the answer: as sent, without NULs (UTF-16/32), decompressed. */
function readings(a: RawAnswer): string[] {
  const views = [a.raw.toString('latin1'), a.raw.toString('latin1').replace(/\0/g, '')];
  for (const inflate of [gunzipSync, inflateSync, brotliDecompressSync, zstdDecompressSync]) {
    try {
      const plain = inflate(a.body).toString('latin1');
      views.push(plain, plain.replace(/\0/g, ''));
    } catch { /* not this encoding */ }
  }
  return views;
}

const leaks = (a: RawAnswer): boolean => readings(a).some((v) => v.includes(CPF) || v.includes(CPF_DIGITS));

/** The answer is the upstream's body byte for byte; sent whole, with its length (not chunked). */
function expectUnchanged(a: RawAnswer, body: Buffer, sized: boolean): void {
  expect(a.status).toBe(200);
  expect(a.body.equals(body)).toBe(true);
  if (sized) expect(a.head).toMatch(new RegExp(`\r\ncontent-length: ${body.length}\r\n`, 'i'));
}

let system: GuaritaSystem;
let upstream: AdversarialUpstream;
let sidecar: SidecarProcess;
let port: number;
let token: string;

beforeAll(async () => {
  upstream = new AdversarialUpstream();
  await upstream.listen();
  system = await startGuaritaSystem('sc-responses');
  const issuer = requireIdp().issuer;
  // One rule judges request bodies: POST /orders with {"action": "export"} is denied.
  const withBodyRule = (listenPort: number): Record<string, unknown> => {
    const base = httpPolicy(system.ns, POLICY, { endpoint: upstream.url, issuer, listenPort }) as { spec: { rules: unknown[] } };
    return { rules: [{ name: 'deny-order-exports', match: { http: { methods: ['POST'], paths: ['/orders'], jsonBody: [{ path: 'action', equals: 'export' }] } }, action: 'deny' }, ...base.spec.rules] };
  };
  ({ sidecar, port } = await startHttpSidecar(system.ns, POLICY, { upstreamUrl: upstream.url, issuer, operatorUrl: system.op.url, over: withBodyRule }));
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
}, 180_000);

afterAll(async () => {
  await sidecar?.stop();
  await Promise.all([system?.stop(), upstream?.close()]);
});

describe('response bodies whose bytes are not what their label says', () => {
  // Each body streamed without a length (3 bytes at a time), and sent whole with its Content-Length:
  // the sidecar reads a small body of declared length whole and forwards it as its bytes when
  // masking cannot change it, so that path meets every case too.
  const cases = Object.entries(LEAKS).flatMap(([name, l]) => [[name, '', l.expect], [name, '?sized', l.expect]] as const);
  it.each(cases)('%s%s: %s', async (name, query, want) => {
    const a = await rawGet(port, `/customers/leak/${name}${query}`, token);
    expect(leaks(a)).toBe(false);
    if (want === 'unchanged') {
      expectUnchanged(a, LEAKS[name]?.body ?? Buffer.alloc(0), query === '?sized');
      return;
    }
    if (want === 'refused') {
      expect(a.status).toBe(502);
      expect(JSON.parse(a.body.toString('utf8'))).toMatchObject({ error: 'BadGateway', message: expect.stringMatching(/refused rather than passed unmasked/) });
      return;
    }
    expect(a.status).toBe(200);
    if (want === 'binary') {
      expect(a.body.equals(LEAKS[name]?.body ?? Buffer.alloc(0))).toBe(true);
      return;
    }
    // Masked, and still readable: the masked answer is UTF-8 text with the rest of the content.
    const text = a.body.toString('utf8');
    expect(text).toMatch(/cpf|Conceição|Larissa/);
    expect(text).not.toContain('\0');
  });
});

describe('JSON keys a name rule masks (built-in names), values without any candidate', () => {
  it.each(['', '?sized'])('the values are masked by their keys, streamed and whole%s', async (query) => {
    const a = await rawGet(port, `/customers/leak/named-keys-json${query}`, token);
    expect(a.status).toBe(200);
    const text = a.body.toString('utf8');
    for (const value of ['larissa at exemplo dot com', 'não informado', 'ver ficha']) expect(text).not.toContain(value);
    expect(JSON.parse(text)).toMatchObject({ nome: 'Larissa', email: expect.stringMatching(/\*/), telefone: expect.stringMatching(/\*/), contato: { celular: expect.stringMatching(/\*/) } });
  });
});

describe('identifiers outside the body', () => {
  it.each(['early-hints', 'reason-phrase', 'trailers', 'redirect'])('%s', async (name) => {
    const a = await rawGet(port, `/customers/leak/${name}`, token, ['TE: trailers']);
    expect(a.status).toBeLessThan(400);
    expect(leaks(a)).toBe(false);
  });

  it('does not follow a redirect to another host: the agent gets the (masked) Location', async () => {
    const a = await rawGet(port, '/customers/leak/redirect', token);
    expect(a.status).toBe(302);
    expect(a.head).toMatch(/\r\nlocation: http:\/\/other\.invalid\/customers\?cpf=/i);
  });
});

// ---- the request side: framing and parsing games over raw sockets ---------------------------------

/** Writes raw bytes and reads until the sidecar closes the connection (or `ms` of silence). */
function rawBytes(bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes);
  });
}

// A status line follows the previous answer's body directly (no CRLF after a Content-Length body).
const statuses = (answer: string): number[] => [...answer.matchAll(/HTTP\/1\.[01] (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));
const auth = (): string => `Authorization: Bearer ${token}\r\nX-Guarita-Purpose: ${PURPOSE}\r\n`;

describe('request framing and parsing games: the upstream receives exactly the requests judged', () => {
  it('pipelined requests are each judged: an allowed GET does not carry a DELETE or a held export behind it', async () => {
    const before = upstream.received.length;
    const answer = await rawBytes(
      `GET /customers/1 HTTP/1.1\r\nHost: x\r\n${auth()}\r\n`
      + `DELETE /customers/2 HTTP/1.1\r\nHost: x\r\n${auth()}\r\n`
      + `GET /customers/export HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`,
    );
    expect(statuses(answer)).toEqual([200, 403, 409]);
    expect(upstream.received.slice(before).map((r) => `${r.method} ${r.target}`)).toEqual(['GET /customers/1']);
  });

  it('a chunked POST: leading zeros and extensions are re-framed, a trailer never reaches the upstream (not even a method override)', async () => {
    const before = upstream.received.length;
    const answer = await rawBytes(`POST /orders HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`
      + '0005;ext="x"\r\n{"a":\r\n03\r\n"b"\r\n1\r\n}\r\n0\r\nX-HTTP-Method-Override: DELETE\r\nX-Forwarded-User: dpo-admin\r\n\r\n');
    expect(statuses(answer)).toEqual([200]);
    const got = upstream.received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ method: 'POST', target: '/orders', body: '{"a":"b"}', rawTrailers: [] });
    expect(upstream.allBytes()).not.toMatch(/method-override|dpo-admin/i);
  });

  it.each([
    ['chunk size overflow', 'POST /orders', 'Transfer-Encoding: chunked', 'ffffffffffffffffffff\r\nx\r\n0\r\n\r\n'],
    ['TE with odd spelling and CL (TE.CL)', 'POST /orders', 'Transfer-Encoding: xchunked\r\nContent-Length: 4', '1\r\nZ\r\n0\r\n\r\n'],
    ['CL then TE chunked (CL.TE)', 'POST /orders', 'Content-Length: 6\r\nTransfer-Encoding: chunked', '0\r\n\r\nDELETE /customers/3 HTTP/1.1\r\n\r\n'],
    ['TE chunked, identity', 'POST /orders', 'Transfer-Encoding: chunked, identity', '0\r\n\r\n'],
    ['TE identity, chunked', 'POST /orders', 'Transfer-Encoding: identity, chunked', '0\r\n\r\n'],
    ['TE twice', 'POST /orders', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked', '0\r\n\r\n'],
    ['space before the colon', 'GET /customers/1', 'X-HTTP-Method-Override : DELETE', ''],
    ['NUL in a header value', 'GET /customers/1', 'X-Note: a\u0000b', ''],
    ['absolute form naming another host', 'GET http://admin.internal/customers/export', '', ''],
    ['absolute form naming the same path', 'GET http://127.0.0.1/customers/1', '', ''],
    ['a body on GET smuggling a DELETE', 'GET /customers/1', 'Content-Length: 31', 'DELETE /customers/3 HTTP/1.1\r\n\r\n'],
  ])('%s: refused, nothing reaches the upstream', async (_what, line, extra, body) => {
    const before = upstream.received.length;
    const answer = await rawBytes(`${line} HTTP/1.1\r\nHost: x\r\n${auth()}${extra === '' ? '' : `${extra}\r\n`}Connection: close\r\n\r\n${body}`);
    const got = statuses(answer);
    expect(got.length).toBeGreaterThan(0);
    for (const st of got) expect(st).toBeGreaterThanOrEqual(400);
    expect(upstream.received.length).toBe(before);
    expect(upstream.allBytes()).not.toMatch(/DELETE|\/customers\/export|admin\.internal/);
  });

  it.each([
    ['HTTP/1.0 without Host', `GET /customers/1 HTTP/1.0\r\n${'AUTH'}\r\n`],
    ['duplicate Host', `GET /customers/1 HTTP/1.1\r\nHost: admin.internal\r\nHost: x\r\n${'AUTH'}Connection: close\r\n\r\n`],
    ['Host with userinfo and port', `GET /customers/1 HTTP/1.1\r\nHost: dpo@admin.internal:8443\r\n${'AUTH'}Connection: close\r\n\r\n`],
  ])('%s: the upstream gets the sidecar\'s Host, never the agent\'s', async (_what, raw) => {
    const before = upstream.received.length;
    const answer = await rawBytes(raw.replace('AUTH', auth()));
    const got = statuses(answer);
    expect(got.length).toBeGreaterThan(0);
    for (const r of upstream.received.slice(before)) {
      const hosts = r.rawHeaders.filter((_, i) => i % 2 === 0 && r.rawHeaders[i]?.toLowerCase() === 'host').length;
      expect(hosts).toBe(1);
      expect(r.rawHeaders.join('\n')).not.toMatch(/admin\.internal|dpo@/);
    }
  });
});

describe('request bodies judged as JSON: what the policy read is what every upstream reads', () => {
  const post = (type: string, body: Buffer | string): Promise<string> => {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
    return rawBytes(`POST /orders HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: ${type}\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n${bytes.toString('latin1')}`);
  };
  const exported = (): boolean => upstream.received.some((r) => r.target === '/orders' && /export/i.test(r.body));

  it('controls: the deny rule matches {"action":"export"}, other actions pass', async () => {
    expect(statuses(await post('application/json', '{"action":"export"}'))).toEqual([403]);
    expect(statuses(await post('application/json', '{"action":"view"}'))).toEqual([200]);
  });

  it.each([
    ['a repeated key (JSON.parse keeps the last, gjson and others the first)', 'application/json', '{"action":"export","action":"view"}', 400],
    ['keys equal but for case (ASP.NET binds them as one)', 'application/json', '{"action":"view","Action":"export"}', 400],
    ['a key repeated through an escape', 'application/json', '{"action":"export","\\u0061ction":"view"}', 400],
    ['a comment (lenient parsers skip it)', 'application/json', '{"action":"export" /* c */}', 400],
    ['a trailing comma', 'application/json; charset=utf-8', '{"action":"export",}', 400],
    ['a byte-order mark', 'application/json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"action":"export"}')]), 400],
    ['UTF-16', 'application/json; charset=utf-16', Buffer.from('{"action":"export"}', 'utf16le'), 400],
    ['another label (handlers that decode any body)', 'text/plain', '{"action":"export"}', 403],
    ['no JSON label, repeated key', 'application/x-anything', '{"action":"view","action":"export"}', 400],
    ['a vendor JSON label', 'application/vnd.orders.v2+json', '{"action":"export"}', 403],
    ['the key in another case (ASP.NET binds it)', 'application/json', '{"Action":"export"}', 403],
    ['the value in another case (case-insensitive enums)', 'application/json', '{"action":"EXPORT"}', 403],
  ])('%s: refused, never forwarded', async (_what, type, body, status) => {
    const answer = await post(type, body);
    expect(statuses(answer)).toEqual([status]);
    expect(exported()).toBe(false);
  });

  it('a body too large to read is refused when a deny or hold rule judges bodies (413), never forwarded', async () => {
    const body = `{"pad":"${'x'.repeat(1024 * 1024 + 16)}","action":"export"}`;
    const answer = await post('text/plain', body);
    expect(statuses(answer)).toEqual([413]);
    expect(answer).toContain('match.http.jsonBody');
    expect(exported()).toBe(false);
  });
});
