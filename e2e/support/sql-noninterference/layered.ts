// The layered generator (mode `layered`): takes a personal column, carries it through one to four
// renaming layers, then uses some output by a name. Where the random generator mostly produces
// statements PostgreSQL refuses, most of these are valid and many read a personal value otherwise than
// returning it, which is what the guard must hold.
//
// Layers: a derived table with a column list; a CTE shadowing a table name; a set operation whose
// output names come from a decoy first branch (literals, NULL, `(SELECT s.* FROM (SELECT ''::text AS n)
// s)`, unnamed); joins with USING / NATURAL and join aliases with column lists; LATERAL unnest / ROWS
// FROM / VALUES / json_to_record / jsonb_to_record; composites (`(w.r).col`, `(w.r).*`, `(t).col`, star
// in a scalar subquery); ORDER BY / DISTINCT ON / GROUP BY by name or position. Any layer may add decoy
// columns with colliding names.
// Uses (sink): a disguised output; WHERE LIKE / `>`; ORDER BY, GROUP BY; JOIN USING / NATURAL JOIN
// against candidate values; EXISTS; a CTE; UPDATE ... RETURNING, INSERT ... RETURNING; and a plain
// return, which is allowed and must compare equal. Review 38 (constructs.ts): carriers through windows,
// arrays, JSON, composites, VALUES, ORDINALITY and recursion; a data-modifying CTE as the source; and
// half of the uses through GROUP BY forms, HAVING, named windows, aggregate ORDER BY / FILTER, DISTINCT
// ON, WITH TIES, LIMIT / OFFSET expressions, constructors, set operations, error oracles and writes.
import type { Rng } from './rng.ts';
import { carrierLayers, errorSinks, groupingSinks, valueSinks, withPrefix, writableSource, writeSinks, type SinkInput } from './constructs.ts';
import { COL_NAMES, CUSTOMERS, DISGUISES, ORDERS, PERSONAL } from './vocabulary.ts';

/** A query and the names of its outputs as the generator believes them to be. */
interface Q { sql: string; cols: string[] }

const DECOY_LITERALS = [`''::text`, `'590'::text`, `'z'`, `NULL::text`, `0`];

export class LayeredGenerator {
  private readonly r: Rng;

  constructor(r: Rng) {
    this.r = r;
  }

  statement(): string {
    // Now and then the source is a data-modifying CTE (top level only: prepended to the final text).
    const w = this.r.chance(0.12) ? writableSource((xs) => this.r.pick(xs)) : null;
    let q = w ?? this.base();
    const layers = this.r.int(1, 4);
    for (let i = 0; i < layers; i++) q = this.wrap(q);
    return withPrefix(w?.prefix ?? '', this.sink(q));
  }

  // ---- names ---------------------------------------------------------------------------------------

  private fresh(): string {
    return this.r.pick(['t', 's', 'q', 'x', 'customers', 'c', 'u', 'j', 'cpf', 'orders']);
  }

  private name(): string {
    return this.r.pick(COL_NAMES);
  }

  /** How a column is written: plain, quoted, upper-case unquoted (folds to the same name), qualified. */
  private ref(col: string, alias?: string): string {
    const r = this.r;
    let c = col;
    if (!col.startsWith('"')) c = r.chance(0.1) ? `"${col}"` : r.chance(0.1) ? col.toUpperCase() : col;
    return alias !== undefined && r.chance(0.5) ? `${alias}.${c}` : c;
  }

  /** The name PostgreSQL resolves: quotes removed, or folded to lower case. */
  private unq(c: string): string {
    return c.startsWith('"') ? c.slice(1, -1) : c.toLowerCase();
  }

  /** An output to carry on or use: a personal one now and then. */
  private pickCol(q: Q): string {
    const pers = q.cols.filter((c) => PERSONAL.includes(this.unq(c)));
    const named = q.cols.filter((c) => c !== '?column?');
    if (named.length === 0) return 'id';
    return pers.length > 0 && this.r.chance(0.3) ? this.r.pick(pers) : this.r.pick(named);
  }

  // ---- the base query ------------------------------------------------------------------------------

  private base(): Q {
    const r = this.r;
    const roll = r.next();
    if (roll < 0.3) return { sql: 'SELECT * FROM customers', cols: CUSTOMERS };
    if (roll < 0.45) return { sql: 'TABLE customers', cols: CUSTOMERS };
    const p = r.pick(PERSONAL);
    const nm = r.chance(0.5) ? this.name() : p;
    const other = r.pick(['id', 'nome', 'dt_nasc']);
    const as = nm !== p ? ` AS ${nm}` : '';
    return r.chance(0.5)
      ? { sql: `SELECT ${other}, ${p}${as} FROM customers`, cols: [other, nm] }
      : { sql: `SELECT ${p}${as}, ${other} FROM @S.customers`, cols: [nm, other] };
  }

