// The lines of a verifiable export, format guarita-export/v2 (docs/recording.md, "Exports"): a
// JSONL file that carries its own trust anchors, so `guarita verify --file` needs nothing else.
//
//   export        header: namespace, filter, time, what the file holds
//   storeKey      the operator's public store keys (every key that signs a line below)
//   registration  per chain: the chain's public key, as the operator vouches for it (signed statement)
//   anchor        per policy: the store head the operator anchored in AccessPolicy status, signed by the
//                 store key (so `--anchor H` or `--policy P` ties the store key to the cluster)
//   manifest      the operator's signed statement of which records (per chain, seq ranges) the file holds:
//                 a record dropped from the file, first or last included, is a manifest range not met
//   checkpoint    per chain, each sidecar checkpoint the proofs use (C2SP signed note, chain key)
//   consistency   per chain, RFC 9162 consistency proofs between consecutive checkpoints used
//   proof         a range proof (merkle.ts) for the run of records that follows it, against one checkpoint
//   <records>     the records exactly as the sidecar wrote them
//
// Signed statements (registration, manifest) are `{statement, storeKeyId, hash, sig}`: hash =
// SHA-256 of the statement's canonical JSON (RFC 8785), sig = Ed25519 by the store key over the hash
// bytes (base64url), as store links are signed. Pure types and helpers.
import { createHash, hash, type JsonWebKey, type KeyObject } from 'node:crypto';
import { canonicalJson, canonicalJsonWithout } from './canonical.ts';
import { signHash, verifyHashSignature, type SigningKey } from './keys.ts';
import type { StoreLink } from './store-types.ts';

export const EXPORT_FORMAT_V2 = 'guarita-export/v2';

export interface ExportFilterV2 { policy?: string; sessionId?: string; since?: string; until?: string }

export interface ExportHeader {
  type: 'export';
  format: typeof EXPORT_FORMAT_V2;
  namespace: string;
  filter: ExportFilterV2;
  createdAt: string;
  records: number;
  chains: number;
}

export interface StoreKeyLine { type: 'storeKey'; keyId: string; publicJwk: JsonWebKey }

export interface RegistrationStatement {
  type: 'chain.registration';
  chainId: string;
  namespace: string;
  pod: string;
  keyId: string;
  publicJwk: JsonWebKey;
  registeredBy?: string;
  registeredAt?: string;
}

export interface ManifestStatement {
  type: 'export.manifest';
  namespace: string;
  filter: ExportFilterV2;
  createdAt: string;
  /** Per chain, the [fromSeq, toSeq] ranges (inclusive, ascending) of the records the file holds. */
  chains: Record<string, [number, number][]>;
  /**
   * Per chain, runs [fromSeq, toSeq, hash of toSeq] of format 2 records no sidecar checkpoint can
   * prove any more (retention removed leaves their proofs need): the operator vouches for them
   * with this statement, and the verifier says so.
   */
  operatorOnly?: Record<string, [number, number, string][]>;
}

export interface Signed<S> { statement: S; storeKeyId: string; hash: string; sig: string }

export type RegistrationLine = { type: 'registration' } & Signed<RegistrationStatement>;
export type ManifestLine = { type: 'manifest' } & Signed<ManifestStatement>;

/**
 * A store head the operator anchored in AccessPolicy status.chain: the store link at `records`
 * itself (its hash is `head` and it names the store key that made it, so a file re-signed with
 * another key cannot carry the anchored head), with, for a store log with checkpoints, its root
 * at `records`, the store checkpoint `note` of that size and the link's inclusion proof in it.
 */
export interface AnchorLine {
  type: 'anchor';
  policy: string;
  records: number;
  head: string;
  link: StoreLink;
  root?: string;
  note?: string;
  inclusion?: string[];
  /**
   * The export's store head, when the store log had grown past the anchor at the export's moment
   * (records ingested since the last anchoring): the policy's newest store checkpoint then (`note`,
   * size `records`, `root`), its last `link` (hash `head`) with its `inclusion` proof, and the RFC 9162
   * `consistency` proof from the anchored size to it. Additive (readers before it ignore it): it lets
   * a head AccessPolicy status shows after the export, up to the records it holds, anchor it too.
   */
  store?: StoreHeadAtExport;
}

