// The embedded default store: append-only segment files on a volume (docs/recording.md).
//
//   <dir>/STORE                                   format marker
//   <dir>/keys/<keyId>.jwk                        public store keys (every key that ever signed links)
//   <dir>/chains/<ns>/<sha256(chainId)>.json      sidecar chain registrations
//   <dir>/policies/<ns>/<policy>/segments/*.seg   store entries, JSONL (segment.ts)
//   <dir>/policies/<ns>/<policy>/tombstone.json   cumulative signed retention tombstone
//   <dir>/quarantine/                             bytes cut from a torn or inconsistent tail on reopen
//
// This module is the SessionStore facade and the ingest entry (chain registration, append); the
// work lives in one module per job: store-open.ts (open and recover), store-writer.ts (the
// group-commit writer), store-reads.ts (reads), retention-cut.ts (retention), all sharing the
// in-memory index of store-index.ts. One process owns the directory (the leader).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { GENESIS, importPublicKey, type SigningKey } from '../../../core/recording/index.ts';
import { checkBatch, type BatchPlan } from '../../../core/recording/batch-check.ts';
import { ChainTree } from '../../../core/recording/chain-tree.ts';
import { mkdirDurable, writeFileDurable } from './fs-util.ts';
import { applyRetention } from './retention-cut.ts';
import { FORMAT_TWO_MARK, newChainMem, policyKey, type ChainMem } from './state.ts';
import { isRemoved, vouchRegistration } from '../../../core/recording/store-chain.ts';
import { StoreIndex } from './store-index.ts';
import { loadStore } from './store-open.ts';
import * as reads from './store-reads.ts';
import type { ExportV2Line, StoreProof } from '../../../core/recording/export-format.ts';
import { GroupWriter, type CheckpointToStore } from './store-writer.ts';
import type {
  AnchoredHead, AppendResult, ChainRegistration, ChainState, ExportFilter, PolicyChainInfo, PolicyEntryLine, PolicyHead,
  RetentionFor, RetentionOutcome, SessionFilter, SessionRecord, SessionStore, SessionSummary, StoreHooks, StoreLogger,
} from './types.ts';

export type { StoreHooks, StoreLogger } from './types.ts';

export interface FileStoreOptions {
  dir: string;
  key: SigningKey;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  log: StoreLogger;
  hooks?: StoreHooks;
  now?: () => number;
  /** Segment files kept open at most (store-writer.ts MAX_OPEN_SEGMENTS by default). */
  maxOpenSegments?: number;
  /**
   * Each policy's anchored head (AccessPolicy status.chain, written with a privilege the volume's
   * writer does not hold): the log up to it is vouched for by it; after it only the operator's
   * current key (and the key that sealed the anchored head, until the current one seals) may seal.
   * One that is no position of the log is logged and vouches for nothing: anyone with
   * `accesspolicies/status` can write it, so the log is then kept as far as the current key's seals
   * cover it (recovery.ts policyChecker), never quarantined for the anchor's sake.
   */
  anchors?: (namespace: string, policy: string) => AnchoredHead | undefined;
}

function chainFile(dir: string, namespace: string, chainId: string): string {
  return join(dir, 'chains', namespace, `${createHash('sha256').update(chainId).digest('hex')}.json`);
}

/** The batch's checkpoint with the tree's frontier at it, unless the store already has one as recent (a re-sent batch). */
function checkpointToStore(chain: ChainMem, plan: BatchPlan): CheckpointToStore | undefined {
  const cp = plan.checkpoint;
  const tree = plan.tree ?? chain.tree;
  if (cp === undefined || tree === undefined || cp.size <= (chain.checkpoints.at(-1)?.size ?? 0)) return undefined;
  return { ...cp, frontier: tree.frontier() };
}

export class FileStore implements SessionStore {
  readonly #opts: FileStoreOptions;
  readonly #index: StoreIndex;
  readonly #writer: GroupWriter;
  #closed = false;

