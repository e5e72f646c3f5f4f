// V8 flags the sidecar needs for its targets, which only a command line can set (V8 reads them
// when it starts; NODE_OPTIONS refuses them). PostgreSQL targets load libpg-query, the PostgreSQL
// parser compiled to WebAssembly: once the parser is hot, V8's optimizing compiler (TurboFan)
// recompiles its grammar function, one of the largest functions there is, and the process peaks
// at ~640 MB of RSS for a few seconds (measured with Node 24: the "spike after the first
// PostgreSQL login"), far above the sidecar's 256 MiB limit. With --liftoff-only the parser stays
// on V8's baseline WebAssembly compiler: peak ~85 MB, and uncached parses run at ~0.65× the speed
// (classifications are cached by text and numeric shape, so repeated statements do not parse).

//
// Every sidecar runs with a fixed young generation (--max-semi-space-size=16, MiB per semi-space)
// instead of the one V8 derives from the memory it sees, which differs between a pod and a host:
// inside a 256 MiB pod (Node sizes the heap from the cgroup limit) the default semi-spaces are far
// smaller, and every statement or request allocates short-lived objects (its record, decision,
// masking session): scavenges took ~9 % of a PostgreSQL sidecar's CPU under `pgbench -S` with the
// default, ~6 % with 16 MiB (CPU profiles of the same run). On a large host the default is far
// larger: the HTTP sidecar's new space reached 128 MB at 32 connections and its RSS 242-255 MB,
// at the pod's limit; with 16 MiB, 146-173 MB at the same CPU per request (three alternated runs,
// within noise). The space grows to that size only under load.
const POSTGRES_FLAGS = ['--liftoff-only'];
const EVERY_TARGET_FLAGS = ['--max-semi-space-size=16'];

/**
 * The flags a process serving these targets must run with, missing from `given` (its command-line
 * options and NODE_OPTIONS' words); empty when none.
 */
export function missingV8Flags(targets: readonly { protocol: string }[], given: readonly string[]): string[] {
  const wanted = [...(targets.some((t) => t.protocol === 'postgres') ? POSTGRES_FLAGS : []), ...EVERY_TARGET_FLAGS];
  const named = (flag: string): string => flag.split('=')[0] ?? flag;
  // A flag already given (with any value: an operator's own NODE_OPTIONS choice) is kept as given.
  return wanted.filter((flag) => !given.some((a) => named(a) === named(flag)));
}

// The C library reads its allocator settings only when a process starts, so they ride on the same
// re-execution, for every target kind. glibc gives threads that allocate their own malloc arena (up
// to eight per core), and V8's worker threads and libuv's pool each keep one with pages in use:
// with MALLOC_ARENA_MAX=2 the idle HTTP sidecar holds ~2.5 MB less RSS (78.8 -> 76.0-76.5 MB,
// built sidecar, bench workload; the same with 1). The main thread, which does nearly all the
// allocation, keeps the main arena; the rest share one. A value already set is kept as set.
const ALLOCATOR_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** Environment variables the process must start with, missing from `env`; empty when none. */
export function missingEnvironment(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(ALLOCATOR_ENV).filter(([name]) => env[name] === undefined));
}

/** The argument vector that runs this same process again with `flags` (for process.execve). */
export function reexecArgs(execPath: string, flags: readonly string[], execArgv: readonly string[], argv: readonly string[]): string[] {
  return [execPath, ...flags, ...execArgv, ...argv.slice(1)];
}
