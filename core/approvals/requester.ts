// Four-eyes: is the Kubernetes user reviewing an ApprovalRequest the person whose command it holds?
// One implementation for the admission webhook (refuses the review) and the operator (does not
// count it).
//
// The two sides name people differently. The sidecar authenticated the requester with the
// AccessPolicy's issuer (OIDC) or a TokenReview (service account); the reviewer's name is whatever
// the apiserver's authenticator made of their credential. For service accounts Kubernetes fixes
// the name (`system:serviceaccount:<ns>:<name>`). For OIDC it depends on the apiserver's
// configuration (legacy `--oidc-username-claim`/`--oidc-username-prefix`, whose default prefix is
// `<issuer>#` unless the claim is `email`; or AuthenticationConfiguration
// `jwt[].claimMappings.username`), which no API exposes. So it is configured explicitly, per
// issuer, and a review of an OIDC requester whose issuer has no mapping is not decided at all
// (fail closed): guessing a prefix is how a requester got to approve their own command.
//
// The sidecar records the requester's issuer and the claims the apiserver may map
// (REQUESTER_CLAIMS plus the policy's usernameClaim), so the comparison is exact:
// reviewer === prefix + claims[claim]. Where the apiserver also maps the user's uid from a claim
// (AuthenticationConfiguration claimMappings.uid, e.g. from the immutable `sub` while usernames
// come from an editable `email`), the reviewer's uid is compared too. Beyond the mapping, a reviewer whose name equals the
// recorded subject or any recorded claim verbatim is treated as the requester too: refusing a
// coincidence costs a second approver, accepting one costs the four-eyes guarantee.

/** The claims the sidecar records for OIDC requesters (with the policy's usernameClaim). */
export const REQUESTER_CLAIMS: readonly string[] = ['sub', 'email', 'preferred_username'];

/** The setting that holds the mappings, as the webhook and the operator read it. */
export const MAPPINGS_ENV = 'GUARITA_OIDC_USERNAME_MAPPINGS';
export const MAPPINGS_FLAG = 'oidc-username-mappings';
/** The chart value that renders MAPPINGS_ENV into both deployments. */
export const MAPPINGS_CHART_VALUE = 'approvals.oidcUsernameMappings';

/**
 * How the apiserver turns a token of `issuer` into a username: `prefix + claims[claim]`, and
 * (optionally) its uid: `claims[uidClaim]`. `apiserver: false` declares that the apiserver does
 * not accept this issuer's tokens at all, so no reviewer can be the requester by way of that identity.
 */
export type OidcUsernameMapping =
  | { issuer: string; claim: string; prefix: string; uidClaim?: string }
  | { issuer: string; apiserver: false };

/** The reviewer as the apiserver authenticated them (admission userInfo, or the review's stamps). */
export interface Reviewer {
  username: string;
  /** userInfo.uid; empty or absent when the authenticator sets none. */
  uid?: string;
}

export interface RecordedRequester {
  username: string;
  kind: 'User' | 'ServiceAccount';
  issuer?: string;
  claims?: Record<string, string>;
}

/** The claims of a verified token the sidecar records in ApprovalRequests (string values that fit the CRD only). */
export function recordedClaims(payload: Readonly<Record<string, unknown>>, usernameClaim: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of new Set([...REQUESTER_CLAIMS, usernameClaim])) {
    const v = payload[name];
    if (typeof v === 'string' && v !== '' && v.length <= 256) out[name] = v;
  }
  return out;
}

/**
 * Why reviews of this policy's held commands would all be refused (an admission warning when the
 * policy is applied), or nothing: requireApproval rules, an OIDC issuer, and no mapping for it or
 * a mapped claim the sidecar does not record.
 */
