// Round 5 review: attacks on the export's store head (the anchor line's `store` member) and on the
// operator's store-log proof `guarita verify --file --policy` checks. The operator's store key signs
// two policies' store logs here: splicing a real, validly signed store head, checkpoint or proof of
// one policy into the other's anchor, replaying an older head, lying about sizes, a consistency
// proof from another tree or another size, and oversized hash lists must all fail, naming what is
// wrong, and never anchor the file.
import { describe, expect, it } from '@jest/globals';
import { generateSigningKey, type SigningKey } from './index.ts';
import { StoreChain } from './store-chain.ts';
import { leafHashOfHex, MerkleTree } from './merkle.ts';
import type { AnchorLine, StoreHeadAtExport, StoreKeyLine, StoreProof } from './export-format.ts';
import type { SessionRecord, StoreLink } from './store-types.ts';
import type { ExportVerdict, TrustOptions } from './export-verify.ts';
import { exportOf, feedExport, writeChain } from '../../e2e/support/export-testkit.ts';

type Line = Record<string, unknown>;

const NS = 'ns-attack';
const POLICY = 'orders-db';
const OTHER = 'billing-db';
const key: SigningKey = generateSigningKey();
const hex = (hs: Buffer[]): string[] => hs.map((h) => h.toString('hex'));

/** A policy's store log of 12 links signed by `key`, sealed at 3, 7, 10 and 12. */
function storeLog(policy: string, k: SigningKey = key): { links: StoreLink[]; tree: MerkleTree; notes: Map<number, string> } {
  const chain = new StoreChain(NS, policy, k);
  const links: StoreLink[] = [];
  const notes = new Map<number, string>();
  for (let seq = 1; seq <= 12; seq++) {
    const time = new Date(Date.parse('2026-11-01T00:00:00.000Z') + seq * 1000);
    const link = chain.linkRecord({ chainId: `${NS}/p/x`, seq, hash: seq.toString(16).padStart(64, policy === POLICY ? '0' : '1') } as SessionRecord, time.toISOString());
    links.push(link);
    if ([3, 7, 10, 12].includes(seq)) notes.set(seq, chain.seal(link, time)!.note);
  }
  return { links, tree: new MerkleTree(links.map((l) => leafHashOfHex(l.hash))), notes };
}

const mine = storeLog(POLICY);
const theirs = storeLog(OTHER);

/** The store head at `size` (past the anchored `from`) of a log, as an anchor line carries it. */
function headOf(log: ReturnType<typeof storeLog>, size: number, from: number): StoreHeadAtExport {
  return {
    records: size, head: log.links[size - 1]!.hash, link: log.links[size - 1]!, root: log.tree.root(size).toString('hex'), note: log.notes.get(size)!,
    inclusion: hex(log.tree.inclusionProof(size - 1, size)), consistency: hex(log.tree.consistencyProof(from, size)),
  };
}

const anchor: AnchorLine = {
  type: 'anchor', policy: POLICY, records: 3, head: mine.links[2]!.hash, link: mine.links[2]!, root: mine.tree.root(3).toString('hex'), note: mine.notes.get(3)!,
  inclusion: hex(mine.tree.inclusionProof(2, 3)), store: headOf(mine, 7, 3),
};
const keyLine: StoreKeyLine = { type: 'storeKey', keyId: key.keyId, publicJwk: key.publicJwk };
const A = writeChain(NS, 12, { group: 6 });
const lines = exportOf({ key, keyLine, anchor }, [A]).map((l) => structuredClone(l) as Line);
const anchorAt = lines.findIndex((l) => l.type === 'anchor');

function verify(file: readonly unknown[], trust: TrustOptions = {}): ExportVerdict {
  return feedExport(file, trust, 'bytes');
}

function withStore(edit: (a: AnchorLine) => void): Line[] {
  const out = lines.map((l) => structuredClone(l));
  edit(out[anchorAt] as unknown as AnchorLine);
  return out;
}

/** What the operator answers for the growth from `from` to `to` of a log. */
function proofOf(log: ReturnType<typeof storeLog>, policy: string, from: number, to: number): StoreProof {
  return { policy, from, ...headOf(log, to, from) };
}

