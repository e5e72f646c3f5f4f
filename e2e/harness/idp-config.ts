// What the harness IdP serves, shared by the parent (idp.ts, idp-client.ts) and the IdP
// process (idp-server.ts): its clients, how audiences map to resource indicators, and the
// configuration file the parent writes for the child.
import type { JWK } from 'jose';

/** One OAuth client per machine identity the scenarios need; `groups` becomes the token's groups claim. */
export const IDP_CLIENTS = {
  'support-agent': { groups: ['support'] },
  'contractor-agent': { groups: ['contractors'] },
  'batch-job': { groups: ['support', 'batch'] },
  outsider: { groups: [] },
} as const satisfies Record<string, { groups: readonly string[] }>;

export type IdpClientId = keyof typeof IDP_CLIENTS;
export const IDP_CLIENT_IDS = Object.keys(IDP_CLIENTS) as IdpClientId[];

/**
 * RFC 8707 (and oidc-provider) require a resource indicator to be an absolute URI, while the
 * verifiers we test expect a bare audience such as `guarita`. A bare audience is sent as
 * `urn:guarita:audience:<aud>` and the IdP puts `<aud>` back into the token's `aud`.
 */
export const AUDIENCE_URN_PREFIX = 'urn:guarita:audience:';

/** Tokens for these audiences are signed with the run's ES256 key; every other audience gets RS256. */
export const ES256_AUDIENCES: readonly string[] = ['guarita-es256'];

export function resourceIndicatorFor(audience: string): string {
  return URL.canParse(audience) ? audience : `${AUDIENCE_URN_PREFIX}${audience}`;
}

export function audienceFor(resourceIndicator: string): string {
  return resourceIndicator.startsWith(AUDIENCE_URN_PREFIX) ? resourceIndicator.slice(AUDIENCE_URN_PREFIX.length) : resourceIndicator;
}

export function signingAlgFor(audience: string): 'RS256' | 'ES256' {
  return ES256_AUDIENCES.includes(audience) ? 'ES256' : 'RS256';
}

export interface IdpClientConfig {
  clientId: string;
  clientSecret: string;
  groups: readonly string[];
}

/** Written by the parent (mode 0600), read by idp-server.ts. */
export interface IdpServerConfig {
  issuer: string;
  port: number;
  /** Private signing keys (RS256 first: it is the default). */
  privateJwks: { keys: JWK[] };
  cookieKeys: string[];
  clients: IdpClientConfig[];
  /** Serve HTTPS with this certificate (an apiserver accepts only https issuers); plain HTTP without. */
  tls?: { certFile: string; keyFile: string };
}
