// Adversarial review of `guarita verify --file` hashing a record line from its bytes (issue 19,
// round 2: recordLineHash, the tail checked byte by byte, the text before the hash member hashed
// as it is). An altered line must never verify with content an auditor reads differently from what
// the chain key covered: every line below, in every form, gets the verdict the slow path gives
// (parse, then canonicalize the record and hash that), or is refused naming its line. The forms are
// classes: duplicate members (command, hash, seq), __proto__, whitespace, escapes, number forms,
// member order, a BOM, CRLF, trailing bytes, the hash member elsewhere, invalid UTF-8, lone
// surrogates; then random byte edits of a real line (property).
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ExportVerifier, type ExportVerdict } from './export-verify.ts';
import { exportOf, isRecordLine, testStore, writeChain } from '../../e2e/support/export-testkit.ts';
import { duplicateMember, exportRecordLine } from './export-format.ts';
import type { SessionRecord } from './store-types.ts';

const NS = 'ns-bytes';
const store = testStore(NS, 'orders-db');
const A = writeChain(NS, 12, { group: 4, event: (i) => ({ command: `GET /customers/${i}?name=Jo\u00e3o`, purpose: 'support' }) });
const lines = exportOf(store, [A]) as Record<string, unknown>[];
/** Every line's bytes as the operator writes the file. */
const texts = lines.map((l) => (isRecordLine(l) ? exportRecordLine(l as unknown as SessionRecord) : JSON.stringify(l)));
const TARGET = lines.findIndex((l) => isRecordLine(l) && l.seq === 6);
const original = texts[TARGET]!;

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** As the CLI feeds a file: each line's bytes, its decoded text and what JSON.parse makes of it. */
function fast(raws: readonly Buffer[]): ExportVerdict {
  const v = new ExportVerifier({ anchor: store.anchor.head });
  raws.forEach((raw, i) => {
    const text = raw.toString('utf8');
    v.add(i + 1, parse(text), text, raw);
  });
  return v.finish();
}

/** The slow path: the parsed record canonicalized and hashed, no line text at all; a line holding a member twice is refused. */
function slow(raws: readonly Buffer[]): { ok: boolean; line: number | undefined } {
  const duplicated = raws.findIndex((raw) => { const t = raw.toString('utf8'); return parse(t) !== undefined && duplicateMember(t) !== undefined; });
  const v = new ExportVerifier({ anchor: store.anchor.head });
  raws.forEach((raw, i) => v.add(i + 1, parse(raw.toString('utf8'))));
  const verdict = v.finish();
  if (duplicated >= 0 && (verdict.ok || (verdict.firstBad?.line ?? Infinity) > duplicated + 1)) return { ok: false, line: duplicated + 1 };
  return { ok: verdict.ok, line: verdict.firstBad?.line };
}

function withLine(raw: Buffer): Buffer[] {
  return texts.map((t, i) => (i === TARGET ? raw : Buffer.from(t)));
}

function expectSameVerdict(raw: Buffer): ExportVerdict {
  const raws = withLine(raw);
  const f = fast(raws);
  const s = slow(raws);
  expect({ ok: f.ok, line: f.firstBad?.line }).toEqual(s);
  return f;
}

const hashOf = (t: string): string => /"hash":"([0-9a-f]{64})"/.exec(t)![1]!;
const otherHash = texts.find((t, i) => i !== TARGET && i > 0 && t.includes('"seq":5,'))!;

