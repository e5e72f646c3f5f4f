// Kubernetes API request attributes, derived from method and URL the way the apiserver's request
// info does (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, RequestInfoFactory), so a rule
// judges what the apiserver will authorize and serve: /api vs /apis/<group>, namespaces/<ns>/
// <resource>/<name>/<subresource>, the legacy /watch/ and /proxy/ verb prefixes, GET without a
// name as list (watch with ?watch=true), DELETE without a name as deletecollection, a list narrowed
// by fieldSelector=metadata.name=<n> as naming <n>. Forms whose reading depends on the parser
// (encoded slashes, dot segments, empty segments, repeated or malformed watch/fieldSelector
// parameters) are refused rather than guessed; the sidecar forwards the normalized target only.
// Boolean parameters (watch, follow, ...) are read as the apiserver's codec reads them, and refused
// when spelled so that readers disagree (kubernetes-booleans.ts).
import { normalizePath } from './http.ts';
import { booleanParameter, booleanParametersProblem } from './kubernetes-booleans.ts';
import { labelSelectorProblem } from './kubernetes-selectors.ts';

export interface KubernetesAttributes {
  /** false: a non-resource URL (/version, /api, /apis/apps/v1, /openapi/v3, /healthz). */
  resourceRequest: boolean;
  /** Resource requests: get, list, watch, create, update, patch, delete, deletecollection, proxy. Non-resource: the lower-cased method. */
  verb: string;
  /** The decoded path as judged ("/api/v1/namespaces/x/pods"), without the query. */
  path: string;
  /** "" for the core group (/api). */
  apiGroup: string;
  apiVersion: string;
  /** "" for cluster-scoped resources and for requests across all namespaces. */
  namespace: string;
  resource: string;
  subresource: string;
  /** "" when the request names no object (list, watch, create, deletecollection). */
  name: string;
}

export type KubernetesRequestReading =
  | { ok: true; attributes: KubernetesAttributes; /** The target to forward: the checked path and canonical query. */ target: string }
  | { ok: false; problem: string };

const API_PREFIXES = new Set(['api', 'apis']);
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
// namespaces/<ns>/status and namespaces/<ns>/finalize are subresources of the namespace itself.
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
// exec, attach and port-forward over WebSocket are GET requests, which the apiserver (1.31+,
// AuthorizePodWebsocketUpgradeCreatePermission) authorizes as create, like the SPDY POST: so are they
// judged here, and a rule on create pods/exec cannot be passed by the WebSocket form.
const CREATE_ON_GET = new Set(['exec', 'attach', 'portforward']);
const METHOD_VERBS: Readonly<Record<string, string>> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
// A DNS subdomain-ish object name as path.IsValidPathSegmentName accepts it (no / or %, not . or ..).
const PATH_SEGMENT_NAME = /^(?!\.{1,2}$)[^/%]+$/;

function nonResource(verb: string, path: string): KubernetesAttributes {
  return { resourceRequest: false, verb, path, apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };
}

/** The single value of a parameter the verb or name depends on; repeated values are refused (parsers disagree on which counts). */
function single(query: URLSearchParams, key: string): string | undefined | { problem: string } {
  const values = query.getAll(key);
  if (values.length > 1) return { problem: `the query repeats ${key}, which parsers read differently (first or last); send it once` };
  return values[0];
}


/** The name one field-selector term pins (metadata.name=<n> or ==), or undefined. */
function pinnedName(term: string): string | undefined {
  const m = /^\s*([^!=\s]+)\s*(==|=)\s*(.*?)\s*$/.exec(term);
  return m?.[1] === 'metadata.name' ? m[3] ?? '' : undefined;
}

/**
 * The name a field selector pins (as fields.Selector.RequiresExactMatch); undefined when it pins
 * none. Escaped selectors (\, \= \\) are refused: their reading is subtle.
 */
function selectedName(query: URLSearchParams): string | undefined | { problem: string } {
  const value = single(query, 'fieldSelector');
  if (value === undefined || typeof value !== 'string') return value;
  if (value.includes('\\')) return { problem: 'fieldSelector with backslash escapes is not accepted; select without escaped characters' };
  const names = [...new Set(value.split(',').map(pinnedName).filter((n): n is string => n !== undefined))];
  if (names.length > 1) return { problem: 'fieldSelector names metadata.name twice with different values' };
  const name = names[0];
  return name !== undefined && PATH_SEGMENT_NAME.test(name) ? name : undefined;
}

