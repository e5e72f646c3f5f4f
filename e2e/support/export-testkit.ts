// Verifiable exports without a cluster, for the export verifier's tamper corpus, the CLI tests and
// the benchmark (bench/verify.ts): sidecar chains written with the core pieces the sidecar uses
// (format 2 records, a Merkle tree per chain, one signed checkpoint per commit group, optionally
// format 1 records first, as an upgraded sidecar's chain has), an operator store key and anchor,
// and the export planned by core/recording/export-build.ts exactly as the operator's read side does.
import { randomBytes } from 'node:crypto';
import { GENESIS, generateSigningKey, hashOf, signHash, type Linked, type SigningKey } from '../../core/recording/index.ts';
import { parseCheckpoint, signCheckpoint } from '../../core/recording/checkpoint.ts';
import { CheckpointLinks } from '../../core/recording/checkpoint-links.ts';
import { leafHashOfHex, MerkleAppender, MerkleTree } from '../../core/recording/merkle.ts';
import { StoreChain } from '../../core/recording/store-chain.ts';
import { planExport, type ExportChainSource } from '../../core/recording/export-build.ts';
import { exportRecordLine, hexList, isExportRecord, type AnchorLine, type ExportFilterV2, type StoreKeyLine } from '../../core/recording/export-format.ts';
import { ExportVerifier, type ExportVerdict, type TrustOptions } from '../../core/recording/export-verify.ts';
import type { SessionEvent } from '../../core/recording/session-event.ts';
import type { SessionRecord, StoreLink } from '../../core/recording/store-types.ts';
import { event } from './store-testkit.ts';

export interface TestChain {
  chainId: string;
  namespace: string;
  pod: string;
  key: SigningKey;
  records: SessionRecord[];
  checkpoints: { size: number; note: string }[];
}

export interface ChainOptions {
  /** Records per commit group (one checkpoint each). */
  group?: number;
  /** The first records in format 1 (signed one by one), as a sidecar wrote them before upgrading. */
  format1?: number;
  /** The event of record i (default: a command of session-<i % 3>). */
  event?: (i: number) => Partial<SessionEvent>;
  /** Another key signs the checkpoints (a forger's), the registration keeps the real one. */
  checkpointKey?: SigningKey;
  /** Called for each record (streaming writers); records are kept only when it is absent. */
  onRecord?: (r: SessionRecord) => void;
  /** The chain's id and pod (default: fresh ones): a forger rewriting an existing chain reuses them. */
  chainId?: string;
  pod?: string;
}

/** The chain's pod and id: the ones given (a forger's rewrite), else fresh ones. */
function chainName(namespace: string, opts: ChainOptions): { pod: string; chainId: string } {
  const pod = opts.pod ?? `agent-${randomBytes(3).toString('hex')}`;
  return { pod, chainId: opts.chainId ?? `${namespace}/${pod}/${randomBytes(6).toString('hex')}` };
}

/** Writes a chain of `n` records as a sidecar does: hash-linked, a checkpoint per commit group. */
export function writeChain(namespace: string, n: number, opts: ChainOptions = {}): TestChain {
  const { pod, chainId } = chainName(namespace, opts);
  const key = generateSigningKey();
  const group = opts.group ?? 64;
  const tree = new MerkleAppender();
  const records: SessionRecord[] = [];
  const checkpoints: { size: number; note: string }[] = [];
  const base = Date.parse('2026-11-01T00:00:00Z');
  let prev = GENESIS;
  const keep = opts.onRecord ?? ((r: SessionRecord) => records.push(r));
  for (let seq = 1; seq <= n; seq++) {
    const record = chainRecord(key, chainId, seq, prev, seq <= (opts.format1 ?? 0), event(namespace, pod, { time: new Date(base + seq * 1000).toISOString(), sessionId: `session-${seq % 3}`, ...opts.event?.(seq - 1) }));
    prev = record.hash;
    tree.append(leafHashOfHex(record.hash));
    keep(record);
    if (seq % group === 0 || seq === n) {
      checkpoints.push({ size: seq, note: signCheckpoint({ origin: chainId, size: seq, rootHash: tree.root(), time: new Date(base + seq * 1000).toISOString() }, opts.checkpointKey ?? key) });
    }
  }
  return { chainId, namespace, pod, key, records, checkpoints };
}

