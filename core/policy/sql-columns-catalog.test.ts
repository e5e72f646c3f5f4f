// The comparison of spec.sensitiveColumns with the database's catalog: every way the database can
// contradict what the guard assumes (columns added, dropped, reordered, renamed; a view declared
// as a table and the reverse; a view defined otherwise; undeclared tables and views holding
// personal columns) is a problem naming the relation and the fix.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { initPolicyEngine } from './index.ts';
import { catalogQuery, compareCatalog, parseCatalogRows, type CatalogRelation } from './sql-columns-catalog.ts';
import { SensitiveColumnGuard, type SensitiveColumnsConfig } from './sql-columns.ts';

beforeAll(async () => {
  await initPolicyEngine();
});

const CUSTOMERS = ['id', 'nome', 'cpf', 'cnpj', 'email', 'telefone', 'dt_nasc', 'notes'];
const ORDERS = ['id', 'customer_id', 'status', 'total_cents', 'created_at'];
const CONTATOS_DEF = ' SELECT c.id,\n    c.cpf AS documento\n   FROM customers c;';

/** The example policy's declarations (examples/lgpd-orders/accesspolicy.yaml) plus a view. */
const POLICY: SensitiveColumnsConfig = {
  columns: ['public.customers.cpf', 'public.customers.email', 'public.customers.telefone'],
  relations: [{ name: 'public.customers', columns: CUSTOMERS }, { name: 'public.orders', columns: ORDERS }],
  views: [{ name: 'public.contatos', query: 'SELECT c.id, c.cpf AS documento FROM customers c' }],
};

function table(name: string, columns: string[], schema = 'public', kind = 'r'): CatalogRelation {
  return { schema, name, kind, columns };
}
function view(name: string, columns: string[], definition: string, reads: string[], kind = 'v'): CatalogRelation {
  return { schema: 'public', name, kind, columns, definition, reads };
}
const SEEDED: CatalogRelation[] = [table('customers', CUSTOMERS), table('orders', ORDERS), view('contatos', ['id', 'documento'], CONTATOS_DEF, ['public.customers'])];

function problems(catalog: CatalogRelation[], cfg: SensitiveColumnsConfig = POLICY): string[] {
  return compareCatalog(cfg, catalog).map((p) => `${p.field}: ${p.message}`);
}

