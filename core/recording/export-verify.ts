// `guarita verify --file`: an export verified alone, streaming, as an auditor runs it on a file.
// The one module an outside verifier needs to read (with merkle.ts, checkpoint.ts, canonical.ts).
//
// Format 2 (export-format.ts) is checked line by line:
//   - every store key-signed statement (chain-key registrations, the manifest, the anchors) verifies
//     with a store key the file lists; with --anchor H (or --policy P against the cluster) one
//     anchor must be H and signed by that store key, which ties the file to AccessPolicy status;
//   - every sidecar checkpoint is a well-formed signed note of its chain, signed by the chain key
//     the operator registered; consecutive checkpoints of a chain are consistent (RFC 9162); its
//     store links (the store.checkpoint links that stored it) are in the file's store heads, and a
//     record counts as anchored only through one inside the head given from outside (review 27);
//   - every record is intact (its hash is its canonical JSON's), links to the record before it, and
//     each run of records rebuilds, with its range proof, the root of its checkpoint;
//   - the records are exactly those the manifest lists, in order: none dropped (first, middle or
//     last), inserted, duplicated or moved;
//   - every other line holds only the members the operator writes on its kind, once per
//     checkpoint and per policy's anchor, and anchors only of the manifest's signer (review 29).
// The first problem in file order is the one named first. Format 1 exports (no header line) are
// verified as before (export-verify-v1.ts).
import { hash, type KeyObject } from 'node:crypto';
import { canonicalJson, canonicalJsonWithout } from './canonical.ts';
import { CheckpointError, noteVerifier, parseCheckpoint, verifyCheckpoint, type NoteVerifier } from './checkpoint.ts';
import { decompose, leafHashOfHex, MerkleAppender, verifyConsistency, verifyInclusion, HASH_SIZE } from './merkle.ts';
import { importPublicKey, keyIdOf, storeKeyLineProblem, verifyHashSignature } from './keys.ts';
import { contentIntact } from './chain.ts';
import { storeChainId } from './store-chain.ts';
import type { SessionRecord, StoreLink } from './store-types.ts';
import {
  CHECKPOINT_STORE_MEMBERS, duplicateMember, EXPORT_FORMAT_V2, EXPORT_LINE_MEMBERS, exportLineKind, foreignMembers, recordLineHash, STORE_HEAD_MEMBERS, statementProblem, type AnchorLine, type CheckpointLine, type CheckpointStoreLink, type ConsistencyLine, type ExportHeader, type ManifestLine, type ProofLine,
  type RegistrationLine, type StoreHeadAtExport, type StoreKeyLine, type StoreProof,
} from './export-format.ts';
import { about, LegacyExportVerifier, type BadRecord, type ChainSummary, type ExportVerdict as LegacyVerdict } from './export-verify-v1.ts';
import { ProblemList, unreadableLine } from './verify-problems.ts';
import { addSeen, missingRanges, rangesProblem, type SeqRange } from './seq-ranges.ts';

export { recordName, type BadRecord, type ChainSummary } from './export-verify-v1.ts';
export { KEPT_PROBLEMS } from './verify-problems.ts';

/** What, outside the file, the verifier was told to trust. */
export interface TrustOptions {
  /** A store head or store-log root as AccessPolicy status.chain shows it (`--anchor`). */
  anchor?: string;
  /**
   * AccessPolicy status.chain of a policy, read from the cluster (`--policy P` with `--file`); with
   * `proof`, the operator's proof that the store log grew from the export's store head to it.
   */
  policyAnchor?: { policy: string; head: string; records: number; root?: string; proof?: StoreProof };
}

/** A verified size of a policy's store log and its root. */
interface StoreBase { records: number; root: Buffer }

export interface TrustSummary {
  /** The store key that signed the manifest (none without a valid manifest): the only one the verdict rests on. */
  storeKeys: string[];
  /** Other store keys the file lists (an operator lists every key that signed something it still stores): nothing of the verdict rests on them. */
  otherStoreKeys?: string[];
  /**
   * The store heads the export carries made with the store key that signed the manifest, verified
   * against it (`store`: the export's own, past the anchor). Anchors made with another key are
   * not among them (review 29: a forger's key and heads were shown beside the real ones).
   */
  anchors: { policy: string; records: number; head: string; root?: string; store?: { records: number; head: string; root: string } }[];
  /**
   * Anchor lines made with another store key than the manifest's: named, relied on for nothing. A
   * forger's, or a genuine export's taken after a store-key rotation and before the operator
   * anchored with the new key (its anchor link is the old key's): neither can anchor the file.
   */
  ignoredAnchors?: { policy: string; keyId: string; line?: number }[];
  /**
   * anchored: an anchor given from outside the file matched, and every record is proven against a
   * sidecar checkpoint whose store link lies in the anchored store log; partly-anchored: it matched,
   * and `unanchored` records rest on the store key alone (ingested after that head, vouched for by
   * the manifest, format 1, or their checkpoint's store link missing); self-asserted: nothing
   * outside vouches for the store key.
   */
  state: 'anchored' | 'partly-anchored' | 'self-asserted' | 'failed';
  /**
   * partly-anchored: how many records, of which chains, no anchored store link covers; `headOnly`
   * when the anchor given pins a store link but not the store log's tree (a head without its root:
   * a store key's holder can build another tree ending in that head, review 36).
   */
  unanchored?: { records: number; chains: { chainId: string; records: number }[]; headOnly?: true };
  /** Anchored to a head newer than the export's, through the operator's proof that the store log grew from the export's store head to it. */
  grown?: { policy: string; from: number; records: number };
  /** state failed: why the anchor given does not match (also among the problems). */
  problem?: string;
}

export interface ExportVerdict extends LegacyVerdict {
  format: 1 | 2;
  trust?: TrustSummary;
  checkpoints?: number;
  /** Records no sidecar checkpoint proves any more (retention): only the operator's signed manifest vouches for them. */
  operatorOnly?: number;
  /**
   * Checkpoints of the file no proof line uses (the operator never writes one): they prove no
   * record, so they are named here and trusted for nothing (they still count against forks and
   * rollbacks, and need their consistency proofs).
   */
  unusedCheckpoints?: { chainId: string; size: number; line: number }[];
  /**
   * What the operator's signed manifest says the export is: its namespace, its filter (policy,
   * session, window) and when it was taken. The records are exactly those of this scope then: a
   * narrower or older export than the one asked for verifies too, and shows as such here.
   */
  scope?: ExportScope;
}

export interface ExportScope { namespace: string; filter: ManifestLine['statement']['filter']; createdAt: string }

type Json = Record<string, unknown>;

interface ChainV2 {
  summary: ChainSummary;
  verifier: NoteVerifier;
  key: KeyObject;
  keyId: string;
  /** Verified checkpoints: size → root, and the line and time of each. */
  roots: Map<number, Buffer>;
  signed: Map<number, { line: number; time?: string }>;
  /** The first line of each checkpoint size, and its note (a copy of it is refused before any signature is checked). */
  checkpointLines: Map<number, { line: number; note: unknown; other: boolean }>;
  /** Verified consistency proofs, as `${from}-${to}`. */
  consistent: Set<string>;
  /** Checkpoint sizes a proof line was checked against (a range proof: the records' inclusion). */
  used: Set<number>;
  /** Per checkpoint size, where the store logs the file proves hold it: policy → store link seq. */
  storeLinks: Map<number, Map<string, number>>;
  /** Records of runs that verified, by the checkpoint size proving them (0: none). */
  provenBy: Map<number, number>;
  /** Expected record ranges (manifest). */
  expected: SeqRange[];
  /** Runs the operator alone vouches for (manifest operatorOnly): `${from}-${to}` → hash of to. */
  vouched: Map<string, string>;
  /** Seqs verified so far, as ranges. */
  seen: SeqRange[];
  lastSeq: number;
  /** A run proven by a checkpoint came already (the chain's tree was available from before it). */
  proven: boolean;
  /** The hash of record lastSeq when it verified: the next run's first record must link to it. */
  lastHash?: string;
}

interface Run {
  /** A checkpoint-0 run the manifest vouches for: the hash its last record must have. */
  vouched?: string;
  chain: ChainV2;
  proof: ProofLine;
  line: number;
  next: number;
  prev?: string;
  tree?: MerkleAppender;
  broken: boolean;
  /**
   * Its proof line was refused for its place (no range, or not after the chain's last record): its
   * records count as nothing, not seen nor verified (review 29: they reached the seen ranges out of
   * order, and the coverage check went quadratic).
   */
  refused?: boolean;
  /** The hashes of its records verified so far, kept only when someone asks for them (onProven). */
  hashes?: string[];
}

