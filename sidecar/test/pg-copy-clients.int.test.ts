// Real clients and real bytes against the round 9 COPY ... TO STDOUT handling (copy-format.ts,
// copy-refusal.ts): psql's \copy and COPY, pg_dump --data-only, node-pg, and adversarial values
// compared byte for byte with what the same client gets straight from PostgreSQL.
//
// The REAL sidecar process in front of the harness PostgreSQL, under the example policy with
// COPY ... TO STDOUT allowed outright (as pg-round9-attacks.int.test.ts does) and without
// sensitiveColumns. Each case must either work (masked) or be refused with a clear message.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import pg from 'pg';
import { runCommand, type CommandResult } from '../../e2e/harness/exec.ts';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(180_000);

let s: PgScenario;
let token: string;

/** Seed customer 1's CPF (the cpf column), e-mail and phone. */
const CPF1 = '590.830.166-33';
const EMAIL1 = 'larissa.oliveira1@exemplo.com.br';
/** Customer 90's CPF (018.780.175-43) stored without its leading zero and punctuation: only the `cpf` column name masks it (as in pg-round9-attacks). No 9, 2, 6 or * in it. */
const UNPUNCTUATED_CPF = '1878017543';
/** A valid CPF, for notes (masked by content). */
const NOTE_CPF = '529.982.247-25';

/** Adversarial notes (customers 200..): none holds anything the masking changes, so sidecar and direct must match byte for byte. */
const ADVERSARIAL: Record<number, string | null> = {
  200: null,
  201: '',
  202: '\\N',
  203: 'a\\Nb',
  204: 'NULL',
  205: 'line1\r\nline2\rline3\nline4',
  206: '\\.',
  207: 'tab\there, back\\slash, "double" and \'single\' quotes',
  208: 'ação, coração, São Paulo — ünïcödé 😀🇧🇷',
  209: ',;|"\'\\',
  210: '\b\f\v\u0001\u007f',
  211: '  leading and trailing spaces  ',
  212: '\\.\n\\.',
  213: '"',
  214: '\\',
};

/** Notes with a CPF split by escapes and separators: the masking must change the CPF and nothing else. */
const CPF_NOTES: Record<number, string> = {
  300: `${NOTE_CPF}\tdepois de um tab`,
  301: `antes\\${NOTE_CPF}\\depois`,
  302: `"${NOTE_CPF}"`,
  303: `linha\n${NOTE_CPF}\r\nfim`,
  304: `x,${NOTE_CPF},y`,
};

function sqlLiteral(v: string | null): string {
  return v === null ? 'NULL' : `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\t/g, '\\t')
    .replaceAll('\u0008', '\\b').replace(/\f/g, '\\f').replace(/\v/g, '\\x0b').replaceAll('\u0001', '\\x01').replace(/\u007f/g, '\\x7f')}'`;
}

async function admin<T>(f: (c: pg.Client) => Promise<T>): Promise<T> {
  const pgs = requirePostgres();
  const c = new pg.Client({ host: pgs.host, port: pgs.port, user: 'orders_app', password: pgs.passwords.orders_app, database: s.database });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  s = await startPgScenario({
    logLevel: 'warn',
    spec: (spec) => {
      (spec.rules as unknown[]).unshift({ name: 'exports-approved', description: 'copy clients: exports the DPO approved', match: { sql: { traits: ['copyExport'] } }, action: 'allow' });
      delete spec.sensitiveColumns;
    },
  });
  token = await s.token('support-agent');
  await admin(async (c) => {
    const rows = [...Object.entries(ADVERSARIAL), ...Object.entries(CPF_NOTES)].map(([id, v]) =>
      `(${id}, 'Cliente ${id}', 'cpf-${id}', 'c${id}@x', '0', '1990-01-01', ${sqlLiteral(v)})`);
    await c.query(`INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc, notes) VALUES ${rows.join(', ')}`);
    await c.query(`INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) VALUES (90, 'Rafael Costa', '${UNPUNCTUATED_CPF}', 'r@x', '0', '1993-09-17')`);
    // Check the literals round-trip.
    const back = await c.query<{ id: number; notes: string | null }>('SELECT id, notes FROM customers WHERE id >= 200 AND id < 300 ORDER BY id');
    for (const r of back.rows) expect(r.notes).toBe(ADVERSARIAL[r.id]);
  });
}, 240_000);

afterAll(async () => {
  await s?.stop();
}, 60_000);

const pgBin = (tool: string): string => join(requirePostgres().binDir, tool);