describe('compareCatalog', () => {
  it('finds nothing when the database is what the policy declares', () => {
    expect(problems(SEEDED)).toEqual([]);
  });

  it('a column added to a declared table: names the table, both lists and the fix', () => {
    const [p, ...rest] = problems([table('customers', [...CUSTOMERS, 'x']), ...SEEDED.slice(1)]);
    expect(rest).toEqual([]);
    expect(p).toContain('relations[0].columns: public.customers');
    expect(p).toContain(`declares columns [${CUSTOMERS.join(', ')}]`);
    expect(p).toContain(`the database has [${[...CUSTOMERS, 'x'].join(', ')}]`);
    expect(p).toContain('not declared: x');
    expect(p).toContain('update spec.sensitiveColumns.relations[0].columns');
  });

  it('a dropped column', () => {
    const [p] = problems([table('customers', CUSTOMERS.filter((c) => c !== 'cnpj')), ...SEEDED.slice(1)]);
    expect(p).toContain('not in the database: cnpj');
  });

  it('the same columns in another order (table recreated): ORDER BY 3 would sort by another column', () => {
    const reordered = ['id', 'cpf', 'nome', 'cnpj', 'email', 'telefone', 'dt_nasc', 'notes'];
    const [p] = problems([table('customers', reordered), ...SEEDED.slice(1)]);
    expect(p).toContain('same columns in another order');
    expect(p).toContain('[id, cpf, nome,');
  });

  it('a renamed column is both: not declared, and missing (and the personal column is gone)', () => {
    const renamed = CUSTOMERS.map((c) => (c === 'cpf' ? 'documento' : c));
    const out = problems([table('customers', renamed), ...SEEDED.slice(1)]);
    expect(out.some((p) => p.includes('not declared: documento; not in the database: cpf'))).toBe(true);
    expect(out.some((p) => p.startsWith('columns[0]: personal column public.customers.cpf: public.customers has no column cpf'))).toBe(true);
  });

  it('what a stale list lets the guard through: AS t(a, b) over a table recreated with cpf second', () => {
    const leak = 'SELECT md5(t.b) FROM customers AS t(a, b) WHERE t.a = 1';
    const reordered = ['id', 'cpf', 'nome', 'cnpj', 'email', 'telefone', 'dt_nasc', 'notes'];
    // The guard alone trusts the declaration: b is nome to it, so md5(cpf) passes.
    expect(new SensitiveColumnGuard(POLICY).check(leak)).toEqual([]);
    expect(new SensitiveColumnGuard({ ...POLICY, relations: [{ name: 'public.customers', columns: reordered }] }).check(leak)).toHaveLength(1);
    // Which is why the database is compared with the declaration first.
    expect(problems([table('customers', reordered), ...SEEDED.slice(1)])).toHaveLength(1);
  });

  it('types are irrelevant: only names and order are compared', () => {
    // The catalog rows carry no types; a column changing type changes nothing the guard resolves.
    expect(problems(SEEDED)).toEqual([]);
  });

  it('names compare without regard to case, as the guard resolves them', () => {
    expect(problems([table('Customers', CUSTOMERS.map((c) => c.toUpperCase()), 'Public'), ...SEEDED.slice(1)])).toEqual([]);
  });

  it('a quoted name with other characters is another name', () => {
    const out = problems([table('customers', CUSTOMERS.map((c) => (c === 'nome' ? 'Nome Completo' : c))), ...SEEDED.slice(1)]);
    expect(out.some((p) => p.includes('not declared: Nome Completo; not in the database: nome'))).toBe(true);
  });

  it('a declared relation missing from the database', () => {
    const out = problems(SEEDED.filter((r) => r.name !== 'orders'));
    expect(out).toEqual([expect.stringContaining('relations[1]: relation public.orders is declared in spec.sensitiveColumns.relations but does not exist')]);
  });

  it('a relation declared without schema is compared in every schema that has one of that name', () => {
    const cfg = { ...POLICY, relations: [{ name: 'orders', columns: ORDERS }, { name: 'public.customers', columns: CUSTOMERS }] };
    const out = problems([...SEEDED, table('orders', [...ORDERS, 'extra'], 'archive')], cfg);
    expect(out).toEqual([expect.stringContaining('archive.orders: spec.sensitiveColumns.relations declares columns')]);
  });

  it('a declared relation that is a view in the database', () => {
    const out = problems([...SEEDED.filter((r) => r.name !== 'orders'), view('orders', ORDERS, ' SELECT 1;', [])]);
    expect(out).toEqual([expect.stringContaining('public.orders is declared in spec.sensitiveColumns.relations but the database has a view: declare it in spec.sensitiveColumns.views')]);
  });

  it('a declared view that is a table in the database', () => {
    const out = problems([...SEEDED.slice(0, 2), table('contatos', ['id', 'documento'])]);
    expect(out.some((p) => p.startsWith('views[0]: public.contatos is declared in spec.sensitiveColumns.views but the database has a table'))).toBe(true);
  });

  it('a declared view whose definition differs (md5(cpf) declared as cpf): the actual definition is the fix', () => {
    const def = ' SELECT c.id,\n    md5(c.cpf) AS documento\n   FROM customers c;';
    const out = problems([...SEEDED.slice(0, 2), view('contatos', ['id', 'documento'], def, ['public.customers'])]);
    expect(out).toEqual([expect.stringContaining('views[0].query: public.contatos: the definition declared in spec.sensitiveColumns.views is not the view\'s definition')]);
    expect(out[0]).toContain('md5(c.cpf) AS documento');
  });

  it('a declared view written with other layout and keyword case is the same definition', () => {
    const cfg = { ...POLICY, views: [{ name: 'public.contatos', query: 'select c.id,   c.cpf as documento from customers c;' }] };
    expect(problems(SEEDED, cfg)).toEqual([]);
  });

  it('a materialized view may be declared as a view', () => {
    expect(problems([...SEEDED.slice(0, 2), view('contatos', ['id', 'documento'], CONTATOS_DEF, ['public.customers'], 'm')])).toEqual([]);
  });

  it('an undeclared table with a cpf column (any case): the guard cannot resolve * over it', () => {
    for (const col of ['cpf', 'CPF', 'Email']) {
      const out = problems([...SEEDED, table('leads', ['id', col])]);
      expect(out).toEqual([expect.stringContaining(`relations: a table public.leads has a column ${col} named like a personal column but spec.sensitiveColumns.relations does not list its columns`)]);
      expect(out[0]).toContain(`add {name: public.leads, columns: [id, ${col}]}`);
    }
  });

  it('a partition or a foreign table with personal columns must be declared too', () => {
    expect(problems([...SEEDED, table('customers_2024', CUSTOMERS)])).toHaveLength(1);
    expect(problems([...SEEDED, table('remote_customers', CUSTOMERS, 'public', 'f')])).toEqual([expect.stringContaining('a foreign table public.remote_customers')]);
  });

  it('a table named by a personal column but not listed in relations', () => {
    const cfg = { columns: POLICY.columns };
    const out = problems([table('customers', CUSTOMERS)], cfg);
    expect(out).toEqual([expect.stringContaining('a table public.customers holds personal column public.customers.cpf but spec.sensitiveColumns.relations does not list its columns')]);
  });

  it('a personal column whose table does not exist', () => {
    const cfg = { columns: ['public.clientes.cpf'] };
    expect(problems([], cfg)).toEqual([expect.stringContaining('columns[0]: personal column public.clientes.cpf: no such relation')]);
  });

  it('an undeclared view over personal columns, directly or through another view', () => {
    const direct = view('docs', ['doc'], ' SELECT customers.cpf AS doc\n   FROM customers;', ['public.customers']);
    const out = problems([...SEEDED, direct]);
    expect(out).toEqual([expect.stringContaining('views: a view public.docs reads public.customers, which holds personal column public.customers.cpf but is not declared in spec.sensitiveColumns.views')]);
    const indirect = view('docs2', ['d'], ' SELECT docs.doc AS d\n   FROM docs;', ['public.docs']);
    const both = problems([...SEEDED, direct, indirect]);
    expect(both).toHaveLength(2);
    expect(both[1]).toContain('a view public.docs2 reads public.docs');
  });

  it('views over tables without personal columns need no declaration', () => {
    expect(problems([...SEEDED, view('open_orders', ['id'], ' SELECT orders.id FROM orders;', ['public.orders'])])).toEqual([]);
  });
});