function isHex32(v: unknown): v is string {
  return typeof v === 'string' && v.length === HASH_SIZE * 2 && /^[0-9a-f]+$/.test(v);
}

function hexes(v: unknown): Buffer[] | undefined {
  if (!Array.isArray(v) || !v.every(isHex32)) return undefined;
  return v.map((h: string) => Buffer.from(h, 'hex'));
}

const HASHED_AROUND = ['hash', 'sig'];

function recordHashOk(r: SessionRecord): boolean {
  return hash('sha256', canonicalJsonWithout(r as unknown as Record<string, unknown>, HASHED_AROUND), 'hex') === r.hash;
}

/**
 * A record line not hashed from its bytes is canonicalized from what JSON.parse read, which keeps
 * the last of two members of one name; other readers keep the first or refuse, so what one tool
 * shows would not be what was verified. Such a line is refused.
 */
function lineFormProblem(text: string | undefined): string | undefined {
  const name = text === undefined ? undefined : duplicateMember(text);
  return name === undefined ? undefined : `its line holds member ${JSON.stringify(name.slice(0, 40))} twice: JSON readers disagree on which one counts, so what a tool shows may not be what was verified`;
}

function isV2Header(v: unknown): v is ExportHeader {
  const h = v as Partial<ExportHeader> | null;
  return typeof h === 'object' && h !== null && h.type === 'export' && h.format === EXPORT_FORMAT_V2;
}

/** A record: a chain's seq and a hash, on no line of the export's own kinds (such a line with a record's members is refused: EXPORT_LINE_MEMBERS). */
function isRecordLine(v: Json): boolean {
  return typeof v.chainId === 'string' && Number.isSafeInteger(v.seq) && (v.seq as number) > 0 && typeof v.hash === 'string' && exportLineKind(v) === undefined;
}

/** Member names as a problem quotes them: each JSON-quoted, cut at 40 characters. */
function memberNames(names: readonly string[]): string {
  return names.map((x) => JSON.stringify(x.slice(0, 40))).join(', ');
}

/** Members the operator never writes on a line of this kind, named. */
function foreignMembersProblem(kind: keyof typeof EXPORT_LINE_MEMBERS, v: Json): string | undefined {
  const extra = foreignMembers(v, EXPORT_LINE_MEMBERS[kind]);
  if (extra.length === 0) return undefined;
  return `the ${kind} line carries ${memberNames(extra)}${extra.length === 5 ? ', …' : ''}, which the operator never writes on it: content no check reads (a record's members on it would be shown by tools as a record), so the line was altered or forged`;
}

/** The anchor's root is the store checkpoint's, and the anchored link its last leaf. */
function anchorRootProblem(a: AnchorLine, root: Buffer): string | undefined {
  if (a.root !== undefined && root.toString('hex') !== a.root) return 'the store checkpoint\'s root is not the anchor\'s root';
  const inclusion = hexes(a.inclusion ?? []);
  if (inclusion === undefined || !verifyInclusion(a.records - 1, a.records, leafHashOfHex(a.head), inclusion, root)) return 'the anchored link is not the last leaf of the store checkpoint (inclusion proof fails)';
  return undefined;
}

/**
 * Format 2: proven by a checkpoint, and unsigned: its hash leaves `sig` out (format 1's place for
 * the signature), so a `sig` member on one is content nothing covers, whatever it holds. Format 1:
 * signed one by one, with the registered key.
 */
function formatProblem(r: SessionRecord, run: Run): string | undefined {
  const v = (r as { v?: unknown }).v;
  if (v === 2 && Object.hasOwn(r, 'sig')) return 'it is a format 2 record with a `sig` member: format 2 records carry no signature and no hash covers `sig`, so it was added to the record (altered)';
  if (v === 2) return run.proof.checkpoint === 0 && run.vouched === undefined ? 'no checkpoint covers it (a format 2 record is proven only by its chain\'s checkpoints, or vouched for by the manifest)' : undefined;
  if (v !== undefined) return `unknown record format v=${JSON.stringify(v)}`;
  if (r.keyId !== run.chain.keyId) return `it is signed with key ${String(r.keyId)}, not the chain's registered key: re-signed with another key`;
  if (typeof r.sig !== 'string' || !verifyHashSignature(run.chain.key, r.hash, r.sig)) return 'its signature does not verify with the chain\'s registered key: the record was altered or forged';
  return undefined;
}

/**
 * The manifest's operatorOnly runs of a chain, by `${from}-${to}` (one lookup per proof line, not a
 * scan of the list: review 27). A malformed entry vouches for nothing, so its records stay unproven.
 */
function vouchedRuns(runs: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(runs)) return out;
  for (const r of runs as unknown[]) {
    if (Array.isArray(r) && r.length === 3 && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && typeof r[2] === 'string') out.set(`${String(r[0])}-${String(r[1])}`, r[2]);
  }
  return out;
}

function newChain(s: RegistrationLine['statement']): ChainV2 {
  return {
    summary: { chainId: s.chainId, pod: s.pod, records: 0, startsMidChain: false, retentionHoles: 0 },
    verifier: noteVerifier(s.publicJwk, s.keyId), key: importPublicKey(s.publicJwk), keyId: s.keyId,
    roots: new Map(), signed: new Map(), checkpointLines: new Map(), consistent: new Set(), used: new Set(), storeLinks: new Map(), provenBy: new Map(), expected: [], vouched: new Map(), seen: [], lastSeq: 0, proven: false,
  };
}

function rangeText(a: number, b: number): string {
  return a === b ? `#${a}` : `#${a}..#${b}`;
}

function isSeqRange(p: ProofLine): boolean {
  return Number.isSafeInteger(p.from) && Number.isSafeInteger(p.to) && p.from >= 1 && p.to >= p.from;
}

/** A run starting at its proof line; runs that meet link like records of one run (see prev). */
function newRun(c: ChainV2, p: ProofLine, line: number): Run {
  // A run the manifest alone vouches for cannot be swapped for another history ending elsewhere:
  // the first record of the run after it must link to its last.
  return { chain: c, proof: p, line, next: p.from, broken: false, ...(c.lastHash !== undefined && c.lastSeq === p.from - 1 ? { prev: c.lastHash } : {}) };
}

/** Whether `seq` is the next record of the run, within its proof's range. */
function inPlace(run: Run, seq: number): boolean {
  return seq === run.next && seq <= run.proof.to;
}

/** Record `seq`, in its place in its run, is the chain's last seen (its hash once it verifies). */
function seenIn(run: Run, seq: number): void {
  const c = run.chain;
  addSeen(c.seen, seq);
  run.next++;
  c.lastSeq = seq;
  c.summary.records++;
  c.summary.first ??= seq;
  c.summary.last = seq;
  c.lastHash = undefined;
}

/**
 * Retention removes a chain's oldest leaves, so a run the manifest vouches for cannot come after
 * proven records when a checkpoint of the export covers it: the builder would have proven it.
 */
function vouchedProblem(run: Run): string | undefined {
  const { chain: c, proof: p } = run;
  if (run.vouched === undefined || !c.proven || ![...c.roots.keys()].some((size) => size >= p.from)) return undefined;
  return 'the manifest says no checkpoint proves them, yet records before them were proven and the export holds a checkpoint covering them: the operator\'s vouching stands in for a proof it could give (retention only removes a chain\'s oldest leaves)';
}

/**
 * The header is not signed: what it says about the export (namespace, filter, time) must be what
 * the operator's manifest signed, or a reader could be shown another policy, session or window.
 */
function headerProblem(m: ManifestLine['statement'], h: ExportHeader | undefined): string | undefined {
  if (m.namespace !== h?.namespace) return 'the manifest is for another namespace than the header';
  if (canonicalJson(m.filter) !== canonicalJson(h.filter ?? {}) || m.createdAt !== h.createdAt) return 'the header\'s filter or time is not what the operator\'s manifest signed: the header was altered';
  return undefined;
}

/**
 * status.chain's root, when it names one, is the file's root at that head: the same head over
 * another tree is a store log the store key's holder built (review 36).
 */
function rootMismatch(policyAnchor: NonNullable<TrustOptions['policyAnchor']>, root: string | undefined): string | undefined {
  if (policyAnchor.root === undefined || root === policyAnchor.root) return undefined;
  return `AccessPolicy ${policyAnchor.policy} anchors ${policyAnchor.records} links at root ${policyAnchor.root.slice(0, 12)}…, and the export's store log at that head has root ${root === undefined ? 'none' : `${root.slice(0, 12)}…`}: a store log built anew around the anchored head (forged)`;
}

