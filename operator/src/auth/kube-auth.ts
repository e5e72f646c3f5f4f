// Who is calling, and may they? TokenReview authenticates bearer tokens (with an audience for the
// sidecars' projected service-account tokens, without one for users' own Kubernetes tokens);
// SubjectAccessReview asks Kubernetes RBAC about the virtual resource sessions.guarita.io. Results
// are cached briefly so a busy sidecar does not cost a TokenReview per batch.
import { createHash } from 'node:crypto';
import { paths, type KubeApi } from '../kube/client.ts';
import { compact } from '../util.ts';

export interface Identity {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export interface ServiceAccountIdentity { namespace: string; name: string; pod?: string }

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

function reviewResult(s: TokenReviewStatus, audience: string | undefined): AuthResult {
  const u = s.user;
  if (s.authenticated !== true || u?.username === undefined) return { ok: false, reason: `token not authenticated${s.error ? `: ${s.error}` : ''}` };
  if (audience !== undefined && !(s.audiences ?? []).includes(audience)) return { ok: false, reason: `token is not bound to audience ${audience}` };
  return { ok: true, identity: { username: u.username, groups: u.groups ?? [], ...compact({ uid: u.uid, extra: u.extra }) } };
}

export type AuthResult = { ok: true; identity: Identity } | { ok: false; reason: string };

class TtlCache<V> {
  readonly #map = new Map<string, { value: V; until: number }>();
  readonly #max: number;
  constructor(max: number) { this.#max = max; }

  get(key: string, now: number): V | undefined {
    const hit = this.#map.get(key);
    if (hit === undefined) return undefined;
    if (hit.until > now) return hit.value;
    this.#map.delete(key);
    return undefined;
  }

  set(key: string, value: V, until: number): void {
    if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
    this.#map.set(key, { value, until });
  }
}

/** exp of a JWT, read without verification (only to bound how long a review is cached). */
function jwtExpiry(token: string): number | undefined {
  const part = token.split('.')[1];
  if (part === undefined) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export interface KubeAuthOptions {
  positiveTtlMs?: number;
  negativeTtlMs?: number;
  now?: () => number;
}

export class KubeAuth {
  readonly #api: KubeApi;
  readonly #tokens = new TtlCache<AuthResult>(10_000);
  readonly #decisions = new TtlCache<boolean>(10_000);
  readonly #positiveTtl: number;
  readonly #negativeTtl: number;
  readonly #now: () => number;

  constructor(api: KubeApi, opts: KubeAuthOptions = {}) {
    this.#api = api;
    this.#positiveTtl = opts.positiveTtlMs ?? 60_000;
    this.#negativeTtl = opts.negativeTtlMs ?? 2_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Authenticates a bearer token; with `audience`, the token must be bound to it. */
  async authenticate(token: string, audience?: string): Promise<AuthResult> {
    const now = this.#now();
    const key = createHash('sha256').update(`${audience ?? ''}\u0000${token}`).digest('hex');
    const cached = this.#tokens.get(key, now);
    if (cached !== undefined) return cached;
    const result = await this.#review(token, audience);
    const exp = jwtExpiry(token);
    const ttl = result.ok ? this.#positiveTtl : this.#negativeTtl;
    this.#tokens.set(key, result, Math.min(now + ttl, exp ?? Number.POSITIVE_INFINITY));
    return result;
  }

  async #review(token: string, audience: string | undefined): Promise<AuthResult> {
    const review = await this.#api.create<{ status?: TokenReviewStatus }>(paths.tokenReviews, {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview',
      spec: { token, ...(audience === undefined ? {} : { audiences: [audience] }) },
    });
    return reviewResult(review.status ?? {}, audience);
  }

  /** SubjectAccessReview: may `who` do `verb` on sessions.guarita.io in `namespace`? */
  async allowed(who: Identity, verb: string, namespace: string, resource = 'sessions', name?: string): Promise<boolean> {
    const now = this.#now();
    // Everything the review is asked about, `extra` included (an authorizer may decide on a token's
    // scopes there): two tokens of one user with other extras do not share a verdict.
    const key = JSON.stringify([who.username, who.groups, who.uid, sortedExtra(who.extra), verb, namespace, resource, name]);
    const cached = this.#decisions.get(key, now);
    if (cached !== undefined) return cached;
    const review = await this.#api.create<{ status?: { allowed?: boolean } }>(paths.subjectAccessReviews, {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: {
        user: who.username, groups: who.groups, ...compact({ uid: who.uid, extra: who.extra }),
        resourceAttributes: { group: 'guarita.io', resource, verb, namespace, ...compact({ name }) },
      },
    });
    const allowed = review.status?.allowed === true;
    this.#decisions.set(key, allowed, now + 10_000);
    return allowed;
  }
}

const SA_PREFIX = 'system:serviceaccount:';

/** The service account behind an identity (and the pod its token is bound to, if any). */
export function serviceAccountOf(id: Identity): ServiceAccountIdentity | undefined {
  if (!id.username.startsWith(SA_PREFIX)) return undefined;
  const [namespace, name, ...rest] = id.username.slice(SA_PREFIX.length).split(':');
  if (namespace === undefined || name === undefined || rest.length > 0 || namespace === '' || name === '') return undefined;
  const pod = id.extra?.['authentication.kubernetes.io/pod-name']?.[0];
  return { namespace, name, ...(pod === undefined ? {} : { pod }) };
}

export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** `extra` in a stable order (its keys, and each key's values as the token carries them). */
function sortedExtra(extra: Identity['extra']): [string, unknown][] {
  return extra === undefined ? [] : Object.entries(extra).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