describe('the export\'s store head, attacked', () => {
  it('the honest file verifies, anchored by the store head', () => {
    expect(verify(lines, { anchor: mine.links[6]!.hash }).problems).toEqual([]);
  });

  const spliced: [string, (a: AnchorLine) => void, RegExp][] = [
    ['another policy\'s real store head (same key, same sizes)', (a) => { a.store = headOf(theirs, 7, 3); }, /its store link is not link #7 of store\/ns-attack\/orders-db/],
    ['another policy\'s checkpoint and root with this policy\'s link', (a) => { a.store = { ...headOf(mine, 7, 3), note: theirs.notes.get(7)!, root: theirs.tree.root(7).toString('hex') }; }, /its store checkpoint is for store\/ns-attack\/billing-db at size 7/],
    ['another policy\'s consistency proof', (a) => { a.store!.consistency = hex(theirs.tree.consistencyProof(3, 7)); }, /not consistent with the anchored store checkpoint \(#3\)/],
    ['a consistency proof from another size (7 from 2)', (a) => { a.store!.consistency = hex(mine.tree.consistencyProof(2, 7)); }, /not consistent with the anchored store checkpoint \(#3\)/],
    ['the head at 10 with the proof to 7', (a) => { a.store = { ...headOf(mine, 10, 3), consistency: hex(mine.tree.consistencyProof(3, 7)) }; }, /store head \(#10\) is not consistent/],
    ['a size lied about (10) over the head at 7', (a) => { a.store!.records = 10; }, /store head \(#10\): its store link is not link #10/],
    ['an older head replayed (the anchor\'s own)', (a) => { a.store = { ...headOf(mine, 7, 3), records: 3, head: mine.links[2]!.hash, link: mine.links[2]!, note: mine.notes.get(3)! }; }, /is not a store link past the anchored #3/],
    ['a head of a log of another store key (same policy)', (a) => { a.store = headOf(storeLog(POLICY, generateSigningKey()), 7, 3); }, /which the export does not list|does not hash|not consistent/],
    ['an inclusion proof of 100,000 hashes', (a) => { a.store!.inclusion = Array.from({ length: 100_000 }, () => 'ab'.repeat(32)); }, /its head is not the last leaf of its store checkpoint/],
    ['a consistency proof of 100,000 hashes', (a) => { a.store!.consistency = [...a.store!.consistency, ...Array.from({ length: 100_000 }, () => 'ab'.repeat(32))]; }, /not consistent with the anchored store checkpoint/],
    ['hashes that are not hex', (a) => { a.store!.consistency = a.store!.consistency.map(() => 'zz'.repeat(32)); }, /not consistent/],
    ['a negative size', (a) => { a.store!.records = -7; }, /is not a store link past the anchored #3/],
  ];

  it.each(spliced)('%s: named on the anchor line; the head anchors nothing', (_name, edit, problem) => {
    const bad = withStore(edit);
    const v = verify(bad, { anchor: mine.links[6]!.hash });
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.problem).join('\n')).toMatch(problem);
    expect(v.trust?.state).toBe('failed');
    expect(verify(bad, { policyAnchor: { policy: POLICY, records: 7, head: mine.links[6]!.hash } }).trust?.state).toBe('failed');
  });
});

describe('the operator\'s store-log proof, attacked (a compromised operator or a hijacked port-forward)', () => {
  const status = { policy: POLICY, records: 12, head: mine.links[11]!.hash };

  it('the honest proof anchors the file to the newer head', () => {
    const v = verify(lines, { policyAnchor: { ...status, proof: proofOf(mine, POLICY, 7, 12) } });
    expect(v.problems).toEqual([]);
    // Anchored as far as a store log can anchor: this hand-built log stores none of A's checkpoints,
    // so its records rest on the store key (export-checkpoint-links.test.ts anchors records).
    expect(v.trust).toMatchObject({ state: 'partly-anchored', grown: { from: 7, records: 12 }, unanchored: { records: 12 } });
  });

  const forged: [string, () => StoreProof, RegExp][] = [
    ['another policy\'s real proof, relabelled', () => ({ ...proofOf(theirs, OTHER, 7, 12), policy: POLICY, head: mine.links[11]!.hash }), /does not hash|is not link|is not for/],
    ['a proof to a head the operator made up (its own link hashing to status.chain)', () => ({ ...proofOf(mine, POLICY, 7, 12), link: { ...mine.links[11]!, at: '2030-01-01T00:00:00.000Z' } }), /its store link does not hash to the anchored head/],
    ['a proof starting at another root (from 3, labelled 7)', () => ({ ...proofOf(mine, POLICY, 3, 12), from: 7 }), /not consistent with .*#7/],
    ['a proof starting at the anchor, not the file\'s store head', () => proofOf(mine, POLICY, 3, 12), /does not start at the export's store head \(#7\)/],
    ['a proof to an intermediate checkpoint presented as the head', () => ({ ...proofOf(mine, POLICY, 7, 10), records: 12, head: mine.links[11]!.hash }), /does not hash|is not link #12/],
    ['a proof whose consistency is from a tree over other leaves', () => { const t = new MerkleTree([...mine.links.slice(0, 6).map((l) => leafHashOfHex(l.hash)), leafHashOfHex('ee'.repeat(32)), ...mine.links.slice(7).map((l) => leafHashOfHex(l.hash))]); return { ...proofOf(mine, POLICY, 7, 12), consistency: hex(t.consistencyProof(7, 12)) }; }, /not consistent/],
    ['a proof whose fields are of the wrong types', () => ({ policy: POLICY, from: '7', records: '12', head: 12, link: 'x', root: [], note: {}, inclusion: 'ab', consistency: null } as unknown as StoreProof), /does not start at the export's store head|is not for/],
  ];

  it.each(forged)('%s: fails, naming it; the file is not anchored', (_name, make, problem) => {
    const v = verify(lines, { policyAnchor: { ...status, proof: make() } });
    expect(v.ok).toBe(false);
    expect(v.trust?.state).toBe('failed');
    expect(v.problems.map((p) => p.problem).join('\n')).toMatch(problem);
  });
});

// Review 27: an anchor line without a store checkpoint (a format 1 store link, signed alone) whose
// `root` nothing checks. A forger with keys of its own wrote the real status.chain head there, and
// `--anchor <real head>` matched it: a file re-signed end to end verified "anchored".
describe('an anchor line\'s root with no store checkpoint to verify it against', () => {
  /** A format 1 store log of the forger's own key: two links, the last signed alone (no checkpoint). */
  function forgerAnchor(root: string): { key: SigningKey; keyLine: StoreKeyLine; anchor: AnchorLine } {
    const forger = generateSigningKey();
    const chain = new StoreChain(NS, POLICY, forger, { seq: 0, head: '0'.repeat(64) }, null);
    const src = { chainId: `${NS}/p/x`, seq: 1, hash: 'ab'.repeat(32) } as SessionRecord;
    chain.linkRecord(src, '2026-11-01T00:00:00.000Z');
    const link = chain.linkRecord({ ...src, seq: 2 }, '2026-11-01T00:00:01.000Z');
    chain.seal(link, new Date('2026-11-01T00:00:01.000Z'));
    return { key: forger, keyLine: { type: 'storeKey', keyId: forger.keyId, publicJwk: forger.publicJwk }, anchor: { type: 'anchor', policy: POLICY, records: 2, head: link.hash, link, root } };
  }

  const realHead = mine.links[2]!.hash;
  const realRoot = mine.tree.root(3).toString('hex');

  it.each([['the real head', realHead], ['the real store-log root', realRoot]])('a file re-signed with fresh keys, `root` set to %s, is not anchored by it', (_name, given) => {
    const forged = exportOf(forgerAnchor(given), [writeChain(NS, 12, { group: 6, chainId: A.chainId, pod: A.pod })]);
    const v = verify(forged, { anchor: given });
    expect(v.ok).toBe(false);
    expect(v.trust?.state).toBe('failed');
    const anchorLine = forged.findIndex((l) => (l as Line).type === 'anchor') + 1;
    expect(v.problems).toContainEqual(expect.objectContaining({ line: anchorLine, problem: expect.stringMatching(/root .*no store checkpoint/) as unknown as string }));
  });

  it('a format 1 anchor without a root still anchors by its signed head', () => {
    const honest = forgerAnchor('');
    delete honest.anchor.root;
    const v = verify(exportOf(honest, [A]), { anchor: honest.anchor.head });
    expect(v.problems).toEqual([]);
    // A format 1 store log has no tree: no checkpoint's store link can be proven in it.
    expect(v.trust).toMatchObject({ state: 'partly-anchored', unanchored: { records: 12 } });
  });
});