export function approvalMappingWarnings(policy: { spec: { identity: { oidc?: { issuer: string; usernameClaim?: string } }; rules: readonly { name: string; action: string }[] } }, mappings: readonly OidcUsernameMapping[]): string[] {
  const oidc = policy.spec.identity.oidc;
  const held = policy.spec.rules.filter((r) => r.action === 'requireApproval').map((r) => r.name);
  if (oidc === undefined || held.length === 0) return [];
  const mine = mappings.filter((m) => m.issuer === oidc.issuer);
  const consequence = `reviews of commands held by rule(s) ${held.join(', ')} for its OIDC requesters will be refused (four-eyes cannot be checked)`;
  if (mine.length === 0) return [`spec.identity.oidc.issuer: ${oidc.issuer} has no entry in the webhook's ${MAPPINGS_ENV} (chart: ${MAPPINGS_CHART_VALUE}): ${consequence}; add how the apiserver names its users`];
  const recorded = new Set([...REQUESTER_CLAIMS, oidc.usernameClaim ?? 'sub']);
  const missing = [...new Set(mine.flatMap((m) => ('claim' in m ? [m.claim, ...(m.uidClaim === undefined ? [] : [m.uidClaim])] : [])))].filter((c) => !recorded.has(c));
  if (missing.length === 0) return [];
  return [`spec.identity.oidc.usernameClaim: the apiserver maps claim(s) ${missing.join(', ')} of ${oidc.issuer} (${MAPPINGS_ENV}), which the sidecar records only as the policy's usernameClaim: ${consequence}`];
}

export type RequesterMatch =
  | { verdict: 'requester' | 'other' }
  /** Guarita cannot tell who the requester is in Kubernetes terms: the review must not count. */
  | { verdict: 'unknown'; why: string };

const SA_USERNAME = /^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

function mappingHint(issuer: string): string {
  return `add the apiserver's username mapping for this issuer to ${MAPPINGS_ENV} (chart: ${MAPPINGS_CHART_VALUE}), e.g. {"issuer":"${issuer}","claim":"sub","prefix":"${issuer}#"} for the legacy --oidc-* flags with the default prefix, or {"issuer":"${issuer}","apiserver":false} if the apiserver does not accept its tokens`;
}

function unrecorded(claim: string, issuer: string, what: string): { why: string } {
  return { why: `the apiserver maps claim ${claim} of ${issuer} to ${what} (${MAPPINGS_ENV}) and spec.requester.claims does not record it (the sidecar records ${[...REQUESTER_CLAIMS, 'the policy\'s usernameClaim'].join(', ')}; a token without it cannot be matched)` };
}

/** The Kubernetes usernames and uids the requester could have when authenticated by the apiserver. */
function oidcIdentities(requester: RecordedRequester, issuer: string, mappings: readonly OidcUsernameMapping[]): { names: string[]; uids: string[] } | { why: string } {
  const mine = mappings.filter((m) => m.issuer === issuer);
  if (mine.length === 0) return { why: `the requester's issuer ${issuer} has no username mapping: Guarita cannot tell whether a Kubernetes user is the requester; ${mappingHint(issuer)}` };
  const names: string[] = [];
  const uids: string[] = [];
  for (const m of mine) {
    if (!('claim' in m)) continue;
    const value = requester.claims?.[m.claim];
    if (value === undefined) return unrecorded(m.claim, issuer, 'usernames');
    names.push(`${m.prefix}${value}`);
    if (m.uidClaim === undefined) continue;
    const uid = requester.claims?.[m.uidClaim];
    if (uid === undefined) return unrecorded(m.uidClaim, issuer, 'uids');
    // An empty uid is "none" to the apiserver: it must never match a reviewer without one.
    if (uid !== '') uids.push(uid);
  }
  return { names, uids };
}

function matchServiceAccount(username: string, requester: RecordedRequester): RequesterMatch {
  // The apiserver names every service-account token user this way; no mapping is involved.
  if (!SA_USERNAME.test(requester.username)) {
    return { verdict: 'unknown', why: `spec.requester.username: a ServiceAccount requester must be recorded as system:serviceaccount:<namespace>:<name>, got ${JSON.stringify(requester.username)}` };
  }
  return { verdict: username === requester.username ? 'requester' : 'other' };
}

