// Round 9 (finding 3, defence in depth): the writer keeps at most maxOpenSegments segment files open
// (least recently written closed first, reopened on the next write) instead of one per policy for
// the life of the process. What is written through evicted and reopened handles must be the same
// store: appended to the same segment, durable, and verifying after a reopen.
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningKey } from '../../../core/recording/index.ts';
import { fakeSidecar, verifyExport } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const NS = 'ns-a';
const dirs: string[] = [];
const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

async function open(dir: string, key: SigningKey, maxOpenSegments?: number): Promise<FileStore> {
  const s = await FileStore.open({ dir, key, segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet, ...(maxOpenSegments === undefined ? {} : { maxOpenSegments }) });
  stores.push(s);
  return s;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('open segment handles are bounded', () => {
  it('holds at most maxOpenSegments files whatever the policies written, one batch or many', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'guarita-handles-'));
    dirs.push(dir);
    const store = await open(dir, generateSigningKey(), 8);
    const sc = fakeSidecar(NS, 'agent-many');
    await store.registerChain(sc.registration());
    const before = openFds();
    const one = sc.batch(40, (i) => ({ policy: `policy-${i}` }));
    expect((await store.append(sc.chainId, one.records, one.checkpoint)).ok).toBe(true);
    expect(openFds() - before).toBeLessThanOrEqual(8);
    for (let round = 0; round < 3; round++) {
      const b = sc.batch(10, (i) => ({ policy: `policy-${(i * 7 + round) % 40}` }));
      expect((await store.append(sc.chainId, b.records, b.checkpoint)).ok).toBe(true);
      expect(openFds() - before).toBeLessThanOrEqual(8);
    }
  });

  it('appends to the same segment through a reopened handle, and the store verifies after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'guarita-handles-'));
    dirs.push(dir);
    const key = generateSigningKey();
    const store = await open(dir, key, 2);
    const sc = fakeSidecar(NS, 'agent-rotating');
    await store.registerChain(sc.registration());
    const policies = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
    // Each batch writes every policy in turn: with 2 handles each is evicted and reopened every time.
    for (let round = 0; round < 4; round++) {
      const b = sc.batch(policies.length, (i) => ({ policy: policies[i]!, sessionId: `s-${policies[i]!}` }));
      expect((await store.append(sc.chainId, b.records, b.checkpoint)).ok).toBe(true);
    }
    for (const p of policies) expect(readdirSync(join(dir, 'policies', NS, p, 'segments'))).toHaveLength(1);
    const live = verifyExport(await collect(store.exportLines(NS, {})), true);
    expect(live.problems).toEqual([]);
    await store.close();
    stores.splice(0);
    const reopened = await open(dir, key, 2);
    expect(reopened.getChain(sc.chainId)?.seq).toBe(20);
    for (const p of policies) expect(reopened.policyChain(NS, p)?.records).toBe(8); // 4 records and 4 checkpoint links each
    const v = verifyExport(await collect(reopened.exportLines(NS, {})), true);
    expect([v.ok, v.problems]).toEqual([true, []]);
    const b = sc.batch(5, (i) => ({ policy: policies[i]! }));
    expect((await reopened.append(sc.chainId, b.records, b.checkpoint)).ok).toBe(true);
  });
});
