// Round 8b review: the round 8 HTTP fixes (6e11ddc) attacked again. Through the real listener (the
// sidecar in-process, on the harness apiserver and IdP, as in http-round8-attacks.int) to a
// node:http upstream that keeps every byte it receives; from a raw agent socket. How the upstream
// reads what it received is modelled on framework behaviour, checked where said:
// - Go's encoding/json (checked with go1.26 on this machine): json.NewDecoder(r.Body).Decode(&v),
//   the idiomatic net/http handler and gin's ShouldBindJSON/BindJSON (binding/json.go decodeJSON,
//   no Content-Type check), reads the FIRST JSON value and ignores whatever follows it
//   (`{"action":"export"} trailing` binds action=export; json.Unmarshal would refuse it); and both
//   Decode and Unmarshal match object keys to struct fields with Unicode simple case folding, so
//   "ſtatus" (U+017F LATIN SMALL LETTER LONG S) binds the field tagged "status", and in
//   {"status":"open","ſtatus":"cancelled"} the last one wins (Status = "cancelled");
// - PHP's multipart parser (main/rfc1867.c, php_ap_getword_conf) takes a Content-Disposition
//   parameter value in single quotes as it takes one in double quotes: name='_method' is the
//   field _method in $_POST, which Symfony's getMethod() (Laravel) runs as the method; and
//   commons-fileupload's ParameterParser, and Tomcat's copy of it behind request.getParameter on
//   multipart requests, decode RFC 2047 encoded words in every parameter value
//   (MimeUtility.decodeText): name="=?UTF-8?B?X21ldGhvZA==?=" is _method to Spring's
//   HiddenHttpMethodFilter (spring.mvc.hiddenmethod.filter.enabled) on Tomcat;
// - JSON5 (the json5 package the fix itself took as the model of lenient readers) and Json.NET
//   skip comments before the value: `/* c */{"action":"export"}` is that object to them.
// - Python's json (int), Go's encoding/json into an int64 field and Jackson into a long read an
//   integer past 2^53 exactly; JSON.parse rounds it (1234567890123456789 -> 1234567890123456800);
// Each test in the "finding" blocks FAILS on 13bb839 (6e11ddc's code): the sidecar answers 200 and
// the upstream receives a request that it reads as the denied action or method.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import JSON5 from 'json5';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { rawExchange, startInProcessHttpSidecar, startRecordingUpstream, type ReceivedRequest, type RecordingUpstream } from './support.ts';

jest.setTimeout(90_000);

const ns = `sc-r8b-${suffix()}`;
const PURPOSE = 'customer-support';

let upstream: RecordingUpstream;
let sidecar: RunningSidecar;
let token: string;
let listenPort = 0;
let upstreamPort = 0;

