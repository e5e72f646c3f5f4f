// Round 8 review of the HTTP target, attacked as a penetration tester would: request bodies and
// parameters that the policy reads one way and a common upstream framework another. Through the
// real listener (the sidecar in-process, on the harness apiserver and IdP) to a node:http upstream
// that keeps every byte it receives; from a raw agent socket. The upstream's *reading* of what it
// received is modelled on documented framework behaviour:
// - Python's json.loads(bytes) (Flask get_json(force=True), FastAPI and Starlette request.json(),
//   FastAPI reads the body of a request without Content-Type as JSON): skips a UTF-8 byte-order
//   mark, detects UTF-16/UTF-32 from the NUL pattern, and accepts any amount of leading whitespace;
//   ASP.NET Core's System.Text.Json reads text/json and skips a UTF-8 byte-order mark;
// - PHP's request variables ($_GET, $_POST; Laravel and Symfony with _method override): leading
//   spaces of a name are dropped and dots and spaces in it become underscores, so `.method` and
//   ` _method` are `_method` (PHP manual, "Variables From External Sources");
// - Express body-parser (urlencoded and json) inflates request bodies sent with Content-Encoding
//   gzip/deflate by default (`inflate: true`), and method-override then reads req.body._method;
//   ASP.NET Core's RequestDecompression middleware does the same for any content type.
// Each test FAILS on the code this review was run against (c226056): the request reaches the
// upstream, which reads the denied action or method from it.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { rawExchange, startInProcessHttpSidecar, startRecordingUpstream, type ReceivedRequest, type RecordingUpstream } from './support.ts';

jest.setTimeout(90_000);

const ns = `sc-r8-${suffix()}`;
const PURPOSE = 'customer-support';

let upstream: RecordingUpstream;
let sidecar: RunningSidecar;
let token: string;
let listenPort = 0;

beforeAll(async () => {
  await installCrds();
  upstream = await startRecordingUpstream();
  const upstreamPort = upstream.port;
  // Orders may be read and created, never deleted; an order export is denied by its JSON body.
  const rules = [
    { name: 'deny-deletes', match: { http: { methods: ['DELETE'] } }, action: 'deny' },
    { name: 'deny-order-exports', match: { http: { methods: ['POST'], paths: ['/orders'], jsonBody: [{ path: 'action', equals: 'export' }] } }, action: 'deny' },
    { name: 'orders', match: { http: { methods: ['GET', 'POST'], paths: ['/orders', '/orders/**'] } }, action: 'allow' },
  ];
  ({ sidecar, listenPort } = await startInProcessHttpSidecar(ns, 'round8', { upstreamUrl: `http://127.0.0.1:${upstreamPort}`, issuer: requireIdp().issuer, rules }));
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
});

afterAll(async () => {
  await sidecar?.shutdown('test over');
  await upstream?.close();
});

/** One raw request on a fresh connection (body as bytes): the status the agent got. */
async function send(method: string, target: string, headers: [string, string][], body: Buffer = Buffer.alloc(0)): Promise<number> {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, `X-Guarita-Purpose: ${PURPOSE}`, ...headers.map(([n, v]) => `${n}: ${v}`)];
  if (body.length > 0) lines.push(`Content-Length: ${body.length}`);
  const head = `${[...lines, 'Connection: close'].join('\r\n')}\r\n\r\n`;
  const answer = (await rawExchange(listenPort, Buffer.concat([Buffer.from(head, 'latin1'), body]))).toString('latin1');
  return Number(answer.split(' ')[1] ?? 0);
}

// ---- how the upstream frameworks read what they received ----------------------------------------

/** The text Python's json.loads(bytes) decodes (json.detect_encoding): a UTF-8 BOM skipped, UTF-16 told by its BOM or NULs. */
function pythonText(b: Buffer): string {
  const hex = b.subarray(0, 3).toString('hex');
  if (hex === 'efbbbf') return b.subarray(3).toString('utf8');
  if (hex.startsWith('fffe')) return b.subarray(2).toString('utf16le');
  // One NUL beside each ASCII character: UTF-16, little-endian when the NUL comes second.
  if (/^[1-9a-f].00|^.[1-9a-f]00/.test(hex)) return b.toString('utf16le');
  if (/^00(?!00)/.test(hex)) return Buffer.from(b).swap16().toString('utf16le');
  return b.toString('utf8');
}

/** Python's json.loads(bytes): leading whitespace allowed, like JSON.parse. */
function pythonJson(b: Buffer): unknown {
  try {
    return JSON.parse(pythonText(b));
  } catch {
    return undefined;
  }
}