export interface StoreHeadAtExport { records: number; head: string; link: StoreLink; root: string; note: string; inclusion: string[]; consistency: string[] }

/**
 * The operator's answer to GET .../policies/{policy}/chain/proof?from=&to= : the policy's store log
 * grown from size `from` to the store checkpoint of size `records`, as an anchor line's store head
 * is proven from its anchor. `guarita verify --file --policy` asks for it when AccessPolicy status
 * anchors a head newer than the export's store head, and checks it as it checks the file.
 */
export interface StoreProof extends StoreHeadAtExport { policy: string; from: number }

/**
 * A sidecar checkpoint with, in `store`, where the operator stored it: per policy whose anchor the
 * file carries, the `store.checkpoint` link naming it ({chainId, size, root}) and that link's RFC
 * 9162 inclusion proof in the policy's newest store head of the file (the anchor line's `store`,
 * else its anchored checkpoint). A link inside the anchored part of the store log pins the chain's
 * tree of that size, so the records proven against this checkpoint are the ones the operator took
 * in, whoever holds the store key now (review 27: a chain key re-registered by the store key's
 * holder verified anchored). Additive: files without it verify, their records not anchored.
 */
export interface CheckpointLine { type: 'checkpoint'; chainId: string; size: number; note: string; store?: CheckpointStoreLink[] }

export interface CheckpointStoreLink { policy: string; link: StoreLink; inclusion: string[] }
export interface ConsistencyLine { type: 'consistency'; chainId: string; from: number; to: number; proof: string[] }

/**
 * Records [from, to] (seq, inclusive) of a chain follow this line; with `left` and `right` (hex,
 * merkle.ts RangeProof) their leaves rebuild the root of the chain's checkpoint of size
 * `checkpoint`. checkpoint 0: format 1 records with no checkpoint, each verified by its signature.
 */
export interface ProofLine { type: 'proof'; chainId: string; checkpoint: number; from: number; to: number; left: string[]; right: string[] }

export type ExportV2Line = ExportHeader | StoreKeyLine | RegistrationLine | AnchorLine | ManifestLine | CheckpointLine | ConsistencyLine | ProofLine;

/**
 * The members the operator writes on each line kind (store-reads.ts, export-build.ts; every version
 * of format 2 since issue 19), and on an anchor's store head. A line of a kind carrying any other
 * member holds content no check reads: a proof line or a header carrying a whole record's members
 * (`seq`, `hash`, `command`, …) verified, and tools that pick records by "has seq and hash" showed
 * them (review 29). The verifier refuses such lines.
 */
export const EXPORT_LINE_MEMBERS: Readonly<Record<ExportV2Line['type'], ReadonlySet<string>>> = {
  export: new Set(['type', 'format', 'namespace', 'filter', 'createdAt', 'records', 'chains']),
  storeKey: new Set(['type', 'keyId', 'publicJwk']),
  registration: new Set(['type', 'statement', 'storeKeyId', 'hash', 'sig']),
  anchor: new Set(['type', 'policy', 'records', 'head', 'link', 'root', 'note', 'inclusion', 'store']),
  manifest: new Set(['type', 'statement', 'storeKeyId', 'hash', 'sig']),
  checkpoint: new Set(['type', 'chainId', 'size', 'note', 'store']),
  consistency: new Set(['type', 'chainId', 'from', 'to', 'proof']),
  proof: new Set(['type', 'chainId', 'checkpoint', 'from', 'to', 'left', 'right']),
};

export const STORE_HEAD_MEMBERS: ReadonlySet<string> = new Set(['records', 'head', 'link', 'root', 'note', 'inclusion', 'consistency']);

export const CHECKPOINT_STORE_MEMBERS: ReadonlySet<string> = new Set(['policy', 'link', 'inclusion']);

