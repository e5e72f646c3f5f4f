// The LGPD scenario end to end on the local control plane: every step of issue 11's story through
// the real apiserver, webhook, operator, sidecar, PostgreSQL, IdP, psql and the guarita CLI.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startStack, type Stack } from './stack.ts';
import { STEPS } from './scenario.ts';

let stack: Stack | undefined;

beforeAll(async () => {
  stack = await startStack({ approvalWait: '30s', progress: () => undefined });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

describe('LGPD scenario on the local control plane', () => {
  it.each(STEPS)('%s', async (_name, check) => {
    if (stack === undefined) throw new Error('the stack did not start');
    const detail = await check(stack).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- sidecar log ---\n${stack?.sidecar.log(60) ?? ''}`);
    });
    expect(detail).not.toBe('');
  }, 120_000);
});
