// The operator's own log per policy ("store chain", "store log"): one link per stored record, per
// stored sidecar checkpoint and per retention cut, hash-chained and the leaves of a Merkle log with
// one signed checkpoint per commit group, so the head anchored in AccessPolicy status covers
// everything stored for the policy. Tombstones are the operator's signed statement of what a retention cut removed, so
// verification resumes exactly where the cut left off.
import { createHash, hash as oneShotHash, type JsonWebKey, type KeyObject } from 'node:crypto';
import { canonicalJson, GENESIS, RECORD_FORMAT, verifyHashSignature, signHash, type ChainPosition, type SigningKey } from './index.ts';
import { signChainCheckpoint } from './chain-checkpoint.ts';
import { ChainTree } from './chain-tree.ts';
import type { RemovedRange, SessionRecord, StoreCheckpoint, StoreLink, StoreLinkPayload, Tombstone } from './store-types.ts';

export function storeChainId(namespace: string, policy: string): string {
  return `store/${namespace}/${policy}`;
}

/**
 * Appends links to one policy's store log (the caller serializes calls and persists them). Every
 * link is hash-chained (`prev`) and a leaf of the log's Merkle tree (leaf index seq - 1, leaf data
 * the bytes of its hash). Signatures are checkpoints: at the end of each commit group the writer
 * signs ONE C2SP checkpoint over the tree (`seal`), which covers every link before it.
 *
 * A store written before issue 19 whose tree cannot be rebuilt (a retention cut removed its first
 * links and no frontier was stored) continues in format 1: links without `v`, the last link of
 * each group signed (`sig`), the others `sig: ""`, until the tree is known again (never, for that
 * policy: its verification stays the hash chain and signed links, as before).
 */
export class StoreChain {
  readonly namespace: string;
  readonly policy: string;
  readonly chainId: string;
  readonly #key: SigningKey;
  #position: ChainPosition;
  /** JSON of #position.head (a store.record link's `prev`): a head this log hashed is hex, quoted as is. */
  #headJson: string;
  /** The store log's tree at #position; undefined: a format 1 policy whose tree is unknown. */
  #tree: ChainTree | undefined;
  /** The canonical JSON of a store.record link up to its `prev` (the members before it never change for this log). */
  readonly #recordLinkPrefix: string;
  /** The JSON of the last store.record link's time and source chain id (the next link mostly has the same). */
  #linkTime = { text: '', json: '""' };
  #sourceChain = { text: '', json: '""' };

  /** `tree`: the store log's tree at `from`; null writes format 1 links (a tree that cannot be rebuilt). */
  constructor(namespace: string, policy: string, key: SigningKey, from: ChainPosition = { seq: 0, head: GENESIS }, tree: ChainTree | null = from.seq === 0 ? ChainTree.empty() : null) {
    this.namespace = namespace;
    this.policy = policy;
    this.chainId = storeChainId(namespace, policy);
    this.#key = key;
    this.#position = { ...from };
    this.#headJson = JSON.stringify(from.head);
    this.#tree = tree ?? undefined;
    this.#recordLinkPrefix = `{"chainId":${JSON.stringify(this.chainId)},"keyId":${JSON.stringify(key.keyId)},"namespace":${JSON.stringify(namespace)},"policy":${JSON.stringify(policy)},"prev":`;
  }

