// A sidecar started without the V8 flags and allocator settings its targets need (core/sidecar-start.ts says which
// and why; the admission webhook writes them into the pod) re-executes itself with what is missing, before it has
// loaded anything else: same PID and descriptors, one Node start more.
import { SIDECAR_START_ENV, sidecarV8Flags } from '../../core/sidecar-start.ts';

/**
 * The flags a process serving these targets must run with, missing from `given` (its command-line
 * options and NODE_OPTIONS' words); empty when none.
 */
export function missingV8Flags(targets: readonly { protocol: string }[], given: readonly string[]): string[] {
  const wanted = sidecarV8Flags(targets.map((t) => t.protocol));
  const named = (flag: string): string => flag.split('=')[0] ?? flag;
  // A flag already given (with any value: an operator's own NODE_OPTIONS choice) is kept as given.
  return wanted.filter((flag) => !given.some((a) => named(a) === named(flag)));
}

// The C library reads its allocator settings only when a process starts, so they ride on the same re-execution. A
// value already set is kept as set.
/** Environment variables the process must start with, missing from `env`; empty when none. */
export function missingEnvironment(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(SIDECAR_START_ENV).filter(([name]) => env[name] === undefined));
}

/** The argument vector that runs this same process again with `flags` (for process.execve). */
export function reexecArgs(execPath: string, flags: readonly string[], execArgv: readonly string[], argv: readonly string[]): string[] {
  return [execPath, ...flags, ...execArgv, ...argv.slice(1)];
}
