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
// rounds and report the medians. Beside PgBouncer, alternated with it the same way: select-only
// (durability Synced and Written) and customer rows (`pg.*VsPgbouncer`). pgbench's TPC-B-like
// default workload (`pgbench -i`, then `-c 4`) directly, through PgBouncer and through the sidecar
// (`pg.tpcb*`), after which balances and history must agree (the run fails otherwise); and 5,000
// single INSERTs on one connection, direct and through the sidecar (`pg.inserts*`).
// Beside the throughput, the CPU each proxy's processes spent per transaction (`*CpuMicrosPerTx`:
// the sidecar, the listener alone, the pass-through, PgBouncer), read from /proc around the runs:
// on a machine the proxies share with pgbench and PostgreSQL, it is the figure that says which
// process bounds the throughput and moves least with other load.
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
import { PGBOUNCER, startPgBouncer, type PgBouncer } from './pgbouncer.ts';
import { getObject } from '../e2e/support/kube-apply.ts';
import { eventually } from '../e2e/support/wait.ts';
import { buildProduction, builtEntry } from '../e2e/harness/build.ts';
import { alternated, median, ownCpuSeconds, processTreeCpuSeconds, sidecarNodeOptions, startPassThrough } from './support.ts';

const CUSTOMER_SCRIPT = '\\set id random(1, 50)\nSELECT id, nome, cpf, email, telefone FROM customers WHERE id = :id;\n';

const INSERT_SCRIPT = "INSERT INTO bench_inserts (note) VALUES ('one row, one statement');\n";
const INSERTS = 5000;

interface Run { tps: number; latenciesUs: number[]; transactions: number }

/** Reads a process's CPU seconds so far (a process tree, or this process). */
type CpuMeter = () => number;

/**
 * A run and the CPU one process spent per transaction during it (microseconds): the figure a
 * loaded or shared machine moves least, and the one that says which process bounds throughput.
 */
async function metered(meter: CpuMeter, run: () => Promise<Run>): Promise<{ run: Run; cpuMicrosPerTx: number }> {
  const before = meter();
  const r = await run();
  return { run: r, cpuMicrosPerTx: ((meter() - before) * 1e6) / r.transactions };
}

