// Round 9b review (adversarial) of the round 9 evidence fixes. Its finding A (the chain cap under
// concurrent registrations) is tested beside the other registration tests, in
// operator/src/ingest/plugin-round9.test.ts.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, SignedChainWriter } from '../../../core/recording/index.ts';
import { FileStore } from './file-store.ts';
import { event, fakeSidecar } from '../../../e2e/support/store-testkit.ts';
import type { SessionEvent } from '../../../core/recording/session-event.ts';

const quiet = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };

// Finding B: the downgrade rule (a format 1 record after format 2 ones, 422 downgrade) rests on
// in-memory facts rebuilt from the segments at open (chain.formatTwo, chain.newest). Once retention
// has removed every segment of a format 2 chain and the operator restarts (any restart, a new
// leader), the chain is taken for format 1 again: the same chain's next format 1 record is stored.
describe('round 9b: the downgrade rule after retention and a restart', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  async function expiredFormatTwoChain(restart: boolean): Promise<{ result: Awaited<ReturnType<FileStore['append']>>; store: FileStore }> {
    const dir = mkdtempSync(join(tmpdir(), 'guarita-r9b-downgrade-'));
    dirs.push(dir);
    const key = generateSigningKey();
    const opts = { dir, key, segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet };
    let store = await FileStore.open(opts);
    const sc = fakeSidecar('shop', 'agent-old');
    await store.registerChain(sc.registration());
    const b = sc.batch(3);
    expect((await store.append(sc.chainId, b.records, b.checkpoint)).ok).toBe(true);
    const last = b.records[2]!;
    // Ten days later, one day of retention: every segment of the policy expires.
    const outcomes = await store.applyRetention(() => 86_400_000, Date.now() + 10 * 86_400_000);
    expect(outcomes.length).toBeGreaterThan(0);
    if (restart) {
      await store.close();
      store = await FileStore.open(opts);
    }
    // The same chain (its key, its head), now writing format 1: records signed one by one, no checkpoint.
    const v1 = new SignedChainWriter<SessionEvent>(sc.chainId, sc.key, { seq: last.seq, head: last.hash });
    const record = v1.append(event('shop', 'agent-old'));
    return { result: await store.append(sc.chainId, [record]), store };
  }

  it('control: without a restart the format 1 record is refused (422 downgrade)', async () => {
    const { result, store } = await expiredFormatTwoChain(false);
    await store.close();
    expect(result).toMatchObject({ ok: false, problem: 'downgrade' });
  });

  it('after retention and a restart the same format 1 record is still refused (round 9b: it was stored)', async () => {
    const { result, store } = await expiredFormatTwoChain(true);
    await store.close();
    expect(result).toMatchObject({ ok: false, problem: 'downgrade' });
  });
});
