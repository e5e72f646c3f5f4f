// Applying retention to the file store: each policy's expired segment prefix is cut inside the
// writer (so no commit interleaves), the cut signed into a cumulative tombstone and linked into
// the policy's store chain, then the segments deleted and dropped from the index. Which segments
// expire and what the tombstone says are decided in retention.ts (pure).
import { readFile, unlink } from 'node:fs/promises';
import { ChainTree } from '../../../core/recording/chain-tree.ts';
import { parseSegment } from './segment.ts';
import { join } from 'node:path';
import { fsyncDir, writeFileDurable } from './fs-util.ts';
import { buildTombstone, expiredPrefix } from './retention.ts';
import type { PolicyState, Segment } from './state.ts';
import { signTombstone } from '../../../core/recording/store-chain.ts';
import { isEnoent, type StoreIndex } from './store-index.ts';
import type { GroupWriter } from './store-writer.ts';
import type { RetentionFor, RetentionOutcome, StoreLogger, Tombstone } from './types.ts';

export interface RetentionContext {
  index: StoreIndex;
  writer: GroupWriter;
  log: StoreLogger;
}

export async function applyRetention(ctx: RetentionContext, retentionFor: RetentionFor, now: number): Promise<RetentionOutcome[]> {
  const outcomes: RetentionOutcome[] = [];
  for (const p of [...ctx.index.policies.values()]) {
    const cutoff = now - retentionFor(p.namespace, p.policy);
    if (expiredPrefix(p.segments, cutoff).length === 0) continue;
    await ctx.writer.exclusive(async () => {
      // Decided again inside the writer: an append may have landed in the active segment meanwhile.
      const expired = expiredPrefix(p.segments, cutoff);
      if (expired.length > 0) outcomes.push(await cut(ctx, p, expired, now));
    });
  }
  return outcomes;
}

/**
 * The store log's tree frontier at the last expired link: from the previous cut's frontier (or the
 * genesis), through the expired segments' links, restarting at each stored checkpoint's frontier.
 * Undefined for a format 1 policy (no tree).
 */
async function frontierAtCut(p: PolicyState, expired: readonly Segment[]): Promise<string[] | undefined> {
  if (!p.chain.merkle) return undefined;
  let tree = treeAtPreviousCut(p.tombstone);
  for (const seg of expired) {
    for (const e of parseSegment((await readFile(seg.path)).subarray(0, seg.bytes)).entries) {
      if (e.storeCheckpoint !== undefined) tree = ChainTree.resume(e.link.seq, e.storeCheckpoint.frontier);
      else tree?.append(e.link.hash);
    }
  }
  return tree !== undefined && tree.size === expired[expired.length - 1]?.lastSeq ? tree.frontier() : undefined;
}

function treeAtPreviousCut(previous: Tombstone | undefined): ChainTree | undefined {
  if (previous === undefined) return ChainTree.empty();
  return previous.cut.frontier === undefined ? undefined : ChainTree.resume(previous.cut.seq, previous.cut.frontier);
}

async function cut(ctx: RetentionContext, p: PolicyState, expired: Segment[], now: number): Promise<RetentionOutcome> {
  const frontier = await frontierAtCut(p, expired);
  const tombstone = signTombstone(buildTombstone({ namespace: p.namespace, policy: p.policy, previous: p.tombstone, expired, now, ...(frontier === undefined ? {} : { frontier }) }), ctx.index.key);
  if (p.active !== undefined && expired.includes(p.active)) await ctx.writer.seal(p);
  // The cut itself becomes a link of the store chain, so the anchored head covers it.
  await ctx.writer.writeLink(p, p.chain.linkTombstone(tombstone, new Date(now).toISOString()), now);
  await writeFileDurable(join(p.dir, 'tombstone.json'), `${JSON.stringify(tombstone)}\n`);
  for (const seg of expired) await unlink(seg.path).catch((err: unknown) => { if (!isEnoent(err)) throw err; });
  await fsyncDir(join(p.dir, 'segments'));
  ctx.index.forgetExpired(p, expired, tombstone);
  ctx.log.info({ policy: p.key, segments: expired.map((s) => s.name), cut: tombstone.cut }, 'retention: removed expired segments');
  return { namespace: p.namespace, policy: p.policy, segmentsRemoved: expired.map((s) => s.name), recordsRemoved: expired.reduce((n, s) => n + s.refs.length, 0), cut: tombstone.cut };
}
