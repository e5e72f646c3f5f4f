// Offline verification of an export, beside hashing the same file, in the same run:
//   verify.recordsPerSec          `guarita verify --file` (the real CLI process) on an export of one chain of
//                                 1,000,000 records (--quick: 200,000), written with the core writer pieces
//                                 (format 2 records, a checkpoint per 256-record commit group, as the spool does)
//                                 and planned by core/recording/export-build.ts as the operator serves it
//   verify.sha256sumRecordsPerSec baseline: `sha256sum` of the same file, as records/s
//   verify.fileMB                 the export's size
// No cluster needed. Alone: `bash scripts/run.sh node bench/verify.ts [--quick]`
// (GUARITA_BENCH_VERIFY_RECORDS=N for another size).
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { planExport } from '../core/recording/export-build.ts';
import { exportRecordLine } from '../core/recording/export-format.ts';
import { storeLogOf, testStore, writeChain } from '../e2e/support/export-testkit.ts';
import type { SessionRecord } from '../core/recording/store-types.ts';

const GROUP = 256;
const CLI = join(import.meta.dirname, '../cli/bin/guarita');

async function write(out: WriteStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** Writes the chain's records to `recordsFile` as it goes (they do not fit in memory at 1M) and returns what the plan needs. */
async function writeRecords(namespace: string, n: number, recordsFile: string): Promise<{ chain: ReturnType<typeof writeChain>; hashes: string[] }> {
  const out = createWriteStream(recordsFile);
  const hashes: string[] = [];
  let pending = '';
  const chain = writeChain(namespace, n, {
    group: GROUP,
    onRecord: (r: SessionRecord) => {
      hashes.push(r.hash);
      pending += `${exportRecordLine(r)}\n`;
      if (pending.length > 1 << 20) {
        out.write(pending);
        pending = '';
      }
    },
  });
  out.end(pending);
  await once(out, 'close');
  return { chain, hashes };
}

/** The export file: the plan's preamble, then each run's proof line before its records (read back in order). */
export async function writeExport(n: number, file: string, recordsFile: string): Promise<void> {
  const namespace = 'bench';
  const { chain, hashes } = await writeRecords(namespace, n, recordsFile);
  const store = testStore(namespace, 'orders-db');
  // The store log the operator would hold for the chain, so every checkpoint line carries its
  // store link and inclusion proof as in a real export (the verifier checks each).
  const records = hashes.map((hash, i) => ({ chainId: chain.chainId, seq: i + 1, hash }) as SessionRecord);
  const log = storeLogOf(store, { namespace, policy: 'orders-db' }, [{ ...chain, records }]);
  const plan = planExport({
    namespace, filter: {}, createdAt: new Date().toISOString(), storeKey: store.key, storeKeys: [store.keyLine], anchors: [log.anchor], checkpointStore: log.links.of,
    chains: [{
      registration: { type: 'chain.registration', chainId: chain.chainId, namespace, pod: chain.pod, keyId: chain.key.keyId, publicJwk: chain.key.publicJwk },
      hashes, checkpoints: chain.checkpoints, selected: hashes.map((_, i) => i + 1),
    }],
  });
  const out = createWriteStream(file);
  await write(out, plan.preamble.map((l) => `${JSON.stringify(l)}\n`).join(''));
  const lines = createInterface({ input: createReadStream(recordsFile), crlfDelay: Infinity })[Symbol.asyncIterator]();
  for (const run of plan.runs) {
    let chunk = `${JSON.stringify(run.proof)}\n`;
    for (let s = run.from; s <= run.to; s++) chunk += `${(await lines.next()).value as string}\n`;
    await write(out, chunk);
  }
  out.end();
  await once(out, 'close');
}

function timed(cmd: string, args: string[]): { ms: number; stdout: string } {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${String(r.status)}: ${(r.stderr || r.stdout).slice(0, 500)}`);
  return { ms, stdout: r.stdout };
}

export async function benchVerify(opts: { quick: boolean }): Promise<Record<string, number>> {
  // GUARITA_BENCH_VERIFY_RECORDS overrides the size (a quick look while changing the verifier).
  const override = process.env.GUARITA_BENCH_VERIFY_RECORDS;
  const n = override === undefined || override === '' ? (opts.quick ? 200_000 : 1_000_000) : Number(override);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`GUARITA_BENCH_VERIFY_RECORDS must be a positive integer (got '${override ?? ''}')`);
  const dir = mkdtempSync(join(tmpdir(), 'guarita-bench-verify-'));
  try {
    const file = join(dir, 'export.jsonl');
    await writeExport(n, file, join(dir, 'records.jsonl'));
    const hash = timed('sha256sum', [file]);
    const verify = timed(CLI, ['verify', '--file', file, '-o', 'json']);
    const verdict = JSON.parse(verify.stdout) as { ok: boolean; records: number };
    if (!verdict.ok || verdict.records !== n) throw new Error(`the benchmark export did not verify (${verify.stdout.slice(0, 300)})`);
    return {
      'verify.recordsPerSec': Math.round(n / (verify.ms / 1000)),
      'verify.sha256sumRecordsPerSec': Math.round(n / (hash.ms / 1000)),
      'verify.fileMB': Math.round(statSync(file).size / 1e6),
      'verify.records': n,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const results = await benchVerify({ quick: values.quick });
  process.stdout.write(`${Object.entries(results).map(([k, v]) => `${k} ${v}`).join('\n')}\n`);
}
