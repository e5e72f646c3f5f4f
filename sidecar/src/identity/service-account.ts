// Kubernetes service-account tokens, verified by the apiserver with TokenReview (audience-bound).
// The TokenReview is the authority, and each costs the apiserver work, so what reaches it is
// bounded (a flood of junk tokens must not become a flood of TokenReviews):
// - a local pre-check first: a service-account token is a JWT with an asymmetric signature, an
//   `exp` not past, an `aud` the policy accepts, a `system:serviceaccount:` subject and (when the
//   apiserver's issuers are known) its `iss`: anything else is refused without a review;
// - a cache keyed by a hash of audiences and token (the token itself is never kept): results
//   for 60 s and never past the token's own expiry, rejections for 30 s;
// - one review in flight per token (concurrent requests with it share the answer);
// - token buckets per connection and per source, charged only for reviews actually sent; the
//   source is the client address as source-key.ts keys it (every loopback address is one source:
//   the agent picks among 127.0.0.0/8 freely, so the raw address was a budget per connection);
// - a cap on reviews in flight at once.
// Refusals by rate limit or cap are `Unavailable` (retry later), never cached.
// A review's answer lasts the cache TTL and no longer: a positive result says when the apiserver
// must be asked again (`reviewDueAt`), and the sidecar asks again for the sessions it keeps open
// (enforcer.ts), so deleting the service account (or the pod or Secret its token is bound to)
// ends them within about the TTL instead of at the token's exp.
import { createHash } from 'node:crypto';
// jose by subpath (its exports map): the package index loads every JOSE module, ~8 MB of RSS per sidecar.
import type { JWTPayload } from 'jose';
import { decodeProtectedHeader } from 'jose/decode/protected_header';
import { decodeJwt } from 'jose/jwt/decode';
import { TokenBuckets, type RateLimit } from '../../../core/token-buckets.ts';
import type { KubeClient } from '../kube/client.ts';
import { errorMessage } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { opt } from '../util.ts';
import { AuthError, unauthenticated, unavailable } from './errors.ts';
import type { VerifiedToken } from './oidc.ts';
import { sourceKey } from './source-key.ts';

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; groups?: string[] };
  audiences?: string[];
  error?: string;
}

const SA_PREFIX = 'system:serviceaccount:';
// The apiserver signs service-account tokens with RSA or ECDSA keys; never `none` or HMAC.
const SA_ALGORITHMS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']);

interface Cached { until: number; result: VerifiedToken | AuthError }

/** Where a credential came from, for the rate limits. */
export interface ReviewContext {
  /** The client's address (charged under its source-key.ts key). */
  source: string;
  /** One client connection (e.g. `address:port`); absent when a connection presents one credential only. */
  connection?: string;
}

export interface ServiceAccountOptions {
  ttlMs?: number;
  negativeTtlMs?: number;
  maxEntries?: number;
  /** The apiserver's service-account issuers (`iss`); empty: not checked locally (the TokenReview still is). */
  issuers?: readonly string[];
  /** TokenReviews per source address (default burst 20, 300 a minute); per connection a quarter of the burst and a fifth of the rate. */
  perSource?: RateLimit;
  /** TokenReviews in flight at once (default 8). */
  maxInFlight?: number;
  clockToleranceSeconds?: number;
  metrics?: Pick<Metrics, 'tokenReviews' | 'tokenReviewCacheHits' | 'tokenReviewRefused'>;
  now?: () => number;
}

/** The issuer named by a service-account token file (the sidecar's own projected token), if readable. */
export function tokenIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token.trim()).iss;
    return typeof iss === 'string' && iss !== '' ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** The claims of something shaped like a service-account token (a JWT with an asymmetric signature). */
function decodeServiceAccountToken(token: string): JWTPayload {
  let alg: string | undefined;
  let claims: JWTPayload;
  try {
    alg = decodeProtectedHeader(token).alg;
    claims = decodeJwt(token);
  } catch {
    throw unauthenticated('malformed', 'the credential is not a JWT, so not a service-account token (nor an OIDC token of the policy\'s issuer)');
  }
  if (alg === undefined || !SA_ALGORITHMS.has(alg)) throw unauthenticated('algorithm', `the token's signature algorithm ${JSON.stringify(alg ?? null)} is not one the apiserver signs service-account tokens with`);
  return claims;
}

