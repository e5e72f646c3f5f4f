// The anchored head (AccessPolicy status.chain) at open, against the log (recovery.ts policyChecker,
// anchor-verdict.ts): the anchor is written by whoever holds `accesspolicies/status`, a weaker
// privilege than the volume or the store key, so an anchor that does not match a log the operator's
// key sealed is reported and the log kept (round 11, finding 1); a log that fails on its own (an
// altered link or record, a seal by a key that is not the store's) is still cut into quarantine.
import { afterEach, describe, expect, it } from '@jest/globals';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENESIS, generateSigningKey, type SigningKey } from '../../../core/recording/index.ts';
import { verifyPolicyEntries } from '../../../core/recording/store-verify.ts';
import { fakeSidecar, type FakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { anchorVerdict, verdictProblem } from './anchor-verdict.ts';
import { FileStore } from './file-store.ts';
import type { LoadedEntry } from './recovery.ts';
import type { AnchoredHead, StoreLink } from './types.ts';
import { storeLinkHash } from '../../../core/recording/store-chain.ts';

const NS = 'ns-a';
const POLICY = 'orders-db';
const DAY = 86_400_000;
const FORGED = 'a'.repeat(64);

const dirs: string[] = [];
const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Opened { store: FileStore; warnings: string[]; quarantined: number }

async function open(dir: string, key: SigningKey, anchor?: AnchoredHead, now?: () => number): Promise<Opened> {
  const warnings: string[] = [];
  let quarantined = 0;
  const store = await FileStore.open({
    dir, key, segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, ...(now === undefined ? {} : { now }),
    log: { info: () => undefined, error: () => undefined, warn: (_o, msg) => { warnings.push(msg); } },
    hooks: { quarantined: (_ns, _p, bytes) => { quarantined += bytes; } },
    anchors: (_ns, p) => (p === POLICY ? anchor : undefined),
  });
  stores.push(store);
  return { store, warnings, quarantined };
}

async function closeStore(s: FileStore): Promise<void> {
  await s.close();
  stores.splice(stores.indexOf(s), 1);
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'guarita-anchor-rec-'));
  dirs.push(d);
  return d;
}

function checkpointOf(store: FileStore): AnchoredHead {
  const cp = store.policyHeads().find((h) => h.policy === POLICY)?.checkpoint;
  if (cp === undefined) throw new Error('no store checkpoint');
  return { head: cp.head, records: cp.size };
}

