// Review 27's open finding, closed: whoever holds the operator's store key could register a chain
// key of its own under a real chain's id, rewrite that chain's records and checkpoints in an
// export, re-sign the registration and the manifest, and the file verified anchored (`--anchor`,
// `--policy`): the anchored store head covered neither chain keys nor records. Each checkpoint line
// now carries its store.checkpoint link with an inclusion proof in the anchored store log, and a
// record is anchored only through such a link inside the head given from outside.
import { describe, expect, it } from '@jest/globals';
import { parseCheckpoint, signCheckpoint } from './checkpoint.ts';
import { CheckpointLinks } from './checkpoint-links.ts';
import { leafHashOfHex, MerkleTree } from './merkle.ts';
import { hashOf, type Linked } from './chain.ts';
import { storeChainId } from './store-chain.ts';
import { hexList, type AnchorLine } from './export-format.ts';
import { planExport } from './export-build.ts';
import { generateSigningKey } from './index.ts';
import type { ExportVerdict, TrustOptions } from './export-verify.ts';
import type { StoreLink } from './store-types.ts';
import { exportOf, feedExport, storeLogOf, testStore, writeChain } from '../../e2e/support/export-testkit.ts';

type Line = Record<string, unknown>;
const NS = 'ns-links';
const POLICY = 'orders-db';
const store = testStore(NS, POLICY);
const A = writeChain(NS, 48, { group: 16 });
const B = writeChain(NS, 20, { group: 8 });
const real = exportOf(store, [A, B]).map((l) => structuredClone(l) as Line);
// status.chain.root: a root pins the store log's tree (a head alone does not: review 36).
const H = { anchor: store.anchor.root! };
const realAnchor = structuredClone(store.anchor);

function verify(lines: readonly unknown[], trust: TrustOptions = H): ExportVerdict {
  const v = feedExport(lines, trust, 'bytes');
  expect(feedExport(lines, trust, 'other-form')).toEqual(v);
  return v;
}

const clone = (lines: readonly unknown[]): Line[] => lines.map((l) => structuredClone(l) as Line);
const checkpointLines = (lines: readonly Line[], chainId: string): Line[] => lines.filter((l) => l.type === 'checkpoint' && l.chainId === chainId);

describe('an honest export', () => {
  it('carries the store link of every checkpoint it uses, and every record is anchored', () => {
    const cps = real.filter((l) => l.type === 'checkpoint');
    expect(cps.length).toBe(6);
    for (const cp of cps) expect(cp.store).toEqual([expect.objectContaining({ policy: POLICY, link: expect.objectContaining({ type: 'store.checkpoint', checkpoint: expect.objectContaining({ chainId: cp.chainId, size: cp.size }) }) })]);
    const v = verify(real);
    expect(v.problems).toEqual([]);
    expect(v.trust?.state).toBe('anchored');
    expect(v.trust?.unanchored).toBeUndefined();
  });

  it('anchored by --policy with status.chain\'s root; a head alone pins no tree, so no record', () => {
    expect(verify(real, { policyAnchor: { policy: POLICY, records: realAnchor.records, head: realAnchor.head, root: realAnchor.root! } }).trust?.state).toBe('anchored');
    expect(verify(real, { anchor: realAnchor.head }).trust).toMatchObject({ state: 'partly-anchored', unanchored: { records: 68, headOnly: true } });
    expect(verify(real, { policyAnchor: { policy: POLICY, records: realAnchor.records, head: realAnchor.head } }).trust).toMatchObject({ state: 'partly-anchored', unanchored: { headOnly: true } });
  });

  it('a partial export (one session, one chain) is anchored too', () => {
    const own = testStore(NS, POLICY);
    const session = exportOf(own, [A, B], { select: (r) => r.sessionId === 'session-1', filter: { sessionId: 'session-1' } });
    expect(verify(session, { anchor: own.anchor.root! }).trust?.state).toBe('anchored');
    const oneChain = exportOf(own, [A, B], { select: (r) => r.chainId === A.chainId && r.seq > 20 });
    expect(verify(oneChain, { anchor: own.anchor.root! }).trust?.state).toBe('anchored');
  });

  it('without an anchor given, self-asserted as before', () => {
    expect(verify(real, {}).trust).toMatchObject({ state: 'self-asserted' });
  });
});

