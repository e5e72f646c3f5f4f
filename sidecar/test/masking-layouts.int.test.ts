// Issue 18 item 12 through the real paths: identifiers stored in PostgreSQL in their printed layouts (the Cartão
// Nacional de Saúde as printed on the card, NNN NNNN NNNN NNNN, also with no-break spaces or dots; CPF, CNPJ and
// phone numbers with other separators or fullwidth digits, URL-encoded or HTML-escaped) come back masked through the REAL sidecar process in
// front of the harness PostgreSQL, to psql (simple protocol) and node-pg (extended protocol), in a column no name
// rule covers (`notes`), so only content detection can catch them. Numeric text that is no identifier comes back
// unchanged. The rows are written straight to PostgreSQL as the application would; the agent only reads.
// The same layouts in HTTP response bodies (JSON, plain text, HTML) from a real upstream that writes them a few
// bytes at a time, so identifiers arrive cut across network reads, through the real sidecar's HTTP listener.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import { runCommand } from '../../e2e/harness/exec.ts';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { isCns, phoneKind } from '../../core/masking/checksums.ts';
import { suffix } from '../../e2e/support/kubectl.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';
import { startContentMaskingHttp, type ContentMaskingHttp, type FixedBodies } from './content-masking-http.ts';

jest.setTimeout(90_000);

const NBSP = '\u00a0';

/** A valid CNS whose first eleven digits are also a valid mobile number ((82) 9 2530-3431): the reported shape. */
const PHONE_PREFIXED_CNS = Array.from({ length: 10000 }, (_, i) => `82925303431${String(i).padStart(4, '0')}`).find(isCns) ?? '';
const card = (d: string, sep = ' '): string => [d.slice(0, 3), d.slice(3, 7), d.slice(7, 11), d.slice(11)].join(sep);

/** id → [stored notes, what the agent must read]. */
const ROWS: Record<number, [string, string]> = {
  901: [`Cartão SUS ${card(PHONE_PREFIXED_CNS)} conferido`, `Cartão SUS *** **** **** **${PHONE_PREFIXED_CNS.slice(-2)} conferido`],
  902: [`cns ${card('762376345912761', NBSP)}`, 'cns *** **** **** **61'],
  903: [`cartão ${card('762376345912761', '.')} / ${card('762376345912761', '-')}`, 'cartão ***.****.****.**61 / ***-****-****-**61'],
  904: ['cpf 529.982.247.25 ou ５２９.９８２.２４７-２５', 'cpf ***.***.***.25 ou ***.***.***-25'],
  905: ['ligar +55 (11) 9 1234-5678 ou (11)\u00a091234\u20135678', 'ligar +** (**) * ****-5678 ou (**) *****-5678'],
  906: ['empresa 11 222 333 0001 81', 'empresa ** *** *** **** 81'],
  907: ['R$ 1.234.567,89 em 15/07/2026, versão 1.2.3, pedido 123456', 'R$ 1.234.567,89 em 15/07/2026, versão 1.2.3, pedido 123456'],
  // Escaped in a stored link and in HTML: the mask is written back in the same encoding.
  908: [`https://crm.exemplo.com.br/?email=joao%40gmail.com&cns=${card('762376345912761', '+')} <b>joao&#64;gmail.com</b>`,
    'https://crm.exemplo.com.br/?email=j***%40g***.com&cns=***%20****%20****%20**61 <b>j***@g***.com</b>'],
  // Typed without a space after the word that names it.
  909: ['CPF529.982.247-25 e tel11912345678', 'CPF***.***.***-25 e tel*******5678'],
};
const IDS = Object.keys(ROWS).join(', ');

let s: PgScenario;
let token: string;
const clients: pg.Client[] = [];

beforeAll(async () => {
  expect(isCns(PHONE_PREFIXED_CNS) && phoneKind(PHONE_PREFIXED_CNS.slice(0, 11)) === 'mobile').toBe(true);
  // Every built-in detector (the example policy enables only cpf, cnpj, email and phone).
  s = await startPgScenario({ spec: (spec) => { delete (spec.masking as Record<string, unknown>).detectors; } });
  token = await s.token('support-agent');
  await s.insertNotes('Layout', Object.fromEntries(Object.entries(ROWS).map(([id, [notes]]) => [id, notes])));
}, 180_000);

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await s?.stop();
}, 60_000);

function expected(): string[] {
  return Object.entries(ROWS).map(([id, [, masked]]) => `${id}|${masked}`);
}