  private constructor(opts: FileStoreOptions) {
    this.#opts = opts;
    this.#index = new StoreIndex(opts.dir, opts.key);
    this.#writer = new GroupWriter({
      index: this.#index, segmentMaxBytes: opts.segmentMaxBytes, segmentMaxAgeMs: opts.segmentMaxAgeMs, now: opts.now ?? Date.now,
      ...(opts.hooks === undefined ? {} : { hooks: opts.hooks }),
      ...(opts.maxOpenSegments === undefined ? {} : { maxOpenSegments: opts.maxOpenSegments }),
    });
  }

  static async open(opts: FileStoreOptions): Promise<FileStore> {
    const store = new FileStore(opts);
    await loadStore({ index: store.#index, now: opts.now ?? Date.now, log: opts.log, ...(opts.hooks === undefined ? {} : { hooks: opts.hooks }), ...(opts.anchors === undefined ? {} : { anchors: opts.anchors }) });
    return store;
  }

  get failure(): Error | undefined { return this.#writer.failure; }

  // ---- chains --------------------------------------------------------------------------------

  async registerChain(reg: ChainRegistration): Promise<{ outcome: 'created' | 'exists' | 'conflict'; chain: ChainState }> {
    this.#assertWritable();
    const chains = this.#index.chains;
    const existing = chains.get(reg.chainId);
    if (existing !== undefined) return { outcome: existing.state.keyId === reg.keyId ? 'exists' : 'conflict', chain: { ...existing.state } };
    const publicKey = importPublicKey(reg.publicJwk);
    const file = chainFile(this.#opts.dir, reg.namespace, reg.chainId);
    await mkdirDurable(join(this.#opts.dir, 'chains', reg.namespace));
    const again = chains.get(reg.chainId);
    if (again !== undefined) return { outcome: again.state.keyId === reg.keyId ? 'exists' : 'conflict', chain: { ...again.state } };
    // The operator vouches for the chain key with its store key, so an export can prove which key speaks for the chain.
    const vouched = { ...reg, vouched: vouchRegistration(reg, this.#opts.key) };
    const mem = newChainMem({ ...vouched, seq: 0, head: GENESIS }, publicKey, ChainTree.empty());
    chains.set(reg.chainId, mem);
    try {
      await writeFileDurable(file, `${JSON.stringify(vouched)}\n`);
    } catch (err) {
      chains.delete(reg.chainId);
      throw err;
    }
    return { outcome: 'created', chain: { ...mem.state } };
  }

  /** Writes the chain's format 2 mark beside its registration, once (before the batch that showed it is answered). */
  async #markFormatTwo(chain: ChainMem): Promise<void> {
    if (chain.formatTwo !== true || chain.formatTwoMarked === true) return;
    await writeFileDurable(`${chainFile(this.#opts.dir, chain.state.namespace, chain.state.chainId)}${FORMAT_TWO_MARK}`, 'format 2\n');
    chain.formatTwoMarked = true;
  }

  getChain(chainId: string): ChainState | undefined {
    const c = this.#index.chains.get(chainId);
    return c === undefined ? undefined : { ...c.state };
  }

  listChains(namespace: string): ChainState[] {
    return [...this.#index.chains.values()].filter((c) => c.state.namespace === namespace).map((c) => ({ ...c.state }));
  }

  // ---- ingest --------------------------------------------------------------------------------

  append(chainId: string, records: readonly SessionRecord[], checkpoint?: string): Promise<AppendResult> {
    const chain = this.#index.chains.get(chainId);
    if (chain === undefined) return Promise.reject(new Error(`chain ${chainId} is not registered`));
    return chain.mutex.run(() => this.#appendLocked(chain, records, checkpoint));
  }

  async #appendLocked(chain: ChainMem, records: readonly SessionRecord[], checkpoint: string | undefined): Promise<AppendResult> {
    this.#assertWritable();
    const plan = checkBatch(chain.state, records, chain.publicKey, {
      hash: (seq) => chain.refs.get(seq)?.hash,
      removed: (seq) => isRemoved(chain.removed, seq),
    }, {
      checkpoint, tree: chain.tree, verifier: chain.verifier, storedSize: chain.checkpoints.at(-1)?.size ?? 0,
      formatTwo: chain.formatTwo === true || chain.newest !== undefined,
      ...(chain.newestTime === undefined ? {} : { newestTime: chain.newestTime }),
    });
    if ('ok' in plan) return plan;
    const toStore = checkpointToStore(chain, plan);
    if (plan.fresh.length > 0 || toStore !== undefined) await this.#writer.appendRecords(chain, plan.fresh, toStore, plan.freshTexts);
    if (plan.tree !== undefined) chain.tree = plan.tree;
    await this.#markFormatTwo(chain);
    return { ok: true, seq: chain.state.seq, head: chain.state.head, stored: plan.fresh.length, duplicates: plan.duplicates };
  }

  #assertWritable(): void {
    if (this.#closed) throw new Error('store is closed');
    const failed = this.#writer.failure;
    if (failed !== undefined) throw new Error(`store failed earlier and accepts no writes until the operator restarts: ${failed.message}`);
  }

  // ---- reading -------------------------------------------------------------------------------

  listSessions(namespace: string, filter: SessionFilter): SessionSummary[] {
    return reads.listSessions(this.#index, namespace, filter);
  }

  sessionRecords(namespace: string, sessionId: string): Promise<SessionRecord[] | undefined> {
    return reads.sessionRecords(this.#index, namespace, sessionId);
  }

  exportLines(namespace: string, filter: ExportFilter, anchored?: reads.AnchoredLookup): AsyncIterable<ExportV2Line | SessionRecord> {
    return reads.exportLines(this.#index, namespace, filter, anchored);
  }

  policyHeads(): PolicyHead[] {
    return reads.policyHeads(this.#index).map((h) => {
      const checkpoint = this.#index.policies.get(policyKey(h.namespace, h.policy))?.checkpoint;
      return checkpoint === undefined ? h : { ...h, checkpoint: { ...checkpoint } };
    });
  }

  policyChain(namespace: string, policy: string): PolicyChainInfo | undefined {
    return reads.policyChain(this.#index, namespace, policy);
  }

  policyEntries(namespace: string, policy: string): AsyncIterable<PolicyEntryLine> {
    return reads.policyEntries(this.#index, namespace, policy);
  }

  storeProof(namespace: string, policy: string, from: number, to: number): Promise<StoreProof | string> {
    return reads.storeProof(this.#index, namespace, policy, from, to);
  }

  // ---- retention -----------------------------------------------------------------------------

  applyRetention(retentionFor: RetentionFor, now: number): Promise<RetentionOutcome[]> {
    return applyRetention({ index: this.#index, writer: this.#writer, log: this.#opts.log }, retentionFor, now);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Waits for every queued write; a failed writer refuses the job, which still means it is idle.
    await this.#writer.exclusive(() => Promise.resolve()).catch(() => undefined);
    this.#closed = true;
    for (const p of this.#index.policies.values()) await this.#writer.seal(p);
  }
}
