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
  EXPORT_FORMAT_V2, hexList, signStatement, type AnchorLine, type CheckpointLine, type ConsistencyLine, type ExportFilterV2, type ExportV2Line,
  type ManifestStatement, type ProofLine, type RegistrationStatement, type StoreKeyLine,
} from './export-format.ts';

export interface ExportChainSource {
  registration: RegistrationStatement;
  /** The chain's record hashes by seq - 1 (the leaves), as far as the store holds them; undefined where retention removed one. */
  hashes: readonly (string | undefined)[];
  /** The chain's stored checkpoints, any order. */
  checkpoints: readonly { size: number; note: string }[];
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
}

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

/** The chain's tree up to `size`, or undefined when a leaf it needs is gone (retention). */
function treeOf(hashes: readonly (string | undefined)[], size: number): MerkleTree | undefined {
  const tree = new MerkleTree();
  for (let i = 0; i < size; i++) {
    const h = hashes[i];
    if (h === undefined) return undefined;
    tree.append(leafHashOfHex(h));
  }
  return tree;
}

interface ChainPlan { checkpoints: CheckpointLine[]; consistency: ConsistencyLine[]; runs: ExportRun[] }

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

function planChain(c: ExportChainSource): ChainPlan {
  const chainId = c.registration.chainId;
  const bySize = new Map(c.checkpoints.map((k) => [k.size, k.note]));
  const newest = Math.max(0, ...bySize.keys());
  // Without every leaf up to the newest checkpoint no proof can be built: the runs fall back to
  // checkpoint 0 (format 1 records still verify by their signatures; others are reported unproven).
  const tree = newest === 0 ? undefined : treeOf(c.hashes, newest);
  const sizes = tree === undefined ? [] : [...bySize.keys()].sort((a, b) => a - b);
  const runs: ExportRun[] = [];
  const used = new Set<number>();
  for (const [from, to] of seqRanges(c.selected)) {
    for (const [a, b, size] of splitRun(sizes, from, to)) {
      const proof = size === 0 || tree === undefined ? { left: [], right: [] } : tree.rangeProof(a - 1, b, size);
      if (size > 0) used.add(size);
      runs.push({ chainId, from: a, to: b, proof: { type: 'proof', chainId, checkpoint: size, from: a, to: b, left: hexList(proof.left), right: hexList(proof.right) } });
    }
  }
  const usedSizes = [...used].sort((a, b) => a - b);
  const checkpoints = usedSizes.map((size): CheckpointLine => ({ type: 'checkpoint', chainId, size, note: bySize.get(size) as string }));
  const consistency = usedSizes.slice(1).map((to, i): ConsistencyLine => {
    const from = usedSizes[i] as number;
    return { type: 'consistency', chainId, from, to, proof: hexList((tree as MerkleTree).consistencyProof(from, to)) };
  });
  return { checkpoints, consistency, runs };
}

/** The export's lines before the records, and the runs of records to stream after them, in order. */
export function planExport(input: ExportPlanInput): ExportPlan {
  const chains = [...input.chains].filter((c) => c.selected.length > 0).sort((a, b) => (a.registration.chainId < b.registration.chainId ? -1 : 1));
  const plans = chains.map(planChain);
  const records = chains.reduce((n, c) => n + c.selected.length, 0);
  const manifest: ManifestStatement = {
    type: 'export.manifest', namespace: input.namespace, filter: input.filter, createdAt: input.createdAt,
    chains: Object.fromEntries(chains.map((c) => [c.registration.chainId, seqRanges(c.selected)])),
  };
  const preamble: ExportV2Line[] = [
    { type: 'export', format: EXPORT_FORMAT_V2, namespace: input.namespace, filter: input.filter, createdAt: input.createdAt, records, chains: chains.length },
    ...input.storeKeys,
    ...chains.map((c) => ({ type: 'registration' as const, ...signStatement(c.registration, input.storeKey) })),
    ...input.anchors,
    { type: 'manifest', ...signStatement(manifest, input.storeKey) },
    ...plans.flatMap((p) => [...p.checkpoints, ...p.consistency]),
  ];
  return { preamble, runs: plans.flatMap((p) => p.runs), records };
}
