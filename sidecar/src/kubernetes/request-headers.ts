// What of an agent's request reaches the apiserver, and what is refused. Only an allowlist of
// headers is forwarded; the agent's own identity token is verified by the sidecar and replaced by
// the target credential. Impersonate-* headers and any credential other than a bearer token are
// refused, never forwarded: they would make the apiserver act for someone the policy did not
// judge. Accept is rewritten to JSON (protobuf and CBOR responses cannot be masked) and
// Accept-Encoding to identity (the sidecar masks what it reads). Request bodies go upstream in
// any encoding kubectl picks (it sends protobuf for built-in types): rules judge the URL's
// attributes, approvals bind the exact bytes by hash, and records show a hash, not the body.
import type { IncomingHttpHeaders } from 'node:http';

const FORWARDED = ['content-type', 'user-agent', 'kubectl-command', 'kubectl-session', 'accept-language'] as const;

export interface HeaderProblem { code: number; message: string }

/** The refusal of headers that would act as someone else upstream, or undefined. */
export function headerProblem(headers: IncomingHttpHeaders): HeaderProblem | undefined {
  const impersonation = Object.keys(headers).find((h) => h.startsWith('impersonate-'));
  if (impersonation !== undefined) {
    return { code: 403, message: `guarita: the ${impersonation} header is refused: impersonation would make the apiserver act for someone the policy did not judge; remove --as/--as-group/--as-uid (your identity is your own token)` };
  }
  const auth = headers.authorization;
  if (auth !== undefined && !/^Bearer\s+\S+\s*$/i.test(auth)) {
    return { code: 401, message: 'guarita: only Authorization: Bearer <your OIDC or service-account token> is accepted (basic auth and other schemes are refused); the KUBECONFIG the injector wrote sends it' };
  }
  return undefined;
}

export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1];
}

/**
 * The Accept header upstream: the JSON entries of the agent's list (keeping as=Table parameters,
 * which kubectl get relies on), or application/json. Protobuf, CBOR, YAML and wildcards are dropped.
 */
export function jsonAccept(accept: string | undefined): string {
  const entries = (accept ?? '').split(',').map((e) => e.trim()).filter((e) => /^application\/json(\s*;|$)/i.test(e));
  return entries.length > 0 ? [...entries.filter((e) => e.includes(';')), 'application/json'].filter((e, i, a) => a.indexOf(e) === i).join(', ') : 'application/json';
}

/** The headers forwarded to the apiserver (besides Authorization, Host and Content-Length, which the sidecar sets). */
export function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED) {
    const v = headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  out.accept = jsonAccept(typeof headers.accept === 'string' ? headers.accept : undefined);
  out['accept-encoding'] = 'identity';
  return out;
}
