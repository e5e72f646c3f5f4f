import { describe, expect, it } from '@jest/globals';
import { Metrics } from './metrics.ts';

/** The exposition's lines for one metric (what a scrape sees), sorted. */
async function scraped(metrics: Metrics, name: string): Promise<string[]> {
  return (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`)).sort();
}

describe('per-statement count cells (requests, decisions)', () => {
  it('a scrape shows exactly what Counter.inc with the same labels would, for every label set', async () => {
    const cells = new Metrics();
    const direct = new Metrics();
    const rules = ['read-orders', 'exports-need-dpo', '', 'rule "with" \\ escapes'];
    for (let i = 0; i < 1000; i++) {
      const rule = rules[i % rules.length]!;
      const decision = i % 7 === 0 ? 'deny' : 'allow';
      cells.decisionCell('orders-db', decision, rule).inc();
      direct.decisions.inc({ target: 'orders-db', decision, rule });
      const outcome = i % 5 === 0 ? 'denied' : 'allowed';
      cells.requestCell(i % 2 === 0 ? 'orders-db' : 'other-db', 'postgres', outcome).inc();
      direct.requests.inc({ target: i % 2 === 0 ? 'orders-db' : 'other-db', protocol: 'postgres', outcome });
    }
    expect(await scraped(cells, 'guarita_sidecar_decisions_total')).toEqual(await scraped(direct, 'guarita_sidecar_decisions_total'));
    expect(await scraped(cells, 'guarita_sidecar_requests_total')).toEqual(await scraped(direct, 'guarita_sidecar_requests_total'));
    expect(await scraped(cells, 'guarita_sidecar_decisions_total')).toHaveLength(8);
  });

  it('counts between scrapes are added once: a second scrape without counts shows the same values, later counts add to them', async () => {
    const m = new Metrics();
    const cell = m.decisionCell('orders-db', 'allow', 'read-orders');
    cell.inc();
    cell.inc();
    expect(await scraped(m, 'guarita_sidecar_decisions_total')).toEqual(['guarita_sidecar_decisions_total{target="orders-db",decision="allow",rule="read-orders"} 2']);
    expect(await scraped(m, 'guarita_sidecar_decisions_total')).toEqual(['guarita_sidecar_decisions_total{target="orders-db",decision="allow",rule="read-orders"} 2']);
    cell.inc();
    expect((await m.decisions.get()).values).toEqual([{ labels: { target: 'orders-db', decision: 'allow', rule: 'read-orders' }, value: 3 }]);
  });

  it('a cell and Counter.inc (other listeners, other call sites) add up on the same label set', async () => {
    const m = new Metrics();
    m.requestCell('api', 'http', 'allowed').inc();
    m.requests.inc({ target: 'api', protocol: 'http', outcome: 'allowed' });
    m.requestCell('api', 'http', 'allowed').inc();
    expect(await scraped(m, 'guarita_sidecar_requests_total')).toEqual(['guarita_sidecar_requests_total{target="api",protocol="http",outcome="allowed"} 3']);
  });

  it('one cell per label set: asking again returns the same cell, and a label set never counted is not exposed', async () => {
    const m = new Metrics();
    expect(m.decisionCell('t', 'allow', 'r')).toBe(m.decisionCell('t', 'allow', 'r'));
    expect(m.decisionCell('t', 'allow', 'r')).not.toBe(m.decisionCell('t', 'allow', 'r2'));
    expect(m.decisionCell('t', 'allow', '')).not.toBe(m.decisionCell('t', 'deny', ''));
    m.decisionCell('t', 'deny', '').inc();
    expect(await scraped(m, 'guarita_sidecar_decisions_total')).toEqual(['guarita_sidecar_decisions_total{target="t",decision="deny",rule=""} 1']);
  });
});

describe('masked values (countMasked on count cells)', () => {
  it('a scrape shows exactly what Counter.inc({ target, type }, n) per type would: same lines, values and order; zero counts not exposed', async () => {
    const cells = new Metrics();
    const direct = new Metrics();
    const answers: Record<string, number>[] = [
      { cpf: 1, email: 1, phone: 1 }, { cpf: 0, email: 2 }, {}, { cnpj: 3, cpf: 2 }, { 'custom "x" \\ y': 1, phone: 0 }, { rg: 0 },
    ];
    for (let i = 0; i < 300; i++) {
      const counts = answers[i % answers.length]!;
      const target = Math.floor(i / answers.length) % 2 === 0 ? 'customers-api' : 'orders-db';
      cells.countMasked(target, counts);
      for (const [type, n] of Object.entries(counts)) if (n > 0) direct.masked.inc({ target, type }, n);
      // A scrape in the middle: counts keep adding up across scrapes, in the order label sets first appeared.
      if (i === 100) expect(await cells.registry.getSingleMetricAsString('guarita_sidecar_masked_values_total')).toBe(await direct.registry.getSingleMetricAsString('guarita_sidecar_masked_values_total'));
    }
    const [a, b] = [await cells.registry.getSingleMetricAsString('guarita_sidecar_masked_values_total'), await direct.registry.getSingleMetricAsString('guarita_sidecar_masked_values_total')];
    expect(a).toBe(b);
    expect(a).toContain('guarita_sidecar_masked_values_total{target="orders-db",type="cpf"} ');
    expect(a).not.toContain('type="rg"');
    // Both targets × the five types counted above zero somewhere.
    expect(await scraped(cells, 'guarita_sidecar_masked_values_total')).toHaveLength(10);
    expect((await cells.masked.get()).values).toEqual((await direct.masked.get()).values);
  });
});
