// Adversarial review of canonicalJson's fast path (issue 19, round 2: member-name cache, strings
// quoted without JSON.stringify when nothing needs escaping, the sort skipped when keys come
// sorted) and of the ingest's record text built on it (record-text.ts: a per-member memo of the
// last string's JSON). Each test is a class: names that need escaping, names equal to cached ones
// but written with other escapes, surrogates, __proto__, numbers at the edges, refusals at any
// depth, more distinct names than the cache holds, and memo collisions between members and values.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalJson, canonicalJsonWithout } from './canonical.ts';
import { recordCanonicalText } from './record-text.ts';

/** The obvious RFC 8785 serializer (JSON.stringify for every scalar and name, entries sorted by code units). */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite');
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean' && value !== null) throw new TypeError(typeof value);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${Array.from(value, (v: unknown) => (v === undefined ? 'null' : reference(v))).join(',')}]`;
  const entries = Object.keys(value).map((k) => [k, (value as Record<string, unknown>)[k]] as const).filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
}

function outcome(f: () => string): string {
  try {
    return f();
  } catch (err) {
    return `threw ${(err as Error).constructor.name}`;
  }
}

/** An object with these own enumerable members in this order (defined, so __proto__ is an own member as JSON.parse makes it). */
function own(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const TRICKY_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'hash', 'sig', '"', '\\', '\\"', '"\\', '/', '\\/', '\u0000', '\u001f', '\u007f', '\u2028', '\u2029', '\ud800', '\udfff', '\ud83d\ude00', '😀', 'A', '\u0041', 'a"b', 'a\\u0041', '1', '01', '10', '-0', '1e21', ''];
const name = fc.oneof(fc.constantFrom(...TRICKY_NAMES), fc.string({ unit: 'binary', maxLength: 4 }), fc.string({ maxLength: 6 }));
const EDGE_NUMBERS = [0, -0, 1e21, 1e-7, 1e-6, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 0.1 + 0.2, 1.0, 100, 1e20, 123e-20];
const scalar = fc.oneof(
  fc.constant(null), fc.boolean(), fc.constant(undefined), fc.constantFrom(...EDGE_NUMBERS), fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(...TRICKY_NAMES), fc.string({ unit: 'binary', maxLength: 10 }), fc.string({ unit: 'grapheme', maxLength: 10 }),
);
const { value } = fc.letrec<{ value: unknown; obj: Record<string, unknown>; arr: unknown[] }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('arr'), tie('obj')),
  arr: fc.array(tie('value'), { maxLength: 4 }),
  obj: fc.tuple(fc.array(fc.tuple(name, tie('value')), { maxLength: 6 }), fc.boolean())
    .map(([entries, sorted]) => own(sorted ? [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : entries)),
}));

