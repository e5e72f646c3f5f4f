// Issue 18 item 13, follow-up: the sensitive-column guard resolves `*`, `ORDER BY 2` and column
// aliases (`AS t(a, b)`) with the column lists spec.sensitiveColumns.relations declares. The REAL
// sidecar process in front of the harness PostgreSQL (examples/lgpd-orders seed and policy)
// compares those declarations with the database's catalog on every new upstream session and
// refuses the session when the database contradicts them. Before, after the table was recreated
// with cpf second, `SELECT md5(t.b) FROM customers AS t(a, b)` passed as md5 of nome and returned
// md5 of every CPF (10^9 candidates: each one recovered).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import pg from 'pg';
import { runCommand } from '../../e2e/harness/exec.ts';
import { psql as adminPsql, requirePostgres } from '../../e2e/harness/state.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(90_000);

let s: PgScenario;
let support: string;
const SEEDED = ['id', 'nome', 'cpf', 'cnpj', 'email', 'telefone', 'dt_nasc', 'notes'];
const RAW_CPF = '590.830.166-33';
const LEAK = 'SELECT md5(t.b) FROM customers AS t(a, b) WHERE t.a = 1';

beforeAll(async () => {
  // No operator: held statements stay Pending and the sidecar answers once its short wait ends.
  s = await startPgScenario({ approvalWait: '1s' });
  support = await s.token('support-agent');
}, 180_000);

afterAll(async () => {
  await s?.stop();
}, 60_000);

/** As the database's administrator, straight to PostgreSQL (not through the sidecar). */
async function admin(sql: string): Promise<string> {
  const r = await adminPsql(['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { user: 'guarita_admin', database: s.database });
  if (r.code !== 0) throw new Error(`admin psql: ${r.stderr}`);
  return r.stdout.trim();
}

/** As the sidecar's own database role, straight to PostgreSQL: what the statement returns without Guarita. */
async function direct(sql: string): Promise<string> {
  const r = await runCommand(join(requirePostgres().binDir, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: s.directEnv(), timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`direct psql: ${r.stderr}`);
  return r.stdout.trim();
}

/** A node-pg session through the sidecar: the client, or the error that refused it. */
async function nodePgSession(): Promise<{ client?: pg.Client; error?: Error & { code?: string } }> {
  const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: support, database: s.database, options: PURPOSE_OPTIONS });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return { client: c };
  } catch (err) {
    await c.end().catch(() => undefined);
    return { error: err as Error & { code?: string } };
  }
}

async function declareCustomers(columns: string[]): Promise<void> {
  await s.applyPolicy((spec) => {
    const sc = spec.sensitiveColumns as { relations: { name: string; columns: string[] }[] };
    sc.relations = sc.relations.map((r) => (r.name === 'public.customers' ? { ...r, columns } : r));
  });
}

/** Waits until a new session opens (the sidecar took the updated policy); closes it. */
async function sessionOpens(): Promise<void> {
  await eventually('a session through the sidecar opens', async () => {
    const r = await nodePgSession();
    await r.client?.end();
    return r.client === undefined ? undefined : true;
  }, 30_000);
}

