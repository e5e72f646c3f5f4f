// The two data sets the tester compares: schemas with the same tables (customers, orders of
// examples/lgpd-orders) and the same non-personal values, but different personal values. An allowed
// statement whose masked answer differs between them was influenced by personal data.
//
// How the personal values differ, and why:
// - CPF / CNPJ are valid in both, some formatted and some bare digits: the masked cell is the same
//   token, but the lengths and the digits differ;
// - e-mails and phones have different shapes and lengths;
// - notes are the same text around a different identifier (`cpf 657.975.432-06 confirmado` vs
//   `cpf 27182818205 confirmado`): they mask to the same text, but length() or md5() of them differ;
// - cpf, email and cnpj sort in different orders, so an ORDER BY one of them reorders the rows.
// - ties differ (review 38): two customers share an e-mail in a (ids 4 and 5) and a phone in b (ids 2
//   and 3), so a GROUP BY, DISTINCT, FETCH FIRST ... WITH TIES or rank() over them counts differently;
// - CPFs are bare digits only in b (ids 1 and 4), so a cast to bigint fails on a and not on b.
// What must NOT differ: whether a value is NULL. Returning a personal column as it is shows whether
// it is NULL, and the guard allows that by design; different NULL patterns would flag every plain
// `SELECT notes`. So cnpj and notes are NULL for the same ids in both schemas.

export interface SchemaPair {
  a: string;
  b: string;
}

/** Unique schema names for one test run (lower-case identifiers, neither a prefix of the other). */
export function uniqueSchemas(prefix: string, id: string): SchemaPair {
  return { a: `${prefix}_${id}_a`, b: `${prefix}_${id}_b` };
}

const CUSTOMERS_A = [
  `(1, 'Larissa Oliveira', '590.830.166-33', NULL, 'larissa.oliveira1@exemplo.com.br', '+55 71 91791-2186', '2002-09-04', NULL)`,
  `(2, 'Carla Santos', '390.996.030-88', NULL, 'carla.santos2@exemplo.com.br', '+55 21 97955-1968', '2002-10-04', 'ligar para +55 21 97955-1968')`,
  `(3, 'Tiago Oliveira', '482.199.351-11', NULL, 'tiago.oliveira3@exemplo.com.br', '+55 51 97867-3363', '1984-02-19', 'email: tiago.oliveira3@exemplo.com.br')`,
  `(4, 'Tiago Souza', '657.975.432-06', '74.911.862/0001-02', 'tiago.souza4@exemplo.com.br', '+55 91 91976-4374', '1981-11-18', 'cpf 657.975.432-06 confirmado')`,
  `(5, 'Heitor Souza', '527.601.895-20', '44.555.666/0001-81', 'tiago.souza4@exemplo.com.br', '+55 91 95919-9604', '1981-06-24', 'ok')`,
];

const CUSTOMERS_B = [
  `(1, 'Larissa Oliveira', '12345678909', NULL, 'z@mail.org', '(21) 3456-7890', '2002-09-04', NULL)`,
  `(2, 'Carla Santos', '987.654.321-00', NULL, 'ana.b@x.io', '11 98765-4321', '2002-10-04', 'ligar para (11) 2345-6789')`,
  `(3, 'Tiago Oliveira', '314.159.265-90', NULL, 'q1@exemplo.net', '11 98765-4321', '1984-02-19', 'email: t@x.io')`,
  `(4, 'Tiago Souza', '27182818205', '11222333000181', 'tiago@a.com', '(91) 99999-0000', '1981-11-18', 'cpf 27182818205 confirmado')`,
  `(5, 'Heitor Souza', '161.803.398-05', '77.888.999/0001-81', 'heitor.s.souza.5@corp.example.com.br', '21 934567890', '1981-06-24', 'ok')`,
];

const ORDERS_ROWS = '(1, 1, \'paid\', 100), (2, 2, \'paid\', 200), (3, 3, \'new\', 300), (4, 4, \'new\', 400), (5, 5, \'paid\', 500), (6, 1, \'new\', 600)';

/** One schema: the example's two tables (types and constraints as in examples/lgpd-orders/seed.sql), with `customers` rows. */
function schemaSql(schema: string, customers: string[]): string {
  return `
CREATE SCHEMA ${schema};
CREATE TABLE ${schema}.customers (
  id integer PRIMARY KEY, nome text NOT NULL, cpf text NOT NULL UNIQUE, cnpj text, email text NOT NULL,
  telefone text NOT NULL, dt_nasc date NOT NULL, notes text);
CREATE TABLE ${schema}.orders (
  id serial PRIMARY KEY, customer_id integer NOT NULL REFERENCES ${schema}.customers(id), status text NOT NULL,
  total_cents integer NOT NULL, created_at timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00');
INSERT INTO ${schema}.customers VALUES ${customers.join(', ')};
INSERT INTO ${schema}.orders (id, customer_id, status, total_cents) VALUES ${ORDERS_ROWS};
SELECT setval('${schema}.orders_id_seq', 6);
ANALYZE ${schema}.customers;
ANALYZE ${schema}.orders;
`;
}

/** Creates both schemas with their data (run as a role that may create schemas). */
export function createSchemasSql(s: SchemaPair): string {
  return schemaSql(s.a, CUSTOMERS_A) + schemaSql(s.b, CUSTOMERS_B);
}

export function dropSchemasSql(s: SchemaPair): string {
  return `DROP SCHEMA IF EXISTS ${s.a} CASCADE; DROP SCHEMA IF EXISTS ${s.b} CASCADE;`;
}