/**
 * A username as a person is told apart by: compatibility-normalized (NFKC: fullwidth letters,
 * ligatures) and case-folded. IdPs match logins (e-mail, UPN) case-insensitively and may hand one
 * account's claim out in the spelling typed at sign-in, so `Dana@x` and `dana@x` can be one person;
 * comparing folded names refuses such a reviewer (fail closed) instead of counting them as another.
 */
export function foldUsername(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

/** Is the reviewer (as the apiserver authenticated them: username, uid) the requester? */
export function matchRequester(reviewer: Reviewer, requester: RecordedRequester, mappings: readonly OidcUsernameMapping[]): RequesterMatch {
  const { username, uid = '' } = reviewer;
  if (requester.kind === 'ServiceAccount') return matchServiceAccount(username, requester);
  const folded = foldUsername(username);
  const verbatim = [requester.username, ...Object.values(requester.claims ?? {})];
  if (verbatim.some((v) => foldUsername(v) === folded)) return { verdict: 'requester' };
  if (requester.issuer === undefined || requester.issuer === '') {
    return { verdict: 'unknown', why: 'spec.requester.issuer: not recorded, so the requester cannot be mapped to a Kubernetes username (the request was not created by this version\'s sidecar); let it expire and have the agent retry' };
  }
  const known = oidcIdentities(requester, requester.issuer, mappings);
  if ('why' in known) return { verdict: 'unknown', why: known.why };
  return { verdict: known.names.some((n) => foldUsername(n) === folded) || known.uids.includes(uid) ? 'requester' : 'other' };
}

// ---- the setting -------------------------------------------------------------------------------

const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/;

/**
 * The subset of AuthenticationConfiguration username expressions that is a claim with a constant
 * prefix: `claims.sub`, `claims["sub"]`, `'prefix:' + claims.sub`. Anything else cannot be
 * evaluated here; the error says to write the equivalent claim and prefix (or to map a claim).
 */
function parseExpression(expr: string): { claim: string; prefix: string } | undefined {
  const claimRef = String.raw`claims\.([A-Za-z_][A-Za-z0-9_]*)|claims\[\s*(?:"([^"\\]+)"|'([^'\\]+)')\s*\]`;
  const m = new RegExp(String.raw`^\s*(?:(?:"([^"\\]*)"|'([^'\\]*)')\s*\+\s*)?(?:${claimRef})\s*$`).exec(expr);
  if (m === null) return undefined;
  const claim = m[3] ?? m[4] ?? m[5];
  return claim === undefined ? undefined : { claim, prefix: m[1] ?? m[2] ?? '' };
}

function entryError(i: number, message: string): string {
  return `${MAPPINGS_ENV}[${i}]: ${message}`;
}

const FIELDS = ['issuer', 'claim', 'prefix', 'expression', 'apiserver', 'uidClaim'];

function issuerOf(e: Record<string, unknown>, i: number, problems: string[]): string | undefined {
  const unknownKeys = Object.keys(e).filter((k) => !FIELDS.includes(k));
  if (unknownKeys.length > 0) problems.push(entryError(i, `unknown field(s) ${unknownKeys.join(', ')} (fields: issuer, and claim with prefix, or expression, or apiserver: false)`));
  const issuer = e.issuer;
  if (typeof issuer === 'string' && /^https?:\/\/\S+$/.test(issuer)) return issuer;
  problems.push(entryError(i, `issuer must be the issuer URL exactly as in the tokens' iss (and the apiserver's issuer url), got ${JSON.stringify(issuer)}`));
  return undefined;
}

function claimAndPrefix(e: Record<string, unknown>, issuer: string, i: number, problems: string[]): { claim: string; prefix: string } | undefined {
  if (typeof e.claim !== 'string' || !CLAIM_NAME.test(e.claim)) {
    problems.push(entryError(i, `claim must be the claim name the apiserver maps to usernames (--oidc-username-claim, claimMappings.username.claim), got ${JSON.stringify(e.claim)}`));
    return undefined;
  }
  if (typeof e.prefix !== 'string') {
    problems.push(entryError(i, `prefix is required (it has no default here): the apiserver's --oidc-username-prefix (default "${issuer}#" unless the claim is email) or claimMappings.username.prefix; "" for none`));
    return undefined;
  }
  if (e.prefix === '-') {
    problems.push(entryError(i, 'prefix "-" is how the legacy --oidc-username-prefix flag says "no prefix": write "" instead'));
    return undefined;
  }
  return { claim: e.claim, prefix: e.prefix };
}

function expressionMapping(e: Record<string, unknown>, i: number, problems: string[]): { claim: string; prefix: string } | undefined {
  const mapped = typeof e.expression === 'string' ? parseExpression(e.expression) : undefined;
  if (mapped === undefined) {
    problems.push(entryError(i, `expression ${JSON.stringify(e.expression)} is not of the form claims.NAME or 'prefix' + claims.NAME; write the equivalent claim and prefix, or map the username from one claim in the apiserver's AuthenticationConfiguration`));
  }
  return mapped;
}

function notAnApiserverIssuer(e: Record<string, unknown>, issuer: string, i: number, problems: string[]): OidcUsernameMapping {
  if ('uidClaim' in e) problems.push(entryError(i, `uidClaim makes no sense with apiserver: false for ${issuer}`));
  if (e.apiserver !== false) problems.push(entryError(i, `apiserver may only be false (the apiserver does not accept tokens of ${issuer}); to map its usernames give claim and prefix`));
  return { issuer, apiserver: false };
}

function parseEntry(raw: unknown, i: number, problems: string[]): OidcUsernameMapping | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push(entryError(i, 'must be an object such as {"issuer":"https://idp.example","claim":"email","prefix":""}'));
    return undefined;
  }
  const e = raw as Record<string, unknown>;
  const issuer = issuerOf(e, i, problems);
  if (issuer === undefined) return undefined;
  const forms = ['claim' in e || 'prefix' in e, 'expression' in e, 'apiserver' in e].filter(Boolean).length;
  if (forms !== 1) {
    problems.push(entryError(i, `give exactly one of claim with prefix, expression, or apiserver: false for ${issuer}`));
    return undefined;
  }
  if ('apiserver' in e) return notAnApiserverIssuer(e, issuer, i, problems);
  const mapped = 'expression' in e ? expressionMapping(e, i, problems) : claimAndPrefix(e, issuer, i, problems);
  return mapped === undefined ? undefined : withUid({ issuer, ...mapped }, e, i, problems);
}

