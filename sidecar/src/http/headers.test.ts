import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../../../core/masking/index.ts';
import { boundHeaderLines, boundTarget, endToEnd, isForwardingClaim, maskHeaderValue, maskResponseHeaders, methodOverrideParam, multipartOverride, overrideParamName, REQUEST_DROP, requestContentCoding, requestProblem } from './headers.ts';
import { FORGEABLE_HEADERS, REFUSED_HEADS } from './request-headers.corpus.ts';

const raw = (headers: readonly [string, string][]): string[] => headers.flat();

describe('request heads refused before judging (corpus)', () => {
  it.each(REFUSED_HEADS.map((c) => [c.what, c] as const))('%s', (_what, c) => {
    const problem = requestProblem(c.method, raw(c.headers));
    expect(problem).toMatchObject({ status: 400, code: c.code });
    expect(problem?.message).toMatch(c.names);
  });

  it.each([
    ['GET', [['Accept', 'application/json']]],
    ['GET', [['Content-Length', '0']]],
    ['DELETE', [['Content-Length', '0']]],
    ['POST', [['Content-Length', '12'], ['Content-Type', 'application/json']]],
    ['POST', [['Transfer-Encoding', 'chunked']]],
    ['PUT', [['Transfer-Encoding', 'Chunked']]],
  ] as [string, [string, string][]][])('accepts %s %j', (method, headers) => {
    expect(requestProblem(method, raw(headers))).toBeUndefined();
  });
});

describe('method-override parameters', () => {
  const none = Object.create(null) as Record<string, string[]>;
  it.each([
    [{ _method: ['DELETE'] }, undefined, undefined, 'query parameter _method'],
    [none, { _method: ['DELETE'] }, undefined, 'form field _method'],
    [none, undefined, { _method: 'DELETE' }, 'JSON body field _method'],
    [{ __method: ['PUT'] }, undefined, undefined, 'query parameter __method'],
    [{ 'x-http-method-override': ['PUT'] }, undefined, undefined, 'query parameter x-http-method-override'],
  ] as [Record<string, string[]>, Record<string, string[]> | undefined, unknown, string][])('finds %j %j %j', (query, form, json, what) => {
    expect(methodOverrideParam(query, form, json)).toBe(what);
  });

  it('lets ordinary parameters and nested fields through', () => {
    expect(methodOverrideParam({ method: ['card'], page: ['1'] }, { name: ['x'] }, { payment: { _method: 'x' } })).toBeUndefined();
  });

  // Names as PHP ($_GET/$_POST: Laravel, Symfony), Rack and qs (Express) read them: each is _method to one of them.
  it.each([
    ['.method', '_method'], [' _method', '_method'], ['  .method', '_method'], ['\t_method', '_method'], ['_method\0junk', '_method'],
    ['[_method]', '_method'], ['[[_method]]', '_method'], ['_method]', '_method'], ['][_method', '_method'], ['_method[]', '_method'], ['_method[0]', '_method'],
    ['_METHOD', '_method'], ['_Method', '_method'], ['._method', '__method'], ['_.method', '__method'], ['_[method', '__method'], [' .method[]', '_method'],
    ['_http.method', '_http_method'], ['_http method', '_http_method'], ['_http[method', '_http_method'], ['X-HTTP-Method-Override', 'x-http-method-override'],
  ])('reads %j as %j', (name, read) => {
    expect(overrideParamName(name)).toBe(read);
    expect(methodOverrideParam({ [name]: ['DELETE'] }, undefined, undefined)).toBe(`query parameter ${JSON.stringify(name)} (read as ${read})`);
    expect(methodOverrideParam({}, { [name]: ['DELETE'] }, undefined)).toMatch(/^form field /);
    expect(methodOverrideParam({}, undefined, { [name]: 'DELETE' })).toMatch(/^JSON body field /);
  });

  it.each(['method', '_methods', 'my_method', '_method_', 'a[_method]', '_meth', 'x-http-method', 'payment_method', '_method-x'])('lets %j through', (name) => {
    expect(overrideParamName(name)).not.toMatch(/^(?:_method|__method|_http_method|x-http-method-override)$/);
    expect(methodOverrideParam({ [name]: ['DELETE'] }, { [name]: ['DELETE'] }, { [name]: 'DELETE' })).toBeUndefined();
  });

  it('reads names after percent-decoding, as the query and form parsers hand them over', () => {
    for (const text of ['%2Emethod=DELETE', '%20_method=DELETE', '+_method=DELETE', '%5B_method%5D=DELETE', '%5Fmethod=DELETE', '_method%00=DELETE', '_method%5B%5D=DELETE']) {
      const parsed: Record<string, string[]> = {};
      for (const [k, v] of new URLSearchParams(text)) (parsed[k] ??= []).push(v);
      expect([text, methodOverrideParam(parsed, undefined, undefined)]).toEqual([text, expect.stringMatching(/^query parameter /)]);
    }
  });
});