describe('the catalog must be what spec.sensitiveColumns declares', () => {
  it('the example policy works on the seeded database', async () => {
    const r = await s.psql(support, ['-At', '-c', 'SELECT * FROM customers WHERE id = 1']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('***.***.***-33');
    expect(r.stdout).not.toContain(RAW_CPF);
  });

  it('after ALTER TABLE customers ADD COLUMN x text, a new session is refused naming the table, both column lists and the fix', async () => {
    await admin('ALTER TABLE customers ADD COLUMN x text');
    const r = await s.psql(support, ['-At', '-c', 'SELECT 1'], { onErrorStop: false });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('public.customers');
    expect(r.stderr).toContain(`the database has [${[...SEEDED, 'x'].join(', ')}]`);
    expect(r.stderr).toContain('not declared: x');
    expect(r.stderr).toContain('update spec.sensitiveColumns.relations[0].columns');
    const n = await nodePgSession();
    expect(n.client).toBeUndefined();
    expect(n.error?.code).toBe('42501');
    expect(s.sidecarLog(200)).toContain('catalog contradicts spec.sensitiveColumns');
  });

  it('after the policy declares the new column, sessions open again', async () => {
    await declareCustomers([...SEEDED, 'x']);
    await sessionOpens();
    const r = await s.psql(support, ['-At', '-c', 'SELECT id, x FROM customers WHERE id = 1']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1|');
  });

  it('a table recreated with cpf second: AS t(a, b) and ORDER BY 2 would reach cpf as "nome"; the session is refused instead', async () => {
    await admin([
      'BEGIN',
      'CREATE TABLE customers_new (id integer PRIMARY KEY, cpf text NOT NULL UNIQUE, nome text NOT NULL, cnpj text, email text NOT NULL, telefone text NOT NULL, dt_nasc date NOT NULL, notes text, x text)',
      'INSERT INTO customers_new SELECT id, cpf, nome, cnpj, email, telefone, dt_nasc, notes, x FROM customers',
      'DROP TABLE customers CASCADE',
      'ALTER TABLE customers_new RENAME TO customers',
      'GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO orders_app',
      'COMMIT',
    ].join('; '));
    // Without Guarita the statement returns md5 of the CPF: what the guard, trusting the stale list, would have let through.
    const leaked = await direct(LEAK);
    expect(leaked).toBe(await direct("SELECT md5('590.830.166-33')"));
    const r = await s.psql(support, ['-At', '-c', LEAK], { onErrorStop: false });
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain(leaked);
    expect(r.stderr).toContain('same columns in another order');
    expect(r.stderr).toContain('[id, cpf, nome, cnpj, email, telefone, dt_nasc, notes, x]');
    const o = await s.psql(support, ['-At', '-c', 'SELECT * FROM customers ORDER BY 2'], { onErrorStop: false });
    expect(o.code).not.toBe(0);
    expect(o.stdout).toBe('');
  });

  it('once the policy states the new order, the guard holds both statements for the DPO (cpf is what they use)', async () => {
    await declareCustomers(['id', 'cpf', 'nome', 'cnpj', 'email', 'telefone', 'dt_nasc', 'notes', 'x']);
    await sessionOpens();
    for (const sql of [LEAK, 'SELECT * FROM customers ORDER BY 2']) {
      const r = await s.psql(support, ['-At', '-c', sql], { onErrorStop: false });
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/ApprovalRequest/);
    }
  });

  it('an undeclared table with a cpf column refuses sessions until the policy lists it', async () => {
    await admin('CREATE TABLE leads (id integer, "CPF" text); GRANT SELECT ON leads TO orders_app');
    const r = await s.psql(support, ['-At', '-c', 'SELECT * FROM leads ORDER BY 2'], { onErrorStop: false });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('public.leads has a column CPF named like a personal column');
    expect(r.stderr).toContain('add {name: public.leads, columns: [id, CPF]} to spec.sensitiveColumns.relations');
    await admin('DROP TABLE leads');
    await sessionOpens();
  });

  it('an undeclared view renaming cpf refuses sessions; declared with its definition, it is followed', async () => {
    await admin('CREATE VIEW contatos AS SELECT c.id, c.cpf AS documento FROM customers c; GRANT SELECT ON contatos TO orders_app');
    const r = await s.psql(support, ['-At', '-c', 'SELECT md5(documento) FROM contatos'], { onErrorStop: false });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('a view public.contatos reads public.customers');
    expect(r.stderr).toContain('spec.sensitiveColumns.views');
    const definition = await admin("SELECT pg_get_viewdef('contatos'::regclass)");
    await s.applyPolicy((spec) => {
      const sc = spec.sensitiveColumns as Record<string, unknown> & { relations: { name: string; columns: string[] }[] };
      sc.relations = sc.relations.map((x) => (x.name === 'public.customers' ? { ...x, columns: ['id', 'cpf', 'nome', 'cnpj', 'email', 'telefone', 'dt_nasc', 'notes', 'x'] } : x));
      sc.views = [{ name: 'public.contatos', query: definition }];
    });
    await sessionOpens();
    const held = await s.psql(support, ['-At', '-c', 'SELECT md5(documento) FROM contatos'], { onErrorStop: false });
    expect(held.code).not.toBe(0);
    expect(held.stderr).toMatch(/ApprovalRequest/);
  });

  it('a session opened under checked declarations ends when the policy changes them (the new ones were never compared with its database)', async () => {
    const open = await nodePgSession();
    expect(open.error).toBeUndefined();
    const c = open.client as pg.Client;
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    // Back to the seeded column order, which the database no longer has.
    await s.applyPolicy((spec) => {
      const sc = spec.sensitiveColumns as Record<string, unknown>;
      sc.views = [{ name: 'public.contatos', query: 'SELECT c.id, c.cpf AS documento FROM customers c' }];
    });
    const ended = await eventually('the open session is ended', async () => {
      try {
        await c.query('SELECT 1');
        return undefined;
      } catch (err) {
        return err as Error & { code?: string };
      }
    }, 30_000);
    await c.end().catch(() => undefined);
    expect(ended.code).toBe('57P01');
    expect(ended.message).toContain('spec.sensitiveColumns changed');
    const again = await s.psql(support, ['-At', '-c', 'SELECT 1'], { onErrorStop: false });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('spec.sensitiveColumns.relations[0].columns');
  });
});
