// Waiting on a condition in integration tests: poll until it holds instead of sleeping a guess.
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls until `check` returns a value (not undefined) or the timeout passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000, intervalMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  const why = last instanceof Error ? `: ${last.message}` : '';
  throw new Error(`timed out waiting for ${what}${why}`);
}