/** A declared table whose columns carry foreign keys (column → schema.relation.column). */
function withKeys(name: string, columns: string[], keys: [string, string, string, string][], schema = 'public'): CatalogRelation {
  return { ...table(name, columns, schema), references: keys.map(([column, s, relation, referenced]) => ({ column, schema: s, relation, referenced })) };
}
const REFUNDS = ['id', 'order_id', 'customer_doc'];
const WITH_REFUNDS: SensitiveColumnsConfig = { ...POLICY, relations: [...POLICY.relations ?? [], { name: 'public.refunds', columns: REFUNDS }] };

// A column whose foreign key points at customers.cpf holds CPFs, and an INSERT of a candidate into it
// fails (23503) exactly when no customer has that CPF: one allowed write per guess, an existence
// oracle, unless the guard counts writes into it as uses (it does for declared personal columns).
describe('foreign keys to personal columns', () => {
  it('a column referencing a declared personal column must be declared personal: names both columns and the fix', () => {
    const out = problems([...SEEDED, withKeys('refunds', REFUNDS, [['order_id', 'public', 'orders', 'id'], ['customer_doc', 'public', 'customers', 'cpf']])], WITH_REFUNDS);
    expect(out).toEqual([
      'columns: public.refunds.customer_doc has a foreign key to personal column public.customers.cpf: it holds that column\'s values, and an INSERT or UPDATE of a candidate value into it answers whether the value exists there: add public.refunds.customer_doc to spec.sensitiveColumns.columns',
    ]);
  });

  it('declared personal, the column is no problem; keys to columns that are not personal never are', () => {
    const cfg = { ...WITH_REFUNDS, columns: [...POLICY.columns, 'public.refunds.customer_doc'] };
    expect(problems([...SEEDED, withKeys('refunds', REFUNDS, [['order_id', 'public', 'orders', 'id'], ['customer_doc', 'public', 'customers', 'cpf']])], cfg)).toEqual([]);
    expect(problems([...SEEDED, withKeys('refunds', REFUNDS, [['order_id', 'public', 'orders', 'id']])], WITH_REFUNDS)).toEqual([]);
  });

  it('a declaration without schema, a key in another case, a composite key, a key to a column named like a personal one', () => {
    const cfg = { ...WITH_REFUNDS, columns: ['customers.CPF', 'public.customers.email'] };
    const composite = withKeys('refunds', REFUNDS, [['id', 'public', 'customers', 'id'], ['customer_doc', 'public', 'customers', 'email']]);
    expect(problems([...SEEDED, composite], cfg)).toEqual([expect.stringContaining('public.refunds.customer_doc has a foreign key to personal column public.customers.email')]);
    const upper = withKeys('refunds', REFUNDS, [['customer_doc', 'sales', 'Customers', 'Cpf']]);
    expect(problems([...SEEDED, upper], cfg)).toEqual([expect.stringContaining('foreign key to personal column customers.CPF')]);
    const byName = withKeys('refunds', REFUNDS, [['customer_doc', 'archive', 'old_clients', 'telefone']]);
    expect(problems([...SEEDED, byName], WITH_REFUNDS)).toEqual([expect.stringContaining('foreign key to archive.old_clients.telefone (named like a personal column)')]);
  });

  it('an undeclared table with such a key is named twice: the column, and the relation to declare', () => {
    const out = problems([...SEEDED, withKeys('refunds', REFUNDS, [['customer_doc', 'public', 'customers', 'cpf']])]);
    expect(out).toEqual([expect.stringContaining('add public.refunds.customer_doc to spec.sensitiveColumns.columns')]);
    const declaredColumn = problems([...SEEDED, withKeys('refunds', REFUNDS, [['customer_doc', 'public', 'customers', 'cpf']])], { ...POLICY, columns: [...POLICY.columns, 'public.refunds.customer_doc'] });
    expect(declaredColumn).toEqual([expect.stringContaining('a table public.refunds holds personal column public.refunds.customer_doc but spec.sensitiveColumns.relations does not list its columns')]);
  });

  it('the other way: a column a personal column references holds its values too (DELETE of a candidate fails when a customer has it)', () => {
    const customers = withKeys('customers', CUSTOMERS, [['cpf', 'registry', 'documents', 'doc'], ['id', 'public', 'accounts', 'id']]);
    const out = problems([customers, table('orders', ORDERS), SEEDED[2] as CatalogRelation]);
    expect(out).toEqual([
      'columns: registry.documents.doc is referenced by a foreign key of personal column public.customers.cpf: it holds that column\'s values, and a DELETE or UPDATE of a candidate value in it answers whether a row there has it: add registry.documents.doc to spec.sensitiveColumns.columns',
    ]);
    // Declared, the catalog returns documents (a relation named by the policy) and it must be listed like any other.
    const declared = { ...POLICY, columns: [...POLICY.columns, 'registry.documents.doc'] };
    const documents = table('documents', ['doc'], 'registry');
    expect(problems([customers, table('orders', ORDERS), SEEDED[2] as CatalogRelation, documents], declared)).toEqual([
      expect.stringContaining('relations: a table registry.documents holds personal column registry.documents.doc but spec.sensitiveColumns.relations does not list its columns'),
    ]);
    expect(problems([customers, table('orders', ORDERS), SEEDED[2] as CatalogRelation, documents], { ...declared, relations: [...declared.relations ?? [], { name: 'registry.documents', columns: ['doc'] }] })).toEqual([]);
    // A column named like a personal one of an undeclared relation counts as personal on either side.
    const leads = withKeys('leads', ['id', 'email'], [['email', 'public', 'contacts', 'address']]);
    expect(problems([...SEEDED, leads])).toEqual([
      expect.stringContaining('columns: public.contacts.address is referenced by a foreign key of public.leads.email (named like a personal column)'),
      expect.stringContaining('relations: a table public.leads has a column email named like a personal column'),
    ]);
  });

  it('one problem per column, however many keys use it', () => {
    const twice = withKeys('refunds', REFUNDS, [['customer_doc', 'public', 'customers', 'cpf'], ['customer_doc', 'public', 'customers', 'cpf'], ['CUSTOMER_DOC', 'public', 'customers', 'email']]);
    expect(problems([...SEEDED, twice], WITH_REFUNDS)).toHaveLength(1);
  });
});

