// A session record's RFC 8785 canonical JSON without `hash` and `sig` (what its hash is over), for
// the ingest hot path: a record's members are known, so they are written in their fixed sorted
// order rather than sorted per record, as store-chain.ts does for store links. Nested values,
// and any record with a member this list does not know, go through canonical.ts (same output;
// record-text.test.ts compares them).
import { canonicalJson, canonicalJsonWithout } from './canonical.ts';
import type { ChainFields } from './chain.ts';
import type { SessionEvent } from './session-event.ts';

/** Every member a record can have besides hash and sig: the compiler refuses this list if a SessionEvent member is missing. */
const MEMBERS = {
  approval: 0, approvalRequest: 0, chainId: 0, channel: 0, command: 0, commandSha256: 0, commandTruncated: 0, decision: 0, durationMs: 0, frames: 0,
  groups: 0, keyId: 0, masked: 0, namespace: 0, pod: 0, policy: 0, prev: 0, protocol: 0, purpose: 0, reason: 0, result: 0,
  rule: 0, seq: 0, sessionId: 0, subject: 0, subjectKind: 0, target: 0, time: 0, type: 0, v: 0,
} satisfies Record<keyof SessionEvent | keyof ChainFields | 'v', 0>;

/** In RFC 8785 order (UTF-16 code units: all ASCII here, so the default sort). */
const NAMES = Object.keys(MEMBERS).sort();
const PREFIXES = NAMES.map((n) => `"${n}":`);
/** Each known member's place in NAMES. */
const SLOT = new Map(NAMES.map((n, i) => [n, i]));
const NOT_HASHED = ['hash', 'sig'] as const;

/**
 * The last short string written for each member and its JSON: most members (namespace, pod, policy,
 * subject, purpose, rule, ...) repeat from record to record of a batch, so their JSON is reused
 * rather than escaped again. A pure memo (same string in, same JSON out); long strings (commands)
 * are not kept, so it holds at most a few kilobytes.
 */
const MEMO_MAX_CHARS = 256;
const lastString: (string | undefined)[] = new Array<string | undefined>(NAMES.length);
const lastJson: string[] = new Array<string>(NAMES.length);

/** A member's canonical JSON: strings and finite numbers directly (JSON.stringify's text, as canonical.ts writes them), the rest through canonical.ts. */
function memberValue(slot: number, value: unknown): string {
  if (typeof value === 'string') {
    if (value === lastString[slot]) return lastJson[slot]!;
    const json = JSON.stringify(value);
    if (value.length <= MEMO_MAX_CHARS) {
      lastString[slot] = value;
      lastJson[slot] = json;
    }
    return json;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return canonicalJson(value);
}

export function recordCanonicalText(record: object): string {
  const r = record as Record<string, unknown>;
  // The record's own enumerable members (what canonicalJson reads, never an inherited one), each
  // put in its sorted place: one pass over the members the record has, not over every known name.
  const names = Object.keys(r);
  const values: unknown[] = new Array<unknown>(NAMES.length);
  for (let k = 0; k < names.length; k++) {
    const name = names[k]!;
    const slot = SLOT.get(name);
    if (slot !== undefined) values[slot] = r[name];
    else if (name !== 'hash' && name !== 'sig') return canonicalJsonWithout(r, NOT_HASHED);
  }
  let out = '';
  for (let i = 0; i < NAMES.length; i++) {
    const value = values[i];
    if (value === undefined) continue;
    out += `${out === '' ? '{' : ','}${PREFIXES[i]!}${memberValue(i, value)}`;
  }
  return `${out === '' ? '{' : out}}`;
}
