// Review 27 (docs/security-model.md): the offline verifier against lines whose type names an
// Object.prototype member, format 2 records carrying an unhashed `sig`, files of many bad lines,
// lines that overflowed the stack or threw (exit 3 instead of FAILED), and the verdict's scope.
import { describe, expect, it } from '@jest/globals';
import { hash } from 'node:crypto';
import { canonicalJsonWithout } from './canonical.ts';
import { ExportVerifier, type ExportVerdict } from './export-verify.ts';
import { KEPT_PROBLEMS } from './verify-problems.ts';
import type { SessionRecord } from './store-types.ts';
import { exportOf, feedExport, isRecordLine, testStore, writeChain, type ExportFeed } from '../../e2e/support/export-testkit.ts';

type Line = Record<string, unknown>;
const NS = 'ns-r27';
const store = testStore(NS, 'orders-db');
const A = writeChain(NS, 40, { group: 16 });
const lines = exportOf(store, [A]).map((l) => structuredClone(l) as Line);
const anchor = { anchor: store.anchor.root! };

function verify(file: readonly unknown[], how: ExportFeed = 'bytes'): ExportVerdict {
  return feedExport(file, anchor, how);
}

/** Feeds raw text lines, as the CLI reads a file: each parsed, with its bytes. */
function verifyTexts(texts: readonly string[]): ExportVerdict {
  const v = new ExportVerifier(anchor);
  texts.forEach((t, i) => v.add(i + 1, JSON.parse(t), t, Buffer.from(t)));
  return v.finish();
}

const textOf = (l: Line): string => JSON.stringify(l);

/** The index of record `seq` of chain A in `lines`. */
const recordAt = (file: readonly Line[], seq: number): number => file.findIndex((l) => isRecordLine(l) && l.seq === seq);

it('the honest export verifies, anchored', () => {
  const v = verify(lines);
  expect(v.problems).toEqual([]);
  expect(v.trust?.state).toBe('anchored');
});

describe('a line whose type names an Object.prototype member is an unknown line, like any other', () => {
  const last = lines[lines.length - 1] as Line;
  it.each(['constructor', 'toString', 'isPrototypeOf', 'hasOwnProperty', 'valueOf', 'propertyIsEnumerable', '__proto__', 'toLocaleString', 'nonsense'])('type %s: FAILED, naming the line', (type) => {
    const injected = { ...last, type, seq: 41, command: 'SELECT cpf FROM customers -- injected, never ran' } as Line;
    delete injected.hash;
    const file = [...lines, injected];
    const v = verify(file);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ line: file.length, problem: `the line is none of the export's kinds (type ${JSON.stringify(type)})` });
  });

  it('between runs too, where the next run still verifies', () => {
    const at = lines.findIndex((l, i) => i > 0 && l.type === 'proof' && isRecordLine(lines[i - 1]));
    const file = [...lines.slice(0, at), { type: 'toString', note: 'arbitrary content' }, ...lines.slice(at)];
    const v = verify(file);
    expect(v.problems).toEqual([{ line: at + 1, problem: 'the line is none of the export\'s kinds (type "toString")' }]);
  });
});

describe('a format 2 record carries no signature: one with `sig` fails, naming it', () => {
  const at = recordAt(lines, 21);
  it.each<[string, unknown]>([
    ['an object', { command: 'SELECT 1 -- the real command', approvedBy: 'dpo@example.com', outcome: 'denied' }],
    ['a string', 'c2ln'],
    ['an empty string', ''],
    ['null', null],
  ])('`sig` holding %s', (_name, sig) => {
    const file = lines.map((l, i) => (i === at ? { ...l, sig } : l));
    for (const how of ['bytes', 'text', 'other-form'] as const) {
      const v = verify(file, how);
      expect(v.ok).toBe(false);
      expect(v.firstBad).toMatchObject({ line: at + 1, chainId: A.chainId, seq: 21, problem: expect.stringMatching(/format 2 record .*`sig`/) as unknown as string });
    }
  });

  it('format 1 records (signed one by one) still verify with their `sig`', () => {
    const B = writeChain(NS, 20, { group: 8, format1: 6 });
    const own = testStore(NS, 'orders-db');
    const v = feedExport(exportOf(own, [B]), { anchor: own.anchor.root! }, 'bytes');
    expect(v.problems).toEqual([]);
    // Proven, with the format 2 records, against checkpoints the anchored store log holds.
    expect(v.trust?.state).toBe('anchored');
  });
});

