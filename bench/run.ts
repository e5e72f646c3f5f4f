// `npm run bench [-- --quick] [-- --json] [-- --only mask,policy] [-- --write-doc]`: runs every
// benchmark suite, each measuring Guarita beside its own baseline in the same run, and prints one
// table (bench/report.ts: figure, baseline, ratio or added cost, target) or, with --json, one JSON
// object on stdout. --write-doc also puts the table into docs/benchmarks.md. Suites live in
// bench/<name>.ts and export bench<Name>().
import { cpus, totalmem, release } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureHarness } from '../e2e/harness/index.ts';
import { markdownTable, rows } from './report.ts';

type Suite = (opts: { quick: boolean }) => Promise<Record<string, number>>;

const SUITES: { name: string; load: () => Promise<Suite> }[] = [
  { name: 'mask', load: async () => (await import('./mask.ts')).benchMask },
  { name: 'policy', load: async () => (await import('./policy.ts')).benchPolicy },
  { name: 'spool', load: async () => (await import('./spool.ts')).benchSpool },
  { name: 'http', load: async () => (await import('./http.ts')).benchHttp },
  { name: 'kubernetes', load: async () => (await import('./kubernetes.ts')).benchKubernetes },
  { name: 'ssh', load: async () => (await import('./ssh.ts')).benchSsh },
  { name: 'pg', load: async () => (await import('./pg.ts')).benchPg },
  { name: 'webhook', load: async () => (await import('./webhook.ts')).benchWebhook },
  { name: 'ingest', load: async () => (await import('./ingest.ts')).benchIngest },
  { name: 'revocation', load: async () => (await import('./revocation.ts')).benchRevocation },
  { name: 'verify', load: async () => (await import('./verify.ts')).benchVerify },
];

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.versions.node}`;
}

/** Replaces the generated part of docs/benchmarks.md (between the bench:table markers). */
function writeDoc(file: string, text: string): void {
  const doc = readFileSync(file, 'utf8');
  const open = doc.indexOf(BEGIN);
  const close = doc.indexOf(END);
  if (open < 0 || close < open) throw new Error(`${file}: markers ${BEGIN} ... ${END} not found; add them where the table belongs`);
  writeFileSync(file, `${doc.slice(0, open + BEGIN.length)}\n${text}\n${doc.slice(close)}`);
}

const BEGIN = '<!-- bench:table (written by `npm run bench -- --write-doc`) -->';
const END = '<!-- /bench:table -->';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, only: { type: 'string' }, 'write-doc': { type: 'boolean', default: false } } });
  const only = values.only?.split(',');
  const results: Record<string, number> = {};
  const failures: Record<string, string> = {};
  // One control plane for the whole run: a suite that started (and stopped) its own would leave
  // the next suite pointed at a harness that no longer exists.
  const harness = await ensureHarness();
  try {
    await runSuites(SUITES.filter((s) => only === undefined || only.includes(s.name)), values.quick, results, failures);
  } finally {
    await harness?.stop();
  }
  const heading = `\`npm run bench${values.quick ? ' -- --quick' : ''}\` on ${machine()}, ${new Date().toISOString().slice(0, 10)}${values.only === undefined ? '' : ` (suites: ${values.only})`}.`;
  const table = markdownTable(results, failures);
  if (values['write-doc']) writeDoc(join(import.meta.dirname, '../docs/benchmarks.md'), `${heading}\n\n${table}`);
  if (values.json) process.stdout.write(`${JSON.stringify({ machine: machine(), quick: values.quick, results, rows: rows(results), failures })}\n`);
  else process.stdout.write(`${heading}\n\n${table}\n`);
  return Object.keys(failures).length === 0 ? 0 : 1;
}

async function runSuites(suites: typeof SUITES, quick: boolean, results: Record<string, number>, failures: Record<string, string>): Promise<void> {
  const values = { quick };
  for (const suite of suites) {
    process.stderr.write(`[bench] ${suite.name}${values.quick ? ' (quick)' : ''} ...\n`);
    try {
      Object.assign(results, await (await suite.load())({ quick: values.quick }));
    } catch (err) {
      failures[suite.name] = err instanceof Error ? err.message : String(err);
      process.stderr.write(`[bench] ${suite.name} failed: ${failures[suite.name]}\n`);
    }
  }
}

if (import.meta.main) process.exitCode = await main();
