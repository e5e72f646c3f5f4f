// Round 9 adversarial review of the PostgreSQL listener: data outside ordinary result rows.
// The REAL sidecar process in front of the harness PostgreSQL, raw protocol clients.
//
// COPY ... TO STDOUT is masked by splitting each CopyData row into fields (copy.ts) and masking each
// field by its column's name and by content. Every case below makes the sidecar split a row
// otherwise than the server wrote it, so the `cpf` column's value is masked by content only (or
// not at all), and a CPF the `cpf` name rule alone catches (customer 90: stored without its
// leading zero and punctuation) reaches the agent — and the record's sample — whole. Each case has
// a control: the same export without the trick is masked.
//
// The policy is the example's, with COPY ... TO STDOUT allowed outright (what the DPO's approval of
// the export under `exports-need-dpo` does: the DPO approves an export that is masked) and without
// sensitiveColumns (the plain `cpf` reference is allowed by it anyway; the guard is not under test).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { csvFields, textFields } from '../src/postgres/copy-format.ts';
import type { CopyPlan } from '../src/postgres/statements.ts';
import { RawClient } from './pg-raw-client.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(120_000);

/** Customer 90's CPF (018.780.175-43) stored without its leading zero and punctuation: the `cpf` column name is what masks it. */
const UNPUNCTUATED_CPF = '1878017543';
/** A valid CPF at the start of customer 95's note (an undeclared text column, masked by content). */
const NOTE_CPF = '529.982.247-25';

let s: PgScenario;
let token: string;
const open: RawClient[] = [];

interface SpoolRecord { type?: string; command?: string; decision?: string; result?: { rows?: number; sample?: string } }

function spoolRecords(): SpoolRecord[] {
  const segments = readdirSync(tmpdir()).filter((d) => d.startsWith(`guarita-sidecar-${s.namespace}-`)).flatMap((d) => {
    const spool = join(tmpdir(), d, 'spool');
    return readdirSync(spool).filter((n) => n.endsWith('.jsonl')).sort().map((f) => join(spool, f));
  });
  const out: SpoolRecord[] = [];
  for (const file of segments) {
    for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trimStart().startsWith('{')) out.push(JSON.parse(line) as SpoolRecord);
  }
  return out.filter((r) => r.type === 'command');
}

beforeAll(async () => {
  s = await startPgScenario({
    logLevel: 'warn',
    spec: (spec) => {
      // The DPO's approval of the export, given in advance: COPY ... TO STDOUT is allowed (masked).
      (spec.rules as unknown[]).unshift({ name: 'exports-approved', description: 'round 9: exports the DPO approved', match: { sql: { traits: ['copyExport'] } }, action: 'allow' });
      delete spec.sensitiveColumns;
    },
  });
  token = await s.token('support-agent');
  const pgs = requirePostgres();
  const admin = new pg.Client({ host: pgs.host, port: pgs.port, user: 'orders_app', password: pgs.passwords.orders_app, database: s.database });
  await admin.connect();
  try {
    await admin.query(`INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) VALUES (90, 'Rafael Costa', '${UNPUNCTUATED_CPF}', 'r@x', '0', '1993-09-17') ON CONFLICT (id) DO NOTHING`);
    // A table as a database owner might keep it: a generated column before the CPF (made by the owner, not the agent).
    await admin.query("CREATE TABLE IF NOT EXISTS clientes_r9 (id int PRIMARY KEY, nome text NOT NULL, nome_busca text GENERATED ALWAYS AS (lower(nome)) STORED, cpf text NOT NULL)");
    await admin.query(`INSERT INTO clientes_r9 (id, nome, cpf) VALUES (90, 'Rafael Costa', '${UNPUNCTUATED_CPF}') ON CONFLICT (id) DO NOTHING`);
    // A function that switches client_encoding where the classifier cannot see it (the owner's, not the agent's).
    await admin.query("CREATE OR REPLACE FUNCTION r9_sjis() RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('client_' || 'encoding', 'SJIS', false); RETURN 1; END $$");
    // A function that runs a COPY ... TO STDOUT the statement calling it does not show.
    await admin.query("CREATE OR REPLACE FUNCTION r9_copy() RETURNS void LANGUAGE sql AS $$ COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT $$");
    await admin.query(`INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc, notes) VALUES (95, 'Marina Lopes', 'r9-95', 'r9@x', '0', '1990-01-01', '${NOTE_CPF}: segunda via pedida pelo titular') ON CONFLICT (id) DO NOTHING`);
  } finally {
    await admin.end();
  }
}, 240_000);

