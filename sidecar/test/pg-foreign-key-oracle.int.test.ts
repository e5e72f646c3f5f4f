// A foreign key to a personal column is an existence oracle: `INSERT INTO refunds (customer_doc)
// VALUES ('<candidate CPF>')` fails with 23503 exactly when no customer has that CPF, so one allowed
// write per candidate tells which CPFs exist (a partial CPF seen masked narrows it to ~10^4-10^7
// candidates). The guard counts a write of a value as a use only for a declared personal column,
// so the REAL sidecar in front of the harness PostgreSQL (examples/lgpd-orders seed and policy)
// reads every foreign key on each new upstream session and refuses the session while a column
// referencing a personal column is not declared personal itself. Once declared, the write waits
// for the DPO like any other use of a CPF. The other direction (customers.cpf referencing another
// table's column, so a DELETE of a candidate there fails when a customer has it) is refused the
// same way, and so is a generated column computed from a personal column (review 26:
// `cpf_digits GENERATED ALWAYS AS (regexp_replace(cpf, ...))` searched with LIKE, unheld), and a
// column a CHECK constraint ties to a personal one (review 28: a per-row CPF oracle by 23514).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import { runCommand } from '../../e2e/harness/exec.ts';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { adminSql, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(90_000);

let s: PgScenario;
let support: string;
const KNOWN_CPF = '590.830.166-33';
/** Valid check digits, no customer has it. */
const UNKNOWN_CPF = '111.444.777-35';
const REFUNDS = ['id', 'order_id', 'customer_doc'];
const oracle = (cpf: string): string => `INSERT INTO refunds (order_id, customer_doc) VALUES (1, '${cpf}')`;

beforeAll(async () => {
  // No operator: held statements stay Pending and the sidecar answers once its short wait ends.
  s = await startPgScenario({ approvalWait: '1s' });
  support = await s.token('support-agent');
  await admin([
    'CREATE TABLE refunds (id serial PRIMARY KEY, order_id integer NOT NULL REFERENCES orders(id), customer_doc text REFERENCES customers(cpf))',
    'GRANT SELECT, INSERT ON refunds TO orders_app',
    'GRANT USAGE ON SEQUENCE refunds_id_seq TO orders_app',
  ].join('; '));
}, 180_000);

afterAll(async () => {
  await s?.stop();
}, 60_000);

const admin = (sql: string): Promise<string> => adminSql(s.database, sql, { quiet: true });

/** As the sidecar's own database role, straight to PostgreSQL: what the statement does without Guarita. */
async function direct(sql: string): Promise<{ code: number; stderr: string }> {
  return runCommand(join(requirePostgres().binDir, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: s.directEnv(), timeoutMs: 30_000 });
}

