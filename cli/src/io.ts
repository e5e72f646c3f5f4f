// The streams a command talks to, injected so tests can run commands in-process.
import type { Readable, Writable } from 'node:stream';

export interface CliIo {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Aborts on Ctrl-C (SIGINT) or SIGTERM: commands that run until stopped (approvals --watch) end cleanly on it. */
  readonly interrupt?: AbortSignal;
}

export function realIo(): CliIo {
  let interrupt: AbortSignal | undefined;
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    // Installed only when a command asks: every other command keeps the default Ctrl-C (exit at once).
    get interrupt(): AbortSignal {
      if (interrupt === undefined) {
        const controller = new AbortController();
        const stop = (): void => controller.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        interrupt = controller.signal;
      }
      return interrupt;
    },
  };
}
