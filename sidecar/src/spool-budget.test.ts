import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionEvent } from '../../core/recording/index.ts';
import { GROUP_BYTES, Spool, SpoolError } from './spool.ts';

// The spool's size budget (GUARITA_SPOOL_MAX_BYTES): kubelet evicts a pod whose emptyDir passes its
// sizeLimit instead of refusing the write, so the spool itself must refuse, fail closed, and lose
// nothing it answered.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function event(n: number): SessionEvent {
  return {
    type: 'command', time: new Date(0).toISOString(), namespace: 'ns', pod: 'pod', policy: 'p', target: 't', protocol: 'http',
    sessionId: 's1', subject: 'agent', subjectKind: 'User', groups: ['support'], command: `GET /customers/${n}/${'x'.repeat(400)}`, decision: 'allow',
  };
}

const SEGMENT = 4096;
/** Room for two segments' records beside a new one and a group past its end. */
const BUDGET = 2 * SEGMENT + SEGMENT + GROUP_BYTES;

function diskBytes(dir: string): number {
  return readdirSync(dir).filter((n) => n.endsWith('.jsonl')).reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);
}

async function fillUntilRefused(spool: Spool, from: number): Promise<{ accepted: number; error: unknown }> {
  for (let n = from; n < from + 200; n++) {
    try {
      await spool.append(event(n));
    } catch (error) {
      return { accepted: n - from, error };
    }
  }
  throw new Error('the budget never refused an append');
}

describe('Spool size budget (maxBytes)', () => {
  it('refuses to open a segment past the budget, fails the group closed naming the budget and the fix, and health says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-budget-'));
    dirs.push(dir);
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: SEGMENT, maxBytes: BUDGET, checkpointWindowMs: 5 });
    const { accepted, error } = await fillUntilRefused(spool, 1);
    expect(accepted).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(SpoolError);
    expect((error as Error).message).toMatch(/size budget \(GUARITA_SPOOL_MAX_BYTES=\d+\).*await shipment.*sidecar\.spoolSizeLimit/);
    expect(spool.health()).toEqual({ ok: false, message: expect.stringContaining('GUARITA_SPOOL_MAX_BYTES') });
    // What is on disk stays inside the budget (the open segment may run one group past its size).
    expect(diskBytes(dir)).toBeLessThanOrEqual(BUDGET);
    // A refused append never reaches the chain: every answered record is there, nothing else.
    expect(spool.position.seq).toBe(accepted);
    // Still refused (not a one-off): the next append fails the same way.
    await expect(spool.append(event(999))).rejects.toThrow(/GUARITA_SPOOL_MAX_BYTES/);
    await spool.close();
  });

  it('takes appends again once the operator acknowledges shipped records (their segments are deleted)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-budget-'));
    dirs.push(dir);
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: SEGMENT, maxBytes: BUDGET, checkpointWindowMs: 5 });
    const first = await fillUntilRefused(spool, 1);
    await spool.settle();
    await spool.ack(spool.position);
    expect(spool.health()).toEqual({ ok: true });
    const second = await fillUntilRefused(spool, 1000);
    expect(second.accepted).toBeGreaterThan(0);
    expect(spool.position.seq).toBe(first.accepted + second.accepted);
    await spool.close();
    // The chain resumes whole after a restart under the same budget.
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: SEGMENT, maxBytes: BUDGET, checkpointWindowMs: 5 });
    expect(reopened.position.seq).toBe(first.accepted + second.accepted);
    await reopened.close();
  });

  it('without a budget, only the volume\'s free space bounds the spool', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-budget-'));
    dirs.push(dir);
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: SEGMENT, checkpointWindowMs: 5 });
    for (let n = 1; n <= 60; n++) await spool.append(event(n));
    expect(spool.position.seq).toBe(60);
    await spool.close();
  });
});