describe('canonicalJson against the obvious serializer', () => {
  it('the same text or the same refusal for values full of tricky names and numbers (cache warm or cold)', () => {
    fc.assert(fc.property(value.filter((v) => v !== undefined), (v) => {
      expect(outcome(() => canonicalJson(v))).toBe(outcome(() => reference(v)));
    }), { numRuns: 4000 });
  });

  it('a name is cached as the string it is: "A" and "\\u0041" are one name, "\\\\u0041" another, each quoted right however often it comes', () => {
    for (let round = 0; round < 3; round++) {
      expect(canonicalJson(JSON.parse('{"\\u0041":1}'))).toBe('{"A":1}');
      expect(canonicalJson(own([['\\u0041', 1]]))).toBe('{"\\\\u0041":1}');
      expect(canonicalJson(own([['"', 1], ['\\', 2], ['\\"', 3]]))).toBe('{"\\"":1,"\\\\":2,"\\\\\\"":3}');
      expect(canonicalJson(own([['\ud800', 1], ['\ud83d\ude00', 2]]))).toBe('{"\\ud800":1,"😀":2}');
      expect(canonicalJson(own([['__proto__', { a: 1 }]]))).toBe('{"__proto__":{"a":1}}');
    }
  });

  it('stays exact past the name cache\'s bound: 10,000 distinct names, then names it holds and names it cannot', () => {
    const many = own(Array.from({ length: 10_000 }, (_, i) => [`n${i}\u0001"${i}`, i] as const));
    expect(canonicalJson(many)).toBe(reference(many));
    const later = own([['zz"late', 1], ['n0\u0001"0', 2], ['\\late', 3]]);
    expect(canonicalJson(later)).toBe(reference(later));
  });

  it('numbers at the edges as ECMAScript writes them; NaN and ±Infinity refused at any depth, in names\' values and arrays alike', () => {
    expect(canonicalJson([1e21, 1e-7, 5e-324, -0, 1e20, 0.000001, Number.MAX_VALUE])).toBe('[1e+21,1e-7,5e-324,0,100000000000000000000,0.000001,1.7976931348623157e+308]');
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      expect(() => canonicalJson({ a: { b: [1, bad] } })).toThrow(TypeError);
      expect(() => canonicalJsonWithout({ hash: 'x', a: bad }, ['hash'])).toThrow(TypeError);
      expect(() => canonicalJson(own([['__proto__', bad]]))).toThrow(TypeError);
    }
    expect(canonicalJsonWithout({ hash: Number.NaN, a: 1 }, ['hash'])).toBe('{"a":1}');
  });

  it('reads own enumerable members only, never inherited ones or toJSON', () => {
    const inherited = Object.assign(Object.create({ b: 'inherited' }) as Record<string, unknown>, { a: 1 });
    expect(canonicalJson(inherited)).toBe('{"a":1}');
    expect(canonicalJson({ a: 1, toJSON: undefined })).toBe('{"a":1}');
    expect(canonicalJson(own([['b', 1], ['toJSON', 'x']]))).toBe('{"b":1,"toJSON":"x"}');
  });
});

describe('record text (ingest) against canonicalJsonWithout, member memo carried across a sequence', () => {
  const MEMBERS = ['namespace', 'pod', 'policy', 'subject', 'purpose', 'rule', 'reason', 'command', 'target', 'sessionId', 'type', 'time', 'chainId', 'prev', 'keyId', 'decision', 'approvalRequest', 'commandSha256', 'protocol', 'subjectKind'];
  const long = fc.integer({ min: 250, max: 300 }).map((n) => 'x'.repeat(n));
  const memberValue = fc.oneof(
    fc.constantFrom('orders-db', 'shop', 'a"b', 'a\\b', '\n', '\u2028', '\ud800', '😀', '', 'é'),
    long, fc.string({ unit: 'binary', maxLength: 8 }),
    fc.constantFrom<unknown>(1, -0, 1e21, null, true, ['orders-db'], { a: 'orders-db' }, Number.NaN, undefined),
  );
  const record = fc.tuple(fc.array(fc.tuple(fc.constantFrom(...MEMBERS), memberValue), { maxLength: 10 }), fc.boolean(), fc.option(fc.tuple(name, memberValue)))
    .map(([entries, withHash, extra]) => own([
      ['seq', 1], ['v', 2], ...entries, ...(withHash ? [['hash', 'h'] as const, ['sig', 's'] as const] : []), ...(extra === null ? [] : [extra]),
    ]));

  it('each record of a random sequence: values shared between members, repeated, escaped, longer than the memo keeps, of other kinds than strings, unknown and __proto__ members', () => {
    fc.assert(fc.property(fc.array(record, { minLength: 1, maxLength: 12 }), (records) => {
      for (const r of records) expect(outcome(() => recordCanonicalText(r))).toBe(outcome(() => canonicalJsonWithout(r, ['hash', 'sig'])));
    }), { numRuns: 3000 });
  });

  it('a value the memo holds for one member is not taken for another member, nor for a longer string that starts the same', () => {
    const a = own([['namespace', 'shop'], ['pod', 'x'.repeat(256)], ['policy', 'orders-db']]);
    const b = own([['namespace', 'orders-db'], ['pod', 'x'.repeat(257)], ['policy', 'shop']]);
    const c = own([['namespace', 'shop'], ['pod', 'x'.repeat(256)], ['policy', { toString: 'orders-db' }]]);
    for (const r of [a, b, a, c, b]) expect(recordCanonicalText(r)).toBe(canonicalJsonWithout(r, ['hash', 'sig']));
  });
});
