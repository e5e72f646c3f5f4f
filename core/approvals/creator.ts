// Who created an ApprovalRequest, as the apiserver authenticated them: one definition for the
// admission webhook (stamps it at CREATE, refuses a stamp that differs, freezes it afterwards) and
// the operator (caps Pending requests per creating pod as well as per requester).
//
// spec.requester is what the creator wrote: the agent shares its pod's service account with the
// sidecar and may create requests itself, with a new requester name each time, so a cap counted
// only per requester is dodged by renaming (round 11, the cap's own gap). The creator cannot be
// renamed: the webhook copies it from the admission request's userInfo, which the apiserver fills
// from the credential. A projected service-account token (what a pod's containers hold) is bound
// to its pod, and the apiserver names that pod in userInfo.extra (authentication.kubernetes.io/
// pod-name and pod-uid, checked on kube-apiserver 1.34); any other credential names only a user.

/** The authenticated username of the creator. */
export const CREATED_BY_ANNOTATION = 'guarita.io/created-by';
/** `<namespace>/<pod>` of the pod whose bound service-account token created the request (absent for any other credential). */
export const CREATED_BY_POD_ANNOTATION = 'guarita.io/created-by-pod';
/** Every annotation the webhook stamps at CREATE and keeps immutable afterwards. */
export const CREATOR_ANNOTATIONS: readonly string[] = [CREATED_BY_ANNOTATION, CREATED_BY_POD_ANNOTATION];

/** userInfo.extra keys the apiserver sets for a token bound to a pod. */
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/** The part of the admission request's userInfo the stamp is made of. */
export interface Authenticated { username?: string; extra?: Record<string, readonly string[] | undefined> }

/** The stamp: annotation → value (CREATED_BY_POD_ANNOTATION only when a pod-bound token created the request). */
export type CreatorStamp = Record<string, string>;

const noSinglePod = (username: string, values: readonly string[]): string =>
  `userInfo.extra["${POD_NAME_EXTRA}"]: ${JSON.stringify(values)} for "${username}" names no single pod: cannot tell which pod creates this ApprovalRequest`;

/**
 * The pod a service-account token is bound to, as `<namespace>/<pod>` (the service account's
 * namespace: a bound token's pod is always in it). Only service-account usernames are read: any
 * other authenticator's extra is not the token controller's word.
 */
function podOf(user: Authenticated): { pod?: string; problem?: string } {
  const username = user.username ?? '';
  const values = user.extra?.[POD_NAME_EXTRA] ?? [];
  if (!username.startsWith(SERVICE_ACCOUNT_PREFIX) || values.length === 0) return {};
  const namespace = serviceAccountNamespace(username);
  // Fail closed: a pod-bound token names exactly one pod; anything else cannot be counted as one.
  if (values.length !== 1 || values[0] === '' || namespace === '') return { problem: noSinglePod(username, values) };
  return { pod: `${namespace}/${values.join('')}` };
}

/** `<ns>` of `system:serviceaccount:<ns>:<name>` ('' when there is none). */
function serviceAccountNamespace(username: string): string {
  return username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':')[0] ?? '';
}

/** What the webhook stamps for this creator, or why it cannot (the request is then refused). */
export function creatorStamp(user: Authenticated): { stamp: CreatorStamp } | { problem: string } {
  const { pod, problem } = podOf(user);
  if (problem !== undefined) return { problem };
  return { stamp: { [CREATED_BY_ANNOTATION]: user.username ?? '', ...(pod === undefined ? {} : { [CREATED_BY_POD_ANNOTATION]: pod }) } };
}

/**
 * The line the per-creator cap counts a request in: its pod when a pod-bound token created it, else
 * its creator's username; undefined for a request without a stamp (created before the webhook
 * stamped creators: counted per requester only). Values are compared exactly, as the webhook wrote them.
 */
export function creatorKey(annotations: Readonly<Record<string, string>> | undefined): string | undefined {
  const pod = annotations?.[CREATED_BY_POD_ANNOTATION];
  if (pod !== undefined && pod !== '') return `pod:${pod}`;
  const user = annotations?.[CREATED_BY_ANNOTATION];
  return user === undefined ? undefined : `user:${user}`;
}

/** How a refusal names the creator: `pod team-a/agent-7` or `user alice`. */
export function describeCreator(key: string): string {
  return key.startsWith('pod:') ? `pod ${key.slice(4)}` : `user ${key.slice(5)}`;
}
