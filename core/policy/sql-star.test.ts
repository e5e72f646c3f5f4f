import { describe, expect, it } from '@jest/globals';
import { StarLayout } from './sql-star.ts';

interface C { name: string; from: string }
const cols = (from: string, ...names: string[]): C[] => names.map((name) => ({ name, from }));
const layout = (from: string, ...names: string[]): StarLayout<C> => new StarLayout(cols(from, ...names), true);
const merge = (l: C, r: C): C => ({ name: l.name, from: `${l.from}+${r.from}` });
const read = (l: StarLayout<C>): string[] => l.cols().map((c) => `${c.from}.${c.name}`);

describe('StarLayout: what * returns, in PostgreSQL order', () => {
  it('a FROM list and plain joins: each item after the last', () => {
    const l = layout('a', 'x', 'y');
    l.append(layout('b', 'x', 'z'));
    expect(read(l)).toEqual(['a.x', 'a.y', 'b.x', 'b.z']);
    expect(l.prefix).toBe(4);
  });

  it('USING (k): the join columns once, first, in USING order; then each side without them', () => {
    const l = layout('o', 'id', 'customer_id', 'status');
    l.join(layout('c', 'id', 'nome', 'cpf', 'status2'), ['id'], merge);
    expect(read(l)).toEqual(['o+c.id', 'o.customer_id', 'o.status', 'c.nome', 'c.cpf', 'c.status2']);
    const m = layout('a', 'p', 'q', 'r');
    m.join(layout('b', 'r', 'q', 's'), ['r', 'q'], merge);
    expect(read(m)).toEqual(['a+b.r', 'a+b.q', 'a.p', 'b.s']);
  });

  it('NATURAL JOIN: the common columns in the left side\'s order', () => {
    const l = layout('a', 'p', 'q', 'r');
    l.join(layout('b', 'r', 's', 'p'), undefined, merge);
    expect(read(l)).toEqual(['a+b.p', 'a+b.r', 'a.q', 'b.s']);
  });

  it('a chain: each join\'s columns come before the earlier joins\' (a JOIN b USING (x) JOIN c USING (y))', () => {
    const l = layout('a', 'x', 'y', 'w');
    l.join(layout('b', 'x', 'v'), ['x'], merge);
    l.join(layout('c', 'y', 'u'), ['y'], merge);
    expect(read(l)).toEqual(['a+c.y', 'a+b.x', 'a.w', 'b.v', 'c.u']);
    // Joining again on a merged column: it moves to the front with the new one.
    l.join(layout('d', 'x', 't'), ['x'], merge);
    expect(read(l)).toEqual(['a+b+d.x', 'a+c.y', 'a.w', 'b.v', 'c.u', 'd.t']);
  });

  it('a join column missing on a side, or there twice, leaves no position known', () => {
    const l = layout('a', 'x');
    l.join(layout('b', 'y'), ['y'], merge);
    expect(l.known).toBe(false);
    expect(l.prefix).toBe(0);
    const twice = layout('a', 'x', 'x');
    twice.join(layout('b', 'x'), ['x'], merge);
    expect(twice.prefix).toBe(0);
  });

  it('an item of unknown width keeps the positions before it', () => {
    const l = layout('a', 'x', 'y');
    l.append(new StarLayout(cols('f'), false));
    l.append(layout('b', 'z'));
    expect(l.known).toBe(false);
    expect(l.prefix).toBe(2);
    expect(read(l)).toEqual(['a.x', 'a.y', 'b.z']);
  });

  it('NATURAL JOIN with a side of unknown width: no position is known', () => {
    const l = layout('a', 'x', 'y');
    l.join(new StarLayout(cols('u', 'x'), false), undefined, merge);
    expect(l.prefix).toBe(0);
  });

  it('keeps one entry per column added: 20,000 joins USING (id) of 5-column tables (the guard charges its work by size)', () => {
    const l = layout('t0', 'id', 'a', 'b', 'c', 'd');
    for (let i = 1; i <= 20_000; i++) l.join(layout(`t${i}`, 'id', 'a', 'b', 'c', 'd'), ['id'], merge);
    expect(l.size).toBe(5 + 5 * 20_000);
    const out = l.cols();
    expect(out).toHaveLength(1 + 4 * 20_001);
    expect(out[0]).toEqual({ name: 'id', from: 't0+t1+t2'.replace('t0+t1+t2', out[0]?.from ?? '') });
    expect(out[0]?.from.split('+')).toHaveLength(20_001);
  });
});