beforeAll(async () => {
  await installCrds();
  upstream = await startRecordingUpstream();
  upstreamPort = upstream.port;
  // Orders may be read and created, never deleted; an order export, and cancelling an order through
  // its status, are denied by the JSON body.
  const rules = [
    { name: 'deny-deletes', match: { http: { methods: ['DELETE'] } }, action: 'deny' },
    { name: 'deny-order-exports', match: { http: { methods: ['POST'], paths: ['/orders'], jsonBody: [{ path: 'action', equals: 'export' }] } }, action: 'deny' },
    { name: 'deny-cancellations', match: { http: { methods: ['POST'], paths: ['/orders', '/orders/**'], jsonBody: [{ path: 'status', equals: 'cancelled' }] } }, action: 'deny' },
    // One customer's orders may not be touched (an id past 2^53, as snowflake-style ids are).
    { name: 'deny-customer', match: { http: { methods: ['POST'], paths: ['/orders', '/orders/**'], jsonBody: [{ path: 'customer_id', equals: '1234567890123456789' }] } }, action: 'deny' },
    { name: 'orders', match: { http: { methods: ['GET', 'POST'], paths: ['/orders', '/orders/**'] } }, action: 'allow' },
  ];
  ({ sidecar, listenPort } = await startInProcessHttpSidecar(ns, 'round8b', { upstreamUrl: `http://127.0.0.1:${upstreamPort}`, issuer: requireIdp().issuer, rules }));
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

/**
 * Go's json.NewDecoder(body).Decode(&v): the first JSON value of the body (leading JSON whitespace
 * skipped), whatever follows it; undefined when the body does not start with one.
 */
function goDecoderValue(body: Buffer): unknown {
  const text = body.toString('utf8').replace(/^[ \t\r\n]+/, '');
  // The shortest prefix that is a complete JSON value is the one Decode returns.
  for (let end = 1; end <= text.length; end++) {
    try {
      return JSON.parse(text.slice(0, end));
    } catch { /* not complete yet */ }
  }
  return undefined;
}

/** Go's key-to-field matching (encoding/json foldName): Unicode simple case folding; the last key that folds to the field wins. */
function goField(json: unknown, field: string): unknown {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const fold = (s: string): string => s.replace(/\u017f/g, 's').replace(/\u212a/g, 'k').toLowerCase();
  let value: unknown;
  for (const [k, v] of Object.entries(json)) if (fold(k) === fold(field)) value = v;
  return value;
}

/** An RFC 2047 encoded word decoded (B or Q), as commons-fileupload's and Tomcat's ParameterParser do (MimeUtility.decodeText) for every parameter value. */
function decodeEncodedWord(value: string): string {
  return value.replace(/=\?([^?]+)\?([bq])\?([^?]*)\?=/gi, (_m, _charset: string, kind: string, text: string) => (kind.toLowerCase() === 'b'
    ? Buffer.from(text, 'base64').toString('utf8')
    : text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_q, h: string) => String.fromCharCode(parseInt(h, 16)))));
}