/** The service account's username, or a throw saying why the review does not authenticate one. */
function checkReview(status: TokenReviewStatus, audiences: string[]): string {
  if (status.authenticated !== true) throw unauthenticated('tokenreview-rejected', `the service-account token was not accepted by the apiserver${status.error === undefined ? '' : ` (${status.error})`}`);
  if (!(status.audiences ?? []).some((a) => audiences.includes(a))) throw unauthenticated('claim-aud', `the service-account token is not bound to an accepted audience (${audiences.join(', ')})`);
  const username = status.user?.username ?? '';
  if (!username.startsWith(SA_PREFIX)) throw unauthenticated('not-service-account', 'the token authenticates a user, not a service account; present an OIDC token instead');
  return username;
}

export class ServiceAccountVerifier {
  readonly #kube: KubeClient;
  readonly #cache = new Map<string, Cached>();
  readonly #inFlight = new Map<string, Promise<VerifiedToken | AuthError>>();
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;
  readonly #maxEntries: number;
  readonly #issuers: ReadonlySet<string>;
  readonly #bySource: TokenBuckets;
  readonly #byConnection: TokenBuckets;
  readonly #maxInFlight: number;
  readonly #toleranceMs: number;
  readonly #metrics: ServiceAccountOptions['metrics'];
  readonly #now: () => number;