async function pgbench(env: NodeJS.ProcessEnv, args: string[], logDir?: string): Promise<Run> {
  const pg = requirePostgres();
  const r = await runCommand(join(pg.binDir, 'pgbench'), ['-n', ...args, ...(logDir === undefined ? [] : ['-l', `--log-prefix=${join(logDir, 'tx')}`])], { env, timeoutMs: 600_000 });
  if (r.code !== 0 || /error|FATAL/i.test(r.stderr)) throw new Error(`pgbench ${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout)?.[1];
  if (tps === undefined) throw new Error(`pgbench printed no tps: ${r.stdout}`);
  const latenciesUs = logDir === undefined ? [] : readdirSync(logDir).flatMap((f) => readFileSync(join(logDir, f), 'utf8').split('\n'))
    .map((l) => Number(l.split(' ')[2])).filter((n) => Number.isFinite(n) && n > 0);
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(r.stdout)?.[1] ?? Number.NaN);
  return { tps: Number(tps), latenciesUs, transactions };
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


/** Anchors on the same machine: a byte-copying Node proxy and PgBouncer (when installed: `bouncer`). */
async function anchorRuns(s: PgScenario, load: string[], bouncer: PgBouncer | undefined): Promise<Record<string, number>> {
  const pg = requirePostgres();
  const out: Record<string, number> = {};
  const pass = await startPassThrough(pg.port, pg.host);
  try {
    // The pass-through runs in this process: its CPU is this process's during the run.
    const m = await metered(ownCpuSeconds, () => pgbench({ ...s.directEnv(), PGHOST: '127.0.0.1', PGPORT: String(pass.port) }, ['-S', ...load]));
    out['pg.passThroughSelectOnlyTps'] = m.run.tps;
    out['pg.passThroughCpuMicrosPerTx'] = m.cpuMicrosPerTx;
  } finally {
    await pass.close();
  }
  if (bouncer !== undefined) out['pg.pgbouncerSelectOnlyTps'] = (await pgbench(bouncerEnv(s, bouncer), ['-S', ...load])).tps;
  return out;
}

function bouncerEnv(s: PgScenario, bouncer: PgBouncer): NodeJS.ProcessEnv {
  return { ...s.directEnv(), PGHOST: '127.0.0.1', PGPORT: String(bouncer.port) };
}

async function startBouncer(s: PgScenario): Promise<PgBouncer | undefined> {
  if (!existsSync(PGBOUNCER)) {
    process.stderr.write(`[bench] pg: ${PGBOUNCER} not installed, PgBouncer anchor skipped (scripts/bench.sh installs it)\n`);
    return undefined;
  }
  const pg = requirePostgres();
  return startPgBouncer({ host: pg.host, port: pg.port, database: s.database, user: 'orders_app', password: pg.passwords.orders_app });
}

/** Changes the policy's recording durability and waits until the sidecar's /readyz reports that generation compiled. */
async function useDurability(s: PgScenario, durability: 'Synced' | 'Written'): Promise<void> {
  await s.applyPolicy((spec) => { spec.recording = { ...(spec.recording as object), durability }; });
  const { metadata } = await getObject<{ metadata: { generation: number } }>('accesspolicy', s.namespace, 'orders-db');
  await eventually(`the sidecar to compile orders-db generation ${metadata.generation}`, async () => {
    const res = await fetch(`http://127.0.0.1:${s.adminPort}/readyz`);
    const body = await res.json() as { policies?: Record<string, { generation?: number }> };
    return (body.policies?.['orders-db']?.generation ?? 0) >= metadata.generation ? true : undefined;
  }, 30_000, 100);
}

interface Setup {
  s: PgScenario; direct: NodeJS.ProcessEnv; proxy: NodeJS.ProcessEnv; bouncer: NodeJS.ProcessEnv | undefined; script: string; insertScript: string; quick: boolean;
  /** CPU of the sidecar's process tree, and of PgBouncer's. */
  sidecarCpu: CpuMeter; bouncerCpu: CpuMeter | undefined;
}

function loads(quick: boolean): { seconds: number; rounds: number; clients: string[]; load: string[]; roundLoad: string[] } {
  const seconds = quick ? 3 : 15;
  const rounds = 3;
  const clients = ['-c', '4', '-j', '2'];
  // The headline ratios: two sides alternated in rounds, `seconds` split between them; --quick
  // too (rounds of a second), since one round of each side reads the machine's drift as the ratio.
  return { seconds, rounds, clients, load: [...clients, '-T', String(seconds)], roundLoad: [...clients, '-T', String(Math.max(1, Math.round(seconds / rounds)))] };
}

type Paired = ReturnType<typeof alternated>;

/** Guarita (measured) beside a baseline environment, alternated in rounds. */
function pairedWith(x: Setup, baseline: NodeJS.ProcessEnv, args: string[]): Paired {
  const { rounds, roundLoad } = loads(x.quick);
  return alternated(rounds, async () => (await pgbench(baseline, [...args, ...roundLoad])).tps, async () => (await pgbench(x.proxy, [...args, ...roundLoad])).tps);
}

/**
 * Sidecar ÷ PgBouncer on the same workload, alternated; nothing when PgBouncer is not installed.
 * Also the CPU each process spent per transaction over all rounds (`<key>SidecarCpuMicrosPerTx`,
 * `<key>PgbouncerCpuMicrosPerTx`).
 */
