// PostgreSQL listener benchmark: pgbench straight to the harness PostgreSQL vs through the real
// sidecar process (real enforcer: OIDC token, live AccessPolicy, masking, recording to the spool),
// same database, same run. Two workloads:
//   - select-only (`pgbench -S`): one-row primary-key lookups on pgbench_accounts, nothing to mask;
//   - customer rows: a custom script reading one customer row with CPF, e-mail and phone, all masked.
// Plus the latency one statement gains, at the median, with one client; the same with
// spec.recording.durability Written (`pg.written.*`). To tell the listener's own cost from the
// enforcer's (recording per statement), the same workloads through the listener with an in-memory
// enforcer (same policy and masking engines, no spool): `pg.listenerOnly*`. And the floor any proxy
// pays on this machine: PgBouncer (the anchor) and a byte-copying Node proxy, same run. The
// headline ratios (select-only, prepared, customer rows) alternate direct and proxied runs in
// rounds and report the medians.
//   node bench/pg.ts [--quick]   (uses $GUARITA_HARNESS_STATE, or starts a harness)
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { runCommand } from '../e2e/harness/exec.ts';
import { ensureHarness } from '../e2e/harness/index.ts';
import { requirePostgres } from '../e2e/harness/state.ts';
import { startPostgresListener } from '../sidecar/src/postgres/index.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from '../sidecar/test/pg-scenario.ts';
import { localEnforcer } from '../sidecar/test/local-enforcer.ts';
import { PGBOUNCER, startPgBouncer } from './pgbouncer.ts';
import { buildProduction, builtEntry } from '../e2e/harness/build.ts';
import { alternated, median, sidecarNodeOptions, startPassThrough } from './support.ts';

const CUSTOMER_SCRIPT = '\\set id random(1, 50)\nSELECT id, nome, cpf, email, telefone FROM customers WHERE id = :id;\n';

interface Run { tps: number; latenciesUs: number[] }

