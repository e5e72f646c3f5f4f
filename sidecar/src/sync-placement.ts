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

/** Thread-pool syncs in a row during which no append arrived before the loop takes over. */
export const QUIET_SYNCS_TO_LOOP = 16;
/** On the loop, one sync in this many runs on the thread pool to see whether appends now overlap. */
export const PROBE_EVERY = 32;
/** A sync at least this long (ms) keeps or sends the spool's syncs to the thread pool. */
export const SLOW_SYNC_MS = 50;

export class SyncPlacement {
  readonly #slowMs: number;
  #onLoop = false;
  #quiet = 0;
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

  /** After a thread-pool sync: whether any append arrived while it ran, and how long it took. */
  poolSyncDone(appendsArrived: boolean, ms: number): void {
    if (appendsArrived || ms >= this.#slowMs) {
      this.#onLoop = false;
      this.#quiet = 0;
      return;
    }
    if (this.#onLoop) return;
    this.#quiet++;
    if (this.#quiet >= QUIET_SYNCS_TO_LOOP) {
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
    this.#quiet = 0;
  }

  get onLoop(): boolean { return this.#onLoop; }
}
