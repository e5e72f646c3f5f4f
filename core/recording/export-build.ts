// Plans a verifiable export (export-format.ts): which proofs, checkpoints and consistency proofs
// go with the records selected, and the operator's signed statements (registrations, manifest).
// Pure: the operator's read side (operator/src/store/store-reads.ts) feeds it from the store index
// and streams the records of each run after its proof line; the benchmark feeds it a chain it wrote.
//
// Each run of consecutive selected records is proven against the smallest checkpoint that covers
// its last record (the checkpoint the sidecar signed soonest after writing it), so a run never
// crosses a checkpoint size; consecutive checkpoints used are tied by consistency proofs, which
// shows the chain only grew between them. Whole-chain exports are then a recomputation of every
// leaf, checkpoint by checkpoint.
import { MerkleTree, leafHashOfHex } from './merkle.ts';
import type { SigningKey } from './keys.ts';
import {
  EXPORT_FORMAT_V2, hexList, signStatement, type AnchorLine, type CheckpointLine, type CheckpointStoreLink, type ConsistencyLine, type ExportFilterV2, type ExportV2Line,
  type ManifestStatement, type ProofLine, type RegistrationStatement, type StoreKeyLine,
} from './export-format.ts';

export interface ExportChainSource {
  registration: RegistrationStatement;
  /** The store key's signature over `registration` made when the operator accepted it (else the export signs it now). */
  vouched?: { storeKeyId: string; hash: string; sig: string };
  /** The chain's record hashes by seq - 1 (the leaves), as far as the store holds them; undefined where retention removed one. */
  hashes: readonly (string | undefined)[];
  /** The chain's stored checkpoints, any order. */
  checkpoints: readonly { size: number; note: string }[];
  /** Compact ranges stored with checkpoints (hex): after retention, the tree resumes from one instead of the removed leaves. */
  frontiers?: readonly { size: number; frontier: readonly string[] }[];
  /** Seqs of the records to export, ascending. */
  selected: readonly number[];
}

export interface ExportPlanInput {
  namespace: string;
  filter: ExportFilterV2;
  createdAt: string;
  /** Signs the registrations and the manifest (the operator's current store key). */
  storeKey: SigningKey;
  /** Every public store key a line of the export is signed with (the current one included). */
  storeKeys: readonly StoreKeyLine[];
  anchors: readonly AnchorLine[];
  chains: readonly ExportChainSource[];
  /**
   * Where the store log of each anchored policy holds a sidecar checkpoint: its store.checkpoint
   * links with their inclusion proofs (CheckpointLine.store). Without them the file's records rest
   * on the store key alone.
   */
  checkpointStore?: (chainId: string, size: number) => readonly CheckpointStoreLink[] | undefined;
}

type CheckpointStoreOf = NonNullable<ExportPlanInput['checkpointStore']>;

/** Records [from, to] of `chainId` follow `proof` in the file. */
export interface ExportRun { chainId: string; from: number; to: number; proof: ProofLine }

export interface ExportPlan { preamble: ExportV2Line[]; runs: ExportRun[]; records: number }

/** Maximal runs of consecutive seqs. */
export function seqRanges(seqs: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const s of seqs) {
    const last = out[out.length - 1];
    if (last !== undefined && s === last[1] + 1) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}

/** The smallest checkpoint size ≥ seq, or 0 when none covers it. */
function coveringSize(sizes: readonly number[], seq: number): number {
  let lo = 0;
  let hi = sizes.length;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if ((sizes[mid] as number) >= seq) hi = mid;
    else lo = mid + 1;
  }
  return sizes[lo] ?? 0;
}

/**
 * The chain's tree up to `size` and the leaf count it starts at: from genesis when every leaf is
 * held, else resumed from the smallest stored frontier after the last missing leaf (retention), or
 * undefined when none is.
 */
function treeOf(hashes: readonly (string | undefined)[], size: number, frontiers: ExportChainSource['frontiers'] = []): { tree: MerkleTree; start: number } | undefined {
  let missing = -1;
  for (let i = 0; i < size; i++) if (hashes[i] === undefined) missing = i;
  const start = missing < 0 ? { size: 0, frontier: [] } : [...frontiers].filter((f) => f.size > missing && f.size <= size).sort((a, b) => a.size - b.size)[0];
  if (start === undefined) return undefined;
  const tree = start.size === 0 ? new MerkleTree() : MerkleTree.resume(start.size, start.frontier.map((h) => Buffer.from(h, 'hex')));
  for (let i = start.size; i < size; i++) tree.append(leafHashOfHex(hashes[i] as string));
  return { tree, start: start.size };
}

interface ChainPlan { checkpoints: CheckpointLine[]; consistency: ConsistencyLine[]; runs: ExportRun[]; operatorOnly: [number, number, string][] }

/** Splits a run at checkpoint sizes: [from, to] → pieces each covered by one checkpoint (0: none). */
function splitRun(sizes: readonly number[], from: number, to: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  let at = from;
  while (at <= to) {
    const size = coveringSize(sizes, at);
    const end = size === 0 ? to : Math.min(to, size);
    out.push([at, end, size]);
    at = end + 1;
  }
  return out;
}

/** Splits [from, to] where the tree starts: records up to `start` cannot be proven (checkpoint 0). */
function pieces(sizes: readonly number[], start: number, from: number, to: number): [number, number, number][] {
  if (from > start) return splitRun(sizes, from, to);
  if (to <= start) return [[from, to, 0]];
  return [[from, start, 0], ...splitRun(sizes, start + 1, to)];
}