async function vsBouncer(x: Setup, key: string, args: string[]): Promise<Record<string, number>> {
  const bouncer = x.bouncer;
  const bouncerCpu = x.bouncerCpu;
  if (bouncer === undefined || bouncerCpu === undefined) return {};
  const { rounds, roundLoad } = loads(x.quick);
  const cpu = { sidecar: { seconds: 0, transactions: 0 }, bouncer: { seconds: 0, transactions: 0 } };
  const side = async (env: NodeJS.ProcessEnv, meter: CpuMeter, into: { seconds: number; transactions: number }): Promise<number> => {
    const m = await metered(meter, () => pgbench(env, [...args, ...roundLoad]));
    into.seconds += (m.cpuMicrosPerTx * m.run.transactions) / 1e6;
    into.transactions += m.run.transactions;
    return m.run.tps;
  };
  const r = await alternated(rounds, () => side(bouncer, bouncerCpu, cpu.bouncer), () => side(x.proxy, x.sidecarCpu, cpu.sidecar));
  return {
    [`${key}PgbouncerTps`]: r.baseline, [`${key}ProxyTps`]: r.measured, [`${key}VsPgbouncer`]: r.ratio,
    [`${key}SidecarCpuMicrosPerTx`]: (cpu.sidecar.seconds * 1e6) / cpu.sidecar.transactions,
    [`${key}PgbouncerCpuMicrosPerTx`]: (cpu.bouncer.seconds * 1e6) / cpu.bouncer.transactions,
  };
}

/** 5,000 single INSERTs on one connection: seconds from pgbench's TPS (without connection time). */
async function inserts(env: NodeJS.ProcessEnv, script: string): Promise<number> {
  const r = await pgbench(env, ['-c', '1', '-j', '1', '-t', String(INSERTS), '-f', script]);
  return INSERTS / r.tps;
}

/**
 * pgbench's TPC-B-like default (BEGIN; three UPDATEs, a SELECT, an INSERT into history; END) with
 * 4 clients: direct, through PgBouncer and through the sidecar, each for the suite's duration.
 */
async function tpcb(x: Setup): Promise<{ figures: Record<string, number>; transactions: number }> {
  const { load } = loads(x.quick);
  const direct = await pgbench(x.direct, load);
  const proxy = await pgbench(x.proxy, load);
  const bouncer = x.bouncer === undefined ? undefined : await pgbench(x.bouncer, load);
  const figures: Record<string, number> = { 'pg.tpcb.directTps': direct.tps, 'pg.tpcb.proxyTps': proxy.tps, 'pg.tpcb.proxyVsDirect': proxy.tps / direct.tps };
  if (bouncer !== undefined) Object.assign(figures, { 'pg.tpcb.pgbouncerTps': bouncer.tps, 'pg.tpcbVsPgbouncer': proxy.tps / bouncer.tps });
  return { figures, transactions: direct.transactions + proxy.transactions + (bouncer?.transactions ?? 0) };
}

/**
 * TPC-B's invariant after the runs: the accounts', tellers' and branches' balances and the history's
 * deltas sum alike, and every transaction pgbench counted left its history row (up to one in flight
 * per client at the end of a timed run). A proxy that lost, repeated or reordered a statement
 * breaks it: the bench run fails.
 */
async function checkTpcb(env: NodeJS.ProcessEnv, transactions: number): Promise<Record<string, number>> {
  const sql = 'SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT coalesce(sum(delta), 0) FROM pgbench_history), (SELECT count(*) FROM pgbench_history)';
  const r = await runCommand(join(requirePostgres().binDir, 'psql'), ['-X', '-A', '-t', '-F', ' ', '-c', sql], { env, timeoutMs: 60_000 });
  const [accounts, tellers, branches, deltas, history] = r.stdout.trim().split(' ').map(Number);
  if (r.code !== 0 || accounts === undefined || history === undefined || ![tellers, branches, deltas].every((v) => v === accounts)) {
    throw new Error(`TPC-B balances disagree after the runs: accounts ${accounts}, tellers ${tellers}, branches ${branches}, history deltas ${deltas} (${r.stderr.trim()})`);
  }
  if (history < transactions || history > transactions + 12) throw new Error(`TPC-B history holds ${history} rows for ${transactions} transactions pgbench counted`);
  return { 'pg.tpcb.balanceSum': accounts, 'pg.tpcb.historyRows': history };
}

