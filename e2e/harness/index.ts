// startHarness: the real local control plane (etcd + kube-apiserver), PostgreSQL and the OIDC
// IdP on loopback, started in parallel, each under a watchdog so none outlives this process.
// Used by Jest's integration globalSetup and by main.ts (the demo).
import { join } from 'node:path';
import { progress } from './log.ts';
import { binDir, postgresBinDir, requireKubeBinaries } from './paths.ts';
import { startIdp } from './idp.ts';
import { startKube } from './kube.ts';
import { startPostgres } from './postgres.ts';
import { cleanStaleRunDirs, createRunDir, removeRunDir, type RunDir } from './rundir.ts';
import { ALL_COMPONENTS, HARNESS_STATE_ENV, writeHarnessState, type HarnessComponent, type HarnessState } from './state.ts';
import type { Supervised } from './supervisor.ts';

export { ALL_COMPONENTS, type HarnessComponent, type HarnessState } from './state.ts';

export interface HarnessOptions {
  /** Which components to start (default: all). */
  components?: readonly HarnessComponent[];
  /** Use this directory instead of a fresh temp dir (then it is never deleted). */
  runDir?: string;
}

export interface Harness {
  readonly state: HarnessState;
  /** Stops every component (graceful, then SIGKILL) and removes the temp run dir (GUARITA_HARNESS_KEEP=1 keeps it). */
  stop(): Promise<void>;
}

type ComponentCoordinates = Pick<HarnessState, 'kube' | 'postgres' | 'idp'>;

interface Started {
  /** Stop order: the last started first (the apiserver before its etcd). */
  processes: Supervised[];
  coordinates: ComponentCoordinates;
}

/** Fails fast, before anything starts, when a binary is missing ("run `npm run bootstrap`"). */
function preflight(components: readonly HarnessComponent[]): void {
  if (components.includes('kube')) requireKubeBinaries();
  if (components.includes('postgres')) postgresBinDir();
}

async function startComponent(component: HarnessComponent, runDir: string): Promise<Started> {
  switch (component) {
    case 'kube': {
      const kube = await startKube(runDir, binDir());
      return { processes: [...kube.processes].reverse(), coordinates: { kube: kube.coordinates } };
    }
    case 'postgres': {
      const pg = await startPostgres(runDir);
      return { processes: [pg.process], coordinates: { postgres: pg.coordinates } };
    }
    case 'idp': {
      const idp = await startIdp(runDir);
      return { processes: [idp.process], coordinates: { idp: idp.coordinates } };
    }
  }
}

async function stopAll(started: readonly Started[]): Promise<void> {
  // Components are independent: stop them in parallel, each in its own order.
  await Promise.all(started.map(async (s) => {
    for (const proc of s.processes) await proc.stop();
  }));
}

function failure(results: readonly PromiseSettledResult<Started>[], components: readonly HarnessComponent[], runDir: string): Error {
  const reasons = results.flatMap((r, i) => (r.status === 'rejected' ? [`${components[i]}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
  return new Error(`harness failed to start (logs in ${runDir}/logs):\n${reasons.join('\n\n')}`);
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const components = [...(opts.components ?? ALL_COMPONENTS)];
  preflight(components);
  cleanStaleRunDirs();
  const runDir: RunDir = createRunDir(opts.runDir);
  const t0 = Date.now();
  progress('harness', `starting ${components.join(', ')} in ${runDir.path}`);

  const results = await Promise.allSettled(components.map((c) => startComponent(c, runDir.path)));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (started.length !== components.length) {
    await stopAll(started);
    // Kept on failure: the logs are the diagnosis.
    throw failure(results, components, runDir.path);
  }

  const startupMs = Date.now() - t0;
  const state: HarnessState = {
    version: 1, runDir: runDir.path, binDir: binDir(), ownerPid: process.pid,
    startedAt: new Date(t0).toISOString(), startupMs, components,
    processes: started.flatMap((s) => s.processes).map((p) => ({ name: p.name, pid: p.pid, logFile: p.logFile })),
    ...Object.assign({}, ...started.map((s) => s.coordinates)) as ComponentCoordinates,
  };
  progress('harness', `ready in ${(startupMs / 1000).toFixed(1)}s`);

  let stopping: Promise<void> | undefined;
  return {
    state,
    stop(): Promise<void> {
      stopping ??= (async () => {
        progress('harness', 'stopping');
        await stopAll(started);
        removeRunDir(runDir);
        progress('harness', 'stopped');
      })();
      return stopping;
    },
  };
}

/**
 * The harness named by $GUARITA_HARNESS_STATE, or one started here (returned so the caller stops
 * it) with its state file exported for everything that reads the state. Benchmarks and the demo use it.
 */
export async function ensureHarness(components?: HarnessComponent[]): Promise<Harness | undefined> {
  const existing = process.env[HARNESS_STATE_ENV];
  if (existing !== undefined && existing !== '') return undefined;
  const harness = await startHarness(components === undefined ? {} : { components });
  const stateFile = join(harness.state.runDir, 'state.json');
  writeHarnessState(stateFile, harness.state);
  process.env[HARNESS_STATE_ENV] = stateFile;
  return harness;
}
