// Small helpers shared by the operator's modules.

export { compact } from '../../core/compact.ts';

/** Runs `fn` until it succeeds or `attempts` are used, with exponential backoff between tries. */
export async function retry<T>(what: string, fn: () => Promise<T>, log: { warn(obj: object, msg: string): void }, attempts = 8, baseMs = 250): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      const delay = Math.min(30_000, baseMs * 2 ** (i - 1));
      log.warn({ err: errorMessage(err), attempt: i, retryInMs: delay }, `${what} failed; retrying`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
