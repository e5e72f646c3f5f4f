// The file store's read side: session lists and records, export lines and per-policy chains for
// the read API and the CLI. Answers come from the index; record bodies are read from the segment
// files (a record whose segment retention deleted meanwhile is skipped, not an error).
import { readFile } from 'node:fs/promises';
import { readRange } from './fs-util.ts';
import { parseSegment, type ParsedSegment } from './segment.ts';
import { matchesSession } from './sessions.ts';
import { policyKey, type ChainMem, type CheckpointRef, type PolicyState, type RecordRef, type Segment } from './state.ts';
import { storeChainId } from '../../../core/recording/store-chain.ts';
import { parseCheckpoint } from '../../../core/recording/checkpoint.ts';
import { planExport, type ExportChainSource } from '../../../core/recording/export-build.ts';
import { CheckpointLinks } from '../../../core/recording/checkpoint-links.ts';
import { StreamingInclusionProofs } from '../../../core/recording/merkle-stream-proofs.ts';
import { hexList, type AnchorLine, type ExportFilterV2, type ExportV2Line, type StoreHeadAtExport, type StoreKeyLine, type StoreProof } from '../../../core/recording/export-format.ts';
import { leafHashOfHex, MerkleAppender, MerkleTree } from '../../../core/recording/merkle.ts';
import { isEnoent, type StoreIndex } from './store-index.ts';
import type { AnchoredHead, ExportFilter, PolicyChainInfo, PolicyEntryLine, PolicyHead, SessionFilter, SessionRecord, SessionSummary, StoreKeyInfo, StoreLink } from './types.ts';

export function listSessions(index: StoreIndex, namespace: string, filter: SessionFilter): SessionSummary[] {
  const byId = index.sessions.get(namespace);
  if (byId === undefined) return [];
  return [...byId.values()].map((e) => ({ ...e.summary })).filter((s) => matchesSession(s, filter)).sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
}

async function readRecord(ref: RecordRef): Promise<SessionRecord | undefined> {
  try {
    const buf = await readRange(ref.segment.path, ref.offset, ref.length);
    return (JSON.parse(buf.toString('utf8')) as { r?: SessionRecord }).r;
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw err;
  }
}

export async function sessionRecords(index: StoreIndex, namespace: string, sessionId: string): Promise<SessionRecord[] | undefined> {
  const entry = index.sessions.get(namespace)?.get(sessionId);
  if (entry === undefined) return undefined;
  const refs = [...entry.refs].sort((a, b) => (a.chainId === b.chainId ? a.seq - b.seq : a.chainId < b.chainId ? -1 : 1));
  const out: SessionRecord[] = [];
  for (const ref of refs) {
    const r = await readRecord(ref);
    if (r !== undefined) out.push(r);
  }
  return out;
}

function exported(ref: RecordRef, f: ExportFilter): boolean {
  if (f.policy !== undefined && ref.policy !== f.policy) return false;
  if (f.sessionId !== undefined && ref.sessionId !== f.sessionId) return false;
  if (f.since !== undefined && ref.time < f.since) return false;
  if (f.until !== undefined && ref.time >= f.until) return false;
  return true;
}

/** The store head anchored in AccessPolicy status.chain (the read API knows it), for an export's anchors. */
export type AnchoredLookup = (policy: string) => AnchoredHead | undefined;

interface StoredCheckpoints { notes: { size: number; note: string }[]; frontiers: { size: number; frontier: string[] }[] }

/** The sidecar checkpoint notes of a chain (and the tree frontiers stored with them), read from their store.checkpoint entry lines. */
async function storedCheckpoints(refs: readonly CheckpointRef[]): Promise<StoredCheckpoints> {
  const out: StoredCheckpoints = { notes: [], frontiers: [] };
  for (const ref of refs) {
    let line: { c?: { note?: unknown; frontier?: unknown } };
    try {
      line = JSON.parse((await readRange(ref.segment.path, ref.offset, ref.length)).toString('utf8')) as typeof line;
    } catch (err) {
      // Retention deleted the segment holding it: proofs use another checkpoint.
      if (isEnoent(err)) continue;
      throw err;
    }
    if (typeof line.c?.note === 'string') out.notes.push({ size: ref.size, note: line.c.note });
    if (Array.isArray(line.c?.frontier)) out.frontiers.push({ size: ref.size, frontier: line.c.frontier as string[] });
  }
  return out;
}

/**
 * A chain as the index holds it at one moment: the records selected, the leaves and the stored
 * checkpoint refs, taken together synchronously. A commit group indexes its records and checkpoint
 * in one step, so they agree; read across an await, a checkpoint of a group indexed meanwhile
 * would lie beyond the leaves held, and the plan could prove nothing of the chain (every run
 * operator-only, no checkpoint line).
 */