describe('the store key\'s holder rewrites chain A under a chain key of its own (review 27)', () => {
  // Same chain id, pod and length; other commands; a fresh chain key the forger registers with
  // the real store key (it holds it), keeping B, the real anchor line and the real key line.
  const F = writeChain(NS, 48, { group: 16, chainId: A.chainId, pod: A.pod, event: () => ({ command: 'SELECT 1 -- forged' }) });
  const forgerStore = { key: store.key, keyLine: store.keyLine, anchor: realAnchor };

  /** The forger's file: its rewrite of A, B as the operator exported it (checkpoint lines with their store links). */
  function forged(anchor: AnchorLine = realAnchor, checkpointStore?: CheckpointLinks): Line[] {
    const lines = clone(exportOf({ ...forgerStore, anchor }, [F, B]));
    const realB = checkpointLines(real, B.chainId);
    return lines.map((l) => (l.type === 'checkpoint' && l.chainId === B.chainId ? (realB.find((r) => r.size === l.size) as Line) : l)).map((l) => {
      if (checkpointStore === undefined || l.type !== 'checkpoint') return l;
      const store = checkpointStore.of(l.chainId as string, l.size as number);
      return store === undefined ? l : { ...l, store };
    });
  }

  it('before the fix it verified anchored; now its records are named as resting on the store key alone', () => {
    const v = verify(forged());
    expect(v.ok).toBe(true);
    expect(v.trust).toMatchObject({ state: 'partly-anchored', unanchored: { records: 48, chains: [{ chainId: A.chainId, records: 48 }] } });
    expect(verify(forged(), { policyAnchor: { policy: POLICY, records: realAnchor.records, head: realAnchor.head, root: realAnchor.root! } }).trust?.state).toBe('partly-anchored');
  });

  it('with the real store links of A\'s checkpoints copied onto its own, FAILED: the log stored other roots', () => {
    const file = forged().map((l) => (l.type === 'checkpoint' && l.chainId === F.chainId ? { ...l, store: checkpointLines(real, A.chainId).find((r) => r.size === l.size)?.store } : l));
    const v = verify(file);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.problem).toMatch(/checkpoint of size 16 of chain .*: link #\d+ stored another checkpoint .*not what the operator took in .*\(policy orders-db's store log\)/);
  });

  it('with a store log it grew past the anchor (its own links to its checkpoints, sealed with the store key): not anchored by the real head', () => {
    const log = storeLogOf(store, { namespace: NS, policy: POLICY }, [A, B]);
    const links: StoreLink[] = [...log.storeLinks];
    for (const k of F.checkpoints) links.push(log.chain.linkCheckpoint({ chainId: F.chainId, size: k.size, root: parseCheckpoint(k.note).checkpoint.rootHash.toString('hex') }, '2026-11-01T13:00:00.000Z'));
    const last = links[links.length - 1] as StoreLink;
    const note = (log.chain.seal(last, new Date('2026-11-01T13:00:00.000Z')) as { note: string }).note;
    for (const l of links.slice(log.storeLinks.length)) log.tree.append(leafHashOfHex(l.hash));
    const size = last.seq;
    const anchor: AnchorLine = {
      ...realAnchor,
      store: { records: size, head: last.hash, link: last, root: log.tree.root(size).toString('hex'), note, inclusion: hexList(log.tree.inclusionProof(size - 1, size)), consistency: hexList(log.tree.consistencyProof(realAnchor.records, size)) },
    };
    // Every checkpoint's link proven at its own head, B's real ones (inside the anchor) included.
    const own = new CheckpointLinks([F, B].flatMap((c) => c.checkpoints.map((k) => ({ chainId: c.chainId, size: k.size }))));
    own.add(POLICY, links.filter((l) => own.wants(l) && (l.seq > log.storeLinks.length || l.checkpoint?.chainId === B.chainId)), (i) => log.tree.inclusionProof(i, size), size);
    const file = forged(anchor, own);
    const v = verify(file);
    // Every check of the file passes (its store head is consistent with the real anchor)...
    expect(v.problems).toEqual([]);
    // ...but A's links lie past the head AccessPolicy status anchored: only the store key vouches for them.
    expect(v.trust).toMatchObject({ state: 'partly-anchored', unanchored: { records: 48, chains: [{ chainId: A.chainId, records: 48 }] } });
  });
});