function withUid(m: { issuer: string; claim: string; prefix: string }, e: Record<string, unknown>, i: number, problems: string[]): OidcUsernameMapping | undefined {
  if (!('uidClaim' in e)) return m;
  if (typeof e.uidClaim === 'string' && CLAIM_NAME.test(e.uidClaim)) return { ...m, uidClaim: e.uidClaim };
  problems.push(entryError(i, `uidClaim must be the claim the apiserver maps to the user's uid (claimMappings.uid.claim), got ${JSON.stringify(e.uidClaim)}`));
  return undefined;
}

/** Parses the setting (a JSON array). Returns every problem at once, each naming the entry and the fix. */
export function parseUsernameMappings(text: string | undefined): { mappings: OidcUsernameMapping[]; problems: string[] } {
  if (text === undefined || text.trim() === '') return { mappings: [], problems: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { mappings: [], problems: [`${MAPPINGS_ENV}: not JSON (${err instanceof Error ? err.message : String(err)}); expected a list such as [{"issuer":"https://idp.example","claim":"email","prefix":""}]`] };
  }
  if (!Array.isArray(raw)) return { mappings: [], problems: [`${MAPPINGS_ENV}: must be a JSON list of {"issuer", "claim", "prefix"} entries`] };
  const problems: string[] = [];
  const mappings = raw.flatMap((e, i) => parseEntry(e, i, problems) ?? []);
  for (const m of mappings) {
    if ('apiserver' in m && mappings.some((o) => o.issuer === m.issuer && 'claim' in o)) {
      problems.push(`${MAPPINGS_ENV}: ${m.issuer} is both mapped and declared apiserver: false; keep one`);
      break;
    }
  }
  return { mappings, problems };
}