describe('record lines in other forms: the slow path\'s verdict, or refused naming the line', () => {
  const b = (s: string): Buffer => Buffer.from(s, 'utf8');
  const cases: [string, Buffer, boolean][] = [
    ['the line as written', b(original), true],
    // Duplicate members: JSON.parse keeps the last, other readers the first.
    ['command twice, forged one last', b(original.replace(/,"hash":/, ',"command":"DROP TABLE customers","hash":')), false],
    ['command twice, forged one first', b(original.replace(/^\{/, '{"command":"DROP TABLE customers",')), false],
    ['hash twice, another record\'s first', b(original.replace(/^\{/, `{"hash":"${hashOf(otherHash)}",`)), false],
    ['hash twice, another record\'s last', b(original.replace(/\}$/, `,"hash":"${hashOf(otherHash)}"}`)), false],
    ['seq twice', b(original.replace(/^\{/, '{"seq":5,')), false],
    ['__proto__ member added', b(original.replace(/^\{/, '{"__proto__":{"command":"x"},')), false],
    ['__proto__ member added after the hash', b(original.replace(/\}$/, ',"__proto__":{}}')), false],
    // Same record, other text: the slow path canonicalizes it and it verifies.
    ['whitespace between members', b(original.replace(/,"/g, ', "').replace(/":/g, '" : ')), true],
    ['a space before the closing brace', b(original.replace(/\}$/, ' }')), true],
    ['a character escaped (\\u0041 for the text\'s letters)', b(original.replace('GET', '\\u0047ET')), true],
    ['a slash escaped', b(original.replace('GET /', 'GET \\/')), true],
    ['seq as 6.0', b(original.replace('"seq":6,', '"seq":6.0,')), true],
    ['seq as 6e0', b(original.replace('"seq":6,', '"seq":60e-1,')), true],
    ['v as 2.0', b(original.replace('"v":2', '"v":2.0')), true],
    ['members in another order', b(JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(original) as object).reverse()))), true],
    ['the hash member first', b(original.replace(/,("hash":"[0-9a-f]{64}")\}$/, '}').replace(/^\{/, `{"hash":"${hashOf(original)}",`)), true],
    ['CRLF line end', b(`${original}\r`), true],
    ['a BOM before the line', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b(original)]), false],
    // Not the record: refused.
    ['trailing garbage after the object', b(`${original}x`), false],
    ['a second object on the line', b(`${original}{}`), false],
    ['the hash in uppercase', b(original.replace(hashOf(original), hashOf(original).toUpperCase())), false],
    ['a lone surrogate escaped in place of a character', b(original.replace('Jo\u00e3o', 'Jo\\ud800o')), false],
    ['U+FFFD in place of a character', b(original.replace('Jo\u00e3o', 'Jo\ufffdo')), false],
    ['invalid UTF-8 in place of a character', Buffer.concat([b(original.slice(0, original.indexOf('\u00e3'))), Buffer.from([0xc3]), b(original.slice(original.indexOf('\u00e3') + 1))]), false],
    ['the content altered, hash left', b(original.replace('"purpose":"support"', '"purpose":"marketing"')), false],
  ];

  it.each(cases)('%s', (what, raw, verifies) => {
    expect(raw.equals(Buffer.from(original))).toBe(what === 'the line as written'); // the edit took
    const verdict = expectSameVerdict(raw);
    expect(verdict.ok).toBe(verifies);
    if (!verifies) expect(verdict.firstBad?.line).toBe(TARGET + 1);
  });
});

describe('random edits of a real record line (property)', () => {
  const bytes = Buffer.from(original);
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(bytes.length - 1), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(bytes.length), text: fc.constantFrom(' ', '\\', '"', ',', '}', '{', '\u00e3', '"hash":', '"command":"x",', '\\u0041', '1', '.0', 'e0') }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(bytes.length - 1), length: fc.integer({ min: 1, max: 8 }) }),
  );

  type Edit = { kind: 'set'; at: number; byte: number } | { kind: 'insert'; at: number; text: string } | { kind: 'delete'; at: number; length: number };

  function apply(base: Buffer, edits: readonly Edit[]): Buffer {
    let out = base;
    for (const e of edits) {
      const at = Math.min(e.at, out.length);
      if (e.kind === 'set' && at < out.length) out = Buffer.concat([out.subarray(0, at), Buffer.from([e.byte]), out.subarray(at + 1)]);
      else if (e.kind === 'insert') out = Buffer.concat([out.subarray(0, at), Buffer.from(e.text), out.subarray(at)]);
      else if (e.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + e.length)]);
    }
    return out;
  }

  it('the bytes path never accepts a line the slow path refuses, and refuses naming the line', () => {
    fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
      const raw = apply(bytes, edits);
      const verdict = expectSameVerdict(raw);
      if (!verdict.ok) expect(verdict.firstBad?.line).toBe(TARGET + 1);
    }), { numRuns: 1500 });
  });
});
