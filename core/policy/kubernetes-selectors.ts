// Label and field selectors compare values the apiserver holds whole while the proxy masks them in
// every answer: which objects come back tells the agent whether a value matched. `cpf>N` read a
// masked CPF back by binary search in 37 lists, and `cpf in (a,b,...)` confirmed thousands of
// guesses per list (round 9 review). The ordering operators are refused outright (label keys and
// values cannot hold `<` or `>`, so either one is an operator); the values of the other terms are
// handed to the caller, which refuses a selector whose values the answers would mask.
// Grammar: k8s.io/apimachinery/pkg/labels/selector.go (Parse) and fields/selector.go.

/** One compared key and the values it is compared with (none for `key` and `!key`). */
export interface SelectorTerm {
  key: string;
  values: string[];
}

/** Terms of a selector split at top-level commas (a set's `(a,b)` stays whole). */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

const SET_TERM = /^(\S+)\s+(?:in|notin)\s*\((.*)\)$/;
const COMPARED_TERM = /^([^!=\s]+)\s*(?:==|!=|=)\s*(.*)$/;

/** A label selector's terms, or the problem that refuses it (the ordering operators). */
export function labelSelectorTerms(selector: string): SelectorTerm[] | { problem: string } {
  if (/[<>]/.test(selector)) {
    return { problem: 'labelSelector with < or > (numeric comparisons) is not accepted: the answers mask label values, and comparisons read them back one bit per request; select with =, !=, in or notin' };
  }
  return splitTerms(selector).map((term) => {
    const set = SET_TERM.exec(term);
    if (set !== null) return { key: set[1] ?? '', values: (set[2] ?? '').split(',').map((v) => v.trim()) };
    const compared = COMPARED_TERM.exec(term);
    if (compared !== null) return { key: compared[1] ?? '', values: [(compared[2] ?? '').trim()] };
    // `key` and `!key` test existence only; anything else is judged whole as a value.
    return /^!?[^\s!=()]+$/.test(term) ? { key: term.replace(/^!/, ''), values: [] } : { key: '', values: [term] };
  });
}

/** A field selector's terms (`metadata.name=x`, `spec.nodeName!=y`); its key is the field's last segment. */
export function fieldSelectorTerms(selector: string): SelectorTerm[] {
  return selector.split(',').map((t) => t.trim()).filter((t) => t !== '').map((term) => {
    const compared = COMPARED_TERM.exec(term);
    if (compared === null) return { key: '', values: [term] };
    const field = compared[1] ?? '';
    return { key: field.slice(field.lastIndexOf('.') + 1), values: [(compared[2] ?? '').trim()] };
  });
}

/**
 * The key of the first selector term with a value `masks` would change (the caller's masking of
 * answers: by the key as a field name, and as text), or "a selector value" for a term without one;
 * undefined when none would. The value itself is never returned: it is what the answers mask.
 */
export function maskedSelectorKey(query: URLSearchParams, masks: (key: string, value: string) => boolean): string | undefined {
  const terms: SelectorTerm[] = [];
  for (const label of query.getAll('labelSelector')) {
    const read = labelSelectorTerms(label);
    if (!('problem' in read)) terms.push(...read);
  }
  for (const field of query.getAll('fieldSelector')) terms.push(...fieldSelectorTerms(field));
  const term = terms.find((t) => t.values.some((v) => v !== '' && masks(t.key, v)));
  if (term === undefined) return undefined;
  return term.key === '' ? 'a selector value' : `the value of ${term.key}`;
}

/** Why the request's label selectors are refused before they are judged (comparing by order), if they are. Every value is read: the apiserver reads the first of repeated ones. */
export function labelSelectorProblem(query: URLSearchParams): string | undefined {
  for (const value of query.getAll('labelSelector')) {
    const read = labelSelectorTerms(value);
    if ('problem' in read) return read.problem;
  }
  return undefined;
}
