// Small helpers shared by the operator's modules.

import { backoff } from '../../core/backoff.ts';

export { compact } from '../../core/compact.ts';

/** Runs `fn` until it succeeds or `attempts` are used, with exponential backoff and full jitter between tries. */
export async function retry<T>(what: string, fn: () => Promise<T>, log: { warn(obj: object, msg: string): void }, attempts = 8, baseMs = 250): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      const delay = backoff(i - 1, { baseMs, capMs: 30_000 });
      log.warn({ err: errorMessage(err), attempt: i, retryInMs: delay }, `${what} failed; retrying`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