  /** A select list over the columns of `a`: star forms, a permutation, renames, and decoy columns. */
  private proj(a: string, cols: string[]): { list: string; cols: string[] } {
    const r = this.r;
    const p = r.next() < 0.25 ? { items: [r.pick(['*', `${a}.*`, `(${a}).*`])], out: [...cols] } : this.permutation(a, cols);
    if (r.chance(0.35)) this.addDecoy(p.items, p.out);
    return { list: p.items.join(', '), cols: p.out };
  }

  private permutation(a: string, cols: string[]): { items: string[]; out: string[] } {
    const r = this.r;
    const keep = cols.filter(() => r.chance(0.7));
    if (keep.length === 0) keep.push(r.pick(cols));
    if (r.chance(0.4)) keep.reverse();
    const items: string[] = [];
    const out: string[] = [];
    for (const c of keep) {
      const rn = r.chance(0.35) ? this.name() : null;
      items.push(`${this.ref(c, a)}${rn !== null ? ` AS ${rn}` : ''}`);
      out.push(rn ?? c);
    }
    return { items, out };
  }

  /** A constant under a colliding name, before or after the real columns. */
  private addDecoy(items: string[], out: string[]): void {
    const d = this.name();
    const lit = this.r.pick(DECOY_LITERALS);
    if (this.r.chance(0.5)) {
      items.unshift(`${lit} AS ${d}`);
      out.unshift(d);
    } else {
      items.push(`${lit} AS ${d}`);
      out.push(d);
    }
  }

  private aliasList(cols: string[]): { text: string; cols: string[] } {
    if (!this.r.chance(0.35)) return { text: '', cols };
    const n = this.r.int(1, cols.length);
    const names = Array.from({ length: n }, () => this.name());
    return { text: `(${names.join(', ')})`, cols: [...names, ...cols.slice(n)] };
  }

  // ---- layers --------------------------------------------------------------------------------------

  private wrap(q: Q): Q {
    const a = this.fresh();
    const roll = this.r.next();
    if (roll < 0.2) return this.derivedLayer(q, a);
    if (roll < 0.33) return this.cteLayer(q, a);
    if (roll < 0.48) return this.setOperationLayer(q, a);
    if (roll < 0.6) return this.joinLayer(q, a);
    if (roll < 0.72) return this.lateralLayer(q, a);
    if (roll < 0.8) return this.compositeLayer(q, a);
    if (roll < 0.9) return this.orderingLayer(q, a);
    return this.carrierLayer(q, a);
  }

  /** A column carried under a new name by a window, an array, JSON, a composite, VALUES, a recursive CTE (constructs.ts). */
  private carrierLayer(q: Q, a: string): Q {
    const nm = this.name();
    return { sql: this.r.pick(carrierLayers(q.sql, a, this.pickCol(q), nm)), cols: [nm] };
  }

  private derivedLayer(q: Q, a: string): Q {
    const al = this.aliasList(q.cols);
    const p = this.proj(a, al.cols);
    return { sql: `SELECT ${p.list} FROM (${q.sql}) AS ${a}${al.text}`, cols: p.cols };
  }

  /** A CTE, often shadowing a table name. */
  private cteLayer(q: Q, a: string): Q {
    const al = this.aliasList(q.cols);
    const p = this.proj(a, al.cols);
    const extra = this.r.chance(0.3) ? `, customers ${this.r.pick(['z', 'customers'])}` : '';
    return { sql: `WITH ${a}${al.text} AS (${q.sql}) SELECT ${p.list} FROM ${a}${extra}`, cols: p.cols };
  }

  /** A set operation: its output names come from the first branch, here a decoy. */
  private setOperationLayer(q: Q, a: string): Q {
    const r = this.r;
    const left = q.cols.map(() => this.decoyBranchItem());
    const l = `SELECT ${left.map((x) => x.e).join(', ')}${r.chance(0.5) ? ' WHERE false' : ''}`;
    const op = r.pick(['UNION ALL', 'UNION ALL', 'UNION', 'EXCEPT ALL']);
    const flip = r.chance(0.3);
    const sql = flip ? `(${q.sql}) ${op} ${l}` : `${l} ${op} (${q.sql})`;
    const cols = flip ? q.cols : left.map((x) => x.n);
    const order = r.chance(0.3) ? ` ORDER BY ${r.chance(0.5) ? r.int(1, cols.length) : r.pick(cols.filter((c) => c !== '?column?').concat(['id']))}` : '';
    return { sql: `SELECT * FROM (${sql}${order}) AS ${a}`, cols };
  }

