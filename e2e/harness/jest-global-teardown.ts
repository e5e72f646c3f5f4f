// Jest's integration globalTeardown: stops the harness globalSetup started (a reused one is
// left running). If Jest dies before this runs, the watchdogs stop the components anyway.
import { HARNESS_GLOBAL } from './jest-global-setup.ts';
import type { Harness } from './index.ts';

export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as Record<string, unknown>;
  const harness = holder[HARNESS_GLOBAL] as Harness | undefined;
  if (harness === undefined) return;
  delete holder[HARNESS_GLOBAL];
  await harness.stop();
}
