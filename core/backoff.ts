// Exponential backoff with full jitter, the one copy every component uses (operator queue,
// informer and start-up retries, webhook policy cache, sidecar shipper and policy watch).
//
// Full jitter, as in the AWS architecture blog "Exponential Backoff And Jitter":
//   sleep = random_between(0, min(cap, base * 2 ** attempt))
// Spreading retries over the whole window is what keeps many clients that failed together (every
// sidecar when the operator restarts) from retrying together; "equal jitter" (half the window
// fixed, half random) keeps them bunched in the upper half and waits longer on average.

export interface BackoffOptions {
  /** Window of the first retry (attempt 0), in milliseconds. */
  baseMs: number;
  /** Largest window, in milliseconds. */
  capMs: number;
  /** A source of numbers in [0, 1): injected by tests for deterministic delays; Math.random otherwise. */
  random?: () => number;
}

/** Beyond this exponent every sane base already exceeds any cap: keeps 2 ** attempt finite. */
const MAX_EXPONENT = 52;

/** The upper bound of the wait before retry number `attempt` (0-based): min(cap, base * 2 ** attempt). */
export function backoffCeiling(attempt: number, opts: Pick<BackoffOptions, 'baseMs' | 'capMs'>): number {
  check(attempt, opts);
  return Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, MAX_EXPONENT));
}

/**
 * The wait before retry number `attempt` (0 for the first retry): a whole number of milliseconds
 * drawn uniformly from [0, min(cap, base * 2 ** attempt)].
 */
export function backoff(attempt: number, opts: BackoffOptions): number {
  const ceiling = backoffCeiling(attempt, opts);
  const r = (opts.random ?? Math.random)();
  if (!(r >= 0 && r <= 1)) throw new RangeError(`backoff: random() returned ${r}; it must return a number in [0, 1)`);
  // floor(r * (ceiling + 1)) makes every whole millisecond in [0, ceiling] equally likely.
  return Math.min(ceiling, Math.floor(r * (ceiling + 1)));
}

function check(attempt: number, opts: Pick<BackoffOptions, 'baseMs' | 'capMs'>): void {
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`backoff: attempt is ${attempt}; it must be a whole number >= 0 (0 for the first retry)`);
  if (!Number.isFinite(opts.baseMs) || opts.baseMs <= 0) throw new RangeError(`backoff: baseMs is ${opts.baseMs}; it must be a finite number of milliseconds > 0`);
  // A cap below base is allowed (every window is then the cap), as min(cap, ...) reads.
  if (!Number.isFinite(opts.capMs) || opts.capMs < 0) throw new RangeError(`backoff: capMs is ${opts.capMs}; it must be a finite number of milliseconds >= 0`);
}
