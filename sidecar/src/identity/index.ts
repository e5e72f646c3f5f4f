// Authenticates a bearer credential against a policy's spec.identity: an OIDC JWT from the
// policy's issuer, or (when the policy allows them) a Kubernetes service-account token.
// jose by subpath (its exports map): the package index loads every JOSE module, ~8 MB of RSS per sidecar.
import { decodeJwt } from 'jose/jwt/decode';
import type { AccessPolicySpec } from '../../../crds/types.ts';
import { unauthenticated } from './errors.ts';
import type { OidcVerifier, VerifiedToken } from './oidc.ts';
import type { ReviewContext, ServiceAccountVerifier } from './service-account.ts';

export { AuthError } from './errors.ts';
export type { VerifiedToken } from './oidc.ts';
export type { ReviewContext } from './service-account.ts';

function unverifiedIssuer(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

export class Authenticator {
  readonly #oidc: OidcVerifier;
  readonly #serviceAccounts: ServiceAccountVerifier;

  constructor(oidc: OidcVerifier, serviceAccounts: ServiceAccountVerifier) {
    this.#oidc = oidc;
    this.#serviceAccounts = serviceAccounts;
  }

  /**
   * Throws AuthError (Unauthenticated, or Unavailable when the IdP/apiserver cannot be asked).
   * `from` says where the credential came from: service-account reviews are rate-limited by it.
   * `minValidMs`: a cached service-account review is used only while it stays valid that much
   * longer (re-checks of open sessions ahead of their due time); OIDC tokens are verified locally.
   */
  async authenticate(credential: string, identity: AccessPolicySpec['identity'], from?: ReviewContext, minValidMs = 0): Promise<VerifiedToken> {
    const token = credential.trim();
    if (token === '') throw unauthenticated('missing', 'no credential: send Authorization: Bearer <token> (HTTP) or the token as the password (PostgreSQL)');
    const { oidc, serviceAccounts } = identity;
    // The unverified iss only routes the token to a verifier; the verifier checks everything.
    if (oidc !== undefined && (serviceAccounts === undefined || unverifiedIssuer(token) === oidc.issuer)) return this.#oidc.verify(token, oidc);
    if (serviceAccounts !== undefined) return this.#serviceAccounts.verify(token, serviceAccounts.audiences, from, minValidMs);
    throw unauthenticated('no-method', 'the AccessPolicy accepts no credentials (spec.identity is empty)');
  }
}