describe('a foreign key to a personal column', () => {
  it('is an existence oracle without Guarita: the write fails exactly for a CPF no customer has', async () => {
    expect((await direct(oracle(KNOWN_CPF))).code).toBe(0);
    const unknown = await direct(oracle(UNKNOWN_CPF));
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('violates foreign key constraint');
    await admin('DELETE FROM refunds');
  });

  it('with refunds declared but its column not personal, a new session is refused naming the column and the fix', async () => {
    await s.applyPolicy((spec) => {
      const sc = spec.sensitiveColumns as { relations: { name: string; columns: string[] }[] };
      sc.relations = [...sc.relations, { name: 'public.refunds', columns: REFUNDS }];
    });
    const r = await eventually('a session is refused for the foreign key', async () => {
      const out = await s.psql(support, ['-At', '-c', oracle(UNKNOWN_CPF)], { onErrorStop: false });
      return out.stderr.includes('foreign key') ? out : undefined;
    }, 30_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('public.refunds.customer_doc has a foreign key to personal column public.customers.cpf');
    expect(r.stderr).toContain('add public.refunds.customer_doc to spec.sensitiveColumns.columns');
    expect(r.stderr).not.toContain('violates foreign key constraint');
    expect(await admin('SELECT count(*) FROM refunds')).toBe('0');
  });

  it('declared personal, sessions open; a write of a candidate CPF into it waits for the DPO and never reaches the server', async () => {
    await s.applyPolicy((spec) => {
      const sc = spec.sensitiveColumns as { columns: string[]; relations: { name: string; columns: string[] }[] };
      sc.relations = [...sc.relations, { name: 'public.refunds', columns: REFUNDS }];
      sc.columns = [...sc.columns, 'public.refunds.customer_doc'];
    });
    const known = await eventually('the session opens and the write is judged', async () => {
      const out = await s.psql(support, ['-At', '-c', oracle(KNOWN_CPF)], { onErrorStop: false });
      return out.stderr.includes('foreign key to personal column') ? undefined : out;
    }, 30_000);
    const unknown = await s.psql(support, ['-At', '-c', oracle(UNKNOWN_CPF)], { onErrorStop: false });
    for (const r of [known, unknown]) {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/ApprovalRequest/);
      expect(r.stderr).not.toContain('violates foreign key constraint');
    }
    // Nothing was written: the server never saw either candidate.
    expect(await admin('SELECT count(*) FROM refunds')).toBe('0');
    // A write without a personal value is no use of it.
    const plain = await s.psql(support, ['-At', '-c', 'INSERT INTO refunds (order_id) VALUES (2)'], { onErrorStop: false });
    expect(plain.stderr).toBe('');
    expect(await admin('SELECT count(*) FROM refunds')).toBe('1');
  });

  it('the other way: a column customers.cpf references must be declared personal (a DELETE of a candidate fails when a customer has it)', async () => {
    await admin([
      'CREATE TABLE documents (doc text PRIMARY KEY)',
      'INSERT INTO documents SELECT cpf FROM customers',
      'ALTER TABLE customers ADD FOREIGN KEY (cpf) REFERENCES documents (doc)',
      'GRANT SELECT, DELETE ON documents TO orders_app',
    ].join('; '));
    const known = await direct(`DELETE FROM documents WHERE doc = '${KNOWN_CPF}'`);
    expect(known.stderr).toContain('violates foreign key constraint');
    expect((await direct(`DELETE FROM documents WHERE doc = '${UNKNOWN_CPF}'`)).code).toBe(0);
    const r = await eventually('a session is refused for the foreign key', async () => {
      const out = await s.psql(support, ['-At', '-c', `DELETE FROM documents WHERE doc = '${KNOWN_CPF}'`], { onErrorStop: false });
      return out.stderr.includes('referenced by a foreign key') ? out : undefined;
    }, 30_000);
    expect(r.stderr).toContain('public.documents.doc is referenced by a foreign key of personal column public.customers.cpf');
    expect(r.stderr).toContain('add public.documents.doc to spec.sensitiveColumns.columns');
    expect(r.stderr).not.toContain('violates foreign key constraint');
  });

  it('a generated column computed from cpf must be declared personal; declared, a prefix search of it waits for the DPO', async () => {
    await admin("ALTER TABLE customers ADD COLUMN cpf_digits text GENERATED ALWAYS AS (regexp_replace(cpf, '\\D', '', 'g')) STORED");
    const search = "SELECT id FROM customers WHERE cpf_digits LIKE '590%'";
    expect(await admin(search)).toBe('1');
    const bound = (extra: string[]) => (spec: Record<string, unknown>): void => {
      const sc = spec.sensitiveColumns as { columns: string[]; relations: { name: string; columns: string[] }[] };
      sc.relations = [
        ...sc.relations.map((r) => (r.name === 'public.customers' ? { ...r, columns: [...r.columns, 'cpf_digits'] } : r)),
        { name: 'public.refunds', columns: REFUNDS }, { name: 'public.documents', columns: ['doc'] },
      ];
      sc.columns = [...sc.columns, 'public.refunds.customer_doc', 'public.documents.doc', ...extra];
    };
    await s.applyPolicy(bound([]));
    const refused = await eventually('a session is refused for the generated column', async () => {
      const out = await s.psql(support, ['-At', '-c', search], { onErrorStop: false });
      return out.stderr.includes('is generated from') ? out : undefined;
    }, 30_000);
    expect(refused.stderr).toContain('public.customers.cpf_digits is generated from personal column public.customers.cpf');
    expect(refused.stderr).toContain('add public.customers.cpf_digits to spec.sensitiveColumns.columns');
    await s.applyPolicy(bound(['public.customers.cpf_digits']));
    const held = await eventually('the session opens and the search is judged', async () => {
      const out = await s.psql(support, ['-At', '-c', search], { onErrorStop: false });
      return out.stderr.includes('is generated from') ? undefined : out;
    }, 30_000);
    expect(held.code).not.toBe(0);
    expect(held.stderr).toMatch(/ApprovalRequest/);
    expect(held.stdout).not.toContain('1');
  });

  it('a column a CHECK constraint ties to cpf must be declared personal; declared, a write of a candidate into it waits for the DPO', async () => {
    await admin("ALTER TABLE customers ADD COLUMN cpf_check text CHECK (cpf_check IS NULL OR cpf_check = regexp_replace(cpf, '\\D', '', 'g'))");
    const guess = (digits: string): string => `UPDATE customers SET cpf_check = '${digits}' WHERE id = 1`;
    // Straight to PostgreSQL: every candidate but customer 1's CPF fails the CHECK.
    expect((await direct(`BEGIN; ${guess('11144477735')}; ROLLBACK`)).stderr).toContain('violates check constraint');
    expect((await direct(`BEGIN; ${guess('59083016633')}; ROLLBACK`)).code).toBe(0);
    const bound = (extra: string[]) => (spec: Record<string, unknown>): void => {
      const sc = spec.sensitiveColumns as { columns: string[]; relations: { name: string; columns: string[] }[] };
      sc.relations = [
        ...sc.relations.map((r) => (r.name === 'public.customers' ? { ...r, columns: [...r.columns, 'cpf_digits', 'cpf_check'] } : r)),
        { name: 'public.refunds', columns: REFUNDS }, { name: 'public.documents', columns: ['doc'] },
      ];
      sc.columns = [...sc.columns, 'public.refunds.customer_doc', 'public.documents.doc', 'public.customers.cpf_digits', ...extra];
    };
    await s.applyPolicy(bound([]));
    const refused = await eventually('a session is refused for the CHECK constraint', async () => {
      const out = await s.psql(support, ['-At', '-c', guess('11144477735')], { onErrorStop: false });
      return out.stderr.includes('CHECK constraint or a unique or exclusion index') ? out : undefined;
    }, 30_000);
    expect(refused.stderr).toContain('public.customers.cpf_check is in a CHECK constraint or a unique or exclusion index with personal column public.customers.cpf');
    expect(refused.stderr).not.toContain('violates check constraint');
    await s.applyPolicy(bound(['public.customers.cpf_check']));
    const held = await eventually('the session opens and the write is judged', async () => {
      const out = await s.psql(support, ['-At', '-c', guess('11144477735')], { onErrorStop: false });
      return out.stderr.includes('CHECK constraint or a unique or exclusion index') ? undefined : out;
    }, 30_000);
    expect(held.stderr).toMatch(/ApprovalRequest/);
    expect(held.stderr).not.toContain('violates check constraint');
  });

  it('a unique index whose predicate reads cpf ties its key to cpf: a new session is refused naming the key column, until the index is gone', async () => {
    // UPDATE customers SET nome = <another row's nome> fails (23505) exactly when both rows' CPFs start with 590.
    await admin("CREATE UNIQUE INDEX customers_nome_590 ON customers (nome) WHERE cpf LIKE '590%'");
    const refused = await eventually('a session is refused for the partial unique index', async () => {
      const out = await s.psql(support, ['-At', '-c', 'SELECT 1'], { onErrorStop: false });
      return out.stderr.includes('unique or exclusion index') && out.stderr.includes('customers.nome') ? out : undefined;
    }, 30_000);
    expect(refused.stderr).toContain('public.customers.nome is in a CHECK constraint or a unique or exclusion index with personal column public.customers.cpf');
    expect(refused.stderr).toContain('add public.customers.nome to spec.sensitiveColumns.columns');
    await admin('DROP INDEX customers_nome_590');
    // A unique index of two columns, one personal, ties the other the same way.
    await admin('CREATE UNIQUE INDEX customers_cpf_nome ON customers (cpf, nome)');
    const again = await eventually('a session is refused for the two-column unique index', async () => {
      const out = await s.psql(support, ['-At', '-c', 'SELECT 1'], { onErrorStop: false });
      return out.stderr.includes('customers.nome') ? out : undefined;
    }, 30_000);
    expect(again.stderr).toContain('public.customers.nome is in a CHECK constraint or a unique or exclusion index');
    await admin('DROP INDEX customers_cpf_nome');
    const open = await eventually('sessions open again', async () => {
      const out = await s.psql(support, ['-At', '-c', 'SELECT 1'], { onErrorStop: false });
      return out.stdout.trim() === '1' ? out : undefined;
    }, 30_000);
    expect(open.stderr).toBe('');
  });
});