async function pgbench(env: NodeJS.ProcessEnv, args: string[], logDir?: string): Promise<Run> {
  const pg = requirePostgres();
  const r = await runCommand(join(pg.binDir, 'pgbench'), ['-n', ...args, ...(logDir === undefined ? [] : ['-l', `--log-prefix=${join(logDir, 'tx')}`])], { env, timeoutMs: 600_000 });
  if (r.code !== 0 || /error|FATAL/i.test(r.stderr)) throw new Error(`pgbench ${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout)?.[1];
  if (tps === undefined) throw new Error(`pgbench printed no tps: ${r.stdout}`);
  const latenciesUs = logDir === undefined ? [] : readdirSync(logDir).flatMap((f) => readFileSync(join(logDir, f), 'utf8').split('\n'))
    .map((l) => Number(l.split(' ')[2])).filter((n) => Number.isFinite(n) && n > 0);
  return { tps: Number(tps), latenciesUs };
}

async function latencyP50Ms(env: NodeJS.ProcessEnv, seconds: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'guarita-pgbench-log-'));
  try {
    const run = await pgbench(env, ['-S', '-c', '1', '-j', '1', '-T', String(seconds)], dir);
    return median(run.latenciesUs) / 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Load = (env: NodeJS.ProcessEnv, args: string[]) => Promise<Run>;

/** Anchors on the same machine: PgBouncer (skipped, with a note, when it is not installed) and a byte-copying Node proxy. */
async function anchorRuns(s: PgScenario, load: string[]): Promise<Record<string, number>> {
  const pg = requirePostgres();
  const out: Record<string, number> = {};
  const pass = await startPassThrough(pg.port, pg.host);
  try {
    out['pg.passThroughSelectOnlyTps'] = (await pgbench({ ...s.directEnv(), PGHOST: '127.0.0.1', PGPORT: String(pass.port) }, ['-S', ...load])).tps;
  } finally {
    await pass.close();
  }
  if (!existsSync(PGBOUNCER)) {
    process.stderr.write(`[bench] pg: ${PGBOUNCER} not installed, PgBouncer anchor skipped (scripts/bench.sh installs it)\n`);
    return out;
  }
  const bouncer = await startPgBouncer({ host: pg.host, port: pg.port, database: s.database, user: 'orders_app', password: pg.passwords.orders_app });
  try {
    out['pg.pgbouncerSelectOnlyTps'] = (await pgbench({ ...s.directEnv(), PGHOST: '127.0.0.1', PGPORT: String(bouncer.port) }, ['-S', ...load])).tps;
  } finally {
    await bouncer.stop();
  }
  return out;
}

async function measure(s: PgScenario, quick: boolean): Promise<Record<string, number>> {
  const token = await s.token('support-agent');
  const direct = s.directEnv();
  const proxy = s.libpqEnv(token);
  const init = await runCommand(join(requirePostgres().binDir, 'pgbench'), ['-i', '-s', '1', '-q'], { env: direct, timeoutMs: 300_000 });
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), 'guarita-bench-pg-'));
  const script = join(dir, 'customers.sql');
  writeFileSync(script, CUSTOMER_SCRIPT);
  const seconds = quick ? 3 : 15;
  const rounds = quick ? 1 : 3;
  const clients = ['-c', '4', '-j', '2'];
  const load = [...clients, '-T', String(seconds)];
  const run: Load = (env, args) => pgbench(env, [...args, ...load]);
  // The headline ratios: direct and proxied alternated in rounds, `seconds` split between them.
  const roundLoad = [...clients, '-T', String(Math.max(1, Math.round(seconds / rounds)))];
  const paired = (args: string[]): ReturnType<typeof alternated> => alternated(rounds,
    async () => (await pgbench(direct, [...args, ...roundLoad])).tps, async () => (await pgbench(proxy, [...args, ...roundLoad])).tps);
  try {
    // Warm-up (connections, plan and classification caches, JIT of the proxy's hot paths).
    await pgbench(proxy, ['-S', ...clients, '-T', '2']);
    const select = await paired(['-S']);
    const prepared = await paired(['-S', '-M', 'prepared']);
    const customers = await paired(['-f', script]);
    const directP50 = await latencyP50Ms(direct, quick ? 2 : 8);
    const proxyP50 = await latencyP50Ms(proxy, quick ? 2 : 8);
    await s.applyPolicy((spec) => { spec.recording = { ...(spec.recording as object), durability: 'Written' }; });
    await new Promise((r) => setTimeout(r, 1000));
    const writtenSelect = await run(proxy, ['-S']);
    const writtenCustomers = await run(proxy, ['-f', script]);
    const writtenP50 = await latencyP50Ms(proxy, quick ? 2 : 8);
    await s.applyPolicy((spec) => { spec.recording = { ...(spec.recording as object), durability: 'Synced' }; });
    const listenerOnly = await listenerOnlyRuns(s, load, script);
    const anchors = await anchorRuns(s, load);
    const ratio = (key: string): Record<string, number> => (anchors[key] === undefined ? {} : { [`${key.replace(/Tps$/, '')}TpsRatio`]: anchors[key] / select.baseline });
    return {
      'pg.directSelectOnlyTps': select.baseline,
      'pg.proxySelectOnlyTps': select.measured,
      'pg.selectOnlyTpsRatio': select.ratio,
      'pg.directPreparedSelectOnlyTps': prepared.baseline,
      'pg.proxyPreparedSelectOnlyTps': prepared.measured,
      'pg.preparedSelectOnlyTpsRatio': prepared.ratio,
      'pg.directCustomerRowsTps': customers.baseline,
      'pg.proxyCustomerRowsTps': customers.measured,
      'pg.customerRowsTpsRatio': customers.ratio,
      'pg.directP50Ms': directP50,
      'pg.proxyP50Ms': proxyP50,
      'pg.addedP50Ms': proxyP50 - directP50,
      'pg.written.selectOnlyTps': writtenSelect.tps,
      'pg.written.selectOnlyTpsRatio': writtenSelect.tps / select.baseline,
      'pg.written.customerRowsTps': writtenCustomers.tps,
      'pg.written.customerRowsTpsRatio': writtenCustomers.tps / customers.baseline,
      'pg.written.p50Ms': writtenP50,
      'pg.written.addedP50Ms': writtenP50 - directP50,
      'pg.listenerOnlySelectOnlyTps': listenerOnly.select,
      'pg.listenerOnlySelectOnlyTpsRatio': listenerOnly.select / select.baseline,
      'pg.listenerOnlyCustomerRowsTpsRatio': listenerOnly.customers / customers.baseline,
      'pg.listenerOnlyAddedP50Ms': listenerOnly.p50 - directP50,
      ...anchors,
      ...ratio('pg.passThroughSelectOnlyTps'),
      ...ratio('pg.pgbouncerSelectOnlyTps'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The listener in this process with an in-memory enforcer: protocol, policy and masking work, no recording I/O. */
async function listenerOnlyRuns(s: PgScenario, load: string[], script: string): Promise<{ select: number; customers: number; p50: number }> {
  const pg = requirePostgres();
  const enforcer = await localEnforcer({
    policyFile: join(import.meta.dirname, '../examples/lgpd-orders/accesspolicy.yaml'),
    tokens: { 'bench-token': { subject: 'support-agent', groups: ['support'], kind: 'User' } },
  });
  const listener = await startPostgresListener({
    host: '127.0.0.1', port: 0, enforcer, logger: pino({ level: 'warn' }),
    target: { name: 'orders-db', host: pg.host, port: pg.port, database: s.database, username: 'orders_app', password: pg.passwords.orders_app },
  });
  // Keep the in-memory record list from growing through the runs.
  const trim = setInterval(() => { enforcer.records.length = 0; }, 200);
  try {
    const env = { ...s.libpqEnv('bench-token', PURPOSE_OPTIONS), PGPORT: String(listener.address.port) };
    const select = await pgbench(env, ['-S', ...load]);
    const customers = await pgbench(env, ['-f', script, ...load]);
    const p50 = await latencyP50Ms(env, 2);
    return { select: select.tps, customers: customers.tps, p50 };
  } finally {
    clearInterval(trim);
    await listener.close();
  }
}


export async function benchPg(opts: { quick: boolean }): Promise<Record<string, number>> {
  const harness = await ensureHarness(['kube', 'postgres', 'idp']);
  let scenario: PgScenario | undefined;
  try {
    // What the image runs: the JavaScript tsc emits (dist/).
    await buildProduction();
    scenario = await startPgScenario({ logLevel: 'warn', env: sidecarNodeOptions(), entry: builtEntry('sidecar') });
    return await measure(scenario, opts.quick);
  } finally {
    await scenario?.stop();
    await harness?.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const results = await benchPg({ quick: values.quick });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