describe('review 36: a tree of its own ending in the anchored head', () => {
  // The store key's holder keeps H (the anchored link) as the last leaf of a tree it builds with its
  // own store.checkpoint links for a rewritten A at A's positions, and signs that tree's root. H pins
  // its link and the hash chain, not the tree: only status.chain.root does.
  const F = writeChain(NS, 48, { group: 16, chainId: A.chainId, pod: A.pod, event: () => ({ command: 'SELECT 1 -- forged' }) });
  const log = storeLogOf(store, { namespace: NS, policy: POLICY }, [A, B]);
  const fRoot = new Map(F.checkpoints.map((k) => [k.size, parseCheckpoint(k.note).checkpoint.rootHash.toString('hex')]));
  const leaves = log.storeLinks.map((l) => {
    if (l.checkpoint?.chainId !== A.chainId) return l;
    const { hash: _h, ...rest } = { ...l, checkpoint: { ...l.checkpoint, root: fRoot.get(l.checkpoint.size) as string } };
    return { ...rest, hash: hashOf(rest as Linked<object>) };
  });
  const tree = new MerkleTree(leaves.map((l) => leafHashOfHex(l.hash)));
  const size = leaves.length;
  const note = signCheckpoint({ origin: storeChainId(NS, POLICY), size, rootHash: tree.root(), time: '2026-11-01T12:00:00.000Z' }, store.key);
  const anchor: AnchorLine = { ...realAnchor, root: tree.root().toString('hex'), note, inclusion: hexList(tree.inclusionProof(size - 1, size)) };
  const links = new CheckpointLinks([F, B].flatMap((c) => c.checkpoints.map((k) => ({ chainId: c.chainId, size: k.size }))));
  links.add(POLICY, leaves.filter((l) => l.type === 'store.checkpoint'), (i) => tree.inclusionProof(i, size), size);
  const file = exportOf({ key: store.key, keyLine: store.keyLine, anchor }, [F, B]).map((l) => structuredClone(l) as Line)
    .map((l) => (l.type === 'checkpoint' ? { ...l, store: links.of(l.chainId as string, l.size as number) } : l));

  it('the file is consistent with itself and carries the real head', () => {
    expect(verify(file, {}).problems).toEqual([]);
    expect(anchor.head).toBe(realAnchor.head);
  });

  it('by the head alone: no record anchored (before: every record, anchored)', () => {
    expect(verify(file, { anchor: realAnchor.head }).trust).toMatchObject({ state: 'partly-anchored', unanchored: { records: 68, headOnly: true } });
  });

  it('by the root or --policy with it: FAILED, the tree is not the operator\'s', () => {
    expect(verify(file, H).trust?.state).toBe('failed');
    const v = verify(file, { policyAnchor: { policy: POLICY, records: realAnchor.records, head: realAnchor.head, root: realAnchor.root! } });
    expect(v.ok).toBe(false);
    expect(v.trust?.problem).toMatch(/a store log built anew around the anchored head \(forged\)/);
  });
});

