// OIDC JWT verification with jose: discovery and a remote JWKS per issuer, cached. jose refetches
// the JWKS for an unknown `kid` at most once per cooldown; on top of that every fetch to an issuer
// (discovery or JWKS, successful or not) is spaced by a minimum interval, so a flood of tokens
// with made-up kids, or a down IdP, cannot turn into a flood of requests to the IdP.
// Checks: signature with an allowed asymmetric algorithm only (never `none`, never HMAC), `iss`
// exactly, `aud` contains an accepted audience, `exp` present and `exp`/`nbf` with a small skew.
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type FetchImplementation } from 'jose';
import { request } from 'undici';
import { recordedClaims } from '../../../core/approvals/requester.ts';
import type { Identity } from '../core-types.ts';
import { errorMessage } from '../log.ts';
import { unauthenticated, unavailable, AuthError } from './errors.ts';

export interface OidcSettings {
  issuer: string;
  audiences: string[];
  groupsClaim?: string;
  usernameClaim?: string;
  purposeClaim?: string;
  algorithms?: string[];
}

export interface VerifiedToken {
  identity: Identity;
  /** The purpose claim, when the policy names one and the token carries it. */
  purpose?: string;
  /** When the credential stops being valid (ms since epoch). */
  expiresAt?: number;
}

export const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

export interface OidcOptions {
  /** Accepted clock skew for exp/nbf (default 30s). */
  clockToleranceSeconds?: number;
  /** Minimum spacing of fetches to one issuer (default 5s). */
  minFetchIntervalMs?: number;
  /** jose's cooldown before an unknown kid triggers a JWKS refetch (default 30s). */
  jwksCooldownMs?: number;
  /** How long discovery and JWKS answers are trusted (default 10 min). */
  cacheMaxAgeMs?: number;
  fetchTimeoutMs?: number;
}

interface Discovery { jwksUri: string; jwks: ReturnType<typeof createRemoteJWKSet>; fetchedAt: number }