interface ChainSnapshot { c: ChainMem; refs: RecordRef[]; hashes: (string | undefined)[]; checkpoints: CheckpointRef[] }

function chainSnapshot(c: ChainMem, refs: RecordRef[]): ChainSnapshot {
  const hashes: (string | undefined)[] = [];
  for (const [seq, ref] of c.refs) hashes[seq - 1] = ref.hash;
  return { c, refs, hashes: Array.from({ length: hashes.length }, (_, i) => hashes[i]), checkpoints: [...c.checkpoints] };
}

async function chainSource({ c, refs, hashes, checkpoints }: ChainSnapshot): Promise<ExportChainSource> {
  const s = c.state;
  const stored = await storedCheckpoints(checkpoints);
  return {
    registration: { type: 'chain.registration', chainId: s.chainId, namespace: s.namespace, pod: s.pod, keyId: s.keyId, publicJwk: s.publicJwk, registeredBy: s.registeredBy, registeredAt: s.registeredAt },
    hashes,
    checkpoints: stored.notes,
    frontiers: stored.frontiers,
    ...(s.vouched === undefined ? {} : { vouched: s.vouched }),
    selected: refs.map((r) => r.seq),
  };
}

/**
 * A policy's anchor and store head at the export's moment, read with the records' snapshot (no
 * await between): status.chain as the operator last saw it, and the newest durable store checkpoint.
 * Read after an await, the anchor could name a store link newer than every record of the export.
 */
interface PolicyHeads { policy: string; anchored: AnchoredHead | undefined; store: PolicyState['checkpoint'] }

function policyHeadsAt(index: StoreIndex, namespace: string, policies: Iterable<string>, anchored: AnchoredLookup): PolicyHeads[] {
  return [...policies].sort().map((policy) => ({ policy, anchored: anchored(policy), store: index.policies.get(policyKey(namespace, policy))?.checkpoint }));
}

/**
 * The anchor line of a policy: the store link at the anchored size (it hashes to status.chain.head
 * and names the store key), with the store checkpoint of that size and the link's inclusion proof
 * when the store log has them, and, when the store log had grown past the anchor at the export's
 * moment, that store head tied to the anchor by a consistency proof (storeGrowth). The same read
 * finds the store.checkpoint links of the sidecar checkpoints the export may use and proves them in
 * the newest of those heads (`links`). Undefined when nothing is anchored or the link is gone
 * (retention).
 */
async function anchorLine(index: StoreIndex, namespace: string, heads: PolicyHeads, links: CheckpointLinks): Promise<AnchorLine | undefined> {
  const { policy, anchored, store } = heads;
  const p = index.policies.get(policyKey(namespace, policy));
  if (p === undefined || anchored === undefined) return undefined;
  const read = await readStoreLog(policyEntries(index, namespace, policy), storeTreeAtCut(p), { anchored: anchored.records, store: store?.size ?? 0 }, links);
  const at = read.at.get(anchored.records);
  if (at?.link.hash !== anchored.head) return undefined;
  const line = withStoreCheckpoint({ type: 'anchor', policy, records: anchored.records, head: anchored.head, link: at.link }, at.checkpoint, read.beforeAnchor);
  const out = withStoreHeadRead(line, storeHeadPast(line, store), read);
  addCheckpointLinks(links, out, read);
  return out;
}

/** Proves the checkpoint links read in the anchor line's newest store head (none without a store checkpoint to prove in). */
function addCheckpointLinks(links: CheckpointLinks, line: AnchorLine, read: StoreLogRead): void {
  const base = line.store?.records ?? (line.note === undefined ? undefined : line.records);
  const proven = base === undefined ? undefined : read.provers.find((v) => v.size === base && v.prover.count === base);
  if (proven === undefined) return;
  const proofs = proven.prover.proofs();
  links.add(line.policy, proven.links, (i) => proofs.get(i), proven.size);
}

/** The anchor line with the export's store head past it, when the read reached that head with the tree. */
function withStoreHeadRead(line: AnchorLine, past: NonNullable<PolicyState['checkpoint']> | undefined, read: StoreLogRead): AnchorLine {
  if (past === undefined || read.grown === undefined) return line;
  const head = read.at.get(past.size);
  return withStoreHead(line, past, head === undefined ? undefined : { ...head, since: read.grown });
}

/** Inclusion proofs of the checkpoint links read, in the store log's tree of `size` links (a candidate store head). */
interface LinkProver { size: number; prover: StreamingInclusionProofs; links: StoreLink[] }