/** The body as a framework with request decompression reads it (Content-Encoding undone). */
function inflated(r: ReceivedRequest): Buffer {
  const enc = String(r.headers['content-encoding'] ?? '').trim().toLowerCase();
  try {
    if (enc === 'gzip') return gunzipSync(r.body);
    if (enc === 'deflate') return inflateSync(r.body);
  } catch { /* not that encoding */ }
  return r.body;
}

/** PHP's name for a request variable: leading spaces dropped, then dots and spaces become underscores. */
const phpName = (name: string): string => name.replace(/^ +/, '').replace(/[ .]/g, '_');

/** The parameters a PHP upstream (Laravel, Symfony) gets from a query or form text. */
function phpParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(text)) out[phpName(k)] = v;
  return out;
}

/** Whether some upstream request asked for an order export through its body. */
const exportReached = (before: number): boolean => upstream.received.slice(before).some((r) => {
  const json = pythonJson(inflated(r)) as { action?: unknown } | undefined;
  return typeof json === 'object' && json !== null && String(json.action).toLowerCase() === 'export';
});

/** Whether some upstream request was turned into a DELETE by a `_method` field (query or body) as PHP or Express read it. */
const deleteReached = (before: number): boolean => upstream.received.slice(before).some((r) => {
  const query = r.url.includes('?') ? r.url.slice(r.url.indexOf('?') + 1) : '';
  const form = inflated(r).toString('latin1');
  return [phpParams(query)._method, phpParams(form)._method, new URLSearchParams(form).get('_method')].some((m) => m?.toUpperCase() === 'DELETE');
});

// ---- controls: what is closed today -------------------------------------------------------------

describe('controls (pass today)', () => {
  it('{"action":"export"} is denied as JSON, as text/plain and unlabelled; _method=DELETE is refused in the query and a form', async () => {
    const before = upstream.received.length;
    expect(await send('POST', '/orders', [['Content-Type', 'application/json']], Buffer.from('{"action":"export"}'))).toBe(403);
    expect(await send('POST', '/orders', [['Content-Type', 'text/plain']], Buffer.from('{"action":"export"}'))).toBe(403);
    expect(await send('POST', '/orders', [], Buffer.from('{"action":"export"}'))).toBe(403);
    expect(await send('POST', '/orders?_method=DELETE', [])).toBe(400);
    expect(await send('POST', '/orders', [['Content-Type', 'application/x-www-form-urlencoded']], Buffer.from('_method=DELETE'))).toBe(400);
    expect(upstream.received.length).toBe(before);
    expect(await send('POST', '/orders', [['Content-Type', 'application/json']], Buffer.from('{"action":"view"}'))).toBe(200);
  });
});

// ---- finding 1: a JSON body under another label is judged only if it starts like strict JSON -----

describe('finding 1: JSON bodies under another label (or none) that every JSON reader but the sidecar reads', () => {
  const doc = '{"action":"export"}';
  it.each([
    ['no Content-Type, 64 spaces before the object (FastAPI reads an unlabelled body as JSON)', [] as [string, string][], Buffer.from(`${' '.repeat(64)}${doc}`)],
    ['text/plain, 100 newlines before the object (Flask get_json(force=True))', [['Content-Type', 'text/plain']] as [string, string][], Buffer.from(`${'\n'.repeat(100)}${doc}`)],
    ['no Content-Type, a UTF-8 byte-order mark (json.loads(bytes) skips it)', [] as [string, string][], Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(doc)])],
    ['text/json, a UTF-8 byte-order mark (ASP.NET Core reads text/json; System.Text.Json skips the BOM)', [['Content-Type', 'text/json']] as [string, string][], Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(doc)])],
    ['no Content-Type, UTF-16LE without BOM (json.loads(bytes) detects it)', [] as [string, string][], Buffer.from(doc, 'utf16le')],
    ['text/plain, UTF-16LE with BOM', [['Content-Type', 'text/plain']] as [string, string][], Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(doc, 'utf16le')])],
  ])('%s: denied or refused, never forwarded', async (_what, headers, body) => {
    const before = upstream.received.length;
    const status = await send('POST', '/orders', headers, body);
    expect({ status, refused: status >= 400, exportReached: exportReached(before) }).toEqual({ status, refused: true, exportReached: false });
    // Strict JSON after whitespace is judged (the rule denies it, 403); a byte-order mark or UTF-16 is refused as ambiguous (400).
    expect(status).toBe(body[0] === 0x20 || body[0] === 0x0a ? 403 : 400);
  });

  it.each([
    ['application/+json', Buffer.from(doc), 403],
    ['application/vnd.orders+json; charset=utf-8', Buffer.from(doc), 403],
    ['TEXT/JSON; charset=utf-8', Buffer.from(doc), 403],
    ['application/octet-stream, UTF-16BE', Buffer.from(doc, 'utf16le').swap16(), 400],
    ['text/plain, a form feed before the object (Json.NET skips any white space)', Buffer.from(`\f${doc}`), 400],
  ])('%s: denied or refused, never forwarded', async (label, body, expected) => {
    const before = upstream.received.length;
    const status = await send('POST', '/orders', [['Content-Type', label.split(',')[0] ?? '']], body);
    expect({ status, exportReached: exportReached(before) }).toEqual({ status: expected, exportReached: false });
  });

  it('control: legitimate JSON, forms and plain text under their labels are answered as before', async () => {
    const before = upstream.received.length;
    expect(await send('POST', '/orders', [['Content-Type', 'text/plain']], Buffer.from('an ordinary note about an order'))).toBe(200);
    expect(await send('POST', '/orders', [['Content-Type', 'application/x-www-form-urlencoded']], Buffer.from('id=1&note=a+b'))).toBe(200);
    expect(await send('POST', '/orders', [['Content-Type', 'application/merge-patch+json']], Buffer.from('{"action":"view"}'))).toBe(200);
    expect(await send('POST', '/orders', [['Content-Type', 'text/json']], Buffer.from('  {"action":"view"}'))).toBe(200);
    expect(await send('POST', '/orders', [['Content-Encoding', 'identity'], ['Content-Type', 'application/json']], Buffer.from('{"action":"view"}'))).toBe(200);
    expect(upstream.received.length).toBe(before + 5);
  });
});

