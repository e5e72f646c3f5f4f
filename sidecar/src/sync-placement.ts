// Where the spool runs a Synced commit group's fdatasync: on the event loop (fdatasyncSync) or on
// libuv's thread pool (fs.fdatasync). On the thread pool the loop keeps reading the other
// connections while the disk syncs, so their records form the next group: with 4 pgbench clients
// under Synced that is about twice the throughput of syncing on the loop (measured with the pg rig,
// docs/benchmarks.md). With one appender nothing arrives during the sync, and the hand-off costs:
// the request to a pool thread and the wake-up of the loop when it is done, ~0.04-0.06 ms of a
// ~0.2 ms fdatasync here (bench/spool.ts, interleaved), ~0.1 ms into a pre-sized segment (spool.ts),
// where the hand-off weighs more still. So the spool syncs on the loop while appends
// come one at a time, and on the thread pool as soon as one arrives during a sync. On the loop
// nothing can arrive during a sync, so every PROBE_EVERY-th sync goes to the thread pool to look.
// A slow sync (SLOW_SYNC_MS or more: a volume's hiccup, well above this disk's p99 of ~13 ms under
// the other sessions' load) sends it back to the thread pool too: a blocked loop answers nothing, health probes included, and next to a slow sync the
// hand-off is noise. Pure decision logic; the spool does the I/O and the timing.

/**
 * What a thread-pool sync ran beside: appends (they form the next group), a busy event loop (at
 * least BUSY_SHARE of the sync's time running callbacks), or nothing. A busy loop matters as much as
 * appends: 32 HTTP connections kept the loop busy (upstream answers, requests being read and
 * decided) while their records formed no new group before the sync ended, so "no append arrived"
 * sent syncs to the loop, where each blocked all of that for ~0.1 ms: 24-27 % of the sidecar's
 * busy time in fdatasyncSync (--cpu-prof, HTTP rig, Synced). One appender at a time leaves the loop
 * idle during the sync (its active time is the completion's callback, ~0.05-0.1 ms of 0.25-5 ms).
 */
export type SyncOverlap = 'appends' | 'busy' | 'quiet';

/** The share of a sync's time the loop must spend running for the sync to count as 'busy'. */
export const BUSY_SHARE = 0.5;

/** What a thread-pool sync of `syncMs` ran beside: appends arrived, or `loopActiveMs` of the loop's own work. */
export function overlapOf(appendsArrived: boolean, loopActiveMs: number, syncMs: number): SyncOverlap {
  if (appendsArrived) return 'appends';
  return syncMs > 0 && loopActiveMs >= BUSY_SHARE * syncMs ? 'busy' : 'quiet';
}

/** Thread-pool syncs in a row during which no append arrived (BUSY_TOLERATED of them busy at most) before the loop takes over. */
export const QUIET_SYNCS_TO_LOOP = 16;
/**
 * Busy syncs among the last QUIET_SYNCS_TO_LOOP that still let the loop take over: a garbage
 * collection or one slow callback during a single appender's sync reads as a busy loop (seen 1 in
 * 20 under load); a loop kept busy by other connections is busy during most syncs.
 */
export const BUSY_TOLERATED = 2;
/** On the loop, one sync in this many runs on the thread pool to see whether appends now overlap. */
export const PROBE_EVERY = 32;
/** A sync at least this long (ms) keeps or sends the spool's syncs to the thread pool. */
export const SLOW_SYNC_MS = 50;

export class SyncPlacement {
  readonly #slowMs: number;
  #onLoop = false;
  /** Thread-pool syncs since the last reset, and how many of them ran beside a busy loop. */
  #poolSyncs = 0;
  #busy: boolean[] = [];
  #loopSyncs = 0;

  constructor(slowSyncMs: number = SLOW_SYNC_MS) {
    this.#slowMs = slowSyncMs;
  }

  /** Whether the next group's sync runs on the event loop. */
  nextOnLoop(): boolean {
    if (!this.#onLoop) return false;
    this.#loopSyncs++;
    return this.#loopSyncs % PROBE_EVERY !== 0;
  }

  /** After a thread-pool sync: what it ran beside (overlapOf()), and how long it took. */
  poolSyncDone(overlap: SyncOverlap, ms: number): void {
    // A probe from the loop that finds the loop busy goes back too: that is what a loop sync holds back.
    if (overlap === 'appends' || ms >= this.#slowMs || (this.#onLoop && overlap === 'busy')) {
      this.failed();
      return;
    }
    if (this.#onLoop) return;
    this.#poolSyncs++;
    this.#busy.push(overlap === 'busy');
    if (this.#busy.length > QUIET_SYNCS_TO_LOOP) this.#busy.shift();
    if (this.#poolSyncs >= QUIET_SYNCS_TO_LOOP && this.#busy.filter(Boolean).length <= BUSY_TOLERATED) {
      this.#onLoop = true;
      this.#loopSyncs = 0;
    }
  }

  /** After a sync on the loop: a slow one sends the next ones back to the thread pool. */
  loopSyncDone(ms: number): void {
    if (ms >= this.#slowMs) this.failed();
  }

  /** A failed sync: back to the thread pool (a failing or stalling volume must not hold the loop). */
  failed(): void {
    this.#onLoop = false;
    this.#poolSyncs = 0;
    this.#busy = [];
  }

  get onLoop(): boolean { return this.#onLoop; }
}
