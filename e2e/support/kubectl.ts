// kubectl helpers shared by the components' integration tests: run as a test user, fail loudly
// with stderr, install the CRDs and wait until they serve.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { kubectl, type TestUser } from '../harness/state.ts';

export const REPO = join(import.meta.dirname, '../../');

/** A short random suffix for names that must not collide between tests sharing an apiserver. */
export function suffix(): string {
  return randomBytes(3).toString('hex');
}

/** kubectl as `user`; throws with stderr on failure. */
export async function k(args: readonly string[], user: TestUser = 'admin', input?: string): Promise<string> {
  const res = await kubectl(args, { user, ...(input === undefined ? {} : { input }) });
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} (as ${user}) failed: ${res.stderr.trim()}`);
  return res.stdout;
}

/** kubectl that is expected to fail: returns stderr. */
export async function kFails(args: readonly string[], user: TestUser = 'admin', input?: string): Promise<string> {
  const res = await kubectl(args, { user, ...(input === undefined ? {} : { input }) });
  if (res.code === 0) throw new Error(`kubectl ${args.join(' ')} (as ${user}) unexpectedly succeeded: ${res.stdout}`);
  return res.stderr;
}

export async function installCrds(): Promise<void> {
  await k(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds')]);
  await k(['wait', '--for=condition=Established', '--timeout=60s', 'crd/accesspolicies.guarita.io', 'crd/approvalrequests.guarita.io']);
  // Established is not serving: a new CRD's storage answers 429 "storage is (re)initializing" for
  // a moment after it. kubectl repeats a 429 (client-go), so one list returns once both serve.
  await k(['get', '--all-namespaces', '--request-timeout=60s', '-o', 'name', 'accesspolicies.guarita.io,approvalrequests.guarita.io']);
}
