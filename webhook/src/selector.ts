// Kubernetes label selectors: does a pod match, and can two selectors ever match the same pod.
import type { LabelSelector, LabelSelectorRequirement } from './kube-types.ts';

function requirements(selector: LabelSelector): LabelSelectorRequirement[] {
  const fromLabels = Object.entries(selector.matchLabels ?? {}).map(([key, value]): LabelSelectorRequirement => ({ key, operator: 'In', values: [value] }));
  return [...fromLabels, ...(selector.matchExpressions ?? [])];
}

function requirementMatches(req: LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const value = Object.hasOwn(labels, req.key) ? labels[req.key] : undefined;
  const listed = value !== undefined && (req.values ?? []).includes(value);
  switch (req.operator) {
    case 'In': return listed;
    case 'NotIn': return !listed;
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
  }
}

/** Label-selector semantics: every requirement holds; an empty selector matches everything. */
export function matchesSelector(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return requirements(selector).every((r) => requirementMatches(r, l));
}

interface KeyConstraint { mustExist: boolean; mustNotExist: boolean; allowed: Set<string> | undefined; excluded: Set<string> }

function constrain(c: KeyConstraint, req: LabelSelectorRequirement): void {
  const values = req.values ?? [];
  if (req.operator === 'Exists') c.mustExist = true;
  else if (req.operator === 'DoesNotExist') c.mustNotExist = true;
  else if (req.operator === 'NotIn') values.forEach((v) => c.excluded.add(v));
  else {
    c.mustExist = true;
    c.allowed = new Set(c.allowed === undefined ? values : values.filter((v) => c.allowed?.has(v)));
  }
}

function satisfiable(c: KeyConstraint): boolean {
  if (c.mustExist && c.mustNotExist) return false;
  if (c.allowed === undefined) return true;
  return [...c.allowed].some((v) => !c.excluded.has(v));
}

/**
 * False only when no label set can satisfy both selectors (some key is constrained in
 * contradictory ways, e.g. app=a vs app=b). True means "they may select the same pod".
 */
export function selectorsMayOverlap(a: LabelSelector, b: LabelSelector): boolean {
  const byKey = new Map<string, KeyConstraint>();
  for (const req of [...requirements(a), ...requirements(b)]) {
    let c = byKey.get(req.key);
    if (c === undefined) byKey.set(req.key, (c = { mustExist: false, mustNotExist: false, allowed: undefined, excluded: new Set() }));
    constrain(c, req);
  }
  return [...byKey.values()].every(satisfiable);
}