/** One record: format 2 (a leaf, `v: 2`), or format 1 (signed one by one) as sidecars wrote before issue 19. */
function chainRecord(key: SigningKey, chainId: string, seq: number, prev: string, format1: boolean, payload: SessionEvent): SessionRecord {
  const linked = { ...payload, chainId, seq, prev, keyId: key.keyId, ...(format1 ? {} : { v: 2 }) } as Linked<SessionEvent>;
  const hash = hashOf(linked);
  return { ...linked, hash, ...(format1 ? { sig: signHash(key, hash) } : {}) } as SessionRecord;
}

export interface TestStore {
  key: SigningKey;
  keyLine: StoreKeyLine;
  anchor: AnchorLine;
  /**
   * Set by testStore: exportOf then writes the store log an operator would have written for the
   * chains it exports (a store.record link per record, a store.checkpoint link per checkpoint,
   * sealed), anchors its head here (what status.chain shows after the next anchoring) and carries
   * the checkpoints' store links. Stores built by hand (a forger's, a test's own log) keep their anchor.
   */
  log?: { namespace: string; policy: string };
}

/** The operator's store key and a signed store head anchored for `policy` (what status.chain shows). */
export function testStore(namespace: string, policy: string, key: SigningKey = generateSigningKey()): TestStore {
  const chain = new StoreChain(namespace, policy, key);
  const source = { chainId: `${namespace}/p/x`, seq: 1, hash: 'ab'.repeat(32) } as SessionRecord;
  const links = [chain.linkRecord(source, '2026-11-01T00:00:00.000Z'), chain.linkRecord({ ...source, seq: 2 }, '2026-11-01T00:00:01.000Z')];
  const link = links[1] as StoreLink;
  const sealed = chain.seal(link, new Date('2026-11-01T00:00:01.000Z'));
  const tree = new MerkleTree(links.map((l) => leafHashOfHex(l.hash)));
  return {
    key, keyLine: { type: 'storeKey', keyId: key.keyId, publicJwk: key.publicJwk }, log: { namespace, policy },
    anchor: {
      type: 'anchor', policy, records: link.seq, head: link.hash, link,
      ...(sealed === undefined ? {} : { root: tree.root().toString('hex'), note: sealed.note, inclusion: tree.inclusionProof(link.seq - 1).map((h) => h.toString('hex')) }),
    },
  };
}

export interface ExportOptions {
  /** Which records of each chain go into the export (default: all). */
  select?: (r: SessionRecord) => boolean;
  filter?: ExportFilterV2;
  policy?: string;
}

function chainSource(c: TestChain, select: (r: SessionRecord) => boolean): ExportChainSource {
  return {
    registration: { type: 'chain.registration', chainId: c.chainId, namespace: c.namespace, pod: c.pod, keyId: c.key.keyId, publicJwk: c.key.publicJwk, registeredBy: `system:serviceaccount:${c.namespace}:agent`, registeredAt: '2026-11-01T00:00:00.000Z' },
    hashes: c.records.map((r) => r.hash),
    checkpoints: c.checkpoints,
    selected: c.records.filter(select).map((r) => r.seq),
  };
}

/**
 * The policy's store log as the operator writes it for `chains` (each chain's records, then its
 * checkpoint, group by group), sealed and anchored at its head: the anchor line, and the store
 * links of every checkpoint with their inclusion proofs at that head.
 */
export interface TestStoreLog {
  anchor: AnchorLine;
  links: CheckpointLinks;
  /** The store chain, its links and their tree: a test grows the log from here. */
  chain: StoreChain;
  storeLinks: StoreLink[];
  tree: MerkleTree;
}

