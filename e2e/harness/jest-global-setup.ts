// Jest's integration globalSetup: starts the harness once for the whole run and publishes its
// state file through $GUARITA_HARNESS_STATE, which the test workers (spawned afterwards)
// inherit. Setting that variable yourself to a live harness's state file (from
// `node e2e/harness/main.ts`) reuses it instead: a fast edit-test loop.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, type Harness } from './index.ts';
import { progress } from './log.ts';
import { ALL_COMPONENTS, HARNESS_STATE_ENV, loadHarnessState, writeHarnessState, type HarnessComponent } from './state.ts';

/** globalSetup and globalTeardown run in the same process but load modules separately. */
export const HARNESS_GLOBAL = '__guaritaHarness';

function requestedComponents(): HarnessComponent[] {
  const raw = process.env.GUARITA_HARNESS_COMPONENTS;
  if (raw === undefined || raw.trim() === '') return [...ALL_COMPONENTS];
  const list = raw.split(',').map((s) => s.trim());
  const unknown = list.filter((c) => !(ALL_COMPONENTS as readonly string[]).includes(c));
  if (unknown.length > 0) throw new Error(`GUARITA_HARNESS_COMPONENTS: unknown ${unknown.join(', ')} (known: ${ALL_COMPONENTS.join(', ')})`);
  return list as HarnessComponent[];
}

function reusableState(): boolean {
  const file = process.env[HARNESS_STATE_ENV];
  if (file === undefined || file === '' || !existsSync(file)) return false;
  const state = loadHarnessState(file);
  try {
    process.kill(state.ownerPid, 0);
  } catch {
    progress('harness', `${HARNESS_STATE_ENV}=${file} belongs to a harness that is gone; starting a new one`);
    return false;
  }
  progress('harness', `reusing the running harness of pid ${state.ownerPid} (${file})`);
  return true;
}

export default async function globalSetup(): Promise<void> {
  if (reusableState()) return;
  const harness: Harness = await startHarness({ components: requestedComponents() });
  const file = join(harness.state.runDir, 'state.json');
  writeHarnessState(file, harness.state);
  process.env[HARNESS_STATE_ENV] = file;
  (globalThis as Record<string, unknown>)[HARNESS_GLOBAL] = harness;
}
