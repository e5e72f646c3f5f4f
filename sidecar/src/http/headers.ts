// Header handling of the reverse proxy: hop-by-hop headers (RFC 9110 §7.6.1) never cross the
// proxy, the agent's credential and purpose never reach the upstream, and what the sidecar changes
// in a masked body (length, encoding, validators) is not claimed to the client.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { createHash } from 'node:crypto';
import { TextDecoder } from 'node:util';
import { paramName } from '../../../core/policy/http.ts';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** Headers named in Connection are hop-by-hop too. */
const NO_TOKENS: ReadonlySet<string> = new Set();
/** Connection values seen (`keep-alive` on every upstream answer), parsed once; bounded. */
const tokensOf = new Map<string, ReadonlySet<string>>();

function connectionTokens(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): ReadonlySet<string> {
  const raw = headers.connection;
  if (raw === undefined) return NO_TOKENS;
  const list = Array.isArray(raw) ? raw.join(',') : raw;
  let tokens = tokensOf.get(list);
  if (tokens === undefined) {
    tokens = new Set(list.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''));
    if (tokensOf.size >= 64) tokensOf.clear();
    tokensOf.set(list, tokens);
  }
  return tokens;
}

/** Copies end-to-end headers, dropping hop-by-hop ones and those in `drop`. */
export function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, drop: ReadonlySet<string> = new Set(), dropClaims = false): Record<string, string | string[]> {
  const named = connectionTokens(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || named.has(lower) || drop.has(lower) || (dropClaims && isForwardingClaim(lower))) continue;
    out[lower] = value;
  }
  return out;
}

/** Never forwarded upstream: the agent's credential and purpose, and what the sidecar frames itself. */
export const REQUEST_DROP = new Set(['authorization', 'x-guarita-purpose', 'host', 'expect', 'content-length']);

// Claims about the client, the original URL or an authenticated user that proxies add and upstreams
// (or their frameworks) trust. The agent could forge any of them, so none is forwarded: the
// upstream learns who asked only from the target credential the sidecar sends.
const FORWARDING_CLAIMS = new Set([
  'forwarded', 'x-real-ip', 'x-client-ip', 'client-ip', 'true-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-cluster-client-ip',
  'x-proxyuser-ip', 'remote-user', 'remote-addr', 'x-user', 'x-username', 'x-email', 'x-rewrite-url', 'x-envoy-original-path',
  'x-envoy-external-address', 'x-webauth-user', 'x-ms-client-principal', 'x-ms-client-principal-name', 'x-ms-client-principal-id', 'x-goog-authenticated-user-email',
  'x-goog-authenticated-user-id', 'x-amzn-oidc-identity', 'x-amzn-oidc-data', 'x-amzn-oidc-accesstoken', 'x-original-forwarded-for',
]);
const FORWARDING_CLAIM_PREFIXES = ['x-forwarded', 'x-original-', 'x-remote-', 'x-auth-request-', 'x-authenticated-'];

/** CGI-style servers (WSGI, PHP, Django) read `X_Forwarded_For` as `X-Forwarded-For`: compare both spellings. */
const canonicalName = (name: string): string => {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replace(/_/g, '-') : lower;
};

export function isForwardingClaim(name: string): boolean {
  const lower = canonicalName(name);
  return FORWARDING_CLAIMS.has(lower) || FORWARDING_CLAIM_PREFIXES.some((p) => lower.startsWith(p));
}

// Headers and parameters with which frameworks (Rails, Laravel, Express method-override, Symfony,
// ASP.NET, Spring's HiddenHttpMethodFilter, Google APIs) let a request act as another method. The
// policy judges the request line's method; a request that names another one is refused.
export const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method'] as const;
export const METHOD_OVERRIDE_PARAMS = ['_method', '__method', 'x-http-method-override', '_http_method'] as const;

/** Forwarded headers that do not change what the upstream does, left out of the approval binding. */
const UNBOUND = new Set([
  'user-agent', 'accept-encoding', 'accept-language', 'traceparent', 'tracestate', 'baggage', 'b3', 'x-request-id', 'x-correlation-id', 'x-amzn-trace-id',
  'cache-control', 'pragma', 'if-none-match', 'if-modified-since', 'referer', 'dnt', 'sec-fetch-mode', 'sec-fetch-site', 'sec-fetch-dest', 'sec-fetch-user',
]);

