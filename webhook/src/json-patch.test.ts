import { describe, expect, it } from '@jest/globals';
import { applyPatch, deepEqual, diff, escapePointer } from './json-patch.ts';

describe('json-patch', () => {
  it('produces no operations for equal documents', () => {
    expect(diff({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
  });

  it('escapes keys with slashes and tildes', () => {
    expect(escapePointer('guarita.io/status~x')).toBe('guarita.io~1status~0x');
    const ops = diff({ metadata: { annotations: { a: '1' } } }, { metadata: { annotations: { a: '1', 'guarita.io/status': 'injected' } } });
    expect(ops).toEqual([{ op: 'add', path: '/metadata/annotations/guarita.io~1status', value: 'injected' }]);
  });

  it('uses index adds for appends and prepends, and one replace otherwise', () => {
    expect(diff({ l: [1, 2] }, { l: [1, 2, 3] })).toEqual([{ op: 'add', path: '/l/2', value: 3 }]);
    expect(diff({ l: [1, 2] }, { l: [0, 1, 2] })).toEqual([{ op: 'add', path: '/l/0', value: 0 }]);
    expect(diff({ l: [1, 2] }, { l: [2] })).toEqual([{ op: 'replace', path: '/l', value: [2] }]);
  });

  it('round-trips: applying diff(a, b) to a gives b', () => {
    const cases: [unknown, unknown][] = [
      [{ a: 1, b: { c: [1, 2] } }, { a: 2, b: { c: [1, 2, { d: 'x' }] }, e: null }],
      [{ x: [{ n: 'a' }, { n: 'b' }] }, { x: [{ n: 'z' }, { n: 'a' }, { n: 'b', v: 1 }] }],
      [{ keep: true, drop: 'me' }, { keep: true }],
    ];
    for (const [a, b] of cases) expect(applyPatch(a, diff(a, b))).toEqual(b);
  });

  it('treats undefined members as absent', () => {
    expect(deepEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(diff({ a: 1 }, { a: 1, b: undefined })).toEqual([]);
  });

  it('test operations fail on mismatch', () => {
    expect(() => applyPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow('test failed');
  });
});