  get position(): ChainPosition { return { ...this.#position }; }

  /** Whether links are format 2 (a Merkle log with checkpoints). */
  get merkle(): boolean { return this.#tree !== undefined; }

  #append(payload: StoreLinkPayload): { link: StoreLink; text: string } {
    const linked = { ...payload, chainId: this.chainId, seq: this.#position.seq + 1, prev: this.#position.head, keyId: this.#key.keyId, ...(this.#tree === undefined ? {} : { v: RECORD_FORMAT }) };
    const text = storeLinkText(linked);
    const hash = oneShotHash('sha256', text, 'hex');
    this.#position = { seq: linked.seq, head: hash };
    this.#headJson = `"${hash}"`;
    this.#tree?.append(hash);
    const link = linked as StoreLink;
    link.hash = hash;
    if (this.#tree === undefined) link.sig = '';
    return { link, text };
  }

  linkRecord(record: SessionRecord, time: string): StoreLink {
    return this.linkRecordWithText(record, time).link;
  }

  /**
   * linkRecord, with the link's canonical JSON without `hash` and `sig` (what its hash is over):
   * the store writes the segment line from it rather than serializing the link again.
   */
  linkRecordWithText(record: SessionRecord, time: string): { link: StoreLink; text: string } {
    // One link per stored record: its canonical JSON is written directly (members in RFC 8785 order,
    // strings as JSON.stringify writes them, as canonicalJson does), the members that never change
    // for this log prepared once. A unit test compares it with canonicalJson of the link.
    const seq = this.#position.seq + 1;
    const prev = this.#position.head;
    const source = { chainId: record.chainId, seq: record.seq, hash: record.hash };
    // A commit group's links share their time and mostly their source chain: their JSON is kept from the previous link.
    if (time !== this.#linkTime.text) this.#linkTime = { text: time, json: JSON.stringify(time) };
    if (source.chainId !== this.#sourceChain.text) this.#sourceChain = { text: source.chainId, json: JSON.stringify(source.chainId) };
    const sourceSeq = Number.isSafeInteger(source.seq) ? String(source.seq) : canonicalJson(source.seq);
    const text = `${this.#recordLinkPrefix}${this.#headJson},"seq":${seq},"source":{"chainId":${this.#sourceChain.json},"hash":${JSON.stringify(source.hash)},"seq":${sourceSeq}},"time":${this.#linkTime.json},"type":"store.record"${this.#tree === undefined ? '' : `,"v":${RECORD_FORMAT}`}}`;
    const hash = oneShotHash('sha256', text, 'hex');
    // The link #append would make (same members, same order).
    const link = (this.#tree === undefined
      ? { type: 'store.record', namespace: this.namespace, policy: this.policy, time, source, chainId: this.chainId, seq, prev, keyId: this.#key.keyId, hash, sig: '' }
      : { type: 'store.record', namespace: this.namespace, policy: this.policy, time, source, chainId: this.chainId, seq, prev, keyId: this.#key.keyId, v: RECORD_FORMAT, hash }) as StoreLink;
    this.#position = { seq, head: hash };
    this.#headJson = `"${hash}"`;
    this.#tree?.append(hash);
    return { link, text };
  }

  /** A stored sidecar checkpoint (the note goes beside the link, on the same segment line). */
  linkCheckpoint(checkpoint: { chainId: string; size: number; root: string }, time: string): StoreLink {
    return this.#append({ type: 'store.checkpoint', namespace: this.namespace, policy: this.policy, time, checkpoint: { ...checkpoint } }).link;
  }

  linkTombstone(tombstone: Tombstone, time: string): StoreLink {
    return this.#append({
      type: 'store.tombstone', namespace: this.namespace, policy: this.policy, time,
      cut: { seq: tombstone.cut.seq, head: tombstone.cut.head, tombstone: tombstone.hash },
    }).link;
  }

  /**
   * Ends a commit group whose newest link is `last`: one signed store checkpoint over the tree
   * (with the frontier to resume it), or for a format 1 policy a signature on `last`.
   */
  seal(last: StoreLink, time: Date): StoreCheckpoint | undefined {
    if (this.#tree === undefined) {
      last.sig = signHash(this.#key, last.hash);
      return undefined;
    }
    return { note: signChainCheckpoint(this.chainId, this.#tree.size, this.#tree.root(), this.#key, time), frontier: this.#tree.frontier() };
  }
}

/** A store link's members in RFC 8785 order (UTF-16 code units; all ASCII here). */
const LINK_KEYS = ['chainId', 'checkpoint', 'cut', 'keyId', 'namespace', 'policy', 'prev', 'seq', 'source', 'time', 'type', 'v'] as const;
const LINK_KEY_SET = new Set<string>(LINK_KEYS);

/**
 * hashOf for store links without sorting their members at run time: a link's members are known,
 * so its canonical JSON is written in their fixed order (strings and numbers as JCS writes them,
 * the one nested object through canonicalJson). The ingest path hashes one link per record. A link
 * with any other member is hashed by hashOf; both give the same hash (a unit test compares them).
 */
export function storeLinkHash(link: Omit<StoreLink, 'hash' | 'sig'>): string {
  return oneShotHash('sha256', storeLinkText(link), 'hex');
}

/** A link's canonical JSON without `hash` and `sig` (what storeLinkHash hashes). */
export function storeLinkText(link: Omit<StoreLink, 'hash' | 'sig'>): string {
  const l = link as unknown as Record<string, unknown>;
  for (const k in l) if (!LINK_KEY_SET.has(k)) return canonicalJson(l);
  let out = '';
  for (const k of LINK_KEYS) {
    const v = l[k];
    if (v === undefined) continue;
    out += `${out === '' ? '{' : ','}"${k}":${typeof v === 'object' ? canonicalJson(v) : JSON.stringify(v)}`;
  }
  return `${out}}`;
}

/** What the operator vouches for when it registers a sidecar chain: this key speaks for this chain of this pod. */
export interface ChainRegistrationStatement {
  type: 'chain.registration';
  chainId: string;
  namespace: string;
  pod: string;
  keyId: string;
  publicJwk: JsonWebKey;
  registeredBy: string;
  registeredAt: string;
}

/** The store key's signature over a statement: hash = SHA-256 of its canonical JSON (RFC 8785), sig = Ed25519 over the hash bytes. */
export interface Vouched { storeKeyId: string; hash: string; sig: string }

export function registrationStatement(reg: Omit<ChainRegistrationStatement, 'type'>): ChainRegistrationStatement {
  return { type: 'chain.registration', chainId: reg.chainId, namespace: reg.namespace, pod: reg.pod, keyId: reg.keyId, publicJwk: reg.publicJwk, registeredBy: reg.registeredBy, registeredAt: reg.registeredAt };
}

/** Signs a chain registration with the store key when the operator accepts it (kept with the registration, carried by exports). */
export function vouchRegistration(reg: Omit<ChainRegistrationStatement, 'type'>, key: SigningKey): Vouched {
  const hash = createHash('sha256').update(canonicalJson(registrationStatement(reg))).digest('hex');
  return { storeKeyId: key.keyId, hash, sig: signHash(key, hash) };
}

/** Why a vouched registration does not verify with the store key, or undefined. */
export function vouchedProblem(reg: Omit<ChainRegistrationStatement, 'type'>, vouched: Vouched, key: KeyObject | undefined): string | undefined {
  if (createHash('sha256').update(canonicalJson(registrationStatement(reg))).digest('hex') !== vouched.hash) return `the registration of chain ${reg.chainId} does not match the operator's signed statement (altered)`;
  if (key === undefined) return `the registration of chain ${reg.chainId} is signed by unknown store key ${vouched.storeKeyId}`;
  return verifyHashSignature(key, vouched.hash, vouched.sig) ? undefined : `the operator's signature on the registration of chain ${reg.chainId} does not verify`;
}

type UnsignedTombstone = Omit<Tombstone, 'keyId' | 'hash' | 'sig'>;

function tombstoneHash(t: UnsignedTombstone & { keyId: string }): string {
  return createHash('sha256').update(canonicalJson(t)).digest('hex');
}

export function signTombstone(t: UnsignedTombstone, key: SigningKey): Tombstone {
  const withKey = { ...t, keyId: key.keyId };
  const hash = tombstoneHash(withKey);
  return { ...withKey, hash, sig: signHash(key, hash) };
}

export function verifyTombstone(t: Tombstone, key: KeyObject | undefined): string | undefined {
  const { hash, sig, ...rest } = t;
  if (tombstoneHash(rest) !== hash) return 'tombstone content does not match its hash';
  if (key === undefined) return `tombstone signed by unknown store key ${t.keyId}`;
  if (!verifyHashSignature(key, hash, sig)) return 'tombstone signature does not verify';
  return undefined;
}

/** Adds a removed record to a chain's sorted, merged ranges. */
export function addRemoved(ranges: RemovedRange[], seq: number, hash: string): void {
  const last = ranges[ranges.length - 1];
  if (last !== undefined && last[1] + 1 === seq) {
    last[1] = seq;
    last[2] = hash;
    return;
  }
  if (last === undefined || last[1] < seq) {
    ranges.push([seq, seq, hash]);
    return;
  }
  ranges.push([seq, seq, hash]);
  ranges.sort((a, b) => a[0] - b[0]);
  mergeInPlace(ranges);
}

function mergeInPlace(ranges: RemovedRange[]): void {
  const merged: RemovedRange[] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last[1] + 1 >= r[0]) {
      if (r[1] > last[1]) { last[1] = r[1]; last[2] = r[2]; }
    } else {
      merged.push([r[0], r[1], r[2]]);
    }
  }
  ranges.splice(0, ranges.length, ...merged);
}

/** Merges the removed ranges of several tombstones (one per policy) for one chain. */
export function mergeRanges(lists: readonly RemovedRange[][]): RemovedRange[] {
  const all = lists.flat().map((r): RemovedRange => [r[0], r[1], r[2]]).sort((a, b) => a[0] - b[0]);
  mergeInPlace(all);
  return all;
}

/** The hash of the removed record at `seq`, when it ends a removed range (what a successor links to). */
export function removedHashAt(ranges: readonly RemovedRange[], seq: number): string | undefined {
  return ranges.find((r) => r[1] === seq)?.[2];
}

export function isRemoved(ranges: readonly RemovedRange[] | undefined, seq: number): boolean {
  return (ranges ?? []).some((r) => r[0] <= seq && seq <= r[1]);
}