describe('many bad lines: the first problems kept in full, the rest counted', () => {
  it(`a header and 50,000 junk lines keep ${KEPT_PROBLEMS} problems and count the others`, () => {
    const texts = [textOf(lines[0] as Line), ...Array.from({ length: 50_000 }, () => '1')];
    const v = verifyTexts(texts);
    expect(v.ok).toBe(false);
    // The first lined ones, and apart (review 29) those naming no line: the --anchor mismatch, no manifest.
    expect(v.problems.filter((p) => p.line !== undefined)).toHaveLength(KEPT_PROBLEMS);
    expect(v.problems.filter((p) => p.line === undefined).map((p) => p.problem)).toEqual([expect.stringMatching(/^no anchor of the export/), expect.stringMatching(/no \(valid\) manifest/)]);
    // Each junk line, then what finish() finds (no manifest; the header's count of records).
    expect(v.problems.length + (v.moreProblems ?? 0)).toBeGreaterThanOrEqual(50_000);
    expect(v.firstBad).toMatchObject({ line: 2, problem: expect.stringMatching(/not a JSON object/) as unknown as string });
  });

  it('the same for a format 1 file', () => {
    const v = verifyTexts(Array.from({ length: 5000 }, () => '{"x":1}'));
    // Each line (the first 100 kept), then, kept apart: no records at all, and --anchor given to a format 1 file.
    expect(v.problems).toHaveLength(KEPT_PROBLEMS + 2);
    expect(v.moreProblems).toBe(5000 - KEPT_PROBLEMS);
    expect(v.problems[0]).toMatchObject({ line: 1, problem: 'the line is neither a chain key nor a record' });
  });

  it('the first failing line is named even when its problem is found after the kept ones (a run\'s root, known at its end)', () => {
    // Record 16, the last of the first run, altered and re-hashed: only the run's root shows it,
    // at the run's end, reported on its proof line. 150 records of another chain come first.
    const proofAt = lines.findIndex((l) => l.type === 'proof');
    const at = recordAt(lines, 16);
    const altered = { ...lines[at], command: 'SELECT 1 -- altered' } as Line;
    altered.hash = hash('sha256', canonicalJsonWithout(altered, ['hash', 'sig']), 'hex');
    const foreign = Array.from({ length: 150 }, (_, i) => ({ ...(altered as unknown as SessionRecord), chainId: `${NS}/other/chain`, seq: i + 1 }));
    const file = [...lines.slice(0, at), altered, ...foreign, ...lines.slice(at + 1)];
    const v = verify(file);
    expect(v.problems).toHaveLength(KEPT_PROBLEMS);
    expect(v.moreProblems).toBeGreaterThan(50);
    expect(v.firstBad).toMatchObject({ line: proofAt + 1, problem: expect.stringMatching(/do not rebuild the root/) as unknown as string });
  });
});

describe('lines that made the verifier throw: FAILED, naming the line', () => {
  it('a record nested 200,000 arrays deep', () => {
    const texts = lines.map((l) => (isRecordLine(l) ? JSON.stringify(l) : textOf(l)));
    const at = recordAt(lines, 21);
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    texts[at] = (texts[at] as string).replace(/"command":"[^"]*"/, `"command":${deep}`);
    const v = verifyTexts(texts);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ line: at + 1, seq: 21, problem: expect.stringMatching(/could not be checked/) as unknown as string });
  });

  it('a checkpoint whose note is a number', () => {
    const at = lines.findIndex((l) => l.type === 'checkpoint');
    const v = verify(lines.map((l, i) => (i === at ? { ...l, note: 5 } : l)));
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ line: at + 1, problem: expect.stringMatching(/its note is not text/) as unknown as string });
  });

  it('an anchor whose note is a number', () => {
    const at = lines.findIndex((l) => l.type === 'anchor');
    const v = verify(lines.map((l, i) => (i === at ? { ...l, note: 5 } : l)));
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ line: at + 1, problem: expect.stringMatching(/note is not text/) as unknown as string });
    expect(v.trust?.state).toBe('failed');
  });

  it('a manifest whose ranges are not ascending', () => {
    // Signed by the store key: only its holder writes one, and the verifier must not misread it.
    const B = writeChain(NS, 6, { group: 6 });
    const file = exportOf(store, [B]).map((l) => structuredClone(l) as Line);
    const at = file.findIndex((l) => l.type === 'manifest');
    const m = file[at] as { statement: { chains: Record<string, unknown> } };
    m.statement.chains[B.chainId] = [[4, 6], [1, 3]];
    const v = verify(file);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.line)).toContain(at + 1);
  });
});

describe('the verdict carries the scope the operator signed', () => {
  it('a session-filtered export: namespace, filter and time, and each chain\'s runs', () => {
    const file = exportOf(store, [A], { select: (r) => r.sessionId === 'session-1', filter: { sessionId: 'session-1' } });
    const v = verify(file);
    expect(v.problems).toEqual([]);
    expect(v.scope).toEqual({ namespace: NS, filter: { sessionId: 'session-1' }, createdAt: '2026-11-02T00:00:00.000Z' });
    expect(v.chains[0]).toMatchObject({ records: 14, first: 1, last: 40, runs: 14 });
  });

  it('a whole-namespace export: an empty filter, one run per chain', () => {
    const v = verify(lines);
    expect(v.scope).toEqual({ namespace: NS, filter: {}, createdAt: '2026-11-02T00:00:00.000Z' });
    expect(v.chains[0]).toMatchObject({ records: 40, runs: 1 });
  });
});
