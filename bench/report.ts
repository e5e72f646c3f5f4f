// The benchmark table: every Guarita figure on the same row as the baseline measured in the same
// run, the comparison (ratio or added cost) and the target. Pure: suites produce flat
// `key → number` results (the JSON keys), this module only arranges them, so the table, the JSON
// and docs/benchmarks.md cannot disagree.

export type Results = Record<string, number>;

/** How Guarita's figure is compared with its baseline. */
type Compare = 'ratio' | 'added' | 'none';

interface Target { key: string; op: '<=' | '>='; value: number; text: string }

export interface RowSpec {
  area: string;
  what: string;
  /** Guarita's figure. */
  key: string;
  unit: string;
  /** The same-run baseline, when there is one. */
  baseline?: { key: string; label: string };
  compare: Compare;
  /** The key holding the comparison (computed when the suite did not report it). */
  compareKey?: string;
  target?: Target;
}

const ms = 'ms';

/** Rows in reading order. A row whose figure is missing (suite skipped or failed) is left out. */
export const ROWS: RowSpec[] = [
  { area: 'HTTP', what: 'p50, one connection, masking on', key: 'http.proxyP50Ms', unit: ms, baseline: { key: 'http.directP50Ms', label: 'direct' }, compare: 'added', compareKey: 'http.addedP50Ms', target: { key: 'http.addedP50Ms', op: '<=', value: 0.3, text: '+0.3 ms' } },
  { area: 'HTTP', what: 'p99, one connection', key: 'http.proxyP99Ms', unit: ms, baseline: { key: 'http.directP99Ms', label: 'direct' }, compare: 'added', compareKey: 'http.addedP99Ms', target: { key: 'http.addedP99Ms', op: '<=', value: 1, text: '+1 ms' } },
  { area: 'HTTP', what: 'p50, one connection, durability Written', key: 'http.written.proxyP50Ms', unit: ms, baseline: { key: 'http.written.directP50Ms', label: 'direct, its rounds beside Written' }, compare: 'added', compareKey: 'http.written.addedP50Ms', target: { key: 'http.written.addedP50Ms', op: '<=', value: 0.3, text: '+0.3 ms' } },
  { area: 'HTTP', what: 'p99, one connection, durability Written', key: 'http.written.proxyP99Ms', unit: ms, baseline: { key: 'http.written.directP99Ms', label: 'direct, its rounds beside Written' }, compare: 'added', compareKey: 'http.written.addedP99Ms', target: { key: 'http.written.addedP99Ms', op: '<=', value: 1, text: '+1 ms' } },
  { area: 'HTTP', what: 'p50, one connection, a Node pass-through proxy (no inspection)', key: 'http.passThroughP50Ms', unit: ms, baseline: { key: 'http.directP50Ms', label: 'direct' }, compare: 'added' },
  { area: 'HTTP', what: 'p99, one connection, a Node pass-through proxy', key: 'http.passThroughP99Ms', unit: ms, baseline: { key: 'http.directP99Ms', label: 'direct' }, compare: 'added' },
  { area: 'HTTP', what: 'p50 at a fixed 1,000 req/s (open loop)', key: 'http.fixedRate.proxyP50Ms', unit: ms, baseline: { key: 'http.fixedRate.directP50Ms', label: 'direct' }, compare: 'added', compareKey: 'http.fixedRate.addedP50Ms' },
  { area: 'HTTP', what: 'p99 at a fixed 1,000 req/s (open loop)', key: 'http.fixedRate.proxyP99Ms', unit: ms, baseline: { key: 'http.fixedRate.directP99Ms', label: 'direct' }, compare: 'added', compareKey: 'http.fixedRate.addedP99Ms' },
  { area: 'HTTP', what: 'saturation throughput, 32 connections', key: 'http.proxyRps', unit: 'req/s', baseline: { key: 'http.directRps', label: 'direct' }, compare: 'ratio', compareKey: 'http.throughputRatio' },
  { area: 'HTTP', what: 'saturation throughput, durability Written', key: 'http.written.proxyRps', unit: 'req/s', baseline: { key: 'http.directRps', label: 'direct' }, compare: 'ratio', compareKey: 'http.written.throughputRatio' },
  { area: 'Kubernetes API', what: 'p50 of a kubectl-style GET of one ConfigMap, one connection, masking on', key: 'k8s.proxyGetP50Ms', unit: ms, baseline: { key: 'k8s.directGetP50Ms', label: 'direct to the apiserver' }, compare: 'added', compareKey: 'k8s.getAddedP50Ms' },
  { area: 'Kubernetes API', what: 'list throughput (50 ConfigMaps per list), 8 connections', key: 'k8s.proxyListRps', unit: 'req/s', baseline: { key: 'k8s.directListRps', label: 'direct to the apiserver' }, compare: 'ratio', compareKey: 'k8s.listThroughputRatio' },
  { area: 'SSH', what: '`ssh host true`, a new connection each (key exchange, token, exec)', key: 'ssh.proxyExecP50Ms', unit: ms, baseline: { key: 'ssh.directExecP50Ms', label: 'direct to sshd' }, compare: 'added', compareKey: 'ssh.execAddedP50Ms' },
  { area: 'SSH', what: '`ssh host cat FILE`, a new connection each: a path argument resolved on the host before the command is judged', key: 'ssh.proxyExecPathP50Ms', unit: ms, baseline: { key: 'ssh.directExecPathP50Ms', label: 'direct to sshd' }, compare: 'added', compareKey: 'ssh.execPathAddedP50Ms' },
  { area: 'SSH', what: '`cat` of 100 MB of text (--quick: 20 MB), masked and recorded', key: 'ssh.proxyCatMBps', unit: 'MB/s', baseline: { key: 'ssh.directCatMBps', label: 'direct to sshd' }, compare: 'ratio', compareKey: 'ssh.throughputRatio' },
  { area: 'HTTP', what: 'saturation, a Node pass-through proxy (no inspection)', key: 'http.passThroughRps', unit: 'req/s', baseline: { key: 'http.directRps', label: 'direct' }, compare: 'ratio', compareKey: 'http.passThroughRatio' },
  { area: 'HTTP', what: 'saturation throughput, against a Node pass-through proxy', key: 'http.proxyRps', unit: 'req/s', baseline: { key: 'http.passThroughRps', label: 'Node pass-through proxy' }, compare: 'ratio', compareKey: 'http.vsPassThrough', target: { key: 'http.vsPassThrough', op: '>=', value: 0.3, text: '≥ 0.30' } },
  { area: 'HTTP', what: 'saturation, durability Written, against a Node pass-through proxy', key: 'http.written.proxyRps', unit: 'req/s', baseline: { key: 'http.written.passThroughRps', label: 'Node pass-through proxy, its rounds beside Written' }, compare: 'ratio', compareKey: 'http.written.vsPassThrough' },

  { area: 'PostgreSQL', what: '`pgbench -S`, 4 clients', key: 'pg.proxySelectOnlyTps', unit: 'TPS', baseline: { key: 'pg.directSelectOnlyTps', label: 'direct' }, compare: 'ratio', compareKey: 'pg.selectOnlyTpsRatio', target: { key: 'pg.selectOnlyTpsRatio', op: '>=', value: 0.7, text: '≥ 0.70' } },
  { area: 'PostgreSQL', what: '`pgbench -S`, durability Written', key: 'pg.written.selectOnlyTps', unit: 'TPS', baseline: { key: 'pg.directSelectOnlyTps', label: 'direct' }, compare: 'ratio', compareKey: 'pg.written.selectOnlyTpsRatio', target: { key: 'pg.written.selectOnlyTpsRatio', op: '>=', value: 0.7, text: '≥ 0.70' } },
  { area: 'PostgreSQL', what: '`pgbench -S -M prepared`', key: 'pg.proxyPreparedSelectOnlyTps', unit: 'TPS', baseline: { key: 'pg.directPreparedSelectOnlyTps', label: 'direct' }, compare: 'ratio', compareKey: 'pg.preparedSelectOnlyTpsRatio' },
  { area: 'PostgreSQL', what: 'customer rows (CPF, e-mail, phone masked)', key: 'pg.proxyCustomerRowsTps', unit: 'TPS', baseline: { key: 'pg.directCustomerRowsTps', label: 'direct' }, compare: 'ratio', compareKey: 'pg.customerRowsTpsRatio', target: { key: 'pg.customerRowsTpsRatio', op: '>=', value: 0.7, text: '≥ 0.70' } },
  { area: 'PostgreSQL', what: 'customer rows, durability Written', key: 'pg.written.customerRowsTps', unit: 'TPS', baseline: { key: 'pg.directCustomerRowsTps', label: 'direct' }, compare: 'ratio', compareKey: 'pg.written.customerRowsTpsRatio', target: { key: 'pg.written.customerRowsTpsRatio', op: '>=', value: 0.7, text: '≥ 0.70' } },
  { area: 'PostgreSQL', what: 'p50, one client, `pgbench -S`', key: 'pg.proxyP50Ms', unit: ms, baseline: { key: 'pg.directP50Ms', label: 'direct' }, compare: 'added', compareKey: 'pg.addedP50Ms' },
  { area: 'PostgreSQL', what: 'p50, one client, durability Written', key: 'pg.written.p50Ms', unit: ms, baseline: { key: 'pg.directP50Ms', label: 'direct' }, compare: 'added', compareKey: 'pg.written.addedP50Ms' },
  { area: 'PostgreSQL', what: '`pgbench -S`, the listener alone (no spool)', key: 'pg.listenerOnlySelectOnlyTps', unit: 'TPS', baseline: { key: 'pg.directSelectOnlyTps', label: 'direct' }, compare: 'ratio', compareKey: 'pg.listenerOnlySelectOnlyTpsRatio' },
  { area: 'PostgreSQL', what: '`pgbench -S`, PgBouncer 1.x (session pool, anchor)', key: 'pg.pgbouncerSelectOnlyTps', unit: 'TPS', baseline: { key: 'pg.directSelectOnlyTps', label: 'direct' }, compare: 'ratio', compareKey: 'pg.pgbouncerSelectOnlyTpsRatio' },
  { area: 'PostgreSQL', what: '`pgbench -S`, a Node pass-through proxy (no inspection)', key: 'pg.passThroughSelectOnlyTps', unit: 'TPS', baseline: { key: 'pg.directSelectOnlyTps', label: 'direct' }, compare: 'ratio', compareKey: 'pg.passThroughSelectOnlyTpsRatio' },
  { area: 'PostgreSQL', what: '`pgbench -S` against PgBouncer (alternated rounds)', key: 'pg.selectOnlyProxyTps', unit: 'TPS', baseline: { key: 'pg.selectOnlyPgbouncerTps', label: 'PgBouncer' }, compare: 'ratio', compareKey: 'pg.selectOnlyVsPgbouncer', target: { key: 'pg.selectOnlyVsPgbouncer', op: '>=', value: 0.5, text: '≥ 0.50' } },
  { area: 'PostgreSQL', what: '`pgbench -S`, durability Written, against PgBouncer', key: 'pg.writtenSelectOnlyProxyTps', unit: 'TPS', baseline: { key: 'pg.writtenSelectOnlyPgbouncerTps', label: 'PgBouncer' }, compare: 'ratio', compareKey: 'pg.writtenSelectOnlyVsPgbouncer', target: { key: 'pg.writtenSelectOnlyVsPgbouncer', op: '>=', value: 0.7, text: '≥ 0.70' } },
  { area: 'PostgreSQL', what: 'CPU per `pgbench -S` transaction, the sidecar\'s processes (the rounds against PgBouncer)', key: 'pg.selectOnlySidecarCpuMicrosPerTx', unit: 'µs', baseline: { key: 'pg.selectOnlyPgbouncerCpuMicrosPerTx', label: 'PgBouncer\'s process' }, compare: 'ratio' },
  { area: 'PostgreSQL', what: 'CPU per `pgbench -S` transaction, durability Written', key: 'pg.writtenSelectOnlySidecarCpuMicrosPerTx', unit: 'µs', baseline: { key: 'pg.writtenSelectOnlyPgbouncerCpuMicrosPerTx', label: 'PgBouncer\'s process' }, compare: 'ratio' },
  { area: 'PostgreSQL', what: 'CPU per `pgbench -S` transaction, the listener alone (no spool)', key: 'pg.listenerOnlyCpuMicrosPerTx', unit: 'µs', baseline: { key: 'pg.selectOnlyPgbouncerCpuMicrosPerTx', label: 'PgBouncer\'s process' }, compare: 'ratio' },
  { area: 'PostgreSQL', what: 'CPU per `pgbench -S` transaction, a Node pass-through proxy', key: 'pg.passThroughCpuMicrosPerTx', unit: 'µs', baseline: { key: 'pg.selectOnlyPgbouncerCpuMicrosPerTx', label: 'PgBouncer\'s process' }, compare: 'ratio' },
  { area: 'PostgreSQL', what: 'customer rows (masked) against PgBouncer', key: 'pg.customerRowsProxyTps', unit: 'TPS', baseline: { key: 'pg.customerRowsPgbouncerTps', label: 'PgBouncer' }, compare: 'ratio', compareKey: 'pg.customerRowsVsPgbouncer' },
  { area: 'PostgreSQL', what: 'TPC-B-like (`pgbench` default), 4 clients; balances checked after', key: 'pg.tpcb.proxyTps', unit: 'TPS', baseline: { key: 'pg.tpcb.directTps', label: 'direct' }, compare: 'ratio', compareKey: 'pg.tpcb.proxyVsDirect' },
  { area: 'PostgreSQL', what: 'TPC-B-like against PgBouncer', key: 'pg.tpcb.proxyTps', unit: 'TPS', baseline: { key: 'pg.tpcb.pgbouncerTps', label: 'PgBouncer' }, compare: 'ratio', compareKey: 'pg.tpcbVsPgbouncer' },
  { area: 'PostgreSQL', what: '5,000 single INSERTs, one connection (time)', key: 'pg.inserts.proxySeconds', unit: 's', baseline: { key: 'pg.inserts.directSeconds', label: 'direct' }, compare: 'ratio', compareKey: 'pg.inserts.proxyVsDirect' },
  { area: 'PostgreSQL', what: '5,000 single INSERTs, durability Written (time)', key: 'pg.written.insertsSeconds', unit: 's', baseline: { key: 'pg.inserts.directSeconds', label: 'direct' }, compare: 'ratio', compareKey: 'pg.written.insertsVsDirect' },

  { area: 'Masking', what: 'text stream', key: 'mask.textMBps', unit: 'MB/s', baseline: { key: 'mask.decodeEncodeMBps', label: 'UTF-8 decode + encode' }, compare: 'ratio' },
  { area: 'Masking', what: 'JSON stream', key: 'mask.jsonMBps', unit: 'MB/s', baseline: { key: 'mask.jsonParseStringifyMBps', label: 'JSON.parse + stringify' }, compare: 'ratio' },
  { area: 'Masking', what: 'plain copy (reference)', key: 'mask.copyMBps', unit: 'MB/s', compare: 'none' },
  { area: 'Masking', what: '100 customer rows (12 PostgreSQL cells each)', key: 'mask.hundredRowsMs', unit: ms, baseline: { key: 'mask.hundredRowsCopyMs', label: 'copying the cells' }, compare: 'added', target: { key: 'mask.hundredRowsMs', op: '<=', value: 0.5, text: '< 0.5 ms' } },
  { area: 'Masking', what: '100 customer rows as one JSON body', key: 'mask.hundredRowsJsonMs', unit: ms, compare: 'none', target: { key: 'mask.hundredRowsJsonMs', op: '<=', value: 0.5, text: '< 0.5 ms' } },
  { area: 'Masking', what: '100 rows, style hash (HMAC)', key: 'mask.hundredRowsHashMs', unit: ms, baseline: { key: 'mask.hundredRowsCopyMs', label: 'copying the cells' }, compare: 'added' },

  { area: 'Policy', what: 'SQL decisions, repeated statements', key: 'policy.sqlDecisionsPerSec', unit: '/s', baseline: { key: 'policy.parseOnlyPerSec', label: 'libpg-query parse only' }, compare: 'ratio' },
  { area: 'Policy', what: 'SQL decisions, new SQL text each time', key: 'policy.sqlDecisionsUncachedPerSec', unit: '/s', baseline: { key: 'policy.parseOnlyPerSec', label: 'libpg-query parse only' }, compare: 'ratio' },
  { area: 'Policy', what: 'SQL decisions, a new number each time (shared by numeric shape)', key: 'policy.sqlDecisionsRenumberedPerSec', unit: '/s', baseline: { key: 'policy.parseOnlyPerSec', label: 'libpg-query parse only' }, compare: 'ratio' },
  { area: 'Policy', what: 'HTTP decisions', key: 'policy.httpDecisionsPerSec', unit: '/s', compare: 'none' },

  { area: 'Webhook', what: 'AdmissionReview p99, one at a time', key: 'webhook.sequentialP99Ms', unit: ms, baseline: { key: 'webhook.sequentialBaselineP99Ms', label: 'TLS parse-and-allow server' }, compare: 'added', target: { key: 'webhook.sequentialP99Ms', op: '<=', value: 2, text: '< 2 ms' } },
  { area: 'Webhook', what: 'AdmissionReview p99, 16 connections', key: 'webhook.p99Ms', unit: ms, baseline: { key: 'webhook.baselineP99Ms', label: 'TLS parse-and-allow server' }, compare: 'added' },
  { area: 'Webhook', what: 'AdmissionReviews/s, 16 connections', key: 'webhook.requestsPerSec', unit: '/s', baseline: { key: 'webhook.baselineRequestsPerSec', label: 'TLS parse-and-allow server' }, compare: 'ratio' },
  { area: 'Webhook', what: 'pod create through the apiserver, p50', key: 'webhook.podCreateWithMs', unit: ms, baseline: { key: 'webhook.podCreateWithoutMs', label: 'namespace not opted in' }, compare: 'added' },
  { area: 'Webhook', what: 'injection decision alone, p99', key: 'webhook.decideP99Micros', unit: 'µs', compare: 'none' },

  { area: 'Revocation', what: 'policy update accepted → first denial, p50', key: 'revocation.p50Ms', unit: ms, baseline: { key: 'revocation.requestRoundTripP50Ms', label: 'one request round trip' }, compare: 'none' },
  { area: 'Revocation', what: 'policy update accepted → first denial, p99', key: 'revocation.p99Ms', unit: ms, baseline: { key: 'revocation.requestRoundTripP50Ms', label: 'one request round trip' }, compare: 'none', target: { key: 'revocation.p99Ms', op: '<=', value: 1000, text: '< 1 s' } },

  { area: 'Sidecar', what: 'RSS idle (HTTP target), the image\'s JavaScript', key: 'sidecar.rssIdleMB', unit: 'MB', baseline: { key: 'node.bareRssMB', label: 'bare Node 24 HTTP server' }, compare: 'added', target: { key: 'sidecar.rssIdleMB', op: '<=', value: 80, text: '≤ 80 MB' } },
  { area: 'Sidecar', what: 'RSS under load (32 connections)', key: 'sidecar.rssLoadMB', unit: 'MB', baseline: { key: 'node.bareRssMB', label: 'bare Node 24 HTTP server' }, compare: 'added' },
  { area: 'Sidecar', what: 'cold start to ready, the image\'s JavaScript', key: 'sidecar.startMs', unit: ms, baseline: { key: 'node.bareStartMs', label: 'bare Node 24 HTTP server' }, compare: 'added', target: { key: 'sidecar.startMs', op: '<=', value: 500, text: '≤ 500 ms' } },
  { area: 'Sidecar', what: 'RSS idle, run from the .ts sources (type stripping)', key: 'sidecar.sourceRssIdleMB', unit: 'MB', baseline: { key: 'node.bareRssMB', label: 'bare Node 24 HTTP server' }, compare: 'added' },
  { area: 'Sidecar', what: 'cold start, run from the .ts sources', key: 'sidecar.sourceStartMs', unit: ms, baseline: { key: 'node.bareStartMs', label: 'bare Node 24 HTTP server' }, compare: 'added' },
  { area: 'Sidecar', what: 'spool append p50 (fdatasync of the volume)', key: 'spool.syncedAppendP50Ms', unit: ms, baseline: { key: 'spool.rawFdatasyncP50Ms', label: 'raw write + fdatasync' }, compare: 'added' },
  { area: 'Sidecar', what: 'spool append p99 (fdatasync of the volume)', key: 'spool.syncedAppendP99Ms', unit: ms, baseline: { key: 'spool.rawFdatasyncP99Ms', label: 'raw write + fdatasync' }, compare: 'added' },
  { area: 'Sidecar', what: 'spool append p50, durability Written', key: 'spool.writtenAppendP50Ms', unit: ms, baseline: { key: 'spool.rawFdatasyncP50Ms', label: 'raw write + fdatasync' }, compare: 'none' },
  { area: 'Sidecar', what: 'spool, 64 connections appending (Written), records/s', key: 'spool.concurrentRecordsPerSec', unit: '/s', compare: 'none' },
  { area: 'Sidecar', what: 'spool, checkpoint signatures per record (64 connections; 1 before issue 19)', key: 'spool.signaturesPerRecord', unit: '', compare: 'none' },

  { area: 'Operator', what: 'ingest, records/s (hashes and one checkpoint signature per batch verified, fsync\'d)', key: 'ingest.recordsPerSec', unit: '/s', baseline: { key: 'ingest.rawAppendRecordsPerSec', label: 'raw fsync\'d appends, same bytes' }, compare: 'ratio', target: { key: 'ingest.recordsPerSec', op: '>=', value: 50000, text: '≥ 50,000/s' } },
  { area: 'Audit', what: '`guarita verify --file`, one 1,000,000-record export (--quick: 200,000), records/s', key: 'verify.recordsPerSec', unit: '/s', baseline: { key: 'verify.sha256sumRecordsPerSec', label: '`sha256sum` of the same file' }, compare: 'ratio', target: { key: 'verify.recordsPerSec', op: '>=', value: 100_000, text: '≥ 100,000/s' } },
  { area: 'Operator', what: '1,000 AccessPolicies to Ready', key: 'operator.thousandPoliciesReadyS', unit: 's', compare: 'none' },
];

