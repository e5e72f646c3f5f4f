// Opening the file store: the format marker, the public store keys, chain registrations and every
// policy's segments are read back into the index, and recovery cuts what no commit acknowledged
// (a torn tail, or a tail inconsistent with the other policies) into quarantine/ before the
// writer appends again.
import { access, open, readFile, rename, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GENESIS, importPublicKey, storeKeyLineProblem, type ChainPosition } from '../../../core/recording/index.ts';
import { kubeTime } from '../../../core/duration.ts';
import { fsyncDir, listDir, mkdirDurable, readRange, writeFileDurable } from './fs-util.ts';
import { verdictProblem } from './anchor-verdict.ts';
import { planRecovery, policyChecker, type LoadedEntry, type LoadedPolicy } from './recovery.ts';
import { ChainTree } from '../../../core/recording/chain-tree.ts';
import { parseSegment, segmentFirstSeq, type ParsedSegment } from './segment.ts';
import { emptyCounters } from './sessions.ts';
import { FORMAT_TWO_MARK, newChainMem, policyKey, type ChainMem, type PolicyState } from './state.ts';
import { StoreChain, storeChainId, verifyTombstone } from '../../../core/recording/store-chain.ts';
import { isEnoent, newSegment, type StoreIndex } from './store-index.ts';
import type { AnchoredHead, ChainRegistration, StoreHooks, StoreLogger, Tombstone } from './types.ts';

const STORE_FORMAT = 'guarita-store/v1';

export interface OpenContext {
  index: StoreIndex;
  now: () => number;
  log: StoreLogger;
  hooks?: StoreHooks;
  anchors?: (namespace: string, policy: string) => AnchoredHead | undefined;
}

interface Loaded { policy: PolicyState; parsed: ParsedSegment[]; names: string[] }

/** Reads the store directory into `ctx.index`, creating an empty store if there is none. */
export async function loadStore(ctx: OpenContext): Promise<void> {
  const { dir } = ctx.index;
  await mkdirDurable(dir);
  await marker(ctx);
  await loadKeys(ctx);
  await loadChains(ctx.index);
  const loaded = await loadPolicies(ctx.index);
  await recover(ctx, loaded);
}

async function marker(ctx: OpenContext): Promise<void> {
  const file = join(ctx.index.dir, 'STORE');
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as { format?: string };
    if (v.format !== STORE_FORMAT) throw new Error(`${file}: unsupported store format ${String(v.format)} (this operator reads ${STORE_FORMAT})`);
  } catch (err) {
    if (!isEnoent(err)) throw err;
    await writeFileDurable(file, `${JSON.stringify({ format: STORE_FORMAT, createdAt: kubeTime(ctx.now()) })}\n`);
  }
}

async function loadKeys(ctx: OpenContext): Promise<void> {
  const { index } = ctx;
  const keysDir = join(index.dir, 'keys');
  await mkdirDurable(keysDir);
  const own = join(keysDir, `${index.key.keyId}.jwk`);
  const names = await listDir(keysDir);
  if (!names.includes(`${index.key.keyId}.jwk`)) await writeFileDurable(own, `${JSON.stringify(index.key.publicJwk)}\n`, 0o644);
  for (const name of await listDir(keysDir)) {
    if (!name.endsWith('.jwk')) continue;
    const keyId = name.slice(0, -4);
    // The current key is the Secret's, whatever the volume's copy says.
    if (keyId === index.key.keyId) continue;
    try {
      const jwk = JSON.parse(await readFile(join(keysDir, name), 'utf8')) as Parameters<typeof importPublicKey>[0];
      const problem = storeKeyLineProblem({ keyId, publicJwk: jwk });
      if (problem !== undefined) throw new Error(problem);
      index.keys.set(keyId, importPublicKey(jwk));
      index.jwks.set(keyId, jwk);
    } catch (err) {
      ctx.log.warn({ file: join(keysDir, name), err: err instanceof Error ? err.message : String(err) }, 'store: a file in keys/ is not a public store key named by its thumbprint; ignored');
    }
  }
  index.keys.set(index.key.keyId, importPublicKey(index.key.publicJwk));
  index.jwks.set(index.key.keyId, index.key.publicJwk);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch (err) {
    if (isEnoent(err)) return false;
    throw err;
  }
}

async function loadChains(index: StoreIndex): Promise<void> {
  const base = join(index.dir, 'chains');
  for (const ns of await listDir(base)) {
    for (const name of await listDir(join(base, ns))) {
      if (!name.endsWith('.json')) continue;
      const reg = JSON.parse(await readFile(join(base, ns, name), 'utf8')) as ChainRegistration;
      const mem = newChainMem({ ...reg, seq: 0, head: GENESIS }, importPublicKey(reg.publicJwk), undefined);
      // Retention may have removed every format 2 record of the chain: the mark remembers them.
      if (await exists(join(base, ns, `${name}${FORMAT_TWO_MARK}`))) {
        mem.formatTwo = true;
        mem.formatTwoMarked = true;
      }
      index.chains.set(reg.chainId, mem);
    }
  }
}

