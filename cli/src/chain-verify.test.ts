// `guarita verify`'s checks on material from the operator's real file store (in a temp dir):
// intact exports and store chains pass; a changed byte, a deleted record and two swapped records
// fail, naming the record; retention cuts and export windows are accounted for.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningKey } from '../../core/recording/index.ts';
import { FileStore } from '../../operator/src/store/file-store.ts';
import { fakeSidecar, type FakeSidecar } from '../../e2e/support/store-testkit.ts';
import type { ExportLine, PolicyEntryLine, SessionRecord } from '../../core/recording/store-types.ts';
import { ExportVerifier } from '../../core/recording/export-verify.ts';
import { locateFirstBreak, verifyPolicy } from '../../core/recording/policy-verdict.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const NS = 'shop';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Feeds JSONL texts (as in a file) to the verifier. */
function verifyTexts(texts: string[]): ReturnType<ExportVerifier['finish']> {
  const v = new ExportVerifier();
  texts.forEach((t, i) => {
    let value: unknown;
    try { value = JSON.parse(t); } catch { value = undefined; }
    v.add(i + 1, value);
  });
  return v.finish();
}

function texts(lines: readonly ExportLine[]): string[] {
  return lines.map((l) => JSON.stringify(l));
}

/** Changes one character of a record's command in its JSON text, as a byte edit of the file would. */
function alterByte(text: string): string {
  const at = text.indexOf('customers');
  return `${text.slice(0, at)}Customers${text.slice(at + 'customers'.length)}`;
}

