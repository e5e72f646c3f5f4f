// Review 29 (docs/security-model.md): the offline verifier against refused proof lines whose
// records reached the seen ranges out of order (a quadratic coverage check), non-record lines
// carrying a record's members, anchors and store keys of other signers than the manifest's,
// copies of checkpoint and anchor lines, and lineless problems pushed out of the kept ones.
import { describe, expect, it } from '@jest/globals';
import { generateSigningKey } from './index.ts';
import { StoreChain } from './store-chain.ts';
import { ExportVerifier, type ExportVerdict, type TrustOptions } from './export-verify.ts';
import { KEPT_PROBLEMS } from './verify-problems.ts';
import type { SessionRecord, StoreLink } from './store-types.ts';
import { exportOf, feedExport, isRecordLine, testStore, writeChain, type ExportFeed } from '../../e2e/support/export-testkit.ts';

type Line = Record<string, unknown>;
const NS = 'ns-r29';
const POLICY = 'orders-db';
const store = testStore(NS, POLICY);
const A = writeChain(NS, 40, { group: 16 });
const lines = exportOf(store, [A]).map((l) => structuredClone(l) as Line);
const anchor = { anchor: store.anchor.root! };
const typeAt = (file: readonly Line[], type: string): number => file.findIndex((l) => l.type === type);
const recordAt = (file: readonly Line[], seq: number): number => file.findIndex((l) => isRecordLine(l) && l.seq === seq);

function verify(file: readonly unknown[], how: ExportFeed = 'bytes', trust: TrustOptions = anchor): ExportVerdict {
  return feedExport(file, trust, how);
}

it('the honest export verifies, anchored', () => {
  const v = verify(lines);
  expect(v.problems).toEqual([]);
  expect(v.trust).toMatchObject({ state: 'anchored', storeKeys: [store.key.keyId] });
});

