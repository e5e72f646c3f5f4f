// OIDC JWT verification with jose: discovery and the issuer's JWKS, fetched here (undici) and
// verified against with jose's local key set, so that the key set's life is ours to decide:
// - refreshed in the background once older than `refreshAfterMs` (10 min): requests never wait
//   on the IdP while keys are cached;
// - while the issuer is unreachable, the last good key set keeps verifying up to `maxStaleMs`
//   (GUARITA_OIDC_JWKS_MAX_STALE, 24 h) since its last successful fetch; older, new sessions are
//   refused (503) until the issuer answers again. An IdP outage is an availability problem for
//   key rotation only: tokens signed with keys already published keep verifying;
// - an unknown `kid` refetches the key set at most once per cooldown (a rotation is picked up);
//   during an outage it is refused, naming the outage: a key never seen is never trusted.
// Every fetch to an issuer (discovery or JWKS, successful or not) is spaced by a minimum
// interval, so a flood of tokens with made-up kids, or a down IdP, cannot turn into a flood of
// requests to the IdP. Tokens whose unverified `iss` is not the policy's issuer are refused
// before any fetch.
// Checks: signature with an allowed asymmetric algorithm only (never `none`, never HMAC), `iss`
// exactly, `aud` contains an accepted audience, `exp` present and `exp`/`nbf` with a small skew.
// Then the identity (identityOf): no claim the issuer marks unverified (`email_verified: false`) is
// taken as the username, groups or purpose, and a name a reader cannot see as it is (control,
// format or invisible characters; showable-name.ts) is no identity.
// jose by subpath (its exports map): the package index loads every JOSE module, ~8 MB of RSS per sidecar.
import type { JSONWebKeySet, JWTPayload } from 'jose';
import { decodeProtectedHeader } from 'jose/decode/protected_header';
import * as errors from 'jose/errors';
import { createLocalJWKSet } from 'jose/jwks/local';
import { decodeJwt } from 'jose/jwt/decode';
import { jwtVerify } from 'jose/jwt/verify';
import { Agent, request } from '../undici.ts';
import { upstreamLookup } from '../upstream-address.ts';
import { recordedClaims } from '../../../core/approvals/requester.ts';
import { formatDuration } from '../../../core/duration.ts';
import type { Identity } from '../core-types.ts';
import { errorMessage } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { unauthenticated, unavailable, AuthError } from './errors.ts';
import { unshowableCharacter } from './showable-name.ts';

const JOINERS_ACCEPTED = 'ZWNJ and ZWJ are accepted only between two letters or marks of one script written with joiners, such as Arabic or Devanagari';

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
  /**
   * When the authority that vouched for the credential must be asked again (ms since epoch):
   * service-account tokens, whose TokenReview answer lasts the review cache TTL (60 s). Absent for
   * OIDC tokens: a JWT is verified locally and never introspected, so a change at the IdP is seen
   * at the token's exp only (docs/access-policy.md, "Identities and subjects").
   */
  reviewDueAt?: number;
}

export const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

export interface OidcOptions {
  /** Accepted clock skew for exp/nbf (default 30s). */
  clockToleranceSeconds?: number;
  /** Minimum spacing of fetches to one issuer (default 5s). */
  minFetchIntervalMs?: number;
  /** Spacing of key-set refetches caused by an unknown kid (default 30s). */
  jwksCooldownMs?: number;
  /** Age after which the key set is refreshed in the background (default 10 min; discovery: 6x). */
  cacheMaxAgeMs?: number;
  /** How long the last good key set keeps verifying while the issuer cannot be reached (default 24 h). */
  maxStaleMs?: number;
  fetchTimeoutMs?: number;
  /** Largest JWKS or discovery document accepted (default 256 KiB). */
  maxDocumentBytes?: number;
  metrics?: Pick<Metrics, 'oidcJwksRefreshFailures' | 'oidcJwks'>;
  /** Clock (tests). */
  now?: () => number;
}

interface Discovery { jwksUri: string; fetchedAt: number }