/** psql through the sidecar, `-c` per command. */
function viaSidecar(...commands: string[]): Promise<CommandResult> {
  return s.psql(token, commands.flatMap((c) => ['-c', c]), { onErrorStop: false });
}

/** psql straight to PostgreSQL as orders_app. */
function direct(...commands: string[]): Promise<CommandResult> {
  return runCommand(pgBin('psql'), ['-X', ...commands.flatMap((c) => ['-c', c])], { env: s.directEnv(), timeoutMs: 60_000 });
}

/** Both, the sidecar's must have worked. */
async function both(command: string): Promise<{ side: CommandResult; dir: CommandResult }> {
  const [side, dir] = [await viaSidecar(command), await direct(command)];
  expect(dir.stderr).toBe('');
  expect(dir.code).toBe(0);
  return { side, dir };
}

describe('psql \\copy and COPY through the sidecar: masked, or refused with a clear message', () => {
  it('\\copy (query) to stdout (text) works and masks the cpf and email columns', async () => {
    const r = await viaSidecar('\\copy (SELECT id, nome, cpf, email FROM customers WHERE id <= 3 ORDER BY id) to stdout');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^1\tLarissa Oliveira\t/);
    expect(r.stdout).not.toContain(CPF1);
    expect(r.stdout).not.toContain(EMAIL1);
  });

  it('\\copy table to stdout (text) works and masks', async () => {
    const r = await viaSidecar('\\copy customers to stdout');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l !== '').length).toBeGreaterThan(20);
    expect(r.stdout).toContain('Larissa Oliveira');
    expect(r.stdout).not.toContain(CPF1);
    expect(r.stdout).not.toContain(EMAIL1);
  });

  it('\\copy table to stdout with (format csv, header) works: the header is the table\'s columns', async () => {
    const r = await viaSidecar('\\copy customers to stdout with (format csv, header)');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('id,nome,cpf,cnpj,email,telefone,dt_nasc,notes');
    expect(r.stdout).not.toContain(CPF1);
  });

  it('\\copy table to stdout csv header (the old option syntax) works', async () => {
    const r = await viaSidecar('\\copy customers to stdout csv header');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('id,nome,cpf,cnpj,email,telefone,dt_nasc,notes');
    expect(r.stdout).not.toContain(CPF1);
  });

  it('\\copy (query) to stdout with (format binary) is refused with 0A000 and a message naming binary COPY', async () => {
    const r = await viaSidecar('\\copy (SELECT id, cpf FROM customers WHERE id = 1) to stdout with (format binary)');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/binary/i);
    expect(r.stdout).not.toContain(CPF1);
  });

  it('COPY ... TO STDOUT WITH (FORMAT csv, HEADER, FORCE_QUOTE *) works: every value quoted, masked ones too', async () => {
    const r = await viaSidecar('COPY (SELECT id, nome, cpf, notes FROM customers WHERE id IN (1, 200, 201) ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER, FORCE_QUOTE *)');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('id,nome,cpf,notes');
    expect(lines[1]).toMatch(/^"1","Larissa Oliveira","[^"]+",$/);
    // The cpf column is masked by its name whatever it holds; the mask is quoted as the value was.
    expect(lines[2]).toMatch(/^"200","Cliente 200","[^"]+",$/);
    expect(lines[2]).not.toContain('cpf-200');
    expect(lines[3]).toMatch(/^"201","Cliente 201","[^"]+",""$/);
    expect(r.stdout).not.toContain(CPF1);
  });

  it('a COPY with a custom DELIMITER, NULL and QUOTE/ESCAPE works', async () => {
    const sql = "COPY (SELECT id, notes FROM customers WHERE id BETWEEN 200 AND 214 ORDER BY id) TO STDOUT WITH (FORMAT csv, DELIMITER ';', NULL '<null>', QUOTE '''', ESCAPE '\\')";
    const { side, dir } = await both(sql);
    expect(side.stderr).toBe('');
    expect(side.stdout).toBe(dir.stdout);
  });
});