interface StoreLogRead {
  /** The entries at the sizes asked for. */
  at: Map<number, { link: StoreLink; checkpoint?: string }>;
  /** The compact range of the links before the anchored one (its inclusion proof); undefined when unknown. */
  beforeAnchor: Buffer[] | undefined;
  /** The store log from the anchored size on (every node held: the store head's proofs); undefined when unknown. */
  grown: MerkleTree | undefined;
  /**
   * Per candidate store head (the anchored size; with `links`, also the store head past it), the
   * proofs of the checkpoint links `links` wants. Streamed: a policy's whole log is never held (an
   * export of a log of 10^8 links would hold 6.4 GB as a MerkleTree). The first one's compact range
   * is also the store log before the anchored link.
   */
  provers: LinkProver[];
}

/**
 * Reads a policy's entries from the retention cut (`start`, its compact range; undefined when
 * unknown) up to the anchored size and the store head, whichever is larger; proving the links of
 * the checkpoints `links` wants, when given.
 */
async function readStoreLog(entries: AsyncIterable<PolicyEntryLine>, start: MerkleAppender | undefined, sizes: { anchored: number; store: number }, links: CheckpointLinks | undefined): Promise<StoreLogRead> {
  const out: StoreLogRead = { at: new Map(), beforeAnchor: undefined, grown: undefined, provers: provers(start, sizes, links !== undefined) };
  const last = Math.max(sizes.anchored, sizes.store);
  for await (const e of entries) {
    if (e.type !== 'entry') continue;
    readLink(out, e.link, sizes.anchored, links?.wants(e.link) === true);
    if (e.link.seq === sizes.anchored || e.link.seq === sizes.store) out.at.set(e.link.seq, { link: e.link, ...(e.checkpoint === undefined ? {} : { checkpoint: e.checkpoint }) });
    if (e.link.seq >= last) break;
  }
  return out;
}

/** One link into the trees: the provers', and past the anchored link the grown one (started from the anchored tree's compact range). */
function readLink(out: StoreLogRead, link: StoreLink, anchored: number, wanted: boolean): void {
  const leaf = leafHashOfHex(link.hash);
  const anchoredTree = out.provers[0]?.prover;
  const atAnchor = link.seq === anchored && anchoredTree?.count === link.seq - 1;
  if (atAnchor) out.beforeAnchor = anchoredTree.compactRange();
  if (link.seq > anchored) out.grown = out.grown?.size === link.seq - 1 ? (out.grown.append(leaf), out.grown) : undefined;
  proveLink(out.provers, link, leaf, wanted);
  if (atAnchor) out.grown = MerkleTree.resume(link.seq, anchoredTree.compactRange());
}

/** A tree to the anchored size (its compact range is the store log before the anchored link), and to the store head past it when links are proven. */
function provers(start: MerkleAppender | undefined, sizes: { anchored: number; store: number }, proving: boolean): LinkProver[] {
  if (start === undefined) return [];
  const candidates = proving && sizes.store > sizes.anchored ? [sizes.anchored, sizes.store] : [sizes.anchored];
  return candidates.map((size) => ({ size, prover: new StreamingInclusionProofs(size, { size: start.size, compactRange: start.compactRange() }), links: [] }));
}

/** Each prover whose tree the link belongs to takes it (and proves it when it stores a wanted checkpoint); one that sees a gap stops. */
function proveLink(list: LinkProver[], link: StoreLink, leaf: Buffer, wanted: boolean): void {
  for (const v of list) {
    if (link.seq > v.size || v.prover.count !== link.seq - 1) continue;
    if (wanted) {
      v.prover.chooseNext();
      v.links.push(link);
    }
    v.prover.append(leaf);
  }
}

/** The anchor line with the export's store head, when the links read are that head's (not gone with retention meanwhile, nor another store's). */
function withStoreHead(line: AnchorLine, past: NonNullable<PolicyState['checkpoint']>, head: StoreLogAt | undefined): AnchorLine {
  if (head?.link.hash !== past.head || head.checkpoint !== past.note) return line;
  return { ...line, store: storeGrowth(line.records, { ...head, checkpoint: past.note }) };
}

/** The export's store head when the store log had grown past the anchor and the anchor has its store checkpoint (to prove consistency from). */
function storeHeadPast(line: AnchorLine, store: PolicyState['checkpoint']): NonNullable<PolicyState['checkpoint']> | undefined {
  return line.note !== undefined && store !== undefined && store.size > line.records ? store : undefined;
}

interface StoreLogAt { link: StoreLink; checkpoint?: string; since: MerkleTree }