  constructor(kube: KubeClient, opts: ServiceAccountOptions = {}) {
    this.#kube = kube;
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#negativeTtlMs = opts.negativeTtlMs ?? 30_000;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#issuers = new Set(opts.issuers ?? []);
    const perSource = opts.perSource ?? { burst: 20, perMinute: 300 };
    this.#bySource = new TokenBuckets(perSource);
    this.#byConnection = new TokenBuckets({ burst: Math.max(1, Math.floor(perSource.burst / 4)), perMinute: perSource.perMinute / 5 });
    this.#maxInFlight = opts.maxInFlight ?? 8;
    this.#toleranceMs = (opts.clockToleranceSeconds ?? 30) * 1000;
    this.#metrics = opts.metrics;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Verifies a service-account token bound to one of `audiences`. Throws AuthError. Without `ctx`
   * (the sidecar re-checking sessions it already opened) the rate limits and the cap do not apply.
   * `minValidMs`: a cached answer is used only while it stays valid that much longer (a re-check
   * ahead of a review's due time must not get back the answer that is about to be due).
   */
  async verify(token: string, audiences: string[], ctx?: ReviewContext, minValidMs = 0): Promise<VerifiedToken> {
    const now = this.#now();
    try {
      this.#precheck(token, audiences, now);
    } catch (err) {
      if (err instanceof AuthError) this.#metrics?.tokenReviewRefused.inc({ reason: `precheck-${err.reason}` });
      throw err;
    }
    const key = createHash('sha256').update(audiences.join('\u0000')).update('\u0001').update(token).digest('base64url');
    const hit = this.#cached(key, now + minValidMs);
    if (hit !== undefined) return hit;
    let pending = this.#inFlight.get(key);
    if (pending === undefined) {
      if (ctx !== undefined) this.#admit(ctx, now);
      pending = this.#review(token, audiences)
        .catch((err: unknown) => (err instanceof AuthError ? err : unavailable('tokenreview', `TokenReview failed: ${errorMessage(err)}`)))
        .then((result) => {
          this.#store(key, result, this.#now());
          return result;
        })
        .finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    const result = await pending;
    if (result instanceof AuthError) throw result;
    return result;
  }

  /** The cached answer for `key` still valid at `validAt`. */
  #cached(key: string, validAt: number): VerifiedToken | undefined {
    const hit = this.#cache.get(key);
    if (hit === undefined || hit.until <= validAt) return undefined;
    this.#metrics?.tokenReviewCacheHits.inc({ result: hit.result instanceof AuthError ? 'negative' : 'positive' });
    if (hit.result instanceof AuthError) throw hit.result;
    return hit.result;
  }

  /** What any service-account token must look like; costs nothing at the apiserver. */
  #precheck(token: string, audiences: string[], now: number): void {
    const claims = decodeServiceAccountToken(token);
    this.#checkTimes(claims, now);
    const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud ?? [];
    if (!aud.some((a) => audiences.includes(a))) throw unauthenticated('claim-aud', `the service-account token is not bound to an accepted audience (${audiences.join(', ')})`);
    if (typeof claims.iss !== 'string' || (this.#issuers.size > 0 && !this.#issuers.has(claims.iss))) {
      throw unauthenticated('claim-iss', `the token is not accepted: its issuer (iss) is not the apiserver's service-account issuer${this.#issuers.size === 0 ? '' : ` (${[...this.#issuers].join(', ')})`}`);
    }
    if (typeof claims.sub !== 'string' || !claims.sub.startsWith(SA_PREFIX)) throw unauthenticated('not-service-account', 'the token\'s subject is not a service account (system:serviceaccount:<namespace>:<name>)');
  }

  #checkTimes(claims: JWTPayload, now: number): void {
    if (typeof claims.exp !== 'number') throw unauthenticated('claim-exp', 'the service-account token has no expiry (exp): use a bound token (projected volume or TokenRequest), not a legacy Secret token');
    if (claims.exp * 1000 + this.#toleranceMs <= now) throw unauthenticated('expired', 'the service-account token has expired (exp)');
    if (typeof claims.nbf === 'number' && claims.nbf * 1000 - this.#toleranceMs > now) throw unauthenticated('claim-nbf', 'the service-account token is not valid yet (nbf)');
  }

  /** Charges the rate limits and takes an in-flight slot for one review, or refuses. */
  #admit(ctx: ReviewContext, now: number): void {
    if (ctx.connection !== undefined && !this.#byConnection.take(ctx.connection, now)) this.#refuse('rate-limited-connection', `this connection asked for too many service-account token reviews; retry in ${Math.ceil(this.#byConnection.waitMs(ctx.connection, now) / 1000)}s`);
    const source = sourceKey(ctx.source);
    if (!this.#bySource.take(source, now)) this.#refuse('rate-limited-source', `too many service-account token reviews from ${source === 'loopback' ? 'loopback (every 127.0.0.0/8 and ::1 address is one source)' : source}; retry in ${Math.ceil(this.#bySource.waitMs(source, now) / 1000)}s`);
    if (this.#inFlight.size >= this.#maxInFlight) this.#refuse('concurrency', `${this.#maxInFlight} service-account token reviews are already in flight; retry shortly`);
  }

  #refuse(reason: string, message: string): never {
    this.#metrics?.tokenReviewRefused.inc({ reason });
    throw unavailable(reason, message);
  }

  #store(key: string, result: VerifiedToken | AuthError, now: number): void {
    // Unavailability is not cached: the next request asks again.
    if (result instanceof AuthError && result.code === 'Unavailable') return;
    const until = result instanceof AuthError ? now + this.#negativeTtlMs : Math.min(result.reviewDueAt ?? now + this.#ttlMs, result.expiresAt ?? Number.POSITIVE_INFINITY);
    if (this.#cache.size >= this.#maxEntries) {
      for (const [k, v] of this.#cache) if (v.until <= now || this.#cache.size >= this.#maxEntries) this.#cache.delete(k);
    }
    this.#cache.set(key, { until, result });
  }

  async #send(token: string, audiences: string[]): Promise<TokenReviewStatus> {
    try {
      const review = await this.#kube.request<{ status?: TokenReviewStatus }>('/apis/authentication.k8s.io/v1/tokenreviews', {
        method: 'POST',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
      });
      this.#metrics?.tokenReviews.inc({ result: review.status?.authenticated === true ? 'authenticated' : 'rejected' });
      return review.status ?? {};
    } catch (err) {
      this.#metrics?.tokenReviews.inc({ result: 'error' });
      throw err;
    }
  }

  async #review(token: string, audiences: string[]): Promise<VerifiedToken> {
    const status = await this.#send(token, audiences);
    const username = checkReview(status, audiences);
    const [namespace] = username.slice(SA_PREFIX.length).split(':');
    const exp = decodeJwt(token).exp;
    return {
      identity: { subject: username, groups: status.user?.groups ?? [], kind: 'ServiceAccount', ...opt('namespace', namespace) },
      ...opt('expiresAt', exp === undefined ? undefined : exp * 1000),
      // The answer is the apiserver's for the TTL: the cache keeps it that long, sessions ask again then.
      reviewDueAt: this.#now() + this.#ttlMs,
    };
  }
}