/** Verb and name of a request without a name in its path (the apiserver's list/watch/deletecollection rules). */
function collectionVerb(verb: string, query: URLSearchParams): { verb: string; name: string } | { problem: string } {
  if (verb !== 'get' && verb !== 'delete') return { verb, name: '' };
  if (verb === 'delete') return { verb: 'deletecollection', name: '' };
  const watch = booleanParameter(query, 'watch');
  if (typeof watch !== 'boolean') return watch;
  const name = selectedName(query);
  if (name !== undefined && typeof name !== 'string') return name;
  return { verb: watch ? 'watch' : 'list', name: name ?? '' };
}

/** /api/<version>/... or /apis/<group>/<version>/...: group, version and the parts after them; undefined for non-resource paths. */
function apiPrefix(segments: readonly string[]): { apiGroup: string; apiVersion: string; parts: string[] } | undefined {
  if (segments.length < 3 || !API_PREFIXES.has(segments[0] ?? '')) return undefined;
  if (segments[0] === 'api') return { apiGroup: '', apiVersion: segments[1] ?? '', parts: segments.slice(2) };
  if (segments.length < 4) return undefined;
  return { apiGroup: segments[1] ?? '', apiVersion: segments[2] ?? '', parts: segments.slice(3) };
}

/** The verb from a /watch/ or /proxy/ prefix, else from the method. */
function verbOf(method: string, parts: string[], path: string): { verb: string; parts: string[] } | { problem: string } {
  const first = parts[0] ?? '';
  if (SPECIAL_VERBS.has(first)) {
    if (parts.length < 2) return { problem: `the path ${path} names the ${first} verb but no resource` };
    return { verb: first, parts: parts.slice(1) };
  }
  const verb = METHOD_VERBS[method];
  if (verb === undefined) return { problem: `the method ${method} has no Kubernetes verb (use GET, HEAD, POST, PUT, PATCH or DELETE)` };
  return { verb, parts };
}

/** namespaces/<ns>/<resource>...: the namespace and the parts from the resource on. */
function namespaceOf(parts: string[]): { namespace: string; parts: string[] } {
  if (parts[0] !== 'namespaces' || parts.length < 2) return { namespace: '', parts };
  const namespace = parts[1] ?? '';
  // namespaces/<ns>/status and /finalize are the namespace's own subresources.
  return { namespace, parts: parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? '') ? parts.slice(2) : parts };
}

/** The verb of a request naming an object: a WebSocket stream (GET) is authorized as create. */
function namedVerb(verb: string, subresource: string): string | { problem: string } {
  if (!CREATE_ON_GET.has(subresource)) return verb;
  if (verb === 'get' || verb === 'create') return 'create';
  // The apiserver connects these on GET and POST only (their ConnectMethods), and the sidecar opens
  // them upstream as a GET: a PUT, PATCH or DELETE read as its own verb would be judged as
  // something other than what runs.
  return { problem: `pods/${subresource} is reached with GET (a WebSocket upgrade) or POST (SPDY), which the apiserver runs as create; the method of this request (verb ${verb}) is not a form of it` };
}

/**
 * The object a proxy request reaches: pods/<name>/proxy, services/<name>/proxy and nodes/<name>/proxy
 * take `[scheme:]name[:port]` (net.SplitSchemeNamePort), so `https:orders-db-0:8443` is the pod
 * orders-db-0. Judged by that object's name, so a rule naming orders-db-0 reaches every port and
 * scheme of it; forms the apiserver would not split the same way are refused.
 */
function proxiedName(id: string): string | { problem: string } {
  const parts = id.split(':');
  const [scheme, name] = parts.length === 3 ? [parts[0] ?? '', parts[1] ?? ''] : ['', parts[0] ?? ''];
  if (parts.length > 3 || name === '' || !['', 'http', 'https'].includes(scheme)) {
    return { problem: `the proxy target "${id}" is not [scheme:]name[:port] with scheme http or https` };
  }
  return name;
}

/** The name segment as judged: a proxy target's object name, else the segment itself. */
function objectName(segment: string, proxied: boolean): string | { problem: string } {
  return proxied && segment !== '' ? proxiedName(segment) : segment;
}

/** The verb and the object name of a request: named in the path (a proxy target's object), or a collection's. */
function verbAndName(verb: string, subresource: string, segment: string, query: URLSearchParams): { verb: string; name: string } | { problem: string } {
  const named = objectName(segment, subresource === 'proxy' || verb === 'proxy');
  if (typeof named !== 'string') return named;
  if (named === '') return collectionVerb(verb, query);
  const judged = namedVerb(verb, subresource);
  return typeof judged === 'string' ? { verb: judged, name: named } : judged;
}

