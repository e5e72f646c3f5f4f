// Review finding (this round): formatted identifiers glued to letters (x590.830.166-33, 590.830.166-33x,
// cliente:joao590.830.166-33, ...166-33obs) reached agents unmasked through every target. Through the REAL sidecar
// process: stored in PostgreSQL in a column no name rule covers (`notes`), read by psql (simple protocol) and node-pg
// (extended protocol), they come back masked — the listener's byte pre-scan must not forward such a cell as it
// arrived; and in HTTP response bodies (JSON, plain text) from a real upstream that writes them three bytes at a
// time, or in one large write with the identifier across the proxy's read boundaries, they come back masked too.
// Look-alikes with broken check digits, versions and UUIDs glued the same way come back unchanged.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import { runCommand } from '../../e2e/harness/exec.ts';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { suffix } from '../../e2e/support/kubectl.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';
import { startContentMaskingHttp, type ContentMaskingHttp, type FixedBodies } from './content-masking-http.ts';

jest.setTimeout(90_000);

/** id → [stored notes, what the agent must read]. */
const ROWS: Record<number, [string, string]> = {
  921: ['x590.830.166-33', 'x***.***.***-33'],
  922: ['590.830.166-33x', '***.***.***-33x'],
  923: ['cliente:joao590.830.166-33 obs', 'cliente:joao***.***.***-33 obs'],
  924: ['CPF590.830.166-33obs', 'CPF***.***.***-33obs'],
  925: ['razão_11.222.333/0001-81_ok e açãoé529.982.247-25ç', 'razão_**.***.***/****-81_ok e açãoé***.***.***-25ç'],
  926: ['contato(11) 91234-5678fim e tel+5511912345678x', 'contato(**) *****-5678fim e tel+*********5678x'],
  927: ['cep:a01310-100b', 'cep:a01***-***b'],
  // Broken check digit, a version, a UUID, a bare run glued to a word: unchanged.
  928: ['x590.830.166-34 v1.2.3.4 req 0b41a661-de77-2570-4002-f9475489c022 hotel52998224725', 'x590.830.166-34 v1.2.3.4 req 0b41a661-de77-2570-4002-f9475489c022 hotel52998224725'],
};
const IDS = Object.keys(ROWS).join(', ');

let s: PgScenario;
let token: string;
const clients: pg.Client[] = [];

beforeAll(async () => {
  // Every built-in detector (the example policy enables only cpf, cnpj, email and phone).
  s = await startPgScenario({ spec: (spec) => { delete (spec.masking as Record<string, unknown>).detectors; } });
  token = await s.token('support-agent');
  await s.insertNotes('Glued', Object.fromEntries(Object.entries(ROWS).map(([id, [notes]]) => [id, notes])));
}, 180_000);

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await s?.stop();
}, 60_000);

const expected = (): string[] => Object.entries(ROWS).map(([id, [, masked]]) => `${id}|${masked}`);

describe('formatted identifiers glued to letters in PostgreSQL rows', () => {
  it('the database holds them as written', async () => {
    const direct = await runCommand(`${requirePostgres().binDir}/psql`, ['-X', '-A', '-t', '-F', '|', '-c', `SELECT id, notes FROM customers WHERE id IN (${IDS}) ORDER BY id`], { env: s.directEnv() });
    expect(direct.stdout.trim().split('\n')).toEqual(Object.entries(ROWS).map(([id, [notes]]) => `${id}|${notes}`));
  });

  it('psql through the sidecar reads them masked, the look-alikes unchanged', async () => {
    const r = await s.psql(token, ['-A', '-t', '-F', '|', '-c', `SELECT id, notes FROM customers WHERE id IN (${IDS}) ORDER BY id`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(expected());
  });

  it('node-pg (extended protocol) reads them masked, also concatenated into one cell by the query', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    const ids = Object.keys(ROWS).map(Number);
    const res = await client.query<{ id: number; texto: string }>('SELECT id, notes AS texto FROM customers WHERE id = ANY($1::int[]) ORDER BY id', [ids]);
    expect(res.rows.map((row) => `${row.id}|${row.texto}`)).toEqual(expected());
    // A log line built by the query itself: the identifier glued to the text around it.
    const joined = await client.query<{ linha: string }>("SELECT 'pedido' || '590.830.166-33' || 'enviado' AS linha");
    expect(joined.rows[0]?.linha).toBe('pedido***.***.***-33enviado');
  });
});

// ---- HTTP ------------------------------------------------------------------------------------------------------

const JSON_BODY = { slug: 'cliente-joao590.830.166-33', log: 'req=abc;cpf=590.830.166-33obs;cnpj=x11.222.333/0001-81', ok: 'v1.2.3.4 x590.830.166-34' };
const JSON_MASKED = { slug: 'cliente-joao***.***.***-33', log: 'req=abc;cpf=***.***.***-33obs;cnpj=x**.***.***/****-81', ok: 'v1.2.3.4 x590.830.166-34' };
const TEXT_BODY = 'cliente:joao590.830.166-33\n...166-33obs 590.830.166-33obs\ncontato(11) 91234-5678fim\nv1.2.3.4\n';
const TEXT_MASKED = 'cliente:joao***.***.***-33\n...166-33obs ***.***.***-33obs\ncontato(**) *****-5678fim\nv1.2.3.4\n';
/** A large body with a glued identifier across every power-of-two read boundary from 1 KiB to 64 KiB. */
const BIG_BODY = (() => {
  let out = '';
  for (let k = 10; k <= 16; k++) {
    const boundary = 2 ** k;
    out += 'a'.repeat(Math.max(0, boundary - 7 - out.length - 1)) + ' ';
    out += 'x590.830.166-33x';
  }
  return out;
})();
const BIG_MASKED = BIG_BODY.replaceAll('x590.830.166-33x', 'x***.***.***-33x');

const BODIES: FixedBodies = {
  '/customers/glued.json': ['application/json', JSON.stringify(JSON_BODY), true],
  '/customers/glued.txt': ['text/plain; charset=utf-8', TEXT_BODY, true],
  '/customers/big.txt': ['text/plain; charset=utf-8', BIG_BODY, false],
};

describe('formatted identifiers glued to letters in HTTP response bodies', () => {
  const POLICY = 'customers-api';
  const ns = `mask-glued-${suffix()}`;
  let http: ContentMaskingHttp;

  beforeAll(async () => { http = await startContentMaskingHttp(ns, POLICY, BODIES); }, 180_000);
  afterAll(async () => { await http?.stop(); }, 60_000);

  it('a JSON body written three bytes at a time', async () => {
    const r = await http.get('/customers/glued.json');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual(JSON_MASKED);
  });

  it('a plain-text body written three bytes at a time', async () => {
    const r = await http.get('/customers/glued.txt');
    expect(r.status).toBe(200);
    expect(r.text).toBe(TEXT_MASKED);
  });

  it('a large body with glued identifiers across read boundaries', async () => {
    const r = await http.get('/customers/big.txt');
    expect(r.status).toBe(200);
    expect(r.text.length).toBe(BIG_MASKED.length);
    expect(r.text).toBe(BIG_MASKED);
  });
});