/** Spaces fetches to one issuer. */
class FetchGate {
  #last = 0;
  readonly #minIntervalMs: number;
  constructor(minIntervalMs: number) { this.#minIntervalMs = minIntervalMs; }
  pass(what: string): void {
    const now = Date.now();
    if (now - this.#last < this.#minIntervalMs) throw unavailable('idp-throttled', `the identity provider was asked for ${what} less than ${this.#minIntervalMs}ms ago; not asking again yet`);
    this.#last = now;
  }
}

interface IssuerState { gate: FetchGate; jwksGate: FetchGate; discovery?: Discovery; discovering?: Promise<Discovery>; lastError?: string }

function claimString(payload: JWTPayload, claim: string): string | undefined {
  const v = payload[claim];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function claimGroups(payload: JWTPayload, claim: string): string[] {
  const v = payload[claim];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((g): g is string => typeof g === 'string');
  return [];
}

const CLAIM_MESSAGES: Record<string, string> = {
  iss: 'the token\'s issuer (iss) is not the policy\'s issuer',
  aud: 'the token\'s audience (aud) is not accepted by the policy',
  nbf: 'the token is not valid yet (nbf)',
  exp: 'the token has no expiry (exp)',
  iat: 'the token\'s issued-at (iat) is invalid',
};

type ErrorClass = abstract new (...args: never[]) => Error;
const JOSE_ERRORS: [ErrorClass, (err: Error, issuer: string) => AuthError][] = [
  [errors.JWTExpired, () => unauthenticated('expired', 'the token has expired (exp)')],
  [errors.JWTClaimValidationFailed, (err) => {
    const claim = (err as errors.JWTClaimValidationFailed).claim;
    return unauthenticated(`claim-${claim}`, CLAIM_MESSAGES[claim] ?? `the token's ${claim} claim is invalid`);
  }],
  [errors.JOSEAlgNotAllowed, () => unauthenticated('algorithm', 'the token\'s signature algorithm is not allowed by the policy')],
  [errors.JWSSignatureVerificationFailed, () => unauthenticated('signature', 'the token\'s signature does not verify')],
  [errors.JWKSNoMatchingKey, (_e, issuer) => unauthenticated('unknown-key', `the token is signed with a key (kid) that ${issuer} does not publish`)],
  [errors.JWKSMultipleMatchingKeys, () => unauthenticated('ambiguous-key', 'the token does not identify its signing key unambiguously')],
  [errors.JWSInvalid, (err) => unauthenticated('malformed', `the token is not a valid signed JWT (${err.message})`)],
  [errors.JWTInvalid, (err) => unauthenticated('malformed', `the token is not a valid JWT (${err.message})`)],
  [errors.JOSENotSupported, (err) => unauthenticated('malformed', `the token uses an unsupported feature (${err.message})`)],
  [errors.JWKSTimeout, (_e, issuer) => unavailable('idp-timeout', `fetching the signing keys of ${issuer} timed out`)],
];

function fromJoseError(err: unknown, issuer: string): AuthError {
  if (err instanceof AuthError) return err;
  const known = JOSE_ERRORS.find(([cls]) => err instanceof cls);
  if (known !== undefined) return known[1](err as Error, issuer);
  return unavailable('idp-unreachable', `cannot get the signing keys of ${issuer}: ${errorMessage(err)}`);
}

export class OidcVerifier {
  readonly #opts: Required<OidcOptions>;
  readonly #issuers = new Map<string, IssuerState>();

  constructor(opts: OidcOptions = {}) {
    this.#opts = { clockToleranceSeconds: 30, minFetchIntervalMs: 5000, jwksCooldownMs: 30_000, cacheMaxAgeMs: 600_000, fetchTimeoutMs: 5000, ...opts };
  }

  #issuer(issuer: string): IssuerState {
    let state = this.#issuers.get(issuer);
    if (state === undefined) {
      state = { gate: new FetchGate(this.#opts.minFetchIntervalMs), jwksGate: new FetchGate(this.#opts.minFetchIntervalMs) };
      this.#issuers.set(issuer, state);
    }
    return state;
  }

  async #discover(issuer: string, state: IssuerState): Promise<Discovery> {
    state.gate.pass('its discovery document');
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const res = await request(url, { headersTimeout: this.#opts.fetchTimeoutMs, bodyTimeout: this.#opts.fetchTimeoutMs });
    const body = (await res.body.json().catch(() => undefined)) as { issuer?: unknown; jwks_uri?: unknown } | undefined;
    if (res.statusCode !== 200 || body === undefined) throw new Error(`discovery at ${url} answered HTTP ${res.statusCode}`);
    if (body.issuer !== issuer) throw new Error(`discovery at ${url} names issuer ${JSON.stringify(body.issuer)}, not ${issuer}`);
    if (typeof body.jwks_uri !== 'string' || !URL.canParse(body.jwks_uri)) throw new Error(`discovery at ${url} has no valid jwks_uri`);
    const gatedFetch: FetchImplementation = (input, init) => {
      state.jwksGate.pass('its signing keys');
      return fetch(input, init);
    };
    const jwks = createRemoteJWKSet(new URL(body.jwks_uri), {
      cooldownDuration: this.#opts.jwksCooldownMs, cacheMaxAge: this.#opts.cacheMaxAgeMs, timeoutDuration: this.#opts.fetchTimeoutMs, [customFetch]: gatedFetch,
    });
    return { jwksUri: body.jwks_uri, jwks, fetchedAt: Date.now() };
  }

  async #keys(issuer: string): Promise<Discovery> {
    const state = this.#issuer(issuer);
    const fresh = state.discovery !== undefined && Date.now() - state.discovery.fetchedAt < this.#opts.cacheMaxAgeMs * 6;
    if (fresh) return state.discovery!;
    state.discovering ??= this.#discover(issuer, state).finally(() => { state.discovering = undefined; });
    try {
      state.discovery = await state.discovering;
      return state.discovery;
    } catch (err) {
      // A stale discovery beats none while the IdP is briefly unreachable.
      if (state.discovery !== undefined) return state.discovery;
      throw err instanceof AuthError ? err : unavailable('idp-unreachable', `cannot discover ${issuer}: ${errorMessage(err)}`);
    }
  }

  /** Verifies `token` against the policy's OIDC settings. Throws AuthError. */
  async verify(token: string, settings: OidcSettings): Promise<VerifiedToken> {
    const algorithms = (settings.algorithms ?? DEFAULT_ALGORITHMS).filter((a) => ASYMMETRIC.has(a));
    let header: { alg?: string };
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw unauthenticated('malformed', 'the credential is not a JWT');
    }
    // Decided before any key lookup: `none` and HMAC never reach the JWKS.
    if (header.alg === undefined || !algorithms.includes(header.alg)) throw unauthenticated('algorithm', `the token's signature algorithm ${JSON.stringify(header.alg ?? null)} is not allowed (accepted: ${algorithms.join(', ')})`);
    const { jwks } = await this.#keys(settings.issuer);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: settings.issuer, audience: settings.audiences, algorithms, clockTolerance: this.#opts.clockToleranceSeconds, requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw fromJoseError(err, settings.issuer);
    }
    return this.#identity(payload, settings);
  }

  #identity(payload: JWTPayload, settings: OidcSettings): VerifiedToken {
    const usernameClaim = settings.usernameClaim ?? 'sub';
    const subject = claimString(payload, usernameClaim);
    if (subject === undefined) throw unauthenticated('no-subject', `the token has no ${usernameClaim} claim (the policy's usernameClaim)`);
    const purpose = settings.purposeClaim === undefined ? undefined : claimString(payload, settings.purposeClaim);
    return {
      identity: { subject, groups: claimGroups(payload, settings.groupsClaim ?? 'groups'), kind: 'User', issuer: settings.issuer, claims: recordedClaims(payload, usernameClaim) },
      ...(purpose === undefined ? {} : { purpose }),
      ...(payload.exp === undefined ? {} : { expiresAt: payload.exp * 1000 }),
    };
  }
}