afterAll(async () => {
  for (const c of open) c.close();
  await s?.stop();
}, 60_000);

async function raw(): Promise<RawClient> {
  const c = new RawClient(s.port);
  open.push(c);
  await c.login({ token, database: s.database, options: PURPOSE_OPTIONS });
  return c;
}

/** The bytes of every CopyData the client received, concatenated (latin1 keeps every byte visible as one character). */
function copyOut(c: RawClient): string {
  return Buffer.concat(c.messages.filter((m) => m.name === 'copyData').map((m) => (m as BackendMessage & { chunk: Buffer }).chunk)).toString('latin1');
}

/** The messages of the ErrorResponses the client received. */
function errors(c: RawClient): string[] {
  return c.messages.filter((m) => m.name === 'error').map((m) => (m as BackendMessage & { message: string }).message);
}

/** Runs one simple Query and returns the COPY data the agent received. */
async function copyQuery(sql: string): Promise<{ data: string; trace: string[]; errors: string[] }> {
  const c = await raw();
  c.send(serialize.query(sql));
  await c.until(() => c.closed || c.trace().includes('Z:I') || c.trace().includes('Z:T') || c.trace().includes('Z:E'), 15_000);
  return { data: copyOut(c), trace: c.trace(), errors: errors(c) };
}

/** The record of `sql` (its latest), once durable. */
function recordOf(sql: string): SpoolRecord | undefined {
  return spoolRecords().filter((r) => r.command === sql).at(-1);
}