/** `Accept: *\/*` (curl's and fetch's default) asks for nothing in particular: it is not bound either. */
const unbound = (name: string, value: string | string[]): boolean => UNBOUND.has(name) || name.startsWith('x-b3-') || (name === 'accept' && value === '*/*');

// Headers that carry secrets (cookies, API keys, tokens): bound by hash, so the approval still
// covers them but neither the ApprovalRequest nor the record shows the secret.
const SECRET_HEADER = /cookie|token|secret|password|passwd|api-?key|auth|session|signature|credential/i;

function boundValue(name: string, value: string): string {
  if (!SECRET_HEADER.test(name)) return value;
  return `[secret, sha256 ${createHash('sha256').update(value).digest('hex').slice(0, 32)}]`;
}

/**
 * The forwarded headers the approval is bound to, one "name: value" line each, sorted: every header
 * the upstream receives (Content-Type, Content-Encoding, Accept, Prefer, custom ones...) except
 * tracing, caching validators and the agent's user agent; secrets appear as a hash. The target
 * credential is never shown.
 */
export function boundHeaderLines(forwarded: Record<string, string | string[]>): string[] {
  return Object.entries(forwarded)
    .filter(([name, value]) => !unbound(name, value) && name !== 'authorization' && name !== 'host' && name !== 'content-length')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${name}: ${boundValue(name, v)}`));
}

// Query parameters that carry credentials (OAuth access_token, API keys, presigned-URL signatures).
const SECRET_PARAM = /^(?:access[-_]?token|id[-_]?token|refresh[-_]?token|token|api[-_]?key|apikey|key|secret|client[-_]?secret|password|passwd|pwd|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|code)$/i;

/**
 * The forwarded target as the approval and the record show it: credential parameters appear as a
 * hash, like secret headers (still bound, never shown). `target` is the canonical target, whose
 * query escapes everything but [A-Za-z0-9-._~!$'()*,:@/], so the `[secret ...]` form cannot be sent.
 */
export function boundTarget(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return target;
  const pairs = target.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (eq < 0 || !SECRET_PARAM.test(name)) return pair;
    return `${pair.slice(0, eq)}=[secret, sha256 ${createHash('sha256').update(decodeURIComponent(pair.slice(eq + 1))).digest('hex').slice(0, 32)}]`;
  });
  return `${target.slice(0, q)}?${pairs.join('&')}`;
}

export interface RequestRefusal { status: number; code: string; message: string }

const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE']);

/**
 * The raw header lines the checks below look at, gathered in one pass over the request's raw
 * headers (names compared in canonical form: any case, `_` for `-`): the method-override headers
 * present, Transfer-Encoding, Content-Length and Upgrade values as sent, HTTP2-Settings, and the
 * first line folded over several (its index in rawHeaders, -1 when none).
 */
interface RawHead { rawHeaders: readonly string[]; overrides: Set<string> | undefined; te: string[]; cl: string[]; upgrade: string[]; h2Settings: boolean; folded: number }

const NONE: readonly string[] = Object.freeze([]);
const OVERRIDE_HEADER_NAMES: ReadonlySet<string> = new Set(METHOD_OVERRIDE_HEADERS);

function rawHead(rawHeaders: readonly string[]): RawHead {
  const head: RawHead = { rawHeaders, overrides: undefined, te: NONE as string[], cl: NONE as string[], upgrade: NONE as string[], h2Settings: false, folded: -1 };
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const value = rawHeaders[i + 1] ?? '';
    if (head.folded < 0 && (value.includes('\r') || value.includes('\n'))) head.folded = i + 1;
    noteLine(head, canonicalName(rawHeaders[i] ?? ''), value);
  }
  return head;
}

function noteLine(head: RawHead, name: string, value: string): void {
  if (name === 'transfer-encoding') head.te = [...head.te, value];
  else if (name === 'content-length') head.cl = [...head.cl, value];
  else if (name === 'upgrade') head.upgrade = [...head.upgrade, value];
  else if (name === 'http2-settings') head.h2Settings = true;
  else if (OVERRIDE_HEADER_NAMES.has(name)) (head.overrides ??= new Set()).add(name);
}

/**
 * What the sidecar refuses before judging a request, because the upstream could read it otherwise
 * than the policy did (issue 18, items 6 and 16): method overrides, message framing the upstream
 * could split differently (a body on a method without one, Transfer-Encoding with Content-Length,
 * repeated Content-Length, transfer codings other than chunked, obs-fold), and protocol upgrades.
 */
export function requestProblem(method: string, rawHeaders: readonly string[]): RequestRefusal | undefined {
  const head = rawHead(rawHeaders);
  return overrideHeader(method, head) ?? framingProblem(method, head) ?? upgradeProblem(head);
}

function overrideHeader(method: string, head: RawHead): RequestRefusal | undefined {
  const present = head.overrides;
  // Named in the list's order, whatever the order of the lines.
  const name = present === undefined ? undefined : METHOD_OVERRIDE_HEADERS.find((n) => present.has(n));
  if (name === undefined) return undefined;
  return { status: 400, code: 'MethodOverride', message: `the ${name} header asks the upstream to treat this ${method} request as another method, which the policy did not judge; send the request with that method instead` };
}

const framing = (message: string): RequestRefusal => ({ status: 400, code: 'AmbiguousFraming', message });

function framingProblem(method: string, head: RawHead): RequestRefusal | undefined {
  const { te, cl } = head;
  if (te.length > 0 && cl.length > 0) return framing('the request has both Transfer-Encoding and Content-Length; send only one');
  if (cl.length > 1) return framing('the request has more than one Content-Length header; send exactly one');
  if (te.length > 0 && te.join(',').split(',').map((t) => t.trim().toLowerCase()).join(',') !== 'chunked') return framing(`Transfer-Encoding ${te.join(', ')} is not accepted; only chunked is`);
  return foldProblem(head) ?? bodyProblem(method, te, cl);
}

function foldProblem(head: RawHead): RequestRefusal | undefined {
  return head.folded > 0 ? framing(`the ${head.rawHeaders[head.folded - 1] ?? ''} header is folded over several lines (obs-fold); send it on one line`) : undefined;
}

function bodyProblem(method: string, te: readonly string[], cl: readonly string[]): RequestRefusal | undefined {
  const hasBody = te.length > 0 || (cl.length === 1 && cl[0]?.trim() !== '0');
  if (!hasBody || !NO_BODY_METHODS.has(method)) return undefined;
  return { status: 400, code: 'UnexpectedBody', message: `${method} requests must not carry a body (an upstream that ignores it could read it as another request); send the request without one` };
}

function upgradeProblem(head: RawHead): RequestRefusal | undefined {
  const { upgrade } = head;
  if (upgrade.length > 0) return { status: 400, code: 'UpgradeRefused', message: `protocol upgrades (Upgrade: ${upgrade.join(', ')}) cannot be governed by the Guarita sidecar; send plain HTTP/1.1 requests` };
  if (head.h2Settings) return { status: 400, code: 'UpgradeRefused', message: 'HTTP2-Settings (h2c upgrade) is not accepted; send plain HTTP/1.1 requests' };
  return undefined;
}

const OVERRIDE_PARAM_NAMES: ReadonlySet<string> = new Set(METHOD_OVERRIDE_PARAMS);

/**
 * A parameter name as the frameworks that act on method overrides read it (core/policy/http.ts
 * paramName, which restrictive query rules use too), so every spelling of `_method` they take is
 * compared as `_method`: `_method[]`, `[_method]`, ` _method`, `_METHOD`, `_method.`... Erring
 * towards an override name only refuses more requests.
 */
export const overrideParamName = paramName;

/** The first of `names` read as a method-override parameter, named for the refusal (as sent, and as read when that differs). */
function overrideIn(where: string, names: Iterable<string>): string | undefined {
  for (const name of names) {
    const read = overrideParamName(name);
    if (OVERRIDE_PARAM_NAMES.has(read)) return read === name ? `${where} ${name}` : `${where} ${JSON.stringify(name)} (read as ${read})`;
  }
  return undefined;
}

/** A method-override parameter in the query or a form/JSON body (any spelling overrideParamName reads as one), named for the refusal; undefined when none. */
export function methodOverrideParam(query: Record<string, string[]>, form: Record<string, string[]> | undefined, json: unknown): string | undefined {
  return overrideIn('query parameter', Object.keys(query))
    ?? (form === undefined ? undefined : overrideIn('form field', Object.keys(form)))
    ?? (json !== null && typeof json === 'object' && !Array.isArray(json) ? overrideIn('JSON body field', Object.keys(json)) : undefined);
}

// A name parameter of a multipart part's Content-Disposition: double-quoted (with backslash escapes,
// which Rack's dequote undoes), single-quoted (PHP's rfc1867 parser takes either quote), a token,
// or an RFC 5987 ext-value (name*=utf-8''%5Fmethod, busboy).
const PART_NAME = /\bname(\*?)[ \t]*=[ \t]*("(?:[^"\\\r\n]|\\.)*"?|'(?:[^'\\\r\n]|\\.)*'?|[^;\s]*)/gi;

/** An RFC 2047 encoded word (`=?UTF-8?B?X21ldGhvZA==?=`, `=?UTF-8?Q?=5Fmethod?=`), decoded as commons-fileupload and Tomcat decode a part's name; undefined when it is none. */
function encodedWordDecoded(raw: string): string | undefined {
  const m = /^=\?([^?]+)\?([bq])\?([^?]*)\?=$/i.exec(raw);
  if (m === null) return undefined;
  const charset = (m[1] ?? '').toLowerCase().startsWith('utf') ? 'utf8' : 'latin1';
  const text = m[3] ?? '';
  if ((m[2] ?? '').toLowerCase() === 'b') return Buffer.from(text, 'base64').toString(charset);
  const bytes = text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_all, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString(charset);
}

/** Every reading of one name parameter's value: as sent, unescaped, percent-decoded, an encoded word decoded. */
function partNameReadings(ext: boolean, value: string): string[] {
  const quote = value[0] === '"' || value[0] === "'" ? value[0] : undefined;
  const inner = quote === undefined ? value : value.slice(1, value.endsWith(quote) && value.length > 1 ? -1 : undefined);
  const raw = ext ? inner.slice(inner.indexOf("'", inner.indexOf("'") + 1) + 1) : inner;
  const unescaped = raw.replace(/\\(.)/g, '$1');
  return [raw, unescaped, percentDecoded(raw) ?? raw, encodedWordDecoded(unescaped) ?? raw];
}

/**
 * The names a multipart part's Content-Disposition value gives it, in every way a parser could read
 * its name parameter (partNameReadings), each once; none when it has no name parameter.
 */
export function partNames(disposition: string): string[] {
  const names = new Set<string>();
  for (const m of disposition.matchAll(PART_NAME)) for (const n of partNameReadings(m[1] === '*', m[2] ?? '')) names.add(n);
  return [...names];
}

/**
 * A method-override field among the parts of a multipart body (read as latin1), named for the
 * refusal; undefined when none. Every `name=` parameter in the body is read, in each way a parser
 * could (quoted, escaped, ext-value, percent-encoded), through overrideParamName: a part's own
 * data that looks like one is refused too, which errs towards refusing.
 */
export function multipartOverride(body: string): string | undefined {
  for (const m of body.matchAll(PART_NAME)) {
    const found = overrideIn('multipart field', partNameReadings(m[1] === '*', m[2] ?? ''));
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * The content coding a request body declares, as sent (every Content-Encoding line, also spelled
 * Content_Encoding, which CGI-style servers read as the same header), when it is anything but
 * `identity`; undefined when there is none. Any other value counts, unknown, stacked or empty:
 * the upstream, not the sidecar, decides what it undoes.
 */
export function requestContentCoding(rawHeaders: readonly string[]): string | undefined {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (canonicalName(rawHeaders[i] ?? '') === 'content-encoding') values.push(rawHeaders[i + 1] ?? '');
  }
  if (values.length === 0) return undefined;
  const identity = values.join(',').split(',').every((t) => t.trim().toLowerCase() === 'identity');
  return identity ? undefined : values.join(', ');
}

const ENCODINGS_WE_DECODE = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'zstd', 'identity']);

/** The client's Accept-Encoding restricted to what the sidecar can decode for masking. */
export function acceptEncoding(clientValue: string | undefined): string {
  if (clientValue === undefined) return 'identity';
  const accepted = clientValue.split(',').map((p) => p.trim().split(';')[0]?.trim().toLowerCase() ?? '').filter((e) => ENCODINGS_WE_DECODE.has(e) && e !== 'zstd');
  return accepted.length === 0 ? 'identity' : accepted.join(', ');
}

/** Response headers that no longer describe a masked (rewritten) body. */
export const MASKED_RESPONSE_DROP = new Set(['content-length', 'content-encoding', 'etag', 'content-md5', 'digest', 'repr-digest', 'content-digest', 'accept-ranges', 'content-range', 'last-modified']);

// Response headers that carry no free text (numbers, dates, framing): never rewritten.
const UNMASKED_RESPONSE = new Set(['content-length', 'date', 'expires', 'last-modified', 'age', 'retry-after', 'transfer-encoding', 'connection', 'keep-alive']);

/** Decodes each run of %XX escapes as UTF-8; undefined when a run is not valid UTF-8 (left to the plain masking). */
function percentDecoded(value: string): string | undefined {
  try {
    return value.replace(/(?:%[0-9a-f]{2})+/gi, (run) => decodeURIComponent(run));
  } catch {
    return undefined;
  }
}

// RFC 2047 encoded words (=?charset?B|Q?text?=), which some upstreams use for filenames.
const ENCODED_WORD = /=\?([^?\s]+)\?([bq])\?([^?\s]*)\?=/gi;

function decodeEncodedWord(charset: string, kind: string, text: string): string | undefined {
  try {
    const bytes = kind.toLowerCase() === 'b' ? Buffer.from(text, 'base64')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return new TextDecoder(charset.toLowerCase(), { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Masks one response header value with the policy's masking (issue 18, item 16): as sent, and
 * through the encodings headers use for free text, so an identifier cannot hide in
 * `filename*=UTF-8''...` (RFC 5987/8187), a percent-encoded Location or Link, or an RFC 2047
 * encoded word. A value whose decoded form hides an identifier is sent decoded and masked, then
 * re-escaped (percent-encoding what a header or URI cannot hold).
 */
export function maskHeaderValue(value: string, maskText: (text: string) => string): string {
  // Each pass only where its marker is ('=?' of an encoded word, '%' of an escape): the same result
  // without two regular-expression scans of every header value.
  const out = !value.includes('=?') ? value : value.replace(ENCODED_WORD, (word, charset: string, kind: string, text: string) => {
    const decoded = decodeEncodedWord(charset, kind, text);
    if (decoded === undefined) return word;
    const masked = maskText(decoded);
    return masked === decoded ? word : `=?UTF-8?B?${Buffer.from(masked, 'utf8').toString('base64')}?=`;
  });
  // Each percent-encoded word (a URI, an ext-value) is decoded, masked, and re-escaped on its own,
  // so the delimiters around it keep their meaning.
  const whole = maskText(out);
  if (!whole.includes('%')) return whole;
  return whole.replace(/[^\s;,"]*%[0-9a-f]{2}[^\s;,"]*/gi, (word) => {
    const decoded = percentDecoded(word);
    if (decoded === undefined) return word;
    const masked = maskText(decoded);
    return masked === decoded ? word : masked.replace(/[^\x21-\x7e]|[%;,"]/g, (ch) => encodeURIComponent(ch));
  });
}

/**
 * Every response header but framing, dates and numbers, masked (repeated headers one by one).
 * `rewritten`: a header the caller sets again itself, masked from its own value (Content-Type on
 * the masking path): copied as it is, not masked twice.
 */
export function maskResponseHeaders(headers: Record<string, string | string[]>, maskText: (text: string) => string, rewritten?: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (UNMASKED_RESPONSE.has(name) || name === rewritten) out[name] = value;
    else out[name] = Array.isArray(value) ? value.map((v) => maskHeaderValue(v, maskText)) : maskHeaderValue(value, maskText);
  }
  return out;
}

export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function toOutgoing(headers: Record<string, string | string[]>): OutgoingHttpHeaders {
  return headers;
}