/** The export line kind a parsed line names (own members only: `constructor` is no kind), or undefined: a record, or no line of an export. */
export function exportLineKind(v: unknown): ExportV2Line['type'] | undefined {
  const type = (v as { type?: unknown } | null)?.type;
  return typeof type === 'string' && Object.hasOwn(EXPORT_LINE_MEMBERS, type) ? (type as ExportV2Line['type']) : undefined;
}

/** Whether a parsed export line is a session record: it has a seq and a hash and is none of the export's own line kinds. */
export function isExportRecord(v: unknown): boolean {
  const l = v as { seq?: unknown; hash?: unknown } | null;
  return typeof l === 'object' && l !== null && typeof l.seq === 'number' && typeof l.hash === 'string' && exportLineKind(l) === undefined;
}

/** The members of `v` outside `allowed`, at most `max` of them (a line of a million members is named by its first few). */
export function foreignMembers(v: object, allowed: ReadonlySet<string>, max = 5): string[] {
  const out: string[] = [];
  for (const name in v) {
    if (!Object.hasOwn(v, name) || allowed.has(name)) continue;
    out.push(name);
    if (out.length === max) break;
  }
  return out;
}

function statementHash(statement: object): string {
  return createHash('sha256').update(canonicalJson(statement)).digest('hex');
}

export function signStatement<S extends object>(statement: S, key: SigningKey): Signed<S> {
  const hash = statementHash(statement);
  return { statement, storeKeyId: key.keyId, hash, sig: signHash(key, hash) };
}

/** Why a signed statement cannot be trusted, or undefined when it verifies with `key`. */
export function statementProblem(s: Signed<object>, key: KeyObject | undefined): string | undefined {
  if (typeof s.hash !== 'string' || statementHash(s.statement) !== s.hash) return 'its content does not match its hash (altered)';
  if (key === undefined) return `it is signed by store key ${String(s.storeKeyId)}, which the export does not list`;
  return verifyHashSignature(key, s.hash, s.sig) ? undefined : 'its store-key signature does not verify (altered or forged)';
}

export const hexList = (hashes: readonly Buffer[]): string[] => hashes.map((h) => h.toString('hex'));

const HASH_MEMBER = /,"hash":"([0-9a-f]{64})"\}$/;

/**
 * A record's line in an export: format 2 records as their canonical JSON (RFC 8785) without `hash`,
 * then `"hash"` as the last member, so the line minus that member is exactly the text the hash was
 * computed over and a verifier may hash the bytes instead of re-canonicalizing (recordLineHashOk).
 * Format 1 records (with `sig`) as plain JSON. Either way any JSON reader reads the same record.
 */
export function exportRecordLine(record: { hash: string; sig?: string; v?: unknown }): string {
  if (record.v !== 2 || record.sig !== undefined) return JSON.stringify(record);
  const body = canonicalJsonWithout(record, ['hash']);
  return body === '{}' ? JSON.stringify(record) : `${body.slice(0, -1)},"hash":${JSON.stringify(record.hash)}}`;
}

/**
 * The hash a record line written by exportRecordLine proves from its own text or bytes: the 64 hex
 * digits of its last member `"hash"` when the text before that member, closed with '}', hashes to
 * them. A line the writer made this way is then authentic as far as that hash goes (the text before
 * the member is what the sidecar hashed, so the record parsed from the line is that text's record
 * plus the hash). undefined means "check the parsed record by canonicalizing it" (a line in another
 * form), not that it was altered.
 *
 * Bytes, as a file is read, are hashed as they are: no decoding, no regular expression, one SHA-256
 * of the line's length. A line whose bytes are not valid UTF-8 cannot match (what the writer hashed
 * was the UTF-8 of a string).
 */
export function recordLineHash(line: string | Uint8Array): string | undefined {
  return typeof line === 'string' ? textLineHash(line) : bytesLineHash(line);
}

