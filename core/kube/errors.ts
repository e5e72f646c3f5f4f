// The one error type for Kubernetes API answers, and its predicates, for every component: the
// operator and the webhook (through core/kube/rest.ts) and the sidecar's lean client
// (sidecar/src/kube/client.ts). No import of @kubernetes/client-node here, so the sidecar can use
// it without loading that library into every injected pod.

/** The body of a non-2xx answer: a meta/v1 Status, or just a message when the body was not one. */
export interface KubeStatus { kind?: string; status?: string; message?: string; reason?: string; code?: number; details?: { retryAfterSeconds?: number } }

export class KubeError extends Error {
  readonly status: number;
  /** The Status reason (`NotFound`, `AlreadyExists`, `Conflict`, ...), or '' when the body was not a Status. */
  readonly reason: string;
  /** The Status as the apiserver sent it, when there was one. */
  readonly body: KubeStatus | undefined;
  constructor(status: number, reason: string, message: string, body?: KubeStatus) {
    super(message);
    this.name = 'KubeError';
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

/** The error for a non-2xx answer whose body was already parsed (or undefined), carrying the apiserver's message. */
export function kubeStatusError(status: number, method: string, path: string, body: KubeStatus | undefined): KubeError {
  const reason = body?.reason ?? '';
  const message = body?.message ?? '';
  return new KubeError(status, reason, `${method} ${path}: ${status}${reason === '' ? '' : ` ${reason}`}${message === '' ? '' : `: ${message}`}`, body);
}

/** The error for a non-2xx answer, from its body text (a Status object or anything else). */
export function kubeError(status: number, method: string, path: string, text: string): KubeError {
  let body: KubeStatus;
  try {
    const parsed = JSON.parse(text) as unknown;
    body = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : { message: text.slice(0, 500) };
  } catch {
    body = { message: text.slice(0, 500) }; // not a Status object
  }
  return kubeStatusError(status, method, path, { ...body, message: body.message ?? text.slice(0, 500) });
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeError && err.status === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeError && err.status === 409;
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeError && err.status === 409 && err.reason === 'AlreadyExists';
}
