// The file store's read side: session lists and records, export lines and per-policy chains for
// the read API and the CLI. Answers come from the index; record bodies are read from the segment
// files (a record whose segment retention deleted meanwhile is skipped, not an error).
import { readFile } from 'node:fs/promises';
import { readRange } from './fs-util.ts';
import { parseSegment, type ParsedSegment } from './segment.ts';
import { matchesSession } from './sessions.ts';
import { policyKey, type PolicyState, type RecordRef, type Segment } from './state.ts';
import { storeChainId } from '../../../core/recording/store-chain.ts';
import { isEnoent, type StoreIndex } from './store-index.ts';
import type { ExportFilter, ExportLine, PolicyChainInfo, PolicyEntryLine, PolicyHead, SessionFilter, SessionRecord, SessionSummary, StoreKeyInfo } from './types.ts';

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
  if (f.since !== undefined && ref.time < f.since) return false;
  if (f.until !== undefined && ref.time >= f.until) return false;
  return true;
}

export async function* exportLines(index: StoreIndex, namespace: string, filter: ExportFilter): AsyncIterable<ExportLine> {
  const chains = [...index.chains.values()].filter((c) => c.state.namespace === namespace).sort((a, b) => (a.state.chainId < b.state.chainId ? -1 : 1));
  const selected = chains.map((c) => ({ c, refs: [...c.refs.values()].filter((r) => exported(r, filter)).sort((a, b) => a.seq - b.seq) }));
  for (const { c, refs } of selected) {
    if (refs.length === 0 && filter.policy !== undefined) continue;
    const s = c.state;
    yield { type: 'key', chainId: s.chainId, keyId: s.keyId, publicJwk: s.publicJwk, pod: s.pod, ...(c.removed.length > 0 ? { removed: c.removed.map((r): [number, number, string] => [r[0], r[1], r[2]]) } : {}) };
  }
  for (const { refs } of selected) {
    for (const ref of refs) {
      const r = await readRecord(ref);
      if (r !== undefined) yield r;
    }
  }
}

export function policyHeads(index: StoreIndex): PolicyHead[] {
  return [...index.policies.values()].map((p) => ({
    namespace: p.namespace, policy: p.policy, records: p.chain.position.seq, head: p.chain.position.head,
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
    namespace, policy, chainId: storeChainId(namespace, policy), head: p.chain.position.head, records: p.chain.position.seq,
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