async function loadPolicies(index: StoreIndex): Promise<Map<string, Loaded>> {
  const base = join(index.dir, 'policies');
  const out = new Map<string, Loaded>();
  for (const ns of await listDir(base)) {
    for (const name of await listDir(join(base, ns))) {
      const loaded = await loadPolicy(index, ns, name);
      out.set(loaded.policy.key, loaded);
    }
  }
  return out;
}

async function readTombstone(index: StoreIndex, namespace: string, policy: string, dir: string): Promise<Tombstone | undefined> {
  let t: Tombstone;
  try {
    t = JSON.parse(await readFile(join(dir, 'tombstone.json'), 'utf8')) as Tombstone;
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw err;
  }
  const problem = verifyTombstone(t, index.keys.get(t.keyId));
  if (problem !== undefined || t.namespace !== namespace || t.policy !== policy) {
    throw new Error(`${join(dir, 'tombstone.json')}: ${problem ?? 'tombstone names another policy'}: the store was altered; refusing to open it (move the file away only after investigating)`);
  }
  return t;
}

async function loadPolicy(index: StoreIndex, namespace: string, name: string): Promise<Loaded> {
  const dir = join(index.dir, 'policies', namespace, name);
  const tombstone = await readTombstone(index, namespace, name, dir);
  const from: ChainPosition & { frontier?: string[] } = tombstone?.cut ?? { seq: 0, head: GENESIS };
  const segDir = join(dir, 'segments');
  const names = (await listDir(segDir)).filter((n) => segmentFirstSeq(n) !== undefined).sort();
  const parsed: ParsedSegment[] = [];
  const kept: string[] = [];
  for (const n of names) {
    const p = parseSegment(await readFile(join(segDir, n)));
    const last = p.entries[p.entries.length - 1]?.link.seq;
    if (last !== undefined && last <= from.seq) {
      // A retention cut that crashed after writing its tombstone: finish it.
      await unlink(join(segDir, n));
      continue;
    }
    parsed.push(p);
    kept.push(n);
  }
  const policy: PolicyState = {
    key: policyKey(namespace, name), namespace, policy: name, dir, segments: [],
    chain: new StoreChain(namespace, name, index.key, from, treeAt(from)),
    ...(tombstone === undefined ? {} : { tombstone }),
    counters: { ...emptyCounters(), ...(tombstone?.removedCounts ?? {}) }, version: 1,
  };
  return { policy, parsed, names: kept };
}

async function recover(ctx: OpenContext, loaded: Map<string, Loaded>): Promise<void> {
  const { index } = ctx;
  const inputs: LoadedPolicy[] = [...loaded.values()].map(({ policy, parsed }) => {
    const entries = parsed.flatMap((p) => p.entries);
    const { check, verdict } = policyChecker({
      keys: (id) => index.keys.get(id), jwks: index.jwks, currentKeyId: index.key.keyId, anchored: ctx.anchors?.(policy.namespace, policy.policy), entries,
      from: { ...policy.chain.position, ...(policy.tombstone?.cut.frontier === undefined ? {} : { frontier: policy.tombstone.cut.frontier }) },
      chainId: storeChainId(policy.namespace, policy.policy),
    });
    const problem = verdictProblem(verdict);
    // Reported, never acted on alone: the log is kept or cut by what it verifies as (recovery.ts); the anchorer re-anchors with a Warning.
    if (problem !== undefined) ctx.log.warn({ policy: policy.key, anchor: verdict.kind }, `store: ${problem}`);
    return { key: policy.key, entries, from: policy.chain.position, removed: policy.tombstone?.chains ?? {}, check };
  });
  const plan = planRecovery(inputs);
  for (const { policy, parsed, names } of loaded.values()) {
    const keep = plan.keep.get(policy.key) ?? Number.POSITIVE_INFINITY;
    await rebuildPolicy(ctx, policy, parsed, names, keep, plan.reasons.get(policy.key));
    index.policies.set(policy.key, policy);
  }
  for (const chain of index.chains.values()) {
    const pos = plan.positions.get(chain.state.chainId);
    if (pos !== undefined) Object.assign(chain.state, pos);
    chain.removed = index.removedRanges(chain.state.chainId);
    chain.tree = chainTree(chain);
    if (chain.tree === undefined) ctx.log.warn({ chainId: chain.state.chainId, seq: chain.state.seq }, 'store: the Merkle tree of this chain cannot be rebuilt (retention removed its first records and no checkpoint frontier is left); its format 2 batches are answered 503');
  }
}

