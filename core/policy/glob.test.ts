import { describe, expect, it } from '@jest/globals';
import { compilePathGlob, compileTableGlob, pathGlobProblem, tableGlobProblem, wildcardMatch } from './glob.ts';
import { normalizePath } from './http.ts';
import { parseDuration } from '../duration.ts';

describe('wildcardMatch', () => {
  it.each([
    ['*', '', true],
    ['*', 'anything', true],
    ['a*c', 'abbbc', true],
    ['a*c', 'abbb', false],
    ['*ers', 'customers', true],
    ['cust*', 'orders', false],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxcyyb', false],
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
  ])('%s ~ %s → %s', (p, t, want) => {
    expect(wildcardMatch(p, t)).toBe(want);
  });

  it('stays fast on adversarial input', () => {
    const start = performance.now();
    expect(wildcardMatch(`${'*a'.repeat(200)}b`, 'a'.repeat(5000))).toBe(false);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

describe('table globs', () => {
  it('an unqualified glob matches the table part of qualified names', () => {
    const g = compileTableGlob('customers');
    for (const mode of ['restrictive', 'permissive'] as const) {
      expect(g.matches('customers', mode)).toBe(true);
      expect(g.matches('public.customers', mode)).toBe(true);
      expect(g.matches('sales.customers', mode)).toBe(true);
      expect(g.matches('orders', mode)).toBe(false);
    }
  });

  it('a qualified glob matches an unqualified table in any schema when restricting, as public.<name> when allowing', () => {
    const g = compileTableGlob('sales.customers');
    expect(g.matches('customers', 'restrictive')).toBe(true);
    expect(g.matches('customers', 'permissive')).toBe(false);
    expect(g.matches('sales.customers', 'permissive')).toBe(true);
    expect(g.matches('public.customers', 'restrictive')).toBe(false);
    expect(compileTableGlob('public.*').matches('orders', 'permissive')).toBe(true);
  });

  it('ignores case when restricting only', () => {
    const g = compileTableGlob('customers');
    expect(g.matches('Customers', 'restrictive')).toBe(true);
    expect(g.matches('Customers', 'permissive')).toBe(false);
  });

  it('* matches any run of characters, dots included', () => {
    expect(compileTableGlob('pg_*').matches('pg_catalog.pg_authid', 'restrictive')).toBe(true);
    expect(compileTableGlob('*.secret_*').matches('hr.secret_salaries', 'permissive')).toBe(true);
  });

  it('refuses globs with more than one dot or empty parts', () => {
    expect(tableGlobProblem('a.b.c')).toBeDefined();
    expect(tableGlobProblem('.customers')).toBeDefined();
    expect(tableGlobProblem('public.')).toBeDefined();
    expect(tableGlobProblem('public.customers')).toBeUndefined();
  });
});

describe('path globs', () => {
  const seg = (p: string): string[] => {
    const n = normalizePath(p);
    if (!n.ok) throw new Error(n.problem);
    return n.segments;
  };

  it.each([
    ['/customers', '/customers', true],
    ['/customers', '/customers/', true],
    ['/customers', '/customers/1', false],
    ['/customers/*', '/customers/1', true],
    ['/customers/*', '/customers/1/orders', false],
    ['/customers/*/orders', '/customers/1/orders', true],
    ['/customers/**', '/customers', true],
    ['/customers/**', '/customers/1/orders/2', true],
    ['/customers/**', '/customersx', false],
    ['/**', '/', true],
    ['/**', '/a/b', true],
    ['/', '/', true],
    ['/', '/a', false],
    ['/a/**/z', '/a/z', true],
    ['/a/**/z', '/a/b/c/z', true],
    ['/a/**/z', '/a/b/c/y', false],
    ['/files/*.csv', '/files/x.csv', true],
    ['/files/*.csv', '/files/x.json', false],
    ['/customers/export', '/customers/%65xport', true],
  ])('%s ~ %s → %s', (glob, path, want) => {
    expect(compilePathGlob(glob).matches(seg(path), 'permissive')).toBe(want);
  });

  it('ignores case when restricting only', () => {
    const g = compilePathGlob('/customers/export');
    expect(g.matches(seg('/Customers/EXPORT'), 'restrictive')).toBe(true);
    expect(g.matches(seg('/Customers/EXPORT'), 'permissive')).toBe(false);
  });

  it('ignores Unicode forms when restricting only (file systems that fold them reach one file by every spelling)', () => {
    const nfc = compilePathGlob('/dados/relatório-*');
    const nfd = 'relato\u0301rio-2026.csv';
    expect(nfc.matches(['dados', nfd], 'restrictive')).toBe(true);
    expect(nfc.matches(['DADOS', 'RELATÓRIO-2026.CSV'], 'restrictive')).toBe(true);
    expect(nfc.matches(['dados', nfd], 'permissive')).toBe(false);
    // A glob written decomposed denies the composed spelling too.
    expect(compilePathGlob('/dados/relato\u0301rio-*').matches(['dados', 'relatório-1'], 'restrictive')).toBe(true);
    // Compatibility forms: fullwidth letters, ligatures.
    const secret = compilePathGlob('/secret/**');
    expect(secret.matches(['ｓｅｃｒｅｔ', 'x'], 'restrictive')).toBe(true);
    expect(secret.matches(['SECRET', 'x'], 'restrictive')).toBe(true);
    expect(compilePathGlob('/office/*').matches(['ofﬁce', 'a'], 'restrictive')).toBe(true);
    expect(secret.matches(['ｓｅｃｒｅｔ', 'x'], 'permissive')).toBe(false);
    // Other names stay other names.
    expect(secret.matches(['secrets', 'x'], 'restrictive')).toBe(false);
    expect(nfc.matches(['dados', 'relatorio-1'], 'restrictive')).toBe(false);
  });

  it('refuses ** inside a segment and empty segments', () => {
    expect(pathGlobProblem('/a**')).toBeDefined();
    expect(pathGlobProblem('/a//b')).toBeDefined();
    expect(pathGlobProblem('/a/**')).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it.each([
    ['15m', 900],
    ['1h30m', 5400],
    ['90d', 7776000],
    ['30s', 30],
    ['1.5h', 5400],
    ['500ms', 0.5],
    ['0', 0],
    ['1d12h', 129600],
  ])('%s → %d s', (s, want) => {
    expect(parseDuration(s)).toBe(want);
  });

  it.each(['', '15', 'm', '15x', '1h 30m', '-5m', '5mm'])('refuses %j', (s) => {
    expect(() => parseDuration(s)).toThrow(/invalid duration/);
  });
});