/** The store log grown from size `from` to a store checkpoint: that checkpoint, its last link with its inclusion, and the consistency proof from `from`. */
function storeGrowth(from: number, { link, checkpoint, since }: StoreLogAt & { checkpoint: string }): StoreHeadAtExport {
  return {
    records: link.seq, head: link.hash, link, root: parseCheckpoint(checkpoint).checkpoint.rootHash.toString('hex'), note: checkpoint,
    inclusion: hexList(since.inclusionProof(link.seq - 1, link.seq)), consistency: hexList(since.consistencyProof(from, link.seq)),
  };
}

/**
 * What `guarita verify --file --policy` asks for when AccessPolicy status anchors a head newer than
 * the export's: the store log's growth from the export's store head (`from`) to that head (`to`,
 * a store checkpoint), which the verifier checks against the store key and roots it already holds.
 * A string says why it cannot be given (read API: 404).
 */
export async function storeProof(index: StoreIndex, namespace: string, policy: string, from: number, to: number): Promise<StoreProof | string> {
  const p = index.policies.get(policyKey(namespace, policy));
  if (p === undefined) return `nothing is stored for policy ${policy} in namespace ${namespace}`;
  const read = await readStoreLog(policyEntries(index, namespace, policy), storeTreeAtCut(p), { anchored: from, store: to }, undefined);
  if (read.beforeAnchor === undefined) return `store link #${from} of policy ${policy} is not held with the store log before it (removed by retention, or not stored yet): no proof can start there`;
  const head = read.at.get(to);
  if (read.grown === undefined || head?.checkpoint === undefined) return `store link #${to} of policy ${policy} is not a stored store checkpoint (not stored yet, or not a head the operator anchors)`;
  return { policy, from, ...storeGrowth(from, { ...head, checkpoint: head.checkpoint, since: read.grown }) };
}

/** The store log's tree where the policy's stored links start: empty, or the retention cut's frontier (undefined if unknown). */
function storeTreeAtCut(p: PolicyState): MerkleAppender | undefined {
  if (p.tombstone === undefined) return new MerkleAppender();
  const frontier = p.tombstone.cut.frontier;
  return frontier === undefined ? undefined : MerkleAppender.resume(p.tombstone.cut.seq, frontier.map((h) => Buffer.from(h, 'hex')));
}

/** The anchored link's store checkpoint and its inclusion proof: the last leaf's path is the compact range before it, smallest first. */
function withStoreCheckpoint(a: AnchorLine, note: string | undefined, before: readonly Buffer[] | undefined): AnchorLine {
  if (note === undefined || before === undefined) return a;
  // The root too, so --anchor takes the store-log root as it takes the head.
  return { ...a, root: parseCheckpoint(note).checkpoint.rootHash.toString('hex'), note, inclusion: hexList([...before].reverse()) };
}

/** Public store keys: the current one and every key that signed something still stored. */
function storeKeyLines(index: StoreIndex): StoreKeyLine[] {
  const ids = new Set([index.key.keyId, ...index.keys.keys()]);
  return [...ids].flatMap((keyId) => keyInfo(index, keyId) ?? (keyId === index.key.keyId ? { keyId, publicJwk: index.key.publicJwk } : [])).map((k) => ({ type: 'storeKey' as const, keyId: k.keyId, publicJwk: k.publicJwk }));
}

/**
 * A verifiable export (format guarita-export/v2, core/recording/export-format.ts) of the records
 * the filter selects: its preamble (store keys, registrations and the manifest signed with the
 * store key now, the anchors, checkpoints and consistency proofs), then each run's proof line and
 * records. Proofs are built from the chains' record hashes held in the index.
 */
export async function* exportLines(index: StoreIndex, namespace: string, filter: ExportFilter, anchored: AnchoredLookup = () => undefined): AsyncIterable<ExportV2Line | SessionRecord> {
  const chains = [...index.chains.values()].filter((c) => c.state.namespace === namespace);
  // Every chain's records, leaves and checkpoints at this one moment, before any await (chainSnapshot).
  const selected = chains.map((c) => chainSnapshot(c, [...c.refs.values()].filter((r) => exported(r, filter)).sort((a, b) => a.seq - b.seq))).filter((x) => x.refs.length > 0);
  // The anchors and store heads at that same moment: an anchor read later could be newer than the records.
  const heads = policyHeadsAt(index, namespace, new Set(selected.flatMap((x) => x.refs.map((r) => r.policy))), anchored);
  const links = new CheckpointLinks(selected.flatMap((x) => x.checkpoints.map((k) => ({ chainId: x.c.state.chainId, size: k.size }))));
  const anchors: AnchorLine[] = [];
  for (const h of heads) {
    const line = await anchorLine(index, namespace, h, links);
    if (line !== undefined) anchors.push(line);
  }
  const plan = planExport({
    namespace, filter: exportFilterText(filter), createdAt: new Date().toISOString(), storeKey: index.key, storeKeys: storeKeyLines(index), anchors,
    chains: await Promise.all(selected.map(chainSource)), checkpointStore: links.of,
  });
  yield* plan.preamble;
  const refsOf = new Map(selected.map(({ c }) => [c.state.chainId, c.refs]));
  for (const run of plan.runs) {
    yield run.proof;
    for (let seq = run.from; seq <= run.to; seq++) {
      const ref = refsOf.get(run.chainId)?.get(seq);
      const r = ref === undefined ? undefined : await readRecord(ref);
      if (r !== undefined) yield r;
    }
  }
}