export interface Row {
  area: string;
  what: string;
  guarita: string;
  baseline: string;
  comparison: string;
  target: string;
  met: 'yes' | 'no' | '';
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US');
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  if (abs >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function withUnit(v: number, unit: string): string {
  return `${formatNumber(v)} ${unit}`;
}

function comparison(spec: RowSpec, r: Results): { text: string; value: number | undefined } {
  if (spec.compare === 'none' || spec.baseline === undefined) return { text: '', value: undefined };
  const own = r[spec.key];
  const base = r[spec.baseline.key];
  const reported = spec.compareKey === undefined ? undefined : r[spec.compareKey];
  if (own === undefined || base === undefined) return { text: '', value: undefined };
  if (spec.compare === 'ratio') {
    const ratio = reported ?? own / base;
    return { text: `× ${ratio.toFixed(3)}`, value: ratio };
  }
  const added = reported ?? own - base;
  return { text: `${added >= 0 ? '+' : '−'}${formatNumber(Math.abs(added))} ${spec.unit}`, value: added };
}

function met(target: Target | undefined, r: Results): Row['met'] {
  if (target === undefined) return '';
  const v = r[target.key];
  if (v === undefined || !Number.isFinite(v)) return '';
  return (target.op === '<=' ? v <= target.value : v >= target.value) ? 'yes' : 'no';
}

/** The rows whose figures are present, each beside its baseline. */
export function rows(r: Results): Row[] {
  return ROWS.filter((spec) => r[spec.key] !== undefined).map((spec) => {
    const base = spec.baseline === undefined ? undefined : r[spec.baseline.key];
    return {
      area: spec.area,
      what: spec.what,
      guarita: withUnit(r[spec.key]!, spec.unit),
      baseline: spec.baseline === undefined || base === undefined ? '' : `${withUnit(base, spec.unit)} (${spec.baseline.label})`,
      comparison: comparison(spec, r).text,
      target: spec.target?.text ?? '',
      met: met(spec.target, r),
    };
  });
}

/** Result keys no row shows (printed after the table, so nothing measured is hidden). */
export function unlisted(r: Results): string[] {
  const shown = new Set(ROWS.flatMap((s) => [s.key, s.baseline?.key, s.compareKey, s.target?.key].filter((k): k is string => k !== undefined)));
  return Object.keys(r).filter((k) => !shown.has(k)).sort();
}

function escape(cell: string): string {
  return cell.replace(/\|/g, '\\|');
}

/** A Markdown table (also readable as plain text in a terminal). */
export function markdownTable(r: Results, failures: Record<string, string> = {}): string {
  const head = ['Area', 'What', 'Guarita', 'Baseline (same run)', 'Guarita vs baseline', 'Target', 'Met'];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const row of rows(r)) lines.push(`| ${[row.area, row.what, row.guarita, row.baseline, row.comparison, row.target, row.met].map(escape).join(' | ')} |`);
  for (const [suite, why] of Object.entries(failures)) lines.push(`| ${escape(suite)} | failed: ${escape(why.split('\n')[0] ?? '')} | | | | | |`);
  const rest = unlisted(r);
  if (rest.length > 0) lines.push('', `Other figures: ${rest.map((k) => `\`${k}\` ${formatNumber(r[k]!)}`).join(', ')}`);
  return lines.join('\n');
}
