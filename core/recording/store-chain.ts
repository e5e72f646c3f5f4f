// The operator's own chain per policy ("store chain"): one signed link per stored record (and one
// per retention cut), so the head anchored in AccessPolicy status covers everything stored for the
// policy. Tombstones are the operator's signed statement of what a retention cut removed, so
// verification resumes exactly where the cut left off.
import { createHash, type KeyObject } from 'node:crypto';
import { canonicalJson, GENESIS, hashOf, verifyHashSignature, signHash, type ChainPosition, type SigningKey } from './index.ts';
import type { RemovedRange, SessionRecord, StoreLink, StoreLinkPayload, Tombstone } from './store-types.ts';

export function storeChainId(namespace: string, policy: string): string {
  return `store/${namespace}/${policy}`;
}

/**
 * Appends links to one policy's store chain (the caller serializes calls and persists them).
 * Every link is hash-chained; signatures are checkpoints: the writer signs the last link of each
 * commit group (and every tombstone link), so one Ed25519 signature covers all links before it.
 * An unsigned link has sig "". Verification requires the head to be signed (verify.ts).
 */
export class StoreChain {
  readonly namespace: string;
  readonly policy: string;
  readonly chainId: string;
  readonly #key: SigningKey;
  #position: ChainPosition;

  constructor(namespace: string, policy: string, key: SigningKey, from: ChainPosition = { seq: 0, head: GENESIS }) {
    this.namespace = namespace;
    this.policy = policy;
    this.chainId = storeChainId(namespace, policy);
    this.#key = key;
    this.#position = { ...from };
  }

  get position(): ChainPosition { return { ...this.#position }; }

  #append(payload: StoreLinkPayload, sign: boolean): StoreLink {
    const linked = { ...payload, chainId: this.chainId, seq: this.#position.seq + 1, prev: this.#position.head, keyId: this.#key.keyId };
    const hash = hashOf(linked);
    this.#position = { seq: linked.seq, head: hash };
    return { ...linked, hash, sig: sign ? signHash(this.#key, hash) : '' };
  }

  linkRecord(record: SessionRecord, time: string, sign = false): StoreLink {
    return this.#append({
      type: 'store.record', namespace: this.namespace, policy: this.policy, time,
      source: { chainId: record.chainId, seq: record.seq, hash: record.hash },
    }, sign);
  }

  linkTombstone(tombstone: Tombstone, time: string): StoreLink {
    return this.#append({
      type: 'store.tombstone', namespace: this.namespace, policy: this.policy, time,
      cut: { seq: tombstone.cut.seq, head: tombstone.cut.head, tombstone: tombstone.hash },
    }, true);
  }

  /** Makes `link` (this chain's newest) a signed checkpoint. */
  sign(link: StoreLink): void {
    link.sig = signHash(this.#key, link.hash);
  }
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