describe('byte-exactness: the sidecar\'s COPY output is PostgreSQL\'s, modulo masking', () => {
  const ids = 'id BETWEEN 200 AND 214';
  for (const [name, opts] of [
    ['text', ''],
    ['text, NULL \'\'', "WITH (NULL '')"],
    ['text, DELIMITER \'|\'', "WITH (DELIMITER '|')"],
    ['text, HEADER', 'WITH (HEADER)'],
    ['csv', 'WITH (FORMAT csv)'],
    ['csv, HEADER, FORCE_QUOTE *', 'WITH (FORMAT csv, HEADER, FORCE_QUOTE *)'],
    ['csv, NULL \'\\N\'', "WITH (FORMAT csv, NULL '\\N')"],
    ['csv, NULL \'NULL\'', "WITH (FORMAT csv, NULL 'NULL')"],
  ] as const) {
    it(`adversarial notes, ${name}: identical bytes`, async () => {
      const { side, dir } = await both(`COPY (SELECT id, notes FROM customers WHERE ${ids} ORDER BY id) TO STDOUT ${opts}`);
      expect(side.stderr).toBe('');
      expect(side.code).toBe(0);
      expect(side.stdout).toBe(dir.stdout);
    });
  }

  it('single-column CSV with `\\.` and an empty value: identical bytes', async () => {
    const { side, dir } = await both(`COPY (SELECT notes FROM customers WHERE ${ids} ORDER BY id) TO STDOUT WITH (FORMAT csv)`);
    expect(side.stderr).toBe('');
    expect(side.stdout).toBe(dir.stdout);
  });

  it('\\copy table to stdout for the adversarial rows (all columns): identical bytes', async () => {
    const { side, dir } = await both(`\\copy (SELECT id, nome, cnpj, dt_nasc, notes FROM customers WHERE ${ids} ORDER BY id) to stdout`);
    expect(side.stderr).toBe('');
    expect(side.stdout).toBe(dir.stdout);
  });

  for (const [name, opts] of [['text', ''], ['csv', 'WITH (FORMAT csv)']] as const) {
    it(`notes with a CPF split by escapes, ${name}: the CPF is masked and the rest of each line is PostgreSQL's`, async () => {
      const { side, dir } = await both(`COPY (SELECT id, notes FROM customers WHERE id BETWEEN 300 AND 304 ORDER BY id) TO STDOUT ${opts}`);
      expect(side.stderr).toBe('');
      expect(side.code).toBe(0);
      expect(dir.stdout.split(NOTE_CPF).length).toBe(6);
      expect(side.stdout).not.toContain(NOTE_CPF);
      expect(side.stdout).not.toContain('52998224725');
      // What is around each CPF is unchanged.
      const pieces = dir.stdout.split(NOTE_CPF);
      let at = 0;
      for (const p of pieces) {
        const found = side.stdout.indexOf(p, at);
        expect(found).toBeGreaterThanOrEqual(at);
        at = found + p.length;
      }
    });
  }
});

describe('size: wide rows and many rows', () => {
  it('a 1 MB cell passes whole (text and csv)', async () => {
    for (const opts of ['', 'WITH (FORMAT csv)']) {
      const r = await viaSidecar(`COPY (SELECT 1 AS id, repeat('ab\\c', 262144) AS notes) TO STDOUT ${opts}`);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(1_000_000);
      const d = await direct(`COPY (SELECT 1 AS id, repeat('ab\\c', 262144) AS notes) TO STDOUT ${opts}`);
      expect(r.stdout).toBe(d.stdout);
    }
  });

  it('100k rows pass, identical to PostgreSQL\'s (no CPF in them)', async () => {
    const sql = "COPY (SELECT g AS id, 'nome ' || g AS nome, g % 7 = 0 AS flag FROM generate_series(1, 100000) g) TO STDOUT";
    const { side, dir } = await both(sql);
    expect(side.stderr).toBe('');
    expect(side.code).toBe(0);
    expect(side.stdout.length).toBe(dir.stdout.length);
    expect(side.stdout === dir.stdout).toBe(true);
  });

  it('100k rows stream: the first row reaches a node-pg client long before the last', async () => {
    // node-pg does not stream COPY out without pg-copy-streams (not installed): read CopyData from the socket.
    const { RawClient } = await import('./pg-raw-client.ts');
    const { serialize } = await import('pg-protocol');
    const c = new RawClient(s.port);
    try {
      await c.login({ token, database: s.database, options: PURPOSE_OPTIONS });
      const t0 = Date.now();
      c.send(serialize.query("COPY (SELECT g AS id, repeat('x', 200) AS nome FROM generate_series(1, 300000) g) TO STDOUT"));
      await c.until(() => c.closed || c.messages.some((m) => m.name === 'copyData'), 60_000);
      const first = Date.now() - t0;
      await c.until(() => c.closed || c.trace().includes('Z:I'), 120_000);
      const all = Date.now() - t0;
      expect(c.messages.filter((m) => m.name === 'copyData')).toHaveLength(300_000);
      expect(first).toBeLessThan(all / 2);
    } finally {
      c.close();
    }
  });
});