describe('COPY rows split otherwise than the server wrote them: the cpf column is not masked by its name', () => {
  it('control: the export is masked by the cpf column name', async () => {
    const sql = 'COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT (FORMAT csv)';
    const r = await copyQuery(sql);
    expect(r.trace).toContain('copyOutResponse');
    expect(r.data).toMatch(/^90,/);
    expect(r.data).not.toContain(UNPUNCTUATED_CPF);
  });

  it('CSV with ESCAPE \'\\\': a field ending in a backslash makes the row "unsplittable" and it is masked by content only', async () => {
    // The server writes `90,1878017543,",a\\"`: inside quotes the escape character doubles itself.
    // quotedField() only knows escape + quote, reads `\"` as an escaped quote, finds the field
    // unterminated, and maskRow() falls back to masking the whole line by content.
    const sql = "COPY (SELECT id, cpf, ',a\\' AS z FROM customers WHERE id = 90) TO STDOUT (FORMAT csv, ESCAPE '\\')";
    const r = await copyQuery(sql);
    expect(r.trace).toContain('copyOutResponse');
    expect(r.data).toMatch(/^90,/);
    expect([r.data.includes(UNPUNCTUATED_CPF), (recordOf(sql)?.result?.sample ?? '').includes(UNPUNCTUATED_CPF)]).toEqual([false, false]);
  });

  it('COPY ... (ENCODING \'SJIS\'): the server writes SJIS, the sidecar splits it as UTF-8 (an SJIS trail byte 0x5C escapes the delimiter)', async () => {
    // '表' is 0x95 0x5C in SJIS: the server writes `90\t\x95\x5C\t1878017543`, the trail byte
    // unescaped (it is part of a character). The sidecar reads the 0x5C as a backslash escaping
    // the tab, sees two fields, and masks `1878017543` as part of column x (content only).
    // Fixed: refused before it runs (ENCODING other than UTF8), every spelling of the option.
    const sql = "COPY (SELECT id, '表' AS x, cpf FROM customers WHERE id = 90) TO STDOUT (ENCODING 'SJIS')";
    const r = await copyQuery(sql);
    expect(r.trace).toEqual(['E:0A000', 'Z:I']);
    expect(r.errors[0]).toMatch(/ENCODING 'SJIS'/);
    expect([r.data.includes(UNPUNCTUATED_CPF), (recordOf(sql)?.result?.sample ?? '').includes(UNPUNCTUATED_CPF)]).toEqual([false, false]);
    for (const spelling of [
      "COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT WITH (FORMAT csv, encoding 'big5')",
      'COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT (ENCODING gbk)',
      "COPY customers TO STDOUT WITH ENCODING 'SJIS'",
      "COPY customers (id, cpf) TO STDOUT ENCODING 'UHC'",
    ]) {
      const other = await copyQuery(spelling);
      expect([spelling, other.trace]).toEqual([spelling, ['E:0A000', 'Z:I']]);
    }
  });

  it('control: the same export in UTF-8 is masked', async () => {
    const r = await copyQuery("COPY (SELECT id, '表' AS x, cpf FROM customers WHERE id = 90) TO STDOUT");
    expect(r.data).toMatch(/^90\t/);
    expect(r.data).not.toContain(UNPUNCTUATED_CPF);
  });

  it('COPY ... (ENCODING \'SJIS\'): a formatted CPF right after such a character is read as an octal escape and passes content masking', async () => {
    // A note (an undeclared column: content masking is what protects it) starting with a CPF. In
    // SJIS `表529.982.247-25` is `\x95\x5C529.982.247-25`: the sidecar unescapes `\529` as one
    // character, the detector sees `ŕ.982.247-25`, nothing is masked, and the row goes as the
    // server wrote it.
    const sql = "COPY (SELECT id, '表' || notes FROM customers WHERE id = 95) TO STDOUT (ENCODING 'SJIS')";
    const r = await copyQuery(sql);
    expect(r.trace).toEqual(['E:0A000', 'Z:I']);
    expect([r.data.includes(NOTE_CPF), (recordOf(sql)?.result?.sample ?? '').includes(NOTE_CPF)]).toEqual([false, false]);
    // Through the extended protocol too.
    const c = await raw();
    c.send(Buffer.concat([serialize.parse({ text: sql }), serialize.bind({}), serialize.execute({}), serialize.sync()]));
    await c.readyCount(1, 15_000);
    expect(c.trace()).toEqual(['E:0A000', 'Z:I']);
    // UTF8 and SQL_ASCII (no conversion) are written as the database's UTF-8: allowed, masked.
    for (const encoding of ['UTF8', 'utf-8', 'SQL_ASCII']) {
      const ok = await copyQuery(`COPY (SELECT id, '表' || notes FROM customers WHERE id = 95) TO STDOUT (ENCODING '${encoding}')`);
      expect(ok.data).toMatch(/^95\t/);
      expect(ok.data).not.toContain(NOTE_CPF);
    }
  });

  it('control: the same value as a result row, and as a UTF-8 COPY, is masked (a letter of another script glued to a formatted CPF is no boundary)', async () => {
    const c = await raw();
    c.send(serialize.query("SELECT id, '表' || notes AS n FROM customers WHERE id = 95"));
    await c.readyCount(1, 15_000);
    const cells = c.messages.filter((m) => m.name === 'dataRow').map((m) => (m as BackendMessage & { fields: string[] }).fields.join('|'));
    expect(cells).toHaveLength(1);
    expect(cells[0]).not.toContain(NOTE_CPF);
    const utf8 = await copyQuery("COPY (SELECT id, '表' || notes FROM customers WHERE id = 95) TO STDOUT");
    expect(utf8.data).toMatch(/^95\t/);
    expect(utf8.data).not.toContain(NOTE_CPF);
  });

  it('a simple-Query COPY sent while an extended batch is unsynced is not described: masked by content only', async () => {
    // onQuery() describes the COPY's source (for its column names) only when no extended batch is
    // open (`!this.s.unsynced`); otherwise the plan has no columns and every field is masked by
    // content only. The server runs a Query between a Parse and its Sync like any other.
    // Fixed: refused before it runs (send Sync first, or list the columns).
    const sql = 'COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT';
    const c = await raw();
    c.send(serialize.parse({ name: 'r9_open', text: 'SELECT 1' }));
    c.send(serialize.query(sql));
    await c.readyCount(1, 15_000);
    c.send(serialize.sync());
    await c.readyCount(2, 15_000);
    expect(c.trace()).not.toContain('copyOutResponse');
    expect(c.trace()).toContain('E:0A000');
    expect(errors(c).join('\n')).toMatch(/send Sync before the COPY|not yet synced/);
    expect([copyOut(c).includes(UNPUNCTUATED_CPF), (recordOf(sql)?.result?.sample ?? '').includes(UNPUNCTUATED_CPF)]).toEqual([false, false]);
    // After the Sync the same COPY is described and masked by the cpf name.
    c.send(serialize.query(sql));
    await c.readyCount(3, 15_000);
    expect(copyOut(c)).toMatch(/^90\t/);
    expect(copyOut(c)).not.toContain(UNPUNCTUATED_CPF);
  });

  it('a simple-Query COPY sent inside an aborted transaction, behind its ROLLBACK, is not described: masked by content only', async () => {
    // The sidecar describes the COPY's source in a batch of its own before the Query; in an aborted
    // transaction that Parse fails (25P02), the plan keeps no columns, and the Query then rolls back
    // and runs the COPY, masked by content only.
    // Fixed: a COPY after other statements of its Query is refused before it runs; alone in an
    // aborted transaction its description fails and it is refused when it starts (it fails there anyway).
    const sql = 'ROLLBACK; COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT';
    const c = await raw();
    c.send(serialize.query('BEGIN; SELECT 1/0'));
    await c.readyCount(1, 15_000);
    c.send(serialize.query(sql));
    await c.readyCount(2, 15_000);
    expect(c.trace()).not.toContain('copyOutResponse');
    expect(errors(c).at(-1)).toMatch(/after other statements of the same query/);
    expect([copyOut(c).includes(UNPUNCTUATED_CPF), (recordOf(sql)?.result?.sample ?? '').includes(UNPUNCTUATED_CPF)]).toEqual([false, false]);
    c.send(serialize.query('COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT'));
    await c.readyCount(3, 15_000);
    expect(c.trace()).not.toContain('copyOutResponse');
    c.send(serialize.query('ROLLBACK'));
    await c.readyCount(4, 15_000);
    c.send(serialize.query('COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT'));
    await c.readyCount(5, 15_000);
    expect(copyOut(c)).toMatch(/^90\t/);
    expect(copyOut(c)).not.toContain(UNPUNCTUATED_CPF);
  });

  it('a table with a generated column: COPY leaves it out, the description (SELECT *) does not, and the columns shift', async () => {
    // PostgreSQL: "If no column list is specified, all columns of the table except generated
    // columns will be copied". The sidecar names COPY fields by `SELECT * FROM rel`, so every field
    // after a generated column is masked under the previous column's name: the server writes
    // id, nome, cpf; the sidecar reads id, nome, nome_busca (no name rule: content only).
    // Fixed: the server's CopyOutResponse says 3 columns, 4 were described: refused before any row,
    // naming the fix (list the columns), which is then described exactly and masked by name.
    const sql = 'COPY clientes_r9 TO STDOUT';
    const r = await copyQuery(sql);
    expect(r.trace).toEqual(['E:0A000', 'Z:I']);
    expect(r.errors[0]).toMatch(/generated columns/);
    expect([r.data.includes(UNPUNCTUATED_CPF), (recordOf(sql)?.result?.sample ?? '').includes(UNPUNCTUATED_CPF)]).toEqual([false, false]);
    const listed = await copyQuery('COPY clientes_r9 (id, nome, cpf) TO STDOUT (FORMAT csv, HEADER)');
    expect(listed.data).toMatch(/^id,nome,cpf\n90,/);
    expect(listed.data).not.toContain(UNPUNCTUATED_CPF);
  });

  it('control: the same table through SELECT is masked by the cpf column name', async () => {
    const c = await raw();
    c.send(serialize.query('SELECT * FROM clientes_r9'));
    await c.readyCount(1, 15_000);
    const cells = c.messages.filter((m) => m.name === 'dataRow').map((m) => (m as BackendMessage & { fields: string[] }).fields.join('|'));
    expect(cells).toHaveLength(1);
    expect(cells[0]).not.toContain(UNPUNCTUATED_CPF);
  });
});

