// V8 flags the sidecar needs for its targets, which only a command line can set (V8 reads them
// when it starts; NODE_OPTIONS refuses them). PostgreSQL targets load libpg-query, the PostgreSQL
// parser compiled to WebAssembly: once the parser is hot, V8's optimizing compiler (TurboFan)
// recompiles its grammar function, one of the largest functions there is, and the process peaks
// at ~640 MB of RSS for a few seconds (measured with Node 24: the "spike after the first
// PostgreSQL login"), far above the sidecar's 256 MiB limit. With --liftoff-only the parser stays
// on V8's baseline WebAssembly compiler: peak ~85 MB, and uncached parses run at ~0.65× the speed
// (classifications are cached by text and numeric shape, so repeated statements do not parse).

/** The flags a process serving these targets must run with, missing from `execArgv`; empty when none. */
export function missingV8Flags(targets: readonly { protocol: string }[], execArgv: readonly string[]): string[] {
  const wanted = targets.some((t) => t.protocol === 'postgres') ? ['--liftoff-only'] : [];
  return wanted.filter((flag) => !execArgv.includes(flag));
}

/** The argument vector that runs this same process again with `flags` (for process.execve). */
export function reexecArgs(execPath: string, flags: readonly string[], execArgv: readonly string[], argv: readonly string[]): string[] {
  return [execPath, ...flags, ...execArgv, ...argv.slice(1)];
}
