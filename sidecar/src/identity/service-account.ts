// Kubernetes service-account tokens, verified by the apiserver with TokenReview (audience-bound).
// Results are cached briefly (and never beyond the token's own expiry), failures for a few
// seconds, so a busy agent or a flood of bad tokens does not become a flood of TokenReviews.
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { KubeClient } from '../kube/client.ts';
import { errorMessage } from '../log.ts';
import { opt } from '../util.ts';
import { AuthError, unauthenticated, unavailable } from './errors.ts';
import type { VerifiedToken } from './oidc.ts';

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; groups?: string[] };
  audiences?: string[];
  error?: string;
}

const SA_PREFIX = 'system:serviceaccount:';

interface Cached { until: number; result: VerifiedToken | AuthError }

function tokenExpiry(token: string): number | undefined {
  try {
    const exp = decodeJwt(token).exp;
    return exp === undefined ? undefined : exp * 1000;
  } catch {
    return undefined;
  }
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
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;
  readonly #maxEntries: number;

  constructor(kube: KubeClient, opts: { ttlMs?: number; negativeTtlMs?: number; maxEntries?: number } = {}) {
    this.#kube = kube;
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#negativeTtlMs = opts.negativeTtlMs ?? 5000;
    this.#maxEntries = opts.maxEntries ?? 10_000;
  }

  /** Verifies a service-account token bound to one of `audiences`. Throws AuthError. */
  async verify(token: string, audiences: string[]): Promise<VerifiedToken> {
    const key = createHash('sha256').update(audiences.join('\u0000')).update('\u0001').update(token).digest('base64url');
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit !== undefined && hit.until > now) {
      if (hit.result instanceof AuthError) throw hit.result;
      return hit.result;
    }
    const result = await this.#review(token, audiences).catch((err: unknown) => (err instanceof AuthError ? err : unavailable('tokenreview', `TokenReview failed: ${errorMessage(err)}`)));
    this.#store(key, result, now);
    if (result instanceof AuthError) throw result;
    return result;
  }

  #store(key: string, result: VerifiedToken | AuthError, now: number): void {
    // Unavailability is not cached: the next request asks again.
    if (result instanceof AuthError && result.code === 'Unavailable') return;
    const until = result instanceof AuthError ? now + this.#negativeTtlMs : Math.min(now + this.#ttlMs, result.expiresAt ?? Number.POSITIVE_INFINITY);
    if (this.#cache.size >= this.#maxEntries) {
      for (const [k, v] of this.#cache) if (v.until <= now || this.#cache.size >= this.#maxEntries) this.#cache.delete(k);
    }
    this.#cache.set(key, { until, result });
  }

  async #review(token: string, audiences: string[]): Promise<VerifiedToken> {
    const review = await this.#kube.request<{ status?: TokenReviewStatus }>('/apis/authentication.k8s.io/v1/tokenreviews', {
      method: 'POST',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
    });
    const username = checkReview(review.status ?? {}, audiences);
    const [namespace] = username.slice(SA_PREFIX.length).split(':');
    return {
      identity: { subject: username, groups: review.status?.user?.groups ?? [], kind: 'ServiceAccount', ...opt('namespace', namespace) },
      ...opt('expiresAt', tokenExpiry(token)),
    };
  }
}