describe('the fix, as a class: COPY output split exactly as PostgreSQL writes it, or refused', () => {
  /** Values PostgreSQL escapes or quotes in every format, each in a row with customer 90's cpf. */
  const VALUES = [',a\\', '"q"', 'a;b', "it's", 'tab\there', 'nl\nx', 'cr\rx', 'back\\slash', '', 'NULL', '\\.', 'ctl\u0001x', '|pipe|', 'esc!!'];
  const literal = (v: string): string => `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  const valuesSql = `(VALUES ${VALUES.map((v, i) => `(${i}, ${literal(v)})`).join(', ')}) AS x(o, v)`;
  const base: CopyPlan = { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N', header: false, statement: 0 };

  it.each([
    ['text', '', base],
    ['text, DELIMITER |', "(DELIMITER '|')", { ...base, delimiter: '|' }],
    ['csv', '(FORMAT csv)', { ...base, format: 'csv', delimiter: ',', nullString: '' }],
    ['csv, ESCAPE \\, FORCE_QUOTE *', "(FORMAT csv, ESCAPE '\\', FORCE_QUOTE *)", { ...base, format: 'csv', delimiter: ',', escape: '\\', nullString: '' }],
    ["csv, QUOTE ', ESCAPE !, DELIMITER ;", "(FORMAT csv, QUOTE '''', ESCAPE '!', DELIMITER ';')", { ...base, format: 'csv', delimiter: ';', quote: "'", escape: '!', nullString: '' }],
    ['csv, NULL NULL, FORCE_QUOTE (v)', "(FORMAT csv, NULL 'NULL', FORCE_QUOTE (v))", { ...base, format: 'csv', delimiter: ',', nullString: 'NULL' }],
  ] as Array<[string, string, CopyPlan]>)('%s: every row splits into its 3 columns, cpf masked by name, the other values as the server wrote them', async (_name, options, plan) => {
    const r = await copyQuery(`COPY (SELECT id, cpf, x.v FROM customers, ${valuesSql} WHERE id = 90 ORDER BY x.o) TO STDOUT ${options}`);
    expect(r.errors).toEqual([]);
    expect(r.data).not.toContain(UNPUNCTUATED_CPF);
    const rows = Buffer.from(r.data, 'latin1').toString('utf8').split(/\n(?=90[,;|\t]|"90"|$)/).filter((l) => l !== '');
    expect(rows).toHaveLength(VALUES.length);
    rows.forEach((line, i) => {
      const fields = plan.format === 'csv' ? csvFields(line, plan) : textFields(line, plan);
      expect(fields.map((f) => f.value)).toEqual(['90', expect.not.stringContaining(UNPUNCTUATED_CPF) as unknown as string, VALUES[i]]);
    });
  });

  it('HEADER (text and csv): the header names the columns the COPY writes; a column list is the description', async () => {
    for (const options of ['(HEADER)', '(FORMAT csv, HEADER)']) {
      const r = await copyQuery(`COPY customers (id, cpf) TO STDOUT ${options}`);
      expect(r.errors).toEqual([]);
      expect(r.data).toMatch(/^id.cpf\n/);
      expect(r.data).not.toContain(UNPUNCTUATED_CPF);
    }
  });

  it('a NULL string a value is written as, and that the masking changes, is refused; \\N and CSV NULL strings are not', async () => {
    const guess = await copyQuery(`COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT (NULL '${UNPUNCTUATED_CPF}')`);
    expect(guess.trace).toEqual(['E:0A000', 'Z:I']);
    expect(guess.data).not.toContain(UNPUNCTUATED_CPF);
    const csv = await copyQuery(`COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT (FORMAT csv, NULL '${UNPUNCTUATED_CPF}')`);
    expect(csv.errors).toEqual([]);
    expect(csv.data).toMatch(/^90,"/);
    expect(csv.data).not.toContain(UNPUNCTUATED_CPF);
  });

  it('extended protocol: a COPY without a column list is refused at Parse; with one it is masked by the listed names', async () => {
    const c = await raw();
    c.send(Buffer.concat([serialize.parse({ text: 'COPY (SELECT id, cpf FROM customers WHERE id = 90) TO STDOUT' }), serialize.bind({}), serialize.execute({}), serialize.sync()]));
    await c.readyCount(1, 15_000);
    expect(c.trace()).toEqual(['E:0A000', 'Z:I']);
    c.send(Buffer.concat([serialize.parse({ text: 'COPY customers (id, cpf) TO STDOUT' }), serialize.bind({}), serialize.execute({}), serialize.sync()]));
    await c.readyCount(2, 15_000);
    expect(c.trace()).toContain('copyOutResponse');
    expect(copyOut(c)).not.toContain(UNPUNCTUATED_CPF);
  });

  it('an Execute of a prepared COPY after an Execute that switched client_encoding in the same batch: probed first, the session ends', async () => {
    const c = await raw();
    // Prepared in an earlier batch: the next batch runs it with Bind and Execute only (no Parse, which is probed anyway).
    c.send(Buffer.concat([serialize.parse({ name: 'r9_copy_list', text: 'COPY customers (id, cpf) TO STDOUT' }), serialize.sync()]));
    await c.readyCount(1, 15_000);
    c.send(Buffer.concat([
      serialize.parse({ text: 'SELECT r9_sjis()' }), serialize.bind({}), serialize.execute({}),
      serialize.bind({ portal: 'r9_p2', statement: 'r9_copy_list' }), serialize.execute({ portal: 'r9_p2' }), serialize.sync(),
    ]));
    await c.until(() => c.closed, 15_000);
    expect(c.trace()).toContain('E:42501');
    expect(c.trace()).not.toContain('copyData');
  });

  it('a COPY whose own query switches client_encoding still writes UTF-8 (COPY fixes its encoding when it starts), masked; the session then ends', async () => {
    const c = await raw();
    c.send(serialize.query("COPY (SELECT r9_sjis() AS f, id, '表' AS x, cpf FROM customers WHERE id = 90) TO STDOUT"));
    await c.until(() => c.closed, 15_000);
    expect(Buffer.from(copyOut(c), 'latin1').toString('utf8')).toMatch(/^1\t90\t表\t/);
    expect(copyOut(c)).not.toContain(UNPUNCTUATED_CPF);
    expect(c.trace().at(-1)).toBe('E:42501');
  });

  it('a COPY ... TO STDOUT the statement does not show (run by a function): the server refuses it (the sidecar would refuse its CopyOutResponse: no plan)', async () => {
    const r = await copyQuery('SELECT r9_copy()');
    expect(r.errors).toEqual(['cannot COPY to/from client in an SQL function']);
    expect(r.data).not.toContain(UNPUNCTUATED_CPF);
    expect(r.trace).not.toContain('copyData');
  });
});

describe('held (controls for the report): paths that stayed masked or refused', () => {
  const cellsOf = (c: RawClient): string[] => c.messages.filter((m) => m.name === 'dataRow').map((m) => (m as BackendMessage & { fields: Array<string | null> }).fields.join('|'));

  it('Execute with a row limit, then another Execute of the suspended portal: both runs masked by the cpf name', async () => {
    const c = await raw();
    c.send(Buffer.concat([
      serialize.parse({ name: 'r9_lim', text: 'SELECT id, cpf FROM customers WHERE id IN (1, 90) ORDER BY id DESC' }),
      serialize.bind({ portal: 'r9_p', statement: 'r9_lim' }),
      serialize.execute({ portal: 'r9_p', rows: 1 }),
      serialize.execute({ portal: 'r9_p', rows: 1 }),
      serialize.sync(),
    ]));
    await c.readyCount(1, 15_000);
    expect(c.trace().filter((t) => t === 'portalSuspended').length).toBeGreaterThanOrEqual(1);
    const cells = cellsOf(c);
    expect(cells).toHaveLength(2);
    expect(cells.join('\n')).not.toContain(UNPUNCTUATED_CPF);
    expect(cells.join('\n')).not.toContain('590.830.166-33');
  });

  it('binary result format for the text cpf column is masked', async () => {
    const c = await raw();
    c.send(Buffer.concat([
      serialize.parse({ name: 'r9_bin', text: 'SELECT cpf FROM customers WHERE id = 90' }),
      serialize.bind({ statement: 'r9_bin', binary: true }),
      serialize.execute({}),
      serialize.sync(),
    ]));
    await c.readyCount(1, 15_000);
    const cells = c.messages.filter((m) => m.name === 'dataRow');
    expect(cells).toHaveLength(1);
    expect(JSON.stringify(cells)).not.toContain(UNPUNCTUATED_CPF);
  });

  it('a replication=database startup is refused before anything reaches the server', async () => {
    const c = new RawClient(s.port);
    open.push(c);
    c.send(serialize.startup({ user: 'agent', database: s.database, replication: 'database', options: PURPOSE_OPTIONS }));
    await c.until(() => c.closed || c.messages.some((m) => m.name === 'error'), 10_000);
    expect(c.trace()).toContain('E:42501');
  });
});