/** The runs of the chain's selected records, each with its proof (or none: checkpoint 0, vouched for by the manifest). */
function planRuns(c: ExportChainSource, sizes: readonly number[], start: number, tree: MerkleTree | undefined): { runs: ExportRun[]; used: Set<number>; operatorOnly: [number, number, string][] } {
  const chainId = c.registration.chainId;
  const runs: ExportRun[] = [];
  const used = new Set<number>();
  const operatorOnly: [number, number, string][] = [];
  for (const [from, to] of seqRanges(c.selected)) {
    for (const [a, b, size] of pieces(sizes, start, from, to)) {
      const last = c.hashes[b - 1];
      if (size === 0 && last !== undefined) operatorOnly.push([a, b, last]);
      const proof = size === 0 || tree === undefined ? { left: [], right: [] } : tree.rangeProof(a - 1, b, size);
      if (size > 0) used.add(size);
      runs.push({ chainId, from: a, to: b, proof: { type: 'proof', chainId, checkpoint: size, from: a, to: b, left: hexList(proof.left), right: hexList(proof.right) } });
    }
  }
  return { runs, used, operatorOnly };
}

/**
 * Checkpoints whose tree is larger than the leaves held (the chain's newest records gone with
 * another policy's retention, or a checkpoint read after the records were chosen) can prove
 * nothing the export holds: a proof against one needs the missing leaves. They are left out, so the
 * tree is built to the largest checkpoint the leaves reach; built to one of them, it would resume
 * from that checkpoint's frontier and prove none of the chain (every run vouched for by the
 * operator alone, no checkpoint line).
 */
function heldCheckpoints(c: ExportChainSource): Map<number, string> {
  return new Map(c.checkpoints.filter((k) => k.size <= c.hashes.length && c.hashes[k.size - 1] !== undefined).map((k) => [k.size, k.note]));
}

function checkpointLine(chainId: string, size: number, note: string, storeOf: CheckpointStoreOf): CheckpointLine {
  const store = storeOf(chainId, size);
  return { type: 'checkpoint', chainId, size, note, ...(store === undefined || store.length === 0 ? {} : { store: [...store] }) };
}

function planChain(c: ExportChainSource, storeOf: CheckpointStoreOf): ChainPlan {
  const chainId = c.registration.chainId;
  const bySize = heldCheckpoints(c);
  const newest = Math.max(0, ...bySize.keys());
  // Without the leaves (or a frontier standing in for them) no proof can be built: such runs get
  // checkpoint 0 (format 1 records still verify by their signatures; others are reported unproven).
  const built = newest === 0 ? undefined : treeOf(c.hashes, newest, c.frontiers);
  const start = built?.start ?? Number.MAX_SAFE_INTEGER;
  const sizes = built === undefined ? [] : [...bySize.keys()].filter((size) => size > start).sort((a, b) => a - b);
  const { runs, used, operatorOnly } = planRuns(c, sizes, start, built?.tree);
  const usedSizes = [...used].sort((a, b) => a - b);
  const checkpoints = usedSizes.map((size) => checkpointLine(chainId, size, bySize.get(size) as string, storeOf));
  const consistency = usedSizes.slice(1).map((to, i): ConsistencyLine => {
    const from = usedSizes[i] as number;
    return { type: 'consistency', chainId, from, to, proof: hexList((built as { tree: MerkleTree }).tree.consistencyProof(from, to)) };
  });
  return { checkpoints, consistency, runs, operatorOnly };
}

/** The export's lines before the records, and the runs of records to stream after them, in order. */
export function planExport(input: ExportPlanInput): ExportPlan {
  const chains = [...input.chains].filter((c) => c.selected.length > 0).sort((a, b) => (a.registration.chainId < b.registration.chainId ? -1 : 1));
  const storeOf = input.checkpointStore ?? (() => undefined);
  const plans = chains.map((c) => planChain(c, storeOf));
  const records = chains.reduce((n, c) => n + c.selected.length, 0);
  const manifest: ManifestStatement = {
    type: 'export.manifest', namespace: input.namespace, filter: input.filter, createdAt: input.createdAt,
    chains: Object.fromEntries(chains.map((c) => [c.registration.chainId, seqRanges(c.selected)])),
  };
  const operatorOnly = Object.fromEntries(chains.flatMap((c, i) => ((plans[i] as ChainPlan).operatorOnly.length > 0 ? [[c.registration.chainId, (plans[i] as ChainPlan).operatorOnly]] : [])));
  if (Object.keys(operatorOnly).length > 0) manifest.operatorOnly = operatorOnly;
  const preamble: ExportV2Line[] = [
    { type: 'export', format: EXPORT_FORMAT_V2, namespace: input.namespace, filter: input.filter, createdAt: input.createdAt, records, chains: chains.length },
    ...input.storeKeys,
    // A registration an older store key vouched for is vouched for again by the current one: the
    // verifier accepts only registrations signed by the key that signs the manifest.
    ...chains.map((c) => ({ type: 'registration' as const, ...(c.vouched?.storeKeyId !== input.storeKey.keyId ? signStatement(c.registration, input.storeKey) : { statement: c.registration, ...c.vouched }) })),
    ...input.anchors,
    { type: 'manifest', ...signStatement(manifest, input.storeKey) },
    ...plans.flatMap((p) => [...p.checkpoints, ...p.consistency]),
  ];
  return { preamble, runs: plans.flatMap((p) => p.runs), records };
}
