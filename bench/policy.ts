// Policy decisions per second on typical statements, beside the baseline of parsing alone (the
// libpg-query call every SQL decision starts with), plus HTTP decisions and the full corpus mix.
// sqlDecisionsPerSec repeats the typical statements, as agents do (classification is cached by
// text); sqlDecisionsUncachedPerSec makes every text unique, so each decision parses;
// sqlDecisionsRenumberedPerSec changes only a number, which the numeric-shape cache shares.
// Alone: `bash scripts/run.sh node bench/policy.ts [--quick]`.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseSync } from 'libpg-query';
import { parse } from 'yaml';
import { parseAccessPolicy } from '../crds/validators.ts';
import { compilePolicy, initPolicyEngine, type Command, type CompiledPolicy, type Identity } from '../core/policy/index.ts';
import { CACHEABLE_SQL_LENGTH } from '../core/policy/text-cache.ts';
import { LGPD_ORDERS_CORPUS } from '../core/policy/corpus/lgpd-orders.sql-corpus.ts';
import { LONG_FORMS } from '../core/policy/corpus/long-forms.sql-corpus.ts';

/** What a support agent typically sends: point reads, joins, bounded writes, transactions. */
export const TYPICAL_SQL: readonly string[] = [
  "SELECT id, nome, email, telefone FROM customers WHERE cpf = '590.830.166-33'",
  'SELECT c.nome, o.status, o.total_cents FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = $1 ORDER BY o.created_at DESC LIMIT 20',
  "SELECT count(*) FROM orders WHERE status = 'open' AND created_at > now() - interval '7 days'",
  "UPDATE orders SET status = 'shipped' WHERE id = $1",
  "INSERT INTO orders (customer_id, status, total_cents) VALUES ($1, 'open', $2) RETURNING id",
  "WITH recent AS (SELECT * FROM orders WHERE customer_id = $1) SELECT status, sum(total_cents) FROM recent GROUP BY status",
  "BEGIN; UPDATE orders SET status = 'refunded' WHERE id = 7; COMMIT",
  'SELECT 1',
];

/** Point reads whose number changes every time (the number is appended). */
const POINT_READS: readonly string[] = [
  'SELECT abalance FROM pgbench_accounts WHERE aid = ',
  'SELECT id, nome, cpf, email, telefone FROM customers WHERE id = ',
];

const HTTP: readonly Command[] = [
  { protocol: 'http', method: 'GET', path: '/customers/42' },
  { protocol: 'http', method: 'GET', path: '/orders/7/items?page=2' },
  { protocol: 'http', method: 'GET', path: '/customers/export' },
  { protocol: 'http', method: 'DELETE', path: '/customers/42' },
];

const AGENT: Identity = { subject: 'agent-7', groups: ['support'], kind: 'User' };

function load(file: string): CompiledPolicy {
  const text = readFileSync(new URL(`../examples/lgpd-orders/${file}`, import.meta.url), 'utf8');
  return compilePolicy(parseAccessPolicy(parse(text)));
}

/** Runs fn over the inputs round-robin for about `ms` milliseconds; returns operations per second. */
function rate<T>(inputs: readonly T[], ms: number, fn: (input: T) => unknown): number {
  // Warm-up (JIT, WebAssembly tiering, caches): a quarter of the measured time, at least 200 ms.
  const warmUntil = performance.now() + Math.max(200, ms / 4);
  for (let i = 0; performance.now() < warmUntil; i++) fn(inputs[i % inputs.length] as T);
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 256; i++) fn(inputs[(ops + i) % inputs.length] as T);
    ops += 256;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}

/** Latency percentile (microseconds) of single decisions. */
function percentileMicros<T>(inputs: readonly T[], samples: number, p: number, fn: (input: T) => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    fn(inputs[i % inputs.length] as T);
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] ?? 0;
}

/**
 * Decision time per KiB of each long SQL form (core/policy/corpus/long-forms.sql-corpus.ts) at 4x
 * its test size (tens to a couple of hundred KiB): the median of `reps` decisions, each a new text
 * (a comment), so every one parses and checks. Returns the worst form's and the median form's figure.
 */