// ---- finding 2: method-override fields in the spellings PHP reads as _method ---------------------

describe('finding 2: _method spelled as PHP (Laravel, Symfony) reads it', () => {
  it.each([
    ['query .method=DELETE (PHP turns the dot into _)', '/orders?.method=DELETE', [] as [string, string][], ''],
    ['query " _method"=DELETE (PHP drops leading spaces)', '/orders?%20_method=DELETE', [] as [string, string][], ''],
    ['form .method=DELETE', '/orders', [['Content-Type', 'application/x-www-form-urlencoded']] as [string, string][], '.method=DELETE&id=1'],
    ['form +_method=DELETE (a leading space)', '/orders', [['Content-Type', 'application/x-www-form-urlencoded']] as [string, string][], '+_method=DELETE&id=1'],
    ['query %2Emethod=DELETE (decoded before PHP reads it)', '/orders?%2Emethod=DELETE', [] as [string, string][], ''],
    ['query [_method]=DELETE (Rack and qs drop the brackets)', '/orders?%5B_method%5D=DELETE', [] as [string, string][], ''],
    ['query _method[]=DELETE (qs makes an array; method-override takes its first value)', '/orders?_method%5B%5D=DELETE', [] as [string, string][], ''],
    ['query _METHOD=DELETE', '/orders?_METHOD=DELETE', [] as [string, string][], ''],
    ['form %2Emethod=DELETE', '/orders', [['Content-Type', 'application/x-www-form-urlencoded']] as [string, string][], '%2Emethod=DELETE&id=1'],
    ['form %20_method=DELETE', '/orders', [['Content-Type', 'application/x-www-form-urlencoded']] as [string, string][], 'id=1&%20_method=DELETE'],
    ['unlabelled form .method=DELETE (Rack reads it as a form)', '/orders', [] as [string, string][], '.method=DELETE'],
    ['multipart name=".method"', '/orders', [['Content-Type', 'multipart/form-data; boundary=b']] as [string, string][], '--b\r\nContent-Disposition: form-data; name=".method"\r\n\r\nDELETE\r\n--b--\r\n'],
    ['multipart name="[_method]"', '/orders', [['Content-Type', 'multipart/form-data; boundary=b']] as [string, string][], '--b\r\nContent-Disposition: form-data; name="[_method]"\r\n\r\nDELETE\r\n--b--\r\n'],
    ['multipart name*=utf-8\'\'%5Fmethod (busboy)', '/orders', [['Content-Type', 'multipart/form-data; boundary=b']] as [string, string][], "--b\r\nContent-Disposition: form-data; name*=utf-8''%5Fmethod\r\n\r\nDELETE\r\n--b--\r\n"],
    ['multipart name="\\_method" (Rack unescapes it)', '/orders', [['Content-Type', 'multipart/form-data; boundary=b']] as [string, string][], '--b\r\nContent-Disposition: form-data; name="\\_method"\r\n\r\nDELETE\r\n--b--\r\n'],
    ['JSON " _method"', '/orders', [['Content-Type', 'application/json']] as [string, string][], '{" _method":"DELETE"}'],
  ])('%s: refused as a method override, never forwarded', async (_what, target, headers, body) => {
    const before = upstream.received.length;
    const status = await send('POST', target, headers, Buffer.from(body));
    expect({ status, deleteReached: deleteReached(before) }).toEqual({ status: 400, deleteReached: false });
    expect(upstream.received.length).toBe(before);
  });
});

