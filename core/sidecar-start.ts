// How the sidecar process starts for its targets: V8 flags only a command line can set (V8 reads them when it
// starts; NODE_OPTIONS refuses some) and allocator settings the C library reads only at process start. The admission
// webhook writes them into the injected container's command and environment, so the pod's sidecar starts once;
// a sidecar started without them (by hand, or by an older injector) re-executes itself with what is missing
// (sidecar/src/v8-flags.ts), one Node start more (~50 ms of the cold start: a bare `node -e 0` takes 30-40 ms here, and that first process also loads the configuration).
//
// PostgreSQL targets load libpg-query, the PostgreSQL parser compiled to WebAssembly: once the parser is hot, V8's
// optimizing compiler (TurboFan) recompiles its grammar function, one of the largest functions there is, and the
// process peaks at ~640 MB of RSS for a few seconds (measured with Node 24: the "spike after the first PostgreSQL
// login"), far above the sidecar's 256 MiB limit. With --liftoff-only the parser stays on V8's baseline WebAssembly
// compiler: peak ~85 MB, and uncached parses run at ~0.65× the speed (classifications are cached by text and numeric
// shape, so repeated statements do not parse).
//
// Every sidecar runs with a fixed young generation (--max-semi-space-size=16, MiB per semi-space) instead of the one
// V8 derives from the memory it sees, which differs between a pod and a host: inside a 256 MiB pod (Node sizes the
// heap from the cgroup limit) the default semi-spaces are far smaller, and every statement or request allocates
// short-lived objects (its record, decision, masking session): scavenges took ~9 % of a PostgreSQL sidecar's CPU under
// `pgbench -S` with the default, ~6 % with 16 MiB (CPU profiles of the same run). On a large host the default is far
// larger: the HTTP sidecar's new space reached 128 MB at 32 connections and its RSS 242-255 MB, at the pod's limit;
// with 16 MiB, 146-173 MB at the same CPU per request (three alternated runs, within noise). The space grows to that
// size only under load.
const POSTGRES_FLAGS: readonly string[] = ['--liftoff-only'];
const EVERY_TARGET_FLAGS: readonly string[] = ['--max-semi-space-size=16'];

/** The V8 flags a sidecar serving targets of these protocols runs with, in the order a command line takes them. */
export function sidecarV8Flags(protocols: readonly string[]): string[] {
  return [...(protocols.includes('postgres') ? POSTGRES_FLAGS : []), ...EVERY_TARGET_FLAGS];
}

// glibc gives threads that allocate their own malloc arena (up to eight per core), and V8's worker threads and libuv's
// pool each keep one with pages in use: with MALLOC_ARENA_MAX=2 the idle HTTP sidecar holds ~2.5 MB less RSS
// (78.8 -> 76.0-76.5 MB, built sidecar, bench workload; the same with 1). The main thread, which does nearly all the
// allocation, keeps the main arena; the rest share one.
/** Environment variables every sidecar process starts with. */
export const SIDECAR_START_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
