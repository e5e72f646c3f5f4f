// The one reading of an HTTP Retry-After header every client here shares (the operator's and the
// webhook's apiserver client, the CLI's operator client): RFC 9110 §10.2.3 delta-seconds, the form
// the apiserver and the operator send. An HTTP-date or anything else is not a number of seconds,
// and each caller picks its own default for it.

/** Whole seconds from a Retry-After value (surrounding spaces allowed), or undefined when it is absent or not delta-seconds. */
export function retryAfterSeconds(value: string | undefined): number | undefined {
  const text = value?.trim();
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}
