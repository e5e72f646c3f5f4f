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
  approval: 0, approvalRequest: 0, chainId: 0, channel: 0, command: 0, commandSha256: 0, decision: 0, durationMs: 0, frames: 0,
  groups: 0, keyId: 0, masked: 0, namespace: 0, pod: 0, policy: 0, prev: 0, protocol: 0, purpose: 0, reason: 0, result: 0,
  rule: 0, seq: 0, sessionId: 0, subject: 0, subjectKind: 0, target: 0, time: 0, type: 0, v: 0,
} satisfies Record<keyof SessionEvent | keyof ChainFields | 'v', 0>;

/** In RFC 8785 order (UTF-16 code units: all ASCII here, so the default sort). */
const NAMES = Object.keys(MEMBERS).sort();
const PREFIXES = NAMES.map((n) => `"${n}":`);
const KNOWN = new Set([...NAMES, 'hash', 'sig']);
const NOT_HASHED = ['hash', 'sig'] as const;

export function recordCanonicalText(record: object): string {
  const r = record as Record<string, unknown>;
  for (const name of Object.keys(r)) if (!KNOWN.has(name)) return canonicalJsonWithout(r, NOT_HASHED);
  let out = '';
  for (let i = 0; i < NAMES.length; i++) {
    const value = r[NAMES[i]!];
    // Own members only, as canonicalJson reads them (never one inherited from a prototype).
    if (value === undefined || !Object.hasOwn(r, NAMES[i]!)) continue;
    out += `${out === '' ? '{' : ','}${PREFIXES[i]!}${typeof value === 'string' ? JSON.stringify(value) : canonicalJson(value)}`;
  }
  return `${out === '' ? '{' : out}}`;
}