export function storeLogOf(store: Pick<TestStore, 'key'>, log: { namespace: string; policy: string }, chains: readonly TestChain[]): TestStoreLog {
  const chain = new StoreChain(log.namespace, log.policy, store.key);
  const links: StoreLink[] = [];
  const time = '2026-11-01T12:00:00.000Z';
  for (const c of chains) {
    let seq = 0;
    for (const k of [...c.checkpoints].sort((a, b) => a.size - b.size)) {
      for (; seq < k.size; seq++) links.push(chain.linkRecord(c.records[seq] as SessionRecord, time));
      links.push(chain.linkCheckpoint({ chainId: c.chainId, size: k.size, root: parseCheckpoint(k.note).checkpoint.rootHash.toString('hex') }, time));
    }
  }
  const last = links[links.length - 1] as StoreLink;
  const sealed = chain.seal(last, new Date(time)) as { note: string };
  const tree = new MerkleTree(links.map((l) => leafHashOfHex(l.hash)));
  const found = new CheckpointLinks(chains.flatMap((c) => c.checkpoints.map((k) => ({ chainId: c.chainId, size: k.size }))));
  found.add(log.policy, links.filter((l) => found.wants(l)), (i) => tree.inclusionProof(i, last.seq), last.seq);
  return {
    anchor: { type: 'anchor', policy: log.policy, records: last.seq, head: last.hash, link: last, root: tree.root().toString('hex'), note: sealed.note, inclusion: hexList(tree.inclusionProof(last.seq - 1)) },
    links: found, chain, storeLinks: links, tree,
  };
}

/** A testStore's store log of `chains`, anchored (store.anchor becomes its head); none for a store built by hand. */
function anchorLogOf(store: TestStore, chains: readonly TestChain[]): TestStoreLog | undefined {
  if (store.log === undefined || chains.length === 0) return undefined;
  const log = storeLogOf(store, store.log, chains);
  store.anchor = log.anchor;
  return log;
}

/**
 * Every line of the export of `chains`, in order, as the read API streams it. A store from
 * testStore gets the store log of these chains, anchored (store.anchor is its head afterwards).
 */
export function exportOf(store: TestStore, chains: readonly TestChain[], opts: ExportOptions = {}): unknown[] {
  const namespace = chains[0]?.namespace ?? 'ns';
  const log = anchorLogOf(store, chains);
  const plan = planExport({
    namespace, filter: opts.filter ?? {}, createdAt: '2026-11-02T00:00:00.000Z', storeKey: store.key, storeKeys: [store.keyLine], anchors: [store.anchor],
    chains: chains.map((c) => chainSource(c, opts.select ?? (() => true))), ...(log === undefined ? {} : { checkpointStore: log.links.of }),
  });
  const bySeq = new Map(chains.map((c) => [c.chainId, c.records]));
  const lines: unknown[] = [...plan.preamble];
  for (const run of plan.runs) {
    lines.push(run.proof);
    lines.push(...(bySeq.get(run.chainId) ?? []).slice(run.from - 1, run.to));
  }
  return lines;
}

/**
 * Whether an export line is a session record: it has a hash and a seq and is none of the export's
 * own line kinds (a proof or header line carrying a record's members is not one: review 29).
 */
export function isRecordLine(line: unknown): boolean {
  return isExportRecord(line);
}

/**
 * How a line reaches the verifier: as the CLI feeds a file (each line parsed, with its bytes), with
 * its text, or with record lines in another form than the operator's (JSON.stringify: no record
 * hashes from its line, every one is canonicalized from the parsed record, the slow path).
 */
export type ExportFeed = 'bytes' | 'text' | 'other-form';

/** Feeds export lines (undefined: an unreadable line) to a verifier the way `how` says, and returns its verdict. */
export function feedExport(lines: readonly unknown[], trust: TrustOptions, how: ExportFeed): ExportVerdict {
  const v = new ExportVerifier(trust);
  lines.forEach((l, i) => {
    const text = l === undefined ? undefined : isRecordLine(l) && how !== 'other-form' ? exportRecordLine(l as SessionRecord) : JSON.stringify(l);
    const value: unknown = text === undefined ? undefined : JSON.parse(text);
    if (how === 'bytes') v.add(i + 1, value, text, text === undefined ? undefined : Buffer.from(text));
    else v.add(i + 1, value, text);
  });
  return v.finish();
}
