// Getting tokens from the harness IdP the way a workload would: a real client_credentials
// request over HTTP, authenticated with the client's secret (HTTP Basic).
import { request } from 'undici';
import type { JWK } from 'jose';
import { resourceIndicatorFor, type IdpClientId } from './idp-config.ts';

export interface IdpCoordinates {
  /** `http://127.0.0.1:<port>`: the `iss` of every token. */
  issuer: string;
  discoveryUrl: string;
  jwksUri: string;
  tokenEndpoint: string;
  clients: Record<IdpClientId, { secret: string; groups: readonly string[] }>;
  /** The public signing keys (RS256 and ES256), the same set the IdP serves at jwksUri. */
  jwks: { keys: JWK[] };
}

export interface TokenRequest {
  clientId: IdpClientId;
  /** The `aud` wanted in the token, e.g. `guarita`; an absolute URI is used as the resource as is. */
  audience: string;
}

function basicAuth(id: string, secret: string): string {
  // RFC 6749 §2.3.1: form-urlencode both parts before base64.
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** Performs the token request and returns the access token (a JWT). */
export async function requestToken(idp: IdpCoordinates, req: TokenRequest): Promise<string> {
  const client = idp.clients[req.clientId];
  const body = new URLSearchParams({ grant_type: 'client_credentials', resource: resourceIndicatorFor(req.audience) });
  const res = await request(idp.tokenEndpoint, {
    method: 'POST',
    headers: { authorization: basicAuth(req.clientId, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
    headersTimeout: 10_000,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`token request for ${req.clientId} (aud ${req.audience}) failed: HTTP ${res.statusCode} ${text}`);
  const json = JSON.parse(text) as { access_token?: unknown };
  if (typeof json.access_token !== 'string') throw new Error(`token response for ${req.clientId} has no access_token: ${text}`);
  return json.access_token;
}