// ---- finding 3: compressed request bodies are judged as their compressed bytes -------------------

describe('finding 3: request bodies with a Content-Encoding the upstream undoes', () => {
  it.each([
    ['a gzip form with _method=DELETE (Express body-parser inflates, method-override reads req.body._method)', [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Encoding', 'gzip']] as [string, string][], gzipSync('_method=DELETE&id=1')],
    ['a deflate form with _method=DELETE', [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Encoding', 'deflate']] as [string, string][], deflateSync('_method=DELETE&id=1')],
    ['an unlabelled gzip body with _method=DELETE (Rack reads unlabelled POSTs as forms)', [['Content-Encoding', 'gzip']] as [string, string][], gzipSync('_method=DELETE')],
  ])('%s: refused, never forwarded', async (_what, headers, body) => {
    const before = upstream.received.length;
    const status = await send('POST', '/orders', headers, body);
    expect({ status, refused: status >= 400, deleteReached: deleteReached(before) }).toEqual({ status: 415, refused: true, deleteReached: false });
  });

  it.each([
    ['br', [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Encoding', 'br']] as [string, string][]],
    ['GZIP in capitals, padded', [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Encoding', '  GZIP ']] as [string, string][]],
    ['stacked codings', [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Encoding', 'identity, gzip']] as [string, string][]],
    ['two Content-Encoding lines', [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Encoding', 'identity'], ['Content-Encoding', 'gzip']] as [string, string][]],
    ['an unknown coding', [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Encoding', 'x-custom']] as [string, string][]],
    ['Content_Encoding (CGI servers read it as Content-Encoding)', [['Content-Type', 'text/plain'], ['Content_Encoding', 'gzip']] as [string, string][]],
    ['text/plain, gzip', [['Content-Type', 'text/plain'], ['Content-Encoding', 'gzip']] as [string, string][]],
    ['multipart, gzip', [['Content-Type', 'multipart/form-data; boundary=b'], ['Content-Encoding', 'gzip']] as [string, string][]],
  ])('a compressed body with %s: refused (415), never forwarded', async (_what, headers) => {
    const before = upstream.received.length;
    expect(await send('POST', '/orders', headers, gzipSync('_method=DELETE&id=1'))).toBe(415);
    expect(upstream.received.length).toBe(before);
  });

  it.each([
    ['text/json, gzip (ASP.NET Core RequestDecompression + text/json)', [['Content-Type', 'text/json'], ['Content-Encoding', 'gzip']] as [string, string][]],
    ['no Content-Type, gzip (a handler decompressing and decoding any body)', [['Content-Encoding', 'gzip']] as [string, string][]],
  ])('{"action":"export"} %s: denied or refused, never forwarded', async (_what, headers) => {
    const before = upstream.received.length;
    const status = await send('POST', '/orders', headers, gzipSync('{"action":"export"}'));
    expect({ status, refused: status >= 400, exportReached: exportReached(before) }).toEqual({ status: 415, refused: true, exportReached: false });
  });

  it('control: application/json with gzip is refused (it was 400, strict JSON required under a JSON label; now 415, the coding is named first)', async () => {
    const before = upstream.received.length;
    expect(await send('POST', '/orders', [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip']], gzipSync('{"action":"export"}'))).toBe(415);
    expect(upstream.received.length).toBe(before);
  });

  it('a compressed body over the buffering limit, under a policy with a body rule: refused (415), never forwarded', async () => {
    const before = upstream.received.length;
    const big = Buffer.alloc(1024 * 1024 + 4096, 0x61);
    expect(await send('POST', '/orders', [['Content-Type', 'application/octet-stream'], ['Content-Encoding', 'gzip']], big)).toBe(415);
    expect(upstream.received.length).toBe(before);
  });

  it('a request without a body may carry Content-Encoding (nothing to decode)', async () => {
    const before = upstream.received.length;
    expect(await send('GET', '/orders', [['Content-Encoding', 'gzip']])).toBe(200);
    expect(upstream.received.length).toBe(before + 1);
  });
});
