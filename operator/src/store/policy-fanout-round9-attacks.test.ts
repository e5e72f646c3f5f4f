// Round 9 adversarial review: one sidecar exhausting the operator through the records' `policy`.
//
// Ingest checks a record's chainId, namespace, pod and keyId against its chain (batch-check.ts
// identityProblem) but not its `policy`: any DNS label is taken, and the store creates a policy
// (directory, segment file, store log) the first time a record names it (store-index.ts
// policyFor), whether or not an AccessPolicy of that name exists or governs the pod. Each policy's
// active segment keeps its file handle open for the life of the process (store-writer.ts
// #closeSealed closes only segments that are no longer active). So one injected proxy's key can
// open one file per record: a batch of --max-batch-records (5000) records naming 5000 policies
// holds 5000 more descriptors, and a handful of batches reach the process's limit; from then on the
// group writer fails (EMFILE), and a failed writer refuses EVERY chain of EVERY namespace until the
// operator restarts (and the same batches do it again after the restart: the policies are on disk).
// Each test FAILED on the code it was written against. Fixed: the ingest refuses a record whose
// policy does not govern the sending pod (operator/src/ingest/plugin-round9.test.ts), and the
// writer keeps at most MAX_OPEN_SEGMENTS (128) segment files open (store-writer.ts), which these
// FileStore-level tests (no ingest in front) now show.
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey } from '../../../core/recording/index.ts';
import { fakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const NS = 'ns-a';
const ROOT = join(import.meta.dirname, '..', '..', '..');
const dirs: string[] = [];
const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('records naming policies that do not govern their pod', () => {
  it('one sidecar batch cannot make the operator hold a file open per policy it names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'guarita-r9-fanout-'));
    dirs.push(dir);
    const store = await FileStore.open({ dir, key: generateSigningKey(), segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet });
    stores.push(store);
    const rogue = fakeSidecar(NS, 'agent-rogue');
    await store.registerChain(rogue.registration());
    const before = openFds();
    // 400 records, each naming its own made-up policy (no AccessPolicy of these names exists).
    const b = rogue.batch(400, (i) => ({ policy: `made-up-${i}` }));
    const result = await store.append(rogue.chainId, b.records, b.checkpoint);
    const held = openFds() - before;
    const policies = readdirSync(join(dir, 'policies', NS)).length;
    expect({ accepted: result.ok, policies, held }).toEqual({ accepted: result.ok, policies, held: expect.any(Number) });
    // The batch is either refused, or it costs the operator a bounded number of open files.
    expect(result.ok && held >= 400).toBe(false);
  });

  it('one sidecar cannot make the store refuse every other chain (file descriptor limit reached through made-up policies)', () => {
    // A separate process with a small descriptor limit stands in for the operator's (20000 in the
    // harness: four batches of 5000 records). The honest chain is registered first.
    const script = `
      import { generateSigningKey } from '${ROOT}/core/recording/index.ts';
      import { fakeSidecar } from '${ROOT}/e2e/support/store-testkit.ts';
      import { FileStore } from '${ROOT}/operator/src/store/file-store.ts';
      import { mkdtempSync, rmSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
      const dir = mkdtempSync(join(tmpdir(), 'guarita-r9-fanout-child-'));
      const store = await FileStore.open({ dir, key: generateSigningKey(), segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet });
      const honest = fakeSidecar('${NS}', 'agent-honest');
      const rogue = fakeSidecar('${NS}', 'agent-rogue');
      await store.registerChain(honest.registration());
      await store.registerChain(rogue.registration());
      const h1 = honest.batch(2);
      const honestBefore = (await store.append(honest.chainId, h1.records, h1.checkpoint)).ok;
      const rogueResults = [];
      for (let i = 0; i < 8; i++) {
        const b = rogue.batch(50, (j) => ({ policy: 'made-up-' + i + '-' + j }));
        rogueResults.push(await store.append(rogue.chainId, b.records, b.checkpoint).then((r) => r.ok, (e) => 'error: ' + (e.code ?? e.message)));
      }
      const h2 = honest.batch(2);
      const honestAfter = await store.append(honest.chainId, h2.records, h2.checkpoint).then((r) => r.ok, (e) => 'error: ' + (e.code ?? String(e.message).slice(0, 160)));
      console.log(JSON.stringify({ honestBefore, rogueResults, honestAfter }));
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    `;
    const child = spawnSync('bash', ['-c', `ulimit -n 256; exec "${process.execPath}" --disable-warning=ExperimentalWarning --input-type=module-typescript -e "$GUARITA_SCRIPT"`], {
      env: { ...process.env, GUARITA_SCRIPT: script }, encoding: 'utf8', timeout: 120_000,
    });
    const out = child.stdout.trim().split('\n').pop() ?? '';
    let parsed: { honestBefore: boolean; rogueResults: unknown[]; honestAfter: unknown } | undefined;
    try {
      parsed = JSON.parse(out) as typeof parsed;
    } catch {
      throw new Error(`child failed: ${child.stderr.slice(0, 2000)}`);
    }
    expect(parsed?.honestBefore).toBe(true);
    // The honest proxy's next batch is stored whatever the rogue one sent.
    expect(parsed).toEqual({ ...parsed, honestAfter: true });
  });
});
