// For the PostgreSQL listener's unit tests (listener.test.ts, connection-limit.test.ts): the local
// enforcer on the example policy (test/local-enforcer.ts: the real policy and masking engines, no
// Kubernetes) with alice, of group support, known by her token, and what a test started, closed
// after it.
import { afterEach, beforeAll } from '@jest/globals';
import { join } from 'node:path';
import { localEnforcer, type LocalEnforcer } from './local-enforcer.ts';

/** examples/lgpd-orders' AccessPolicy. */
export const EXAMPLE_POLICY = join(import.meta.dirname, '../../examples/lgpd-orders/accesspolicy.yaml');
/** Alice's token (subject alice, group support). */
export const ALICE_TOKEN = 'token-of-alice';
/** The startup options naming the example's purpose. */
export const PURPOSE_OPTIONS = '-c guarita.purpose=customer-support';

export interface ListenerTestEnv {
  /** The local enforcer, once beforeAll has run. */
  readonly enforcer: LocalEnforcer;
  /** Run after each test, the last pushed first. */
  readonly cleanups: Array<() => Promise<void>>;
}

/** Registers the beforeAll that starts the local enforcer (`approvalWaitMs` passed on) and the afterEach that runs the cleanups. */
export function listenerTestHooks(o: { approvalWaitMs?: number } = {}): ListenerTestEnv {
  let enforcer: LocalEnforcer | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    enforcer = await localEnforcer({ policyFile: EXAMPLE_POLICY, tokens: { [ALICE_TOKEN]: { subject: 'alice', groups: ['support'], kind: 'User' } }, ...o });
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return {
    get enforcer(): LocalEnforcer {
      if (enforcer === undefined) throw new Error('the local enforcer is not started');
      return enforcer;
    },
    cleanups,
  };
}