function longFormsMsPerKiB(reps: number, decideSql: (sql: string) => unknown): { worst: number; median: number } {
  const perKiB = LONG_FORMS.map((form) => {
    const sql = form.make(4 * form.n);
    const times: number[] = [];
    for (let i = 0; i <= reps; i++) {
      const t0 = performance.now();
      decideSql(`${sql} /* ${i} */`);
      if (i > 0) times.push(performance.now() - t0); // the first one warms up
    }
    times.sort((a, b) => a - b);
    return (times[Math.floor(times.length / 2)] ?? 0) / (sql.length / 1024);
  }).sort((a, b) => a - b);
  return { worst: perKiB[perKiB.length - 1] ?? 0, median: perKiB[Math.floor(perKiB.length / 2)] ?? 0 };
}

export async function benchPolicy(opts: { quick: boolean }): Promise<Record<string, number>> {
  await initPolicyEngine();
  const ms = opts.quick ? 400 : 3000;
  const sqlPolicy = load('accesspolicy.yaml');
  const httpPolicy = load('accesspolicy-http.yaml');
  const decideSql = (sql: string): unknown => sqlPolicy.evaluate({ identity: AGENT, purpose: 'customer-support', command: { protocol: 'postgres', sql } });
  const decideHttp = (command: Command): unknown => httpPolicy.evaluate({ identity: AGENT, purpose: 'customer-support', command });
  // The corpus's texts beyond the cache's length limit (tens of KiB, built to cost the checker
  // seconds) are measured apart, or one of them would set the whole corpus figure (it did: 2.5 M/s
  // before they joined, 14 k/s after): each decision a new text (a comment), as an agent flooding
  // its sidecar would send them, so every one is parsed and checked; and the same text again (a
  // long prepared statement run again), which the long-text cache answers by digest.
  const corpus = LGPD_ORDERS_CORPUS.map((e) => e.sql).filter((sql) => sql.length <= CACHEABLE_SQL_LENGTH);
  const longTexts = LGPD_ORDERS_CORPUS.map((e) => e.sql).filter((sql) => sql.length > CACHEABLE_SQL_LENGTH);
  // A different comment each time: the same parse work, but never a classification-cache hit.
  let n = 0;
  const unique = (sql: string): unknown => decideSql(`${sql} /* ${n++} */`);
  const uniqueParse = (sql: string): unknown => parseSync(`${sql} /* ${n++} */`);
  // What pgbench -S and id lookups send: one text with a new number each time (shared by numeric shape).
  const renumbered = (sql: string): unknown => decideSql(`${sql}${1 + (n++ % 100_000)}`);
  const longForms = longFormsMsPerKiB(opts.quick ? 3 : 9, decideSql);
  return {
    'policy.parseOnlyPerSec': rate(TYPICAL_SQL, ms, uniqueParse),
    'policy.sqlDecisionsUncachedPerSec': rate(TYPICAL_SQL, ms, unique),
    'policy.sqlDecisionsPerSec': rate(TYPICAL_SQL, ms, decideSql),
    'policy.sqlDecisionsRenumberedPerSec': rate(POINT_READS, ms, renumbered),
    'policy.sqlDecisionP99Micros': percentileMicros(TYPICAL_SQL, opts.quick ? 5000 : 50000, 99, decideSql),
    'policy.sqlDecisionUncachedP99Micros': percentileMicros(TYPICAL_SQL, opts.quick ? 2000 : 20000, 99, unique),
    'policy.corpusDecisionsPerSec': rate(corpus, ms, decideSql),
    'policy.corpusLongTextDecisionMs': 1000 / rate(longTexts, ms, unique),
    'policy.corpusLongTextRepeatedDecisionMs': 1000 / rate(longTexts, ms, decideSql),
    // The class behind the corpus's long text: the costliest long form, and the middle one, per KiB of SQL.
    'policy.longFormWorstDecisionMsPerKiB': longForms.worst,
    'policy.longFormMedianDecisionMsPerKiB': longForms.median,
    'policy.httpDecisionsPerSec': rate(HTTP, ms, decideHttp),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const results = await benchPolicy({ quick: values.quick });
  const rows = Object.entries(results).map(([k, v]) => `| ${k} | ${v >= 100 ? v.toFixed(0) : v.toFixed(1)} |`);
  process.stdout.write(['| metric | value |', '| --- | --- |', ...rows].join('\n') + '\n');
}
