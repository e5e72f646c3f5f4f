// Test helpers shared by the store's unit tests, the integration tests and the benchmark: a fake
// sidecar chain producing real signed records.
import { randomBytes } from 'node:crypto';
import { ChainWriter, generateSigningKey, SignedChainWriter, type SigningKey } from '../../core/recording/index.ts';
import { signChainCheckpoint } from '../../core/recording/chain-checkpoint.ts';
import { ChainTree, recordLeaf } from '../../core/recording/chain-tree.ts';
import { rootOf } from '../../core/recording/merkle.ts';
import type { SessionEvent } from '../../core/recording/session-event.ts';
import { ExportVerifier } from '../../core/recording/export-verify.ts';
import type { ChainRegistration, SessionRecord } from '../../operator/src/store/types.ts';

export interface FakeSidecar {
  chainId: string;
  namespace: string;
  pod: string;
  key: SigningKey;
  writer: ChainWriter<SessionEvent> | SignedChainWriter<SessionEvent>;
  registration(registeredBy?: string): ChainRegistration;
  /** Chains `n` more records (format 2, command records unless `over` says otherwise). */
  next(n: number, over?: Partial<SessionEvent> | ((i: number) => Partial<SessionEvent>)): SessionRecord[];
  /** The chain's signed checkpoint over every record `next` produced so far (what a batch ending there carries). */
  checkpoint(): string;
  /** The chain's signed checkpoint at tree size `size` (a batch ending at record `size` carries it). */
  checkpointAt(size: number): string;
  /** `next(n)` as an ingest batch body: the records and the checkpoint at the last one. */
  batch(n: number, over?: Partial<SessionEvent> | ((i: number) => Partial<SessionEvent>)): { records: SessionRecord[]; checkpoint: string };
}

export function event(namespace: string, pod: string, over: Partial<SessionEvent> = {}): SessionEvent {
  return {
    type: 'command', time: new Date().toISOString(), namespace, pod, policy: 'orders-db', target: 'orders-db', protocol: 'postgres',
    sessionId: 'session-1', subject: 'agent-1', subjectKind: 'User', groups: ['support'], purpose: 'customer-support',
    command: 'SELECT id, cpf FROM customers WHERE id = $1', decision: 'allow', rule: 'allow-the-rest',
    result: { rows: 1, bytes: 64, sample: 'id=1 cpf=***.***.***-33' }, durationMs: 3,
    ...over,
  };
}

/**
 * A sidecar's chain without a sidecar: format 2 records (leaves, checkpoints signed on demand) or,
 * with `format: 1`, records signed one by one as sidecars before issue 19 wrote them.
 */
export function fakeSidecar(namespace: string, pod = `agent-${randomBytes(3).toString('hex')}`, opts: { format?: 1 | 2 } = {}): FakeSidecar {
  const key = generateSigningKey();
  const chainId = `${namespace}/${pod}/${randomBytes(6).toString('hex')}`;
  const writer = opts.format === 1 ? new SignedChainWriter<SessionEvent>(chainId, key) : new ChainWriter<SessionEvent>(chainId, key);
  const leaves: Buffer[] = [];
  const tree = ChainTree.empty();
  const next = (n: number, over: Partial<SessionEvent> | ((i: number) => Partial<SessionEvent>) = {}): SessionRecord[] => Array.from({ length: n }, (_, i) => {
    const r = writer.append(event(namespace, pod, typeof over === 'function' ? over(i) : over));
    leaves.push(recordLeaf(r.hash));
    tree.append(r.hash);
    return r;
  });
  const checkpointAt = (size: number): string => signChainCheckpoint(chainId, size, size === tree.size ? tree.root() : rootOf(leaves.slice(0, size)), key, new Date());
  const checkpoint = (): string => checkpointAt(leaves.length);
  return {
    chainId, namespace, pod, key, writer,
    registration: (registeredBy = `system:serviceaccount:${namespace}:agent`) => ({
      chainId, namespace, pod, publicJwk: key.publicJwk, keyId: key.keyId, registeredBy, registeredAt: new Date().toISOString(),
    }),
    next,
    checkpoint,
    checkpointAt,
    batch: (n, over) => ({ records: next(n, over), checkpoint: checkpoint() }),
  };
}

/**
 * An export verified the way an auditor verifies it (`guarita verify`, core/recording/export-verify.ts).
 * `complete`: the export was not filtered, so no chain may start after its first record.
 */
export function verifyExport(lines: Iterable<unknown>, complete: boolean): { ok: boolean; problems: string[]; count: number } {
  const verifier = new ExportVerifier();
  let line = 0;
  for (const value of lines) verifier.add(++line, value);
  const verdict = verifier.finish();
  const problems = verdict.problems.map((p) => `${p.chainId ?? ''}#${p.seq ?? ''}: ${p.problem}`);
  if (complete) {
    for (const c of verdict.chains) if (c.startsMidChain) problems.push(`${c.chainId}: the export starts at seq ${c.first ?? '?'}: the records before it are missing`);
  }
  return { ok: problems.length === 0, problems, count: verdict.records };
}