describe('identifiers stored in their printed layouts', () => {
  it('the database holds them as written (the test data is what the agent would otherwise read)', async () => {
    const direct = await runCommand(`${requirePostgres().binDir}/psql`, ['-X', '-A', '-t', '-F', '|', '-c', `SELECT id, notes FROM customers WHERE id IN (${IDS}) ORDER BY id`], { env: s.directEnv() });
    expect(direct.stdout.trim().split('\n')).toEqual(Object.entries(ROWS).map(([id, [notes]]) => `${id}|${notes}`));
  });

  it('psql through the sidecar reads every layout masked, and the rest unchanged', async () => {
    const r = await s.psql(token, ['-A', '-t', '-F', '|', '-c', `SELECT id, notes FROM customers WHERE id IN (${IDS}) ORDER BY id`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(expected());
  });

  it('node-pg (extended protocol, parameters) reads them masked too, also under another column name', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    const ids = Object.keys(ROWS).map(Number);
    const res = await client.query<{ id: number; texto: string }>('SELECT id, notes AS texto FROM customers WHERE id = ANY($1::int[]) ORDER BY id', [ids]);
    expect(res.rows.map((row) => `${row.id}|${row.texto}`)).toEqual(expected());
  });
});

// ---- HTTP: JSON, text and HTML bodies, written a few bytes at a time -----------------------------------------

const LINK = 'https://crm.exemplo.com.br/?email=joao%40gmail.com&tel=%2B55%2011%2091234-5678';
const LINK_MASKED = 'https://crm.exemplo.com.br/?email=j***%40g***.com&tel=%2B**%20**%20*****-5678';
const JSON_BODY = {
  obs: `Cartão SUS ${card(PHONE_PREFIXED_CNS)}`, // not `cns`: that key would mask the whole value by name
  link: LINK,
  nota: `cpf 529${NBSP}982${NBSP}247${NBSP}25`,
  fullwidth: '５２９.９８２.２４７-２５',
  empresa: '11 222 333 0001 81',
  ok: 'R$ 1.234.567,89 versão 1.2.3',
};
const JSON_MASKED = {
  obs: `Cartão SUS *** **** **** **${PHONE_PREFIXED_CNS.slice(-2)}`,
  link: LINK_MASKED,
  nota: 'cpf *** *** *** 25',
  fullwidth: '***.***.***-25',
  empresa: '** *** *** **** 81',
  ok: 'R$ 1.234.567,89 versão 1.2.3',
};
const TEXT_BODY = `cartão ${card('762376345912761', '.')}\ncpf 529.982.247.25\n${LINK}\nligar +55 (11) 9 1234-5678\npedido 123456\n`;
const TEXT_MASKED = `cartão ***.****.****.**61\ncpf ***.***.***.25\n${LINK_MASKED}\nligar +** (**) * ****-5678\npedido 123456\n`;
const HTML_BODY = '<p>joao&#64;gmail.com</p><p>CNS 762&nbsp;3763&nbsp;4591&nbsp;2761</p><p>1.234,56</p>';
const HTML_MASKED = '<p>j***@g***.com</p><p>CNS *** **** **** **61</p><p>1.234,56</p>';

/** Each written three bytes at a time. */
const BODIES: FixedBodies = {
  '/customers/layouts.json': ['application/json', JSON.stringify(JSON_BODY), true],
  '/customers/layouts.txt': ['text/plain; charset=utf-8', TEXT_BODY, true],
  '/customers/layouts.html': ['text/html; charset=utf-8', HTML_BODY, true],
};

describe('identifiers in printed layouts in HTTP response bodies', () => {
  const POLICY = 'customers-api';
  const ns = `mask-layouts-${suffix()}`;
  let http: ContentMaskingHttp;

  beforeAll(async () => { http = await startContentMaskingHttp(ns, POLICY, BODIES); }, 180_000);
  afterAll(async () => { await http?.stop(); }, 60_000);

  it('a JSON body: every layout masked, escapes re-encoded, the rest unchanged', async () => {
    const r = await http.get('/customers/layouts.json');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual(JSON_MASKED);
  });

  it('a plain-text body', async () => {
    const r = await http.get('/customers/layouts.txt');
    expect(r.status).toBe(200);
    expect(r.text).toBe(TEXT_MASKED);
  });

  it('an HTML body with character references', async () => {
    const r = await http.get('/customers/layouts.html');
    expect(r.status).toBe(200);
    expect(r.text).toBe(HTML_MASKED);
  });
});