describe('catalogQuery and parseCatalogRows', () => {
  it('embeds only the declared names, lower-cased', () => {
    const sql = catalogQuery(POLICY);
    expect(sql).toContain("ARRAY['cpf', 'email', 'telefone']::text[]");
    expect(sql).toContain("ARRAY['contatos', 'customers', 'orders']::text[]");
  });

  it('refuses a name that is not an identifier instead of embedding it', () => {
    expect(() => catalogQuery({ columns: ["public.customers.cpf'); DROP TABLE x; --"] })).toThrow(/is not an identifier/);
  });

  it('decodes rows, and refuses rows of another shape', () => {
    expect(parseCatalogRows([['public', 'customers', 'r', '["id","cpf"]', null, null, '[]', '[]', '[]']])).toEqual([{ schema: 'public', name: 'customers', kind: 'r', columns: ['id', 'cpf'], references: [], generated: [], constrained: [] }]);
    expect(parseCatalogRows([['public', 'v', 'v', '["a"]', ' SELECT 1 AS a;', '[]', null, null, null]])[0]).toEqual({ schema: 'public', name: 'v', kind: 'v', columns: ['a'], definition: ' SELECT 1 AS a;', reads: [] });
    expect(parseCatalogRows([['public', 'refunds', 'r', '["doc"]', null, null, '[["doc","public","customers","cpf"]]', '[]', '[]']])[0]?.references).toEqual([{ column: 'doc', schema: 'public', relation: 'customers', referenced: 'cpf' }]);
    expect(parseCatalogRows([['public', 'customers', 'r', '["cpf","d"]', null, null, '[]', '[["d","cpf"]]', '[]']])[0]?.generated).toEqual([{ column: 'd', source: 'cpf' }]);
    expect(parseCatalogRows([['public', 'customers', 'r', '["cpf","d"]', null, null, '[]', '[]', '[["cpf","d"]]']])[0]?.constrained).toEqual([['cpf', 'd']]);
    expect(() => parseCatalogRows([['public', 'customers', 'r']])).toThrow(/unexpected shape/);
    expect(() => parseCatalogRows([['public', 'customers', 'r', '["id"]', null, null, '[]', '[]']])).toThrow(/unexpected shape/);
    expect(() => parseCatalogRows([['public', 'customers', 'r', '{"a":1}', null, null, null, null, null]])).toThrow(/not a JSON array/);
    expect(() => parseCatalogRows([['public', 'refunds', 'r', '["doc"]', null, null, '[["doc","public.customers","cpf"]]', null, null]])).toThrow(/foreign keys of public.refunds is not a JSON array of \[column, schema, relation, column\]/);
    expect(() => parseCatalogRows([['public', 'customers', 'r', '["d"]', null, null, null, '[["d"]]', null]])).toThrow(/generated columns of public.customers is not a JSON array of \[column, column\]/);
    expect(() => parseCatalogRows([['public', 'customers', 'r', '["d"]', null, null, null, null, '[["d", 1]]']])).toThrow(/constraints of public.customers is not a JSON array of column lists/);
  });
});