describe('other real clients', () => {
  it('pg_dump --data-only -t customers: refused by the example policy (deny-setting-changes) before any COPY, not by the COPY handling', async () => {
    // pg_dump starts with SELECT pg_catalog.set_config('search_path', '', false), which the example policy
    // denies (rule deny-setting-changes) whatever the COPY handling does. Recorded as what a real client meets.
    const r = await runCommand(pgBin('pg_dump'), ['--data-only', '-t', 'customers'], { env: s.libpqEnv(token), timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('deny-setting-changes');
    expect(r.stderr).toContain("set_config('search_path', '', false)");
    expect(r.stdout).not.toContain(CPF1);
  });

  it('pg_dump\'s own COPY statement (schema-qualified, full column list, lowercase stdout) works, masked', async () => {
    const sql = 'COPY public.customers (id, nome, cpf, cnpj, email, telefone, dt_nasc, notes) TO stdout;';
    const r = await viaSidecar(sql);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Larissa Oliveira');
    expect(r.stdout).not.toContain(CPF1);
    expect(r.stdout).not.toContain(EMAIL1);
    // The rows with no personal data are PostgreSQL's bytes outside the columns masked by name (cpf, email, telefone).
    const d = await direct(sql);
    const mine = (out: string): string[] => out.split('\n').filter((l) => /^2(0[0-9]|1[0-4])\t/.test(l)).map((l) => l.split('\t').filter((_, i) => ![2, 4, 5].includes(i)).join('\t'));
    expect(mine(r.stdout)).toEqual(mine(d.stdout));
    expect(mine(r.stdout)).toHaveLength(15);
  });

  it('node-pg: a simple-protocol COPY ... TO STDOUT (no pg-copy-streams) ends with a result, not a hang', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS });
    await c.connect();
    try {
      // node-pg without pg-copy-streams answers a CopyOut by ignoring the data; the query completes.
      const r = await Promise.race([c.query('COPY (SELECT id, cpf FROM customers WHERE id = 1) TO STDOUT').then(() => 'done', (e: Error) => `error: ${e.message}`), new Promise((res) => setTimeout(() => res('hang'), 15_000))]);
      expect(r).not.toBe('hang');
      const after = await c.query('SELECT 1 AS one');
      expect(after.rows).toEqual([{ one: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('node-pg: COPY through the extended protocol with a column list works or is refused clearly', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS });
    await c.connect();
    try {
      const r = await Promise.race([c.query({ text: 'COPY customers (id, nome) TO STDOUT', values: [] }).then(() => 'done', (e: Error) => `error: ${e.message}`), new Promise((res) => setTimeout(() => res('hang'), 15_000))]);
      expect(r).not.toBe('hang');
    } finally {
      await c.end().catch(() => undefined);
    }
  });
});

describe('COPY options PostgreSQL takes from a number or `*` (defGetString), the sidecar as absent', () => {
  // PostgreSQL's generic COPY option list takes NumericOnly and `*` as arguments, and defGetString
  // turns them into text: DELIMITER 9 is the delimiter "9", DELIMITER * the delimiter "*" (both
  // allowed in CSV). statements.ts optionValue() gives `true` for an Integer and undefined for
  // A_Star, and stringOption() then falls back to the default delimiter ",". The sidecar splits the
  // row on commas: a row of (x, cpf, y) with y = 'b,c,d' splits into three fields, and the CPF lands
  // under column x (masked by content only; the unpunctuated CPF passes).
  const select = `SELECT 'a' AS x, cpf, 'b,c,d' AS y FROM customers WHERE id = 90`;

  it('control: DELIMITER \'9\' (a string) is masked by the cpf column name', async () => {
    const r = await viaSidecar(`COPY (${select}) TO STDOUT (FORMAT csv, DELIMITER '9')`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^a9/);
    expect(r.stdout).not.toContain(UNPUNCTUATED_CPF);
  });

  it('PostgreSQL itself writes DELIMITER 9 and DELIMITER * as those delimiters (direct)', async () => {
    expect((await direct(`COPY (${select}) TO STDOUT (FORMAT csv, DELIMITER 9)`)).stdout).toBe(`a9${UNPUNCTUATED_CPF}9b,c,d\n`);
    expect((await direct(`COPY (${select}) TO STDOUT (FORMAT csv, DELIMITER *)`)).stdout).toBe(`a*${UNPUNCTUATED_CPF}*b,c,d\n`);
  });

  for (const spelling of ['9', '*']) {
    it(`DELIMITER ${spelling} (no quotes): the cpf column is masked by its name, or the COPY refused`, async () => {
      const r = await viaSidecar(`COPY (${select}) TO STDOUT (FORMAT csv, DELIMITER ${spelling})`);
      expect(r.stdout).not.toContain(UNPUNCTUATED_CPF);
    });
  }
});