describe('method-override fields in a multipart body', () => {
  const part = (disposition: string): string => `--b\r\nContent-Disposition: form-data; ${disposition}\r\n\r\nDELETE\r\n--b--\r\n`;
  it.each([
    'name="_method"', 'name=_method', 'NAME = "_method"', 'name=".method"', 'name=" _method"', 'name="[_method]"', 'name="_method[]"',
    'name="\\_method"', 'name="_me\\thod"', "name*=utf-8''%5Fmethod", "name*=UTF-8'en'_method", 'name="%5Fmethod"', 'name="__method"', 'name="X-HTTP-Method-Override"',
    'filename="a.txt"; name="_method"', "name='_method'", "name='.method'", "name='_me\\thod'", 'name="=?UTF-8?B?X21ldGhvZA==?="', 'name="=?utf-8?q?=5Fmethod?="',
    'name==?ISO-8859-1?Q?=5Fmethod?=', 'name="=?UTF-8?B?Lm1ldGhvZA==?="',
  ])('finds %s', (disposition) => {
    expect(multipartOverride(part(disposition))).toMatch(/^multipart field /);
  });

  it.each(['name="method"', 'name="file"; filename="_method"', 'name="my_method"', 'name="_methods"', "name='file'", 'name="=?UTF-8?B?ZmlsZQ==?="'])('lets %s through', (disposition) => {
    expect(multipartOverride(part(disposition))).toBeUndefined();
  });
});

describe('request content codings (bodies the upstream may inflate)', () => {
  it.each([
    [['Content-Encoding', 'gzip'], 'gzip'], [['content-encoding', 'GZIP'], 'GZIP'], [['Content-Encoding', ' deflate '], ' deflate '], [['Content-Encoding', 'br'], 'br'],
    [['Content-Encoding', 'zstd'], 'zstd'], [['Content-Encoding', 'x-gzip'], 'x-gzip'], [['Content-Encoding', 'gzip, identity'], 'gzip, identity'],
    [['Content-Encoding', 'identity', 'Content-Encoding', 'gzip'], 'identity, gzip'], [['Content-Encoding', 'compress'], 'compress'], [['Content-Encoding', ''], ''],
    [['Content_Encoding', 'gzip'], 'gzip'], [['CONTENT-ENCODING', 'deflate, gzip'], 'deflate, gzip'],
  ])('finds %j', (raw, coding) => {
    expect(requestContentCoding(raw)).toBe(coding);
  });

  it('finds none without the header, or with identity only', () => {
    expect(requestContentCoding(['Content-Type', 'application/json'])).toBeUndefined();
    expect(requestContentCoding(['Content-Encoding', 'identity'])).toBeUndefined();
    expect(requestContentCoding(['Content-Encoding', ' Identity , identity'])).toBeUndefined();
  });
});

describe('forwarding claims', () => {
  it.each(FORGEABLE_HEADERS.map(([n]) => n))('%s is never forwarded', (name) => {
    expect(isForwardingClaim(name)).toBe(true);
    expect(endToEnd({ [name.toLowerCase()]: 'x', accept: 'application/json' }, REQUEST_DROP, true)).toEqual({ accept: 'application/json' });
  });

  it('drops headers the client names in Connection, and keeps ordinary ones', () => {
    const out = endToEnd({ connection: 'close, x-secret-switch', 'x-secret-switch': '1', 'x-request-id': 'r1', accept: '*/*' }, REQUEST_DROP, true);
    expect(out).toEqual({ 'x-request-id': 'r1', accept: '*/*' });
  });
});

