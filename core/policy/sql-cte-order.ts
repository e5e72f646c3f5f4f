// The order in which PostgreSQL analyses the items of a WITH RECURSIVE list. With RECURSIVE, every
// name of the list is visible to every item of it, forward references included (parse_cte.c:
// makeDependencyGraph, then a topological sort), so an item may read one written after it:
//
//   WITH RECURSIVE a AS (SELECT md5(x) FROM b), b AS (SELECT cpf AS x FROM customers) SELECT * FROM a
//
// The guard analysed the items in the order written and read `b` in `a` as the catalog relation of
// that name (round 16e: md5 of every CPF allowed). It now analyses them in PostgreSQL's order.
import { arr, isObj, obj, str, type Json } from './parse-tree.ts';

/** Items of a WITH RECURSIVE list that read one another: PostgreSQL refuses them too ("mutual recursion between WITH items is not implemented"). */
export class CteCycle extends Error {
  readonly names: readonly string[];
  constructor(names: readonly string[]) {
    super(`WITH RECURSIVE items ${names.join(', ')} read one another`);
    this.names = names;
    this.name = 'CteCycle';
  }
}

/**
 * The indexes of `ctes` (CommonTableExpr nodes of one WITH RECURSIVE list) in an order where every
 * item comes after the items it reads (an item reading itself is its own recursion, not an order):
 * as written when nothing reads forward.
 * `charge` is called once per parse-tree node walked (the guard's work budget).
 */
export function recursiveCteOrder(ctes: readonly Json[], charge: (steps: number) => void): number[] {
  const names = ctes.map((c) => str(c.ctename) ?? '');
  const index = new Map<string, number>();
  names.forEach((n, i) => { if (!index.has(n)) index.set(n, i); });
  const reads = ctes.map((c, i) => {
    const found = new Set<number>();
    referencedNames(c.ctequery, {
      found: (name) => {
        const j = index.get(name);
        if (j !== undefined && j !== i) found.add(j);
      },
      charge,
      hidden: new Hidden(),
    });
    return found;
  });
  // Kahn's sort; items free to go leave in the order written.
  const readers = ctes.map((): number[] => []);
  const waiting = reads.map((r, i) => {
    for (const j of r) readers[j]?.push(i);
    return r.size;
  });
  const order = waiting.flatMap((w, i) => (w === 0 ? [i] : []));
  for (let k = 0; k < order.length; k++) {
    charge(1);
    for (const r of readers[order[k] ?? 0] ?? []) {
      const left = (waiting[r] ?? 0) - 1;
      waiting[r] = left;
      if (left === 0) order.push(r);
    }
  }
  if (order.length < ctes.length) {
    const placed = new Set(order);
    throw new CteCycle(names.filter((_, i) => !placed.has(i)));
  }
  return order;
}

/**
 * The names inner WITHs hide at the point of the walk, counted (a name may be hidden by several
 * levels): entered and left as the walk enters and leaves each WITH, never copied (a copy per item
 * cost n² for an inner WITH of n items, 15,000 items took 40 s; round 16f).
 */
class Hidden {
  readonly #counts = new Map<string, number>();
  has(name: string): boolean {
    return (this.#counts.get(name) ?? 0) > 0;
  }
  add(name: string): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + 1);
  }
  remove(names: readonly string[]): void {
    for (const n of names) this.#counts.set(n, (this.#counts.get(n) ?? 1) - 1);
  }
}

/** What the walk of one item reports to: each name read, and each node walked (the work budget). */
interface Walk { found: (name: string) => void; charge: (steps: number) => void; hidden: Hidden }

/**
 * Calls `walk.found` with each unqualified relation name read in `node` that no WITH inside it
 * defines at that point (an inner WITH's names hide the outer list's, as PostgreSQL resolves them:
 * a RECURSIVE inner list hides all its names from its items, a plain one only the items before each).
 */
function referencedNames(node: unknown, walk: Walk): void {
  if (Array.isArray(node)) {
    for (const v of node) referencedNames(v, walk);
    return;
  }
  if (!isObj(node)) return;
  walk.charge(1);
  const range = obj(node.RangeVar);
  if (range !== undefined) {
    const name = unqualifiedName(range);
    if (!walk.hidden.has(name)) walk.found(name);
    return;
  }
  const withClause = obj(node.withClause);
  if (withClause === undefined) {
    for (const v of Object.values(node)) referencedNames(v, walk);
    return;
  }
  const innerNames = innerWith(withClause, walk);
  for (const [k, v] of Object.entries(node)) if (k !== 'withClause') referencedNames(v, walk);
  walk.hidden.remove(innerNames);
}

/** A relation's name when it is named without schema (only those can be CTEs); '' otherwise (no CTE is so named). */
function unqualifiedName(range: Json): string {
  return range.schemaname === undefined && range.catalogname === undefined ? str(range.relname) ?? '' : '';
}

/** Walks an inner WITH's items, each with the names it hides; returns its names, left hidden for the query it belongs to. */
function innerWith(withClause: Json, walk: Walk): string[] {
  const inner = arr(withClause.ctes).map((c) => obj(obj(c)?.CommonTableExpr) ?? {});
  const innerNames = inner.map((c) => str(c.ctename) ?? '');
  const recursive = withClause.recursive === true;
  if (recursive) for (const n of innerNames) walk.hidden.add(n);
  inner.forEach((c, i) => {
    referencedNames(c.ctequery, walk);
    if (!recursive) walk.hidden.add(innerNames[i] ?? '');
  });
  return innerNames;
}
