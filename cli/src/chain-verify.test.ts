// `guarita verify`'s checks (core/recording/export-verify.ts, policy-verdict.ts) on material from the
// operator's real file store (in a temp dir): intact exports and store chains pass; a changed byte,
// a deleted record and two swapped records fail, naming the record; retention cuts and export
// windows are accounted for. The full tamper corpus is core/recording/export-verify.test.ts.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningKey } from '../../core/recording/index.ts';
import { FileStore } from '../../operator/src/store/file-store.ts';
import { anchoredAt } from '../../operator/src/reconcile/anchor.ts';
import { fakeSidecar, type FakeSidecar } from '../../e2e/support/store-testkit.ts';
import type { PolicyEntryLine, SessionRecord } from '../../core/recording/store-types.ts';
import { exportRecordLine } from '../../core/recording/export-format.ts';
import { ExportVerifier, type TrustOptions } from '../../core/recording/export-verify.ts';
import { locateFirstBreak, verifyPolicy } from '../../core/recording/policy-verdict.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const NS = 'shop';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Feeds JSONL texts (as in a file) to the verifier. */
function verifyTexts(texts: string[], trust: TrustOptions = {}): ReturnType<ExportVerifier['finish']> {
  const v = new ExportVerifier(trust);
  texts.forEach((t, i) => {
    let value: unknown;
    try { value = JSON.parse(t); } catch { value = undefined; }
    v.add(i + 1, value, t);
  });
  return v.finish();
}

/** The lines as the read API writes them (records canonical, hash last). */
function texts(lines: readonly unknown[]): string[] {
  return lines.map((l) => ('seq' in (l as object) ? exportRecordLine(l as SessionRecord) : JSON.stringify(l)));
}