  /** One output of a decoy branch and the name it gives the set operation's column. */
  private decoyBranchItem(): { e: string; n: string } {
    const r = this.r;
    const f = r.next();
    const nm = this.name();
    if (f < 0.5) return { e: `${r.pick([`''::text`, `'590'::text`, 'NULL', 'NULL'])} AS ${nm}`, n: nm };
    if (f < 0.7) return { e: `(SELECT s.* FROM (SELECT ''::text AS ${nm}) s)`, n: nm };
    if (f < 0.8) return { e: `(SELECT ''::text ${nm})`, n: nm };
    return { e: `''::text`, n: '?column?' };
  }

  /** A join with another item, maybe under a join alias with a column list. */
  private joinLayer(q: Q, a: string): Q {
    const r = this.r;
    const o = r.pick(['orders o', '(SELECT 1 AS zz) z', `(SELECT 1 AS id, 'k' AS ${this.name()}) z`, 'customers k']);
    const ocols = otherColumns(o);
    const kind = r.pick(['CROSS JOIN', 'NATURAL JOIN', 'JOIN ON', 'LEFT JOIN ON', 'JOIN USING']);
    const j = this.joinText(q, a, o, ocols, kind);
    if (r.chance(0.4)) {
      const ja = this.fresh() + (a === 'j' ? '2' : '');
      const al = this.aliasList(j.cols);
      const p = this.proj(ja, al.cols);
      return { sql: `SELECT ${p.list} FROM (${j.sql}) AS ${ja}${al.text}`, cols: p.cols };
    }
    const p = this.proj(a, q.cols);
    return { sql: `SELECT ${p.list} FROM ${j.sql}`, cols: p.cols };
  }

  /** The join's text and its output columns in PostgreSQL's order (USING / NATURAL columns first). */
  private joinText(q: Q, a: string, o: string, ocols: string[], kind: string): Q {
    const left = `(${q.sql}) ${a}`;
    const cross = { sql: `${left} CROSS JOIN ${o}`, cols: [...q.cols, ...ocols] };
    const common = q.cols.filter((c) => ocols.includes(c));
    if (kind.endsWith('ON')) return { sql: `${left} ${kind.replace(' ON', '')} ${o} ON true`, cols: [...q.cols, ...ocols] };
    if (kind === 'JOIN USING') {
      if (common.length === 0) return cross;
      const u = this.r.pick(common);
      return { sql: `${left} JOIN ${o} USING (${u})`, cols: [u, ...q.cols.filter((c) => c !== u), ...ocols.filter((c) => c !== u)] };
    }
    if (kind === 'NATURAL JOIN') {
      return { sql: `${left} NATURAL JOIN ${o}`, cols: [...common, ...q.cols.filter((c) => !common.includes(c)), ...ocols.filter((c) => !common.includes(c))] };
    }
    return cross;
  }

  /** A LATERAL function or VALUES carrying a column on under a new name. */
  private lateralLayer(q: Q, a: string): Q {
    const r = this.r;
    const c = this.pickCol(q);
    const nm = this.name();
    const f = r.pick([
      `unnest(ARRAY[${a}.${c}]) AS u(${nm})`,
      `ROWS FROM (unnest(ARRAY[${a}.${c}])) AS u(${nm})`,
      `LATERAL (VALUES (${a}.${c})) AS u(${nm})`,
      `LATERAL (SELECT ${a}.${c} AS ${nm}) AS u`,
      `json_to_record(json_build_object('${this.unq(nm)}', ${a}.${c})) AS u(${nm} text)`,
      `jsonb_to_record(to_jsonb(${a})) AS u(${nm} text)`,
      `LATERAL (SELECT (SELECT ${a}.${c}) AS ${nm}) AS u`,
    ]);
    const keepOuter = r.chance(0.5);
    return { sql: `SELECT ${keepOuter ? `${a}.*, ` : ''}u.${nm} FROM (${q.sql}) AS ${a}, ${f}`, cols: [...(keepOuter ? q.cols : []), nm] };
  }