// A generated column holds a function of the columns it reads: `cpf_digits GENERATED ALWAYS AS
// (regexp_replace(cpf, '\D', '', 'g'))` is the CPF, and `WHERE cpf_digits LIKE '590%'` searched it
// unheld once the relation listed the column (review 26: a whole CPF in ~90 statements).
describe('generated columns bound to a personal column', () => {
  const CUSTOMERS_D = [...CUSTOMERS, 'cpf_digits'];
  const withDigits = { ...POLICY, relations: [{ name: 'public.customers', columns: CUSTOMERS_D }, { name: 'public.orders', columns: ORDERS }] };
  const generated = (pairs: [string, string][]): CatalogRelation => ({ ...table('customers', CUSTOMERS_D), generated: pairs.map(([column, source]) => ({ column, source })) });

  it('computed from a personal column: must be declared personal, named with the fix', () => {
    expect(problems([generated([['cpf_digits', 'cpf']]), table('orders', ORDERS), SEEDED[2] as CatalogRelation], withDigits)).toEqual([
      'columns: public.customers.cpf_digits is generated from personal column public.customers.cpf: it holds a function of its values, and a search or sort of it is one of the personal column: add public.customers.cpf_digits to spec.sensitiveColumns.columns',
    ]);
    const declared = { ...withDigits, columns: [...POLICY.columns, 'public.customers.cpf_digits'] };
    expect(problems([generated([['cpf_digits', 'cpf']]), table('orders', ORDERS), SEEDED[2] as CatalogRelation], declared)).toEqual([]);
  });

  it('a personal generated column: the columns it is computed from must be declared personal', () => {
    const cfg = { ...withDigits, columns: ['public.customers.cpf_digits'] };
    expect(problems([generated([['cpf_digits', 'nome'], ['cpf_digits', 'cpf']]), table('orders', ORDERS)], { ...cfg, views: [] })).toEqual([
      expect.stringContaining('public.customers.nome is read by the generation expression of personal column public.customers.cpf_digits'),
      expect.stringContaining('public.customers.cpf is read by the generation expression of personal column public.customers.cpf_digits'),
    ]);
  });

  it('generated columns of other columns need nothing', () => {
    expect(problems([generated([['cpf_digits', 'id']]), table('orders', ORDERS), SEEDED[2] as CatalogRelation], withDigits)).toEqual([]);
  });
});