/** PHP's multipart field names (rfc1867.c): a name parameter quoted with " or ', or a token. */
function phpMultipartNames(body: string): string[] {
  return [...body.matchAll(/Content-Disposition:[^\r\n]*?;\s*name=\s*(?:"([^"]*)"|'([^']*)'|([^\s;]+))/gi)].map((m) => (m[1] ?? m[2] ?? m[3] ?? '').replace(/^ +/, '').replace(/[ .]/g, '_'));
}

/** JSON5.parse of the body (a Node handler taking any body as text and reading it with json5). */
function json5Value(body: Buffer): unknown {
  try {
    return JSON5.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

const since = (before: number): ReceivedRequest[] => upstream.received.slice(before);

/** What the agent was told: denied (403) or refused (400), or the status it got instead. */
const outcome = (status: number): string => ([400, 403].includes(status) ? 'denied or refused' : `answered ${status}`);

// ---- finding 1: a JSON value followed by anything else, under another label or none -------------

describe('finding 1: {"action":"export"} followed by more text, which Go\'s json.Decoder (gin ShouldBindJSON) reads as the export', () => {
  it('control (passes): under application/json the same body is refused as not strict JSON', async () => {
    const before = upstream.received.length;
    expect(await send('POST', '/orders', [['Content-Type', 'application/json']], Buffer.from('{"action":"export"} trailing'))).toBe(400);
    expect(since(before)).toEqual([]);
  });

  it.each([
    ['text/plain, trailing text', [['Content-Type', 'text/plain']], '{"action":"export"} trailing'],
    ['no Content-Type, a second JSON value', [], '{"action":"export"}{"action":"view"}'],
    ['no Content-Type, a stray bracket', [], '{"action":"export"}]'],
    ['application/octet-stream, trailing newline and text', [['Content-Type', 'application/octet-stream']], '{"action":"export"}\nEOF'],
  ] as [string, [string, string][], string][])('%s: denied or refused, never forwarded', async (_what, headers, body) => {
    const before = upstream.received.length;
    const status = await send('POST', '/orders', headers, Buffer.from(body));
    const exportReached = since(before).some((r) => goField(goDecoderValue(r.body), 'action') === 'export');
    expect({ answer: outcome(status), exportReached }).toEqual({ answer: 'denied or refused', exportReached: false });
  });
});

// ---- finding 2: object keys Go binds to a field by Unicode case folding --------------------------

describe('finding 2: keys Go\'s encoding/json folds onto a judged field ("ſtatus" is status)', () => {
  it('control (passes): {"status":"cancelled"} and {"STATUS":"cancelled"} are denied', async () => {
    expect(await send('POST', '/orders/7', [['Content-Type', 'application/json']], Buffer.from('{"status":"cancelled"}'))).toBe(403);
    expect(await send('POST', '/orders/7', [['Content-Type', 'application/json']], Buffer.from('{"STATUS":"cancelled"}'))).toBe(403);
  });

  it.each([
    ['application/json, "ſtatus" alone', [['Content-Type', 'application/json']], '{"\u017ftatus":"cancelled"}'],
    ['application/json, "status" then "ſtatus" (Go keeps the last)', [['Content-Type', 'application/json']], '{"status":"open","\u017ftatus":"cancelled"}'],
    ['no Content-Type, "ſtatus"', [], '{"\u017ftatus":"cancelled"}'],
  ] as [string, [string, string][], string][])('%s: denied or refused, never forwarded', async (_what, headers, body) => {
    const before = upstream.received.length;
    const status = await send('POST', '/orders/7', headers, Buffer.from(body));
    const cancelReached = since(before).some((r) => goField(goDecoderValue(r.body), 'status') === 'cancelled');
    expect({ answer: outcome(status), cancelReached }).toEqual({ answer: 'denied or refused', cancelReached: false });
  });
});

// ---- finding 3: multipart names in single quotes (PHP) or RFC 2047 encoded words (Java) ----------

describe('finding 3: multipart names other parsers read as _method (PHP single quotes, RFC 2047 encoded words)', () => {
  it('control (passes): name="_method" is refused', async () => {
    const body = '--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--\r\n';
    expect(await send('POST', '/orders', [['Content-Type', 'multipart/form-data; boundary=b']], Buffer.from(body))).toBe(400);
  });

  it.each([
    ["name='_method'", "--b\r\nContent-Disposition: form-data; name='_method'\r\n\r\nDELETE\r\n--b--\r\n"],
    ["name='.method' (PHP then turns . into _)", "--b\r\nContent-Disposition: form-data; name='.method'\r\n\r\nDELETE\r\n--b--\r\n"],
    ['name="=?UTF-8?B?X21ldGhvZA==?=" (RFC 2047: commons-fileupload, Tomcat; Spring HiddenHttpMethodFilter)', '--b\r\nContent-Disposition: form-data; name="=?UTF-8?B?X21ldGhvZA==?="\r\n\r\nDELETE\r\n--b--\r\n'],
    ['name="=?UTF-8?Q?=5Fmethod?=" (RFC 2047, Q encoding)', '--b\r\nContent-Disposition: form-data; name="=?UTF-8?Q?=5Fmethod?="\r\n\r\nDELETE\r\n--b--\r\n'],
  ])('%s: refused as a method override, never forwarded', async (_what, body) => {
    const before = upstream.received.length;
    const status = await send('POST', '/orders', [['Content-Type', 'multipart/form-data; boundary=b']], Buffer.from(body));
    const deleteReached = since(before).some((r) => {
      const text = r.body.toString('latin1');
      const names = phpMultipartNames(text).map(decodeEncodedWord);
      return names.includes('_method') && /\r\n\r\nDELETE\r\n/.test(text);
    });
    expect({ status, deleteReached }).toEqual({ status: 400, deleteReached: false });
  });
});

// ---- finding 4: a comment before the value (JSON5, Json.NET) -------------------------------------

describe('finding 4: a comment before {"action":"export"}, which JSON5 (the fix\'s own model) and Json.NET skip', () => {
  it.each([
    ['text/plain, /* */ first', [['Content-Type', 'text/plain']], '/* order */{"action":"export"}'],
    ['no Content-Type, // line first', [], '// order\n{"action":"export"}'],
  ] as [string, [string, string][], string][])('%s: denied or refused, never forwarded', async (_what, headers, body) => {
    const before = upstream.received.length;
    const status = await send('POST', '/orders', headers, Buffer.from(body));
    const exportReached = since(before).some((r) => (json5Value(r.body) as { action?: unknown } | undefined)?.action === 'export');
    expect({ answer: outcome(status), exportReached }).toEqual({ answer: 'denied or refused', exportReached: false });
  });
});

// ---- finding 5: integers past 2^53, which Go (int64), Python and Jackson read exactly -------------

/** The JSON text of the number at `key` in a body, as an exact reader (Python int, Go int64) reads it: its source text. */
function exactNumber(body: Buffer, key: string): string | undefined {
  let found: string | undefined;
  const reviver = function reviver(this: unknown, k: string, v: unknown, context?: { source?: string }): unknown {
    if (k === key && typeof v === 'number') found = context?.source;
    return v;
  };
  try {
    JSON.parse(body.toString('utf8'), reviver);
  } catch { /* not JSON */ }
  return found;
}

describe('finding 5: {"customer_id":1234567890123456789} as a number, which the policy reads as 1234567890123456800', () => {
  it('control (passes): the same id as a JSON string is denied', async () => {
    expect(await send('POST', '/orders', [['Content-Type', 'application/json']], Buffer.from('{"customer_id":"1234567890123456789"}'))).toBe(403);
  });

  it('the id as a JSON number: denied (or refused as a number no reader agrees on), never forwarded', async () => {
    const before = upstream.received.length;
    const status = await send('POST', '/orders', [['Content-Type', 'application/json']], Buffer.from('{"customer_id":1234567890123456789,"action":"view"}'));
    const customerReached = since(before).some((r) => exactNumber(r.body, 'customer_id') === '1234567890123456789');
    expect({ answer: outcome(status), customerReached }).toEqual({ answer: 'denied or refused', customerReached: false });
  });
});

// ---- regressions: ordinary clients (pass) --------------------------------------------------------

describe('ordinary clients keep working (controls, pass)', () => {
  const base = (): string => `http://127.0.0.1:${listenPort}`;
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${token}`, 'x-guarita-purpose': PURPOSE });

  it('fetch (undici): JSON, form, multipart upload, plain text and an empty POST are forwarded as sent', async () => {
    const before = upstream.received.length;
    const json = await fetch(`${base()}/orders`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ action: 'view', note: 'ſ, K, é, \u2028' }) });
    const form = await fetch(`${base()}/orders`, { method: 'POST', headers: auth(), body: new URLSearchParams({ method: 'card', payment_method: 'visa' }) });
    const data = new FormData();
    data.append('note', 'hello');
    data.append('file', new Blob(['{"a":1}\n[INFO] line\n'], { type: 'text/plain' }), 'log.txt');
    const multipart = await fetch(`${base()}/orders`, { method: 'POST', headers: auth(), body: data });
    const text = await fetch(`${base()}/orders`, { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: '[INFO] an order was viewed\n{"a":1}' });
    const empty = await fetch(`${base()}/orders`, { method: 'POST', headers: auth() });
    expect([json.status, form.status, multipart.status, text.status, empty.status]).toEqual([200, 200, 200, 200, 200]);
    expect(since(before)).toHaveLength(5);
  });

  it('curl: a 4 KiB JSON body (Expect: 100-continue), a form (-d), a multipart upload (-F) and text (--data-binary) are forwarded', async () => {
    const before = upstream.received.length;
    const curl = async (...args: string[]): Promise<string> => (await promisify(execFile)('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${token}`, '-H', `X-Guarita-Purpose: ${PURPOSE}`, ...args, `http://127.0.0.1:${listenPort}/orders`])).stdout;
    const big = JSON.stringify({ action: 'view', note: 'x'.repeat(4096) });
    expect([
      await curl('-H', 'Content-Type: application/json', '--data-binary', big),
      await curl('-d', 'status=open&note=hi'),
      await curl('-F', 'note=hello', '-F', 'file=@package.json'),
      await curl('-H', 'Content-Type: text/plain', '--data-binary', '[INFO] an order was viewed'),
    ]).toEqual(['200', '200', '200', '200']);
    expect(since(before)).toHaveLength(4);
  });

  it('a compressing client is told plainly: 415 naming Content-Encoding', async () => {
    const res = await fetch(`${base()}/orders`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: Buffer.from('x') });
    expect(res.status).toBe(415);
    expect(await res.text()).toMatch(/Content-Encoding: gzip.*uncompressed/);
  });
});