/**
 * A sidecar chain's tree at its stored position: from the newest stored checkpoint's frontier (or
 * from the empty tree) plus the hashes of the stored records after it. Undefined when a record it
 * needs is gone (retention) and no frontier covers it.
 */
function chainTree(chain: ChainMem): ChainTree | undefined {
  const base = chain.newest !== undefined && chain.newest.size <= chain.state.seq ? ChainTree.resume(chain.newest.size, chain.newest.frontier) : ChainTree.empty();
  for (let seq = base.size + 1; seq <= chain.state.seq; seq++) {
    const ref = chain.refs.get(seq);
    if (ref === undefined) return undefined;
    base.append(ref.hash);
  }
  return base;
}

/**
 * A policy's store-log tree after its kept entries: from the newest store checkpoint's frontier
 * plus the links after it, or from the genesis when the whole log is still stored (a store written
 * before issue 19). Undefined (the policy continues in format 1) when neither is possible.
 */
function storeTree(from: ChainPosition & { frontier?: string[] }, entries: readonly LoadedEntry[]): ChainTree | undefined {
  let start = -1;
  for (let i = entries.length - 1; i >= 0 && start < 0; i--) if (entries[i]?.storeCheckpoint !== undefined) start = i;
  const sealed = entries[start];
  const tree = sealed?.storeCheckpoint !== undefined ? ChainTree.resume(sealed.link.seq, sealed.storeCheckpoint.frontier) : treeAt(from);
  if (tree === null) return undefined;
  for (const e of entries.slice(start + 1)) tree.append(e.link.hash);
  return tree;
}

/** The store tree where a policy's kept links start: the genesis, or a retention cut that kept its frontier (null: unknown, format 1). */
function treeAt(from: ChainPosition & { frontier?: string[] }): ChainTree | null {
  if (from.frontier !== undefined) return ChainTree.resume(from.seq, from.frontier);
  return from.seq === 0 ? ChainTree.empty() : null;
}

async function rebuildPolicy(ctx: OpenContext, policy: PolicyState, parsed: ParsedSegment[], names: string[], keep: number, reason: string | undefined): Promise<void> {
  const from = policy.chain.position;
  let remaining = keep;
  for (const [i, p] of parsed.entries()) {
    const take = Math.min(remaining, p.entries.length);
    remaining -= take;
    await rebuildSegment(ctx, policy, p, names[i] ?? '', take, reason);
  }
  const last = policy.segments[policy.segments.length - 1];
  if (last !== undefined) {
    policy.active = last;
    const kept = parsed.flatMap((p) => p.entries).slice(0, keep);
    policy.chain = new StoreChain(policy.namespace, policy.policy, ctx.index.key, { seq: last.lastSeq, head: last.lastHash }, storeTree(from, kept) ?? null);
  }
}

async function rebuildSegment(ctx: OpenContext, policy: PolicyState, p: ParsedSegment, name: string, take: number, reason: string | undefined): Promise<void> {
  const path = join(policy.dir, 'segments', name);
  if (take === 0 || p.header === undefined) {
    // Nothing acknowledged lives here: a segment opened by the commit group a crash cut short.
    await quarantine(ctx, policy, path, 0, p.totalBytes, reason ?? 'segment without a complete header or entry');
    return;
  }
  const cutAt = take < p.entries.length ? (p.entries[take]?.offset ?? p.validBytes) : p.validBytes;
  if (cutAt < p.totalBytes) await quarantine(ctx, policy, path, cutAt, p.totalBytes, reason ?? 'torn tail (a write cut short by a crash)');
  const seg = newSegment(policy, name, path, Date.parse(p.header.createdAt));
  seg.bytes = cutAt;
  for (const e of p.entries.slice(0, take)) ctx.index.indexEntry(policy, seg, e.link, e.record, e.offset, e.length, e);
  policy.segments.push(seg);
}

async function quarantine(ctx: OpenContext, policy: PolicyState, path: string, from: number, to: number, reason: string): Promise<void> {
  const qdir = join(ctx.index.dir, 'quarantine');
  await mkdirDurable(qdir);
  const target = join(qdir, `${kubeTime(ctx.now()).replace(/:/g, '')}-${policy.namespace}-${policy.policy}-${path.split('/').pop() ?? 'segment'}-at-${from}`);
  if (from === 0) {
    await rename(path, target);
  } else {
    const bytes = await readRange(path, from, to - from);
    await writeFileDurable(target, bytes, 0o640);
    await truncate(path, from);
    const fh = await open(path, 'r+');
    try { await fh.sync(); } finally { await fh.close(); }
  }
  await fsyncDir(join(policy.dir, 'segments'));
  await fsyncDir(qdir);
  ctx.log.warn({ policy: policy.key, segment: path, bytes: to - from, quarantine: target, reason }, 'store: moved an unacknowledged or inconsistent tail to quarantine');
  ctx.hooks?.quarantined?.(policy.namespace, policy.policy, to - from, reason);
}
