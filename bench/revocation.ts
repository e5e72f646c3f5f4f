// Revocation latency: from the moment the apiserver accepts a policy update that revokes a subject
// to the first request of that subject the sidecar denies, over repeated trials on the full local
// stack (real apiserver watch → sidecar policy watch → enforcement). Baseline: the same request
// loop's own round trip while the subject is still allowed.
//   node bench/revocation.ts [--quick]
import { ensureHarness } from '../e2e/harness/index.ts';
import { kubectl } from '../e2e/harness/state.ts';
import { agentToken } from '../e2e/local/agent.ts';
import { startStack, type Stack } from '../e2e/local/stack.ts';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}


async function status(stack: Stack, token: string): Promise<number> {
  const res = await fetch(`${stack.agentEnv.CUSTOMERS_API_URL ?? ''}/customers/1`, { headers: { authorization: `Bearer ${token}`, 'x-guarita-purpose': 'customer-support' } });
  await res.arrayBuffer();
  return res.status;
}

async function setRevoked(stack: Stack, revoked: boolean): Promise<void> {
  const value = revoked ? [{ kind: 'Group', name: 'support', reason: 'benchmark' }] : [];
  const res = await kubectl(['patch', 'accesspolicy', 'customers-api', '-n', stack.namespace, '--type=merge', '-p', JSON.stringify({ spec: { revokedSubjects: value } })], { user: 'admin' });
  if (res.code !== 0) throw new Error(`patching revokedSubjects failed: ${res.stderr}`);
}

async function waitFor(stack: Stack, token: string, wanted: (s: number) => boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (wanted(await status(stack, token))) return performance.now() - started;
  }
  throw new Error(`no change within ${timeoutMs} ms`);
}

async function trial(stack: Stack, token: string): Promise<number> {
  await setRevoked(stack, false);
  await waitFor(stack, token, (s) => s === 200, 10_000);
  // kubectl returns once the apiserver has accepted the update; the clock starts there.
  await setRevoked(stack, true);
  return waitFor(stack, token, (s) => s === 403, 10_000);
}

export async function benchRevocation(opts: { quick: boolean }): Promise<Record<string, number>> {
  const harness = await ensureHarness();
  const stack = await startStack({ progress: () => undefined });
  try {
    const token = await agentToken('support-agent');
    const roundTrips: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await status(stack, token);
      roundTrips.push(performance.now() - t);
    }
    const trials: number[] = [];
    for (let i = 0; i < (opts.quick ? 5 : 20); i++) trials.push(await trial(stack, token));
    trials.sort((a, b) => a - b);
    roundTrips.sort((a, b) => a - b);
    return {
      'revocation.p50Ms': percentile(trials, 50),
      'revocation.p99Ms': percentile(trials, 99),
      'revocation.requestRoundTripP50Ms': percentile(roundTrips, 50),
      'revocation.trials': trials.length,
    };
  } finally {
    await stack.stop();
    await harness?.stop();
  }
}

if (import.meta.main) {
  const result = await benchRevocation({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${Object.entries(result).map(([k, v]) => `${k.padEnd(36)} ${v.toFixed(2)}`).join('\n')}\n`);
}
