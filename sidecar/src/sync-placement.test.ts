import { describe, expect, it } from '@jest/globals';
import { BUSY_SHARE, BUSY_TOLERATED, overlapOf, PROBE_EVERY, QUIET_SYNCS_TO_LOOP, SLOW_SYNC_MS, SyncPlacement, type SyncOverlap } from './sync-placement.ts';

/**
 * Runs `groups` syncs; `arrives(i)` says whether an append arrived during sync i (only observable
 * on the thread pool; or what the sync ran beside), `ms(i)` how long sync i took.
 */
function run(p: SyncPlacement, groups: number, arrives: (i: number) => boolean | SyncOverlap, ms: (i: number) => number = () => 0.2): ('loop' | 'pool')[] {
  const where: ('loop' | 'pool')[] = [];
  for (let i = 0; i < groups; i++) {
    if (p.nextOnLoop()) {
      where.push('loop');
      p.loopSyncDone(ms(i));
    } else {
      where.push('pool');
      const a = arrives(i);
      p.poolSyncDone(a === true ? 'appends' : a === false ? 'quiet' : a, ms(i));
    }
  }
  return where;
}

describe('SyncPlacement', () => {
  it('starts on the thread pool and moves to the loop after QUIET_SYNCS_TO_LOOP syncs nothing arrived during', () => {
    const p = new SyncPlacement();
    const where = run(p, QUIET_SYNCS_TO_LOOP + 3, () => false);
    expect(where.slice(0, QUIET_SYNCS_TO_LOOP)).toEqual(Array(QUIET_SYNCS_TO_LOOP).fill('pool'));
    expect(where.slice(QUIET_SYNCS_TO_LOOP)).toEqual(['loop', 'loop', 'loop']);
  });

  it('stays on the thread pool while appends overlap syncs (several clients: groups form during the sync)', () => {
    const p = new SyncPlacement();
    expect(run(p, 200, (i) => i % 8 === 0).every((w) => w === 'pool')).toBe(true);
  });

  it('on the loop, probes on the thread pool every PROBE_EVERY syncs and goes back there when appends overlap', () => {
    const p = new SyncPlacement();
    run(p, QUIET_SYNCS_TO_LOOP, () => false);
    const quiet = run(p, PROBE_EVERY * 2, () => false);
    expect(quiet.filter((w) => w === 'pool')).toHaveLength(2);
    expect(quiet[PROBE_EVERY - 1]).toBe('pool');
    expect(p.onLoop).toBe(true);
    // A second client starts: the next probe sees an append arrive during the sync.
    const busy = run(p, PROBE_EVERY + 5, () => true);
    expect(busy.indexOf('pool')).toBe(PROBE_EVERY - 1);
    expect(busy.slice(PROBE_EVERY - 1).every((w) => w === 'pool')).toBe(true);
    expect(p.onLoop).toBe(false);
  });

  it('never holds the loop for a slow volume: slow pool syncs keep it on the pool, one slow loop sync sends it back', () => {
    const slow = new SyncPlacement();
    expect(run(slow, 100, () => false, (i) => (i % 10 === 9 ? SLOW_SYNC_MS : 0.2)).every((w) => w === 'pool')).toBe(true);
    const p = new SyncPlacement();
    run(p, QUIET_SYNCS_TO_LOOP, () => false);
    expect(p.onLoop).toBe(true);
    const where = run(p, 3, () => false, (i) => (i === 0 ? SLOW_SYNC_MS * 4 : 0.2));
    expect(where).toEqual(['loop', 'pool', 'pool']);
    expect(p.onLoop).toBe(false);
  });

  it('goes back to the thread pool after a failed sync, and needs a full quiet run to return to the loop', () => {
    const p = new SyncPlacement();
    run(p, QUIET_SYNCS_TO_LOOP, () => false);
    expect(p.onLoop).toBe(true);
    p.failed();
    expect(p.onLoop).toBe(false);
    expect(run(p, QUIET_SYNCS_TO_LOOP, () => false).every((w) => w === 'pool')).toBe(true);
    expect(p.onLoop).toBe(true);
  });
});

describe('overlapOf and a busy loop', () => {
  it('names appends first, then a loop busy for BUSY_SHARE of the sync, else quiet', () => {
    expect(overlapOf(true, 0, 0.1)).toBe('appends');
    expect(overlapOf(false, 0.1 * BUSY_SHARE, 0.1)).toBe('busy');
    expect(overlapOf(false, 0.09, 0.1)).toBe('busy');
    // One appender: the loop only ran the completion's callback.
    expect(overlapOf(false, 0.02, 0.1)).toBe('quiet');
    expect(overlapOf(false, 0, 0)).toBe('quiet');
  });

  it('a busy loop keeps syncs on the thread pool though no append arrives during them', () => {
    const p = new SyncPlacement();
    expect(run(p, QUIET_SYNCS_TO_LOOP * 4, () => 'busy').every((w) => w === 'pool')).toBe(true);
    // Busy one sync in two: still the pool.
    expect(run(p, QUIET_SYNCS_TO_LOOP * 4, (i) => (i % 2 === 0 ? 'busy' : 'quiet')).every((w) => w === 'pool')).toBe(true);
  });

  it('tolerates BUSY_TOLERATED blips (a garbage collection during a sync) among the quiet syncs, not one more', () => {
    const blips = (n: number) => (i: number): SyncOverlap => (i < n * 5 && i % 5 === 2 ? 'busy' : 'quiet');
    const p = new SyncPlacement();
    const where = run(p, QUIET_SYNCS_TO_LOOP + 2, blips(BUSY_TOLERATED));
    expect(where.slice(QUIET_SYNCS_TO_LOOP)).toEqual(['loop', 'loop']);
    const q = new SyncPlacement();
    const more = run(q, QUIET_SYNCS_TO_LOOP + 2, blips(BUSY_TOLERATED + 1));
    expect(more.every((w) => w === 'pool')).toBe(true);
    // The blips leave the window of the last QUIET_SYNCS_TO_LOOP: the loop takes over then.
    expect(run(q, QUIET_SYNCS_TO_LOOP, () => 'quiet')).toContain('loop');
  });

  it('on the loop, a probe that finds the loop busy goes back to the thread pool', () => {
    const p = new SyncPlacement();
    run(p, QUIET_SYNCS_TO_LOOP, () => 'quiet');
    expect(p.onLoop).toBe(true);
    const where = run(p, PROBE_EVERY + 2, () => 'busy');
    expect(where.indexOf('pool')).toBe(PROBE_EVERY - 1);
    expect(p.onLoop).toBe(false);
  });
});