function exportFilterText(f: ExportFilter): ExportFilterV2 {
  return {
    ...(f.policy === undefined ? {} : { policy: f.policy }),
    ...(f.sessionId === undefined ? {} : { sessionId: f.sessionId }),
    ...(f.since === undefined ? {} : { since: new Date(f.since).toISOString() }),
    ...(f.until === undefined ? {} : { until: new Date(f.until).toISOString() }),
  };
}

/** A policy's head as stored: never a link of a commit group still being written (store-writer.ts links a group before its fdatasync). */
const storedHead = (p: PolicyState): { seq: number; head: string } => p.durable ?? p.chain.position;

export function policyHeads(index: StoreIndex): PolicyHead[] {
  return [...index.policies.values()].map((p) => ({
    namespace: p.namespace, policy: p.policy, records: storedHead(p).seq, head: storedHead(p).head,
    counters: { ...p.counters }, version: p.version,
  }));
}

function keyInfo(index: StoreIndex, keyId: string): StoreKeyInfo | undefined {
  const k = index.keys.get(keyId);
  return k === undefined ? undefined : { keyId, publicJwk: k.export({ format: 'jwk' }) };
}

export function policyChain(index: StoreIndex, namespace: string, policy: string): PolicyChainInfo | undefined {
  const p = index.policies.get(policyKey(namespace, policy));
  if (p === undefined) return undefined;
  const own = index.key;
  const keyIds = new Set([...p.segments.flatMap((s) => [...s.keyIds]), ...(p.tombstone === undefined ? [] : [p.tombstone.keyId])]);
  return {
    namespace, policy, chainId: storeChainId(namespace, policy), head: storedHead(p).head, records: storedHead(p).seq,
    storeKey: { keyId: own.keyId, publicJwk: own.publicJwk },
    storeKeys: [...keyIds].flatMap((id) => keyInfo(index, id) ?? []),
    ...(p.tombstone === undefined ? {} : { tombstone: p.tombstone }),
    segments: p.segments.length,
  };
}

function entryPreamble(index: StoreIndex, p: PolicyState, info: PolicyChainInfo): PolicyEntryLine[] {
  const lines: PolicyEntryLine[] = info.storeKeys.map((k) => ({ type: 'storeKey', keyId: k.keyId, publicJwk: k.publicJwk }));
  const chainIds = new Set(p.segments.flatMap((s) => s.refs.map((r) => r.chainId)));
  for (const id of [...chainIds].sort()) {
    const c = index.chains.get(id)?.state;
    if (c !== undefined) lines.push({ type: 'chainKey', chainId: id, keyId: c.keyId, publicJwk: c.publicJwk });
  }
  if (p.tombstone !== undefined) lines.push({ type: 'tombstone', tombstone: p.tombstone });
  return lines;
}

async function readSegment(seg: Segment): Promise<ParsedSegment | undefined> {
  try {
    return parseSegment((await readFile(seg.path)).subarray(0, seg.bytes));
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw err;
  }
}

export async function* policyEntries(index: StoreIndex, namespace: string, policy: string): AsyncIterable<PolicyEntryLine> {
  const info = policyChain(index, namespace, policy);
  const p = index.policies.get(policyKey(namespace, policy));
  if (info === undefined || p === undefined) return;
  yield* entryPreamble(index, p, info);
  for (const seg of [...p.segments]) {
    const parsed = await readSegment(seg);
    for (const e of parsed?.entries ?? []) {
      yield {
        type: 'entry', link: e.link, ...(e.record === undefined ? {} : { record: e.record }),
        ...(e.chainCheckpoint === undefined ? {} : { chainCheckpoint: e.chainCheckpoint.note }),
        ...(e.storeCheckpoint === undefined ? {} : { checkpoint: e.storeCheckpoint.note }),
      };
    }
  }
}