/** The last good key set of an issuer. */
interface KeySet { uri: string; verify: ReturnType<typeof createLocalJWKSet>; fetchedAt: number }

/** Spaces fetches to one issuer. */
class FetchGate {
  #last = Number.NEGATIVE_INFINITY;
  readonly #minIntervalMs: number;
  readonly #now: () => number;
  constructor(minIntervalMs: number, now: () => number) {
    this.#minIntervalMs = minIntervalMs;
    this.#now = now;
  }
  sinceLastMs(): number { return this.#now() - this.#last; }
  pass(what: string): void {
    const now = this.#now();
    if (now - this.#last < this.#minIntervalMs) throw unavailable('idp-throttled', `the identity provider was asked for ${what} less than ${this.#minIntervalMs}ms ago; not asking again yet`);
    this.#last = now;
  }
}

interface IssuerState {
  gate: FetchGate;
  jwksGate: FetchGate;
  discovery?: Discovery;
  discovering?: Promise<Discovery>;
  keys?: KeySet;
  refreshing?: Promise<KeySet>;
  /** Why the last refresh failed; cleared by a successful one. */
  refreshError?: string;
}

/** What the sidecar reports per issuer (metrics). */
export interface JwksStatus { issuer: string; ageSeconds: number; stale: boolean }

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

/**
 * Claims an IdP may hand out unverified, and the claim that says whether they are (OpenID Connect
 * Core 5.1). An IdP that lets users type or change their e-mail without proving it (Keycloak with
 * "verify email" off, social or federated logins) issues `email: <anyone's address>` with
 * `email_verified: false`: taken as the username, the agent would match that person's rules and be
 * recorded as them (round 12, F3). As the Kubernetes apiserver does for --oidc-username-claim=email
 * (and its structured authentication's default `claims.?email_verified.orValue(true) == true`), a
 * flag that is present and not the JSON `true` refuses the token; an absent flag is accepted (IdPs
 * such as Entra ID do not send it), which is why the docs advise mapping identity from `sub`.
 */
const VERIFIED_BY: Readonly<Record<string, string>> = { email: 'email_verified', phone_number: 'phone_number_verified' };

/** The claims of `payload` that its issuer marks unverified (the flag present and not `true`; "true" as a string is not `true`). */
function unverifiedClaims(payload: JWTPayload): Set<string> {
  return new Set(Object.entries(VERIFIED_BY).filter(([, flag]) => flag in payload && payload[flag] !== true).map(([claim]) => claim));
}

/** The settings that take identity (or the purpose) from a claim, with the claim each names. */
function mappedClaims(settings: OidcSettings): [setting: string, claim: string][] {
  const mapped: [string, string][] = [['usernameClaim', settings.usernameClaim ?? 'sub'], ['groupsClaim', settings.groupsClaim ?? 'groups']];
  if (settings.purposeClaim !== undefined) mapped.push(['purposeClaim', settings.purposeClaim]);
  return mapped;
}

/** Refuses a token whose identity would come from a claim its issuer marks unverified. */
function checkVerified(payload: JWTPayload, settings: OidcSettings, unverified: ReadonlySet<string>): void {
  for (const [setting, claim] of mappedClaims(settings)) {
    if (!unverified.has(claim)) continue;
    const flag = VERIFIED_BY[claim] ?? '';
    throw unauthenticated('claim-unverified', `the token's ${claim} claim is marked unverified by the issuer (${flag}: ${JSON.stringify(payload[flag])}), and spec.identity.oidc.${setting} takes the identity from it: have the issuer verify it (${flag}: true), or map ${setting} from a claim the issuer guarantees, such as sub`);
  }
}

/**
 * Refuses a subject or group name that holds a character a reader would not see as it is
 * (showable-name.ts: a ZWNJ/ZWJ inside a word of a script written with joiners is part of the name).
 */
function checkShowable(subject: string, groups: readonly string[], settings: OidcSettings): void {
  const hidden = unshowableCharacter(subject);
  if (hidden !== undefined) throw unauthenticated('subject-characters', `the token's ${settings.usernameClaim ?? 'sub'} claim (the username) holds control or invisible characters (${hidden}); the issuer must issue a plain name (${JOINERS_ACCEPTED})`);
  for (const group of groups) {
    const inGroup = unshowableCharacter(group);
    if (inGroup !== undefined) throw unauthenticated('subject-characters', `a group in the token's ${settings.groupsClaim ?? 'groups'} claim holds control or invisible characters (${inGroup}); the issuer must issue plain group names (${JOINERS_ACCEPTED})`);
  }
}

/** The payload without the claims its issuer marks unverified (they are not recorded as the requester's). */
function withoutUnverified(payload: JWTPayload, unverified: ReadonlySet<string>): JWTPayload {
  if (unverified.size === 0) return payload;
  return Object.fromEntries(Object.entries(payload).filter(([claim]) => !unverified.has(claim)));
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

/** What is decided from the unverified token, before any key lookup or fetch. */
function precheck(token: string, algorithms: string[], issuer: string): { alg?: string; kid?: string } {
  let header: { alg?: string; kid?: string };
  let iss: unknown;
  try {
    header = decodeProtectedHeader(token);
    iss = decodeJwt(token).iss;
  } catch {
    throw unauthenticated('malformed', 'the credential is not a JWT');
  }
  // `none` and HMAC never reach the JWKS.
  if (header.alg === undefined || !algorithms.includes(header.alg)) throw unauthenticated('algorithm', `the token's signature algorithm ${JSON.stringify(header.alg ?? null)} is not allowed (accepted: ${algorithms.join(', ')})`);
  // Another issuer's token never costs a fetch (jose checks iss again after the signature).
  if (iss !== issuer) throw unauthenticated('claim-iss', `${CLAIM_MESSAGES.iss} (${issuer})`);
  return header;
}

let issuers: Agent | undefined;

/** Issuers are reached by name, never at this pod's own addresses (upstream-address.ts): keys served there would be trusted. */
function issuerAgent(): Agent {
  issuers ??= new Agent({ connect: { lookup: upstreamLookup } });
  return issuers;
}

export class OidcVerifier {
  readonly #opts: Required<Omit<OidcOptions, 'metrics'>>;
  readonly #metrics: OidcOptions['metrics'];
  readonly #issuers = new Map<string, IssuerState>();

  constructor(opts: OidcOptions = {}) {
    const { metrics, ...rest } = opts;
    this.#opts = {
      clockToleranceSeconds: 30, minFetchIntervalMs: 5000, jwksCooldownMs: 30_000, cacheMaxAgeMs: 600_000, maxStaleMs: 24 * 3600_000, fetchTimeoutMs: 5000,
      maxDocumentBytes: 256 * 1024, now: Date.now, ...rest,
    };
    this.#metrics = metrics;
    metrics?.oidcJwks.provide(() => this.jwksStatus());
  }

  /** Per issuer: age of the key set in use, and whether it is served stale (its refresh failed). */
  jwksStatus(): JwksStatus[] {
    const now = this.#opts.now();
    return [...this.#issuers].flatMap(([issuer, s]) => (s.keys === undefined ? [] : [{ issuer, ageSeconds: (now - s.keys.fetchedAt) / 1000, stale: s.refreshError !== undefined }]));
  }

  #issuer(issuer: string): IssuerState {
    let state = this.#issuers.get(issuer);
    if (state === undefined) {
      state = { gate: new FetchGate(this.#opts.minFetchIntervalMs, this.#opts.now), jwksGate: new FetchGate(this.#opts.minFetchIntervalMs, this.#opts.now) };
      this.#issuers.set(issuer, state);
    }
    return state;
  }

  async #getJson(url: string, what: string): Promise<unknown> {
    const res = await request(url, { dispatcher: issuerAgent(), headersTimeout: this.#opts.fetchTimeoutMs, bodyTimeout: this.#opts.fetchTimeoutMs, headers: { accept: 'application/json' } });
    if (Number(res.headers['content-length'] ?? 0) > this.#opts.maxDocumentBytes) {
      res.body.destroy();
      throw new Error(`${what} at ${url} is larger than ${this.#opts.maxDocumentBytes} bytes`);
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${what} at ${url} answered HTTP ${res.statusCode}`);
    if (Buffer.byteLength(text) > this.#opts.maxDocumentBytes) throw new Error(`${what} at ${url} is larger than ${this.#opts.maxDocumentBytes} bytes`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`${what} at ${url} is not JSON`);
    }
  }

  async #discover(issuer: string, state: IssuerState): Promise<Discovery> {
    state.gate.pass('its discovery document');
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const body = (await this.#getJson(url, 'discovery')) as { issuer?: unknown; jwks_uri?: unknown } | null;
    if (body?.issuer !== issuer) throw new Error(`discovery at ${url} names issuer ${JSON.stringify(body?.issuer)}, not ${issuer}`);
    if (typeof body.jwks_uri !== 'string' || !URL.canParse(body.jwks_uri)) throw new Error(`discovery at ${url} has no valid jwks_uri`);
    return { jwksUri: body.jwks_uri, fetchedAt: this.#opts.now() };
  }

  async #discovery(issuer: string, state: IssuerState): Promise<Discovery> {
    const fresh = state.discovery !== undefined && this.#opts.now() - state.discovery.fetchedAt < this.#opts.cacheMaxAgeMs * 6;
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

  async #fetchKeys(issuer: string, state: IssuerState): Promise<KeySet> {
    const { jwksUri } = await this.#discovery(issuer, state);
    state.jwksGate.pass('its signing keys');
    const body = (await this.#getJson(jwksUri, 'the JWKS')) as JSONWebKeySet | null;
    if (body === null || typeof body !== 'object' || !Array.isArray(body.keys)) throw new Error(`the JWKS at ${jwksUri} has no keys array`);
    return { uri: jwksUri, verify: createLocalJWKSet(body), fetchedAt: this.#opts.now() };
  }

  /** One refresh at a time per issuer; the result replaces the key set only when it succeeded. */
  #refresh(issuer: string, state: IssuerState): Promise<KeySet> {
    state.refreshing ??= this.#fetchKeys(issuer, state).then((keys) => {
      state.keys = keys;
      state.refreshError = undefined;
      return keys;
    }, (err: unknown) => {
      // A throttled attempt is not a failure of the IdP: it was not asked.
      if (!(err instanceof AuthError && err.reason === 'idp-throttled')) {
        state.refreshError = errorMessage(err);
        this.#metrics?.oidcJwksRefreshFailures.inc({ issuer });
      }
      throw err;
    }).finally(() => { state.refreshing = undefined; });
    return state.refreshing;
  }

  /** The key set to verify with now: cached (refreshed in the background when old), or fetched. */
  async #keys(issuer: string, state: IssuerState): Promise<KeySet> {
    const keys = state.keys;
    if (keys === undefined) {
      try {
        return await this.#refresh(issuer, state);
      } catch (err) {
        throw err instanceof AuthError ? err : unavailable('idp-unreachable', `cannot get the signing keys of ${issuer}: ${errorMessage(err)}`);
      }
    }
    const age = this.#opts.now() - keys.fetchedAt;
    if (age < this.#opts.cacheMaxAgeMs) return keys;
    if (age < this.#opts.maxStaleMs) {
      // Old but within the bound: answer now, refresh behind it (the outcome shows in metrics).
      if (state.refreshing === undefined && state.jwksGate.sinceLastMs() >= this.#opts.minFetchIntervalMs) this.#refresh(issuer, state).catch(() => undefined);
      return keys;
    }
    try {
      return await this.#refresh(issuer, state);
    } catch (err) {
      throw unavailable('jwks-too-old', `the signing keys of ${issuer} were last fetched ${formatDuration(Math.round(age / 1000) * 1000)} ago, beyond the ${formatDuration(this.#opts.maxStaleMs)} they may be used while the issuer is unreachable (GUARITA_OIDC_JWKS_MAX_STALE), and refreshing them failed: ${state.refreshError ?? errorMessage(err)}`);
    }
  }

  /** A kid the cached set does not hold: refetch (once per cooldown), or say why not. */
  async #keysForUnknownKid(issuer: string, state: IssuerState, kid: string | undefined): Promise<KeySet | undefined> {
    if (state.refreshing === undefined && state.jwksGate.sinceLastMs() < this.#opts.jwksCooldownMs) {
      if (state.refreshError !== undefined) throw this.#unknownKidOffline(issuer, kid, state.refreshError);
      return undefined;
    }
    try {
      return await this.#refresh(issuer, state);
    } catch (err) {
      if (err instanceof AuthError && err.reason === 'idp-throttled') return undefined;
      throw this.#unknownKidOffline(issuer, kid, state.refreshError ?? errorMessage(err));
    }
  }

  #unknownKidOffline(issuer: string, kid: string | undefined, why: string): AuthError {
    // The kid is the client's text: quoted and cut short.
    return unavailable('unknown-key-offline', `the token is signed with a key (kid ${JSON.stringify(kid?.slice(0, 64) ?? null)}) that is not among the cached keys of ${issuer}, and the issuer cannot be asked for new keys (${why}); a key never fetched from the issuer is not trusted: retry when it is reachable`);
  }

  async #verifyWith(token: string, keys: KeySet, settings: OidcSettings, algorithms: string[]): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, keys.verify, {
      issuer: settings.issuer, audience: settings.audiences, algorithms, clockTolerance: this.#opts.clockToleranceSeconds, requiredClaims: ['exp'],
      currentDate: new Date(this.#opts.now()),
    });
    return payload;
  }

  /** Verifies `token` against the policy's OIDC settings. Throws AuthError. */
  async verify(token: string, settings: OidcSettings): Promise<VerifiedToken> {
    const algorithms = (settings.algorithms ?? DEFAULT_ALGORITHMS).filter((a) => ASYMMETRIC.has(a));
    const header = precheck(token, algorithms, settings.issuer);
    const state = this.#issuer(settings.issuer);
    let payload: JWTPayload;
    try {
      const keys = await this.#keys(settings.issuer, state);
      try {
        payload = await this.#verifyWith(token, keys, settings, algorithms);
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
        const fresh = await this.#keysForUnknownKid(settings.issuer, state, header.kid);
        if (fresh === undefined) throw err;
        payload = await this.#verifyWith(token, fresh, settings, algorithms);
      }
    } catch (err) {
      throw fromJoseError(err, settings.issuer);
    }
    return identityOf(payload, settings);
  }
}

/** The identity a verified token's claims give under the policy's settings; throws AuthError (pure: unit-tested alone). */
export function identityOf(payload: JWTPayload, settings: OidcSettings): VerifiedToken {
  const usernameClaim = settings.usernameClaim ?? 'sub';
  const unverified = unverifiedClaims(payload);
  checkVerified(payload, settings, unverified);
  const subject = claimString(payload, usernameClaim);
  if (subject === undefined) throw unauthenticated('no-subject', `the token has no ${usernameClaim} claim (the policy's usernameClaim)`);
  const groups = claimGroups(payload, settings.groupsClaim ?? 'groups');
  checkShowable(subject, groups, settings);
  const purpose = settings.purposeClaim === undefined ? undefined : claimString(payload, settings.purposeClaim);
  return {
    // An unverified e-mail is not recorded either: the four-eyes check (core/approvals/requester.ts)
    // must not take it for the requester's name at the apiserver, which refuses such a token.
    identity: { subject, groups, kind: 'User', issuer: settings.issuer, claims: recordedClaims(withoutUnverified(payload, unverified), usernameClaim) },
    ...(purpose === undefined ? {} : { purpose }),
    ...(payload.exp === undefined ? {} : { expiresAt: payload.exp * 1000 }),
  };
}
