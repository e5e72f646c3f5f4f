import { describe, expect, it } from '@jest/globals';
import { markdownTable, ROWS, rows, unlisted } from './report.ts';

describe('bench report', () => {
  it('puts each figure beside its same-run baseline with the added cost, and judges the target', () => {
    const [row] = rows({ 'http.proxyP50Ms': 0.62, 'http.directP50Ms': 0.07, 'http.addedP50Ms': 0.55 });
    expect(row).toEqual({
      area: 'HTTP', what: 'p50, one connection, masking on', guarita: '0.620 ms', baseline: '0.070 ms (direct)', comparison: '+0.550 ms', target: '+0.3 ms', met: 'no',
    });
  });

  it('computes a ratio when the suite did not report one, and meets a >= target', () => {
    const [row] = rows({ 'pg.written.selectOnlyTps': 56000, 'pg.directSelectOnlyTps': 70000, 'pg.written.selectOnlyTpsRatio': 0.8 });
    expect(row).toMatchObject({ guarita: '56,000 TPS', baseline: '70,000 TPS (direct)', comparison: '× 0.800', met: 'yes' });
    const [mask] = rows({ 'mask.textMBps': 80, 'mask.decodeEncodeMBps': 1600 });
    expect(mask).toMatchObject({ comparison: '× 0.050', met: '' });
  });

  it('leaves out rows whose figure is missing, and lists figures no row shows', () => {
    const r = { 'mask.hundredRowsMs': 0.2, 'spool.recordBytes': 883 };
    expect(rows(r).map((x) => x.what)).toEqual(['100 customer rows (12 PostgreSQL cells each)']);
    expect(unlisted(r)).toEqual(['spool.recordBytes']);
    const table = markdownTable(r, { pg: 'pgbench failed: FATAL | boom\nmore' });
    expect(table).toContain('| Masking | 100 customer rows (12 PostgreSQL cells each) | 0.200 ms |');
    expect(table).toContain('| pg | failed: pgbench failed: FATAL \\| boom |');
    expect(table).toContain('`spool.recordBytes` 883');
  });

  it('names every target key among the issue\'s JSON keys and rows', () => {
    const keys = new Set(ROWS.map((r) => r.key));
    for (const k of ['http.proxyP50Ms', 'pg.proxySelectOnlyTps', 'pg.proxyCustomerRowsTps', 'mask.textMBps', 'mask.jsonMBps', 'mask.hundredRowsMs', 'policy.sqlDecisionsPerSec', 'webhook.p99Ms', 'revocation.p99Ms', 'sidecar.rssIdleMB', 'sidecar.rssLoadMB', 'sidecar.startMs', 'operator.thousandPoliciesReadyS', 'ingest.recordsPerSec']) {
      expect(keys.has(k)).toBe(true);
    }
  });
});
