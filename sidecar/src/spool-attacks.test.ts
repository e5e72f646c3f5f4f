// Issue 19 round 4 review of the spool's commit groups per event-loop turn (a Written group written
// at once, without the flush loop, when nothing holds the lock). Attacked with a schedule a
// penetration tester would use: appends from separate callbacks of one turn and from microtasks,
// mixed durabilities, write and fdatasync failures injected mid-schedule, segments rolling, acks
// holding the lock, settle() between turns. Whatever happens, at the moment an append is answered
// its record is on file (Written) or covered by an fdatasync that started after it was written
// (Synced); a refused append is never on file; the records on file are exactly the answered ones,
// in chain order, and the chain verifies.
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainTree } from '../../core/recording/chain-tree.ts';
import { checkChainCheckpoint, checkpointVerifier } from '../../core/recording/chain-checkpoint.ts';
import { importPublicKey, verifyLink, type ChainPosition, type SessionEvent } from '../../core/recording/index.ts';
import { readSegmentText, Spool, SpoolError, type SpoolRecord } from './spool.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function event(session: number, n: number): SessionEvent {
  return {
    type: 'command', time: new Date(0).toISOString(), namespace: 'ns', pod: 'pod', policy: 'p', target: 't', protocol: 'postgres',
    sessionId: `s${session}`, subject: 'agent', subjectKind: 'User', groups: ['support'], command: `SELECT ${n} -- ${'é'.repeat(n % 7)}`, decision: 'allow',
  };
}

type Line = SpoolRecord | { checkpoint: string } | { segment: { start: number; prev: string; frontier: string[] } };

function lines(dir: string): Line[] {
  return readdirSync(dir).filter((n) => n.startsWith('seg-')).sort()
    .flatMap((n) => readSegmentText(join(dir, n)).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line));
}
const commandsOnFile = (dir: string): string[] => lines(dir).flatMap((l) => ('seq' in l ? [l.command ?? ''] : []));

/** The files as an auditor checks them: every link, every checkpoint over the tree before it. */
function verify(spool: Spool): { ok: boolean; count: number; problem?: string } {
  const pub = importPublicKey(spool.key.publicJwk);
  const verifier = checkpointVerifier(spool.key.publicJwk, spool.key.keyId);
  let tree: ChainTree | undefined;
  let position: ChainPosition | undefined;
  let count = 0;
  for (const l of lines(spool.dir)) {
    if ('segment' in l) {
      tree ??= ChainTree.resume(l.segment.start - 1, l.segment.frontier);
      position ??= { seq: l.segment.start - 1, head: l.segment.prev };
    } else if ('checkpoint' in l) {
      const bad = checkChainCheckpoint(l.checkpoint, { origin: spool.chainId, size: tree!.size, root: tree!.root(), verifier });
      if (bad !== undefined) return { ok: false, count, problem: bad.detail };
    } else {
      const problem = verifyLink(l, { ...position!, chainId: spool.chainId }, pub);
      if (problem !== undefined) return { ok: false, count, problem: `seq ${l.seq}: ${problem}` };
      tree!.append(l.hash);
      position = { seq: l.seq, head: l.hash };
      count++;
    }
  }
  return { ok: true, count };
}

let seed = 7;
const rnd = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
  return (seed >>> 8) % n;
};

/** One turn's appends (1-6 of them, random sessions and durabilities), made from separate timer callbacks, microtasks and the next turn. */
function oneTurn(append: (session: number, k: number, durability: 'Written' | 'Synced') => void, next: () => number): Promise<void> {
  return new Promise<void>((turnDone) => {
    const count = 1 + rnd(6);
    let started = 0;
    for (let i = 0; i < count; i++) {
      const durability = rnd(3) === 0 ? 'Synced' : 'Written';
      const session = rnd(4);
      const k = next();
      const go = (): void => {
        append(session, k, durability);
        if (++started === count) turnDone();
      };
      const how = rnd(3);
      if (how === 0) setTimeout(go, 0);
      else if (how === 1) queueMicrotask(go);
      else setImmediate(go);
    }
  });
}