describe('1. a refused proof line: its records count as nothing (the seen ranges stay ascending)', () => {
  // b2.ts in small: a session-filtered export (one range per record), a checkpoint-0 proof line over
  // the whole chain with minimal records, then M refused proof lines, each with a record #1.
  const n = 600;
  const B = writeChain(NS, n, { group: 64 });
  const filtered = exportOf(store, [B], { select: (r) => r.sessionId === 'session-1', filter: { sessionId: 'session-1' } }).map((l) => l as Line);
  const preamble = filtered.slice(0, typeAt(filtered, 'proof'));
  const record = (seq: number): Line => ({ chainId: B.chainId, seq, hash: 'x' });
  function attack(m: number): Line[] {
    const out = [...preamble, { type: 'proof', chainId: B.chainId, checkpoint: 0, from: 1, to: n, left: [], right: [] }];
    for (let s = 1; s <= n; s++) out.push(record(s));
    for (let k = 0; k < m; k++) out.push({ type: 'proof', chainId: B.chainId, checkpoint: 0, from: 1, to: 1 }, record(1));
    return out;
  }

  it('the seen ranges (the coverage check\'s work) do not grow with the refused lines', () => {
    const few = verify(attack(0), 'text');
    const many = verify(attack(2000), 'text');
    expect(few.ok).toBe(false);
    expect(many.ok).toBe(false);
    // Before: one seen range per refused line (2,001 here), each scanned once per manifest range.
    expect(many.chains[0]?.runs).toBe(few.chains[0]?.runs);
    expect(many.chains[0]?.runs).toBe(1);
  });

  it('the refused proof line is named, and its record is not counted as the chain\'s', () => {
    const file = attack(1);
    const at = file.length - 2;
    const v = verify(file, 'text');
    expect(v.problems).toContainEqual({ line: at + 1, chainId: B.chainId, seq: 1, problem: expect.stringMatching(/come after .*#600 in the file: records were reordered or duplicated/) as unknown as string });
    expect(v.chains[0]).toMatchObject({ first: 1, last: n, records: n });
  });

  it('a proof line that is no range of records: its records count as nothing either', () => {
    const proofAt = typeAt(lines, 'proof');
    const file = lines.map((l, i) => (i === proofAt ? { ...l, from: 'one' } : l));
    const v = verify(file);
    expect(v.firstBad).toMatchObject({ line: proofAt + 1, problem: expect.stringMatching(/not a range of records/) as unknown as string });
    expect(v.chains[0]?.first).toBe(17);
  });
});

describe('2. a line of the export\'s own kinds carrying members the operator never writes on it', () => {
  const rec21 = lines[recordAt(lines, 21)] as Line;
  const fake = { ...rec21, command: 'SELECT 1 -- nothing to see', hash: 'e'.repeat(64) };

  it('a proof line carrying a whole record: FAILED, naming the line and the members', () => {
    const at = lines.findIndex((l) => l.type === 'proof' && (l.from as number) <= 21 && (l.to as number) >= 21);
    const file = lines.map((l, i) => (i === at ? { ...fake, ...l } : l));
    for (const how of ['bytes', 'text', 'other-form'] as const) {
      const v = verify(file, how);
      expect(v.ok).toBe(false);
      expect(v.firstBad).toMatchObject({ line: at + 1, problem: expect.stringMatching(/^the proof line carries "[a-zA-Z]+", .*which the operator never writes on it/) as unknown as string });
    }
    // The testkit (as tools that pick records by "has seq and hash") does not take it for a record.
    expect(isRecordLine(file[at])).toBe(false);
  });

  it.each([
    ['export', { seq: 21, hash: 'e'.repeat(64), command: 'SELECT 1 -- injected in the header' }, /the export line carries "seq", "hash", "command"/],
    ['checkpoint', { seq: 99, hash: 'e'.repeat(64), command: 'DROP TABLE customers' }, /the checkpoint line carries "seq", "hash", "command"/],
    ['consistency', { seq: 99, hash: 'e'.repeat(64) }, /the consistency line carries "seq", "hash"/],
    ['anchor', { seq: 2, chainId: A.chainId }, /the anchor line carries "seq", "chainId"/],
    ['storeKey', { comment: 'trust me' }, /the storeKey line carries "comment"/],
    ['registration', { seq: 1 }, /the registration line carries "seq"/],
    ['manifest', { chainId: A.chainId, seq: 41, command: 'x' }, /the manifest line carries "chainId", "seq", "command"/],
  ])('a %s line with %j: FAILED, naming the line', (type, extra, problem) => {
    const at = typeAt(lines, type);
    const file = lines.map((l, i) => (i === at ? { ...l, ...extra } : l));
    const v = verify(file);
    expect(v.ok).toBe(false);
    expect(v.problems).toContainEqual({ line: at + 1, problem: expect.stringMatching(problem) as unknown as string });
  });

  it('an anchor\'s store head carrying a member the operator never writes', () => {
    // The anchor's store head, when the store log grew past it, is checked member by member as well.
    const at = typeAt(lines, 'anchor');
    const a = lines[at] as Line;
    const file = lines.map((l, i) => (i === at ? { ...a, store: { records: 3, command: 'x' } } : l));
    const v = verify(file);
    expect(v.problems).toContainEqual({ line: at + 1, problem: expect.stringMatching(/its store head carries "command", which the operator never writes/) as unknown as string });
  });

  it('a line of the export\'s own kinds is never taken for a record, whatever members it holds', () => {
    // Before, `type: "export"` with a chain's seq and a hash was read as a record.
    const at = recordAt(lines, 40);
    const header = { ...(lines[at] as Line), type: 'export' };
    const v = verify([...lines, header]);
    expect(v.problems).toContainEqual({ line: lines.length + 1, problem: 'a second export header: two exports were concatenated or spliced' });
    expect(v.records).toBe(40);
  });
});

/** A forger's store key F and an anchor line it made: a format 1 store link it signed (no note). */
const F = generateSigningKey();
const fKey: Line = { type: 'storeKey', keyId: F.keyId, publicJwk: F.publicJwk };
function forgerAnchor(policy: string, seq: number): Line {
  const chain = new StoreChain(NS, policy, F, { seq: seq - 1, head: 'cd'.repeat(32) }, null);
  const link: StoreLink = chain.linkRecord({ chainId: `${NS}/p/x`, seq: 1, hash: 'ab'.repeat(32) } as SessionRecord, '2026-11-01T00:00:00.000Z');
  chain.seal(link, new Date('2026-11-01T00:00:01.000Z'));
  return { type: 'anchor', policy, records: seq, head: link.hash, link };
}

describe('3. only the manifest signer\'s key and anchors are summarised; anchors of other keys are named and ignored', () => {
  it('a genuine export plus a forger\'s key and anchor: the summary shows the real key and head only, the forger\'s anchor named as ignored', () => {
    const m = typeAt(lines, 'manifest');
    const file = [...lines.slice(0, m), fKey, forgerAnchor('payments-db', 77), ...lines.slice(m)];
    for (const trust of [anchor, {}]) {
      const v = verify(file, 'bytes', trust);
      expect(v.ok).toBe(true);
      expect(v.trust?.storeKeys).toEqual([store.key.keyId]);
      expect(v.trust?.otherStoreKeys).toEqual([F.keyId]);
      expect(v.trust?.anchors.map((a) => a.root)).toEqual([anchor.anchor]);
      expect(v.trust?.ignoredAnchors).toEqual([{ policy: 'payments-db', keyId: F.keyId, line: m + 2 }]);
    }
    // Its head anchors nothing.
    expect(verify(file, 'bytes', { anchor: forgerAnchor('payments-db', 77).head as string }).ok).toBe(false);
  });

  it('a file re-signed end to end by a forger, with the real key and the real anchor line copied in: self-asserted at most, the real head not shown as the file\'s, and not anchored by it', () => {
    const forger = { key: F, keyLine: fKey as never, anchor: forgerAnchor(POLICY, 2) as never };
    const forged = exportOf(forger, [writeChain(NS, 40, { group: 16, chainId: A.chainId, pod: A.pod, event: () => ({ command: 'SELECT 1 -- forged' }) })]).map((l) => l as Line);
    const j = typeAt(forged, 'anchor');
    const file = [...forged.slice(0, j), store.keyLine as unknown as Line, store.anchor as unknown as Line, ...forged.slice(j + 1)];
    const v = verify(file, 'bytes', {});
    expect(v.trust).toMatchObject({ state: 'self-asserted', storeKeys: [F.keyId], otherStoreKeys: [store.key.keyId], anchors: [], ignoredAnchors: [{ policy: POLICY, keyId: store.key.keyId, line: j + 2 }] });
    const anchored = verify(file, 'bytes', anchor);
    expect(anchored.ok).toBe(false);
    expect(anchored.trust?.state).toBe('failed');
  });
});

describe('4. copies of a checkpoint or anchor line are refused before their signatures are checked', () => {
  it('1,000 copies of a genuine checkpoint: each named, the checkpoints counted once', () => {
    const at = typeAt(lines, 'checkpoint');
    const copies = Array.from({ length: 1000 }, () => structuredClone(lines[at] as Line));
    const file = [...lines.slice(0, at + 1), ...copies, ...lines.slice(at + 1)];
    const v = verify(file);
    expect(v.ok).toBe(false);
    expect(v.checkpoints).toBe(verify(lines).checkpoints);
    expect(v.checkpoints).toBe(3);
    expect(v.problems[0]).toMatchObject({ line: at + 2, problem: expect.stringMatching(/a second line for the chain's checkpoint of size 16 \(the first is line \d+\): .*\(not checked further\)/) as unknown as string });
    expect(v.problems.length + (v.moreProblems ?? 0)).toBe(1000);
  });

  it('a copy with another note of that size is checked once (a fork is named as one), and no more after it', () => {
    const at = typeAt(lines, 'checkpoint');
    const cp = lines[at] as Line;
    const other = { ...cp, note: `${String(cp.note)} ` };
    const v = verify([...lines.slice(0, at + 1), other, { ...other, note: `${String(cp.note)}  ` }, ...lines.slice(at + 1)]);
    expect(v.problems.slice(0, 2).map((p) => p.line)).toEqual([at + 2, at + 3]);
    expect(v.problems[1]?.problem).toMatch(/not checked further/);
  });

  it('a second anchor line for a policy', () => {
    const at = typeAt(lines, 'anchor');
    const v = verify([...lines.slice(0, at + 1), structuredClone(lines[at] as Line), ...lines.slice(at + 1)]);
    expect(v.problems).toEqual([{ line: at + 2, problem: `a second anchor line for policy ${POLICY} (the first is line ${at + 1}): the operator writes one per policy, so it was added (not checked further)` }]);
  });
});

describe('5. problems naming no line are kept apart from the capped ones', () => {
  it('junk lines appended do not push out the --anchor mismatch', () => {
    const other = testStore(NS, POLICY);
    const resigned = exportOf(other, [A]);
    const texts = [...resigned.map((l) => JSON.stringify(l)), ...Array.from({ length: 150 }, () => '1')];
    const v = new ExportVerifier(anchor);
    texts.forEach((t, i) => v.add(i + 1, JSON.parse(t), t));
    const verdict = v.finish();
    expect(verdict.ok).toBe(false);
    expect(verdict.problems).toHaveLength(KEPT_PROBLEMS + 1);
    expect(verdict.problems[KEPT_PROBLEMS]?.problem).toMatch(/^no anchor of the export signed by its store key/);
    expect(verdict.trust).toMatchObject({ state: 'failed', problem: expect.stringMatching(/^no anchor of the export signed by its store key/) as unknown as string });
  });
});