function records(store: FileStore): number {
  return store.policyChain(NS, POLICY)?.records ?? 0;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The real operator stores `groups` commit groups of 3 records of chain A under `key`, and stops; its last anchor. */
async function genuine(dir: string, key: SigningKey, groups: number, A: FakeSidecar = fakeSidecar(NS, 'agent-a')): Promise<AnchoredHead> {
  const { store } = await open(dir, key, undefined);
  await store.registerChain(A.registration());
  for (let i = 0; i < groups; i++) {
    const b = A.batch(3);
    expect((await store.append(A.chainId, b.records, b.checkpoint)).ok).toBe(true);
  }
  const anchor = checkpointOf(store);
  await closeStore(store);
  return anchor;
}

function segmentFiles(dir: string): string[] {
  const segs = join(dir, 'policies', NS, POLICY, 'segments');
  return readdirSync(segs).sort().map((f) => join(segs, f));
}

/** Rewrites the policy's only segment line by line (the header is line 0). */
function editSegment(dir: string, edit: (lines: string[]) => string[]): void {
  const [file] = segmentFiles(dir);
  if (file === undefined) throw new Error('no segment');
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  writeFileSync(file, `${edit(lines).join('\n')}\n`);
}

describe('a status.chain overwritten by a writer of accesspolicies/status only (the log is the operator\'s)', () => {
  const forgeries: [string, (real: AnchoredHead) => AnchoredHead, boolean][] = [
    ['another head at the log\'s size', (real) => ({ head: FORGED, records: real.records }), true],
    ['another head at size 1', () => ({ head: FORGED, records: 1 }), true],
    ['the genuine head at another size', (real) => ({ head: real.head, records: real.records - 1 }), true],
    ['a size beyond the log', (real) => ({ head: FORGED, records: real.records + 50 }), true],
    ['records set to 0', () => ({ head: FORGED, records: 0 }), true],
    ['an uppercase spelling of the real head', (real) => ({ head: real.head.toUpperCase(), records: real.records }), true],
    ['records 0 with the genesis head (the empty log: nothing to compare, nothing vouched)', () => ({ head: GENESIS, records: 0 }), false],
  ];
  it.each(forgeries)('%s: the whole log is kept and served, nothing quarantined, the mismatch logged', async (_name, forge, reported) => {
    const key = generateSigningKey();
    const dir = tempDir();
    const real = await genuine(dir, key, 3);
    const { store, warnings, quarantined } = await open(dir, key, forge(real));
    const stored = (await collect(store.policyEntries(NS, POLICY))).filter((l) => l.type === 'entry' && l.record !== undefined);
    expect({ records: records(store), stored: stored.length, quarantined }).toEqual({ records: real.records, stored: 9, quarantined: 0 });
    expect(warnings.some((w) => w.includes('status.chain names store link'))).toBe(reported);
    // The log verifies against the operator's real head (an auditor's --policy with the genuine anchor).
    expect(verifyPolicyEntries(NS, POLICY, await collect(store.policyEntries(NS, POLICY)), real).ok).toBe(true);
  });

  it('keeps a log two keys sealed (a rotation) when the current key sealed last, with a forged or no anchor: its signed root covers the older key\'s links', async () => {
    const dir = tempDir();
    const A = fakeSidecar(NS, 'agent-a');
    const old = generateSigningKey();
    const anchored = await genuine(dir, old, 2, A);
    const current = generateSigningKey();
    const rotated = await open(dir, current, anchored);
    const b = A.batch(3);
    expect((await rotated.store.append(A.chainId, b.records, b.checkpoint)).ok).toBe(true);
    const real = checkpointOf(rotated.store);
    await closeStore(rotated.store);
    for (const forged of [{ head: FORGED, records: 3 }, { head: FORGED, records: real.records + 1 }, { head: FORGED, records: 0 }, undefined]) {
      const { store, quarantined } = await open(dir, current, forged);
      expect({ forged, records: records(store), quarantined }).toEqual({ forged, records: real.records, quarantined: 0 });
      await closeStore(store);
    }
  });

  it('a log only a previous key sealed (rotated, the new key has not sealed yet) with a forged anchor: nothing vouches for that key, quarantined as before (the documented limit)', async () => {
    const dir = tempDir();
    const old = generateSigningKey();
    await genuine(dir, old, 2);
    const { store, quarantined } = await open(dir, generateSigningKey(), { head: FORGED, records: 3 });
    expect({ records: records(store), cut: quarantined > 0 }).toEqual({ records: 0, cut: true });
  });
});

/** A line whose link says another time, with its hash recomputed (so only the next link's prev and the checkpoint's root can tell). */
function rehashed(line: string): string {
  const e = JSON.parse(line) as { l: StoreLink };
  const { hash: _h, sig: _s, ...rest } = { ...e.l, time: '2000-01-01T00:00:00.000Z' };
  return JSON.stringify({ ...e, l: { ...rest, hash: storeLinkHash(rest), ...(e.l.sig === undefined ? {} : { sig: e.l.sig }) } });
}

describe('a log that fails on its own is still cut into quarantine, whatever the anchor says', () => {
  it('an altered record with the genuine anchor: quarantined from its commit group on (the anchor still names the real head)', async () => {
    const key = generateSigningKey();
    const dir = tempDir();
    const real = await genuine(dir, key, 3);
    // Line 5 is in the second commit group (lines 1-3: group 1's records, 4: its checkpoint link).
    editSegment(dir, (lines) => lines.map((l, i) => (i === 5 ? l.replace('"command":"', '"command":"x') : l)));
    const { store, quarantined } = await open(dir, key, real);
    expect(records(store)).toBeLessThan(real.records);
    expect(quarantined).toBeGreaterThan(0);
  });

  it('an altered link (content and hash recomputed) with the genuine anchor: the next link no longer follows it, quarantined', async () => {
    const key = generateSigningKey();
    const dir = tempDir();
    const real = await genuine(dir, key, 3);
    editSegment(dir, (lines) => lines.map((l, i) => (i === 5 ? rehashed(l) : l)));
    const { store, quarantined } = await open(dir, key, real);
    expect(records(store)).toBeLessThan(real.records);
    expect(quarantined).toBeGreaterThan(0);
  });

  it('an altered record with a forged anchor too: the anchor vouching for nothing does not save the altered part', async () => {
    const key = generateSigningKey();
    const dir = tempDir();
    const real = await genuine(dir, key, 3);
    editSegment(dir, (lines) => lines.map((l, i) => (i === 5 ? l.replace('"command":"', '"command":"x') : l)));
    const { store, quarantined } = await open(dir, key, { head: FORGED, records: 1 });
    expect(records(store)).toBeLessThan(real.records);
    expect(quarantined).toBeGreaterThan(0);
  });

  it('a tail sealed by a key dropped in keys/ (the volume\'s writer) after the current key\'s seals, with a forged anchor: the tail is quarantined', async () => {
    const key = generateSigningKey();
    const dir = tempDir();
    const A = fakeSidecar(NS, 'agent-a');
    const real = await genuine(dir, key, 2, A);
    // The writer runs the honest code on a copy with its own key and puts the result back.
    const scratch = tempDir();
    cpSync(dir, scratch, { recursive: true });
    const F = generateSigningKey();
    const forger = await open(scratch, F, real);
    const g = A.batch(3);
    expect((await forger.store.append(A.chainId, g.records, g.checkpoint)).ok).toBe(true);
    await closeStore(forger.store);
    cpSync(join(scratch, 'policies'), join(dir, 'policies'), { recursive: true });
    cpSync(join(scratch, 'keys', `${F.keyId}.jwk`), join(dir, 'keys', `${F.keyId}.jwk`));
    const { store, quarantined } = await open(dir, key, { head: FORGED, records: real.records + 4 });
    expect({ records: records(store), cut: quarantined > 0 }).toEqual({ records: real.records, cut: true });
  });
});

describe('a sealed log whose tail was removed (the volume) under a genuine anchor', () => {
  it('keeps the intact prefix (nothing quarantined) and reports the anchor past the log\'s end', async () => {
    const key = generateSigningKey();
    const dir = tempDir();
    const real = await genuine(dir, key, 3);
    // Keep the header and the first commit group (3 records and their checkpoint line).
    editSegment(dir, (lines) => lines.slice(0, 5));
    const { store, warnings, quarantined } = await open(dir, key, real);
    expect({ records: records(store), quarantined }).toEqual({ records: 4, quarantined: 0 });
    expect(warnings.find((w) => w.includes('ends at #4'))).toContain(`store link #${real.records}`);
  });

  it('a whole segment removed: the earlier segments are kept and the anchor reported past the end', async () => {
    const key = generateSigningKey();
    const dir = tempDir();
    const A = fakeSidecar(NS, 'agent-a');
    const { store: s } = await open(dir, key);
    await s.registerChain(A.registration());
    const b1 = A.batch(3);
    expect((await s.append(A.chainId, b1.records, b1.checkpoint)).ok).toBe(true);
    await closeStore(s);
    // A second start: a new segment for the second group.
    const { store: s2 } = await open(dir, key, undefined, () => Date.now() + 2 * 3600_000);
    const b2 = A.batch(3);
    expect((await s2.append(A.chainId, b2.records, b2.checkpoint)).ok).toBe(true);
    const real = checkpointOf(s2);
    await closeStore(s2);
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(1);
    rmSync(files.at(-1)!);
    const { store, warnings, quarantined } = await open(dir, key, real);
    expect({ records: records(store), quarantined }).toEqual({ records: 4, quarantined: 0 });
    expect(warnings.some((w) => w.includes('ends at #4'))).toBe(true);
  });
});

describe('a policy with a retention cut', () => {
  async function cutStore(dir: string, key: SigningKey): Promise<{ real: AnchoredHead; cut: number; later: number }> {
    const A = fakeSidecar(NS, 'agent-a');
    await genuine(dir, key, 2, A);
    const later = Date.now() + 2 * DAY;
    const { store } = await open(dir, key, undefined, () => later);
    const [cut] = await store.applyRetention(() => DAY, later);
    expect(cut).toBeDefined();
    const b = A.batch(3);
    expect((await store.append(A.chainId, b.records, b.checkpoint)).ok).toBe(true);
    const real = checkpointOf(store);
    await closeStore(store);
    return { real, cut: cut!.cut.seq, later };
  }

  it.each([
    ['the genuine anchor', (r: AnchoredHead) => r],
    ['another head at the log\'s size', (r: AnchoredHead) => ({ head: FORGED, records: r.records })],
    ['a size below the cut', () => ({ head: FORGED, records: 1 })],
    ['a size beyond the log', (r: AnchoredHead) => ({ head: FORGED, records: r.records + 9 })],
  ])('%s: the log after the cut is kept', async (_name, forge) => {
    const key = generateSigningKey();
    const dir = tempDir();
    const { real, later } = await cutStore(dir, key);
    const { store, quarantined } = await open(dir, key, forge(real), () => later);
    expect({ records: records(store), quarantined }).toEqual({ records: real.records, quarantined: 0 });
  });
});

describe('anchorVerdict (pure)', () => {
  const link = (seq: number, hash: string): LoadedEntry => ({ link: { seq, hash } as LoadedEntry['link'] });
  const entries = [link(5, 'h5'), link(6, 'h6'), link(7, 'h7')];
  const from = { seq: 4, head: 'h4' };
  it.each([
    [undefined, 'none'],
    [{ head: 'h6', records: 6 }, 'match'],
    [{ head: 'h4', records: 4 }, 'match'],
    [{ head: 'x', records: 4 }, 'different'],
    [{ head: 'x', records: 6 }, 'different'],
    [{ head: 'h7', records: 8 }, 'beyond'],
    [{ head: 'h3', records: 3 }, 'before-cut'],
    [{ head: 'h6', records: 0 }, 'before-cut'],
  ])('%j → %s', (anchored, kind) => {
    const verdict = anchorVerdict(entries, from, anchored);
    expect(verdict.kind).toBe(kind);
    expect(verdictProblem(verdict) === undefined).toBe(kind === 'none' || kind === 'match');
  });
});

/**
 * Each key in turn seals one commit group of chain A (a rotation between groups, opened with the
 * last genuine anchor as the real operator is); the store checkpoints after each group.
 */
async function rotated(dir: string, sealers: readonly SigningKey[], A: FakeSidecar = fakeSidecar(NS, 'agent-a')): Promise<AnchoredHead[]> {
  const seals: AnchoredHead[] = [];
  for (const [i, key] of sealers.entries()) {
    const { store } = await open(dir, key, seals.at(-1));
    if (i === 0) await store.registerChain(A.registration());
    const b = A.batch(3);
    expect((await store.append(A.chainId, b.records, b.checkpoint)).ok).toBe(true);
    seals.push(checkpointOf(store));
    await closeStore(store);
  }
  return seals;
}

// Round 11b, finding A1: a genuine anchor vouches for the log up to it, and a seal by the current
// key vouches for every link before it; recovery takes the later of the two. A status writer who
// sets status.chain to an earlier REAL position (read from any earlier status) must not get the
// seals of keys rotated out since quarantined.
describe('a genuine anchor earlier than, equal to or later than the current key\'s last seal, across key rotations', () => {
  const [k0, k1, k2] = [generateSigningKey(), generateSigningKey(), generateSigningKey()];
  // [name, the key of each seal in order, the current key, seals kept per anchor: each genuine seal
  // in order, then the genesis, a forged anchor and none]. Fewer kept: the documented limit (a seal
  // by a rotated-out key that neither the anchor nor a later current-key seal vouches for).
  const all = (n: number): number[] => Array<number>(n + 3).fill(n);
  const cases: [string, SigningKey[], SigningKey, number[]][] = [
    ['two rotations (k0 k0 k1 k2, current k2)', [k0, k0, k1, k2], k2, all(4)],
    ['one rotation (k0 k0 k1, current k1)', [k0, k0, k1], k1, all(3)],
    ['the current key sealed first and last (k2 k0 k1 k2, current k2)', [k2, k0, k1, k2], k2, all(4)],
    // The anchor is later than the current key's last seal (it has none): the anchor vouches.
    ['rotated, the current key has not sealed yet (k0 k0, current k1)', [k0, k0], k1, [2, 2, 0, 0, 0]],
    // Seal 1 is the current key's last; seals 2 and 3 (k1) are later: vouched by an anchor at them, not at seal 1.
    ['rotated back, the current key sealed before the other key (k0 k1 k1, current k0)', [k0, k1, k1], k0, [1, 3, 3, 1, 1, 1]],
  ];
  it.each(cases)('%s: every genuine seal position, the genesis, a forged and no anchor', async (_name, sealers, current, keptSeals) => {
    const dir = tempDir();
    const seals = await rotated(dir, sealers);
    const anchors: [string, AnchoredHead | undefined][] = [
      ...seals.map((s, i): [string, AnchoredHead] => [`seal ${i + 1} (#${s.records})`, s]),
      ['the genesis', { head: GENESIS, records: 0 }],
      ['forged', { head: FORGED, records: seals.at(-1)!.records }],
      ['none', undefined],
    ];
    for (const [i, [label, anchor]] of anchors.entries()) {
      // Quarantine moves entries off the log: each anchor opens its own copy.
      const copy = tempDir();
      cpSync(dir, copy, { recursive: true });
      const { store, quarantined } = await open(copy, current, anchor);
      const kept = keptSeals[i] ?? -1;
      const expected = kept === 0 ? 0 : seals[kept - 1]?.records;
      expect({ label, records: records(store), quarantined: quarantined > 0 }).toEqual({ label, records: expected, quarantined: kept < seals.length });
      await closeStore(store);
    }
  });

  it('the anchor at the retention cut (a real position, below every stored link) after two rotations: the current key\'s seal still vouches for all', async () => {
    const dir = tempDir();
    const A = fakeSidecar(NS, 'agent-a');
    await rotated(dir, [k0, k0], A);
    const later = Date.now() + 2 * DAY;
    const { store: s } = await open(dir, k0, undefined, () => later);
    const [cut] = await s.applyRetention(() => DAY, later);
    expect(cut).toBeDefined();
    const b = A.batch(3);
    expect((await s.append(A.chainId, b.records, b.checkpoint)).ok).toBe(true);
    let anchor = checkpointOf(s);
    await closeStore(s);
    for (const k of [k1, k2]) {
      const { store } = await open(dir, k, anchor, () => later);
      const g = A.batch(3);
      expect((await store.append(A.chainId, g.records, g.checkpoint)).ok).toBe(true);
      anchor = checkpointOf(store);
      await closeStore(store);
    }
    const atCut = { head: cut!.cut.head, records: cut!.cut.seq };
    const { store, warnings, quarantined } = await open(dir, k2, atCut, () => later);
    expect({ records: records(store), quarantined, reported: warnings.some((w) => w.includes('status.chain names store link')) }).toEqual({ records: anchor.records, quarantined: 0, reported: false });
  });
});
