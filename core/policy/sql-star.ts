// What `*` over a FROM list expands to, in PostgreSQL's column order, for the sensitive-column
// guard (sql-columns.ts), which maps column aliases (`AS s(a, b, c)`) and positions (`ORDER BY 7`)
// onto it. A join USING (k) or a NATURAL JOIN returns its join columns once, first, then the left
// side's other columns, then the right side's (transformFromClauseItem): listing both sides in full
// put every later column a position off, so `SELECT md5(s.g) FROM (SELECT * FROM orders JOIN
// customers USING (id)) AS s(a, b, c, d, e, f, g)` read g as nome where PostgreSQL gives it cpf.
//
// Built one join at a time in work proportional to the columns a join adds (a chain of thousands of
// joins must stay linear): columns are kept with an order key (a group, then a sequence number);
// each join's merged columns form a new group placed before every earlier one, and the order is
// sorted out only when `*` is expanded.

/** A column: its name, and whether PostgreSQL versions may name it otherwise (an expression without AS). */
export interface Named { readonly name: string; readonly unsureName?: true }

interface Entry<C> { readonly col: C; readonly group: number; readonly seq: number; removed: boolean }

const byPlace = <C>(a: Entry<C>, b: Entry<C>): number => a.group - b.group || a.seq - b.seq;

/** Columns by name; null for a name there twice. */
function byUniqueName<C extends Named>(cols: readonly C[]): Map<string, C | null> {
  const m = new Map<string, C | null>();
  for (const c of cols) m.set(c.name, m.has(c.name) ? null : c);
  return m;
}

export class StarLayout<C extends Named> {
  private readonly entries: Entry<C>[] = [];
  /** Column name (as folded by the parser, compared exactly) → its entry; null once the name appears twice. */
  private readonly byName = new Map<string, Entry<C> | null>();
  /** The group of the latest join's merged columns; earlier groups sort after it. */
  private front = 0;
  private seq = 0;
  /** Columns not merged away. */
  private visible = 0;
  /** Of them, those whose name a version may give otherwise: NATURAL JOIN cannot be placed over them. */
  private unsure = 0;
  /** cols() as last computed; dropped at every change. */
  private ordered: C[] | undefined;
  /** While not `known`: how many leading columns still stand in a known place. */
  private knownPrefix = 0;
  /** Every column is listed, in its place: false once a part's columns are not all known, or a join column was not found. */
  known: boolean;

  constructor(cols: readonly C[], known: boolean) {
    this.known = known;
    for (const c of cols) this.add(c, 0);
  }

  /** Columns kept (merged-away ones included): the work an expansion or a join of this layout costs. */
  get size(): number {
    return this.entries.length;
  }

  /** How many leading columns stand in a known place (FROM customers, generate_series(...) g: customers' columns). */
  get prefix(): number {
    return this.known ? this.visible : this.knownPrefix;
  }

  /** A plain join or the next FROM item: `other`'s columns after these. */
  append(other: StarLayout<C>): void {
    const before = this.prefix;
    const wasKnown = this.known;
    for (const c of other.cols()) this.add(c, 0);
    if (wasKnown && !other.known) this.knownPrefix = before + other.prefix;
    this.known &&= other.known;
  }

  /**
   * JOIN ... USING (names), or NATURAL JOIN (`names` undefined: the names both sides have, in this
   * side's order). One column per name, made by `merge` from the two it replaces, comes first; then
   * these columns and `other`'s, without the merged ones. A name missing on a side, or there twice
   * (PostgreSQL refuses such a join), leaves the order unknown. Returns the merged columns (what
   * `USING (k) AS j` names j).
   */
  join(other: StarLayout<C>, names: readonly string[] | undefined, merge: (left: C, right: C) => C): C[] {
    this.ordered = undefined;
    // NATURAL JOIN over a name PostgreSQL may spell otherwise may join on columns the guard does not pair.
    const unsureNatural = names === undefined && (this.unsure > 0 || other.unsure > 0);
    const right = other.cols();
    const rightByName = byUniqueName(right);
    const { taken, merged } = this.mergeAll(names ?? this.commonNames(rightByName), rightByName, merge);
    for (const c of right) if (!taken.has(c)) this.add(c, 0);
    // NATURAL JOIN over a side whose columns are not all known may join on columns nobody listed,
    // and an unplaced join column shifts every column: no position is known then.
    if (!this.known || !other.known || unsureNatural) {
      this.known = false;
      this.knownPrefix = 0;
    }
    return merged;
  }

  /** This join's merged columns, one group placed before every earlier one; a name not merged leaves the order unknown. */
  private mergeAll(joined: readonly string[], rightByName: ReadonlyMap<string, C | null>, merge: (left: C, right: C) => C): { taken: Set<C>; merged: C[] } {
    const group = --this.front;
    const taken = new Set<C>();
    const merged: C[] = [];
    for (const name of joined) {
      const m = this.mergeOne(name, rightByName.get(name), group, merge);
      if (m === undefined) {
        this.known = false;
        continue;
      }
      taken.add(m.right);
      merged.push(m.merged);
    }
    return { taken, merged };
  }

  /**
   * Replaces this side's column `name` and the right side's `r` with their merged column in `group`;
   * undefined when either side does not have the name once.
   */
  private mergeOne(name: string, r: C | null | undefined, group: number, merge: (left: C, right: C) => C): { right: C; merged: C } | undefined {
    const left = this.byName.get(name);
    if (left === undefined || left === null || r === undefined || r === null) return undefined;
    left.removed = true;
    if (left.col.unsureName === true) this.unsure--;
    const merged: Entry<C> = { col: merge(left.col, r), group, seq: this.seq++, removed: false };
    this.entries.push(merged);
    this.byName.set(name, merged);
    return { right: r, merged: merged.col };
  }

  /** The columns in PostgreSQL's order (the array is shared: do not change it). */
  cols(): C[] {
    this.ordered ??= this.entries.filter((e) => !e.removed).sort(byPlace).map((e) => e.col);
    return this.ordered;
  }

  private add(col: C, group: number): void {
    this.ordered = undefined;
    this.visible++;
    if (col.unsureName === true) this.unsure++;
    const e: Entry<C> = { col, group, seq: this.seq++, removed: false };
    this.entries.push(e);
    this.byName.set(col.name, this.byName.has(col.name) ? null : e);
  }

  /** NATURAL JOIN's columns: the names both sides have, in this side's order (a name there twice: order unknown). */
  private commonNames(rightByName: ReadonlyMap<string, unknown>): string[] {
    const common: Entry<C>[] = [];
    for (const name of rightByName.keys()) {
      const left = this.byName.get(name);
      if (left === null) this.known = false;
      else if (left !== undefined) common.push(left);
    }
    return common.sort(byPlace).map((e) => e.col.name);
  }
}