describe('approval binding', () => {
  it('covers every forwarded header that changes what the upstream does, in a stable order', () => {
    const lines = boundHeaderLines({ 'content-type': 'application/json', 'user-agent': 'curl', accept: 'text/csv', 'content-encoding': 'gzip', traceparent: '00-1', prefer: ['return=minimal', 'respond-async'] });
    expect(lines).toEqual(['accept: text/csv', 'content-encoding: gzip', 'content-type: application/json', 'prefer: return=minimal', 'prefer: respond-async']);
  });

  it('binds secrets by hash: covered, but never shown to approvers or recorded', () => {
    const lines = boundHeaderLines({ cookie: 'session=s3cr3t', 'x-api-key': 'k-123', accept: '*/*' });
    expect(lines).toEqual([expect.stringMatching(/^cookie: \[secret, sha256 [0-9a-f]{32}\]$/), expect.stringMatching(/^x-api-key: \[secret, sha256 [0-9a-f]{32}\]$/)]);
    expect(lines.join('\n')).not.toMatch(/s3cr3t|k-123/);
    expect(boundHeaderLines({ cookie: 'session=other' })).not.toEqual(boundHeaderLines({ cookie: 'session=s3cr3t' }));
  });
});

describe('response header masking', () => {
  const masker = compileMasker({ fields: [{ names: ['cpf'], detector: 'cpf' }, { names: ['email'], detector: 'email' }] });
  const mask = (v: string): string => maskHeaderValue(v, (t) => masker.newSession().maskText(t));
  const CPF = '590.830.166-33';
  const b64 = Buffer.from(CPF).toString('base64');

  it.each([
    ['a custom header', `cliente ${CPF}`],
    ['bare digits', '/customers/59083016633'],
    ['Content-Disposition filename', `attachment; filename="cliente-${CPF}.csv"`],
    ['RFC 5987 filename*', `attachment; filename*=UTF-8''relat%C3%B3rio%20${CPF}.csv`],
    ['RFC 5987, every byte encoded', `attachment; filename*=UTF-8''${[...Buffer.from(CPF)].map((b) => `%${b.toString(16)}`).join('')}.csv`],
    ['Location with an encoded CPF', '/customers?cpf=590%2E830%2E166%2D33'],
    ['Link with an encoded e-mail', '<https://api/c/larissa.oliveira1%40exemplo.com.br>; rel="next"'],
    ['RFC 2047 encoded word', `attachment; filename="=?UTF-8?B?${b64}?="`],
    ['RFC 2047 Q encoding', 'attachment; filename="=?UTF-8?Q?590=2E830=2E166-33?="'],
    ['Set-Cookie', `last_customer=${CPF}; Path=/; HttpOnly`],
  ])('%s', (_what, value) => {
    const out = mask(value);
    expect(out).not.toContain(CPF);
    expect(out).not.toContain('59083016633');
    expect(out).not.toContain('larissa.oliveira1');
    expect(out).not.toContain(b64);
    expect(decodeURIComponent(out.replace(/%(?![0-9a-f]{2})/gi, '%25'))).not.toContain(CPF);
  });

  it('keeps values without identifiers, and numbers and dates unmasked', () => {
    const h = maskResponseHeaders({ 'content-type': 'application/json', 'content-length': '59083016633', location: '/customers/2?page=1', 'set-cookie': ['a=1; Path=/', `b=${CPF}`] }, (t) => masker.newSession().maskText(t));
    expect(h['content-length']).toBe('59083016633');
    expect(h.location).toBe('/customers/2?page=1');
    expect(h['set-cookie']).toEqual(['a=1; Path=/', expect.not.stringContaining(CPF)]);
  });
});

describe('boundTarget: credentials in the query are bound by hash, never shown', () => {
  it('hashes credential parameters and keeps the rest', () => {
    const shown = boundTarget('/customers/export?page=2&access_token=eyJhbGciOi.x.y&X-Amz-Signature=abc123&author=Machado');
    expect(shown).toMatch(/^\/customers\/export\?page=2&access_token=\[secret, sha256 [0-9a-f]{32}\]&X-Amz-Signature=\[secret, sha256 [0-9a-f]{32}\]&author=Machado$/);
    expect(shown).not.toContain('eyJhbGciOi');
    expect(boundTarget('/x?access_token=one')).not.toBe(boundTarget('/x?access_token=two'));
    expect(boundTarget('/customers/1')).toBe('/customers/1');
  });
});