async function prepare(s: PgScenario, dir: string, bouncer: PgBouncer | undefined, quick: boolean): Promise<Setup> {
  const direct = s.directEnv();
  const init = await runCommand(join(requirePostgres().binDir, 'pgbench'), ['-i', '-s', '1', '-q'], { env: direct, timeoutMs: 300_000 });
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
  const table = await runCommand(join(requirePostgres().binDir, 'psql'), ['-X', '-q', '-c', 'DROP TABLE IF EXISTS bench_inserts; CREATE TABLE bench_inserts (id bigserial PRIMARY KEY, note text)'], { env: direct, timeoutMs: 60_000 });
  if (table.code !== 0) throw new Error(`creating bench_inserts failed: ${table.stderr}`);
  const script = join(dir, 'customers.sql');
  writeFileSync(script, CUSTOMER_SCRIPT);
  const insertScript = join(dir, 'inserts.sql');
  writeFileSync(insertScript, INSERT_SCRIPT);
  const proxy = s.libpqEnv(await s.token('support-agent'));
  return {
    s, direct, proxy, bouncer: bouncer === undefined ? undefined : bouncerEnv(s, bouncer), script, insertScript, quick,
    sidecarCpu: () => processTreeCpuSeconds(s.sidecar.pid), bouncerCpu: bouncer === undefined ? undefined : () => processTreeCpuSeconds(bouncer.pid),
  };
}

async function syncedRuns(x: Setup): Promise<Record<string, number>> {
  const { clients } = loads(x.quick);
  // Warm-up (connections, plan and classification caches, JIT of the proxy's hot paths).
  await pgbench(x.proxy, ['-S', ...clients, '-T', '2']);
  const select = await pairedWith(x, x.direct, ['-S']);
  const prepared = await pairedWith(x, x.direct, ['-S', '-M', 'prepared']);
  const customers = await pairedWith(x, x.direct, ['-f', x.script]);
  const directP50 = await latencyP50Ms(x.direct, x.quick ? 2 : 8);
  const proxyP50 = await latencyP50Ms(x.proxy, x.quick ? 2 : 8);
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
    ...await vsBouncer(x, 'pg.selectOnly', ['-S']),
    ...await vsBouncer(x, 'pg.customerRows', ['-f', x.script]),
  };
}

async function writtenRuns(x: Setup, select: { direct: number; customers: number; directP50: number }): Promise<Record<string, number>> {
  const { load } = loads(x.quick);
  const writtenSelect = await pgbench(x.proxy, ['-S', ...load]);
  const writtenCustomers = await pgbench(x.proxy, ['-f', x.script, ...load]);
  const writtenP50 = await latencyP50Ms(x.proxy, x.quick ? 2 : 8);
  const bouncer = await vsBouncer(x, 'pg.writtenSelectOnly', ['-S']);
  return {
    'pg.written.selectOnlyTps': writtenSelect.tps,
    'pg.written.selectOnlyTpsRatio': writtenSelect.tps / select.direct,
    'pg.written.customerRowsTps': writtenCustomers.tps,
    'pg.written.customerRowsTpsRatio': writtenCustomers.tps / select.customers,
    'pg.written.p50Ms': writtenP50,
    'pg.written.addedP50Ms': writtenP50 - select.directP50,
    'pg.written.insertsSeconds': await inserts(x.proxy, x.insertScript),
    ...bouncer,
  };
}

