// V8 flags the sidecar needs for its targets, which only a command line can set (V8 reads them
// when it starts; NODE_OPTIONS refuses them). PostgreSQL targets load libpg-query, the PostgreSQL
// parser compiled to WebAssembly: once the parser is hot, V8's optimizing compiler (TurboFan)
// recompiles its grammar function, one of the largest functions there is, and the process peaks
// at ~640 MB of RSS for a few seconds (measured with Node 24: the "spike after the first
// PostgreSQL login"), far above the sidecar's 256 MiB limit. With --liftoff-only the parser stays
// on V8's baseline WebAssembly compiler: peak ~85 MB, and uncached parses run at ~0.65× the speed
// (classifications are cached by text and numeric shape, so repeated statements do not parse).

//
// The same re-execution gives a PostgreSQL sidecar a larger young generation
// (--max-semi-space-size=16, MiB per semi-space; V8's default for this heap size is far smaller):
// every statement allocates short-lived objects (its record, decision and masking session), and
// with the default semi-spaces, scavenges took ~9 % of the sidecar's CPU under `pgbench -S`
// (~6 % with 16 MiB; CPU profiles of the same run). The space grows only under load.
const POSTGRES_FLAGS = ['--liftoff-only', '--max-semi-space-size=16'];

/** The flags a process serving these targets must run with, missing from `execArgv`; empty when none. */
export function missingV8Flags(targets: readonly { protocol: string }[], execArgv: readonly string[]): string[] {
  const wanted = targets.some((t) => t.protocol === 'postgres') ? POSTGRES_FLAGS : [];
  const named = (flag: string): string => flag.split('=')[0] ?? flag;
  // A flag already given (with any value: an operator's own NODE_OPTIONS choice) is kept as given.
  return wanted.filter((flag) => !execArgv.some((a) => named(a) === named(flag)));
}

/** The argument vector that runs this same process again with `flags` (for process.execve). */
export function reexecArgs(execPath: string, flags: readonly string[], execArgv: readonly string[], argv: readonly string[]): string[] {
  return [execPath, ...flags, ...execArgv, ...argv.slice(1)];
}