describe('a genuine export taken between a store-key rotation and the next anchoring', () => {
  it('its anchor (and the store links proven in it) were made with the old key: ignored, not failed', () => {
    const old = generateSigningKey();
    const log = storeLogOf({ key: old }, { namespace: NS, policy: POLICY }, [A]);
    const plan = planExport({
      namespace: NS, filter: {}, createdAt: '2026-11-02T00:00:00.000Z', storeKey: store.key,
      storeKeys: [store.keyLine, { type: 'storeKey', keyId: old.keyId, publicJwk: old.publicJwk }], anchors: [log.anchor],
      chains: [{ registration: { type: 'chain.registration', chainId: A.chainId, namespace: NS, pod: A.pod, keyId: A.key.keyId, publicJwk: A.key.publicJwk }, hashes: A.records.map((r) => r.hash), checkpoints: A.checkpoints, selected: A.records.map((r) => r.seq) }],
      checkpointStore: log.links.of,
    });
    const file = [...plan.preamble, ...plan.runs.flatMap((r) => [r.proof, ...A.records.slice(r.from - 1, r.to)])] as unknown as Line[];
    expect(file.filter((l) => l.type === 'checkpoint').every((l) => l.store !== undefined)).toBe(true);
    const v = verify(file, {});
    expect(v.problems).toEqual([]);
    expect(v.trust?.ignoredAnchors).toEqual([expect.objectContaining({ policy: POLICY, keyId: old.keyId })]);
    // Its old key's root anchors nothing of a file the new key signed.
    expect(verify(file, { anchor: log.anchor.root! }).trust?.state).toBe('failed');
  });
});

describe('a checkpoint line\'s store links, altered', () => {
  const at = real.findIndex((l) => l.type === 'checkpoint' && l.chainId === A.chainId && l.size === 16);
  const linkOf = (l: Line): Line => ((l.store as Line[])[0] as Line);
  const other = real.find((l) => l.type === 'checkpoint' && l.chainId === A.chainId && l.size === 32) as Line;
  // The same log exportOf wrote (deterministic): its first link stores A's record #1.
  const recordLink = storeLogOf(store, { namespace: NS, policy: POLICY }, [A, B]).storeLinks[0] as StoreLink;
  const cases: [string, (cp: Line) => void, RegExp][] = [
    ['the link altered', (cp) => { (linkOf(cp).link as Line).time = '2030-01-01T00:00:00.000Z'; }, /its store link does not hash to its hash \(altered\) \(policy orders-db's store log\)/],
    ['its inclusion proof altered', (cp) => { (linkOf(cp).inclusion as string[])[0] = 'ee'.repeat(32); }, /is not in policy orders-db's store log at the file's store head \(inclusion proof fails\)/],
    ['its inclusion proof emptied', (cp) => { linkOf(cp).inclusion = []; }, /inclusion proof fails/],
    ['another checkpoint\'s link', (cp) => { cp.store = structuredClone(other.store); }, /stored another checkpoint \(.* size 32\)/],
    ['a policy the file anchors nothing for', (cp) => { linkOf(cp).policy = 'billing-db'; }, /names policy billing-db, for which the file carries before it no verified anchor/],
    ['a member the operator never writes', (cp) => { linkOf(cp).note = 'x'; }, /a store link carries "note", which the operator never writes/],
    ['the link listed twice', (cp) => { cp.store = [linkOf(cp), linkOf(cp)]; }, /not a list of at most one per anchored policy/],
    ['not a list', (cp) => { cp.store = { policy: POLICY }; }, /its store links are not a list/],
    ['an entry that is not an object', (cp) => { cp.store = ['x']; }, /a store link that is not an object/],
    ['a link of another kind (a store.record link of the log)', (cp) => { linkOf(cp).link = recordLink; }, /is not a store.checkpoint link of store\/ns-links\/orders-db/],
  ];
  it.each(cases)('%s: FAILED, naming the checkpoint', (_name, edit, problem) => {
    const file = clone(real);
    edit(file[at] as Line);
    const v = verify(file);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ line: at + 1, chainId: A.chainId });
    expect(v.firstBad?.problem).toMatch(problem);
    expect(v.firstBad?.problem).toMatch(/^checkpoint of size 16 of chain /);
  });

  it('dropped: the records that checkpoint proves are named as not anchored, the others are', () => {
    const file = clone(real);
    delete (file[at] as Line).store;
    const v = verify(file);
    expect(v.ok).toBe(true);
    expect(v.trust).toMatchObject({ state: 'partly-anchored', unanchored: { records: 16, chains: [{ chainId: A.chainId, records: 16 }] } });
  });

  it('placed before the manifest (no signer known yet): FAILED', () => {
    const file = clone(real);
    const m = file.findIndex((l) => l.type === 'manifest');
    const [cp] = file.splice(at, 1) as [Line];
    file.splice(m, 0, cp);
    expect(verify(file).ok).toBe(false);
  });
});