let dir: string;
let key: SigningKey;
let clock: number;
let store: FileStore;
let a: FakeSidecar;
let b: FakeSidecar;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'guarita-cli-verify-'));
  key = generateSigningKey();
  clock = Date.parse('2026-01-10T12:00:00Z');
  store = await FileStore.open({ dir, key, segmentMaxBytes: 64 * 1024, segmentMaxAgeMs: 3600_000, log: quiet, now: () => clock });
  a = fakeSidecar(NS, 'agent-a');
  b = fakeSidecar(NS, 'agent-b');
  await store.registerChain(a.registration());
  await store.registerChain(b.registration());
  // Two commit groups per chain, interleaved: the store chain mixes both sidecars.
  for (let i = 0; i < 2; i++) {
    expect(await store.append(a.chainId, a.next(3, (j) => ({ sessionId: `s-a${i}`, command: `SELECT * FROM customers -- a ${i}.${j}` })))).toMatchObject({ ok: true });
    expect(await store.append(b.chainId, b.next(2, (j) => ({ sessionId: `s-b${i}`, command: `SELECT * FROM customers -- b ${i}.${j}` })))).toMatchObject({ ok: true });
  }
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('export files', () => {
  it('verifies an intact export, chain by chain', async () => {
    const verdict = verifyTexts(texts(await collect(store.exportLines(NS, {}))));
    expect(verdict).toMatchObject({ ok: true, records: 10, problems: [] });
    expect(verdict.chains).toEqual(expect.arrayContaining([
      expect.objectContaining({ chainId: a.chainId, records: 6, first: 1, last: 6, startsMidChain: false }),
      expect.objectContaining({ chainId: b.chainId, records: 4, first: 1, last: 4 }),
    ]));
  });

  it('names the record whose byte was changed', async () => {
    const lines = texts(await collect(store.exportLines(NS, {})));
    const i = lines.findIndex((l) => l.includes(`"seq":4,`) && l.includes(a.chainId));
    lines[i] = alterByte(lines[i]!);
    const verdict = verifyTexts(lines);
    expect(verdict.ok).toBe(false);
    expect(verdict.firstBad).toMatchObject({ chainId: a.chainId, seq: 4, line: i + 1, sessionId: 's-a1', problem: expect.stringContaining('altered') });
    expect(verdict.firstBad?.command).toContain('Customers');
  });

  it('names a deleted record', async () => {
    const lines = texts(await collect(store.exportLines(NS, {})));
    const i = lines.findIndex((l) => l.includes(`"seq":3,`) && l.includes(a.chainId));
    lines.splice(i, 1);
    const verdict = verifyTexts(lines);
    expect(verdict.ok).toBe(false);
    expect(verdict.firstBad).toMatchObject({ chainId: a.chainId, seq: 3, problem: expect.stringContaining('missing: deleted') });
  });

  it('names records that were swapped', async () => {
    const lines = texts(await collect(store.exportLines(NS, {})));
    const i = lines.findIndex((l) => l.includes(`"seq":2,`) && l.includes(b.chainId));
    [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
    const verdict = verifyTexts(lines);
    expect(verdict.ok).toBe(false);
    expect(verdict.firstBad).toMatchObject({ chainId: b.chainId, seq: 2, problem: expect.stringContaining('swapped or reordered') });
    expect(verdict.problems).toHaveLength(1);
  });

  it('accepts an export window starting mid-chain, but not a gap inside it', async () => {
    const all = await collect(store.exportLines(NS, {}));
    const keys = all.filter((l) => l.type === 'key');
    const late = all.filter((l): l is SessionRecord => l.type !== 'key' && l.seq >= 3);
    const windowed = verifyTexts(texts([...keys, ...late]));
    expect(windowed).toMatchObject({ ok: true, records: 6 });
    expect(windowed.chains.find((c) => c.chainId === a.chainId)).toMatchObject({ first: 3, last: 6, startsMidChain: true });
    const holed = verifyTexts(texts([...keys, ...late.filter((r) => !(r.chainId === a.chainId && r.seq === 5))]));
    expect(holed.firstBad).toMatchObject({ chainId: a.chainId, seq: 5 });
  });

  it('resumes across records that retention removed (key line ranges), and only there', async () => {
    clock += 2 * 3600_000;
    await store.append(a.chainId, a.next(2, { sessionId: 's-late' }));
    await store.append(b.chainId, b.next(1, { sessionId: 's-late' }));
    clock += 2 * 3600_000;
    const outcomes = await store.applyRetention(() => 3 * 3600_000, clock);
    expect(outcomes[0]?.recordsRemoved).toBe(10);
    const lines = await collect(store.exportLines(NS, {}));
    expect(lines.find((l) => l.type === 'key' && l.chainId === a.chainId)).toMatchObject({ removed: [[1, 6, expect.any(String)]] });
    const verdict = verifyTexts(texts(lines));
    expect(verdict).toMatchObject({ ok: true, records: 3 });
    expect(verdict.chains.find((c) => c.chainId === a.chainId)).toMatchObject({ first: 7, retentionHoles: 6, startsMidChain: false });
  });

  it('reports lines that are not JSON, records without a key line, and an empty file', () => {
    const one = a.next(1)[0]!;
    expect(verifyTexts(['{"type":"key",', JSON.stringify(one)]).problems.map((p) => p.problem)).toEqual([
      expect.stringContaining('not valid JSON'), expect.stringContaining('no key line'),
    ]);
    expect(verifyTexts([]).firstBad?.problem).toContain('nothing to verify');
  });
});

describe('a policy\'s store chain', () => {
  async function entries(): Promise<PolicyEntryLine[]> {
    return collect(store.policyEntries(NS, 'orders-db'));
  }

  function head(lines: PolicyEntryLine[]): { head: string; records: number } {
    const last = lines.filter((l) => l.type === 'entry').at(-1)!;
    return { head: last.link.hash, records: last.link.seq };
  }

  function entryIndex(lines: PolicyEntryLine[], chainId: string, seq: number): number {
    return lines.findIndex((l) => l.type === 'entry' && l.record?.chainId === chainId && l.record.seq === seq);
  }

  it('verifies an intact chain whose head is anchored', async () => {
    const lines = await entries();
    const verdict = verifyPolicy(NS, 'orders-db', lines, head(lines));
    expect(verdict).toMatchObject({ ok: true, links: 10, records: 10, chains: 2, anchorState: 'matched', unanchored: 0, problems: [] });
  });

  it('verifies up to a lagging anchor and counts the links not anchored yet', async () => {
    const before = head(await entries());
    await store.append(a.chainId, a.next(3));
    const verdict = verifyPolicy(NS, 'orders-db', await entries(), before);
    expect(verdict).toMatchObject({ ok: true, anchorState: 'matched', unanchored: 3 });
  });

  it('names the altered record', async () => {
    const lines = await entries();
    const i = entryIndex(lines, b.chainId, 3);
    const e = lines[i] as Extract<PolicyEntryLine, { type: 'entry' }>;
    lines[i] = { ...e, record: { ...e.record!, command: 'SELECT * FROM Customers' } };
    const verdict = verifyPolicy(NS, 'orders-db', lines, head(lines));
    expect(verdict.ok).toBe(false);
    expect(verdict.firstBad).toMatchObject({ chainId: b.chainId, seq: 3, link: e.link.seq, sessionId: 's-b1', problem: expect.stringContaining('altered') });
  });

  it('names a deleted record', async () => {
    const lines = await entries();
    const i = entryIndex(lines, a.chainId, 5);
    const anchor = head(lines);
    lines.splice(i, 1);
    const verdict = verifyPolicy(NS, 'orders-db', lines, anchor);
    expect(verdict.ok).toBe(false);
    expect(verdict.firstBad).toMatchObject({ chainId: a.chainId, seq: 5, problem: expect.stringContaining('missing: deleted') });
  });

  it('names swapped records', async () => {
    const lines = await entries();
    const i = entryIndex(lines, a.chainId, 2);
    [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
    const verdict = verifyPolicy(NS, 'orders-db', lines, head(lines));
    expect(verdict.ok).toBe(false);
    expect(verdict.firstBad).toMatchObject({ chainId: a.chainId, seq: 2, problem: expect.stringContaining('swapped or reordered') });
  });

  it('names the newest links when the store was cut short behind its anchor', async () => {
    const lines = await entries();
    const anchor = head(lines);
    const cut = lines.slice(0, lines.length - 2);
    const verdict = verifyPolicy(NS, 'orders-db', cut, anchor);
    expect(verdict.ok).toBe(false);
    expect(verdict.anchorState).toBe('mismatch');
    expect(verdict.firstBad?.problem).toMatch(/newest 2 store links \(#9\.\.#10\) are missing/);
  });

  it('fails when the anchored head is not on the chain, and says when there is no anchor to compare', async () => {
    const lines = await entries();
    expect(verifyPolicy(NS, 'orders-db', lines, { head: 'f'.repeat(64), records: 4 })).toMatchObject({ ok: false, anchorState: 'mismatch' });
    expect(verifyPolicy(NS, 'orders-db', lines, undefined)).toMatchObject({ ok: true, anchorState: 'missing' });
    expect(verifyPolicy(NS, 'orders-db', lines, undefined, false)).toMatchObject({ ok: true, anchorState: 'policy-gone' });
    expect(locateFirstBreak(NS, 'orders-db', lines)).toBeUndefined();
  });
});