  /** A composite: the row as a value, then a field or the star of it. */
  private compositeLayer(q: Q, a: string): Q {
    const c = this.pickCol(q);
    const nm = this.name();
    const f = this.r.pick([
      `SELECT (w.r).${c} AS ${nm} FROM (SELECT ${a} AS r FROM (${q.sql}) AS ${a}) w`,
      `SELECT (w.r).* FROM (SELECT ${a} AS r FROM (${q.sql}) AS ${a}) w`,
      `SELECT (${a}).${c} AS ${nm} FROM (${q.sql}) AS ${a}`,
      `SELECT (SELECT s.* FROM (SELECT ${a}.${c} AS ${nm}) s) FROM (${q.sql}) AS ${a}`,
      `SELECT (SELECT (s).* FROM (SELECT ${a}.${c} AS ${nm}) s) FROM (${q.sql}) AS ${a}`,
    ]);
    return { sql: f, cols: f.includes('(w.r).*') ? q.cols : [nm] };
  }

  /** ORDER BY / DISTINCT ON / GROUP BY by name or position: a personal use only if the name resolves to one. */
  private orderingLayer(q: Q, a: string): Q {
    const r = this.r;
    const p = this.proj(a, q.cols);
    const by = r.chance(0.5) ? String(r.int(1, p.cols.length)) : r.pick(p.cols.concat(q.cols));
    const tail = r.pick([`ORDER BY ${by}`, `ORDER BY ${by} LIMIT 3`, `GROUP BY ${by}`]);
    const pre = tail.startsWith('GROUP') ? '' : r.chance(0.3) ? `DISTINCT ON (${by}) ` : '';
    return { sql: `SELECT ${pre}${p.list} FROM (${q.sql}) AS ${a} ${tail}`, cols: p.cols };
  }

  // ---- the use -------------------------------------------------------------------------------------

  /** The final use: a disguised output, a filter, an ordering, a grouping, a join on the name, a write. */
  private sink(q: Q): string {
    const r = this.r;
    const a = this.fresh();
    const c = this.ref(this.pickCol(q), a);
    const d = r.pick(DISGUISES)(c);
    const from = `FROM (${q.sql}) AS ${a}`;
    const bare = this.unq(c.replace(/^.*\./, ''));
    if (r.chance(0.5)) return this.constructSink({ a, c, bare, from, d, nm: this.name(), fromRn: `FROM (SELECT row_number() OVER () AS rn_, ${a}.* ${from}) AS ${a}` });
    return r.pick([
      `SELECT ${d} AS ${this.name()} ${from}`,
      `SELECT ${d}, ${a}.* ${from}`,
      `SELECT count(*) ${from} WHERE ${c} LIKE '5%'`,
      `SELECT count(*) ${from} WHERE ${c}::text > '3'`,
      `SELECT 1 AS k ${from} ORDER BY ${c}`,
      `SELECT ${a}.* ${from} ORDER BY ${c}`,
      `SELECT count(*) ${from} GROUP BY ${c}`,
      `SELECT count(*) ${from} JOIN (SELECT x AS ${bare} FROM unnest(ARRAY['390.996.030-88', '987.654.321-00', 'z@mail.org']) x) z USING (${bare})`,
      `SELECT count(*) ${from} NATURAL JOIN (SELECT x AS ${bare} FROM unnest(ARRAY['390.996.030-88', '987.654.321-00']) x) z`,
      `SELECT ${a}.* ${from} WHERE EXISTS (SELECT 1 WHERE ${c} LIKE '5%')`,
      `WITH w AS (${q.sql}) SELECT ${d.replaceAll(`${a}.`, 'w.')} FROM w`,
      `UPDATE orders SET status = ${d}::text ${from} WHERE orders.id = 1 RETURNING status`,
      `INSERT INTO orders (customer_id, status, total_cents) SELECT 1, ${d}::text, 7 ${from} RETURNING status`,
      `SELECT ${c} ${from}`, // a plain return: allowed, and must compare equal once masked
    ]);
  }

  /** A use through GROUP BY forms, windows, aggregates, constructors, set operations, errors or writes (constructs.ts). */
  private constructSink(s: SinkInput): string {
    const kind = this.r.pick([groupingSinks, valueSinks, errorSinks, writeSinks]);
    return this.r.pick(kind(s));
  }
}

/** The columns of the item a join layer joins with. */
function otherColumns(o: string): string[] {
  if (o.startsWith('orders')) return ORDERS;
  if (o.startsWith('customers')) return CUSTOMERS;
  const named = /'k' AS (\S+)\)/.exec(o);
  return named !== null ? ['id', named[1]!] : ['zz'];
}
