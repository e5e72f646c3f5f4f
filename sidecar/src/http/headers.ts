// Header handling of the reverse proxy: hop-by-hop headers (RFC 9110 §7.6.1) never cross the
// proxy, the agent's credential and purpose never reach the upstream, and what the sidecar changes
// in a masked body (length, encoding, validators) is not claimed to the client.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** Headers named in Connection are hop-by-hop too. */
function connectionTokens(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Set<string> {
  const raw = headers.connection;
  const list = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return new Set(list.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''));
}

/** Copies end-to-end headers, dropping hop-by-hop ones and those in `drop`. */
export function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, drop: ReadonlySet<string> = new Set()): Record<string, string | string[]> {
  const named = connectionTokens(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || named.has(lower) || drop.has(lower)) continue;
    out[lower] = value;
  }
  return out;
}

/** Never forwarded upstream: the agent's credential and purpose, and forwarding claims it could forge. */
export const REQUEST_DROP = new Set(['authorization', 'x-guarita-purpose', 'host', 'expect', 'content-length']);

const ENCODINGS_WE_DECODE = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'zstd', 'identity']);

/** The client's Accept-Encoding restricted to what the sidecar can decode for masking. */
export function acceptEncoding(clientValue: string | undefined): string {
  if (clientValue === undefined) return 'identity';
  const accepted = clientValue.split(',').map((p) => p.trim().split(';')[0]?.trim().toLowerCase() ?? '').filter((e) => ENCODINGS_WE_DECODE.has(e) && e !== 'zstd');
  return accepted.length === 0 ? 'identity' : accepted.join(', ');
}

/** Response headers that no longer describe a masked (rewritten) body. */
export const MASKED_RESPONSE_DROP = new Set(['content-length', 'content-encoding', 'etag', 'content-md5', 'digest', 'repr-digest', 'content-digest', 'accept-ranges', 'content-range', 'last-modified']);

export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function toOutgoing(headers: Record<string, string | string[]>): OutgoingHttpHeaders {
  return headers;
}