/** Whether recordLineHash finds the line's hash: its bytes prove it. */
export function recordLineHashOk(line: string | Uint8Array): boolean {
  return recordLineHash(line) !== undefined;
}

function textLineHash(line: string): string | undefined {
  const m = HASH_MEMBER.exec(line);
  if (m === null) return undefined;
  return hash('sha256', `${line.slice(0, m.index)}}`, 'hex') === m[1] ? m[1] : undefined;
}

/** `,"hash":"` + 64 hex digits + `"}`: the tail exportRecordLine ends a line with. */
const HASH_TAIL = Buffer.from(`,"hash":"${'0'.repeat(64)}"}`);
const HASH_MARK = HASH_TAIL.subarray(0, 9);
/**
 * The text before the hash member, closed with '}', assembled for a one-shot hash (hash() reads it
 * synchronously); grown as lines need up to HASHED_TEXT_MAX, longer lines are hashed in two updates.
 */
let hashedText = Buffer.alloc(1 << 12);
const HASHED_TEXT_MAX = 1 << 20;

function bodyDigest(line: Uint8Array, body: number): string {
  if (body + 1 > HASHED_TEXT_MAX) return createHash('sha256').update(line.subarray(0, body)).update('}').digest('hex');
  if (hashedText.length < body + 1) hashedText = Buffer.alloc(Math.min(HASHED_TEXT_MAX, Math.max(body + 1, hashedText.length * 2)));
  if (Buffer.isBuffer(line)) line.copy(hashedText, 0, 0, body);
  else hashedText.set(line.subarray(0, body));
  hashedText[body] = 0x7d;
  return hash('sha256', hashedText.subarray(0, body + 1), 'hex');
}

function bytesAt(line: Uint8Array, at: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (line[at + i] !== expected[i]) return false;
  return true;
}

function bytesLineHash(line: Uint8Array): string | undefined {
  const body = line.length - HASH_TAIL.length;
  if (body < 1 || line[line.length - 1] !== 0x7d || line[line.length - 2] !== 0x22 || !bytesAt(line, body, HASH_MARK)) return undefined;
  const digest = bodyDigest(line, body);
  // The digest is lowercase hex, so equality also proves the member holds 64 lowercase hex digits.
  const at = body + HASH_MARK.length;
  for (let i = 0; i < digest.length; i++) if (digest.charCodeAt(i) !== line[at + i]) return undefined;
  return digest;
}

/**
 * The first member name an object of a JSON text (already parsed successfully) holds twice, names
 * compared as decoded strings ("a" and "\u0061" are one name), or undefined. JSON.parse keeps the
 * last; other readers keep the first or refuse: a verifier must not accept such a text.
 */
export function duplicateMember(text: string): string | undefined {
  const scan: MemberScan = { stack: [], expectName: false };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch !== '"') {
      structural(scan, ch);
      continue;
    }
    const end = stringEnd(text, i);
    const duplicate = scan.expectName ? memberName(scan, JSON.parse(text.slice(i, end + 1)) as string) : undefined;
    if (duplicate !== undefined) return duplicate;
    scan.expectName = false;
    i = end;
  }
  return undefined;
}

interface MemberScan { stack: (Set<string> | undefined)[]; expectName: boolean }

/** The index of the quote closing the string opened at `start`. */
function stringEnd(text: string, start: number): number {
  let j = start + 1;
  while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
  return j;
}

/** Records a member name of the innermost object: the name if it was there already. */
function memberName(scan: MemberScan, name: string): string | undefined {
  const names = scan.stack[scan.stack.length - 1];
  if (names === undefined) return undefined;
  if (names.has(name)) return name;
  names.add(name);
  return undefined;
}

function structural(scan: MemberScan, ch: string): void {
  if (ch === '{' || ch === '[') {
    scan.stack.push(ch === '{' ? new Set() : undefined);
    scan.expectName = ch === '{';
  } else if (ch === '}' || ch === ']') {
    scan.stack.pop();
  } else if (ch === ',') {
    scan.expectName = scan.stack[scan.stack.length - 1] !== undefined;
  }
}