/** Between turns, now and then: settle and ack what was answered, let a deadline pass, let a failed volume recover. */
async function betweenTurns(spool: Spool, answered: readonly SpoolRecord[]): Promise<void> {
  if (rnd(5) === 0 && answered.length > 0) {
    const last = answered.reduce((x, y) => (x.seq > y.seq ? x : y));
    await spool.settle().catch(() => undefined);
    await spool.ack({ seq: last.seq, head: last.hash }).catch(() => undefined);
  }
  if (rnd(4) === 0) await new Promise((r) => setTimeout(r, 2));
  // A failure refuses requests until a probe write succeeds.
  if (!spool.health().ok && rnd(2) === 0) await new Promise((r) => setTimeout(r, 1100));
}

describe('Spool commit groups per turn, attacked: no answer before its record is kept, no refused record kept', () => {
  it.each([1, 2, 3])('a random schedule of turns, durabilities, failures, segment rolls and acks (seed %i)', async (s) => {
    seed = s;
    const dir = mkdtempSync(join(tmpdir(), 'spool-attack-'));
    dirs.push(dir);
    let failWrites = 0;
    let failSyncs = 0;
    /** Commands on file when each fdatasync started (it covers what was written before it). */
    const syncedSnapshots: Set<string>[] = [];
    const spool = await Spool.open({
      dir, chainPrefix: 'ns/pod', segmentBytes: 4096, checkpointWindowMs: 5,
      faults: {
        beforeWrite: () => {
          if (failWrites > 0) {
            failWrites--;
            throw new Error('EIO: injected write failure');
          }
        },
        beforeSync: () => {
          if (failSyncs > 0) {
            failSyncs--;
            throw new Error('EIO: injected sync failure');
          }
          syncedSnapshots.push(new Set(commandsOnFile(dir)));
        },
      },
    });
    const answered: SpoolRecord[] = [];
    const refused: string[] = [];
    const violations: string[] = [];
    const watch = (p: Promise<SpoolRecord>, command: string, durability: 'Written' | 'Synced'): Promise<void> => p.then((r) => {
      // Checked synchronously in the answer's own callback: what a client would see next.
      const onFile = commandsOnFile(dir);
      if (!onFile.includes(command)) violations.push(`${durability} seq ${r.seq} answered before its record was written`);
      if (durability === 'Synced' && !syncedSnapshots.some((snap) => snap.has(command))) violations.push(`Synced seq ${r.seq} answered before an fdatasync covered it`);
      answered.push(r);
    }, (err: unknown) => {
      if (!(err instanceof SpoolError)) violations.push(`unexpected error ${String(err)}`);
      refused.push(command);
    });
    let n = 0;
    const all: Promise<void>[] = [];
    for (let turn = 0; turn < 40; turn++) {
      const roll = rnd(10);
      if (roll === 0) failWrites = 1 + rnd(2);
      if (roll === 1) failSyncs = 1;
      await oneTurn((session, k, durability) => {
        const e = event(session, k);
        all.push(watch(spool.append(e, durability), e.command ?? '', durability));
      }, () => ++n);
      await betweenTurns(spool, answered);
    }
    await Promise.all(all);
    failWrites = 0;
    failSyncs = 0;
    await spool.close();
    expect(violations).toEqual([]);
    expect(answered.length + refused.length).toBe(n);
    expect(answered.length).toBeGreaterThan(0);
    // Acked segments may be deleted: what is on file is the answered records after the last deletion, in seq order.
    const onFile = lines(dir).filter((l): l is SpoolRecord => 'seq' in l);
    for (const c of refused) expect(onFile.some((r) => r.command === c)).toBe(false);
    const answeredSeqs = new Set(answered.map((r) => r.seq));
    for (const r of onFile) expect(answeredSeqs.has(r.seq)).toBe(true);
    const seqs = onFile.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(verify(spool)).toMatchObject({ ok: true, count: onFile.length });
  }, 120_000);
});