async function measure(s: PgScenario, quick: boolean): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'guarita-bench-pg-'));
  const bouncer = await startBouncer(s);
  try {
    const x = await prepare(s, dir, bouncer, quick);
    const synced = await syncedRuns(x);
    const directInserts = await inserts(x.direct, x.insertScript);
    const proxyInserts = await inserts(x.proxy, x.insertScript);
    const tpc = await tpcb(x);
    const consistency = await checkTpcb(x.direct, tpc.transactions);
    await useDurability(s, 'Written');
    const written = await writtenRuns(x, { direct: synced['pg.directSelectOnlyTps'] ?? Number.NaN, customers: synced['pg.directCustomerRowsTps'] ?? Number.NaN, directP50: synced['pg.directP50Ms'] ?? Number.NaN });
    await useDurability(s, 'Synced');
    const { load } = loads(quick);
    const listenerOnly = await listenerOnlyRuns(s, load, x.script);
    const anchors = await anchorRuns(s, load, bouncer);
    const base = synced['pg.directSelectOnlyTps'] ?? Number.NaN;
    const ratio = (key: string): Record<string, number> => (anchors[key] === undefined ? {} : { [`${key.replace(/Tps$/, '')}TpsRatio`]: anchors[key] / base });
    return {
      ...synced,
      'pg.inserts.directSeconds': directInserts,
      'pg.inserts.proxySeconds': proxyInserts,
      'pg.inserts.proxyVsDirect': proxyInserts / directInserts,
      ...tpc.figures,
      ...consistency,
      ...written,
      'pg.written.insertsVsDirect': (written['pg.written.insertsSeconds'] ?? Number.NaN) / directInserts,
      'pg.listenerOnlySelectOnlyTps': listenerOnly.select,
      'pg.listenerOnlyCpuMicrosPerTx': listenerOnly.cpuMicrosPerTx,
      'pg.listenerOnlySelectOnlyTpsRatio': listenerOnly.select / base,
      'pg.listenerOnlyCustomerRowsTpsRatio': listenerOnly.customers / (synced['pg.directCustomerRowsTps'] ?? Number.NaN),
      'pg.listenerOnlyAddedP50Ms': listenerOnly.p50 - (synced['pg.directP50Ms'] ?? Number.NaN),
      ...anchors,
      ...ratio('pg.passThroughSelectOnlyTps'),
      ...ratio('pg.pgbouncerSelectOnlyTps'),
    };
  } finally {
    await bouncer?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The listener in this process with an in-memory enforcer: protocol, policy and masking work, no recording I/O. */
async function listenerOnlyRuns(s: PgScenario, load: string[], script: string): Promise<{ select: number; customers: number; p50: number; cpuMicrosPerTx: number }> {
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
    // The listener runs in this process: its CPU is this process's during the run.
    const select = await metered(ownCpuSeconds, () => pgbench(env, ['-S', ...load]));
    const customers = await pgbench(env, ['-f', script, ...load]);
    const p50 = await latencyP50Ms(env, 2);
    return { select: select.run.tps, customers: customers.tps, p50, cpuMicrosPerTx: select.cpuMicrosPerTx };
  } finally {
    clearInterval(trim);
    await listener.close();
  }
}


export async function benchPg(opts: { quick: boolean }): Promise<Record<string, number>> {
  const harness = await ensureHarness(['kube', 'postgres', 'idp']);
  let scenario: PgScenario | undefined;
  try {
    // What the image runs: the JavaScript tsc emits (dist/). GUARITA_BENCH_PG_SOURCES=1 runs the
    // .ts sources instead (type stripping: slower to start, same steady state), e.g. to profile a
    // tree whose other components do not build yet.
    const sources = process.env.GUARITA_BENCH_PG_SOURCES === '1';
    if (!sources) await buildProduction();
    // No operator receives the records: a short drain lets the sidecar exit within the supervisor's
    // grace (a --cpu-prof profile is written only on a clean exit).
    scenario = await startPgScenario({ logLevel: 'warn', env: { ...sidecarNodeOptions(), GUARITA_DRAIN_TIMEOUT: '1s' }, ...(sources ? {} : { entry: builtEntry('sidecar') }) });
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
