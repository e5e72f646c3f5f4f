// Issue 19, item 7 through the real path: result rows the masking engine's pre-scan clears go to
// the client as the bytes they arrived in, and rows it does not clear are masked exactly as
// masking every cell would mask them. node-pg reads each result directly from the harness
// PostgreSQL and through the real sidecar; every proxied cell must equal the example policy's
// masker applied to the direct cell (maskCell by column name), in results longer than the
// record's sample (20 rows), with identifiers in the layouts the pre-scan must not miss
// (fullwidth digits, percent-encoding, HTML references, JSON keys without digits), over the simple
// and the extended protocol.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { parseAllDocuments } from 'yaml';
import { compileMasker, type MaskingSpec } from '../../core/masking/index.ts';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(120_000);

let s: PgScenario;
let direct: pg.Client;
let proxied: pg.Client;

const spec = (parseAllDocuments(readFileSync(join(import.meta.dirname, '../../examples/lgpd-orders/accesspolicy.yaml'), 'utf8'))[0]?.toJS() as { spec: { masking: MaskingSpec } }).spec.masking;
const masker = compileMasker(spec);

beforeAll(async () => {
  s = await startPgScenario({ logLevel: 'warn' });
  const pgs = requirePostgres();
  // Values as the server sends them: no type parsing on either side.
  const types = { getTypeParser: () => (v: string) => v };
  direct = new pg.Client({ host: pgs.host, port: pgs.port, user: 'orders_app', password: pgs.passwords.orders_app, database: s.database, types });
  proxied = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: await s.token('support-agent'), database: s.database, options: PURPOSE_OPTIONS, types });
  proxied.on('error', () => undefined);
  await direct.connect();
  await proxied.connect();
}, 180_000);

afterAll(async () => {
  await direct?.end().catch(() => undefined);
  await proxied?.end().catch(() => undefined);
  await s?.stop();
}, 60_000);

/** Identifiers in the layouts a byte pre-scan could miss, and text with nothing to mask, by row number. */
const LAYOUTS_SQL = `
  SELECT g AS n,
    CASE g % 8
      WHEN 0 THEN 'CPF ５２９.９８２.２４７-２５ no cadastro'
      WHEN 1 THEN 'contato joao%40gmail.com'
      WHEN 2 THEN 'contato joao&commat;gmail&period;com'
      WHEN 3 THEN 'cpf 529&#46;982&#46;247&#45;25'
      WHEN 4 THEN 'e-mail ｊｏａｏ＠ｇｍａｉｌ．ｃｏｍ'
      WHEN 5 THEN 'tel +55\u00a011\u00a091234-5678'
      ELSE 'nada a mascarar aqui, só texto'
    END AS texto,
    CASE WHEN g % 3 = 0 THEN NULL ELSE 'sem dígitos' END AS email,
    jsonb_build_object('cpf', repeat('x', g % 5 + 1), 'nota', 'livre') AS dados,
    'Ana Ferreira'::text AS nome
  FROM generate_series(1, $1::int) AS g ORDER BY g`;

const QUERIES: Array<[string, string, unknown[]]> = [
  ['customers, simple protocol (50 rows)', 'SELECT id, nome, cpf, cnpj, email, telefone, dt_nasc, notes FROM customers ORDER BY id', []],
  ['customers, extended protocol', 'SELECT id, nome, cpf, cnpj, email, telefone, dt_nasc, notes FROM customers WHERE id <= $1 ORDER BY id', [50]],
  ['identifier layouts (200 rows), extended protocol', LAYOUTS_SQL, [200]],
  ['identifier layouts, simple protocol', LAYOUTS_SQL.replace('$1::int', '200'), []],
  ['nothing to mask (300 rows)', "SELECT g AS n, 'linha ' || chr(65 + g % 26) AS nome FROM generate_series(1, 300) g", []],
];

describe('rows through the sidecar are the direct rows masked as every cell would be', () => {
  it.each(QUERIES)('%s', async (_what, sql, values) => {
    const want = await direct.query({ text: sql, values, rowMode: 'array' });
    const got = await proxied.query({ text: sql, values, rowMode: 'array' });
    expect(got.rows.length).toBe(want.rows.length);
    expect(got.rows.length).toBeGreaterThan(20);
    const names = want.fields.map((f) => f.name);
    const session = masker.newSession();
    const expected = (want.rows as Array<Array<string | null>>).map((row) => row.map((v, i) => (v === null ? null : session.maskCell(names[i], v))));
    expect(got.rows).toEqual(expected);
  });

  it('the layouts query is not vacuous: every identifier layout is masked past the sample, and plain rows are untouched', async () => {
    const got = await proxied.query<{ n: string; texto: string; dados: string; nome: string }>({ text: LAYOUTS_SQL, values: [200] });
    const late = got.rows.filter((r) => Number(r.n) > 100);
    for (const r of late) {
      expect(r.texto).not.toMatch(/２４７|joao%40gmail|joao&commat;gmail|982&#46;247|ｊｏａｏ＠|91234/);
      expect(r.dados).not.toMatch(/"cpf": "x+"/);
      expect(r.nome).toBe('Ana Ferreira');
    }
    expect(late.filter((r) => r.texto === 'nada a mascarar aqui, só texto')).toHaveLength(late.filter((r) => Number(r.n) % 8 >= 6).length);
  });
});