/** Attributes of a resource request, or undefined when the path is a non-resource URL. */
function resourceAttributes(method: string, segments: readonly string[], query: URLSearchParams, path: string): KubernetesAttributes | { problem: string } | undefined {
  const api = apiPrefix(segments);
  if (api === undefined) return undefined;
  const verbed = verbOf(method, api.parts, path);
  if ('problem' in verbed) return verbed;
  const { namespace, parts } = namespaceOf(verbed.parts);
  // resource/name/subresource/...; proxy takes the rest of the path as its own.
  const subresource = parts.length >= 3 && verbed.verb !== 'proxy' ? parts[2] ?? '' : '';
  const collection = verbAndName(verbed.verb, subresource, parts[1] ?? '', query);
  if ('problem' in collection) return collection;
  return { resourceRequest: true, verb: collection.verb, path, apiGroup: api.apiGroup, apiVersion: api.apiVersion, namespace, resource: parts[0] ?? '', subresource, name: collection.name };
}

/**
 * Reads a request as the apiserver will: method (as sent, e.g. GET) and request target (path and
 * query). Never throws; a target it cannot read unambiguously is a problem naming why.
 */
export function kubernetesRequestInfo(method: string, target: string): KubernetesRequestReading {
  const norm = normalizePath(target);
  if (!norm.ok) return { ok: false, problem: norm.problem };
  const upper = method.toUpperCase();
  const path = `/${norm.segments.join('/')}`;
  const query = new URLSearchParams(norm.query);
  const labels = labelSelectorProblem(query) ?? booleanParametersProblem(query);
  if (labels !== undefined) return { ok: false, problem: labels };
  const attrs = resourceAttributes(upper, norm.segments, query, path);
  if (attrs !== undefined && 'problem' in attrs) return { ok: false, problem: attrs.problem };
  return { ok: true, attributes: attrs ?? nonResource(upper.toLowerCase(), path), target: norm.target };
}

// Subresources that reach beyond the API object: proxy (pods, services, nodes: any HTTP backend,
// and the kubelet's run, exec and containerLogs for every pod of a node), running code in a pod
// (exec, attach, portforward, ephemeralcontainers) and minting a credential (serviceaccounts/token,
// a token the agent could use without the sidecar). An allow rule must name them; wildcards do not
// reach them (see kubernetes-match.ts).
const REACHING: ReadonlySet<string> = new Set(['pods/exec', 'pods/attach', 'pods/portforward', 'pods/ephemeralcontainers', 'serviceaccounts/token']);

/**
 * Whether the answer to this (readable) request lasts as long as the agent keeps it open: a watch,
 * or a followed log (pods/log with follow read as the apiserver reads it). `target` is the one
 * kubernetesRequestInfo returned, whose boolean parameters it already found readable.
 */
export function streamsAnswer(a: KubernetesAttributes, target: string): boolean {
  if (a.verb === 'watch') return true;
  if (!a.resourceRequest || a.subresource !== 'log') return false;
  const at = target.indexOf('?');
  return at >= 0 && booleanParameter(new URLSearchParams(target.slice(at + 1)), 'follow') !== false;
}

/** `pods/proxy`, `serviceaccounts/token`, `proxy` (the legacy verb): what an allow rule must name explicitly; undefined for other requests. */
export function reachingRequest(a: KubernetesAttributes): string | undefined {
  if (!a.resourceRequest) return undefined;
  if (a.verb === 'proxy') return 'proxy';
  const combined = `${a.resource}/${a.subresource}`;
  return a.subresource === 'proxy' || REACHING.has(combined) ? combined : undefined;
}

/** `pods`, `pods/log`, `deployments.apps/scale`: the resource as kubectl and RBAC write it. */
export function resourceLabel(a: Pick<KubernetesAttributes, 'apiGroup' | 'resource' | 'subresource'>): string {
  const group = a.apiGroup === '' ? '' : `.${a.apiGroup}`;
  return `${a.resource}${group}${a.subresource === '' ? '' : `/${a.subresource}`}`;
}

/**
 * The kubectl-like line an approver and an auditor read: `kubectl get pods orders-db-0 -n orders`,
 * `kubectl get --raw /version`. Not a command kubectl necessarily accepts: it states the attributes.
 */
export function describeKubernetesRequest(a: KubernetesAttributes): string {
  if (!a.resourceRequest) return `kubectl ${a.verb === 'get' ? 'get' : a.verb} --raw ${a.path}`;
  const name = a.name === '' ? '' : ` ${a.name}`;
  const ns = a.namespace === '' ? '' : ` -n ${a.namespace}`;
  return `kubectl ${a.verb} ${resourceLabel(a)}${name}${ns}`;
}