// Review 28: `cpf_digits text CHECK (cpf_digits IS NULL OR cpf_digits = regexp_replace(cpf, '\D', '', 'g'))`
// made `UPDATE customers SET cpf_digits = $1 WHERE id = 1` a per-row CPF oracle (23514 for every
// candidate but the row's), ~1,800 guesses/s, with cpf_digits listed in relations as the check asked.
describe('CHECK and exclusion constraints tying a column to a personal one', () => {
  const CUSTOMERS_D = [...CUSTOMERS, 'cpf_digits'];
  const cfg = { ...POLICY, relations: [{ name: 'public.customers', columns: CUSTOMERS_D }, { name: 'public.orders', columns: ORDERS }] };
  const constrained = (sets: string[][]): CatalogRelation => ({ ...table('customers', CUSTOMERS_D), constrained: sets });
  const rest = [table('orders', ORDERS), SEEDED[2] as CatalogRelation];

  it('the other columns of a constraint over a personal column must be declared personal', () => {
    expect(problems([constrained([['cpf', 'cpf_digits']]), ...rest], cfg)).toEqual([
      'columns: public.customers.cpf_digits is in a CHECK constraint or a unique or exclusion index with personal column public.customers.cpf: a write of a candidate value into it fails or passes by the personal value (23514, 23505, 23P01): add public.customers.cpf_digits to spec.sensitiveColumns.columns',
    ]);
    expect(problems([constrained([['cpf', 'cpf_digits']]), ...rest], { ...cfg, columns: [...POLICY.columns, 'public.customers.cpf_digits'] })).toEqual([]);
  });

  it('constraints over personal columns alone, or over none, need nothing', () => {
    expect(problems([constrained([['cpf', 'email'], ['id', 'nome']]), ...rest], cfg)).toEqual([]);
  });
});