/** The proof ends on the head status.chain names, whose link names the store key that signed the export. */
function provesHead(proof: StoreProof, head: { records: number; head: string }, signer: string): boolean {
  return proof.records === head.records && proof.head === head.head && (proof.link as StoreProof['link'] | undefined)?.keyId === signer;
}

/**
 * The heads an anchor line shows: its anchored link, and its store head when that link was made
 * with the key that signed the manifest. A root is one only when a store checkpoint signed it (the
 * anchor's `note`, the store head's): an anchor without one carries no root that anything checked.
 */
function headsOf(a: AnchorLine, signer: string): { records: number; head: string; root?: string }[] {
  const anchored = a.note === undefined ? { records: a.records, head: a.head } : a;
  return [anchored, ...(a.store?.link.keyId === signer ? [a.store] : [])];
}

/** What an export anchors for a policy, against a head AccessPolicy status shows (`records` links), and what to do. */
function exportHeadsText(a: AnchorLine, records: number): string {
  const mine = `anchors ${a.records} (head ${a.head.slice(0, 12)}…)${a.store === undefined ? '' : ` and holds the store up to ${a.store.records} (head ${a.store.head.slice(0, 12)}…)`}`;
  const newest = a.store?.records ?? a.records;
  if (records > newest) return `${mine}: the AccessPolicy's head is newer than the export (records ingested after it was taken, which it cannot prove); verify it with --anchor and the head AccessPolicy status showed when it was exported, or export again`;
  return `${mine}: re-signed, or made against another head (verify it with --anchor and the head of that time)`;
}

/** The store head is the last leaf of its checkpoint's tree, which only grew from the anchored one (RFC 9162). */
function storeHeadProofProblem(anchored: number, s: StoreHeadAtExport, root: Buffer, anchoredRoot: Buffer): string | undefined {
  const inclusion = hexes(s.inclusion);
  if (inclusion === undefined || !verifyInclusion(s.records - 1, s.records, leafHashOfHex(s.head), inclusion, root)) return ': its head is not the last leaf of its store checkpoint (inclusion proof fails)';
  const consistency = hexes(s.consistency);
  if (consistency === undefined || !verifyConsistency(anchored, s.records, anchoredRoot, root, consistency)) {
    return ` is not consistent with the anchored store checkpoint (#${anchored}): the store log was rewritten between them (or the proof altered)`;
  }
  return undefined;
}

/**
 * An anchor with no store checkpoint: only a signed format 1 link anchors alone, and nothing ties a
 * store head or a root to it (review 27: a forger's own signed link with the real status.chain head
 * written as `root` matched --anchor). The operator writes a root only with its checkpoint.
 */
function uncheckpointedAnchorProblem(a: AnchorLine, signed: boolean): string | undefined {
  if (a.store !== undefined) return 'it carries the export\'s store head but no store checkpoint at the anchor to tie it to';
  if (a.root !== undefined) return 'it names a store-log root but carries no store checkpoint that signs that root: nothing checked it (forged)';
  return signed ? undefined : 'the anchored store link carries no store-key signature and no store checkpoint';
}

/** An entry of a checkpoint line's `store`: an object of the members the operator writes. */
function storeLinkEntryProblem(s: unknown): string | undefined {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'a store link that is not an object (altered)';
  const extra = foreignMembers(s, CHECKPOINT_STORE_MEMBERS);
  if (extra.length === 0) return undefined;
  return `a store link carries ${memberNames(extra)}, which the operator never writes: content no check reads (altered or forged)`;
}

/** Why `link` is not an intact store.checkpoint link of the store log `origin` within its first `records` links. */
function checkpointLinkProblem(link: StoreLink | null | undefined, origin: string, records: number): string | undefined {
  if (typeof link !== 'object' || link === null) return 'its store link carries no link';
  if (!contentIntact(link)) return 'its store link does not hash to its hash (altered)';
  const inHead = Number.isSafeInteger(link.seq) && link.seq >= 1 && link.seq <= records;
  if (link.type !== 'store.checkpoint' || link.chainId !== origin || !inHead) return `its store link is not a store.checkpoint link of ${origin} within the file's store head (#${records})`;
  return undefined;
}

/** The checkpoint the link stored is this one: chain, size and the root its note signs. */
function storedCheckpointProblem(link: StoreLink, k: CheckpointLine, root: string): string | undefined {
  const cp = link.checkpoint;
  if (cp?.chainId === k.chainId && cp.size === k.size && cp.root === root) return undefined;
  return `link #${link.seq} stored another checkpoint (${String(cp?.chainId)} size ${String(cp?.size)}): this one is not what the operator took in (rewritten, or a chain key registered anew)`;
}

/** Verifies a chain's checkpoint line and keeps its root, or says why it cannot be trusted. */
function checkpointProblem(line: number, k: CheckpointLine, c: ChainV2): string | undefined {
  if (typeof k.note !== 'string') return 'its note is not text (a signed checkpoint note)';
  let cp;
  try {
    cp = verifyCheckpoint(k.note, c.verifier);
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw err;
    return err.problem === 'unknown-key' ? `not signed by the chain's registered key: ${err.message}` : err.message;
  }
  if (cp.origin !== k.chainId) return `it is the checkpoint of another chain (${cp.origin}): chains were spliced`;
  if (cp.size !== k.size) return `the signed note says size ${cp.size}`;
  const known = c.roots.get(cp.size);
  if (known !== undefined && !known.equals(cp.rootHash)) return `a second checkpoint of size ${cp.size} with another root, both signed by the chain's key: a fork (the sidecar signed two histories)`;
  c.roots.set(cp.size, cp.rootHash);
  c.signed.set(cp.size, { line, ...(cp.time === undefined ? {} : { time: cp.time }) });
  return undefined;
}

/** Format 2: the streaming verifier. */
class ExportV2Verifier {
  readonly #trust: TrustOptions;
  readonly #problems = new ProblemList(Number.MAX_SAFE_INTEGER);
  readonly #storeKeys = new Map<string, KeyObject>();
  readonly #storeJwks = new Map<string, StoreKeyLine['publicJwk']>();
  readonly #chains = new Map<string, ChainV2>();
  readonly #anchors: AnchorLine[] = [];
  /** The line of each policy's anchor line: one per policy, as the operator writes them. */
  readonly #anchorLines = new Map<string, number>();
  readonly #onProven: ((hash: string) => void) | undefined;
  /** Registrations seen, with the store key that signed each: all must be the manifest's signer. */
  readonly #registrationSigners: { line: number; chainId: string; storeKeyId: string }[] = [];
  #header: ExportHeader | undefined;
  #manifest: ManifestLine | undefined;
  #run: Run | undefined;
  #lines = 0;
  #records = 0;
  #operatorOnly = 0;
  #from: string | undefined;
  #to: string | undefined;

  constructor(trust: TrustOptions, onProven?: (hash: string) => void) {
    this.#trust = trust;
    this.#onProven = onProven;
  }

