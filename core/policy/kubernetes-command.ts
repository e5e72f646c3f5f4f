// The exact text a Kubernetes request is recorded and approved as: the kubectl-like description
// an approver reads, then the request as forwarded (method and normalized target, the body's
// content type, the body). Hashing it binds an approval to exactly that request. Secret values in
// a request body are replaced by their SHA-256: the binding stays exact, and neither approvers nor
// records see the values.
import { createHash } from 'node:crypto';
import { describeKubernetesRequest, type KubernetesAttributes } from './kubernetes-request.ts';

const MAX_BODY_TEXT = 60 * 1024;

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function hashedValues(values: unknown): unknown {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) return values;
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, `[sha256 ${sha256(typeof v === 'string' ? v : JSON.stringify(v))}]`]));
}

/** A JSON Secret body with its values hashed, or undefined when the body is not one. */
function hashedSecret(body: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const o = { ...(parsed as Record<string, unknown>) };
  if ('data' in o) o.data = hashedValues(o.data);
  if ('stringData' in o) o.stringData = hashedValues(o.stringData);
  if ('metadata' in o) o.metadata = hashedLastApplied(o.metadata);
  // The text drops what JSON.parse drops (a repeated key, which the apiserver's decoder merges):
  // the whole body's hash binds an approval to exactly these bytes.
  return `${JSON.stringify(o)}\n[body sha256 ${sha256(body)}]`;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** kubectl apply (client side) sends the whole applied Secret, values included, in this annotation. */
function hashedLastApplied(metadata: unknown): unknown {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return metadata;
  const annotations = (metadata as Record<string, unknown>).annotations;
  if (annotations === null || typeof annotations !== 'object' || Array.isArray(annotations) || !(LAST_APPLIED in annotations)) return metadata;
  const applied = (annotations as Record<string, unknown>)[LAST_APPLIED];
  const hashed = `[sha256 ${sha256(typeof applied === 'string' ? applied : JSON.stringify(applied))}]`;
  return { ...metadata, annotations: { ...annotations, [LAST_APPLIED]: hashed } };
}

// Bodies shown as text; others (protobuf, CBOR) only by size and hash.
const TEXT_BODY = /^(application\/([\w.-]+\+)?(json|yaml)|text\/)/i;

function bodyText(attrs: KubernetesAttributes | undefined, body: Buffer, contentType: string | undefined): string {
  if (attrs?.resource === 'secrets') return hashedSecret(body) ?? `[Secret request body: ${body.length} bytes, sha256 ${sha256(body)}]`;
  const text = body.toString('utf8');
  if (TEXT_BODY.test(contentType ?? '') && body.length <= MAX_BODY_TEXT && Buffer.from(text, 'utf8').equals(body)) return text;
  return `[request body: ${body.length} bytes, sha256 ${sha256(body)}]`;
}

const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

/**
 * exec, attach and portforward arrive as a WebSocket GET or a SPDY POST of the same URL, which the
 * apiserver treats alike (its connect verbs, authorized as create). kubectl retries a refused
 * WebSocket upgrade as SPDY at once, so both spellings must be one command: one ApprovalRequest,
 * and the SPDY retry of a held exec answers with the same pending request instead of a second one.
 */
function methodShown(attrs: KubernetesAttributes | undefined, method: string): string {
  const connect = attrs?.resource === 'pods' && CONNECT_SUBRESOURCES.has(attrs.subresource) && (method === 'GET' || method === 'POST');
  return connect ? 'CONNECT' : method;
}

export function kubernetesCommandText(attrs: KubernetesAttributes | undefined, request: { method: string; target: string; contentType?: string; body?: Buffer }): string {
  const lines = [attrs === undefined ? '[unreadable request]' : describeKubernetesRequest(attrs), `${methodShown(attrs, request.method)} ${request.target}`];
  if (request.body === undefined || request.body.length === 0) return lines.join('\n');
  if (request.contentType !== undefined) lines.push(`content-type: ${request.contentType}`);
  return `${lines.join('\n')}\n\n${bodyText(attrs, request.body, request.contentType)}`;
}

const KUBECTL_VERBS = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy']);

function namespaceFlag(tokens: readonly string[], i: number): { namespace: string; next: number } | undefined {
  const t = tokens[i] ?? '';
  if (t === '-A' || t === '--all-namespaces') return { namespace: '', next: i + 1 };
  if (t === '-n' || t === '--namespace') return { namespace: tokens[i + 1] ?? '', next: i + 2 };
  const eq = /^(?:-n|--namespace)=(.*)$/.exec(t);
  return eq === null ? undefined : { namespace: eq[1] ?? '', next: i + 1 };
}

const NO_RESOURCE = { apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };

/** `-n NS` and one NAME, in any order, from the words after the resource. */
function scopeWords(tokens: readonly string[]): { namespace: string; name: string } | { problem: string } {
  let namespace = '';
  let name = '';
  for (let i = 0; i < tokens.length;) {
    const ns = namespaceFlag(tokens, i);
    if (ns !== undefined) {
      namespace = ns.namespace;
      i = ns.next;
      continue;
    }
    if (name !== '') return { problem: `more than one name ("${name}", "${tokens[i] ?? ''}"); judge one request at a time` };
    name = tokens[i++] ?? '';
  }
  return { namespace, name };
}

/**
 * The attributes of a request written as `VERB RESOURCE[.GROUP][/SUBRESOURCE] [-n NS] [NAME]`
 * (kubectl's words: `delete pods orders-db-0 -n orders`, `get deployments.apps -n orders`,
 * `create pods/exec orders-db-0 -n orders`), or `get --raw /version` for a non-resource URL: what
 * `guarita policy eval --k8s` judges. The verb is the apiserver's (list, watch, deletecollection).
 */
export function kubectlAttributes(spec: string): KubernetesAttributes | { problem: string } {
  const [first = '', second = '', ...rest] = spec.trim().split(/\s+/);
  const verb = first.toLowerCase();
  if (second === '--raw') return rawAttributes(verb, rest[0] ?? '');
  if (!KUBECTL_VERBS.has(verb)) return { problem: `"${first}" is not a request verb; use one of ${[...KUBECTL_VERBS].join(', ')}` };
  const resource = resourceWord(second);
  if ('problem' in resource) return resource;
  const scope = scopeWords(rest);
  if ('problem' in scope) return scope;
  return { resourceRequest: true, verb, path: '', ...NO_RESOURCE, ...resource, ...scope };
}

function rawAttributes(verb: string, path: string): KubernetesAttributes | { problem: string } {
  if (!path.startsWith('/')) return { problem: '--raw takes a path starting with /, e.g. "get --raw /version"' };
  return { resourceRequest: false, verb, path, ...NO_RESOURCE };
}

/** RESOURCE[.GROUP][/SUBRESOURCE]. */
function resourceWord(word: string): { resource: string; apiGroup: string; subresource: string } | { problem: string } {
  const m = /^([a-z0-9-]+)(?:\.([a-z0-9.-]+))?(?:\/([a-z0-9-]+))?$/.exec(word);
  if (m === null) return { problem: `"${word}" is not RESOURCE[.GROUP][/SUBRESOURCE], e.g. pods, deployments.apps, pods/log` };
  return { resource: m[1] ?? '', apiGroup: m[2] ?? '', subresource: m[3] ?? '' };
}