describe('requestProblem in one pass over the raw headers is the per-check scans it replaced', () => {
  // The previous implementation, verbatim but for names: one scan of the lines per header it looked for.
  const canonical = (name: string): string => name.toLowerCase().replace(/_/g, '-');
  // eslint-disable-next-line complexity -- the reference is kept as it was, its checks in one function
  function previous(method: string, rawHeaders: readonly string[]): { status: number; code: string; message: string } | undefined {
    const names: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) names.push(canonical(rawHeaders[i] ?? ''));
    const values = (name: string): string[] => names.flatMap((n, i) => (n === name ? [rawHeaders[2 * i + 1] ?? ''] : []));
    const override = ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method'].find((n) => values(n).length > 0);
    if (override !== undefined) return { status: 400, code: 'MethodOverride', message: `the ${override} header asks the upstream to treat this ${method} request as another method, which the policy did not judge; send the request with that method instead` };
    const framing = (message: string): { status: number; code: string; message: string } => ({ status: 400, code: 'AmbiguousFraming', message });
    const te = values('transfer-encoding');
    const cl = values('content-length');
    if (te.length > 0 && cl.length > 0) return framing('the request has both Transfer-Encoding and Content-Length; send only one');
    if (cl.length > 1) return framing('the request has more than one Content-Length header; send exactly one');
    const codings = te.join(',').split(',').map((t) => t.trim().toLowerCase());
    if (te.length > 0 && codings.join(',') !== 'chunked') return framing(`Transfer-Encoding ${te.join(', ')} is not accepted; only chunked is`);
    const folded = rawHeaders.findIndex((v, i) => i % 2 === 1 && /[\r\n]/.test(v));
    if (folded > 0) return framing(`the ${rawHeaders[folded - 1] ?? ''} header is folded over several lines (obs-fold); send it on one line`);
    const hasBody = te.length > 0 || (cl.length === 1 && cl[0]?.trim() !== '0');
    if (hasBody && ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE'].includes(method)) return { status: 400, code: 'UnexpectedBody', message: `${method} requests must not carry a body (an upstream that ignores it could read it as another request); send the request without one` };
    const upgrade = values('upgrade');
    if (upgrade.length > 0) return { status: 400, code: 'UpgradeRefused', message: `protocol upgrades (Upgrade: ${upgrade.join(', ')}) cannot be governed by the Guarita sidecar; send plain HTTP/1.1 requests` };
    if (values('http2-settings').length > 0) return { status: 400, code: 'UpgradeRefused', message: 'HTTP2-Settings (h2c upgrade) is not accepted; send plain HTTP/1.1 requests' };
    return undefined;
  }

  it('gives the same answer (refusal, code and message, or none) for every corpus head alone, in pairs both ways, and with ordinary headers around', () => {
    const ordinary: [string, string][] = [['Host', 'x'], ['Accept', 'application/json'], ['Authorization', `Bearer ${'t'.repeat(900)}`], ['Content-Length', '0'], ['Transfer-Encoding', 'chunked'], ['Content-Length', '12'], ['X_Note', 'a\nb'], ['http2-settings', ''], ['UPGRADE', 'h2c']];
    const lines: [string, string][][] = [...REFUSED_HEADS.map((c) => c.headers), ...ordinary.map((h) => [h])];
    const around = (a: [string, string][], b: [string, string][]): [string, string][][] => [[...a, ...b], [...b, ...a], [['Host', 'x'], ...a, ['Accept', '*/*'], ...b]];
    const cases = lines.flatMap((a) => [[], ...lines].flatMap((b) => around(a, b)));
    for (const method of ['GET', 'POST', 'DELETE', 'PATCH', 'TRACE']) {
      for (const heads of cases) expect({ method, heads, got: requestProblem(method, raw(heads)) }).toEqual({ method, heads, got: previous(method, raw(heads)) });
    }
    expect(cases.length * 5).toBeGreaterThan(3000);
  });
});
