// A progress bar on stderr for long exports and verifications: drawn only on a terminal, only once
// the work has taken a moment (short runs print nothing), redrawn at most every 100 ms, and erased
// when done so the final summary stands alone.
import { humanDuration } from './time.ts';

export interface ProgressStream { isTTY?: boolean; columns?: number; write(chunk: string): boolean }

export interface ProgressOptions {
  label: string;
  /** Show nothing before this much time has passed (default 1 s). */
  delayMs?: number;
  intervalMs?: number;
  now?: () => number;
}

const WIDTH = 24;

export class Progress {
  readonly #stream: ProgressStream;
  readonly #label: string;
  readonly #delay: number;
  readonly #interval: number;
  readonly #now: () => number;
  readonly #start: number;
  #last = 0;
  #drawn = false;

  constructor(stream: ProgressStream, opts: ProgressOptions) {
    this.#stream = stream;
    this.#label = opts.label;
    this.#delay = opts.delayMs ?? 1000;
    this.#interval = opts.intervalMs ?? 100;
    this.#now = opts.now ?? Date.now;
    this.#start = this.#now();
  }

  get enabled(): boolean {
    return this.#stream.isTTY === true;
  }

  /** `fraction` in 0..1 when the total is known, else undefined (a count-only line). */
  update(fraction: number | undefined, detail: string): void {
    if (!this.enabled) return;
    const t = this.#now();
    if (t - this.#start < this.#delay || t - this.#last < this.#interval) return;
    this.#last = t;
    this.#drawn = true;
    this.#stream.write(`\r\u001b[2K${this.render(fraction, detail, t - this.#start)}`);
  }

  render(fraction: number | undefined, detail: string, elapsedMs: number): string {
    const time = humanDuration(elapsedMs);
    if (fraction === undefined) return `${this.#label} ${detail} · ${time}`;
    const f = Math.min(1, Math.max(0, fraction));
    const full = Math.round(f * WIDTH);
    const line = `${this.#label} [${'#'.repeat(full)}${'.'.repeat(WIDTH - full)}] ${String(Math.floor(f * 100)).padStart(3)}% ${detail} · ${time}`;
    const columns = this.#stream.columns ?? 0;
    return columns > 0 && line.length >= columns ? line.slice(0, columns - 1) : line;
  }

  /** Erases the bar (if one was drawn). */
  done(): void {
    if (this.#drawn) this.#stream.write('\r\u001b[2K');
    this.#drawn = false;
  }
}