/** A batch as the shipper sends it: the records and the sidecar's checkpoint at the last one. */
function put(sc: FakeSidecar, records: SessionRecord[]): ReturnType<FileStore['append']> {
  return store.append(sc.chainId, records, sc.checkpointAt(records[records.length - 1]?.seq ?? 0));
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
    expect(await put(a, a.next(3, (j) => ({ sessionId: `s-a${i}`, command: `SELECT * FROM customers -- a ${i}.${j}` })))).toMatchObject({ ok: true });
    expect(await put(b, b.next(2, (j) => ({ sessionId: `s-b${i}`, command: `SELECT * FROM customers -- b ${i}.${j}` })))).toMatchObject({ ok: true });
  }
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('export files', () => {
  it('verifies an intact export, chain by chain', async () => {
    const verdict = verifyTexts(texts(await collect(store.exportLines(NS, {}))));
    expect(verdict).toMatchObject({ ok: true, format: 2, records: 10, problems: [] });
    expect(verdict.chains).toEqual(expect.arrayContaining([
      expect.objectContaining({ chainId: a.chainId, records: 6, first: 1, last: 6 }),
      expect.objectContaining({ chainId: b.chainId, records: 4, first: 1, last: 4 }),
    ]));
  });

  it('carries each chain key as the operator vouched for it when it accepted the registration', async () => {
    const lines = await collect(store.exportLines(NS, {}));
    const reg = lines.find((l) => l.type === 'registration' && l.statement.chainId === a.chainId);
    const vouched = store.getChain(a.chainId)?.vouched;
    expect(vouched).toBeDefined();
    expect(reg).toMatchObject({ storeKeyId: vouched?.storeKeyId, hash: vouched?.hash, sig: vouched?.sig });
  });

  it('names the record whose byte was changed', async () => {
    const lines = texts(await collect(store.exportLines(NS, {})));
    const i = lines.findIndex((l) => l.includes(`"seq":4,`) && l.includes(a.chainId) && l.includes('"hash"'));
    lines[i] = alterByte(lines[i]!);
    const verdict = verifyTexts(lines);
    expect(verdict.ok).toBe(false);
    expect(verdict.firstBad).toMatchObject({ chainId: a.chainId, seq: 4, line: i + 1, sessionId: 's-a1', problem: expect.stringContaining('altered') });
    expect(verdict.firstBad?.command).toContain('Customers');
  });

  it('names a deleted record, the first and the last included', async () => {
    for (const seq of [1, 3, 6]) {
      const lines = texts(await collect(store.exportLines(NS, {})));
      const i = lines.findIndex((l) => l.includes(`"seq":${seq},`) && l.includes(a.chainId));
      lines.splice(i, 1);
      const verdict = verifyTexts(lines);
      expect(verdict.ok).toBe(false);
      expect(verdict.firstBad).toMatchObject({ chainId: a.chainId, seq, problem: expect.stringContaining('missing') });
    }
  });

  it('names records that were swapped', async () => {
    const lines = texts(await collect(store.exportLines(NS, {})));
    const i = lines.findIndex((l) => l.includes(`"seq":2,`) && l.includes(b.chainId));
    [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
    const verdict = verifyTexts(lines);
    expect(verdict.ok).toBe(false);
    expect(verdict.firstBad).toMatchObject({ chainId: b.chainId, seq: 2, problem: expect.stringContaining('missing') });
  });

  it('a window, a session or a policy exports verifiably, and a record removed at its edge is named', async () => {
    const since = Date.parse((await store.sessionRecords(NS, 's-a1'))![0]!.time);
    for (const filter of [{ since }, { sessionId: 's-a1' }, { policy: 'orders-db' }]) {
      const lines = texts(await collect(store.exportLines(NS, filter)));
      expect(verifyTexts(lines)).toMatchObject({ ok: true });
      const first = lines.findIndex((l) => l.includes('"seq":') && l.includes('"hash"'));
      expect(verifyTexts(lines.filter((_, j) => j !== first)).firstBad?.problem).toMatch(/missing/);
    }
  });

  it('anchored at the store head, every record is anchored through its checkpoint\'s store link: whole, window, session, policy', async () => {
    // status.chain as the anchorer writes it: the store checkpoint's head, size and root.
    const heads = new Map(store.policyHeads().map((h) => [h.policy, anchoredAt(h)]));
    const head = heads.get('orders-db')!.root!;
    const since = Date.parse((await store.sessionRecords(NS, 's-a1'))![0]!.time);
    for (const filter of [{}, { since }, { sessionId: 's-a1' }, { policy: 'orders-db' }]) {
      const lines = texts(await collect(store.exportLines(NS, filter, (policy) => heads.get(policy))));
      expect(lines.filter((l) => l.includes('"type":"checkpoint"')).every((l) => l.includes('"type":"store.checkpoint"'))).toBe(true);
      expect(verifyTexts(lines, { anchor: head })).toMatchObject({ ok: true, trust: { state: 'anchored' } });
    }
    // Records ingested after the anchored head: their checkpoints' store links lie past it.
    expect(await put(a, a.next(2, (j) => ({ sessionId: 's-late', command: `SELECT 1 -- late ${j}` })))).toMatchObject({ ok: true });
    const v = verifyTexts(texts(await collect(store.exportLines(NS, {}, (policy) => heads.get(policy)))), { anchor: head });
    expect(v).toMatchObject({ ok: true, trust: { state: 'partly-anchored', unanchored: { records: 2, chains: [{ chainId: a.chainId, records: 2 }] } } });
  });

  it('records whose chain proof retention removed are vouched for by the operator\'s manifest', async () => {
    clock += 2 * 3600_000;
    await put(a, a.next(2, { sessionId: 's-late' }));
    await put(b, b.next(1, { sessionId: 's-late' }));
    clock += 2 * 3600_000;
    const outcomes = await store.applyRetention(() => 3 * 3600_000, clock);
    expect(outcomes[0]?.recordsRemoved).toBe(10);
    const verdict = verifyTexts(texts(await collect(store.exportLines(NS, {}))));
    expect(verdict).toMatchObject({ ok: true, records: 3 });
    expect(verdict.chains.find((c) => c.chainId === a.chainId)).toMatchObject({ first: 7, last: 8 });
    // The anchored store link after the cut: its inclusion proof starts from the tombstone's frontier.
    const heads = new Map(store.policyHeads().map((h) => [h.policy, anchoredAt(h)]));
    const anchoredLines = texts(await collect(store.exportLines(NS, {}, (policy) => heads.get(policy))));
    const head = heads.get('orders-db')!.root!;
    // The records whose proofs retention removed rest on the manifest, signed by the store key
    // alone: not anchored, and counted as such.
    const anchoredVerdict = verifyTexts(anchoredLines, { anchor: head });
    expect(anchoredVerdict).toMatchObject({ ok: true, trust: { state: 'partly-anchored' } });
    expect(anchoredVerdict.trust?.unanchored?.records).toBe(anchoredVerdict.operatorOnly);
    expect(anchoredLines.find((l) => l.includes('"type":"anchor"'))).toContain('"inclusion"');
  });

  it('reports lines that are not JSON, and an empty file', () => {
    expect(verifyTexts(['{"type":"export",', '{}']).problems.length).toBeGreaterThan(0);
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
    // Ten record links and one store.checkpoint link per batch (the sidecar checkpoint it carried).
    expect(verdict).toMatchObject({ ok: true, links: 14, records: 10, chains: 2, anchorState: 'matched', unanchored: 0, problems: [] });
  });

  it('verifies up to a lagging anchor and counts the links not anchored yet', async () => {
    const before = head(await entries());
    await put(a, a.next(3));
    const verdict = verifyPolicy(NS, 'orders-db', await entries(), before);
    expect(verdict).toMatchObject({ ok: true, anchorState: 'matched', unanchored: 4 });
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
    expect(verdict.firstBad?.problem).toMatch(/newest 2 store links \(#13\.\.#14\) are missing/);
  });

  it('fails when the anchored head is not on the chain, and says when there is no anchor to compare', async () => {
    const lines = await entries();
    expect(verifyPolicy(NS, 'orders-db', lines, { head: 'f'.repeat(64), records: 4 })).toMatchObject({ ok: false, anchorState: 'mismatch' });
    expect(verifyPolicy(NS, 'orders-db', lines, undefined)).toMatchObject({ ok: true, anchorState: 'missing' });
    expect(verifyPolicy(NS, 'orders-db', lines, undefined, false)).toMatchObject({ ok: true, anchorState: 'policy-gone' });
    expect(locateFirstBreak(NS, 'orders-db', lines)).toBeUndefined();
  });
});
