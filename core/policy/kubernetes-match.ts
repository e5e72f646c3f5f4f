// match.kubernetes: RBAC-shaped rules over the attributes core/policy/kubernetes-request.ts derives.
// As RBAC: verbs, apiGroups ("" = core), resources ("pods", "pods/log", "*/scale", "*"; a resource
// alone does not cover its subresources; "pods/*" also covers every subresource of pods), names,
// nonResourceURLs (exact, or a prefix ending in *). Beyond RBAC, which only allows: namespaces, and
// the restrictive reading of deny and requireApproval rules, which also match requests that reach
// the named objects or namespaces without naming them (a list across all namespaces, a list of a
// collection), so no request escapes a deny by being broader than it.
import { wildcardMatch, type MatchMode } from './glob.ts';
import { reachingRequest, type KubernetesAttributes } from './kubernetes-request.ts';
import type { PolicyRule } from '../../crds/types.ts';

type KubernetesMatch = NonNullable<NonNullable<PolicyRule['match']>['kubernetes']>;

export interface CompiledKubernetesMatch {
  matches(req: KubernetesAttributes, mode: MatchMode): boolean;
}

function anyOf(list: readonly string[] | undefined, value: string): boolean {
  return list === undefined || list.includes('*') || list.includes(value);
}

/** RBAC's ResourceMatches, plus resource/* for every subresource of one resource. */
export function resourceMatches(entries: readonly string[], resource: string, subresource: string): boolean {
  const combined = subresource === '' ? resource : `${resource}/${subresource}`;
  return entries.some((e) => e === '*' || e === combined
    || (subresource !== '' && (e === `*/${subresource}` || e === `${resource}/*`)));
}

/** RBAC's NonResourceURLMatches: exact, or a prefix when the entry ends in *. */
export function nonResourceUrlMatches(entries: readonly string[], path: string): boolean {
  return entries.some((e) => e === '*' || e === path || (e.endsWith('*') && path.startsWith(e.slice(0, -1))));
}

/** Names and namespaces: a `*` glob (neither may contain *), or for restrictive rules a request that names none. */
function scopeMatches(globs: readonly string[] | undefined, value: string, mode: MatchMode): boolean {
  if (globs === undefined) return true;
  if (value === '') return mode === 'restrictive';
  return globs.some((g) => wildcardMatch(g, value));
}

/**
 * Whether an allow rule names a request that reaches beyond the API object (reachingRequest):
 * `pods/exec` or `*\/exec` in resources (not `*` nor `pods/*`), the verb `proxy` in verbs (not `*`).
 */
function namesReaching(m: KubernetesMatch, reaching: string): boolean {
  if (reaching === 'proxy') return m.verbs?.includes('proxy') === true;
  const sub = reaching.slice(reaching.indexOf('/'));
  return m.resources?.some((e) => e === reaching || e === `*${sub}`) === true;
}

/** The resource fields of a rule against a resource request. */
function resourceFieldsMatch(m: KubernetesMatch, req: KubernetesAttributes, mode: MatchMode): boolean {
  // Resource names in URLs are case-sensitive for the apiserver; a restrictive rule still folds
  // case, so a mis-cased request is judged (and refused upstream) rather than waved through.
  const fold = mode === 'restrictive' ? (s: string): string => s.toLowerCase() : (s: string): string => s;
  if (m.apiGroups !== undefined && !anyOf(m.apiGroups.map(fold), fold(req.apiGroup))) return false;
  if (m.resources !== undefined && !resourceMatches(m.resources.map(fold), fold(req.resource), fold(req.subresource))) return false;
  return scopeMatches(m.namespaces, req.namespace, mode) && scopeMatches(m.names, req.name, mode);
}

export function compileKubernetesMatch(m: KubernetesMatch): CompiledKubernetesMatch {
  const verbs = m.verbs === undefined ? undefined : [...m.verbs] as string[];
  const resourceFields = m.apiGroups !== undefined || m.resources !== undefined || m.namespaces !== undefined || m.names !== undefined;
  return {
    matches(req, mode): boolean {
      if (!anyOf(verbs, req.verb)) return false;
      if (!req.resourceRequest) return !resourceFields && (m.nonResourceURLs === undefined || nonResourceUrlMatches(m.nonResourceURLs, req.path));
      if (m.nonResourceURLs !== undefined || !resourceFieldsMatch(m, req, mode)) return false;
      const reaching = reachingRequest(req);
      return mode === 'restrictive' || reaching === undefined || namesReaching(m, reaching);
    },
  };
}
