// When a Kubernetes API answer asks to have its call sent again: one rule for every apiserver
// client here (the operator's and the webhook's KubeRest, the sidecar's small client), kept apart
// from rest.ts so the sidecar shares it without loading @kubernetes/client-node.
import { retryAfterSeconds } from '../retry-after.ts';

/** client-go's limit on repeating one call the apiserver asked to have repeated. */
const MAX_RETRIES = 10;
/** A Retry-After longer than this is capped: the call's deadline is the real bound. */
const MAX_RETRY_DELAY_MS = 10_000;

/**
 * How long to wait before sending a call again, or undefined to return its answer. The apiserver
 * asks with 429 (priority and fairness, or a resource whose storage is still (re)initializing just
 * after its CRD was established), which never ran the call, so every verb is repeated; or a 5xx
 * carrying Retry-After (starting up), repeated for reads only: a 504 may come after a write ran.
 * client-go's request.go checkWait repeats both for every verb; a second create or patch here
 * would be recorded twice.
 */
export function retryDelayMs(method: string, status: number, retryAfter: string | undefined, attempt: number): number | undefined {
  if (attempt > MAX_RETRIES) return undefined;
  const seconds = retryAfterSeconds(retryAfter);
  const asked = seconds === undefined ? undefined : Math.min(seconds * 1000, MAX_RETRY_DELAY_MS);
  if (status === 429) return asked ?? 1000;
  const read = method === 'GET' || method === 'HEAD';
  return status >= 500 && read ? asked : undefined;
}