  #bad(b: BadRecord): void {
    this.#problems.add(b);
  }

  add(line: number, value: unknown, text?: string, bytes?: Uint8Array): void {
    this.#lines++;
    if (value === undefined || typeof value !== 'object' || value === null) return this.#bad({ line, problem: 'the line is not a JSON object: the file was altered or truncated' });
    const v = value as Json;
    try {
      return this.#line(line, v, bytes ?? text);
    } catch (err) {
      // A line no writer makes (nested past the stack's depth, members of unexpected types) fails
      // the file, named, rather than stopping the verifier ("could not verify" reads as a tool
      // error); the run it is in proves nothing more.
      if (this.#run !== undefined) this.#run.broken = true;
      return this.#bad({ line, ...(isRecordLine(v) ? about(v) : {}), problem: unreadableLine(err) });
    }
  }

  #line(line: number, v: Json, text: string | Uint8Array | undefined): void {
    if (isRecordLine(v)) return this.#record(line, v as unknown as SessionRecord, text);
    this.#endRun(line);
    // Own members only: a type naming an Object.prototype member (constructor, toString, …) is
    // unknown like any other, not a built-in that accepts the line and checks nothing.
    const kind = exportLineKind(v);
    if (kind === undefined) return this.#bad({ line, problem: `the line is none of the export's kinds (type ${JSON.stringify(v.type)})` });
    // Refused, and still read: the file fails here, and its other lines are checked as they are.
    const foreign = foreignMembersProblem(kind, v);
    if (foreign !== undefined) this.#bad({ line, problem: foreign });
    return this.#handlers[kind](line, v);
  }

  readonly #handlers: Record<keyof typeof EXPORT_LINE_MEMBERS, (line: number, v: Json) => void> = {
    export: (line, v) => this.#headerLine(line, v as unknown as ExportHeader),
    storeKey: (line, v) => this.#storeKey(line, v as unknown as StoreKeyLine),
    registration: (line, v) => this.#registration(line, v as unknown as RegistrationLine),
    anchor: (line, v) => this.#anchor(line, v as unknown as AnchorLine),
    manifest: (line, v) => this.#manifestLine(line, v as unknown as ManifestLine),
    checkpoint: (line, v) => this.#checkpoint(line, v as unknown as CheckpointLine),
    consistency: (line, v) => this.#consistency(line, v as unknown as ConsistencyLine),
    proof: (line, v) => this.#proof(line, v as unknown as ProofLine),
  };

  #headerLine(line: number, h: ExportHeader): void {
    if (this.#header !== undefined || line !== 1) return this.#bad({ line, problem: 'a second export header: two exports were concatenated or spliced' });
    this.#header = h;
    return undefined;
  }

  #storeKey(line: number, k: StoreKeyLine): void {
    // A key id names one key for the whole file: its thumbprint (RFC 7638). A line naming another
    // key's id would let statements signed by one key be read later under the other's name (a
    // forger's key listed under the store key's id, then the real key under the same id for the
    // anchor).
    const problem = storeKeyLineProblem(k);
    if (problem !== undefined) return this.#bad({ line, problem });
    if (this.#storeKeys.has(k.keyId)) return undefined;
    this.#storeKeys.set(k.keyId, importPublicKey(k.publicJwk));
    this.#storeJwks.set(k.keyId, k.publicJwk);
    return undefined;
  }

  #registration(line: number, r: RegistrationLine): void {
    const s = r.statement as RegistrationLine['statement'] | undefined;
    if (s === undefined) return this.#bad({ line, problem: 'a registration without its statement' });
    const chainId = String(s.chainId);
    const problem = this.#registrationProblem(r, s);
    if (problem !== undefined) return this.#bad({ line, chainId, problem: `the registration of chain ${chainId}: ${problem}` });
    this.#registrationSigners.push({ line, chainId, storeKeyId: String(r.storeKeyId) });
    if (this.#manifest !== undefined) this.#signerCheck(this.#manifest.storeKeyId);
    try {
      this.#chains.set(chainId, newChain(s));
    } catch (err) {
      this.#bad({ line, chainId, problem: `the registration of chain ${chainId}: its key is unusable (${err instanceof Error ? err.message : String(err)})` });
    }
    return undefined;
  }

  #registrationProblem(r: RegistrationLine, s: RegistrationLine['statement']): string | undefined {
    const problem = statementProblem(r, this.#storeKeys.get(r.storeKeyId));
    if (problem !== undefined) return problem;
    if (s.namespace !== this.#header?.namespace) return `it is for namespace ${s.namespace}, the export for ${this.#header?.namespace ?? '?'}`;
    return this.#chains.has(s.chainId) ? 'a second registration for the chain' : undefined;
  }

  #anchor(line: number, a: AnchorLine): void {
    // One per policy, refused before any signature is checked: copies cost a verification each
    // and were each kept and printed (review 29).
    const first = this.#anchorLines.get(String(a.policy));
    if (first !== undefined) return this.#bad({ line, problem: `a second anchor line for policy ${String(a.policy)} (the first is line ${first}): the operator writes one per policy, so it was added (not checked further)` });
    this.#anchorLines.set(String(a.policy), line);
    const problem = this.#anchorProblem(a);
    if (problem !== undefined) return this.#bad({ line, problem: `the anchor of policy ${String(a.policy)}: ${problem}` });
    this.#anchors.push(a);
    return undefined;
  }

  /**
   * The anchored store link must hash to the head, sit at `records`, belong to the policy's store
   * chain and name a store key of the file whose thumbprint is its keyId; its signature (format 1
   * links) or the store checkpoint with the link's inclusion proof (store logs) must verify.
   */
  #anchorProblem(a: AnchorLine): string | undefined {
    const link = a.link as StoreLink | undefined;
    if (typeof link !== 'object' || link === null) return 'it carries no store link';
    const shape = this.#anchorLinkProblem(a, link);
    if (shape !== undefined) return shape;
    const jwk = this.#storeJwks.get(link.keyId) as StoreKeyLine['publicJwk'];
    const sig = (link as { sig?: string }).sig;
    const signed = typeof sig === 'string' && sig !== '';
    if (signed && !verifyHashSignature(this.#storeKeys.get(link.keyId) as KeyObject, link.hash, sig)) return 'the store key\'s signature over the head does not verify';
    if (a.note === undefined) return uncheckpointedAnchorProblem(a, signed);
    return this.#anchorNoteProblem(a, jwk, link.keyId) ?? this.#storeHeadProblem(a, jwk, link.keyId);
  }

  /**
   * The export's store head (past the anchor): a store checkpoint of the policy's store log signed
   * by the anchored link's store key, its head the last leaf of that checkpoint's tree, and the
   * tree only grown since the anchored one (RFC 9162 consistency proof).
   */
  #storeHeadProblem(a: AnchorLine, jwk: StoreKeyLine['publicJwk'], keyId: string): string | undefined {
    if (a.store === undefined) return undefined;
    if (typeof a.store !== 'object' || a.store === null) return 'its store head is not an object (altered)';
    const extra = foreignMembers(a.store, STORE_HEAD_MEMBERS);
    if (extra.length > 0) return `its store head carries ${memberNames(extra)}, which the operator never writes: content no check reads (altered or forged)`;
    // The anchor's own checkpoint verified just before (#anchorNoteProblem).
    const anchoredRoot = verifyCheckpoint(a.note as string, noteVerifier(jwk, keyId)).rootHash;
    return this.#growthProblem(a.policy, { records: a.records, root: anchoredRoot }, a.store, 'the export\'s store head');
  }

  /** Why `s` is not the policy's store log grown from `base` (a verified size and root): its link, its checkpoint, its proofs. */
  #growthProblem(policy: string, base: StoreBase, s: StoreHeadAtExport, name: string): string | undefined {
    const where = `${name} (#${String(s.records)})`;
    const shape = this.#storeHeadLinkProblem({ policy, records: base.records }, s);
    if (shape !== undefined) return `${where}${shape}`;
    const cp = this.#storeCheckpointOf(policy, s, noteVerifier(this.#storeJwks.get(s.link.keyId) as StoreKeyLine['publicJwk'], s.link.keyId));
    if (typeof cp === 'string') return `${where}: ${cp}`;
    const proof = storeHeadProofProblem(base.records, s, cp, base.root);
    return proof === undefined ? undefined : `${where}${proof}`;
  }

  /** The newest verified store head of an anchor line (its store head, else the anchor): where a proof to a newer head starts. */
  #baseOf(a: AnchorLine): StoreBase | undefined {
    if (a.store !== undefined) return { records: a.store.records, root: Buffer.from(a.store.root, 'hex') };
    return a.note === undefined ? undefined : { records: a.records, root: parseCheckpoint(a.note).checkpoint.rootHash };
  }

  /**
   * The store head is a link past the anchor, carried itself, as the anchor's is: its hash covers
   * the store key it names, so a file re-signed with another key cannot show a real head of
   * status.chain as its own.
   */
  #storeHeadLinkProblem(a: Pick<AnchorLine, 'policy' | 'records'>, s: StoreHeadAtExport): string | undefined {
    if (!Number.isSafeInteger(s.records) || s.records <= a.records) return ` is not a store link past the anchored #${a.records}`;
    const link = s.link as StoreLink | undefined;
    const shape = typeof link !== 'object' || link === null ? 'it carries no store link' : this.#anchorLinkProblem({ policy: a.policy, records: s.records, head: s.head }, link);
    return shape === undefined ? undefined : `: ${shape}`;
  }

  /** The root of the store head's checkpoint: signed by the store key, of the policy's store log at its size, the root it names; or why not. */
  #storeCheckpointOf(policy: string, s: StoreHeadAtExport, verifier: NoteVerifier): Buffer | string {
    let cp;
    try {
      cp = verifyCheckpoint(String(s.note), verifier);
    } catch (err) {
      if (err instanceof CheckpointError) return `its store checkpoint ${err.message}`;
      throw err;
    }
    const origin = storeChainId(this.#header?.namespace ?? '', policy);
    if (cp.origin !== origin || cp.size !== s.records) return `its store checkpoint is for ${cp.origin} at size ${cp.size}, not ${origin} at ${s.records}`;
    return s.root === cp.rootHash.toString('hex') ? cp.rootHash : 'the store checkpoint\'s root is not the one named';
  }

  /** The link hashes to the head, is the policy's link #records, and names a listed store key by its thumbprint. */
  #anchorLinkProblem(a: Pick<AnchorLine, 'policy' | 'records' | 'head'>, link: StoreLink): string | undefined {
    if (!contentIntact(link) || link.hash !== a.head) return 'its store link does not hash to the anchored head (altered)';
    const origin = storeChainId(this.#header?.namespace ?? '', a.policy);
    if (link.chainId !== origin || link.seq !== a.records) return `its store link is not link #${a.records} of ${origin}`;
    const jwk = this.#storeJwks.get(link.keyId);
    if (jwk === undefined || !this.#storeKeys.has(link.keyId)) return `its store link was made with store key ${link.keyId}, which the export does not list`;
    if (keyIdOf(jwk) !== link.keyId) return `the store key listed as ${link.keyId} is another key (its thumbprint differs): re-signed with another key`;
    return undefined;
  }

  #anchorNoteProblem(a: AnchorLine, jwk: StoreKeyLine['publicJwk'], keyId: string): string | undefined {
    if (typeof a.note !== 'string') return 'its store checkpoint note is not text (a signed note)';
    let cp;
    try {
      cp = verifyCheckpoint(a.note, noteVerifier(jwk, keyId));
    } catch (err) {
      if (err instanceof CheckpointError) return err.message;
      throw err;
    }
    const origin = storeChainId(this.#header?.namespace ?? '', a.policy);
    if (cp.origin !== origin || cp.size !== a.records) return `the store checkpoint is for ${cp.origin} at size ${cp.size}, the anchor for ${origin} at ${a.records}`;
    return anchorRootProblem(a, cp.rootHash);
  }

  #manifestLine(line: number, m: ManifestLine): void {
    if (this.#manifest !== undefined) return this.#bad({ line, problem: 'a second manifest: two exports were spliced' });
    const problem = statementProblem(m, this.#storeKeys.get(m.storeKeyId));
    if (problem !== undefined) return this.#bad({ line, problem: `the manifest (what the export holds): ${problem}` });
    const header = headerProblem(m.statement, this.#header);
    if (header !== undefined) this.#bad({ line, problem: header });
    if (m.statement.namespace !== this.#header?.namespace) return undefined;
    this.#manifest = m;
    this.#signerCheck(m.storeKeyId);
    this.#expect(line, m.statement);
    return undefined;
  }

  #expect(line: number, m: ManifestLine['statement']): void {
    for (const [chainId, ranges] of Object.entries(m.chains)) {
      const c = this.#chains.get(chainId);
      if (c === undefined) {
        this.#bad({ line, chainId, problem: `the manifest lists chain ${chainId}, which has no registration in the export` });
        continue;
      }
      // Ascending and disjoint, as the operator writes them: the coverage check merges them in one pass.
      const problem = rangesProblem(ranges);
      if (problem === undefined) c.expected = ranges;
      else this.#bad({ line, chainId, problem: `the manifest's record ranges of chain ${chainId} are malformed: ${problem}` });
    }
    for (const [chainId, runs] of Object.entries(m.operatorOnly ?? {})) {
      const c = this.#chains.get(chainId);
      if (c !== undefined) c.vouched = vouchedRuns(runs);
    }
  }

  /**
   * Every registration is signed by the store key that signed the manifest: a file listing a
   * second store key could otherwise vouch, with a key of the forger's, for chain keys of the
   * forger's beside the real operator's anchor and manifest (copied from a real export), and
   * --anchor would tie only the manifest to the cluster. (The operator re-signs registrations
   * an older store key vouched for with its current one when it exports: export-build.ts.)
   */
  #signerCheck(signer: string): void {
    for (const r of this.#registrationSigners.splice(0)) {
      if (r.storeKeyId !== signer) this.#bad({ line: r.line, chainId: r.chainId, problem: `the registration of chain ${r.chainId} is signed by store key ${r.storeKeyId}, not the store key that signed the manifest (${signer}): a chain key vouched for by another key than the anchored one (forged)` });
    }
  }

  #checkpoint(line: number, k: CheckpointLine): void {
    const c = this.#chains.get(k.chainId);
    const problem = c === undefined ? 'no registration for the chain' : (this.#checkpointLineProblem(line, k, c) ?? this.#checkpointStoreProblem(k, c));
    if (problem !== undefined) this.#bad({ line, chainId: k.chainId, problem: `checkpoint of size ${String(k.size)} of chain ${String(k.chainId)}: ${problem}` });
  }

  /**
   * The checkpoint's store links (CheckpointLine.store): each a store.checkpoint link of a policy
   * whose anchor the manifest's signer made, naming this chain, size and root, inside that policy's
   * newest verified store head of the file (inclusion proof). Kept per policy; whether they are
   * anchored is decided against the heads given from outside (#unanchored).
   */
  #checkpointStoreProblem(k: CheckpointLine, c: ChainV2): string | undefined {
    if (k.store === undefined) return undefined;
    if (!Array.isArray(k.store) || k.store.length > this.#anchors.length) return 'its store links are not a list of at most one per anchored policy (altered)';
    const root = (c.roots.get(k.size) as Buffer).toString('hex');
    const found = new Map<string, number>();
    for (const s of k.store as unknown[]) {
      // A policy anchored only with another store key than the manifest's (a genuine export taken
      // between a key rotation and the next anchoring): its links anchor nothing, and fail nothing.
      if (this.#foreignAnchorOnly((s as Partial<CheckpointStoreLink> | null)?.policy)) continue;
      const problem = this.#storeLinkProblem(k, root, s);
      if (problem !== undefined) return problem;
      const { policy, link } = s as CheckpointStoreLink;
      if (found.has(policy)) return `a second store link in policy ${policy}'s log (the operator writes one per policy)`;
      found.set(policy, link.seq);
    }
    c.storeLinks.set(k.size, found);
    return undefined;
  }

  #storeLinkProblem(k: CheckpointLine, root: string, s: unknown): string | undefined {
    const shape = storeLinkEntryProblem(s);
    if (shape !== undefined) return shape;
    const { policy, link, inclusion } = s as CheckpointStoreLink;
    const base = this.#signerBase(String(policy));
    if (base === undefined) return `its store link names policy ${String(policy)}, for which the file carries before it no verified anchor made with the store key that signed the manifest`;
    const origin = storeChainId(this.#header?.namespace ?? '', policy);
    const problem = checkpointLinkProblem(link, origin, base.records) ?? storedCheckpointProblem(link, k, root);
    if (problem !== undefined) return `${problem} (policy ${policy}'s store log)`;
    const proof = hexes(inclusion);
    if (proof === undefined || !verifyInclusion(link.seq - 1, base.records, leafHashOfHex(link.hash), proof, base.root)) return `its store link #${link.seq} is not in policy ${policy}'s store log at the file's store head (inclusion proof fails)`;
    return undefined;
  }

  /** Whether the policy's anchor line was made with another store key than the manifest's (it is ignored, #foreignAnchors). */
  #foreignAnchorOnly(policy: unknown): boolean {
    const signer = this.#manifest?.storeKeyId;
    const a = this.#anchors.find((x) => x.policy === policy);
    return signer !== undefined && a !== undefined && a.link.keyId !== signer;
  }

  /** The newest verified store head of a policy's anchor made with the manifest's store key. */
  #signerBase(policy: string): StoreBase | undefined {
    const signer = this.#manifest?.storeKeyId;
    const a = this.#anchors.find((x) => x.policy === policy && x.link.keyId === signer);
    return a === undefined ? undefined : this.#baseOf(a);
  }

  /**
   * The operator writes one line per checkpoint: a second line of a size is refused, a copy of the
   * first before its signature is checked (review 29: 100,000 copies of one verified, each checked
   * again, about 40 times the cost of a record per byte, and each counted as a checkpoint). Another
   * note of that size is checked once, to name a fork when the chain's key signed it.
   */
  #checkpointLineProblem(line: number, k: CheckpointLine, c: ChainV2): string | undefined {
    if (!Number.isSafeInteger(k.size) || k.size < 1) return 'its size is not a tree size';
    const first = c.checkpointLines.get(k.size);
    if (first === undefined) {
      c.checkpointLines.set(k.size, { line, note: k.note, other: false });
      return checkpointProblem(line, k, c);
    }
    const again = `a second line for the chain's checkpoint of size ${k.size} (the first is line ${first.line}): the operator writes each once, so it was added`;
    if (first.note === k.note || first.other) return `${again} (not checked further)`;
    // Another note of that size, checked once: a second root the chain's key signed is named a fork.
    first.other = true;
    const known = c.signed.get(k.size);
    const problem = checkpointProblem(line, k, c);
    if (known !== undefined) c.signed.set(k.size, known);
    return problem ?? again;
  }

  #consistency(line: number, k: ConsistencyLine): void {
    const c = this.#chains.get(k.chainId);
    const r1 = c?.roots.get(k.from);
    const r2 = c?.roots.get(k.to);
    const where = `chain ${String(k.chainId)}: checkpoints of size ${String(k.from)} and ${String(k.to)}`;
    if (r1 === undefined || r2 === undefined) return this.#bad({ line, chainId: k.chainId, problem: `${where}: a consistency proof names a checkpoint the export does not hold (verified)` });
    const proof = hexes(k.proof);
    if (proof === undefined || !verifyConsistency(k.from, k.to, r1, r2, proof)) return this.#bad({ line, chainId: k.chainId, problem: `${where} are not consistent: the chain was rewritten between them (or the proof altered)` });
    c?.consistent.add(`${k.from}-${k.to}`);
    return undefined;
  }

  #proof(line: number, p: ProofLine): void {
    const c = this.#chains.get(p.chainId);
    const where = `the proof of records ${String(p.chainId)}${rangeText(p.from, p.to)}`;
    if (c === undefined) return this.#bad({ line, chainId: p.chainId, problem: `${where}: no registration for the chain` });
    // Runs that meet (a checkpoint boundary) link like records of one run: a run the manifest alone
    // vouches for cannot be swapped for another history ending elsewhere.
    const run = newRun(c, p, line);
    this.#run = run;
    if (!isSeqRange(p)) return this.#refuse(run, { line, chainId: p.chainId, problem: `${where}: not a range of records` });
    if (p.from <= c.lastSeq) return this.#refuse(run, { line, chainId: p.chainId, seq: p.from, problem: `${where}: they come after ${p.chainId}#${c.lastSeq} in the file: records were reordered or duplicated` });
    if (this.#onProven !== undefined) run.hashes = [];
    if (p.checkpoint === 0) {
      run.vouched = c.vouched.get(`${p.from}-${p.to}`);
      const problem = vouchedProblem(run);
      return problem === undefined ? undefined : this.#runBad(run, { line, chainId: p.chainId, seq: p.from, problem: `${where}: ${problem}` });
    }
    c.proven = true;
    const problem = this.#startTree(run);
    if (problem !== undefined) this.#runBad(run, { line, chainId: p.chainId, problem: `${where}: ${problem}` });
    return undefined;
  }

  /** The run's tree from its left proof, or why the proof cannot be for this checkpoint and place. */
  #startTree(run: Run): string | undefined {
    const p = run.proof;
    if (!run.chain.roots.has(p.checkpoint)) return `the checkpoint of size ${p.checkpoint} is not in the export (dropped) or did not verify`;
    const left = hexes(p.left);
    const right = hexes(p.right);
    if (left === undefined || right === undefined || p.to > p.checkpoint || right.length !== decompose(p.to, p.checkpoint).length) return `the proof does not fit a tree of size ${p.checkpoint} (a proof for another tree size)`;
    try {
      run.tree = MerkleAppender.resume(p.from - 1, left);
    } catch {
      return `the proof does not fit records starting at #${p.from} (a proof for another place or tree size)`;
    }
    run.chain.used.add(p.checkpoint);
    return undefined;
  }

  #runBad(run: Run, b: BadRecord): void {
    run.broken = true;
    this.#bad(b);
  }

  /** A proof line refused for its place: its run is broken and its records count as nothing (Run.refused). */
  #refuse(run: Run, b: BadRecord): void {
    run.refused = true;
    this.#runBad(run, b);
  }

  #record(line: number, r: SessionRecord, text: string | Uint8Array | undefined): void {
    this.#records++;
    this.#span(r.time);
    const run = this.#run;
    if (run === undefined || r.chainId !== run.proof.chainId) return this.#bad({ line, ...about(r), problem: `no proof line covers it: the record was inserted${run === undefined ? '' : ` (or belongs to another chain than ${run.proof.chainId}: chains were spliced)`}` });
    // Refused for its place: its seqs may repeat ones already seen, so none is seen or verified.
    if (run.refused === true) return undefined;
    if (!inPlace(run, r.seq)) return this.#misplaced(line, r, run);
    seenIn(run, r.seq);
    if (run.broken) return undefined;
    const problem = this.#recordProblem(r, run, text);
    if (problem !== undefined) return this.#runBad(run, { line, ...about(r), problem });
    run.prev = r.hash;
    run.chain.lastHash = r.hash;
    run.tree?.appendHex(r.hash);
    run.hashes?.push(r.hash);
    return undefined;
  }

  /**
   * A line as exportRecordLine writes it proves its hash from its bytes (one SHA-256, no
   * canonicalizing); any other form is checked the slow way, from the parsed record: the same
   * verdict for the same record, whichever way it came.
   */
  #recordProblem(r: SessionRecord, run: Run, text: string | Uint8Array | undefined): string | undefined {
    if (text === undefined || recordLineHash(text) !== r.hash) {
      if (!isHex32(r.hash)) return 'its hash is not 64 hex digits: the record was altered';
      const form = lineFormProblem(typeof text === 'string' || text === undefined ? text : Buffer.from(text.buffer, text.byteOffset, text.length).toString('utf8'));
      if (form !== undefined) return form;
      if (!recordHashOk(r)) return 'its content does not match its hash: the record was altered';
    }
    if (run.prev !== undefined && r.prev !== run.prev) return `it does not link to ${r.chainId}#${r.seq - 1} (prev differs): a record was replaced, inserted or re-hashed`;
    return formatProblem(r, run);
  }

  #misplaced(line: number, r: SessionRecord, run: Run): void {
    run.broken = true;
    if (r.seq > run.next && r.seq <= run.proof.to) {
      return this.#bad({ line, chainId: r.chainId, seq: run.next, problem: `${r.chainId}${rangeText(run.next, r.seq - 1)} ${r.seq - run.next === 1 ? 'is' : 'are'} missing: deleted from the file (${r.chainId}#${r.seq} follows)` });
    }
    return this.#bad({ line, ...about(r), problem: r.seq < run.next ? `it appears again or out of order (after ${r.chainId}#${run.next - 1}): records were reordered or duplicated` : `it is outside its proof's range ${rangeText(run.proof.from, run.proof.to)}: inserted or moved` });
  }

  /** A run ends at the next non-record line or the end: all its records there, and the root right. */
  #endRun(at: number): void {
    const run = this.#run;
    this.#run = undefined;
    if (run === undefined || run.broken) return;
    const problem = this.#runEndProblem(run, at);
    if (problem !== undefined) return this.#bad(problem);
    if (run.vouched !== undefined) this.#operatorOnly += run.proof.to - run.proof.from + 1;
    const c = run.chain;
    c.provenBy.set(run.proof.checkpoint, (c.provenBy.get(run.proof.checkpoint) ?? 0) + run.proof.to - run.proof.from + 1);
    // Every record of the run verified (intact, linked, and its root or vouched hash right).
    if (this.#onProven !== undefined) for (const h of run.hashes ?? []) this.#onProven(h);
    return undefined;
  }

  #runEndProblem(run: Run, at: number): BadRecord | undefined {
    const p = run.proof;
    if (run.next <= p.to) return { line: at, chainId: p.chainId, seq: run.next, problem: `${p.chainId}${rangeText(run.next, p.to)} ${run.next === p.to ? 'is' : 'are'} missing: deleted from the file (its proof covers it)` };
    if (run.vouched !== undefined) return run.prev === run.vouched ? undefined : { line: at, chainId: p.chainId, seq: p.to, problem: `records ${p.chainId}${rangeText(p.from, p.to)} do not end on the hash the operator's manifest vouches for: one was altered, inserted or removed` };
    if (run.tree === undefined) return undefined;
    const right = hexes(p.right) as Buffer[];
    decompose(p.to, p.checkpoint).forEach(([lo, hi], i) => run.tree?.appendSubtree(hi - lo, right[i] as Buffer));
    if (run.tree.root().equals(run.chain.roots.get(p.checkpoint) as Buffer)) return undefined;
    return { line: run.line, chainId: p.chainId, seq: p.from, problem: `records ${p.chainId}${rangeText(p.from, p.to)} do not rebuild the root of the chain's checkpoint of size ${p.checkpoint}: one was altered, inserted, removed or re-hashed (or the proof altered)` };
  }

  #span(time: unknown): void {
    if (typeof time !== 'string') return;
    if (this.#from === undefined || time < this.#from) this.#from = time;
    if (this.#to === undefined || time > this.#to) this.#to = time;
  }

  /**
   * A chain's checkpoints, by size, form one history: each tied to the next by a verified
   * consistency proof (else two histories could each prove their own records), and none signed
   * before a smaller one (a checkpoint of a larger tree dated earlier is a rollback or a fork).
   */
  #history(): void {
    for (const [chainId, c] of this.#chains) {
      const sizes = [...c.signed.keys()].sort((a, b) => a - b);
      const unlinked = new Set<number>();
      sizes.slice(1).forEach((to, i) => {
        const from = sizes[i] as number;
        if (!c.consistent.has(`${from}-${to}`)) {
          unlinked.add(to);
          this.#bad({ line: this.#lines + 1, chainId, problem: `chain ${chainId}: no consistency proof ties its checkpoints of size ${from} and ${to}: nothing shows the chain only grew between them (a proof was dropped, or the chain forked)` });
        }
      });
      this.#timesGoForward(chainId, c, sizes.filter((size) => !unlinked.has(size)));
    }
  }

  /**
   * Each dated checkpoint against the latest time of every dated checkpoint of a smaller size, not
   * only its neighbour's: an undated checkpoint between two dated ones (old stores hold such) then
   * hides no rollback across it, and neither does a run of them. A checkpoint no consistency proof
   * ties to the one below it is refused for that already, and left out here.
   */
  #timesGoForward(chainId: string, c: ChainV2, sizes: readonly number[]): void {
    let latest: { size: number; time: string; ms: number } | undefined;
    for (const size of sizes) {
      const signed = c.signed.get(size) as { line: number; time?: string };
      if (signed.time === undefined) continue;
      const ms = Date.parse(signed.time);
      if (latest !== undefined && ms < latest.ms) {
        this.#bad({ line: signed.line, chainId, problem: `chain ${chainId}: its checkpoint of size ${size} was signed before (${signed.time}) its checkpoint of size ${latest.size} (${latest.time}): a rollback or a forged time` });
      } else {
        latest = { size, time: signed.time, ms };
      }
    }
  }

  /** Distinct checkpoints that verified (review 29: copies of one line were each counted). */
  #checkpointCount(): number {
    let n = 0;
    for (const c of this.#chains.values()) n += c.signed.size;
    return n;
  }

  /** Checkpoints that verified but that no proof line is checked against, in file order. */
  #unusedCheckpoints(): { chainId: string; size: number; line: number }[] {
    return [...this.#chains].flatMap(([chainId, c]) => [...c.signed].filter(([size]) => !c.used.has(size)).map(([size, { line }]) => ({ chainId, size, line }))).sort((a, b) => a.line - b.line);
  }

  /** Records the manifest lists that the file did not deliver, or delivered without being listed. */
  #coverage(): void {
    if (this.#manifest === undefined) return this.#bad({ problem: 'the export has no (valid) manifest: nothing says which records it must hold' });
    for (const [chainId, c] of this.#chains) {
      for (const [a, b] of missingRanges(c.expected, c.seen)) {
        this.#bad({ line: this.#lines + 1, chainId, seq: a, problem: `${chainId}${rangeText(a, b)} ${a === b ? 'is' : 'are'} missing: the manifest says the export holds ${a === b ? 'it' : 'them'} (deleted or the file truncated)` });
      }
      for (const [a, b] of missingRanges(c.seen, c.expected)) this.#bad({ chainId, seq: a, problem: `records ${chainId}${rangeText(a, b)} are not in the manifest: inserted` });
    }
    return undefined;
  }

  /**
   * What the verdict rests on: the manifest signer's key and the anchors made with it. Other keys,
   * and anchors made with them (#foreignAnchors), are named apart.
   */
  #trustState(trust: TrustOptions): TrustSummary {
    const signer = this.#manifest?.storeKeyId;
    const anchors = this.#anchors.filter((a) => a.link.keyId === signer).map((a) => ({
      policy: a.policy, records: a.records, head: a.head, ...(a.root === undefined ? {} : { root: a.root }),
      ...(a.store === undefined ? {} : { store: { records: a.store.records, head: a.store.head, root: a.store.root } }),
    }));
    const others = [...this.#storeKeys.keys()].filter((k) => k !== signer);
    const ignored = this.#foreignAnchors();
    const summary = { storeKeys: signer === undefined ? [] : [signer], ...(others.length === 0 ? {} : { otherStoreKeys: others }), anchors, ...(ignored.length === 0 ? {} : { ignoredAnchors: ignored }) };
    const { anchor, policyAnchor } = trust;
    if (anchor === undefined && policyAnchor === undefined) return { ...summary, state: 'self-asserted' };
    const problem = this.#anchorMismatch(trust);
    const proof = policyAnchor?.proof;
    if (problem === undefined) return { ...summary, ...(proof === undefined ? {} : { grown: { policy: proof.policy, from: proof.from, records: proof.records } }), ...this.#anchoredState(trust) };
    this.#bad({ problem });
    return { ...summary, state: 'failed', problem };
  }

  /**
   * Anchor lines made with another store key than the manifest's: nothing of the file rests on
   * them, so they are not summarised as the file's (review 29: a forger's heads were shown beside
   * the real ones, and the real status.chain head beside a file re-signed with a forger's key), and
   * not refused either (a genuine export taken between a key rotation and the next anchoring has
   * one); --anchor and --policy match only the signer's.
   */
  #foreignAnchors(): NonNullable<TrustSummary['ignoredAnchors']> {
    const signer = this.#manifest?.storeKeyId;
    if (signer === undefined) return [];
    return this.#anchors.filter((a) => a.link.keyId !== signer).map((a) => {
      const line = this.#anchorLines.get(String(a.policy));
      return { policy: String(a.policy), keyId: String(a.link.keyId), ...(line === undefined ? {} : { line }) };
    });
  }

  /**
   * Why the anchors given from outside do not match one signed by the manifest's store key. A head
   * matches an anchor line's anchored link or the export's store head on it (verified: the same
   * store key's checkpoint, consistent with the anchored one), so a head AccessPolicy status shows
   * after the export, up to the records the export holds, anchors it too.
   */
  #anchorMismatch(trust: TrustOptions): string | undefined {
    const { anchor, policyAnchor } = trust;
    const signer = this.#manifest?.storeKeyId ?? 'none';
    const fromKey = this.#anchors.filter((a) => a.link.keyId === signer);
    if (anchor !== undefined && !fromKey.some((a) => headsOf(a, signer).some((h) => h.head === anchor || h.root === anchor))) {
      return `no anchor of the export signed by its store key (${signer}) is ${anchor.slice(0, 16)}…: the export was re-signed with another key, or made against another store head`;
    }
    return policyAnchor === undefined ? undefined : this.#policyAnchorMismatch(policyAnchor, fromKey, signer);
  }

  /** `--policy`: one of the file's heads for the policy is AccessPolicy status.chain, or the operator's proof ties its newest to it. */
  #policyAnchorMismatch(policyAnchor: NonNullable<TrustOptions['policyAnchor']>, fromKey: readonly AnchorLine[], signer: string): string | undefined {
    const a = fromKey.find((x) => x.policy === policyAnchor.policy);
    const atHead = a === undefined ? undefined : headsOf(a, signer).find((h) => h.records === policyAnchor.records && h.head === policyAnchor.head);
    if (atHead !== undefined) return rootMismatch(policyAnchor, atHead.root);
    if (a !== undefined && policyAnchor.proof !== undefined) return this.#grownToProblem(a, policyAnchor, signer);
    return `AccessPolicy ${policyAnchor.policy} anchors ${policyAnchor.records} links (head ${policyAnchor.head.slice(0, 12)}…) and the export, signed by store key ${signer}, ${a === undefined ? 'carries no anchor for it' : exportHeadsText(a, policyAnchor.records)}`;
  }

  /**
   * A head newer than the export's, with the operator's proof that the store log grew from the
   * export's newest verified store head to it: the head's own link (its hash is status.chain.head,
   * and it names the store key that signed the manifest), a checkpoint of that key with the head as
   * its last leaf, and a consistency proof from the export's root.
   */
  #grownToProblem(a: AnchorLine, policyAnchor: NonNullable<TrustOptions['policyAnchor']>, signer: string): string | undefined {
    const proof = policyAnchor.proof as StoreProof | null;
    if (typeof proof !== 'object' || proof === null) return 'the operator\'s answer is not a store-log proof';
    const base = this.#baseOf(a);
    const target = `AccessPolicy ${policyAnchor.policy}'s head (#${policyAnchor.records}, ${policyAnchor.head.slice(0, 12)}…)`;
    if (base === undefined || proof.from !== base.records) return `the operator's proof that the store log grew to ${target} does not start at the export's store head (#${base?.records ?? '?'})`;
    if (!provesHead(proof, policyAnchor, signer)) return `the operator's proof is not for ${target} made with the store key that signed the export (${signer})`;
    const problem = this.#growthProblem(a.policy, base, proof, `the operator's proof to ${target}`);
    return problem === undefined ? rootMismatch(policyAnchor, proof.root) : `${problem}: the export and the cluster's head are not one store log`;
  }

  /**
   * Per policy, the size of its store log the heads given from outside anchor (matched, and
   * without a mismatch): the matched head's, or the file's newest when the operator's proof tied it
   * to a newer head AccessPolicy status shows.
   */
  #anchoredSizes(trust: TrustOptions): Map<string, number> {
    const signer = this.#manifest?.storeKeyId ?? 'none';
    const sizes = new Map<string, number>();
    for (const a of this.#anchors.filter((x) => x.link.keyId === signer)) {
      for (const records of this.#anchoredSizesOf(a, trust, signer)) sizes.set(a.policy, Math.max(records, sizes.get(a.policy) ?? 0));
    }
    return sizes;
  }

  /**
   * The sizes of an anchor line's store log whose tree the trust options pin: a root given from
   * outside (`--anchor ROOT`, status.chain.root with `--policy`), never a head alone. A head hashes
   * its link and, through `prev`, the links before it, but the inclusion proofs are checked in the
   * tree the store checkpoint signs, and a store key's holder can sign another tree ending in that
   * head (review 36: a rewritten chain then verified anchored).
   */
  #anchoredSizesOf(a: AnchorLine, trust: TrustOptions, signer: string): number[] {
    const heads = headsOf(a, signer);
    const out = heads.filter((h) => h.root !== undefined && h.root === trust.anchor).map((h) => h.records);
    const pa = trust.policyAnchor;
    if (pa?.policy !== a.policy || pa.root === undefined) return out;
    const matched = heads.filter((h) => h.records === pa.records && h.head === pa.head && h.root === pa.root).map((h) => h.records);
    // The proof is checked only when no head of the file is status.chain's (#policyAnchorMismatch), and its root compared there.
    if (matched.length === 0 && pa.proof !== undefined && pa.proof.root === pa.root) matched.push(this.#baseOf(a)?.records ?? 0);
    return [...out, ...matched];
  }

  /** Whether the anchor given names a root at all (else it pins no tree, and no record). */
  static #pinsRoot(trust: TrustOptions, heads: readonly { root?: string }[]): boolean {
    if (trust.policyAnchor !== undefined) return trust.policyAnchor.root !== undefined;
    return heads.some((h) => h.root !== undefined && h.root === trust.anchor);
  }

  /** anchored when every record is, else partly-anchored with the records that are not. */
  #anchoredState(trust: TrustOptions): Pick<TrustSummary, 'state' | 'unanchored'> {
    const unanchored = this.#unanchored(this.#anchoredSizes(trust));
    if (unanchored.records === 0) return { state: 'anchored' };
    const signer = this.#manifest?.storeKeyId ?? 'none';
    const heads = this.#anchors.filter((x) => x.link.keyId === signer).flatMap((x) => headsOf(x, signer));
    return { state: 'partly-anchored', unanchored: { ...unanchored, ...(ExportV2Verifier.#pinsRoot(trust, heads) ? {} : { headOnly: true as const }) } };
  }

  /** Records whose checkpoint no store link inside an anchored size covers: they rest on the store key alone. */
  #unanchored(sizes: ReadonlyMap<string, number>): NonNullable<TrustSummary['unanchored']> {
    const chains: { chainId: string; records: number }[] = [];
    for (const [chainId, c] of this.#chains) {
      let records = 0;
      for (const [size, count] of c.provenBy) {
        const links = c.storeLinks.get(size);
        const anchored = links !== undefined && [...links].some(([policy, seq]) => seq <= (sizes.get(policy) ?? 0));
        if (!anchored) records += count;
      }
      if (records > 0) chains.push({ chainId, records });
    }
    return { records: chains.reduce((n, x) => n + x.records, 0), chains };
  }

  /** The newest store head of the policy the file proves (signed by the manifest's store key), once the file is read. */
  newestStoreHead(policy: string): number | undefined {
    const a = this.#anchors.find((x) => x.policy === policy && x.link.keyId === this.#manifest?.storeKeyId);
    return a === undefined ? undefined : (this.#baseOf(a)?.records ?? a.records);
  }

  /** The scope the verified manifest signed (none without one). */
  #scope(): { scope?: ExportScope } {
    const m = this.#manifest?.statement;
    return m === undefined ? {} : { scope: { namespace: m.namespace, filter: m.filter, createdAt: m.createdAt } };
  }

  finish(trust: TrustOptions = this.#trust): ExportVerdict {
    this.#endRun(this.#lines + 1);
    this.#history();
    // The trust verdict before the coverage's problems: problems naming no line are kept apart
    // from the others, up to KEPT_PROBLEMS, and this one explains a failure best (review 29).
    const trustState = this.#trustState(trust);
    this.#coverage();
    if (this.#header !== undefined && this.#header.records !== this.#records) this.#bad({ line: this.#lines + 1, problem: `the header announces ${this.#header.records} record(s) and the file holds ${this.#records}: records were removed or inserted, or the file was truncated` });
    return {
      format: 2, ...this.#problems.verdict(), lines: this.#lines, records: this.#records,
      chains: [...this.#chains.values()].map((c) => ({ ...c.summary, runs: c.seen.length })),
      ...(this.#from === undefined || this.#to === undefined ? {} : { timeRange: { from: this.#from, to: this.#to } }),
      trust: trustState, checkpoints: this.#checkpointCount(), operatorOnly: this.#operatorOnly, unusedCheckpoints: this.#unusedCheckpoints(),
      ...this.#scope(),
    };
  }
}

/** Verifies an export of either format: feed it every line in order (parsed JSON, undefined if unparsable), then finish(). */
export class ExportVerifier {
  readonly #trust: TrustOptions;
  readonly #onProven: ((hash: string) => void) | undefined;
  #impl: ExportV2Verifier | LegacyExportVerifier | undefined;

  /**
   * `onProven` is given the hash of each record of a format 2 file once its whole run verified
   * (intact, linked, its checkpoint's root rebuilt or the manifest's vouched hash met): what a
   * tool showing records may call proven (replay). It costs memory for a run's hashes.
   */
  constructor(trust: TrustOptions = {}, onProven?: (hash: string) => void) {
    this.#trust = trust;
    this.#onProven = onProven;
  }

  /**
   * `text`, the line as read (or `bytes`, its bytes without the newline, cheaper still), lets
   * format 2 records be hashed from the line itself (export-format.ts exportRecordLine).
   */
  add(line: number, value: unknown, text?: string, bytes?: Uint8Array): void {
    this.#impl ??= isV2Header(value) ? new ExportV2Verifier(this.#trust, this.#onProven) : new LegacyExportVerifier();
    if (this.#impl instanceof ExportV2Verifier) this.#impl.add(line, value, text, bytes);
    else this.#impl.add(line, value);
  }

  /** The newest store head of `policy` the file proves, once every line was added (format 1: none). */
  newestStoreHead(policy: string): number | undefined {
    return this.#impl instanceof ExportV2Verifier ? this.#impl.newestStoreHead(policy) : undefined;
  }

  /**
   * `trust` (default: the constructor's) is what the file is anchored to: `guarita verify --file
   * --policy` reads AccessPolicy status once the file is read, so the head it compares is not older
   * than the export's.
   */
  finish(trust: TrustOptions = this.#trust): ExportVerdict {
    const impl = this.#impl ?? new LegacyExportVerifier();
    if (impl instanceof ExportV2Verifier) return impl.finish(trust);
    const anchored = trust.anchor !== undefined || trust.policyAnchor !== undefined;
    const verdict = impl.finish(anchored ? [{ problem: 'this export is in format 1 (before issue 19): it carries no store anchors, so --anchor and --policy cannot be checked against it; export again to get a format 2 file' }] : []);
    return { ...verdict, format: 1 };
  }
}
