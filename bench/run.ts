// `npm run bench [-- --quick] [-- --json] [-- --only mask,policy]`: runs every benchmark suite,
// each measuring Guarita beside its own baseline in the same run, and prints one table (or, with
// --json, one JSON object on stdout). Suites live in bench/<name>.ts and export bench<Name>().
import { cpus, totalmem, release } from 'node:os';
import { parseArgs } from 'node:util';
import { ensureHarness } from '../e2e/harness/index.ts';

type Suite = (opts: { quick: boolean }) => Promise<Record<string, number>>;

const SUITES: { name: string; load: () => Promise<Suite> }[] = [
  { name: 'mask', load: async () => (await import('./mask.ts')).benchMask },
  { name: 'policy', load: async () => (await import('./policy.ts')).benchPolicy },
  { name: 'http', load: async () => (await import('./http.ts')).benchHttp },
  { name: 'pg', load: async () => (await import('./pg.ts')).benchPg },
  { name: 'webhook', load: async () => (await import('./webhook.ts')).benchWebhook },
  { name: 'ingest', load: async () => (await import('./ingest.ts')).benchIngest },
  { name: 'revocation', load: async () => (await import('./revocation.ts')).benchRevocation },
];

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.versions.node}`;
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

function table(results: Record<string, number>, failures: Record<string, string>): string {
  const rows = Object.entries(results).map(([k, v]) => `| ${k} | ${formatValue(v)} |`);
  const failed = Object.entries(failures).map(([k, why]) => `| ${k} | failed: ${why.replace(/\|/g, '/').split('\n')[0] ?? ''} |`);
  return ['| metric | value |', '| --- | --- |', ...rows, ...failed].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, only: { type: 'string' } } });
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
  if (values.json) process.stdout.write(`${JSON.stringify({ machine: machine(), quick: values.quick, results, failures })}\n`);
  else process.stdout.write(`Machine: ${machine()}\n\n${table(results, failures)}\n`);
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
